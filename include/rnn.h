/*
 * rnn.h -- librnn 1.3, word-level recurrent language models in C.
 *
 * The only public header of librnn. The model is the one of PyTorch's word_language_model example:
 *
 *     tokens -> Embedding(V, E) -> dropout -> L-layer RNN (RNN_TANH, RNN_RELU, LSTM or GRU,
 *     hidden size H, dropout between layers) -> dropout -> Linear(H, V) -> log_softmax -> NLL
 *
 * with equations, parameter names, shapes and order exactly as torch.nn.RNN / LSTM / GRU.
 *
 * A training step, that example's loop written against this API:
 *
 *     rnn_config cfg;  rnn_config_init(&cfg, sizeof cfg);  cfg.vocab_size = V;
 *     rnn_model *m;    if (rnn_model_create(&m, &cfg, NULL, NULL, 0) != RNN_OK) ...;
 *     rnn_model_reset_hidden(m, batch);              // hidden = zeros(L, batch, H)
 *     for each chunk (tokens[batch][steps], targets[batch][steps]):
 *         double loss;
 *         rnn_forward(m, tokens, targets, batch, steps, 0, &loss);  // state carried, detached
 *         rnn_zero_grad(m);
 *         rnn_backward(m);                           // BPTT through this chunk only
 *         rnn_clip_grad_norm(m, 0.25f, NULL);
 *         rnn_sgd_step(m, lr);                       // p -= lr * grad
 *     rnn_model_free(m);
 *
 * Names
 * - Functions are rnn_<object>_<verb> (rnn_model_create, rnn_state_feed, rnn_vocab_find); a getter
 *   is rnn_<object>_get_<what>(handle, &out). The steps of the training loop on a model's own
 *   hidden state keep PyTorch's verbs without an object: rnn_forward, rnn_backward, rnn_zero_grad,
 *   rnn_clip_grad_norm, rnn_sgd_step, rnn_evaluate, rnn_sample.
 * - Types are rnn_<object>; macros and constants RNN_<NAME>. Names with a double underscore
 *   (rnn__*) are internal: the library exports none.
 *
 * Status codes
 * - Every call that can fail returns an int status: RNN_OK (0) or one of the RNN_ERR_* codes below
 *   (values are fixed forever; new codes may be added). rnn_status_string() names a code;
 *   rnn_model_errmsg() / rnn_state_errmsg() give the detail of the last failure on a handle and
 *   rnn_model_errcode() / rnn_state_errcode() its code. A failed call leaves the handle as it was.
 * - What a code means, in every call: RNN_ERR_INVALID a bad argument (NULL pointer, size out of
 *   range, unknown enum value or flag); RNN_ERR_RANGE a number outside its range (a token id, an
 *   index); RNN_ERR_NOTFOUND a name or word that is not there; RNN_ERR_SIZE an output buffer that
 *   is too small (the size needed is returned).
 *
 * Structs that grow (rnn_config, rnn_sampling, rnn_adamw, rnn_param, rnn_allocator)
 * - Each begins with `size_t struct_size`, the size of the struct as the caller compiled it. Set it
 *   with the struct's *_init call (which also fills in the defaults) or with `x.struct_size =
 *   sizeof x`. librnn reads and writes only that many bytes, so a program built against this
 *   header keeps working with any later librnn 1.x:
 *   - a struct shorter than the library's (an older program): the fields it does not have take
 *     their defaults; a struct_size that does not end at a field boundary is RNN_ERR_INVALID;
 *   - a struct longer than the library's (a newer program on an older library): accepted when
 *     every byte the library does not know is zero (the default of every field added later),
 *     otherwise RNN_ERR_INVALID, naming the first unknown field's offset; a struct_size over 4096
 *     is RNN_ERR_INVALID (an uninitialised struct, most likely);
 *   - structs the library fills (rnn_param, rnn_model_get_config): fields the caller's struct has
 *     but the library does not know are set to zero.
 *   Fields are only ever added at the end, and a field added in 1.x has 0 as its default.
 *
 * Determinism and memory
 * - The library never exits, aborts or prints, and has no mutable global state. All randomness
 *   (initialisation, dropout, sampling) comes from generators inside the handles, seeded by
 *   rnn_config.seed, rnn_model_set_seed() or rnn_state_create(): the same seed, inputs, thread
 *   count (rnn_model_set_threads) and BLAS thread count give bit-identical results.
 * - Token arrays are int32_t laid out [batch][steps]: row b holds the steps of stream b and starts
 *   `stride` entries after row b - 1 (stride >= steps; 0 means steps, a dense array), so a column
 *   slice of a [batch][n] array is passed without a copy. Targets use the same layout and stride;
 *   a target of RNN_IGNORE (-1) is left out of the loss.
 * - Parameters live in one contiguous block, gradients in another; activations in one workspace
 *   arena per model and per state. A call that runs the model needs a workspace set by its own
 *   shape (and the configuration): rnn_forward for (batch, steps) and what rnn_backward needs;
 *   rnn_evaluate with targets or logprobs for (batch, steps), less than that; rnn_sample and the
 *   states' next-token calls for (batch, 1); rnn_state_feed, rnn_state_score and rnn_evaluate
 *   without targets and logprobs for one chunk (below). When the workspace holds less than a call
 *   needs, it is replaced by one of exactly that size, not one for the largest batch and the
 *   largest steps seen apart; it never shrinks. So a shape seen before never allocates again, and
 *   after rnn_model_reserve(m, b, s) no call on m with at most b streams and s steps allocates.
 * - Long inputs: rnn_state_feed, rnn_state_score and rnn_evaluate without targets and logprobs run
 *   in chunks of max(1, 256 / batch) steps, carrying the hidden state from one to the next, so their
 *   memory does not depend on the number of steps (a feed holds no V-wide logits at all). A state's
 *   hidden state after them is the one pass's, bit for bit (its products are row-wise), and its
 *   scores do not depend on where chunks end (the output layer's products start at multiples of
 *   that many steps in any case); the model's state after rnn_evaluate is what one such call per
 *   chunk leaves.
 * - These calls allocate: rnn_model_create, rnn_model_load, rnn_model_load_mem,
 *   rnn_model_reset_hidden (a batch larger than any before), rnn_model_reserve,
 *   rnn_model_set_threads, rnn_vocab_set, rnn_state_create, rnn_state_clone (a workspace the size
 *   of its source's), rnn_adamw_step (the first step after creation or rnn_adamw_reset, for its
 *   moments), and rnn_forward / rnn_evaluate / rnn_sample / rnn_state_feed / rnn_state_score /
 *   rnn_state_score_sentence when the workspace must grow as above (rnn_forward / rnn_evaluate /
 *   rnn_sample also the token history of rnn_sampling, once after a larger
 *   rnn_model_reset_hidden). No other call allocates: in the steady
 *   state the training loop and generation allocate nothing. rnn_model_save allocates nothing
 *   through the hooks (the C library's stdio buffers a file). Every allocation goes through the
 *   rnn_allocator given at creation or load.
 *
 * Thread safety
 * - Distinct handles may be used from different threads at the same time without locking.
 * - One handle must not be used by two threads at once, not even for the read-only calls, unless
 *   the caller serialises access: every computing call writes the handle's workspace and state,
 *   and every failing call its message. rnn_state handles are the exception that lets a model
 *   serve many threads (see "Inference states").
 * - rnn_status_string, rnn_version_*, rnn_limit_get, rnn_cell_* and the *_init calls may be
 *   called from any thread.
 * - The matrix products go through CBLAS; the BLAS library's own thread count (for OpenBLAS,
 *   OPENBLAS_NUM_THREADS or openblas_set_num_threads()) is the process's to set, not librnn's.
 * - librnn runs on the calling thread unless rnn_model_set_threads() asks for more.
 *
 * Stability
 * - Everything declared outside the RNN_EXPERT_API section is stable for all of 1.x: no call,
 *   type, constant or field is removed or changes meaning before 2.0. A call that 1.x will retire
 *   is marked RNN_DEPRECATED("use ...") for at least one minor release first.
 * - The RNN_EXPERT_API section (declared only when that macro is defined before this header is
 *   included) holds calls that expose the implementation, for tests, converters and drivers such
 *   as data-parallel training: they are exported by every 1.x library, but a minor release may
 *   change them (each change is listed in the release notes).
 *
 * Portability: GCC or Clang (GNU C vector extensions), a POSIX system (threads, files), and a
 * CBLAS (OpenBLAS or the reference BLAS).
 */
#ifndef RNN_H
#define RNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------------------------ */
/* The Makefile reads RNN_VERSION_MAJOR for the soname (librnn.so.MAJOR). */
#define RNN_VERSION_MAJOR 1
#define RNN_VERSION_MINOR 3
#define RNN_VERSION_PATCH 0
#define RNN_VERSION_NUMBER (RNN_VERSION_MAJOR * 10000 + RNN_VERSION_MINOR * 100 + RNN_VERSION_PATCH)
#define RNN_VERSION_STRING "1.3.0"

#if defined(__GNUC__) && __GNUC__ >= 4
#define RNN_API __attribute__((visibility("default")))
#define RNN_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define RNN_API
#define RNN_DEPRECATED(msg)
#endif

/* RNN_VERSION_NUMBER of the library actually linked; compare with the header's to detect skew. */
RNN_API unsigned rnn_version_number(void);
/* RNN_VERSION_STRING of the library actually linked. Static storage; never NULL. */
RNN_API const char *rnn_version_string(void);

/* ---- Status codes (never renumbered) -------------------------------------------------------- */
enum {
    RNN_OK = 0,
    RNN_ERR_INVALID = 1,   /* a bad argument: NULL pointer, size out of range, bad config value,
                              unknown enum value or flag */
    RNN_ERR_RANGE = 2,     /* a number outside its range: a token id outside [0, vocab_size)
                              (targets: or RNN_IGNORE), an index past the end */
    RNN_ERR_STATE = 3,     /* call out of order, or a batch size that does not match the state */
    RNN_ERR_NOMEM = 4,     /* the allocator returned NULL, or a size overflowed */
    RNN_ERR_IO = 5,        /* reading or writing a file failed */
    RNN_ERR_FORMAT = 6,    /* a malformed or unsupported file, or text that is not UTF-8 */
    RNN_ERR_NUMERIC = 7,   /* a non-finite value where a finite one is required */
    RNN_ERR_NOTFOUND = 8,  /* no such name or word */
    RNN_ERR_SIZE = 9       /* an output buffer too small; the size needed was returned */
};

/* A static, human-readable name for a status code ("unknown status" for codes not listed). */
RNN_API const char *rnn_status_string(int status);

/* ---- Limits --------------------------------------------------------------------------------- */
enum {
    RNN_LIMIT_DIM = 0,        /* largest vocab_size, emb_size and hidden_size */
    RNN_LIMIT_LAYERS = 1,     /* largest num_layers */
    RNN_LIMIT_THREADS = 2,    /* largest rnn_model_set_threads */
    RNN_LIMIT_CHUNK = 3,      /* largest batch * steps of one call */
    RNN_LIMIT_WORD_BYTES = 4, /* longest vocabulary word, in bytes */
    RNN_LIMIT_APP_DATA = 5,   /* largest application data saved with a model, in bytes */
    RNN_LIMIT_REPEAT_WINDOW = 6, /* largest rnn_sampling.repeat_last_n: the tokens each stream
                                    remembers for the repetition penalty */
    RNN_LIMIT_CUTOFFS = 7        /* most rnn_config.cutoffs of an adaptive output layer
                                    (RNN_MAX_CUTOFFS) */
};
/* *value receives the limit. RNN_ERR_INVALID for an unknown limit or a NULL value. */
RNN_API int rnn_limit_get(int limit, int64_t *value);

/* ---- Cells ---------------------------------------------------------------------------------- */
enum {
    RNN_CELL_TANH = 0,   /* "RNN_TANH": h' = tanh(W_ih x + b_ih + W_hh h + b_hh)              */
    RNN_CELL_RELU = 1,   /* "RNN_RELU": h' = relu(W_ih x + b_ih + W_hh h + b_hh)              */
    RNN_CELL_LSTM = 2,   /* "LSTM": gates i, f, g, o (PyTorch order); c' = f*c + i*g;
                            h' = o*tanh(c')                                                  */
    RNN_CELL_GRU = 3     /* "GRU": gates r, z, n; n = tanh(W_in x + b_in + r*(W_hn h + b_hn));
                            h' = (1 - z)*n + z*h                                              */
};
/* The number of cell types (ids are 0 .. RNN_CELL_COUNT - 1). */
#define RNN_CELL_COUNT 4
/* *name receives the cell's name as the PyTorch example's --model flag spells it (static
 * storage). RNN_ERR_INVALID for an unknown id or a NULL name. */
RNN_API int rnn_cell_name(int cell, const char **name);
/* *cell receives the id of the cell called `name` (exact match: "RNN_TANH", "RNN_RELU", "LSTM",
 * "GRU"). RNN_ERR_NOTFOUND for any other name, RNN_ERR_INVALID for NULL arguments. */
RNN_API int rnn_cell_find(const char *name, int *cell);

/* ---- Configuration ---------------------------------------------------------------------------- */
#define RNN_IGNORE (-1) /* a target that is left out of the loss and its gradient */

/* rnn_config.output: the output layer after the top layer's dropout */
enum {
    RNN_OUTPUT_FULL = 0,    /* Linear(H, V) + log_softmax: the PyTorch example's decoder */
    RNN_OUTPUT_ADAPTIVE = 1 /* torch.nn.AdaptiveLogSoftmaxWithLoss(H, V, cutoffs, div_value,
                               head_bias): a head Linear(H, cutoffs[0] + n) over the first
                               cutoffs[0] words and one entry per cluster, and cluster i (of n =
                               num_cutoffs) a Linear(H, floor(H / div_value^(i+1)), bias=False)
                               then a Linear(that, size of cluster i, bias=False); parameters
                               decoder.head.weight, decoder.head.bias (head_bias only),
                               decoder.tail.{i}.0.weight, decoder.tail.{i}.1.weight, initialised
                               as PyTorch's Linear, U(-1/sqrt(fan_in), 1/sqrt(fan_in)). Word ids
                               should be ordered by descending frequency. */
};
/* the size of rnn_config.cutoffs (rnn_limit_get(RNN_LIMIT_CUTOFFS) says the same) */
#define RNN_MAX_CUTOFFS 8

/* Model hyperparameters: a struct that grows (see the top of this header). */
typedef struct rnn_config {
    size_t struct_size; /* sizeof(rnn_config) as the caller compiled it */
    int cell;          /* RNN_CELL_*; default RNN_CELL_LSTM */
    int vocab_size;    /* V in [1, RNN_LIMIT_DIM]; default 0 (must be set) */
    int emb_size;      /* E in [1, RNN_LIMIT_DIM]; default 200 */
    int hidden_size;   /* H in [1, RNN_LIMIT_DIM]; default 200 */
    int num_layers;    /* L in [1, RNN_LIMIT_LAYERS]; default 2 */
    float dropout;     /* 0 <= p < 1, applied after the embedding, between layers and before the
                          decoder (inverted: kept units are scaled by 1/(1-p)); default 0.2 */
    int tied;          /* nonzero: decoder.weight is encoder.weight (requires E == H); default 0 */
    uint64_t seed;     /* seeds initialisation, dropout and sampling; default 1111 */
    /* librnn 1.1 */
    int output;        /* RNN_OUTPUT_FULL (default) or RNN_OUTPUT_ADAPTIVE; adaptive cannot be
                          tied (nor can PyTorch's module) */
    int num_cutoffs;   /* adaptive: the clusters, in [1, RNN_MAX_CUTOFFS]; full: 0 (default) */
    int cutoffs[RNN_MAX_CUTOFFS]; /* adaptive: cutoffs[0..num_cutoffs) strictly increasing, each in
                          [1, vocab_size - 1] (the head holds ids below cutoffs[0], cluster i ids
                          [cutoffs[i], cutoffs[i+1]) with cutoffs[num_cutoffs] = vocab_size); the
                          entries past num_cutoffs 0. Full: all 0 (default) */
    float div_value;   /* adaptive: cluster i projects to floor(H / div_value^(i+1)) units, which
                          must be at least 1; finite and > 0, 0 = 4 (PyTorch's default; the
                          model's configuration then says 4). Full: 0 (default) */
    int head_bias;     /* adaptive: nonzero gives the head a bias (decoder.head.bias); default 0 */
    int dropout_masks; /* where rnn_forward's dropout masks come from: RNN_DROPOUT_GENERATOR
                          (default, 1.0's) or RNN_DROPOUT_COUNTER. A training setting: saved
                          with RNN_SAVE_STATE (a file saved without it loads with the default) */
} rnn_config;

/* rnn_config.dropout_masks */
enum {
    RNN_DROPOUT_GENERATOR = 0, /* from the model's generator, which every mask advances: the masks
                                  depend on the calls before (1.0's, and the default) */
    RNN_DROPOUT_COUNTER = 1    /* a hash of (seed, stream, step, site, unit): stream b at step t of
                                  an rnn_forward uses stream s0 + b and step p0 + t, where (s0, p0)
                                  is the dropout position (rnn_model_set_dropout_position); site 0
                                  is the embedding's dropout, site l + 1 the one after layer l.
                                  So the masks of a stream do not depend on which other streams
                                  share the call: data-parallel drivers that split a batch's
                                  streams over processes draw the same masks as one process */
};

/* Fills cfg (`size` bytes: sizeof *cfg) with the PyTorch example's defaults above and sets
 * struct_size = size. RNN_ERR_INVALID for a NULL cfg or a size that is not a field boundary. */
RNN_API int rnn_config_init(rnn_config *cfg, size_t size);

/* ---- Allocation hooks ------------------------------------------------------------------------- */
/*
 * Every byte librnn allocates for a model and its states goes through these hooks (a NULL
 * rnn_allocator: malloc/free). alloc must return memory aligned for float and double (malloc's
 * guarantee) or NULL; free receives only pointers that alloc returned (never NULL). States call
 * the hooks from the threads they run on, so the hooks must then be thread-safe (malloc is). The
 * struct is copied. A struct that grows (see the top of this header): set struct_size.
 */
typedef struct rnn_allocator {
    size_t struct_size;
    void *(*alloc)(void *user, size_t size);
    void (*free)(void *user, void *ptr);
    void *user;
} rnn_allocator;

/* ---- The model handle ------------------------------------------------------------------------- */
typedef struct rnn_model rnn_model;

/*
 * Creates a model with freshly initialised weights, as the PyTorch example does: encoder and
 * decoder weights U(-0.1, 0.1), decoder bias 0, every recurrent weight and bias
 * U(-1/sqrt(H), 1/sqrt(H)) (an adaptive output layer: RNN_OUTPUT_ADAPTIVE's initialisation);
 * gradients zero; no hidden state yet (call rnn_model_reset_hidden).
 *   out     receives the handle (set to NULL on failure)
 *   cfg     the hyperparameters (copied)
 *   alloc   allocation hooks, or NULL for malloc/free (copied)
 *   errbuf  optional buffer (errlen bytes) for the reason of a failure, since no handle exists,
 *           e.g. "tied weights need emb_size == hidden_size (got 200 and 100)"
 * Returns RNN_OK, RNN_ERR_INVALID (NULL out/cfg, a value out of range, tied with E != H, hooks
 * with only one of alloc/free set, adaptive cutoffs that PyTorch's module refuses, a cluster
 * projection of 0 units, adaptive with tied, adaptive settings with RNN_OUTPUT_FULL) or
 * RNN_ERR_NOMEM.
 */
RNN_API int rnn_model_create(rnn_model **out, const rnn_config *cfg, const rnn_allocator *alloc,
                             char *errbuf, size_t errlen);

/* Frees the handle and everything it owns. rnn_model_free(NULL) does nothing. Every rnn_state
 * of the model must be freed first. */
RNN_API void rnn_model_free(rnn_model *m);

/* ---- Quantized weights (librnn 1.1): an opt-in inference mode --------------------------------- */
enum {
    RNN_WEIGHTS_FP32 = 0, /* the default: every weight a binary32, results bit-exact against PyTorch */
    RNN_WEIGHTS_BF16 = 1, /* bfloat16 weights (rounded to nearest even), products summed in fp32 */
    RNN_WEIGHTS_Q8 = 2    /* int8 weights in blocks of 32 inputs with one fp32 scale per block;
                             activations quantized the same way on the fly, block products summed
                             exactly in int32 */
};

/*
 * Converts the model's weight matrices (the embedding, every layer's weight_ih and weight_hh, the
 * decoder) to `type` in place; biases stay fp32. docs/DESIGN.md ("Quantized weights") defines
 * every rounding and the order of every sum: results are the same bits on every CPU, kernel path,
 * thread count and batch. Irreversible: the fp32 weights, the gradients and AdamW's state are
 * freed (every pointer rnn_param_get / find / get_block handed out is then invalid; the biases
 * move to a new block). A quantized model is for inference: rnn_evaluate, rnn_sample, rnn_state_* and saving work;
 * rnn_forward, rnn_backward, rnn_zero_grad, rnn_clip_grad_norm, rnn_sgd_step and rnn_adamw_step
 * return RNN_ERR_STATE; rnn_param_get / rnn_param_find give a weight matrix's name and shape with
 * data NULL (biases: data as before), grad is NULL for every tensor, and rnn_param_get_block
 * returns RNN_ERR_STATE. No other call may use the model or its states during the conversion.
 * Returns RNN_OK (also for the type the model already has), RNN_ERR_INVALID (unknown type, an
 * adaptive output layer, E or H over 65536), RNN_ERR_STATE (already quantized to another type),
 * RNN_ERR_NUMERIC (a weight that is not finite, named in the message) or RNN_ERR_NOMEM; on failure
 * the model is unchanged.
 */
RNN_API int rnn_model_quantize(rnn_model *m, int type);
/* *type receives the model's RNN_WEIGHTS_* type. RNN_ERR_INVALID on NULL arguments. */
RNN_API int rnn_model_get_weight_type(const rnn_model *m, int *type);

/* Copies the model's configuration into *out (out->struct_size set by the caller, e.g. by
 * rnn_config_init). RNN_ERR_INVALID on NULL arguments or a bad struct_size. */
RNN_API int rnn_model_get_config(const rnn_model *m, rnn_config *out);

/*
 * The detail of the last failed call on this handle, e.g. "token 40000 at [2][7] is outside
 * [0, 33278)"; "" when none failed yet. Valid until the next call on the handle. Never NULL
 * (for a NULL handle, a static string).
 */
RNN_API const char *rnn_model_errmsg(const rnn_model *m);
/* The status of the last failed call on this handle (RNN_OK when none failed yet;
 * RNN_ERR_INVALID for a NULL handle). */
RNN_API int rnn_model_errcode(const rnn_model *m);

/* Reseeds the model's generator (dropout masks and rnn_sample), as if created with this seed. */
RNN_API int rnn_model_set_seed(rnn_model *m, uint64_t seed);

/*
 * The dropout position of RNN_DROPOUT_COUNTER (see rnn_config.dropout_masks): the next
 * rnn_forward's stream b at step t draws its masks from stream `stream` + b and step `step` + t;
 * every rnn_forward then adds its steps to the step (not rnn_evaluate, which has no dropout). A
 * created model starts at (0, 0); rnn_model_set_seed also sets the hash's seed. Saved and loaded
 * with RNN_SAVE_STATE (with the hash's seed), so training continues bit for bit. A data-parallel
 * driver that gives process r the streams [first_r, first_r + rows) of every batch sets `stream`
 * to first_r once. In RNN_DROPOUT_GENERATOR mode the position is kept but unused. Never fails
 * for a model (RNN_ERR_INVALID for NULL arguments).
 */
RNN_API int rnn_model_set_dropout_position(rnn_model *m, uint64_t stream, uint64_t step);
RNN_API int rnn_model_get_dropout_position(const rnn_model *m, uint64_t *stream, uint64_t *step);

/*
 * The number of threads librnn's computing calls use on this model (1, the default: the caller's
 * alone). threads - 1 workers are started here (every signal blocked in them) and stopped by the
 * next call or by rnn_model_free; they sleep between calls. They split the large products, the
 * output layer and the passes over the parameters with the caller; set the BLAS to one thread
 * then (OpenBLAS: OPENBLAS_NUM_THREADS=1), or the two thread pools compete. rnn_state_create
 * gives each new state its own workers, as many as the model's setting then (so, like every call
 * that changes the model, this one must not overlap calls on its states: see "Inference states";
 * rnn_state_create reads the setting). The row and parameter sums are cut into fixed
 * chunks, so they do not depend on the thread count; the products are cut into one CBLAS call per
 * thread, whose last bits may. After fork() the child's copies of the handles have no workers and
 * run every call on the calling thread (same results). RNN_ERR_INVALID outside
 * [1, RNN_LIMIT_THREADS]; RNN_ERR_NOMEM when threads cannot be started (the setting stays).
 */
RNN_API int rnn_model_set_threads(rnn_model *m, int threads);
RNN_API int rnn_model_get_threads(const rnn_model *m, int *threads);

/* ---- The model's hidden state (used by the training loop's calls) ---------------------------- */
/*
 * Sets the model's hidden state to zeros for `batch` streams (the example's init_hidden(batch))
 * and drops any pending backward and the streams' token history (see rnn_sampling). Allocates
 * when batch exceeds every earlier batch.
 * Returns RNN_OK, RNN_ERR_INVALID (batch <= 0) or RNN_ERR_NOMEM.
 */
RNN_API int rnn_model_reset_hidden(rnn_model *m, int batch);

/* *batch receives the batch size of the hidden state (0 before rnn_model_reset_hidden). */
RNN_API int rnn_model_get_batch(const rnn_model *m, int *batch);

/*
 * Copies the hidden state out of / into the model. h is float[L][batch][H]; c (LSTM's cell state,
 * same shape) may be NULL (rnn_model_set_hidden then sets it to zeros) and is ignored for the other
 * cells. batch must equal the state's batch (RNN_ERR_STATE otherwise). rnn_model_set_hidden drops
 * any pending backward and empties the streams' token history (see rnn_sampling).
 */
RNN_API int rnn_model_get_hidden(const rnn_model *m, int batch, float *h, float *c);
RNN_API int rnn_model_set_hidden(rnn_model *m, int batch, const float *h, const float *c);

/*
 * Sizes the workspace for a training step of batch x steps now (when it holds less), so that no
 * later call with at most `batch` streams and `steps` steps allocates. Optional: the first call
 * that needs more grows the workspace to what that call needs. Growing drops a pending backward
 * (the activations it needed are gone). Returns RNN_OK, RNN_ERR_INVALID or RNN_ERR_NOMEM.
 */
RNN_API int rnn_model_reserve(rnn_model *m, int batch, int steps);

/* ---- Training ----------------------------------------------------------------------------------- */
/*
 * Runs the model in training mode (dropout active) over one chunk and returns the mean negative
 * log-likelihood of the targets: sum over kept positions of -log p(target) / (number kept), 0 when
 * every target is RNN_IGNORE. The hidden state entering the chunk is the state left by the previous
 * chunk (or rnn_model_reset_hidden); the state after the last step is kept for the next call
 * (detached: backward stops at the chunk's start). Activations are kept for rnn_backward.
 *   tokens   int32_t[batch][stride], steps used per row, each in [0, V)
 *   targets  the same layout, each in [0, V) or RNN_IGNORE
 *   batch    must equal the hidden state's batch (see rnn_model_reset_hidden)
 *   stride   entries between the starts of two rows (>= steps), or 0 for steps
 *   loss     receives the mean NLL (may be NULL). Not checked: a non-finite weight or hidden state
 *            that reaches a kept position's logits makes it NaN (or +inf), as in PyTorch, and the
 *            call still returns RNN_OK; check it (isfinite) before training on.
 * Returns RNN_OK, RNN_ERR_INVALID, RNN_ERR_RANGE, RNN_ERR_STATE (no state or another batch size),
 * or RNN_ERR_NOMEM (growing the workspace).
 */
RNN_API int rnn_forward(rnn_model *m, const int32_t *tokens, const int32_t *targets, int batch,
                        int steps, int stride, double *loss);

/*
 * Back-propagates the last rnn_forward's loss through that chunk only (truncated BPTT) and ADDS the
 * gradients to the gradient block, as PyTorch's loss.backward() does (call rnn_zero_grad first).
 * Can be called once per rnn_forward; RNN_ERR_STATE otherwise (also after rnn_sgd_step,
 * rnn_evaluate, rnn_sample, rnn_model_reset_hidden or rnn_model_set_hidden).
 */
RNN_API int rnn_backward(rnn_model *m);

/* Sets every gradient to zero (the example's model.zero_grad()).
 * Cost: these three passes skip the embedding rows no rnn_backward touched since the last
 * rnn_zero_grad (their gradient is zero), with the same results to the bit, unless the model is
 * tied or has handed out a gradient pointer (see rnn_param); then they cover the whole block. */
RNN_API int rnn_zero_grad(rnn_model *m);

/*
 * Global-norm gradient clipping, torch.nn.utils.clip_grad_norm_ with norm_type 2:
 *   total = sqrt(sum over parameters of ||grad||^2);  coef = max_norm / (total + 1e-6);
 *   if coef < 1, every gradient is multiplied by coef.
 * A tied weight counts once. total_norm (may be NULL) receives `total` before clipping.
 * Returns RNN_OK, RNN_ERR_INVALID (max_norm not finite or <= 0) or RNN_ERR_NUMERIC (total is not
 * finite; gradients are left unscaled).
 */
RNN_API int rnn_clip_grad_norm(rnn_model *m, float max_norm, double *total_norm);

/* The example's plain SGD update: for every parameter p -= lr * grad. lr must be finite. */
RNN_API int rnn_sgd_step(rnn_model *m, float lr);

/*
 * AdamW, exactly torch.optim.AdamW (PyTorch 1.13's single-tensor path; amsgrad and maximize off)
 * over every parameter (a tied weight once, as parameters() lists it). A struct that grows.
 */
typedef struct rnn_adamw {
    size_t struct_size;   /* sizeof(rnn_adamw) as the caller compiled it */
    double lr;            /* learning rate, finite, >= 0; default 1e-3 (torch's defaults) */
    double beta1;         /* [0, 1); default 0.9 */
    double beta2;         /* [0, 1); default 0.999 */
    double eps;           /* finite, >= 0; default 1e-8 */
    double weight_decay;  /* finite, >= 0; default 1e-2 (decoupled: p *= 1 - lr * weight_decay) */
} rnn_adamw;

/* Fills opt (`size` bytes: sizeof *opt) with the defaults above and sets struct_size = size.
 * RNN_ERR_INVALID as rnn_config_init. */
RNN_API int rnn_adamw_init(rnn_adamw *opt, size_t size);

/*
 * One optimizer.step() of torch.optim.AdamW with these options (NULL: the defaults) on the
 * gradients as they are (after rnn_backward and, as the example does, rnn_clip_grad_norm). The
 * model holds the optimizer's state: the step count t and two moments m, v (one float each per
 * parameter), zero before the first step, which allocates them. For every parameter p with
 * gradient g, in float32 except the scalars marked (double), as torch 1.13 computes it:
 *   t += 1;  p *= (float)(1 - lr*weight_decay);
 *   m = m*(float)beta1 + (float)(1 - beta1)*g;  v = v*(float)beta2 + ((float)(1 - beta2)*g)*g;
 *   bc1 = 1 - beta1^t, bc2 = 1 - beta2^t (double; t capped at 2^24, where torch's float32 step
 *   counter stops);  d = sqrt(v) / (float)sqrt(bc2) + (float)eps;
 *   p += ((float)(-lr/bc1) * m) / d.
 * Each element is independent, so the result does not depend on the thread count. PyTorch fuses
 * m's multiply-add on CPUs with FMA, so the last bit of m may differ from it there.
 * Returns RNN_OK; RNN_ERR_INVALID (an option out of range, or a bad struct_size); RNN_ERR_NUMERIC
 * when a gradient is not finite (where PyTorch would spread the NaN into the weights and the
 * moments for good): nothing is changed, the message names the first such parameter; or
 * RNN_ERR_NOMEM (the first step's moments). Drops any pending backward, as rnn_sgd_step does.
 */
RNN_API int rnn_adamw_step(rnn_model *m, const rnn_adamw *opt);

/* Drops the AdamW state (moments freed, step count 0): the next rnn_adamw_step starts as a fresh
 * optimizer. */
RNN_API int rnn_adamw_reset(rnn_model *m);

/* *step receives the number of rnn_adamw_step calls since creation or rnn_adamw_reset (as saved
 * and loaded with RNN_SAVE_STATE); 0 when the model has no AdamW state. */
RNN_API int rnn_adamw_get_step(const rnn_model *m, int64_t *step);

/* ---- Evaluation and generation on the model's hidden state ------------------------------------ */
/*
 * rnn_forward in evaluation mode (no dropout, nothing kept for backward, no gradient): the mean NLL
 * of the targets, and the hidden state carried as in rnn_forward. When logprobs is not NULL it
 * receives log_softmax of every position, float[batch][steps][V]. targets may be NULL: the chunk
 * only advances the state (e.g. to prime it with a prompt) and the loss is 0; with logprobs NULL
 * too, it runs in chunks without logits (see "Long inputs" at the top). As in rnn_forward, a
 * non-finite logit gives a NaN (or infinite) loss and log-probabilities, never a finite one: check
 * them. Drops any pending backward. Otherwise the same arguments and returns as rnn_forward.
 */
RNN_API int rnn_evaluate(rnn_model *m, const int32_t *tokens, const int32_t *targets, int batch,
                         int steps, int stride, double *loss, float *logprobs);

/*
 * Sampling parameters: a struct that grows. The chain, applied to every stream's next-token
 * distribution in this order (the model's logits z_k = W_dec h + b_dec, k in [0, V); with an
 * adaptive output layer, z_k is its log-probability log_prob()[k]):
 *   1. repetition penalty (llama.cpp's penalty_repeat), when repeat_penalty is not 0 or 1: for
 *      each distinct token k among the last n tokens of the stream's history (n = repeat_last_n,
 *      0 meaning 64), z_k = z_k / repeat_penalty if z_k > 0, else z_k * repeat_penalty;
 *   2. temperature: temperature 0 is greedy (the largest z_k, the lowest id on ties; the steps
 *      below are skipped); otherwise the weights w_k = exp((z_k - max z) / temperature), the
 *      example's softmax(logits / T) up to a constant;
 *   3. top-k: only the top_k largest w_k stay (ties: the lower ids first);
 *   4. top-p: of those, the smallest set of the largest whose sum reaches top_p x their sum;
 *   5. min-p (llama.cpp's min_p): of those, only the w_k >= min_p x the largest w_k;
 *   6. the draw: k with probability w_k / (the sum of the kept w), from the stream's generator.
 * The generator: every draw takes exactly one uniform (53 bits) from the stream's generator
 * (rnn_sample: from the model's, stream after stream), whatever the settings; greedy takes none.
 * The uniform is inverted through the kept weights' running sum, in id order (after top-k or
 * top-p: best first). With an adaptive output layer at temperature 1 without steps 1, 3, 4 and 5
 * (the defaults), the draw is two-level and computes only the head and the drawn cluster, not V
 * log-probabilities: the uniform picks the head's entry (a head word, or a cluster), and where it
 * fell within that cluster's share (a uniform again) picks the cluster's word; that is
 * log_prob()'s distribution, and the token the full row would give from the same uniform but for
 * rounding. Greedy there computes only the clusters whose head entry lies above the best word
 * found before them (a cluster word's log-probability never exceeds its cluster's entry). These
 * two check only the head and the clusters they compute for NaN and +inf (RNN_ERR_NUMERIC below).
 * A stream's history is the tokens it was fed, oldest first, since its hidden state was last
 * reset or set: by rnn_state_feed, rnn_state_score and rnn_state_generate (its own tokens) for a
 * state; by rnn_forward, rnn_evaluate and rnn_sample (the tokens it feeds, so its draw already
 * sees them) for the model's hidden state. Each stream remembers the last RNN_LIMIT_REPEAT_WINDOW
 * (1024) of them, in a ring of about 4 KiB per stream, allocated by rnn_state_create; for the
 * model's hidden state by rnn_model_reserve or by the first rnn_forward, rnn_evaluate or
 * rnn_sample after an rnn_model_reset_hidden larger than any before (not by loading a file).
 * rnn_state_reset, rnn_state_set_hidden, rnn_model_reset_hidden and rnn_model_set_hidden empty
 * it; rnn_state_copy and rnn_state_clone copy it. It is not saved in model files.
 * rnn_state_get_logprobs and the scores are the model's distribution, without any of this chain.
 * (llama.cpp applies temperature last and min-p to the logits; here min-p follows the temperature,
 * relative to the most probable token after the cuts before it.)
 * The defaults (rnn_sampling_init, and every field a shorter struct lacks) leave steps 1 and 5
 * out: a 1.0 struct (temperature, top_k, top_p) draws exactly what librnn 1.0 drew.
 */
typedef struct rnn_sampling {
    size_t struct_size; /* sizeof(rnn_sampling) as the caller compiled it */
    float temperature; /* >= 0, finite; 0 = greedy (the most probable token, lowest id on ties) */
    int top_k;         /* keep the k most probable tokens; 0 = all */
    float top_p;       /* keep the smallest set of most probable tokens whose probability
                          reaches top_p (nucleus sampling); in (0, 1], 1 = all */
    int reserved_1_0;  /* ignored whatever its value: 1.0's tail padding (where a 1.0 program may
                          leave garbage), so that no field is ever read from it */
    /* librnn 1.1 */
    float min_p;          /* keep only tokens whose probability is at least min_p x the most
                             probable's (llama.cpp's min-p); in [0, 1], 0 = off (default) */
    float repeat_penalty; /* llama.cpp's repetition penalty: finite, >= 0; 0 (default) or 1 = off;
                             above 1 discourages repeats, below 1 encourages them */
    int repeat_last_n;    /* how many of the stream's most recent tokens are penalised, in
                             [0, RNN_LIMIT_REPEAT_WINDOW]; 0 = 64 (llama.cpp's default) */
} rnn_sampling;

/* Fills s (`size` bytes: sizeof *s) with temperature 1, top_k 0, top_p 1, min_p 0,
 * repeat_penalty 0 and repeat_last_n 0 (the example's plain multinomial draw) and sets
 * struct_size = size. RNN_ERR_INVALID as rnn_config_init. */
RNN_API int rnn_sampling_init(rnn_sampling *s, size_t size);

/*
 * The example's generation step on the model's hidden state: feeds tokens[b] to stream b
 * (advancing the state by one step), then draws next[b] from the next-token distribution with the
 * model's generator, through the sampler chain of rnn_sampling (NULL: the defaults). batch must
 * equal the state's batch. Drops any pending backward. RNN_ERR_NUMERIC when a stream's
 * distribution is not one (a NaN or +inf logit, or every logit -inf; the message names the stream
 * and the token): nothing is drawn or written to next, and the hidden state and the generator are
 * left as they were (the tokens are not fed, nor added to the history; only the pending backward
 * is gone).
 */
RNN_API int rnn_sample(rnn_model *m, const int32_t *tokens, int batch, const rnn_sampling *sampling,
                       int32_t *next);

/* ---- Inference states: one model, many streams ------------------------------------------------ */
/*
 * An rnn_state is a hidden state for `batch` independent streams, with its own workspace and one
 * generator per stream, over a model it only reads. Any number of states may use one model, each
 * from its own thread, at the same time, as long as nothing modifies the model meanwhile: no call
 * that takes a non-const rnn_model * (rnn_forward, rnn_backward, rnn_zero_grad,
 * rnn_clip_grad_norm, rnn_sgd_step, rnn_adamw_step / reset, rnn_evaluate, rnn_sample,
 * rnn_model_reset_hidden / set_hidden / reserve / set_seed / set_threads, rnn_vocab_set,
 * rnn_model_free) and no write through
 * rnn_param's data pointers (or rnn_param_get_block's). The calls that take a const rnn_model *
 * may run meanwhile (on one thread at a time, as for any handle). A state itself must not be used
 * by two threads at once. The state calls below never allocate after rnn_state_create, except
 * rnn_state_feed / score when the workspace must grow (see "Determinism and memory"; every input
 * longer than one chunk needs the same). Stream b's generator is seeded with seed + b,
 * so stream b of a batched state produces what a one-stream state created with seed + b produces.
 * A stream's results do not depend on the other streams of its state (scores within rounding: the
 * output layer's products are CBLAS ones over all streams).
 */
typedef struct rnn_state rnn_state;

/* A zero state for `batch` streams over m: RNN_OK, RNN_ERR_INVALID (NULL out or m, batch <= 0)
 * or RNN_ERR_NOMEM (*out NULL; the model's message is not written, as states may be created from
 * several threads at once). */
RNN_API int rnn_state_create(rnn_state **out, const rnn_model *m, int batch, uint64_t seed);
/* Frees a state (NULL is fine). The model must outlive its states. */
RNN_API void rnn_state_free(rnn_state *st);
/* The detail of the last failure on this state ("" if none); never NULL. */
RNN_API const char *rnn_state_errmsg(const rnn_state *st);
/* The status of the last failure on this state (RNN_OK if none; RNN_ERR_INVALID for NULL). */
RNN_API int rnn_state_errcode(const rnn_state *st);
/* Zeros the hidden state, empties the token history (see rnn_sampling) and reseeds every
 * stream's generator with the creation seed. */
RNN_API int rnn_state_reset(rnn_state *st);
/* Copies src's hidden state, token history, generators and creation seed (what rnn_state_reset
 * reseeds with)
 * into dst (same model and batch; no allocation): a cheap fork for beam search. RNN_ERR_STATE
 * when they differ. */
RNN_API int rnn_state_copy(rnn_state *dst, const rnn_state *src);
/* A new state equal to src (rnn_state_create + rnn_state_copy). */
RNN_API int rnn_state_clone(rnn_state **out, const rnn_state *src);
/* *batch receives the number of streams. */
RNN_API int rnn_state_get_batch(const rnn_state *st, int *batch);
/* Copy the hidden state out of / into the state: h (and c for LSTM, may be NULL) float[L][batch][H].
 * rnn_state_set_hidden empties the token history (see rnn_sampling). */
RNN_API int rnn_state_get_hidden(const rnn_state *st, float *h, float *c);
RNN_API int rnn_state_set_hidden(rnn_state *st, const float *h, const float *c);

/*
 * Feeds tokens int32_t[batch][stride] (steps used per row; stride 0 = steps) through the model (no
 * dropout), advancing every stream by `steps` tokens: the input products of a chunk's steps are
 * one GEMM per layer. A long input runs in chunks (see "Long inputs" at the top), with the state
 * one pass would give. Use it to prime a state with a prompt.
 */
RNN_API int rnn_state_feed(rnn_state *st, const int32_t *tokens, int steps, int stride);

/*
 * Scores continuations: logprob[b] = sum over t of log p(tokens[b][t] | the stream's past and
 * tokens[b][0..t-1]), then advances the state past them (as rnn_state_feed). The first token is
 * predicted from the state as it is (a zero state gives the model's distribution after a zero
 * hidden state). Fork with rnn_state_copy first to score several candidates from one point. A
 * long input runs in chunks (see "Long inputs" at the top); its scores do not depend on where
 * they end. A non-finite logit makes its stream's logprob NaN (or infinite): check it.
 */
RNN_API int rnn_state_score(rnn_state *st, const int32_t *tokens, int steps, int stride,
                            double *logprob);

/*
 * Scores each stream's tokens as a sentence on its own, the way n-best rescoring and KenLM score a
 * line: every stream first restarts from the sentence start state -- hidden state zero, then the
 * token "<eos>" fed when the model's vocabulary has it (the context every line but the first has in
 * a training stream, as data.py ends each line with <eos>) -- then rnn_state_score scores
 * tokens int32_t[batch][stride] (steps used per row; stride 0 = steps) from there:
 * logprob[b] = sum over t of log p(tokens[b][t] | <eos>, tokens[b][0..t-1]). So a sentence's score
 * never depends on what the state scored before, and equals rnn_state_reset + rnn_state_feed of
 * "<eos>" + rnn_state_score, bit for bit. A model without a vocabulary (or without "<eos>") starts
 * from the zero state alone.
 *   steps    >= 0; 0 scores nothing: logprob[b] = 0 and the state is the start state (tokens may
 *            then be NULL)
 * After the call the state is the one after the sentence (as after rnn_state_score), ready to
 * continue it. The generators are left as they were (scoring draws nothing, so rescoring between
 * draws does not change what is drawn; rnn_state_reset reseeds them). Errors (RNN_ERR_INVALID,
 * RNN_ERR_RANGE for a token outside [0, vocab_size), RNN_ERR_NOMEM) leave the state as it was.
 * Allocates only as rnn_state_score does.
 */
RNN_API int rnn_state_score_sentence(rnn_state *st, const int32_t *tokens, int steps, int stride,
                                     double *logprob);

/* logprobs float[batch][V] receives the next-token log-probabilities of every stream. */
RNN_API int rnn_state_get_logprobs(rnn_state *st, float *logprobs);

/* Draws next[b] for every stream from the next-token distribution (sampling NULL: the defaults).
 * Does not advance the state (nor its history): feed the tokens you keep. RNN_ERR_NUMERIC when a stream's
 * distribution is not one (a NaN or +inf logit, or every logit -inf; the message names the stream):
 * nothing is written and the state, its generators included, is left as it was. */
RNN_API int rnn_state_draw(rnn_state *st, const rnn_sampling *sampling, int32_t *next);

/* Generates `count` (>= 0; 0 does nothing) tokens per stream into out int32_t[batch][count]:
 * draw, feed, repeat; all streams advance together (one GEMM per layer and step).
 * RNN_ERR_NUMERIC when the distribution of token i is not one (as rnn_state_draw; the message
 * names i): the state is left as generate with count i leaves it, out[b][0 .. i) hold those
 * tokens and out[b][i ..) are not written. */
RNN_API int rnn_state_generate(rnn_state *st, const rnn_sampling *sampling, int count, int32_t *out);

/* ---- Parameters by name (for converters and FFI) ---------------------------------------------- */
/*
 * One parameter tensor: a view into the model's parameter and gradient blocks. The pointers stay
 * valid until rnn_model_free, or until rnn_model_quantize converts the model (which frees both
 * blocks: take the views again afterwards). Writing through data changes the model. A struct the library fills:
 * set struct_size (sizeof(rnn_param)) before the call.
 */
typedef struct rnn_param {
    size_t struct_size; /* sizeof(rnn_param) as the caller compiled it */
    const char *name;  /* PyTorch's state_dict key: "encoder.weight", "rnn.weight_ih_l0",
                          "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0", ...,
                          "decoder.weight" (untied models only), "decoder.bias" */
    float *data;       /* rows x cols floats, row-major (a bias has rows = 1) */
    float *grad;       /* the same shape, in the gradient block. Handing it out (rnn_param_get,
                          rnn_param_find; rnn_param_get_block's grad) lets the caller write any
                          gradient, so from then on rnn_zero_grad, rnn_clip_grad_norm and
                          rnn_sgd_step cover every embedding row, for the rest of the model's life
                          (otherwise they skip the rows no rnn_backward touched), but for the steps
                          the expert rnn_param_declare_grad_rows covers */
    int rows;
    int cols;
    size_t size;       /* rows * cols */
} rnn_param;

/* *count receives the number of parameter tensors (PyTorch's len(list(model.parameters()))). */
RNN_API int rnn_param_get_count(const rnn_model *m, int *count);
/* The index-th tensor in PyTorch's model.parameters() order. RNN_ERR_RANGE past the end. */
RNN_API int rnn_param_get(const rnn_model *m, int index, rnn_param *out);
/* The tensor called `name`; RNN_ERR_NOTFOUND when there is none. For a tied model
 * "decoder.weight" finds the shared encoder.weight. */
RNN_API int rnn_param_find(const rnn_model *m, const char *name, rnn_param *out);

/* ---- Vocabulary and text ---------------------------------------------------------------------- */
/*
 * A model may carry its vocabulary (id -> word), saved and loaded with it. rnn_vocab_set copies
 * `count` NUL-terminated words; count must equal vocab_size; every word must be non-empty, strict
 * UTF-8, at most RNN_LIMIT_WORD_BYTES bytes, without whitespace (as rnn_vocab_encode splits) and
 * unique.
 * RNN_ERR_INVALID / RNN_ERR_NOMEM; on failure the old vocabulary stays.
 */
RNN_API int rnn_vocab_set(rnn_model *m, const char *const *words, int count);
/* *count receives the number of words held: vocab_size, or 0 when the model has none. */
RNN_API int rnn_vocab_get_size(const rnn_model *m, int *count);
/* *word receives word `id` (valid until the vocabulary changes or the model is freed);
 * RNN_ERR_RANGE when id is outside [0, count). */
RNN_API int rnn_vocab_get_word(const rnn_model *m, int id, const char **word);
/* *id receives the id of `word` (NUL-terminated). RNN_ERR_NOTFOUND when the vocabulary does not
 * hold it (or the model has no vocabulary). */
RNN_API int rnn_vocab_find(const rnn_model *m, const char *word, int32_t *id);

/*
 * Finds the next word of text[0..len) at or after byte *pos, splitting as Python's str.split()
 * does (the whitespace listed at rnn_vocab_encode): on RNN_OK *pos is the word's first byte and
 * *word_len its length in bytes; continue from *pos + *word_len. RNN_ERR_NOTFOUND when only
 * whitespace is left (*pos = len). RNN_ERR_FORMAT for a NUL byte or text that is not strict UTF-8,
 * with *pos at the offending byte. RNN_ERR_INVALID for NULL arguments or *pos > len. For building
 * a vocabulary the way rnnlm and data.py do; needs no model.
 */
RNN_API int rnn_text_next_word(const char *text, size_t len, size_t *pos, size_t *word_len);

/* rnn_vocab_encode flags */
#define RNN_ENCODE_EOS 1u      /* append "<eos>" (the example's data.py does, once per line) */
#define RNN_ENCODE_UNK_MAP 2u  /* an unknown word becomes "<unk>" (an error if the vocabulary has
                                  no "<unk>") */
#define RNN_ENCODE_UNK_SKIP 4u /* an unknown word is left out */

/*
 * Turns one line of text into token ids exactly as the PyTorch example's data.py and rnnlm do:
 * words are what Python's str.split() returns (split at ASCII \t \n \v \f \r space \x1c-\x1f and
 * Unicode U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000; no empty
 * words), looked up in the model's vocabulary, then "<eos>" with RNN_ENCODE_EOS.
 *   text, len  the line: strict UTF-8 (as Python's "utf8" codec), no NUL byte; len bytes
 *   flags      RNN_ENCODE_* (at most one of UNK_MAP and UNK_SKIP); without either, an unknown word
 *              fails with RNN_ERR_NOTFOUND naming it
 *   ids, cap   receive the ids (ids may be NULL when cap is 0)
 *   count      receives the number of ids the line gives (also on RNN_ERR_SIZE)
 *   unknown    receives the number of unknown words (may be NULL)
 * Returns RNN_OK, RNN_ERR_INVALID, RNN_ERR_STATE (no vocabulary), RNN_ERR_FORMAT (not UTF-8, a NUL,
 * or a word longer than RNN_LIMIT_WORD_BYTES), RNN_ERR_NOTFOUND, or RNN_ERR_SIZE when ids is not
 * NULL and count > cap (nothing is written; call again with cap >= count). With ids NULL and cap 0
 * the call only measures: RNN_OK and *count.
 */
RNN_API int rnn_vocab_encode(const rnn_model *m, const char *text, size_t len, unsigned flags,
                             int32_t *ids, size_t cap, size_t *count, size_t *unknown);

/* ---- Model files and memory images (docs/FORMAT.md) ------------------------------------------ */
/* save flags */
#define RNN_SAVE_STATE 1u /* also save the hidden state and the generator's state (exact resume) */
/* load flags */
#define RNN_LOAD_NO_STATE 1u /* do not restore a saved hidden state and generator */

/*
 * Saves the configuration, the vocabulary (if any), every parameter and app_data to `path`:
 * little-endian, versioned, every section checksummed (CRC-32C). A model with the full output
 * layer is written as format version 1, the file librnn 1.0 writes and reads; one with an adaptive
 * output layer (RNN_OUTPUT_ADAPTIVE) as version 2, its settings in an OUTP section, which librnn
 * 1.0 refuses ("format version 2 is not supported") rather than misreads. Atomic: the file is written to a
 * temporary file in the same folder (`path.tmp.<pid>.<n>`), flushed, fsync'ed and renamed over
 * `path`, so an interrupted save leaves any previous file intact; a temporary file left by a
 * killed process is removed by the next save of the same path.
 *   flags     0 or RNN_SAVE_STATE: the file also holds the hidden state (its batch size, h, and c
 *             for LSTM), the state of the model's generator and AdamW's state (rnn_adamw_step's
 *             step count and moments, when it has one), and loading restores them, so training or
 *             sampling continues bit for bit
 *   app_data  an opaque byte string (at most RNN_LIMIT_APP_DATA bytes; NULL when app_len is 0)
 *             carried in the file, e.g. a training loop's counters; rnn_model_get_app_data
 *             returns it after loading
 * Returns RNN_OK, RNN_ERR_INVALID or RNN_ERR_IO (with the reason in rnn_model_errmsg).
 */
RNN_API int rnn_model_save(const rnn_model *m, const char *path, unsigned flags, const void *app_data,
                           size_t app_len);

/*
 * The same bytes as rnn_model_save into memory. buf NULL: *len receives the size needed and the
 * call returns RNN_OK. Otherwise cap bytes at buf; *len receives the bytes written, or the size
 * needed with RNN_ERR_SIZE when cap is too small (nothing written).
 */
RNN_API int rnn_model_save_mem(const rnn_model *m, void *buf, size_t cap, size_t *len, unsigned flags,
                               const void *app_data, size_t app_len);

/*
 * Creates a model from a file written by rnn_model_save. The file is untrusted: every length,
 * count and shape is checked against the file's size and for overflow before anything is
 * allocated or read, and every checksum is verified, and the configuration (the output layer's
 * too, from a version-2 file) is checked as rnn_model_create checks it. Reads format versions 1,
 * 2 and 3 (docs/FORMAT.md). Sections this version does not know are skipped. Gradients are zero. The hidden state, the generator and AdamW's state are restored when
 * the file was saved with RNN_SAVE_STATE (unless flags has RNN_LOAD_NO_STATE); otherwise there is
 * no hidden state (call rnn_model_reset_hidden), the generator is seeded from the configuration's
 * seed and there is no AdamW state (rnn_adamw_get_step gives 0).
 *   out     receives the handle (NULL on failure)
 *   alloc   allocation hooks, or NULL for malloc/free (copied)
 *   flags   0 or RNN_LOAD_NO_STATE
 *   errbuf  optional buffer (errlen bytes) for the reason of a failure, since no handle exists
 * Returns RNN_OK, RNN_ERR_INVALID, RNN_ERR_IO, RNN_ERR_FORMAT or RNN_ERR_NOMEM.
 */
RNN_API int rnn_model_load(rnn_model **out, const char *path, const rnn_allocator *alloc, unsigned flags,
                           char *errbuf, size_t errlen);

/* rnn_model_load from the len bytes at data (e.g. written by rnn_model_save_mem); the bytes are
 * not kept after the call. */
RNN_API int rnn_model_load_mem(rnn_model **out, const void *data, size_t len, const rnn_allocator *alloc,
                               unsigned flags, char *errbuf, size_t errlen);

/* The application data of the file the model was loaded from: a view valid until the model is
 * freed (*data NULL and *len 0 when there is none, e.g. for a created model). */
RNN_API int rnn_model_get_app_data(const rnn_model *m, const void **data, size_t *len);

/* ---- Expert calls (define RNN_EXPERT_API before including rnn.h) ------------------------------ */
/* These expose the implementation; a 1.x minor release may change them (see "Stability"). */
#ifdef RNN_EXPERT_API
/*
 * After rnn_backward: the gradient of that chunk's loss with respect to the hidden state that
 * entered the chunk (float[L][batch][H]; dc for LSTM's cell state, may be NULL). Training does not
 * use it (the entering state is a constant, the example's hidden.detach()); it is there for tests
 * and for callers that chain chunks themselves. RNN_ERR_STATE when no rnn_backward ran since the
 * last rnn_model_reset_hidden / rnn_model_set_hidden.
 */
RNN_API int rnn_model_get_hidden_grad(const rnn_model *m, int batch, float *dh, float *dc);

/* The whole parameter block and gradient block, `count` floats each, in parameters() order (each
 * rnn_param is a view into them): for data-parallel drivers that reduce all gradients at once.
 * data, grad and count may each be NULL; a grad asked for makes the block passes dense for the
 * rest of the model's life (see rnn_param.grad), except where rnn_param_declare_grad_rows says
 * which embedding rows are nonzero; data alone does not. */
RNN_API int rnn_param_get_block(const rnn_model *m, float **data, float **grad, size_t *count);

/*
 * For a driver that writes into the gradient (a data-parallel all-reduce, librnn 1.2): declares
 * that, until the next rnn_zero_grad, the embedding's gradient ("encoder.weight") is +0.0 in
 * every row but rows[0 .. n) and the rows this model's own rnn_backward added into since the last
 * rnn_zero_grad. rnn_zero_grad, rnn_clip_grad_norm and rnn_sgd_step then skip the other rows again,
 * as they do before a gradient pointer is handed out, with the dense passes' results to the bit
 * when the declaration is true; rows the caller wrote without declaring them may be left out of
 * the norm, the update and the zeroing (a false declaration is the caller's bug). rnn_zero_grad ends the declaration:
 * the passes are dense again until the next one. rows may repeat and come in any order. A tied
 * model (its decoder's gradient covers every row) accepts it and stays dense. RNN_ERR_INVALID
 * (NULL rows with n > 0, a row outside [0, vocab_size): nothing is declared), RNN_ERR_STATE on a
 * quantized model.
 */
RNN_API int rnn_param_declare_grad_rows(rnn_model *m, const int32_t *rows, size_t n);

/*
 * For a data-parallel driver (librnn 1.3): from now on rnn_forward returns, and rnn_backward
 * differentiates, the sum of the call's NLLs divided by denom instead of by the number of targets
 * it kept (denom 0, the default, restores that: the mean, as PyTorch's word_language_model takes
 * it). A rank that takes part of a batch passes the whole batch's number of kept targets (it can
 * count them from the targets alone):
 * each row's gradient then carries PyTorch's 1 / kept of the whole batch, the ranks' gradients add
 * up to the one process's (but for the order of the sums) with no scaling pass, and the ranks'
 * losses add up to its loss. rnn_evaluate and the states keep the mean. The setting is not saved
 * with the model. RNN_ERR_INVALID for a negative or non-finite denom (nothing changes),
 * RNN_ERR_STATE on a quantized model.
 */
RNN_API int rnn_set_loss_denominator(rnn_model *m, double denom);
#endif

#ifdef __cplusplus
}
#endif
#endif /* RNN_H */
