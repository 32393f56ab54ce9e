# tests/lib/harness.sh -- sourced by the rnnlm shell tests (cli.sh, resume.sh, faults.sh); not a
# test itself (make check runs tests/*.sh only). The sourcing script sets W (its work folder) first.
#   pass, fail                counters; ok / bad MSG / check DESC CMD...
#   run CMD...                stdout to $W/out, stderr to $W/err, status in $rc
#   one_line_error STATUS DESC   the last run exited with STATUS (x: any non-zero) and printed
#                             exactly one stderr line "rnnlm: ..."
#   expect_error STATUS DESC CMD...   run + one_line_error, and no $W/bad.* output file left
#   wait_for FILE PATTERN COUNT PID   until COUNT lines of FILE match PATTERN: 0; 1 when the run
#                             (PID) ended or printed "End of training" first, or after 60 s
#   stopped NAME SIGNAL EPOCH N REF TEST_LINE FLAGS...   "$RNNLM" train FLAGS --save $W/NAME.rnn
#                             --checkpoint-every 1, sent SIGNAL after the N-th log line of EPOCH,
#                             resumed from its checkpoint: its --save must be REF's bytes and its
#                             test line TEST_LINE (the resume's output stays in $W/NAME.2)
#   mpi_env                   the environment for mpirun in tests: as root, oversubscribed, and
#                             under the sanitizer build without LeakSanitizer (below)
#   and the generators of tests/lib/corpus.sh
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() {
    desc=$1; shift
    if "$@"; then ok; else bad "$desc"; fi
}
run() {
    rc=0
    "$@" >"$W/out" 2>"$W/err" || rc=$?
}
one_line_error() {
    want=$1; desc=$2
    lines=$(wc -l <"$W/err")
    if [ "$rc" -eq 0 ] || { [ "$want" != x ] && [ "$rc" -ne "$want" ]; }; then
        bad "$desc: exit status $rc (wanted $want)"; cat "$W/err"; return 1
    elif [ "$lines" -ne 1 ] || ! grep -q '^rnnlm: ' "$W/err"; then
        bad "$desc: stderr is not one 'rnnlm:' line:"; cat "$W/err"; return 1
    fi
    ok
}
expect_error() {
    want=$1; desc=$2; shift 2
    rm -f "$W"/bad.*
    run "$@"
    if one_line_error "$want" "$desc"; then
        if ls "$W"/bad.* >/dev/null 2>&1; then
            pass=$((pass - 1)); bad "$desc: left an output file: $(ls "$W"/bad.*)"
        fi
    fi
}
. "$(dirname "$0")/lib/corpus.sh"

# mpirun as CI runs it (root, 2 cores: more ranks than cores). Under the sanitizer build (RNN_SANFLAGS
# set: make SANITIZE=1 check), LeakSanitizer would report Open MPI's own allocations (libmpi and the
# plugins it loads free some of them never) as leaks of every rank, so leaks are not checked under
# mpirun; every other suite checks rnnlm's and librnn's own.
mpi_env() {
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM OMPI_MCA_rmaps_base_oversubscribe
    if [ -n "${RNN_SANFLAGS:-}" ]; then
        ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
        export ASAN_OPTIONS
    fi
}

# wait_for FILE PATTERN COUNT PID (see the top)
wait_for() {
    polls=0
    while [ $polls -lt 6000 ]; do
        polls=$((polls + 1))
        n=$(grep -c "$2" "$1" 2>/dev/null || true)
        [ "${n:-0}" -ge "$3" ] && return 0
        grep -q '^| End of training' "$1" 2>/dev/null && return 1
        kill -0 "$4" 2>/dev/null || return 1
        sleep 0.01
    done
    return 1
}

# stopped NAME SIGNAL EPOCH N REF TEST_LINE FLAGS... (see the top)
stopped() {
    name=$1 sig=$2 epoch=$3 nth=$4 ref=$5 line=$6
    shift 6
    S=$W/$name.rnn
    "$RNNLM" train "$@" --save "$S" --checkpoint-every 1 >"$W/$name.1" 2>&1 &
    pid=$!
    wait_for "$W/$name.1" "^| epoch   $epoch |" "$nth" "$pid" || bad "$name: the run ended before the signal"
    kill -"$sig" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    "$RNNLM" train --resume "$S.ckpt" >"$W/$name.2" 2>&1 || bad "$name: the resume failed: $(cat "$W/$name.2")"
    echo "  $name: $(sed -n 's/^| resume: [^:]*: //p' "$W/$name.2")"
    check "$name: --save is bit-identical to the uninterrupted run's" cmp -s "$S" "$ref"
    check "$name: the same test line" test "$(grep '^| End of training' "$W/$name.2")" = "$line"
}
