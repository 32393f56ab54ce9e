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

static float row_max(const float *v, int n)
{
    float mx = v[0];
    for (int k = 1; k < n; k++) mx = v[k] > mx ? v[k] : mx;
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

double rnn__ad_loss(const rnn_model *m, rnn__ctx *x, int rowwise, const float *in, const int32_t *tgt, int N,
                    int want_grad, double *count)
{
    const rnn__adaptive *ad = &m->ad;
    rnn__buffers *buf = &x->buf;
    int H = m->cfg.hidden_size, HS = ad->HS;
    double kept = 0, nll = 0;
    for (int r = 0; r < N; r++) kept += tgt && tgt[r] != RNN_IGNORE;
    if (count) *count = kept;
    float inv = kept > 0 ? (float)(1.0 / kept) : 0.0f;
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
    size_t start = 0, poff = 0, zoff = 0;
    for (int i = 0; i < ad->nc; i++) {
        int cnt = buf->acnt[i], p = ad->proj[i], size = ad->lo[i + 1] - ad->lo[i];
        if (!cnt) continue;
        float *X = buf->ax + start * H, *P = buf->ap + poff, *Z = buf->az + zoff;
        for (int j = 0; j < cnt; j++)
            memcpy(X + (size_t)j * H, in + (size_t)buf->arow[start + j] * H, (size_t)H * sizeof(float));
        rnn__gemm_nt(x->pool, rowwise, cnt, p, H, X, H, m->params + ad->w0[i], H, 0.0f, P, p);
        rnn__gemm_nt(x->pool, rowwise, cnt, size, p, P, p, m->params + ad->w1[i], p, 0.0f, Z, size);
        for (int j = 0; j < cnt; j++) {
            int r = buf->arow[start + j];
            buf->row_nll[r] = gather_row(Z + (size_t)j * size, size, tgt[r] - ad->lo[i], want_grad, inv);
        }
        start += (size_t)cnt, poff += (size_t)cnt * p, zoff += (size_t)cnt * size;
    }
    /* the head for every row: output += head_logprob[gather index]; the NLL is -output */
    head_rows(m, x, rowwise, in, N, buf->ahead);
    for (int r = 0; r < N; r++) {
        float *v = buf->ahead + (size_t)r * HS;
        if (tgt[r] == RNN_IGNORE) {
            if (want_grad) memset(v, 0, (size_t)HS * sizeof(float));
            continue;
        }
        int c = cluster_of(ad, tgt[r]);
        int g = c < 0 ? tgt[r] : ad->lo[0] + c;
        float out = (float)buf->row_nll[r] + gather_row(v, HS, g, want_grad, inv);
        buf->row_nll[r] = -(double)out;
        nll += buf->row_nll[r];
    }
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
    if (ad->head_b != SIZE_MAX) {
        float *db = m->grads + ad->head_b;
        for (int k = 0; k < HS; k++) {
            double s = 0;
            for (int r = 0; r < N; r++) s += dhead[(size_t)r * HS + k];
            db[k] += (float)s;
        }
    }
    rnn__gemm(x->pool, 0, 0, N, H, HS, 1.0f, dhead, HS, m->params + ad->head_w, H, 0.0f, dx, H);
    /* each cluster over its rows: dW1 += dZ^T P, then dP = dZ W1 (over P), dW0 += dP^T X, then
     * dX = dP W0 (over X), added into the rows it came from */
    size_t start = 0, poff = 0, zoff = 0;
    for (int i = 0; i < ad->nc; i++) {
        int cnt = buf->acnt[i], p = ad->proj[i], size = ad->lo[i + 1] - ad->lo[i];
        if (!cnt) continue;
        float *X = buf->ax + start * H, *P = buf->ap + poff, *dZ = buf->az + zoff;
        rnn__gemm(x->pool, 1, 0, size, p, cnt, 1.0f, dZ, size, P, p, 1.0f, m->grads + ad->w1[i], p);
        rnn__gemm(x->pool, 0, 0, cnt, p, size, 1.0f, dZ, size, m->params + ad->w1[i], p, 0.0f, P, p);
        rnn__gemm(x->pool, 1, 0, p, H, cnt, 1.0f, P, p, X, H, 1.0f, m->grads + ad->w0[i], H);
        rnn__gemm(x->pool, 0, 0, cnt, H, p, 1.0f, P, p, m->params + ad->w0[i], H, 0.0f, X, H);
        for (int j = 0; j < cnt; j++) rnn__k_add(dx + (size_t)buf->arow[start + j] * H, X + (size_t)j * H, (size_t)H);
        start += (size_t)cnt, poff += (size_t)cnt * p, zoff += (size_t)cnt * size;
    }
}

void rnn__ad_logprobs(const rnn_model *m, rnn__ctx *x, int rowwise, const float *in, int B, int T, float *out)
{
    const rnn__adaptive *ad = &m->ad;
    rnn__buffers *buf = &x->buf;
    int H = m->cfg.hidden_size, V = m->cfg.vocab_size, HS = ad->HS, N = B * T;
#define ROW(r) (out + ((size_t)((r) % B) * T + (size_t)((r) / B)) * V)
    head_rows(m, x, rowwise, in, N, buf->ahead);
    for (int r = 0; r < N; r++) {
        float *v = buf->ahead + (size_t)r * HS;
        log_softmax_row(v, HS, 0, 0.0f);
        memcpy(ROW(r), v, (size_t)ad->lo[0] * sizeof(float));
    }
    for (int i = 0; i < ad->nc; i++) {
        int p = ad->proj[i], size = ad->lo[i + 1] - ad->lo[i];
        rnn__gemm_nt(x->pool, rowwise, N, p, H, in, H, m->params + ad->w0[i], H, 0.0f, buf->ap, p);
        rnn__gemm_nt(x->pool, rowwise, N, size, p, buf->ap, p, m->params + ad->w1[i], p, 0.0f, buf->az, size);
        for (int r = 0; r < N; r++) {
            float *v = buf->az + (size_t)r * size;
            log_softmax_row(v, size, 1, buf->ahead[(size_t)r * HS + ad->lo[0] + i]);
            memcpy(ROW(r) + ad->lo[i], v, (size_t)size * sizeof(float));
        }
    }
#undef ROW
}
