/*
 * fuzz_api.c -- libFuzzer target for the public API (include/rnn.h), driven by a byte stream.
 *
 * The first 9 bytes choose a small model (cell, V <= 12, E, H <= 6, L <= 3, tied, dropout, seed)
 * and an allocation that fails (the k-th, or none); the rest is a sequence of operations with
 * their arguments. An op byte in 216-239 selects one of the operations of the 1.0 API (below);
 * any other byte b selects operation b % 24 of the 0.1 list, whose input layout is unchanged, so
 * that the seeds and the regression inputs found under 0.1 replay the same calls:
 *   reset_hidden, reserve, forward, backward, zero_grad, clip, sgd, evaluate, sample, set_seed,
 *   get/set_hidden, get_hidden_grad, parameter reads and writes (non-finite values included),
 *   vocabulary, application data (kept for the next save), save/load (file, then the same bytes
 *   through save_mem/load_mem), librnn's threads, and up to 3 rnn_state handles (create, free,
 *   reset, copy, clone, get/set, feed, score, logprobs, draw, generate) with random sizes, token
 *   ids (valid, RNN_IGNORE, out of range) and sampling parameters;
 * and the 1.0 operations:
 *   rnn_vocab_find (vocabulary words and other bytes), rnn_vocab_encode (fuzz-chosen bytes: words,
 *   ASCII and Unicode whitespace, invalid UTF-8, NUL; every flag combination, unknown flags, caps,
 *   NULL outputs) against a reference tokenizer, rnn_model_save_mem + rnn_model_load_mem round trips
 *   (size query, a buffer too small, state, application data, RNN_LOAD_NO_STATE, an allocation
 *   failure, a prefix, a corrupted byte), strided token arrays (forward with out-of-range padding;
 *   evaluate, state feed and score dense and strided from the same state: the same bits; strides
 *   inside (0, steps)), rnn_sample and the state samplers with a full rnn_sampling at every struct
 *   size, rnn_vocab_set with duplicates / whitespace / empty words, the struct sizes of rnn_config
 *   and rnn_param, and the calls without a handle (limits, cell names, status strings, errcodes).
 *
 * Invariants checked after every call:
 * - the status is RNN_OK or a documented code for that call; calls whose arguments are all valid
 *   succeed (unless the injected allocation failure hit them: then RNN_ERR_NOMEM);
 * - a failed call leaves the model as it was (parameters, gradients and hidden state, bit for
 *   bit), sets a message and rnn_model_errcode; calls that only read change nothing;
 * - sampled and generated tokens are in [0, V); log-probabilities are <= 0 and, when finite, sum
 *   to 1; losses are >= 0 (or NaN once the weights are not finite);
 * - every allocation is freed (the counting allocator, and LeakSanitizer).
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#define RNN_EXPERT_API /* rnn_model_get_hidden_grad, rnn_param_get_block, rnn_param_declare_grad_rows,
                          rnn_set_loss_denominator */
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
    unsigned char app[20]; /* application data for the next save (op 19) */
    size_t app_len;
    char vocab[12][16];    /* the vocabulary the model holds, when has_vocab */
    int has_vocab;
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
    FZ_ASSERT(rnn_param_get_block(z->m, &d, &g, &n) == RNN_OK, "param_block");
    uint64_t h = hash_bytes(0xcbf29ce484222325ull, d, n * sizeof *d);
    h = hash_bytes(h, g, n * sizeof *g);
    int b = -1;
    FZ_ASSERT(rnn_model_get_batch(z->m, &b) == RNN_OK && b == z->batch, "state batch %d, expected %d", b, z->batch);
    if (b > 0) {
        size_t sz = (size_t)z->L * b * z->H;
        float *hs = malloc(sz * sizeof *hs), *cs = malloc(sz * sizeof *cs);
        memset(cs, 0, sz * sizeof *cs);
        FZ_ASSERT(rnn_model_get_hidden(z->m, b, hs, cs) == RNN_OK, "get_state");
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
    rnn_param_get_block(z->m, &d, &g, &n);
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
        FZ_ASSERT(rnn_state_get_batch(st, &bb) == RNN_OK && bb == b, "batch_size %d", bb);
        FZ_ASSERT(rnn_state_get_hidden(st, h, fz_u8(in) & 1 ? c : NULL) == RNN_OK, "state_get");
        break;
    }
    case 6:
        for (size_t k = 0; k < hs; k++) h[k] = fz_float(in), c[k] = fz_float(in);
        FZ_ASSERT(rnn_state_set_hidden(st, h, fz_u8(in) & 1 ? c : NULL) == RNN_OK, "state_set");
        break;
    case 7: { /* feed */
        int steps = fz_range(in, -1, MAXS);
        int ok = steps > 0 ? fz_tokens(z, tok, b * steps, 0) : 1;
        rc = rnn_state_feed(st, tok, steps, 0);
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
        rc = rnn_state_score(st, tok, steps, 0, lpr);
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
        FZ_ASSERT(rnn_state_get_logprobs(st, lp) == RNN_OK, "state_logprobs: %s", rnn_state_errmsg(st));
        check_logprobs(lp, b, z->V, 0);
        break;
    case 10:
    case 11: { /* next / generate */
        rnn_sampling s;
        rnn_sampling_init(&s, sizeof s);
        unsigned sel = fz_u8(in);
        if (sel & 1) s.temperature = (sel & 16) ? fz_float(in) : (float)fz_u8(in) / 64.0f;
        if (sel & 2) s.top_k = fz_range(in, -2, z->V + 1);
        if (sel & 4) s.top_p = (sel & 32) ? fz_float(in) : (float)fz_u8(in) / 255.0f;
        int valid = isfinite(s.temperature) && s.temperature >= 0 && s.top_k >= 0 && s.top_p > 0 && s.top_p <= 1;
        int count = fz_range(in, -1, MAXS);
        for (int k = 0; k < MAXB * MAXS; k++) out[k] = -7;
        if (op % 12 == 10) {
            rc = rnn_state_draw(st, (sel & 8) ? NULL : &s, out);
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
        /* RNN_ERR_NUMERIC: a stream's distribution is not finite (NaN or inf weights or state, or
           finite ones whose products overflow); a draw then writes nothing */
        FZ_ASSERT(rc == RNN_OK || rc == RNN_ERR_NUMERIC || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0),
                  "next/generate = %d: %s", rc, rnn_state_errmsg(st));
        if (rc == RNN_ERR_NUMERIC && op % 12 == 10)
            for (int k = 0; k < b; k++) FZ_ASSERT(out[k] == -7, "draw wrote token %d on RNN_ERR_NUMERIC", k);
        if (rc == RNN_OK)
            for (int k = 0; k < b * count; k++)
                FZ_ASSERT(out[k] >= 0 && out[k] < z->V, "sampled token %d (T=%g k=%d p=%g)", out[k], s.temperature,
                          s.top_k, s.top_p);
        break;
    }
    }
    if (z->cnt.failed == failed0) FZ_ASSERT(rnn_state_errmsg(st) != NULL, "errmsg");
}

static void check_loaded(fz *z, rnn_model *m2, int want_batch, const void *app, size_t app_len);

/* rnn_model_save (with the application data of op 19) and rnn_model_load; then the memory image:
 * the file's bytes, and rnn_model_load_mem of it gives the same model. */
static void save_load(fz *z)
{
    char p[96];
    snprintf(p, sizeof p, "%s/api.bin", g_dir);
    unsigned flags = fz_u8(&z->in) & 1 ? RNN_SAVE_STATE : 0;
    const void *app = z->app_len ? z->app : NULL;
    int rc = rnn_model_save(z->m, p, flags, app, z->app_len);
    FZ_ASSERT(rc == RNN_OK, "save = %d: %s", rc, rnn_model_errmsg(z->m));
    if (rc) return;
    rnn_model *m2 = NULL;
    char err[256];
    rc = rnn_model_load(&m2, p, NULL, 0, err, sizeof err);
    FZ_ASSERT(rc == RNN_OK, "load of a saved model: %s", err);
    check_loaded(z, m2, flags ? z->batch : 0, app, z->app_len);
    rnn_model_free(m2);
    const void *a1 = "x";
    size_t l1 = 1;
    FZ_ASSERT(rnn_model_get_app_data(z->m, &a1, &l1) == RNN_OK && a1 == NULL && l1 == 0, "a created model has app data");

    size_t flen = 0, need = 0, got = 0;
    uint8_t *fb = fz_read_file(p, &flen);
    FZ_ASSERT(rnn_model_save_mem(z->m, NULL, 0, &need, flags, app, z->app_len) == RNN_OK && need == flen,
              "save_mem size %zu, the file %zu bytes", need, flen);
    uint8_t *mb = malloc(need);
    FZ_ASSERT(mb && rnn_model_save_mem(z->m, mb, need, &got, flags, app, z->app_len) == RNN_OK && got == need,
              "save_mem: %s", rnn_model_errmsg(z->m));
    FZ_ASSERT(memcmp(mb, fb, need) == 0, "the memory image differs from the file");
    m2 = NULL;
    rc = rnn_model_load_mem(&m2, mb, need, NULL, 0, err, sizeof err);
    FZ_ASSERT(rc == RNN_OK, "load_mem of a saved image: %s", err);
    check_loaded(z, m2, flags ? z->batch : 0, app, z->app_len);
    rnn_model_free(m2);
    free(mb);
    free(fb);
}

#define OP_NEW_FIRST 216

/* ---- the operations of the 1.0 API (op bytes 216-239) ----------------------------------------- */

/* Records the vocabulary the model holds after a successful rnn_vocab_set. */
static void record_vocab(fz *z, const char *const *wp)
{
    for (int k = 0; k < z->V; k++) snprintf(z->vocab[k], sizeof z->vocab[k], "%s", wp[k]);
    z->has_vocab = 1;
}

/* The id of the n bytes at w in the recorded vocabulary, or -1. */
static int vocab_id(const fz *z, const char *w, size_t n)
{
    if (!z->has_vocab) return -1;
    for (int k = 0; k < z->V; k++)
        if (strlen(z->vocab[k]) == n && memcmp(z->vocab[k], w, n) == 0) return k;
    return -1;
}

/* The model still holds exactly the recorded vocabulary (e.g. after a refused rnn_vocab_set). */
static void check_vocab_kept(fz *z)
{
    int n = -1;
    FZ_ASSERT(rnn_vocab_get_size(z->m, &n) == RNN_OK && n == (z->has_vocab ? z->V : 0), "vocab size %d", n);
    for (int k = 0; k < n; k++) {
        const char *w = NULL;
        FZ_ASSERT(rnn_vocab_get_word(z->m, k, &w) == RNN_OK && w && strcmp(w, z->vocab[k]) == 0,
                  "vocabulary word %d changed", k);
    }
}

/* Does the (valid UTF-8) word hold a character str.split() splits at? */
static int word_has_space(const char *w)
{
    const uint8_t *p = (const uint8_t *)w;
    size_t n = strlen(w);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = fz_utf8_decode(p + i, n - i, &cp);
        if (l == 0) return 0;
        if (fz_is_space(cp)) return 1;
        i += l;
    }
    return 0;
}

static const char *const WS[] = {" ", "\t", "\n", "\x0b", "\x1f", "\xc2\xa0", "\xc2\x85", "\xe3\x80\x80", "\xe2\x80\xa8"};
#define NWS ((int)(sizeof WS / sizeof WS[0]))

/* rnn_vocab_set with words from the input: duplicates, "<unk>", "<eos>", whitespace, empty words,
 * UTF-8, U+200B (not whitespace). Valid exactly when count == V and every word is non-empty,
 * without whitespace and unique; a refused call keeps the old vocabulary. */
static int op_vocab_set(fz *z, long failed0)
{
    fz_in *in = &z->in;
    int count = (fz_u8(in) & 3) ? z->V : fz_range(in, -1, z->V + 1);
    char words[16][16];
    const char *wp[16];
    int ok = count == z->V;
    for (int k = 0; k < count && k < 16; k++) {
        unsigned kind = fz_u8(in) % 16;
        switch (kind) {
        case 0: snprintf(words[k], sizeof words[k], "%s", k ? words[fz_u8(in) % (unsigned)k] : "dup"); break;
        case 1: snprintf(words[k], sizeof words[k], "<unk>"); break;
        case 2: snprintf(words[k], sizeof words[k], "<eos>"); break;
        case 3: snprintf(words[k], sizeof words[k], "a%sb", WS[fz_u8(in) % NWS]); break;
        case 4: words[k][0] = 0; break;
        case 5: snprintf(words[k], sizeof words[k], "x\xe2\x80\x8b%c", 'a' + k); break;
        case 6: snprintf(words[k], sizeof words[k], "\xc3\xa9%c", 'a' + (int)(fz_u8(in) % 26)); break;
        default: snprintf(words[k], sizeof words[k], "%c%c", 'a' + (int)(fz_u8(in) % 26), 'a' + k); break;
        }
        wp[k] = words[k];
        if (!words[k][0] || word_has_space(words[k])) ok = 0;
        for (int j = 0; j < k; j++)
            if (strcmp(words[j], words[k]) == 0) ok = 0;
    }
    if (g_trace) {
        fprintf(stderr, "  vocab_set(%d):", count);
        for (int k = 0; k < count && k < 16; k++) fprintf(stderr, " [%s]", words[k]);
        fprintf(stderr, " valid %d\n", ok);
    }
    int rc = rnn_vocab_set(z->m, count >= 0 ? wp : NULL, count);
    if (ok) FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "vocab_set = %d: %s", rc,
                      rnn_model_errmsg(z->m));
    else /* finding a duplicate may need memory first (an index): then the injected failure may come first */
        FZ_ASSERT(rc == RNN_ERR_INVALID || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0),
                  "vocab_set of an invalid vocabulary (count %d) = %d", count, rc);
    if (rc == RNN_OK) record_vocab(z, wp);
    check_vocab_kept(z);
    return rc;
}

/* rnn_vocab_find of a vocabulary word (its id) or of other bytes (RNN_ERR_NOTFOUND unless they
 * spell a word); NULL arguments are RNN_ERR_INVALID. */
static int op_vocab_find(fz *z)
{
    fz_in *in = &z->in;
    unsigned sel = fz_u8(in);
    char word[24];
    if ((sel & 1) && z->has_vocab) {
        snprintf(word, sizeof word, "%s", z->vocab[fz_u8(in) % (unsigned)z->V]);
    } else {
        size_t n = fz_u8(in) % 6;
        for (size_t k = 0; k < n; k++) {
            unsigned x = fz_u8(in);
            word[k] = x < 128 ? "ab<>eosunk\xc3\xa9 x"[x % 14] : (char)(x | 1);
        }
        word[n] = 0;
    }
    int32_t id = -5;
    int rc;
    if ((sel & 6) == 6) {
        rc = rnn_vocab_find(z->m, (sel & 8) ? NULL : word, (sel & 8) ? &id : NULL);
        FZ_ASSERT(rc == RNN_ERR_INVALID, "vocab_find with a NULL argument = %d", rc);
        return rc;
    }
    rc = rnn_vocab_find(z->m, word, &id);
    int want = vocab_id(z, word, strlen(word));
    if (want >= 0) FZ_ASSERT(rc == RNN_OK && id == want, "vocab_find(\"%s\") = %d, id %d, want %d", word, rc, (int)id, want);
    else FZ_ASSERT(rc == RNN_ERR_NOTFOUND, "vocab_find(\"%s\") = %d (id %d), want NOTFOUND", word, rc, (int)id);
    return rc;
}

/* rnn_vocab_encode of fuzz-chosen bytes and flags against a reference tokenizer (strict UTF-8,
 * str.split(), the recorded vocabulary). */
static int op_vocab_encode(fz *z)
{
    fz_in *in = &z->in;
    static const char *const pieces[] = {" ",   "\t",   "\n",   "\r\n", "\xc2\xa0", "\xe3\x80\x80", "\xc2\x85",
                                         "\x1c", "\xe2\x80\x8b", "<unk>", "<eos>", "zz",  "\xc3\xa9", "\xc0\xaf",
                                         "\xed\xa0\x80", "\xe2\x82", "\xff", "\x00"};
    enum { NP = sizeof pieces / sizeof pieces[0] };
    char text[256];
    size_t tn = 0;
    int np = (int)(fz_u8(in) % 12);
    for (int k = 0; k < np; k++) {
        unsigned sel = fz_u8(in);
        const char *p;
        size_t pl;
        char raw;
        if (sel < 112 && z->has_vocab) p = z->vocab[sel % (unsigned)z->V], pl = strlen(p);
        else if (sel >= 240) raw = (char)fz_u8(in), p = &raw, pl = 1;
        else p = pieces[sel % NP], pl = p[0] ? strlen(p) : 1; /* "\x00": one NUL byte */
        if (tn + pl > sizeof text) break;
        memcpy(text + tn, p, pl);
        tn += pl;
    }
    unsigned fb = fz_u8(in), flags = fb & 7;
    if ((fb & 0x38) == 0x38) flags |= 8u << (fb >> 6); /* not an encode flag */
    unsigned cb = fz_u8(in), pb = fz_u8(in);
    int32_t ids[64];
    int32_t *idp = (cb & 0x80) ? NULL : ids;
    size_t cap = idp ? cb % 24 : 0;
    if (!idp && (cb & 0x40)) cap = 1 + cb % 3; /* ids NULL with cap > 0: invalid */
    size_t count = 777, unknown = 777;
    size_t *unkp = (pb & 1) ? NULL : &unknown;
    int no_count = (pb & 0x0E) == 0x0E; /* count NULL: invalid */
    for (int k = 0; k < 64; k++) ids[k] = -7;

    /* the reference */
    int valid_args = !(flags & ~7u) && !((flags & RNN_ENCODE_UNK_MAP) && (flags & RNN_ENCODE_UNK_SKIP)) &&
                     (idp || cap == 0);
    int fmt = 0, notfound = 0;
    size_t rcount = 0, runknown = 0;
    int32_t rids[160];
    int unk = vocab_id(z, "<unk>", 5), eos = vocab_id(z, "<eos>", 5);
    const uint8_t *t = (const uint8_t *)text;
    size_t i = 0;
    while (i < tn) {
        uint32_t cp;
        size_t l = fz_utf8_decode(t + i, tn - i, &cp);
        if (l && cp && fz_is_space(cp)) {
            i += l;
            continue;
        }
        size_t ws = i; /* a word: up to the next valid whitespace character (invalid bytes are part of it) */
        while (i < tn) {
            l = fz_utf8_decode(t + i, tn - i, &cp);
            if (l == 0 || cp == 0) {
                fmt = 1, i++;
                continue;
            }
            if (fz_is_space(cp)) break;
            i += l;
        }
        int id = vocab_id(z, text + ws, i - ws);
        if (id >= 0) rids[rcount++] = id;
        else if (flags & RNN_ENCODE_UNK_SKIP) runknown++;
        else if ((flags & RNN_ENCODE_UNK_MAP) && unk >= 0) rids[rcount++] = unk, runknown++;
        else notfound = 1;
    }
    if (flags & RNN_ENCODE_EOS) {
        if (eos >= 0) rids[rcount++] = eos;
        else notfound = 1;
    }

    int rc = rnn_vocab_encode(z->m, text, tn, flags, idp, cap, no_count ? NULL : &count, unkp);
    if (g_trace) fprintf(stderr, "  vocab_encode(%zu bytes, flags %#x, cap %zu) = %d, count %zu\n", tn, flags, cap, rc, count);
    if (!valid_args || no_count) {
        FZ_ASSERT(rc == RNN_ERR_INVALID || (!z->has_vocab && rc == RNN_ERR_STATE), "encode with bad arguments = %d", rc);
        return rc;
    }
    if (!z->has_vocab) {
        FZ_ASSERT(rc == RNN_ERR_STATE, "encode without a vocabulary = %d", rc);
        return rc;
    }
    if (fmt || notfound) {
        FZ_ASSERT((fmt && rc == RNN_ERR_FORMAT) || (notfound && rc == RNN_ERR_NOTFOUND),
                  "encode: %d, want %s%s%s", rc, fmt ? "FORMAT" : "", fmt && notfound ? " or " : "",
                  notfound ? "NOTFOUND" : "");
        return rc;
    }
    /* a vocabulary without "<unk>" may refuse RNN_ENCODE_UNK_MAP up front */
    if (rc == RNN_ERR_NOTFOUND && (flags & RNN_ENCODE_UNK_MAP) && unk < 0) return rc;
    if (rcount > cap) {
        /* ids NULL and cap 0 measure: RNN_ERR_SIZE by "count > cap", or RNN_OK as rnn_model_save_mem's
           size query (the header does not say which) */
        FZ_ASSERT((rc == RNN_ERR_SIZE || (!idp && rc == RNN_OK)) && count == rcount,
                  "encode: %d, count %zu; want SIZE, %zu > cap %zu", rc, count, rcount, cap);
        for (int k = 0; k < 64; k++) FZ_ASSERT(ids[k] == -7, "encode wrote ids[%d] with RNN_ERR_SIZE", k);
        return rc;
    }
    FZ_ASSERT(rc == RNN_OK && count == rcount, "encode = %d, count %zu; want OK, %zu", rc, count, rcount);
    for (size_t k = 0; k < rcount; k++)
        FZ_ASSERT(ids[k] == rids[k], "encode: id %zu is %d, want %d", k, (int)ids[k], (int)rids[k]);
    if (unkp) FZ_ASSERT(unknown == runknown, "encode: %zu unknown words, want %zu", unknown, runknown);
    return rc;
}

/* Is byte pos of a (valid) image one that may change without the load failing: the reserved header
 * word, or a section's tag (an unknown section is skipped; a stricter reader refuses both)? */
static int lenient_byte(const uint8_t *img, size_t n, size_t pos)
{
    if (pos >= 12 && pos < 16) return 1;
    size_t p = 16;
    while (p + 12 <= n) {
        uint64_t len = 0;
        for (int i = 7; i >= 0; i--) len = len << 8 | img[p + 4 + i];
        if (pos >= p && pos < p + 4) return 1;
        if (len > n - p - 12) break;
        p += 16 + (size_t)len;
    }
    return 0;
}

/* The loaded model m2 equals the handle (parameters, configuration, vocabulary, app data, and the
 * hidden state when it was restored). */
static void check_loaded(fz *z, rnn_model *m2, int want_batch, const void *app, size_t app_len)
{
    float *d1, *d2, *g;
    size_t n1, n2;
    rnn_param_get_block(z->m, &d1, &g, &n1);
    rnn_param_get_block(m2, &d2, &g, &n2);
    FZ_ASSERT(n1 == n2 && memcmp(d1, d2, n1 * sizeof *d1) == 0, "parameters differ after save/load");
    rnn_config c;
    rnn_config_init(&c, sizeof c);
    FZ_ASSERT(rnn_model_get_config(m2, &c) == RNN_OK && c.cell == z->cfg.cell && c.vocab_size == z->V &&
                  c.emb_size == z->cfg.emb_size && c.hidden_size == z->H && c.num_layers == z->L &&
                  !c.tied == !z->cfg.tied && c.dropout == z->cfg.dropout && c.seed == z->cfg.seed,
              "configuration differs after save/load");
    int nv = -1;
    FZ_ASSERT(rnn_vocab_get_size(m2, &nv) == RNN_OK && nv == (z->has_vocab ? z->V : 0), "vocab size %d after load", nv);
    for (int k = 0; k < nv; k++) {
        const char *w = NULL;
        FZ_ASSERT(rnn_vocab_get_word(m2, k, &w) == RNN_OK && strcmp(w, z->vocab[k]) == 0, "word %d after load", k);
    }
    const void *a2;
    size_t l2;
    FZ_ASSERT(rnn_model_get_app_data(m2, &a2, &l2) == RNN_OK && l2 == app_len && (!l2 || memcmp(a2, app, l2) == 0),
              "app data differs after save/load");
    int b = -1;
    rnn_model_get_batch(m2, &b);
    FZ_ASSERT(b == want_batch, "loaded state batch %d, want %d", b, want_batch);
    if (b > 0) {
        size_t sz = (size_t)z->L * b * z->H;
        float h1[3 * MAXB * 6 * 2] = {0}, h2[3 * MAXB * 6 * 2] = {0};
        FZ_ASSERT(rnn_model_get_hidden(z->m, b, h1, h1 + sz) == RNN_OK && rnn_model_get_hidden(m2, b, h2, h2 + sz) == RNN_OK,
                  "get_hidden");
        FZ_ASSERT(memcmp(h1, h2, 2 * sz * sizeof *h1) == 0, "hidden state differs after save/load");
    }
}

/* rnn_model_save_mem (size query, a buffer too small, the image) and rnn_model_load_mem of the image
 * (with an allocation failure, RNN_LOAD_NO_STATE), of a prefix and of a corrupted copy. */
static void op_mem_roundtrip(fz *z)
{
    fz_in *in = &z->in;
    unsigned sel = fz_u8(in);
    unsigned flags = sel & 1 ? RNN_SAVE_STATE : 0, lflags = sel & 4 ? RNN_LOAD_NO_STATE : 0;
    const void *app = (sel & 2) && z->app_len ? z->app : NULL;
    size_t app_len = app ? z->app_len : 0, need = 0, len = 0;
    int rc;
    if ((sel & 0x30) == 0x30) {
        rc = rnn_model_save_mem(z->m, NULL, 0, &need, flags | 4u, app, app_len);
        FZ_ASSERT(rc == RNN_ERR_INVALID && rnn_model_errcode(z->m) == RNN_ERR_INVALID, "save_mem with flag 4 = %d", rc);
        rnn_model *m2 = (rnn_model *)z;
        char err[128];
        uint8_t junk[32] = {0};
        rc = rnn_model_load_mem(&m2, junk, sizeof junk, NULL, lflags | 2u, err, sizeof err);
        FZ_ASSERT(rc == RNN_ERR_INVALID && m2 == NULL && err[0], "load_mem with flag 2 = %d", rc);
        return;
    }
    rc = rnn_model_save_mem(z->m, NULL, 0, &need, flags, app, app_len);
    FZ_ASSERT(rc == RNN_OK && need > 16, "save_mem size query = %d, %zu bytes", rc, need);
    uint8_t *img = malloc(need + 8);
    FZ_ASSERT(img, "malloc");
    memset(img, 0x5A, need + 8);
    size_t cap = fz_u16(in) % need;
    rc = rnn_model_save_mem(z->m, img, cap, &len, flags, app, app_len);
    FZ_ASSERT(rc == RNN_ERR_SIZE && len == need, "save_mem with cap %zu of %zu = %d, len %zu", cap, need, rc, len);
    FZ_ASSERT(rnn_model_errcode(z->m) == RNN_ERR_SIZE && rnn_model_errmsg(z->m)[0], "errcode after RNN_ERR_SIZE");
    for (size_t i = 0; i < need + 8; i++) FZ_ASSERT(img[i] == 0x5A, "save_mem wrote byte %zu with RNN_ERR_SIZE", i);
    rc = rnn_model_save_mem(z->m, img, need + (sel & 8 ? 8 : 0), &len, flags, app, app_len);
    FZ_ASSERT(rc == RNN_OK && len == need, "save_mem = %d, len %zu of %zu", rc, len, need);
    for (size_t i = need; i < need + 8; i++) FZ_ASSERT(img[i] == 0x5A, "save_mem wrote byte %zu past the image", i);

    counting c2 = {0, 0, (long)(fz_u8(in) % 24), 0};
    rnn_allocator al = {sizeof al, c_alloc, c_free, &c2};
    rnn_model *m2 = (rnn_model *)&c2;
    char err[256];
    rc = rnn_model_load_mem(&m2, img, need, &al, lflags, err, sizeof err);
    if (c2.failed) FZ_ASSERT(rc == RNN_ERR_NOMEM && m2 == NULL && err[0] && c2.live == 0, "load_mem with a failing allocation = %d (%s)", rc, err);
    else FZ_ASSERT(rc == RNN_OK && err[0] == 0, "load_mem of a saved image = %d: %s", rc, err);
    if (rc == RNN_OK) {
        check_loaded(z, m2, (flags && !lflags) ? z->batch : 0, app, app_len);
        rnn_model_free(m2);
        FZ_ASSERT(c2.live == 0, "%ld allocations of a memory-loaded model not freed", c2.live);
    }

    size_t cut = fz_u16(in) % need;
    m2 = (rnn_model *)&c2;
    rc = rnn_model_load_mem(&m2, img, cut, NULL, lflags, err, sizeof err);
    FZ_ASSERT(rc == RNN_ERR_FORMAT && m2 == NULL && err[0], "load_mem of %zu of %zu bytes = %d", cut, need, rc);

    size_t pos = fz_u16(in) % need;
    uint8_t x = (uint8_t)(fz_u8(in) | 1);
    int lenient = lenient_byte(img, need, pos);
    img[pos] ^= x;
    m2 = (rnn_model *)&c2;
    rc = rnn_model_load_mem(&m2, img, need, NULL, lflags, err, sizeof err);
    FZ_ASSERT(rc == RNN_ERR_FORMAT || (lenient && rc == RNN_OK), "load_mem with byte %zu of %zu ^ %#x = %d", pos, need,
              (unsigned)x, rc);
    FZ_ASSERT((rc == RNN_OK) == (m2 != NULL), "load_mem: *out");
    rnn_model_free(m2);
    free(img);
}

/* Fills `rows` rows of `steps` tokens `stride` apart (stride >= steps); the entries between rows
 * get `pad` (out of range: reading them fails). Returns fz_tokens' verdict. */
static int fz_rows(fz *z, int32_t *t, int rows, int steps, int stride, int targets, int32_t pad)
{
    int ok = 1;
    for (int i = 0; i < rows * stride; i++) t[i] = pad;
    for (int r = 0; r < rows; r++) ok &= fz_tokens(z, t + (size_t)r * stride, steps, targets);
    return ok;
}

static void densify(int32_t *d, const int32_t *s, int rows, int steps, int stride)
{
    for (int r = 0; r < rows; r++) memcpy(d + (size_t)r * steps, s + (size_t)r * stride, sizeof *d * (size_t)steps);
}

/* A stride from the input: 0, steps + 1..3, between 0 and steps (invalid) or negative (invalid). */
static int fz_stride(fz_in *in, int steps, int *valid)
{
    unsigned x = fz_u8(in);
    int s;
    switch (x % 4) {
    case 0: s = 0; break;
    case 1: s = steps + 1 + (int)(x >> 2) % 3; break;
    case 2: s = steps > 1 ? 1 + (int)(x >> 2) % (steps - 1) : -1; break;
    default: s = -1 - (int)(x >> 2) % 2; break;
    }
    *valid = s == 0 || s >= steps;
    return s;
}

#define MAXW (MAXB * (MAXS + 3)) /* a strided token array */

/* rnn_forward on a strided array whose padding is out of range. */
static int op_forward_strided(fz *z, long failed0)
{
    fz_in *in = &z->in;
    int b = (fz_u8(in) & 7) ? z->batch : fz_range(in, -1, MAXB);
    int s = fz_range(in, 1, MAXS), sok;
    int stride = fz_stride(in, s, &sok);
    int32_t tok[MAXW] = {0}, tgt[MAXW] = {0};
    int ok = 1;
    if (b > 0 && sok) {
        int rs = stride ? stride : s;
        ok = fz_rows(z, tok, b, s, rs, 0, z->V + 7) & fz_rows(z, tgt, b, s, rs, 1, -9);
    }
    double loss = -1;
    if (!params_finite(z)) z->wild_state = 1;
    int rc = rnn_forward(z->m, tok, tgt, b, s, stride, &loss);
    if (g_trace) fprintf(stderr, "  forward(b %d, s %d, stride %d) = %d\n", b, s, stride, rc);
    if (b > 0 && ok && b == z->batch && sok) {
        FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "strided forward = %d: %s", rc,
                  rnn_model_errmsg(z->m));
    } else {
        FZ_ASSERT(rc != RNN_OK && ALLOWED(rc, RNN_ERR_INVALID, RNN_ERR_RANGE, RNN_ERR_STATE), "forward(b %d/%d, s %d, stride %d, ok %d) = %d",
                  b, z->batch, s, stride, ok, rc);
        if (!sok && b > 0 && b == z->batch) FZ_ASSERT(rc == RNN_ERR_INVALID, "forward with stride %d < steps %d = %d", stride, s, rc);
    }
    if (rc == RNN_OK) {
        FZ_ASSERT(loss >= 0 || isnan(loss), "loss %g", loss);
        z->pending = 1;
    }
    return rc;
}

/* rnn_evaluate of the same chunk dense and strided, from the same hidden state: the same bits. */
static void op_evaluate_strided(fz *z, long failed0)
{
    fz_in *in = &z->in;
    int b = z->batch;
    if (b <= 0) return;
    int s = fz_range(in, 1, MAXS);
    unsigned sel = fz_u8(in);
    int stride = s + 1 + (int)(sel >> 4) % 3;
    int32_t tok[MAXW], tgt[MAXW], dtok[MAXW], dtgt[MAXW];
    int ok = fz_rows(z, tok, b, s, stride, 0, z->V + 7);
    int ok_t = fz_rows(z, tgt, b, s, stride, 1, -9);
    if (!(sel & 2)) ok &= ok_t;
    densify(dtok, tok, b, s, stride);
    densify(dtgt, tgt, b, s, stride);
    size_t hs = (size_t)z->L * b * z->H;
    float h0[3 * MAXB * 6], c0[3 * MAXB * 6], h1[2 * 3 * MAXB * 6] = {0}, h2[2 * 3 * MAXB * 6] = {0};
    static float lp1[MAXB * MAXS * 12], lp2[MAXB * MAXS * 12];
    memset(c0, 0, sizeof c0);
    FZ_ASSERT(rnn_model_get_hidden(z->m, b, h0, c0) == RNN_OK, "get_hidden");
    int want_lp = sel & 1;
    double l1 = -1, l2 = -2;
    if (!params_finite(z)) z->wild_state = 1;
    int rc1 = rnn_evaluate(z->m, dtok, (sel & 2) ? NULL : dtgt, b, s, 0, &l1, want_lp ? lp1 : NULL);
    FZ_ASSERT(rnn_model_get_hidden(z->m, b, h1, h1 + hs) == RNN_OK, "get_hidden");
    FZ_ASSERT(rnn_model_set_hidden(z->m, b, h0, c0) == RNN_OK, "set_hidden");
    z->pending = 0, z->had_backward = 0;
    int rc2 = rnn_evaluate(z->m, tok, (sel & 2) ? NULL : tgt, b, s, stride, &l2, want_lp ? lp2 : NULL);
    FZ_ASSERT(rnn_model_get_hidden(z->m, b, h2, h2 + hs) == RNN_OK, "get_hidden");
    if (g_trace) fprintf(stderr, "  evaluate dense %d / stride %d: %d\n", rc1, stride, rc2);
    if (!ok) {
        FZ_ASSERT(rc1 == RNN_ERR_RANGE && rc2 == RNN_ERR_RANGE, "evaluate of a bad token: %d dense, %d strided", rc1, rc2);
        return;
    }
    FZ_ASSERT(rc1 == RNN_OK || (rc1 == RNN_ERR_NOMEM && z->cnt.failed > failed0), "dense evaluate = %d", rc1);
    FZ_ASSERT(rc2 == RNN_OK || (rc2 == RNN_ERR_NOMEM && z->cnt.failed > failed0), "strided evaluate = %d", rc2);
    if (rc1 != RNN_OK || rc2 != RNN_OK) return;
    FZ_ASSERT(memcmp(&l1, &l2, sizeof l1) == 0, "loss %.17g dense, %.17g with stride %d", l1, l2, stride);
    if (want_lp) FZ_ASSERT(memcmp(lp1, lp2, sizeof(float) * (size_t)b * s * z->V) == 0, "log-probabilities differ with stride %d", stride);
    FZ_ASSERT(memcmp(h1, h2, sizeof(float) * 2 * hs) == 0, "hidden state differs with stride %d", stride);
}

/* rnn_state_feed / rnn_state_score of the same tokens dense and strided, from the same state: the
 * same bits; a stride in (0, steps) is RNN_ERR_INVALID and changes nothing. */
static void op_state_strided(fz *z, long failed0)
{
    fz_in *in = &z->in;
    int i = (int)(fz_u8(in) % MAXST);
    rnn_state *st = z->st[i];
    if (!st) return;
    int b = z->st_batch[i], s = fz_range(in, 1, MAXS);
    unsigned sel = fz_u8(in);
    int stride = s + 1 + (int)(sel >> 4) % 3;
    int32_t tok[MAXW], dtok[MAXW];
    int ok = fz_rows(z, tok, b, s, stride, 0, z->V + 7);
    densify(dtok, tok, b, s, stride);
    size_t hs = (size_t)z->L * b * z->H;
    float h0[2 * 3 * MAXB * 6] = {0}, h1[2 * 3 * MAXB * 6] = {0}, h2[2 * 3 * MAXB * 6] = {0};
    double lp1[MAXB], lp2[MAXB];
    FZ_ASSERT(rnn_state_get_hidden(st, h0, h0 + hs) == RNN_OK, "state_get_hidden");
    if (sel & 8) {
        if (s < 2) return;
        int bad = 1 + (int)(sel >> 4) % (s - 1);
        int rc = (sel & 4) ? rnn_state_feed(st, tok, s, bad) : rnn_state_score(st, tok, s, bad, lp1);
        FZ_ASSERT(rc == RNN_ERR_INVALID && rnn_state_errcode(st) == RNN_ERR_INVALID && rnn_state_errmsg(st)[0],
                  "state %s with stride %d < steps %d = %d", (sel & 4) ? "feed" : "score", bad, s, rc);
        FZ_ASSERT(rnn_state_get_hidden(st, h1, h1 + hs) == RNN_OK && memcmp(h0, h1, sizeof(float) * 2 * hs) == 0,
                  "a refused call changed the state");
        return;
    }
    int rc1 = (sel & 4) ? rnn_state_feed(st, dtok, s, 0) : rnn_state_score(st, dtok, s, 0, lp1);
    FZ_ASSERT(rnn_state_get_hidden(st, h1, h1 + hs) == RNN_OK, "state_get_hidden");
    FZ_ASSERT(rnn_state_set_hidden(st, h0, h0 + hs) == RNN_OK, "state_set_hidden");
    int rc2 = (sel & 4) ? rnn_state_feed(st, tok, s, stride) : rnn_state_score(st, tok, s, stride, lp2);
    FZ_ASSERT(rnn_state_get_hidden(st, h2, h2 + hs) == RNN_OK, "state_get_hidden");
    if (!ok) {
        FZ_ASSERT(rc1 == RNN_ERR_RANGE && rc2 == RNN_ERR_RANGE, "state call with a bad token: %d dense, %d strided", rc1, rc2);
        return;
    }
    FZ_ASSERT(rc1 == RNN_OK || (rc1 == RNN_ERR_NOMEM && z->cnt.failed > failed0), "dense state call = %d", rc1);
    FZ_ASSERT(rc2 == RNN_OK || (rc2 == RNN_ERR_NOMEM && z->cnt.failed > failed0), "strided state call = %d", rc2);
    if (rc1 != RNN_OK || rc2 != RNN_OK) return;
    if (!(sel & 4)) FZ_ASSERT(memcmp(lp1, lp2, sizeof(double) * (size_t)b) == 0, "scores differ with stride %d", stride);
    FZ_ASSERT(memcmp(h1, h2, sizeof(float) * 2 * hs) == 0, "state differs with stride %d", stride);
}

/* An rnn_sampling from the input, as a caller of any struct size would pass it: the full struct,
 * an older (shorter) one whose missing fields take their defaults, a newer (longer) one with a zero
 * or a nonzero tail, or a size inside a field. *valid: whether the call must accept it. */
typedef struct fz_sampling {
    rnn_sampling s;
    unsigned char tail[8];
} fz_sampling;

static const rnn_sampling *fz_make_sampling(fz *z, fz_sampling *fs, int *valid, float *temp)
{
    fz_in *in = &z->in;
    memset(fs, 0, sizeof *fs);
    rnn_sampling_init(&fs->s, sizeof fs->s);
    unsigned sel = fz_u8(in);
    float t = (sel & 1) ? ((sel & 16) ? fz_float(in) : (float)fz_u8(in) / 64.0f) : 1.0f;
    int k = (sel & 2) ? fz_range(in, -2, z->V + 1) : 0;
    float p = (sel & 4) ? ((sel & 32) ? fz_float(in) : (float)fz_u8(in) / 255.0f) : 1.0f;
    fs->s.temperature = t, fs->s.top_k = k, fs->s.top_p = p;
    int size_ok = 1;
    switch (fz_u8(in) % 10) {
    case 4: fs->s.struct_size = offsetof(rnn_sampling, top_k), k = 0, p = 1.0f; break; /* temperature only */
    case 5: fs->s.struct_size = offsetof(rnn_sampling, top_p), p = 1.0f; break;      /* no top_p */
    case 6: fs->s.struct_size = sizeof *fs; break;                                     /* longer, zero tail */
    case 7:
        fs->s.struct_size = sizeof *fs;
        fs->tail[fz_u8(in) % sizeof fs->tail] = (unsigned char)(1 + fz_u8(in) % 255);
        size_ok = 0;
        break;
    case 8: fs->s.struct_size = offsetof(rnn_sampling, top_k) + 1 + fz_u8(in) % 3, size_ok = 0; break; /* inside top_k */
    default: break;
    }
    *temp = t;
    if (sel & 8) {
        *valid = 1;
        return NULL; /* the defaults */
    }
    *valid = size_ok && isfinite(t) && t >= 0 && k >= 0 && p > 0 && p <= 1;
    return &fs->s;
}

/* rnn_sample with a full rnn_sampling (top-k, top-p, struct sizes). */
static int op_sample_full(fz *z, long failed0)
{
    fz_in *in = &z->in;
    int b = (fz_u8(in) & 7) ? z->batch : fz_range(in, -1, MAXB);
    fz_sampling fs;
    int valid;
    float temp;
    const rnn_sampling *sp = fz_make_sampling(z, &fs, &valid, &temp);
    int32_t tok[MAXB], next[MAXB];
    int ok = b > 0 ? fz_tokens(z, tok, b, 0) : 1;
    for (int k = 0; k < MAXB; k++) next[k] = -7;
    if (!params_finite(z)) z->wild_state = 1;
    int rc = rnn_sample(z->m, tok, b, sp, next);
    if (b > 0 && ok && b == z->batch && valid) {
        FZ_ASSERT(rc == RNN_OK || rc == RNN_ERR_NUMERIC || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0),
                  "sample = %d: %s", rc, rnn_model_errmsg(z->m));
        if (rc == RNN_ERR_NUMERIC)
            for (int k = 0; k < b; k++) FZ_ASSERT(next[k] == -7, "sample wrote next[%d] on RNN_ERR_NUMERIC", k);
        if (rc == RNN_OK)
            for (int k = 0; k < b; k++) FZ_ASSERT(next[k] >= 0 && next[k] < z->V, "sampled %d (T=%g)", next[k], temp);
    } else {
        FZ_ASSERT(rc != RNN_OK && ALLOWED(rc, RNN_ERR_INVALID, RNN_ERR_RANGE, RNN_ERR_STATE), "sample = %d", rc);
        if (!valid && b > 0 && ok && b == z->batch) FZ_ASSERT(rc == RNN_ERR_INVALID, "sample with invalid sampling = %d", rc);
    }
    if (rc == RNN_OK || rc == RNN_ERR_NUMERIC) z->pending = 0; /* (a failed draw drops it too) */
    return rc;
}

/* rnn_state_draw / rnn_state_generate with the struct sizes of rnn_sampling (no allocation). */
static void op_state_sampling(fz *z)
{
    fz_in *in = &z->in;
    int i = (int)(fz_u8(in) % MAXST);
    rnn_state *st = z->st[i];
    if (!st) return;
    int b = z->st_batch[i];
    fz_sampling fs;
    int valid;
    float temp;
    const rnn_sampling *sp = fz_make_sampling(z, &fs, &valid, &temp);
    int count = (int)(fz_u8(in) % 4);
    int32_t out[MAXB * 4];
    for (int k = 0; k < MAXB * 4; k++) out[k] = -7;
    int rc = count == 0 ? rnn_state_draw(st, sp, out) : rnn_state_generate(st, sp, count, out);
    if (count == 0) count = 1;
    if (!valid) {
        FZ_ASSERT(rc == RNN_ERR_INVALID && rnn_state_errcode(st) == RNN_ERR_INVALID, "state sampling (invalid) = %d", rc);
        return;
    }
    FZ_ASSERT(rc == RNN_OK || rc == RNN_ERR_NUMERIC, "state draw/generate = %d: %s", rc, rnn_state_errmsg(st));
    if (rc == RNN_OK)
        for (int k = 0; k < b * count; k++) FZ_ASSERT(out[k] >= 0 && out[k] < z->V, "drawn token %d (T=%g)", out[k], temp);
}

/* rnn_model_get_config and rnn_config_init at every struct size a caller may have: only that many
 * bytes are written; a longer struct's unknown tail is zeroed; a size inside a field is refused. */
static void op_config_sizes(fz *z)
{
    fz_in *in = &z->in;
    struct {
        rnn_config c;
        unsigned char tail[8];
    } big;
    const size_t sizes[] = {offsetof(rnn_config, cell) + sizeof(int), offsetof(rnn_config, hidden_size) + sizeof(int),
                            offsetof(rnn_config, tied) + sizeof(int), sizeof(rnn_config), sizeof big,
                            offsetof(rnn_config, dropout) + 2};
    unsigned sel = fz_u8(in);
    size_t sz = sizes[sel % 6];
    int bad = sel % 6 == 5, init = (sel >> 3) & 1;
    memset(&big, 0xAB, sizeof big);
    if (init) memset(big.tail, 0, sizeof big.tail); /* what rnn_config_init does with a nonzero tail is not said */
    big.c.struct_size = sz;
    int rc = init ? rnn_config_init(&big.c, sz) : rnn_model_get_config(z->m, &big.c);
    const unsigned char *p = (const unsigned char *)&big;
    if (bad) {
        FZ_ASSERT(rc == RNN_ERR_INVALID, "%s with struct_size %zu = %d", init ? "config_init" : "get_config", sz, rc);
        for (size_t i = sizeof(size_t); i < sizeof big; i++)
            FZ_ASSERT(p[i] == (init && i >= sizeof(rnn_config) ? 0 : 0xAB), "a refused call wrote byte %zu", i);
        return;
    }
    FZ_ASSERT(rc == RNN_OK && big.c.struct_size == sz, "%s with struct_size %zu = %d", init ? "config_init" : "get_config", sz, rc);
    size_t known = sz < sizeof(rnn_config) ? sz : sizeof(rnn_config);
    for (size_t i = known; i < sizeof big; i++)
        FZ_ASSERT(p[i] == (i < sz || (init && i >= sizeof(rnn_config)) ? 0 : 0xAB), "struct_size %zu: byte %zu is %#x", sz,
                  i, p[i]);
    rnn_config want;
    rnn_config_init(&want, sizeof want);
    if (!init) want = z->cfg;
#define HAS(f) (sz >= offsetof(rnn_config, f) + sizeof big.c.f)
    FZ_ASSERT(!HAS(cell) || big.c.cell == want.cell, "cell");
    FZ_ASSERT(!HAS(vocab_size) || big.c.vocab_size == want.vocab_size, "vocab_size");
    FZ_ASSERT(!HAS(emb_size) || big.c.emb_size == want.emb_size, "emb_size");
    FZ_ASSERT(!HAS(hidden_size) || big.c.hidden_size == want.hidden_size, "hidden_size");
    FZ_ASSERT(!HAS(num_layers) || big.c.num_layers == want.num_layers, "num_layers");
    FZ_ASSERT(!HAS(dropout) || big.c.dropout == want.dropout, "dropout");
    FZ_ASSERT(!HAS(tied) || !big.c.tied == !want.tied, "tied");
    FZ_ASSERT(!HAS(seed) || big.c.seed == want.seed, "seed");
#undef HAS
}

/* rnn_param_get / rnn_param_find at the struct sizes of rnn_param (a struct the library fills). */
static int op_param_sizes(fz *z)
{
    fz_in *in = &z->in;
    struct {
        rnn_param p;
        unsigned char tail[8];
    } big;
    const size_t sizes[] = {offsetof(rnn_param, grad) + sizeof(float *), offsetof(rnn_param, cols) + sizeof(int),
                            sizeof(rnn_param), sizeof big, offsetof(rnn_param, rows) + 2};
    unsigned sel = fz_u8(in);
    size_t sz = sizes[sel % 5];
    int bad = sel % 5 == 4;
    int cnt = 0;
    rnn_param_get_count(z->m, &cnt);
    int idx = fz_range(in, -1, cnt);
    rnn_param full = {.struct_size = sizeof full};
    int rcf = rnn_param_get(z->m, idx, &full);
    FZ_ASSERT(rcf == (idx >= 0 && idx < cnt ? RNN_OK : RNN_ERR_RANGE), "param_get(%d) = %d", idx, rcf);
    memset(&big, 0xAB, sizeof big);
    big.p.struct_size = sz;
    int by_name = (sel >> 4) & 1 && rcf == RNN_OK;
    int rc = by_name ? rnn_param_find(z->m, full.name, &big.p) : rnn_param_get(z->m, idx, &big.p);
    const unsigned char *p = (const unsigned char *)&big;
    if (bad) {
        FZ_ASSERT(rc == RNN_ERR_INVALID || (rc == RNN_ERR_RANGE && rcf == RNN_ERR_RANGE), "param with struct_size %zu = %d", sz, rc);
        for (size_t i = sizeof(size_t); i < sizeof big; i++) FZ_ASSERT(p[i] == 0xAB, "a refused call wrote byte %zu", i);
        return rc;
    }
    FZ_ASSERT(rc == rcf, "param_%s(%d) with struct_size %zu = %d, full struct %d", by_name ? "find" : "get", idx, sz, rc, rcf);
    if (rc != RNN_OK) return rc;
    size_t known = sz < sizeof(rnn_param) ? sz : sizeof(rnn_param);
    for (size_t i = known; i < sizeof big; i++)
        FZ_ASSERT(p[i] == (i < sz ? 0 : 0xAB), "struct_size %zu: byte %zu is %#x", sz, i, p[i]);
    FZ_ASSERT(big.p.struct_size == sz && strcmp(big.p.name, full.name) == 0 && big.p.data == full.data && big.p.grad == full.grad,
              "param view");
    if (sz >= offsetof(rnn_param, cols) + sizeof(int)) FZ_ASSERT(big.p.rows == full.rows && big.p.cols == full.cols, "param shape");
    if (sz >= sizeof(rnn_param)) FZ_ASSERT(big.p.size == full.size, "param size");
    FZ_ASSERT(rnn_param_get(z->m, 0, NULL) == RNN_ERR_INVALID, "param_get(NULL)");
    return rc;
}

/* Calls that touch no handle (any thread may make them) and the error state of the handles. */
static void op_static(fz *z)
{
    fz_in *in = &z->in;
    unsigned sel = fz_u8(in);
    int lim = (int)(sel % 10) - 1; /* -1, every limit (0 .. RNN_LIMIT_CUTOFFS), one past the last */
    int64_t v = -1;
    int rc = rnn_limit_get(lim, &v);
    if (lim >= 0 && lim <= RNN_LIMIT_CUTOFFS) FZ_ASSERT(rc == RNN_OK && v > 0, "limit %d = %d (%lld)", lim, rc, (long long)v);
    else FZ_ASSERT(rc == RNN_ERR_INVALID, "limit %d = %d", lim, rc);
    FZ_ASSERT(rnn_limit_get(RNN_LIMIT_DIM, NULL) == RNN_ERR_INVALID, "limit_get(NULL)");
    int cell = (int)(fz_u8(in) % (RNN_CELL_COUNT + 2)) - 1, id = -5;
    const char *name = NULL;
    rc = rnn_cell_name(cell, &name);
    if (cell >= 0 && cell < RNN_CELL_COUNT) {
        FZ_ASSERT(rc == RNN_OK && name && rnn_cell_find(name, &id) == RNN_OK && id == cell, "cell %d", cell);
    } else {
        FZ_ASSERT(rc == RNN_ERR_INVALID, "cell_name(%d) = %d", cell, rc);
    }
    FZ_ASSERT(rnn_cell_find("lstm", &id) == RNN_ERR_NOTFOUND && rnn_cell_find(NULL, &id) == RNN_ERR_INVALID &&
                  rnn_cell_find("GRU", NULL) == RNN_ERR_INVALID && rnn_cell_name(0, NULL) == RNN_ERR_INVALID,
              "cell lookups");
    const char *s = rnn_status_string((int)fz_u8(in) - 2);
    FZ_ASSERT(s && s[0], "status_string");
    FZ_ASSERT(rnn_version_number() == RNN_VERSION_NUMBER && strcmp(rnn_version_string(), RNN_VERSION_STRING) == 0, "version");
    int ec = rnn_model_errcode(z->m);
    const char *em = rnn_model_errmsg(z->m);
    FZ_ASSERT(ec >= 0 && ec <= RNN_ERR_SIZE && em && (ec == RNN_OK) == (em[0] == 0), "errcode %d, errmsg \"%s\"", ec, em ? em : "(null)");
    FZ_ASSERT(rnn_model_errcode(NULL) == RNN_ERR_INVALID && rnn_model_errmsg(NULL) != NULL, "NULL handle");
    FZ_ASSERT(rnn_state_errcode(NULL) == RNN_ERR_INVALID && rnn_state_errmsg(NULL) != NULL, "NULL state");
    for (int i = 0; i < MAXST; i++) {
        if (!z->st[i]) continue;
        ec = rnn_state_errcode(z->st[i]);
        em = rnn_state_errmsg(z->st[i]);
        FZ_ASSERT(ec >= 0 && ec <= RNN_ERR_SIZE && em && (ec == RNN_OK) == (em[0] == 0), "state errcode %d, \"%s\"", ec,
                  em ? em : "(null)");
    }
}

/* rnn_param_declare_grad_rows (expert, 1.2): up to 8 rows, in and out of range; a refused call
   changes nothing (step() compares the hash), an accepted one changes no value either (the
   fuzzer writes no gradient itself, so every declaration here is true) */
static int op_declare_rows(fz *z)
{
    int32_t rows[8];
    int n = fz_u8(&z->in) % 9, bad = 0;
    for (int k = 0; k < n; k++) {
        rows[k] = fz_range(&z->in, -2, z->V + 1);
        bad |= rows[k] < 0 || rows[k] >= z->V;
    }
    int rc = rnn_param_declare_grad_rows(z->m, n ? rows : NULL, (size_t)n);
    FZ_ASSERT(bad ? rc == RNN_ERR_INVALID : rc == RNN_OK, "declare_grad_rows(%d rows, bad %d) = %d", n, bad, rc);
    return rc;
}

/* rnn_set_loss_denominator (expert, 1.3): 0, a count, a fraction, or a negative or non-finite
   value (refused, changing nothing); the setting changes no parameter, gradient or state */
static int op_loss_denominator(fz *z)
{
    static const double vals[] = {0.0, 1.0, 7.0, 0.25, 1e30, -1.0, -0.0, NAN, INFINITY, -INFINITY};
    double d = vals[fz_u8(&z->in) % (sizeof vals / sizeof vals[0])];
    int bad = !(d >= 0.0) || isinf(d);
    int rc = rnn_set_loss_denominator(z->m, d);
    FZ_ASSERT(bad ? rc == RNN_ERR_INVALID : rc == RNN_OK, "set_loss_denominator(%g) = %d", d, rc);
    return rc;
}

/* One of the 1.0 operations; *checked, *msg and *pure as in step(). */
static int op_new(fz *z, unsigned k, long failed0, int *checked, int *msg, int *pure)
{
    *checked = 0, *msg = 0, *pure = 0;
    switch (k) {
    case 0:
    case 1:
    case 20:
        *checked = 1, *pure = 1;
        return op_vocab_find(z);
    case 2:
    case 3:
    case 4:
    case 19:
        *checked = 1, *pure = 1;
        return op_vocab_encode(z);
    case 5:
    case 6:
    case 21:
        *pure = 1;
        op_mem_roundtrip(z);
        return 0;
    case 7:
        *checked = 1, *msg = 1;
        return op_forward_strided(z, failed0);
    case 8:
    case 9:
    case 22:
        op_evaluate_strided(z, failed0);
        return 0;
    case 10:
    case 11:
        op_state_strided(z, failed0);
        return 0;
    case 12:
    case 13:
        *checked = 1, *msg = 1;
        return op_sample_full(z, failed0);
    case 14:
        op_state_sampling(z);
        return 0;
    case 15:
    case 16:
    case 23:
        *checked = 1, *msg = 1;
        return op_vocab_set(z, failed0);
    case 17:
        *pure = 1;
        op_static(z);
        return 0;
    default: { /* 18 */
        *pure = 1;
        unsigned sel = fz_u8(&z->in);
        if (sel & 1) return op_param_sizes(z);
        if (sel & 0x80) {
            *checked = 1, *msg = 1;
            return op_declare_rows(z);
        }
        if (sel & 0x40) {
            *checked = 1, *msg = 1;
            return op_loss_denominator(z);
        }
        op_config_sizes(z);
        return 0;
    }
    }
}

static void step(fz *z)
{
    fz_in *in = &z->in;
    unsigned op = fz_u8(in);
    /* 0-23: the 0.1 operations (op % 24); 24-47: the 1.0 operations (op bytes 216-239) */
    unsigned opi = op >= OP_NEW_FIRST && op < OP_NEW_FIRST + 24 ? 24 + (op - OP_NEW_FIRST) : op % 24;
    long failed0 = z->cnt.failed;
    if (g_trace) fprintf(stderr, "op %u (batch %d)\n", opi, z->batch);
    uint64_t before = model_hash(z);
    int rc = 0, checked = 1; /* checked: rc is a model call whose failure must leave the model unchanged */
    int msg = 1;             /* a failure must set rnn_model_errmsg and rnn_model_errcode (calls on a
                                non-const handle) */
    int pure = 0;            /* the operation only reads the model: nothing may change */
    int32_t tok[MAXB * MAXS], tgt[MAXB * MAXS], next[MAXB];
    float buf[MAXB * MAXS * 12], h[3 * MAXB * 6], c[3 * MAXB * 6];
    switch (opi) {
    case 0: { /* reset_hidden */
        int b = fz_range(in, -1, MAXB);
        rc = rnn_model_reset_hidden(z->m, b);
        if (b <= 0) FZ_ASSERT(rc == RNN_ERR_INVALID, "reset_state(%d) = %d", b, rc);
        else FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "reset_state = %d", rc);
        if (rc == RNN_OK) z->batch = b, z->pending = 0, z->had_backward = 0, z->wild_state = 0;
        break;
    }
    case 1: { /* reserve */
        int b = fz_range(in, -1, MAXB), s = fz_range(in, -1, MAXS);
        rc = rnn_model_reserve(z->m, b, s);
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
        rc = rnn_forward(z->m, tok, tgt, b, s, 0, &loss);
        if (g_trace) {
            fprintf(stderr, "  forward(b %d, s %d) = %d, loss %g; tokens/targets:", b, s, rc, loss);
            for (int k = 0; b > 0 && s > 0 && k < b * s; k++) fprintf(stderr, " %d/%d", tok[k], tgt[k]);
            fputc('\n', stderr);
        }
        if (b > 0 && s > 0 && ok && b == z->batch) {
            FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "forward = %d: %s", rc,
                      rnn_model_errmsg(z->m));
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
        if (z->pending == 1) FZ_ASSERT(rc == RNN_OK, "backward = %d: %s", rc, rnn_model_errmsg(z->m));
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
        rc = rnn_evaluate(z->m, tok, (sel & 2) ? NULL : tgt, b, s, 0, &loss, want_lp ? buf : NULL);
        if (b > 0 && ok && b == z->batch)
            FZ_ASSERT(rc == RNN_OK || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0), "evaluate = %d: %s", rc,
                      rnn_model_errmsg(z->m));
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
        rnn_sampling smp;
        rnn_sampling_init(&smp, sizeof smp);
        smp.temperature = temp;
        rc = rnn_sample(z->m, tok, b, &smp, next);
        if (b > 0 && ok && b == z->batch && isfinite(temp) && temp >= 0) {
            FZ_ASSERT(rc == RNN_OK || rc == RNN_ERR_NUMERIC || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0),
                      "sample = %d: %s", rc, rnn_model_errmsg(z->m));
            if (rc == RNN_ERR_NUMERIC)
                for (int k = 0; k < b; k++) FZ_ASSERT(next[k] == -7, "sample wrote next[%d] on RNN_ERR_NUMERIC", k);
            if (rc == RNN_OK)
                for (int k = 0; k < b; k++) FZ_ASSERT(next[k] >= 0 && next[k] < z->V, "sampled %d (T=%g)", next[k], temp);
        } else
            FZ_ASSERT(rc != RNN_OK && ALLOWED(rc, RNN_ERR_INVALID, RNN_ERR_RANGE, RNN_ERR_STATE), "sample = %d", rc);
        if (rc == RNN_OK || rc == RNN_ERR_NUMERIC) z->pending = 0; /* (a failed draw drops it too) */
        break;
    }
    case 14:
        rc = rnn_model_set_seed(z->m, fz_u32(in));
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
            rc = rnn_model_set_hidden(z->m, b, h, withc ? c : NULL);
            if (rc == RNN_OK) {
                z->pending = 0, z->had_backward = 0;
                for (size_t k = 0; k < (size_t)z->L * b * z->H; k++)
                    if (!(fabsf(h[k]) <= 1e4f) || (withc && !(fabsf(c[k]) <= 1e4f))) z->wild_state = 1;
            }
        } else {
            rc = rnn_model_get_hidden(z->m, b, h, withc ? c : NULL);
            msg = 0;
        }
        FZ_ASSERT(rc == (b == z->batch && b > 0 ? RNN_OK : rc) && ALLOWED(rc, RNN_OK, RNN_ERR_INVALID, RNN_ERR_STATE),
                  "get/set_state(%d / %d) = %d", b, z->batch, rc);
        FZ_ASSERT((rc == RNN_OK) == (b == z->batch && b > 0), "get/set_state(%d / %d) = %d", b, z->batch, rc);
        break;
    }
    case 16: { /* state grad */
        int b = z->batch;
        rc = rnn_model_get_hidden_grad(z->m, b, h, fz_u8(in) & 1 ? c : NULL);
        msg = 0;
        if (!z->had_backward) FZ_ASSERT(rc != RNN_OK, "get_state_grad without backward = %d", rc);
        FZ_ASSERT(ALLOWED(rc, RNN_OK, RNN_ERR_INVALID, RNN_ERR_STATE), "get_state_grad = %d", rc);
        break;
    }
    case 17: { /* parameter access and writes */
        msg = 0;
        int cnt = 0;
        FZ_ASSERT(rnn_param_get_count(z->m, &cnt) == RNN_OK && cnt == 4 * z->L + 3 - !!z->cfg.tied, "param_count %d", cnt);
        int idx = fz_range(in, -1, cnt);
        rnn_param p = {.struct_size = sizeof p};
        rc = rnn_param_get(z->m, idx, &p);
        if (idx < 0 || idx >= cnt) {
            FZ_ASSERT(rc == RNN_ERR_RANGE, "param_get(%d) = %d, want RNN_ERR_RANGE", idx, rc);
            break;
        }
        FZ_ASSERT(rc == RNN_OK && p.size == (size_t)p.rows * p.cols, "param_get(%d)", idx);
        rnn_param q = {.struct_size = sizeof q};
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
        if (rc == RNN_OK) record_vocab(z, wp);
        else FZ_ASSERT(rnn_model_errcode(z->m) == rc && rnn_model_errmsg(z->m)[0], "vocab_set = %d, errcode %d", rc,
                       rnn_model_errcode(z->m));
        msg = 0; /* rnn_vocab_get_word below may fail too (a new last failure) */
        check_vocab_kept(z); /* the new words, or the old ones after a failure */
        int n = -1;
        FZ_ASSERT(rnn_vocab_get_size(z->m, &n) == RNN_OK && (n == 0 || n == z->V), "vocab_size %d", n);
        int id = fz_range(in, -1, z->V);
        const char *w = NULL;
        int r2 = rnn_vocab_get_word(z->m, id, &w);
        FZ_ASSERT((r2 == RNN_OK) == (id >= 0 && id < n) && (r2 != RNN_OK || (w && w[0])), "vocab_word(%d) = %d", id, r2);
        if (rc == RNN_OK && id >= 0 && id < n) FZ_ASSERT(strcmp(w, words[id]) == 0, "vocab word %d", id);
        break;
    }
    case 19: { /* app data: kept for the next save (0.1 kept it in the handle) */
        size_t len = fz_u8(in) % 21;
        for (size_t k = 0; k < len; k++) z->app[k] = (unsigned char)fz_u8(in);
        z->app_len = len;
        const void *d = "x";
        size_t l = 1;
        FZ_ASSERT(rnn_model_get_app_data(z->m, &d, &l) == RNN_OK && d == NULL && l == 0, "a created model has app data");
        pure = 1;
        break;
    }
    case 20:
        save_load(z);
        checked = 0;
        break;
    case 21: {
        if (fz_u8(in) & 1) { /* librnn's threads: later passes and states run on them */
            int n = fz_range(in, -1, 3), was = 0, now = 0;
            FZ_ASSERT(rnn_model_get_threads(z->m, &was) == RNN_OK, "get_threads");
            rc = rnn_model_set_threads(z->m, n);
            FZ_ASSERT(rnn_model_get_threads(z->m, &now) == RNN_OK, "get_threads");
            if (n < 1) FZ_ASSERT(rc == RNN_ERR_INVALID && now == was, "set_threads(%d) = %d", n, rc);
            else
                FZ_ASSERT((rc == RNN_OK && now == n) || (rc == RNN_ERR_NOMEM && z->cnt.failed > failed0 && now == was),
                          "set_threads(%d) = %d (%d -> %d)", n, rc, was, now);
            break;
        }
        rnn_config cfg;
        rnn_config_init(&cfg, sizeof cfg);
        FZ_ASSERT(rnn_model_get_config(z->m, &cfg) == RNN_OK && cfg.cell == z->cfg.cell &&
                      cfg.vocab_size == z->cfg.vocab_size && cfg.emb_size == z->cfg.emb_size &&
                      cfg.hidden_size == z->cfg.hidden_size && cfg.num_layers == z->cfg.num_layers &&
                      cfg.dropout == z->cfg.dropout && !cfg.tied == !z->cfg.tied && cfg.seed == z->cfg.seed,
                  "config");
        checked = 0;
        break;
    }
    case 22:
    case 23:
        op_state(z, fz_u8(in));
        checked = 0;
        break;
    default:
        rc = op_new(z, opi - 24, failed0, &checked, &msg, &pure);
        break;
    }
    if (rc == RNN_ERR_NOMEM && z->pending == 1) z->pending = -1;
    if (pure) FZ_ASSERT(model_hash(z) == before, "op %u only reads, but changed the model", opi);
    if (checked && rc != RNN_OK) {
        FZ_ASSERT(model_hash(z) == before, "op %u failed with %d but changed the model", opi, rc);
        if (msg) {
            FZ_ASSERT(rnn_model_errmsg(z->m)[0], "op %u failed with %d and no message", opi, rc);
            FZ_ASSERT(rnn_model_errcode(z->m) == rc, "op %u failed with %d but errcode is %d", opi, rc,
                      rnn_model_errcode(z->m));
        }
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
    rnn_config_init(&z.cfg, sizeof z.cfg);
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
    rnn_allocator al = {sizeof al, c_alloc, c_free, &z.cnt};
    z.V = z.cfg.vocab_size, z.L = z.cfg.num_layers, z.H = z.cfg.hidden_size;

    char err[256] = "";
    int rc = rnn_model_create(&z.m, &z.cfg, &al, err, sizeof err);
    if (z.cnt.failed) {
        FZ_ASSERT(rc == RNN_ERR_NOMEM && !z.m && z.cnt.live == 0 && err[0], "create with a failing allocation = %d", rc);
        return 0;
    }
    FZ_ASSERT(rc == RNN_OK && err[0] == 0, "create = %d: %s", rc, err);
    for (int ops = 0; ops < 200 && fz_left(in); ops++) step(&z);
    free_states(&z);
    rnn_model_free(z.m);
    FZ_ASSERT(z.cnt.live == 0, "%ld allocations not freed", z.cnt.live);
    return 0;
}
