/* atomic.h -- writing a file atomically (atomic.c). Never installed; rnnlm uses it too. */
#ifndef RNN_ATOMIC_H
#define RNN_ATOMIC_H

#include "base.h"

#include <stdio.h>

#define RNN__PATH_MAX 4000 /* the longest path written */

typedef struct rnn__atomic {
    FILE *f;                 /* write here between open and close */
    const char *path;        /* the caller's (must outlive the write) */
    char tmp[RNN__PATH_MAX + 64], dir[RNN__PATH_MAX + 8];
} rnn__atomic;

/* Creates PATH.tmp.<pid>.<n> beside path (mode as a plain fopen would give, or the mode of the
 * file it will replace), after removing the temporaries of the same path that killed processes
 * left. RNN_ERR_INVALID / RNN_ERR_IO with the reason in err. */
int rnn__atomic_open(rnn__atomic *a, const char *path, char *err, size_t errlen);
/* commit: flushes, fsyncs and renames the temporary over the path, then fsyncs the folder
 * (RNN_ERR_IO with the reason when any step fails; the temporary is removed). Otherwise removes
 * the temporary and leaves the path as it was. */
int rnn__atomic_close(rnn__atomic *a, int commit, char *err, size_t errlen);

#endif
