/* rng.h -- the generator of every handle: xoshiro256** seeded through splitmix64. Never installed. */
#ifndef RNN_RNG_H
#define RNN_RNG_H

#include <stdint.h>

/* ---- rng.c: xoshiro256** seeded through splitmix64 -------------------------------------------- */
typedef struct rnn__rng {
    uint64_t s[4];
} rnn__rng;
void rnn__rng_seed(rnn__rng *r, uint64_t seed);
uint64_t rnn__rng_next(rnn__rng *r);
float rnn__rng_float(rnn__rng *r);   /* uniform in [0, 1), 24 random bits */
double rnn__rng_double(rnn__rng *r); /* uniform in [0, 1), 53 random bits */

#endif
