#!/bin/sh
# tests/optim_cli.sh -- `rnnlm train --use-optimizer` (AdamW, rnn_adamw_step): it trains, differs
# from plain SGD, stores the flag and --weight-decay in its checkpoints and the optimizer's moments
# in them (the model file's ADMW section), and a run killed with SIGKILL (mid-epoch, after a
# validation) or stopped with SIGINT, then continued with --resume SAVE.ckpt, ends with a --save
# file bit-identical to an uninterrupted run's. Also: the flags' errors.
#   RNNLM=/abs/path/bin/rnnlm sh tests/optim_cli.sh        (make check runs it)
# Prints "N passed, M failed" last; exits non-zero when anything failed.
set -eu

RNNLM=${RNNLM:-$(pwd)/bin/rnnlm}
W=$(mktemp -d "${TMPDIR:-/tmp}/rnnlm-optim.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
. "$(dirname "$0")/lib/harness.sh"

C=$W/corpus
toy_corpus "$C" 17 200 40
F="--data $C --emsize 16 --nhid 16 --epochs 3 --batch_size 4 --bptt 5 --dropout 0.2 --threads 1 --log-interval 3"
A="--use-optimizer --lr 0.004 --weight-decay 0.05"

# ---- the uninterrupted run -------------------------------------------------------------------------
# shellcheck disable=SC2086
"$RNNLM" train $F $A --save "$W/A.rnn" >"$W/A.out"
TEST_LINE=$(grep '^| End of training' "$W/A.out")
check "--use-optimizer trains and tests" test -s "$W/A.rnn" -a -n "$TEST_LINE"
echo "AdamW: $TEST_LINE"
# shellcheck disable=SC2086
"$RNNLM" train $F --lr 0.004 --save "$W/sgd.rnn" >"$W/sgd.out"
check "--use-optimizer is not plain SGD" test "$(grep '^| End of training' "$W/sgd.out")" != "$TEST_LINE"
# shellcheck disable=SC2086
"$RNNLM" train $F $A --weight-decay 0 --save "$W/wd0.rnn" >"$W/wd0.out"
check "--weight-decay changes the run" sh -c "! cmp -s '$W/wd0.rnn' '$W/A.rnn'"
# shellcheck disable=SC2086
"$RNNLM" train $F $A --save "$W/B.rnn" --checkpoint-every 1 >"$W/B.out"
check "checkpoints do not change the run" cmp -s "$W/A.rnn" "$W/B.rnn"
check "the checkpoint stores --use-optimizer" grep -aq '^use_optimizer=1$' "$W/B.rnn.ckpt"
check "the checkpoint stores --weight-decay" grep -aq '^weight_decay=0x1.999999999999ap-5$' "$W/B.rnn.ckpt"
check "the checkpoint holds AdamW's state (ADMW)" grep -aq 'ADMW' "$W/B.rnn.ckpt"
check "the best model holds no AdamW state" sh -c "! grep -aq ADMW '$W/A.rnn'"

# ---- killed or stopped, resumed until the run completes ----------------------------------------------
# stopped: tests/lib/harness.sh
echo "stops (resume point = the last checkpoint):"
# shellcheck disable=SC2086
for stop in "kill1 KILL 1 5" "kill2 KILL 2 2" "int3 INT 3 4"; do stopped $stop "$W/A.rnn" "$TEST_LINE" $F $A; done

# ---- errors -----------------------------------------------------------------------------------------
# shellcheck disable=SC2086
expect_error 2 "a negative --weight-decay" "$RNNLM" train $F $A --weight-decay -1 --save "$W/bad.rnn"
# shellcheck disable=SC2086
expect_error 2 "an infinite --weight-decay" "$RNNLM" train $F $A --weight-decay inf --save "$W/bad.rnn"
expect_error 2 "--use-optimizer with --resume" "$RNNLM" train --resume "$W/B.rnn.ckpt" --use-optimizer
check "--help names --use-optimizer" sh -c "'$RNNLM' train --help | grep -q -- '--use-optimizer'"

echo "$pass passed, $fail failed"
test "$fail" -eq 0
