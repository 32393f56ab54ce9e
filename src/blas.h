/* blas.h -- the one matrix-product call, over CBLAS. Never installed. */
#ifndef RNN_BLAS_H
#define RNN_BLAS_H

#include "pool.h"

/* ---- blas.c ---------------------------------------------------------------------------------- */
/* Row-major C[M][N] = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T; the one product call.
 * With a pool (may be NULL) a large product is cut along the larger of M and N into one block per
 * thread, each a CBLAS call of its own (the BLAS should then run single-threaded). */
void rnn__gemm(rnn__pool *pool, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* C[M][N] = A (M,K) * B^T (B is (N,K)) + beta * C: the forward products. rowwise: every output
 * element is one dot product in a fixed order, the same whatever M (inference states use it so that
 * a stream's results do not depend on the batch around it; no packing, fast for small M);
 * otherwise CBLAS. A pool splits N (row-wise: every output element is still the same dot). */
void rnn__gemm_nt(rnn__pool *pool, int rowwise, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc);

#endif
