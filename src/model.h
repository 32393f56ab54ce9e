/*
 * model.h -- the model and state handles, their execution contexts, and the passes over them.
 * Never installed.
 *
 * Module map (docs/DESIGN.md has the whole table):
 *   base.c       version, status strings, limits, cell names, errors, allocation, struct_size rules,
 *                the configuration's defaults and checks (base.h)
 *   api.c        the public entry points of models, states and parameters: argument checks only
 *   model.c      contexts, and the layers forward / backward: embedding, dropout, cells
 *   output.c     the output layer and its heads: loss, log-probabilities, scoring, the sampler chain
 *   output_adaptive.c  the adaptive output layer (RNN_OUTPUT_ADAPTIVE) behind the same heads
 *   layer.c      what every cell shares: the all-steps input GEMM and the weight-gradient GEMMs
 *   cell_rnn.c, cell_lstm.c, cell_gru.c   the recurrences (one forward/backward pair each; cell.h)
 *   vocab.c      the vocabulary: words, the word -> id index, the tokenizer (rnn_vocab_encode)
 *   modelfile.c  the model file and memory image (docs/FORMAT.md)
 *   optim.c      AdamW (rnn_adamw_step and its calls): the update and its state in the model
 *   workspace.c  the per-context arena and its layout; rng.c the generator; blas.c the one GEMM call
 *   kernels.c    the element-wise loops (kernels_body.h, built for 4 lanes and, kernels_avx2.c and
 *                kernels_avx512.c, 8 and 16)
 *   pool.c       librnn's own worker threads (rnn_model_set_threads), one pool per context
 */
#ifndef RNN_MODEL_H
#define RNN_MODEL_H

#include "base.h"
#include "blas.h"
#include "cell.h"
#include "pool.h"
#include "quant.h"
#include "rng.h"
#include "workspace.h"

#include <stddef.h>
#include <stdint.h>

#define RNN_NAME_MAX 32
/* The output layer's rows are cut into this many fixed chunks (each with its own bias-gradient
 * sums), whatever the thread count, so that sums do not depend on how many threads ran them. */
#define RNN_ROW_CHUNKS 8
/* Long inputs of rnn_state_feed / rnn_state_score and of rnn_evaluate without targets and logprobs
 * run in chunks of rnn__chunk_steps(batch) steps, about this many rows each, carrying the state:
 * their workspace does not depend on the input's length. */
#define RNN_CHUNK_ROWS 256
/* Slots of a stream's token history: the RNN__MAX_REPEAT tokens the penalty may look at, and one
 * more so that rnn_sample can take back the token it pushed (rnn__hist_pop) without having lost
 * the oldest visible one. */
#define RNN__HIST (RNN__MAX_REPEAT + 1)
static inline int rnn__chunk_steps(int batch) { return batch >= RNN_CHUNK_ROWS ? 1 : RNN_CHUNK_ROWS / batch; }

/* ---- the handle ------------------------------------------------------------------------------ */
typedef struct rnn__tensor {
    char name[RNN_NAME_MAX];
    size_t offset; /* in floats, into params / grads */
    int rows, cols;
} rnn__tensor;

typedef struct rnn__layer_params {
    int in;                             /* E for layer 0, H above */
    size_t w_ih, w_hh, b_ih, b_hh;      /* offsets into params / grads */
} rnn__layer_params;

/* Pointers into the workspace for one (batch, steps) run; see workspace.c's layout(). */
typedef struct rnn__buffers {
    int32_t *tok, *tgt;  /* (T,B) time-major copies of the inputs */
    float *x0, *m0;      /* (T,B,E) embedded input after dropout, its mask (NULL without dropout) */
    float **y;           /* [L] (T,B,H) layer outputs */
    float **cache;       /* [L] the cell's activations */
    float **xd, **md;    /* [L] (T,B,H) dropped output of layer l and its mask (l < L-1; NULL
                            without dropout) -- for l = L-1 the decoder input */
    float *logits;       /* (R, V) logits of the heads' R rows (NULL for a feed), turned in place into
                            d(loss)/d(logits) when training (R = T*B) */
    float *h0, *c0;      /* (L,B,H) the state entering the chunk (a constant) */
    float *d1, *d2;      /* training: (T,B,max(E,H)) backward ping-pong buffers; otherwise d1 is the
                            scoring head's (R,H) input rows (d2 NULL) */
    float *scratch;      /* the cells' backward scratch (training only) */
    int32_t *order;      /* (V) token ids, for top-k / top-p sampling (with logits) */
    double *row_nll;     /* (R) per-row NLL (with logits) */
    float *dbias;        /* training: (RNN_ROW_CHUNKS, V) the decoder bias gradient of the last forward:
                            row chunk c's column sums in dbias + c*V, summed while each row was
                            still in cache; backward adds the chunks in order */
    /* the adaptive output layer (output_adaptive.c; NULL for the full one) over its A rows (R,
     * training N): the head (A, HS), its rows turned into their gradient when training; the
     * clusters' rows packed cluster after cluster: their inputs (A, H), projections (A,
     * max proj) and outputs (A, max cluster size), outputs turned into their gradient when
     * training (backward turns the projections and inputs into theirs); the rows each
     * cluster took, arow, acnt[i] of them for cluster i. With the adaptive layer, logits holds
     * B full rows (the sampler's). */
    float *ahead, *ax, *ap, *az;
    /* the thin clusters (output_adaptive.c): one's weights transposed (proj, size); training: each
     * one's dW1 of the last forward, transposed, cluster after cluster, and a block's partial dP
     * sums; each packed row's gradient factor 1 / (denominator * sum exp) */
    float *awt, *astash, *afac;
    double *apart;
    int32_t *arow, *apick; /* apick (A): the sampler's draw of each row before it is handed out */
    int acnt[RNN_MAX_CUTOFFS];
} rnn__buffers;

/*
 * An execution context: a hidden state, a workspace and a generator over one model. The model owns
 * one for training (rnn_forward/backward/evaluate/sample); each rnn_state is one more, so any
 * number of them can run over a model that they only read.
 */
typedef struct rnn__ctx {
    const rnn_model *m;
    rnn_allocator al;      /* the model's hooks */
    rnn__err *err;         /* where failures are recorded (the owning handle's) */

    /* hidden state, (L, batch, H) each; blocks sized for batch_cap */
    int batch, batch_cap;
    float *h, *c, *dh0, *dc0;
    int have_dstate;       /* dh0/dc0 hold the last backward's result */
    int per_stream;        /* an rnn_state: per-stream generators, and row-wise forward products
                              (rnn__gemm_nt) so that a stream's results do not depend on the batch */
    rnn__rng *row_rng;     /* [batch_cap] the per-stream generators (per_stream only, else NULL) */
    uint64_t row_seed;     /* stream b's generator is seeded with row_seed + b */
    /* the tokens fed to each stream, for the repetition penalty (rnn_sampling): a ring of
     * RNN__HIST slots per stream, [hist_cap][RNN__HIST], allocated by rnn__hist_reserve before the
     * first pass over a larger batch (or by rnn_model_reserve) (not by rnn__ctx_reset: the loader restores a saved state's
     * batch through it, and a file may claim many streams of a few bytes each, which must not
     * cost 4 KiB apiece); all streams are fed the same number of steps, so one position and one
     * fill serve them all */
    int32_t *hist;
    int hist_cap;          /* streams the ring holds */
    int hist_pos;          /* the slot the next token goes to */
    int hist_len;          /* slots filled, at most RNN__HIST */

    /* workspace (workspace.c): ws.cap bytes, the most any call on this context needed so far */
    void *ws_raw;          /* as returned by the allocator */
    rnn__arena ws;
    int chunk_steps;       /* steps of one chunk of rnn__run_chunked (0: rnn__chunk_steps(batch));
                              tests set a multiple of that, or more steps than the input (one pass) */
    void *lists;           /* the [L] pointer arrays of buf and measure_buf */
    rnn__buffers buf;      /* the current run's buffers */
    rnn__buffers measure_buf; /* layout() target while measuring a new size */

    /* the last training forward, for backward */
    int pending;           /* backward is allowed */
    int fw_batch, fw_steps, fw_dropped;

    rnn__rng rng;          /* dropout, and sampling through rnn_sample */
    /* RNN_DROPOUT_COUNTER: the hash's seed and the next training pass's first stream and step
       (rnn_model_set_dropout_position) */
    uint64_t drop_key, drop_stream, drop_step;
    rnn__pool *pool;       /* librnn's threads for this context (NULL: the caller's alone) */
} rnn__ctx;

/* The adaptive output layer's shape (nc 0: the full one). Cluster i holds the ids [lo[i],
 * lo[i+1]) (lo[0] = cutoffs[0], lo[nc] = V), projects H to proj[i] units and has the head's entry
 * lo[0] + i. */
#define RNN__THIN_PROJ 16           /* a cluster projecting to at most this many units is thin */
#define RNN__THIN_TILE 1024          /* a thin cluster's words taken at a time */
#define RNN__THIN_BLOCK ((size_t)1 << 20) /* a thin cluster's rows taken at a time: this many logits */
/* a thin cluster of `size` words: the rows of one block, and its tiles */
static inline int rnn__thin_rows(int size)
{
    size_t rows = RNN__THIN_BLOCK / (size_t)size;
    return rows < 1 ? 1 : (int)rows;
}
static inline int rnn__thin_tiles(int size) { return (size + RNN__THIN_TILE - 1) / RNN__THIN_TILE; }
typedef struct rnn__adaptive {
    int nc, HS;            /* clusters; head size cutoffs[0] + nc */
    int lo[RNN_MAX_CUTOFFS + 1];
    int proj[RNN_MAX_CUTOFFS];
    int max_proj, max_size; /* the largest proj[i] and cluster size */
    /* the thin clusters (proj[i] <= RNN__THIN_PROJ; output_adaptive.c): the most floats of one's
     * transposed weights (proj x size), their sum, and the most doubles of one block's partial
     * sums (rows x tiles x proj) */
    size_t thin_max, thin_sum, thin_part;
    size_t head_w, head_b; /* offsets; head_b SIZE_MAX without head_bias */
    size_t w0[RNN_MAX_CUTOFFS], w1[RNN_MAX_CUTOFFS]; /* decoder.tail.{i}.0/1.weight */
} rnn__adaptive;

struct rnn_model {
    rnn_config cfg;
    rnn_allocator al;
    const rnn__cell *cell;
    int G;                 /* gates per unit: 1, 4 or 3 */

    size_t nparams;        /* floats in the parameter block (and the gradient block) */
    float *params, *grads;
    int ntensors;
    rnn__tensor *tensors;  /* PyTorch's parameters() order */
    rnn__layer_params *layers;
    size_t enc, dec_w, dec_b; /* offsets; dec_w == enc when tied (unused when adaptive) */
    /* The embedding's gradient rows that may be nonzero: bit r of touched is set when the
     * embedding's backward adds into row r, and cleared by rnn_zero_grad; every other row holds
     * +0.0 (set when the block was made or last zeroed, written by nothing since), so the block
     * passes leave those rows out (params.c). NULL for a tied model (the decoder's gradient covers
     * every row). grad_exposed: a gradient pointer was handed out (rnn_param_get / find /
     * get_block), so the caller may have written any row: the passes are dense from then on, except
     * between rnn_param_declare_grad_rows (grad_declared: the caller added its rows to touched and
     * promised every other row is zero) and the next rnn_zero_grad. */
    uint64_t *touched;
    int grad_exposed, grad_declared;
    rnn__adaptive ad;      /* the adaptive output layer (ad.nc 0: the full one) */

    rnn__ctx train;        /* the model's own context */
    int threads;           /* rnn_model_set_threads; states take it when they are created */
    double loss_denom;     /* rnn_set_loss_denominator: training losses are NLL sums over this (0:
                              over the call's kept targets, the mean) */

    /* vocabulary (vocab.c): vocab_count NUL-terminated words packed in vocab_blob, and an
     * open-addressing index of vocab_slots (a power of two) ids, -1 for empty */
    int vocab_count;
    char *vocab_blob;
    size_t *vocab_off;
    int32_t *vocab_index;
    size_t vocab_slots;

    /* AdamW's state (optim.c): steps taken, and the moments exp_avg, exp_avg_sq (nparams floats
     * each; NULL before the first rnn_adamw_step) */
    int64_t adamw_step;
    float *adamw_m, *adamw_v;

    /* application data of the file the model was loaded from */
    unsigned char *app;
    size_t app_len;

    rnn__err err;

    /* rnn_model_quantize (quant.c): RNN_WEIGHTS_*; when not fp32, qm[i] holds table entry i's
     * weights (the biases stay in params, a block of only them; grads NULL) */
    int wtype;
    rnn__qmat *qm;
};

struct rnn_state {
    rnn__ctx ctx;
    int32_t *gen;          /* [batch] the tokens drawn by the current generation step */
    rnn__err err;
};

#define rnn__fail(m, ...) rnn__failf(&(m)->err, __VA_ARGS__)

/* params.c: a model with this configuration's shapes and freshly initialised weights (creation
 * and the loader); the configuration must have passed rnn__config_check. fp32 0 (the loader of a
 * quantized file): the tensor table only, with no parameter or gradient block and nothing
 * initialised, so that the quantized weights are read straight into their own storage (which
 * rnn__model_quantize_commit then gives the model) and never share the memory with fp32 ones. */
int rnn__model_new(rnn_model **out, const rnn_config *cfg, const rnn_allocator *al, int fp32);
/* params.c: one pass over the whole gradient block (and parameters, for AXPY): zero it, return its
 * squared norm, scale it by a, or params += a * grads; cut into fixed chunks on the training pool,
 * so the norm does not depend on the thread count. Leaves out the embedding rows m->touched says
 * are zero (unless m->grad_exposed), with the dense pass's results to the bit. */
enum { RNN__ZERO, RNN__SUMSQ, RNN__SCALE, RNN__AXPY };
double rnn__params_pass(rnn_model *m, int op, float a);

/* params.c: the embedding's backward added into the rows of the n tokens tok (m->touched) */
void rnn__grads_touch(rnn_model *m, const int32_t *tok, size_t n);
/* a gradient pointer is handed out (api.c): the passes are dense for the model's life */
static inline void rnn__grads_exposed(const rnn_model *m)
{
    if (m->grads) ((rnn_model *)m)->grad_exposed = 1; /* (the handle is never const itself) */
}

/* model.c: contexts */
int rnn__ctx_init(rnn__ctx *x, const rnn_model *m, rnn__err *err);
void rnn__ctx_free(rnn__ctx *x);
int rnn__ctx_reset(rnn__ctx *x, int batch);    /* zero state for batch streams (may allocate) */
/* RNN_ERR_STATE unless x has a hidden state of this batch (with the message saying which) */
int rnn__check_batch(const rnn__ctx *x, int batch);
/* Checks a chunk against x (sizes, stride, state batch, token and target ids): the first step of
 * every pass, before the workspace is sized, so a failure leaves everything as it was.
 * *stride: 0 becomes steps. */
int rnn__check_tokens(rnn__ctx *x, const int32_t *tokens, const int32_t *targets, int batch, int steps, int *stride);

/* workspace.c: sizing and laying out a context's workspace. A run is a mode, the layers over
 * (B, T), and R rows for the heads (FEED: none; TRAIN: R = B*T and the backward's buffers). */
enum { RNN__WS_FEED, RNN__WS_EVAL, RNN__WS_TRAIN };
/* grows the workspace when the run needs more bytes than it holds (to exactly that) */
int rnn__ensure_workspace(rnn__ctx *x, int mode, int B, int T, size_t R);
/* grows the workspace to at least `bytes` (a clone takes its source's size) */
int rnn__reserve_workspace(rnn__ctx *x, size_t bytes);
/* lays out x->buf for the run (the workspace must hold it) */
void rnn__ws_begin(rnn__ctx *x, int mode, int B, int T, size_t R);
/* rnn__ensure_workspace, then (when it succeeded) rnn__ws_begin: a run of one shape */
int rnn__ws_prepare(rnn__ctx *x, int mode, int B, int T, size_t R);

/* model.c: the layers. Runs embedding, dropout (train only) and the L layers over tokens
 * (B rows of T, row stride `stride`) from x's state, in the buffers laid out by rnn__ws_begin,
 * leaves the final state in x and returns the top output (T,B,H) as the output layer takes it
 * (after the output dropout when training). targets (may be NULL) are copied time-major to
 * x->buf.tgt for the heads. */
const float *rnn__run_layers(const rnn_model *m, rnn__ctx *x, const int32_t *tokens, const int32_t *targets,
                             int B, int T, int stride, int train);
/* model.c: rnn_state_feed, rnn_state_score (row_logp not NULL) and rnn_evaluate without targets or
 * logprobs. Sizes the workspace for one chunk, then runs tokens (checked) through the layers chunk
 * by chunk, carrying the state: what one call per chunk gives. The scoring head's decoder runs
 * over blocks of rnn__chunk_steps(B) steps whatever the chunk, so with row-wise layer products (a
 * state) the result does not depend on where chunks end. */
int rnn__run_chunked(const rnn_model *m, rnn__ctx *x, const int32_t *tokens, int B, int T, int stride,
                     double *row_logp);
/* model.c: sizes x's workspace for rnn__run_chunked over (B, T) (scoring: with the scoring head),
 * the one step of that call that can fail; rnn_state_score_sentence takes it before it resets the
 * state, so that a failure leaves the state as it was */
int rnn__chunked_reserve(rnn__ctx *x, int B, int T, int scoring);
/* After a training forward's loss head: back-propagates through the output layer and the layers */
void rnn__run_backward(rnn_model *m, rnn__ctx *x);
/* model.c: the token history. Appends the time-major tokens tok (T,B) to the B streams' rings
 * (only the last RNN__HIST steps matter); pop takes the last step back (rnn_sample's failure). */
int rnn__hist_reserve(rnn__ctx *x, int streams); /* a ring for that many streams (RNN_ERR_NOMEM) */
void rnn__hist_push(rnn__ctx *x, const int32_t *tok, int B, int T);
void rnn__hist_pop(rnn__ctx *x);
/* The top layer's hidden state of x, (B,H): the input of the next-token distribution */
const float *rnn__ctx_top(const rnn__ctx *x);

/* output.c: the heads over the top output `in` of N = B*T time-major rows */
/* Loss head: the NLL of x->buf.tgt over the loss's denominator, which this alone decides: the
 * targets kept (the mean; 0 when none is), or in training the model's rnn_set_loss_denominator
 * when set; train: keeps what backward needs. logprobs (may be NULL): [b][t][V] log-probabilities. */
double rnn__head_loss(const rnn_model *m, rnn__ctx *x, const float *in, int B, int T, int train, float *logprobs);
/* Scoring head after rnn__run_layers over tokens: row_logp[b] -= the NLL of tokens[b][t] for every
 * t in order (row_logp[b] set to 0 first unless `carry`), the decoder over blocks of `block`
 * steps; needs R = B * min(T, block) rows */
void rnn__head_score(const rnn_model *m, rnn__ctx *x, const float *top, int B, int T, int block, int carry,
                     double *row_logp);
/* Sampling head: next[b] drawn from the distribution after the (B,H) rows `in`. RNN_ERR_NUMERIC
 * (recorded in x->err, nothing drawn, no generator advanced) when a row's distribution is not
 * finite: a NaN or +inf logit, or every logit -inf. */
int rnn__head_sample(const rnn_model *m, rnn__ctx *x, const float *in, int B, const rnn_sampling *s, int32_t *next);
/* Log-probabilities head: logprobs[b][V] after the (B,H) rows `in` */
void rnn__head_logprobs(const rnn_model *m, rnn__ctx *x, const float *in, int B, float *logprobs);
/* After a training loss head over N rows of `in`: the decoder's gradients, dx (N,H) = d/d(in) */
void rnn__output_backward(rnn_model *m, rnn__ctx *x, const float *in, int N, float *dx);
/* output_adaptive.c: the adaptive output layer behind the heads above (m->ad.nc > 0).
 * Loss: the NLL of each of the N rows `in` with a target (tgt, RNN_IGNORE: none) into
 * x->buf.row_nll (0 for the others), their sum returned; the head for every row, cluster i only
 * for the rows whose target is in it; want_grad: keeps d(sum NLL / denom) in the buffers for
 * rnn__ad_backward (denom, rnn__head_loss's, > 0 with want_grad). rowwise picks the products. */
double rnn__ad_loss(const rnn_model *m, rnn__ctx *x, int rowwise, const float *in, const int32_t *tgt, int N,
                    int want_grad, double denom);
/* log_prob(): the full log-probabilities of the N = B*T time-major rows `in`, row r into
 * out + ((r % B) * T + r / B) * V (T = 1: row r at out + r*V) */
void rnn__ad_logprobs(const rnn_model *m, rnn__ctx *x, int rowwise, const float *in, int B, int T, float *out);
/* After a training rnn__ad_loss over N rows of `in`: the layer's gradients, dx (N,H) = d/d(in) */
void rnn__ad_backward(rnn_model *m, rnn__ctx *x, const float *in, int N, float *dx);
/* output.c: k drawn with probability w[k] / sum(w) (w >= 0, V of them, not all 0) by inversion of
 * the uniform u01 in [0, 1); frac (may be NULL) receives where u01 fell within k's share, in [0, 1):
 * a uniform again, independent of k (the adaptive layer's two-level draw reuses it in the cluster) */
int32_t rnn__draw_u(const float *w, int V, double u01, double *frac);
/* output_adaptive.c: the sampler's exact shortcuts on the adaptive layer (see rnn__head_sample).
 * Draw: temperature 1 without any cut or penalty, next[r] from log_prob()'s distribution of the
 * N rows `in`: the head, then only the drawn cluster, one uniform per row. Greedy: log_prob()'s
 * first maximum, the clusters that cannot hold it skipped. RNN_ERR_NUMERIC as
 * rnn__head_sample, for the head and the clusters computed. */
int rnn__ad_draw(const rnn_model *m, rnn__ctx *x, const float *in, int N, int32_t *next);
int rnn__ad_greedy(const rnn_model *m, rnn__ctx *x, const float *in, int N, int32_t *next);
/* The caller's sampling parameters (NULL: the defaults) read and checked into *s */
int rnn__sampling_read(rnn__err *err, const rnn_sampling *in, rnn_sampling *s);

/* optim.c: frees the AdamW state (a model without one) */
void rnn__adamw_free(rnn_model *m);

/* quant.c: quantized models. The matrices of the embedding, the decoder (the embedding's when
 * tied), layer l's input and recurrent weights */
const rnn__qmat *rnn__q_enc(const rnn_model *m);
const rnn__qmat *rnn__q_dec(const rnn_model *m);
const rnn__qmat *rnn__q_ih(const rnn_model *m, int l);
const rnn__qmat *rnn__q_hh(const rnn_model *m, int l);
/* 1 for a table entry stored quantized (a weight, not a bias) */
int rnn__q_tensor(const rnn__tensor *t);
/* RNN_ERR_STATE (naming `call`) on a quantized model: the training calls */
int rnn__check_trainable(rnn_model *m, const char *call);
/* Quantizing in two steps (rnn_model_quantize, the loader): alloc gets every quantized matrix
 * (unfilled) and the smaller fp32 block (RNN_ERR_NOMEM, nothing changed); commit moves the biases
 * into that block (copying them when copy), frees the fp32 weights, gradients and AdamW state */
int rnn__model_quantize_alloc(rnn_model *m, int type, rnn__qmat **q, float **fparams);
void rnn__model_quantize_commit(rnn_model *m, int type, rnn__qmat *q, float *fparams, int copy);
void rnn__model_quantize_free(rnn_model *m);

/* vocab.c */
void rnn__vocab_clear(rnn_model *m);
/* The id of "<eos>", or -1 when the model has no vocabulary or it lacks the word; writes nothing
 * (rnn_vocab_find records a miss in the model's message, which states on several threads must not) */
int32_t rnn__vocab_eos(const rnn_model *m);
/* rnn_vocab_set's work; the loader reports a failure as a malformed file */
int rnn__vocab_set(rnn_model *m, const char *const *words, int count, char *err, size_t errlen);

#endif
