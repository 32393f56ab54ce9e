#!/bin/sh
# tests/mpi.sh -- data-parallel training: `mpirun -np K bin/rnnlm train` (cli_train_dp.c) gives
# the result of one process up to the order of floating-point sums, dropout included:
#   - -np 1, 2 and 4 (and 2 ranks x 2 threads; and -np 2 over TCP, --mca btl tcp,self, what
#     separate machines use) against one process without mpirun: 30 batches with dropout 0.2, every
#     tensor of the --save file to 1e-4 (tensor-relative) and the final test loss to 1e-5 relative;
#     -np 1 bit for bit;
#   - --metrics under mpirun: world_size, rank_tokens_per_s, allreduce_ms, allreduce_floats;
#   - the sparse exchange (only the embedding rows a step touched): on a 400-word vocabulary it
#     exchanges fewer floats than the parameters and equals one process at -np 2 and 4, as does
#     RNNLM_DP_EXCHANGE=dense (every parameter); another value is a clear error;
#   - a rank killed with SIGKILL ends the job (no hang), the checkpoint resumes under mpirun with the
#     same K to a --save file bit-identical to the uninterrupted run's, and with another K to 1e-4;
#   - bad input ends with a clear message and no hang: --batch_size not divisible by K, a corpus
#     missing on one rank, another corpus on one rank, other flags on one rank.
# Every mpirun runs under `timeout`. Without mpicc / mpirun this test skips, unless CI is set (and
# not "false"): then it fails (scripts/setup.sh installs Open MPI).
#   RNNLM=/abs/path/bin/rnnlm sh tests/mpi.sh        (make check runs it)
# Environment: RNN_LIBDIR (the librnn.a for the comparing helper, default lib), RNN_CC, RNN_LIBS.
# Prints "N passed, M failed" last; exits non-zero when anything failed.
set -eu

RNNLM=${RNNLM:-$(pwd)/bin/rnnlm}
RNN_LIBDIR=${RNN_LIBDIR:-lib}
RNN_CC=${RNN_CC:-cc}
RNN_SANFLAGS=${RNN_SANFLAGS:-}
RNN_LIBS=${RNN_LIBS:-"$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -lm -pthread"}
skip() {
    if [ -n "${CI:-}" ] && [ "${CI:-}" != false ]; then
        echo "FAIL: $1 (CI is set: scripts/setup.sh installs Open MPI)"
        echo "mpi: 0 passed, 1 failed"
        exit 1
    fi
    echo "SKIP: $1"
    echo "mpi: 0 passed, 0 failed (skipped)"
    exit 0
}
command -v mpirun >/dev/null 2>&1 && command -v mpicc >/dev/null 2>&1 ||
    skip "mpirun or mpicc not found (apt-get install libopenmpi-dev openmpi-bin; then make)"

W=$(mktemp -d "${TMPDIR:-/tmp}/rnnlm-mpi.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
. "$(dirname "$0")/lib/harness.sh"

# CI runs as root; the ranks may outnumber the cores
mpi_env
MPIRUN="timeout 120 mpirun"

CMP=$W/mpi_compare
# shellcheck disable=SC2086
if ! $RNN_CC -std=c11 $RNN_SANFLAGS -Iinclude tests/mpi_compare.c "$RNN_LIBDIR/librnn.a" $RNN_LIBS -o "$CMP"; then
    echo "FAIL: cannot build tests/mpi_compare.c against $RNN_LIBDIR/librnn.a"; exit 1
fi

C=$W/corpus
toy_corpus "$C" 11 400 60
F="--data $C --emsize 16 --nhid 16 --epochs 1 --batch_size 4 --bptt 5 --dropout 0.2 --threads 1 --max-batches 30 --log-interval 10"

# The test loss of a --metrics file.
test_loss() { sed -n 's/.*"test_loss":\([-0-9.eE+]*\).*/\1/p' "$1"; }
# close A B TOL: |A - B| <= TOL * |B|
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(d <= t * m) }'; }

# ---- the reference: one process, no mpirun --------------------------------------------------------
run "$RNNLM" train $F --save "$W/one.rnn" --metrics "$W/one.json"
if [ "$rc" -ne 0 ]; then echo "FAIL: the single-process run:"; cat "$W/err"; exit 1; fi
REF=$(test_loss "$W/one.json")

run $MPIRUN -np 2 "$RNNLM" train $F --save "$W/probe.rnn"
if grep -q 'built without MPI' "$W/err"; then skip "$RNNLM was built without MPI (make MPI=0?)"; fi

# same NAME MPIRUN-ARGS...: the run equals the reference (tensors 1e-4, test loss 1e-5)
same() {
    name=$1; shift
    run $MPIRUN "$@" "$RNNLM" train $F --save "$W/$name.rnn" --metrics "$W/$name.json"
    if [ "$rc" -ne 0 ]; then bad "$name: exit status $rc: $(head -c 600 "$W/err")"; return; fi
    got=$(test_loss "$W/$name.json")
    if close "$got" "$REF" 1e-5; then ok; else bad "$name: test loss $got, one process $REF"; fi
    if diff=$("$CMP" "$W/$name.rnn" "$W/one.rnn" 1e-4); then ok; else bad "$name: a tensor differs by $diff"; fi
    echo "$name: test loss $got (one process $REF), largest tensor difference ${diff% *}"
}
same np1 -np 1
check "-np 1 is the single process bit for bit" cmp -s "$W/np1.rnn" "$W/one.rnn"
same np2 -np 2
same np4 -np 4
same np2-tcp --mca btl tcp,self -np 2
same np4-tcp --mca btl tcp,self -np 4
F_SAVED=$F
F="$F_SAVED --threads 2"
same np2x2 -np 2
F=$F_SAVED
check "only rank 0 prints (one summary line)" test "$(grep -c '^| model:' "$W/out")" -eq 1
check "the summary names the processes" grep -q "^| processes: 2 (mpirun), 2 of the 4 streams each, 2 threads each" "$W/out"
check "--metrics holds one record per log line and epoch" test "$(grep -c '"test_loss"' "$W/np4.json")" -eq 1

# ---- threads and binding: the default is one per CPU the rank may run on (its affinity mask), and
# more threads than those CPUs draw a warning naming mpirun's fix ---------------------------------
F_NOTHREADS=$(echo "$F_SAVED" | sed 's/--threads 1//')
if [ "$(nproc)" -ge 2 ]; then
    # shellcheck disable=SC2086
    run $MPIRUN -np 2 --bind-to core "$RNNLM" train $F_NOTHREADS --max-batches 2 --save "$W/bind.rnn"
    check "bound to a core each, the ranks default to one thread" \
        grep -q "^| processes: 2 (mpirun), 2 of the 4 streams each, 1 thread each" "$W/out"
    check "the default draws no warning" test "$(grep -c 'warning' "$W/err")" -eq 0
    # shellcheck disable=SC2086
    run $MPIRUN -np 2 --bind-to core "$RNNLM" train $F_NOTHREADS --threads 2 --max-batches 2 --save "$W/bind.rnn"
    check "--threads 2 on one core each: one warning, naming --bind-to none" \
        test "$(grep -c 'warning: --threads 2, but this process may run on 1 CPU only.*--bind-to none' "$W/err")" -eq 1
    check "--threads 2 on one core each still trains" test "$rc" -eq 0
    # shellcheck disable=SC2086
    run $MPIRUN -np 2 --bind-to none "$RNNLM" train $F_NOTHREADS --max-batches 2 --save "$W/bind.rnn"
    check "unbound, the ranks default to one thread per online CPU" \
        grep -q "^| processes: 2 (mpirun), 2 of the 4 streams each, $(nproc) threads each" "$W/out"
else
    echo "skipped the binding checks: $(nproc) CPU"
fi

# ---- --metrics under mpirun: the world size, each rank's speed, the exchange per step ---------------
# num FILE KEY: KEY's number in the first record of FILE that has it
num() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" "$1" | head -n 1; }
check "--metrics: world_size is 4" test "$(num "$W/np4.json" world_size)" = 4
check "--metrics: rank_tokens_per_s holds 4 speeds" \
    grep -q '"rank_tokens_per_s":\[[0-9.eE+]*,[0-9.eE+]*,[0-9.eE+]*,[0-9.eE+]*\]' "$W/np4.json"
check "--metrics: allreduce_ms per step" awk -v x="$(num "$W/np4.json" allreduce_ms)" 'BEGIN { exit !(x > 0) }'
check "--metrics: one record per log line under mpirun (rank 0 alone writes)" \
    test "$(grep -c '"world_size"' "$W/np4.json")" -eq 2
check "--metrics: no world_size without mpirun" test "$(grep -c world_size "$W/one.json")" -eq 0
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    check "tools/plot_metrics.py plots the mpirun records" /usr/bin/python3 tools/plot_metrics.py "$W/np4.json" "$W/np4.png"
elif [ -x /usr/bin/python3 ]; then # (no matplotlib: its reading part)
    check "tools/plot_metrics.py reads the mpirun records" /usr/bin/python3 -c "import sys; sys.path.insert(0, 'tools')
import plot_metrics as p
logs, epochs, test = p.read_metrics(sys.argv[1])
assert len(logs) == 2 and len(p.log_positions(logs)) == 2 and test is not None" "$W/np4.json"
fi

# ---- the sparse exchange: a vocabulary of 400 words, 20 tokens a step -------------------------------
# Only the embedding rows some rank's tokens touched are all-reduced (cli_train_dp.c): at most
# (V - 20) x emsize floats fewer than the parameters; RNNLM_DP_EXCHANGE=dense exchanges them all.
# Both equal one process (tensors 1e-4, test loss 1e-5), -np 2 and -np 4. (--lr 5: at lr 20 this
# corpus amplifies the rounding of either exchange past 1e-4 within 30 batches.)
BV=$W/bigvocab
mkdir "$BV" && awk -v dir="$BV" 'BEGIN { srand(5)
    for (f = 0; f < 3; f++) { file = dir "/" (f == 0 ? "train.txt" : f == 1 ? "valid.txt" : "test.txt")
        for (i = 0; i < (f ? 60 : 400); i++) { k = 3 + int(rand() * 6); l = ""
            for (j = 0; j < k; j++) l = l (j ? " " : "") "w" int(rand() * rand() * 400)
            print l > file } } }'
F_SAVED=$F REF_SAVED=$REF
cp "$W/one.rnn" "$W/one-toy.rnn"
F="--data $BV --emsize 16 --nhid 16 --epochs 1 --batch_size 4 --bptt 5 --dropout 0.2 --threads 1 --max-batches 30 --log-interval 10 --lr 5"
run "$RNNLM" train $F --save "$W/one.rnn" --metrics "$W/one.json"
REF=$(test_loss "$W/one.json")
V=$(sed -n 's/^| vocabulary: \([0-9]*\) words.*/\1/p' "$W/out")
NP=$(sed -n 's/^| model: .*: \([0-9]*\) parameters/\1/p' "$W/out")
same sparse2 -np 2
same sparse4 -np 4
got=$(num "$W/sparse2.json" allreduce_floats)
if awk -v f="$got" -v n="$NP" -v v="$V" 'BEGIN { exit !(v > 300 && f > 0 && f <= n - (v - 20) * 16) }'; then ok
else bad "the sparse exchange: $got floats a step of $NP parameters (V $V; want <= $NP - ($V - 20) x 16)"; fi
export RNNLM_DP_EXCHANGE=dense
same dense2 -np 2 -x RNNLM_DP_EXCHANGE
unset RNNLM_DP_EXCHANGE
check "RNNLM_DP_EXCHANGE=dense exchanges every parameter" test "$(num "$W/dense2.json" allreduce_floats)" = "$NP"
# the sparse exchange declares the rows it reduced (rnn_param_declare_grad_rows), so librnn's clip
# and update skip the rest again; were a reduced row left out, the runs would differ
check "-np 2: the sparse exchange with its declared rows is the dense exchange, bit for bit" \
    cmp -s "$W/sparse2.rnn" "$W/dense2.rnn"
mpi_error_early() { run $MPIRUN "$@"; if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || ! grep -q "RNNLM_DP_EXCHANGE is 'sparse'" "$W/err"; then bad "RNNLM_DP_EXCHANGE=sparse: exit $rc"; cat "$W/err"; else ok; fi; }
RNNLM_DP_EXCHANGE=sparse mpi_error_early -np 2 -x RNNLM_DP_EXCHANGE "$RNNLM" train $F --save "$W/bad.rnn"
F=$F_SAVED REF=$REF_SAVED
cp "$W/one-toy.rnn" "$W/one.rnn"

# ---- without the counter masks the runs would differ: dropout 0 vs 0.2 tells the test can fail ---
run $MPIRUN -np 2 "$RNNLM" train $F --dropout 0 --save "$W/nodrop.rnn"
if "$CMP" "$W/nodrop.rnn" "$W/one.rnn" 1e-4 >/dev/null; then bad "the comparison cannot tell runs apart"; else ok; fi

# ---- a rank killed with SIGKILL; resumed with the same K and with another ------------------------
# long enough (4 epochs of 40 batches) that the kill after the second log line lands mid-run on a
# loaded machine
R="--data $C --emsize 64 --nhid 64 --epochs 4 --batch_size 4 --bptt 10 --dropout 0.2 --threads 1 --max-batches 40 --log-interval 5"
run $MPIRUN -np 2 "$RNNLM" train $R --save "$W/full.rnn" --checkpoint-every 1
check "the uninterrupted -np 2 run" test "$rc" -eq 0 -a -s "$W/full.rnn"
FULL_LINE=$(grep '^| End of training' "$W/out" || true)
mkdir "$W/k" "$W/k4"
( krc=0; $MPIRUN -np 2 "$RNNLM" train $R --save "$W/k/s.rnn" --checkpoint-every 1 >"$W/k.out" 2>"$W/k.err" || krc=$?
  echo $krc >"$W/k.rc" ) &
sub=$!
# wait for the second log line (a checkpoint exists then), then SIGKILL one rank
polls=0
while [ $polls -lt 3000 ] && [ "$(grep -c '^| epoch' "$W/k.out" 2>/dev/null || true)" -lt 2 ] && [ ! -s "$W/k.rc" ]; do
    polls=$((polls + 1)); sleep 0.02
done
# a rank: a process named rnnlm (not mpirun, not timeout) whose command line has this run's --save
rank=$(ps -eo pid=,comm=,args= | awk -v p="$W/k/s.rnn" '$2 == "rnnlm" && index($0, p) { r = $1 } END { print r }')
if [ -n "$rank" ]; then kill -9 "$rank"; fi
waited=0
while [ ! -s "$W/k.rc" ] && [ $waited -lt 300 ]; do waited=$((waited + 1)); sleep 0.1; done
check "SIGKILL of a rank ends the job within 30 s" test -s "$W/k.rc"
check "the killed job failed" test "$(cat "$W/k.rc" 2>/dev/null || echo 0)" -ne 0
check "the killed job was mid-run (no test line)" test "$(grep -c 'End of training' "$W/k.out" || true)" -eq 0
wait $sub 2>/dev/null || true
cp "$W/k/s.rnn.ckpt" "$W/k4/s.rnn.ckpt"
run $MPIRUN -np 2 "$RNNLM" train --resume "$W/k/s.rnn.ckpt"
check "the resumed -np 2 run completes" test "$rc" -eq 0
check "resumed with the same K: the --save file is the uninterrupted run's, bit for bit" cmp -s "$W/k/s.rnn" "$W/full.rnn"
check "resumed with the same K: the same test line" test "$(grep '^| End of training' "$W/out")" = "$FULL_LINE"
run $MPIRUN -np 4 "$RNNLM" train --resume "$W/k4/s.rnn.ckpt"
check "resumed with -np 4 completes" test "$rc" -eq 0
check "resumed with -np 4: every tensor to 1e-4" "$CMP" "$W/k4/s.rnn" "$W/full.rnn" 1e-4

# ---- examples/train_mpi.c: -np 2 equals -np 1 --------------------------------------------------------
TM=$W/train_mpi
# shellcheck disable=SC2086
if mpicc -std=c11 $RNN_SANFLAGS -Iinclude examples/train_mpi.c "$RNN_LIBDIR/librnn.a" $RNN_LIBS -o "$TM"; then
    ok
    run $MPIRUN -np 1 "$TM" "$C/train.txt" "$C/valid.txt" "$W/ex1.rnn" 2
    check "train_mpi -np 1" test "$rc" -eq 0
    run $MPIRUN -np 2 "$TM" "$C/train.txt" "$C/valid.txt" "$W/ex2.rnn" 2
    check "train_mpi -np 2" test "$rc" -eq 0
    check "train_mpi: -np 2 gives -np 1's weights to 1e-4" "$CMP" "$W/ex2.rnn" "$W/ex1.rnn" 1e-4
else
    bad "cannot build examples/train_mpi.c with mpicc"
fi

# ---- bad input: one clear message, no hang ---------------------------------------------------------
# mpi_error DESC PATTERN MPIRUN-ARGS...: the job fails (not by timeout) and says PATTERN
mpi_error() {
    desc=$1; pat=$2; shift 2
    run $MPIRUN "$@"
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then bad "$desc: exit status $rc"; cat "$W/err"
    elif ! grep -q "$pat" "$W/err"; then bad "$desc: no '$pat' in:"; cat "$W/err"
    else ok; fi
}
mpi_error "--batch_size 4 over 3 ranks" "rnnlm: --batch_size 4 is not divisible by the 3 processes" \
    -np 3 "$RNNLM" train $F --save "$W/bad.rnn"
check "... said once" test "$(grep -c 'not divisible' "$W/err")" -eq 1
check "... before any output file" test ! -e "$W/bad.rnn"
mpi_error "a corpus missing on rank 1" "rnnlm: rank 1: .*$W/none" \
    -np 1 "$RNNLM" train $F --save "$W/bad.rnn" : -np 1 "$RNNLM" train $F --data "$W/none" --save "$W/bad.rnn"
mkdir "$W/other" && toy_corpus "$W/other" 12 400 60
mpi_error "another corpus on rank 1" "did not read the same corpus" \
    -np 1 "$RNNLM" train $F --save "$W/bad.rnn" : -np 1 "$RNNLM" train $F --data "$W/other" --save "$W/bad.rnn"
mpi_error "other flags on rank 1" "were given different flags" \
    -np 1 "$RNNLM" train $F --save "$W/bad.rnn" : -np 1 "$RNNLM" train $F --lr 10 --save "$W/bad.rnn"

echo "mpi: $pass passed, $fail failed"
test "$fail" -eq 0
