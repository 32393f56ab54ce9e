/* workspace.h -- the bump allocator that every context's workspace is sliced with. Never installed. */
#ifndef RNN_WORKSPACE_H
#define RNN_WORKSPACE_H

#include <stddef.h>
#include <stdint.h>

/* ---- workspace.c: a bump allocator over one block -------------------------------------------- */
/* With base == NULL the arena only measures: rnn__arena_take returns NULL and counts bytes. */
typedef struct rnn__arena {
    char *base;
    size_t cap;  /* bytes available at base */
    size_t used; /* bytes handed out (each piece rounded up to 64) */
} rnn__arena;
void *rnn__arena_take(rnn__arena *a, size_t bytes);
#define RNN_TAKE_F(a, n) ((float *)rnn__arena_take((a), (size_t)(n) * sizeof(float)))
#define RNN_TAKE_I(a, n) ((int32_t *)rnn__arena_take((a), (size_t)(n) * sizeof(int32_t)))

#endif
