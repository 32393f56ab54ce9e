#!/bin/sh
# tests/generate_cli.sh -- rnnlm generate's llama.cpp-style flags (--min-p, --repeat-penalty,
# --repeat-last-n, --stop-at-eos, --prompt-file, --echo, --unk-policy, --seed -1, --data and
# --accel accepted) and rnnlm info, on a tiny model trained here on a generated corpus.
#   RNNLM=/abs/path/bin/rnnlm sh tests/generate_cli.sh        (make check runs it)
# Prints "N passed, M failed" last; exits non-zero when anything failed.
set -eu

RNNLM=${RNNLM:-$(pwd)/bin/rnnlm}
W=$(mktemp -d "${TMPDIR:-/tmp}/rnnlm-gen.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
. "$(dirname "$0")/lib/harness.sh"

C=$W/corpus
toy_corpus "$C" 11 300 60
run "$RNNLM" train --data "$C" --emsize 16 --nhid 16 --epochs 1 --batch_size 4 --bptt 10 --max-batches 40 \
    --save "$W/m.rnn" --checkpoint-every 20
check "train the test model" test "$rc" -eq 0 -a -s "$W/m.rnn" -a -s "$W/m.rnn.ckpt"
# a model with <unk> in its vocabulary
mkdir -p "$W/unkc" && cp "$C/valid.txt" "$C/test.txt" "$W/unkc/" && { cat "$C/train.txt"; echo "the <unk> sat"; } >"$W/unkc/train.txt"
run "$RNNLM" train --data "$W/unkc" --emsize 16 --nhid 16 --epochs 1 --max-batches 3 --save "$W/unk.rnn"
check "train the <unk> model" test "$rc" -eq 0 -a -s "$W/unk.rnn"

G="$RNNLM generate --checkpoint $W/m.rnn --log-interval 1000"
# the tokens of a generated text: its words and its <eos> (newlines; the last one ends the text)
words() { echo $(($(wc -w <"$1") + $(wc -l <"$1") - 1)); }
# the number of times the most frequent token (<eos>: a newline) occurs in file $1
maxrep() { sed 's/$/ <eos>/' "$1" | tr -s ' ' '\n' | grep . | sort | uniq -c | sort -rn | awk 'NR == 1 { print $1 }'; }

# ---- --repeat-penalty / --repeat-last-n --------------------------------------------------------------
run $G --outf "$W/g0.txt" --temperature 0 --words 60 --prompt "the cat"
check "greedy generation" test "$rc" -eq 0 -a "$(words "$W/g0.txt")" -eq 60
run $G --outf "$W/g1.txt" --temperature 0 --words 60 --prompt "the cat" --repeat-penalty 1.0
check "--repeat-penalty 1 is off" cmp -s "$W/g0.txt" "$W/g1.txt"
run $G --outf "$W/g2.txt" --temperature 0 --words 60 --prompt "the cat" --repeat-penalty 5
check "--repeat-penalty 5 exits 0" test "$rc" -eq 0 -a "$(words "$W/g2.txt")" -eq 60
check "--repeat-penalty changes greedy text" sh -c "! cmp -s '$W/g0.txt' '$W/g2.txt'"
check "--repeat-penalty 5 repeats the top word less" test "$(maxrep "$W/g2.txt")" -lt "$(maxrep "$W/g0.txt")"
run $G --outf "$W/g3.txt" --temperature 0 --words 60 --prompt "the cat" --repeat-penalty 5 --repeat-last-n 0
check "--repeat-last-n 0 turns the penalty off" cmp -s "$W/g0.txt" "$W/g3.txt"
run $G --outf "$W/g4.txt" --temperature 0 --words 60 --prompt "the cat" --repeat-penalty 5 --repeat-last-n 1
check "--repeat-last-n 1 differs from 64" sh -c "! cmp -s '$W/g2.txt' '$W/g4.txt'"
run $G --outf "$W/g5.txt" --temperature 0 --words 60 --prompt "the cat" --repeat-penalty 5 --repeat-last-n 1024
check "--repeat-last-n 1024 (the limit) is accepted" test "$rc" -eq 0

# ---- --min-p ---------------------------------------------------------------------------------------
run $G --outf "$W/m0.txt" --words 80 --seed 5
run $G --outf "$W/m1.txt" --words 80 --seed 5 --min-p 0
check "--min-p 0 is off" cmp -s "$W/m0.txt" "$W/m1.txt"
run $G --outf "$W/m2.txt" --words 80 --seed 5 --min-p 1
run $G --outf "$W/m3.txt" --words 80 --seed 5 --temperature 0
check "--min-p 1 keeps only the most likely word (greedy)" cmp -s "$W/m2.txt" "$W/m3.txt"
run $G --outf "$W/m4.txt" --words 80 --seed 5 --min-p 0.3
check "--min-p 0.3 changes the sampled text" test "$rc" -eq 0 -a "$(cat "$W/m4.txt")" != "$(cat "$W/m0.txt")"

# ---- --stop-at-eos ---------------------------------------------------------------------------------
run $G --outf "$W/e1.txt" --words 500 --seed 3 --stop-at-eos
check "--stop-at-eos exits 0" test "$rc" -eq 0
check "--stop-at-eos logs where it stopped" grep -q '^| Stopped at <eos> after [0-9]*/500 words$' "$W/out"
check "--stop-at-eos writes one line (the <eos> is not written)" test "$(wc -l <"$W/e1.txt")" -le 1
run $G --outf "$W/e2.txt" --words 500 --seed 3
check "--stop-at-eos: the words before the <eos> are the run's without it" \
    test "$(head -n 1 "$W/e2.txt" | sed 's/ *$//')" = "$(head -n 1 "$W/e1.txt" | sed 's/ *$//')"
check "without --stop-at-eos the text goes on" test "$(wc -l <"$W/e2.txt")" -gt 1

# ---- --prompt-file, --echo, --unk-policy -------------------------------------------------------------
printf 'the cat sat\non the\n' >"$W/p.txt"
run $G --outf "$W/pf.txt" --words 10 --seed 9 --prompt-file "$W/p.txt" --echo
check "--prompt-file --echo exits 0" test "$rc" -eq 0
check "--echo writes the prompt first, its newline as <eos>" \
    test "$(head -n 2 "$W/pf.txt" | sed 's/^ *//; s/ *$//' | tr '\n' '|')" = "the cat sat|on the|"
check "--echo: the prompt's 7 tokens and 10 words" test "$(words "$W/pf.txt")" -eq 17
run sh -c "$G --outf '$W/ps.txt' --words 10 --seed 9 --prompt-file - --echo <'$W/p.txt'"
check "--prompt-file - reads stdin" cmp -s "$W/pf.txt" "$W/ps.txt"
run $G --outf "$W/pn.txt" --words 10 --seed 9 --prompt-file "$W/p.txt"
check "without --echo the prompt is not written" test "$(words "$W/pn.txt")" -eq 10
tail -n +3 "$W/pf.txt" | sed '1s/^ //' >"$W/pf_gen.txt"
check "without --echo: the same generated words" cmp -s "$W/pn.txt" "$W/pf_gen.txt"
run $G --outf "$W/pp.txt" --words 10 --seed 9 --prompt "the cat sat" --echo
check "--prompt --echo" test "$rc" -eq 0 -a "$(head -n 1 "$W/pp.txt" | cut -d' ' -f1-3)" = "the cat sat"
run $G --outf "$W/r1.txt" --words 10 --seed 9 --echo
check "--echo without a prompt writes the random first word" test "$(words "$W/r1.txt")" -eq 11

run $G --outf "$W/u1.txt" --words 5 --prompt "the zebra cat" --unk-policy skip --echo
check "--unk-policy skip exits 0" test "$rc" -eq 0
check "--unk-policy skip leaves the word out" test "$(head -n 1 "$W/u1.txt" | cut -d' ' -f1-2)" = "the cat"
check "--unk-policy skip counts it on stderr" grep -q '^rnnlm: --prompt: 1 unknown word (not in the model.s vocabulary), left out$' "$W/err"
run "$RNNLM" generate --checkpoint "$W/unk.rnn" --outf "$W/u2.txt" --words 5 --prompt "the zebra quokka" --echo
check "--unk-policy map (default) on a model with <unk>" test "$rc" -eq 0 -a "$(head -n 1 "$W/u2.txt" | cut -d' ' -f1-3)" = "the <unk> <unk>"
check "--unk-policy map counts them on stderr" grep -q '^rnnlm: --prompt: 2 unknown words (not in the model.s vocabulary), mapped to <unk>$' "$W/err"
expect_error 1 "--unk-policy error" "$RNNLM" generate --checkpoint "$W/unk.rnn" --outf "$W/bad.txt" --prompt "the zebra" --unk-policy error
check "--unk-policy error names the word" grep -q 'zebra' "$W/err"
expect_error 1 "--unk-policy map on a model without <unk>" $G --outf "$W/bad.txt" --prompt "the zebra"

# ---- --seed -1, --data, --accel ----------------------------------------------------------------------
run $G --outf "$W/s1.txt" --words 20 --seed -1
check "--seed -1 exits 0" test "$rc" -eq 0
check "--seed -1 prints the seed" grep -q '^rnnlm: seed [0-9][0-9]*$' "$W/err"
seed=$(sed -n 's/^rnnlm: seed //p' "$W/err")
run $G --outf "$W/s2.txt" --words 20 --seed "$seed"
check "--seed N repeats a --seed -1 run" cmp -s "$W/s1.txt" "$W/s2.txt"
run $G --outf "$W/s3.txt" --words 20 --seed -1
check "--seed -1 twice: two seeds" test "$(sed -n 's/^rnnlm: seed //p' "$W/err")" != "$seed"
run $G --outf "$W/d1.txt" --words 20 --seed 4 --data "$C" --accel
run $G --outf "$W/d2.txt" --words 20 --seed 4
check "--data and --accel are accepted" test "$rc" -eq 0 && cmp -s "$W/d1.txt" "$W/d2.txt"
run $G --outf "$W/d3.txt" --words 20 --seed 4 --data "$C"
check "--data: one line on stderr says it is ignored" test "$(wc -l <"$W/err")" -eq 1 && grep -q '^rnnlm: --data is ignored' "$W/err"
run $G --outf "$W/d4.txt" --words 20 --seed 4 --accel
check "--accel: one line on stderr says it is ignored" test "$(wc -l <"$W/err")" -eq 1 && grep -q '^rnnlm: --accel is ignored' "$W/err"

# ---- bad values: exit 2, one line, no output ---------------------------------------------------------
B="$RNNLM generate --checkpoint $W/m.rnn --outf $W/bad.txt"
for args in "--min-p -0.1" "--min-p 1.5" "--min-p nan" "--min-p x" "--repeat-penalty -1" "--repeat-penalty inf" \
    "--repeat-penalty 1e39" "--repeat-penalty x" "--repeat-last-n -1" "--repeat-last-n 1025" "--repeat-last-n 1.5" \
    "--unk-policy bogus" "--unk-policy" "--prompt-file" "--seed x" "--stop-at-eos=1" "--echo=yes" \
    "--prompt a --prompt-file $W/p.txt"; do
    expect_error 2 "generate $args" $B $args
done
expect_error 1 "--prompt-file that does not exist" $B --prompt-file "$W/nosuch.txt"
printf '  ' >"$W/empty.txt"
expect_error 2 "--prompt-file without words" $B --prompt-file "$W/empty.txt" --unk-policy skip
expect_error 1 "--outf is the --prompt-file" $B --prompt-file "$W/p.txt" --outf "$W/p.txt"

# ---- info ----------------------------------------------------------------------------------------
run "$RNNLM" info --checkpoint "$W/m.rnn"
check "info exits 0" test "$rc" -eq 0
check "info: format version" grep -q '^format version  1$' "$W/out"
check "info: cell and sizes" sh -c "grep -q '^cell            LSTM$' '$W/out' && grep -q '^hidden_size     16$' '$W/out' && grep -q '^num_layers      2$' '$W/out'"
# LSTM, V words, E = H = 16, 2 layers: V*16 + 2 * 4*16*(16+16+2) + 16*V + V
V=$(tr -s ' \n' '\n\n' <"$C/train.txt" | grep . | sort -u | wc -l)
V=$((V + 1)) # <eos>
check "info: vocab_size" grep -q "^vocab_size      $V$" "$W/out"
check "info: parameter count" grep -q "^parameters      $((V * 16 + 2 * 4 * 16 * 34 + 16 * V + V)) in 11 tensors$" "$W/out"
check "info: a model without training state" sh -c "grep -q '^hidden state    not saved$' '$W/out' && grep -q '^app data        none$' '$W/out'"
run "$RNNLM" info --checkpoint "$W/m.rnn.ckpt"
check "info: a checkpoint holds the training state" sh -c "grep -q '^hidden state    saved' '$W/out' && grep -q '^app data        [0-9]* bytes: rnnlm-train-checkpoint [0-9]*$' '$W/out'"
run "$RNNLM" info --checkpoint "$W/m.rnn" --vocab
check "info --vocab: one line per word" test "$(grep -c '^[0-9][0-9]*	' "$W/out")" -eq "$V"
check "info --vocab: <eos> has an id" grep -q '^[0-9][0-9]*	<eos>$' "$W/out"
run "$RNNLM" info --checkpoint "$W/m.rnn" --json --vocab
check "info --json: one line" test "$rc" -eq 0 -a "$(wc -l <"$W/out")" -eq 1
if /usr/bin/python3 -c 'import json' 2>/dev/null; then
    check "info --json is JSON with the fields" /usr/bin/python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['format_version'] == 1 and d['cell'] == 'LSTM' and d['vocab_size'] == $V, d
assert d['parameters'] == $((V * 16 + 2 * 4 * 16 * 34 + 16 * V + V)) and len(d['words']) == $V and '<eos>' in d['words'], d
" "$W/out"
fi
# a file with another version: info names it
cp "$W/m.rnn" "$W/v4.rnn"
printf '\004' | dd of="$W/v4.rnn" bs=1 seek=8 conv=notrunc 2>/dev/null
expect_error 1 "info on a version-4 file" "$RNNLM" info --checkpoint "$W/v4.rnn"
check "info names the version" grep -q 'format version 4' "$W/err"
check "info on a full-softmax model: output full" sh -c "'$RNNLM' info --checkpoint '$W/m.rnn' | grep -q '^output          full softmax$'"
printf 'hello world\n' >"$W/text.txt"
expect_error 1 "info on a file that is not a model" "$RNNLM" info --checkpoint "$W/text.txt"
expect_error 2 "info without --checkpoint" "$RNNLM" info
expect_error 2 "info --bogus" "$RNNLM" info --checkpoint "$W/m.rnn" --bogus
run "$RNNLM" --help
check "rnnlm --help lists info" grep -q '^  info ' "$W/out"
run "$RNNLM" info --help
check "info --help" test "$rc" -eq 0 -a -s "$W/out"

echo "generate_cli.sh: $pass passed, $fail failed"
test "$fail" -eq 0
