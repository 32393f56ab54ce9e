/* blas.c -- every matrix product of the library goes through this one CBLAS call. */
#include "internal.h"
#include "kernels.h"

#include <cblas.h>

void rnn_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* BLAS implementations differ on K == 0; define it: C = beta * C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void rnn_gemm_nt(int rowwise, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc)
{
    if (!rowwise) {
        rnn_gemm(0, 1, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int i = 0;
    for (; i + 4 <= M; i += 4) rnn_k_dots4(C + (size_t)i * ldc, ldc, A + (size_t)i * lda, lda, B, ldb, N, K, beta);
    for (; i < M; i++) rnn_k_dots(C + (size_t)i * ldc, A + (size_t)i * lda, B, ldb, N, K, beta);
}
