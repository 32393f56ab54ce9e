/*
 * internal.h -- the model handle and the helpers shared by the library's modules. Never installed.
 *
 * Module map:
 *   api.c        public entry points: argument checks, errors, version, parameters, state
 *   model.c      forward / backward over the whole model: embedding, dropout, layers, decoder
 *   output.c     the fused output layer: logits, log-softmax, NLL and its gradient in one buffer
 *   layer.c      what every cell shares: the all-steps input GEMM and the weight-gradient GEMMs
 *   cell_rnn.c, cell_lstm.c, cell_gru.c   the recurrences (one forward/backward pair each)
 *   modelfile.c  the vocabulary and the model file (docs/FORMAT.md)
 *   workspace.c  the per-handle arena; rng.c the handle's generator; blas.c the one GEMM call
 */
#ifndef RNN_INTERNAL_H
#define RNN_INTERNAL_H

#include "rnn.h"
#include "cell.h"

#include <stddef.h>
#include <stdint.h>

#define RNN_NAME_MAX 32

/* ---- rng.c: xoshiro256** seeded through splitmix64 -------------------------------------------- */
typedef struct rnn_rng {
    uint64_t s[4];
} rnn_rng;
void rnn_rng_seed(rnn_rng *r, uint64_t seed);
uint64_t rnn_rng_next(rnn_rng *r);
float rnn_rng_float(rnn_rng *r);   /* uniform in [0, 1), 24 random bits */
double rnn_rng_double(rnn_rng *r); /* uniform in [0, 1), 53 random bits */

/* ---- workspace.c: a bump allocator over one block -------------------------------------------- */
/* With base == NULL the arena only measures: rnn_arena_take returns NULL and counts bytes. */
typedef struct rnn_arena {
    char *base;
    size_t cap;  /* bytes available at base */
    size_t used; /* bytes handed out (each piece rounded up to 64) */
} rnn_arena;
void *rnn_arena_take(rnn_arena *a, size_t bytes);
#define RNN_TAKE_F(a, n) ((float *)rnn_arena_take((a), (size_t)(n) * sizeof(float)))
#define RNN_TAKE_I(a, n) ((int32_t *)rnn_arena_take((a), (size_t)(n) * sizeof(int32_t)))

/* ---- blas.c ---------------------------------------------------------------------------------- */
/* Row-major C[M][N] = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T; the one product call. */
void rnn_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* ---- the handle ------------------------------------------------------------------------------ */
typedef struct rnn_tensor {
    char name[RNN_NAME_MAX];
    size_t offset; /* in floats, into params / grads */
    int rows, cols;
} rnn_tensor;

typedef struct rnn_layer_params {
    int in;                             /* E for layer 0, H above */
    size_t w_ih, w_hh, b_ih, b_hh;      /* offsets into params / grads */
} rnn_layer_params;

/* Pointers into the workspace for one (batch, steps) run; see model.c's layout(). */
typedef struct rnn_buffers {
    int32_t *tok, *tgt;  /* (T,B) time-major copies of the inputs */
    float *x0, *m0;      /* (T,B,E) embedded input after dropout, its mask (NULL without dropout) */
    float **y;           /* [L] (T,B,H) layer outputs */
    float **cache;       /* [L] the cell's activations */
    float **xd, **md;    /* [L] (T,B,H) dropped output of layer l and its mask (l < L-1; NULL
                            without dropout) -- for l = L-1 the decoder input */
    float *logits;       /* (T*B, V) logits, turned in place into d(loss)/d(logits) */
    float *h0, *c0;      /* (L,B,H) the state entering the chunk (a constant) */
    float *d1, *d2;      /* (T,B,max(E,H)) backward ping-pong buffers */
    float *scratch;      /* the cells' backward scratch */
} rnn_buffers;

struct rnn_model {
    rnn_config cfg;
    rnn_allocator al;
    const rnn_cell *cell;
    int G;                 /* gates per unit: 1, 4 or 3 */

    size_t nparams;        /* floats in the parameter block (and the gradient block) */
    float *params, *grads;
    int ntensors;
    rnn_tensor *tensors;   /* PyTorch's parameters() order */
    rnn_layer_params *layers;
    size_t enc, dec_w, dec_b; /* offsets; dec_w == enc when tied */

    /* hidden state, (L, batch, H) each */
    int batch, batch_cap;
    float *h, *c, *dh0, *dc0;
    int have_dstate;       /* dh0/dc0 hold the last backward's result */

    /* workspace */
    void *ws_raw;          /* as returned by the allocator */
    rnn_arena ws;
    int ws_batch, ws_steps;
    void *lists;           /* the [L] pointer arrays of buf and measure_buf */
    rnn_buffers buf;       /* the current run's buffers */
    rnn_buffers measure_buf; /* layout() target while measuring a new size */

    /* the last rnn_forward, for rnn_backward */
    int pending;           /* rnn_backward is allowed */
    int fw_batch, fw_steps, fw_dropped;

    /* vocabulary: vocab_count NUL-terminated words packed in vocab_blob */
    int vocab_count;
    char *vocab_blob;
    size_t *vocab_off;

    /* application data (rnn_set_app_data) */
    unsigned char *app;
    size_t app_len;

    rnn_rng rng;
    char err[256];
};

/* api.c */
int rnn__fail(rnn_model *m, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void *rnn__alloc(rnn_model *m, size_t bytes);
void *rnn__default_alloc(void *user, size_t size);
void rnn__default_free(void *user, void *p);
void rnn__free(rnn_model *m, void *p);

/* model.c */
enum { RNN_MODE_TRAIN, RNN_MODE_EVAL, RNN_MODE_SAMPLE };
int rnn__ensure_workspace(rnn_model *m, int batch, int steps);
void rnn__run_forward(rnn_model *m, const int32_t *tokens, const int32_t *targets, int batch,
                      int steps, int mode, double *loss, float *logprobs, float temperature,
                      int32_t *next);
void rnn__run_backward(rnn_model *m);

/* output.c */
double rnn__output_forward(const rnn_model *m, const float *x, const int32_t *tgt, int B, int T,
                           float *logits, int want_grad, double *count, float *logprobs);
void rnn__output_backward(rnn_model *m, const float *x, const float *dlogits, int N, float *dx);
void rnn__output_sample(rnn_model *m, const float *x, int N, float *logits, float temperature,
                        int32_t *next);

#endif
