/*
 * quant.h -- reduced-precision weights for inference (rnn_model_quantize; docs/DESIGN.md,
 * "Quantized weights", defines every rounding). Never installed.
 *
 * A quantized matrix keeps PyTorch's (rows, cols) = (outputs, inputs) shape, each row cut along
 * the input dimension:
 *   bf16: one bfloat16 per weight (the top 16 bits of a binary32, rounded to nearest even);
 *   q8:   blocks of RNN_QBLOCK inputs, one fp32 scale per block and one int8 in [-127, 127] per
 *         weight (rows padded with zeros to whole blocks in memory, not in the file). In memory the
 *         int8 weights are interleaved by columns for the kernels (rnn__qmat_index): rows in groups
 *         of 8 (the last group padded with zero rows), and within a group, for each 4 inputs
 *         k..k+3, 32 bytes that hold each of the 8 rows' 4 weights; the kernels' vector lanes are
 *         then the outputs, and no product needs a horizontal sum.
 * The products are row-wise (every output one dot product in a fixed order), so a stream's
 * results never depend on the batch around it, the thread count or the kernel path.
 */
#ifndef RNN_QUANT_H
#define RNN_QUANT_H

#include "pool.h"

#include <stddef.h>
#include <stdint.h>

#define RNN_QBLOCK 32
/* the largest input size (E, H) of a quantized matrix: an activation row's q8 fits a fixed buffer */
#define RNN__QMAX_IN (1 << 16)

typedef struct rnn__qmat {
    int type;        /* RNN_WEIGHTS_BF16 or RNN_WEIGHTS_Q8 */
    int rows, cols;
    int nb;          /* q8: blocks per row, ceil(cols / 32) */
    uint16_t *bf;    /* bf16: rows x cols */
    int8_t *q;       /* q8: row-major, rows x nb*32 (zero padded), as quantizing or a loader writes
                      * it; after rnn__qmat_index, interleaved: weight (r, k) at
                      * q[(r / 8) * 8 * nb*32 + (k / 4) * 32 + (r % 8) * 4 + k % 4] (rnn__qmat_qrow
                      * reads a row back). Holds ceil(rows / 8) * 8 + 8 rows: the last 8, scratch
                      * for the repacking. */
    float *scale;    /* q8: rows x nb */
    float *st;       /* q8: the scales again, transposed for the kernels: row 8g+o's block b at
                      * st[(g * nb + b) * 8 + o], the last group padded with 0 (rnn__qmat_index) */
    int packed;      /* q8: q is interleaved (rnn__qmat_index ran) */
} rnn__qmat;

/* bfloat16 of f rounded to nearest, ties to even (f finite), and back */
uint16_t rnn__bf16_round(float f);
static inline float rnn__bf16_float(uint16_t b)
{
    union { uint32_t u; float f; } v = {(uint32_t)b << 16};
    return v.f;
}

/* Allocates q for (rows, cols) of `type` through al (RNN_ERR_NOMEM; q zeroed, so free is safe);
 * fill quantizes the row-major fp32 w (finite) into it */
int rnn__qmat_alloc(rnn__qmat *q, int type, int rows, int cols, const rnn_allocator *al);
void rnn__qmat_free(rnn__qmat *q, const rnn_allocator *al);
void rnn__qmat_fill(rnn__qmat *q, const float *w);
/* repacks q->q into the interleaved layout and fills q->st from q->scale (after fill, or after a
 * loader wrote the row-major values and the scales); once, later calls do nothing */
void rnn__qmat_index(rnn__qmat *q);
/* out[0 .. n) = row r's int8 values k0 .. k0 + n - 1 (q8, after rnn__qmat_index: what a file
 * stores) */
void rnn__qmat_qrow(const rnn__qmat *q, int r, int k0, int n, int8_t *out);
/* out (cols) = row r, dequantized (the embedding lookup) */
void rnn__qmat_row(const rnn__qmat *q, int r, float *out);
/* C[M][N] = A (M,K) * W^T (W: N rows of K) + beta * C, beta 0 or 1, W quantized; a pool splits N.
 * Every output is the same dot product whatever M, the pool or the kernel path. */
void rnn__qgemm_nt(rnn__pool *pool, int M, const rnn__qmat *W, const float *A, int lda, float beta, float *C, int ldc);

/* The kernel path: -1 the best the CPU has (default), 0 plain C, 1 AVX2 (tests force each one
 * available and compare bits); rnn__q_have(path): the CPU runs it. */
extern int rnn__q_force;
int rnn__q_have(int path);

#endif
