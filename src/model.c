/*
 * model.c -- execution contexts, and forward and backward through the whole model:
 *
 *   tokens -> embedding -> dropout -> layer 0 -> dropout -> ... -> layer L-1 -> dropout -> output
 *
 * A context (rnn__ctx) holds a hidden state, a workspace and generators; the model has one for
 * training and every rnn_state is another, so passes only read the model. All activations are
 * time-major (row t*B + b). The workspace is laid out by layout(), which is run once with a NULL
 * base to measure and then to hand out pointers: sizes and pointers can never disagree.
 */
#include "model.h"
#include "kernels.h"

#include <limits.h>
#include <string.h>

/* ---- contexts ------------------------------------------------------------------------------------ */

int rnn__ctx_init(rnn__ctx *x, const rnn_model *m, rnn__err *err)
{
    memset(x, 0, sizeof *x);
    x->m = m, x->al = m->al, x->err = err;
    int L = m->cfg.num_layers;
    float **lists = rnn__alloc(&x->al, sizeof(float *) * (size_t)L * 8);
    if (!lists) return RNN_ERR_NOMEM;
    x->lists = lists;
    x->buf.y = lists, x->buf.cache = lists + L, x->buf.xd = lists + 2 * L, x->buf.md = lists + 3 * L;
    x->measure_buf.y = lists + 4 * L, x->measure_buf.cache = lists + 5 * L;
    x->measure_buf.xd = lists + 6 * L, x->measure_buf.md = lists + 7 * L;
    rnn__rng_seed(&x->rng, m->cfg.seed);
    x->drop_key = m->cfg.seed;
    return RNN_OK;
}

void rnn__ctx_free(rnn__ctx *x)
{
    rnn__free(&x->al, x->lists);
    rnn__free(&x->al, x->h);
    rnn__free(&x->al, x->row_rng);
    rnn__free(&x->al, x->hist);
    rnn__free(&x->al, x->ws_raw);
    rnn__pool_free(x->pool, &x->al);
    x->pool = NULL;
    x->lists = x->h = x->ws_raw = NULL;
    x->row_rng = NULL;
    x->hist = NULL;
    x->hist_cap = 0;
}

/* a * b * c, or 0 on overflow */
static size_t mul3(size_t a, size_t b, size_t c)
{
    if (a && b > SIZE_MAX / a) return 0;
    a *= b;
    return (a && c > SIZE_MAX / a) ? 0 : a * c;
}

int rnn__ctx_reset(rnn__ctx *x, int batch)
{
    const rnn_model *m = x->m;
    size_t LBH = mul3((size_t)m->cfg.num_layers, (size_t)batch, (size_t)m->cfg.hidden_size);
    if (!LBH || LBH > SIZE_MAX / (4 * sizeof(float)))
        return rnn__failf(x->err, RNN_ERR_NOMEM, "state size overflows for batch %d", batch);
    if (batch > x->batch_cap) {
        float *blk = rnn__alloc(&x->al, LBH * 4 * sizeof(float));
        rnn__rng *rr = x->per_stream ? rnn__alloc(&x->al, sizeof(rnn__rng) * (size_t)batch) : NULL;
        if (!blk || (x->per_stream && !rr)) {
            rnn__free(&x->al, blk);
            rnn__free(&x->al, rr);
            return rnn__failf(x->err, RNN_ERR_NOMEM, "cannot allocate the state for batch %d", batch);
        }
        rnn__free(&x->al, x->h);
        x->h = blk;
        if (rr) {
            rnn__free(&x->al, x->row_rng);
            x->row_rng = rr;
        }
        x->batch_cap = batch;
    }
    /* the blocks are sized for batch_cap; the live (L, batch, H) views start at each block */
    size_t cap = (size_t)m->cfg.num_layers * x->batch_cap * m->cfg.hidden_size;
    x->dh0 = x->h + cap, x->c = x->h + 2 * cap, x->dc0 = x->h + 3 * cap;
    memset(x->h, 0, cap * 4 * sizeof(float));
    if (m->cfg.cell != RNN_CELL_LSTM) x->c = x->dc0 = NULL;
    if (x->per_stream)
        for (int b = 0; b < batch; b++) rnn__rng_seed(&x->row_rng[b], x->row_seed + (uint64_t)b);
    x->batch = batch;
    x->pending = 0;
    x->have_dstate = 0;
    x->hist_pos = x->hist_len = 0;
    return RNN_OK;
}

int rnn__hist_reserve(rnn__ctx *x, int streams)
{
    if (x->hist_cap >= streams) return RNN_OK;
    size_t row = sizeof(int32_t) * RNN__HIST;
    int32_t *hist = rnn__alloc(&x->al, rnn__mul_size(row, (size_t)streams));
    if (!hist) return rnn__failf(x->err, RNN_ERR_NOMEM, "cannot allocate the token history of %d streams", streams);
    if (x->hist) memcpy(hist, x->hist, row * (size_t)x->hist_cap); /* the streams' tokens so far */
    rnn__free(&x->al, x->hist);
    x->hist = hist, x->hist_cap = streams;
    return RNN_OK;
}

void rnn__hist_push(rnn__ctx *x, const int32_t *tok, int B, int T)
{
    for (int t = T > RNN__HIST ? T - RNN__HIST : 0; t < T; t++) {
        for (int b = 0; b < B; b++) x->hist[(size_t)b * RNN__HIST + x->hist_pos] = tok[(size_t)t * B + b];
        x->hist_pos = x->hist_pos + 1 == RNN__HIST ? 0 : x->hist_pos + 1;
        if (x->hist_len < RNN__HIST) x->hist_len++;
    }
}

void rnn__hist_pop(rnn__ctx *x)
{
    /* the slot keeps the popped token, but past hist_len: when the ring was full it held the
     * (RNN__HIST)-th newest token, which no window of at most RNN__MAX_REPEAT reaches */
    x->hist_pos = x->hist_pos == 0 ? RNN__HIST - 1 : x->hist_pos - 1;
    x->hist_len--;
}

int rnn__check_batch(const rnn__ctx *x, int batch)
{
    if (x->batch == 0) return rnn__failf(x->err, RNN_ERR_STATE, "no hidden state: call rnn_model_reset_hidden first");
    if (batch != x->batch)
        return rnn__failf(x->err, RNN_ERR_STATE, "batch %d does not match the hidden state's batch %d", batch, x->batch);
    return RNN_OK;
}

int rnn__check_tokens(rnn__ctx *x, const int32_t *tokens, const int32_t *targets, int batch, int steps, int *stride)
{
    if (!tokens) return rnn__failf(x->err, RNN_ERR_INVALID, "tokens is NULL");
    if (batch <= 0 || steps <= 0)
        return rnn__failf(x->err, RNN_ERR_INVALID, "batch and steps must be > 0 (got %d x %d)", batch, steps);
    if ((long long)batch * steps > RNN__MAX_CHUNK)
        return rnn__failf(x->err, RNN_ERR_INVALID, "chunk batch %d x steps %d is larger than %d (RNN_LIMIT_CHUNK)",
                          batch, steps, RNN__MAX_CHUNK);
    if (*stride == 0) *stride = steps;
    if (*stride < steps)
        return rnn__failf(x->err, RNN_ERR_INVALID, "stride %d is smaller than steps %d (0 means steps)", *stride, steps);
    size_t S = (size_t)*stride;
    int rc = rnn__check_batch(x, batch);
    if (rc) return rc;
    int V = x->m->cfg.vocab_size;
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < steps; t++) {
            int32_t tok = tokens[(size_t)b * S + t];
            if (tok < 0 || tok >= V)
                return rnn__failf(x->err, RNN_ERR_RANGE, "token %ld at [%d][%d] is outside [0, %d)", (long)tok, b, t, V);
            if (targets) {
                int32_t y = targets[(size_t)b * S + t];
                if ((y < 0 || y >= V) && y != RNN_IGNORE)
                    return rnn__failf(x->err, RNN_ERR_RANGE,
                                      "target %ld at [%d][%d] is outside [0, %d) and not RNN_IGNORE", (long)y, b, t, V);
            }
        }
    return RNN_OK;
}

/* ---- passes -------------------------------------------------------------------------------------- */
/* Layer l's views for a (B, T) run; drop: the run applied dropout, so a layer's input is the
 * previous layer's dropped output */
static void make_layer(const rnn_model *m, rnn__ctx *x, int l, int B, int T, int drop, rnn__layer *ly)
{
    const rnn__buffers *b = &x->buf;
    const rnn__layer_params *lp = &m->layers[l];
    int H = m->cfg.hidden_size;
    size_t BH = (size_t)B * H;
    memset(ly, 0, sizeof *ly);
    ly->B = B, ly->T = T, ly->in = lp->in, ly->H = H;
    ly->rowwise = x->per_stream;
    ly->pool = x->pool;
    ly->b_ih = m->params + lp->b_ih, ly->b_hh = m->params + lp->b_hh;
    if (m->wtype) { /* quantized: inference only, no gradients */
        ly->qw_ih = rnn__q_ih(m, l), ly->qw_hh = rnn__q_hh(m, l);
    } else {
        ly->w_ih = m->params + lp->w_ih, ly->w_hh = m->params + lp->w_hh;
        ly->dw_ih = m->grads + lp->w_ih, ly->dw_hh = m->grads + lp->w_hh;
        ly->db_ih = m->grads + lp->b_ih, ly->db_hh = m->grads + lp->b_hh;
    }
    ly->x = l == 0 ? b->x0 : drop ? b->xd[l - 1] : b->y[l - 1];
    ly->h0 = b->h0 + l * BH;
    ly->c0 = b->c0 ? b->c0 + l * BH : NULL;
    ly->y = b->y[l];
    ly->hT = x->h + l * BH;
    ly->cT = x->c ? x->c + l * BH : NULL;
    ly->cache = b->cache[l];
    ly->dh0 = x->dh0 + l * BH;
    ly->dc0 = x->dc0 ? x->dc0 + l * BH : NULL;
    ly->scratch = b->scratch;
}

/* Inverted dropout: out = in * mask, mask_i = 0 with probability p, else 1 / (1 - p). */
static void dropout(rnn__rng *rng, float p, const float *in, float *mask, float *out, size_t n)
{
    float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = rnn__rng_float(rng) < p ? 0.0f : scale;
        out[i] = in[i] * mask[i];
    }
}

/* splitmix64's finaliser: a bijection of 64 bits whose every output bit depends on every input bit */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Inverted dropout with RNN_DROPOUT_COUNTER masks over (T, B, n) time-major rows: the mask of
 * unit i of stream b at step t is a hash of (key, drop_stream + b, drop_step + t, site, i), so it
 * does not depend on which streams share the call (nor on the calls before). */
static void dropout_counter(const rnn__ctx *x, int site, float p, const float *in, float *mask, float *out, int B,
                            int T, size_t n)
{
    float scale = 1.0f / (1.0f - p);
    uint64_t k = mix64(x->drop_key ^ 0x9E3779B97F4A7C15ull);
    for (int t = 0; t < T; t++) {
        uint64_t kt = mix64(k ^ mix64(x->drop_step + (uint64_t)t));
        for (int b = 0; b < B; b++) {
            uint64_t ks = mix64(kt ^ mix64((x->drop_stream + (uint64_t)b) ^ ((uint64_t)site << 56)));
            size_t r = ((size_t)t * B + b) * n;
            for (size_t i = 0; i < n; i++) {
                float u = (float)(mix64(ks + (uint64_t)i * 0x9E3779B97F4A7C15ull) >> 40) * 0x1.0p-24f;
                mask[r + i] = u < p ? 0.0f : scale;
                out[r + i] = in[r + i] * mask[r + i];
            }
        }
    }
}

const float *rnn__run_layers(const rnn_model *m, rnn__ctx *x, const int32_t *tokens, const int32_t *targets,
                             int B, int T, int stride, int train)
{
    int E = m->cfg.emb_size, H = m->cfg.hidden_size, L = m->cfg.num_layers;
    size_t N = (size_t)B * T, LBH = (size_t)L * B * H, S = (size_t)stride;
    int drop = train && m->cfg.dropout > 0.0f, counter = m->cfg.dropout_masks == RNN_DROPOUT_COUNTER;
    rnn__buffers *buf = &x->buf;

    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            buf->tok[(size_t)t * B + b] = tokens[(size_t)b * S + t];
            if (buf->tgt) buf->tgt[(size_t)t * B + b] = targets ? targets[(size_t)b * S + t] : RNN_IGNORE;
        }
    rnn__hist_push(x, buf->tok, B, T);
    if (m->wtype) { /* a quantized embedding: the row dequantized */
        for (size_t r = 0; r < N; r++) rnn__qmat_row(rnn__q_enc(m), buf->tok[r], buf->x0 + r * E);
    } else {
        const float *enc = m->params + m->enc;
        for (size_t r = 0; r < N; r++) memcpy(buf->x0 + r * E, enc + (size_t)buf->tok[r] * E, (size_t)E * sizeof(float));
    }
    if (drop && counter) dropout_counter(x, 0, m->cfg.dropout, buf->x0, buf->m0, buf->x0, B, T, (size_t)E);
    else if (drop) dropout(&x->rng, m->cfg.dropout, buf->x0, buf->m0, buf->x0, N * E);

    memcpy(buf->h0, x->h, LBH * sizeof(float));
    if (buf->c0) memcpy(buf->c0, x->c, LBH * sizeof(float));
    const float *out = NULL;
    for (int l = 0; l < L; l++) {
        rnn__layer ly;
        make_layer(m, x, l, B, T, drop, &ly);
        m->cell->forward(&ly);
        out = buf->y[l];
        if (drop) {
            if (counter) dropout_counter(x, l + 1, m->cfg.dropout, buf->y[l], buf->md[l], buf->xd[l], B, T, (size_t)H);
            else dropout(&x->rng, m->cfg.dropout, buf->y[l], buf->md[l], buf->xd[l], N * H);
            out = buf->xd[l];
        }
    }
    x->fw_dropped = drop;
    x->pending = 0;
    if (train) x->drop_step += (uint64_t)T;
    return out;
}

int rnn__chunked_reserve(rnn__ctx *x, int B, int T, int scoring)
{
    int block = rnn__chunk_steps(B), S = x->chunk_steps > 0 ? x->chunk_steps : block, first = T < S ? T : S;
    /* the first chunk is the largest; the scoring head needs one decoder block's rows */
    return rnn__ensure_workspace(x, scoring ? RNN__WS_EVAL : RNN__WS_FEED, B, first,
                                 (size_t)B * (first < block ? first : block));
}

int rnn__run_chunked(const rnn_model *m, rnn__ctx *x, const int32_t *tokens, int B, int T, int stride,
                     double *row_logp)
{
    int block = rnn__chunk_steps(B), S = x->chunk_steps > 0 ? x->chunk_steps : block;
    int mode = row_logp ? RNN__WS_EVAL : RNN__WS_FEED;
    int rc = rnn__chunked_reserve(x, B, T, row_logp != NULL);
    if (rc) return rc;
    for (int t0 = 0; t0 < T; t0 += S) {
        int n = T - t0 < S ? T - t0 : S;
        rnn__ws_begin(x, mode, B, n, (size_t)B * (n < block ? n : block));
        const float *top = rnn__run_layers(m, x, tokens + t0, NULL, B, n, stride, 0);
        if (row_logp) rnn__head_score(m, x, top, B, n, block, t0 > 0, row_logp);
    }
    return RNN_OK;
}

const float *rnn__ctx_top(const rnn__ctx *x)
{
    const rnn_model *m = x->m;
    return x->h + (size_t)(m->cfg.num_layers - 1) * x->batch * m->cfg.hidden_size;
}

void rnn__run_backward(rnn_model *m, rnn__ctx *x)
{
    int B = x->fw_batch, T = x->fw_steps, E = m->cfg.emb_size, H = m->cfg.hidden_size, L = m->cfg.num_layers;
    size_t N = (size_t)B * T;
    int drop = x->fw_dropped;
    rnn__buffers *buf = &x->buf;
    const float *out = drop ? buf->xd[L - 1] : buf->y[L - 1];
    float *d1 = buf->d1, *d2 = buf->d2;
    rnn__output_backward(m, x, out, (int)N, d1);
    for (int l = L - 1; l >= 0; l--) {
        if (drop) rnn__k_mul(d1, buf->md[l], N * H); /* the dropout after layer l */
        rnn__layer ly;
        make_layer(m, x, l, B, T, drop, &ly);
        ly.dy = d1;
        ly.dx = d2;
        m->cell->backward(&ly);
        float *t = d1;
        d1 = d2, d2 = t;
    }
    if (drop) rnn__k_mul(d1, buf->m0, N * E);
    float *denc = m->grads + m->enc;
    for (size_t r = 0; r < N; r++) {
        rnn__k_add(denc + (size_t)buf->tok[r] * E, d1 + r * E, (size_t)E);
    }
    rnn__grads_touch(m, buf->tok, N);
    x->pending = 0;
    x->have_dstate = 1;
}
