/*
 * cell.h -- the recurrent cell modules: one forward/backward pair each, behind a small table.
 *
 * A layer processes all T steps of a chunk for B streams. Activations are time-major: row
 * t*B + b of a (T,B,X) buffer is stream b at step t, so one step's rows are contiguous and the
 * all-steps products are single GEMMs. Weights are PyTorch's: w_ih (G*H, in), w_hh (G*H, H),
 * b_ih and b_hh (G*H), gate blocks in PyTorch order (LSTM i,f,g,o; GRU r,z,n).
 */
#ifndef RNN_CELL_H
#define RNN_CELL_H

#include "base.h"

#include <math.h>
#include <stddef.h>

typedef struct rnn__layer {
    int B, T, in, H;
    int rowwise;         /* forward products through rnn__gemm_nt's row-wise path (inference states) */
    struct rnn__pool *pool; /* threads for the all-steps products (NULL: the caller alone) */
    const float *w_ih, *w_hh, *b_ih, *b_hh;
    const struct rnn__qmat *qw_ih, *qw_hh; /* a quantized model's (then w_ih, w_hh are NULL): row-wise */
    float *dw_ih, *dw_hh, *db_ih, *db_hh; /* backward adds into these */
    const float *x;      /* (T,B,in) input */
    const float *h0;     /* (B,H) state entering the chunk */
    const float *c0;     /* (B,H) LSTM cell state entering the chunk */
    float *y;            /* (T,B,H) outputs h_1..h_T (forward writes) */
    float *hT, *cT;      /* (B,H) state after the last step (forward writes; cT LSTM only) */
    float *cache;        /* cache_size() floats kept from forward for backward */
    const float *dy;     /* (T,B,H) d(loss)/d(y) (backward reads) */
    float *dx;           /* (T,B,in) d(loss)/d(x) (backward overwrites) */
    float *dh0, *dc0;    /* (B,H) d(loss)/d(h0), d(loss)/d(c0) (backward overwrites) */
    float *scratch;      /* scratch_size() floats for backward */
} rnn__layer;

typedef struct rnn__cell {
    const char *name;
    int gates;
    size_t (*cache_size)(int B, int T, int H);
    size_t (*scratch_size)(int B, int T, int H);
    void (*forward)(const rnn__layer *l);
    void (*backward)(const rnn__layer *l);
} rnn__cell;

extern const rnn__cell rnn__cell_tanh, rnn__cell_relu, rnn__cell_lstm, rnn__cell_gru;
/* The cell table, indexed by RNN_CELL_* id (base.c; a static_assert ties it to RNN_CELL_COUNT). */
extern const rnn__cell *const rnn__cells[RNN_CELL_COUNT];
/* The cell with this id, or NULL for an unknown id. */
const rnn__cell *rnn__cell_get(int id);

/* layer.c -- shared by the cells.
 * gates(T*B, G*H) = x w_ih^T + b_ih for all steps at once. */
void rnn__layer_input_gemm(const rnn__layer *l, int G, float *gates);
/* out (B, N) = h (B, H) w_hh^T + beta * out (beta 0 or 1): the recurrent product of one step */
void rnn__layer_hh_gemm(const rnn__layer *l, int N, const float *h, float beta, float *out);
/* After the time loop: dw_ih += dgx^T x, db_ih += colsum(dgx), dx = dgx w_ih,
 * dw_hh += dgh^T [h0; y_1..y_{T-1}], db_hh += colsum(dgh). dgx, dgh are (T*B, G*H). */
void rnn__layer_weight_grads(const rnn__layer *l, int G, const float *dgx, const float *dgh);


#endif
