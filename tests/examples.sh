#!/bin/sh
# tests/examples.sh -- builds examples/{train,generate,score}.c and the C program of README.md's
# "Using the library" against an INSTALLED librnn (make install PREFIX=<tmp>, then nothing but
# pkg-config's flags) and runs them end to end on a tiny generated corpus.
#   sh tests/examples.sh            (make check runs it from the repository root; MAKE may name make)
# Prints "N passed, M failed" last; exits non-zero when anything failed.
set -eu

W=$(mktemp -d "${TMPDIR:-/tmp}/rnn-examples.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
finish() {
    echo "examples: $pass passed, $fail failed"
    [ "$fail" -eq 0 ] && exit 0
    exit 1
}
# run CMD...: stdout in $W/out, stderr in $W/err, status in $rc
run() {
    rc=0
    "$@" >"$W/out" 2>"$W/err" || rc=$?
}
# awk_ok EXPR [VARS...]: true when the awk expression EXPR is true (-v assignments follow)
awk_ok() {
    e=$1; shift
    awk "$@" "BEGIN { exit !($e) }"
}
export OPENBLAS_NUM_THREADS=1 # a tiny model: threads only add overhead (and noise)

# 1. install, build with nothing but the installed library's pkg-config flags
P=$W/prefix
if ${MAKE:-make} -s install PREFIX="$P" >"$W/install.log" 2>&1; then
    ok "make install PREFIX=$P"
else
    cat "$W/install.log"; bad "make install"; finish
fi
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
export LD_LIBRARY_PATH="$P/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
FLAGS=$(pkg-config --cflags --libs rnn)
for e in train generate score; do
    if ${CC:-cc} -Wall -Wextra -Werror "examples/$e.c" $FLAGS -o "$W/$e" 2>"$W/cc.log"; then
        ok "cc -Wall -Wextra -Werror examples/$e.c \$(pkg-config --cflags --libs rnn)"
    else
        cat "$W/cc.log"; bad "compile examples/$e.c"
    fi
done
# README.md's program: the first ```c block of the section "Using the library"
awk '/^## Using the library/ { s = 1; next } s && /^## / { exit } s && /^```c$/ { c = 1; next }
     c && /^```$/ { exit } c { print }' README.md >"$W/readme.c"
if [ ! -s "$W/readme.c" ]; then
    bad "README.md: no \`\`\`c block in the section 'Using the library'"
elif ${CC:-cc} -std=c11 -Wall -Wextra -Werror "$W/readme.c" $FLAGS -o "$W/readme" 2>"$W/cc.log"; then
    ok "cc -Wall -Wextra -Werror README.md's program (Using the library)"
    run "$W/readme"
    # it must learn: the loss falls below a tenth of its start and the drawn tokens are the
    # pattern's next ones
    if [ "$rc" -eq 0 ] && awk '{ if (!($1 == "loss" && $3 == "->" && $4 + 0 < $2 / 10 && $10 + 0 == ($6 + 1) % 10 &&
            $12 + 0 == ($8 + 1) % 10)) exit 1 }' "$W/out" &&
        grep -Eq '^loss [0-9.]+ -> [0-9.]+; after [0-9] and [0-9] come [0-9] and [0-9]$' "$W/out"; then
        ok "README.md's program learns: $(cat "$W/out")"
    else
        cat "$W/out" "$W/err"; bad "README.md's program (status $rc)"
    fi
else
    cat "$W/cc.log"; bad "compile README.md's program"
fi
[ "$fail" -eq 0 ] || finish
if ldd "$W/train" | grep -q "$P/lib/librnn.so"; then ok "train links the installed librnn.so"; else bad "train does not use $P/lib/librnn.so"; fi

# 2. a tiny, learnable corpus: "DET ADJ NOUN VERB DET NOUN [today]" (16 words with <eos>)
. "$(dirname "$0")/lib/corpus.sh"
grammar_corpus "$W/train.txt" 1 3000
grammar_corpus "$W/valid.txt" 2 100
V=16

# 3. train: 2 epochs
run "$W/train" "$W/train.txt" "$W/valid.txt" "$W/m.rnn" 2
cat "$W/out"
if [ "$rc" -eq 0 ] && [ -s "$W/m.rnn" ]; then ok "train exits 0 and writes the model"; else cat "$W/err"; bad "train (status $rc)"; finish; fi
nv=$(sed -n 's/^vocabulary \([0-9]*\) words.*/\1/p' "$W/out")
[ "$nv" = "$V" ] && ok "train reports the vocabulary: $nv words" || bad "vocabulary '$nv', expected $V"
ne=$(grep -c '^| epoch' "$W/out" || true)
[ "$ne" -eq 2 ] && ok "2 epoch lines" || bad "$ne epoch lines, expected 2"
ppl=$(sed -n 's/^best valid ppl \([^ ]*\) .*/\1/p' "$W/out")
if awk_ok 'p == p + 0 && p > 1 && p < v' -v p="$ppl" -v v="$V"; then
    ok "valid perplexity $ppl is finite and below the vocabulary size $V"
else
    bad "valid perplexity '$ppl' (expected finite, in (1, $V))"
fi
if [ -n "${RNNLM:-}" ] && [ -x "$RNNLM" ]; then # the model file is what rnnlm reads; same evaluate()
    run "$RNNLM" eval --checkpoint "$W/m.rnn" --data "$W/valid.txt"
    cli=$(sed -n 's/.* ppl \([^ ]*\) .*/\1/p' "$W/out")
    if [ "$rc" -eq 0 ] && awk_ok 'a - b < 0.006 && b - a < 0.006' -v a="$cli" -v b="$ppl"; then
        ok "rnnlm eval on the saved model gives the same valid ppl ($cli)"
    else
        bad "rnnlm eval: status $rc, ppl '$cli' vs train's '$ppl'"
    fi
fi
# words split as str.split() (rnn_text_next_word): Unicode spaces separate words too
head -n 300 "$W/train.txt" | sed "s/ /$(printf '\302\240')/; s/ /$(printf '\343\200\200')/; s/ /	/" >"$W/utrain.txt"
run "$W/train" "$W/utrain.txt" "$W/valid.txt" "$W/u.rnn" 1
nv=$(sed -n 's/^vocabulary \([0-9]*\) words.*/\1/p' "$W/out")
[ "$rc" -eq 0 ] && [ "$nv" = "$V" ] && ok "train splits words at U+00A0, U+3000 and tabs: $nv words" ||
    { cat "$W/err"; bad "train on Unicode spaces: status $rc, vocabulary '$nv', expected $V"; }
run "$W/train" "$W/train.txt"
[ "$rc" -eq 2 ] && grep -q '^usage: train' "$W/err" && ok "train without arguments: usage, status 2" || bad "train usage (status $rc)"
run "$W/train" "$W/nope.txt" "$W/valid.txt" "$W/x.rnn" 1
[ "$rc" -ne 0 ] && grep -q 'nope.txt' "$W/err" && ok "train on a missing file fails naming it" || bad "train missing file (status $rc)"
run "$W/train" "$W/train.txt" "$W/valid.txt" "$W/no/such/dir/x.rnn" 1
if [ "$rc" -ne 0 ] && grep -q 'rnn_model_save: input/output error (' "$W/err"; then
    ok "train to an unwritable path: rnn_status_string and rnn_model_errmsg, non-zero"
else
    cat "$W/err"; bad "train unwritable save path (status $rc)"
fi

# 4. generate: word counts, determinism, vocabulary
gen() { # OUTFILE WORDS TEMPERATURE SEED
    run "$W/generate" "$W/m.rnn" "$2" "$3" "$4"
    cp "$W/out" "$1"
    cp "$W/err" "$1.err"
}
gen "$W/g1" 200 1.0 7
if [ "$rc" -eq 0 ]; then ok "generate exits 0"; else cat "$W/err"; bad "generate (status $rc)"; fi
nw=$(sed -n 's/^generated 200 tokens: \([0-9]*\) words, \([0-9]*\) <eos>$/\1/p' "$W/g1.err")
neos=$(sed -n 's/^generated 200 tokens: \([0-9]*\) words, \([0-9]*\) <eos>$/\2/p' "$W/g1.err")
if [ -n "$nw" ] && [ -n "$neos" ] && [ $((nw + neos)) -eq 200 ] && [ "$(wc -w <"$W/g1")" -eq "$nw" ]; then
    ok "generate 200: $nw words + $neos <eos> (newlines), wc -w agrees"
else
    bad "generate word counts: summary '$(cat "$W/g1.err")', wc -w $(wc -w <"$W/g1")"
fi
[ "${neos:-0}" -ge 10 ] && ok "a trained model ends sentences ($neos <eos> in 200 tokens)" || bad "only ${neos:-?} <eos> in 200 tokens"
nl=$(wc -l <"$W/g1")
[ "$nl" -ge "${neos:-0}" ] && [ "$nl" -le $((${neos:-0} + 1)) ] && ok "one line per sentence" || bad "$nl lines for ${neos:-?} <eos>"
if tr ' ' '\n' <"$W/g1" | grep -v '^$' | grep -qvxE 'the|a|cat|dog|bird|fish|sees|eats|likes|chases|big|small|red|old|today'; then
    bad "generate printed words outside the vocabulary"
else
    ok "every generated word is in the vocabulary"
fi
gen "$W/g2" 200 1.0 7
cmp -s "$W/g1" "$W/g2" && ok "same seed -> same text" || bad "same seed gave different text"
gen "$W/g3" 200 1.0 8
cmp -s "$W/g1" "$W/g3" && bad "seeds 7 and 8 gave the same 200 tokens" || ok "another seed -> other text"
gen "$W/t0a" 50 0 1
gen "$W/t0b" 50 0 2
cmp -s "$W/t0a" "$W/t0b" && [ -s "$W/t0a" ] && ok "temperature 0 (greedy) ignores the seed" || bad "greedy output depends on the seed"
gen "$W/g0" 0 1.0 1
[ "$rc" -eq 0 ] && [ ! -s "$W/g0" ] && ok "generate 0 words prints nothing" || bad "generate 0 (status $rc)"
run "$W/generate" "$W/m.rnn" 10 -1
if [ "$rc" -ne 0 ] && grep -q 'invalid argument (temperature' "$W/err"; then
    ok "negative temperature: rnn_status_string and rnn_state_errmsg, non-zero"
else
    cat "$W/err"; bad "negative temperature (status $rc)"
fi
# a prompt (rnn_vocab_encode: str.split()'s words, here split at U+3000 and a tab)
run "$W/generate" "$W/m.rnn" 30 0 1 "the big$(printf '\343\200\200')cat	sees"
cp "$W/out" "$W/pr1"
run "$W/generate" "$W/m.rnn" 30 0 1 "the big cat sees"
if [ "$rc" -eq 0 ] && [ -s "$W/out" ] && cmp -s "$W/out" "$W/pr1"; then
    ok "generate with a prompt; Unicode and ASCII spaces split it alike"
else
    cat "$W/err"; bad "generate with a prompt (status $rc)"
fi
run "$W/generate" "$W/m.rnn" 30 0 1
cmp -s "$W/pr1" "$W/out" && bad "the prompt did not change the greedy text" || ok "the prompt conditions the text"
run "$W/generate" "$W/m.rnn" 10 1.0 1 "the zebra"
[ "$rc" -ne 0 ] && grep -q 'zebra' "$W/err" && ok "generate: an unknown prompt word without <unk> is an error naming it" ||
    { cat "$W/err"; bad "generate unknown prompt word (status $rc)"; }
run "$W/generate" "$W/missing.rnn"
[ "$rc" -ne 0 ] && grep -q 'rnn_model_load: input/output error (cannot open' "$W/err" &&
    ok "generate on a missing model: the load error and its reason" || bad "generate missing model (status $rc)"
head -c 100 "$W/m.rnn" >"$W/trunc.rnn"
run "$W/generate" "$W/trunc.rnn"
[ "$rc" -ne 0 ] && grep -q 'rnn_model_load: malformed or unsupported [a-z]* (' "$W/err" &&
    ok "generate on a truncated model: RNN_ERR_FORMAT with the reason" || { cat "$W/err"; bad "truncated model (status $rc)"; }

# 5. score: one line per input line and a total; token counts; sums; perplexity
nlines=$(wc -l <"$W/valid.txt")
ntok=$(($(wc -w <"$W/valid.txt") + nlines))
for mode in carried reset; do
    if [ $mode = reset ]; then run "$W/score" "$W/m.rnn" "$W/valid.txt" --reset; else run "$W/score" "$W/m.rnn" "$W/valid.txt"; fi
    if [ "$rc" -ne 0 ]; then cat "$W/err"; bad "score ($mode state): status $rc"; continue; fi
    tail -n 1 "$W/out"
    if awk -v nl="$nlines" -v nt="$ntok" -v V="$V" -F'\t' '
        /^total: / { split($0, f, " "); tl = f[3]; tt = f[5]; tlp = f[7]; tp = f[9]; next }
        { n++; if ($1 != n) bad = 1; toks += $2; lp += $3; if ($3 > 0 || $4 < 1) bad = 1
          if ($4 - exp(-$3 / $2) > 1e-3 * $4 || exp(-$3 / $2) - $4 > 1e-3 * $4) bad = 1 }
        END { d = lp - tlp; if (d < 0) d = -d
              exit !(!bad && n == nl && tl == nl && toks == nt && tt == nt && d < 1e-3 * (-tlp) &&
                     tp == tp + 0 && tp > 1 && tp < V && (tp - exp(-tlp / tt)) ^ 2 < 1e-4) }' "$W/out"; then
        ok "score ($mode state): $nlines lines, $ntok tokens, sums and perplexity consistent, ppl < $V"
    else
        bad "score ($mode state) output inconsistent"; head -3 "$W/out"
    fi
    cp "$W/out" "$W/score.$mode"
done
# the carried-state perplexity is the stream perplexity that train/rnnlm eval report (other batching)
sp=$(sed -n 's/^total: .* ppl \([^ ]*\)$/\1/p' "$W/score.carried")
awk_ok 'a / b > 0.8 && a / b < 1.25' -v a="$sp" -v b="$ppl" &&
    ok "score's stream perplexity $sp is close to train's valid ppl $ppl" || bad "score ppl $sp vs train ppl $ppl"
run "$W/score" "$W/m.rnn" "$W/valid.txt"
cmp -s "$W/out" "$W/score.carried" && ok "score is deterministic" || bad "score differs between runs"
printf 'the cat sees a zebra\n' >"$W/unknown.txt"
run "$W/score" "$W/m.rnn" "$W/unknown.txt"
[ "$rc" -ne 0 ] && grep -q "zebra.* is not in the vocabulary" "$W/err" && ok "score: an unknown word without <unk> is an error" ||
    bad "score unknown word (status $rc)"
# the tokenizer is rnnlm's (rnn_vocab_encode): str.split()'s spaces, "\r\n" and a lone "\r" end lines
printf 'the\342\200\200cat\343\200\200sees\302\240a\034dog\rthe red\tbird\r\na fish  today\n' >"$W/uni.txt"
run "$W/score" "$W/m.rnn" "$W/uni.txt"
if [ "$rc" -eq 0 ] && [ "$(cut -f2 "$W/out" | head -n 3 | tr '\n' ' ')" = "6 4 4 " ] &&
    grep -q '^total: lines 3 tokens 14 ' "$W/out"; then
    ok "score splits words and lines as str.split() and universal newlines do"
else
    cat "$W/out" "$W/err"; bad "score on Unicode spaces and CR line ends (status $rc)"
fi
if [ -n "${RNNLM:-}" ] && [ -x "$RNNLM" ]; then
    "$RNNLM" score --checkpoint "$W/m.rnn" --data "$W/uni.txt" >"$W/cli.out" 2>&1 || :
    if [ "$(head -n 3 "$W/cli.out" | cut -f2 | tr '\n' ' ')" = "$(head -n 3 "$W/out" | cut -f2 | tr '\n' ' ')" ]; then
        ok "score and rnnlm score give the same tokens per line"
    else
        cat "$W/cli.out"; bad "score and rnnlm score tokenize differently"
    fi
fi
printf 'the cat \377 sees\n' >"$W/badutf8.txt"
run "$W/score" "$W/m.rnn" "$W/badutf8.txt"
[ "$rc" -ne 0 ] && grep -q 'badutf8.txt:1:' "$W/err" && ok "score: text that is not UTF-8 is an error naming the line" ||
    { cat "$W/err"; bad "score invalid UTF-8 (status $rc)"; }
run "$W/score" "$W/m.rnn" "$W/valid.txt" --bogus
[ "$rc" -eq 2 ] && ok "score with a bad flag: usage, status 2" || bad "score bad flag (status $rc)"
run "$W/score" "$W/trunc.rnn" "$W/valid.txt"
[ "$rc" -ne 0 ] && grep -q 'rnn_model_load: malformed' "$W/err" && ok "score on a truncated model fails with the reason" ||
    bad "score truncated model (status $rc)"

finish
