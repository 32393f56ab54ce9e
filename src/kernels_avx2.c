/* kernels_avx2.c -- the 8-lane build of kernels_body.h, compiled for AVX2 by the pragmas
 * below (so no per-file compiler flag is needed); kernels.c calls it only when the CPU and the OS
 * support AVX2 (and not AVX-512F, which takes the 16-lane build). Empty where RNN_HAVE_K16 is 0 (not x86-64 with gcc or clang). */
#include "kernels.h"

#include <math.h>
#include <string.h>

#if RNN_HAVE_K16
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

typedef float vf __attribute__((vector_size(32)));
typedef int32_t vi __attribute__((vector_size(32)));
#define W 8
#define KNAME(name) rnn__k8_##name
#include "kernels_body.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
typedef int rnn__kernels_avx2_empty; /* ISO C: a translation unit is not empty */
#endif
