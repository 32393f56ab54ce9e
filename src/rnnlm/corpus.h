/*
 * corpus.h -- the corpus pipeline of rnnlm: vocabulary, tokenizer and batching, exactly as
 * PyTorch's examples/word_language_model (data.py, main.py).
 *
 * Conventions
 * - Functions that can fail return RNN_OK (0) or an RNN_ERR_* code from rnn.h and, when err is
 *   not NULL, write a one-line, NUL-terminated message (no trailing newline) into err[0..errsz).
 *   CORPUS_ERR_SIZE bytes is always enough for a useful message. Nothing here prints, exits,
 *   aborts or keeps mutable global state.
 * - Token ids are int32_t in [0, vocab_size). Arrays returned to the caller come from malloc();
 *   release them with free().
 *
 * Lines and tokens (data.py: for line in open(path, encoding="utf8"): line.split() + ['<eos>'])
 * - Text is read as a stream, a line at a time (corpus_read_lines); only the current line (and,
 *   when tokenizing, the id array) is kept in memory, so files may be of any length and lines as
 *   long as memory allows.
 * - Lines end at "\n", "\r\n" or a lone "\r" (Python's universal newlines in text mode). Every
 *   line, including an empty one and a last line without a line terminator, is a line; nothing
 *   after the last terminator is no line. When tokenizing, every line ends with one "<eos>"
 *   token: "a\n\nb" gives a <eos> <eos> b <eos>.
 * - Words are what librnn's rnn_text_next_word() returns for a line (the library's copy of
 *   Python's str.split(), the same split as rnn_vocab_encode()): separated by ASCII \t \v \f
 *   space and \x1c-\x1f, and Unicode U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029,
 *   U+202F, U+205F, U+3000 (UTF-8 encoded); none of these ends a line. Leading/trailing/repeated
 *   whitespace yields no empty words.
 * - The text must be strict UTF-8 as Python's "utf8" codec decodes it (no overlong forms, no
 *   surrogates, nothing above U+10FFFF, no truncated sequence). Otherwise the call fails with
 *   RNN_ERR_FORMAT and a message naming the file, the 1-based line, the 0-based byte offset in
 *   the file and the offending byte, e.g.
 *     "data/train.txt:3: invalid UTF-8 at byte offset 17 (byte 0xFF): invalid start byte".
 *   A UTF-8 byte order mark is kept as part of the first word (Python's "utf8" does the same).
 * - Deliberate deviation: a NUL byte is rejected (RNN_ERR_FORMAT, same message format), since
 *   words are C strings and a NUL almost always means a binary file.
 * - A path that cannot be opened or read: RNN_ERR_IO naming the path and strerror(errno)
 *   ("data/train.txt: cannot open: ...", "...: read error: ...").
 *   An empty file (0 bytes): RNN_ERR_FORMAT ("data/train.txt: file is empty"). data.py would
 *   silently yield no tokens, which makes the training loop divide by zero later.
 */
#ifndef RNNLM_CORPUS_H
#define RNNLM_CORPUS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rnn.h"

#define CORPUS_ERR_SIZE 8192 /* room for paths as long as PATH_MAX: messages never cut them */

/* ---- Vocabulary (data.py's Dictionary): word <-> id, ids in order of first addition --------- */
typedef struct corpus_vocab corpus_vocab;

/* A new, empty vocabulary in *out. RNN_ERR_NOMEM or RNN_ERR_INVALID on failure. */
int vocab_create(corpus_vocab **out);
/* Frees everything; NULL is fine. */
void vocab_free(corpus_vocab *v);
/* The id of word[0..len) (no NUL inside), adding it with the next id if new (*id receives it;
   id may be NULL). RNN_ERR_INVALID for len 0 or a NUL byte, RNN_ERR_NOMEM when out of memory or
   at INT32_MAX words. */
int vocab_add(corpus_vocab *v, const char *word, size_t len, int32_t *id);
/* The id of word[0..len), or -1 if absent. */
int32_t vocab_lookup(const corpus_vocab *v, const char *word, size_t len);
/* Number of words (== the next id). */
int32_t vocab_size(const corpus_vocab *v);
/* The word with this id (NUL-terminated; stable until vocab_free), or NULL if out of range. */
const char *vocab_word(const corpus_vocab *v, int32_t id);

/* ---- Lines ------------------------------------------------------------------------------------ */
/*
 * Called by corpus_read_lines for each line, in order: line[0..len) without its terminator,
 * NUL-terminated (line[len] == '\0'; no NUL inside), valid UTF-8; lineno counts from 1. The bytes
 * are only valid during the call. Return RNN_OK (0) to go on; any other value stops the reading
 * and corpus_read_lines returns it as is (the message is then the callback's to write).
 */
typedef int (*corpus_line_fn)(void *user, const char *line, size_t len, unsigned long long lineno);

/*
 * Reads f from where it stands to its end, one line at a time by the rules above, and calls
 * on_line(user, ...) for every line: a file (fopen "rb"), stdin, a pipe (fdopen). Each line is
 * checked (strict UTF-8, no NUL) before it is handed on. A regular file is read in 64 KiB blocks;
 * anything else (a pipe, a terminal) a line at a time, so that each line is handed on as soon as
 * its terminator has arrived. Nothing is read twice; memory grows only with the longest line.
 * name (the path, or e.g. "-" for stdin; NULL: "(stream)") is used in messages. f is locked
 * during the call and is not closed.
 * Returns RNN_OK when every line was handed on; otherwise (the lines before the failure were):
 *   RNN_ERR_FORMAT  invalid UTF-8 or a NUL byte (messages above: name:line, byte offset from
 *                   where f stood), or no bytes at all ("NAME: file is empty")
 *   RNN_ERR_IO      a read error ("NAME: read error: ...")
 *   RNN_ERR_NOMEM   no memory for a line;  RNN_ERR_INVALID  f or on_line NULL
 *   on_line's value when it returned non-zero (err is then left as on_line wrote it).
 */
int corpus_read_lines(FILE *f, const char *name, corpus_line_fn on_line, void *user, char *err,
                      size_t errsz);

/* ---- Tokenizer -------------------------------------------------------------------------------- */
#define CORPUS_EOS "<eos>"
#define CORPUS_UNK "<unk>"

/*
 * Tokenizes the file at path (rules above) into *ids (malloc'd, *n entries, n >= 1).
 * add_words != 0: new words are added to v in order of first occurrence (data.py). A word longer
 *   than a model's vocabulary may hold (librnn's RNN_LIMIT_WORD_BYTES, 1 MiB) fails with
 *   RNN_ERR_FORMAT and a message naming the file and the line.
 * add_words == 0: v is not changed; a word that is not in v maps to the id of "<unk>" when v has
 *   "<unk>", otherwise the call fails with RNN_ERR_NOTFOUND and a message giving the number of
 *   unknown tokens and the first few distinct unknown words with their lines (rnnlm eval).
 * The file is read with corpus_read_lines and every line split with rnn_text_next_word.
 * On failure *ids is NULL and *n is 0; with add_words != 0, words added before the failure stay
 * in v (nothing of a line with invalid UTF-8 or a NUL byte: lines are checked before the split).
 */
int corpus_tokenize_file(corpus_vocab *v, const char *path, int add_words, int32_t **ids,
                         size_t *n, char *err, size_t errsz);

/* Called after each line is tokenized: the line (as corpus_line_fn gets it) and the number of
   ids it gave (its words and <eos>; 0 once an unknown word was seen in lookup mode without
   <unk>). A nonzero return stops the read with that status (err is then the callback's). */
typedef int (*corpus_tokens_fn)(void *user, const char *line, size_t len, size_t ntokens);

/* corpus_tokenize_file over an open stream f (regular file, pipe or stdin; read once, not closed),
   named `name` in messages, calling on_line (may be NULL) after every line. */
int corpus_tokenize_stream(corpus_vocab *v, FILE *f, const char *name, int add_words, corpus_tokens_fn on_line,
                           void *user, int32_t **ids, size_t *n, char *err, size_t errsz);

/* ---- A data directory (data.py's Corpus) ------------------------------------------------------ */
typedef struct corpus {
    corpus_vocab *vocab;        /* train, then valid, then test words, in order of first occurrence */
    int32_t *train, *valid, *test;
    size_t n_train, n_valid, n_test;
    /* the tokens of each file mapped to <unk> (words missing from a given vocabulary; a literal
       <unk> of the text is not counted); 0 when the vocabulary was built over the three files */
    size_t unk_train, unk_valid, unk_test;
} corpus;

/*
 * Loads dir/train.txt, dir/valid.txt and dir/test.txt (all three must exist) into c. v NULL:
 * builds the vocabulary over the three in that order (data.py); otherwise the words are looked up
 * in v (unknown words to <unk>, as corpus_tokenize_file with add_words 0), and c takes v over
 * (corpus_free frees it, also when this call fails). On failure c is left all zero/NULL. Release
 * with corpus_free().
 */
int corpus_load_dir(corpus *c, const char *dir, corpus_vocab *v, char *err, size_t errsz);
/*
 * A vocabulary by frequency from the text file at path (rnnlm train --vocab-size / --min-count;
 * torchtext's build_vocab_from_iterator with <unk> as its special): id 0 is "<unk>"; ids 1, 2, ...
 * are the other words of the file, <eos> (one per line) included, in descending count, ties in
 * order of first occurrence. A word is kept when it occurs at least min_count times (min_count
 * <= 1: every word) and while the vocabulary holds fewer than max_size words, <unk> included
 * (max_size 0: no limit; 1: <unk> alone). A literal "<unk>" in the file is id 0 whatever its count.
 * *out receives the vocabulary (vocab_free it), *n_words (may be NULL) the number of distinct
 * words of the file. Fails as corpus_tokenize_file (nothing in *out); RNN_ERR_INVALID for
 * max_size < 0.
 */
int corpus_vocab_build(const char *path, int64_t max_size, int64_t min_count, corpus_vocab **out,
                       size_t *n_words, char *err, size_t errsz);
/*
 * Renumbers c's words by descending count in c->train, ties by their current id (for data.py's
 * vocabulary: first occurrence over train, valid, test), so words missing from train come last in
 * their order; rewrites c->train, c->valid and c->test to the new ids (rnnlm train
 * --adaptive-cutoffs, whose head holds the ids below the first cutoff). On failure
 * (RNN_ERR_NOMEM, RNN_ERR_INVALID for a NULL or empty c) c is unchanged.
 */
int corpus_order_by_count(corpus *c, char *err, size_t errsz);
/* dir/name in a malloc'd string (no second '/' when dir ends in one); NULL when out of memory. */
char *corpus_join_path(const char *dir, const char *name);
/* Frees what corpus_load_dir allocated and zeroes c; NULL or a zeroed corpus is fine. */
void corpus_free(corpus *c);

/* ---- Batching --------------------------------------------------------------------------------- */
enum {
    /*
     * main.py: batchify(data, bsz) -> nbatch = n // bsz rows (the rest is dropped), stream b is the
     * contiguous slice data[b*nbatch, (b+1)*nbatch). Chunk k starts at row i = k*bptt for i in
     * range(0, nbatch - 1, bptt); steps = min(bptt, nbatch - 1 - i) (the last chunk may be
     * shorter); tokens[b][s] = stream_b[i + s], targets[b][s] = stream_b[i + s + 1].
     */
    CORPUS_BATCH_MAIN = 0,
    /*
     * The seed's bptt_batchify: length = n // (bsz*bptt) * (bsz*bptt);
     * data[:length].reshape(bsz, -1, bptt).transpose(0, 1) -> chunks [num_chunks][bsz][bptt].
     * Stream b is data[b*L, (b+1)*L) with L = num_chunks*bptt; chunk k holds
     * tokens[b][s] = stream_b[k*bptt + s], steps = bptt always, and the loss of
     * output[:, :-1] vs batch[:, 1:]: targets[b][s] = tokens[b][s+1] for s < bptt-1 and
     * RNN_IGNORE for s = bptt-1 (targets never cross a chunk boundary).
     */
    CORPUS_BATCH_SEED = 1
};

/* A view of a token array as chunks; read the fields, set them only through corpus_batches_init. */
typedef struct corpus_batches {
    const int32_t *data; /* the token ids (not owned; must outlive this view) */
    int mode;            /* CORPUS_BATCH_MAIN or CORPUS_BATCH_SEED */
    int batch;           /* streams per chunk (bsz) */
    int bptt;            /* maximum steps per chunk */
    size_t stream_len;   /* tokens per stream after trimming: MAIN nbatch (= len(source) in main.py),
                            SEED num_chunks * bptt */
    size_t num_chunks;   /* >= 1 */
} corpus_batches;

/*
 * Sets up *b over data[0..n). batch >= 1, bptt >= 1. Fails with RNN_ERR_INVALID for bad
 * arguments or when there would be no chunk (MAIN needs n >= 2*batch, SEED n >= batch*bptt).
 */
int corpus_batches_init(corpus_batches *b, const int32_t *data, size_t n, int batch, int bptt,
                        int mode, char *err, size_t errsz);

/* Steps of chunk k (1..bptt), or 0 when k >= num_chunks. */
int corpus_batches_steps(const corpus_batches *b, size_t k);

/*
 * Writes chunk k in the library's layout: tokens[batch][steps] and, unless targets is NULL,
 * targets[batch][steps] (row b = stream b, steps = corpus_batches_steps(b, k)); buffers of
 * batch*bptt entries are always large enough. *steps (may be NULL) receives the steps.
 * RNN_ERR_INVALID when k >= num_chunks or tokens is NULL.
 */
int corpus_batches_get(const corpus_batches *b, size_t k, int32_t *tokens, int32_t *targets,
                       int *steps);

/*
 * The denominator of main.py's evaluate(): total_loss = sum_k steps_k * loss_k (loss_k the mean
 * loss of chunk k), perplexity = exp(total_loss / denominator) with denominator =
 * len(data_source) - 1 = stream_len - 1 in MAIN mode (== the sum of all steps_k, so the result is
 * the mean loss over every target; main.py evaluates with batch 10). In SEED mode it is the sum of
 * steps_k, num_chunks * bptt, so the same formula gives the mean of the chunk losses, which is the
 * mean over all scored targets since every chunk scores batch * (bptt - 1) of them.
 * 0 for an uninitialised view.
 */
size_t corpus_batches_eval_denominator(const corpus_batches *b);

/*
 * The first max_chunks chunks of b (rnnlm train --max-eval-batches) as a view *out of their own:
 * the same chunks, in the same order, over a copy of each stream's first tokens (*copy, malloc'd;
 * free it when done with *out), so that corpus_batches_eval_denominator(out) is the sum of their
 * steps and main.py's evaluate() over *out is the mean loss of their targets. max_chunks 0 or
 * >= b->num_chunks: *out = *b and *copy NULL. RNN_ERR_INVALID for an uninitialised b,
 * RNN_ERR_NOMEM (then *out = *b, *copy NULL).
 */
int corpus_batches_head(const corpus_batches *b, size_t max_chunks, corpus_batches *out,
                        int32_t **copy, char *err, size_t errsz);

#endif
