/* corpus.c -- vocabulary, line reader, tokenizer and batching for rnnlm (see corpus.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fileno, flockfile, getc_unlocked (bench/run.sh sets none) */
#endif
#include "corpus.h"
#include "base.h" /* rnn__fnv1a (internal; rnnlm links the static library) */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    /* the library's FNV-1a, with a final avalanche so the low bits used for the index mix well */
    uint64_t h = rnn__fnv1a(RNN__FNV_INIT, s, len);
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

/* ---- Lines ---------------------------------------------------------------------------------- */

#define LINE_CHUNK ((size_t)1 << 16)

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

typedef struct line_reader {
    const char *name;
    corpus_line_fn on_line;
    void *user;
    char *err;
    size_t errsz;
    char *line;                /* the current line's bytes from earlier chunks (NUL-terminated) */
    size_t len, cap;
    unsigned long long lineno; /* 1-based */
    unsigned long long base;   /* file offset of the chunk's first byte */
    /* a UTF-8 sequence being read (need > 0): its first byte, where it began, the range allowed
       for its next byte */
    int need;
    unsigned char lead, lo, hi;
    unsigned long long seq_off;
    int cr_end; /* the previous chunk ended with the "\r" of a line, so a "\n" first is skipped */
} line_reader;

static int bad_byte(const line_reader *r, unsigned long long off, unsigned char byte, const char *why)
{
    set_err(r->err, r->errsz, "%s:%llu: invalid UTF-8 at byte offset %llu (byte 0x%02X): %s",
            r->name, r->lineno, off, byte, why);
    return RNN_ERR_FORMAT;
}

/* Appends p[0..n) to the current line (keeping room for its NUL). */
static int line_append(line_reader *r, const unsigned char *p, size_t n)
{
    if (r->cap - r->len <= n) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap - r->len <= n) {
            if (cap > SIZE_MAX / 2) goto nomem;
            cap *= 2;
        }
        char *grown = realloc(r->line, cap);
        if (!grown) goto nomem;
        r->line = grown;
        r->cap = cap;
    }
    memcpy(r->line + r->len, p, n);
    r->len += n;
    r->line[r->len] = '\0';
    return RNN_OK;
nomem:
    set_err(r->err, r->errsz, "%s:%llu: out of memory (a line of %zu bytes)", r->name, r->lineno,
            r->len);
    return RNN_ERR_NOMEM;
}

/* Hands on the line made of the earlier chunks' part and b[from..to) (b[to] is its terminator). */
static int line_end(line_reader *r, unsigned char *b, size_t from, size_t to)
{
    if (r->len == 0) {
        b[to] = '\0';
        return r->on_line(r->user, (const char *)b + from, to - from, r->lineno);
    }
    int rc = line_append(r, b + from, to - from);
    size_t len = r->len;
    r->len = 0;
    return rc != RNN_OK ? rc : r->on_line(r->user, r->line, len, r->lineno);
}

/* Checks the chunk b[0..n) and hands on every line it ends; keeps the rest for the next one. */
static int scan_chunk(line_reader *r, unsigned char *b, size_t n)
{
    size_t i = 0, start = 0;                   /* start: where the current line began in b */
    size_t skip_lf = r->cr_end ? 0 : SIZE_MAX; /* a "\n" here belongs to "\r\n" */
    while (i < n) {
        unsigned char c = b[i];
        if (r->need) {
            if (c < r->lo || c > r->hi)
                return bad_byte(r, r->seq_off, r->lead, "invalid continuation byte");
            r->lo = 0x80;
            r->hi = 0xbf;
            r->need--;
            i++;
            continue;
        }
        /* fast path: bytes 0x20..0x7f, eight at a time, then one at a time */
        for (uint64_t x; n - i >= 8; i += 8) {
            memcpy(&x, b + i, 8);
            if (((x - 0x2020202020202020ull) | x) & 0x8080808080808080ull) break;
        }
        while (i < n && b[i] >= 0x20 && b[i] < 0x80) i++;
        if (i == n) break;
        c = b[i];
        if (c == '\n' || c == '\r') {
            if (c == '\r' || i != skip_lf) {
                int rc = line_end(r, b, start, i);
                if (rc != RNN_OK) return rc;
                r->lineno++;
            }
            skip_lf = c == '\r' ? i + 1 : SIZE_MAX;
            start = ++i;
            continue;
        }
        if (c == 0) {
            set_err(r->err, r->errsz, "%s:%llu: NUL byte at byte offset %llu (not a text file?)",
                    r->name, r->lineno, r->base + i);
            return RNN_ERR_FORMAT;
        }
        if (c >= 0x80) {
            r->need = utf8_len(c) - 1;
            if (r->need < 0) return bad_byte(r, r->base + i, c, "invalid start byte");
            r->lead = c;
            r->seq_off = r->base + i;
            utf8_second(c, &r->lo, &r->hi);
        }
        i++;
    }
    r->cr_end = skip_lf == n;
    r->base += n;
    return line_append(r, b + start, n - start);
}

/* Up to cap bytes of f: all of them from a regular file; from anything else (a pipe, a terminal)
   only up to the end of a line, so that each line is handed on as soon as it has arrived. */
static size_t read_chunk(FILE *f, int regular, unsigned char *buf, size_t cap)
{
    if (regular) return fread(buf, 1, cap, f);
    size_t n = 0;
    for (int c; n < cap && (c = getc_unlocked(f)) != EOF;) {
        buf[n++] = (unsigned char)c;
        if (c == '\n' || c == '\r') break;
    }
    return n;
}

int corpus_read_lines(FILE *f, const char *name, corpus_line_fn on_line, void *user, char *err,
                      size_t errsz)
{
    if (err && errsz) err[0] = '\0';
    if (!f || !on_line) {
        set_err(err, errsz, "corpus_read_lines: NULL argument");
        return RNN_ERR_INVALID;
    }
    line_reader r;
    memset(&r, 0, sizeof r);
    r.name = name ? name : "(stream)";
    r.on_line = on_line;
    r.user = user;
    r.err = err;
    r.errsz = errsz;
    r.lineno = 1;
    unsigned char *chunk = malloc(LINE_CHUNK);
    if (!chunk) {
        set_err(err, errsz, "%s: out of memory", r.name);
        return RNN_ERR_NOMEM;
    }
    struct stat st;
    int fd = fileno(f);
    int regular = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    int rc = RNN_OK;
    flockfile(f);
    for (;;) {
        size_t n = read_chunk(f, regular, chunk, LINE_CHUNK);
        if (ferror(f)) {
            set_err(err, errsz, "%s: read error: %s", r.name, strerror(errno));
            rc = RNN_ERR_IO;
            break;
        }
        if (n == 0) break;
        if ((rc = scan_chunk(&r, chunk, n)) != RNN_OK) break;
    }
    funlockfile(f);
    if (rc == RNN_OK && r.need) rc = bad_byte(&r, r.seq_off, r.lead, "unexpected end of data");
    if (rc == RNN_OK && r.base == 0) {
        set_err(err, errsz, "%s: file is empty", r.name);
        rc = RNN_ERR_FORMAT;
    }
    if (rc == RNN_OK && r.len > 0) rc = on_line(user, r.line, r.len, r.lineno); /* no terminator */
    free(r.line);
    free(chunk);
    return rc;
}

/* ---- Tokenizer -------------------------------------------------------------------------------- */

#define MAX_UNKNOWN_SHOWN 5

typedef struct tokenizer {
    corpus_vocab *v;
    const char *path;
    int add_words;
    int32_t unk_id; /* lookup mode: id of <unk> or -1 */
    size_t max_word; /* add mode: librnn's RNN_LIMIT_WORD_BYTES */
    int32_t eos_id; /* -1 until known */
    int eos_unk;    /* lookup mode: <eos> is not in v and maps to <unk> */
    size_t n_mapped; /* lookup mode: tokens mapped to <unk> (words not in v; not a literal <unk>) */
    int32_t *ids;
    size_t n, cap;
    unsigned long long line; /* 1-based */
    /* lookup mode without <unk>: what was not found */
    unsigned long long n_unknown;
    char *unknown[MAX_UNKNOWN_SHOWN];
    unsigned long long unknown_line[MAX_UNKNOWN_SHOWN];
    int n_unknown_shown;
    char *err;
    size_t errsz;
    corpus_tokens_fn on_line; /* (may be NULL) */
    void *user;
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
        if (len > t->max_word) {
            set_err(t->err, t->errsz,
                    "%s:%llu: a word of %zu bytes, longer than a vocabulary word may be (%zu bytes, "
                    "librnn's RNN_LIMIT_WORD_BYTES)", t->path, t->line, len, t->max_word);
            return RNN_ERR_FORMAT;
        }
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
                t->n_mapped++;
            } else {
                return note_unknown(t, w, len);
            }
        }
    }
    if (t->n_unknown) return RNN_OK; /* failing anyway; just keep counting */
    return push_id(t, id);
}

/* corpus_read_lines' callback: the line's words (rnn_text_next_word: str.split()), then <eos>. */
static int tokenize_line(void *user, const char *line, size_t len, unsigned long long lineno)
{
    tokenizer *t = user;
    t->line = lineno;
    size_t pos = 0, wl = 0, first = t->n;
    int rc;
    for (; (rc = rnn_text_next_word(line, len, &pos, &wl)) == RNN_OK; pos += wl)
        if ((rc = emit_word(t, line + pos, wl)) != RNN_OK) return rc;
    if (rc != RNN_ERR_NOTFOUND) { /* cannot happen: corpus_read_lines checked the line */
        set_err(t->err, t->errsz, "%s:%llu: cannot split the line at byte %zu", t->path, lineno, pos);
        return rc;
    }
    if (t->eos_id < 0) {
        if (!t->add_words) return emit_word(t, CORPUS_EOS, sizeof CORPUS_EOS - 1); /* unknown */
        rc = vocab_add(t->v, CORPUS_EOS, sizeof CORPUS_EOS - 1, &t->eos_id);
        if (rc != RNN_OK) {
            set_err(t->err, t->errsz, "%s:%llu: cannot add %s to the vocabulary", t->path, t->line,
                    CORPUS_EOS);
            return rc;
        }
    }
    if (!t->n_unknown && (rc = push_id(t, t->eos_id)) != RNN_OK) return rc;
    t->n_mapped += (size_t)t->eos_unk;
    return t->on_line ? t->on_line(t->user, line, len, t->n - first) : RNN_OK;
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

/* corpus_tokenize_stream; *mapped (may be NULL) receives the number of tokens mapped to <unk>. */
static int tokenize_stream(corpus_vocab *v, FILE *f, const char *path, int add_words, corpus_tokens_fn on_line,
                           void *user, int32_t **ids, size_t *n, size_t *mapped, char *err, size_t errsz)
{
    if (mapped) *mapped = 0;
    if (ids) *ids = NULL;
    if (n) *n = 0;
    if (err && errsz) err[0] = '\0';
    if (!v || !f || !path || !ids || !n) {
        set_err(err, errsz, "corpus_tokenize_stream: NULL argument");
        return RNN_ERR_INVALID;
    }
    tokenizer t;
    memset(&t, 0, sizeof t);
    t.v = v;
    t.path = path;
    t.add_words = add_words;
    int64_t max_word = 0;
    if (rnn_limit_get(RNN_LIMIT_WORD_BYTES, &max_word) != RNN_OK || max_word <= 0) max_word = INT64_MAX;
    t.max_word = (uint64_t)max_word > SIZE_MAX ? SIZE_MAX : (size_t)max_word;
    t.unk_id = add_words ? -1 : vocab_lookup(v, CORPUS_UNK, sizeof CORPUS_UNK - 1);
    t.eos_id = add_words ? -1 : vocab_lookup(v, CORPUS_EOS, sizeof CORPUS_EOS - 1);
    if (t.eos_id < 0) t.eos_id = t.unk_id, t.eos_unk = !add_words && t.unk_id >= 0;
    t.err = err;
    t.errsz = errsz;
    t.on_line = on_line, t.user = user;

    int rc = corpus_read_lines(f, path, tokenize_line, &t, err, errsz);
    if (rc == RNN_OK && t.n_unknown) {
        unknown_error(&t);
        rc = RNN_ERR_NOTFOUND;
    }
    for (int i = 0; i < t.n_unknown_shown; i++) free(t.unknown[i]);
    if (rc != RNN_OK) {
        free(t.ids);
        return rc;
    }
    /* Give back the slack of the doubling growth. */
    int32_t *shrunk = realloc(t.ids, t.n * sizeof *shrunk);
    *ids = shrunk ? shrunk : t.ids;
    *n = t.n;
    if (mapped) *mapped = t.n_mapped;
    return RNN_OK;
}

int corpus_tokenize_stream(corpus_vocab *v, FILE *f, const char *path, int add_words, corpus_tokens_fn on_line,
                           void *user, int32_t **ids, size_t *n, char *err, size_t errsz)
{
    return tokenize_stream(v, f, path, add_words, on_line, user, ids, n, NULL, err, errsz);
}

/* corpus_tokenize_file; *mapped (may be NULL) receives the number of tokens mapped to <unk>. */
static int tokenize_file(corpus_vocab *v, const char *path, int add_words, int32_t **ids, size_t *n,
                         size_t *mapped, char *err, size_t errsz)
{
    if (mapped) *mapped = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errsz, "%s: cannot open: %s", path, strerror(errno));
        return RNN_ERR_IO;
    }
    int rc = tokenize_stream(v, f, path, add_words, NULL, NULL, ids, n, mapped, err, errsz);
    fclose(f);
    return rc;
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
    return tokenize_file(v, path, add_words, ids, n, NULL, err, errsz);
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

char *corpus_join_path(const char *dir, const char *name)
{
    size_t d = strlen(dir), n = d + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s%s", dir, d && dir[d - 1] == '/' ? "" : "/", name);
    return p;
}

int corpus_load_dir(corpus *c, const char *dir, corpus_vocab *v, char *err, size_t errsz)
{
    if (err && errsz) err[0] = '\0';
    if (!c || !dir) {
        vocab_free(v);
        set_err(err, errsz, "corpus_load_dir: NULL argument");
        return RNN_ERR_INVALID;
    }
    memset(c, 0, sizeof *c);
    int add_words = v == NULL, rc = v ? RNN_OK : vocab_create(&v);
    if (rc != RNN_OK) {
        set_err(err, errsz, "out of memory");
        return rc;
    }
    c->vocab = v;
    static const char *const names[3] = {"train.txt", "valid.txt", "test.txt"};
    int32_t **arrays[3] = {&c->train, &c->valid, &c->test};
    size_t *counts[3] = {&c->n_train, &c->n_valid, &c->n_test};
    size_t *mapped[3] = {&c->unk_train, &c->unk_valid, &c->unk_test};
    for (int i = 0; i < 3 && rc == RNN_OK; i++) {
        char *path = corpus_join_path(dir, names[i]);
        if (!path) {
            set_err(err, errsz, "out of memory");
            rc = RNN_ERR_NOMEM;
            break;
        }
        rc = tokenize_file(c->vocab, path, add_words, arrays[i], counts[i], mapped[i], err, errsz);
        free(path);
    }
    if (rc != RNN_OK) corpus_free(c);
    return rc;
}

/* ---- A vocabulary by frequency ---------------------------------------------------------------- */

/* A word id of the file and its count; by_count orders them: descending count, then ascending id
   (first occurrence), a total order. */
typedef struct ranked {
    size_t count;
    int32_t id;
} ranked;

static int by_count(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* The kept words of all (the file's vocabulary, first-occurrence order) by ids/n into out. */
static int rank_words(const corpus_vocab *all, const int32_t *ids, size_t n, int64_t max_size,
                      int64_t min_count, corpus_vocab *out, size_t *n_words, char *err, size_t errsz)
{
    int32_t nw = vocab_size(all);
    ranked *r = calloc((size_t)nw ? (size_t)nw : 1, sizeof *r);
    if (!r) {
        set_err(err, errsz, "out of memory");
        return RNN_ERR_NOMEM;
    }
    for (int32_t i = 0; i < nw; i++) r[i].id = i;
    for (size_t i = 0; i < n; i++) r[ids[i]].count++;
    qsort(r, (size_t)nw, sizeof *r, by_count);
    int rc = vocab_add(out, CORPUS_UNK, sizeof CORPUS_UNK - 1, NULL);
    for (int32_t i = 0; i < nw && rc == RNN_OK; i++) {
        if ((int64_t)r[i].count < min_count || (max_size > 0 && vocab_size(out) >= max_size)) break;
        const char *w = vocab_word(all, r[i].id);
        rc = vocab_add(out, w, strlen(w), NULL); /* a literal <unk> is already id 0 */
    }
    if (rc != RNN_OK) set_err(err, errsz, "out of memory");
    if (n_words) *n_words = (size_t)nw;
    free(r);
    return rc;
}

int corpus_order_by_count(corpus *c, char *err, size_t errsz)
{
    if (err && errsz) err[0] = '\0';
    if (!c || !c->vocab) {
        set_err(err, errsz, "corpus_order_by_count: NULL argument");
        return RNN_ERR_INVALID;
    }
    int32_t nw = vocab_size(c->vocab);
    ranked *r = calloc((size_t)nw ? (size_t)nw : 1, sizeof *r);
    int32_t *map = malloc(((size_t)nw ? (size_t)nw : 1) * sizeof *map);
    corpus_vocab *v = NULL;
    int rc = r && map ? vocab_create(&v) : RNN_ERR_NOMEM;
    if (rc == RNN_OK) {
        for (int32_t i = 0; i < nw; i++) r[i].id = i;
        for (size_t i = 0; i < c->n_train; i++) r[c->train[i]].count++;
        qsort(r, (size_t)nw, sizeof *r, by_count); /* count 0 (not in train) last, by id */
        for (int32_t i = 0; i < nw && rc == RNN_OK; i++) {
            const char *w = vocab_word(c->vocab, r[i].id);
            map[r[i].id] = i;
            rc = vocab_add(v, w, strlen(w), NULL);
        }
    }
    if (rc == RNN_OK) { /* nothing fails from here: c changes entirely or not at all */
        int32_t *arrays[3] = {c->train, c->valid, c->test};
        size_t counts[3] = {c->n_train, c->n_valid, c->n_test};
        for (int f = 0; f < 3; f++)
            for (size_t i = 0; i < counts[f]; i++) arrays[f][i] = map[arrays[f][i]];
        vocab_free(c->vocab);
        c->vocab = v;
        v = NULL;
    } else {
        set_err(err, errsz, "out of memory");
    }
    vocab_free(v);
    free(map);
    free(r);
    return rc;
}

int corpus_vocab_build(const char *path, int64_t max_size, int64_t min_count, corpus_vocab **out,
                       size_t *n_words, char *err, size_t errsz)
{
    if (err && errsz) err[0] = '\0';
    if (out) *out = NULL;
    if (n_words) *n_words = 0;
    if (!path || !out || max_size < 0) {
        set_err(err, errsz, "corpus_vocab_build: invalid argument");
        return RNN_ERR_INVALID;
    }
    corpus_vocab *all = NULL, *v = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = vocab_create(&all);
    if (rc == RNN_OK) rc = corpus_tokenize_file(all, path, 1, &ids, &n, err, errsz);
    if (rc == RNN_OK) rc = vocab_create(&v);
    if (rc == RNN_ERR_NOMEM && err && !err[0]) set_err(err, errsz, "out of memory");
    if (rc == RNN_OK) rc = rank_words(all, ids, n, max_size, min_count, v, n_words, err, errsz);
    free(ids);
    vocab_free(all);
    if (rc != RNN_OK) {
        vocab_free(v);
        return rc;
    }
    *out = v;
    return RNN_OK;
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

int corpus_batches_head(const corpus_batches *b, size_t max_chunks, corpus_batches *out,
                        int32_t **copy, char *err, size_t errsz)
{
    if (err && errsz) err[0] = '\0';
    if (copy) *copy = NULL;
    if (!b || !out || !copy || b->num_chunks == 0) {
        set_err(err, errsz, "corpus_batches_head: invalid argument");
        return RNN_ERR_INVALID;
    }
    *out = *b;
    if (max_chunks == 0 || max_chunks >= b->num_chunks) return RNN_OK;
    /* each stream's first max_chunks chunks: MAIN also the target of the last one */
    size_t len = max_chunks * (size_t)b->bptt + (b->mode == CORPUS_BATCH_MAIN), rows = (size_t)b->batch;
    int32_t *d = malloc(rows * len * sizeof *d);
    if (!d) {
        set_err(err, errsz, "out of memory");
        return RNN_ERR_NOMEM;
    }
    for (size_t r = 0; r < rows; r++) memcpy(d + r * len, b->data + r * b->stream_len, len * sizeof *d);
    int rc = corpus_batches_init(out, d, rows * len, b->batch, b->bptt, b->mode, err, errsz);
    if (rc != RNN_OK) {
        free(d);
        *out = *b;
        return rc;
    }
    *copy = d;
    return RNN_OK;
}
