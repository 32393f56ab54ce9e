/*
 * output.c -- the fused output layer: logits = x W_dec^T + b_dec, log_softmax, NLL, and the NLL's
 * gradient with respect to the logits, all in one (rows, V) buffer: the logits are overwritten by
 * their gradient, so no second V-wide buffer per token exists.
 */
#include "internal.h"
#include "kernels.h"

#include <math.h>
#include <string.h>

/* logits (N,V) = x (N,H) * W_dec^T (H,V), without the bias (added in the row passes) */
static void decoder_gemm(const rnn_model *m, int rowwise, const float *x, int N, float *logits)
{
    int H = m->cfg.hidden_size, V = m->cfg.vocab_size;
    rnn_gemm_nt(rowwise, N, V, H, x, H, m->params + m->dec_w, H, 0.0f, logits, V);
}

double rnn__output_forward(const rnn_model *m, int rowwise, const float *x, const int32_t *tgt, int B, int T,
                           float *logits, float *dbias, int want_grad, double *count, float *logprobs,
                           double *row_nll)
{
    int V = m->cfg.vocab_size, N = B * T;
    const float *bias = m->params + m->dec_b;
    decoder_gemm(m, rowwise, x, N, logits);
    double kept = 0, nll = 0;
    if (tgt)
        for (int r = 0; r < N; r++) kept += tgt[r] != RNN_IGNORE;
    float inv = kept > 0 ? (float)(1.0 / kept) : 0.0f;
    if (want_grad) memset(dbias, 0, (size_t)V * sizeof(float));
    for (int r = 0; r < N; r++) {
        float *row = logits + (size_t)r * V;
        /* v = logits + bias is never stored: two reading passes (max, then exp and sum) */
        float mx = rnn_k_bias_max(row, bias, V);
        int y = tgt ? tgt[r] : RNN_IGNORE;
        float vy = y != RNN_IGNORE ? row[y] + bias[y] : 0.0f;
        /* with a gradient to form, keep exp(v - max) in the row: the gradient is a rescaling */
        double s = rnn_k_exp_sum_bias(row, bias, mx, V, want_grad);
        float lse = mx + (float)log(s);
        double rn = y != RNN_IGNORE ? (double)lse - (double)vy : 0.0;
        nll += rn;
        if (row_nll) row_nll[r] = rn;
        if (logprobs) { /* user layout [b][t][V]; row r is (t = r / B, b = r % B) */
            float *dst = logprobs + ((size_t)(r % B) * T + (size_t)(r / B)) * V;
            rnn_k_bias_sub(dst, row, bias, lse, V); /* (never together with want_grad) */
        }
        if (want_grad) {
            if (y == RNN_IGNORE) {
                memset(row, 0, (size_t)V * sizeof(float));
                continue;
            }
            /* d(mean NLL)/d(logit_k) = (softmax_k - [k == y]) / kept, softmax_k = e_k / s */
            rnn_k_scale(row, (float)(inv / s), (size_t)V);
            row[y] -= inv;
            rnn_k_add(dbias, row, (size_t)V); /* the row is still in cache: no later pass over it */
        }
    }
    if (count) *count = kept;
    return nll;
}

void rnn__output_backward(rnn_model *m, const float *x, const float *dlogits, const float *dbias, int N, float *dx)
{
    int H = m->cfg.hidden_size, V = m->cfg.vocab_size;
    float *db = m->grads + m->dec_b;
    /* dW_dec (V,H) += dlogits^T (V,N) * x (N,H) */
    rnn_gemm(1, 0, V, H, N, 1.0f, dlogits, V, x, H, 1.0f, m->grads + m->dec_w, H);
    rnn_k_add(db, dbias, (size_t)V);
    /* dx (N,H) = dlogits (N,V) * W_dec (V,H) */
    rnn_gemm(0, 0, N, H, V, 1.0f, dlogits, V, m->params + m->dec_w, H, 0.0f, dx, H);
}

/* ---- sampling ------------------------------------------------------------------------------------ */
/* a ranks before b: a larger weight, then the lower id (a total order: results never depend on
 * how the candidates were visited) */
static int better(const float *w, int32_t a, int32_t b) { return w[a] > w[b] || (w[a] == w[b] && a < b); }

/* sift down in a heap whose root is the worst kept candidate */
static void sift(const float *w, int32_t *h, int n, int i)
{
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && better(w, h[c], h[c + 1])) c++; /* the worse child */
        if (!better(w, h[i], h[c])) return;
        int32_t t = h[i];
        h[i] = h[c], h[c] = t;
        i = c;
    }
}

/* The k best of V candidates into out[0..k), best first: O(V log k). */
static void select_top(const float *w, int V, int k, int32_t *out)
{
    int n = 0;
    for (int32_t id = 0; id < V; id++) {
        if (n < k) {
            int i = n++;
            out[i] = id;
            while (i > 0) { /* sift up: a parent must not be better than its child */
                int p = (i - 1) / 2;
                if (!better(w, out[p], out[i])) break;
                int32_t t = out[p];
                out[p] = out[i], out[i] = t;
                i = p;
            }
        } else if (better(w, id, out[0])) {
            out[0] = id;
            sift(w, out, n, 0);
        }
    }
    for (int end = n - 1; end > 0; end--) { /* heap sort: the worst goes last */
        int32_t t = out[0];
        out[0] = out[end], out[end] = t;
        sift(w, out, end, 0);
    }
}

/* Draws from weights w (unnormalised) restricted by top-k and top-p; order is V ids of scratch. */
static int32_t draw_row(float *w, int V, const rnn_sampler *s, int32_t *order, rnn_rng *rng)
{
    int filtered = (s->top_k > 0 && s->top_k < V) || s->top_p < 1.0f;
    if (!filtered) {
        double total = 0;
        for (int k = 0; k < V; k++) total += w[k];
        double u = rnn_rng_double(rng) * total, acc = 0;
        int32_t last = 0;
        for (int k = 0; k < V; k++) {
            if (w[k] <= 0.0f) continue;
            acc += w[k], last = k;
            if (u < acc) return k;
        }
        return last;
    }
    /* candidates best first: the top k, or for top-p alone a growing top set until it holds the
     * nucleus (cheap when the distribution is peaked, all of V at worst) */
    int n = s->top_k > 0 && s->top_k < V ? s->top_k : V;
    double total = 0;
    if (n < V) {
        select_top(w, V, n, order);
        for (int i = 0; i < n; i++) total += w[order[i]];
    } else {
        for (int k = 0; k < V; k++) total += w[k];
    }
    int keep = n;
    if (s->top_p < 1.0f) {
        double need = (double)s->top_p * total;
        int have = n < V ? n : 0, want = n < V ? n : (V < 64 ? V : 64);
        for (;;) {
            if (want > have) select_top(w, V, want, order), have = want;
            double acc = 0;
            int i = 0;
            while (i < have && acc < need) acc += w[order[i++]];
            if (acc >= need || have == n) {
                keep = i > 0 ? i : 1;
                break;
            }
            want = have > n / 2 ? n : 2 * have;
        }
    }
    double sum = 0;
    for (int i = 0; i < keep; i++) sum += w[order[i]];
    double u = rnn_rng_double(rng) * sum, acc = 0;
    for (int i = 0; i < keep; i++) {
        acc += w[order[i]];
        if (u < acc) return order[i];
    }
    return order[0];
}

void rnn__output_sample(const rnn_model *m, rnn_ctx *ctx, const float *x, int N, float *logits,
                        const rnn_sampler *s, int32_t *next)
{
    int V = m->cfg.vocab_size;
    const float *bias = m->params + m->dec_b;
    decoder_gemm(m, ctx->per_stream, x, N, logits);
    for (int r = 0; r < N; r++) {
        float *row = logits + (size_t)r * V;
        float mx = rnn_k_add_bias_max(row, bias, V);
        int arg = 0;
        while (arg < V - 1 && !(row[arg] == mx)) arg++; /* the first maximum: lowest id on ties */
        float inv_t = s->temperature > 0.0f ? 1.0f / s->temperature : INFINITY;
        if (isinf(inv_t) || !(mx > -INFINITY)) { /* greedy: temperature 0 (or below 1/FLT_MAX) */
            next[r] = arg;
            continue;
        }
        /* weights = exp(log_softmax / temperature) up to a constant: the seed's multinomial draw */
        rnn_k_sub(row, row, mx, V);
        rnn_k_scale(row, inv_t, (size_t)V);
        rnn_k_exp_sum(row, 0.0f, V, 1);
        next[r] = draw_row(row, V, s, ctx->buf.order, ctx->per_stream ? &ctx->row_rng[r] : &ctx->rng);
    }
}
