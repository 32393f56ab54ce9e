/*
 * model.c -- forward and backward through the whole model, over the handle's workspace:
 *
 *   tokens -> embedding -> dropout -> layer 0 -> dropout -> ... -> layer L-1 -> dropout -> output
 *
 * All activations are time-major (row t*B + b). The workspace is laid out by layout(), which is
 * run once with a NULL base to measure and then to hand out pointers: sizes and pointers can
 * never disagree.
 */
#include "internal.h"

#include <string.h>

/* Lays out every buffer of a (B, T) run; returns the bytes used. */
static size_t layout(const rnn_model *m, int B, int T, rnn_arena *a, rnn_buffers *buf)
{
    int E = m->cfg.emb_size, H = m->cfg.hidden_size, V = m->cfg.vocab_size, L = m->cfg.num_layers;
    int drop = m->cfg.dropout > 0.0f, D = E > H ? E : H;
    size_t N = (size_t)B * T;
    buf->tok = RNN_TAKE_I(a, N);
    buf->tgt = RNN_TAKE_I(a, N);
    buf->x0 = RNN_TAKE_F(a, N * E);
    buf->m0 = drop ? RNN_TAKE_F(a, N * E) : NULL;
    for (int l = 0; l < L; l++) {
        buf->y[l] = RNN_TAKE_F(a, N * H);
        buf->cache[l] = RNN_TAKE_F(a, m->cell->cache_size(B, T, H));
        buf->xd[l] = drop ? RNN_TAKE_F(a, N * H) : buf->y[l];
        buf->md[l] = drop ? RNN_TAKE_F(a, N * H) : NULL;
    }
    buf->logits = RNN_TAKE_F(a, N * V);
    buf->h0 = RNN_TAKE_F(a, (size_t)L * B * H);
    buf->c0 = m->cfg.cell == RNN_CELL_LSTM ? RNN_TAKE_F(a, (size_t)L * B * H) : NULL;
    buf->d1 = RNN_TAKE_F(a, N * D);
    buf->d2 = RNN_TAKE_F(a, N * D);
    buf->scratch = RNN_TAKE_F(a, m->cell->scratch_size(B, T, H));
    return a->used;
}

int rnn__ensure_workspace(rnn_model *m, int batch, int steps)
{
    if (m->ws_raw && batch <= m->ws_batch && steps <= m->ws_steps) return RNN_OK;
    int B = batch > m->ws_batch ? batch : m->ws_batch, T = steps > m->ws_steps ? steps : m->ws_steps;
    rnn_arena measure = {0};
    size_t bytes = layout(m, B, T, &measure, &m->measure_buf); /* never touches m->buf */
    if (bytes > SIZE_MAX - 64) return rnn__fail(m, RNN_ERR_NOMEM, "workspace size overflows");
    void *raw = rnn__alloc(m, bytes + 64);
    if (!raw)
        return rnn__fail(m, RNN_ERR_NOMEM, "cannot allocate a %zu-byte workspace for batch %d x steps %d",
                         bytes, B, T);
    rnn__free(m, m->ws_raw);
    m->ws_raw = raw;
    m->ws.base = (char *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    m->ws.cap = bytes;
    m->ws_batch = B, m->ws_steps = T;
    m->pending = 0;
    return RNN_OK;
}

static void make_layer(const rnn_model *m, int l, int B, int T, rnn_layer *ly)
{
    const rnn_buffers *b = &m->buf;
    const rnn_layer_params *lp = &m->layers[l];
    int H = m->cfg.hidden_size, drop = m->cfg.dropout > 0.0f;
    size_t BH = (size_t)B * H;
    memset(ly, 0, sizeof *ly);
    ly->B = B, ly->T = T, ly->in = lp->in, ly->H = H;
    ly->w_ih = m->params + lp->w_ih, ly->w_hh = m->params + lp->w_hh;
    ly->b_ih = m->params + lp->b_ih, ly->b_hh = m->params + lp->b_hh;
    ly->dw_ih = m->grads + lp->w_ih, ly->dw_hh = m->grads + lp->w_hh;
    ly->db_ih = m->grads + lp->b_ih, ly->db_hh = m->grads + lp->b_hh;
    ly->x = l == 0 ? b->x0 : (drop ? b->xd[l - 1] : b->y[l - 1]);
    ly->h0 = b->h0 + l * BH;
    ly->c0 = b->c0 ? b->c0 + l * BH : NULL;
    ly->y = b->y[l];
    ly->hT = m->h + l * BH;
    ly->cT = m->c ? m->c + l * BH : NULL;
    ly->cache = b->cache[l];
    ly->dh0 = m->dh0 + l * BH;
    ly->dc0 = m->dc0 ? m->dc0 + l * BH : NULL;
    ly->scratch = b->scratch;
}

/* Inverted dropout: out = in * mask, mask_i = 0 with probability p, else 1 / (1 - p). */
static void dropout(rnn_rng *rng, float p, const float *in, float *mask, float *out, size_t n)
{
    float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = rnn_rng_float(rng) < p ? 0.0f : scale;
        out[i] = in[i] * mask[i];
    }
}

static void mul_inplace(float *a, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++) a[i] *= mask[i];
}

void rnn__run_forward(rnn_model *m, const int32_t *tokens, const int32_t *targets, int B, int T,
                      int mode, double *loss, float *logprobs, float temperature, int32_t *next)
{
    int E = m->cfg.emb_size, H = m->cfg.hidden_size, L = m->cfg.num_layers;
    size_t N = (size_t)B * T, LBH = (size_t)L * B * H;
    int drop = mode == RNN_MODE_TRAIN && m->cfg.dropout > 0.0f;
    rnn_buffers *buf = &m->buf;
    m->ws.used = 0;
    layout(m, B, T, &m->ws, buf);

    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            buf->tok[(size_t)t * B + b] = tokens[(size_t)b * T + t];
            buf->tgt[(size_t)t * B + b] = targets ? targets[(size_t)b * T + t] : RNN_IGNORE;
        }
    const float *enc = m->params + m->enc;
    for (size_t r = 0; r < N; r++) memcpy(buf->x0 + r * E, enc + (size_t)buf->tok[r] * E, (size_t)E * sizeof(float));
    if (drop) dropout(&m->rng, m->cfg.dropout, buf->x0, buf->m0, buf->x0, N * E);

    memcpy(buf->h0, m->h, LBH * sizeof(float));
    if (buf->c0) memcpy(buf->c0, m->c, LBH * sizeof(float));
    const float *out = NULL;
    for (int l = 0; l < L; l++) {
        rnn_layer ly;
        make_layer(m, l, B, T, &ly);
        if (l > 0) ly.x = out;
        m->cell->forward(&ly);
        out = buf->y[l];
        if (drop) {
            dropout(&m->rng, m->cfg.dropout, buf->y[l], buf->md[l], buf->xd[l], N * H);
            out = buf->xd[l];
        }
    }
    m->fw_dropped = drop;
    if (mode == RNN_MODE_SAMPLE) {
        rnn__output_sample(m, out, B, buf->logits, temperature, next);
        m->pending = 0;
        return;
    }
    double count = 0;
    double nll = rnn__output_forward(m, out, buf->tgt, B, T, buf->logits, mode == RNN_MODE_TRAIN, &count,
                                     logprobs);
    if (loss) *loss = count > 0 ? nll / count : 0.0;
    m->pending = mode == RNN_MODE_TRAIN;
    m->fw_batch = B, m->fw_steps = T;
}

void rnn__run_backward(rnn_model *m)
{
    int B = m->fw_batch, T = m->fw_steps, E = m->cfg.emb_size, H = m->cfg.hidden_size, L = m->cfg.num_layers;
    size_t N = (size_t)B * T;
    int drop = m->fw_dropped;
    rnn_buffers *buf = &m->buf;
    const float *out = drop ? buf->xd[L - 1] : buf->y[L - 1];
    float *d1 = buf->d1, *d2 = buf->d2;
    rnn__output_backward(m, out, buf->logits, (int)N, d1);
    for (int l = L - 1; l >= 0; l--) {
        if (drop) mul_inplace(d1, buf->md[l], N * H); /* the dropout after layer l */
        rnn_layer ly;
        make_layer(m, l, B, T, &ly);
        if (l > 0) ly.x = drop ? buf->xd[l - 1] : buf->y[l - 1];
        ly.dy = d1;
        ly.dx = d2;
        m->cell->backward(&ly);
        float *t = d1;
        d1 = d2, d2 = t;
    }
    if (drop) mul_inplace(d1, buf->m0, N * E);
    float *denc = m->grads + m->enc;
    for (size_t r = 0; r < N; r++) {
        float *g = denc + (size_t)buf->tok[r] * E;
        const float *d = d1 + r * E;
        for (int k = 0; k < E; k++) g[k] += d[k];
    }
    m->pending = 0;
    m->have_dstate = 1;
}
