/*
 * fuzz_corpus.c -- libFuzzer target for rnnlm's corpus reader (src/rnnlm/corpus.c): the
 * tokenizer, the vocabulary and the batching.
 *
 * Input: 4 control bytes, then the text.
 *   byte 0  bits 0 and 2 both set: put the text behind a long filler word so that it straddles the reader's
 *                  64 KiB buffer boundary (offset from byte 3);  bit 1: SEED batching (else MAIN)
 *   byte 1  batch size (0 and values that do not fit are tried too)
 *   byte 2  bptt
 *   byte 3  filler offset
 * Oracle: an independent reference tokenizer written from corpus.h (Python's strict utf8 decode,
 * universal newlines, str.split() whitespace): the call must succeed exactly when the text is
 * valid, non-empty and NUL-free, and then give the same words in the same order. Re-tokenizing
 * with add_words = 0 gives the same ids; vocab_lookup(vocab_word(id)) == id; batching agrees with
 * main.py's formula chunk by chunk.
 */
#include <stdlib.h>
#include <string.h>

#include "corpus.h"
#include "fuzz_common.h"

static fz_file g_file;

/* ---- reference tokenizer --------------------------------------------------------------------- */
typedef struct ref_tok {
    size_t start, len; /* byte range in the text; len 0 = <eos> */
} ref_tok;

/* 1 = valid text (tokens in *out, *nout), 0 = the reader must refuse it. */
FZ_NO_COV static int ref_tokenize(const uint8_t *t, size_t n, ref_tok **out, size_t *nout)
{
    if (n == 0) return 0;
    ref_tok *v = malloc(sizeof *v * (n + 2));
    size_t k = 0, i = 0, wstart = 0;
    int inword = 0, pending_line = 0; /* pending_line: the current line has begun (not yet ended) */
    while (i < n) {
        uint32_t cp;
        size_t l = fz_utf8_decode(t + i, n - i, &cp);
        if (l == 0 || cp == 0) {
            free(v);
            return 0;
        }
        if (fz_is_space(cp)) {
            if (inword) v[k].start = wstart, v[k].len = i - wstart, k++, inword = 0;
            if (cp == '\n' || cp == '\r') {
                v[k].start = i, v[k].len = 0, k++; /* <eos> */
                pending_line = 0;
                if (cp == '\r' && i + 1 < n && t[i + 1] == '\n') l = 2;
            } else pending_line = 1;
        } else {
            if (!inword) wstart = i, inword = 1;
            pending_line = 1;
        }
        i += l;
    }
    if (inword) v[k].start = wstart, v[k].len = n - wstart, k++;
    if (pending_line) v[k].start = n, v[k].len = 0, k++;
    *out = v;
    *nout = k;
    return 1;
}

/* ---- the target ------------------------------------------------------------------------------ */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    unsigned flags = data[0], batch = data[1], bptt = data[2], padoff = data[3];
    const uint8_t *text = data + 4;
    size_t tn = size - 4;

    /* optional filler: "aaa...a " ending just before the 64 KiB boundary, so the text crosses it */
    uint8_t *full = NULL;
    size_t fn = tn, pad = 0;
    if ((flags & 5) == 5) {
        pad = ((size_t)1 << 16) - (padoff % 16);
        full = malloc(pad + tn + 1);
        memset(full, 'a', pad - 1); /* one long word (cheap to check), then a space */
        full[pad - 1] = ' ';
        memcpy(full + pad, text, tn);
        fn = pad + tn;
        fz_file_write(&g_file, "corpus", full, pad, text, tn);
    } else {
        fz_file_write(&g_file, "corpus", text, tn, NULL, 0);
    }
    const uint8_t *t = full ? full : text;

    ref_tok *ref = NULL;
    size_t nref = 0;
    int valid = ref_tokenize(t, fn, &ref, &nref);

    corpus_vocab *v = NULL;
    FZ_ASSERT(vocab_create(&v) == RNN_OK, "vocab_create");
    int32_t *ids = (int32_t *)1;
    size_t n = 99;
    char err[CORPUS_ERR_SIZE];
    int rc = corpus_tokenize_file(v, g_file.path, 1, &ids, &n, err, sizeof err);
    FZ_ASSERT(memchr(err, 0, sizeof err), "err not terminated");
    if (!valid) {
        FZ_ASSERT(rc == RNN_ERR_FORMAT, "invalid text accepted (status %d, %zu tokens)", rc, n);
        FZ_ASSERT(ids == NULL && n == 0 && err[0] && !strchr(err, '\n'), "failure contract: %s", err);
        vocab_free(v);
        free(full);
        return 0;
    }
    FZ_ASSERT(rc == RNN_OK, "valid text refused: %s", err);
    FZ_ASSERT(n == nref, "%zu tokens; the reference gives %zu", n, nref);
    int32_t V = vocab_size(v);
    for (size_t i = 0; i < n; i++) {
        FZ_ASSERT(ids[i] >= 0 && ids[i] < V, "id %d outside [0, %d)", ids[i], V);
        const char *w = vocab_word(v, ids[i]);
        FZ_ASSERT(w, "no word for id %d", ids[i]);
        if (ref[i].len == 0) FZ_ASSERT(strcmp(w, CORPUS_EOS) == 0, "token %zu is \"%s\", expected <eos>", i, w);
        else
            FZ_ASSERT(strlen(w) == ref[i].len && memcmp(w, t + ref[i].start, ref[i].len) == 0,
                      "token %zu is \"%s\", expected \"%.*s\"", i, w, (int)ref[i].len, (const char *)t + ref[i].start);
        FZ_ASSERT(vocab_lookup(v, w, strlen(w)) == ids[i], "lookup of \"%s\"", w);
    }
    /* ids come in order of first occurrence */
    int32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        FZ_ASSERT(ids[i] <= next, "id %d before %d was used", ids[i], next);
        if (ids[i] == next) next++;
    }
    FZ_ASSERT(next == V, "vocabulary has %d words, %d used", V, next);

    /* again with a fixed vocabulary: the same ids, nothing added */
    int32_t *ids2 = NULL;
    size_t n2 = 0;
    rc = corpus_tokenize_file(v, g_file.path, 0, &ids2, &n2, err, sizeof err);
    FZ_ASSERT(rc == RNN_OK && n2 == n && memcmp(ids, ids2, n * sizeof *ids) == 0 && vocab_size(v) == V,
              "re-tokenizing with add_words=0: %s", err);
    free(ids2);

    /* a vocabulary without some words: NOTFOUND (no <unk>) with a one-line message */
    if (V > 1 && strcmp(vocab_word(v, ids[0]), CORPUS_UNK) != 0) {
        corpus_vocab *v2 = NULL;
        FZ_ASSERT(vocab_create(&v2) == RNN_OK, "vocab_create");
        const char *w0 = vocab_word(v, ids[0]);
        vocab_add(v2, w0, strlen(w0), NULL);
        rc = corpus_tokenize_file(v2, g_file.path, 0, &ids2, &n2, err, sizeof err);
        FZ_ASSERT(rc == RNN_ERR_NOTFOUND && ids2 == NULL && err[0] && !strchr(err, '\n'),
                  "unknown words: status %d, %s", rc, err);
        vocab_add(v2, CORPUS_UNK, sizeof CORPUS_UNK - 1, NULL);
        rc = corpus_tokenize_file(v2, g_file.path, 0, &ids2, &n2, err, sizeof err);
        FZ_ASSERT(rc == RNN_OK && n2 == n, "with <unk>: %s", err);
        for (size_t i = 0; i < n; i++)
            FZ_ASSERT(ids2[i] == (ids[i] == ids[0] ? 0 : 1), "<unk> mapping at %zu: %d", i, ids2[i]);
        free(ids2);
        vocab_free(v2);
    }

    /* batching */
    int mode = (flags & 2) ? CORPUS_BATCH_SEED : CORPUS_BATCH_MAIN;
    int ibatch = (int)batch - 8, ibptt = (int)bptt - 8; /* some zero or negative */
    corpus_batches b;
    rc = corpus_batches_init(&b, ids, n, ibatch, ibptt, mode, err, sizeof err);
    int expect_ok = ibatch >= 1 && ibptt >= 1 &&
                    (mode == CORPUS_BATCH_MAIN ? n / (size_t)ibatch >= 2 : n >= (size_t)ibatch * (size_t)ibptt);
    FZ_ASSERT((rc == RNN_OK) == expect_ok, "batches_init(%zu, %d, %d, %d) = %d: %s", n, ibatch, ibptt, mode, rc, err);
    if (rc == RNN_OK) {
        size_t L = mode == CORPUS_BATCH_MAIN ? n / (size_t)ibatch : n / ((size_t)ibatch * ibptt) * ibptt;
        FZ_ASSERT(b.stream_len == L && b.num_chunks >= 1, "stream_len %zu, expected %zu", b.stream_len, L);
        size_t tot = (size_t)ibatch * ibptt;
        int32_t *tk = malloc(tot * sizeof *tk), *tg = malloc(tot * sizeof *tg);
        size_t covered = 0;
        for (size_t k = 0; k <= b.num_chunks; k++) {
            int steps = -1;
            rc = corpus_batches_get(&b, k, tk, tg, &steps);
            if (k == b.num_chunks) {
                FZ_ASSERT(rc == RNN_ERR_INVALID && steps == 0, "chunk past the end");
                break;
            }
            FZ_ASSERT(rc == RNN_OK && steps >= 1 && steps <= ibptt, "chunk %zu: %d steps", k, steps);
            for (int r = 0; r < ibatch; r++)
                for (int s = 0; s < steps; s++) {
                    size_t at = (size_t)r * L + k * (size_t)ibptt + (size_t)s;
                    FZ_ASSERT(tk[r * steps + s] == ids[at], "token [%zu][%d][%d]", k, r, s);
                    int32_t want = (mode == CORPUS_BATCH_SEED && s == steps - 1) ? RNN_IGNORE : ids[at + 1];
                    FZ_ASSERT(tg[r * steps + s] == want, "target [%zu][%d][%d]", k, r, s);
                }
            covered += (size_t)steps;
        }
        FZ_ASSERT(covered == corpus_batches_eval_denominator(&b), "denominator %zu vs %zu steps",
                  corpus_batches_eval_denominator(&b), covered);
        free(tk);
        free(tg);
    }
    free(ids);
    free(ref);
    vocab_free(v);
    free(full);
    return 0;
}
