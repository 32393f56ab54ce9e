/*
 * cli_train_dp.c -- `mpirun -np K rnnlm train`: synchronous data-parallel SGD over cli_mpi.h,
 * with the result of one process up to the order of floating-point sums.
 *
 * --batch_size B stays the global batch: rank r owns streams [r*B/K, (r+1)*B/K) of every chunk
 * (both --batching modes), and its part of the dropout masks, which rnnlm draws in librnn's
 * RNN_DROPOUT_COUNTER mode (a hash of the global stream and step), so they do not depend on K.
 * A step is the local forward and backward, with the loss's denominator set to the whole batch's
 * kept targets (rnn_set_loss_denominator: each row's gradient carries 1 / kept of the batch, as in
 * one process, so the ranks' gradients need no scaling), one all-reduce over the gradient block
 * (the gradient of the global mean loss), then the same clip and SGD step on every rank. The all-reduce leaves out the embedding rows that no
 * rank's tokens touched (their gradient is zero everywhere): see dp_reduce; the rows it did reduce
 * are declared to librnn (rnn_param_declare_grad_rows), whose clip, update and next zeroing then
 * skip the others as in one process. Validation and test
 * give each rank a share of their
 * streams and sum the losses. Rank 0 alone prints, writes --metrics and saves; a checkpoint holds
 * the hidden state of all B streams (gathered on rank 0), so --resume works with any K.
 */
#define RNN_EXPERT_API /* rnn_param_get_block: the gradient block is reduced as one */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_mpi.h"
#include "cli_train.h"

/* A failure that every rank finds alike (from collective values): rank 0 says it, and mpi_agree
   marks it as known to all (so that mpi_finish ends the job without MPI_Abort). */
#define DP_FAIL_IF(cond, status, ...)                                                                \
    do {                                                                                             \
        if (cond) {                                                                                  \
            if (mpi_rank() == 0) cli_error((status), __VA_ARGS__);                                   \
            return mpi_agree(status);                                                                \
        }                                                                                            \
    } while (0)

int dp_setup_rows(trainer *t)
{
    int B = t->a->batch_size, K = mpi_size(), r = mpi_rank();
    /* (in the setup, before the ranks agree on its status: no collective call here) */
    if (B % K != 0)
        return mpi_rank() == 0 ? cli_error(CLI_USAGE, "--batch_size %d is not divisible by the %d processes (each "
                                           "takes batch_size / %d streams): use a multiple of %d", B, K, K, K)
                               : CLI_USAGE;
    t->rows = B / K, t->first = r * (B / K);
    if (mpi_rank() != 0) t->bar = 0; /* rank 0 alone draws it */
    return CLI_OK;
}

/* a -- its paths left out (they may differ between machines) -- and p as one hash */
static uint64_t flags_hash(const train_args *a, const train_pos *p)
{
    train_args st = *a;
    st.data = st.save = st.metrics = st.init = st.resume = NULL;
    size_t len = 0;
    char *blob = ckpt_encode(&st, p, &len);
    uint64_t h = blob ? rnn__fnv1a(RNN__FNV_INIT, blob, len) : 0;
    free(blob);
    return h;
}

/* The hidden state of all streams (a checkpoint's, [L][B][H]) cut to this rank's rows. */
static int slice_hidden(trainer *t)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    rnn_model_get_config(t->m, &cfg);
    int B = t->a->batch_size, L = cfg.num_layers, H = cfg.hidden_size, lstm = cfg.cell == RNN_CELL_LSTM;
    size_t all = (size_t)L * B * H, mine = (size_t)L * t->rows * H;
    float *h = malloc((all + mine) * 2 * sizeof *h);
    RETURN_ERROR_IF(!h, CLI_RUNTIME, "out of memory");
    float *c = h + all, *hm = c + all, *cm = hm + mine;
    int rc = rnn_model_get_hidden(t->m, B, h, lstm ? c : NULL);
    for (int l = 0; l < L; l++) {
        memcpy(hm + (size_t)l * t->rows * H, h + ((size_t)l * B + t->first) * H, sizeof *h * t->rows * H);
        memcpy(cm + (size_t)l * t->rows * H, c + ((size_t)l * B + t->first) * H, sizeof *h * t->rows * H);
    }
    if (rc == RNN_OK) rc = rnn_model_reset_hidden(t->m, t->rows);
    if (rc == RNN_OK) rc = rnn_model_set_hidden(t->m, t->rows, hm, lstm ? cm : NULL);
    free(h);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "cannot split the hidden state: %s", rnn_model_errmsg(t->m));
    return CLI_OK;
}

/* Whether the position's hidden state is the training streams' (mid-epoch), which a checkpoint
   must hold for all B streams; at an epoch's start or end it is reset before use. */
static int mid_epoch(const trainer *t) { return t->pos.batch > 0 && t->pos.batch < t->nbatches; }

static int exchange_setup(trainer *t);

int dp_setup(trainer *t)
{
    train_pos now = t->pos;
    train_corpus_identity(&t->c, &now);
    uint64_t corpus_id = rnn__fnv1a(now.corpus_hash, &now.n_train, sizeof now.n_train);
    DP_FAIL_IF(!mpi_same(corpus_id), CLI_RUNTIME,
                    "the %d processes did not read the same corpus (%s on each machine must hold the same files)",
                    mpi_size(), t->a->data);
    DP_FAIL_IF(!mpi_same(flags_hash(t->a, &t->pos)), CLI_USAGE,
                    "the %d processes were given different flags (or resume different checkpoints): give "
                    "every rank the same command", mpi_size());
    DP_FAIL_IF(!mpi_same(train_params_hash(t->m)), CLI_RUNTIME,
                    "the %d processes start from different weights (--init or the checkpoint differs)",
                    mpi_size());
    int batch = 0;
    rnn_model_get_batch(t->m, &batch);
    if (mid_epoch(t) && t->rows != t->a->batch_size) FORWARD_IF_ERROR(slice_hidden(t));
    uint64_t stream = 0, step = 0;
    rnn_model_get_dropout_position(t->m, &stream, &step);
    rnn_model_set_dropout_position(t->m, (uint64_t)t->first, step);
    return exchange_setup(t);
}

/*
 * The sparse exchange. A step's embedding gradient is zero but in the rows of the tokens it read
 * (at most B x bptt of V rows: 700 of WikiText-2's 33,278 by default), on every rank; the rest of
 * the block is dense. So the ranks OR a bitmap of the rows their tokens touched (V bits), move
 * those rows, in ascending order, to the end of the embedding (the block starts with it, and the
 * rows there that no rank touched are zero), all-reduce from there to the end of the block, and
 * put the rows back (zeroing the slots they used). Every rank packs the same rows in the same
 * order, so the one all-reduce gives every rank the same bits, as the dense one does; the sums per
 * element are the dense exchange's, in the order the ring gives their new offsets. With the
 * default model it sends 29 MB instead of 56 per step (docs/SCALING.md has the cost model and
 * bench/README.md the measurements). Tied models (the decoder's gradient is dense over the same
 * rows), a block that does not start with the embedding, one process, or RNNLM_DP_EXCHANGE=dense
 * on any rank: the whole block.
 */
typedef struct dp_exchange {
    int sparse;     /* the sparse exchange applies */
    size_t V, E;    /* the embedding's rows and width */
    uint32_t *seen; /* V bits: rows some rank's tokens touched this step */
    float *rows;    /* the touched rows, packed (V x E at most) */
    int32_t *ids;   /* their ids, ascending (V at most) */
} dp_exchange;

void dp_teardown(trainer *t)
{
    if (!t->dx) return;
    free(t->dx->seen);
    free(t->dx->rows);
    free(t->dx->ids);
    free(t->dx);
    t->dx = NULL;
}

/* RNNLM_DP_EXCHANGE (auto or dense) on every rank, and the buffers of the sparse exchange. */
static int exchange_setup(trainer *t)
{
    const char *e = getenv("RNNLM_DP_EXCHANGE");
    int bad = e && strcmp(e, "auto") != 0 && strcmp(e, "dense") != 0, dense = e && strcmp(e, "dense") == 0;
    int rc = bad ? cli_error(CLI_USAGE, "RNNLM_DP_EXCHANGE is '%s': it must be auto (the default) or dense", e)
                 : CLI_OK;
    FORWARD_IF_ERROR(mpi_agree(rc));
    double any = dense ? 1.0 : 0.0;
    mpi_sum(&any, 1);
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    rnn_model_get_config(t->m, &cfg);
    rnn_param enc;
    enc.struct_size = sizeof enc;
    float *g = NULL;
    size_t n = 0;
    rnn_param_get_block(t->m, NULL, &g, &n);
    int sparse = any == 0.0 && mpi_size() > 1 && !cfg.tied && rnn_param_find(t->m, "encoder.weight", &enc) == RNN_OK &&
                 enc.grad == g && enc.size < n;
    dp_exchange *dx = calloc(1, sizeof *dx);
    RETURN_ERROR_IF(!dx, CLI_RUNTIME, "out of memory"); /* (the other ranks then stop: MPI_Abort) */
    t->dx = dx;
    if (!sparse) return CLI_OK;
    dx->V = (size_t)enc.rows, dx->E = (size_t)enc.cols;
    dx->seen = malloc(sizeof *dx->seen * ((dx->V + 31) / 32));
    dx->rows = malloc(sizeof *dx->rows * enc.size);
    dx->ids = malloc(sizeof *dx->ids * dx->V);
    RETURN_ERROR_IF(!dx->seen || !dx->rows || !dx->ids, CLI_RUNTIME, "out of memory");
    dx->sparse = 1;
    return CLI_OK;
}

/* The rows some rank's tokens touched, packed at the end of the embedding's gradient (dx->rows
   holds them until unpack); returns how many. */
static size_t pack_rows(dp_exchange *dx, float *g, const int32_t *tok, int rows, int steps, int stride)
{
    size_t words = (dx->V + 31) / 32, u = 0, E = dx->E;
    memset(dx->seen, 0, sizeof *dx->seen * words);
    for (int r = 0; r < rows; r++)
        for (int s = 0; s < steps; s++) {
            int32_t id = tok[(size_t)r * (size_t)stride + (size_t)s];
            if (id >= 0 && (size_t)id < dx->V) dx->seen[id >> 5] |= 1u << (id & 31);
        }
    mpi_or_words(dx->seen, words);
    for (size_t id = 0; id < dx->V; id++)
        if (dx->seen[id >> 5] >> (id & 31) & 1u) memcpy(dx->rows + u++ * E, g + id * E, sizeof *g * E);
    memcpy(g + (dx->V - u) * E, dx->rows, sizeof *g * u * E);
    return u;
}

/* The reduced rows (packed in the last u slots) back to their places, the slots zeroed first;
   their ids to dx->ids. */
static void unpack_rows(dp_exchange *dx, float *g, size_t u)
{
    size_t E = dx->E, k = 0;
    float *slots = g + (dx->V - u) * E;
    memcpy(dx->rows, slots, sizeof *g * u * E);
    memset(slots, 0, sizeof *g * u * E);
    for (size_t id = 0; id < dx->V; id++)
        if (dx->seen[id >> 5] >> (id & 31) & 1u) dx->ids[k] = (int32_t)id, memcpy(g + id * E, dx->rows + k++ * E, sizeof *g * E);
}

int dp_reduce(trainer *t, const int32_t *tok, int rows, int steps, int stride, double *loss, size_t kept,
              size_t total, int stop, int *stop_all)
{
    float *g = NULL;
    size_t n = 0;
    rnn_param_get_block(t->m, NULL, &g, &n);
    double v[3] = {(double)kept, *loss, stop ? 1.0 : 0.0}, t0 = mpi_time();
    mpi_sum(v, 3); /* (where a rank waits for the slower ones) */
    double t1 = mpi_time();
    t->wait_s += t1 - t0;
    *stop_all = v[2] > 0.0;
    /* each rank's loss and gradient are already its share of the global mean's (the denominator
       is the whole batch's count), so the sums are the global ones, with no scaling pass */
    *loss = v[1];
    DP_FAIL_IF(v[0] != (double)total, CLI_RUNTIME,
               "the ranks kept %.0f targets of the batch's %zu (their batches disagree): stopping", v[0], total);
    dp_exchange *dx = t->dx;
    size_t u = dx->sparse ? pack_rows(dx, g, tok, rows, steps, stride) : 0;
    size_t from = dx->sparse ? (dx->V - u) * dx->E : 0; /* the block from here is reduced */
    mpi_allreduce_floats(g + from, n - from);
    int rc = RNN_OK;
    if (dx->sparse) { /* the other rows are zero: the clip, the update and the next zeroing skip them */
        unpack_rows(dx, g, u);
        rc = rnn_param_declare_grad_rows(t->m, dx->ids, u);
    }
    t->reduce_s += mpi_time() - t1;
    t->reduce_floats += mpi_size() > 1 ? (double)(n - from) : 0.0;
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "cannot declare the reduced rows: %s", rnn_model_errmsg(t->m));
    return CLI_OK;
}

int dp_evaluate(trainer *t, const corpus_batches *b, double *loss)
{
    int K = mpi_size(), r = mpi_rank();
    int lo = (int)((long long)b->batch * r / K), hi = (int)((long long)b->batch * (r + 1) / K), rows = hi - lo;
    int32_t *tok_buf = NULL, *tgt_buf = NULL;
    int crc = rows > 0 ? cli_chunk_buffers(b, &tok_buf, &tgt_buf) : CLI_OK;
    int rc = crc == CLI_OK && rows > 0 ? rnn_model_reset_hidden(t->m, rows) : RNN_OK;
    /* main.py's total, sum over chunks of steps * (the chunk's mean loss), as this rank's share:
       its rows' mean times rows / batch (every row keeps as many targets in both batchings) */
    double part = 0.0, share = (double)rows / (double)b->batch, scored = 0.0;
    for (size_t k = 0; crc == CLI_OK && rc == RNN_OK && rows > 0 && k < b->num_chunks; k++) {
        int steps = 0, stride = 0;
        const int32_t *tok = NULL, *tgt = NULL;
        double l = 0.0;
        rc = cli_chunk(b, k, tok_buf, tgt_buf, &tok, &tgt, &steps, &stride);
        if (rc != RNN_OK) break;
        size_t rs = (size_t)(stride ? stride : steps);
        tok += (size_t)lo * rs, tgt += (size_t)lo * rs, stride = (int)rs;
        rc = rnn_evaluate(t->m, tok, tgt, rows, steps, stride, &l, NULL);
        part += (double)steps * l * share;
        for (int i = 0; i < rows; i++)
            for (int s = 0; s < steps; s++) scored += tgt[(size_t)i * rs + (size_t)s] != RNN_IGNORE;
    }
    free(tok_buf);
    free(tgt_buf);
    FORWARD_IF_ERROR(crc);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "evaluation failed: %s (%s)", rnn_status_string(rc),
                    rnn_model_errmsg(t->m));
    double v[2] = {part, scored};
    mpi_sum(v, 2);
    DP_FAIL_IF(v[1] == 0.0, CLI_RUNTIME, "evaluation failed: no chunk has a target to score");
    *loss = v[0] / (double)corpus_batches_eval_denominator(b);
    return CLI_OK;
}

int dp_check_weights(const trainer *t)
{
    DP_FAIL_IF(!mpi_same(train_params_hash(t->m)), CLI_RUNTIME,
                    "the processes' weights differ at epoch %d after step %llu (their reductions "
                    "disagreed): stopping", t->pos.epoch, (unsigned long long)t->pos.step);
    return CLI_OK;
}

int dp_gather_hidden(trainer *t, float **saved)
{
    *saved = NULL;
    if (!mid_epoch(t)) return CLI_OK;
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    rnn_model_get_config(t->m, &cfg);
    int B = t->a->batch_size, L = cfg.num_layers, H = cfg.hidden_size, lstm = cfg.cell == RNN_CELL_LSTM;
    size_t mine = (size_t)L * t->rows * H, all = (size_t)L * B * H;
    int root = mpi_rank() == 0;
    float *buf = malloc((2 * mine + (root ? 2 * all : 0)) * sizeof *buf);
    RETURN_ERROR_IF(!buf, CLI_RUNTIME, "out of memory"); /* (the other ranks then stop: MPI_Abort) */
    float *hm = buf, *cm = buf + mine, *h = root ? buf + 2 * mine : NULL, *c = root ? h + all : NULL;
    memset(cm, 0, mine * sizeof *cm);
    rnn_model_get_hidden(t->m, t->rows, hm, lstm ? cm : NULL);
    mpi_gather_rows(hm, h, L, t->rows, H);
    mpi_gather_rows(cm, c, L, t->rows, H);
    if (!root) {
        free(buf);
        return CLI_OK;
    }
    int rc = rnn_model_reset_hidden(t->m, B);
    if (rc == RNN_OK) rc = rnn_model_set_hidden(t->m, B, h, lstm ? c : NULL);
    *saved = buf;
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "cannot gather the hidden state: %s", rnn_model_errmsg(t->m));
    return CLI_OK;
}

int dp_restore_hidden(trainer *t, float *saved)
{
    if (!saved) return CLI_OK;
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    rnn_model_get_config(t->m, &cfg);
    size_t mine = (size_t)cfg.num_layers * t->rows * cfg.hidden_size;
    int rc = rnn_model_reset_hidden(t->m, t->rows);
    if (rc == RNN_OK)
        rc = rnn_model_set_hidden(t->m, t->rows, saved, cfg.cell == RNN_CELL_LSTM ? saved + mine : NULL);
    free(saved);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "cannot restore the hidden state: %s", rnn_model_errmsg(t->m));
    return CLI_OK;
}

int dp_share_best(trainer *t, int loaded)
{
    FORWARD_IF_ERROR(mpi_agree(loaded));
    float *p = NULL;
    size_t n = 0;
    rnn_param_get_block(t->m, &p, NULL, &n);
    mpi_bcast_floats(p, n, 0);
    return CLI_OK;
}
