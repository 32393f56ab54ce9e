#!/bin/sh
# tests/train_cli.sh -- `rnnlm train` as practitioners use it: the vocabulary flags (--vocab-size,
# --min-count) against a vocabulary computed here with awk, the start-up summary, one batch count
# in every place, --max-eval-batches and --dry-run, early stopping (--patience, also across a
# resume), --accel, --seed -1, --resume with --epochs (extending a finished run) and --data (a moved
# folder, or another corpus), --model Transformer.
#   RNNLM=/abs/path/bin/rnnlm sh tests/train_cli.sh        (make check runs it)
#   PYTHON (default /usr/bin/python3): with numpy, the model's word order is checked too.
# Prints "N passed, M failed" last; exits non-zero when anything failed.
set -eu

RNNLM=${RNNLM:-$(pwd)/bin/rnnlm}
PY=${PYTHON:-/usr/bin/python3}
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/rnnlm-train.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
. "$(dirname "$0")/lib/harness.sh"

# ---- a tiny corpus: 1290 training tokens, so that main.py's log line and its loop disagree ---------
C=$W/corpus
toy_corpus "$C" 11 200 40
F="--data $C --emsize 16 --nhid 16 --batch_size 4 --bptt 5 --threads 1"

# field NAME FILE: the number after "NAME " in FILE's summary lines
field() { sed -n "s/^| .*[:,;] $1 \([0-9][0-9]*\).*/\1/p" "$2" | head -n 1; }

# ---- the vocabulary ------------------------------------------------------------------------------
# expected_vocab MAX MINCOUNT: the vocabulary rnnlm documents, one word a line: <unk>, then
# train.txt's words (<eos> once per line) by descending count, ties by first occurrence, those seen
# at least MINCOUNT times, at most MAX words in all (0: no limit)
expected_vocab() {
    awk -v max="$1" -v minc="$2" '
        function add(w) { if (!(w in n)) { order[++k] = w }; n[w]++ }
        { for (i = 1; i <= NF; i++) add($i); add("<eos>") }
        END { for (i = 1; i <= k; i++) print n[order[i]], i, order[i] }' "$C/train.txt" |
        sort -k1,1nr -k2,2n | awk -v max="$1" -v minc="$2" '
        BEGIN { print "<unk>"; m = 1 }
        $1 >= minc && (max == 0 || m < max) { print $3; m++ }'
}
# unk_count VOCABFILE FILE: the tokens of FILE (with <eos>) that are not in the vocabulary
unk_count() {
    awk 'NR == FNR { v[$1] = 1; next }
         { for (i = 1; i <= NF; i++) if (!($i in v)) u++; if (!("<eos>" in v)) u++ }
         END { print u + 0 }' "$1" "$2"
}

for cut in "--vocab-size 6" "--min-count 90" "--vocab-size 9 --min-count 80" "--min-count 1"; do
    set -- $cut
    max=0 minc=0
    while [ $# -gt 0 ]; do
        case $1 in --vocab-size) max=$2 ;; --min-count) minc=$2 ;; esac
        shift 2
    done
    expected_vocab "$max" "$minc" >"$W/want.vocab"
    run "$RNNLM" train $F --epochs 1 --dry-run $cut --save "$W/v.rnn"
    check "train $cut exits 0" test "$rc" -eq 0
    n=$(wc -l <"$W/want.vocab")
    check "train $cut: the summary gives the vocabulary size ($n)" grep -q "^| vocabulary: $n words, <unk> and train.txt's" "$W/out"
    want="train $(unk_count "$W/want.vocab" "$C/train.txt"), valid $(unk_count "$W/want.vocab" "$C/valid.txt"), test $(unk_count "$W/want.vocab" "$C/test.txt")"
    check "train $cut: the summary counts the tokens that became <unk> ($want)" grep -q "became <unk>: $want\$" "$W/out"
    if "$PY" -c 'import numpy' 2>/dev/null; then
        "$PY" -c "import sys; sys.path.insert(0, '$TOOLS'); import rnnfile
for w in rnnfile.read('$W/v.rnn').vocab: print(w.decode())" >"$W/got.vocab" 2>"$W/py.err" || cat "$W/py.err"
        check "train $cut: the model's words, in the documented order" cmp -s "$W/got.vocab" "$W/want.vocab"
    fi
done
expected_vocab 6 0 >"$W/want.vocab"
check "the corpus leaves valid words out of a cut vocabulary" test "$(unk_count "$W/want.vocab" "$C/valid.txt")" -gt 0
run "$RNNLM" train $F --epochs 1 --dry-run --save "$W/v.rnn"
check "default vocabulary: data.py's, nothing became <unk>" sh -c \
    "grep -q '^| vocabulary: 16 words, every word of train, valid and test' '$W/out' && grep -q 'became <unk>: train 0, valid 0, test 0' '$W/out'"
ntrain=$(sed -n 's/^| tokens: train \([0-9]*\),.*/\1/p' "$W/out")
expect_error 2 "--vocab-size with --init" "$RNNLM" train --data "$C" --init "$W/v.rnn" --vocab-size 5 --save "$W/bad.rnn"
check "--vocab-size with --init: the message says why" grep -q "init takes the model's vocabulary" "$W/err"

# ---- one batch count: the loop's, in the summary, the log lines and --resume's line -------------
len=$((ntrain / 4))
loop=$(((len - 1 + 4) / 5)) # len(range(0, len - 1, bptt))
check "the corpus shows main.py's difference (len // bptt $((len / 5)) != $loop batches)" test $((len / 5)) -ne "$loop"
run "$RNNLM" train $F --epochs 1 --log-interval 10 --checkpoint-every 17 --save "$W/n.rnn"
summ=$(sed -n 's/^| batches: \([0-9]*\) per epoch.*/\1/p' "$W/out")
logged=$(sed -n 's/^| epoch   1 | *[0-9]*\/ *\([0-9]*\) batches.*/\1/p' "$W/out" | sort -u)
check "the summary counts the batches the epoch runs ($summ = $loop)" test "$summ" = "$loop"
check "the log lines count the same ($logged)" test "$logged" = "$loop"
"$RNNLM" train --resume "$W/n.rnn.ckpt" --epochs 2 >"$W/n2.out" 2>&1 || true
check "--resume's line counts the same" grep -q "^| resume: .*: epoch 2, 0/$loop batches done" "$W/n2.out"

# ---- --max-eval-batches and --dry-run ------------------------------------------------------------
valid_loss() { sed -n 's/^| end of epoch *1 |.*| valid loss *\([0-9.]*\) |.*/\1/p' "$1"; }
run "$RNNLM" train $F --epochs 1 --max-batches 3 --save "$W/e.rnn"
full=$(valid_loss "$W/out")
nvalid=$(sed -n 's/^| batches: .*; validation \([0-9]*\),.*/\1/p' "$W/out")
run "$RNNLM" train $F --epochs 1 --max-batches 3 --max-eval-batches 2 --save "$W/e.rnn"
check "--max-eval-batches 2: the summary says 2 of $nvalid" grep -q "; validation 2 of $nvalid, test 2 of [0-9]* (--max-eval-batches)" "$W/out"
check "--max-eval-batches 2: another validation loss than all $nvalid batches' ($full)" test "$(valid_loss "$W/out")" != "$full"
run "$RNNLM" train $F --epochs 1 --max-batches 3 --max-eval-batches "$nvalid" --save "$W/e.rnn"
check "--max-eval-batches $nvalid (all): the full validation loss" test "$(valid_loss "$W/out")" = "$full"
run "$RNNLM" train $F --epochs 1 --dry-run --save "$W/e.rnn"
check "--dry-run: one batch of validation and test" grep -q "^| batches: 1 of $loop per epoch (--dry-run), .*; validation 1 of $nvalid, test 1 of [0-9]* (--dry-run)" "$W/out"

# ---- --patience: early stopping, and its counter kept across a resume ---------------------------
run "$RNNLM" train $F --epochs 30 --patience 2 --log-interval 1000 --metrics "$W/p.jsonl" --save "$W/p.rnn"
ran=$(grep -c '^| end of epoch' "$W/out" || true)
# the epoch at which two validations in a row were no better than the best one (from the metrics)
want=$(sed -n 's/^{"epoch":\([0-9]*\),"valid_loss":\([^,]*\),.*/\1 \2/p' "$W/p.jsonl" 2>/dev/null |
    awk '$1 == 1 || $2 < best { best = $2; stale = 0; next } { if (++stale == 2) { print $1; exit } }')
check "--patience 2 stops after epoch ${want:-none} (ran $ran of 30)" test -n "$want" -a "$ran" = "${want:-x}"
check "--patience 2 says so" grep -q '^| early stopping: no better validation loss in 2 epochs (--patience 2)' "$W/out"
check "--patience 2 tests the best model" grep -q '^| End of training' "$W/out"
if [ -n "$want" ]; then
    # the first segment ends one epoch before the stop (one stale validation), the resume goes on
    "$RNNLM" train $F --epochs $((want - 1)) --patience 2 --log-interval 1000 --checkpoint-every 1000 \
        --save "$W/p2.rnn" >"$W/p2.out" || bad "rnnlm train failed (its message is above)"
    "$RNNLM" train --resume "$W/p2.rnn.ckpt" --epochs 30 >"$W/p3.out" || bad "rnnlm train failed (its message is above)"
    check "--patience across --resume: stops at the same epoch" test "$(grep -c '^| end of epoch' "$W/p3.out")" -eq 1
    check "--patience across --resume: the same best model" cmp -s "$W/p2.rnn" "$W/p.rnn"
    check "--patience across --resume: the same test line" \
        test "$(grep '^| End of training' "$W/p3.out")" = "$(grep '^| End of training' "$W/out")"
    "$RNNLM" train --resume "$W/p2.rnn.ckpt" --epochs 40 >"$W/p4.out" || bad "rnnlm train failed (its message is above)"
    check "--resume of a stopped run: no training, the test again" sh -c \
        "! grep -q '^| end of epoch' '$W/p4.out' && grep -q '^| resume: .*training stopped early' '$W/p4.out' && grep -q '^| End of training' '$W/p4.out'"
fi

# ---- --accel, --model Transformer -------------------------------------------------------------------
run "$RNNLM" train $F --epochs 1 --dry-run --accel --save "$W/a.rnn"
check "--accel is accepted" test "$rc" -eq 0 -a -s "$W/a.rnn"
check "--accel: one line says it is ignored" test "$(grep -c -- '--accel' "$W/out")" -eq 1
expect_error 2 "--model Transformer" "$RNNLM" train $F --model Transformer --save "$W/bad.rnn"
check "--model Transformer: the message says it is not available" grep -q 'Transformer is not available' "$W/err"

# ---- --seed -1: drawn, printed, stored in checkpoints ---------------------------------------------
seed_of() { sed -n 's/^| seed: \([0-9]*\) (drawn at random: --seed -1)$/\1/p' "$1"; }
"$RNNLM" train $F --epochs 1 --max-batches 5 --seed -1 --save "$W/s1.rnn" --checkpoint-every 1000 >"$W/s1.out" || bad "rnnlm train failed (its message is above)"
"$RNNLM" train $F --epochs 1 --max-batches 5 --seed -1 --save "$W/s2.rnn" >"$W/s2.out" || bad "rnnlm train failed (its message is above)"
s1=$(seed_of "$W/s1.out") s2=$(seed_of "$W/s2.out")
check "--seed -1 prints the seed drawn ($s1, $s2)" test -n "$s1" -a -n "$s2"
check "--seed -1 draws another seed each run" test "$s1" != "$s2"
"$RNNLM" train $F --epochs 2 --max-batches 5 --seed "${s1:-0}" --save "$W/s3.rnn" >"$W/s3.out" || bad "rnnlm train failed (its message is above)"
"$RNNLM" train --resume "$W/s1.rnn.ckpt" --epochs 2 >"$W/s1b.out" || bad "rnnlm train failed (its message is above)"
check "--seed -1: the resume keeps the seed drawn" grep -q "^| seed: $s1\$" "$W/s1b.out"
check "--seed -1 then --resume: bit-identical to --seed $s1" cmp -s "$W/s1.rnn" "$W/s3.rnn"

# ---- --resume --epochs: extending a finished run equals the longer run ---------------------------
"$RNNLM" train $F --epochs 3 --save "$W/r3.rnn" >"$W/r3.out" || bad "rnnlm train failed (its message is above)"
"$RNNLM" train $F --epochs 2 --save "$W/r.rnn" --checkpoint-every 1000 >"$W/r.out" || bad "rnnlm train failed (its message is above)"
run "$RNNLM" train --resume "$W/r.rnn.ckpt" --epochs 3
check "--resume --epochs 3 extends a finished 2-epoch run" test "$rc" -eq 0
check "... and says so" grep -q '^| resume: --epochs 3 extends the run.s 2' "$W/out"
check "... one more epoch" test "$(grep -c '^| end of epoch' "$W/out")" -eq 1
check "... the best model equals the 3-epoch run's" cmp -s "$W/r.rnn" "$W/r3.rnn"
check "... the same test line as the 3-epoch run" test "$(grep '^| End of training' "$W/out")" = "$(grep '^| End of training' "$W/r3.out")"
expect_error 2 "--resume --epochs fewer than the run's" "$RNNLM" train --resume "$W/r.rnn.ckpt" --epochs 2
check "... the message gives both" grep -q -- '--epochs 2 is fewer than the run.s 3' "$W/err"

# ---- --resume --data: a moved folder is accepted, another corpus is refused ------------------------
"$RNNLM" train $F --epochs 2 --max-batches 20 --save "$W/d.rnn" --checkpoint-every 30 >"$W/d.out" || bad "rnnlm train failed (its message is above)"
cp "$W/d.rnn" "$W/d.ref"
"$RNNLM" train $F --epochs 1 --max-batches 20 --save "$W/m.rnn" --checkpoint-every 1000 >/dev/null || bad "rnnlm train failed (its message is above)"
mv "$C" "$W/moved"
expect_error 1 "--resume after the corpus moved, without --data" "$RNNLM" train --resume "$W/m.rnn.ckpt"
run "$RNNLM" train --resume "$W/m.rnn.ckpt" --data "$W/moved" --epochs 2
check "--resume --data: a moved folder with the same corpus" test "$rc" -eq 0
check "... says where it moved" grep -q "^| resume: the corpus moved from .*corpus to .*moved\$" "$W/out"
check "... bit-identical to the run that did not move" cmp -s "$W/m.rnn" "$W/d.ref"
mkdir "$W/other" && cp "$W/moved/train.txt" "$W/moved/test.txt" "$W/other/" && head -n 30 "$W/moved/valid.txt" >"$W/other/valid.txt"
expect_error 1 "--resume --data: another corpus" "$RNNLM" train --resume "$W/m.rnn.ckpt" --data "$W/other" --epochs 3
check "... the message names the mismatch" grep -q "is not the one the run trained on .*: valid.txt has [0-9]* tokens, the checkpoint's [0-9]*" "$W/err"
mv "$W/moved" "$C"

# ---- --vocab-size runs resume exactly; a changed train.txt is refused -----------------------------
"$RNNLM" train $F --vocab-size 8 --epochs 2 --max-batches 20 --save "$W/k2.rnn" >/dev/null || bad "rnnlm train failed (its message is above)"
"$RNNLM" train $F --vocab-size 8 --epochs 1 --max-batches 20 --save "$W/k.rnn" --checkpoint-every 1000 >/dev/null || bad "rnnlm train failed (its message is above)"
"$RNNLM" train --resume "$W/k.rnn.ckpt" --epochs 2 >"$W/k.out" 2>&1 || bad "resume of a --vocab-size run: $(cat "$W/k.out")"
check "--vocab-size run, resumed: bit-identical" cmp -s "$W/k.rnn" "$W/k2.rnn"
mkdir "$W/kc" && cp "$C/valid.txt" "$C/test.txt" "$W/kc/" && sed 's/^the /red /' "$C/train.txt" >"$W/kc/train.txt"
expect_error 1 "--vocab-size run, resumed over a changed train.txt" "$RNNLM" train --resume "$W/k.rnn.ckpt" --data "$W/kc" --epochs 3
check "... the message says the vocabulary differs" grep -q "the vocabulary built from .*kc/train.txt differs from the checkpoint's" "$W/err"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
