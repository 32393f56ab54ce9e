/*
 * workspace.c -- a context's workspace: one block, sliced by bumping an offset and reset every run.
 * layout() says where every buffer of a run lies; it runs once with a NULL base to measure and then
 * to hand out pointers, so sizes and pointers can never disagree. The block is sized for the run
 * that asks (not for the largest batch and steps seen apart) and grows only when a run needs more
 * bytes than it holds, so a shape seen before never allocates.
 */
#include "model.h"

#include <string.h>

#define RNN_ALIGN 64

void *rnn__arena_take(rnn__arena *a, size_t bytes)
{
    size_t size = (bytes + RNN_ALIGN - 1) & ~(size_t)(RNN_ALIGN - 1);
    void *p = a->base ? a->base + a->used : NULL;
    a->used += size;
    return p;
}

/* ---- the workspace ------------------------------------------------------------------------------- */
/* Lays out every buffer of a run (see model.h: mode, the layers over (B, T), R head rows); returns
 * the bytes used. Every buffer grows with B, T and R, and FEED <= EVAL <= TRAIN, so a workspace
 * that holds a run holds every smaller one. */
static size_t layout(const rnn_model *m, int mode, int B, int T, size_t R, rnn__arena *a, rnn__buffers *buf)
{
    int E = m->cfg.emb_size, H = m->cfg.hidden_size, V = m->cfg.vocab_size, L = m->cfg.num_layers;
    int train = mode == RNN__WS_TRAIN, drop = train && m->cfg.dropout > 0.0f, D = E > H ? E : H;
    size_t N = (size_t)B * T;
    if (mode == RNN__WS_FEED) R = 0;
    if (train) R = N;
    buf->tok = RNN_TAKE_I(a, N);
    buf->tgt = mode != RNN__WS_FEED ? RNN_TAKE_I(a, N) : NULL;
    buf->x0 = RNN_TAKE_F(a, N * E);
    buf->m0 = drop ? RNN_TAKE_F(a, N * E) : NULL;
    for (int l = 0; l < L; l++) {
        buf->y[l] = RNN_TAKE_F(a, N * H);
        buf->cache[l] = RNN_TAKE_F(a, m->cell->cache_size(B, T, H));
        buf->xd[l] = drop ? RNN_TAKE_F(a, N * H) : buf->y[l];
        buf->md[l] = drop ? RNN_TAKE_F(a, N * H) : NULL;
    }
    const rnn__adaptive *ad = &m->ad;
    /* the adaptive layer's rows (training: all N; otherwise the heads' R), and B full rows of
     * logits for the sampler (its runs are (B, 1)); as many for every mode, so that TRAIN still
     * holds EVAL */
    size_t A = ad->nc ? R : 0;
    buf->logits = R ? RNN_TAKE_F(a, (ad->nc ? (size_t)B : R) * V) : NULL;
    buf->ahead = A ? RNN_TAKE_F(a, A * ad->HS) : NULL;
    buf->ax = A ? RNN_TAKE_F(a, A * H) : NULL;
    buf->ap = A ? RNN_TAKE_F(a, A * ad->max_proj) : NULL;
    buf->az = A ? RNN_TAKE_F(a, A * ad->max_size) : NULL;
    buf->awt = A && ad->thin_max ? RNN_TAKE_F(a, ad->thin_max) : NULL;
    buf->astash = train && ad->thin_sum ? RNN_TAKE_F(a, ad->thin_sum) : NULL;
    buf->apart = train && ad->thin_max ? (double *)rnn__arena_take(a, ad->thin_part * sizeof(double)) : NULL;
    buf->afac = A && ad->thin_max ? RNN_TAKE_F(a, A) : NULL;
    buf->arow = A ? RNN_TAKE_I(a, A) : NULL;
    buf->apick = A ? RNN_TAKE_I(a, A) : NULL;
    buf->h0 = RNN_TAKE_F(a, (size_t)L * B * H);
    buf->c0 = m->cfg.cell == RNN_CELL_LSTM ? RNN_TAKE_F(a, (size_t)L * B * H) : NULL;
    buf->d1 = train ? RNN_TAKE_F(a, N * D) : R ? RNN_TAKE_F(a, R * H) : NULL;
    buf->d2 = train ? RNN_TAKE_F(a, N * D) : NULL;
    buf->scratch = train ? RNN_TAKE_F(a, m->cell->scratch_size(B, T, H)) : NULL;
    buf->order = R ? RNN_TAKE_I(a, V) : NULL;
    buf->row_nll = R ? (double *)rnn__arena_take(a, R * sizeof(double)) : NULL;
    buf->dbias = train && !ad->nc ? RNN_TAKE_F(a, (size_t)RNN_ROW_CHUNKS * V) : NULL;
    return a->used;
}

/* replaces the workspace by one of `bytes` (more than it holds); B, T name the run (T 0: none) */
static int grow(rnn__ctx *x, size_t bytes, int B, int T)
{
    if (bytes > SIZE_MAX - 64) return rnn__failf(x->err, RNN_ERR_NOMEM, "workspace size overflows");
    void *raw = rnn__alloc(&x->al, bytes + 64);
    if (!raw && T)
        return rnn__failf(x->err, RNN_ERR_NOMEM, "cannot allocate a %zu-byte workspace for batch %d x steps %d",
                          bytes, B, T);
    if (!raw) return rnn__failf(x->err, RNN_ERR_NOMEM, "cannot allocate a %zu-byte workspace", bytes);
    rnn__free(&x->al, x->ws_raw);
    x->ws_raw = raw;
    x->ws.base = (char *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    x->ws.cap = bytes;
    x->pending = 0;
    return RNN_OK;
}

int rnn__ensure_workspace(rnn__ctx *x, int mode, int B, int T, size_t R)
{
    int rc = rnn__hist_reserve(x, x->batch_cap); /* every pass starts here: the token history first */
    if (rc) return rc;
    rnn__arena measure = {0};
    size_t bytes = layout(x->m, mode, B, T, R, &measure, &x->measure_buf); /* never touches x->buf */
    return x->ws_raw && bytes <= x->ws.cap ? RNN_OK : grow(x, bytes, B, T);
}

int rnn__reserve_workspace(rnn__ctx *x, size_t bytes)
{
    return x->ws_raw && bytes <= x->ws.cap ? RNN_OK : grow(x, bytes, 0, 0);
}

void rnn__ws_begin(rnn__ctx *x, int mode, int B, int T, size_t R)
{
    x->ws.used = 0;
    layout(x->m, mode, B, T, R, &x->ws, &x->buf);
}

int rnn__ws_prepare(rnn__ctx *x, int mode, int B, int T, size_t R)
{
    int rc = rnn__ensure_workspace(x, mode, B, T, R);
    if (!rc) rnn__ws_begin(x, mode, B, T, R);
    return rc;
}
