/* pool.h -- librnn's own threads. Never installed. */
#ifndef RNN_POOL_H
#define RNN_POOL_H

#include "base.h"

/* ---- pool.c: n threads (the caller and n - 1 workers) running one job at a time ---------------- */
typedef struct rnn__pool rnn__pool;
/* one part of a job: part in [0, nparts), nparts == the pool's size */
typedef void (*rnn__job)(void *arg, int part, int nparts);
/* n <= 1 gives *out = NULL, which every pool call accepts as "run on the caller alone" */
int rnn__pool_create(rnn__pool **out, int n, const rnn_allocator *al);
void rnn__pool_free(rnn__pool *p, const rnn_allocator *al);
/* runs fn(arg, i, n) for every i in [0, n), part 0 on the caller; returns when all are done */
void rnn__pool_run(rnn__pool *p, rnn__job fn, void *arg);
/* [*begin, *end) = part `part` of [0, n) cut into `parts` pieces at multiples of align */
static inline void rnn__split(size_t n, int part, int parts, size_t align, size_t *begin, size_t *end)
{
    size_t units = (n + align - 1) / align, b = units * (size_t)part / (size_t)parts,
           e = units * (size_t)(part + 1) / (size_t)parts;
    *begin = b * align < n ? b * align : n;
    *end = e * align < n ? e * align : n;
}

#endif
