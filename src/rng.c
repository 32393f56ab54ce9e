/* rng.c -- the handle's random generator: xoshiro256** (Blackman & Vigna), seeded by splitmix64. */
#include "base.h"
#include "rng.h"

void rnn__rng_seed(rnn__rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = rnn__splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rnn__rng_next(rnn__rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float rnn__rng_float(rnn__rng *r) { return (float)(rnn__rng_next(r) >> 40) * 0x1.0p-24f; }

double rnn__rng_double(rnn__rng *r) { return (double)(rnn__rng_next(r) >> 11) * 0x1.0p-53; }
