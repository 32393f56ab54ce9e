/*
 * params.c -- the parameter and gradient blocks: the table of tensors in PyTorch's parameters()
 * order, their initialisation, and the whole-block passes (zero_grad, the clipping norm and scale,
 * the SGD update).
 */
#include "model.h"
#include "kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void add_tensor(rnn_model *m, size_t *off, const char *name, int rows, int cols)
{
    rnn__tensor *t = &m->tensors[m->ntensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = *off, t->rows = rows, t->cols = cols;
    *off += (size_t)rows * cols;
}

int rnn__model_new(rnn_model **out, const rnn_config *cfg, const rnn_allocator *alp, int fp32)
{
    rnn_allocator al = *alp;
    const rnn__cell *cell = rnn__cell_get(cfg->cell);
    int V = cfg->vocab_size, E = cfg->emb_size, H = cfg->hidden_size, L = cfg->num_layers;
    rnn_model *m = rnn__alloc(&al, sizeof *m);
    if (!m) return RNN_ERR_NOMEM;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->cfg.tied = cfg->tied != 0;
    int adaptive = cfg->output == RNN_OUTPUT_ADAPTIVE, nc = adaptive ? cfg->num_cutoffs : 0;
    if (adaptive) { /* the configuration says what the model has: PyTorch's default, a flag */
        if (m->cfg.div_value == 0.0f) m->cfg.div_value = 4.0f;
        m->cfg.head_bias = cfg->head_bias != 0;
    }
    m->al = al;
    m->cell = cell;
    m->G = cell->gates;
    m->threads = 1;

    /* the parameter table, in PyTorch's parameters() order */
    int nt = 1 + 4 * L + (adaptive ? 1 + m->cfg.head_bias + 2 * nc : (m->cfg.tied ? 0 : 1) + 1);
    m->tensors = rnn__alloc(&m->al, sizeof(rnn__tensor) * (size_t)nt);
    m->layers = rnn__alloc(&m->al, sizeof(rnn__layer_params) * (size_t)L);
    if (!m->tensors || !m->layers || rnn__ctx_init(&m->train, m, &m->err) != RNN_OK) goto nomem;

    size_t off = 0;
    char name[RNN_NAME_MAX];
    m->enc = off;
    add_tensor(m, &off, "encoder.weight", V, E);
    for (int l = 0; l < L; l++) {
        rnn__layer_params *lp = &m->layers[l];
        int in = l == 0 ? E : H, GH = m->G * H;
        lp->in = in;
        snprintf(name, sizeof name, "rnn.weight_ih_l%d", l);
        lp->w_ih = off, add_tensor(m, &off, name, GH, in);
        snprintf(name, sizeof name, "rnn.weight_hh_l%d", l);
        lp->w_hh = off, add_tensor(m, &off, name, GH, H);
        snprintf(name, sizeof name, "rnn.bias_ih_l%d", l);
        lp->b_ih = off, add_tensor(m, &off, name, 1, GH);
        snprintf(name, sizeof name, "rnn.bias_hh_l%d", l);
        lp->b_hh = off, add_tensor(m, &off, name, 1, GH);
    }
    if (adaptive) { /* AdaptiveLogSoftmaxWithLoss's parameters(): head, then each cluster's two */
        rnn__adaptive *ad = &m->ad;
        ad->nc = nc, ad->HS = cfg->cutoffs[0] + nc;
        for (int i = 0; i <= nc; i++) ad->lo[i] = i < nc ? cfg->cutoffs[i] : V;
        ad->head_w = off, add_tensor(m, &off, "decoder.head.weight", ad->HS, H);
        ad->head_b = SIZE_MAX;
        if (m->cfg.head_bias) ad->head_b = off, add_tensor(m, &off, "decoder.head.bias", 1, ad->HS);
        for (int i = 0; i < nc; i++) {
            int p = (int)rnn__adaptive_proj(&m->cfg, i), size = ad->lo[i + 1] - ad->lo[i];
            ad->proj[i] = p;
            ad->max_proj = p > ad->max_proj ? p : ad->max_proj;
            ad->max_size = size > ad->max_size ? size : ad->max_size;
            if (p <= RNN__THIN_PROJ) {
                size_t w = (size_t)p * size, part = (size_t)rnn__thin_rows(size) * rnn__thin_tiles(size) * p;
                ad->thin_max = w > ad->thin_max ? w : ad->thin_max;
                ad->thin_sum += w;
                ad->thin_part = part > ad->thin_part ? part : ad->thin_part;
            }
            snprintf(name, sizeof name, "decoder.tail.%d.0.weight", i);
            ad->w0[i] = off, add_tensor(m, &off, name, p, H);
            snprintf(name, sizeof name, "decoder.tail.%d.1.weight", i);
            ad->w1[i] = off, add_tensor(m, &off, name, size, p);
        }
        m->dec_w = m->dec_b = SIZE_MAX;
    } else {
        m->dec_w = m->enc;
        if (!m->cfg.tied) m->dec_w = off, add_tensor(m, &off, "decoder.weight", V, H);
        m->dec_b = off;
        add_tensor(m, &off, "decoder.bias", 1, V);
    }
    m->nparams = off;
    size_t bytes = rnn__mul_size(off, sizeof(float));
    if (!bytes) goto nomem;
    if (!fp32) { /* the loader of a quantized file fills the weights */
        *out = m;
        return RNN_OK;
    }
    m->params = rnn__alloc(&m->al, bytes);
    m->grads = rnn__alloc(&m->al, bytes);
    if (!m->params || !m->grads) goto nomem;
    memset(m->grads, 0, bytes);
    if (!m->cfg.tied) { /* the embedding's touched rows (none yet) */
        size_t words = ((size_t)V + 63) / 64;
        m->touched = rnn__alloc(&m->al, words * sizeof *m->touched);
        if (!m->touched) goto nomem;
        memset(m->touched, 0, words * sizeof *m->touched);
    }

    /* initialisation as the PyTorch example (init_weights) and nn.RNN/LSTM/GRU's reset_parameters;
     * the adaptive layer's tensors, after the layers', as nn.Linear's reset_parameters: weight and
     * bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform_ with a = sqrt(5) gives that bound),
     * drawn in the table's order from the same generator */
    rnn__rng init;
    rnn__rng_seed(&init, cfg->seed ^ 0x6A09E667F3BCC908ull);
    float k = 1.0f / sqrtf((float)H);
    for (int i = 0; i < m->ntensors; i++) {
        const rnn__tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        size_t n = (size_t)t->rows * t->cols;
        float a = strncmp(t->name, "rnn.", 4) == 0 ? k : 0.1f;
        if (strcmp(t->name, "decoder.bias") == 0) a = 0.0f;
        if (strncmp(t->name, "decoder.head.", 13) == 0 || strncmp(t->name, "decoder.tail.", 13) == 0)
            a = 1.0f / sqrtf((float)(t->rows == 1 && strcmp(t->name, "decoder.head.bias") == 0 ? H : t->cols));
        for (size_t j = 0; j < n; j++) p[j] = a == 0.0f ? 0.0f : -a + 2.0f * a * rnn__rng_float(&init);
    }
    *out = m;
    return RNN_OK;
nomem:
    rnn_model_free(m);
    return RNN_ERR_NOMEM;
}

/* Whole-block passes over the parameters and gradients, cut into RNN_BLOCK_CHUNKS fixed chunks
 * (multiples of 1024 floats) that the pool's threads share: the norm's sum is the same whatever the
 * number of threads.
 *
 * Sparse passes: a step's tokens touch at most batch x steps rows of the V x E embedding, and its
 * other rows' gradients are +0.0 (m->touched), so the passes leave them out with the dense pass's
 * bits: zeroing them changes nothing; scaling them gives +0.0 (coef > 0); the update adds
 * alpha * +0.0, which is -0.0 when alpha = -lr has its sign bit set (lr >= +0), and p + -0.0 is p
 * for every p (+0.0, -0.0, inf, NaN), so only then (a negative lr would turn a -0.0 weight into
 * +0.0); the norm's chunk sums are chains over 1024-float pieces (rnn__k_sumsq_from), to which a
 * piece of zeros adds +0.0, so the pieces holding only untouched rows are left out. */
#define RNN_BLOCK_CHUNKS 64
#define RNN_PIECE 1024 /* the kernels' sums flush every 1024 floats (kernels_body.h) */
typedef struct block_job {
    rnn_model *m;
    int op, sparse;
    float a;
    double part[RNN_BLOCK_CHUNKS];
} block_job;

static void dense_op(const block_job *j, size_t b, size_t e)
{
    float *g = j->m->grads + b;
    switch (j->op) {
    case RNN__ZERO: memset(g, 0, (e - b) * sizeof(float)); break;
    case RNN__SCALE: rnn__k_scale(g, j->a, e - b); break;
    default: rnn__k_axpy(j->m->params + b, j->a, g, e - b); break;
    }
}

/* the first touched row in [r, end), or end */
static size_t next_touched(const uint64_t *bits, size_t r, size_t end)
{
    while (r < end) {
        uint64_t w = bits[r / 64] >> (r % 64);
        if (w) return r + (size_t)__builtin_ctzll(w) < end ? r + (size_t)__builtin_ctzll(w) : end;
        r = (r / 64 + 1) * 64;
    }
    return end;
}

/* [b, e) of the block, the embedding's untouched rows left out: the norm's chain over the pieces
 * of 1024 floats from b that hold anything else; the other passes over the rest, row by row */
static void sparse_chunk(block_job *j, int c, size_t b, size_t e)
{
    const rnn_model *m = j->m;
    size_t E = (size_t)m->cfg.emb_size, es = m->enc, ee = es + (size_t)m->cfg.vocab_size * E;
    if (j->op == RNN__SUMSQ) {
        double total = 0;
        for (size_t k = b; k < e; k += RNN_PIECE) {
            size_t n = e - k < RNN_PIECE ? e - k : RNN_PIECE;
            size_t r1 = k < es || k + n > ee ? 0 : (k + n - es + E - 1) / E; /* (0: floats outside it) */
            if (!r1 || next_touched(m->touched, (k - es) / E, r1) < r1) total = rnn__k_sumsq_from(total, m->grads + k, n);
        }
        j->part[c] = total;
        return;
    }
    size_t lo = b > es ? b : es, hi = e < ee ? e : ee; /* the embedding's floats in the chunk */
    if (lo >= hi) {
        dense_op(j, b, e);
        return;
    }
    if (b < lo) dense_op(j, b, lo);
    if (hi < e) dense_op(j, hi, e);
    size_t end = (hi - es + E - 1) / E;
    for (size_t r = next_touched(m->touched, (lo - es) / E, end); r < end; r = next_touched(m->touched, r + 1, end)) {
        size_t rb = es + r * E, re = rb + E;
        dense_op(j, rb > lo ? rb : lo, re < hi ? re : hi);
    }
}

static void block_part(void *arg, int part, int parts)
{
    block_job *j = arg;
    size_t n = j->m->nparams;
    for (int c = part; c < RNN_BLOCK_CHUNKS; c += parts) {
        size_t b, e;
        rnn__split(n, c, RNN_BLOCK_CHUNKS, RNN_PIECE, &b, &e);
        if (j->sparse) sparse_chunk(j, c, b, e);
        else if (j->op == RNN__SUMSQ) j->part[c] = rnn__k_sumsq(j->m->grads + b, e - b);
        else dense_op(j, b, e);
    }
}

double rnn__params_pass(rnn_model *m, int op, float a)
{
    block_job j;
    j.m = m, j.op = op, j.a = a;
    j.sparse = m->touched && (!m->grad_exposed || m->grad_declared) && (op != RNN__AXPY || signbit(a));
    rnn__pool_run(m->train.pool, block_part, &j);
    double total = 0;
    if (op == RNN__SUMSQ)
        for (int c = 0; c < RNN_BLOCK_CHUNKS; c++) total += j.part[c];
    if (op == RNN__ZERO && m->touched) /* every row is zero again; a declaration covered one step */
        memset(m->touched, 0, ((size_t)m->cfg.vocab_size + 63) / 64 * sizeof *m->touched), m->grad_declared = 0;
    return total;
}

/* After the embedding's backward added into the rows of the n tokens tok */
void rnn__grads_touch(rnn_model *m, const int32_t *tok, size_t n)
{
    if (!m->touched) return;
    for (size_t r = 0; r < n; r++) m->touched[(uint32_t)tok[r] / 64] |= 1ull << ((uint32_t)tok[r] % 64);
}
