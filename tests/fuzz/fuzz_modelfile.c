/*
 * fuzz_modelfile.c -- libFuzzer target for the model-file loader (rnn_model_load).
 *
 * Input: byte 0 is a control byte, the rest is the file.
 *   bit 0     recompute every section's CRC-32C before loading, so that the fuzzer reaches the
 *             section parsers instead of stopping at "checksum mismatch"
 *   bits 1-4  k: when nonzero, the k-th allocation of the load fails (the NOMEM paths)
 * The file is written to a memfd and loaded by its /proc/self/fd path.
 * Invariants: the status is a documented one; on failure *out is NULL, errbuf holds a message and
 * nothing leaks (the counting allocator and LeakSanitizer); on success the model is usable (every
 * parameter and vocabulary word reachable, a state can score and generate in range) and
 * save -> load -> save is a fixed point (the same bytes, the same parameter bits).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "rnn.h"

static fz_file g_file;
static char g_dir[64];

typedef struct counting {
    long live, calls, fail_at;
} counting;

static void *c_alloc(void *user, size_t size)
{
    counting *c = user;
    if (++c->calls == c->fail_at) return NULL;
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

/* Walks the section framing from byte 16 and rewrites each complete section's CRC. */
static void fix_crcs(uint8_t *f, size_t n)
{
    size_t pos = 16;
    while (pos + 12 <= n) {
        uint64_t len = 0;
        for (int i = 7; i >= 0; i--) len = len << 8 | f[pos + 4 + i];
        if (len > n - pos - 12 || n - pos - 12 - len < 4) return;
        uint32_t crc = fz_crc32c(0, f + pos, 12 + (size_t)len);
        uint8_t *q = f + pos + 12 + len;
        q[0] = (uint8_t)crc, q[1] = (uint8_t)(crc >> 8), q[2] = (uint8_t)(crc >> 16), q[3] = (uint8_t)(crc >> 24);
        pos += 16 + (size_t)len;
    }
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    FZ_ASSERT(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)sz + 1);
    FZ_ASSERT(p && fread(p, 1, (size_t)sz, f) == (size_t)sz, "cannot read %s", path);
    fclose(f);
    *n = (size_t)sz;
    return p;
}

static void exercise(rnn_model *m)
{
    rnn_config cfg;
    FZ_ASSERT(rnn_model_config(m, &cfg) == RNN_OK, "config");
    FZ_ASSERT(cfg.vocab_size >= 1 && cfg.emb_size >= 1 && cfg.hidden_size >= 1 && cfg.num_layers >= 1 &&
                  cfg.cell >= 0 && cfg.cell <= 3 && cfg.dropout >= 0 && cfg.dropout < 1 &&
                  (!cfg.tied || cfg.emb_size == cfg.hidden_size),
              "loaded an invalid configuration");
    int np = 0;
    FZ_ASSERT(rnn_param_count(m, &np) == RNN_OK && np == 4 * cfg.num_layers + 3 - !!cfg.tied, "param count %d", np);
    size_t total = 0, block = 0;
    float *data, *grad;
    FZ_ASSERT(rnn_param_block(m, &data, &grad, &block) == RNN_OK, "param block");
    for (int i = 0; i < np; i++) {
        rnn_param p;
        FZ_ASSERT(rnn_param_get(m, i, &p) == RNN_OK && p.size == (size_t)p.rows * p.cols, "param %d", i);
        volatile float sink = p.data[0] + p.data[p.size - 1] + p.grad[p.size - 1];
        (void)sink;
        FZ_ASSERT(p.grad[0] == 0, "gradient not zero after load");
        total += p.size;
    }
    FZ_ASSERT(total == block, "tensor sizes %zu != block %zu", total, block);
    int nv = -1;
    FZ_ASSERT(rnn_vocab_size(m, &nv) == RNN_OK && (nv == 0 || nv == cfg.vocab_size), "vocab size %d", nv);
    for (int i = 0; i < nv; i++) {
        const char *w = NULL;
        FZ_ASSERT(rnn_vocab_word(m, i, &w) == RNN_OK && w && w[0], "vocab word %d", i);
    }
    const void *app;
    size_t app_len;
    FZ_ASSERT(rnn_get_app_data(m, &app, &app_len) == RNN_OK, "app data");
    int sb = -1;
    FZ_ASSERT(rnn_state_batch(m, &sb) == RNN_OK && sb >= 0, "state batch");

    /* inference over the loaded weights (whatever values they hold) */
    rnn_state *st = NULL;
    int rc = rnn_state_create(&st, m, 1, 7);
    FZ_ASSERT(rc == RNN_OK || rc == RNN_ERR_NOMEM, "state_create %d", rc);
    if (st) {
        int32_t tok[2] = {0, cfg.vocab_size - 1}, out[3];
        double lp;
        FZ_ASSERT(rnn_state_score(st, tok, 2, &lp) == RNN_OK, "score: %s", rnn_state_errmsg(st));
        FZ_ASSERT(!(lp > 0), "log-probability %g > 0", lp);
        rnn_sampling s;
        rnn_sampling_init(&s);
        FZ_ASSERT(rnn_state_generate(st, &s, 3, out) == RNN_OK, "generate: %s", rnn_state_errmsg(st));
        for (int i = 0; i < 3; i++) FZ_ASSERT(out[i] >= 0 && out[i] < cfg.vocab_size, "generated token %d", out[i]);
        rnn_state_free(st);
    }
}

static void roundtrip(rnn_model *m)
{
    char p1[96], p2[96];
    snprintf(p1, sizeof p1, "%s/a.bin", g_dir);
    snprintf(p2, sizeof p2, "%s/b.bin", g_dir);
    FZ_ASSERT(rnn_model_save_ex(m, p1, RNN_SAVE_STATE) == RNN_OK, "save: %s", rnn_errmsg(m));
    rnn_model *m2 = NULL;
    char err[256];
    FZ_ASSERT(rnn_model_load(&m2, p1, NULL, err, sizeof err) == RNN_OK, "reload of a saved file: %s", err);
    float *d1, *d2, *g;
    size_t n1, n2;
    rnn_param_block(m, &d1, &g, &n1);
    rnn_param_block(m2, &d2, &g, &n2);
    FZ_ASSERT(n1 == n2 && memcmp(d1, d2, n1 * sizeof(float)) == 0, "parameters differ after save/load");
    FZ_ASSERT(rnn_model_save_ex(m2, p2, RNN_SAVE_STATE) == RNN_OK, "save 2: %s", rnn_errmsg(m2));
    size_t s1, s2;
    uint8_t *b1 = read_all(p1, &s1), *b2 = read_all(p2, &s2);
    FZ_ASSERT(s1 == s2 && memcmp(b1, b2, s1) == 0, "save(load(save(x))) differs from save(x)");
    free(b1);
    free(b2);
    rnn_model_free(m2);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/rnnfuzz-XXXXXX", base);
    if (!mkdtemp(g_dir)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned ctl = data[0];
    size_t n = size - 1;
    uint8_t *f = malloc(n ? n : 1);
    if (n) memcpy(f, data + 1, n);
    if (ctl & 1) fix_crcs(f, n);
    fz_file_write(&g_file, "model", f, n, NULL, 0);
    free(f);

    counting cnt = {0, 0, (long)((ctl >> 1) & 15)};
    rnn_allocator al = {c_alloc, c_free, &cnt};
    rnn_model *m = (rnn_model *)&cnt; /* must be overwritten */
    char err[256];
    memset(err, 'x', sizeof err);
    int rc = rnn_model_load(&m, g_file.path, &al, err, sizeof err);
    FZ_ASSERT(memchr(err, 0, sizeof err), "errbuf not NUL-terminated");
    if (rc != RNN_OK) {
        FZ_ASSERT(rc == RNN_ERR_FORMAT || rc == RNN_ERR_NOMEM || rc == RNN_ERR_IO, "status %d (%s)", rc, err);
        FZ_ASSERT(m == NULL, "*out not NULL on failure");
        FZ_ASSERT(err[0], "no message for status %d", rc);
        FZ_ASSERT(cnt.live == 0, "%ld allocations leaked by a failed load (%s)", cnt.live, err);
        FZ_ASSERT(rc != RNN_ERR_NOMEM || cnt.fail_at, "NOMEM without a failing allocator: %s", err);
        return 0;
    }
    FZ_ASSERT(m != NULL && err[0] == 0, "success with a message: %s", err);
    cnt.fail_at = 0;
    exercise(m);
    roundtrip(m);
    rnn_model_free(m);
    FZ_ASSERT(cnt.live == 0, "%ld allocations leaked", cnt.live);
    return 0;
}
