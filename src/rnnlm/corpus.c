/* corpus.c -- vocabulary, tokenizer and batching for rnnlm (see corpus.h). */
#include "corpus.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t errsz, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void set_err(char *err, size_t errsz, const char *fmt, ...)
{
    if (!err || errsz == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

/* ---- Vocabulary ------------------------------------------------------------------------------- */

/* Words live in blocks that never move, so vocab_word() pointers stay valid. */
typedef struct word_block {
    struct word_block *next;
    size_t used, cap;
    char data[];
} word_block;

typedef struct vocab_slot {
    uint32_t hash;
    int32_t id; /* -1: empty */
} vocab_slot;

struct corpus_vocab {
    vocab_slot *slots; /* open addressing, linear probing, power-of-two size, load <= 1/2 */
    size_t mask;
    const char **words; /* id -> word */
    uint32_t *lens;     /* id -> length (words are shorter than 4 GiB; longer ones are refused) */
    uint32_t *hashes;   /* id -> hash, for rehashing */
    int32_t count, cap;
    word_block *blocks;
};

#define WORD_BLOCK_SIZE ((size_t)1 << 16)

static uint64_t hash_bytes(const char *s, size_t len)
{
    /* FNV-1a, 64-bit, with a final avalanche so the low bits used for the index mix well. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

int vocab_create(corpus_vocab **out)
{
    if (!out) return RNN_ERR_INVALID;
    *out = NULL;
    corpus_vocab *v = calloc(1, sizeof *v);
    if (!v) return RNN_ERR_NOMEM;
    size_t nslots = 1024;
    v->slots = malloc(nslots * sizeof *v->slots);
    if (!v->slots) {
        free(v);
        return RNN_ERR_NOMEM;
    }
    for (size_t i = 0; i < nslots; i++) v->slots[i].id = -1;
    v->mask = nslots - 1;
    *out = v;
    return RNN_OK;
}

void vocab_free(corpus_vocab *v)
{
    if (!v) return;
    word_block *b = v->blocks;
    while (b) {
        word_block *next = b->next;
        free(b);
        b = next;
    }
    free(v->slots);
    free(v->words);
    free(v->lens);
    free(v->hashes);
    free(v);
}

int32_t vocab_size(const corpus_vocab *v) { return v ? v->count : 0; }

const char *vocab_word(const corpus_vocab *v, int32_t id)
{
    if (!v || id < 0 || id >= v->count) return NULL;
    return v->words[id];
}

/* The slot holding word (id >= 0) or the empty slot where it would go (id == -1). */
static vocab_slot *find_slot(const corpus_vocab *v, const char *word, size_t len, uint32_t h)
{
    size_t i = h & v->mask;
    for (;;) {
        vocab_slot *s = &v->slots[i];
        if (s->id < 0) return s;
        if (s->hash == h && v->lens[s->id] == len && memcmp(v->words[s->id], word, len) == 0)
            return s;
        i = (i + 1) & v->mask;
    }
}

int32_t vocab_lookup(const corpus_vocab *v, const char *word, size_t len)
{
    if (!v || !word || len == 0 || len > UINT32_MAX) return -1;
    return find_slot(v, word, len, (uint32_t)hash_bytes(word, len))->id;
}

static int vocab_grow_table(corpus_vocab *v)
{
    size_t nslots = (v->mask + 1) * 2;
    if (nslots > SIZE_MAX / sizeof(vocab_slot)) return RNN_ERR_NOMEM;
    vocab_slot *slots = malloc(nslots * sizeof *slots);
    if (!slots) return RNN_ERR_NOMEM;
    for (size_t i = 0; i < nslots; i++) slots[i].id = -1;
    size_t mask = nslots - 1;
    for (int32_t id = 0; id < v->count; id++) {
        size_t i = v->hashes[id] & mask;
        while (slots[i].id >= 0) i = (i + 1) & mask;
        slots[i].hash = v->hashes[id];
        slots[i].id = id;
    }
    free(v->slots);
    v->slots = slots;
    v->mask = mask;
    return RNN_OK;
}

static int vocab_grow_arrays(corpus_vocab *v)
{
    if (v->cap == INT32_MAX) return RNN_ERR_NOMEM;
    int32_t cap = v->cap < 1024 ? 1024 : (v->cap > INT32_MAX / 2 ? INT32_MAX : v->cap * 2);
    const char **words = realloc(v->words, (size_t)cap * sizeof *words);
    if (!words) return RNN_ERR_NOMEM;
    v->words = words;
    uint32_t *lens = realloc(v->lens, (size_t)cap * sizeof *lens);
    if (!lens) return RNN_ERR_NOMEM;
    v->lens = lens;
    uint32_t *hashes = realloc(v->hashes, (size_t)cap * sizeof *hashes);
    if (!hashes) return RNN_ERR_NOMEM;
    v->hashes = hashes;
    v->cap = cap;
    return RNN_OK;
}

static char *vocab_store(corpus_vocab *v, const char *word, size_t len)
{
    word_block *b = v->blocks;
    if (!b || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > WORD_BLOCK_SIZE ? len + 1 : WORD_BLOCK_SIZE;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->used = 0;
        b->cap = cap;
        /* A full-size block becomes the current one; an oversized word's block is put second so
           the current block keeps being filled. */
        if (v->blocks && cap > WORD_BLOCK_SIZE) {
            b->next = v->blocks->next;
            v->blocks->next = b;
        } else {
            b->next = v->blocks;
            v->blocks = b;
        }
    }
    char *p = b->data + b->used;
    memcpy(p, word, len);
    p[len] = '\0';
    b->used += len + 1;
    return p;
}

int vocab_add(corpus_vocab *v, const char *word, size_t len, int32_t *id)
{
    if (!v || !word || len == 0 || memchr(word, '\0', len)) return RNN_ERR_INVALID;
    if (len > UINT32_MAX) return RNN_ERR_NOMEM;
    uint32_t h = (uint32_t)hash_bytes(word, len);
    vocab_slot *s = find_slot(v, word, len, h);
    if (s->id >= 0) {
        if (id) *id = s->id;
        return RNN_OK;
    }
    if (v->count == INT32_MAX) return RNN_ERR_NOMEM;
    int rc;
    if (v->count == v->cap && (rc = vocab_grow_arrays(v)) != RNN_OK) return rc;
    char *copy = vocab_store(v, word, len);
    if (!copy) return RNN_ERR_NOMEM;
    int32_t nid = v->count;
    v->words[nid] = copy;
    v->lens[nid] = (uint32_t)len;
    v->hashes[nid] = h;
    v->count++;
    if ((size_t)v->count * 2 > v->mask + 1) {
        /* Re-insert everything (including the new word) into a table twice the size. */
        if ((rc = vocab_grow_table(v)) != RNN_OK) {
            v->count--;
            return rc;
        }
    } else {
        s->hash = h;
        s->id = nid;
    }
    if (id) *id = nid;
    return RNN_OK;
}

/* ---- Tokenizer -------------------------------------------------------------------------------- */

/* ASCII classes: 0 word byte, 1 whitespace (str.split()), 2 '\n', 3 '\r', 4 NUL. */
static const unsigned char ascii_class[128] = {
    [0] = 4, ['\t'] = 1, ['\n'] = 2, ['\v'] = 1, ['\f'] = 1, ['\r'] = 3,
    [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, [' '] = 1,
};

/* Python's str.isspace() beyond ASCII. */
static int unicode_space(uint32_t cp)
{
    return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

#define MAX_UNKNOWN_SHOWN 5
#define READ_BUF_SIZE ((size_t)1 << 16)

typedef struct tokenizer {
    corpus_vocab *v;
    const char *path;
    int add_words;
    int32_t unk_id; /* lookup mode: id of <unk> or -1 */
    int32_t eos_id; /* -1 until known */
    int32_t *ids;
    size_t n, cap;
    char *tok; /* current word */
    size_t toklen, tokcap;
    unsigned long long line; /* 1-based */
    /* lookup mode without <unk>: what was not found */
    unsigned long long n_unknown;
    char *unknown[MAX_UNKNOWN_SHOWN];
    unsigned long long unknown_line[MAX_UNKNOWN_SHOWN];
    int n_unknown_shown;
    char *err;
    size_t errsz;
} tokenizer;

static int push_id(tokenizer *t, int32_t id)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        if (cap > SIZE_MAX / sizeof(int32_t)) goto nomem;
        int32_t *ids = realloc(t->ids, cap * sizeof *ids);
        if (!ids) goto nomem;
        t->ids = ids;
        t->cap = cap;
    }
    t->ids[t->n++] = id;
    return RNN_OK;
nomem:
    set_err(t->err, t->errsz, "%s: out of memory after %zu tokens", t->path, t->n);
    return RNN_ERR_NOMEM;
}

static int note_unknown(tokenizer *t, const char *w, size_t len)
{
    t->n_unknown++;
    if (t->n_unknown_shown == MAX_UNKNOWN_SHOWN) return RNN_OK;
    for (int i = 0; i < t->n_unknown_shown; i++)
        if (strlen(t->unknown[i]) == len && memcmp(t->unknown[i], w, len) == 0) return RNN_OK;
    /* Keep at most 40 bytes, cut at a character boundary. */
    size_t keep = len;
    if (keep > 40) {
        keep = 40;
        while (keep > 0 && ((unsigned char)w[keep] & 0xc0) == 0x80) keep--;
    }
    char *copy = malloc(keep + 4);
    if (!copy) {
        set_err(t->err, t->errsz, "%s: out of memory", t->path);
        return RNN_ERR_NOMEM;
    }
    memcpy(copy, w, keep);
    strcpy(copy + keep, keep < len ? "..." : "");
    t->unknown[t->n_unknown_shown] = copy;
    t->unknown_line[t->n_unknown_shown] = t->line;
    t->n_unknown_shown++;
    return RNN_OK;
}

static int emit_word(tokenizer *t, const char *w, size_t len)
{
    int32_t id;
    if (t->add_words) {
        int rc = vocab_add(t->v, w, len, &id);
        if (rc != RNN_OK) {
            set_err(t->err, t->errsz, "%s:%llu: cannot add a word to the vocabulary (%s)", t->path,
                    t->line, rc == RNN_ERR_NOMEM ? "out of memory or too many words" : "invalid word");
            return rc;
        }
    } else {
        id = vocab_lookup(t->v, w, len);
        if (id < 0) {
            if (t->unk_id >= 0) {
                id = t->unk_id;
            } else {
                return note_unknown(t, w, len);
            }
        }
    }
    if (t->n_unknown) return RNN_OK; /* failing anyway; just keep counting */
    return push_id(t, id);
}

static int end_word(tokenizer *t)
{
    if (t->toklen == 0) return RNN_OK;
    int rc = emit_word(t, t->tok, t->toklen);
    t->toklen = 0;
    return rc;
}

static int end_line(tokenizer *t)
{
    int rc = end_word(t);
    if (rc != RNN_OK) return rc;
    if (t->eos_id < 0) {
        if (!t->add_words) return emit_word(t, CORPUS_EOS, sizeof CORPUS_EOS - 1); /* unknown */
        rc = vocab_add(t->v, CORPUS_EOS, sizeof CORPUS_EOS - 1, &t->eos_id);
        if (rc != RNN_OK) {
            set_err(t->err, t->errsz, "%s:%llu: cannot add %s to the vocabulary", t->path, t->line,
                    CORPUS_EOS);
            return rc;
        }
    }
    if (t->n_unknown) return RNN_OK;
    return push_id(t, t->eos_id);
}

static int tok_append(tokenizer *t, const unsigned char *p, size_t len)
{
    if (t->tokcap - t->toklen < len) {
        size_t cap = t->tokcap ? t->tokcap : 256;
        while (cap - t->toklen < len) {
            if (cap > SIZE_MAX / 2) goto nomem;
            cap *= 2;
        }
        char *tok = realloc(t->tok, cap);
        if (!tok) goto nomem;
        t->tok = tok;
        t->tokcap = cap;
    }
    memcpy(t->tok + t->toklen, p, len);
    t->toklen += len;
    return RNN_OK;
nomem:
    set_err(t->err, t->errsz, "%s:%llu: out of memory (a word of %zu bytes)", t->path, t->line,
            t->toklen);
    return RNN_ERR_NOMEM;
}

/* Length of the UTF-8 sequence led by c, or 0 for a byte that cannot start one. */
static int utf8_len(unsigned char c)
{
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return 2;
    if (c >= 0xe0 && c <= 0xef) return 3;
    if (c >= 0xf0 && c <= 0xf4) return 4;
    return 0;
}

/* Allowed range of the second byte of a sequence led by c (Unicode Table 3-7). */
static void utf8_second(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (c == 0xe0) *lo = 0xa0;
    else if (c == 0xed) *hi = 0x9f;
    else if (c == 0xf0) *lo = 0x90;
    else if (c == 0xf4) *hi = 0x8f;
}

static int bad_byte(tokenizer *t, unsigned long long off, unsigned char byte, const char *why)
{
    set_err(t->err, t->errsz, "%s:%llu: invalid UTF-8 at byte offset %llu (byte 0x%02X): %s",
            t->path, t->line, off, byte, why);
    return RNN_ERR_FORMAT;
}

static int tokenize_stream(tokenizer *t, FILE *f)
{
    unsigned char buf[READ_BUF_SIZE];
    size_t len = 0, pos = 0;
    int eof = 0;
    unsigned long long off = 0; /* file offset of buf[pos] */
    int prev_cr = 0, line_started = 0, rc;

    for (;;) {
        if (len - pos < 4 && !eof) {
            /* Keep the unread tail (at most 3 bytes of a split UTF-8 sequence) and read more. */
            memmove(buf, buf + pos, len - pos);
            len -= pos;
            pos = 0;
            size_t want = sizeof buf - len;
            size_t got = fread(buf + len, 1, want, f);
            len += got;
            if (got < want) {
                if (ferror(f)) {
                    set_err(t->err, t->errsz, "%s: read error: %s", t->path, strerror(errno));
                    return RNN_ERR_IO;
                }
                eof = 1;
            }
        }
        if (pos == len) break;

        /* Fast path: a run of ASCII word bytes. */
        size_t start = pos;
        while (pos < len && buf[pos] < 0x80 && ascii_class[buf[pos]] == 0) pos++;
        if (pos > start) {
            if ((rc = tok_append(t, buf + start, pos - start)) != RNN_OK) return rc;
            off += pos - start;
            prev_cr = 0;
            line_started = 1;
            continue;
        }

        unsigned char c = buf[pos];
        if (c < 0x80) {
            switch (ascii_class[c]) {
            case 1:
                if ((rc = end_word(t)) != RNN_OK) return rc;
                prev_cr = 0;
                line_started = 1;
                break;
            case 2:
                if (!prev_cr) {
                    if ((rc = end_line(t)) != RNN_OK) return rc;
                    t->line++;
                }
                prev_cr = 0;
                line_started = 0;
                break;
            case 3:
                if ((rc = end_line(t)) != RNN_OK) return rc;
                t->line++;
                prev_cr = 1;
                line_started = 0;
                break;
            default:
                set_err(t->err, t->errsz,
                        "%s:%llu: NUL byte at byte offset %llu (not a text file?)", t->path,
                        t->line, off);
                return RNN_ERR_FORMAT;
            }
            pos++;
            off++;
            continue;
        }

        int need = utf8_len(c);
        if (need == 0) return bad_byte(t, off, c, "invalid start byte");
        size_t have = len - pos;
        unsigned char lo, hi;
        utf8_second(c, &lo, &hi);
        for (int k = 1; k < need; k++) {
            if ((size_t)k >= have) return bad_byte(t, off, c, "unexpected end of data");
            unsigned char d = buf[pos + (size_t)k];
            if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xbf))
                return bad_byte(t, off, c, "invalid continuation byte");
        }
        uint32_t cp;
        if (need == 2) cp = (uint32_t)(c & 0x1f) << 6 | (buf[pos + 1] & 0x3fu);
        else if (need == 3)
            cp = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(buf[pos + 1] & 0x3f) << 6 |
                 (buf[pos + 2] & 0x3fu);
        else
            cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(buf[pos + 1] & 0x3f) << 12 |
                 (uint32_t)(buf[pos + 2] & 0x3f) << 6 | (buf[pos + 3] & 0x3fu);
        if (unicode_space(cp)) rc = end_word(t);
        else rc = tok_append(t, buf + pos, (size_t)need);
        if (rc != RNN_OK) return rc;
        prev_cr = 0;
        line_started = 1;
        pos += (size_t)need;
        off += (unsigned long long)need;
    }

    if (off == 0) {
        set_err(t->err, t->errsz, "%s: file is empty", t->path);
        return RNN_ERR_FORMAT;
    }
    if (line_started && (rc = end_line(t)) != RNN_OK) return rc;
    return RNN_OK;
}

static void unknown_error(tokenizer *t)
{
    if (!t->err || t->errsz == 0) return;
    size_t used = 0;
    int w = snprintf(t->err, t->errsz, "%s: %llu token%s not in the vocabulary (and no %s):",
                     t->path, t->n_unknown, t->n_unknown == 1 ? "" : "s", CORPUS_UNK);
    for (int i = 0; w >= 0 && i < t->n_unknown_shown; i++) {
        used += (size_t)w;
        if (used >= t->errsz) return;
        w = snprintf(t->err + used, t->errsz - used, "%s \"%s\" (line %llu)", i ? "," : "",
                     t->unknown[i], t->unknown_line[i]);
    }
    if (w >= 0 && t->n_unknown_shown == MAX_UNKNOWN_SHOWN) {
        used += (size_t)w;
        if (used < t->errsz) snprintf(t->err + used, t->errsz - used, ", ...");
    }
}

int corpus_tokenize_file(corpus_vocab *v, const char *path, int add_words, int32_t **ids,
                         size_t *n, char *err, size_t errsz)
{
    if (ids) *ids = NULL;
    if (n) *n = 0;
    if (err && errsz) err[0] = '\0';
    if (!v || !path || !ids || !n) {
        set_err(err, errsz, "corpus_tokenize_file: NULL argument");
        return RNN_ERR_INVALID;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errsz, "%s: cannot open: %s", path, strerror(errno));
        return RNN_ERR_IO;
    }
    tokenizer t;
    memset(&t, 0, sizeof t);
    t.v = v;
    t.path = path;
    t.add_words = add_words;
    t.unk_id = add_words ? -1 : vocab_lookup(v, CORPUS_UNK, sizeof CORPUS_UNK - 1);
    t.eos_id = add_words ? -1 : vocab_lookup(v, CORPUS_EOS, sizeof CORPUS_EOS - 1);
    if (t.eos_id < 0) t.eos_id = t.unk_id;
    t.line = 1;
    t.err = err;
    t.errsz = errsz;

    int rc = tokenize_stream(&t, f);
    if (rc == RNN_OK && t.n_unknown) {
        unknown_error(&t);
        rc = RNN_ERR_NOTFOUND;
    }
    fclose(f);
    for (int i = 0; i < t.n_unknown_shown; i++) free(t.unknown[i]);
    free(t.tok);
    if (rc != RNN_OK) {
        free(t.ids);
        return rc;
    }
    /* Give back the slack of the doubling growth. */
    int32_t *shrunk = realloc(t.ids, t.n * sizeof *shrunk);
    *ids = shrunk ? shrunk : t.ids;
    *n = t.n;
    return RNN_OK;
}

/* ---- Data directory --------------------------------------------------------------------------- */

void corpus_free(corpus *c)
{
    if (!c) return;
    vocab_free(c->vocab);
    free(c->train);
    free(c->valid);
    free(c->test);
    memset(c, 0, sizeof *c);
}

int corpus_load_dir(corpus *c, const char *dir, char *err, size_t errsz)
{
    if (err && errsz) err[0] = '\0';
    if (!c || !dir) {
        set_err(err, errsz, "corpus_load_dir: NULL argument");
        return RNN_ERR_INVALID;
    }
    memset(c, 0, sizeof *c);
    int rc = vocab_create(&c->vocab);
    if (rc != RNN_OK) {
        set_err(err, errsz, "out of memory");
        return rc;
    }
    static const char *const names[3] = {"train.txt", "valid.txt", "test.txt"};
    int32_t **arrays[3] = {&c->train, &c->valid, &c->test};
    size_t *counts[3] = {&c->n_train, &c->n_valid, &c->n_test};
    size_t dlen = strlen(dir);
    char *path = malloc(dlen + 16);
    if (!path) {
        corpus_free(c);
        set_err(err, errsz, "out of memory");
        return RNN_ERR_NOMEM;
    }
    for (int i = 0; i < 3 && rc == RNN_OK; i++) {
        memcpy(path, dir, dlen);
        size_t p = dlen;
        if (dlen && dir[dlen - 1] != '/') path[p++] = '/';
        strcpy(path + p, names[i]);
        rc = corpus_tokenize_file(c->vocab, path, 1, arrays[i], counts[i], err, errsz);
    }
    free(path);
    if (rc != RNN_OK) corpus_free(c);
    return rc;
}

/* ---- Batching --------------------------------------------------------------------------------- */

int corpus_batches_init(corpus_batches *b, const int32_t *data, size_t n, int batch, int bptt,
                        int mode, char *err, size_t errsz)
{
    if (err && errsz) err[0] = '\0';
    if (!b) {
        set_err(err, errsz, "corpus_batches_init: NULL argument");
        return RNN_ERR_INVALID;
    }
    memset(b, 0, sizeof *b);
    if (!data || batch < 1 || bptt < 1 || (mode != CORPUS_BATCH_MAIN && mode != CORPUS_BATCH_SEED)) {
        set_err(err, errsz, "batching: invalid argument (data %s, batch size %d, bptt %d, mode %d)",
                data ? "given" : "NULL", batch, bptt, mode);
        return RNN_ERR_INVALID;
    }
    size_t bsz = (size_t)batch, seq = (size_t)bptt;
    size_t stream_len, chunks;
    if (mode == CORPUS_BATCH_MAIN) {
        stream_len = n / bsz;
        if (stream_len < 2) {
            set_err(err, errsz,
                    "batching: %zu tokens are too few for batch size %d (need at least %zu)", n,
                    batch, 2 * bsz);
            return RNN_ERR_INVALID;
        }
        chunks = (stream_len - 1 + seq - 1) / seq; /* len(range(0, stream_len - 1, bptt)) */
    } else {
        if (seq > SIZE_MAX / bsz || n < bsz * seq) {
            set_err(err, errsz,
                    "batching: %zu tokens are too few for batch size %d x bptt %d (seed mode)", n,
                    batch, bptt);
            return RNN_ERR_INVALID;
        }
        chunks = n / (bsz * seq);
        stream_len = chunks * seq;
    }
    b->data = data;
    b->mode = mode;
    b->batch = batch;
    b->bptt = bptt;
    b->stream_len = stream_len;
    b->num_chunks = chunks;
    return RNN_OK;
}

int corpus_batches_steps(const corpus_batches *b, size_t k)
{
    if (!b || k >= b->num_chunks) return 0;
    if (b->mode == CORPUS_BATCH_SEED) return b->bptt;
    size_t i = k * (size_t)b->bptt;
    size_t left = b->stream_len - 1 - i;
    return left < (size_t)b->bptt ? (int)left : b->bptt;
}

int corpus_batches_get(const corpus_batches *b, size_t k, int32_t *tokens, int32_t *targets,
                       int *steps)
{
    int s = corpus_batches_steps(b, k);
    if (steps) *steps = s;
    if (s == 0 || !tokens) return RNN_ERR_INVALID;
    size_t ns = (size_t)s, i = k * (size_t)b->bptt;
    for (size_t r = 0; r < (size_t)b->batch; r++) {
        const int32_t *src = b->data + r * b->stream_len + i;
        memcpy(tokens + r * ns, src, ns * sizeof *tokens);
        if (!targets) continue;
        int32_t *dst = targets + r * ns;
        if (b->mode == CORPUS_BATCH_MAIN) {
            memcpy(dst, src + 1, ns * sizeof *dst);
        } else {
            memcpy(dst, src + 1, (ns - 1) * sizeof *dst);
            dst[ns - 1] = RNN_IGNORE;
        }
    }
    return RNN_OK;
}

size_t corpus_batches_eval_denominator(const corpus_batches *b)
{
    if (!b || b->num_chunks == 0) return 0;
    if (b->mode == CORPUS_BATCH_MAIN) return b->stream_len - 1;
    return b->num_chunks * (size_t)b->bptt;
}
