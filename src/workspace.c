/*
 * workspace.c -- a context's workspace: one block, sliced by bumping an offset and reset every run.
 * layout() says where every buffer of a (batch, steps) run lies; it runs once with a NULL base to
 * measure and then to hand out pointers, so sizes and pointers can never disagree.
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
/* Lays out every buffer of a (B, T) run; returns the bytes used. */
static size_t layout(const rnn_model *m, int B, int T, rnn__arena *a, rnn__buffers *buf)
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
    buf->order = RNN_TAKE_I(a, V);
    buf->row_nll = (double *)rnn__arena_take(a, N * sizeof(double));
    buf->dbias = RNN_TAKE_F(a, (size_t)RNN_ROW_CHUNKS * V);
    return a->used;
}

int rnn__ensure_workspace(rnn__ctx *x, int batch, int steps)
{
    if (x->ws_raw && batch <= x->ws_batch && steps <= x->ws_steps) return RNN_OK;
    int B = batch > x->ws_batch ? batch : x->ws_batch, T = steps > x->ws_steps ? steps : x->ws_steps;
    rnn__arena measure = {0};
    size_t bytes = layout(x->m, B, T, &measure, &x->measure_buf); /* never touches x->buf */
    if (bytes > SIZE_MAX - 64) return rnn__failf(x->err, RNN_ERR_NOMEM, "workspace size overflows");
    void *raw = rnn__alloc(&x->al, bytes + 64);
    if (!raw)
        return rnn__failf(x->err, RNN_ERR_NOMEM, "cannot allocate a %zu-byte workspace for batch %d x steps %d",
                          bytes, B, T);
    rnn__free(&x->al, x->ws_raw);
    x->ws_raw = raw;
    x->ws.base = (char *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    x->ws.cap = bytes;
    x->ws_batch = B, x->ws_steps = T;
    x->pending = 0;
    return RNN_OK;
}

void rnn__ws_begin(rnn__ctx *x, int B, int T)
{
    x->ws.used = 0;
    layout(x->m, B, T, &x->ws, &x->buf);
}
