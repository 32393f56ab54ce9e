/*
 * output_adaptive.c -- the adaptive output layer (RNN_OUTPUT_ADAPTIVE), torch 1.13's
 * nn.AdaptiveLogSoftmaxWithLoss: a head over the first cutoffs[0] words and one entry per cluster,
 * and per cluster a projection to fewer units and a Linear to the cluster's words.
 *
 * The loss (forward(input, target)) runs the head for every row and cluster i only for the rows
 * whose target lies in it, gathered into packed buffers cluster after cluster: that is the
 * layer's saving. The log-probabilities (log_prob()) run every cluster for every row. Each
 * log_softmax is PyTorch's order, ((v - max) - log(sum exp(v - max))), in float, and a
 * cluster word's log-probability is its cluster log-probability plus the head's cluster entry, as
 * the module adds them.
 *
 * A thin cluster (a projection of at most RNN__THIN_PROJ units: a large vocabulary's last clusters,
 * e.g. 200,000 words through 3 units) is never multiplied out by the BLAS: its logits come from
 * rnn__k_proj over its weights transposed once a pass (the same bits on every BLAS and build, and
 * in every path below), and the loss takes its rows a block at a time (RNN__THIN_BLOCK logits, which
 * stay in the cache) through the log-softmax and, when training, straight on into the block's
 * dP = dZ W1 and its share of dW1 = dZ^T P, so that the cluster's (rows, size) logits never go
 * through memory. Every sum there has a fixed order (rows in order, the words' tiles in order), so
 * the results do not depend on the threads.
 */
#include "model.h"
#include "kernels.h"

#include <math.h>
#include <string.h>

/* the cluster of target y (-1: the head's shortlist) */
static int cluster_of(const rnn__adaptive *ad, int32_t y)
{
    int i = -1;
    while (i + 1 < ad->nc && y >= ad->lo[i + 1]) i++;
    return i;
}

/* The first maximum of v[0..n) (n >= 1), NaN entries skipped unless v[0] is one (then NaN): the
 * vectorised maximum is the same value, but of a maximum held by both +0 and -0 the lanes may
 * return either, so a zero maximum is looked up again in order (the first zero, as 1.1's scalar
 * loop; it decides the sign of an exact-zero log-probability on every build alike) */
static float row_max(const float *v, int n)
{
    if (v[0] != v[0]) return v[0];
    float mx = rnn__k_max(v, n);
    if (mx == 0.0f)
        for (int k = 0; k < n; k++)
            if (v[k] == 0.0f) return v[k];
    return mx;
}

/* log_softmax of v[0..n) in place, in PyTorch's order; with `add`: plus add afterwards */
static void log_softmax_row(float *v, int n, int with_add, float add)
{
    float mx = row_max(v, n);
    float logs = (float)log(rnn__k_exp_sum(v, mx, n, 0));
    rnn__k_sub(v, v, mx, n);
    rnn__k_sub(v, v, logs, n);
    if (with_add) rnn__k_sub(v, v, -add, n); /* v - (-a) is exactly v + a */
}

/* The log-probability of entry y of v[0..n); with want_grad, v becomes (softmax(v) - onehot(y)) * inv */
static float gather_row(float *v, int n, int y, int want_grad, float inv)
{
    float mx = row_max(v, n), vy = v[y];
    double s = rnn__k_exp_sum(v, mx, n, want_grad);
    float lp = (vy - mx) - (float)log(s);
    if (want_grad) { /* v holds exp(v - max) */
        rnn__k_scale(v, (float)(inv / s), (size_t)n);
        v[y] -= inv;
    }
    return lp;
}

/* head (N, HS) = in * W_head^T (+ bias) */
static void head_rows(const rnn_model *m, rnn__ctx *x, int rowwise, const float *in, int N, float *head)
{
    const rnn__adaptive *ad = &m->ad;
    int H = m->cfg.hidden_size;
    rnn__gemm_nt(x->pool, rowwise, N, ad->HS, H, in, H, m->params + ad->head_w, H, 0.0f, head, ad->HS);
    if (ad->head_b != SIZE_MAX)
        for (int r = 0; r < N; r++) rnn__k_add(head + (size_t)r * ad->HS, m->params + ad->head_b, (size_t)ad->HS);
}

/* ---- thin clusters -------------------------------------------------------------------------------- */
static int thin(const rnn__adaptive *ad, int i) { return ad->proj[i] <= RNN__THIN_PROJ; }

typedef struct thin_job {
    rnn__buffers *buf;
    const float *w1, *P;   /* cluster weights (size, p); the block's projections (rows, p) */
    float *z, *stash, *g1; /* the block's logits (rows, size); dW1^T (p, size); W1's gradient */
    const int32_t *y;      /* the block's targets within the cluster (loss only) */
    const float *fac;      /* the block's gradient factors */
    float inv;
    int kind, size, p, rows;
} thin_job;

enum { T_TRANSPOSE, T_LOGITS, T_GRAD, T_STASH_ADD };

static void thin_part(void *arg, int part, int parts)
{
    const thin_job *j = arg;
    rnn__buffers *buf = j->buf;
    int size = j->size, p = j->p, tile = RNN__THIN_TILE;
    size_t a, b;
    rnn__split((size_t)size, part, parts, (size_t)tile, &a, &b);
    switch (j->kind) {
    case T_TRANSPOSE: /* awt (p, size) = w1^T, words [a, b) */
        for (size_t w = a; w < b; w++)
            for (int k = 0; k < p; k++) buf->awt[(size_t)k * size + w] = j->w1[w * p + k];
        break;
    case T_STASH_ADD: /* w1's gradient (size, p) += stash^T, words [a, b) */
        for (size_t w = a; w < b; w++)
            for (int k = 0; k < p; k++) j->g1[w * p + k] += j->stash[(size_t)k * size + w];
        break;
    case T_LOGITS: /* z = P awt, tile by tile so that a tile of awt serves every row from the cache */
        for (size_t t = a; t < b; t += (size_t)tile) {
            int n = b - t < (size_t)tile ? (int)(b - t) : tile;
            rnn__k_proj(j->z + t, (size_t)size, j->P, (size_t)p, j->rows, buf->awt + t, (size_t)size, n, p);
        }
        break;
    case T_GRAD: /* z (holding exp(z - max)) becomes dZ; the tile's partial dP sums, and dW1^T += dZ^T P */
        for (size_t t = a; t < b; t += (size_t)tile) {
            int n = b - t < (size_t)tile ? (int)(b - t) : tile;
            size_t ti = t / (size_t)tile;
            for (int r = 0; r < j->rows; r++) {
                float *dz = j->z + (size_t)r * size + t;
                rnn__k_scale(dz, j->fac[r], (size_t)n); /* as gather_row: exp * (inv / s), then - inv */
                if ((size_t)j->y[r] >= t && (size_t)j->y[r] < t + (size_t)n) dz[j->y[r] - t] -= j->inv;
                for (int k = 0; k < p; k++)
                    buf->apart[(ti * j->rows + r) * p + k] = rnn__k_dot(dz, buf->awt + (size_t)k * size + t, (size_t)n);
            }
            for (int k = 0; k < p; k++)
                for (int r = 0; r < j->rows; r++)
                    rnn__k_axpy(j->stash + (size_t)k * size + t, j->P[(size_t)r * p + k], j->z + (size_t)r * size + t,
                                (size_t)n);
        }
        break;
    }
}

static void thin_run(rnn__ctx *x, thin_job *j, int kind)
{
    j->kind = kind;
    rnn__pool_run(j->size > RNN__THIN_TILE ? x->pool : NULL, thin_part, j);
}

/* buf->awt = cluster i's weights transposed */
static void thin_transpose(const rnn_model *m, rnn__ctx *x, int i)
{
    const rnn__adaptive *ad = &m->ad;
    thin_job j = {.buf = &x->buf, .w1 = m->params + ad->w1[i], .size = ad->lo[i + 1] - ad->lo[i],
                  .p = ad->proj[i]};
    thin_run(x, &j, T_TRANSPOSE);
}

/* Z (rows, size) = P (rows, p) W1^T for thin cluster i, after thin_transpose(i) */
static void thin_logits(const rnn_model *m, rnn__ctx *x, int i, const float *P, int rows, float *Z)
{
    const rnn__adaptive *ad = &m->ad;
    thin_job j = {.buf = &x->buf, .P = P, .z = Z, .rows = rows, .size = ad->lo[i + 1] - ad->lo[i],
                  .p = ad->proj[i]};
    thin_run(x, &j, T_LOGITS);
}

/* The loss rows of a block of thin cluster i: for packed rows q in [0, rows) (row arow[q0 + q]),
 * gather_row's operations on z_q: row_nll, and the gradient factor in afac[q0 + q]; apick[q0 + q]
 * takes the target within the cluster */
typedef struct thin_nll_job {
    const rnn__adaptive *ad;
    rnn__buffers *buf;
    const int32_t *tgt;
    float *z;
    size_t q0;
    int i, rows, size, want_grad;
    float inv;
} thin_nll_job;

static void thin_nll_part(void *arg, int part, int parts)
{
    const thin_nll_job *j = arg;
    rnn__buffers *buf = j->buf;
    size_t a, b;
    rnn__split((size_t)j->rows, part, parts, 1, &a, &b);
    for (size_t q = a; q < b; q++) {
        int r = buf->arow[j->q0 + q], y = j->tgt[r] - j->ad->lo[j->i];
        float *z = j->z + q * (size_t)j->size, mx = row_max(z, j->size), vy = z[y];
        double s = rnn__k_exp_sum(z, mx, j->size, j->want_grad);
        buf->row_nll[r] = (vy - mx) - (float)log(s);
        buf->afac[j->q0 + q] = (float)(j->inv / s);
        buf->apick[j->q0 + q] = y;
    }
}

/* The loss of thin cluster i over its cnt packed rows from q0 (projections P, (cnt, p)), a block of
 * rows at a time in z; when training, P becomes dP and stash (p, size) dW1^T */
static void thin_loss(const rnn_model *m, rnn__ctx *x, int i, const int32_t *tgt, size_t q0, int cnt, float *P,
                      float *z, float *stash, int want_grad, float inv)
{
    const rnn__adaptive *ad = &m->ad;
    rnn__buffers *buf = &x->buf;
    int p = ad->proj[i], size = ad->lo[i + 1] - ad->lo[i], tiles = rnn__thin_tiles(size), R = rnn__thin_rows(size);
    thin_transpose(m, x, i);
    if (want_grad) memset(stash, 0, (size_t)p * size * sizeof(float));
    for (int b0 = 0; b0 < cnt; b0 += R) {
        int nb = cnt - b0 < R ? cnt - b0 : R;
        float *Pb = P + (size_t)b0 * p;
        thin_logits(m, x, i, Pb, nb, z);
        thin_nll_job n = {.ad = ad, .buf = buf, .tgt = tgt, .z = z, .q0 = q0 + b0, .i = i, .rows = nb, .size = size,
                          .want_grad = want_grad, .inv = inv};
        rnn__pool_run(nb > 1 ? x->pool : NULL, thin_nll_part, &n);
        if (!want_grad) continue;
        thin_job j = {.buf = buf, .P = Pb, .z = z, .stash = stash, .y = buf->apick + q0 + b0,
                      .fac = buf->afac + q0 + b0, .inv = inv, .size = size, .p = p, .rows = nb};
        thin_run(x, &j, T_GRAD);
        for (int q = 0; q < nb; q++) /* dP: the tiles' partial sums in order */
            for (int k = 0; k < p; k++) {
                double d = 0;
                for (int t = 0; t < tiles; t++) d += buf->apart[((size_t)t * nb + q) * p + k];
                Pb[(size_t)q * p + k] = (float)d;
            }
    }
}

/* Z (rows, size) = P (rows, p) W1^T for cluster i (P, Z: the context's buffers), by the BLAS or, for
 * a thin cluster, by rnn__k_proj */
static void cluster_logits(const rnn_model *m, rnn__ctx *x, int rowwise, int i, const float *P, int rows, float *Z)
{
    const rnn__adaptive *ad = &m->ad;
    int p = ad->proj[i], size = ad->lo[i + 1] - ad->lo[i];
    if (thin(ad, i)) {
        thin_transpose(m, x, i);
        thin_logits(m, x, i, P, rows, Z);
    } else
        rnn__gemm_nt(x->pool, rowwise, rows, size, p, P, p, m->params + ad->w1[i], p, 0.0f, Z, size);
}

/* ---- the row passes on the context's threads ------------------------------------------------------ */
/* Every pass below works on whole rows, each row's results depending on that row alone (a column
 * sum keeps its rows in order), so any split over the threads gives the same bits; the parts are
 * rnn__split's contiguous ranges. */
typedef struct rows_job {
    const rnn_model *m;
    rnn__buffers *buf;
    const float *in;
    const int32_t *tgt;
    float *out, *dx;
    int kind, n, rows, cluster, B, T, want_grad; /* n: the rows (HEAD_BIAS: columns) split; rows:
                                                     HEAD_BIAS's rows */
    size_t start, zoff; /* the cluster's first packed row and its outputs' offset */
    float inv;
} rows_job;

enum { GATHER, CLUSTER_NLL, HEAD_NLL, SCATTER, HEAD_BIAS, LP_HEAD, LP_CLUSTER };

#define COLS 256 /* the head bias's columns summed at a time, in double */

static void rows_range(const rows_job *j, size_t a, size_t b)
{
    const rnn__adaptive *ad = &j->m->ad;
    rnn__buffers *buf = j->buf;
    int H = j->m->cfg.hidden_size, HS = ad->HS, i = j->cluster;
    int size = i >= 0 ? ad->lo[i + 1] - ad->lo[i] : 0;
    const int32_t *rows = buf->arow + j->start;
    switch (j->kind) {
    case GATHER: /* cluster rows' inputs packed */
        for (size_t q = a; q < b; q++)
            memcpy(buf->ax + (j->start + q) * H, j->in + (size_t)rows[q] * H, (size_t)H * sizeof(float));
        break;
    case CLUSTER_NLL: /* the clusters' log-probabilities of their targets, into row_nll */
        for (size_t q = a; q < b; q++) {
            int r = rows[q];
            float *z = buf->az + j->zoff + q * (size_t)size;
            buf->row_nll[r] = gather_row(z, size, j->tgt[r] - ad->lo[i], j->want_grad, j->inv);
        }
        break;
    case HEAD_NLL: /* output += head_logprob[gather index]; the NLL is -output */
        for (size_t r = a; r < b; r++) {
            float *v = buf->ahead + r * HS;
            int32_t y = j->tgt[r];
            if (y == RNN_IGNORE) {
                if (j->want_grad) memset(v, 0, (size_t)HS * sizeof(float));
                continue;
            }
            int c = cluster_of(ad, y);
            int g = c < 0 ? y : ad->lo[0] + c;
            float out = (float)buf->row_nll[r] + gather_row(v, HS, g, j->want_grad, j->inv);
            buf->row_nll[r] = -(double)out;
        }
        break;
    case SCATTER: /* a cluster's dX added into the rows it came from (each row once per cluster) */
        for (size_t q = a; q < b; q++)
            rnn__k_add(j->dx + (size_t)rows[q] * H, buf->ax + (j->start + q) * H, (size_t)H);
        break;
    case HEAD_BIAS: /* columns [a, b) of the head bias: each column's rows in order, in double */
        for (size_t k0 = a; k0 < b; k0 += COLS) {
            double acc[COLS] = {0};
            size_t w = b - k0 < COLS ? b - k0 : COLS;
            for (int r = 0; r < j->rows; r++) {
                const float *d = buf->ahead + (size_t)r * HS + k0;
                for (size_t k = 0; k < w; k++) acc[k] += d[k];
            }
            float *db = j->out + k0;
            for (size_t k = 0; k < w; k++) db[k] += (float)acc[k];
        }
        break;
    case LP_HEAD:
    case LP_CLUSTER: /* log_prob(): row r into out + ((r % B) * T + r / B) * V */
        for (size_t r = a; r < b; r++) {
            int V = j->m->cfg.vocab_size;
            float *dst = j->out + ((r % (size_t)j->B) * (size_t)j->T + r / (size_t)j->B) * (size_t)V;
            float *v = j->kind == LP_HEAD ? buf->ahead + r * HS : buf->az + r * (size_t)size;
            if (j->kind == LP_HEAD) {
                log_softmax_row(v, HS, 0, 0.0f);
                memcpy(dst, v, (size_t)ad->lo[0] * sizeof(float));
            } else {
                log_softmax_row(v, size, 1, buf->ahead[r * HS + ad->lo[0] + i]);
                memcpy(dst + ad->lo[i], v, (size_t)size * sizeof(float));
            }
        }
        break;
    }
}

static void rows_part(void *arg, int part, int parts)
{
    const rows_job *j = arg;
    size_t a, b;
    rnn__split((size_t)j->n, part, parts, j->kind == HEAD_BIAS ? 16 : 1, &a, &b);
    if (a < b) rows_range(j, a, b);
}

/* runs pass j->kind over its n rows (columns for HEAD_BIAS) on x's threads */
static void run_rows(rnn__ctx *x, rows_job *j, int kind, int n)
{
    j->kind = kind, j->n = n;
    rnn__pool_run(n > 1 ? x->pool : NULL, rows_part, j);
}

double rnn__ad_loss(const rnn_model *m, rnn__ctx *x, int rowwise, const float *in, const int32_t *tgt, int N,
                    int want_grad, double denom)
{
    const rnn__adaptive *ad = &m->ad;
    rnn__buffers *buf = &x->buf;
    int H = m->cfg.hidden_size, HS = ad->HS;
    double nll = 0;
    float inv = denom > 0 ? (float)(1.0 / denom) : 0.0f;
    for (int r = 0; r < N; r++) buf->row_nll[r] = 0.0;
    for (int i = 0; i < ad->nc; i++) buf->acnt[i] = 0;
    if (!tgt) return 0.0;
    /* the rows of each cluster, cluster after cluster, each in row order */
    int n = 0;
    for (int i = 0; i < ad->nc; i++)
        for (int r = 0; r < N; r++)
            if (tgt[r] != RNN_IGNORE && tgt[r] >= ad->lo[0] && cluster_of(ad, tgt[r]) == i) {
                buf->arow[n++] = r;
                buf->acnt[i]++;
            }
    /* the clusters' log-probabilities of their targets, into row_nll (as the module's `output`) */
    rows_job j = {.m = m, .buf = buf, .in = in, .tgt = tgt, .want_grad = want_grad, .inv = inv};
    size_t start = 0, poff = 0, zoff = 0, soff = 0;
    for (int i = 0; i < ad->nc; i++) {
        int cnt = buf->acnt[i], p = ad->proj[i], size = ad->lo[i + 1] - ad->lo[i];
        float *stash = thin(ad, i) && want_grad ? buf->astash + soff : NULL; /* (a place even without rows) */
        if (stash) soff += (size_t)p * size;
        if (!cnt) continue;
        float *X = buf->ax + start * H, *P = buf->ap + poff, *Z = buf->az + zoff;
        j.cluster = i, j.start = start, j.zoff = zoff;
        run_rows(x, &j, GATHER, cnt);
        rnn__gemm_nt(x->pool, rowwise, cnt, p, H, X, H, m->params + ad->w0[i], H, 0.0f, P, p);
        if (thin(ad, i)) {
            thin_loss(m, x, i, tgt, start, cnt, P, Z, stash, want_grad, inv);
        } else {
            rnn__gemm_nt(x->pool, rowwise, cnt, size, p, P, p, m->params + ad->w1[i], p, 0.0f, Z, size);
            run_rows(x, &j, CLUSTER_NLL, cnt);
            zoff += (size_t)cnt * size;
        }
        start += (size_t)cnt, poff += (size_t)cnt * p;
    }
    /* the head for every row */
    head_rows(m, x, rowwise, in, N, buf->ahead);
    j.cluster = -1;
    run_rows(x, &j, HEAD_NLL, N);
    for (int r = 0; r < N; r++) nll += buf->row_nll[r]; /* row order (0 for an ignored row) */
    (void)HS;
    return nll;
}

void rnn__ad_backward(rnn_model *m, rnn__ctx *x, const float *in, int N, float *dx)
{
    const rnn__adaptive *ad = &m->ad;
    rnn__buffers *buf = &x->buf;
    int H = m->cfg.hidden_size, HS = ad->HS;
    const float *dhead = buf->ahead;
    /* the head: dW (HS,H) += dhead^T in; db += its column sums (each in row order, in double);
     * dx = dhead W */
    rnn__gemm(x->pool, 1, 0, HS, H, N, 1.0f, dhead, HS, in, H, 1.0f, m->grads + ad->head_w, H);
    rows_job j = {.m = m, .buf = buf, .in = in, .dx = dx, .cluster = -1};
    if (ad->head_b != SIZE_MAX) {
        j.out = m->grads + ad->head_b, j.rows = N;
        run_rows(x, &j, HEAD_BIAS, HS); /* over the columns */
    }
    rnn__gemm(x->pool, 0, 0, N, H, HS, 1.0f, dhead, HS, m->params + ad->head_w, H, 0.0f, dx, H);
    /* each cluster over its rows: dW1 += dZ^T P, then dP = dZ W1 (over P), dW0 += dP^T X, then
     * dX = dP W0 (over X), added into the rows it came from */
    size_t start = 0, poff = 0, zoff = 0, soff = 0;
    for (int i = 0; i < ad->nc; i++) {
        int cnt = buf->acnt[i], p = ad->proj[i], size = ad->lo[i + 1] - ad->lo[i];
        if (thin(ad, i)) { /* the forward left dW1^T in the stash (zero without rows) and dP in P */
            if (cnt) {
                thin_job t = {.buf = buf, .stash = buf->astash + soff, .g1 = m->grads + ad->w1[i],
                              .size = size, .p = p};
                thin_run(x, &t, T_STASH_ADD);
            }
            soff += (size_t)p * size;
        }
        if (!cnt) continue;
        float *X = buf->ax + start * H, *P = buf->ap + poff, *dZ = buf->az + zoff;
        if (!thin(ad, i)) {
            rnn__gemm(x->pool, 1, 0, size, p, cnt, 1.0f, dZ, size, P, p, 1.0f, m->grads + ad->w1[i], p);
            rnn__gemm(x->pool, 0, 0, cnt, p, size, 1.0f, dZ, size, m->params + ad->w1[i], p, 0.0f, P, p);
            zoff += (size_t)cnt * size;
        }
        rnn__gemm(x->pool, 1, 0, p, H, cnt, 1.0f, P, p, X, H, 1.0f, m->grads + ad->w0[i], H);
        rnn__gemm(x->pool, 0, 0, cnt, H, p, 1.0f, P, p, m->params + ad->w0[i], H, 0.0f, X, H);
        j.cluster = i, j.start = start;
        run_rows(x, &j, SCATTER, cnt);
        start += (size_t)cnt, poff += (size_t)cnt * p;
    }
}

void rnn__ad_logprobs(const rnn_model *m, rnn__ctx *x, int rowwise, const float *in, int B, int T, float *out)
{
    const rnn__adaptive *ad = &m->ad;
    rnn__buffers *buf = &x->buf;
    int H = m->cfg.hidden_size, N = B * T;
    rows_job j = {.m = m, .buf = buf, .in = in, .out = out, .B = B, .T = T, .cluster = -1};
    head_rows(m, x, rowwise, in, N, buf->ahead);
    run_rows(x, &j, LP_HEAD, N);
    for (int i = 0; i < ad->nc; i++) {
        int p = ad->proj[i];
        rnn__gemm_nt(x->pool, rowwise, N, p, H, in, H, m->params + ad->w0[i], H, 0.0f, buf->ap, p);
        cluster_logits(m, x, rowwise, i, buf->ap, N, buf->az);
        j.cluster = i;
        run_rows(x, &j, LP_CLUSTER, N);
    }
}

/* ---- sampling ------------------------------------------------------------------------------------ */
/* 0 when v[0..n) can be normalised; otherwise 1 with *id the first NaN or +inf entry (-1 when every
 * entry is -inf) */
static int row_bad(const float *v, int n, int *id)
{
    int bad = 0, some = 0;
    for (int k = 0; k < n; k++) {
        bad |= (v[k] != v[k]) | (v[k] == INFINITY);
        some |= v[k] > -INFINITY;
    }
    *id = -1;
    for (int k = 0; bad && k < n; k++)
        if (v[k] != v[k] || v[k] == INFINITY) {
            *id = k;
            break;
        }
    return bad || !some;
}

/* RNN_ERR_NUMERIC for stream r: head entry (cluster < 0) or cluster word `id` of v is not finite */
static int fail_row(const rnn__adaptive *ad, rnn__ctx *x, int r, int cluster, const float *v, int id)
{
    if (id < 0 && cluster < 0) return rnn__failf(x->err, RNN_ERR_NUMERIC, "stream %d: every logit is -inf", r);
    if (id < 0)
        return rnn__failf(x->err, RNN_ERR_NUMERIC, "stream %d: every logit of tokens [%d, %d) is -inf", r,
                          ad->lo[cluster], ad->lo[cluster + 1]);
    if (cluster < 0) /* a cluster's entry of the head stands for the cluster's first word */
        return rnn__failf(x->err, RNN_ERR_NUMERIC, "stream %d: the logit of token %d is %g", r,
                          id < ad->lo[0] ? id : ad->lo[id - ad->lo[0]], (double)v[id]);
    return rnn__failf(x->err, RNN_ERR_NUMERIC, "stream %d: the logit of token %d is %g", r, ad->lo[cluster] + id,
                      (double)v[id]);
}

/* cluster i's outputs (n, size) in buf->az for the n rows buf->arow[0..n) of `in` (through buf->ax
 * and buf->ap) */
static float *cluster_rows(const rnn_model *m, rnn__ctx *x, const float *in, int i, int n)
{
    const rnn__adaptive *ad = &m->ad;
    rnn__buffers *buf = &x->buf;
    int H = m->cfg.hidden_size, p = ad->proj[i];
    for (int j = 0; j < n; j++)
        memcpy(buf->ax + (size_t)j * H, in + (size_t)buf->arow[j] * H, (size_t)H * sizeof(float));
    rnn__gemm_nt(x->pool, x->per_stream, n, p, H, buf->ax, H, m->params + ad->w0[i], H, 0.0f, buf->ap, p);
    cluster_logits(m, x, x->per_stream, i, buf->ap, n, buf->az);
    return buf->az;
}

/* The rows whose apick is `pick` (with bar: whose head entry `pick` beats the row's best so far,
 * row_nll) into arow; returns their number */
static int rows_of(const rnn__buffers *buf, int N, int pick, const rnn__adaptive *ad, int bar)
{
    int n = 0;
    for (int r = 0; r < N; r++) {
        if (bar ? buf->ahead[(size_t)r * ad->HS + pick] > (float)buf->row_nll[r] : buf->apick[r] == pick)
            buf->arow[n++] = r;
    }
    return n;
}

/*
 * The two-level draw: log_prob()[k] is the head's log-probability of k's entry (k itself, or k's
 * cluster) plus, for a cluster word, its log-probability within the cluster, so drawing the entry
 * from the head's softmax and then the word from the cluster's softmax draws k with probability
 * exp(log_prob()[k]). One uniform per row, as the full draw: the head's inversion, and where it fell
 * within the drawn cluster's share (again uniform) for the cluster's inversion, so that both draws
 * map the generator to the same token but for rounding (the ids run head words, then cluster
 * after cluster, as the head's entries do). Each row's uniform comes from a copy of its generator,
 * committed only when every row has drawn.
 */
int rnn__ad_draw(const rnn_model *m, rnn__ctx *x, const float *in, int N, int32_t *next)
{
    const rnn__adaptive *ad = &m->ad;
    rnn__buffers *buf = &x->buf;
    int HS = ad->HS;
    rnn__rng shared = x->rng;
    head_rows(m, x, x->per_stream, in, N, buf->ahead);
    for (int r = 0, id; r < N; r++) {
        float *v = buf->ahead + (size_t)r * HS;
        if (row_bad(v, HS, &id)) return fail_row(ad, x, r, -1, v, id);
        rnn__k_exp_sum(v, row_max(v, HS), HS, 1);
        rnn__rng own, *g = &shared;
        if (x->per_stream) own = x->row_rng[r], g = &own;
        double frac;
        int j = rnn__draw_u(v, HS, rnn__rng_double(g), &frac);
        buf->apick[r] = j < ad->lo[0] ? j : -1 - (j - ad->lo[0]); /* a word, or -1 - its cluster */
        buf->row_nll[r] = frac;
    }
    for (int i = 0; i < ad->nc; i++) {
        int n = rows_of(buf, N, -1 - i, ad, 0), size = ad->lo[i + 1] - ad->lo[i], id;
        if (!n) continue;
        float *z = cluster_rows(m, x, in, i, n);
        for (int j = 0; j < n; j++, z += size) {
            int r = buf->arow[j];
            if (row_bad(z, size, &id)) return fail_row(ad, x, r, i, z, id);
            rnn__k_exp_sum(z, row_max(z, size), size, 1);
            buf->apick[r] = ad->lo[i] + rnn__draw_u(z, size, buf->row_nll[r], NULL);
        }
    }
    if (x->per_stream)
        for (int r = 0; r < N; r++) rnn__rng_double(&x->row_rng[r]);
    else
        x->rng = shared;
    memcpy(next, buf->apick, (size_t)N * sizeof(int32_t));
    return RNN_OK;
}

/*
 * Greedy: log_prob()'s first maximum. A cluster word's log-probability is its cluster's entry in the
 * head plus a log-probability <= 0, rounded, so never above the entry: a cluster whose entry is not
 * above the best word found so far (ids lower than the cluster's) cannot hold the first maximum and
 * is skipped. The words computed are log_prob()'s to the bit (the same operations as
 * rnn__ad_logprobs).
 */
int rnn__ad_greedy(const rnn_model *m, rnn__ctx *x, const float *in, int N, int32_t *next)
{
    const rnn__adaptive *ad = &m->ad;
    rnn__buffers *buf = &x->buf;
    int HS = ad->HS, lo0 = ad->lo[0];
    head_rows(m, x, x->per_stream, in, N, buf->ahead);
    for (int r = 0, id; r < N; r++) {
        float *v = buf->ahead + (size_t)r * HS;
        if (row_bad(v, HS, &id)) return fail_row(ad, x, r, -1, v, id);
        log_softmax_row(v, HS, 0, 0.0f);
        int arg = 0;
        for (int k = 1; k < lo0; k++) arg = v[k] > v[arg] ? k : arg;
        buf->apick[r] = arg;
        buf->row_nll[r] = v[arg]; /* the best so far, exactly (a float) */
    }
    for (int i = 0; i < ad->nc; i++) {
        int n = rows_of(buf, N, lo0 + i, ad, 1), size = ad->lo[i + 1] - ad->lo[i], id;
        if (!n) continue;
        float *z = cluster_rows(m, x, in, i, n);
        for (int j = 0; j < n; j++, z += size) {
            int r = buf->arow[j];
            if (row_bad(z, size, &id)) return fail_row(ad, x, r, i, z, id);
            log_softmax_row(z, size, 1, buf->ahead[(size_t)r * HS + lo0 + i]);
            int arg = 0;
            for (int k = 1; k < size; k++) arg = z[k] > z[arg] ? k : arg;
            if (z[arg] > (float)buf->row_nll[r]) buf->apick[r] = ad->lo[i] + arg, buf->row_nll[r] = z[arg];
        }
    }
    memcpy(next, buf->apick, (size_t)N * sizeof(int32_t));
    return RNN_OK;
}
