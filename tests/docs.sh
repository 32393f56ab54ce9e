#!/bin/sh
# docs.sh -- the documentation agrees with the header: docs/API.md names every public call of
# include/rnn.h, no page names a call the header does not declare (a renamed or removed call
# left behind), and the header keeps to its own words. Run by `make check` from the repository root.
set -eu
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# every function the header declares (RNN_API lines), and every other rnn_ name it defines
sed -n 's/^RNN_API[^(]*[ *]\(rnn_[a-z0-9_]*\)(.*/\1/p' include/rnn.h | sort -u > "$tmp/calls"
grep -o '\brnn_[a-z0-9_]*\b' include/rnn.h | sort -u > "$tmp/names"
[ "$(wc -l < "$tmp/calls")" -gt 40 ] && ok "the header declares $(wc -l < "$tmp/calls") calls" || bad "too few calls parsed from rnn.h"

missing=$(while read -r f; do grep -q "\`$f\`\|\b$f\b" docs/API.md || echo "$f"; done < "$tmp/calls")
[ -z "$missing" ] && ok "docs/API.md names every public call" || bad "docs/API.md does not name: $missing"

# calls named in the user-facing text that the header does not have (MIGRATING.md's old names
# are its point, so it is left out; rnn_type is model.py's argument, in PYTORCH.md's PyTorch code)
for doc in README.md docs/API.md docs/DESIGN.md docs/FORMAT.md docs/PYTORCH.md docs/RELIABILITY.md docs/SCALING.md bench/README.md \
    bindings/python/README.md examples/*.c; do
    [ -f "$doc" ] || continue
    stale=$(grep -o '\brnn_[a-z0-9_]*' "$doc" | sort -u | while read -r f; do
        case $f in rnn__*|rnn_type) ;; *) grep -qx "$f" "$tmp/names" || echo "$f";; esac; done)
    [ -z "$stale" ] && ok "$doc names only calls the header declares" || bad "$doc names calls rnn.h lacks: $stale"
done

# the header speaks in its own words
if grep -n "the seed\b\|main\.py\|seed's" include/rnn.h | grep -v "rnn_config.seed\|seed + b\|creation seed\|this seed\|a seed" > "$tmp/words"; then
    bad "rnn.h uses project-history words:"; cat "$tmp/words"
else
    ok "rnn.h says \"PyTorch's word_language_model example\", not project-history words"
fi

echo "docs.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
