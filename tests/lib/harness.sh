# tests/lib/harness.sh -- sourced by the rnnlm shell tests (cli.sh, resume.sh, faults.sh); not a
# test itself (make check runs tests/*.sh only). The sourcing script sets W (its work folder) first.
#   pass, fail                counters; ok / bad MSG / check DESC CMD...
#   run CMD...                stdout to $W/out, stderr to $W/err, status in $rc
#   one_line_error STATUS DESC   the last run exited with STATUS (x: any non-zero) and printed
#                             exactly one stderr line "rnnlm: ..."
#   expect_error STATUS DESC CMD...   run + one_line_error, and no $W/bad.* output file left
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
