#!/bin/sh
# tests/faults.sh -- fault injection and bad input around bin/rnnlm and the model files:
#   numeric faults (NaN / inf / overflowing weights), a full disk, an unwritable folder, a missing
#   parent folder, SIGKILL during a save, and bad CLI input not already in tests/cli.sh.
#
#   RNNLM=/abs/path/bin/rnnlm sh tests/faults.sh        (make check runs it from the repo root)
# Optional: RNN_LIBDIR (the librnn.a to test, default lib), RNN_CC, RNN_SANFLAGS, RNN_LIBS (how
# to build tests/fault_helper.c against it; make check passes its own), FAULT_KILLS (default 50).
# Steps that need root (tmpfs) or a non-root user (setpriv) say why they skip.
# Prints "N passed, M failed, K skipped" last; exits non-zero when anything failed.
set -eu

RNNLM=${RNNLM:-$(pwd)/bin/rnnlm}
RNN_LIBDIR=${RNN_LIBDIR:-lib}
RNN_CC=${RNN_CC:-cc}
RNN_SANFLAGS=${RNN_SANFLAGS:-}
RNN_LIBS=${RNN_LIBS:-"$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -lm"}
KILLS=${FAULT_KILLS:-50}
W=$(mktemp -d "${TMPDIR:-/tmp}/rnnlm-faults.XXXXXX")
chmod 755 "$W" # the unwritable-folder step runs as nobody
MOUNTED=
cleanup() {
    if [ -n "$MOUNTED" ]; then umount "$MOUNTED" 2>/dev/null || :; fi
    rm -rf "$W"
}
trap cleanup EXIT INT TERM
. "$(dirname "$0")/lib/harness.sh"
skip=0
skipped() { skip=$((skip + 1)); echo "SKIP: $*"; }
# intact DESC FILE COPY: FILE is byte for byte COPY and still loads (rnnlm eval on it works).
intact() {
    if ! cmp -s "$2" "$3"; then bad "$1: $2 was changed"; return; fi
    if ! "$RNNLM" eval --checkpoint "$2" --data "$C/test.txt" >/dev/null 2>"$W/err2"; then
        bad "$1: $2 no longer loads: $(cat "$W/err2")"; return
    fi
    ok
}
# enospc DESC FILE: the message gives the system's reason (the save keeps the failed write's errno)
enospc() {
    if grep -q 'No space left on device' "$2"; then ok
    else bad "$1: the message does not say 'No space left on device': $(cat "$2")"; fi
}
no_temps() { # DESC DIR: no *.tmp.* left behind by a failed save
    if ls "$2" | grep -q '\.tmp\.'; then bad "$1: temporary files left in $2: $(ls "$2" | grep '\.tmp\.')"; else ok; fi
}

# ---- setup: the helper, a tiny corpus, a good model ---------------------------------------------
H=$W/fault_helper
# shellcheck disable=SC2086
if ! $RNN_CC -std=c11 $RNN_SANFLAGS -Iinclude tests/fault_helper.c "$RNN_LIBDIR/librnn.a" $RNN_LIBS -o "$H"; then
    echo "FAIL: cannot build tests/fault_helper.c against $RNN_LIBDIR/librnn.a"; exit 1
fi
C=$W/corpus
toy_corpus "$C" 11 300 60
TINY="--emsize 16 --nhid 16 --epochs 1 --max-batches 5"
run "$RNNLM" train --data "$C" $TINY --save "$W/good.rnn"
if [ "$rc" -ne 0 ]; then echo "FAIL: cannot train the base model:"; cat "$W/err"; exit 1; fi
cp "$W/good.rnn" "$W/good.orig"

# ---- numeric faults: training stops at the first non-finite gradient norm --------------------------
# --init from a model whose weights are NaN or +inf (refused: every command refuses to load it), or
# finite but overflowing (+-3e38: training diverges at batch 0); the previous --save file must stay as
# it was and load.
for mode in nan inf huge; do
    "$H" poison "$W/good.rnn" "$W/$mode.rnn" "$mode"
    cp "$W/good.orig" "$W/prev.rnn"
    run "$RNNLM" train --data "$C" --init "$W/$mode.rnn" --epochs 1 --save "$W/prev.rnn" --checkpoint-every 1
    if [ $mode = huge ] && one_line_error 1 "train --init a model with $mode weights"; then
        check "train --init $mode: the message names the epoch and the batch" \
            grep -Eq 'training diverged at epoch 1, batch 0: the (loss|gradient norm) is not finite' "$W/err"
    elif [ $mode != huge ] && one_line_error 1 "train --init a model with $mode weights"; then
        check "train --init $mode: the message names the file and the weight" \
            grep -q "$mode.rnn holds weights that are not finite (decoder.bias\[0\] is $mode)" "$W/err"
    fi
    intact "train --init $mode: the previous --save file" "$W/prev.rnn" "$W/good.orig"
    check "train --init $mode: no checkpoint of the diverged model" test ! -e "$W/prev.rnn.ckpt"
done
# diverging after some good batches: batch 0 is fine (a checkpoint is written), then the weights are
# made to overflow by an absurd step; the checkpoint of the last good batch stays loadable
cp "$W/good.orig" "$W/prev.rnn"
run "$RNNLM" train --data "$C" --init "$W/good.rnn" --epochs 1 --lr 1e38 --clip 1e38 --save "$W/prev.rnn" \
    --checkpoint-every 1 --max-batches 20
if [ "$rc" -ne 0 ]; then
    if one_line_error 1 "train --lr 1e38 --clip 1e38"; then
        check "train --lr 1e38: the message names the batch" grep -q 'diverged at epoch 1, batch [1-9][0-9]*:' "$W/err"
    fi
    intact "train --lr 1e38: the previous --save file" "$W/prev.rnn" "$W/good.orig"
    check "train --lr 1e38: the last good checkpoint loads" "$H" load "$W/prev.rnn.ckpt"
else
    # the saturating cells kept every value finite: nothing diverged (no error is right)
    check "train --lr 1e38 finished: its --save file loads" "$H" load "$W/prev.rnn"
fi
rm -f "$W/prev.rnn.ckpt"
# A word that occurs only in valid.txt: training never reads its embedding (the gradient norm stays
# finite), validation does. NaN there: the model is refused at --init. Finite but overflowing (+-3e38,
# signed so that hidden unit 0's input sum exceeds the float range) in a RNN_RELU model (relu does
# not saturate): the validation loss is not finite. Expected: a clear error and the previous --save
# file intact.
mkdir -p "$W/cz" && cp "$C/train.txt" "$C/test.txt" "$W/cz/" && { echo "zebra sat on the mat"; cat "$C/valid.txt"; } >"$W/cz/valid.txt"
run "$RNNLM" train --data "$W/cz" $TINY --save "$W/z.rnn"
"$H" poison "$W/z.rnn" "$W/znan.rnn" word:zebra
cp "$W/good.orig" "$W/prev.rnn"
run "$RNNLM" train --data "$W/cz" --init "$W/znan.rnn" --epochs 1 --max-batches 3 --save "$W/prev.rnn"
if one_line_error 1 "train --init a model with a NaN word embedding"; then
    check "train --init a NaN word embedding: the message names the weight" \
        grep -q 'znan.rnn holds weights that are not finite (encoder.weight\[[0-9]*\]\[0\] is nan)' "$W/err"
fi
intact "train --init a NaN word embedding: the previous --save file" "$W/prev.rnn" "$W/good.orig"
# relu_edit DATA OUT EDIT: OUT, a RNN_RELU model trained on DATA and then changed by the Python
# statement EDIT (p: its parameters by name, m.vocab: its words, np: numpy) with tools/rnnfile.py
HAVE_NUMPY=$(/usr/bin/python3 -c 'import numpy; print(1)' 2>/dev/null || :)
relu_edit() {
    run "$RNNLM" train --data "$1" $TINY --model RNN_RELU --save "$2.orig"
    /usr/bin/python3 - "$(dirname "$0")/../tools" "$2.orig" "$2" "$3" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import rnnfile
m = rnnfile.read(sys.argv[2])
p = dict(m.params)
exec(sys.argv[4])
rnnfile.write(sys.argv[3], m)
PY
}
if [ -z "$HAVE_NUMPY" ]; then
    skipped "a validation loss that is not finite: tools/rnnfile.py needs /usr/bin/python3 with numpy"
else
    relu_edit "$W/cz" "$W/zhuge.rnn" \
        "p['encoder.weight'][m.vocab.index(b'zebra'), :] = np.where(p['rnn.weight_ih_l0'][0] < 0, -3e38, 3e38)"
    run "$RNNLM" train --data "$W/cz" --init "$W/zhuge.rnn" --epochs 1 --max-batches 3 --save "$W/prev.rnn"
    if [ "$rc" -ne 0 ]; then
        if one_line_error 1 "train with a validation loss that is not finite"; then
            check "train with a validation loss that is not finite: the message says so" \
                grep -q 'training diverged at epoch 1: the validation loss is not finite' "$W/err"
        fi
        intact "train with a validation loss that is not finite: the previous --save file" "$W/prev.rnn" "$W/good.orig"
    else
        bad "train with a validation loss that is not finite went on (exit 0): $(grep 'valid loss' "$W/out" | head -n 1)"
    fi
fi

# ---- weights or outputs that are not finite, in every command (rnnlm's own checks) ----------------
# NaN / +inf weights: every command refuses to load the model, naming the file and the weight. Finite
# weights whose outputs overflow (huge): eval, score and generate fail with a message (not "loss nan",
# exit 0).
for mode in nan inf; do
    expect_error 1 "eval of a model with $mode weights" "$RNNLM" eval --checkpoint "$W/$mode.rnn" --data "$C/test.txt"
    check "eval of a model with $mode weights: the message says so" grep -q "$mode.rnn holds weights that are not finite" "$W/err"
    expect_error 1 "score with a model with $mode weights" "$RNNLM" score --checkpoint "$W/$mode.rnn" --data "$C/test.txt"
    expect_error 1 "generate with a model with $mode weights" "$RNNLM" generate --checkpoint "$W/$mode.rnn" --outf "$W/bad.txt"
done
expect_error 1 "eval of a model whose outputs overflow" "$RNNLM" eval --checkpoint "$W/huge.rnn" --data "$C/test.txt"
check "eval of a model whose outputs overflow: the loss is not finite" grep -q 'the loss on .*test.txt is not finite' "$W/err"
check "eval of a model whose outputs overflow: no result printed" test ! -s "$W/out"
expect_error 1 "score with a model whose outputs overflow" "$RNNLM" score --checkpoint "$W/huge.rnn" --data "$C/test.txt" --json
check "score with a model whose outputs overflow: the line is named" grep -q 'log-probability of line 1 is not finite' "$W/err"
expect_error 1 "generate with a model whose outputs overflow" "$RNNLM" generate --checkpoint "$W/huge.rnn" --outf "$W/bad.txt"
check "generate with a model whose outputs overflow: the message says so" grep -q 'probabilities are not finite at word 0' "$W/err"
# --resume from a checkpoint whose weights are NaN: refused, nothing written
run "$RNNLM" train --data "$C" $TINY --save "$W/rs.rnn" --checkpoint-every 1000
"$H" poison "$W/rs.rnn.ckpt" "$W/rsnan.rnn.ckpt" nan
expect_error 1 "train --resume a checkpoint with NaN weights" "$RNNLM" train --resume "$W/rsnan.rnn.ckpt"
check "train --resume a checkpoint with NaN weights: the message says so" grep -q 'rsnan.rnn.ckpt holds weights that are not finite' "$W/err"
check "train --resume a checkpoint with NaN weights: no model written" test ! -e "$W/rsnan.rnn"
# weights that an update makes infinite (a RNN_RELU model with embeddings x 1e4: gradients ~100,
# --lr 1e38) but loss and gradient norm finite: the checkpoint of that batch is not written
if [ -z "$HAVE_NUMPY" ]; then
    skipped "weights made infinite by an update: tools/rnnfile.py needs /usr/bin/python3 with numpy"
else
    relu_edit "$C" "$W/relubig.rnn" "p['encoder.weight'][:] *= 1e4"
    expect_error 1 "train to weights that are not finite" "$RNNLM" train --data "$C" --init "$W/relubig.rnn" --epochs 1 \
        --lr 1e38 --clip 3e38 --save "$W/bad.rnn" --checkpoint-every 1 --max-batches 5
    check "train to weights that are not finite: the message names the batch and the weight" \
        grep -q 'diverged at epoch 1, batch 0: the weights are not finite after its update (.*is -*inf).*bad.rnn.ckpt was not written' "$W/err"
fi

# ---- I/O faults ------------------------------------------------------------------------------------
# A model bigger than the space left: LSTM 2 x 64 over 16 words is ~280 kB; the disk has 64 kB.
BIG="--emsize 64 --nhid 64 --epochs 1 --max-batches 2"
mkdir -p "$W/full"
if [ "$(id -u)" -ne 0 ]; then
    skipped "full disk: mounting a tmpfs needs root"
elif ! mount -t tmpfs -o size=64k tmpfs "$W/full" 2>"$W/err"; then
    skipped "full disk: mount -t tmpfs failed: $(cat "$W/err")"
else
    MOUNTED=$W/full
    cp "$W/good.orig" "$W/full/m.rnn"
    run "$RNNLM" train --data "$C" $BIG --save "$W/full/m.rnn"
    one_line_error 1 "train --save on a full disk"
    enospc "train --save on a full disk" "$W/err"
    intact "train --save on a full disk: the previous file" "$W/full/m.rnn" "$W/good.orig"
    no_temps "train --save on a full disk" "$W/full"
    run "$RNNLM" train --data "$C" $BIG --save "$W/big.rnn"
    rc=0; "$H" save "$W/big.rnn" "$W/full/m.rnn" >"$W/out" 2>&1 || rc=$?
    check "rnn_model_save on a full disk returns RNN_ERR_IO" test "$rc" -eq 3
    enospc "rnn_model_save on a full disk" "$W/out"
    intact "rnn_model_save on a full disk: the previous file" "$W/full/m.rnn" "$W/good.orig"
    no_temps "rnn_model_save on a full disk" "$W/full"
    run "$RNNLM" generate --checkpoint "$W/good.rnn" --outf "$W/full/g.txt" --words 50000
    one_line_error 1 "generate --outf on a full disk"
    check "generate --outf on a full disk: no partial output" test ! -e "$W/full/g.txt"
    # ~1800 log records of ~100 bytes
    run "$RNNLM" train --data "$C" --emsize 16 --nhid 16 --epochs 1 --batch_size 1 --bptt 1 --log-interval 1 \
        --save "$W/m3.rnn" --metrics "$W/full/metrics.jsonl"
    one_line_error 1 "train --metrics on a full disk"
    umount "$W/full" && MOUNTED=
fi

# An unwritable folder (as root chmod does not stop writes: run as nobody).
mkdir -p "$W/ro" && cp "$W/good.orig" "$W/ro/m.rnn" && chmod 555 "$W/ro"
cp "$RNNLM" "$W/rnnlm" && chmod 755 "$W/rnnlm" "$H"
chmod -R a+rX "$C" && chmod a+r "$W/good.rnn" "$W/good.orig"
if [ "$(id -u)" -ne 0 ]; then
    AS=
elif command -v setpriv >/dev/null 2>&1 && setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
    AS="setpriv --reuid=nobody --regid=nogroup --clear-groups"
else
    AS=none
fi
if [ "$AS" = none ]; then
    skipped "unwritable folder: running as root without setpriv (chmod does not stop root)"
else
    # shellcheck disable=SC2086
    run $AS "$W/rnnlm" train --data "$C" $TINY --save "$W/ro/m.rnn"
    one_line_error 1 "train --save into an unwritable folder"
    check "train --save into an unwritable folder: the message names the folder" grep -q "$W/ro" "$W/err"
    intact "train --save into an unwritable folder: the previous file" "$W/ro/m.rnn" "$W/good.orig"
    rc=0
    # shellcheck disable=SC2086
    $AS "$H" save "$W/good.rnn" "$W/ro/m.rnn" >"$W/out" 2>&1 || rc=$?
    check "rnn_model_save into an unwritable folder returns RNN_ERR_IO" test "$rc" -eq 3
    check "rnn_model_save into an unwritable folder: the message says why" grep -q 'Permission denied' "$W/out"
    intact "rnn_model_save into an unwritable folder: the previous file" "$W/ro/m.rnn" "$W/good.orig"
    no_temps "rnn_model_save into an unwritable folder" "$W/ro"
    # shellcheck disable=SC2086
    run $AS "$W/rnnlm" generate --checkpoint "$W/good.rnn" --outf "$W/ro/g.txt"
    one_line_error 1 "generate --outf into an unwritable folder"
    check "generate --outf into an unwritable folder: no output" test ! -e "$W/ro/g.txt"
fi

# A path whose parent folder is missing.
rc=0; "$H" save "$W/good.rnn" "$W/nodir/m.rnn" >"$W/out" 2>&1 || rc=$?
check "rnn_model_save under a missing folder returns RNN_ERR_IO" test "$rc" -eq 3
check "rnn_model_save under a missing folder: the message names the path and why" \
    grep -q "$W/nodir/m.rnn.*No such file or directory" "$W/out"
check "rnn_model_save under a missing folder: nothing created" test ! -e "$W/nodir"
expect_error 1 "train --save under a missing folder" "$RNNLM" train --data "$C" $TINY --save "$W/nodir/bad.rnn"
check "train --save under a missing folder: nothing created" test ! -e "$W/nodir"

# SIGKILL during a save, $KILLS times at random moments: the file is always the old or the new model.
mkdir -p "$W/kill"
rc=0; "$H" killtest "$W/kill/m.rnn" "$KILLS" >"$W/out" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then ok; echo "kill test: $(cat "$W/out")"; else bad "SIGKILL during save: $(cat "$W/out")"; fi

# ---- bad input to the CLI (cases tests/cli.sh does not have) --------------------------------------
T="train --data $C --save $W/bad.rnn --metrics $W/bad.jsonl $TINY"
E="eval --checkpoint $W/good.rnn --data $C/test.txt"
G="generate --checkpoint $W/good.rnn --outf $W/bad.txt"
for args in \
    "$T --bptt -1" "$T --batch_size -1" "$T --bptt 1.5" "$T --batch_size 99999999999" \
    "$T --lr -0.5" "$T --lr -inf" "$T --lr inf" "$T --lr 1e999" "$T --lr NaN" "$T --lr= " \
    "$T --model lstm" "$T --model GRU2" "$T --model" "$T --bogus=1" "-x" "$T --emsize 16 --nhid 32 --tied" \
    "$E --bptt 0" "$E --bptt -1" "$E --batch_size -2" "$E --batch_size 0" \
    "$G --temperature -0.5" "$G --temperature nan" "$G --temperature -inf" "$G --temperature" \
    "$G --words x" "$G --unknown-flag"; do
    # shellcheck disable=SC2086
    expect_error 2 "rnnlm $args" "$RNNLM" $args
done

# bad files
mkdir -p "$W/files"
F=$W/files
cp "$W/good.rnn" "$F/v4.rnn" && printf '\004' | dd of="$F/v4.rnn" bs=1 seek=8 conv=notrunc 2>/dev/null
cp "$W/good.rnn" "$F/magic.rnn" && printf 'X' | dd of="$F/magic.rnn" bs=1 seek=0 conv=notrunc 2>/dev/null
cp "$W/good.rnn" "$F/flip.rnn" && printf '\377' | dd of="$F/flip.rnn" bs=1 seek=300 conv=notrunc 2>/dev/null
: >"$F/empty.rnn"
size=$(wc -c <"$W/good.rnn")
for cut in 8 16 28 40 $((size / 2)) $((size - 4)) $((size - 1)); do
    head -c "$cut" "$W/good.rnn" >"$F/trunc$cut.rnn"
done
{ cat "$W/good.rnn"; printf 'trailing'; } >"$F/trailing.rnn" # after END: ignored, loads fine
mkdir -p "$F/dir.rnn"
printf 'the cat \377 sat\n' >"$F/badutf8.txt"
printf 'the cat\000sat\n' >"$F/nul.txt"
printf '\n\n' >"$F/newlines.txt"
printf 'zebra quokka\n' >"$F/unknown.txt"
for d in badutf8 nul shorter novalid; do mkdir -p "$F/c_$d" && cp "$C/train.txt" "$C/valid.txt" "$C/test.txt" "$F/c_$d/"; done
cp "$F/badutf8.txt" "$F/c_badutf8/train.txt"
cp "$F/nul.txt" "$F/c_nul/valid.txt"
printf 'the cat sat\n' >"$F/c_shorter/train.txt"
: >"$F/c_novalid/valid.txt"
for ck in v4 magic flip empty dir trunc8 trunc16 trunc28 trunc40 "trunc$((size / 2))" "trunc$((size - 4))" "trunc$((size - 1))"; do
    expect_error 1 "eval --checkpoint $ck.rnn" "$RNNLM" eval --checkpoint "$F/$ck.rnn" --data "$C/test.txt"
    check "eval --checkpoint $ck.rnn names the file" grep -q "$ck.rnn" "$W/err"
done
check "a format version 4 file (this library reads 1 to 3): the message names the version" sh -c "'$RNNLM' eval --checkpoint '$F/v4.rnn' --data '$C/test.txt' 2>&1 | grep -q 'version 4'"
check "a flipped byte: the message says checksum" sh -c "'$RNNLM' eval --checkpoint '$F/flip.rnn' --data '$C/test.txt' 2>&1 | grep -q 'checksum'"
for ck in v4 flip "trunc$((size / 2))"; do
    expect_error 1 "generate --checkpoint $ck.rnn" "$RNNLM" generate --checkpoint "$F/$ck.rnn" --outf "$W/bad.txt"
    expect_error 1 "score --checkpoint $ck.rnn" "$RNNLM" score --checkpoint "$F/$ck.rnn" --data "$C/test.txt"
    expect_error 1 "train --init $ck.rnn" "$RNNLM" train --data "$C" --init "$F/$ck.rnn" --save "$W/bad.rnn"
done
run "$RNNLM" eval --checkpoint "$F/trailing.rnn" --data "$C/test.txt"
check "bytes after END are ignored" test "$rc" -eq 0
for d in badutf8 nul shorter novalid; do
    expect_error 1 "train on a corpus with $d" "$RNNLM" train --data "$F/c_$d" --save "$W/bad.rnn" $TINY
done
run "$RNNLM" train --data "$F/c_badutf8" --save "$W/bad.rnn" $TINY
check "invalid UTF-8: the message names file, line and byte" grep -q 'train.txt:1: invalid UTF-8 at byte offset 8 (byte 0xFF)' "$W/err"
expect_error 1 "train --data a file" "$RNNLM" train --data "$C/train.txt" --save "$W/bad.rnn" $TINY
expect_error 1 "train --data missing" "$RNNLM" train --data "$W/nothere" --save "$W/bad.rnn" $TINY
expect_error 1 "eval --data a folder without test.txt" "$RNNLM" eval --checkpoint "$W/good.rnn" --data "$F/dir.rnn"
expect_error 1 "eval --data with a NUL byte" "$RNNLM" eval --checkpoint "$W/good.rnn" --data "$F/nul.txt"
expect_error 1 "eval --data shorter than one batch" "$RNNLM" eval --checkpoint "$W/good.rnn" --data "$F/newlines.txt" --batch_size 10
expect_error 1 "eval --batch_size larger than the data" "$RNNLM" eval --checkpoint "$W/good.rnn" --data "$C/test.txt" --batch_size 100000
expect_error 1 "score --data with invalid UTF-8" "$RNNLM" score --checkpoint "$W/good.rnn" --data "$F/badutf8.txt"
expect_error 1 "generate --prompt of only unknown words" "$RNNLM" generate --checkpoint "$W/good.rnn" --outf "$W/bad.txt" --prompt "zebra quokka"
expect_error 1 "generate --outf a folder" "$RNNLM" generate --checkpoint "$W/good.rnn" --outf "$F/dir.rnn"
# temperature 0 is greedy (valid): the same text whatever the seed
run "$RNNLM" generate --checkpoint "$W/good.rnn" --outf "$W/t0a.txt" --temperature 0 --seed 1 --words 30
r1=$rc
run "$RNNLM" generate --checkpoint "$W/good.rnn" --outf "$W/t0b.txt" --temperature 0 --seed 2 --words 30
check "generate --temperature 0 is greedy: the same text for any seed" test "$r1" -eq 0 -a "$rc" -eq 0
check "generate --temperature 0 is greedy: the same text for any seed" cmp -s "$W/t0a.txt" "$W/t0b.txt"

# ---- what a save or an output replaces; the sweep of leftover temporaries (src/atomic.c) ----------
# A link is followed (its file replaced, the link kept); --outf writes a FIFO or a character device in
# place; a model is saved only to a regular file or a new path. Device nodes are made under $W,
# never in /dev. Temporaries: an unlocked leftover goes, one a writer holds locked stays.
S=$W/special
mkdir -p "$S"
cp "$W/good.orig" "$S/real.rnn"
ln -s real.rnn "$S/link.rnn"
run "$RNNLM" train --data "$C" $TINY --seed 5 --save "$S/link.rnn"
check "train --save through a link exits 0" test "$rc" -eq 0
check "train --save through a link: the link stays" test -L "$S/link.rnn"
check "train --save through a link: the file it names is the new model" sh -c \
    "! cmp -s '$S/real.rnn' '$W/good.orig' && '$RNNLM' eval --checkpoint '$S/real.rnn' --data '$C/test.txt' >/dev/null 2>&1"
printf 'old' >"$S/real.txt"
ln -s real.txt "$S/link.txt"
run "$RNNLM" generate --checkpoint "$W/good.rnn" --outf "$S/link.txt" --words 20 --seed 3
check "generate --outf through a link exits 0" test "$rc" -eq 0
check "generate --outf through a link: the link stays" test -L "$S/link.txt"
run "$RNNLM" generate --checkpoint "$W/good.rnn" --outf "$S/ref.txt" --words 20 --seed 3
check "generate --outf through a link: the file it names holds the text" cmp -s "$S/real.txt" "$S/ref.txt"
mkfifo "$S/fifo"
cat "$S/fifo" >"$S/fifo.out" &
reader=$!
run "$RNNLM" generate --checkpoint "$W/good.rnn" --outf "$S/fifo" --words 20 --seed 3
i=0
while kill -0 "$reader" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
kill "$reader" 2>/dev/null || :
wait "$reader" 2>/dev/null || :
check "generate --outf a FIFO exits 0" test "$rc" -eq 0
check "generate --outf a FIFO: still a FIFO" test -p "$S/fifo"
check "generate --outf a FIFO: the reader got the text" cmp -s "$S/fifo.out" "$S/ref.txt"
rc=0; "$H" save "$W/good.rnn" "$S/fifo" >"$W/out" 2>&1 || rc=$?
check "rnn_model_save to a FIFO returns RNN_ERR_IO" test "$rc" -eq 3
check "rnn_model_save to a FIFO: the message says why" grep -q 'is a FIFO, not a regular file' "$W/out"
run "$RNNLM" train --data "$C" $TINY --save "$S/fifo"
one_line_error 1 "train --save a FIFO" || :
check "train --save a FIFO: still a FIFO" test -p "$S/fifo"
if ! mknod "$S/null" c 1 3 2>"$W/err"; then
    skipped "--outf a character device: mknod is not permitted here: $(cat "$W/err")"
elif ! (: >"$S/null") 2>"$W/err"; then
    skipped "--outf a character device: a device node made here cannot be opened: $(cat "$W/err")"
else
    chmod 0600 "$S/null"
    run "$RNNLM" generate --checkpoint "$W/good.rnn" --outf "$S/null" --words 20
    check "generate --outf a character device exits 0" test "$rc" -eq 0
    check "generate --outf a character device: still the device" \
        test "$(stat -c '%F %t,%T' "$S/null")" = "character special file 1,3"
    check "generate --outf a character device: its mode is left alone (0600)" test "$(stat -c '%a' "$S/null")" = 600
    rc=0; "$H" save "$W/good.rnn" "$S/null" >"$W/out" 2>&1 || rc=$?
    check "rnn_model_save to a character device returns RNN_ERR_IO" test "$rc" -eq 3
    check "rnn_model_save to a character device: still the device" test -c "$S/null"
fi
no_temps "saves and outputs to links, FIFOs and devices" "$S"
if ! command -v flock >/dev/null 2>&1; then
    skipped "the sweep of temporaries: no flock(1) to hold one locked"
else
    printf 'x' >"$S/g.txt.tmp.1.5"
    printf 'x' >"$S/g.txt.tmp.999999999.5"
    # a writer elsewhere (another PID namespace: no process 999999999 here) holding its temporary
    sh -c "exec 9<'$S/g.txt.tmp.999999999.5'; flock 9 && touch '$S/locked' && exec sleep 60" &
    holder=$!
    i=0
    while [ ! -e "$S/locked" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    run "$RNNLM" generate --checkpoint "$W/good.rnn" --outf "$S/g.txt" --words 20
    check "generate --outf beside leftover temporaries exits 0" test "$rc" -eq 0
    check "generate --outf: an unlocked leftover temporary (of pid 1, which exists) is removed" \
        test ! -e "$S/g.txt.tmp.1.5"
    check "generate --outf: a temporary held locked stays" test -e "$S/g.txt.tmp.999999999.5"
    kill "$holder" 2>/dev/null || :
    wait "$holder" 2>/dev/null || :
    run "$RNNLM" generate --checkpoint "$W/good.rnn" --outf "$S/g.txt" --words 20
    check "generate --outf: the temporary no longer locked is removed" test ! -e "$S/g.txt.tmp.999999999.5"
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
