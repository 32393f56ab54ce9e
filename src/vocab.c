/*
 * vocab.c -- a model's vocabulary: the words (id -> word), an index (word -> id, open addressing
 * over FNV-1a hashes), and the tokenizer of PyTorch's word_language_model (data.py:
 * line.split() + ['<eos>']) for one line of text.
 */
#include "model.h"

#include <string.h>

#define EOS "<eos>"
#define UNK "<unk>"

/* ---- UTF-8 and Python's str.split() whitespace ---------------------------------------------------- */
/* Decodes one strict UTF-8 sequence (Python's "utf8" codec: no overlong forms, no surrogates,
 * nothing above U+10FFFF) at p[0..n); returns its length, or 0 when invalid or truncated. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char c = p[0];
    if (c < 0x80) return *cp = c, 1;
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* The code points Python's str.split() (no argument) splits at. */
static int is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

int rnn_text_next_word(const char *text, size_t len, size_t *pos, size_t *word_len)
{
    if ((!text && len) || !pos || !word_len || *pos > len) return RNN_ERR_INVALID;
    const unsigned char *p = (const unsigned char *)text;
    size_t i = *pos, start = len;
    for (int in_word = 0; i < len;) {
        uint32_t cp = p[i];
        size_t k = 1;
        if (cp - 0x21 < 0x5F) { /* printable ASCII but space: a word byte */
            if (!in_word) in_word = 1, start = i;
            i++;
            continue;
        }
        if (cp >= 0x80) k = utf8_decode(p + i, len - i, &cp);
        if (!k || !cp) return *pos = i, RNN_ERR_FORMAT;
        if (is_space(cp) == in_word) {
            if (in_word) break;   /* the word ends here */
            in_word = 1, start = i; /* it begins here */
        }
        i += k;
    }
    *pos = start < len ? start : len;
    *word_len = start < len ? i - start : 0;
    return start < len ? RNN_OK : RNN_ERR_NOTFOUND;
}

/* ---- the index ----------------------------------------------------------------------------------- */
static int32_t index_find(const rnn_model *m, const char *w, size_t n)
{
    if (!m->vocab_index) return -1;
    size_t mask = m->vocab_slots - 1;
    for (size_t i = (size_t)rnn__fnv1a(RNN__FNV_INIT, w, n) & mask;; i = (i + 1) & mask) {
        int32_t id = m->vocab_index[i];
        if (id < 0) return -1;
        const char *v = m->vocab_blob + m->vocab_off[id];
        if (strncmp(v, w, n) == 0 && v[n] == '\0') return id;
    }
}

void rnn__vocab_clear(rnn_model *m)
{
    rnn__free(&m->al, m->vocab_blob);
    rnn__free(&m->al, m->vocab_off);
    rnn__free(&m->al, m->vocab_index);
    m->vocab_blob = NULL, m->vocab_off = NULL, m->vocab_index = NULL;
    m->vocab_count = 0, m->vocab_slots = 0;
}

int rnn__vocab_set(rnn_model *m, const char *const *words, int count, char *err, size_t errlen)
{
    if (!words || count != m->cfg.vocab_size)
        return rnn__bufail(err, errlen, RNN_ERR_INVALID, "the vocabulary needs exactly vocab_size = %d words (got %d)",
                           m->cfg.vocab_size, count);
    size_t bytes = 0;
    for (int i = 0; i < count; i++) {
        if (!words[i] || !words[i][0])
            return rnn__bufail(err, errlen, RNN_ERR_INVALID, "word %d is NULL or empty", i);
        size_t len = strlen(words[i]);
        if (len > RNN__MAX_WORD)
            return rnn__bufail(err, errlen, RNN_ERR_INVALID, "word %d is %zu bytes, over the limit of %zu", i, len,
                               RNN__MAX_WORD);
        /* a vocabulary word is exactly one word as rnn_text_next_word splits text */
        size_t pos = 0, wl = 0;
        int split = rnn_text_next_word(words[i], len, &pos, &wl);
        if (split == RNN_ERR_FORMAT) return rnn__bufail(err, errlen, RNN_ERR_INVALID, "word %d is not valid UTF-8", i);
        if (split != RNN_OK || pos != 0 || wl != len)
            return rnn__bufail(err, errlen, RNN_ERR_INVALID, "word %d (\"%.40s\") contains whitespace at byte %zu", i,
                               words[i], split == RNN_OK && pos == 0 ? wl : (size_t)0);
        bytes += len + 1;
    }
    size_t slots = 16;
    while (slots < (size_t)count * 2) slots *= 2;
    char *blob = rnn__alloc(&m->al, bytes);
    size_t *off = rnn__alloc(&m->al, sizeof(size_t) * (size_t)count);
    int32_t *index = rnn__alloc(&m->al, sizeof(int32_t) * slots);
    if (!blob || !off || !index) {
        rnn__free(&m->al, blob);
        rnn__free(&m->al, off);
        rnn__free(&m->al, index);
        return rnn__bufail(err, errlen, RNN_ERR_NOMEM, "cannot allocate the vocabulary (%zu bytes)", bytes);
    }
    memset(index, 0xFF, sizeof(int32_t) * slots);
    size_t at = 0, mask = slots - 1;
    for (int i = 0; i < count; i++) {
        size_t len = strlen(words[i]);
        off[i] = at;
        memcpy(blob + at, words[i], len + 1);
        at += len + 1;
        size_t s = (size_t)rnn__fnv1a(RNN__FNV_INIT, words[i], len) & mask;
        for (; index[s] >= 0; s = (s + 1) & mask)
            if (strcmp(blob + off[index[s]], words[i]) == 0) {
                int first = (int)index[s];
                rnn__free(&m->al, blob);
                rnn__free(&m->al, off);
                rnn__free(&m->al, index);
                return rnn__bufail(err, errlen, RNN_ERR_INVALID, "word %d (\"%.40s\") is also word %d", i, words[i],
                                   first);
            }
        index[s] = i;
    }
    rnn__vocab_clear(m);
    m->vocab_blob = blob, m->vocab_off = off, m->vocab_index = index;
    m->vocab_count = count, m->vocab_slots = slots;
    return RNN_OK;
}

/* ---- public calls -------------------------------------------------------------------------------- */
int rnn_vocab_set(rnn_model *m, const char *const *words, int count)
{
    if (!m) return RNN_ERR_INVALID;
    char msg[RNN_ERR_LEN];
    int rc = rnn__vocab_set(m, words, count, msg, sizeof msg);
    return rc ? rnn__fail(m, rc, "%s", msg) : RNN_OK;
}

int rnn_vocab_get_size(const rnn_model *m, int *count)
{
    if (!m) return RNN_ERR_INVALID;
    if (!count) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "count is NULL");
    *count = m->vocab_count;
    return RNN_OK;
}

int rnn_vocab_get_word(const rnn_model *m, int id, const char **word)
{
    if (!m) return RNN_ERR_INVALID;
    if (!word) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "word is NULL");
    if (id < 0 || id >= m->vocab_count)
        return rnn__fail((rnn_model *)m, RNN_ERR_RANGE, "word id %d outside the vocabulary [0, %d)", id, m->vocab_count);
    *word = m->vocab_blob + m->vocab_off[id];
    return RNN_OK;
}

int32_t rnn__vocab_eos(const rnn_model *m) { return index_find(m, EOS, 5); }

int rnn_vocab_find(const rnn_model *m, const char *word, int32_t *id)
{
    if (!m) return RNN_ERR_INVALID;
    if (!word || !id) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "%s is NULL", word ? "id" : "word");
    int32_t got = index_find(m, word, strlen(word));
    if (got < 0)
        return rnn__fail((rnn_model *)m, RNN_ERR_NOTFOUND, m->vocab_count ? "\"%.64s\" is not in the vocabulary"
                                                                          : "the model has no vocabulary (\"%.64s\")",
                         word);
    *id = got;
    return RNN_OK;
}

int rnn_vocab_encode(const rnn_model *m, const char *text, size_t len, unsigned flags, int32_t *ids, size_t cap,
                     size_t *count, size_t *unknown)
{
    if (!m) return RNN_ERR_INVALID;
    rnn_model *mm = (rnn_model *)m; /* for the message only */
    if ((!text && len) || !count || (!ids && cap))
        return rnn__fail(mm, RNN_ERR_INVALID, "%s is NULL", !count ? "count" : !ids && cap ? "ids" : "text");
    if (flags & ~(RNN_ENCODE_EOS | RNN_ENCODE_UNK_MAP | RNN_ENCODE_UNK_SKIP))
        return rnn__fail(mm, RNN_ERR_INVALID, "unknown flags 0x%x", flags);
    if ((flags & RNN_ENCODE_UNK_MAP) && (flags & RNN_ENCODE_UNK_SKIP))
        return rnn__fail(mm, RNN_ERR_INVALID, "RNN_ENCODE_UNK_MAP and RNN_ENCODE_UNK_SKIP exclude each other");
    if (!m->vocab_count) return rnn__fail(mm, RNN_ERR_STATE, "the model has no vocabulary");
    int32_t unk = -1;
    if (flags & RNN_ENCODE_UNK_MAP) {
        unk = index_find(m, UNK, 3 + 2);
        if (unk < 0) return rnn__fail(mm, RNN_ERR_NOTFOUND, "RNN_ENCODE_UNK_MAP: the vocabulary has no \"" UNK "\"");
    }
    int32_t eos = -1;
    if (flags & RNN_ENCODE_EOS) {
        eos = index_find(m, EOS, 5);
        if (eos < 0) return rnn__fail(mm, RNN_ERR_NOTFOUND, "RNN_ENCODE_EOS: the vocabulary has no \"" EOS "\"");
    }
    /* two passes: validate and count, then write (so nothing is written on failure) */
    for (int pass = 0; pass < 2; pass++) {
        size_t n = 0, unknowns = 0, i = 0, wl = 0;
        for (;; i += wl) {
            int rc = rnn_text_next_word(text, len, &i, &wl);
            if (rc == RNN_ERR_NOTFOUND) break;
            if (rc)
                return rnn__fail(mm, rc, i < len && text[i] == 0 ? "a NUL byte at offset %zu"
                                                                 : "invalid UTF-8 at byte offset %zu (byte 0x%02X)",
                                 i, (unsigned char)text[i]);
            size_t start = i;
            if (wl > RNN__MAX_WORD)
                return rnn__fail(mm, RNN_ERR_FORMAT, "the word at byte offset %zu is %zu bytes, over the limit of %zu",
                                 start, wl, RNN__MAX_WORD);
            int32_t id = index_find(m, text + start, wl);
            if (id < 0) {
                unknowns++;
                if (flags & RNN_ENCODE_UNK_SKIP) continue;
                if (!(flags & RNN_ENCODE_UNK_MAP))
                    return rnn__fail(mm, RNN_ERR_NOTFOUND, "\"%.*s\" (byte offset %zu) is not in the vocabulary",
                                     (int)(wl < 64 ? wl : 64), text + start, start);
                id = unk;
            }
            if (pass) ids[n] = id;
            n++;
        }
        if (eos >= 0) {
            if (pass) ids[n] = eos;
            n++;
        }
        *count = n;
        if (unknown) *unknown = unknowns;
        if (!pass && n > cap) {
            if (!ids) return RNN_OK; /* measuring */
            return rnn__fail(mm, RNN_ERR_SIZE, "the line gives %zu ids; ids holds %zu", n, cap);
        }
    }
    return RNN_OK;
}
