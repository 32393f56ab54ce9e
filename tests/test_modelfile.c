/* test_modelfile.c -- the model file (docs/FORMAT.md): round trips for every cell, tied and untied,
   1-3 layers; the byte layout against the specification (with the test's own CRC-32C); untrusted
   input (every truncation, every single-byte flip, lying lengths, counts, configurations, names and
   shapes, duplicate or whitespace vocabulary words) with a counting allocator, each loaded both from
   a file and from memory (rnn_model_load_mem must agree); unknown sections; the atomic save;
   memory images (rnn_model_save_mem: size query, RNN_ERR_SIZE, the file's bytes; rnn_model_load_mem:
   the same model, exact resume with RNN_SAVE_STATE, RNN_LOAD_NO_STATE); application data; load
   flags; argument errors; what a save or an output replaces (links followed; devices, FIFOs and
   sockets written in place or refused; src/atomic.c); the locked temporaries and their sweep;
   sparse files with huge sections (bounded memory). */
#define _DEFAULT_SOURCE /* flock, mknod, makedev */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define RNN_EXPERT_API /* rnn_param_get_block */
#include "rnn.h"

#include "atomic.h" /* rnn__atomic_open: outputs (rnnlm's) */

/* The CRC-32C and the little-endian reads and writes are testutil.h's (tu_crc32c, tu_get32,
   tu_put32): written independently of the library. */
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get64(const unsigned char *p) { return (uint64_t)tu_get32(p) | (uint64_t)tu_get32(p + 4) << 32; }
static uint32_t tag_of(const char *s) { return tu_get32((const unsigned char *)s); }

/* ---- a counting allocator ---------------------------------------------------------------------- */
typedef struct counter {
    size_t cap;      /* requests above this fail (return NULL) */
    size_t max_req;  /* the largest single request seen */
    long live;       /* allocations not yet freed */
    long total;      /* successful allocations */
} counter;

static void *c_alloc(void *user, size_t size)
{
    counter *c = user;
    if (size > c->max_req) c->max_req = size;
    if (size > c->cap) return NULL;
    void *p = malloc(size ? size : 1);
    if (p) c->live++, c->total++;
    return p;
}
static void c_free(void *user, void *p)
{
    counter *c = user;
    c->live--;
    free(p);
}
static rnn_allocator counting(counter *c, size_t cap)
{
    memset(c, 0, sizeof *c);
    c->cap = cap;
    rnn_allocator a = {sizeof a, c_alloc, c_free, c};
    return a;
}

/* ---- temporary folders and files ---------------------------------------------------------------- */
static char *make_tmpdir(void)
{
    char *d = strdup("/tmp/test_modelfile_XXXXXX");
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Removes every plain file in dir, then dir itself (read-only folders are made writable first). */
static void remove_tmpdir(char *dir)
{
    chmod(dir, 0700);
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = join(dir, e->d_name);
            if (unlink(p) != 0) rmdir(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

/* The names in dir (without . and ..), as one string "a b c" sorted by readdir order; count too. */
static int list_dir(const char *dir, char *names, size_t cap)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    names[0] = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t used = strlen(names);
        snprintf(names + used, cap - used, "%s%s", n ? " " : "", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_all(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
    if (len) ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* ---- models ------------------------------------------------------------------------------------- */
static rnn_config get_cfg(const rnn_model *m)
{
    rnn_config c;
    ck_assert_int_eq(rnn_config_init(&c, sizeof c), RNN_OK);
    ck_assert_int_eq(rnn_model_get_config(m, &c), RNN_OK);
    return c;
}

static const char UTF8_WORD[] = "na\xc3\xafve\xe2\x86\x92\xe5\xad\x97\xf0\x9f\x98\x80"; /* naïve→字😀 */
enum { LONG_WORD_LEN = 3000 };

/* Fills the parameter block (and, to check that loading zeroes it, the gradient block). */
static void randomize(rnn_model *m, uint64_t seed)
{
    float *p, *g;
    size_t n;
    ck_assert_int_eq(rnn_param_get_block(m, &p, &g, &n), RNN_OK);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) p[i] = (float)(tu_uniform(&s) * 2.0 - 1.0), g[i] = 1.0f;
}

/* Words "w0".."w{V-1}", with a UTF-8 word at 1 and a long word at 2 (when V > 2). */
static void set_vocab(rnn_model *m, int V)
{
    char **words = malloc(sizeof(char *) * (size_t)V);
    ck_assert_ptr_nonnull(words);
    for (int i = 0; i < V; i++) {
        if (i == 1 && V > 2) {
            words[i] = strdup(UTF8_WORD);
        } else if (i == 2 && V > 2) {
            words[i] = malloc(LONG_WORD_LEN + 1);
            ck_assert_ptr_nonnull(words[i]);
            for (int k = 0; k < LONG_WORD_LEN; k++) words[i][k] = (char)('a' + k % 26);
            words[i][LONG_WORD_LEN] = 0;
        } else {
            words[i] = malloc(16);
            ck_assert_ptr_nonnull(words[i]);
            snprintf(words[i], 16, "w%d", i);
        }
        ck_assert_ptr_nonnull(words[i]);
    }
    ck_assert_int_eq(rnn_vocab_set(m, (const char *const *)words, V), RNN_OK);
    for (int i = 0; i < V; i++) free(words[i]);
    free(words);
}

static rnn_model *make_model(int cell, int tied, int L, int V, int E, int H, int vocab, uint64_t seed)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = cell, cfg.tied = tied, cfg.num_layers = L;
    cfg.vocab_size = V, cfg.emb_size = E, cfg.hidden_size = H;
    cfg.dropout = 0.375f;
    cfg.seed = 0xDEADBEEFCAFEF00Dull ^ seed;
    rnn_model *m = NULL;
    char err[256] = "";
    int rc = rnn_model_create(&m, &cfg, NULL, err, sizeof err);
    ck_assert_msg(rc == RNN_OK, "create: %s (%s)", rnn_status_string(rc), err);
    randomize(m, seed * 7919 + 13);
    if (vocab) set_vocab(m, V);
    return m;
}

/* A model with an adaptive output layer of nc clusters (cutoffs spread over V), randomized. */
static rnn_model *make_adaptive(int cell, int L, int V, int E, int H, int nc, float div, int head_bias, int vocab,
                                uint64_t seed)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = cell, cfg.num_layers = L, cfg.vocab_size = V, cfg.emb_size = E, cfg.hidden_size = H;
    cfg.dropout = 0.25f, cfg.seed = 0xA5A5F00Dull ^ seed;
    cfg.output = RNN_OUTPUT_ADAPTIVE, cfg.num_cutoffs = nc, cfg.div_value = div, cfg.head_bias = head_bias;
    for (int i = 0; i < nc; i++) cfg.cutoffs[i] = 2 + i * (V - 2) / (nc + 1) + i;
    rnn_model *m = NULL;
    char err[256] = "";
    int rc = rnn_model_create(&m, &cfg, NULL, err, sizeof err);
    ck_assert_msg(rc == RNN_OK, "create adaptive: %s (%s)", rnn_status_string(rc), err);
    randomize(m, seed * 7919 + 17);
    if (vocab) set_vocab(m, V);
    return m;
}

/* A small model for the byte-level loops: V 5, E = H = 2, one layer. */
static rnn_model *small_model(int cell, int tied, int vocab)
{
    return make_model(cell, tied, 1, 5, 2, 2, vocab, 99);
}

static void assert_same_model(rnn_model *a, rnn_model *b, int same_vocab)
{
    rnn_config ca = get_cfg(a), cb = get_cfg(b);
    ck_assert_int_eq(ca.cell, cb.cell);
    ck_assert_int_eq(ca.vocab_size, cb.vocab_size);
    ck_assert_int_eq(ca.emb_size, cb.emb_size);
    ck_assert_int_eq(ca.hidden_size, cb.hidden_size);
    ck_assert_int_eq(ca.num_layers, cb.num_layers);
    ck_assert_int_eq(ca.tied, cb.tied);
    ck_assert_msg(memcmp(&ca.dropout, &cb.dropout, sizeof(float)) == 0, "dropout %g != %g", (double)ca.dropout,
                  (double)cb.dropout);
    ck_assert_uint_eq(ca.seed, cb.seed);
    ck_assert_int_eq(ca.output, cb.output);
    ck_assert_int_eq(ca.num_cutoffs, cb.num_cutoffs);
    for (int i = 0; i < RNN_MAX_CUTOFFS; i++) ck_assert_int_eq(ca.cutoffs[i], cb.cutoffs[i]);
    ck_assert_msg(memcmp(&ca.div_value, &cb.div_value, sizeof(float)) == 0, "div_value %g != %g", (double)ca.div_value,
                  (double)cb.div_value);
    ck_assert_int_eq(ca.head_bias, cb.head_bias);

    if (same_vocab) {
        int na, nb;
        ck_assert_int_eq(rnn_vocab_get_size(a, &na), RNN_OK);
        ck_assert_int_eq(rnn_vocab_get_size(b, &nb), RNN_OK);
        ck_assert_int_eq(na, nb);
        for (int i = 0; i < na; i++) {
            const char *wa, *wb;
            ck_assert_int_eq(rnn_vocab_get_word(a, i, &wa), RNN_OK);
            ck_assert_int_eq(rnn_vocab_get_word(b, i, &wb), RNN_OK);
            ck_assert_msg(strcmp(wa, wb) == 0, "word %d: \"%.40s\" != \"%.40s\"", i, wa, wb);
        }
    }

    float *pa, *pb, *ga, *gb;
    size_t na, nb;
    ck_assert_int_eq(rnn_param_get_block(a, &pa, &ga, &na), RNN_OK);
    ck_assert_int_eq(rnn_param_get_block(b, &pb, &gb, &nb), RNN_OK);
    ck_assert_uint_eq(na, nb);
    ck_assert_msg(memcmp(pa, pb, na * sizeof(float)) == 0, "parameter blocks differ");
    int ta, tb;
    ck_assert_int_eq(rnn_param_get_count(a, &ta), RNN_OK);
    ck_assert_int_eq(rnn_param_get_count(b, &tb), RNN_OK);
    ck_assert_int_eq(ta, tb);
    for (int i = 0; i < ta; i++) {
        rnn_param x = {.struct_size = sizeof x}, y = {.struct_size = sizeof y};
        ck_assert_int_eq(rnn_param_get(a, i, &x), RNN_OK);
        ck_assert_int_eq(rnn_param_get(b, i, &y), RNN_OK);
        ck_assert_str_eq(x.name, y.name);
        ck_assert_int_eq(x.rows, y.rows);
        ck_assert_int_eq(x.cols, y.cols);
    }
}

/* The same application data (bytes and length; NULL exactly when there is none). */
static void assert_same_app_data(const rnn_model *a, const rnn_model *b)
{
    const void *da = "x", *db = "y";
    size_t la = 99, lb = 98;
    ck_assert_int_eq(rnn_model_get_app_data(a, &da, &la), RNN_OK);
    ck_assert_int_eq(rnn_model_get_app_data(b, &db, &lb), RNN_OK);
    ck_assert_uint_eq(la, lb);
    ck_assert_msg((da == NULL) == (la == 0) && (db == NULL) == (lb == 0), "app data %p/%zu, %p/%zu", da, la, db, lb);
    if (la) ck_assert_msg(memcmp(da, db, la) == 0, "app data differs");
}

/* The same hidden state (batch, h, and c for LSTM), bit for bit. */
static void assert_same_hidden(const rnn_model *a, const rnn_model *b)
{
    int ba = -1, bb = -2;
    ck_assert_int_eq(rnn_model_get_batch(a, &ba), RNN_OK);
    ck_assert_int_eq(rnn_model_get_batch(b, &bb), RNN_OK);
    ck_assert_int_eq(ba, bb);
    if (ba == 0) return;
    rnn_config c = get_cfg(a);
    size_t n = (size_t)c.num_layers * (size_t)ba * (size_t)c.hidden_size;
    float *h = calloc(4 * n, sizeof(float));
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(rnn_model_get_hidden(a, ba, h, h + n), RNN_OK);
    ck_assert_int_eq(rnn_model_get_hidden(b, ba, h + 2 * n, h + 3 * n), RNN_OK);
    ck_assert_msg(memcmp(h, h + 2 * n, 2 * n * sizeof(float)) == 0, "hidden states differ");
    free(h);
}

/* Mean NLL in evaluation mode on a fixed 2 x 6 chunk, and the log-probabilities. */
static double eval_loss(rnn_model *m, float *logprobs)
{
    rnn_config c = get_cfg(m);
    int32_t tok[12], tgt[12];
    uint64_t s = 4242;
    for (int i = 0; i < 12; i++) tok[i] = (int32_t)(tu_next(&s) % (uint64_t)c.vocab_size);
    for (int i = 0; i < 12; i++) tgt[i] = (int32_t)(tu_next(&s) % (uint64_t)c.vocab_size);
    tgt[5] = RNN_IGNORE;
    double loss = -1;
    ck_assert_int_eq(rnn_model_reset_hidden(m, 2), RNN_OK);
    ck_assert_int_eq(rnn_evaluate(m, tok, tgt, 2, 6, 0, &loss, logprobs), RNN_OK);
    double loss2 = -1; /* a second chunk, with the carried state */
    ck_assert_int_eq(rnn_evaluate(m, tgt[5] == RNN_IGNORE ? tok : tgt, tok, 2, 6, 0, &loss2, NULL), RNN_OK);
    return loss + 1000.0 * loss2;
}

static int save_ok(rnn_model *m, const char *path)
{
    int rc = rnn_model_save(m, path, 0, NULL, 0);
    ck_assert_msg(rc == RNN_OK, "save %s: %s (%s)", path, rnn_status_string(rc), rnn_model_errmsg(m));
    return rc;
}

static rnn_model *load_ok(const char *path, const rnn_allocator *al)
{
    rnn_model *m = NULL;
    char err[256] = "x";
    int rc = rnn_model_load(&m, path, al, 0, err, sizeof err);
    ck_assert_msg(rc == RNN_OK, "load %s: %s (%s)", path, rnn_status_string(rc), err);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(err, "");
    return m;
}

/* ---- the file as sections, to edit and rewrite with correct checksums ----------------------------- */
enum { MAX_SECT = 16 };
typedef struct section {
    uint32_t tag;
    unsigned char *data;
    size_t len;
} section;
typedef struct mfile {
    unsigned char hdr[16];
    section s[MAX_SECT];
    int n;
} mfile;

/* Parses a file written by rnn_model_save, checking the framing and every CRC with tu_crc32c(). */
static void parse_file(const unsigned char *b, size_t len, mfile *f)
{
    memset(f, 0, sizeof *f);
    ck_assert_uint_ge(len, 16);
    memcpy(f->hdr, b, 16);
    size_t pos = 16;
    for (;;) {
        ck_assert_int_lt(f->n, MAX_SECT);
        ck_assert_uint_ge(len - pos, 12);
        section *s = &f->s[f->n++];
        s->tag = tu_get32(b + pos);
        uint64_t n = get64(b + pos + 4);
        pos += 12;
        ck_assert_uint_ge(len - pos, n + 4);
        s->len = (size_t)n;
        s->data = malloc(s->len + 1);
        ck_assert_ptr_nonnull(s->data);
        memcpy(s->data, b + pos, s->len);
        ck_assert_msg(tu_crc32c(b + pos - 12, s->len + 12) == tu_get32(b + pos + s->len), "section %d: CRC-32C mismatch", f->n - 1);
        pos += s->len + 4;
        if (s->tag == tag_of("END ")) break;
    }
    ck_assert_uint_eq(pos, len); /* nothing after END */
}

static unsigned char *build_file(const mfile *f, size_t *len)
{
    size_t n = 16;
    for (int i = 0; i < f->n; i++) n += 16 + f->s[i].len;
    unsigned char *b = malloc(n), *p = b;
    ck_assert_ptr_nonnull(b);
    memcpy(p, f->hdr, 16), p += 16;
    for (int i = 0; i < f->n; i++) {
        tu_put32(p, f->s[i].tag), put64(p + 4, f->s[i].len), p += 12;
        if (f->s[i].len) memcpy(p, f->s[i].data, f->s[i].len);
        p += f->s[i].len;
        tu_put32(p, tu_crc32c(p - 12 - f->s[i].len, f->s[i].len + 12)), p += 4;
    }
    *len = n;
    return b;
}

static void free_file(mfile *f)
{
    for (int i = 0; i < f->n; i++) free(f->s[i].data);
    f->n = 0;
}

static int find_sect(const mfile *f, const char *tag)
{
    for (int i = 0; i < f->n; i++)
        if (f->s[i].tag == tag_of(tag)) return i;
    return -1;
}

static void insert_sect(mfile *f, int at, const char *tag, const void *data, size_t len)
{
    ck_assert_int_lt(f->n, MAX_SECT);
    memmove(&f->s[at + 1], &f->s[at], sizeof(section) * (size_t)(f->n - at));
    f->n++;
    f->s[at].tag = tag_of(tag);
    f->s[at].data = malloc(len + 1);
    ck_assert_ptr_nonnull(f->s[at].data);
    if (len) memcpy(f->s[at].data, data, len);
    f->s[at].len = len;
}

static void remove_sect(mfile *f, int at)
{
    free(f->s[at].data);
    memmove(&f->s[at], &f->s[at + 1], sizeof(section) * (size_t)(f->n - at - 1));
    f->n--;
}

/* Loads `len` bytes twice: written to dir/in.rnn with rnn_model_load, and from memory with
   rnn_model_load_mem, each through a counting allocator that refuses requests over 64 MiB. Checks
   what every load must do: *out NULL and a message on failure, no message on success, nothing
   leaked; and that a memory image fails (or loads) exactly like the file: the same status (a file
   may also fail to be read, RNN_ERR_IO, where memory gives RNN_ERR_FORMAT) and on success the same
   model. The result is the file's; a loaded model (r.m) must be released with unload(). */
typedef struct load_result {
    int rc;
    char err[256];
    size_t max_req; /* the largest single allocation requested, by either load */
    rnn_model *m;   /* only on success */
    int rc_mem;     /* the status of rnn_model_load_mem */
    char err_mem[256];
} load_result;

static counter g_load;     /* the allocator of the models load_bytes returns */
static counter g_load_mem; /* the allocator of the memory loads */

static load_result load_bytes(const char *dir, const void *b, size_t len)
{
    char *path = join(dir, "in.rnn");
    write_all(path, b, len);
    load_result r;
    ck_assert_msg(g_load.live == 0, "a model from an earlier load_bytes was not unloaded");
    rnn_allocator al = counting(&g_load, (size_t)64 << 20);
    r.m = (rnn_model *)&r; /* a non-NULL value that must be overwritten */
    memset(r.err, 'x', sizeof r.err);
    r.rc = rnn_model_load(&r.m, path, &al, 0, r.err, sizeof r.err);
    r.max_req = g_load.max_req;
    ck_assert_msg(memchr(r.err, 0, sizeof r.err) != NULL, "errbuf not terminated");
    if (r.rc == RNN_OK) {
        ck_assert_ptr_nonnull(r.m);
        ck_assert_str_eq(r.err, "");
        ck_assert_int_gt(g_load.live, 0);
    } else {
        ck_assert_ptr_null(r.m);
        ck_assert_msg(r.err[0] != 0, "rc %d without a message", r.rc);
        ck_assert_msg(g_load.live == 0, "rc %d (%s): %ld allocations leaked", r.rc, r.err, g_load.live);
    }
    unlink(path);
    free(path);

    /* the same bytes from memory (a private copy, overwritten after the call: not kept) */
    unsigned char *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    if (len) memcpy(copy, b, len);
    rnn_allocator alm = counting(&g_load_mem, (size_t)64 << 20);
    rnn_model *mm = (rnn_model *)&r;
    memset(r.err_mem, 'x', sizeof r.err_mem);
    r.rc_mem = rnn_model_load_mem(&mm, copy, len, &alm, 0, r.err_mem, sizeof r.err_mem);
    memset(copy, 0xA5, len);
    free(copy);
    if (g_load_mem.max_req > r.max_req) r.max_req = g_load_mem.max_req;
    ck_assert_msg(memchr(r.err_mem, 0, sizeof r.err_mem) != NULL, "load_mem: errbuf not terminated");
    ck_assert_msg(r.rc_mem == r.rc || (r.rc == RNN_ERR_IO && r.rc_mem == RNN_ERR_FORMAT),
                  "%zu bytes: rnn_model_load gives %s (%s) but rnn_model_load_mem %s (%s)", len,
                  rnn_status_string(r.rc), r.err, rnn_status_string(r.rc_mem), r.err_mem);
    if (r.rc_mem == RNN_OK) {
        ck_assert_ptr_nonnull(mm);
        ck_assert_str_eq(r.err_mem, "");
        assert_same_model(r.m, mm, 1);
        assert_same_app_data(r.m, mm);
        assert_same_hidden(r.m, mm);
        rnn_model_free(mm);
    } else {
        ck_assert_ptr_null(mm);
        ck_assert_msg(r.err_mem[0] != 0, "load_mem: rc %d without a message", r.rc_mem);
    }
    ck_assert_msg(g_load_mem.live == 0, "load_mem rc %d (%s): %ld allocations leaked", r.rc_mem, r.err_mem,
                  g_load_mem.live);
    return r;
}

static void unload(load_result *r)
{
    rnn_model_free(r->m);
    r->m = NULL;
    ck_assert_msg(g_load.live == 0, "%ld allocations of a loaded model not freed", g_load.live);
}

/* A fresh file for `m` in dir, parsed; the raw bytes in *raw / *rawlen when raw is not NULL. */
static void file_of(rnn_model *m, const char *dir, mfile *f, unsigned char **raw, size_t *rawlen)
{
    char *path = join(dir, "orig.rnn");
    save_ok(m, path);
    size_t len;
    unsigned char *b = read_all(path, &len);
    parse_file(b, len, f);
    if (raw) *raw = b, *rawlen = len;
    else free(b);
    unlink(path);
    free(path);
}

/* Rebuilds f, loads it and expects RNN_ERR_FORMAT whose message contains `needle` (if not NULL). */
static void expect_format(const char *dir, const mfile *f, const char *needle, const char *what)
{
    size_t len;
    unsigned char *b = build_file(f, &len);
    load_result r = load_bytes(dir, b, len);
    free(b);
    unload(&r);
    ck_assert_msg(r.rc == RNN_ERR_FORMAT, "%s: got %s (%s), want RNN_ERR_FORMAT", what, rnn_status_string(r.rc), r.err);
    if (needle) ck_assert_msg(strstr(r.err, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, r.err, needle);
    ck_assert_msg(r.max_req <= len + 4096, "%s: an allocation of %zu bytes for a %zu-byte file", what, r.max_req, len);
}

/* ---- tests: the CRC itself ------------------------------------------------------------------------ */
START_TEST(test_crc32c_check_value)
{
    /* the standard check value of CRC-32C (iSCSI, RFC 3720) */
    ck_assert_uint_eq(tu_crc32c("123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(tu_crc32c("", 0), 0u);
}
END_TEST

/* ---- tests: round trips --------------------------------------------------------------------------- */
START_TEST(test_roundtrip_all)
{
    static const int cells[] = {RNN_CELL_TANH, RNN_CELL_RELU, RNN_CELL_LSTM, RNN_CELL_GRU};
    char *dir = make_tmpdir();
    char *path = join(dir, "model.rnn");
    int k = 0;
    for (int ci = 0; ci < 4; ci++)
        for (int tied = 0; tied <= 1; tied++)
            for (int L = 1; L <= 3; L++, k++) {
                int V = 17 + k, E = tied ? 8 : 5, H = 8;
                rnn_model *a = make_model(cells[ci], tied, L, V, E, H, 1, (uint64_t)k + 1);
                float *lpa = malloc(sizeof(float) * 12 * (size_t)V), *lpb = malloc(sizeof(float) * 12 * (size_t)V);
                ck_assert(lpa && lpb);
                double la = eval_loss(a, lpa);
                save_ok(a, path);

                counter c;
                rnn_allocator al = counting(&c, (size_t)1 << 30);
                rnn_model *b = load_ok(path, &al);
                assert_same_model(a, b, 1);

                float *gb;
                float *pb;
                size_t n;
                ck_assert_int_eq(rnn_param_get_block(b, &pb, &gb, &n), RNN_OK);
                for (size_t i = 0; i < n; i++) ck_assert_msg(gb[i] == 0.0f, "gradient %zu not zero after load", i);
                int nv;
                ck_assert_int_eq(rnn_vocab_get_size(b, &nv), RNN_OK);
                ck_assert_int_eq(nv, V);
                const char *w;
                ck_assert_int_eq(rnn_vocab_get_word(b, 1, &w), RNN_OK);
                ck_assert_str_eq(w, UTF8_WORD);
                ck_assert_int_eq(rnn_vocab_get_word(b, 2, &w), RNN_OK);
                ck_assert_uint_eq(strlen(w), LONG_WORD_LEN);
                ck_assert_int_eq(rnn_vocab_get_word(b, V - 1, &w), RNN_OK);
                char last[16];
                snprintf(last, sizeof last, "w%d", V - 1);
                ck_assert_str_eq(w, last);

                /* tied models store no decoder.weight, but it is found (shared) after loading */
                rnn_param p = {.struct_size = sizeof p};
                ck_assert_int_eq(rnn_param_find(b, "decoder.weight", &p), RNN_OK);
                if (tied) {
                    rnn_param e = {.struct_size = sizeof e};
                    ck_assert_int_eq(rnn_param_find(b, "encoder.weight", &e), RNN_OK);
                    ck_assert_ptr_eq(p.data, e.data);
                }

                double lb = eval_loss(b, lpb);
                ck_assert_msg(memcmp(&la, &lb, sizeof la) == 0, "cell %d tied %d L %d: loss %.17g != %.17g",
                              cells[ci], tied, L, la, lb);
                ck_assert_msg(memcmp(lpa, lpb, sizeof(float) * 12 * (size_t)V) == 0, "log-probabilities differ");

                /* saving the loaded model gives the same bytes */
                char *path2 = join(dir, "again.rnn");
                save_ok(b, path2);
                size_t l1, l2;
                unsigned char *b1 = read_all(path, &l1), *b2 = read_all(path2, &l2);
                ck_assert_uint_eq(l1, l2);
                ck_assert_msg(memcmp(b1, b2, l1) == 0, "re-saved file differs");
                free(b1), free(b2);
                unlink(path2);
                free(path2);

                rnn_model_free(b);
                ck_assert_msg(c.live == 0, "%ld allocations of the loaded model not freed", c.live);
                ck_assert_int_gt(c.total, 0);
                rnn_model_free(a);
                free(lpa), free(lpb);
            }
    unlink(path);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

/* The bytes, against docs/FORMAT.md: header, section order, every field of CONF, VOCB and PARM. */
START_TEST(test_layout_matches_spec)
{
    char *dir = make_tmpdir();
    for (int tied = 0; tied <= 1; tied++) {
        rnn_model *m = make_model(RNN_CELL_GRU, tied, 2, 7, tied ? 4 : 3, 4, 1, 5);
        mfile f;
        unsigned char *raw;
        size_t rawlen;
        file_of(m, dir, &f, &raw, &rawlen);
        ck_assert(memcmp(raw, "RNNMODEL", 8) == 0);
        ck_assert_uint_eq(tu_get32(raw + 8), 1);
        ck_assert_uint_eq(tu_get32(raw + 12), 0);
        ck_assert_int_eq(f.n, 4);
        ck_assert_uint_eq(f.s[0].tag, tag_of("CONF"));
        ck_assert_uint_eq(f.s[1].tag, tag_of("VOCB"));
        ck_assert_uint_eq(f.s[2].tag, tag_of("PARM"));
        ck_assert_uint_eq(f.s[3].tag, tag_of("END "));
        ck_assert_uint_eq(f.s[3].len, 0);
        /* END's CRC-32C covers its tag and zero length */
        ck_assert_uint_eq(tu_get32(raw + rawlen - 4), tu_crc32c(raw + rawlen - 16, 12));

        rnn_config c = get_cfg(m);
        const unsigned char *p = f.s[0].data;
        ck_assert_uint_eq(f.s[0].len, 36);
        ck_assert_uint_eq(tu_get32(p + 0), (uint32_t)c.cell);
        ck_assert_uint_eq(tu_get32(p + 4), (uint32_t)c.vocab_size);
        ck_assert_uint_eq(tu_get32(p + 8), (uint32_t)c.emb_size);
        ck_assert_uint_eq(tu_get32(p + 12), (uint32_t)c.hidden_size);
        ck_assert_uint_eq(tu_get32(p + 16), (uint32_t)c.num_layers);
        ck_assert_uint_eq(tu_get32(p + 20), (uint32_t)tied);
        uint32_t dbits;
        memcpy(&dbits, &c.dropout, 4);
        ck_assert_uint_eq(tu_get32(p + 24), dbits);
        ck_assert_uint_eq(get64(p + 28), c.seed);

        p = f.s[1].data;
        ck_assert_uint_eq(tu_get32(p), 7);
        size_t at = 4;
        for (int i = 0; i < 7; i++) {
            const char *w;
            rnn_vocab_get_word(m, i, &w);
            ck_assert_uint_eq(tu_get32(p + at), strlen(w));
            ck_assert(memcmp(p + at + 4, w, strlen(w)) == 0);
            at += 4 + strlen(w);
        }
        ck_assert_uint_eq(at, f.s[1].len);

        p = f.s[2].data;
        int nt;
        rnn_param_get_count(m, &nt);
        ck_assert_int_eq(nt, 1 + 4 * 2 + (tied ? 0 : 1) + 1);
        ck_assert_uint_eq(tu_get32(p), (uint32_t)nt);
        at = 4;
        for (int i = 0; i < nt; i++) {
            rnn_param t = {.struct_size = sizeof t};
            ck_assert_int_eq(rnn_param_get(m, i, &t), RNN_OK);
            size_t nl = tu_get32(p + at);
            ck_assert_uint_eq(nl, strlen(t.name));
            ck_assert(memcmp(p + at + 4, t.name, nl) == 0);
            at += 4 + nl;
            ck_assert_uint_eq(tu_get32(p + at), (uint32_t)t.rows);
            ck_assert_uint_eq(tu_get32(p + at + 4), (uint32_t)t.cols);
            at += 8;
            for (size_t j = 0; j < t.size; j++) {
                uint32_t u;
                memcpy(&u, &t.data[j], 4);
                ck_assert_uint_eq(tu_get32(p + at + 4 * j), u);
            }
            at += 4 * t.size;
            if (tied) ck_assert_str_ne(t.name, "decoder.weight");
        }
        ck_assert_uint_eq(at, f.s[2].len);
        /* PyTorch's names, in parameters() order */
        rnn_param t = {.struct_size = sizeof t};
        rnn_param_get(m, 0, &t);
        ck_assert_str_eq(t.name, "encoder.weight");
        rnn_param_get(m, 1, &t);
        ck_assert_str_eq(t.name, "rnn.weight_ih_l0");
        ck_assert_int_eq(t.rows, 3 * 4);
        rnn_param_get(m, nt - 1, &t);
        ck_assert_str_eq(t.name, "decoder.bias");

        free(raw);
        free_file(&f);
        rnn_model_free(m);
    }
    remove_tmpdir(dir);
}
END_TEST

START_TEST(test_roundtrip_no_vocab)
{
    char *dir = make_tmpdir();
    char *path = join(dir, "novocab.rnn");
    rnn_model *a = make_model(RNN_CELL_LSTM, 0, 2, 11, 4, 6, 0, 3);
    save_ok(a, path);
    rnn_model *b = load_ok(path, NULL);
    assert_same_model(a, b, 1);
    int n = -1;
    ck_assert_int_eq(rnn_vocab_get_size(b, &n), RNN_OK);
    ck_assert_int_eq(n, 0);
    const char *w;
    ck_assert_int_eq(rnn_vocab_get_word(b, 0, &w), RNN_ERR_RANGE);
    double la = eval_loss(a, NULL), lb = eval_loss(b, NULL);
    ck_assert(memcmp(&la, &lb, sizeof la) == 0);
    /* and no VOCB section in the file */
    size_t len;
    unsigned char *raw = read_all(path, &len);
    mfile f;
    parse_file(raw, len, &f);
    ck_assert_int_eq(find_sect(&f, "VOCB"), -1);
    free_file(&f);
    free(raw);
    rnn_model_free(a), rnn_model_free(b);
    unlink(path);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

/* ---- tests: untrusted input ----------------------------------------------------------------------- */
/* every shorter prefix of the file raw (len bytes) fails to load with FORMAT or IO, and no load asks
 * for much more memory than the file holds */
static void assert_every_truncation_fails(const char *dir, const unsigned char *raw, size_t len)
{
    for (size_t n = 0; n < len; n++) {
        load_result r = load_bytes(dir, raw, n);
        unload(&r);
        ck_assert_msg(r.rc == RNN_ERR_FORMAT || r.rc == RNN_ERR_IO, "truncated to %zu of %zu: %s", n, len,
                      rnn_status_string(r.rc));
        ck_assert_msg(r.max_req <= len + 4096, "truncated to %zu: an allocation of %zu bytes", n, r.max_req);
    }
}

START_TEST(test_truncated_every_length)
{
    char *dir = make_tmpdir();
    for (int tied = 0; tied <= 1; tied++) {
        rnn_model *m = small_model(RNN_CELL_LSTM, tied, 1);
        mfile f;
        unsigned char *raw;
        size_t len;
        file_of(m, dir, &f, &raw, &len);
        assert_every_truncation_fails(dir, raw, len);
        load_result r = load_bytes(dir, raw, len);
        ck_assert_int_eq(r.rc, RNN_OK);
        assert_same_model(m, r.m, 1);
        unload(&r);
        free(raw);
        free_file(&f);
        rnn_model_free(m);
    }
    remove_tmpdir(dir);
}
END_TEST

/*
 * Every byte xor 0xFF. All must fail except two places the format does not protect:
 *  - the reserved header word (bytes 12..15): version-1 readers ignore it;
 *  - the VOCB tag: the section becomes an unknown one, which is skipped, and the model loads
 *    without a vocabulary (tags and lengths are outside the CRC).
 * There either outcome is accepted (failure, or a model equal to the original, minus the
 * vocabulary for the VOCB tag) so that a stricter reader also passes; the test prints them.
 */
START_TEST(test_flip_every_byte)
{
    char *dir = make_tmpdir();
    rnn_model *m = small_model(RNN_CELL_GRU, 0, 1);
    mfile f;
    unsigned char *raw;
    size_t len;
    file_of(m, dir, &f, &raw, &len);
    size_t vocb_tag = 16 + 12 + f.s[0].len + 4; /* VOCB follows CONF */
    ck_assert_uint_eq(f.s[1].tag, tag_of("VOCB"));
    int accepted = 0;
    for (size_t i = 0; i < len; i++) {
        raw[i] ^= 0xFF;
        load_result r = load_bytes(dir, raw, len);
        raw[i] ^= 0xFF;
        ck_assert_msg(r.max_req <= len + 4096, "byte %zu: an allocation of %zu bytes", i, r.max_req);
        int reserved = i >= 12 && i < 16, vtag = i >= vocb_tag && i < vocb_tag + 4;
        if (r.rc == RNN_OK) {
            ck_assert_msg(reserved || vtag, "byte %zu of %zu flipped, yet the file loads", i, len);
            assert_same_model(m, r.m, reserved);
            if (vtag) {
                int nv;
                rnn_vocab_get_size(r.m, &nv);
                ck_assert_int_eq(nv, 0);
            }
            accepted++;
            printf("test_flip_every_byte: byte %zu (%s) flipped: loads (%s)\n", i,
                   reserved ? "reserved header word" : "VOCB tag",
                   reserved ? "identical model" : "no vocabulary");
            unload(&r);
        } else {
            ck_assert_msg(r.rc == RNN_ERR_FORMAT, "byte %zu: %s (%s)", i, rnn_status_string(r.rc), r.err);
        }
    }
    ck_assert_int_le(accepted, 8);
    free(raw);
    free_file(&f);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

START_TEST(test_bad_header)
{
    char *dir = make_tmpdir();
    rnn_model *m = small_model(RNN_CELL_TANH, 0, 1);
    mfile f;
    file_of(m, dir, &f, NULL, NULL);
    /* 2 and 3 are known versions, but not of a plain file: 2 needs OUTP (test_adaptive_bad_outp), 3
       QPRM instead of PARM; 4 and above are unknown */
    static const uint32_t versions[] = {0, 2, 3, 4, 0xFFFFFFFFu};
    for (int i = 0; i < 5; i++) {
        tu_put32(f.hdr + 8, versions[i]);
        char num[16];
        snprintf(num, sizeof num, "%u", versions[i]);
        expect_format(dir, &f, "version", "unsupported version");
        expect_format(dir, &f, num, "unsupported version (number)");
    }
    tu_put32(f.hdr + 8, 1);
    memcpy(f.hdr, "RNNMODEl", 8);
    expect_format(dir, &f, "magic", "bad magic");
    free_file(&f);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

/* Rewrites section number `sect`'s length field in the raw bytes (CRC untouched) and expects a refusal
   that allocates nothing near the claimed size. */
static void lie_length(const char *dir, const mfile *f, int sect, uint64_t claim)
{
    size_t len;
    unsigned char *b = build_file(f, &len);
    size_t pos = 16;
    for (int i = 0; i < sect; i++) pos += 16 + f->s[i].len;
    put64(b + pos + 4, claim);
    load_result r = load_bytes(dir, b, len);
    unload(&r);
    ck_assert_msg(r.rc == RNN_ERR_FORMAT, "section %d claiming %llu bytes: %s (%s)", sect, (unsigned long long)claim,
                  rnn_status_string(r.rc), r.err);
    ck_assert_msg(r.max_req <= 2 * len + 4096, "section %d claiming %llu bytes: an allocation of %zu bytes", sect,
                  (unsigned long long)claim, r.max_req);
    free(b);
}

START_TEST(test_huge_lengths)
{
    char *dir = make_tmpdir();
    rnn_model *m = small_model(RNN_CELL_LSTM, 0, 1);
    mfile f;
    unsigned char *raw;
    size_t rawlen;
    file_of(m, dir, &f, &raw, &rawlen);
    /* the model's own size: the largest single allocation of a valid load */
    load_result ok = load_bytes(dir, raw, rawlen);
    ck_assert_int_eq(ok.rc, RNN_OK);
    unload(&ok);
    ck_assert_uint_le(ok.max_req, rawlen + 4096);
    static const uint64_t claims[] = {(uint64_t)1 << 60, UINT64_MAX, UINT64_MAX - 3, (uint64_t)1 << 32, 1u << 20};
    for (int s = 0; s < f.n; s++)
        for (int i = 0; i < 5; i++) lie_length(dir, &f, s, claims[i]);
    /* a length that leaves no room for the CRC, and one a byte short of that */
    size_t pos = 16;
    for (int s = 0; s < f.n; s++) {
        size_t left = rawlen - pos - 12; /* bytes after this section's header */
        lie_length(dir, &f, s, left);
        lie_length(dir, &f, s, left - 3);
        pos += 16 + f.s[s].len;
    }
    free(raw);
    free_file(&f);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

static void set_conf(mfile *f, int field, uint32_t v)
{
    int c = find_sect(f, "CONF");
    ck_assert_int_ge(c, 0);
    tu_put32(f->s[c].data + 4 * field, v);
}

START_TEST(test_bad_conf)
{
    char *dir = make_tmpdir();
    rnn_model *m = small_model(RNN_CELL_RELU, 0, 0);
    mfile f;
    file_of(m, dir, &f, NULL, NULL);
    int c = find_sect(&f, "CONF");
    unsigned char keep[36];
    memcpy(keep, f.s[c].data, 36);
    struct {
        int field;
        uint32_t v;
        const char *what;
    } cases[] = {
        {1, 0, "vocab_size 0"},
        {1, 0xFFFFFFFFu, "vocab_size -1"},
        {1, 0x80000000u, "vocab_size 2^31"},
        {0, 4, "cell 4"},
        {0, 0xFFFFFFFFu, "cell -1"},
        {2, 0, "emb_size 0"},
        {3, 0xFFFFFFFEu, "hidden_size -2"},
        {4, 0, "num_layers 0"},
        {4, 0xFFFFFFFFu, "num_layers -1"},
        {5, 0xFFFFFFFFu, "tied -1"},
        {5, 1, "tied with E != H"},
        {6, 0x3F800000u, "dropout 1.0"},
        {6, 0xBF000000u, "dropout -0.5"},
        {6, 0x7FC00000u, "dropout NaN"},
        {6, 0x7F800000u, "dropout inf"},
    };
    rnn_config cfg = get_cfg(m);
    ck_assert_int_ne(cfg.emb_size, 3); /* "tied with E != H" needs E != H: small_model has E = H */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(f.s[c].data, keep, 36);
        if (cases[i].field == 5 && cases[i].v == 1) set_conf(&f, 2, 3); /* E 3, H 2 */
        set_conf(&f, cases[i].field, cases[i].v);
        expect_format(dir, &f, NULL, cases[i].what);
    }
    /* a CONF payload that is one field short */
    memcpy(f.s[c].data, keep, 36);
    f.s[c].len = 32;
    expect_format(dir, &f, "CONF", "CONF of 32 bytes");
    f.s[c].len = 0;
    expect_format(dir, &f, "CONF", "empty CONF");
    f.s[c].len = 36;
    /* two CONF sections */
    insert_sect(&f, 0, "CONF", keep, 36);
    expect_format(dir, &f, "CONF", "two CONF");
    remove_sect(&f, 0);
    /* no CONF at all: PARM comes first */
    remove_sect(&f, c);
    expect_format(dir, &f, NULL, "no CONF");
    free_file(&f);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

/*
 * A CONF whose dimensions are each legal but describe a model far larger than the file: the loader
 * must refuse it from the file size (PARM cannot hold V*E floats in a few hundred bytes) before
 * creating the model, not allocate (and initialise) gigabytes first.
 */
START_TEST(test_conf_larger_than_file)
{
    char *dir = make_tmpdir();
    rnn_model *m = small_model(RNN_CELL_TANH, 1, 0);
    mfile f;
    file_of(m, dir, &f, NULL, NULL);
    set_conf(&f, 1, 1u << 24); /* V = 2^24 (the largest legal), E = H = 2: 2^25 floats, 128 MiB */
    set_conf(&f, 2, 2);
    set_conf(&f, 3, 2);
    expect_format(dir, &f, NULL, "CONF with V 2^24 in a small file");
    set_conf(&f, 1, 1u << 24); /* ... and E = H = 2^12: 2^36 floats, 256 GiB */
    set_conf(&f, 2, 1u << 12);
    set_conf(&f, 3, 1u << 12);
    expect_format(dir, &f, NULL, "CONF with V 2^24, E = H = 2^12 in a small file");
    free_file(&f);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

START_TEST(test_bad_vocab)
{
    char *dir = make_tmpdir();
    rnn_model *m = make_model(RNN_CELL_LSTM, 0, 1, 30, 4, 8, 1, 8);
    mfile f;
    file_of(m, dir, &f, NULL, NULL);
    int v = find_sect(&f, "VOCB");
    ck_assert_int_ge(v, 0);
    section keep = f.s[v];
    unsigned char *orig = malloc(keep.len);
    memcpy(orig, keep.data, keep.len);
#define RESTORE() (memcpy(f.s[v].data, orig, keep.len), f.s[v].len = keep.len)
    static const uint32_t counts[] = {29, 31, 0, 0xFFFFFFFFu, 0x40000000u};
    for (int i = 0; i < 5; i++) {
        RESTORE();
        tu_put32(f.s[v].data, counts[i]);
        expect_format(dir, &f, "VOCB", "VOCB word count lie");
    }
    /* the right count, but the section holds fewer words (the last ones cut off) */
    RESTORE();
    f.s[v].len = keep.len - 7;
    expect_format(dir, &f, "VOCB", "VOCB cut short");
    f.s[v].len = 4 + 4 + 2; /* just the count and word 0 */
    expect_format(dir, &f, "VOCB", "VOCB with one word");
    f.s[v].len = 4;
    expect_format(dir, &f, "VOCB", "VOCB with only the count");
    f.s[v].len = 2;
    expect_format(dir, &f, "VOCB", "VOCB shorter than its count");
    /* word 0 ("w0") claims more bytes than there are */
    RESTORE();
    tu_put32(f.s[v].data + 4, 0x7FFFFFFFu);
    expect_format(dir, &f, "VOCB", "VOCB word length lie");
    tu_put32(f.s[v].data + 4, 0xFFFFFFFFu);
    expect_format(dir, &f, "VOCB", "VOCB word length -1");
    /* an empty word, and a word with a NUL byte */
    RESTORE();
    tu_put32(f.s[v].data + 4, 0);
    expect_format(dir, &f, "VOCB", "VOCB empty word");
    RESTORE();
    f.s[v].data[4 + 4 + 1] = 0; /* "w0" -> "w\0" */
    expect_format(dir, &f, "VOCB", "VOCB word with NUL");
    /* two VOCB sections */
    RESTORE();
    insert_sect(&f, v, "VOCB", orig, keep.len);
    expect_format(dir, &f, "VOCB", "two VOCB");
    remove_sect(&f, v);
    /* VOCB before CONF */
    RESTORE();
    insert_sect(&f, 0, "VOCB", orig, keep.len);
    remove_sect(&f, v + 1);
    expect_format(dir, &f, "CONF", "VOCB before CONF");
#undef RESTORE
    free(orig);
    free_file(&f);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

START_TEST(test_bad_params)
{
    char *dir = make_tmpdir();
    rnn_model *m = make_model(RNN_CELL_LSTM, 0, 2, 9, 3, 4, 1, 21);
    mfile f;
    file_of(m, dir, &f, NULL, NULL);
    int p = find_sect(&f, "PARM");
    ck_assert_int_ge(p, 0);
    size_t plen = f.s[p].len;
    unsigned char *orig = malloc(plen);
    memcpy(orig, f.s[p].data, plen);
#define RESTORE() (memcpy(f.s[p].data, orig, plen), f.s[p].len = plen)
    unsigned char *d = f.s[p].data;
    /* layout: count | 14 "encoder.weight" | rows | cols | data ... */
    ck_assert_uint_eq(tu_get32(d + 4), 14);
    ck_assert(memcmp(d + 8, "encoder.weight", 14) == 0);
    size_t rows_at = 8 + 14, w_ih = rows_at + 8 + 4 * 9 * 3; /* the second tensor */
    ck_assert_uint_eq(tu_get32(d + w_ih), 16);
    ck_assert(memcmp(d + w_ih + 4, "rnn.weight_ih_l0", 16) == 0);

    tu_put32(d, tu_get32(orig) + 1);
    expect_format(dir, &f, "tensors", "PARM count + 1");
    RESTORE();
    tu_put32(d, tu_get32(orig) - 1);
    expect_format(dir, &f, "tensors", "PARM count - 1");
    RESTORE();
    tu_put32(d, 0xFFFFFFFFu);
    expect_format(dir, &f, NULL, "PARM count -1");
    RESTORE();
    d[8 + 13] = 'T'; /* encoder.weighT */
    expect_format(dir, &f, "encoder.weighT", "wrong name");
    RESTORE();
    memcpy(d + w_ih + 4, "rnn.weight_hh_l0", 16);
    expect_format(dir, &f, "rnn.weight_hh_l0", "tensors out of order");
    RESTORE();
    tu_put32(d + 4, 13); /* "encoder.weigh" + a length that no longer frames the rest */
    expect_format(dir, &f, NULL, "name length - 1");
    RESTORE();
    tu_put32(d + 4, 0xFFFFFFF0u);
    expect_format(dir, &f, NULL, "name length huge");
    RESTORE();
    tu_put32(d + rows_at, 3), tu_put32(d + rows_at + 4, 9); /* 9x3 -> 3x9: same size, wrong shape */
    expect_format(dir, &f, "shape", "transposed shape");
    RESTORE();
    tu_put32(d + rows_at, 0xFFFFFFFFu), tu_put32(d + rows_at + 4, 0xFFFFFFFFu);
    expect_format(dir, &f, "shape", "huge shape");
    RESTORE();
    f.s[p].len = plen - 4; /* the last float of decoder.bias missing */
    expect_format(dir, &f, "truncated", "PARM data short");
    RESTORE();
    f.s[p].len = 3;
    expect_format(dir, &f, NULL, "PARM of 3 bytes");
    RESTORE();
    /* two PARM sections */
    insert_sect(&f, p, "PARM", orig, plen);
    expect_format(dir, &f, "PARM", "two PARM");
    remove_sect(&f, p);
    /* no PARM */
    RESTORE();
    section saved = f.s[p];
    memmove(&f.s[p], &f.s[p + 1], sizeof(section) * (size_t)(f.n - p - 1));
    f.n--;
    expect_format(dir, &f, "PARM", "no PARM");
    memmove(&f.s[p + 1], &f.s[p], sizeof(section) * (size_t)(f.n - p));
    f.s[p] = saved;
    f.n++;
    /* no END */
    int e = find_sect(&f, "END ");
    free(f.s[e].data);
    f.n--;
    expect_format(dir, &f, "END", "no END");
    insert_sect(&f, f.n, "END ", "", 0);
    /* a wrong CRC in PARM */
    size_t len;
    unsigned char *b = build_file(&f, &len);
    size_t pos = 16;
    for (int i = 0; i < p; i++) pos += 16 + f.s[i].len;
    b[pos + 12 + plen] ^= 1;
    load_result r = load_bytes(dir, b, len);
    ck_assert_int_eq(r.rc, RNN_ERR_FORMAT);
    ck_assert_msg(strstr(r.err, "checksum") != NULL, "%s", r.err);
    free(b);
    /* a tied model's file with a decoder.weight tensor, loaded as tied: the count differs */
    rnn_model *t = make_model(RNN_CELL_LSTM, 1, 1, 9, 4, 4, 0, 2);
    mfile tf;
    file_of(t, dir, &tf, NULL, NULL);
    set_conf(&tf, 5, 0);
    expect_format(dir, &tf, "tensors", "tied file read as untied");
    free_file(&tf);
    rnn_model_free(t);
#undef RESTORE
    free(orig);
    free_file(&f);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

/* ---- tests: forward compatibility ----------------------------------------------------------------- */
START_TEST(test_unknown_sections_skipped)
{
    char *dir = make_tmpdir();
    rnn_model *m = make_model(RNN_CELL_GRU, 1, 2, 13, 6, 6, 1, 77);
    mfile f;
    file_of(m, dir, &f, NULL, NULL);
    unsigned char junk[300];
    uint64_t s = 5;
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)tu_next(&s);
    insert_sect(&f, f.n - 1, "ZZZZ", junk, sizeof junk);  /* before END */
    insert_sect(&f, 0, "zz00", junk, 17);                  /* before CONF */
    insert_sect(&f, 2, "TRN1", "", 0);                     /* empty, between CONF and VOCB */
    ck_assert_uint_eq(f.s[f.n - 1].tag, tag_of("END "));
    size_t len;
    unsigned char *b = build_file(&f, &len);
    load_result r = load_bytes(dir, b, len);
    ck_assert_msg(r.rc == RNN_OK, "%s", r.err);
    assert_same_model(m, r.m, 1);
    double la = eval_loss(m, NULL), lb = eval_loss(r.m, NULL);
    ck_assert(memcmp(&la, &lb, sizeof la) == 0);
    unload(&r);

    /* an unknown section's CRC is still checked */
    size_t pos = len - 16 - (16 + sizeof junk); /* ZZZZ is the second to last */
    ck_assert_uint_eq(tu_get32(b + pos), tag_of("ZZZZ"));
    b[pos + 12 + 100] ^= 0x10;
    r = load_bytes(dir, b, len);
    unload(&r);
    ck_assert_int_eq(r.rc, RNN_ERR_FORMAT);
    ck_assert_msg(strstr(r.err, "checksum") != NULL, "%s", r.err);
    free(b);
    /* an unknown section that claims more than the file holds */
    b = build_file(&f, &len);
    put64(b + len - 16 - (16 + sizeof junk) + 4, (uint64_t)1 << 40);
    r = load_bytes(dir, b, len);
    unload(&r);
    ck_assert_int_eq(r.rc, RNN_ERR_FORMAT);
    ck_assert_uint_le(r.max_req, len + 4096);
    free(b);
    free_file(&f);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

/* tu_crc32c() continued over n zero bytes (crc: that of the bytes before them), a byte at a time with a
   table of the bitwise steps */
static uint32_t crc32c_zeros(uint32_t crc, uint64_t n)
{
    uint32_t t[256];
    for (uint32_t i = 0; i < 256; i++) {
        t[i] = i;
        for (int k = 0; k < 8; k++) t[i] = (t[i] & 1u) ? (t[i] >> 1) ^ 0x82F63B78u : t[i] >> 1;
    }
    uint32_t c = ~crc;
    while (n--) c = t[c & 0xFF] ^ (c >> 8);
    return ~c;
}

/* Writes to path the model file b (len bytes) with a section `tag` of `claim` zero bytes before its
   END, sparse (only the ends written), whose CRC matches when `good`. Returns the file's size. */
static size_t write_sparse(const char *path, const unsigned char *b, size_t len, const char *tag, uint64_t claim,
                           int good)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    size_t head = len - 16; /* END is the last 16 bytes */
    unsigned char sh[12], cb[4];
    tu_put32(sh, tag_of(tag)), put64(sh + 4, claim);
    tu_put32(cb, good ? crc32c_zeros(tu_crc32c(sh, 12), claim) : 0x5EED5EEDu);
    ck_assert_int_eq(pwrite(fd, b, head, 0), (ssize_t)head);
    ck_assert_int_eq(pwrite(fd, sh, 12, (off_t)head), 12);
    ck_assert_int_eq(pwrite(fd, cb, 4, (off_t)(head + 12 + claim)), 4);
    ck_assert_int_eq(pwrite(fd, b + head, 16, (off_t)(head + 16 + claim)), 16);
    ck_assert_int_eq(close(fd), 0);
    return head + 32 + (size_t)claim;
}

/* Loads path with rnn_model_load and (mapped) with rnn_model_load_mem, each through a counting
   allocator that refuses requests over 64 MiB; both must give `want` (and a message with `needle`)
   having asked for no single block larger than `most`. */
static void load_sparse(const char *path, size_t size, int want, const char *needle, size_t most, const char *what)
{
    for (int mem = 0; mem <= 1; mem++) {
        counter c;
        rnn_allocator al = counting(&c, (size_t)64 << 20);
        rnn_model *m = NULL;
        char err[256] = "";
        int rc;
        if (!mem) {
            rc = rnn_model_load(&m, path, &al, 0, err, sizeof err);
        } else {
            int fd = open(path, O_RDONLY);
            ck_assert_int_ge(fd, 0);
            void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
            ck_assert_msg(p != MAP_FAILED, "mmap: %s", strerror(errno));
            close(fd);
            rc = rnn_model_load_mem(&m, p, size, &al, 0, err, sizeof err);
            munmap(p, size);
        }
        const char *how = mem ? "rnn_model_load_mem" : "rnn_model_load";
        ck_assert_msg(rc == want, "%s, %s: %s (%s)", what, how, rnn_status_string(rc), err);
        if (needle) ck_assert_msg(strstr(err, needle) != NULL, "%s, %s: \"%s\" lacks \"%s\"", what, how, err, needle);
        ck_assert_msg(c.max_req <= most, "%s, %s: an allocation of %zu bytes", what, how, c.max_req);
        rnn_model_free(m);
        ck_assert_int_eq(c.live, 0);
    }
}

/* Sparse files with a huge section: a known one over its limit is refused from its header, before
   anything is read or allocated; an unknown one goes through its CRC a chunk at a time (loads when
   it matches). Neither file nor memory load asks for a block near the section's size. */
START_TEST(test_huge_sparse_sections)
{
    char *dir = make_tmpdir(), *path = join(dir, "sparse.rnn");
    rnn_model *m = small_model(RNN_CELL_LSTM, 0, 0); /* no VOCB: one can be added */
    mfile f;
    unsigned char *raw;
    size_t rawlen, len;
    file_of(m, dir, &f, &raw, &rawlen);
    const uint64_t G3 = (uint64_t)3 << 30;
    size_t most = rawlen + 4096; /* what a valid load of this model asks for at most */
    static const struct { const char *tag, *needle; } known[] = {
        {"APPL", "APPL"}, {"VOCB", "VOCB"}, {"STAT", "STAT"}, {"CONF", "CONF"}, {"PARM", "PARM"}, {"END ", "END"}};
    for (int i = 0; i < 6; i++) {
        /* PARM: a file without it, so that the huge one is the first; STAT: not 40 + whole streams */
        mfile g;
        parse_file(raw, rawlen, &g);
        if (!strcmp(known[i].tag, "PARM")) remove_sect(&g, find_sect(&g, "PARM"));
        unsigned char *b = build_file(&g, &len);
        size_t size = write_sparse(path, b, len, known[i].tag, G3 + 41 * !strcmp(known[i].tag, "STAT"), 0);
        char what[64];
        snprintf(what, sizeof what, "a 3 GiB %s section", known[i].tag);
        load_sparse(path, size, RNN_ERR_FORMAT, known[i].needle, most, what);
        free(b);
        free_file(&g);
    }
    uint64_t U = (uint64_t)80 << 20; /* over the counting allocator's 64 MiB */
    len = write_sparse(path, raw, rawlen, "HUGE", U, 1);
    load_sparse(path, len, RNN_OK, NULL, most, "an 80 MiB unknown section");
    len = write_sparse(path, raw, rawlen, "HUGE", U, 0);
    load_sparse(path, len, RNN_ERR_FORMAT, "checksum", most, "an 80 MiB unknown section with a wrong CRC");
    unlink(path);
    free(raw);
    free_file(&f);
    rnn_model_free(m);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

/* ---- tests: saving -------------------------------------------------------------------------------- */
START_TEST(test_save_missing_folder)
{
    char *dir = make_tmpdir();
    char *path = join(dir, "no/such/folder/model.rnn");
    rnn_model *m = small_model(RNN_CELL_LSTM, 0, 1);
    ck_assert_int_eq(rnn_model_save(m, path, 0, NULL, 0), RNN_ERR_IO);
    ck_assert_msg(strstr(rnn_model_errmsg(m), path) != NULL, "message \"%s\" does not name %s", rnn_model_errmsg(m), path);
    char names[512];
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 0);
    /* the failed save changed nothing: the model still saves and evaluates */
    free(path);
    path = join(dir, "ok.rnn");
    save_ok(m, path);
    ck_assert_int_eq(rnn_model_save(NULL, path, 0, NULL, 0), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_save(m, NULL, 0, NULL, 0), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_save(m, "", 0, NULL, 0), RNN_ERR_INVALID);
    rnn_model_free(m);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

START_TEST(test_save_no_leftovers)
{
    char *dir = make_tmpdir();
    char *path = join(dir, "model.rnn");
    rnn_model *a = small_model(RNN_CELL_LSTM, 0, 1);
    rnn_model *b = make_model(RNN_CELL_GRU, 1, 2, 12, 4, 4, 1, 1);
    char names[1024];
    save_ok(a, path);
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 1);
    ck_assert_str_eq(names, "model.rnn");
    /* overwriting replaces the content, still with no temporary file left */
    save_ok(b, path);
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 1);
    ck_assert_str_eq(names, "model.rnn");
    rnn_model *c = load_ok(path, NULL);
    assert_same_model(b, c, 1);
    rnn_model_free(c);
    /* a save that fails at the rename (the target is a folder) removes its temporary file */
    char *sub = join(dir, "sub");
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    ck_assert_int_eq(rnn_model_save(a, sub, 0, NULL, 0), RNN_ERR_IO);
    ck_assert_msg(strstr(rnn_model_errmsg(a), sub) != NULL, "%s", rnn_model_errmsg(a));
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 2);
    ck_assert_msg(strstr(names, "tmp") == NULL, "leftover: %s", names);
    rmdir(sub);
    free(sub);
    /* a relative path (the folder to fsync is ".") */
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    save_ok(a, "rel.rnn");
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 2);
    char *rel = join(dir, "rel.rnn");
    c = load_ok(rel, NULL);
    assert_same_model(a, c, 1);
    rnn_model_free(c);
    free(rel);
    rnn_model_free(a), rnn_model_free(b);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

START_TEST(test_save_readonly_folder_keeps_old_file)
{
    char *dir = make_tmpdir();
    char *path = join(dir, "model.rnn");
    rnn_model *a = small_model(RNN_CELL_LSTM, 0, 1);
    rnn_model *b = make_model(RNN_CELL_TANH, 0, 1, 6, 3, 3, 1, 2);
    save_ok(a, path);
    size_t l0;
    unsigned char *before = read_all(path, &l0);
    ck_assert_int_eq(chmod(dir, 0555), 0);
    /* as root (or with CAP_DAC_OVERRIDE) the mode does not stop writes: then there is nothing to test */
    char *probe = join(dir, "probe");
    FILE *pf = fopen(probe, "wb");
    if (pf) {
        fclose(pf);
        unlink(probe);
        printf("test_save_readonly_folder_keeps_old_file: skipped (a 0555 folder is writable here: root?)\n");
    } else {
        ck_assert_int_eq(rnn_model_save(b, path, 0, NULL, 0), RNN_ERR_IO);
        ck_assert_msg(strstr(rnn_model_errmsg(b), path) != NULL, "%s", rnn_model_errmsg(b));
        size_t l1;
        unsigned char *after = read_all(path, &l1);
        ck_assert_uint_eq(l0, l1);
        ck_assert(memcmp(before, after, l0) == 0);
        free(after);
        char names[512];
        ck_assert_int_eq(list_dir(dir, names, sizeof names), 1);
        rnn_model *c = load_ok(path, NULL);
        assert_same_model(a, c, 1);
        rnn_model_free(c);
    }
    free(probe);
    free(before);
    chmod(dir, 0700);
    rnn_model_free(a), rnn_model_free(b);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

/* ---- tests: rnn_model_load's arguments ------------------------------------------------------------ */
START_TEST(test_load_arguments)
{
    char *dir = make_tmpdir();
    char *path = join(dir, "model.rnn");
    rnn_model *a = small_model(RNN_CELL_LSTM, 0, 1);
    save_ok(a, path);
    char err[256];
    rnn_model *m = (rnn_model *)err;

    err[0] = 'x';
    ck_assert_int_eq(rnn_model_load(NULL, path, NULL, 0, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_msg(err[0] != 0 && err[0] != 'x', "no message for a NULL out");
    ck_assert_int_eq(rnn_model_load(NULL, path, NULL, 0, NULL, 0), RNN_ERR_INVALID);

    ck_assert_int_eq(rnn_model_load(&m, NULL, NULL, 0, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    ck_assert_msg(err[0] != 0, "no message for a NULL path");

    char *missing = join(dir, "missing.rnn");
    m = (rnn_model *)err;
    ck_assert_int_eq(rnn_model_load(&m, missing, NULL, 0, err, sizeof err), RNN_ERR_IO);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err, missing) != NULL, "message \"%s\" does not name %s", err, missing);
    free(missing);

    m = (rnn_model *)err;
    int rc = rnn_model_load(&m, dir, NULL, 0, err, sizeof err);
    ck_assert_msg(rc == RNN_ERR_IO || rc == RNN_ERR_FORMAT, "a folder: %s", rnn_status_string(rc));
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err, dir) != NULL, "message \"%s\" does not name %s", err, dir);

    /* an allocator with only one hook */
    counter c;
    rnn_allocator half = counting(&c, 1u << 30);
    half.free = NULL;
    m = (rnn_model *)err;
    ck_assert_int_eq(rnn_model_load(&m, path, &half, 0, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_int_eq(c.total, 0);

    /* an allocator that always fails: RNN_ERR_NOMEM, nothing leaked */
    rnn_allocator none = counting(&c, 0);
    m = (rnn_model *)err;
    rc = rnn_model_load(&m, path, &none, 0, err, sizeof err);
    ck_assert_int_eq(rc, RNN_ERR_NOMEM);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(c.live, 0);
    /* ... and one that fails at each successive allocation of a valid load */
    counter all;
    rnn_allocator al = counting(&all, (size_t)1 << 30);
    rnn_model *ok = load_ok(path, &al);
    rnn_model_free(ok);
    for (size_t cap = 0; cap < all.max_req; cap = cap * 2 + 1) {
        rnn_allocator cl = counting(&c, cap);
        m = (rnn_model *)err;
        rc = rnn_model_load(&m, path, &cl, 0, err, sizeof err);
        ck_assert_msg(rc == RNN_ERR_NOMEM, "cap %zu: %s (%s)", cap, rnn_status_string(rc), err);
        ck_assert_ptr_null(m);
        ck_assert_msg(c.live == 0, "cap %zu: %ld leaked", cap, c.live);
    }

    /* a short errbuf is truncated and terminated; errlen 0 writes nothing */
    char small[9];
    memset(small, '#', sizeof small);
    m = (rnn_model *)err;
    ck_assert_int_eq(rnn_model_load(&m, NULL, NULL, 0, small, 8), RNN_ERR_INVALID);
    ck_assert_int_eq(small[7], 0);
    ck_assert_int_eq(small[8], '#');
    memset(small, '#', sizeof small);
    ck_assert_int_eq(rnn_model_load(&m, NULL, NULL, 0, small, 0), RNN_ERR_INVALID);
    ck_assert_int_eq(small[0], '#');

    /* an empty file */
    char *empty = join(dir, "empty.rnn");
    write_all(empty, "", 0);
    m = (rnn_model *)err;
    ck_assert_int_eq(rnn_model_load(&m, empty, NULL, 0, err, sizeof err), RNN_ERR_FORMAT);
    ck_assert_ptr_null(m);
    free(empty);

    rnn_model_free(a);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

/* A new file gets 0666 less the umask (as fopen would); a replaced file keeps its mode. */
START_TEST(test_save_file_mode)
{
    char *dir = make_tmpdir(), *path = join(dir, "m.rnn");
    rnn_model *m = small_model(RNN_CELL_GRU, 0, 1);
    mode_t old = umask(022);
    ck_assert_int_eq(rnn_model_save(m, path, 0, NULL, 0), RNN_OK);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644);
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_eq(rnn_model_save(m, path, 0, NULL, 0), RNN_OK);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640);
    umask(old);
    rnn_model_free(m);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

/* A FIFO (no writer) is refused at once instead of blocking the load. */
START_TEST(test_load_fifo)
{
    char *dir = make_tmpdir(), *path = join(dir, "fifo");
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    rnn_model *m = (rnn_model *)1;
    char err[256];
    ck_assert_int_eq(rnn_model_load(&m, path, NULL, 0, err, sizeof err), RNN_ERR_IO);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err, "regular file"));
    unlink(path);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

/* One training step (dropout on, so the generator matters). */
static double train_step(rnn_model *m, const int32_t *t, const int32_t *g)
{
    double l = 0;
    ck_assert_int_eq(rnn_forward(m, t, g, 2, 5, 0, &l), RNN_OK);
    ck_assert_int_eq(rnn_zero_grad(m), RNN_OK);
    ck_assert_int_eq(rnn_backward(m), RNN_OK);
    ck_assert_int_eq(rnn_clip_grad_norm(m, 0.25f, NULL), RNN_OK);
    ck_assert_int_eq(rnn_sgd_step(m, 1.0f), RNN_OK);
    return l;
}

/* RNN_SAVE_STATE: a model loaded mid-training continues bit for bit like the one that never
 * stopped (hidden state, generator); application data travels with the file. */
START_TEST(test_exact_resume_state)
{
    int cell = _i;
    char *dir = make_tmpdir(), *path = join(dir, "r.rnn"), *plain = join(dir, "p.rnn");
    rnn_model *a = make_model(cell, 0, 2, 20, 6, 8, 1, 5);
    rnn_config cfg = get_cfg(a);
    ck_assert_float_gt(cfg.dropout, 0.0f);
    int32_t t[10], g[10];
    for (int i = 0; i < 10; i++) t[i] = (int32_t)(i * 3 % 20), g[i] = (int32_t)(i * 7 % 20);
    ck_assert_int_eq(rnn_model_reset_hidden(a, 2), RNN_OK);
    for (int k = 0; k < 3; k++) train_step(a, t, g);
    ck_assert_int_eq(rnn_model_save(a, path, RNN_SAVE_STATE, "epoch=3\0x", 9), RNN_OK);
    ck_assert_int_eq(rnn_model_save(a, plain, 0, NULL, 0), RNN_OK);
    ck_assert_int_eq(rnn_model_save(a, plain, 2, NULL, 0), RNN_ERR_INVALID); /* not a save flag */
    rnn_model *b = load_ok(path, NULL), *p = load_ok(plain, NULL);
    int batch = -1;
    ck_assert_int_eq(rnn_model_get_batch(b, &batch), RNN_OK);
    ck_assert_int_eq(batch, 2);
    ck_assert_int_eq(rnn_model_get_batch(p, &batch), RNN_OK);
    ck_assert_int_eq(batch, 0); /* a plain save carries no state */
    const void *d;
    size_t dl;
    ck_assert_int_eq(rnn_model_get_app_data(b, &d, &dl), RNN_OK);
    ck_assert_uint_eq(dl, 9);
    ck_assert_int_eq(memcmp(d, "epoch=3\0x", 9), 0);
    for (int k = 0; k < 3; k++) {
        double la = train_step(a, t, g), lb = train_step(b, t, g);
        ck_assert_msg(la == lb, "step %d: loss %.9g vs resumed %.9g", k, la, lb);
    }
    float *pa, *pb, *ga, *gb;
    size_t n;
    rnn_param_get_block(a, &pa, &ga, &n);
    rnn_param_get_block(b, &pb, &gb, &n);
    ck_assert_int_eq(memcmp(pa, pb, n * sizeof(float)), 0);
    /* app data belongs to the file: a created model has none, saving gave it none, and a file
       saved without any holds none */
    ck_assert_int_eq(rnn_model_get_app_data(a, &d, &dl), RNN_OK);
    ck_assert_ptr_null(d);
    ck_assert_uint_eq(dl, 0);
    d = "x", dl = 5;
    ck_assert_int_eq(rnn_model_get_app_data(p, &d, &dl), RNN_OK);
    ck_assert_ptr_null(d);
    ck_assert_uint_eq(dl, 0);
    rnn_model_free(a), rnn_model_free(b), rnn_model_free(p);
    free(path), free(plain);
    remove_tmpdir(dir);
}
END_TEST

/* Malformed STAT and APPL sections are format errors, never crashes or large allocations. */
START_TEST(test_bad_state)
{
    char *dir = make_tmpdir(), *path = join(dir, "s.rnn");
    rnn_model *a = small_model(RNN_CELL_LSTM, 0, 1);
    ck_assert_int_eq(rnn_model_reset_hidden(a, 3), RNN_OK);
    ck_assert_int_eq(rnn_model_save(a, path, RNN_SAVE_STATE, "xy", 2), RNN_OK);
    size_t len;
    unsigned char *raw = read_all(path, &len);
    mfile f;
    parse_file(raw, len, &f);
    int st = find_sect(&f, "STAT"), ap = find_sect(&f, "APPL");
    ck_assert_int_ge(st, 0);
    ck_assert_int_ge(ap, 0);
    unsigned char *sd = f.s[st].data;
    tu_put32(sd, 4); /* batch 4: the payload is too short for it */
    expect_format(dir, &f, "STAT", "STAT batch larger than its payload");
    tu_put32(sd, 0x40000000u);
    expect_format(dir, &f, "STAT", "STAT huge batch");
    tu_put32(sd, 3), tu_put32(sd + 4, 0);
    expect_format(dir, &f, "has_c", "STAT without c for an LSTM");
    tu_put32(sd + 4, 1);
    memset(sd + 8, 0, 32);
    expect_format(dir, &f, "generator", "STAT with an all-zero generator");
    f.s[st].len -= 4;
    expect_format(dir, &f, "STAT", "STAT one float short");
    free_file(&f);
    parse_file(raw, len, &f);
    section moved = f.s[st];
    memmove(&f.s[2], &f.s[1], sizeof(section) * (size_t)(st - 1)); /* STAT right after CONF */
    f.s[1] = moved;
    expect_format(dir, &f, "before PARM", "STAT before PARM");
    free_file(&f);
    parse_file(raw, len, &f);
    insert_sect(&f, ap + 1, "APPL", "zz", 2);
    expect_format(dir, &f, "two APPL", "two APPL sections");
    free_file(&f);
    free(raw);
    rnn_model_free(a);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

/* A child process that holds path flock'ed (as a saver in another PID namespace would hold its
 * temporary) until release(); returns its pid, *go the pipe end that releases it. */
static pid_t hold_locked(const char *path, int *go)
{
    int ready[2], wait_[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(wait_), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(ready[0]), close(wait_[1]);
        int fd = open(path, O_RDWR);
        char c = fd >= 0 && flock(fd, LOCK_EX) == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1 || read(wait_[0], &c, 1) < 0) _exit(1); /* EOF: released */
        _exit(0);
    }
    close(ready[1]), close(wait_[0]);
    char c = 0;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);
    ck_assert_msg(c == 'y', "the child could not lock %s", path);
    *go = wait_[1];
    return pid;
}
static void release(pid_t pid, int go)
{
    close(go);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}

/* The temporaries of the same path that no writer holds locked are removed by the next save, whatever
 * process id their name carries; a locked one (a live save, maybe in another PID namespace where
 * its pid means nothing here) is left alone, and so are other names, FIFOs and links. */
START_TEST(test_stale_temps_removed)
{
    char *dir = make_tmpdir(), *path = join(dir, "m.rnn"), *victim = join(dir, "victim");
    char *locked = join(dir, "m.rnn.tmp.999999999.7"), *one = join(dir, "m.rnn.tmp.1.7"),
         *other = join(dir, "n.rnn.tmp.999999999.7"), *odd = join(dir, "m.rnn.tmp.999999999.x"),
         *fifo = join(dir, "m.rnn.tmp.999999999.8"), *lnk = join(dir, "m.rnn.tmp.999999999.9"), mine[256];
    snprintf(mine, sizeof mine, "%s/m.rnn.tmp.%ld.7", dir, (long)getpid());
    const char *files[] = {locked, one, other, odd, mine, victim};
    for (int i = 0; i < 6; i++) write_all(files[i], "x", 1);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(symlink(victim, lnk), 0);
    int go;
    pid_t holder = hold_locked(locked, &go);
    rnn_model *m = small_model(RNN_CELL_TANH, 0, 0);
    ck_assert_int_eq(rnn_model_save(m, path, 0, NULL, 0), RNN_OK);
    ck_assert_msg(access(locked, F_OK) == 0, "a temporary held locked was removed (no process 999999999 here)");
    ck_assert_msg(access(one, F_OK) != 0, "an unlocked temporary of pid 1 (which exists) was left");
    ck_assert_msg(access(mine, F_OK) != 0, "an unlocked temporary of this pid was left");
    const char *kept[] = {other, odd, fifo, lnk, victim};
    for (int i = 0; i < 5; i++) ck_assert_msg(access(kept[i], F_OK) == 0, "%s was removed", kept[i]);
    struct stat st;
    ck_assert_int_eq(lstat(lnk, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    /* once its holder is gone, it is a leftover like any other */
    release(holder, go);
    ck_assert_int_eq(rnn_model_save(m, path, 0, NULL, 0), RNN_OK);
    ck_assert_int_ne(access(locked, F_OK), 0);
    unlink(other), unlink(odd), unlink(fifo), unlink(lnk);
    rnn_model_free(m);
    free(path), free(victim), free(locked), free(one), free(other), free(odd), free(fifo), free(lnk);
    remove_tmpdir(dir);
}
END_TEST

/* A save's own temporary stays locked until it is renamed: another save of the same path (here the
 * same process, which an earlier version never swept) leaves it, and both commit. */
START_TEST(test_temp_locked_while_written)
{
    char *dir = make_tmpdir(), *path = join(dir, "out.txt");
    char err[256];
    rnn__atomic a, b;
    ck_assert_int_eq(rnn__atomic_open(&a, path, err, sizeof err), RNN_OK);
    int fd = open(a.tmp, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ne(flock(fd, LOCK_EX | LOCK_NB), 0);
    close(fd);
    fputs("first\n", a.f);
    ck_assert_int_eq(rnn__atomic_open(&b, path, err, sizeof err), RNN_OK);
    ck_assert_int_eq(access(a.tmp, F_OK), 0);
    fputs("second\n", b.f);
    ck_assert_int_eq(rnn__atomic_close(&a, 1, err, sizeof err), RNN_OK);
    ck_assert_int_eq(rnn__atomic_close(&b, 1, err, sizeof err), RNN_OK);
    size_t len;
    unsigned char *got = read_all(path, &len);
    ck_assert_uint_eq(len, 7);
    ck_assert(memcmp(got, "second\n", 7) == 0);
    free(got);
    char names[512];
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 1);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

/* ---- tests: what a save or an output replaces ------------------------------------------------------ */

/* Makes a device node at path (mode 0666); 0, saying why, where mknod is not permitted. */
static int try_mknod(const char *test, const char *path, mode_t type, unsigned major, unsigned minor)
{
    if (mknod(path, type | 0666, makedev(major, minor)) == 0 && chmod(path, 0666) == 0) return 1;
    printf("%s: the %s device part skipped (mknod: %s)\n", test, type == S_IFCHR ? "character" : "block",
           strerror(errno));
    return 0;
}

/* A listening Unix socket at path; its descriptor. */
static int listen_at(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    ck_assert_uint_lt(strlen(path), sizeof sa.sun_path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    return fd;
}

/* The node at path is the one `before` describes: same type, inode, device numbers and mode. */
static void assert_same_node(const char *path, const struct stat *before)
{
    struct stat st;
    ck_assert_msg(lstat(path, &st) == 0, "%s is gone", path);
    ck_assert_msg(st.st_mode == before->st_mode && st.st_ino == before->st_ino && st.st_rdev == before->st_rdev,
                  "%s was replaced or changed (mode 0%o, was 0%o)", path, (unsigned)st.st_mode, (unsigned)before->st_mode);
}

/* A save through symbolic links replaces the file they name and leaves the links: relative (to the
 * link's folder), absolute, chained, dangling (the file is created); a loop is refused. */
START_TEST(test_save_follows_symlinks)
{
    char *dir = make_tmpdir(), *real = join(dir, "real.rnn"), *sub = join(dir, "sub"), *lnk = join(dir, "sub/link.rnn"),
         *lnk2 = join(dir, "link2.rnn"), *dangling = join(dir, "dangling.rnn"), *created = join(dir, "sub/new.rnn"),
         *loop1 = join(dir, "loop1"), *loop2 = join(dir, "loop2");
    rnn_model *a = small_model(RNN_CELL_LSTM, 0, 1), *b = make_model(RNN_CELL_GRU, 1, 2, 12, 4, 4, 1, 1);
    save_ok(a, real);
    ck_assert_int_eq(chmod(real, 0640), 0);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    ck_assert_int_eq(symlink("../real.rnn", lnk), 0);
    ck_assert_int_eq(symlink(lnk, lnk2), 0);
    save_ok(b, lnk2);
    struct stat st;
    char target[64];
    ck_assert_int_eq(lstat(lnk2, &st), 0);
    ck_assert_msg(S_ISLNK(st.st_mode), "the link was replaced by a file");
    ck_assert_int_eq(lstat(lnk, &st), 0);
    ck_assert_msg(S_ISLNK(st.st_mode), "the link was replaced by a file");
    ssize_t n = readlink(lnk, target, sizeof target - 1);
    ck_assert_int_eq(n, 11);
    target[n] = 0;
    ck_assert_str_eq(target, "../real.rnn");
    ck_assert_int_eq(stat(real, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640); /* the replaced file's mode */
    rnn_model *c = load_ok(real, NULL);
    assert_same_model(b, c, 1);
    rnn_model_free(c);
    char names[512];
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 3); /* real.rnn, sub, link2.rnn: no temporary */
    ck_assert_int_eq(list_dir(sub, names, sizeof names), 1);
    ck_assert_int_eq(symlink("sub/new.rnn", dangling), 0);
    save_ok(a, dangling);
    ck_assert_int_eq(lstat(dangling, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    c = load_ok(created, NULL);
    assert_same_model(a, c, 1);
    rnn_model_free(c);
    ck_assert_int_eq(list_dir(sub, names, sizeof names), 2);
    ck_assert_int_eq(symlink("loop2", loop1), 0);
    ck_assert_int_eq(symlink("loop1", loop2), 0);
    ck_assert_int_eq(rnn_model_save(a, loop1, 0, NULL, 0), RNN_ERR_IO);
    ck_assert_msg(strstr(rnn_model_errmsg(a), loop1) != NULL, "%s", rnn_model_errmsg(a));
    ck_assert_int_eq(lstat(loop1, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 6);
    unlink(lnk), unlink(created), unlink(lnk2), unlink(dangling), unlink(loop1), unlink(loop2);
    rnn_model_free(a), rnn_model_free(b);
    free(real), free(sub), free(lnk), free(lnk2), free(dangling), free(created), free(loop1), free(loop2);
    remove_tmpdir(dir);
}
END_TEST

/* A model is saved only to a regular file or a new path: a FIFO (also through a link), a socket, a
 * folder, a character or block device is refused with a message naming what it is, and stays. */
START_TEST(test_save_refuses_special_files)
{
    char *dir = make_tmpdir();
    char *paths[6] = {join(dir, "fifo"), join(dir, "to_fifo"), join(dir, "sock"), join(dir, "folder"), join(dir, "chr"),
                      join(dir, "blk")};
    static const char *kinds[6] = {"FIFO", "FIFO", "socket", "folder", "character device", "block device"};
    ck_assert_int_eq(mkfifo(paths[0], 0600), 0);
    ck_assert_int_eq(symlink(paths[0], paths[1]), 0);
    int ls = listen_at(paths[2]);
    ck_assert_int_eq(mkdir(paths[3], 0700), 0);
    int have[6] = {1, 1, 1, 1, try_mknod("test_save_refuses_special_files", paths[4], S_IFCHR, 1, 3),
                   try_mknod("test_save_refuses_special_files", paths[5], S_IFBLK, 7, 0)};
    rnn_model *m = small_model(RNN_CELL_GRU, 0, 1);
    for (int i = 0; i < 6; i++) {
        if (!have[i]) continue;
        struct stat before;
        ck_assert_int_eq(lstat(paths[i], &before), 0);
        ck_assert_int_eq(rnn_model_save(m, paths[i], 0, NULL, 0), RNN_ERR_IO);
        const char *msg = rnn_model_errmsg(m);
        ck_assert_msg(strstr(msg, paths[i]) && strstr(msg, kinds[i]) && strstr(msg, "not a regular file"),
                      "%s: \"%s\"", kinds[i], msg);
        assert_same_node(paths[i], &before);
    }
    char names[512];
    list_dir(dir, names, sizeof names);
    ck_assert_msg(strstr(names, ".tmp.") == NULL, "leftover: %s", names);
    close(ls);
    for (int i = 0; i < 6; i++) unlink(paths[i]), free(paths[i]);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

/* rnn__atomic_open (rnnlm's outputs) writes a character device, a FIFO, a socket and a
 * /proc/self/fd link to a pipe in place (no temporary, nothing replaced); refuses a folder and a
 * block device; and replaces what a link names (the link stays). */
START_TEST(test_output_in_place)
{
    char *dir = make_tmpdir(), *fifo = join(dir, "fifo"), *sock = join(dir, "sock"), *chr = join(dir, "chr"),
         *blk = join(dir, "blk"), *file = join(dir, "file.txt"), *lnk = join(dir, "link.txt");
    char err[256], got[64];
    rnn__atomic a;
    struct stat before;
    /* a FIFO with a reader */
    ck_assert_int_eq(mkfifo(fifo, 0666), 0);
    ck_assert_int_eq(chmod(fifo, 0666), 0);
    ck_assert_int_eq(lstat(fifo, &before), 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(rd, 0);
    ck_assert_int_eq(rnn__atomic_open(&a, fifo, err, sizeof err), RNN_OK);
    ck_assert_int_eq(a.direct, 1);
    fputs("to the fifo\n", a.f);
    ck_assert_int_eq(rnn__atomic_close(&a, 1, err, sizeof err), RNN_OK);
    ck_assert_int_eq(read(rd, got, sizeof got), 12);
    ck_assert(memcmp(got, "to the fifo\n", 12) == 0);
    close(rd);
    assert_same_node(fifo, &before);
    /* a listening socket */
    int ls = listen_at(sock);
    ck_assert_int_eq(lstat(sock, &before), 0);
    ck_assert_int_eq(rnn__atomic_open(&a, sock, err, sizeof err), RNN_OK);
    fputs("to the socket\n", a.f);
    ck_assert_int_eq(rnn__atomic_close(&a, 1, err, sizeof err), RNN_OK);
    int cs = accept(ls, NULL, NULL);
    ck_assert_int_ge(cs, 0);
    ck_assert_int_eq(read(cs, got, sizeof got), 14);
    ck_assert(memcmp(got, "to the socket\n", 14) == 0);
    close(cs), close(ls);
    assert_same_node(sock, &before);
    /* /proc/self/fd/N of a pipe (a link to "pipe:[...]", not to a path) */
    int pp[2];
    ck_assert_int_eq(pipe(pp), 0);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", pp[1]);
    if (access(proc, F_OK) != 0) {
        printf("test_output_in_place: the /proc/self/fd part skipped (no %s)\n", proc);
    } else {
        ck_assert_msg(rnn__atomic_open(&a, proc, err, sizeof err) == RNN_OK, "%s", err);
        fputs("to the pipe\n", a.f);
        ck_assert_int_eq(rnn__atomic_close(&a, 1, err, sizeof err), RNN_OK);
        ck_assert_int_eq(read(pp[0], got, sizeof got), 12);
        ck_assert(memcmp(got, "to the pipe\n", 12) == 0);
    }
    close(pp[0]), close(pp[1]);
    /* a character device (1, 3: what /dev/null is) made here, never /dev itself */
    if (try_mknod("test_output_in_place", chr, S_IFCHR, 1, 3)) {
        int probe = open(chr, O_WRONLY);
        if (probe < 0) {
            printf("test_output_in_place: the character device part skipped (open: %s)\n", strerror(errno));
        } else {
            close(probe);
            ck_assert_int_eq(lstat(chr, &before), 0);
            ck_assert_int_eq(rnn__atomic_open(&a, chr, err, sizeof err), RNN_OK);
            ck_assert_int_eq(a.direct, 1);
            fputs("to the device\n", a.f);
            ck_assert_int_eq(rnn__atomic_close(&a, 1, err, sizeof err), RNN_OK);
            assert_same_node(chr, &before);
        }
    }
    if (try_mknod("test_output_in_place", blk, S_IFBLK, 7, 0)) {
        ck_assert_int_eq(lstat(blk, &before), 0);
        ck_assert_int_eq(rnn__atomic_open(&a, blk, err, sizeof err), RNN_ERR_IO);
        ck_assert_msg(strstr(err, "block device") && strstr(err, blk), "%s", err);
        assert_same_node(blk, &before);
    }
    ck_assert_int_eq(rnn__atomic_open(&a, dir, err, sizeof err), RNN_ERR_IO);
    ck_assert_msg(strstr(err, "folder") != NULL, "%s", err);
    /* a link: its file replaced, atomically, with a temporary beside the file */
    write_all(file, "old\n", 4);
    ck_assert_int_eq(symlink("file.txt", lnk), 0);
    ck_assert_int_eq(rnn__atomic_open(&a, lnk, err, sizeof err), RNN_OK);
    ck_assert_int_eq(a.direct, 0);
    ck_assert_msg(strncmp(a.tmp, file, strlen(file)) == 0, "temporary %s not beside %s", a.tmp, file);
    fputs("new\n", a.f);
    ck_assert_int_eq(rnn__atomic_close(&a, 1, err, sizeof err), RNN_OK);
    ck_assert_int_eq(lstat(lnk, &before), 0);
    ck_assert(S_ISLNK(before.st_mode));
    size_t len;
    unsigned char *b = read_all(file, &len);
    ck_assert(len == 4 && memcmp(b, "new\n", 4) == 0);
    free(b);
    char names[512];
    list_dir(dir, names, sizeof names);
    ck_assert_msg(strstr(names, ".tmp.") == NULL, "leftover: %s", names);
    unlink(fifo), unlink(sock), unlink(chr), unlink(blk), unlink(lnk);
    free(fifo), free(sock), free(chr), free(blk), free(file), free(lnk);
    remove_tmpdir(dir);
}
END_TEST

/* ---- tests: memory images (rnn_model_save_mem / rnn_model_load_mem) --------------------------------- */

/* The bytes rnn_model_save writes to dir/f.rnn for these arguments. */
static unsigned char *file_bytes(rnn_model *m, const char *dir, unsigned flags, const void *app, size_t app_len,
                                 size_t *len)
{
    char *path = join(dir, "f.rnn");
    int rc = rnn_model_save(m, path, flags, app, app_len);
    ck_assert_msg(rc == RNN_OK, "save: %s (%s)", rnn_status_string(rc), rnn_model_errmsg(m));
    unsigned char *b = read_all(path, len);
    unlink(path);
    free(path);
    return b;
}

/* rnn_model_save_mem into a buffer of exactly the size its query gives. */
static unsigned char *mem_image(rnn_model *m, unsigned flags, const void *app, size_t app_len, size_t *len)
{
    size_t need = 0;
    int rc = rnn_model_save_mem(m, NULL, 0, &need, flags, app, app_len);
    ck_assert_msg(rc == RNN_OK, "save_mem size query: %s (%s)", rnn_status_string(rc), rnn_model_errmsg(m));
    ck_assert_uint_gt(need, 16);
    unsigned char *b = malloc(need);
    ck_assert_ptr_nonnull(b);
    size_t got = 0;
    rc = rnn_model_save_mem(m, b, need, &got, flags, app, app_len);
    ck_assert_msg(rc == RNN_OK, "save_mem: %s (%s)", rnn_status_string(rc), rnn_model_errmsg(m));
    ck_assert_uint_eq(got, need);
    *len = need;
    return b;
}

static rnn_model *load_mem_ok(const void *b, size_t len, const rnn_allocator *al, unsigned flags)
{
    rnn_model *m = NULL;
    char err[256] = "x";
    int rc = rnn_model_load_mem(&m, b, len, al, flags, err, sizeof err);
    ck_assert_msg(rc == RNN_OK, "load_mem of %zu bytes: %s (%s)", len, rnn_status_string(rc), err);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(err, "");
    return m;
}

static void assert_app_data(const rnn_model *m, const void *want, size_t want_len)
{
    const void *d = "x";
    size_t dl = 12345;
    ck_assert_int_eq(rnn_model_get_app_data(m, &d, &dl), RNN_OK);
    ck_assert_uint_eq(dl, want_len);
    if (want_len == 0) ck_assert_ptr_null(d);
    else ck_assert_msg(d != NULL && memcmp(d, want, want_len) == 0, "app data differs from what was saved");
}

/* A model with a hidden state for batch 2 (after a chunk, so not zeros) and a vocabulary. */
static rnn_model *model_with_state(int cell, int tied, uint64_t seed)
{
    rnn_model *m = make_model(cell, tied, 2, 9, tied ? 5 : 4, 5, 1, seed);
    int32_t t[6] = {1, 2, 3, 4, 5, 6};
    ck_assert_int_eq(rnn_model_reset_hidden(m, 2), RNN_OK);
    ck_assert_int_eq(rnn_evaluate(m, t, NULL, 2, 3, 0, NULL, NULL), RNN_OK);
    return m;
}

static const char APP[] = "epoch=7\0\xff\x01tail"; /* binary, with a NUL */
#define APP_LEN (sizeof APP - 1)

/* buf NULL: the size, RNN_OK; a buffer too small: RNN_ERR_SIZE with the size, nothing written; the
 * sizes follow docs/FORMAT.md (STAT: 16 + 40 + 4·L·B·H·(1 + has_c); APPL: 16 + app_len). */
START_TEST(test_save_mem_size_query)
{
    char *dir = make_tmpdir();
    rnn_model *m = model_with_state(RNN_CELL_LSTM, 0, 4);
    rnn_config c = get_cfg(m);
    size_t base = 0;
    for (int k = 0; k < 4; k++) {
        unsigned flags = k & 1 ? RNN_SAVE_STATE : 0;
        const void *app = k & 2 ? APP : NULL;
        size_t app_len = k & 2 ? APP_LEN : 0;
        size_t need = 12345, need2 = 54321;
        ck_assert_int_eq(rnn_model_save_mem(m, NULL, 0, &need, flags, app, app_len), RNN_OK);
        ck_assert_int_eq(rnn_model_save_mem(m, NULL, (size_t)1 << 20, &need2, flags, app, app_len), RNN_OK);
        ck_assert_uint_eq(need, need2); /* buf NULL is a query, whatever cap says */
        size_t flen;
        unsigned char *fb = file_bytes(m, dir, flags, app, app_len, &flen);
        ck_assert_uint_eq(need, flen);
        if (k == 0) base = need;
        size_t want = base + (flags ? 16 + 40 + 4u * (size_t)c.num_layers * 2 * (size_t)c.hidden_size * 2 : 0) +
                      (app_len ? 16 + app_len : 0);
        ck_assert_msg(need == want, "flags %u, app %zu bytes: %zu bytes, FORMAT.md gives %zu", flags, app_len, need,
                      want);

        enum { SLACK = 64 };
        unsigned char *buf = malloc(need + SLACK);
        ck_assert_ptr_nonnull(buf);
        const size_t caps[] = {0, 1, 15, 16, need / 2, need - 4, need - 1};
        for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
            memset(buf, 0xEE, need + SLACK);
            size_t len = 777;
            int rc = rnn_model_save_mem(m, buf, caps[i], &len, flags, app, app_len);
            ck_assert_msg(rc == RNN_ERR_SIZE, "cap %zu of %zu: %s", caps[i], need, rnn_status_string(rc));
            ck_assert_uint_eq(len, need);
            ck_assert_int_eq(rnn_model_errcode(m), RNN_ERR_SIZE);
            ck_assert_msg(rnn_model_errmsg(m)[0] != 0, "RNN_ERR_SIZE without a message");
            for (size_t j = 0; j < need + SLACK; j++)
                ck_assert_msg(buf[j] == 0xEE, "cap %zu: byte %zu written by a call that returned RNN_ERR_SIZE", caps[i], j);
        }
        for (int extra = 0; extra <= SLACK; extra += SLACK) { /* cap == need, and more than needed */
            memset(buf, 0xEE, need + SLACK);
            size_t len = 777;
            ck_assert_int_eq(rnn_model_save_mem(m, buf, need + (size_t)extra, &len, flags, app, app_len), RNN_OK);
            ck_assert_uint_eq(len, need);
            ck_assert_msg(memcmp(buf, fb, need) == 0, "flags %u app %zu: the memory image differs from the file", flags,
                          app_len);
            for (size_t j = need; j < need + SLACK; j++) ck_assert_msg(buf[j] == 0xEE, "byte %zu past the image written", j);
        }
        free(buf);
        free(fb);
    }

    /* argument errors leave the handle as it was and say why */
    size_t len = 5;
    unsigned char small[8];
    ck_assert_int_eq(rnn_model_save_mem(NULL, NULL, 0, &len, 0, NULL, 0), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_save_mem(m, NULL, 0, NULL, 0, NULL, 0), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_save_mem(m, small, sizeof small, NULL, 0, NULL, 0), RNN_ERR_INVALID);
    const unsigned bad_flags[] = {2u, 4u, 0x80000000u, RNN_SAVE_STATE | 2u};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(rnn_model_save_mem(m, NULL, 0, &len, bad_flags[i], NULL, 0), RNN_ERR_INVALID);
        ck_assert_int_eq(rnn_model_errcode(m), RNN_ERR_INVALID);
        ck_assert_msg(rnn_model_errmsg(m)[0] != 0, "no message");
        char *path = join(dir, "flags.rnn");
        ck_assert_int_eq(rnn_model_save(m, path, bad_flags[i], NULL, 0), RNN_ERR_INVALID);
        ck_assert_int_ne(access(path, F_OK), 0);
        free(path);
    }
    ck_assert_int_eq(rnn_model_save_mem(m, NULL, 0, &len, 0, NULL, 3), RNN_ERR_INVALID); /* app_len without data */
    int64_t lim = 0;
    ck_assert_int_eq(rnn_limit_get(RNN_LIMIT_APP_DATA, &lim), RNN_OK);
    ck_assert_int_ge(lim, 1);
    unsigned char *big = calloc((size_t)lim + 1, 1);
    ck_assert_ptr_nonnull(big);
    size_t at_lim = 0;
    ck_assert_int_eq(rnn_model_save_mem(m, NULL, 0, &at_lim, 0, big, (size_t)lim), RNN_OK);
    ck_assert_uint_eq(at_lim, base + 16 + (size_t)lim);
    ck_assert_int_eq(rnn_model_save_mem(m, NULL, 0, &len, 0, big, (size_t)lim + 1), RNN_ERR_INVALID);
    char *path = join(dir, "big.rnn");
    ck_assert_int_eq(rnn_model_save(m, path, 0, big, (size_t)lim + 1), RNN_ERR_INVALID);
    ck_assert_int_ne(access(path, F_OK), 0);
    free(path);
    free(big);
    /* the model is unchanged by the failures: it still saves the same bytes */
    size_t l1, l2;
    unsigned char *b1 = mem_image(m, RNN_SAVE_STATE, APP, APP_LEN, &l1), *b2 = file_bytes(m, dir, RNN_SAVE_STATE, APP, APP_LEN, &l2);
    ck_assert_uint_eq(l1, l2);
    ck_assert_int_eq(memcmp(b1, b2, l1), 0);
    free(b1), free(b2);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

/* The memory image is byte for byte the file, for every cell, tied and untied, with and without
 * vocabulary, state and application data. */
START_TEST(test_save_mem_same_bytes_as_file)
{
    static const int cells[] = {RNN_CELL_TANH, RNN_CELL_RELU, RNN_CELL_LSTM, RNN_CELL_GRU};
    char *dir = make_tmpdir();
    for (int ci = 0; ci < 4; ci++)
        for (int tied = 0; tied <= 1; tied++)
            for (int vocab = 0; vocab <= 1; vocab++) {
                rnn_model *m = make_model(cells[ci], tied, 1 + ci % 3, 12, tied ? 6 : 4, 6, vocab, (uint64_t)ci * 5 + 1);
                for (int k = 0; k < 8; k++) {
                    if (k == 4) { /* the second half with a hidden state */
                        int32_t t[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
                        ck_assert_int_eq(rnn_model_reset_hidden(m, 3), RNN_OK);
                        ck_assert_int_eq(rnn_evaluate(m, t, NULL, 3, 3, 0, NULL, NULL), RNN_OK);
                    }
                    unsigned flags = k & 1 ? RNN_SAVE_STATE : 0;
                    size_t app_len = k & 2 ? APP_LEN : 0;
                    size_t lm, lf;
                    unsigned char *bm = mem_image(m, flags, app_len ? APP : NULL, app_len, &lm);
                    unsigned char *bf = file_bytes(m, dir, flags, app_len ? APP : NULL, app_len, &lf);
                    ck_assert_msg(lm == lf && memcmp(bm, bf, lf) == 0,
                                  "cell %d tied %d vocab %d flags %u app %zu state %d: memory image (%zu bytes) != file (%zu)",
                                  cells[ci], tied, vocab, flags, app_len, k >= 4, lm, lf);
                    mfile f;
                    parse_file(bm, lm, &f); /* framing and checksums as the specification says */
                    ck_assert_int_eq(find_sect(&f, "STAT") >= 0, flags != 0);
                    ck_assert_int_eq(find_sect(&f, "APPL") >= 0, app_len != 0);
                    ck_assert_int_eq(find_sect(&f, "VOCB") >= 0, vocab);
                    free_file(&f);
                    free(bm), free(bf);
                }
                rnn_model_free(m);
            }
    remove_tmpdir(dir);
}
END_TEST

/* rnn_model_load_mem of an image: the same configuration, parameters, vocabulary and application
 * data; zero gradients; the bytes are not kept (the source is overwritten and freed at once); every
 * allocation through the caller's hooks and freed with the model. */
START_TEST(test_load_mem_roundtrip)
{
    static const int cells[] = {RNN_CELL_TANH, RNN_CELL_RELU, RNN_CELL_LSTM, RNN_CELL_GRU};
    char *dir = make_tmpdir();
    int k = 0;
    for (int ci = 0; ci < 4; ci++)
        for (int tied = 0; tied <= 1; tied++, k++) {
            int V = 17 + k;
            rnn_model *a = make_model(cells[ci], tied, 1 + k % 3, V, tied ? 8 : 5, 8, 1, (uint64_t)k + 40);
            float *lpa = malloc(sizeof(float) * 12 * (size_t)V), *lpb = malloc(sizeof(float) * 12 * (size_t)V);
            ck_assert(lpa && lpb);
            size_t len;
            unsigned char *img = mem_image(a, 0, APP, APP_LEN, &len);
            counter c;
            rnn_allocator al = counting(&c, (size_t)1 << 30);
            rnn_model *b = load_mem_ok(img, len, &al, 0);
            memset(img, 0, len);
            free(img);
            assert_same_model(a, b, 1);
            assert_app_data(b, APP, APP_LEN);
            assert_app_data(a, NULL, 0); /* the saved model itself has none */
            rnn_config ca = get_cfg(a), cb = get_cfg(b);
            ck_assert_int_eq(ca.tied, cb.tied);
            float *pb, *gb;
            size_t n;
            ck_assert_int_eq(rnn_param_get_block(b, &pb, &gb, &n), RNN_OK);
            for (size_t i = 0; i < n; i++) ck_assert_msg(gb[i] == 0.0f, "gradient %zu not zero after load_mem", i);
            int nb = -1;
            ck_assert_int_eq(rnn_model_get_batch(b, &nb), RNN_OK);
            ck_assert_int_eq(nb, 0); /* saved without RNN_SAVE_STATE */
            const char *w;
            ck_assert_int_eq(rnn_vocab_get_word(b, 1, &w), RNN_OK);
            ck_assert_str_eq(w, UTF8_WORD);
            int32_t id = -1;
            ck_assert_int_eq(rnn_vocab_find(b, UTF8_WORD, &id), RNN_OK);
            ck_assert_int_eq(id, 1);
            double la = eval_loss(a, lpa), lb = eval_loss(b, lpb);
            ck_assert_msg(memcmp(&la, &lb, sizeof la) == 0, "loss %.17g != %.17g", la, lb);
            ck_assert_msg(memcmp(lpa, lpb, sizeof(float) * 12 * (size_t)V) == 0, "log-probabilities differ");
            /* saving the loaded model (with its application data) gives the same bytes again */
            const void *app;
            size_t app_len;
            ck_assert_int_eq(rnn_model_get_app_data(b, &app, &app_len), RNN_OK);
            size_t l1, l2;
            unsigned char *b1 = mem_image(a, 0, APP, APP_LEN, &l1), *b2 = mem_image(b, 0, app, app_len, &l2);
            ck_assert_uint_eq(l1, l2);
            ck_assert_msg(memcmp(b1, b2, l1) == 0, "re-saved image differs");
            free(b1), free(b2);
            ck_assert_int_gt(c.total, 0);
            rnn_model_free(b);
            ck_assert_msg(c.live == 0, "%ld allocations of the loaded model not freed", c.live);
            /* and with the default allocator */
            img = mem_image(a, 0, NULL, 0, &len);
            b = load_mem_ok(img, len, NULL, 0);
            free(img);
            assert_same_model(a, b, 1);
            assert_app_data(b, NULL, 0);
            rnn_model_free(b);
            rnn_model_free(a);
            free(lpa), free(lpb);
        }
    remove_tmpdir(dir);
}
END_TEST

/* RNN_SAVE_STATE through memory: hidden state and generator come back bit for bit (training with
 * dropout and rnn_sample continue as in the model that never stopped); RNN_LOAD_NO_STATE skips both
 * (no hidden state, the generator seeded from the configuration: like a file saved without state),
 * from memory and from a file. */
START_TEST(test_load_mem_state_resume)
{
    int cell = _i;
    char *dir = make_tmpdir();
    rnn_model *a = make_model(cell, 0, 2, 20, 6, 8, 1, 5 + (uint64_t)cell);
    ck_assert_float_gt(get_cfg(a).dropout, 0.0f);
    int32_t t[10], g[10];
    for (int i = 0; i < 10; i++) t[i] = (int32_t)(i * 3 % 20), g[i] = (int32_t)(i * 7 % 20);
    ck_assert_int_eq(rnn_model_reset_hidden(a, 2), RNN_OK);
    for (int k = 0; k < 3; k++) train_step(a, t, g);
    size_t len, plen;
    unsigned char *img = mem_image(a, RNN_SAVE_STATE, APP, APP_LEN, &len);
    unsigned char *plain = mem_image(a, 0, NULL, 0, &plen);
    char *path = join(dir, "s.rnn");
    ck_assert_int_eq(rnn_model_save(a, path, RNN_SAVE_STATE, APP, APP_LEN), RNN_OK);

    rnn_model *b = load_mem_ok(img, len, NULL, 0);
    assert_same_hidden(a, b);
    int batch = -1;
    ck_assert_int_eq(rnn_model_get_batch(b, &batch), RNN_OK);
    ck_assert_int_eq(batch, 2);
    assert_app_data(b, APP, APP_LEN);
    rnn_model *n1 = load_mem_ok(img, len, NULL, RNN_LOAD_NO_STATE); /* skips the state */
    rnn_model *n2 = NULL;
    char err[256];
    ck_assert_int_eq(rnn_model_load(&n2, path, NULL, RNN_LOAD_NO_STATE, err, sizeof err), RNN_OK);
    rnn_model *p = load_mem_ok(plain, plen, NULL, 0); /* never had one */
    rnn_model *ns[3] = {n1, n2, p};
    for (int i = 0; i < 3; i++) {
        batch = -1;
        ck_assert_int_eq(rnn_model_get_batch(ns[i], &batch), RNN_OK);
        ck_assert_msg(batch == 0, "model %d: batch %d, want no hidden state", i, batch);
        float h[2 * 2 * 8];
        ck_assert_int_eq(rnn_model_get_hidden(ns[i], 2, h, NULL), RNN_ERR_STATE);
        assert_same_model(a, ns[i], 1);
    }
    assert_app_data(n1, APP, APP_LEN); /* application data is not state: still restored */
    assert_app_data(n2, APP, APP_LEN);

    /* the resumed model continues exactly: training with dropout, then sampling */
    for (int k = 0; k < 3; k++) {
        double la = train_step(a, t, g), lb = train_step(b, t, g);
        ck_assert_msg(memcmp(&la, &lb, sizeof la) == 0, "cell %d step %d: loss %.17g vs resumed %.17g", cell, k, la, lb);
    }
    float *pa, *pb, *ga, *gb;
    size_t n;
    rnn_param_get_block(a, &pa, &ga, &n);
    rnn_param_get_block(b, &pb, &gb, &n);
    ck_assert_int_eq(memcmp(pa, pb, n * sizeof(float)), 0);
    assert_same_hidden(a, b);
    rnn_sampling smp;
    ck_assert_int_eq(rnn_sampling_init(&smp, sizeof smp), RNN_OK);
    int32_t xa[2] = {3, 4}, xb[2] = {3, 4};
    for (int k = 0; k < 12; k++) {
        int32_t na[2], nb[2];
        ck_assert_int_eq(rnn_sample(a, xa, 2, &smp, na), RNN_OK);
        ck_assert_int_eq(rnn_sample(b, xb, 2, &smp, nb), RNN_OK);
        ck_assert_msg(na[0] == nb[0] && na[1] == nb[1], "sample %d: %d %d vs resumed %d %d", k, na[0], na[1], nb[0],
                      nb[1]);
        memcpy(xa, na, sizeof xa), memcpy(xb, nb, sizeof xb);
    }

    /* without the state, every one of them behaves like the model loaded from a file saved without
       it: zero state after reset_hidden, the generator as the configuration's seed leaves it */
    double ref[3];
    ck_assert_int_eq(rnn_model_reset_hidden(p, 2), RNN_OK);
    for (int k = 0; k < 3; k++) ref[k] = train_step(p, t, g);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(rnn_model_reset_hidden(ns[i], 2), RNN_OK);
        for (int k = 0; k < 3; k++) {
            double l = train_step(ns[i], t, g);
            ck_assert_msg(memcmp(&l, &ref[k], sizeof l) == 0, "RNN_LOAD_NO_STATE (%s) step %d: loss %.17g, plain file %.17g",
                          i ? "file" : "memory", k, l, ref[k]);
        }
    }
    rnn_model_free(a), rnn_model_free(b), rnn_model_free(n1), rnn_model_free(n2), rnn_model_free(p);
    free(img), free(plain);
    unlink(path);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

/* Load flags other than RNN_LOAD_NO_STATE, and the other argument errors of rnn_model_load_mem. */
START_TEST(test_load_mem_arguments)
{
    char *dir = make_tmpdir();
    char *path = join(dir, "m.rnn");
    rnn_model *a = small_model(RNN_CELL_LSTM, 0, 1);
    save_ok(a, path);
    size_t len;
    unsigned char *img = mem_image(a, 0, NULL, 0, &len);
    char err[256];
    rnn_model *m;

    const unsigned bad_flags[] = {2u, 4u, 0x80000000u, RNN_LOAD_NO_STATE | 2u, ~0u};
    for (int i = 0; i < 5; i++) {
        counter c;
        rnn_allocator al = counting(&c, (size_t)1 << 30);
        m = (rnn_model *)err, err[0] = 0;
        ck_assert_int_eq(rnn_model_load(&m, path, &al, bad_flags[i], err, sizeof err), RNN_ERR_INVALID);
        ck_assert_ptr_null(m);
        ck_assert_msg(err[0] != 0, "load with flags %#x: no message", bad_flags[i]);
        m = (rnn_model *)err, err[0] = 0;
        ck_assert_int_eq(rnn_model_load_mem(&m, img, len, &al, bad_flags[i], err, sizeof err), RNN_ERR_INVALID);
        ck_assert_ptr_null(m);
        ck_assert_msg(err[0] != 0, "load_mem with flags %#x: no message", bad_flags[i]);
        ck_assert_int_eq(c.live, 0);
    }

    err[0] = 'x';
    ck_assert_int_eq(rnn_model_load_mem(NULL, img, len, NULL, 0, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_msg(err[0] != 0 && err[0] != 'x', "no message for a NULL out");
    ck_assert_int_eq(rnn_model_load_mem(NULL, img, len, NULL, 0, NULL, 0), RNN_ERR_INVALID);
    m = (rnn_model *)err;
    ck_assert_int_eq(rnn_model_load_mem(&m, NULL, len, NULL, 0, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    /* no bytes at all, and fewer than a header: not a model */
    m = (rnn_model *)err;
    ck_assert_int_eq(rnn_model_load_mem(&m, img, 0, NULL, 0, err, sizeof err), RNN_ERR_FORMAT);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(rnn_model_load_mem(&m, img, 15, NULL, 0, err, sizeof err), RNN_ERR_FORMAT);
    ck_assert_ptr_null(m);

    /* an allocator with only one hook */
    counter c;
    rnn_allocator half = counting(&c, 1u << 30);
    half.free = NULL;
    m = (rnn_model *)err;
    ck_assert_int_eq(rnn_model_load_mem(&m, img, len, &half, 0, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(c.total, 0);
    /* an allocator that fails at each successive allocation of a valid load: NOMEM, nothing leaked */
    counter all;
    rnn_allocator al = counting(&all, (size_t)1 << 30);
    rnn_model *ok = load_mem_ok(img, len, &al, 0);
    rnn_model_free(ok);
    for (size_t cap = 0; cap < all.max_req; cap = cap * 2 + 1) {
        rnn_allocator cl = counting(&c, cap);
        m = (rnn_model *)err;
        int rc = rnn_model_load_mem(&m, img, len, &cl, 0, err, sizeof err);
        ck_assert_msg(rc == RNN_ERR_NOMEM, "cap %zu: %s (%s)", cap, rnn_status_string(rc), err);
        ck_assert_ptr_null(m);
        ck_assert_msg(c.live == 0, "cap %zu: %ld leaked", cap, c.live);
    }
    /* a short errbuf is truncated and terminated; errlen 0 writes nothing */
    char small[9];
    memset(small, '#', sizeof small);
    m = (rnn_model *)err;
    ck_assert_int_eq(rnn_model_load_mem(&m, NULL, len, NULL, 0, small, 8), RNN_ERR_INVALID);
    ck_assert_int_eq(small[7], 0);
    ck_assert_int_eq(small[8], '#');
    memset(small, '#', sizeof small);
    ck_assert_int_eq(rnn_model_load_mem(&m, NULL, len, NULL, 0, small, 0), RNN_ERR_INVALID);
    ck_assert_int_eq(small[0], '#');

    free(img);
    rnn_model_free(a);
    unlink(path);
    free(path);
    remove_tmpdir(dir);
}
END_TEST

/* A memory image with state and application data, truncated at every length or with any byte of
 * its STAT, APPL or END sections flipped, fails like the file does (load_bytes loads both); bytes
 * after END are not read by either. */
START_TEST(test_load_mem_truncated_or_corrupt)
{
    char *dir = make_tmpdir();
    rnn_model *m = model_with_state(RNN_CELL_LSTM, 0, 9);
    size_t len;
    unsigned char *img = mem_image(m, RNN_SAVE_STATE, APP, APP_LEN, &len);
    for (size_t n = 0; n < len; n++) {
        load_result r = load_bytes(dir, img, n);
        unload(&r);
        ck_assert_msg(r.rc_mem == RNN_ERR_FORMAT, "image truncated to %zu of %zu: load_mem gives %s (%s)", n, len,
                      rnn_status_string(r.rc_mem), r.err_mem);
        ck_assert_msg(r.rc == RNN_ERR_FORMAT || r.rc == RNN_ERR_IO, "file truncated to %zu: %s", n, rnn_status_string(r.rc));
    }
    mfile f;
    parse_file(img, len, &f);
    int st = find_sect(&f, "STAT");
    ck_assert_int_ge(st, 0);
    size_t from = 16;
    for (int i = 0; i < st; i++) from += 16 + f.s[i].len;
    for (size_t i = from; i < len; i++) { /* STAT, APPL, END: tag, length, payload, CRC */
        img[i] ^= 0x20;
        load_result r = load_bytes(dir, img, len);
        img[i] ^= 0x20;
        if (r.rc == RNN_OK) { /* only a renamed tag may pass: an unknown section is skipped */
            size_t pos = 16;
            int at_tag = 0;
            for (int s = 0; s < f.n; s++) {
                if (i >= pos && i < pos + 4) at_tag = 1;
                pos += 16 + f.s[s].len;
            }
            ck_assert_msg(at_tag, "byte %zu of %zu flipped, yet the image loads", i, len);
        }
        unload(&r);
        ck_assert_msg(r.rc == RNN_OK || r.rc_mem == RNN_ERR_FORMAT, "byte %zu: %s", i, rnn_status_string(r.rc_mem));
    }
    free_file(&f);
    /* trailing bytes after END are ignored by both */
    unsigned char *longer = malloc(len + 7);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, img, len);
    memcpy(longer + len, "garbage", 7);
    load_result r = load_bytes(dir, longer, len + 7);
    ck_assert_msg(r.rc == RNN_OK && r.rc_mem == RNN_OK, "bytes after END: %s (%s) / %s (%s)", rnn_status_string(r.rc),
                  r.err, rnn_status_string(r.rc_mem), r.err_mem);
    assert_same_model(m, r.m, 1);
    assert_same_hidden(m, r.m);
    assert_app_data(r.m, APP, APP_LEN);
    unload(&r);
    free(longer);
    free(img);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

/* Application data belongs to the file: what is passed at save is what rnn_model_get_app_data
 * returns after loading (from a file or from memory), verbatim in the APPL section; a created
 * model has none, nor does a file saved without any (also when the saved model was loaded with
 * some: it is not carried over implicitly). */
START_TEST(test_app_data_roundtrip)
{
    char *dir = make_tmpdir(), *path = join(dir, "a.rnn"), *path2 = join(dir, "b.rnn");
    rnn_model *a = small_model(RNN_CELL_GRU, 1, 1);
    assert_app_data(a, NULL, 0);
    const void *d;
    size_t dl;
    ck_assert_int_eq(rnn_model_get_app_data(NULL, &d, &dl), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_get_app_data(a, NULL, &dl), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_get_app_data(a, &d, NULL), RNN_ERR_INVALID);

    ck_assert_int_eq(rnn_model_save(a, path, 0, APP, APP_LEN), RNN_OK);
    assert_app_data(a, NULL, 0); /* saving does not attach it to the handle */
    rnn_model *b = load_ok(path, NULL);
    assert_app_data(b, APP, APP_LEN);
    size_t len;
    unsigned char *raw = read_all(path, &len);
    mfile f;
    parse_file(raw, len, &f);
    int ap = find_sect(&f, "APPL"), pa = find_sect(&f, "PARM");
    ck_assert_int_gt(ap, pa); /* after PARM */
    ck_assert_int_eq(ap, f.n - 2); /* before END */
    ck_assert_uint_eq(f.s[ap].len, APP_LEN);
    ck_assert_int_eq(memcmp(f.s[ap].data, APP, APP_LEN), 0);
    free_file(&f);
    rnn_model *c = load_mem_ok(raw, len, NULL, 0);
    free(raw);
    assert_app_data(c, APP, APP_LEN);

    /* saved again without app data: none in the file, none after loading */
    ck_assert_int_eq(rnn_model_save(b, path2, 0, NULL, 0), RNN_OK);
    raw = read_all(path2, &len);
    parse_file(raw, len, &f);
    ck_assert_int_eq(find_sect(&f, "APPL"), -1);
    free_file(&f);
    free(raw);
    rnn_model *e = load_ok(path2, NULL);
    assert_app_data(e, NULL, 0);
    assert_app_data(b, APP, APP_LEN); /* the loaded model keeps its file's data */

    /* other data replaces it in the next file; one byte is enough */
    ck_assert_int_eq(rnn_model_save(b, path2, RNN_SAVE_STATE, "Z", 1), RNN_OK);
    rnn_model *g = load_ok(path2, NULL);
    assert_app_data(g, "Z", 1);

    rnn_model_free(a), rnn_model_free(b), rnn_model_free(c), rnn_model_free(e), rnn_model_free(g);
    unlink(path), unlink(path2);
    free(path), free(path2);
    remove_tmpdir(dir);
}
END_TEST

/* ---- tests: the vocabulary's words must be unique and free of whitespace --------------------------- */

/* Replaces the VOCB payload of f with these words (the section's CRC is recomputed by build_file). */
static void set_vocb(mfile *f, char **words, int n)
{
    int v = find_sect(f, "VOCB");
    ck_assert_int_ge(v, 0);
    size_t len = 4;
    for (int i = 0; i < n; i++) len += 4 + strlen(words[i]);
    unsigned char *p = malloc(len);
    ck_assert_ptr_nonnull(p);
    tu_put32(p, (uint32_t)n);
    size_t at = 4;
    for (int i = 0; i < n; i++) {
        size_t wl = strlen(words[i]);
        tu_put32(p + at, (uint32_t)wl);
        memcpy(p + at + 4, words[i], wl);
        at += 4 + wl;
    }
    free(f->s[v].data);
    f->s[v].data = p;
    f->s[v].len = len;
}

/* A file whose vocabulary holds a word twice is refused (RNN_ERR_FORMAT, from a file and from
 * memory), as is a word with whitespace in it (str.split() would never give it); near misses load. */
START_TEST(test_vocab_duplicates_refused)
{
    enum { V = 30 };
    char *dir = make_tmpdir();
    rnn_model *m = make_model(RNN_CELL_LSTM, 0, 1, V, 4, 8, 1, 8);
    mfile f;
    file_of(m, dir, &f, NULL, NULL);
    char *words[V];
    for (int i = 0; i < V; i++) {
        const char *w;
        ck_assert_int_eq(rnn_vocab_get_word(m, i, &w), RNN_OK);
        words[i] = strdup(w);
        ck_assert_ptr_nonnull(words[i]);
    }

    /* the test's own writer reproduces the library's section exactly: the control loads */
    set_vocb(&f, words, V);
    size_t len;
    unsigned char *b = build_file(&f, &len);
    load_result r = load_bytes(dir, b, len);
    free(b);
    ck_assert_msg(r.rc == RNN_OK, "the rebuilt file: %s (%s)", rnn_status_string(r.rc), r.err);
    assert_same_model(m, r.m, 1);
    for (int i = 0; i < V; i++) {
        int32_t id = -1;
        ck_assert_int_eq(rnn_vocab_find(r.m, words[i], &id), RNN_OK);
        ck_assert_int_eq(id, i);
    }
    unload(&r);

    struct {
        int at;
        const char *word; /* NULL: a copy of word `from` */
        int from;
        int ok;           /* 1: a near miss that must load */
        const char *what;
    } cases[] = {
        {4, NULL, 3, 0, "word 4 = word 3 (adjacent)"},
        {V - 1, NULL, 0, 0, "the last word = the first"},
        {0, NULL, V - 1, 0, "the first word = the last"},
        {7, NULL, 1, 0, "a second copy of the UTF-8 word"},
        {5, NULL, 2, 0, "a second copy of the 3000-byte word"},
        {6, "w 6", 0, 0, "a word with a space"},
        {6, "w\t6", 0, 0, "a word with a tab"},
        {6, "\nw6", 0, 0, "a word starting with a newline"},
        {6, "w6\x0b", 0, 0, "a word ending with a vertical tab"},
        {6, "w\x1f" "6", 0, 0, "a word with U+001F"},
        {6, "w\xc2\xa0" "6", 0, 0, "a word with U+00A0"},
        {6, "w\xc2\x85" "6", 0, 0, "a word with U+0085"},
        {6, "w\xe3\x80\x80" "6", 0, 0, "a word with U+3000"},
        {6, "w\xe2\x80\xa8" "6", 0, 0, "a word with U+2028"},
        {4, "W3", 0, 1, "word 4 = \"W3\" (case differs from word 3)"},
        {4, "w3x", 0, 1, "word 4 = \"w3x\" (word 3 is a prefix)"},
        {4, "w", 0, 1, "word 4 = \"w\" (a prefix of word 3)"},
        {10, "w1", 0, 1, "word 10 = \"w1\" (no word 1 of that spelling)"},
        {6, "w\xe2\x80\x8b" "6", 0, 1, "a word with U+200B (not whitespace for str.split)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *keep = words[cases[i].at];
        words[cases[i].at] = (char *)(cases[i].word ? cases[i].word : words[cases[i].from]);
        set_vocb(&f, words, V);
        if (!cases[i].ok) {
            expect_format(dir, &f, NULL, cases[i].what);
        } else {
            b = build_file(&f, &len);
            r = load_bytes(dir, b, len);
            free(b);
            ck_assert_msg(r.rc == RNN_OK, "%s: %s (%s)", cases[i].what, rnn_status_string(r.rc), r.err);
            const char *w;
            ck_assert_int_eq(rnn_vocab_get_word(r.m, cases[i].at, &w), RNN_OK);
            ck_assert_str_eq(w, cases[i].word);
            int32_t id = -1;
            ck_assert_int_eq(rnn_vocab_find(r.m, cases[i].word, &id), RNN_OK);
            ck_assert_int_eq(id, cases[i].at);
            unload(&r);
        }
        words[cases[i].at] = keep;
    }
    /* a duplicate in a file with state and application data, from memory too */
    free_file(&f);
    rnn_model_free(m);
    m = model_with_state(RNN_CELL_GRU, 1, 3);
    size_t ilen;
    unsigned char *img = mem_image(m, RNN_SAVE_STATE, APP, APP_LEN, &ilen);
    parse_file(img, ilen, &f);
    free(img);
    int vs;
    ck_assert_int_eq(rnn_vocab_get_size(m, &vs), RNN_OK);
    ck_assert_int_eq(vs, 9);
    char *w9[9];
    for (int i = 0; i < 9; i++) {
        const char *w;
        rnn_vocab_get_word(m, i, &w);
        w9[i] = (char *)w;
    }
    w9[8] = w9[0];
    set_vocb(&f, w9, 9);
    expect_format(dir, &f, NULL, "a duplicate word in a file with state and application data");
    free_file(&f);
    for (int i = 0; i < V; i++) free(words[i]);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

/* ---- tests: the adaptive output layer (OUTP, format version 2) ------------------------------------ */
/* Round trips of 1, 2 and 3 clusters, head bias on and off, every cell: a version-2 file with OUTP
 * after CONF holding exactly the configuration's output fields; the model comes back with the same
 * configuration, parameters, losses and log-probabilities bit for bit, from a file and from memory;
 * saving it again gives the same bytes. */
START_TEST(test_adaptive_roundtrip)
{
    char *dir = make_tmpdir();
    int k = 0;
    for (int nc = 1; nc <= 3; nc++)
        for (int hb = 0; hb <= 1; hb++, k++) {
            int cell = k % 4, V = 23 + k, H = 16;
            float div = nc == 3 ? 2.0f : k % 2 ? 0.0f : 3.5f; /* 0: the default, saved as 4 */
            rnn_model *a = make_adaptive(cell, 1 + k % 2, V, 5, H, nc, div, hb, k != 3, (uint64_t)k + 1);
            rnn_config ca = get_cfg(a);
            mfile f;
            unsigned char *raw;
            size_t len;
            file_of(a, dir, &f, &raw, &len);
            ck_assert_uint_eq(tu_get32(raw + 8), 2); /* version 2 */
            ck_assert_uint_eq(f.s[0].tag, tag_of("CONF"));
            ck_assert_uint_eq(f.s[1].tag, tag_of("OUTP"));
            ck_assert_int_eq(find_sect(&f, "VOCB"), k != 3 ? 2 : -1);
            ck_assert_uint_eq(f.s[0].len, 36);
            ck_assert_uint_eq(tu_get32(f.s[0].data + 20), 0); /* untied */
            /* OUTP: u32 kind | u32 n | u32 cutoffs[n] | f32 div_value | u32 head_bias */
            const unsigned char *p = f.s[1].data;
            ck_assert_uint_eq(f.s[1].len, 16 + 4 * (size_t)nc);
            ck_assert_uint_eq(tu_get32(p), RNN_OUTPUT_ADAPTIVE);
            ck_assert_uint_eq(tu_get32(p + 4), (uint32_t)nc);
            for (int i = 0; i < nc; i++) ck_assert_uint_eq(tu_get32(p + 8 + 4 * i), (uint32_t)ca.cutoffs[i]);
            float dv;
            uint32_t du = tu_get32(p + 8 + 4 * nc);
            memcpy(&dv, &du, 4);
            ck_assert_float_eq(dv, div == 0.0f ? 4.0f : div);
            ck_assert_uint_eq(tu_get32(p + 12 + 4 * nc), (uint32_t)hb);
            /* PARM holds the adaptive tensors, with their names */
            int pm = find_sect(&f, "PARM");
            int nt;
            rnn_param_get_count(a, &nt);
            ck_assert_int_eq(nt, 1 + 4 * ca.num_layers + 1 + hb + 2 * nc);
            ck_assert_uint_eq(tu_get32(f.s[pm].data), (uint32_t)nt);
            ck_assert_uint_eq(tu_get32(f.s[pm].data + 4), strlen("encoder.weight"));

            load_result r = load_bytes(dir, raw, len); /* from a file and from memory, the same */
            ck_assert_msg(r.rc == RNN_OK, "nc %d head_bias %d: %s (%s)", nc, hb, rnn_status_string(r.rc), r.err);
            assert_same_model(a, r.m, 1);
            rnn_config cb = get_cfg(r.m);
            ck_assert_int_eq(cb.output, RNN_OUTPUT_ADAPTIVE);
            ck_assert_int_eq(cb.num_cutoffs, nc);
            ck_assert_int_eq(cb.head_bias, hb);
            float *lpa = malloc(sizeof(float) * 12 * (size_t)V), *lpb = malloc(sizeof(float) * 12 * (size_t)V);
            ck_assert(lpa && lpb);
            double la = eval_loss(a, lpa), lb = eval_loss(r.m, lpb);
            ck_assert_msg(memcmp(&la, &lb, sizeof la) == 0, "nc %d head_bias %d: loss %.17g != %.17g", nc, hb, la, lb);
            ck_assert_msg(memcmp(lpa, lpb, sizeof(float) * 12 * (size_t)V) == 0, "log-probabilities differ");
            size_t l2;
            unsigned char *again = mem_image(r.m, 0, NULL, 0, &l2);
            ck_assert_uint_eq(l2, len);
            ck_assert_msg(memcmp(raw, again, len) == 0, "re-saved adaptive file differs");
            free(again), free(lpa), free(lpb), free(raw);
            unload(&r);
            free_file(&f);
            rnn_model_free(a);
        }
    remove_tmpdir(dir);
}
END_TEST

/* RNN_SAVE_STATE of an adaptive model mid-training with AdamW: the loaded model continues bit for
 * bit (losses, parameters, AdamW's step count, sampling). */
START_TEST(test_adaptive_resume)
{
    int nc = 1 + _i;
    rnn_model *a = make_adaptive(_i == 1 ? RNN_CELL_LSTM : RNN_CELL_GRU, 2, 40, 6, 12, nc, 2.0f, _i != 1, 1, 9);
    int32_t t[10], g[10];
    for (int i = 0; i < 10; i++) t[i] = (int32_t)(i * 3 % 40), g[i] = (int32_t)(i * 7 % 40);
    g[4] = RNN_IGNORE;
    rnn_adamw opt;
    ck_assert_int_eq(rnn_adamw_init(&opt, sizeof opt), RNN_OK);
    ck_assert_int_eq(rnn_model_reset_hidden(a, 2), RNN_OK);
    double l;
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(rnn_forward(a, t, g, 2, 5, 0, &l), RNN_OK);
        ck_assert_int_eq(rnn_zero_grad(a), RNN_OK);
        ck_assert_int_eq(rnn_backward(a), RNN_OK);
        ck_assert_int_eq(rnn_adamw_step(a, &opt), RNN_OK);
    }
    size_t len;
    unsigned char *img = mem_image(a, RNN_SAVE_STATE, APP, APP_LEN, &len);
    ck_assert_uint_eq(tu_get32(img + 8), 2);
    rnn_model *b = load_mem_ok(img, len, NULL, 0);
    assert_same_model(a, b, 1);
    assert_same_hidden(a, b);
    assert_app_data(b, APP, APP_LEN);
    int64_t sa = -1, sb = -2;
    ck_assert_int_eq(rnn_adamw_get_step(a, &sa), RNN_OK);
    ck_assert_int_eq(rnn_adamw_get_step(b, &sb), RNN_OK);
    ck_assert_int_eq(sa, 3);
    ck_assert_int_eq(sb, 3);
    rnn_model *ms[2] = {a, b};
    double loss[2][3];
    for (int j = 0; j < 2; j++)
        for (int k = 0; k < 3; k++) {
            ck_assert_int_eq(rnn_forward(ms[j], t, g, 2, 5, 0, &loss[j][k]), RNN_OK);
            ck_assert_int_eq(rnn_zero_grad(ms[j]), RNN_OK);
            ck_assert_int_eq(rnn_backward(ms[j]), RNN_OK);
            ck_assert_int_eq(rnn_adamw_step(ms[j], &opt), RNN_OK);
        }
    ck_assert_msg(memcmp(loss[0], loss[1], sizeof loss[0]) == 0, "resumed losses differ: %.17g vs %.17g", loss[0][2],
                  loss[1][2]);
    float *pa, *pb, *ga, *gb;
    size_t n;
    rnn_param_get_block(a, &pa, &ga, &n);
    rnn_param_get_block(b, &pb, &gb, &n);
    ck_assert_int_eq(memcmp(pa, pb, n * sizeof(float)), 0);
    rnn_sampling smp;
    ck_assert_int_eq(rnn_sampling_init(&smp, sizeof smp), RNN_OK);
    int32_t xa[2] = {3, 4}, xb[2] = {3, 4};
    for (int k = 0; k < 12; k++) {
        int32_t na[2], nb[2];
        ck_assert_int_eq(rnn_sample(a, xa, 2, &smp, na), RNN_OK);
        ck_assert_int_eq(rnn_sample(b, xb, 2, &smp, nb), RNN_OK);
        ck_assert_msg(na[0] == nb[0] && na[1] == nb[1], "sample %d differs after resuming", k);
        memcpy(xa, na, sizeof xa), memcpy(xb, nb, sizeof xb);
    }
    rnn_model_free(a), rnn_model_free(b);
    free(img);
}
END_TEST

static void set_outp(mfile *f, int field, uint32_t v)
{
    int o = find_sect(f, "OUTP");
    ck_assert_int_ge(o, 0);
    ck_assert_uint_ge(f->s[o].len, 4 * (size_t)field + 4);
    tu_put32(f->s[o].data + 4 * field, v);
}

/* Every malformed OUTP, and OUTP where the version says there is none (and the reverse), is a format
 * error that allocates nothing near the model's size; fields are checked as rnn_model_create checks
 * its configuration. The valid file first, so that each case changes one thing. */
START_TEST(test_adaptive_bad_outp)
{
    char *dir = make_tmpdir();
    /* V 30, E = H = 16, cutoffs 2, 12 (two clusters), div_value 4, head bias */
    rnn_model *m = make_adaptive(RNN_CELL_LSTM, 1, 30, 16, 16, 2, 4.0f, 1, 1, 3);
    ck_assert_int_eq(get_cfg(m).cutoffs[1], 12);
    mfile f;
    unsigned char *raw;
    size_t rawlen;
    file_of(m, dir, &f, &raw, &rawlen);
    load_result ok = load_bytes(dir, raw, rawlen);
    ck_assert_msg(ok.rc == RNN_OK, "%s", ok.err);
    unload(&ok);
    int o = find_sect(&f, "OUTP");
    ck_assert_int_eq(o, 1);
    ck_assert_uint_eq(f.s[o].len, 24);
    unsigned char keep[24], conf[36];
    memcpy(keep, f.s[o].data, 24);
    memcpy(conf, f.s[0].data, 36);
#define RESET() (memcpy(f.s[o].data, keep, 24), f.s[o].len = 24, memcpy(f.s[0].data, conf, 36), tu_put32(f.hdr + 8, 2))
    struct {
        int field; /* 0 kind, 1 n, 2.. cutoffs, 4 div_value, 5 head_bias */
        uint32_t v;
        const char *needle, *what;
    } cases[] = {
        {0, 0, "kind", "kind RNN_OUTPUT_FULL"},
        {0, 2, "kind", "kind 2"},
        {0, 0xFFFFFFFFu, "kind", "kind -1"},
        {1, 0, "cutoffs", "no cutoffs"},
        {1, RNN_MAX_CUTOFFS + 1, "cutoffs", "too many cutoffs"},
        {1, 0xFFFFFFFFu, "cutoffs", "cutoff count -1"},
        {1, 1, "OUTP holds", "one cutoff in a payload of two"},
        {1, 3, "OUTP holds", "three cutoffs in a payload of two"},
        {2, 0, "cutoffs[0]", "cutoff 0"},
        {2, 12, "increasing", "equal cutoffs"},
        {2, 13, "increasing", "decreasing cutoffs"},
        {3, 30, "cutoffs[1]", "cutoff V"},
        {3, 0x80000000u, "cutoff", "cutoff 2^31"},
        {3, 0xFFFFFFFFu, "cutoff", "cutoff -1"},
        {4, 0x7FC00000u, "div_value", "div_value NaN"},
        {4, 0x7F800000u, "div_value", "div_value inf"},
        {4, 0xBF800000u, "div_value", "div_value -1"},
        {4, 0x41000000u, "0 units", "div_value 8: cluster 1 projects to 16/64 = 0 units"},
        {4, 0x41880000u, "0 units", "div_value 17: cluster 0 projects to 0 units"},
        {4, 0x40000000u, "PARM", "div_value 2: the tails' shapes differ from PARM's"},
        {5, 0, "PARM", "head_bias 0 with decoder.head.bias in PARM"},
        {5, 0x80000000u, "head_bias", "head_bias 2^31"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        RESET();
        set_outp(&f, cases[i].field, cases[i].v);
        expect_format(dir, &f, cases[i].needle, cases[i].what);
    }
    /* adaptive with tied (E == H here): refused as rnn_model_create refuses it */
    RESET();
    set_conf(&f, 5, 1);
    expect_format(dir, &f, "tied", "tied adaptive");
    /* truncated payloads and one longer than any OUTP (refused from the header) */
    static const size_t lens[] = {0, 4, 8, 12, 20, 23};
    for (int i = 0; i < 6; i++) {
        RESET();
        f.s[o].len = lens[i];
        expect_format(dir, &f, "OUTP", "truncated OUTP");
    }
    RESET();
    unsigned char big[64] = {0};
    memcpy(big, keep, 24);
    insert_sect(&f, o, "OUTP", big, 16 + 4 * RNN_MAX_CUTOFFS + 4);
    remove_sect(&f, o + 1);
    expect_format(dir, &f, "OUTP holds", "OUTP over its largest length");
    remove_sect(&f, o);
    insert_sect(&f, o, "OUTP", keep, 24);
    RESET();
    /* twice; after PARM; before CONF */
    insert_sect(&f, o + 1, "OUTP", keep, 24);
    expect_format(dir, &f, "two OUTP", "two OUTP sections");
    remove_sect(&f, o + 1);
    int pm = find_sect(&f, "PARM");
    insert_sect(&f, pm + 1, "OUTP", keep, 24);
    remove_sect(&f, o);
    expect_format(dir, &f, "before OUTP", "OUTP after PARM");
    remove_sect(&f, pm);
    insert_sect(&f, 0, "OUTP", keep, 24);
    o = 0;
    expect_format(dir, &f, "before CONF", "OUTP before CONF");
    remove_sect(&f, 0);
    insert_sect(&f, 1, "OUTP", keep, 24);
    o = 1;
    /* a VOCB between CONF and OUTP: the model is made from both, before its vocabulary */
    int v = find_sect(&f, "VOCB");
    section vs = f.s[v];
    memmove(&f.s[v], &f.s[o], sizeof(section));
    f.s[o] = vs;
    o = v;
    expect_format(dir, &f, "before OUTP", "VOCB before OUTP");
    vs = f.s[o];
    memmove(&f.s[o], &f.s[1], sizeof(section));
    f.s[1] = vs;
    o = 1;
    /* an unknown section between CONF and OUTP is skipped: the file loads */
    insert_sect(&f, 1, "XTRA", "abc", 3);
    o = 2;
    {
        size_t len;
        unsigned char *b = build_file(&f, &len);
        load_result r = load_bytes(dir, b, len);
        ck_assert_msg(r.rc == RNN_OK, "an unknown section before OUTP: %s", r.err);
        assert_same_model(m, r.m, 1);
        unload(&r);
        free(b);
    }
    remove_sect(&f, 1);
    o = 1;
    /* the version must say whether OUTP is there: 1 with OUTP, 2 without it */
    RESET();
    tu_put32(f.hdr + 8, 1);
    expect_format(dir, &f, "version 1", "version 1 with OUTP");
    tu_put32(f.hdr + 8, 2);
    remove_sect(&f, o);
    expect_format(dir, &f, "OUTP", "version 2 without OUTP");
    /* ... and a version-1 reading of the adaptive tensors is refused by PARM's names */
    tu_put32(f.hdr + 8, 1);
    expect_format(dir, &f, "PARM", "adaptive tensors in a version-1 file");
    tu_put32(f.hdr + 8, 2);
    insert_sect(&f, o, "OUTP", keep, 24);
    /* a CONF whose model with this output layer is far larger than the file: refused at OUTP,
     * before anything is allocated for it (V 2^24: an embedding of 2^28 floats) */
    RESET();
    set_conf(&f, 1, 1u << 24);
    expect_format(dir, &f, "larger than the file", "V 2^24 in a small version-2 file");
    RESET();
    {
        size_t len;
        unsigned char *b = build_file(&f, &len);
        ck_assert_uint_eq(len, rawlen);
        ck_assert_msg(memcmp(b, raw, len) == 0, "the test did not restore the file");
        free(b);
    }
#undef RESET
    free(raw);
    free_file(&f);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

/* Every truncation and every single-byte flip of an adaptive file fails cleanly (or, at the two
 * places the format does not protect, loads the same model: see test_flip_every_byte). */
START_TEST(test_adaptive_truncated_flipped)
{
    char *dir = make_tmpdir();
    rnn_model *m = make_adaptive(RNN_CELL_GRU, 1, 9, 2, 4, 2, 2.0f, 1, 1, 4);
    mfile f;
    unsigned char *raw;
    size_t len;
    file_of(m, dir, &f, &raw, &len);
    assert_every_truncation_fails(dir, raw, len);
    int v = find_sect(&f, "VOCB");
    size_t vocb_tag = 16;
    for (int i = 0; i < v; i++) vocb_tag += 16 + f.s[i].len;
    for (size_t i = 0; i < len; i++) {
        raw[i] ^= 0xFF;
        load_result r = load_bytes(dir, raw, len);
        raw[i] ^= 0xFF;
        ck_assert_msg(r.max_req <= len + 4096, "byte %zu: an allocation of %zu bytes", i, r.max_req);
        int reserved = i >= 12 && i < 16, vtag = i >= vocb_tag && i < vocb_tag + 4;
        if (r.rc == RNN_OK) ck_assert_msg(reserved || vtag, "byte %zu of %zu flipped, yet the file loads", i, len);
        else ck_assert_msg(r.rc == RNN_ERR_FORMAT, "byte %zu: %s (%s)", i, rnn_status_string(r.rc), r.err);
        unload(&r);
    }
    free(raw);
    free_file(&f);
    rnn_model_free(m);
    remove_tmpdir(dir);
}
END_TEST

static Suite *modelfile_suite(void)
{
    Suite *s = suite_create("modelfile");
    TCase *tc = tcase_create("format");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_crc32c_check_value);
    tcase_add_test(tc, test_roundtrip_all);
    tcase_add_test(tc, test_layout_matches_spec);
    tcase_add_test(tc, test_roundtrip_no_vocab);
    tcase_add_test(tc, test_truncated_every_length);
    tcase_add_test(tc, test_flip_every_byte);
    tcase_add_test(tc, test_bad_header);
    tcase_add_test(tc, test_huge_lengths);
    tcase_add_test(tc, test_bad_conf);
    tcase_add_test(tc, test_conf_larger_than_file);
    tcase_add_test(tc, test_bad_vocab);
    tcase_add_test(tc, test_bad_params);
    tcase_add_test(tc, test_unknown_sections_skipped);
    tcase_add_test(tc, test_save_missing_folder);
    tcase_add_test(tc, test_save_no_leftovers);
    tcase_add_test(tc, test_save_readonly_folder_keeps_old_file);
    tcase_add_test(tc, test_load_arguments);
    tcase_add_test(tc, test_save_file_mode);
    tcase_add_test(tc, test_load_fifo);
    tcase_add_loop_test(tc, test_exact_resume_state, 0, 4);
    tcase_add_test(tc, test_bad_state);
    tcase_add_test(tc, test_stale_temps_removed);
    tcase_add_test(tc, test_temp_locked_while_written);
    tcase_add_test(tc, test_save_follows_symlinks);
    tcase_add_test(tc, test_save_refuses_special_files);
    tcase_add_test(tc, test_output_in_place);
    tcase_add_test(tc, test_huge_sparse_sections);
    tcase_add_test(tc, test_save_mem_size_query);
    tcase_add_test(tc, test_save_mem_same_bytes_as_file);
    tcase_add_test(tc, test_load_mem_roundtrip);
    tcase_add_loop_test(tc, test_load_mem_state_resume, 0, 4);
    tcase_add_test(tc, test_load_mem_arguments);
    tcase_add_test(tc, test_load_mem_truncated_or_corrupt);
    tcase_add_test(tc, test_app_data_roundtrip);
    tcase_add_test(tc, test_vocab_duplicates_refused);
    tcase_add_test(tc, test_adaptive_roundtrip);
    tcase_add_loop_test(tc, test_adaptive_resume, 0, 3);
    tcase_add_test(tc, test_adaptive_bad_outp);
    tcase_add_test(tc, test_adaptive_truncated_flipped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(modelfile_suite()); }
