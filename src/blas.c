/* blas.c -- every matrix product of the library goes through this one CBLAS call. */
#include "blas.h"
#include "kernels.h"

#include <cblas.h>

/* products below this many multiply-adds run on the caller alone (a job costs microseconds) */
#define PAR_MIN_MACS (1u << 20)

static void gemm1(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
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

/* one product, cut into blocks along M or N (the larger), one per thread */
typedef struct gemm_job {
    int ta, tb, M, N, K, rowwise;
    float alpha, beta;
    const float *A, *B;
    int lda, ldb, ldc;
    float *C;
} gemm_job;

static void rowwise_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta, float *C,
                       int ldc)
{
    int i = 0;
    for (; i + 4 <= M; i += 4) rnn__k_dots4(C + (size_t)i * ldc, ldc, A + (size_t)i * lda, lda, B, ldb, N, K, beta);
    for (; i < M; i++) rnn__k_dots(C + (size_t)i * ldc, A + (size_t)i * lda, B, ldb, N, K, beta);
}

static void gemm_part(void *arg, int part, int parts)
{
    const gemm_job *j = arg;
    size_t b, e;
    if (j->rowwise || j->N >= j->M) { /* columns of C: rows of B^T or columns of B */
        rnn__split((size_t)j->N, part, parts, 16, &b, &e);
        if (e <= b) return;
        const float *B = j->tb ? j->B + b * (size_t)j->ldb : j->B + b;
        if (j->rowwise) rowwise_nt(j->M, (int)(e - b), j->K, j->A, j->lda, B, j->ldb, j->beta, j->C + b, j->ldc);
        else gemm1(j->ta, j->tb, j->M, (int)(e - b), j->K, j->alpha, j->A, j->lda, B, j->ldb, j->beta, j->C + b, j->ldc);
    } else { /* rows of C: rows of A or columns of A^T */
        rnn__split((size_t)j->M, part, parts, 16, &b, &e);
        if (e <= b) return;
        const float *A = j->ta ? j->A + b : j->A + b * (size_t)j->lda;
        gemm1(j->ta, j->tb, (int)(e - b), j->N, j->K, j->alpha, A, j->lda, j->B, j->ldb, j->beta,
              j->C + b * (size_t)j->ldc, j->ldc);
    }
}

static int parallel(rnn__pool *pool, int M, int N, int K)
{
    return pool && M > 0 && N > 0 && K > 0 && (double)M * N * K >= PAR_MIN_MACS;
}

void rnn__gemm(rnn__pool *pool, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (!parallel(pool, M, N, K)) {
        gemm1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    gemm_job j = {trans_a, trans_b, M, N, K, 0, alpha, beta, A, B, lda, ldb, ldc, C};
    rnn__pool_run(pool, gemm_part, &j);
}

void rnn__gemm_nt(rnn__pool *pool, int rowwise, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc)
{
    if (!parallel(pool, M, N, K)) {
        if (rowwise) rowwise_nt(M, N, K, A, lda, B, ldb, beta, C, ldc);
        else gemm1(0, 1, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    gemm_job j = {0, 1, M, N, K, rowwise, 1.0f, beta, A, B, lda, ldb, ldc, C};
    rnn__pool_run(pool, gemm_part, &j);
}
