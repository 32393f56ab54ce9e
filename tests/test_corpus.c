/* test_corpus.c -- the rnnlm corpus pipeline: tokenizer edge cases, dictionary order, unknown
   words, both batching modes against hand-computed layouts, rnn_vocab_encode line by line against
   the corpus reader, and WikiText-2 when present. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "corpus.h"

/* ---- helpers ------------------------------------------------------------------------------- */

/* Writes len bytes to a new file in /tmp and returns its malloc'd path. */
static char *write_temp(const void *bytes, size_t len)
{
    char *path = strdup("/tmp/test_corpus_XXXXXX");
    ck_assert_ptr_nonnull(path);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "wb");
    ck_assert_ptr_nonnull(f);
    if (len) ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static void remove_temp(char *path)
{
    unlink(path);
    free(path);
}

/* Tokenizes text (adding words to v) and checks the words, given as one space-separated string
   ("<eos>" included), in order. */
static void expect_words(corpus_vocab *v, const char *text, size_t len, const char *words)
{
    char *path = write_temp(text, len);
    int32_t *ids;
    size_t n;
    char err[CORPUS_ERR_SIZE];
    int rc = corpus_tokenize_file(v, path, 1, &ids, &n, err, sizeof err);
    ck_assert_msg(rc == RNN_OK, "tokenize failed: %s", err);
    const char *p = words;
    size_t k = 0;
    while (*p) {
        const char *q = strchr(p, ' ');
        size_t wl = q ? (size_t)(q - p) : strlen(p);
        ck_assert_msg(k < n, "too few tokens (%zu) for \"%s\"", n, words);
        const char *w = vocab_word(v, ids[k]);
        ck_assert_msg(strlen(w) == wl && memcmp(w, p, wl) == 0, "token %zu: got \"%s\", want \"%.*s\"",
                      k, w, (int)wl, p);
        k++;
        p += wl;
        if (*p == ' ') p++;
    }
    ck_assert_msg(k == n, "got %zu tokens, want %zu (\"%s\")", n, k, words);
    free(ids);
    remove_temp(path);
}

static void expect_plain(const char *text, const char *words)
{
    corpus_vocab *v;
    ck_assert_int_eq(vocab_create(&v), RNN_OK);
    expect_words(v, text, strlen(text), words);
    vocab_free(v);
}

/* Tokenizing bytes must fail with code and an error message containing all of the needles. */
static void expect_error(const void *bytes, size_t len, int code, const char *n1, const char *n2,
                         const char *n3)
{
    char *path = write_temp(bytes, len);
    corpus_vocab *v;
    ck_assert_int_eq(vocab_create(&v), RNN_OK);
    int32_t *ids = (int32_t *)1;
    size_t n = 7;
    char err[CORPUS_ERR_SIZE] = "";
    int rc = corpus_tokenize_file(v, path, 1, &ids, &n, err, sizeof err);
    ck_assert_msg(rc == code, "rc %d, want %d (%s)", rc, code, err);
    ck_assert_ptr_null(ids);
    ck_assert_uint_eq(n, 0);
    ck_assert_msg(strstr(err, path) != NULL, "message lacks the path: %s", err);
    const char *needles[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        if (needles[i]) ck_assert_msg(strstr(err, needles[i]) != NULL, "\"%s\" lacks \"%s\"", err, needles[i]);
    vocab_free(v);
    remove_temp(path);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- vocabulary ------------------------------------------------------------------------------ */

START_TEST(test_vocab_basic)
{
    corpus_vocab *v;
    ck_assert_int_eq(vocab_create(&v), RNN_OK);
    int32_t id = -5;
    ck_assert_int_eq(vocab_size(v), 0);
    ck_assert_int_eq(vocab_add(v, "the", 3, &id), RNN_OK);
    ck_assert_int_eq(id, 0);
    ck_assert_int_eq(vocab_add(v, "cat", 3, &id), RNN_OK);
    ck_assert_int_eq(id, 1);
    ck_assert_int_eq(vocab_add(v, "the", 3, &id), RNN_OK);
    ck_assert_int_eq(id, 0);
    ck_assert_int_eq(vocab_add(v, "thex", 3, NULL), RNN_OK); /* length-delimited: "the" again */
    ck_assert_int_eq(vocab_size(v), 2);
    ck_assert_int_eq(vocab_lookup(v, "cat", 3), 1);
    ck_assert_int_eq(vocab_lookup(v, "dog", 3), -1);
    ck_assert_int_eq(vocab_lookup(v, "ca", 2), -1);
    ck_assert_str_eq(vocab_word(v, 1), "cat");
    ck_assert_ptr_null(vocab_word(v, 2));
    ck_assert_ptr_null(vocab_word(v, -1));
    ck_assert_int_eq(vocab_add(v, "", 0, &id), RNN_ERR_INVALID);
    ck_assert_int_eq(vocab_add(v, "a\0b", 3, &id), RNN_ERR_INVALID);

    /* Many words: ids dense and in order, table growth keeps every word and pointer. */
    const char *w1 = vocab_word(v, 1);
    char buf[32];
    for (int i = 0; i < 100000; i++) {
        int len = snprintf(buf, sizeof buf, "w%d", i);
        ck_assert_int_eq(vocab_add(v, buf, (size_t)len, &id), RNN_OK);
        ck_assert_int_eq(id, i + 2);
    }
    ck_assert_int_eq(vocab_size(v), 100002);
    for (int i = 0; i < 100000; i += 7) {
        int len = snprintf(buf, sizeof buf, "w%d", i);
        ck_assert_int_eq(vocab_lookup(v, buf, (size_t)len), i + 2);
        ck_assert_str_eq(vocab_word(v, i + 2), buf);
    }
    ck_assert_ptr_eq(vocab_word(v, 1), w1);
    /* A word longer than a storage block. */
    size_t big = 200000;
    char *long_word = malloc(big);
    memset(long_word, 'x', big);
    ck_assert_int_eq(vocab_add(v, long_word, big, &id), RNN_OK);
    ck_assert_int_eq(id, 100002);
    ck_assert_int_eq(vocab_add(v, "after", 5, &id), RNN_OK);
    ck_assert_int_eq(vocab_lookup(v, long_word, big), 100002);
    ck_assert_uint_eq(strlen(vocab_word(v, 100002)), big);
    ck_assert_str_eq(vocab_word(v, 100003), "after");
    free(long_word);
    vocab_free(v);
    vocab_free(NULL);
}
END_TEST

/* ---- tokenizer edge cases -------------------------------------------------------------------- */

START_TEST(test_tok_basic_and_empty_lines)
{
    expect_plain("the cat sat\non the mat\n", "the cat sat <eos> on the mat <eos>");
    /* Empty lines are just <eos>; a whitespace-only line too. */
    expect_plain("a\n\n\nb\n", "a <eos> <eos> <eos> b <eos>");
    expect_plain("\n", "<eos>");
    expect_plain("   \n \n", "<eos> <eos>");
    /* data.py's ids: first occurrence order, <eos> where it first appears. */
    corpus_vocab *v;
    ck_assert_int_eq(vocab_create(&v), RNN_OK);
    const char *text = "b a b\n\na c\n";
    char *path = write_temp(text, strlen(text));
    int32_t *ids;
    size_t n;
    char err[CORPUS_ERR_SIZE];
    ck_assert_int_eq(corpus_tokenize_file(v, path, 1, &ids, &n, err, sizeof err), RNN_OK);
    const int32_t want[] = {0, 1, 0, 2, 2, 1, 3, 2};
    ck_assert_uint_eq(n, 8);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(ids[i], want[i]);
    ck_assert_str_eq(vocab_word(v, 2), "<eos>");
    free(ids);
    remove_temp(path);
    vocab_free(v);
}
END_TEST

START_TEST(test_tok_no_trailing_newline)
{
    expect_plain("a b\nc d", "a b <eos> c d <eos>");
    expect_plain("single", "single <eos>");
    expect_plain("a\n  ", "a <eos> <eos>"); /* a last line of blanks is still a line */
    expect_plain("a\n", "a <eos>");         /* ...but nothing after the last \n is no line */
}
END_TEST

START_TEST(test_tok_crlf_and_cr)
{
    expect_plain("a b\r\nc\r\n\r\nd", "a b <eos> c <eos> <eos> d <eos>");
    /* Universal newlines: a lone \r ends a line, as Python's text mode does. */
    expect_plain("a\rb\r\rc\r", "a <eos> b <eos> <eos> c <eos>");
    expect_plain("a\r\r\nb", "a <eos> <eos> b <eos>");
    expect_plain("x\r", "x <eos>");
}
END_TEST

START_TEST(test_tok_whitespace)
{
    expect_plain("\ta\t\tb  c \v d\fe\x1c"
                 "f\x1dg\x1eh\x1fi \n",
                 "a b c d e f g h i <eos>");
    /* Unicode whitespace of str.split(): NBSP, U+3000, U+2028 (not a line break for files),
       U+0085 (NEL), U+2009. */
    expect_plain("a\xc2\xa0"
                 "b\xe3\x80\x80"
                 "c\xe2\x80\xa8"
                 "d\xc2\x85"
                 "e\xe2\x80\x89"
                 "f\n",
                 "a b c d e f <eos>");
    /* Other UTF-8 is part of words: é, 中文, an emoji, U+200B (zero width space is not isspace). */
    expect_plain("caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80x a\xe2\x80\x8b"
                 "b\n",
                 "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80x a\xe2\x80\x8b"
                 "b <eos>");
    /* Punctuation and other ASCII control characters are word bytes. */
    expect_plain("@-@ \x01x\x7f ,\n", "@-@ \x01x\x7f , <eos>");
}
END_TEST

START_TEST(test_tok_long_lines)
{
    /* A 1 MB line of short words with 2- and 3-byte UTF-8 characters (so multi-byte characters
       fall across read-buffer boundaries), then a 1 MB single word. */
    size_t len = (size_t)1 << 20;
    char *text = malloc(2 * len + 16);
    size_t p = 0, words = 0;
    while (p + 4 <= len) {
        if (words % 3 == 2) {
            memcpy(text + p, "\xc3\xa9", 2); /* é */
            memcpy(text + p + 2, "\xe2\x80\x89", 3); /* thin space (separator) */
            p += 5;
        } else {
            memcpy(text + p, words % 3 ? "bb " : "aa ", 3);
            p += 3;
        }
        words++;
    }
    text[p++] = '\n';
    memset(text + p, 'z', len);
    p += len;
    text[p++] = '\n';
    char *path = write_temp(text, p);
    corpus_vocab *v;
    ck_assert_int_eq(vocab_create(&v), RNN_OK);
    int32_t *ids;
    size_t n;
    char err[CORPUS_ERR_SIZE];
    ck_assert_int_eq(corpus_tokenize_file(v, path, 1, &ids, &n, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(n, words + 3);
    ck_assert_int_eq(vocab_size(v), 5); /* aa bb é <eos> zzz... */
    for (size_t i = 0; i < words; i++) ck_assert_int_eq(ids[i], (int32_t)(i % 3));
    ck_assert_str_eq(vocab_word(v, 2), "\xc3\xa9");
    ck_assert_str_eq(vocab_word(v, ids[words]), "<eos>");
    ck_assert_uint_eq(strlen(vocab_word(v, ids[words + 1])), len);
    ck_assert_int_eq(ids[words + 2], ids[words]);
    free(ids);
    vocab_free(v);
    remove_temp(path);
    free(text);
}
END_TEST

START_TEST(test_tok_invalid_utf8)
{
    /* Python: 'utf-8' codec can't decode byte 0xff ...: invalid start byte. */
    expect_error("ok\nalso ok\nab \xff"
                 "cd\n",
                 18, RNN_ERR_FORMAT, ":3:", "byte offset 14", "0xFF");
    expect_error("ab\xc0\x80\n", 5, RNN_ERR_FORMAT, "offset 2", "0xC0", "invalid start byte"); /* overlong */
    expect_error("\xed\xa0\x80", 3, RNN_ERR_FORMAT, ":1:", "invalid continuation byte", "0xED"); /* surrogate */
    expect_error("\xf4\x90\x80\x80", 4, RNN_ERR_FORMAT, "invalid continuation byte", NULL, NULL); /* > U+10FFFF */
    expect_error("\xe0\x80\x80", 3, RNN_ERR_FORMAT, "invalid continuation byte", NULL, NULL);  /* overlong */
    expect_error("a\n\xe2\x28\xa1", 5, RNN_ERR_FORMAT, ":2:", "offset 2", "invalid continuation byte");
    expect_error("x\r\ny \xe2\x82", 7, RNN_ERR_FORMAT, ":2:", "offset 5", "unexpected end of data");
    expect_error("\x80", 1, RNN_ERR_FORMAT, "invalid start byte", NULL, NULL); /* lone continuation */
    expect_error("a\0b\n", 4, RNN_ERR_FORMAT, "NUL byte", "offset 1", NULL);
}
END_TEST

START_TEST(test_tok_missing_and_empty)
{
    expect_error("", 0, RNN_ERR_FORMAT, "empty", NULL, NULL);
    corpus_vocab *v;
    ck_assert_int_eq(vocab_create(&v), RNN_OK);
    int32_t *ids;
    size_t n;
    char err[CORPUS_ERR_SIZE];
    const char *missing = "/tmp/test_corpus_does_not_exist/train.txt";
    ck_assert_int_eq(corpus_tokenize_file(v, missing, 1, &ids, &n, err, sizeof err), RNN_ERR_IO);
    ck_assert_ptr_null(ids);
    ck_assert_ptr_nonnull(strstr(err, missing));
    ck_assert_ptr_nonnull(strstr(err, "No such file"));
    ck_assert_int_eq(corpus_tokenize_file(v, "/tmp", 1, &ids, &n, err, sizeof err), RNN_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "/tmp"));
    /* err may be NULL or tiny. */
    ck_assert_int_eq(corpus_tokenize_file(v, missing, 1, &ids, &n, NULL, 0), RNN_ERR_IO);
    char tiny[8];
    ck_assert_int_eq(corpus_tokenize_file(v, missing, 1, &ids, &n, tiny, sizeof tiny), RNN_ERR_IO);
    ck_assert_uint_eq(strlen(tiny), 7);
    ck_assert_int_eq(corpus_tokenize_file(NULL, missing, 1, &ids, &n, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_int_eq(vocab_size(v), 0);
    vocab_free(v);
}
END_TEST

/* ---- data directory and unknown words ------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void remove_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

START_TEST(test_dir_order)
{
    char dir[] = "/tmp/test_corpus_dir_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    write_file(dir, "train.txt", "b a\nc b\n");
    write_file(dir, "valid.txt", "d a\n\ne");
    write_file(dir, "test.txt", "f e d\n");
    corpus c;
    char err[CORPUS_ERR_SIZE];
    int rc = corpus_load_dir(&c, dir, NULL, err, sizeof err);
    ck_assert_msg(rc == RNN_OK, "%s", err);
    /* train: b a <eos> c ; valid: d e ; test: f */
    const char *order[] = {"b", "a", "<eos>", "c", "d", "e", "f"};
    ck_assert_int_eq(vocab_size(c.vocab), 7);
    for (int i = 0; i < 7; i++) ck_assert_str_eq(vocab_word(c.vocab, i), order[i]);
    const int32_t train[] = {0, 1, 2, 3, 0, 2}, valid[] = {4, 1, 2, 2, 5, 2}, test[] = {6, 5, 4, 2};
    ck_assert_uint_eq(c.n_train, 6);
    ck_assert_uint_eq(c.n_valid, 6);
    ck_assert_uint_eq(c.n_test, 4);
    for (int i = 0; i < 6; i++) ck_assert_int_eq(c.train[i], train[i]);
    for (int i = 0; i < 6; i++) ck_assert_int_eq(c.valid[i], valid[i]);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(c.test[i], test[i]);
    corpus_free(&c);
    ck_assert_ptr_null(c.vocab);

    /* A trailing slash is fine; a missing split is an error naming it; c is left zeroed. */
    char slash[64];
    snprintf(slash, sizeof slash, "%s/", dir);
    ck_assert_int_eq(corpus_load_dir(&c, slash, NULL, err, sizeof err), RNN_OK);
    corpus_free(&c);
    remove_file(dir, "valid.txt");
    ck_assert_int_eq(corpus_load_dir(&c, dir, NULL, err, sizeof err), RNN_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "valid.txt"));
    ck_assert_ptr_null(c.vocab);
    ck_assert_ptr_null(c.train);
    ck_assert_uint_eq(c.n_train, 0);
    corpus_free(&c);
    remove_file(dir, "train.txt");
    remove_file(dir, "test.txt");
    rmdir(dir);
}
END_TEST

START_TEST(test_unknown_words)
{
    corpus_vocab *v;
    ck_assert_int_eq(vocab_create(&v), RNN_OK);
    int32_t id;
    ck_assert_int_eq(vocab_add(v, "a", 1, &id), RNN_OK);
    ck_assert_int_eq(vocab_add(v, "<eos>", 5, &id), RNN_OK);
    ck_assert_int_eq(vocab_add(v, "b", 1, &id), RNN_OK);

    /* No <unk>: fail, naming the first distinct unknown words with their lines. */
    const char *text = "a zz b\nyy zz\nb xx ww vv uu tt\n";
    char *path = write_temp(text, strlen(text));
    int32_t *ids;
    size_t n;
    char err[CORPUS_ERR_SIZE];
    ck_assert_int_eq(corpus_tokenize_file(v, path, 0, &ids, &n, err, sizeof err), RNN_ERR_NOTFOUND);
    ck_assert_ptr_null(ids);
    ck_assert_ptr_nonnull(strstr(err, path));
    ck_assert_ptr_nonnull(strstr(err, "8 tokens not in the vocabulary"));
    ck_assert_ptr_nonnull(strstr(err, "\"zz\" (line 1), \"yy\" (line 2), \"xx\" (line 3), \"ww\" (line 3), \"vv\" (line 3), ..."));
    ck_assert_ptr_null(strstr(err, "uu"));
    ck_assert_int_eq(vocab_size(v), 3); /* unchanged */

    /* With <unk>: unknown words map to it, the vocabulary does not change. */
    ck_assert_int_eq(vocab_add(v, "<unk>", 5, &id), RNN_OK);
    ck_assert_int_eq(id, 3);
    ck_assert_int_eq(corpus_tokenize_file(v, path, 0, &ids, &n, err, sizeof err), RNN_OK);
    const int32_t want[] = {0, 3, 2, 1, 3, 3, 1, 2, 3, 3, 3, 3, 3, 1};
    ck_assert_uint_eq(n, 14);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(ids[i], want[i]);
    ck_assert_int_eq(vocab_size(v), 4);
    free(ids);
    remove_temp(path);

    /* Even <eos> can be unknown (a vocabulary from elsewhere). */
    corpus_vocab *w;
    ck_assert_int_eq(vocab_create(&w), RNN_OK);
    ck_assert_int_eq(vocab_add(w, "a", 1, &id), RNN_OK);
    path = write_temp("a\na", 3);
    ck_assert_int_eq(corpus_tokenize_file(w, path, 0, &ids, &n, err, sizeof err), RNN_ERR_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "2 tokens"));
    ck_assert_ptr_nonnull(strstr(err, "\"<eos>\" (line 1)"));
    remove_temp(path);
    vocab_free(w);
    vocab_free(v);
}
END_TEST

/* ---- batching ---------------------------------------------------------------------------------- */

static void expect_chunk(const corpus_batches *b, size_t k, int steps, const int32_t *tok,
                         const int32_t *tgt)
{
    int32_t tokens[64], targets[64];
    int s = -1;
    ck_assert_int_eq(corpus_batches_steps(b, k), steps);
    ck_assert_int_eq(corpus_batches_get(b, k, tokens, targets, &s), RNN_OK);
    ck_assert_int_eq(s, steps);
    for (int i = 0; i < b->batch * steps; i++) {
        ck_assert_msg(tokens[i] == tok[i], "chunk %zu tokens[%d] = %d, want %d", k, i, tokens[i], tok[i]);
        ck_assert_msg(targets[i] == tgt[i], "chunk %zu targets[%d] = %d, want %d", k, i, targets[i], tgt[i]);
    }
    ck_assert_int_eq(corpus_batches_get(b, k, tokens, NULL, NULL), RNN_OK);
}

START_TEST(test_batch_main)
{
    int32_t data[26];
    for (int i = 0; i < 26; i++) data[i] = i;
    corpus_batches b;
    char err[CORPUS_ERR_SIZE];

    /* bsz 4, bptt 3: nbatch 6 (24 used); streams 0..5, 6..11, 12..17, 18..23;
       i in range(0, 5, 3) = 0, 3 -> steps 3, then min(3, 6-1-3) = 2. */
    ck_assert_int_eq(corpus_batches_init(&b, data, 26, 4, 3, CORPUS_BATCH_MAIN, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(b.stream_len, 6);
    ck_assert_uint_eq(b.num_chunks, 2);
    const int32_t tok0[] = {0, 1, 2, /**/ 6, 7, 8, /**/ 12, 13, 14, /**/ 18, 19, 20};
    const int32_t tgt0[] = {1, 2, 3, /**/ 7, 8, 9, /**/ 13, 14, 15, /**/ 19, 20, 21};
    const int32_t tok1[] = {3, 4, /**/ 9, 10, /**/ 15, 16, /**/ 21, 22};
    const int32_t tgt1[] = {4, 5, /**/ 10, 11, /**/ 16, 17, /**/ 22, 23};
    expect_chunk(&b, 0, 3, tok0, tgt0);
    expect_chunk(&b, 1, 2, tok1, tgt1);
    ck_assert_int_eq(corpus_batches_steps(&b, 2), 0);
    int32_t buf[64];
    ck_assert_int_eq(corpus_batches_get(&b, 2, buf, buf, NULL), RNN_ERR_INVALID);
    ck_assert_uint_eq(corpus_batches_eval_denominator(&b), 5);

    /* bsz 2, bptt 5: nbatch 13 (all 26 used); streams 0..12, 13..25; i = 0, 5, 10 -> 5, 5, 2.
       Targets cross chunk boundaries (chunk 0's last target is chunk 1's first token). */
    ck_assert_int_eq(corpus_batches_init(&b, data, 26, 2, 5, CORPUS_BATCH_MAIN, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(b.num_chunks, 3);
    const int32_t t0[] = {0, 1, 2, 3, 4, /**/ 13, 14, 15, 16, 17};
    const int32_t g0[] = {1, 2, 3, 4, 5, /**/ 14, 15, 16, 17, 18};
    const int32_t t1[] = {5, 6, 7, 8, 9, /**/ 18, 19, 20, 21, 22};
    const int32_t g1[] = {6, 7, 8, 9, 10, /**/ 19, 20, 21, 22, 23};
    const int32_t t2[] = {10, 11, /**/ 23, 24};
    const int32_t g2[] = {11, 12, /**/ 24, 25};
    expect_chunk(&b, 0, 5, t0, g0);
    expect_chunk(&b, 1, 5, t1, g1);
    expect_chunk(&b, 2, 2, t2, g2);
    ck_assert_uint_eq(corpus_batches_eval_denominator(&b), 12);

    /* (nbatch - 1) a multiple of bptt: no short chunk. bsz 5, bptt 4: nbatch 5, i = 0 -> 4. */
    ck_assert_int_eq(corpus_batches_init(&b, data, 26, 5, 4, CORPUS_BATCH_MAIN, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(b.num_chunks, 1);
    const int32_t t3[] = {0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18, 20, 21, 22, 23};
    const int32_t g3[] = {1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17, 18, 19, 21, 22, 23, 24};
    expect_chunk(&b, 0, 4, t3, g3);

    /* The smallest corpus: nbatch 2 -> one chunk of one step. Too small: an error. */
    ck_assert_int_eq(corpus_batches_init(&b, data, 26, 13, 35, CORPUS_BATCH_MAIN, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(b.num_chunks, 1);
    ck_assert_int_eq(corpus_batches_steps(&b, 0), 1);
    ck_assert_int_eq(corpus_batches_init(&b, data, 26, 14, 35, CORPUS_BATCH_MAIN, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "too few"));
    ck_assert_int_eq(corpus_batches_init(&b, data, 26, 0, 35, CORPUS_BATCH_MAIN, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_int_eq(corpus_batches_init(&b, data, 26, 2, 0, CORPUS_BATCH_MAIN, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_int_eq(corpus_batches_init(&b, data, 26, 2, 3, 7, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_int_eq(corpus_batches_init(&b, NULL, 26, 2, 3, CORPUS_BATCH_MAIN, err, sizeof err), RNN_ERR_INVALID);
}
END_TEST

START_TEST(test_batch_seed)
{
    int32_t data[26];
    for (int i = 0; i < 26; i++) data[i] = i;
    corpus_batches b;
    char err[CORPUS_ERR_SIZE];
    const int32_t I = RNN_IGNORE;

    /* bsz 4, bptt 3: length 24, reshape(4, 2, 3): stream b = data[6b .. 6b+5]; 2 chunks of 3;
       targets shifted within the chunk, the last position ignored. */
    ck_assert_int_eq(corpus_batches_init(&b, data, 26, 4, 3, CORPUS_BATCH_SEED, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(b.num_chunks, 2);
    ck_assert_uint_eq(b.stream_len, 6);
    const int32_t tok0[] = {0, 1, 2, /**/ 6, 7, 8, /**/ 12, 13, 14, /**/ 18, 19, 20};
    const int32_t tgt0[] = {1, 2, I, /**/ 7, 8, I, /**/ 13, 14, I, /**/ 19, 20, I};
    const int32_t tok1[] = {3, 4, 5, /**/ 9, 10, 11, /**/ 15, 16, 17, /**/ 21, 22, 23};
    const int32_t tgt1[] = {4, 5, I, /**/ 10, 11, I, /**/ 16, 17, I, /**/ 22, 23, I};
    expect_chunk(&b, 0, 3, tok0, tgt0);
    expect_chunk(&b, 1, 3, tok1, tgt1);
    ck_assert_int_eq(corpus_batches_steps(&b, 2), 0);
    ck_assert_uint_eq(corpus_batches_eval_denominator(&b), 6);

    /* bsz 2, bptt 5: length 20, stream 0 = 0..9, stream 1 = 10..19; 2 chunks of 5 (24, 25 and
       20..23 dropped). */
    ck_assert_int_eq(corpus_batches_init(&b, data, 26, 2, 5, CORPUS_BATCH_SEED, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(b.num_chunks, 2);
    const int32_t t0[] = {0, 1, 2, 3, 4, /**/ 10, 11, 12, 13, 14};
    const int32_t g0[] = {1, 2, 3, 4, I, /**/ 11, 12, 13, 14, I};
    const int32_t t1[] = {5, 6, 7, 8, 9, /**/ 15, 16, 17, 18, 19};
    const int32_t g1[] = {6, 7, 8, 9, I, /**/ 16, 17, 18, 19, I};
    expect_chunk(&b, 0, 5, t0, g0);
    expect_chunk(&b, 1, 5, t1, g1);

    /* bptt 1: every target ignored. Too small: an error. */
    ck_assert_int_eq(corpus_batches_init(&b, data, 26, 26, 1, CORPUS_BATCH_SEED, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(b.num_chunks, 1);
    int32_t tokens[26], targets[26];
    ck_assert_int_eq(corpus_batches_get(&b, 0, tokens, targets, NULL), RNN_OK);
    for (int i = 0; i < 26; i++) {
        ck_assert_int_eq(tokens[i], i);
        ck_assert_int_eq(targets[i], I);
    }
    ck_assert_int_eq(corpus_batches_init(&b, data, 26, 3, 9, CORPUS_BATCH_SEED, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "too few"));
}
END_TEST

/* ---- rnn_vocab_encode against the corpus pipeline --------------------------------------------- */

/* Encodes every line of a file with rnn_vocab_encode and checks the ids against what
   corpus_tokenize_file gave for the whole file. */
typedef struct enc_check {
    rnn_model *m;
    unsigned flags;
    const int32_t *want;
    size_t n, at;
    size_t unknown;
} enc_check;

static int enc_line(void *user, const char *line, size_t len, unsigned long long lineno)
{
    enc_check *c = user;
    size_t count = 0, unknown = 0;
    int rc = rnn_vocab_encode(c->m, line, len, c->flags, NULL, 0, &count, &unknown);
    /* measuring (ids NULL, cap 0): RNN_ERR_SIZE or RNN_OK, the header leaves it open; the count is given */
    ck_assert_msg((rc == RNN_ERR_SIZE || rc == RNN_OK) && count >= 1, "line %llu: measuring gives %d, count %zu (%s)",
                  lineno, rc, count, rnn_model_errmsg(c->m));
    int32_t *ids = malloc(count * sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    size_t count2 = 0;
    rc = rnn_vocab_encode(c->m, line, len, c->flags, ids, count, &count2, &unknown);
    ck_assert_msg(rc == RNN_OK && count2 == count, "line %llu: %d (%s)", lineno, rc, rnn_model_errmsg(c->m));
    ck_assert_msg(c->at + count <= c->n, "line %llu: more ids than the corpus reader gave", lineno);
    for (size_t i = 0; i < count; i++)
        ck_assert_msg(ids[i] == c->want[c->at + i], "line %llu, token %zu: rnn_vocab_encode %d, corpus %d", lineno, i,
                      ids[i], c->want[c->at + i]);
    c->at += count;
    c->unknown += unknown;
    free(ids);
    return RNN_OK;
}

/* A model (as small as can be) carrying the corpus vocabulary. */
static rnn_model *model_with_vocab(const corpus_vocab *v)
{
    int V = vocab_size(v);
    rnn_config cfg;
    ck_assert_int_eq(rnn_config_init(&cfg, sizeof cfg), RNN_OK);
    cfg.vocab_size = V, cfg.emb_size = 1, cfg.hidden_size = 1, cfg.num_layers = 1;
    rnn_model *m = NULL;
    char err[256];
    ck_assert_msg(rnn_model_create(&m, &cfg, NULL, err, sizeof err) == RNN_OK, "%s", err);
    const char **words = malloc(sizeof *words * (size_t)V);
    ck_assert_ptr_nonnull(words);
    for (int i = 0; i < V; i++) words[i] = vocab_word(v, i);
    ck_assert_msg(rnn_vocab_set(m, words, V) == RNN_OK, "%s", rnn_model_errmsg(m));
    free(words);
    return m;
}

static void encode_file_like_corpus(rnn_model *m, const char *path, unsigned flags, const int32_t *want, size_t n,
                                    size_t *unknown)
{
    enc_check c = {m, flags, want, n, 0, 0};
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char err[CORPUS_ERR_SIZE];
    int rc = corpus_read_lines(f, path, enc_line, &c, err, sizeof err);
    fclose(f);
    ck_assert_msg(rc == RNN_OK, "%s", err);
    ck_assert_uint_eq(c.at, n);
    if (unknown) *unknown = c.unknown;
}

/* rnn_vocab_encode(line, RNN_ENCODE_EOS) of every line gives what data.py (the corpus reader)
   gives for the file: Unicode whitespace, CR LF and CR, blank and whitespace-only lines, no final
   newline; and with RNN_ENCODE_UNK_MAP what it gives with a fixed vocabulary holding "<unk>". */
START_TEST(test_encode_matches_corpus)
{
    const char text[] = "the cat\tsat\n\n   \n  \xc2\xa0 na\xc3\xafve\xe2\x86\x92\xe5\xad\x97\xf0\x9f\x98\x80 x\x1cy\r\n"
                        "a\xe2\x80\x83" "b\rc d\xe2\x80\x8b" "e \xe3\x80\x80the\x0b\x0c" "cat\xc2\x85<eos> <unk>\n"
                        "last line without newline";
    char *path = write_temp(text, sizeof text - 1);
    corpus_vocab *v;
    ck_assert_int_eq(vocab_create(&v), RNN_OK);
    int32_t *ids;
    size_t n;
    char err[CORPUS_ERR_SIZE];
    ck_assert_int_eq(corpus_tokenize_file(v, path, 1, &ids, &n, err, sizeof err), RNN_OK);
    rnn_model *m = model_with_vocab(v);
    size_t unknown = 99;
    encode_file_like_corpus(m, path, RNN_ENCODE_EOS, ids, n, &unknown);
    ck_assert_uint_eq(unknown, 0);
    free(ids);

    /* a fixed vocabulary: unknown words become <unk> in both */
    const char other[] = "the zebra sat\n\xe2\x80\x83 quokka cat\r\nna\xc3\xafve\xe2\x86\x92\xe5\xad\x97\xf0\x9f\x98\x80 on mat\n";
    char *path2 = write_temp(other, sizeof other - 1);
    ck_assert_int_eq(corpus_tokenize_file(v, path2, 0, &ids, &n, err, sizeof err), RNN_OK);
    encode_file_like_corpus(m, path2, RNN_ENCODE_EOS | RNN_ENCODE_UNK_MAP, ids, n, &unknown);
    ck_assert_uint_eq(unknown, 4); /* zebra, quokka, on, mat */
    free(ids);
    rnn_model_free(m);
    vocab_free(v);
    remove_temp(path);
    remove_temp(path2);
}
END_TEST

/* ---- WikiText-2 ----------------------------------------------------------------------------- */

START_TEST(test_wikitext2)
{
    const char *root = getenv("RNN_DATA_DIR");
    char dir[1024], probe[1100];
    snprintf(dir, sizeof dir, "%s/wikitext-2", root ? root : "");
    snprintf(probe, sizeof probe, "%s/train.txt", dir);
    if (!root || access(probe, R_OK) != 0) {
        printf("test_wikitext2: skipped (no %s; set RNN_DATA_DIR to the folder holding wikitext-2/)\n",
               root ? probe : "RNN_DATA_DIR");
        return;
    }
    corpus c;
    char err[CORPUS_ERR_SIZE];
    double t0 = now_s();
    int rc = corpus_load_dir(&c, dir, NULL, err, sizeof err);
    double t1 = now_s();
    ck_assert_msg(rc == RNN_OK, "%s", err);
    printf("test_wikitext2: loaded %s in %.3f s\n", dir, t1 - t0);
    ck_assert_uint_eq(c.n_train, 2088628);
    ck_assert_uint_eq(c.n_valid, 217646);
    ck_assert_uint_eq(c.n_test, 245569);
    ck_assert_int_eq(vocab_size(c.vocab), 33278);
    /* The file starts with an empty line " \n", so <eos> is id 0 (as in the Porch type.info). */
    ck_assert_str_eq(vocab_word(c.vocab, 0), "<eos>");
    ck_assert_int_eq(c.train[0], 0);
    ck_assert_int_ge(vocab_lookup(c.vocab, "<unk>", 5), 0);
    ck_assert_int_eq(c.train[c.n_train - 1], 0);

    /* main.py's shapes: train batchify(20) with bptt 35; evaluate() with batch 10. */
    corpus_batches b;
    ck_assert_int_eq(corpus_batches_init(&b, c.train, c.n_train, 20, 35, CORPUS_BATCH_MAIN, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(b.stream_len, 104431);
    ck_assert_uint_eq(b.num_chunks, 2984); /* ceil(104430 / 35) */
    ck_assert_int_eq(corpus_batches_steps(&b, 2983), 104430 - 2983 * 35);
    ck_assert_int_eq(corpus_batches_init(&b, c.valid, c.n_valid, 10, 35, CORPUS_BATCH_MAIN, err, sizeof err), RNN_OK);
    size_t sum = 0;
    for (size_t k = 0; k < b.num_chunks; k++) sum += (size_t)corpus_batches_steps(&b, k);
    ck_assert_uint_eq(sum, 21763);
    ck_assert_uint_eq(corpus_batches_eval_denominator(&b), 21763);

    /* rnn_vocab_encode(line, RNN_ENCODE_EOS) of every line of valid.txt gives the corpus ids */
    rnn_model *m = model_with_vocab(c.vocab);
    snprintf(probe, sizeof probe, "%s/valid.txt", dir);
    encode_file_like_corpus(m, probe, RNN_ENCODE_EOS, c.valid, c.n_valid, NULL);
    rnn_model_free(m);
    corpus_free(&c);
}
END_TEST

/* corpus_vocab_build (rnnlm train --vocab-size / --min-count): <unk> first, then by descending
   count, ties by first occurrence; the cuts; valid/test words outside it map to <unk>, counted. */
static void expect_vocab(const corpus_vocab *v, const char *words)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", words);
    int32_t i = 0;
    for (char *w = strtok(buf, " "); w; w = strtok(NULL, " "), i++) {
        ck_assert_msg(i < vocab_size(v), "vocabulary too short at '%s'", w);
        ck_assert_str_eq(vocab_word(v, i), w);
    }
    ck_assert_int_eq(vocab_size(v), i);
}

START_TEST(test_vocab_build)
{
    char dir[] = "/tmp/test_corpus_vb_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* counts: <eos> 4, a 3, c 3 (a first), b 2, d 1, e 1 (d first) */
    write_file(dir, "train.txt", "d b a\nc a\nc b e\nc a\n");
    write_file(dir, "valid.txt", "a z z\n");
    write_file(dir, "test.txt", "e y\n\n");
    char path[512], err[CORPUS_ERR_SIZE];
    snprintf(path, sizeof path, "%s/train.txt", dir);
    corpus_vocab *v = NULL;
    size_t nw = 0;
    ck_assert_int_eq(corpus_vocab_build(path, 0, 0, &v, &nw, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(nw, 6);
    expect_vocab(v, "<unk> <eos> a c b d e");
    vocab_free(v);
    ck_assert_int_eq(corpus_vocab_build(path, 4, 0, &v, NULL, err, sizeof err), RNN_OK);
    expect_vocab(v, "<unk> <eos> a c");
    vocab_free(v);
    ck_assert_int_eq(corpus_vocab_build(path, 0, 2, &v, NULL, err, sizeof err), RNN_OK);
    expect_vocab(v, "<unk> <eos> a c b");
    vocab_free(v);
    ck_assert_int_eq(corpus_vocab_build(path, 3, 2, &v, NULL, err, sizeof err), RNN_OK);
    expect_vocab(v, "<unk> <eos> a");
    vocab_free(v);
    ck_assert_int_eq(corpus_vocab_build(path, 1, 0, &v, NULL, err, sizeof err), RNN_OK);
    expect_vocab(v, "<unk>");
    vocab_free(v);

    /* the corpus over it: the words outside map to <unk> (id 0) and are counted per file */
    ck_assert_int_eq(corpus_vocab_build(path, 5, 0, &v, NULL, err, sizeof err), RNN_OK);
    corpus c;
    ck_assert_int_eq(corpus_load_dir(&c, dir, v, err, sizeof err), RNN_OK);
    const int32_t train[] = {0, 4, 2, 1, 3, 2, 1, 3, 4, 0, 1, 3, 2, 1};
    const int32_t valid[] = {2, 0, 0, 1}, test[] = {0, 0, 1, 1};
    ck_assert_uint_eq(c.n_train, 14);
    for (int i = 0; i < 14; i++) ck_assert_int_eq(c.train[i], train[i]);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(c.valid[i], valid[i]);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(c.test[i], test[i]);
    ck_assert_uint_eq(c.unk_train, 2);
    ck_assert_uint_eq(c.unk_valid, 2);
    ck_assert_uint_eq(c.unk_test, 2);
    corpus_free(&c);
    /* data.py's vocabulary over the three files: nothing maps to <unk> */
    ck_assert_int_eq(corpus_load_dir(&c, dir, NULL, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(c.unk_train + c.unk_valid + c.unk_test, 0);
    corpus_free(&c);

    /* a literal <unk> of the text is id 0 (not counted as mapped) and takes no extra place */
    write_file(dir, "train.txt", "<unk> <unk> <unk> <unk> x\nx y\n");
    ck_assert_int_eq(corpus_vocab_build(path, 3, 0, &v, NULL, err, sizeof err), RNN_OK);
    expect_vocab(v, "<unk> x <eos>"); /* x and <eos> twice each: x came first */
    ck_assert_int_eq(corpus_load_dir(&c, dir, v, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(c.unk_train, 1); /* y */
    corpus_free(&c);
    /* a vocabulary without <eos>: every <eos> maps to <unk> and counts */
    ck_assert_int_eq(corpus_vocab_build(path, 1, 0, &v, NULL, err, sizeof err), RNN_OK);
    ck_assert_int_eq(corpus_load_dir(&c, dir, v, err, sizeof err), RNN_OK);
    ck_assert_uint_eq(c.unk_train, 5); /* x, x, y and two <eos>; not the four literal <unk> */
    corpus_free(&c);

    /* a missing file: the error names it; nothing returned */
    remove_file(dir, "train.txt");
    v = (corpus_vocab *)1;
    ck_assert_int_eq(corpus_vocab_build(path, 0, 0, &v, NULL, err, sizeof err), RNN_ERR_IO);
    ck_assert_ptr_null(v);
    ck_assert_ptr_nonnull(strstr(err, "train.txt"));
    ck_assert_int_eq(corpus_vocab_build(path, -1, 0, &v, NULL, err, sizeof err), RNN_ERR_INVALID);
    remove_file(dir, "valid.txt");
    remove_file(dir, "test.txt");
    rmdir(dir);
}
END_TEST

/* corpus_batches_head (--max-eval-batches): the first chunks, identical, with the denominator of
   their steps, in both modes. */
START_TEST(test_batch_head)
{
    int32_t data[101];
    for (int i = 0; i < 101; i++) data[i] = i * 7 % 101;
    char err[CORPUS_ERR_SIZE];
    for (int mode = CORPUS_BATCH_MAIN; mode <= CORPUS_BATCH_SEED; mode++) {
        corpus_batches b, h;
        int32_t *copy = NULL;
        ck_assert_int_eq(corpus_batches_init(&b, data, 101, 3, 4, mode, err, sizeof err), RNN_OK);
        ck_assert_uint_ge(b.num_chunks, 5);
        for (size_t max = 1; max < b.num_chunks; max++) {
            ck_assert_int_eq(corpus_batches_head(&b, max, &h, &copy, err, sizeof err), RNN_OK);
            ck_assert_ptr_nonnull(copy);
            ck_assert_uint_eq(h.num_chunks, max);
            size_t steps = 0;
            for (size_t k = 0; k < max; k++) {
                int32_t t1[12], g1[12], t2[12], g2[12];
                int s1 = 0, s2 = 0;
                ck_assert_int_eq(corpus_batches_get(&b, k, t1, g1, &s1), RNN_OK);
                ck_assert_int_eq(corpus_batches_get(&h, k, t2, g2, &s2), RNN_OK);
                ck_assert_int_eq(s1, s2);
                ck_assert_mem_eq(t1, t2, (size_t)(3 * s1) * sizeof *t1);
                ck_assert_mem_eq(g1, g2, (size_t)(3 * s1) * sizeof *g1);
                steps += (size_t)s1;
            }
            ck_assert_uint_eq(corpus_batches_eval_denominator(&h), steps);
            free(copy);
        }
        /* 0 or at least all chunks: the view itself, no copy */
        for (size_t max = 0; max <= b.num_chunks + 1; max += b.num_chunks) {
            copy = (int32_t *)1;
            ck_assert_int_eq(corpus_batches_head(&b, max, &h, &copy, err, sizeof err), RNN_OK);
            ck_assert_ptr_null(copy);
            ck_assert_ptr_eq(h.data, b.data);
            ck_assert_uint_eq(h.num_chunks, b.num_chunks);
        }
    }
}
END_TEST

static Suite *corpus_suite(void)
{
    Suite *s = suite_create("corpus");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_vocab_basic);
    tcase_add_test(tc, test_tok_basic_and_empty_lines);
    tcase_add_test(tc, test_tok_no_trailing_newline);
    tcase_add_test(tc, test_tok_crlf_and_cr);
    tcase_add_test(tc, test_tok_whitespace);
    tcase_add_test(tc, test_tok_long_lines);
    tcase_add_test(tc, test_tok_invalid_utf8);
    tcase_add_test(tc, test_tok_missing_and_empty);
    tcase_add_test(tc, test_dir_order);
    tcase_add_test(tc, test_unknown_words);
    tcase_add_test(tc, test_encode_matches_corpus);
    tcase_add_test(tc, test_batch_main);
    tcase_add_test(tc, test_batch_seed);
    tcase_add_test(tc, test_vocab_build);
    tcase_add_test(tc, test_batch_head);
    tcase_add_test(tc, test_wikitext2);
    suite_add_tcase(s, tc);
    return s;
}

/* ---- corpus_read_lines: the per-line entry point ------------------------------------------------ */

#include <signal.h>
#include <sys/wait.h>

/* Collects lines as "lineno:text|" (text up to 40 bytes, then "...<len>"), checking the NUL. */
typedef struct line_log {
    char buf[4096];
    size_t used;
    unsigned long long lines;
    unsigned long long stop_at; /* return 42 at this line (0: never) */
    int ack_fd;                 /* >= 0: write a byte here after line 1 */
} line_log;

static int log_line(void *user, const char *line, size_t len, unsigned long long lineno)
{
    line_log *g = user;
    ck_assert_int_eq(line[len], '\0');
    ck_assert_uint_eq(strlen(line), len);
    ck_assert_uint_eq(lineno, g->lines + 1);
    g->lines = lineno;
    int w = len <= 40 ? snprintf(g->buf + g->used, sizeof g->buf - g->used, "%llu:%s|", lineno, line)
                      : snprintf(g->buf + g->used, sizeof g->buf - g->used, "%llu:%.40s...%zu|", lineno, line, len);
    ck_assert(w > 0 && (size_t)w < sizeof g->buf - g->used);
    g->used += (size_t)w;
    if (g->ack_fd >= 0 && lineno == 1) ck_assert_int_eq(write(g->ack_fd, "k", 1), 1);
    return lineno == g->stop_at ? 42 : 0;
}

/* Reads bytes through corpus_read_lines three ways (a regular file, a memory stream, a pipe fed by
   a child process), which must give the same status, message and lines; returns the status and
   writes the lines (line_log's form) and the message. */
static int read_three_ways(const void *bytes, size_t len, unsigned long long stop_at, char *log, size_t logsz,
                           char *msg, size_t msgsz)
{
    int rc0 = -1;
    for (int way = 0; way < 3; way++) {
        FILE *f = NULL;
        char *path = NULL;
        pid_t child = -1;
        if (way == 0) {
            path = write_temp(bytes, len);
            f = fopen(path, "rb");
        } else if (way == 1) {
            f = len ? fmemopen((void *)bytes, len, "rb") : fopen("/dev/null", "rb");
        } else {
            int fd[2];
            ck_assert_int_eq(pipe(fd), 0);
            child = fork();
            ck_assert_int_ge(child, 0);
            if (child == 0) {
                close(fd[0]);
                signal(SIGPIPE, SIG_IGN); /* the reader may stop early (stop_at) */
                const char *p = bytes;
                for (size_t done = 0; done < len;) { /* in odd pieces */
                    size_t piece = len - done < 777 ? len - done : 777;
                    ssize_t w = write(fd[1], p + done, piece);
                    if (w <= 0) _exit(1);
                    done += (size_t)w;
                }
                _exit(0);
            }
            close(fd[1]);
            f = fdopen(fd[0], "rb");
        }
        ck_assert_ptr_nonnull(f);
        line_log g;
        memset(&g, 0, sizeof g);
        g.stop_at = stop_at;
        g.ack_fd = -1;
        char err[CORPUS_ERR_SIZE] = "x";
        int rc = corpus_read_lines(f, "NAME", log_line, &g, err, sizeof err);
        fclose(f);
        if (child > 0) waitpid(child, NULL, 0);
        if (path) remove_temp(path);
        if (way == 0) {
            rc0 = rc;
            snprintf(log, logsz, "%s", g.buf);
            snprintf(msg, msgsz, "%s", err);
        } else {
            ck_assert_msg(rc == rc0, "way %d: status %d, the file gave %d", way, rc, rc0);
            ck_assert_msg(strcmp(g.buf, log) == 0, "way %d: lines %s, the file gave %s", way, g.buf, log);
            ck_assert_msg(strcmp(err, msg) == 0, "way %d: message %s, the file gave %s", way, err, msg);
        }
    }
    return rc0;
}

static void expect_lines(const char *text, size_t len, const char *want)
{
    char log[4096], msg[CORPUS_ERR_SIZE];
    int rc = read_three_ways(text, len, 0, log, sizeof log, msg, sizeof msg);
    ck_assert_msg(rc == RNN_OK, "status %d: %s", rc, msg);
    ck_assert_str_eq(msg, "");
    ck_assert_str_eq(log, want);
}

static void expect_lines_error(const char *text, size_t len, int code, const char *want_lines, const char *want_msg)
{
    char log[4096], msg[CORPUS_ERR_SIZE];
    int rc = read_three_ways(text, len, 0, log, sizeof log, msg, sizeof msg);
    ck_assert_int_eq(rc, code);
    ck_assert_str_eq(log, want_lines);
    ck_assert_str_eq(msg, want_msg);
}

START_TEST(test_lines_terminators)
{
    /* "\n", "\r\n" and a lone "\r"; the last line without a terminator still counts */
    expect_lines("a b\r\nc\rd\n\ne", 11, "1:a b|2:c|3:d|4:|5:e|");
    expect_lines("x\r", 2, "1:x|");
    expect_lines("\r\n", 2, "1:|");
    expect_lines("a\r\r\nb", 5, "1:a|2:|3:b|");
    expect_lines("a\n\r\n\r", 5, "1:a|2:|3:|");
    expect_lines("  \t", 3, "1:  \t|");
    expect_lines("caf\xc3\xa9\xe2\x80\xa8x\n", 10, "1:caf\xc3\xa9\xe2\x80\xa8x|"); /* U+2028 ends no line */
    /* the errors, with the name given */
    expect_lines_error("", 0, RNN_ERR_FORMAT, "", "NAME: file is empty");
    expect_lines_error("ab\r\n\xff", 5, RNN_ERR_FORMAT, "1:ab|",
                       "NAME:2: invalid UTF-8 at byte offset 4 (byte 0xFF): invalid start byte");
    expect_lines_error("ok\r\xe2\x82", 5, RNN_ERR_FORMAT, "1:ok|",
                       "NAME:2: invalid UTF-8 at byte offset 3 (byte 0xE2): unexpected end of data");
    expect_lines_error("\xe2\x82\n", 3, RNN_ERR_FORMAT, "",
                       "NAME:1: invalid UTF-8 at byte offset 0 (byte 0xE2): invalid continuation byte");
    expect_lines_error("a\nb\0", 4, RNN_ERR_FORMAT, "1:a|", "NAME:2: NUL byte at byte offset 3 (not a text file?)");
    /* the callback stops the reading with its own status */
    char log[4096], msg[CORPUS_ERR_SIZE];
    ck_assert_int_eq(read_three_ways("1\n2\n3\n", 6, 2, log, sizeof log, msg, sizeof msg), 42);
    ck_assert_str_eq(log, "1:1|2:2|");
    /* NULL arguments */
    ck_assert_int_eq(corpus_read_lines(NULL, "x", log_line, NULL, msg, sizeof msg), RNN_ERR_INVALID);
    ck_assert_int_eq(corpus_read_lines(stdin, "x", NULL, NULL, NULL, 0), RNN_ERR_INVALID);
}
END_TEST

START_TEST(test_lines_long_and_pipe)
{
    /* Lines longer than the 64 KiB read chunk: the "\r" of a "\r\n" is a chunk's last byte and
       the "\n" the next one's first; a 2-byte character straddles the next chunk edge; no final
       terminator. The same from a file, a memory stream and a pipe. */
    size_t n1 = (size_t)1 << 16, n2 = 200000;
    char *text = malloc(n1 + n2 + 64);
    memset(text, 'a', n1 - 1);
    memcpy(text + n1 - 1, "\r\n", 2);
    size_t p = n1 + 1;
    memcpy(text + p, "x\r", 2);
    p += 2;
    memset(text + p, 'b', n2);
    memcpy(text + 2 * n1 - 1, "\xc3\xa9", 2);
    p += n2;
    memcpy(text + p, "\nz", 2);
    p += 2;
    char want[256];
    snprintf(want, sizeof want, "1:%.40s...%zu|2:x|3:%.40s...%zu|4:z|", text, n1 - 1, text + n1 + 3, n2);
    expect_lines(text, p, want);
    free(text);
}
END_TEST

/* A pipe is read line by line: the first line is handed on before the writer sends the second,
   which it does only once the reader has acknowledged the first. */
START_TEST(test_lines_pipe_streams)
{
    int data[2], ack[2];
    ck_assert_int_eq(pipe(data), 0);
    ck_assert_int_eq(pipe(ack), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        close(data[0]);
        close(ack[1]);
        signal(SIGALRM, SIG_DFL); /* not Check's handler */
        alarm(20);                /* a reader that waited for more than the first line would hang */
        char c;
        if (write(data[1], "first\r", 6) != 6 || read(ack[0], &c, 1) != 1) _exit(1);
        if (write(data[1], "\nsecond", 7) != 7) _exit(1);
        _exit(0);
    }
    close(data[1]);
    close(ack[0]);
    signal(SIGPIPE, SIG_IGN); /* a writer gone: a failed check, not a dead test */
    FILE *f = fdopen(data[0], "rb");
    ck_assert_ptr_nonnull(f);
    line_log g;
    memset(&g, 0, sizeof g);
    g.ack_fd = ack[1];
    char err[CORPUS_ERR_SIZE];
    ck_assert_int_eq(corpus_read_lines(f, "-", log_line, &g, err, sizeof err), RNN_OK);
    fclose(f);
    close(ack[1]);
    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer status %d", status);
    ck_assert_str_eq(g.buf, "1:first|2:second|");
}
END_TEST

static TCase *lines_tcase(void)
{
    TCase *tc = tcase_create("lines");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_lines_terminators);
    tcase_add_test(tc, test_lines_long_and_pipe);
    tcase_add_test(tc, test_lines_pipe_streams);
    return tc;
}

int main(void)
{
    Suite *s = corpus_suite();
    suite_add_tcase(s, lines_tcase());
    return tu_run(s);
}
