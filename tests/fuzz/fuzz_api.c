/*
 * fuzz_api.c -- libFuzzer target for the public API (include/rnn.h), driven by a byte stream.
 *
 * The first 9 bytes choose a small model (cell, V <= 12, E, H <= 6, L <= 3, tied, dropout, seed)
 * and an allocation that fails (the k-th, or none); the rest is a sequence of operations with
 * their arguments: reset_state, reserve, forward, backward, zero_grad, clip, sgd, evaluate,
 * sample, set_seed, get/set_state, get_state_grad, parameter reads and writes (non-finite values
 * included), vocabulary, application data, save/load, and up to 3 rnn_state handles (create,
 * free, reset, copy, clone, get/set, feed, score, logprobs, next, generate) with random sizes,
 * token ids (valid, RNN_IGNORE, out of range) and sampling parameters.
 *
 * Invariants checked after every call:
 * - the status is RNN_OK or a documented code for that call; calls whose arguments are all valid
 *   succeed (unless the injected allocation failure hit them: then RNN_ERR_NOMEM);
 * - a failed call leaves the model as it was (parameters, gradients and hidden state, bit for
 *   bit) and sets a message;
 * - sampled and generated tokens are in [0, V); log-probabilities are <= 0 and, when finite, sum
 *   to 1; losses are >= 0 (or NaN once the weights are not finite);
 * - every allocation is freed (the counting allocator, and LeakSanitizer).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "rnn.h"

#define MAXB 4
#define MAXS 6
#define MAXST 3

typedef struct counting {
    long live, calls, fail_at, failed;
} counting;

static void *c_alloc(void *user, size_t size)
{
    counting *c = user;
    if (++c->calls == c->fail_at) {
        c->failed++;
        return NULL;
    }
    void *p = malloc(size);
    if (p) c->live++;
    return p;
}
static void c_free(void *user, void *p)
{
    counting *c = user;
    c->live--;
    free(p);
}

static char g_dir[64];
static int g_trace; /* FZ_TRACE=1: print the operations */

typedef struct fz {
    fz_in in;
    counting cnt;
    rnn_model *m;
    rnn_config cfg;
    int V, L, H;
    int batch;        /* the handle's state batch, 0 = none */
    int pending;      /* 1: backward allowed, 0: not, -1: unknown (reserve may have dropped it) */
    int had_backward; /* since the last reset/set_state */
    int wild_state;   /* the hidden state may be huge or non-finite: set so, or carried through
                         a call while the weights were not finite */
    rnn_state *st[MAXST];
    int st_batch[MAXST];
} fz;

static float fz_float(fz_in *in)
{
    unsigned k = fz_u8(in);
    switch (k % 16) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return 0.0f;
    case 4: return -0.0f;
    case 5: return 1e30f;
    case 6: return -1e30f;
    case 7: return 1e-40f; /* subnormal */
    default: return ((float)fz_u8(in) - 128.0f) / 32.0f;
    }
}

/* A positive parameter value usually in range, sometimes not. */
static float fz_pos(fz_in *in, float scale)
{
    unsigned k = fz_u8(in);
    if (k < 200) return (float)(k + 1) * scale;
    return fz_float(in);
}

/* Fills n token ids: all valid in mode 0, else a mix of valid, -1 and V. */
static int fz_tokens(fz *z, int32_t *t, int n, int targets)
{
    int wild = (fz_u8(&z->in) & 7) == 0, ok = 1;
    for (int i = 0; i < n; i++) {
        int v = (int)(fz_u8(&z->in) % (unsigned)z->V);
        if (wild) {
            v = (int)(fz_u8(&z->in) % (unsigned)(z->V + 2)) - 1;
            if (v == z->V || (v == -1 && !targets)) ok = 0;
        }
        t[i] = v;
    }
    return ok;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Parameters, gradients and the hidden state, bitwise. */
static uint64_t model_hash(fz *z)
{
    float *d, *g;
    size_t n;
    FZ_ASSERT(rnn_param_block(z->m, &d, &g, &n) == RNN_OK, "param_block");
    uint64_t h = hash_bytes(0xcbf29ce484222325ull, d, n * sizeof *d);
    h = hash_bytes(h, g, n * sizeof *g);
    int b = -1;
    FZ_ASSERT(rnn_state_batch(z->m, &b) == RNN_OK && b == z->batch, "state batch %d, expected %d", b, z->batch);
    if (b > 0) {
        size_t sz = (size_t)z->L * b * z->H;
        float *hs = malloc(sz * sizeof *hs), *cs = malloc(sz * sizeof *cs);
        memset(cs, 0, sz * sizeof *cs);
        FZ_ASSERT(rnn_get_state(z->m, b, hs, cs) == RNN_OK, "get_state");
        h = hash_bytes(h, hs, sz * sizeof *hs);
        h = hash_bytes(h, cs, sz * sizeof *cs);
        free(hs);
        free(cs);
    }
    return h;
}

static int params_finite(fz *z)
{
    float *d, *g;
    size_t n;
    rnn_param_block(z->m, &d, &g, &n);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(d[i]) || fabsf(d[i]) > 1e4f) return 0;
    return 1;
}

static void check_logprobs(const float *lp, int rows, int V, int strict)
{
    for (int r = 0; r < rows; r++) {
        const float *row = lp + (size_t)r * V;
        double s = 0;
        int fin = 1;
        for (int v = 0; v < V; v++) {
            FZ_ASSERT(!(row[v] > 0), "log-probability %g > 0", row[v]);
            if (!isfinite(row[v]) && !(row[v] == -INFINITY)) fin = 0;
            s += exp((double)row[v]);
        }
        if (fin) FZ_ASSERT(fabs(s - 1) < 1e-3, "probabilities sum to %g", s);
        if (strict) FZ_ASSERT(fin, "non-finite log-probabilities from finite weights");
    }
}

#define ALLOWED(rc, ...) allowed_(rc, (int[]){__VA_ARGS__, -1})
static int allowed_(int rc, const int *set)
{
    for (; *set >= 0; set++)
        if (rc == *set) return 1;
    return 0;
}

static void free_states(fz *z)
{
    for (int i = 0; i < MAXST; i++) rnn_state_free(z->st[i]), z->st[i] = NULL;
}

static void op_state(fz *z, unsigned op)
{
    fz_in *in = &z->in;
    int i = (int)(fz_u8(in) % MAXST);
    rnn_state *st = z->st[i];
    int rc;
    long failed0 = z->cnt.failed;
    switch (op % 12) {
    case 0: { /* create */
        int b = fz_range(in, -1, MAXB);
        rnn_state_free(st);
        z->st[i] = NULL;
        rc = rnn_state_create(&z->st[i], z->m, b, fz_u8(in));
        if (b <= 0) FZ_ASSERT(rc == RNN_ERR_INVALID && !z->st[i], "state_create(%d) = %d", b, rc);
        else if (z->cnt.failed > failed0) FZ_ASSERT(rc == RNN_ERR_NOMEM && !z->st[i], "state_create nomem %d", rc);
        else FZ_ASSERT(rc == RNN_OK && z->st[i], "state_create(%d) = %d", b, rc);
        z->st_batch[i] = b;
        return;
    }
    case 1:
        rnn_state_free(st);
        z->st[i] = NULL;
        return;
    }
    if (!st) return;
    int b = z->st_batch[i];
    int32_t tok[MAXB * MAXS], out[MAXB * MAXS];
    float h[3 * MAXB * 6], c[3 * MAXB * 6], lp[MAXB * 12];
    size_t hs = (size_t)z->L * b * z->H;
    switch (op % 12) {
    case 2:
        FZ_ASSERT(rnn_state_reset(st) == RNN_OK, "state_reset");
        break;
    case 3: { /* copy */
        int j = (int)(fz_u8(in) % MAXST);
        if (!z->st[j]) return;
        rc = rnn_state_copy(z->st[j], st);
        FZ_ASSERT(rc == (z->st_batch[j] == b ? RNN_OK : RNN_ERR_STATE), "state_copy %d", rc);
        break;
    }
    case 4: { /* clone into a free slot */
        int j = (int)(fz_u8(in) % MAXST);
        if (z->st[j]) return;
        rc = rnn_state_clone(&z->st[j], st);
        if (z->cnt.failed > failed0) FZ_ASSERT(rc == RNN_ERR_NOMEM && !z->st[j], "clone nomem %d", rc);
        else FZ_ASSERT(rc == RNN_OK && z->st[j], "clone %d", rc);
        z->st_batch[j] = b;
        break;
    }
    case 5: {
        int bb = -1;
        FZ_ASSERT(rnn_state_batch_size(st, &bb) == RNN_OK && bb == b, "batch_size %d", bb);
        FZ_ASSERT(rnn_state_get(st, h, fz_u8(in) & 1 ? c : NULL) == RNN_OK, "state_get");
        break;
    }
    case 6:
        for (size_t k = 0; k < hs; k++) h[k] = fz_float(in), c[k] = fz_float(in);
        FZ_ASSERT(rnn_state_set(st, h, fz_u8(in) & 1 ? c : NULL) == RNN_OK, "state_set");
        break;
    case 7: { /* feed */
        int steps = fz_range(in, -1, MAXS);
        int ok = steps > 0 ? fz_tokens(z, tok, b * steps, 0) : 1;
        rc = rnn_state_feed(st, tok, steps);
        if (steps <= 0) FZ_ASSERT(rc == RNN_ERR_INVALID, "feed(%d) = %d", steps, rc);
        else if (!ok) FZ_ASSERT(rc == RNN_ERR_RANGE, "feed bad token = %d", rc);
        else FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "feed = %d %s", rc,
                       rnn_state_errmsg(st));
        break;
    }
    case 8: { /* score */
        int steps = fz_range(in, 1, MAXS);
        int ok = fz_tokens(z, tok, b * steps, 0);
        double lpr[MAXB];
        rc = rnn_state_score(st, tok, steps, lpr);
        if (!ok) FZ_ASSERT(rc == RNN_ERR_RANGE, "score bad token = %d", rc);
        else {
            FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "score = %d %s", rc,
                      rnn_state_errmsg(st));
            if (rc == RNN_OK)
                for (int k = 0; k < b; k++) FZ_ASSERT(!(lpr[k] > 0), "score %g > 0", lpr[k]);
        }
        break;
    }
    case 9:
        FZ_ASSERT(rnn_state_logprobs(st, lp) == RNN_OK, "state_logprobs: %s", rnn_state_errmsg(st));
        check_logprobs(lp, b, z->V, 0);
        break;
    case 10:
    case 11: { /* next / generate */
        rnn_sampling s;
        rnn_sampling_init(&s);
        unsigned sel = fz_u8(in);
        if (sel & 1) s.temperature = (sel & 16) ? fz_float(in) : (float)fz_u8(in) / 64.0f;
        if (sel & 2) s.top_k = fz_range(in, -2, z->V + 1);
        if (sel & 4) s.top_p = (sel & 32) ? fz_float(in) : (float)fz_u8(in) / 255.0f;
        int valid = isfinite(s.temperature) && s.temperature >= 0 && s.top_k >= 0 && s.top_p > 0 && s.top_p <= 1;
        int count = fz_range(in, -1, MAXS);
        for (int k = 0; k < MAXB * MAXS; k++) out[k] = -7;
        if (op % 12 == 10) {
            rc = rnn_state_next(st, (sel & 8) ? NULL : &s, out);
            count = 1;
            if (sel & 8) valid = 1;
        } else {
            rc = rnn_state_generate(st, (sel & 8) ? NULL : &s, count, out);
            if (sel & 8) valid = 1;
            if (count < 0) valid = 0;
            if (count == 0 && valid) {
                FZ_ASSERT(rc == RNN_OK || rc == RNN_ERR_INVALID, "generate(0) = %d", rc);
                break;
            }
        }
        if (!valid) {
            FZ_ASSERT(rc == RNN_ERR_INVALID, "sampling T=%g k=%d p=%g count=%d: %d", s.temperature, s.top_k, s.top_p,
                      count, rc);
            break;
        }
        FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "next/generate = %d: %s", rc,
                  rnn_state_errmsg(st));
        if (rc == RNN_OK)
            for (int k = 0; k < b * count; k++)
                FZ_ASSERT(out[k] >= 0 && out[k] < z->V, "sampled token %d (T=%g k=%d p=%g)", out[k], s.temperature,
                          s.top_k, s.top_p);
        break;
    }
    }
    if (z->cnt.failed == failed0) FZ_ASSERT(rnn_state_errmsg(st) != NULL, "errmsg");
}

static void save_load(fz *z)
{
    char p[96];
    snprintf(p, sizeof p, "%s/api.bin", g_dir);
    unsigned flags = fz_u8(&z->in) & 1 ? RNN_SAVE_STATE : 0;
    int rc = rnn_model_save_ex(z->m, p, flags);
    FZ_ASSERT(rc == RNN_OK, "save = %d: %s", rc, rnn_errmsg(z->m));
    if (rc) return;
    rnn_model *m2 = NULL;
    char err[256];
    rc = rnn_model_load(&m2, p, NULL, err, sizeof err);
    FZ_ASSERT(rc == RNN_OK, "load of a saved model: %s", err);
    float *d1, *d2, *g;
    size_t n1, n2;
    rnn_param_block(z->m, &d1, &g, &n1);
    rnn_param_block(m2, &d2, &g, &n2);
    FZ_ASSERT(n1 == n2 && memcmp(d1, d2, n1 * sizeof *d1) == 0, "parameters differ after save/load");
    int b = -1;
    rnn_state_batch(m2, &b);
    FZ_ASSERT(b == (flags ? z->batch : 0), "loaded state batch %d, saved %d", b, z->batch);
    const void *a1, *a2;
    size_t l1, l2;
    rnn_get_app_data(z->m, &a1, &l1);
    rnn_get_app_data(m2, &a2, &l2);
    FZ_ASSERT(l1 == l2 && (!l1 || memcmp(a1, a2, l1) == 0), "app data differs after save/load");
    rnn_model_free(m2);
}

static void step(fz *z)
{
    fz_in *in = &z->in;
    unsigned op = fz_u8(in);
    long failed0 = z->cnt.failed;
    if (g_trace) fprintf(stderr, "op %u (batch %d)\n", op % 24, z->batch);
    uint64_t before = model_hash(z);
    int rc = 0, checked = 1; /* checked: rc is a model call whose failure must leave the model unchanged */
    int msg = 1;             /* a failure must set rnn_errmsg (calls on a non-const handle) */
    int32_t tok[MAXB * MAXS], tgt[MAXB * MAXS], next[MAXB];
    float buf[MAXB * MAXS * 12], h[3 * MAXB * 6], c[3 * MAXB * 6];
    switch (op % 24) {
    case 0: { /* reset_state */
        int b = fz_range(in, -1, MAXB);
        rc = rnn_reset_state(z->m, b);
        if (b <= 0) FZ_ASSERT(rc == RNN_ERR_INVALID, "reset_state(%d) = %d", b, rc);
        else FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "reset_state = %d", rc);
        if (rc == RNN_OK) z->batch = b, z->pending = 0, z->had_backward = 0, z->wild_state = 0;
        break;
    }
    case 1: { /* reserve */
        int b = fz_range(in, -1, MAXB), s = fz_range(in, -1, MAXS);
        rc = rnn_reserve(z->m, b, s);
        if (b <= 0 || s <= 0) FZ_ASSERT(rc == RNN_ERR_INVALID, "reserve(%d, %d) = %d", b, s, rc);
        else FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "reserve = %d", rc);
        if (rc == RNN_OK && z->pending == 1) z->pending = -1;
        break;
    }
    case 2:
    case 3:
    case 4: { /* forward */
        int b = (fz_u8(in) & 7) ? z->batch : fz_range(in, -1, MAXB);
        int s = (fz_u8(in) & 7) ? fz_range(in, 1, MAXS) : fz_range(in, -1, MAXS);
        int ok = 1;
        if (b > 0 && s > 0) ok = fz_tokens(z, tok, b * s, 0) & fz_tokens(z, tgt, b * s, 1);
        double loss = -1;
        if (!params_finite(z)) z->wild_state = 1; /* the state carried on is not finite either */
        rc = rnn_forward(z->m, tok, tgt, b, s, &loss);
        if (g_trace) {
            fprintf(stderr, "  forward(b %d, s %d) = %d, loss %g; tokens/targets:", b, s, rc, loss);
            for (int k = 0; b > 0 && s > 0 && k < b * s; k++) fprintf(stderr, " %d/%d", tok[k], tgt[k]);
            fputc('\n', stderr);
        }
        if (b > 0 && s > 0 && ok && b == z->batch) {
            FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "forward = %d: %s", rc,
                      rnn_errmsg(z->m));
        } else {
            FZ_ASSERT(rc != RNN_OK && ALLOWED(rc, RNN_ERR_INVALID, RNN_ERR_RANGE, RNN_ERR_STATE), "forward(b %d/%d, s %d, ok %d) = %d",
                      b, z->batch, s, ok, rc);
        }
        if (rc == RNN_OK) {
            FZ_ASSERT(loss >= 0 || isnan(loss), "loss %g", loss);
            if (params_finite(z) && !z->wild_state)
                FZ_ASSERT(isfinite(loss), "loss %g from finite weights and state", loss);
            z->pending = 1;
        }
        break;
    }
    case 5:
    case 6: /* backward */
        rc = rnn_backward(z->m);
        if (z->pending == 1) FZ_ASSERT(rc == RNN_OK, "backward = %d: %s", rc, rnn_errmsg(z->m));
        else if (z->pending == 0) FZ_ASSERT(rc == RNN_ERR_STATE, "backward without forward = %d", rc);
        else FZ_ASSERT(rc == RNN_OK || rc == RNN_ERR_STATE, "backward = %d", rc);
        if (rc == RNN_OK) z->had_backward = 1;
        z->pending = 0;
        break;
    case 7:
        rc = rnn_zero_grad(z->m);
        FZ_ASSERT(rc == RNN_OK, "zero_grad = %d", rc);
        break;
    case 8: { /* clip */
        float mx = fz_pos(in, 0.01f);
        double total = -1;
        rc = rnn_clip_grad_norm(z->m, mx, &total);
        if (!isfinite(mx) || mx <= 0) FZ_ASSERT(rc == RNN_ERR_INVALID, "clip(%g) = %d", mx, rc);
        else FZ_ASSERT(rc == RNN_OK || rc == RNN_ERR_NUMERIC, "clip(%g) = %d", mx, rc);
        if (rc == RNN_OK) FZ_ASSERT(isfinite(total) && total >= 0, "total norm %g", total);
        if (rc == RNN_ERR_NUMERIC) FZ_ASSERT(model_hash(z) == before, "clip changed the gradients on NUMERIC");
        break;
    }
    case 9:
    case 10: { /* sgd */
        float lr = fz_pos(in, 0.05f);
        rc = rnn_sgd_step(z->m, lr);
        if (isfinite(lr)) FZ_ASSERT(rc == RNN_OK, "sgd(%g) = %d", lr, rc);
        else FZ_ASSERT(rc == RNN_ERR_INVALID, "sgd(%g) = %d", lr, rc);
        if (rc == RNN_OK) z->pending = 0;
        break;
    }
    case 11:
    case 12: { /* evaluate */
        int b = (fz_u8(in) & 7) ? z->batch : fz_range(in, -1, MAXB);
        int s = fz_range(in, 1, MAXS);
        unsigned sel = fz_u8(in);
        int ok = 1;
        if (b > 0 && s > 0) {
            ok = fz_tokens(z, tok, b * s, 0);
            int ok_t = fz_tokens(z, tgt, b * s, 1);
            if (!(sel & 2)) ok &= ok_t; /* targets NULL: only the tokens count */
        }
        double loss = -1;
        int want_lp = (sel & 1) && b > 0 && b * s * z->V <= (int)(sizeof buf / sizeof *buf);
        if (!params_finite(z)) z->wild_state = 1;
        rc = rnn_evaluate(z->m, tok, (sel & 2) ? NULL : tgt, b, s, &loss, want_lp ? buf : NULL);
        if (b > 0 && ok && b == z->batch)
            FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "evaluate = %d: %s", rc,
                      rnn_errmsg(z->m));
        else
            FZ_ASSERT(rc != RNN_OK && ALLOWED(rc, RNN_ERR_INVALID, RNN_ERR_RANGE, RNN_ERR_STATE), "evaluate = %d", rc);
        if (rc == RNN_OK) {
            FZ_ASSERT(loss >= 0 || isnan(loss), "loss %g", loss);
            if (sel & 2) FZ_ASSERT(loss == 0, "loss %g without targets", loss);
            if (want_lp) check_logprobs(buf, b * s, z->V, 0);
            z->pending = 0;
        }
        break;
    }
    case 13: { /* sample */
        int b = (fz_u8(in) & 7) ? z->batch : fz_range(in, -1, MAXB);
        float temp = (fz_u8(in) & 3) ? (float)fz_u8(in) / 64.0f : fz_float(in);
        int ok = b > 0 ? fz_tokens(z, tok, b, 0) : 1;
        for (int k = 0; k < MAXB; k++) next[k] = -7;
        if (!params_finite(z)) z->wild_state = 1;
        rc = rnn_sample(z->m, tok, b, temp, next);
        if (b > 0 && ok && b == z->batch && isfinite(temp) && temp >= 0) {
            FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "sample = %d: %s", rc,
                      rnn_errmsg(z->m));
            if (rc == RNN_OK)
                for (int k = 0; k < b; k++) FZ_ASSERT(next[k] >= 0 && next[k] < z->V, "sampled %d (T=%g)", next[k], temp);
        } else
            FZ_ASSERT(rc != RNN_OK && ALLOWED(rc, RNN_ERR_INVALID, RNN_ERR_RANGE, RNN_ERR_STATE), "sample = %d", rc);
        if (rc == RNN_OK) z->pending = 0;
        break;
    }
    case 14:
        rc = rnn_set_seed(z->m, fz_u32(in));
        FZ_ASSERT(rc == RNN_OK, "set_seed");
        break;
    case 15: { /* get/set state */
        int b = (fz_u8(in) & 3) ? z->batch : fz_range(in, -1, MAXB);
        int withc = fz_u8(in) & 1;
        if (b > 0) {
            size_t n = (size_t)z->L * b * z->H;
            for (size_t k = 0; k < n; k++) h[k] = fz_float(in), c[k] = fz_float(in);
        }
        if (fz_u8(in) & 1) {
            rc = rnn_set_state(z->m, b, h, withc ? c : NULL);
            if (rc == RNN_OK) {
                z->pending = 0, z->had_backward = 0;
                for (size_t k = 0; k < (size_t)z->L * b * z->H; k++)
                    if (!(fabsf(h[k]) <= 1e4f) || (withc && !(fabsf(c[k]) <= 1e4f))) z->wild_state = 1;
            }
        } else {
            rc = rnn_get_state(z->m, b, h, withc ? c : NULL);
            msg = 0;
        }
        FZ_ASSERT(rc == (b == z->batch && b > 0 ? RNN_OK : rc) && ALLOWED(rc, RNN_OK, RNN_ERR_INVALID, RNN_ERR_STATE),
                  "get/set_state(%d / %d) = %d", b, z->batch, rc);
        FZ_ASSERT((rc == RNN_OK) == (b == z->batch && b > 0), "get/set_state(%d / %d) = %d", b, z->batch, rc);
        break;
    }
    case 16: { /* state grad */
        int b = z->batch;
        rc = rnn_get_state_grad(z->m, b, h, fz_u8(in) & 1 ? c : NULL);
        msg = 0;
        if (!z->had_backward) FZ_ASSERT(rc != RNN_OK, "get_state_grad without backward = %d", rc);
        FZ_ASSERT(ALLOWED(rc, RNN_OK, RNN_ERR_INVALID, RNN_ERR_STATE), "get_state_grad = %d", rc);
        break;
    }
    case 17: { /* parameter access and writes */
        msg = 0;
        int cnt = 0;
        FZ_ASSERT(rnn_param_count(z->m, &cnt) == RNN_OK && cnt == 4 * z->L + 3 - !!z->cfg.tied, "param_count %d", cnt);
        int idx = fz_range(in, -1, cnt);
        rnn_param p;
        rc = rnn_param_get(z->m, idx, &p);
        if (idx < 0 || idx >= cnt) {
            FZ_ASSERT(ALLOWED(rc, RNN_ERR_NOTFOUND, RNN_ERR_INVALID) , "param_get(%d) = %d", idx, rc);
            break;
        }
        FZ_ASSERT(rc == RNN_OK && p.size == (size_t)p.rows * p.cols, "param_get(%d)", idx);
        rnn_param q;
        FZ_ASSERT(rnn_param_find(z->m, p.name, &q) == RNN_OK && q.data == p.data, "param_find(%s)", p.name);
        if (fz_u8(in) & 1) {
            size_t k = fz_u16(in) % p.size;
            p.data[k] = fz_float(in);
            if (g_trace) fprintf(stderr, "  %s[%zu] = %g\n", p.name, k, p.data[k]);
            checked = 0;
        }
        char name[24];
        for (int k = 0; k < 23; k++) name[k] = (char)("rnn.weight_hh_l0123encod"[fz_u8(in) % 24]);
        name[fz_u8(in) % 24] = 0;
        rc = rnn_param_find(z->m, name, &q);
        FZ_ASSERT(ALLOWED(rc, RNN_OK, RNN_ERR_NOTFOUND), "param_find(%s) = %d", name, rc);
        break;
    }
    case 18: { /* vocabulary */
        int count = (fz_u8(in) & 3) ? z->V : fz_range(in, -1, z->V + 1);
        char words[16][4];
        const char *wp[16];
        int ok = count == z->V;
        for (int k = 0; k < count && k < 16; k++) {
            unsigned x = fz_u8(in);
            words[k][0] = (char)('a' + x % 26), words[k][1] = (char)('a' + k), words[k][2] = 0;
            if (x == 255) words[k][0] = 0, ok = 0;
            wp[k] = words[k];
        }
        rc = rnn_vocab_set(z->m, count >= 0 ? wp : NULL, count);
        if (ok) FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "vocab_set = %d", rc);
        else FZ_ASSERT(rc == RNN_ERR_INVALID, "vocab_set(count %d) = %d", count, rc);
        int n = -1;
        FZ_ASSERT(rnn_vocab_size(z->m, &n) == RNN_OK && (n == 0 || n == z->V), "vocab_size %d", n);
        int id = fz_range(in, -1, z->V);
        const char *w = NULL;
        int r2 = rnn_vocab_word(z->m, id, &w);
        FZ_ASSERT((r2 == RNN_OK) == (id >= 0 && id < n) && (r2 != RNN_OK || (w && w[0])), "vocab_word(%d) = %d", id, r2);
        if (rc == RNN_OK && id >= 0 && id < n) FZ_ASSERT(strcmp(w, words[id]) == 0, "vocab word %d", id);
        break;
    }
    case 19: { /* app data */
        unsigned char bytes[20];
        size_t len = fz_u8(in) % 21;
        for (size_t k = 0; k < len; k++) bytes[k] = (unsigned char)fz_u8(in);
        rc = rnn_set_app_data(z->m, bytes, len);
        FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "set_app_data = %d", rc);
        if (rc == RNN_OK) {
            const void *d;
            size_t l;
            FZ_ASSERT(rnn_get_app_data(z->m, &d, &l) == RNN_OK && l == len && (!len || memcmp(d, bytes, len) == 0),
                      "app data");
        }
        break;
    }
    case 20:
        save_load(z);
        checked = 0;
        break;
    case 21: {
        if (fz_u8(in) & 1) { /* librnn's threads: later passes and states run on them */
            int n = fz_range(in, -1, 3), was = 0, now = 0;
            FZ_ASSERT(rnn_get_threads(z->m, &was) == RNN_OK, "get_threads");
            rc = rnn_set_threads(z->m, n);
            FZ_ASSERT(rnn_get_threads(z->m, &now) == RNN_OK, "get_threads");
            if (n < 1) FZ_ASSERT(rc == RNN_ERR_INVALID && now == was, "set_threads(%d) = %d", n, rc);
            else
                FZ_ASSERT((rc == RNN_OK && now == n) || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0 && now == was),
                          "set_threads(%d) = %d (%d -> %d)", n, rc, was, now);
            break;
        }
        rnn_config cfg;
        FZ_ASSERT(rnn_model_config(z->m, &cfg) == RNN_OK && cfg.cell == z->cfg.cell &&
                      cfg.vocab_size == z->cfg.vocab_size && cfg.emb_size == z->cfg.emb_size &&
                      cfg.hidden_size == z->cfg.hidden_size && cfg.num_layers == z->cfg.num_layers &&
                      cfg.dropout == z->cfg.dropout && !cfg.tied == !z->cfg.tied && cfg.seed == z->cfg.seed,
                  "config");
        checked = 0;
        break;
    }
    default:
        op_state(z, fz_u8(in));
        checked = 0;
        break;
    }
    if (rc == RNN_ERR_NOMEM && z->pending == 1) z->pending = -1;
    if (checked && rc != RNN_OK) {
        FZ_ASSERT(model_hash(z) == before, "op %u failed with %d but changed the model", op % 24, rc);
        if (msg) FZ_ASSERT(rnn_errmsg(z->m)[0], "op %u failed with %d and no message", op % 24, rc);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    g_trace = getenv("FZ_TRACE") != NULL;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/rnnfuzz-XXXXXX", base);
    if (!mkdtemp(g_dir)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9) return 0;
    fz z;
    memset(&z, 0, sizeof z);
    z.in = (fz_in){data, size, 0};
    fz_in *in = &z.in;
    rnn_config_init(&z.cfg);
    z.cfg.cell = (int)(fz_u8(in) % 4);
    z.cfg.vocab_size = fz_range(in, 1, 12);
    z.cfg.emb_size = fz_range(in, 1, 6);
    z.cfg.hidden_size = fz_range(in, 1, 6);
    z.cfg.num_layers = fz_range(in, 1, 3);
    unsigned t = fz_u8(in);
    z.cfg.tied = t & 1;
    if (z.cfg.tied) z.cfg.emb_size = z.cfg.hidden_size;
    z.cfg.dropout = (float)((t >> 1) % 4) * 0.25f;
    z.cfg.seed = fz_u8(in);
    z.cnt.fail_at = fz_u16(in) % 64; /* 0: no failure */
    rnn_allocator al = {c_alloc, c_free, &z.cnt};
    z.V = z.cfg.vocab_size, z.L = z.cfg.num_layers, z.H = z.cfg.hidden_size;

    int rc = rnn_model_create(&z.m, &z.cfg, &al);
    if (z.cnt.failed) {
        FZ_ASSERT(rc == RNN_ERR_NOMEM && !z.m && z.cnt.live == 0, "create with a failing allocation = %d", rc);
        return 0;
    }
    FZ_ASSERT(rc == RNN_OK, "create = %d: %s", rc, rnn_errmsg(z.m));
    for (int ops = 0; ops < 200 && fz_left(in); ops++) step(&z);
    free_states(&z);
    rnn_model_free(z.m);
    FZ_ASSERT(z.cnt.live == 0, "%ld allocations not freed", z.cnt.live);
    return 0;
}
