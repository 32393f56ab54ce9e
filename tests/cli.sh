#!/bin/sh
# tests/cli.sh -- end-to-end tests of bin/rnnlm on a tiny generated corpus.
#   RNNLM=/abs/path/bin/rnnlm sh tests/cli.sh        (make check runs it)
# Prints "N passed, M failed" last; exits non-zero when anything failed.
set -eu

RNNLM=${RNNLM:-$(pwd)/bin/rnnlm}
W=$(mktemp -d "${TMPDIR:-/tmp}/rnnlm-cli.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
. "$(dirname "$0")/lib/harness.sh"

# ---- a tiny corpus: sentences over 15 words ---------------------------------------------------
C=$W/corpus
toy_corpus "$C" 7 300 60
TINY="--emsize 16 --nhid 16 --epochs 2"

# ---- help and version ---------------------------------------------------------------------------
run "$RNNLM" --version
check "--version prints the version" grep -q '^rnnlm (librnn) [0-9]*\.[0-9]*\.[0-9]*$' "$W/out"
for cmd in train eval generate score; do
    run "$RNNLM" $cmd --help
    check "$cmd --help" test "$rc" -eq 0 -a -s "$W/out"
done
run "$RNNLM" --help
check "--help mentions the commands" grep -q 'generate' "$W/out"

# ---- train -------------------------------------------------------------------------------------
run "$RNNLM" train --data "$C" $TINY --dry-run --save "$W/dry.rnn"
check "train --dry-run exits 0" test "$rc" -eq 0
check "train --dry-run saves the model" test -s "$W/dry.rnn"
check "train --dry-run prints the final line" grep -q '^| End of training | test loss  *[0-9.]* | test ppl  *[0-9.]*$' "$W/out"
check "train prints main.py's epoch line" grep -q '^| end of epoch   2 | time: *[0-9.]*s | valid loss  *[0-9.]* | valid ppl  *[0-9.]*$' "$W/out"

run "$RNNLM" train --data "$C" $TINY --batch_size 4 --bptt 10 --max-batches 12 --log-interval 5 \
    --save "$W/m.rnn" --metrics "$W/m.jsonl"
check "train --max-batches exits 0" test "$rc" -eq 0
check "train --max-batches saves the model" test -s "$W/m.rnn"
check "train logs main.py's batch lines" grep -q '^| epoch   1 |    10/   12 batches | lr 20.00 | ms/batch *[0-9.]* | loss *[0-9.]* | ppl *[0-9.]* | tokens/s *[0-9]*$' "$W/out"
check "train --max-batches final line" grep -q '^| End of training' "$W/out"
check "metrics: log-interval records" grep -q '^{"epoch":1,"batch":5,"loss":[0-9.e-]*,"ppl":[0-9.e+-]*,"lr":20,"tokens_per_s":[0-9.e+-]*}$' "$W/m.jsonl"
check "metrics: epoch records" grep -q '^{"epoch":2,"valid_loss":[0-9.]*,"valid_ppl":[0-9.]*,"lr":[0-9.]*,"seconds":[0-9.e-]*}$' "$W/m.jsonl"
check "metrics: test record last" sh -c "tail -n 1 '$W/m.jsonl' | grep -q '^{\"test_loss\":[0-9.]*,\"test_ppl\":[0-9.]*}$'"

run "$RNNLM" train --data="$C" --model=GRU --emsize=16 --nhid=16 --tied --epochs=1 --batching=seed \
    --bptt=10 --batch_size=4 --max-batches=3 --save="$W/seed.rnn"
check "train --flag=VALUE, --batching seed, --tied, GRU" test "$rc" -eq 0 -a -s "$W/seed.rnn"
check "train --batching seed final line" grep -q '^| End of training' "$W/out"

for model in RNN_TANH RNN_RELU; do
    run "$RNNLM" train --data "$C" --model $model $TINY --dry-run --save "$W/$model.rnn"
    check "train --model $model" test "$rc" -eq 0 -a -s "$W/$model.rnn"
done

run "$RNNLM" train --data "$C" --init "$W/m.rnn" --epochs 1 --max-batches 3 --save "$W/m2.rnn"
check "train --init continues" test "$rc" -eq 0 -a -s "$W/m2.rnn"
check "train --init final line" grep -q '^| End of training' "$W/out"

# ---- eval ------------------------------------------------------------------------------------
run "$RNNLM" eval --checkpoint "$W/m.rnn" --data "$C/test.txt"
check "eval prints loss, ppl, tokens" grep -q '^loss [0-9.]* ppl [0-9.]* tokens [1-9][0-9]*$' "$W/out"
run "$RNNLM" eval --checkpoint "$W/m.rnn" --data "$C/test.txt" --json --batch_size 3 --bptt 7
check "eval --json" grep -q '^{"loss":[0-9.]*,"ppl":[0-9.]*,"tokens":[1-9][0-9]*,"oovs":0,' "$W/out"
run "$RNNLM" eval --checkpoint "$W/m2.rnn" --data "$C/valid.txt"
check "eval of an --init model" test "$rc" -eq 0

# ---- generate ----------------------------------------------------------------------------------
gen() { # OUT SEED [flags]
    out=$1 seed=$2; shift 2
    run "$RNNLM" generate --checkpoint "$W/m.rnn" --outf "$out" --seed "$seed" --words 45 "$@"
}
gen "$W/g1.txt" 5
check "generate exits 0" test "$rc" -eq 0
# words joined by spaces, each <eos> a newline, one final newline: words + newlines - 1 = --words
ntok() { echo $(($(wc -w <"$1") + $(wc -l <"$1") - 1)); }
check "generate writes --words words (<eos> as newlines)" test "$(ntok "$W/g1.txt")" -eq 45
check "generate writes no literal <eos>" sh -c "! grep -q '<eos>' '$W/g1.txt'"
check "generate logs progress" grep -q '^| Generated 0/45 words$' "$W/out"
gen "$W/g2.txt" 5
check "generate: same seed, same text" cmp -s "$W/g1.txt" "$W/g2.txt"
gen "$W/g3.txt" 6
check "generate: another seed, another text" test "$(cat "$W/g1.txt")" != "$(cat "$W/g3.txt")"
gen - 5
check "generate --outf - writes to stdout" test -s "$W/out" -a "$(tr -s ' \n' '  ' <"$W/out")" = "$(tr -s ' \n' '  ' <"$W/g1.txt")"
gen "$W/g4.txt" 5 --temperature 0 --prompt "the cat sat"
check "generate --temperature 0 --prompt" test "$rc" -eq 0 -a "$(ntok "$W/g4.txt")" -eq 45
gen "$W/g5.txt" 5 --words 0
check "generate --words 0 writes an empty file" test "$rc" -eq 0 -a -f "$W/g5.txt" -a ! -s "$W/g5.txt"
# sampling flags: an inference state seeded with --seed; temperature, then top-k, then top-p
gen "$W/k1.txt" 5 --top-k 3
check "generate --top-k exits 0" test "$rc" -eq 0 -a "$(ntok "$W/k1.txt")" -eq 45
gen "$W/k2.txt" 5 --top-k 3
check "generate --top-k: same seed, same text" cmp -s "$W/k1.txt" "$W/k2.txt"
gen "$W/p1.txt" 5 --top-p 0.6 --temperature 0.8 --prompt "the cat sat"
gen "$W/p2.txt" 5 --top-p 0.6 --temperature 0.8 --prompt "the cat sat"
check "generate --top-p --prompt: same seed, same text" test "$rc" -eq 0 -a -s "$W/p1.txt"
check "generate --top-p --prompt: same seed, same text" cmp -s "$W/p1.txt" "$W/p2.txt"
gen "$W/greedy1.txt" 5 --temperature 0 --prompt "a big dog"
gen "$W/greedy2.txt" 9 --top-k 1 --prompt "a big dog"
check "generate: --top-k 1 is greedy (--temperature 0), whatever the seed" cmp -s "$W/greedy1.txt" "$W/greedy2.txt"
gen "$W/all1.txt" 5 --top-k 0 --top-p 1
check "generate: --top-k 0 --top-p 1 are the defaults" cmp -s "$W/g1.txt" "$W/all1.txt"
gen "$W/greedy3.txt" 7 --top-p 0.01 --prompt "a big dog"
check "generate: --top-p 0.01 keeps only the most likely word (greedy)" cmp -s "$W/greedy1.txt" "$W/greedy3.txt"
check "generate leaves no temporary file" test -z "$(ls "$W" | grep tmp || true)"

# ---- score -------------------------------------------------------------------------------------
# G.txt: an empty first line (so the file's first token is <eos>), then test.txt
{ echo; cat "$C/test.txt"; } >"$W/G.txt"
run "$RNNLM" score --checkpoint "$W/m.rnn" --data "$W/G.txt"
check "score exits 0" test "$rc" -eq 0
cp "$W/out" "$W/score.txt"
nlines=$(wc -l <"$W/G.txt"); nwords=$(wc -w <"$W/G.txt")
check "score prints one line per input line and a total" test "$(wc -l <"$W/score.txt")" -eq $((nlines + 1))
check "score lines: LOGPROB TAB NTOKENS TAB TEXT" test "$(head -n -1 "$W/score.txt" | grep -cv '^-[0-9]*\.[0-9]*	[1-9][0-9]*	')" -eq 0
check "score: the empty first line is 1 token" grep -q '^-[0-9.]*	1	$' "$W/score.txt"
check "score: TEXT is the line's words" test "$(sed -n 2p "$W/score.txt" | cut -f3)" = "$(sed -n 2p "$W/G.txt" | tr -s ' \t' '  ' | sed 's/^ //;s/ $//')"
check "score: total line" grep -q '^total logprob -[0-9.]* tokens [0-9]* ppl [0-9.]* sentences [0-9]* words [0-9]* oovs 0 ppl_excluding_oovs [0-9.]*$' "$W/score.txt"
# the total is the sum of the lines, its tokens are words + one <eos> per line, ppl = exp(-X/N)
check "score: total = sum of the lines, tokens = words + lines, ppl = exp(-X/N)" awk -F'\t' -v n="$((nwords + nlines))" '
    /^total/ { split($0, f, " "); X = f[3]; N = f[5]; P = f[7]; next }
    { s += $1; t += $2 }
    END { d = s - X; if (d < 0) d = -d; e = P - exp(-X / N); if (e < 0) e = -e
          exit !(d < 1e-4 && t == N && N == n && e < 1e-5 * P) }' "$W/score.txt"
# against eval with batch 1: eval predicts tokens 2..N from their predecessors, score also the
# first one (here <eos>, line 1) from the zero state:  X - logprob(line 1) = -(loss * tokens)
run "$RNNLM" score --checkpoint "$W/m.rnn" --data "$W/G.txt" --json
cp "$W/out" "$W/score.jsonl"
check "score --json: one object per line + summary" test "$(wc -l <"$W/score.jsonl")" -eq $((nlines + 1))
check "score --json line objects" grep -q '^{"line":2,"logprob":-[0-9.e+-]*,"tokens":[0-9]*,"text":"[a-z ]*"}$' "$W/score.jsonl"
check "score --json summary" sh -c "tail -n 1 '$W/score.jsonl' | grep -q '^{\"total_logprob\":-[0-9.e+-]*,\"tokens\":[0-9]*,\"ppl\":[0-9.e+-]*,\"lines\":$nlines,\"sentences\":$nlines,'"
# the input is read once: standard input (--data -) and pipes give the same output as the file
"$RNNLM" score --checkpoint "$W/m.rnn" --data - <"$W/G.txt" >"$W/score_stdin.txt" 2>"$W/err" || true
check "score --data - (standard input) equals scoring the file" cmp -s "$W/score_stdin.txt" "$W/score.txt"
cat "$W/G.txt" | "$RNNLM" score --checkpoint "$W/m.rnn" --data /dev/stdin >"$W/score_pipe.txt" 2>"$W/err" || true
check "score --data /dev/stdin from a pipe equals scoring the file" cmp -s "$W/score_pipe.txt" "$W/score.txt"
run "$RNNLM" eval --checkpoint "$W/m.rnn" --data "$W/G.txt" --batch_size 1 --bptt 35 --json
cp "$W/out" "$W/eval1.json"
check "score agrees with eval --batch_size 1 --bptt 35 (1e-4 relative)" awk '
    function num(s, k,   r) { r = s; sub(".*\"" k "\":", "", r); sub("[,}].*", "", r); return r + 0 }
    FNR == NR { if (FNR == 1) L1 = num($0, "logprob"); if ($0 ~ /total_logprob/) { X = num($0, "total_logprob"); N = num($0, "tokens") }; next }
    { loss = num($0, "loss"); T = num($0, "tokens") }
    END { a = X - L1; b = -loss * T; d = a - b; if (d < 0) d = -d; m = a < 0 ? -a : a
          if (!(T == N - 1 && d <= 1e-4 * m)) { print "score " a " eval " b " tokens " T " vs " N; exit 1 } }' \
    "$W/score.jsonl" "$W/eval1.json"
# line ends: \r\n and \r as \n; Unicode spaces split words as str.split() does
awk '{ printf "%s\r\n", $0 }' "$W/G.txt" >"$W/crlf.txt"
run "$RNNLM" score --checkpoint "$W/m.rnn" --data "$W/crlf.txt"
check "score: CRLF lines score as LF lines" cmp -s "$W/out" "$W/score.txt"
printf 'the\342\200\200cat\343\200\200sat\rdog ran\n' >"$W/uni.txt"
run "$RNNLM" score --checkpoint "$W/m.rnn" --data "$W/uni.txt"
check "score: U+2000/U+3000 split words, a lone CR ends a line" test "$(cut -f2,3 "$W/out" | head -n 2 | tr '\t\n' '|/')" = "4|the cat sat/3|dog ran/"
# <unk>: a model whose vocabulary has it maps unknown words to it
mkdir -p "$W/unkc" && cp "$C/valid.txt" "$C/test.txt" "$W/unkc/" && { cat "$C/train.txt"; echo "the <unk> sat"; } >"$W/unkc/train.txt"
run "$RNNLM" train --data "$W/unkc" $TINY --dry-run --save "$W/unk.rnn"
printf 'the cat zebra\n' >"$W/zebra.txt"
run "$RNNLM" score --checkpoint "$W/unk.rnn" --data "$W/zebra.txt"
check "score: unknown words -> <unk> when the model has it" test "$rc" -eq 0 -a "$(head -n 1 "$W/out" | cut -f2,3)" = "4	the cat zebra"

# ---- bad flags and values: exit 2, one line, no output file --------------------------------------
T="train --data $C --save $W/bad.rnn --metrics $W/bad.jsonl $TINY"
G="generate --checkpoint $W/m.rnn --outf $W/bad.txt"
E="eval --checkpoint $W/m.rnn --data $C/test.txt"
for args in \
    "$T --batch_size 0" "$T --batch_size -3" "$T --bptt 0" "$T --emsize 0" "$T --nhid -1" \
    "$T --nlayers 0" "$T --epochs 0" "$T --lr -1" "$T --lr nan" "$T --lr abc" "$T --clip 0" \
    "$T --clip -1" "$T --dropout 1" "$T --dropout -0.5" "$T --dropout=nan" "$T --emsize 12x" \
    "$T --foo" "$T --model Transformer" "$T --tied --emsize 8" "$T --batching xyz" \
    "$T --log-interval 0" "$T --max-batches 0" "$T --threads 0" "$T --tied=1" "$T --lr" \
    "$T stray" "$T --init $W/m.rnn --nhid 32" \
    "train --save $W/bad.rnn --emsize 16 --nhid 16" \
    "$E --batch_size 0" "$E --bptt x" "$E --bogus" "eval --data $C/test.txt" \
    "eval --checkpoint $W/m.rnn" \
    "$G --temperature -1" "$G --temperature inf" "$G --words -1" "$G --words 1.5" "$G --seed x" \
    "$G --log-interval 0" "$G --prompt" "generate --outf $W/bad.txt" "nosuchcommand" \
    "$G --top-k -1" "$G --top-k 1.5" "$G --top-p 0" "$G --top-p -0.1" "$G --top-p 1.01" "$G --top-p x" \
    "score --data $C/test.txt" "score --checkpoint $W/m.rnn" "score --checkpoint $W/m.rnn --data $C/test.txt --bogus" \
    "score --checkpoint $W/m.rnn --data $C/test.txt --json=1" \
    "$T --batching seed --bptt 1" "$E --batching seed --bptt 1" \
    "$T --lr 1e39" "$T --clip 1e-50" "$T --clip 1e39" "$T --dropout 0.99999999999" "$G --temperature 1e39" \
    "$G --top-p 1e-46"; do
    # shellcheck disable=SC2086
    expect_error 2 "rnnlm $args" "$RNNLM" $args
done
# --batching seed --bptt 1 would score nothing (perplexity 1.00): the message says why
run "$RNNLM" $E --batching seed --bptt 1
check "eval --batching seed --bptt 1: the message says why" grep -q -- '--bptt 1 would score no target' "$W/err"
# float flags are checked as the float librnn uses, naming the flag and its range
run "$RNNLM" $T --dropout 0.99999999999
check "--dropout 0.99999999999 (1 as a float): the message names the flag and the range" \
    grep -q -- "^rnnlm: --dropout must be a number in \[0, 1) also as a 32-bit float" "$W/err"
run "$RNNLM" $G --top-p 1e-46
check "--top-p 1e-46 (0 as a float): the message names the flag and the range" \
    grep -q -- "^rnnlm: --top-p must be a number in (0, 1\] also as a 32-bit float" "$W/err"
run "$RNNLM" train --data "$C" $TINY --dry-run --lr 3e38 --clip 1e-40 --dropout 0.9999999 --save "$W/f.rnn"
check "float flags at the edge of the float range are accepted" test "$rc" -eq 0
# librnn's size limits are checked with the flags, before the corpus is read (--data is missing)
for args in "--emsize 16777217:--emsize.*16777216.*RNN_LIMIT_DIM" "--nhid 16777217:--nhid.*16777216.*RNN_LIMIT_DIM" \
    "--nlayers 1025:--nlayers.*1024.*RNN_LIMIT_LAYERS" \
    "--batch_size 65536 --bptt 65536:--batch_size 65536 x --bptt 65536 = 4294967296.*RNN_LIMIT_CHUNK" \
    "--batch_size 1 --bptt 30000000:validation and test batch size 10 x --bptt 30000000.*RNN_LIMIT_CHUNK"; do
    # shellcheck disable=SC2086
    expect_error 2 "train ${args%%:*} (before the corpus)" "$RNNLM" train --data "$W/nothere" ${args%%:*}
    check "train ${args%%:*}: the message names the flag and the limit" grep -q -- "${args#*:}" "$W/err"
done
expect_error 2 "eval --batch_size 65536 --bptt 65536 (before the data)" "$RNNLM" eval --checkpoint "$W/nothere.rnn" \
    --data "$W/nothere.txt" --batch_size 65536 --bptt 65536
check "eval --batch_size 65536 --bptt 65536: the message names the limit" grep -q 'RNN_LIMIT_CHUNK' "$W/err"

# ---- runtime errors: exit 1, one line, no output file --------------------------------------------
mkdir -p "$W/nofiles" "$W/notest" "$W/empty" "$W/short"
cp "$C/train.txt" "$C/valid.txt" "$W/notest/"
cp "$C/valid.txt" "$C/test.txt" "$W/empty/" && : >"$W/empty/train.txt"
toy_corpus "$W/short" 3 3 3
head -c 200 "$W/m.rnn" >"$W/trunc.rnn" 2>/dev/null || :
printf 'the cat zebra\nsat quokka\n' >"$W/unknown.txt"
for args in \
    "train --data $W/nofiles --save $W/bad.rnn $TINY" \
    "train --data $W/notest --save $W/bad.rnn $TINY" \
    "train --data $W/empty --save $W/bad.rnn $TINY" \
    "train --data $W/short --save $W/bad.rnn $TINY" \
    "train --data $C --save $W/bad.rnn $TINY --batch_size 1000" \
    "train --data $C --save $W/bad.rnn $TINY --batching seed --bptt 100" \
    "train --data $C --save $W/nodir/bad.rnn $TINY" \
    "train --data $C --save $W $TINY" \
    "train --data $C --save $W/bad.rnn --metrics $W/nodir/bad.jsonl $TINY" \
    "train --data $C --save $W/bad.rnn --init $W/trunc.rnn" \
    "eval --checkpoint $W/trunc.rnn --data $C/test.txt" \
    "eval --checkpoint $C/test.txt --data $C/test.txt" \
    "eval --checkpoint $W/nothere.rnn --data $C/test.txt" \
    "eval --checkpoint $W/m.rnn --data $W/unknown.txt" \
    "eval --checkpoint $W/m.rnn --data $W/nothere.txt" \
    "eval --checkpoint $W/m.rnn --data $W/empty/train.txt" \
    "generate --checkpoint $W/trunc.rnn --outf $W/bad.txt" \
    "generate --checkpoint $W/m.rnn --outf $W/bad.txt --prompt zebra" \
    "generate --checkpoint $W/m.rnn --outf $W/nodir/bad.txt" \
    "score --checkpoint $W/m.rnn --data $W/unknown.txt" \
    "score --checkpoint $W/m.rnn --data $W/nothere.txt" \
    "score --checkpoint $W/m.rnn --data $W/empty/train.txt" \
    "score --checkpoint $W/trunc.rnn --data $C/test.txt"; do
    # shellcheck disable=SC2086
    expect_error 1 "rnnlm $args" "$RNNLM" $args
done
run "$RNNLM" eval --checkpoint "$W/m.rnn" --data "$W/unknown.txt"
check "eval names the unknown words" grep -q 'zebra' "$W/err"
run "$RNNLM" score --checkpoint "$W/m.rnn" --data "$W/unknown.txt"
check "score names the unknown words" grep -q 'zebra.*quokka' "$W/err"
run "$RNNLM" eval --checkpoint "$W/trunc.rnn" --data "$C/test.txt"
check "a truncated checkpoint is named" grep -q 'trunc.rnn' "$W/err"

# ---- an output never replaces an input; --save and SAVE.ckpt replace only models ---------------
# the same file: by path, through a symbolic link, through a hard link (device and inode)
cp "$C/valid.txt" "$W/valid.keep" && cp "$C/train.txt" "$W/train.keep" && cp "$W/m.rnn" "$W/io.rnn"
ln -s io.rnn "$W/io-sym.rnn" && ln "$W/io.rnn" "$W/io-hard.rnn" && cp "$W/io.rnn" "$W/io.keep"
expect_error 1 "train --save a file of --data" "$RNNLM" train --data "$C" $TINY --save "$C/valid.txt"
check "train --save a file of --data: the message names both" \
    grep -q "^rnnlm: --save .*valid.txt is the same file as the input --data's .*valid.txt" "$W/err"
check "train --save a file of --data: the file is unchanged" cmp -s "$C/valid.txt" "$W/valid.keep"
expect_error 1 "train --metrics a file of --data" "$RNNLM" train --data "$C" $TINY --save "$W/bad.rnn" \
    --metrics "$C/train.txt"
check "train --metrics a file of --data: the file is unchanged" cmp -s "$C/train.txt" "$W/train.keep"
expect_error 1 "train --save its --init (through a symbolic link)" "$RNNLM" train --data "$C" --init "$W/io.rnn" \
    --epochs 1 --max-batches 2 --save "$W/io-sym.rnn"
for ck in io io-sym io-hard; do
    expect_error 1 "generate --outf its --checkpoint ($ck.rnn)" "$RNNLM" generate --checkpoint "$W/$ck.rnn" --outf "$W/io.rnn"
done
check "generate --outf its --checkpoint: the message names both" \
    grep -q "^rnnlm: --outf .*io.rnn is the same file as the input --checkpoint .*io-hard.rnn" "$W/err"
check "the model is unchanged" cmp -s "$W/io.rnn" "$W/io.keep"
check "... and still a hard link" test "$(stat -c %h "$W/io.rnn")" -eq 2
# --save and SAVE.ckpt that exist and are not models (first bytes not RNNMODEL): not replaced
printf 'my notes\n' >"$W/notes.txt" && cp "$W/notes.txt" "$W/notes.keep" && cp "$W/notes.txt" "$W/ck.rnn.ckpt"
expect_error 1 "train --save a file that is not a model" "$RNNLM" train --data "$C" $TINY --save "$W/notes.txt"
check "train --save a file that is not a model: the message says so" \
    grep -q "^rnnlm: --save .*notes.txt exists and is not a librnn model" "$W/err"
check "train --save a file that is not a model: unchanged" cmp -s "$W/notes.txt" "$W/notes.keep"
expect_error 1 "train --checkpoint-every over a SAVE.ckpt that is not a model" "$RNNLM" train --data "$C" $TINY \
    --save "$W/ck.rnn" --checkpoint-every 5
check "... unchanged, no model written" sh -c "cmp -s '$W/ck.rnn.ckpt' '$W/notes.keep' && test ! -e '$W/ck.rnn'"
run "$RNNLM" train --data "$C" $TINY --dry-run --save "$W/dry.rnn" --checkpoint-every 5
check "train --save over a model (and its checkpoint) works" test "$rc" -eq 0 -a -s "$W/dry.rnn.ckpt"
check "train leaves no lock file" test ! -e "$W/dry.rnn.lock"

# ---- a result that cannot be written to stdout is an error ----------------------------------------
if [ -c /dev/full ] && ! (echo x >/dev/full) 2>/dev/null; then
    for args in "eval --checkpoint $W/m.rnn --data $C/test.txt" "eval --checkpoint $W/m.rnn --data $C/test.txt --json" \
        "score --checkpoint $W/m.rnn --data $C/test.txt" "generate --checkpoint $W/m.rnn --outf - --words 20" \
        "train --data $C $TINY --dry-run --save $W/full.rnn" "--version"; do
        rc=0
        # shellcheck disable=SC2086
        "$RNNLM" $args >/dev/full 2>"$W/err" || rc=$?
        check "rnnlm $args >/dev/full exits 1 (not $rc)" test "$rc" -eq 1
        check "rnnlm $args >/dev/full: the message says so" grep -q '^rnnlm: cannot write to stdout' "$W/err"
    done
else
    echo "SKIP: writes to a full disk: there is no /dev/full that fails every write"
fi

# ---- messages keep long paths whole ---------------------------------------------------------------
D=$(printf 'd%.0s' $(seq 200))
LONG=$W/$D/$D/$D/$D/$D/$D/$D
mkdir -p "$LONG"
expect_error 1 "eval --checkpoint under a 1400-byte path" "$RNNLM" eval --checkpoint "$LONG/nothere.rnn" --data "$C/test.txt"
check "... the message has the whole path" grep -qF "$LONG/nothere.rnn" "$W/err"
expect_error 1 "train --data a 1400-byte path without train.txt" "$RNNLM" train --data "$LONG" $TINY --save "$W/bad.rnn"
check "... the message has the whole path" grep -qF "$LONG/train.txt" "$W/err"
cp "$C"/*.txt "$LONG/"
expect_error 1 "train --save over a 1400-byte path's text file" "$RNNLM" train --data "$LONG" $TINY --save "$LONG/valid.txt"
check "... the message has the whole path, twice" sh -c "grep -oF '$LONG/valid.txt' '$W/err' | wc -l | grep -q 2"

# ---- words longer than librnn's RNN_LIMIT_WORD_BYTES (1 MiB) are refused where they are -------------
mkdir -p "$W/lw" && cp "$C/valid.txt" "$C/test.txt" "$W/lw/"
word() { head -c "$1" /dev/zero | tr '\0' w; }
{ head -n 2 "$C/train.txt"; printf 'the %s cat\n' "$(word 1048577)"; cat "$C/train.txt"; } >"$W/lw/train.txt"
expect_error 1 "train on a word of 1 MiB + 1 bytes" "$RNNLM" train --data "$W/lw" $TINY --save "$W/bad.rnn"
check "... the message names the file, the line and the limit" \
    grep -q "lw/train.txt:3: a word of 1048577 bytes, longer than a vocabulary word may be (1048576 bytes" "$W/err"
{ head -n 2 "$C/train.txt"; printf 'the %s cat\n' "$(word 1048576)"; cat "$C/train.txt"; } >"$W/lw/train.txt"
run "$RNNLM" train --data "$W/lw" $TINY --dry-run --save "$W/lw.rnn"
check "train on a word of exactly 1 MiB works" test "$rc" -eq 0 -a -s "$W/lw.rnn"

# ---- crafted vocabularies (a word twice, a word with a space or a newline) are refused on load ------
if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    echo "SKIP: crafted vocabularies: tools/rnnfile.py needs /usr/bin/python3 with numpy"
else
    run "$RNNLM" train --data "$C" $TINY --max-batches 3 --checkpoint-every 1000 --save "$W/v.rnn"
    /usr/bin/python3 - "$(dirname "$0")/../tools" "$W" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import rnnfile
rnnfile.check_vocab = lambda words: None  # write the crafted vocabularies as they are
for kind, w in [('dup', None), ('space', b'a b'), ('newline', b'a\nb')]:
    for src, keep in [('v.rnn', False), ('v.rnn.ckpt', True)]:
        m = rnnfile.read(sys.argv[2] + '/' + src, keep_unknown=keep)
        m.vocab[1] = m.vocab[0] if w is None else w
        rnnfile.write(sys.argv[2] + '/' + src.replace('v.', 'v' + kind + '.'), m)
PY
    for k in dup space newline; do
        V=$W/v$k.rnn
        expect_error 1 "eval, vocabulary with a $k word" "$RNNLM" eval --checkpoint "$V" --data "$C/test.txt"
        expect_error 1 "score, vocabulary with a $k word" "$RNNLM" score --checkpoint "$V" --data "$C/test.txt"
        expect_error 1 "generate, vocabulary with a $k word" "$RNNLM" generate --checkpoint "$V" --outf "$W/bad.txt"
        check "generate, vocabulary with a $k word: the message names the word" grep -q 'VOCB: word 1 ' "$W/err"
        expect_error 1 "train --init, vocabulary with a $k word" "$RNNLM" train --data "$C" --init "$V" --save "$W/bad.rnn"
        expect_error 1 "train --resume, vocabulary with a $k word" "$RNNLM" train --resume "$V.ckpt"
        check "train --resume, vocabulary with a $k word: the message names the word" grep -q 'VOCB: word 1 ' "$W/err"
    done
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
