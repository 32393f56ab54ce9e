/*
 * output.c -- the fused output layer: logits = x W_dec^T + b_dec, log_softmax, NLL, and the NLL's
 * gradient with respect to the logits, all in one (rows, V) buffer: the logits are overwritten by
 * their gradient, so no second V-wide buffer per token exists.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

/* logits (N,V) = x (N,H) * W_dec^T (H,V), without the bias (added in the row passes) */
static void decoder_gemm(const rnn_model *m, const float *x, int N, float *logits)
{
    int H = m->cfg.hidden_size, V = m->cfg.vocab_size;
    rnn_gemm(0, 1, N, V, H, 1.0f, x, H, m->params + m->dec_w, H, 0.0f, logits, V);
}

double rnn__output_forward(const rnn_model *m, const float *x, const int32_t *tgt, int B, int T,
                           float *logits, int want_grad, double *count, float *logprobs)
{
    int V = m->cfg.vocab_size, N = B * T;
    const float *bias = m->params + m->dec_b;
    decoder_gemm(m, x, N, logits);
    double kept = 0, nll = 0;
    if (tgt)
        for (int r = 0; r < N; r++) kept += tgt[r] != RNN_IGNORE;
    float inv = kept > 0 ? (float)(1.0 / kept) : 0.0f;
    for (int r = 0; r < N; r++) {
        float *row = logits + (size_t)r * V;
        float mx = -INFINITY;
        for (int k = 0; k < V; k++) {
            float v = row[k] + bias[k];
            row[k] = v;
            mx = v > mx ? v : mx;
        }
        double s = 0;
        for (int k = 0; k < V; k++) s += expf(row[k] - mx);
        float lse = mx + (float)log(s);
        int y = tgt ? tgt[r] : RNN_IGNORE;
        if (y != RNN_IGNORE) nll += (double)lse - (double)row[y];
        if (logprobs) { /* user layout [b][t][V]; row r is (t = r / B, b = r % B) */
            float *dst = logprobs + ((size_t)(r % B) * T + (size_t)(r / B)) * V;
            for (int k = 0; k < V; k++) dst[k] = row[k] - lse;
        }
        if (want_grad) {
            if (y == RNN_IGNORE) {
                memset(row, 0, (size_t)V * sizeof(float));
                continue;
            }
            /* d(mean NLL)/d(logit_k) = (softmax_k - [k == y]) / kept */
            for (int k = 0; k < V; k++) row[k] = expf(row[k] - lse) * inv;
            row[y] -= inv;
        }
    }
    if (count) *count = kept;
    return nll;
}

void rnn__output_backward(rnn_model *m, const float *x, const float *dlogits, int N, float *dx)
{
    int H = m->cfg.hidden_size, V = m->cfg.vocab_size;
    float *db = m->grads + m->dec_b;
    /* dW_dec (V,H) += dlogits^T (V,N) * x (N,H) */
    rnn_gemm(1, 0, V, H, N, 1.0f, dlogits, V, x, H, 1.0f, m->grads + m->dec_w, H);
    for (int r = 0; r < N; r++) {
        const float *row = dlogits + (size_t)r * V;
        for (int k = 0; k < V; k++) db[k] += row[k];
    }
    /* dx (N,H) = dlogits (N,V) * W_dec (V,H) */
    rnn_gemm(0, 0, N, H, V, 1.0f, dlogits, V, m->params + m->dec_w, H, 0.0f, dx, H);
}

void rnn__output_sample(rnn_model *m, const float *x, int N, float *logits, float temperature,
                        int32_t *next)
{
    int V = m->cfg.vocab_size;
    const float *bias = m->params + m->dec_b;
    decoder_gemm(m, x, N, logits);
    for (int r = 0; r < N; r++) {
        float *row = logits + (size_t)r * V;
        float mx = -INFINITY;
        int arg = 0;
        for (int k = 0; k < V; k++) {
            float v = row[k] + bias[k];
            row[k] = v;
            if (v > mx) mx = v, arg = k;
        }
        float inv_t = temperature > 0.0f ? 1.0f / temperature : INFINITY;
        if (isinf(inv_t) || !(mx > -INFINITY)) { /* greedy: temperature 0 (or below 1/FLT_MAX) */
            next[r] = arg;
            continue;
        }
        /* weights = exp(log_softmax / temperature), normalised: the seed's multinomial draw */
        double s = 0;
        for (int k = 0; k < V; k++) {
            float w = expf((row[k] - mx) * inv_t);
            row[k] = w;
            s += w;
        }
        double u = rnn_rng_double(&m->rng) * s, acc = 0;
        int pick = arg; /* a fallback that has weight 1 */
        for (int k = 0; k < V; k++) {
            acc += row[k];
            if (u < acc && row[k] > 0.0f) {
                pick = k;
                break;
            }
        }
        next[r] = pick;
    }
}
