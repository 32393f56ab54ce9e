#!/bin/sh
# abi.sh -- the shared library's exported symbols, soname, `make install` and pkg-config.
# Run by `make check` from the repository root (MAKE may name the make program).
set -eu
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
so=${RNN_LIBDIR:-lib}/librnn.so
major=$(sed -n 's/^#define RNN_VERSION_MAJOR \([0-9]*\).*/\1/p' include/rnn.h)

# 1. exported symbols: exactly the functions the header declares (RNN_API ...)
nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' | sort > /tmp/abi.$$.exported
sed -n 's/^RNN_API[^(]*[ *]\(rnn_[a-z0-9_]*\)(.*/\1/p' include/rnn.h | sort > /tmp/abi.$$.declared
if cmp -s /tmp/abi.$$.exported /tmp/abi.$$.declared; then
    ok "nm -D exports exactly the $(wc -l < /tmp/abi.$$.declared) functions rnn.h declares"
else
    bad "exported symbols differ from the header:"; diff /tmp/abi.$$.declared /tmp/abi.$$.exported || true
fi
others=$(nm -D --defined-only "$so" | awk '$2 != "T" && $3 !~ /^(_init|_fini|__bss_start|_edata|_end)$/ { print $3 }')
[ -z "$others" ] && ok "no other defined dynamic symbols" || bad "other dynamic symbols: $others"
rm -f /tmp/abi.$$.exported /tmp/abi.$$.declared

# 2. soname from the header's major version
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ "$soname" = "librnn.so.$major" ] && ok "soname $soname" || bad "soname '$soname', expected librnn.so.$major"

# 3. make install PREFIX=tmp, then build a program with nothing but pkg-config
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ${MAKE:-make} -s install PREFIX="$tmp" >/dev/null; then
    ok "make install PREFIX=$tmp"
    export PKG_CONFIG_PATH="$tmp/lib/pkgconfig"
    if cc tests/install_smoke.c $(pkg-config --cflags --libs rnn) -o "$tmp/smoke" &&
        LD_LIBRARY_PATH="$tmp/lib" "$tmp/smoke"; then
        ok "cc install_smoke.c \$(pkg-config --cflags --libs rnn) builds and runs (shared)"
    else
        bad "pkg-config build against the installed shared library"
    fi
    if cc tests/install_smoke.c $(pkg-config --cflags rnn) "$tmp/lib/librnn.a" $(pkg-config --libs-only-l --static rnn | sed 's/-lrnn//') -lm -o "$tmp/smoke_static" &&
        "$tmp/smoke_static" >/dev/null; then
        ok "static link with pkg-config --static"
    else
        bad "static link against the installed librnn.a"
    fi
else
    bad "make install"
fi
echo "abi: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
