/* workspace.c -- the per-handle arena: one block, sliced by bumping an offset, reset every run. */
#include "internal.h"

#define RNN_ALIGN 64

void *rnn__arena_take(rnn__arena *a, size_t bytes)
{
    size_t size = (bytes + RNN_ALIGN - 1) & ~(size_t)(RNN_ALIGN - 1);
    void *p = a->base ? a->base + a->used : NULL;
    a->used += size;
    return p;
}
