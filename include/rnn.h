/*
 * rnn.h -- librnn, word-level recurrent language models in C.
 *
 * The only public header of librnn. The model is PyTorch's word_language_model:
 *
 *     tokens -> Embedding(V, E) -> dropout -> L-layer RNN (RNN_TANH, RNN_RELU, LSTM or GRU,
 *     hidden size H, dropout between layers) -> dropout -> Linear(H, V) -> log_softmax -> NLL
 *
 * with equations, parameter names, shapes and order exactly as torch.nn.RNN / LSTM / GRU.
 *
 * A training step, the seed's loop written against this API:
 *
 *     rnn_config cfg;  rnn_config_init(&cfg);  cfg.vocab_size = V;
 *     rnn_model *m;    if (rnn_model_create(&m, &cfg, NULL) != RNN_OK) ...;
 *     rnn_reset_state(m, batch);                     // hidden = zeros(L, batch, H)
 *     for each chunk (tokens[batch][steps], targets[batch][steps]):
 *         double loss;
 *         rnn_forward(m, tokens, targets, batch, steps, &loss);  // state carried, detached
 *         rnn_zero_grad(m);
 *         rnn_backward(m);                           // BPTT through this chunk only
 *         rnn_clip_grad_norm(m, 0.25f, NULL);
 *         rnn_sgd_step(m, lr);                       // p -= lr * grad
 *     rnn_model_free(m);
 *
 * Conventions
 * - Every call that can fail returns an int status: RNN_OK (0) or one of the RNN_ERR_* codes below
 *   (values are fixed forever). rnn_strerror() names a code; rnn_errmsg() gives the detail of the
 *   last failure on a handle. A failed call leaves the model as it was.
 * - The library never exits, aborts or prints, and has no mutable global state. All randomness
 *   (initialisation, dropout, sampling) comes from a generator inside the handle, seeded by
 *   rnn_config.seed or rnn_set_seed(): the same seed, inputs, thread count (rnn_set_threads) and
 *   BLAS thread count give bit-identical results.
 * - Token arrays are int32_t laid out [batch][steps] (row b holds the steps of stream b).
 *   Targets use the same layout; a target of RNN_IGNORE (-1) is left out of the loss.
 * - Memory: parameters live in one contiguous block, gradients in another; activations in one
 *   workspace arena per model, sized from (config, batch, steps). Memory is allocated only by
 *   rnn_model_create, rnn_reset_state and rnn_reserve, and by the first call that uses a larger
 *   (batch, steps) than any before; in the steady state forward, backward, clip, sgd_step, evaluate
 *   and sample allocate nothing. All allocation goes through the rnn_allocator given at creation.
 *
 * Thread safety
 * - Distinct handles may be used from different threads at the same time without locking.
 * - One handle must not be used by two threads at once, not even for the read-only calls, unless
 *   the caller serialises access: every computing call writes the handle's workspace and state.
 * - rnn_strerror(), rnn_version_number() and rnn_version_string() may be called from any thread.
 * - The matrix products go through CBLAS; the BLAS library's own thread count (for OpenBLAS,
 *   OPENBLAS_NUM_THREADS or openblas_set_num_threads()) is the process's to set, not librnn's.
 * - librnn runs on the calling thread unless rnn_set_threads() asks for more: then the model (and
 *   each rnn_state created after) owns that many - 1 worker threads, which split the large
 *   products, the output layer and the passes over the parameters with the caller. Set the BLAS to
 *   one thread then (OpenBLAS: OPENBLAS_NUM_THREADS=1), or the two thread pools compete.
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
#define RNN_VERSION_MAJOR 0
#define RNN_VERSION_MINOR 1
#define RNN_VERSION_PATCH 0
#define RNN_VERSION_NUMBER (RNN_VERSION_MAJOR * 10000 + RNN_VERSION_MINOR * 100 + RNN_VERSION_PATCH)
#define RNN_VERSION_STRING "0.1.0"

#if defined(_WIN32) && defined(RNN_BUILDING_DLL)
#define RNN_API __declspec(dllexport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define RNN_API __attribute__((visibility("default")))
#else
#define RNN_API
#endif

/* RNN_VERSION_NUMBER of the library actually linked; compare with the header's to detect skew. */
RNN_API unsigned rnn_version_number(void);
/* RNN_VERSION_STRING of the library actually linked. Static storage; never NULL. */
RNN_API const char *rnn_version_string(void);

/* ---- Status codes (never renumbered) -------------------------------------------------------- */
enum {
    RNN_OK = 0,
    RNN_ERR_INVALID = 1,   /* a bad argument: NULL pointer, size <= 0, bad config value */
    RNN_ERR_RANGE = 2,     /* a token id outside [0, vocab_size) (targets: or RNN_IGNORE) */
    RNN_ERR_STATE = 3,     /* call out of order, or a batch size that does not match the state */
    RNN_ERR_NOMEM = 4,     /* the allocator returned NULL, or a size overflowed */
    RNN_ERR_IO = 5,        /* reading or writing a file failed */
    RNN_ERR_FORMAT = 6,    /* a malformed or unsupported file */
    RNN_ERR_NUMERIC = 7,   /* a non-finite value where a finite one is required */
    RNN_ERR_NOTFOUND = 8   /* no such parameter name or index */
};

/* A static, human-readable name for a status code ("unknown error" for codes not listed). */
RNN_API const char *rnn_strerror(int status);

/* ---- Configuration ---------------------------------------------------------------------------- */
enum {
    RNN_CELL_TANH = 0,   /* h' = tanh(W_ih x + b_ih + W_hh h + b_hh)                          */
    RNN_CELL_RELU = 1,   /* h' = relu(W_ih x + b_ih + W_hh h + b_hh)                          */
    RNN_CELL_LSTM = 2,   /* gates i, f, g, o (PyTorch order); c' = f*c + i*g; h' = o*tanh(c')  */
    RNN_CELL_GRU = 3     /* gates r, z, n; n = tanh(W_in x + b_in + r*(W_hn h + b_hn));
                            h' = (1 - z)*n + z*h                                              */
};

#define RNN_IGNORE (-1) /* a target that is left out of the loss and its gradient */

/*
 * Model hyperparameters. Initialise with rnn_config_init() (the PyTorch example's defaults), then
 * set at least vocab_size. This struct only ever grows at the end.
 */
typedef struct rnn_config {
    int cell;          /* RNN_CELL_*; default RNN_CELL_LSTM */
    int vocab_size;    /* V > 0; default 0 (must be set) */
    int emb_size;      /* E > 0; default 200 */
    int hidden_size;   /* H > 0; default 200 */
    int num_layers;    /* L >= 1; default 2 */
    float dropout;     /* 0 <= p < 1, applied after the embedding, between layers and before the
                          decoder (inverted: kept units are scaled by 1/(1-p)); default 0.2 */
    int tied;          /* nonzero: decoder.weight is encoder.weight (requires E == H); default 0 */
    uint64_t seed;     /* seeds initialisation, dropout and sampling; default 1111 */
} rnn_config;

/* Fills *cfg with the defaults above. A NULL cfg is ignored. */
RNN_API void rnn_config_init(rnn_config *cfg);

/* ---- Allocation hooks ------------------------------------------------------------------------- */
/*
 * Every byte librnn allocates for a handle goes through these hooks (NULL hooks: malloc/free).
 * alloc must return memory aligned for float and double (malloc's guarantee) or NULL;
 * free receives only pointers that alloc returned (never NULL). The struct is copied.
 */
typedef struct rnn_allocator {
    void *(*alloc)(void *user, size_t size);
    void (*free)(void *user, void *ptr);
    void *user;
} rnn_allocator;

/* ---- The model handle ------------------------------------------------------------------------- */
typedef struct rnn_model rnn_model;

/*
 * Creates a model with freshly initialised weights, as the PyTorch example does: encoder and
 * decoder weights U(-0.1, 0.1), decoder bias 0, every recurrent weight and bias
 * U(-1/sqrt(H), 1/sqrt(H)); gradients zero; no hidden state yet (call rnn_reset_state).
 *   out    receives the handle (set to NULL on failure)
 *   cfg    the hyperparameters (copied)
 *   alloc  allocation hooks, or NULL for malloc/free (copied)
 * Returns RNN_OK, RNN_ERR_INVALID (NULL out/cfg, a value out of range, tied with E != H, hooks
 * with only one of alloc/free set) or RNN_ERR_NOMEM.
 */
RNN_API int rnn_model_create(rnn_model **out, const rnn_config *cfg, const rnn_allocator *alloc);

/* Frees the handle and everything it owns. rnn_model_free(NULL) does nothing. */
RNN_API void rnn_model_free(rnn_model *m);

/* Copies the handle's configuration to *out. RNN_ERR_INVALID on NULL arguments. */
RNN_API int rnn_model_config(const rnn_model *m, rnn_config *out);

/*
 * The detail of the last failed call on this handle, e.g. "token 40000 at [2][7] is outside
 * [0, 33278)"; "" when none failed yet. Valid until the next call on the handle. Never NULL
 * (for a NULL handle, a static string).
 */
RNN_API const char *rnn_errmsg(const rnn_model *m);

/* ---- Hidden state ----------------------------------------------------------------------------- */
/*
 * Sets the hidden state to zeros for `batch` streams (the example's init_hidden(batch)) and drops
 * any pending backward. Allocates when batch exceeds every earlier batch.
 * Returns RNN_OK, RNN_ERR_INVALID (batch <= 0) or RNN_ERR_NOMEM.
 */
RNN_API int rnn_reset_state(rnn_model *m, int batch);

/*
 * Sizes the workspace for chunks of up to batch x steps now, so that later calls never allocate.
 * Optional: the first call that needs a larger workspace grows it. Growing drops a pending
 * backward (the activations it needed are gone). Returns RNN_OK, RNN_ERR_INVALID or RNN_ERR_NOMEM.
 */
RNN_API int rnn_reserve(rnn_model *m, int batch, int steps);

/* *batch receives the batch size of the current hidden state (0 before rnn_reset_state). */
RNN_API int rnn_state_batch(const rnn_model *m, int *batch);

/*
 * Copies the hidden state out of / into the handle. h is float[L][batch][H]; c (LSTM's cell state,
 * same shape) may be NULL (rnn_set_state then sets
 * it to zeros) and is ignored for the other cells. batch must equal the state's batch
 * (RNN_ERR_STATE otherwise). rnn_set_state drops any pending backward.
 */
RNN_API int rnn_get_state(const rnn_model *m, int batch, float *h, float *c);
RNN_API int rnn_set_state(rnn_model *m, int batch, const float *h, const float *c);

/*
 * After rnn_backward: the gradient of that chunk's loss with respect to the hidden state that
 * entered the chunk (float[L][batch][H]; dc for LSTM's cell state, may be NULL). Training does not
 * use it (the entering state is a constant: the seed's hidden.detach()); it is there for tests and
 * for callers that chain chunks themselves. RNN_ERR_STATE when no rnn_backward ran since the
 * last rnn_reset_state / rnn_set_state.
 */
RNN_API int rnn_get_state_grad(const rnn_model *m, int batch, float *dh, float *dc);

/* ---- Training ----------------------------------------------------------------------------------- */
/*
 * Runs the model in training mode (dropout active) over one chunk and returns the mean negative
 * log-likelihood of the targets: sum over kept positions of -log p(target) / (number kept), 0 when
 * every target is RNN_IGNORE. The hidden state entering the chunk is the state left by the previous
 * chunk (or rnn_reset_state); the state after the last step is kept for the next call. Activations
 * are kept for rnn_backward.
 *   tokens   int32_t[batch][steps], each in [0, V)
 *   targets  int32_t[batch][steps], each in [0, V) or RNN_IGNORE
 *   batch    must equal the state's batch (see rnn_reset_state)
 *   loss     receives the mean NLL (may be NULL)
 * Returns RNN_OK, RNN_ERR_INVALID, RNN_ERR_RANGE, RNN_ERR_STATE (no state or another batch size),
 * or RNN_ERR_NOMEM (growing the workspace).
 */
RNN_API int rnn_forward(rnn_model *m, const int32_t *tokens, const int32_t *targets, int batch,
                        int steps, double *loss);

/*
 * Back-propagates the last rnn_forward's loss through that chunk only (truncated BPTT) and ADDS the
 * gradients to the gradient block, as PyTorch's loss.backward() does (call rnn_zero_grad first).
 * Can be called once per rnn_forward; RNN_ERR_STATE otherwise (also after rnn_sgd_step,
 * rnn_evaluate, rnn_sample, rnn_reset_state or rnn_set_state).
 */
RNN_API int rnn_backward(rnn_model *m);

/* Sets every gradient to zero (the example's model.zero_grad()). */
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

/* The plain SGD update of the seed: for every parameter p -= lr * grad. lr must be finite. */
RNN_API int rnn_sgd_step(rnn_model *m, float lr);

/* ---- Evaluation and generation ---------------------------------------------------------------- */
/*
 * rnn_forward in evaluation mode (no dropout, nothing kept for backward, no gradient): the mean NLL
 * of the targets, and the hidden state carried as in rnn_forward. When logprobs is not NULL it
 * receives log_softmax of every position, float[batch][steps][V]. targets may be NULL: the chunk
 * only advances the state (e.g. to prime it with a prompt) and the loss is 0. Drops any pending
 * backward. Otherwise the same arguments and returns as rnn_forward.
 */
RNN_API int rnn_evaluate(rnn_model *m, const int32_t *tokens, const int32_t *targets, int batch,
                         int steps, double *loss, float *logprobs);

/*
 * The seed's generation step: feeds tokens[b] to stream b (advancing the state by one step), and
 * draws next[b] from softmax(log_probs / temperature) with the handle's generator.
 * temperature 0 means greedy (the most probable token, the lowest id on ties); it must be finite
 * and >= 0. batch must equal the state's batch. Drops any pending backward.
 */
RNN_API int rnn_sample(rnn_model *m, const int32_t *tokens, int batch, float temperature,
                       int32_t *next);

/* Reseeds the handle's generator (dropout masks and sampling), as if created with this seed. */
RNN_API int rnn_set_seed(rnn_model *m, uint64_t seed);

/*
 * The number of threads librnn's computing calls use on this model (1, the default: the caller's
 * alone). threads - 1 workers are started here (every signal blocked in them) and stopped by the
 * next call or by rnn_model_free; they sleep between calls. rnn_state_create gives each new state
 * its own workers, as many as the model's setting then. The row and parameter sums are cut into
 * fixed chunks, so they do not depend on the thread count; the products are cut into one CBLAS
 * call per thread, whose last bits may. After fork() the child's copies of the handles have no
 * workers and run every call on the calling thread (same results). RNN_ERR_INVALID outside
 * [1, RNN_MAX_THREADS]; RNN_ERR_NOMEM when threads cannot be started (the previous setting stays).
 */
#define RNN_MAX_THREADS 256
RNN_API int rnn_set_threads(rnn_model *m, int threads);
RNN_API int rnn_get_threads(const rnn_model *m, int *threads);

/* ---- Inference states: one model, many streams ------------------------------------------------ */
/*
 * An rnn_state is a hidden state for `batch` independent streams, with its own workspace and one
 * generator per stream, over a model it only reads. Any number of states may use one model, each
 * from its own thread, at the same time, as long as nothing modifies the model meanwhile (no
 * rnn_forward/backward/sgd_step/zero_grad/clip/evaluate/sample/reset_state/set_state/set_seed/
 * vocab_set/set_app_data/param writes on it, and it is not freed). A state itself must not be used
 * by two threads at once. States allocate through the model's hooks, which must then be
 * thread-safe (malloc is). The state calls below never allocate after rnn_state_create, except
 * rnn_state_feed/score with more steps than any before (the workspace grows once).
 * Stream b's generator is seeded with seed + b, so stream b of a batched state produces what a
 * one-stream state created with seed + b produces.
 */
typedef struct rnn_state rnn_state;

/* Sampling parameters, applied in this order: temperature, top-k, top-p. Grows only at the end. */
typedef struct rnn_sampling {
    float temperature; /* >= 0, finite; 0 = greedy (the most probable token, lowest id on ties) */
    int top_k;         /* keep the k most probable tokens; 0 = all */
    float top_p;       /* keep the smallest set of most probable tokens whose probability
                          reaches top_p (nucleus sampling); in (0, 1], 1 = all */
} rnn_sampling;

/* Fills *s with temperature 1, top_k 0, top_p 1 (the seed's plain multinomial draw). */
RNN_API void rnn_sampling_init(rnn_sampling *s);

/* A zero state for `batch` streams over m. RNN_ERR_INVALID, RNN_ERR_NOMEM. *out NULL on failure. */
RNN_API int rnn_state_create(rnn_state **out, const rnn_model *m, int batch, uint64_t seed);
/* Frees a state (NULL is fine). The model must outlive its states. */
RNN_API void rnn_state_free(rnn_state *st);
/* The detail of the last failure on this state ("" if none); never NULL. */
RNN_API const char *rnn_state_errmsg(const rnn_state *st);
/* Zeros the hidden state and reseeds every stream's generator with the creation seed. */
RNN_API int rnn_state_reset(rnn_state *st);
/* Copies src's hidden state, generators and creation seed (what rnn_state_reset reseeds with)
 * into dst (same model and batch; no allocation): a cheap fork for beam search. RNN_ERR_STATE
 * when they differ. */
RNN_API int rnn_state_copy(rnn_state *dst, const rnn_state *src);
/* A new state equal to src (rnn_state_create + rnn_state_copy). */
RNN_API int rnn_state_clone(rnn_state **out, const rnn_state *src);
/* *batch receives the number of streams. */
RNN_API int rnn_state_batch_size(const rnn_state *st, int *batch);
/* Copy the hidden state out of / into the state: h (and c for LSTM, may be NULL) float[L][batch][H]. */
RNN_API int rnn_state_get(const rnn_state *st, float *h, float *c);
RNN_API int rnn_state_set(rnn_state *st, const float *h, const float *c);

/*
 * Feeds tokens int32_t[batch][steps] through the model (no dropout), advancing every stream by
 * `steps` tokens in one pass: the input products of all steps are one GEMM per layer. Use it to
 * prime a state with a prompt.
 */
RNN_API int rnn_state_feed(rnn_state *st, const int32_t *tokens, int steps);

/*
 * Scores continuations: logprob[b] = sum over t of log p(tokens[b][t] | the stream's past and
 * tokens[b][0..t-1]), then advances the state past them (as rnn_state_feed). The first token is
 * predicted from the state as it is (a zero state gives the model's distribution after a zero
 * hidden state). Fork with rnn_state_copy first to score several candidates from one point.
 */
RNN_API int rnn_state_score(rnn_state *st, const int32_t *tokens, int steps, double *logprob);

/* logprobs float[batch][V] receives the next-token log-probabilities of every stream. */
RNN_API int rnn_state_logprobs(rnn_state *st, float *logprobs);

/* Draws next[b] for every stream from the next-token distribution (sampling NULL: the defaults).
 * Does not advance the state: feed the tokens you keep. */
RNN_API int rnn_state_next(rnn_state *st, const rnn_sampling *sampling, int32_t *next);

/* Generates `count` (>= 0; 0 does nothing) tokens per stream into out int32_t[batch][count]:
 * draw, feed, repeat; all streams advance together (one GEMM per layer and step). */
RNN_API int rnn_state_generate(rnn_state *st, const rnn_sampling *sampling, int count, int32_t *out);

/* ---- Parameters by name (for tests, converters and FFI) --------------------------------------- */
/*
 * One parameter tensor: a view into the handle's parameter and gradient blocks. The pointers stay
 * valid until rnn_model_free. Writing through data changes the model. Grows only at the end.
 */
typedef struct rnn_param {
    const char *name;  /* PyTorch's state_dict key: "encoder.weight", "rnn.weight_ih_l0",
                          "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0", ...,
                          "decoder.weight" (untied models only), "decoder.bias" */
    float *data;       /* rows x cols floats, row-major (a bias has rows = 1) */
    float *grad;       /* the same shape, in the gradient block */
    int rows;
    int cols;
    size_t size;       /* rows * cols */
} rnn_param;

/* The number of parameter tensors (PyTorch's len(list(model.parameters()))). */
RNN_API int rnn_param_count(const rnn_model *m, int *count);

/* The index-th tensor in PyTorch's model.parameters() order. RNN_ERR_NOTFOUND past the end. */
RNN_API int rnn_param_get(const rnn_model *m, int index, rnn_param *out);

/* The tensor called `name`. For a tied model "decoder.weight" finds the shared encoder.weight. */
RNN_API int rnn_param_find(const rnn_model *m, const char *name, rnn_param *out);

/* The whole parameter block and gradient block, `count` floats each, in parameters() order. */
RNN_API int rnn_param_block(const rnn_model *m, float **data, float **grad, size_t *count);

/* ---- Vocabulary --------------------------------------------------------------------------------- */
/*
 * A model may carry its vocabulary (id -> word), saved and loaded with it. rnn_vocab_set copies
 * `count` NUL-terminated words; count must equal vocab_size, words must be non-empty, unique is not
 * checked. RNN_ERR_INVALID / RNN_ERR_NOMEM; on failure the old vocabulary stays.
 */
RNN_API int rnn_vocab_set(rnn_model *m, const char *const *words, int count);
/* *count receives the number of words held: vocab_size, or 0 when the model has none. */
RNN_API int rnn_vocab_size(const rnn_model *m, int *count);
/* *word receives word `id` (valid until the vocabulary changes or the model is freed);
 * RNN_ERR_RANGE when id is outside [0, count). */
RNN_API int rnn_vocab_word(const rnn_model *m, int id, const char **word);

/* ---- Model files (see docs/FORMAT.md) -------------------------------------------------------- */
/*
 * Saves the configuration, the vocabulary (if any) and every parameter to `path`: little-endian,
 * versioned, every section checksummed (CRC-32C). Atomic: the file is written to a temporary file
 * in the same folder (`path.tmp.<pid>.<n>`), flushed, fsync'ed and renamed over `path`, so an
 * interrupted save leaves any previous file intact; a temporary file left by a killed process is
 * removed by the next save of the same path. Returns RNN_OK, RNN_ERR_INVALID or RNN_ERR_IO (with the reason in
 * rnn_errmsg).
 */
RNN_API int rnn_model_save(const rnn_model *m, const char *path);

/* rnn_model_save_ex flags */
#define RNN_SAVE_STATE 1u /* also save the hidden state and the generator's state (exact resume) */

/*
 * rnn_model_save with flags (0 or RNN_SAVE_STATE). With RNN_SAVE_STATE the file also holds the
 * hidden state (its batch size, h, and c for LSTM) and the state of the handle's generator, and
 * rnn_model_load restores both, so training or sampling continues bit for bit.
 */
RNN_API int rnn_model_save_ex(const rnn_model *m, const char *path, unsigned flags);

/*
 * Application data: an opaque byte string (at most 16 MiB) that the handle keeps and every saved
 * file carries, e.g. a training loop's counters for an exact resume. rnn_set_app_data copies it
 * (len 0 clears it); rnn_get_app_data gives a view valid until the next set or the model's free
 * (*data NULL and *len 0 when there is none).
 */
RNN_API int rnn_set_app_data(rnn_model *m, const void *data, size_t len);
RNN_API int rnn_get_app_data(const rnn_model *m, const void **data, size_t *len);

/*
 * Creates a model from a file written by rnn_model_save. The file is untrusted: every length,
 * count and shape is checked against the file's size and for overflow before anything is
 * allocated or read, and every checksum is verified. Sections this version does not know are
 * skipped. Gradients are zero. The hidden state and the generator are restored when the file was
 * saved with RNN_SAVE_STATE; otherwise there is no hidden state (call rnn_reset_state) and the
 * generator is seeded from the configuration's seed. Application data is restored when present.
 *   out     receives the handle (NULL on failure)
 *   errbuf  optional buffer (errlen bytes) for the reason of a failure, since no handle exists
 * Returns RNN_OK, RNN_ERR_INVALID, RNN_ERR_IO, RNN_ERR_FORMAT or RNN_ERR_NOMEM.
 */
RNN_API int rnn_model_load(rnn_model **out, const char *path, const rnn_allocator *alloc, char *errbuf,
                           size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* RNN_H */
