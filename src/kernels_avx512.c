/* kernels_avx512.c -- the 16-lane build of kernels_body.h, compiled for AVX-512F by the pragmas
 * below (so no per-file compiler flag is needed); kernels.c calls it only when the CPU and the OS
 * support AVX-512F. Empty where RNN_HAVE_K16 is 0 (not x86-64 with gcc or clang). */
#include "kernels.h"

#include <math.h>
#include <string.h>

#if RNN_HAVE_K16
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f")
#endif

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
#define W 16
#define KNAME(name) rnn__k16_##name
#include "kernels_body.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
typedef int rnn__kernels_avx512_empty; /* ISO C: a translation unit is not empty */
#endif
