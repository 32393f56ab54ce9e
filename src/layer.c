/* layer.c -- the parts of a recurrent layer that every cell shares: all-steps GEMMs. */
#include "blas.h"
#include "cell.h"
#include "kernels.h"
#include "quant.h"

#include <string.h>

void rnn__layer_input_gemm(const rnn__layer *l, int G, float *gates)
{
    int N = l->T * l->B, GH = G * l->H;
    for (int r = 0; r < N; r++) memcpy(gates + (size_t)r * GH, l->b_ih, (size_t)GH * sizeof(float));
    /* gates (N, GH) += x (N, in) * w_ih^T (in, GH) */
    if (l->qw_ih) rnn__qgemm_nt(l->pool, N, l->qw_ih, l->x, l->in, 1.0f, gates, GH);
    else rnn__gemm_nt(l->pool, l->rowwise, N, GH, l->in, l->x, l->in, l->w_ih, l->in, 1.0f, gates, GH);
}

void rnn__layer_hh_gemm(const rnn__layer *l, int N, const float *h, float beta, float *out)
{
    if (l->qw_hh) rnn__qgemm_nt(NULL, l->B, l->qw_hh, h, l->H, beta, out, N);
    else rnn__gemm_nt(NULL, l->rowwise, l->B, N, l->H, h, l->H, l->w_hh, l->H, beta, out, N);
}

static void add_colsum(float *acc, const float *a, int rows, int cols)
{
    for (int r = 0; r < rows; r++) rnn__k_add(acc, a + (size_t)r * cols, (size_t)cols);
}

void rnn__layer_weight_grads(const rnn__layer *l, int G, const float *dgx, const float *dgh)
{
    int B = l->B, T = l->T, H = l->H, N = T * B, GH = G * H;
    /* dw_ih (GH, in) += dgx^T (GH, N) * x (N, in) */
    rnn__gemm(l->pool, 1, 0, GH, l->in, N, 1.0f, dgx, GH, l->x, l->in, 1.0f, l->dw_ih, l->in);
    add_colsum(l->db_ih, dgx, N, GH);
    /* dx (N, in) = dgx (N, GH) * w_ih (GH, in) */
    rnn__gemm(l->pool, 0, 0, N, l->in, GH, 1.0f, dgx, GH, l->w_ih, l->in, 0.0f, l->dx, l->in);
    /* dw_hh (GH, H) += dgh_0^T h0 + dgh_{1..T-1}^T y_{0..T-2} */
    rnn__gemm(l->pool, 1, 0, GH, H, B, 1.0f, dgh, GH, l->h0, H, 1.0f, l->dw_hh, H);
    if (T > 1)
        rnn__gemm(l->pool, 1, 0, GH, H, N - B, 1.0f, dgh + (size_t)B * GH, GH, l->y, H, 1.0f, l->dw_hh, H);
    add_colsum(l->db_hh, dgh, N, GH);
}
