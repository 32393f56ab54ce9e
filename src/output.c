/*
 * output.c -- the fused output layer: logits = x W_dec^T + b_dec, log_softmax, NLL, and the NLL's
 * gradient with respect to the logits, all in one (rows, V) buffer: the logits are overwritten by
 * their gradient, so no second V-wide buffer per token exists. The heads take the adaptive layer
 * (output_adaptive.c) instead when the model has one.
 */
#include "model.h"
#include "kernels.h"

#include <math.h>
#include <string.h>

/* logits (N,V) = x (N,H) * W_dec^T (H,V), without the bias (added in the row passes) */
static void decoder_gemm(const rnn_model *m, rnn__pool *pool, int rowwise, const float *x, int N, float *logits)
{
    int H = m->cfg.hidden_size, V = m->cfg.vocab_size;
    if (m->wtype) rnn__qgemm_nt(pool, N, rnn__q_dec(m), x, H, 0.0f, logits, V); /* always row-wise */
    else rnn__gemm_nt(pool, rowwise, N, V, H, x, H, m->params + m->dec_w, H, 0.0f, logits, V);
}

/* the row passes of one forward, shared by its threads */
typedef struct rows_job {
    const rnn_model *m;
    float *logits, *dbias, *logprobs;
    const int32_t *tgt;
    double *row_nll;
    int B, T, want_grad;
    float inv; /* 1 / (targets kept) */
} rows_job;

/* Row r: log-sum-exp, NLL, and (want_grad) the gradient in place, its column sums added to dbias. */
static void one_row(const rows_job *j, int r, float *dbias)
{
    int V = j->m->cfg.vocab_size, B = j->B, T = j->T;
    const float *bias = j->m->params + j->m->dec_b;
    float *row = j->logits + (size_t)r * V;
    /* v = logits + bias is never stored: two reading passes (max, then exp and sum) */
    float mx = rnn__k_bias_max(row, bias, V);
    int y = j->tgt ? j->tgt[r] : RNN_IGNORE;
    float vy = y != RNN_IGNORE ? row[y] + bias[y] : 0.0f;
    /* with a gradient to form, keep exp(v - max) in the row: the gradient is a rescaling */
    double s = rnn__k_exp_sum_bias(row, bias, mx, V, j->want_grad);
    /* NLL = (max - v_y) + log(s), in double: for huge logits max + log(s) would round to max */
    double logs = log(s);
    j->row_nll[r] = y != RNN_IGNORE ? ((double)mx - (double)vy) + logs : 0.0;
    if (j->logprobs) { /* user layout [b][t][V]; row r is (t = r / B, b = r % B) */
        float *dst = j->logprobs + ((size_t)(r % B) * T + (size_t)(r / B)) * V;
        rnn__k_log_softmax(dst, row, bias, mx, (float)logs, V); /* (never together with want_grad) */
    }
    if (j->want_grad) {
        if (y == RNN_IGNORE) {
            memset(row, 0, (size_t)V * sizeof(float));
            return;
        }
        /* d(mean NLL)/d(logit_k) = (softmax_k - [k == y]) / kept, softmax_k = e_k / s */
        rnn__k_scale(row, (float)(j->inv / s), (size_t)V);
        row[y] -= j->inv;
        rnn__k_add(dbias, row, (size_t)V); /* the row is still in cache: no later pass over it */
    }
}

/* thread `part` runs the fixed row chunks part, part + parts, ...: chunk c's rows add into chunk c's
 * dbias, so every sum is the same whatever the number of threads */
static void rows_part(void *arg, int part, int parts)
{
    const rows_job *j = arg;
    int V = j->m->cfg.vocab_size, N = j->B * j->T;
    for (int c = part; c < RNN_ROW_CHUNKS; c += parts) {
        size_t r0, r1;
        rnn__split((size_t)N, c, RNN_ROW_CHUNKS, 1, &r0, &r1);
        float *db = j->want_grad ? j->dbias + (size_t)c * V : NULL;
        if (db) memset(db, 0, (size_t)V * sizeof(float));
        for (size_t r = r0; r < r1; r++) one_row(j, (int)r, db);
    }
}

/* The decoder and log-softmax over the N = B*T time-major rows `in` in x->buf.logits, on x's pool;
 * rowwise picks the row-wise products. Every row's NLL goes to x->buf.row_nll (0 where the target
 * is RNN_IGNORE or tgt is NULL); returns their sum. want_grad: the logits become
 * d(NLL sum / denom)/d(logits) (denom, rnn__head_loss's, > 0 with want_grad) and x->buf.dbias
 * receives each row chunk's column sums.
 * logprobs (may be NULL): [b][t][V] log-probabilities. */
static double output_rows(const rnn_model *m, rnn__ctx *x, int rowwise, const float *in, const int32_t *tgt, int B,
                          int T, int want_grad, double denom, float *logprobs)
{
    int N = B * T;
    rows_job j = {m, x->buf.logits, x->buf.dbias, logprobs, tgt, x->buf.row_nll, B, T, want_grad, 0.0f};
    decoder_gemm(m, x->pool, rowwise, in, N, j.logits);
    double nll = 0;
    j.inv = denom > 0 ? (float)(1.0 / denom) : 0.0f;
    rnn__pool_run(N > 1 ? x->pool : NULL, rows_part, &j);
    for (int r = 0; r < N; r++) nll += j.row_nll[r];
    return nll;
}

double rnn__head_loss(const rnn_model *m, rnn__ctx *x, const float *in, int B, int T, int train, float *logprobs)
{
    /* the loss's denominator, decided here alone: the targets kept (the mean), or in training the
       model's rnn_set_loss_denominator when set */
    const int32_t *tgt = x->buf.tgt;
    double kept = 0, nll;
    for (int r = 0; r < B * T; r++) kept += tgt[r] != RNN_IGNORE;
    double denom = train && m->loss_denom > 0 ? m->loss_denom : kept;
    if (m->ad.nc) {
        nll = rnn__ad_loss(m, x, x->per_stream, in, tgt, B * T, train, denom);
        if (logprobs) rnn__ad_logprobs(m, x, x->per_stream, in, B, T, logprobs);
    } else {
        nll = output_rows(m, x, x->per_stream, in, tgt, B, T, train, denom, logprobs);
    }
    if (train) x->pending = 1, x->fw_batch = B, x->fw_steps = T;
    return denom > 0 ? nll / denom : 0.0;
}

void rnn__head_logprobs(const rnn_model *m, rnn__ctx *x, const float *in, int B, float *logprobs)
{
    if (m->ad.nc)
        rnn__ad_logprobs(m, x, x->per_stream, in, B, 1, logprobs);
    else
        output_rows(m, x, x->per_stream, in, NULL, B, 1, 0, 0.0, logprobs);
}

void rnn__head_score(const rnn_model *m, rnn__ctx *x, const float *top, int B, int T, int block, int carry,
                     double *row_logp)
{
    /* token t is predicted from the output before it: [h_top entering; y_0 .. y_{T-2}]; the
     * decoder runs as one CBLAS product per block of steps (row-wise would stream W_dec per row;
     * CBLAS's last bits depend on the rows of a product, so blocks always start at multiples of
     * `block` steps) */
    int H = m->cfg.hidden_size, L = m->cfg.num_layers;
    size_t BH = (size_t)B * H;
    rnn__buffers *buf = &x->buf;
    if (!carry)
        for (int b = 0; b < B; b++) row_logp[b] = 0.0;
    for (int t0 = 0; t0 < T; t0 += block) {
        int n = T - t0 < block ? T - t0 : block;
        size_t N = (size_t)B * n;
        const float *in = buf->d1; /* the outputs before steps t0 .. t0+n-1 */
        if (t0 > 0) {
            in = top + (size_t)(t0 - 1) * BH;
        } else { /* before step 0: the state entering the chunk */
            memcpy(buf->d1, buf->h0 + (size_t)(L - 1) * BH, BH * sizeof(float));
            memcpy(buf->d1 + BH, top, (N * H - BH) * sizeof(float));
        }
        if (m->ad.nc) /* row-wise: which rows a cluster's products take depends on the block */
            rnn__ad_loss(m, x, 1, in, buf->tok + (size_t)t0 * B, (int)N, 0, 0.0);
        else
            output_rows(m, x, 0, in, buf->tok + (size_t)t0 * B, B, n, 0, 0.0, NULL);
        for (int t = 0; t < n; t++)
            for (int b = 0; b < B; b++) row_logp[b] -= buf->row_nll[(size_t)t * B + b];
    }
}

/* db += the RNN_ROW_CHUNKS chunk sums, in chunk order, each thread over its share of V */
typedef struct dbias_job {
    float *db;
    const float *chunks;
    int V;
} dbias_job;

static void dbias_part(void *arg, int part, int parts)
{
    const dbias_job *j = arg;
    size_t v0, v1;
    rnn__split((size_t)j->V, part, parts, 16, &v0, &v1);
    for (int c = 0; c < RNN_ROW_CHUNKS; c++) rnn__k_add(j->db + v0, j->chunks + (size_t)c * j->V + v0, v1 - v0);
}

void rnn__output_backward(rnn_model *m, rnn__ctx *x, const float *in, int N, float *dx)
{
    if (m->ad.nc) {
        rnn__ad_backward(m, x, in, N, dx);
        return;
    }
    int H = m->cfg.hidden_size, V = m->cfg.vocab_size;
    const float *dlogits = x->buf.logits;
    /* dW_dec (V,H) += dlogits^T (V,N) * in (N,H) */
    rnn__gemm(x->pool, 1, 0, V, H, N, 1.0f, dlogits, V, in, H, 1.0f, m->grads + m->dec_w, H);
    dbias_job dj = {m->grads + m->dec_b, x->buf.dbias, V};
    rnn__pool_run(x->pool, dbias_part, &dj);
    /* dx (N,H) = dlogits (N,V) * W_dec (V,H) */
    rnn__gemm(x->pool, 0, 0, N, H, V, 1.0f, dlogits, V, m->params + m->dec_w, H, 0.0f, dx, H);
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

/* Draws k with probability w[k] / sum(w) (w >= 0, not all 0) from one uniform u01 in [0, 1) (model.h):
 * u = u01 * total, then the first k whose running sum exceeds u. The sums go by blocks of
 * DRAW_BLOCK (rnn__k_sum, vectorised): the block holding u is found from the block sums, then
 * scanned one weight at a time. */
#define DRAW_BLOCK 1024
static double block_sum(const float *w, int V, int b)
{
    return rnn__k_sum(w + b, (size_t)(V - b < DRAW_BLOCK ? V - b : DRAW_BLOCK));
}

int32_t rnn__draw_u(const float *w, int V, double u01, double *frac)
{
    double total = 0;
    for (int b = 0; b < V; b += DRAW_BLOCK) total += block_sum(w, V, b);
    double u = u01 * total, acc = 0;
    for (int b = 0; b < V; b += DRAW_BLOCK) {
        double bs = block_sum(w, V, b);
        if (acc + bs > u) { /* u falls in this block */
            double run = acc;
            for (int k = b; k < V && k < b + DRAW_BLOCK; k++) {
                double before = run;
                run += w[k];
                if (w[k] > 0.0f && u < run) {
                    if (frac) { /* where u lies within w[k], in [0, 1) (the block sums round apart) */
                        double f = (u - before) / w[k];
                        *frac = f > 0.0 ? (f < 1.0 ? f : 0x1.fffffffffffffp-1) : 0.0;
                    }
                    return k;
                }
            }
        }
        acc += bs;
    }
    /* rounding left u at the very end: the last weight > 0 */
    int k = V - 1;
    while (k > 0 && !(w[k] > 0.0f)) k--;
    if (frac) *frac = 0x1.fffffffffffffp-1;
    return k;
}

static int32_t draw_all(const float *w, int V, rnn__rng *rng) { return rnn__draw_u(w, V, rnn__rng_double(rng), NULL); }

/* Draws from weights w (unnormalised) restricted by top-k, top-p and min-p; order is V ids of
 * scratch. */
static int32_t draw_row(float *w, int V, const rnn_sampling *s, int32_t *order, rnn__rng *rng)
{
    int filtered = (s->top_k > 0 && s->top_k < V) || s->top_p < 1.0f;
    if (!filtered) {
        if (s->min_p > 0.0f) { /* min-p alone: no order needed, the weights below the bar go to 0 */
            float top = w[0];
            for (int k = 1; k < V; k++) top = w[k] > top ? w[k] : top;
            double bar = (double)s->min_p * top;
            for (int k = 0; k < V; k++)
                if ((double)w[k] < bar) w[k] = 0.0f;
        }
        return draw_all(w, V, rng);
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
    if (s->min_p > 0.0f) { /* the candidates are best first: min-p keeps a prefix, at least the best */
        double bar = (double)s->min_p * w[order[0]];
        while (keep > 1 && (double)w[order[keep - 1]] < bar) keep--;
    }
    double sum = 0;
    for (int i = 0; i < keep; i++) sum += w[order[i]];
    double u = rnn__rng_double(rng) * sum, acc = 0;
    for (int i = 0; i < keep; i++) {
        acc += w[order[i]];
        if (u < acc) return order[i];
    }
    return order[0];
}

/* 0 when row + bias (bias NULL: row) is a distribution; otherwise 1 with *id the first NaN or +inf
 * logit (-1 when every logit is -inf). One pass without branches, then a search only on failure. */
static int not_finite(const float *row, const float *bias, int V, int *id)
{
    int bad = 0, some = 0;
    for (int k = 0; k < V; k++) {
        float v = bias ? row[k] + bias[k] : row[k];
        bad |= (v != v) | (v == INFINITY);
        some |= v > -INFINITY;
    }
    *id = -1;
    for (int k = 0; bad && k < V; k++) {
        float v = bias ? row[k] + bias[k] : row[k];
        if (v != v || v == INFINITY) {
            *id = k;
            break;
        }
    }
    return bad || !some;
}

/* llama.cpp's repetition penalty on stream r's logits v (the bias added): every distinct token
 * among the last n of the stream's history once, v / penalty when v > 0, else v * penalty.
 * seen: V ints of scratch (the ids of the window are marked in it, the others not touched). */
static void penalize(const rnn__ctx *x, int r, float *v, float penalty, int n, int32_t *seen)
{
    const int32_t *ring = x->hist + (size_t)r * RNN__HIST;
    int len = x->hist_len < n ? x->hist_len : n;
    for (int i = 0, j = x->hist_pos; i < len; i++) {
        j = j == 0 ? RNN__HIST - 1 : j - 1;
        seen[ring[j]] = 0;
    }
    for (int i = 0, j = x->hist_pos; i < len; i++) {
        j = j == 0 ? RNN__HIST - 1 : j - 1;
        int32_t k = ring[j];
        if (seen[k]) continue;
        seen[k] = 1;
        v[k] = v[k] > 0.0f ? v[k] / penalty : v[k] * penalty;
    }
}

int rnn__head_sample(const rnn_model *m, rnn__ctx *ctx, const float *x, int N, const rnn_sampling *s, int32_t *next)
{
    int V = m->cfg.vocab_size;
    float *logits = ctx->buf.logits;
    /* the adaptive layer's rows are its log-probabilities (log_prob()), with no bias to add: the
     * chain then runs on them as on logits (they differ from logits by a constant per row, which
     * temperature, top-k, top-p and min-p do not see; the penalty multiplies them, all <= 0) */
    const float *bias = m->ad.nc ? NULL : m->params + m->dec_b;
    /* the penalty off (0 or 1) leaves the 1.0 chain's passes exactly as they were */
    int pen = s->repeat_penalty != 0.0f && s->repeat_penalty != 1.0f;
    if (!bias && !pen) { /* the adaptive layer's exact shortcuts: the head and the clusters needed */
        if (!(s->temperature > 0.0f) || isinf(1.0f / s->temperature)) return rnn__ad_greedy(m, ctx, x, N, next);
        if (s->temperature == 1.0f && !(s->top_k > 0 && s->top_k < V) && s->top_p >= 1.0f && s->min_p == 0.0f)
            return rnn__ad_draw(m, ctx, x, N, next);
    }
    if (bias)
        decoder_gemm(m, ctx->pool, ctx->per_stream, x, N, logits);
    else
        rnn__ad_logprobs(m, ctx, ctx->per_stream, x, N, 1, logits);
    if (pen) /* the bias is added here, and the rows are checked with the penalty applied */
        for (int r = 0; r < N; r++) {
            float *row = logits + (size_t)r * V;
            if (bias) rnn__k_add_bias_max(row, bias, V);
            penalize(ctx, r, row, s->repeat_penalty, s->repeat_last_n ? s->repeat_last_n : 64, ctx->buf.order);
        }
    for (int r = 0, id; r < N; r++) /* every row before any draw: a failure advances no generator */
        if (not_finite(logits + (size_t)r * V, pen ? NULL : bias, V, &id)) {
            const float *row = logits + (size_t)r * V;
            const char *after = pen ? " after the repetition penalty" : "";
            if (id < 0) return rnn__failf(ctx->err, RNN_ERR_NUMERIC, "stream %d: every logit is -inf%s", r, after);
            return rnn__failf(ctx->err, RNN_ERR_NUMERIC, "stream %d: the logit of token %d is %g%s", r, id,
                              (double)(pen || !bias ? row[id] : row[id] + bias[id]), after);
        }
    for (int r = 0; r < N; r++) {
        float *row = logits + (size_t)r * V;
        float mx;
        if (pen || !bias) {
            mx = row[0];
            for (int k = 1; k < V; k++) mx = row[k] > mx ? row[k] : mx;
        } else {
            mx = rnn__k_add_bias_max(row, bias, V);
        }
        float inv_t = s->temperature > 0.0f ? 1.0f / s->temperature : INFINITY;
        if (isinf(inv_t)) { /* greedy: temperature 0 (or below 1/FLT_MAX) */
            int arg = 0;
            while (arg < V - 1 && !(row[arg] == mx)) arg++; /* the first maximum: lowest id on ties */
            next[r] = arg;
            continue;
        }
        /* weights = exp(log_softmax / temperature) up to a constant: generate.py's multinomial draw */
        rnn__k_sub(row, row, mx, V);
        rnn__k_scale(row, inv_t, (size_t)V);
        rnn__k_exp_sum(row, 0.0f, V, 1);
        next[r] = draw_row(row, V, s, ctx->buf.order, ctx->per_stream ? &ctx->row_rng[r] : &ctx->rng);
    }
    return RNN_OK;
}

/* ---- sampling parameters ------------------------------------------------------------------------- */
static void sampling_defaults(rnn_sampling *s)
{
    memset(s, 0, sizeof *s);
    s->struct_size = sizeof *s;
    s->temperature = 1.0f;
    s->top_k = 0;
    s->top_p = 1.0f;
}

int rnn_sampling_init(rnn_sampling *s, size_t size)
{
    rnn_sampling d;
    sampling_defaults(&d);
    return rnn__struct_init(&rnn__sampling_layout, s, size, &d);
}

int rnn__sampling_read(rnn__err *err, const rnn_sampling *in, rnn_sampling *s)
{
    sampling_defaults(s);
    if (in) {
        char msg[RNN_ERR_LEN] = "";
        int rc = rnn__struct_read(&rnn__sampling_layout, s, in, msg, sizeof msg);
        if (rc) return rnn__failf(err, rc, "%s", msg);
    }
    if (!(s->temperature >= 0.0f) || isinf(s->temperature))
        return rnn__failf(err, RNN_ERR_INVALID, "temperature must be finite and >= 0 (got %g)", (double)s->temperature);
    if (s->top_k < 0) return rnn__failf(err, RNN_ERR_INVALID, "top_k must be >= 0 (got %d)", s->top_k);
    if (!(s->top_p > 0.0f && s->top_p <= 1.0f))
        return rnn__failf(err, RNN_ERR_INVALID, "top_p must be in (0, 1] (got %g)", (double)s->top_p);
    if (!(s->min_p >= 0.0f && s->min_p <= 1.0f))
        return rnn__failf(err, RNN_ERR_INVALID, "min_p must be in [0, 1] (got %g)", (double)s->min_p);
    if (!(s->repeat_penalty >= 0.0f) || isinf(s->repeat_penalty))
        return rnn__failf(err, RNN_ERR_INVALID, "repeat_penalty must be finite and >= 0 (got %g; 0 or 1: off)",
                          (double)s->repeat_penalty);
    if (s->repeat_last_n < 0 || s->repeat_last_n > RNN__MAX_REPEAT)
        return rnn__failf(err, RNN_ERR_INVALID, "repeat_last_n must be in [0, %d] (RNN_LIMIT_REPEAT_WINDOW; 0: 64) (got %d)",
                          RNN__MAX_REPEAT, s->repeat_last_n);
    return RNN_OK;
}
