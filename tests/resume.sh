#!/bin/sh
# tests/resume.sh -- exact resume of `rnnlm train`: a run killed with SIGKILL (at random times,
# after a given number of batches, after a validation, during a resumed run) or stopped with
# SIGINT, then continued with --resume SAVE.ckpt until it completes, must end with a --save file
# bit-identical to an uninterrupted run's, the same test line and the same logged losses.
# Also: --resume errors (missing, corrupt, not a checkpoint, changed best model or corpus, flags).
#   RNNLM=/abs/path/bin/rnnlm sh tests/resume.sh        (make check runs it)
# Prints "N passed, M failed" last; exits non-zero when anything failed.
set -eu

RNNLM=${RNNLM:-$(pwd)/bin/rnnlm}
W=$(mktemp -d "${TMPDIR:-/tmp}/rnnlm-resume.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
. "$(dirname "$0")/lib/harness.sh"

# ---- a tiny corpus and model: 3 epochs of about 55 batches, dropout so the generator matters ------
C=$W/corpus
toy_corpus "$C" 11 200 40
F="--data $C --emsize 16 --nhid 16 --epochs 3 --batch_size 4 --bptt 5 --dropout 0.2 --threads 1 --log-interval 3"

# The logged losses of an output (epoch, batch, loss, ppl of the batch lines; the validation lines).
losses() {
    sed -n -e 's/^| epoch *\([0-9]*\) | *\([0-9]*\)\/.*| loss *\([0-9.]*\) | ppl *\([0-9.]*\) |.*/\1 \2 \3 \4/p' \
        -e 's/^| end of epoch *\([0-9]*\) |.*| \(valid loss.*\)$/\1 \2/p' "$@" | sort -u
}

# ---- (a) the uninterrupted run ---------------------------------------------------------------------
"$RNNLM" train $F --save "$W/A.rnn" >"$W/A.out"
TEST_LINE=$(grep '^| End of training' "$W/A.out")
losses "$W/A.out" >"$W/A.losses"
nb=$(grep -c '^| epoch   1 |' "$W/A.out" || true)
check "the reference run trains and tests" test -s "$W/A.rnn" -a -n "$TEST_LINE" -a "$nb" -gt 10
total=$(sed -n 's/^| epoch   1 | *[0-9]*\/ *\([0-9]*\) batches.*/\1/p' "$W/A.out" | head -n 1)
echo "reference: $TEST_LINE ($total batches per epoch)"

"$RNNLM" train $F --save "$W/B.rnn" --checkpoint-every 1 >"$W/B.out"
check "checkpoints do not change the run" cmp -s "$W/A.rnn" "$W/B.rnn"
losses "$W/B.out" >"$W/B.losses"
check "checkpoints do not change the logged losses" cmp -s "$W/B.losses" "$W/A.losses"
check "the last checkpoint is written" test -s "$W/B.rnn.ckpt"

# ---- (b) killed runs, resumed until they complete ------------------------------------------------
# wait_for: tests/lib/harness.sh

midrun=0
# scenario NAME STOP...: starts the run with --checkpoint-every 1; each STOP ends one segment:
#   a number: SIGKILL after that many seconds;  eE:N: SIGKILL after the N-th log line of epoch E;
#   int:E:N: SIGINT (Ctrl-C) after the N-th log line of epoch E.
# Each next segment is `train --resume SAVE.ckpt` (a fresh start when no checkpoint was written yet);
# the last one runs to completion.
scenario() {
    name=$1; shift
    S=$W/$name.rnn
    i=0
    rm -f "$S" "$S.ckpt" "$W/$name".seg*
    for stop in "$@" end; do
        i=$((i + 1))
        out=$W/$name.seg$i
        if [ -f "$S.ckpt" ]; then args="train --resume $S.ckpt"; else args="train $F --save $S --checkpoint-every 1"; fi
        if [ "$stop" = end ]; then
            # shellcheck disable=SC2086
            "$RNNLM" $args >"$out" 2>"$out.err" || bad "$name: the last segment failed: $(cat "$out.err")"
        else
            # shellcheck disable=SC2086
            "$RNNLM" $args >"$out" 2>"$out.err" &
            pid=$!
            case $stop in
            e*:*) E=${stop#e}; N=${E#*:}; E=${E%%:*}
                  wait_for "$out" "^| epoch   $E |" "$N" "$pid" || bad "$name: the run ended before $stop"
                  kill -9 "$pid" 2>/dev/null || true; how="SIGKILL after log line $N of epoch $E" ;;
            int:*) E=${stop#int:}; N=${E#*:}; E=${E%%:*}
                  wait_for "$out" "^| epoch   $E |" "$N" "$pid" || bad "$name: the run ended before $stop"
                  kill -INT "$pid" 2>/dev/null || true; how="SIGINT after log line $N of epoch $E" ;;
            *) sleep "$stop"; kill -9 "$pid" 2>/dev/null || true; how="SIGKILL after $stop s" ;;
            esac
            wait "$pid" 2>/dev/null || true
        fi
        where=$(sed -n 's/^| resume: [^:]*: //p' "$out")
        if [ $i -gt 1 ]; then
            echo "  $name: $prev_how -> ${where:-no checkpoint yet: started again}"
            case $where in *"batches done"*) midrun=$((midrun + 1)) ;; esac
        fi
        prev_how=$how
    done
    last=$W/$name.seg$i
    check "$name: --save is bit-identical to the uninterrupted run's" cmp -s "$S" "$W/A.rnn"
    check "$name: the same test line" test "$(grep '^| End of training' "$last")" = "$TEST_LINE"
    losses "$W/$name".seg[0-9]* >"$W/$name.losses"
    check "$name: the same logged losses and validations" cmp -s "$W/$name.losses" "$W/A.losses"
}
how=
echo "kills (resume point = the last checkpoint before the kill):"
scenario k1 e1:4
scenario k2 e2:2 0.05
scenario k3 int:2:9
rnd=$(awk 'BEGIN { srand(); printf "%.2f %.2f %.2f", 0.01 + rand() * 0.12, 0.01 + rand() * 0.12, 0.01 + rand() * 0.12 }')
# shellcheck disable=SC2086
scenario k4 $rnd
check "at least 3 kills landed mid-run ($midrun did)" test "$midrun" -ge 3
check "k3: the SIGINT stop names --resume" grep -q '^Exiting from training early (continue with --resume' "$W/k3.seg1"

# ---- SIGTERM (kill, docker stop, batch schedulers) and SIGHUP stop like Ctrl-C ---------------------
# (a)'s run takes well under a second, so a signal could land after it ended: these runs train a
# larger model on a larger corpus (4 epochs of about 0.7 s here), against their own uninterrupted
# run. With checkpoints only at epoch ends (--checkpoint-every 1000), the signal's own checkpoint is
# the one of the batch reached: sent after log line 3 of epoch 2 (batch 9), the resume goes on from
# at least 9 batches past the end of epoch 1 (not from that epoch end's checkpoint), and ends
# bit-identical.
CS=$W/corpus_sig
toy_corpus "$CS" 13 2000 100
FS="--data $CS --emsize 128 --nhid 128 --epochs 4 --batch_size 4 --bptt 5 --dropout 0.2 --threads 1 --log-interval 3"
# shellcheck disable=SC2086
"$RNNLM" train $FS --save "$W/AS.rnn" >"$W/AS.out"
TEST_LINE_S=$(grep '^| End of training' "$W/AS.out")
# (the runs start with the signal's default handling: a suite run under nohup would otherwise
# pass SIGHUP on ignored, which rnnlm keeps ignored, as the last case checks)
DEFSIG=
if env --default-signal=HUP true 2>/dev/null; then DEFSIG="env --default-signal=HUP"; fi
for sig in TERM HUP; do
    S=$W/sig$sig.rnn
    # shellcheck disable=SC2086
    $DEFSIG "$RNNLM" train $FS --save "$S" --checkpoint-every 1000 >"$W/sig$sig.out" 2>"$W/sig$sig.err" &
    pid=$!
    wait_for "$W/sig$sig.out" '^| epoch   2 |' 3 "$pid" || bad "SIG$sig: the run ended before the signal"
    kill -$sig "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" || rc=$?
    check "SIG$sig: the run stops, tests the best model and exits 0 (not $rc)" test "$rc" -eq 0
    check "SIG$sig: the stop names --resume" grep -q '^Exiting from training early (continue with --resume' "$W/sig$sig.out"
    "$RNNLM" train --resume "$S.ckpt" >"$W/sig$sig.2.out" 2>&1 || bad "SIG$sig: the resume failed: $(cat "$W/sig$sig.2.out")"
    at=$(sed -n 's/^| resume: .*, [0-9]*\/\([0-9]*\) batches done (\([0-9]*\) in all).*/\2 - \1/p' "$W/sig$sig.2.out")
    check "SIG$sig: the resume goes on from the batch the signal reached (${at:-no batch} >= 9)" \
        test "$((${at:-0}))" -ge 9
    check "SIG$sig: --save is bit-identical to the uninterrupted run's" cmp -s "$S" "$W/AS.rnn"
    check "SIG$sig: the same test line" test "$(grep '^| End of training' "$W/sig$sig.2.out")" = "$TEST_LINE_S"
done
# SIGHUP ignored when the run starts (nohup): rnnlm leaves it ignored and trains to the end
if env --ignore-signal=HUP true 2>/dev/null; then
    S=$W/sigIGN.rnn
    # shellcheck disable=SC2086
    env --ignore-signal=HUP "$RNNLM" train $FS --save "$S" --checkpoint-every 1000 >"$W/sigIGN.out" 2>&1 &
    pid=$!
    wait_for "$W/sigIGN.out" '^| epoch   2 |' 3 "$pid" || bad "nohup: the run ended before the signal"
    kill -HUP "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" || rc=$?
    check "nohup: an ignored SIGHUP stays ignored: the run trains to the end (exit $rc)" test "$rc" -eq 0
    check "nohup: no early stop" sh -c "! grep -q '^Exiting from training early' '$W/sigIGN.out'"
    check "nohup: --save is the uninterrupted run's" cmp -s "$S" "$W/AS.rnn"
fi

# ---- one run per --save: a second run with the same --save, or resuming its checkpoint, stops at once,
# naming the PID of the run that holds it; a lock left by a killed run stops nobody.
"$RNNLM" train $F --save "$W/L.rnn" --checkpoint-every 1 >"$W/L.out" 2>&1 &
pid=$!
wait_for "$W/L.out" '^| epoch   1 |' 1 "$pid" || bad "lock: the first run ended too early"
expect_error 1 "a second train with the same --save" "$RNNLM" train $F --save "$W/L.rnn" --checkpoint-every 1
check "a second train with the same --save: the message names the PID" grep -q "L.rnn is in use by another rnnlm (PID $pid)" "$W/err"
expect_error 1 "train --resume of a running run's checkpoint" "$RNNLM" train --resume "$W/L.rnn.ckpt"
check "train --resume of a running run's checkpoint: the message names the PID" grep -q "(PID $pid)" "$W/err"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
check "the killed run left its lock file" test -e "$W/L.rnn.lock"
"$RNNLM" train --resume "$W/L.rnn.ckpt" >"$W/L2.out" 2>&1 || bad "resume after the lock's holder was killed: $(cat "$W/L2.out")"
check "resume after the lock's holder was killed: bit-identical" cmp -s "$W/L.rnn" "$W/A.rnn"
check "the run removes its lock file when it ends" test ! -e "$W/L.rnn.lock"

# ---- the best model at resume time --------------------------------------------------------------
# A run of one epoch ends with the checkpoint of epoch 2's start, written before SAVE: a kill
# between the two leaves SAVE missing or old; --resume writes it again from the checkpoint.
"$RNNLM" train $F --epochs 1 --save "$W/one.rnn" --checkpoint-every 50 >"$W/one.out"
cp "$W/one.rnn" "$W/one.ref"
rm "$W/one.rnn"
"$RNNLM" train --resume "$W/one.rnn.ckpt" >"$W/one2.out" 2>&1 || bad "resume with SAVE missing at an epoch end"
check "resume writes a missing best model again" cmp -s "$W/one.rnn" "$W/one.ref"
check "... and says so" grep -q '^| resume: wrote the best model' "$W/one2.out"
check "... same test line" test "$(grep '^| End of training' "$W/one2.out")" = "$(grep '^| End of training' "$W/one.out")"
# a mid-epoch checkpoint whose SAVE was replaced by another model: refused (the whole epoch 2 of
# 65 batches is left after the 2nd log line, so the kill lands mid-epoch even on a loaded machine)
"$RNNLM" train $F --epochs 2 --save "$W/two.rnn" --checkpoint-every 1 >"$W/two.out" &
pid=$!
wait_for "$W/two.out" '^| epoch   2 |' 2 "$pid" || bad "two: ended before epoch 2"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
cp "$W/two.rnn" "$W/two.keep"
cp "$W/B.rnn" "$W/two.rnn"
expect_error 1 "resume refuses a changed best model" "$RNNLM" train --resume "$W/two.rnn.ckpt"
check "... naming it" grep -q 'two.rnn is not the best model' "$W/err"
cp "$W/two.keep" "$W/two.rnn"
"$RNNLM" train --resume "$W/two.rnn.ckpt" --metrics "$W/two.jsonl" --log-interval 1 >"$W/two2.out" 2>&1 ||
    bad "resume with overrides"
check "resume with --metrics --log-interval: metrics appended, ending with the test" sh -c \
    "grep -q '\"epoch\":2,\"batch\":' '$W/two.jsonl' && tail -n 1 '$W/two.jsonl' | grep -q test_loss"

# ---- errors ------------------------------------------------------------------------------------
head -c 300 "$W/B.rnn.ckpt" >"$W/trunc.ckpt"
cp "$W/B.rnn.ckpt" "$W/flip.ckpt"
printf 'X' | dd of="$W/flip.ckpt" bs=1 seek=2000 conv=notrunc 2>/dev/null
expect_error 1 "--resume of a missing file" "$RNNLM" train --resume "$W/nothere.ckpt"
expect_error 1 "--resume of a truncated checkpoint" "$RNNLM" train --resume "$W/trunc.ckpt"
expect_error 1 "--resume of a corrupted checkpoint" "$RNNLM" train --resume "$W/flip.ckpt"
expect_error 1 "--resume of a model file (no training state)" "$RNNLM" train --resume "$W/A.rnn"
check "... says it is not a checkpoint" grep -q 'is not a checkpoint of rnnlm train' "$W/err"
expect_error 1 "--resume of a text file" "$RNNLM" train --resume "$C/train.txt"
expect_error 2 "--resume with --lr" "$RNNLM" train --resume "$W/B.rnn.ckpt" --lr 1
expect_error 2 "--resume with --seed" "$RNNLM" train --resume "$W/B.rnn.ckpt" --seed 3
expect_error 2 "--resume with fewer --epochs" "$RNNLM" train --resume "$W/B.rnn.ckpt" --epochs=2
expect_error 2 "--checkpoint-every -1" "$RNNLM" train $F --save "$W/bad.rnn" --checkpoint-every -1
# the corpus changed since the checkpoint
mkdir -p "$W/c2" && cp "$C"/*.txt "$W/c2/"
"$RNNLM" train --data "$W/c2" --emsize 8 --nhid 8 --epochs 1 --max-batches 3 --checkpoint-every 1 \
    --save "$W/c2.rnn" >/dev/null
awk 'NR == 1 { first = $0; next } { print } NR == 2 { print first }' "$C/train.txt" >"$W/c2/train.txt" # lines 1, 2 swapped
expect_error 1 "--resume over a changed corpus" "$RNNLM" train --resume "$W/c2.rnn.ckpt"
check "... says so" grep -q 'corpus .* changed' "$W/err"
cp "$C/train.txt" "$W/c2/train.txt"
check "--resume over the restored corpus" "$RNNLM" train --resume "$W/c2.rnn.ckpt" >/dev/null 2>&1

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
