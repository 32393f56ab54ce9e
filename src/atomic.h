/* atomic.h -- writing a file atomically (atomic.c). Never installed; rnnlm uses it too. */
#ifndef RNN_ATOMIC_H
#define RNN_ATOMIC_H

#include "base.h"

#include <stdio.h>

#define RNN__PATH_MAX 4000 /* the longest path written */

typedef struct rnn__atomic {
    FILE *f;                 /* write here between open and close */
    const char *path;        /* the caller's (must outlive the write) */
    int direct;              /* 1: f writes to path itself (a device, FIFO or socket): no temporary */
    char target[RNN__PATH_MAX + 8]; /* the file replaced: path with its symbolic links followed */
    char tmp[RNN__PATH_MAX + 64], dir[RNN__PATH_MAX + 8];
} rnn__atomic;

/* rnn__atomic_openf flags */
#define RNN__ATOMIC_DIRECT 1u /* a character device, FIFO or socket at path is written directly */

/* Creates TARGET.tmp.<pid>.<n> beside the file path names (TARGET: path with its symbolic links
 * followed, so a link stays and its target is replaced), mode as a plain fopen would give, or the
 * mode of the file it will replace; the temporary stays locked (flock) until rnn__atomic_close.
 * First removes the temporaries of the same target that nobody holds locked (left by killed
 * processes). When path names something other than a regular file: with RNN__ATOMIC_DIRECT, a
 * character device, FIFO or socket is opened for writing as it is (a->direct: no temporary, no
 * rename); anything else (a folder, a block device; any of them without the flag) is refused.
 * RNN_ERR_INVALID / RNN_ERR_IO with the reason in err (errno 0 for a refusal, so a caller that
 * prints strerror(errno) when it is set prints err). */
int rnn__atomic_openf(rnn__atomic *a, const char *path, unsigned flags, char *err, size_t errlen);
/* rnn__atomic_openf with RNN__ATOMIC_DIRECT (outputs) */
int rnn__atomic_open(rnn__atomic *a, const char *path, char *err, size_t errlen);
/* commit: flushes, fsyncs and renames the temporary over the target, then fsyncs the folder
 * (RNN_ERR_IO with the reason when any step fails; the temporary is removed); direct: flushes.
 * Otherwise removes the temporary and leaves the path as it was. */
int rnn__atomic_close(rnn__atomic *a, int commit, char *err, size_t errlen);

#endif
