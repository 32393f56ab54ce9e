#!/bin/sh
# abi.sh -- the shared library's exported symbols, soname, the struct_size rule of the structs that
# grow, `make install` and pkg-config.
# Run by `make check` from the repository root (MAKE may name the make program; RNN_LIBDIR the
# folder of librnn.so, default lib; RNN_CC and RNN_SANFLAGS the compiler and sanitizer flags the
# library was built with).
set -eu
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
libdir=$(cd "${RNN_LIBDIR:-lib}" && pwd)
so=$libdir/librnn.so
major=$(sed -n 's/^#define RNN_VERSION_MAJOR \([0-9]*\).*/\1/p' include/rnn.h)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rnn-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# 1. exported symbols: exactly the functions the header declares (every line that starts with
#    RNN_API, the RNN_EXPERT_API section included: those are exported too). A declaration may go
#    on over several lines; its first line holds the name and the '('. RNN_DEPRECATED("...") in
#    front of the name is dropped first.
nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' | sort > "$tmp/exported"
sed -n -e 's/RNN_DEPRECATED([^)]*)//g' -e 's/^RNN_API[^(]*[ *]\(rnn_[a-z0-9_]*\)(.*/\1/p' include/rnn.h |
    sort > "$tmp/declared"
napi=$(grep -c '^RNN_API' include/rnn.h)
ndecl=$(wc -l < "$tmp/declared")
[ "$napi" -eq "$ndecl" ] && ok "every one of the $napi RNN_API lines of rnn.h names a function" ||
    bad "rnn.h has $napi RNN_API lines but only $ndecl function names were read from them"
if cmp -s "$tmp/exported" "$tmp/declared"; then
    ok "nm -D exports exactly the $ndecl functions rnn.h declares"
else
    bad "exported symbols differ from the header (< declared only, > exported only):"
    diff "$tmp/declared" "$tmp/exported" || true
fi
awk '/^#ifdef RNN_EXPERT_API/ { e = 1 } e && /^#endif/ { e = 0 } e' include/rnn.h |
    sed -n 's/^RNN_API[^(]*[ *]\(rnn_[a-z0-9_]*\)(.*/\1/p' | sort > "$tmp/expert"
nexpert=$(wc -l < "$tmp/expert")
if [ "$nexpert" -gt 0 ] && [ -z "$(comm -23 "$tmp/expert" "$tmp/exported")" ]; then
    ok "the $nexpert RNN_EXPERT_API functions are exported: $(echo $(cat "$tmp/expert"))"
else
    bad "RNN_EXPERT_API functions ($nexpert found in rnn.h) not exported: $(echo $(comm -23 "$tmp/expert" "$tmp/exported"))"
fi
internal=$(nm -D --defined-only "$so" | awk '$3 ~ /rnn__/ { print $3 }')
[ -z "$internal" ] && ok "no exported symbol has a double underscore (rnn__*)" ||
    bad "internal symbols exported: $(echo $internal)"
others=$(nm -D --defined-only "$so" | awk '$2 != "T" && $3 !~ /^(_init|_fini|__bss_start|_edata|_end)$/ { print $3 }')
[ -z "$others" ] && ok "no other defined dynamic symbols" || bad "other dynamic symbols: $others"

# 2. soname from the header's major version (1.x: librnn.so.1)
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ "$soname" = "librnn.so.$major" ] && [ "$soname" = librnn.so.1 ] && [ -f "$libdir/$soname" ] &&
    ok "soname $soname (RNN_VERSION_MAJOR $major), $libdir/$soname exists" ||
    bad "soname '$soname', expected librnn.so.1 (RNN_VERSION_MAJOR $major) and the file $libdir/librnn.so.1"

# 3. struct_size: a program compiled against an older 1.x header, in which each struct that grows
#    lacks its last field (rnn_param: size, rnn_allocator: user; rnn_config and rnn_sampling
#    their 1.1 fields: output, num_cutoffs, cutoffs, div_value, head_bias, dropout_masks and min_p,
#    repeat_penalty, repeat_last_n), runs on this library as the header promises: the missing fields take their defaults,
#    and the library neither reads nor writes past the program's struct (a value placed right after
#    each struct would change the result or be overwritten). Its results are compared with the same
#    program compiled against the real header.
mkdir "$tmp/short"
awk 'BEGIN { want["rnn_config"]; want["rnn_sampling"]; want["rnn_param"]; want["rnn_allocator"] }
     !inside && /^typedef struct [a-z_]+ \{/ && ($3 in want) { inside = 1; name = $3; n = 0; print; next }
     inside && $0 ~ ("^} " name ";") {
         last = 0   # the last field: the last line that starts a declaration (comment lines that
         for (i = 1; i <= n; i++) if (buf[i] ~ /^    [A-Za-z_]/) last = i   # go on are deeper)
         # a struct that grew in 1.1 loses all of 1.1 (what follows its "librnn 1.1" line): one
         # field less could end in the same padded size
         for (i = 1; i <= n; i++) if (buf[i] ~ /^    \/\* librnn 1\.1 \*\//) { last = i; break }
         for (i = 1; i < last; i++) print buf[i]
         print; inside = 0; next
     }
     inside { buf[++n] = $0; next }
     { print }' include/rnn.h > "$tmp/short/rnn.h"
removed=$(diff include/rnn.h "$tmp/short/rnn.h" | sed -n 's/^< *\([a-z_0-9]* \**[a-z_]*\(\[[A-Z_]*\]\)\{0,1\};\).*/\1/p' | tr '\n' ' ')
[ "$removed" = "int output; int num_cutoffs; int cutoffs[RNN_MAX_CUTOFFS]; float div_value; int head_bias; int dropout_masks; void *user; float min_p; float repeat_penalty; int repeat_last_n; size_t size; " ] &&
    ok "short header: rnn_config and rnn_sampling without their 1.1 fields (the 1.0 layouts), rnn_allocator without user, rnn_param without size" ||
    bad "the short header lost '$removed', expected 'int output; int num_cutoffs; int cutoffs[RNN_MAX_CUTOFFS]; float div_value; int head_bias; int dropout_masks; void *user; float min_p; float repeat_penalty; int repeat_last_n; size_t size;'"

cat > "$tmp/structs.c" <<'EOF'
/* Built twice: against include/rnn.h (FULL) and against a copy whose growable structs lack
 * their last field. "val" lines must agree between the two; "chk" lines are checks of their own;
 * "size" lines give the struct sizes. */
#include <rnn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long n_alloc, n_free;
static int wrong_user;
static void *want_user;
static void *count_alloc(void *user, size_t n)
{
    if (user != want_user) wrong_user = 1;
    n_alloc++;
    return malloc(n);
}
static void count_free(void *user, void *p)
{
    if (user != want_user) wrong_user = 1;
    n_free++;
    free(p);
}
static void chk(int ok, const char *what) { printf("chk %s %s\n", ok ? "ok" : "FAIL", what); }
static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}
static void print_tokens(const char *key, const int32_t *t, int n)
{
    printf("val %s", key);
    for (int i = 0; i < n; i++) printf(" %d", (int)t[i]);
    printf("\n");
}

int main(void)
{
    static int user_tag, garbage_tag;
    char err[256] = "";
    int rc;
    printf("size rnn_config %zu rnn_sampling %zu rnn_param %zu rnn_allocator %zu\n", sizeof(rnn_config),
           sizeof(rnn_sampling), sizeof(rnn_param), sizeof(rnn_allocator));

    /* rnn_config: init with this program's size; after it a value the library must not take for
     * a field the program lacks (nor overwrite) */
    struct { rnn_config c; uint64_t after; } cb;
    memset(&cb, 0x5A, sizeof cb);
    cb.after = 42;
    rc = rnn_config_init(&cb.c, sizeof cb.c);
    chk(rc == RNN_OK && cb.c.struct_size == sizeof cb.c && cb.c.cell == RNN_CELL_LSTM && cb.c.num_layers == 2,
        "rnn_config_init(&cfg, sizeof cfg): RNN_OK, struct_size set, defaults filled");
    chk(cb.after == 42, "rnn_config_init writes nothing after the struct");
#ifdef FULL
    chk(cb.c.seed == 1111, "rnn_config_init: seed 1111");
#endif
    cb.c.vocab_size = 50, cb.c.emb_size = 16, cb.c.hidden_size = 16, cb.c.num_layers = 1;
    cb.c.dropout = 0.0f, cb.c.cell = RNN_CELL_GRU;

    /* rnn_allocator: counting hooks; after the struct a pointer the library must not take for
     * `user` (the short struct has no user: the hooks must get NULL) */
    struct { rnn_allocator a; void *after; } ab;
    memset(&ab, 0, sizeof ab);
    ab.a.struct_size = sizeof ab.a;
    ab.a.alloc = count_alloc;
    ab.a.free = count_free;
#ifdef FULL
    ab.a.user = &user_tag;
    want_user = &user_tag;
#else
    (void)user_tag;
    want_user = NULL;
#endif
    ab.after = &garbage_tag;

    rnn_model *m = NULL;
    rc = rnn_model_create(&m, &cb.c, &ab.a, err, sizeof err);
    if (rc != RNN_OK) {
        printf("chk FAIL rnn_model_create: %s: %s\n", rnn_status_string(rc), err);
        return 1;
    }
    chk(n_alloc > 0 && !wrong_user, "rnn_model_create allocates through the hooks, which get the right user");

    struct { rnn_config c; uint64_t after; } gb;
    memset(&gb, 0xA5, sizeof gb);
    gb.c.struct_size = sizeof gb.c;
    rc = rnn_model_get_config(m, &gb.c);
    chk(rc == RNN_OK && gb.c.vocab_size == 50 && gb.c.cell == RNN_CELL_GRU && gb.c.hidden_size == 16 &&
            all_bytes((const unsigned char *)&gb.after, sizeof gb.after, 0xA5),
        "rnn_model_get_config fills the struct and nothing after it");
#ifdef FULL
    chk(gb.c.seed == 1111, "rnn_model_get_config: seed 1111");
#endif

    /* rnn_param: filled up to struct_size; a canary right after it */
    int count = 0;
    rnn_param_get_count(m, &count);
    uint64_t h = 1469598103934665603ull; /* FNV-1a over every parameter's bytes */
    int params_ok = count > 0, canary_ok = 1;
    for (int i = 0; i < count; i++) {
        struct { rnn_param p; unsigned char canary[16]; } pb;
        memset(&pb, 0xCC, sizeof pb);
        pb.p.struct_size = sizeof pb.p;
        rc = rnn_param_get(m, i, &pb.p);
        if (rc != RNN_OK || !pb.p.name || pb.p.rows <= 0 || pb.p.cols <= 0 || !pb.p.data) {
            params_ok = 0;
            continue;
        }
        if (!all_bytes(pb.canary, sizeof pb.canary, 0xCC)) canary_ok = 0;
#ifdef FULL
        if (pb.p.size != (size_t)pb.p.rows * (size_t)pb.p.cols) params_ok = 0;
#endif
        printf("val param %d %s %dx%d\n", i, pb.p.name, pb.p.rows, pb.p.cols);
        const unsigned char *b = (const unsigned char *)pb.p.data;
        for (size_t k = 0; k < (size_t)pb.p.rows * (size_t)pb.p.cols * sizeof(float); k++)
            h = (h ^ b[k]) * 1099511628211ull;
    }
    chk(params_ok, "rnn_param_get fills name, data, rows and cols of every tensor");
    chk(canary_ok, "rnn_param_get writes nothing after the struct");
    {
        struct { rnn_param p; unsigned char canary[16]; } pb;
        memset(&pb, 0xCC, sizeof pb);
        pb.p.struct_size = sizeof pb.p;
        rc = rnn_param_find(m, "decoder.bias", &pb.p);
        chk(rc == RNN_OK && pb.p.rows == 1 && pb.p.cols == 50 && !strcmp(pb.p.name, "decoder.bias") &&
                all_bytes(pb.canary, sizeof pb.canary, 0xCC),
            "rnn_param_find fills the struct and nothing after it");
    }
    printf("val checksum %016llx\n", (unsigned long long)h);

    /* rnn_sampling: after the short struct (1.0's) a float the library must not take for min_p
     * (0.01 would cut the unlikely tokens) */
    struct { rnn_sampling s; float after; } sb;
    memset(&sb, 0x5A, sizeof sb);
    sb.after = 0.01f;
    rc = rnn_sampling_init(&sb.s, sizeof sb.s);
    chk(rc == RNN_OK && sb.s.struct_size == sizeof sb.s && sb.s.temperature == 1.0f && sb.s.top_k == 0 &&
            sb.after == 0.01f,
        "rnn_sampling_init(&s, sizeof s): defaults, nothing written after the struct");
#ifdef FULL
    chk(sb.s.top_p == 1.0f, "rnn_sampling_init: top_p 1");
    sb.s.top_p = 1.0f;
#endif
    rnn_state *st = NULL;
    int32_t prompt[6] = {1, 2, 3, 4, 5, 6}, out[2 * 40];
    rc = rnn_state_create(&st, m, 2, 7);
    if (!rc) rc = rnn_state_feed(st, prompt, 3, 0);
    sb.s.temperature = 1.0f;
    if (!rc) rc = rnn_state_generate(st, &sb.s, 40, out);
    if (!rc) print_tokens("sampled", out, 80);
    if (!rc) rc = rnn_state_reset(st);
    if (!rc) rc = rnn_state_feed(st, prompt, 3, 0);
    sb.s.temperature = 0.0f;
    if (!rc) rc = rnn_state_generate(st, &sb.s, 20, out);
    if (!rc) print_tokens("greedy", out, 40);
    sb.s.temperature = 0.8f, sb.s.top_k = 10;
    if (!rc) rc = rnn_state_draw(st, &sb.s, out);
    if (!rc) print_tokens("draw_top_k", out, 2);
    chk(rc == RNN_OK, rc ? rnn_state_errmsg(st) : "rnn_state_generate / rnn_state_draw with the rnn_sampling");
    rnn_state_free(st);

    /* the model's own generator (seeded from the configuration's seed) through rnn_sample */
    int32_t tok[2] = {0, 1}, next[2], seq[2 * 30];
    sb.s.temperature = 1.0f, sb.s.top_k = 0;
    rc = rnn_model_reset_hidden(m, 2);
    for (int t = 0; t < 30 && rc == RNN_OK; t++) {
        rc = rnn_sample(m, tok, 2, &sb.s, next);
        seq[t] = tok[0] = next[0], seq[30 + t] = tok[1] = next[1];
    }
    chk(rc == RNN_OK, rc ? rnn_model_errmsg(m) : "rnn_sample with the rnn_sampling");
    if (rc == RNN_OK) print_tokens("model_sample", seq, 60);

    rnn_model_free(m);
    chk(n_alloc == n_free && !wrong_user, "every allocation freed through the hooks, with the right user");
    return 0;
}
EOF
cc_=${RNN_CC:-cc}
ccfail=0
# shellcheck disable=SC2086 # RNN_CC and RNN_SANFLAGS may hold several words
$cc_ -std=c11 -Wall -Wextra ${RNN_SANFLAGS:-} -I"$tmp/short" "$tmp/structs.c" -o "$tmp/short_prog" \
    -L"$libdir" -Wl,-rpath,"$libdir" -lrnn -lm 2>"$tmp/cc.log" || ccfail=1
# shellcheck disable=SC2086
$cc_ -std=c11 -Wall -Wextra ${RNN_SANFLAGS:-} -DFULL -Iinclude "$tmp/structs.c" -o "$tmp/full_prog" \
    -L"$libdir" -Wl,-rpath,"$libdir" -lrnn -lm 2>>"$tmp/cc.log" || ccfail=1
if [ "$ccfail" -ne 0 ]; then
    bad "compiling the struct_size programs against the short and the full header:"; cat "$tmp/cc.log"
else
    "$tmp/short_prog" > "$tmp/short.out" 2>&1 || echo "chk FAIL the short-header program exited $?" >> "$tmp/short.out"
    "$tmp/full_prog" > "$tmp/full.out" 2>&1 || echo "chk FAIL the full-header program exited $?" >> "$tmp/full.out"
    set -- $(sed -n 's/^size //p' "$tmp/short.out") x x x x x x x x
    s_cfg=$2 s_smp=$4 s_par=$6 s_al=$8
    set -- $(sed -n 's/^size //p' "$tmp/full.out") x x x x x x x x
    if [ "$s_cfg" != x ] && [ "$2" != x ] && [ "$s_cfg" -lt "$2" ] && [ "$s_smp" -lt "$4" ] && [ "$s_par" -lt "$6" ] &&
        [ "$s_al" -lt "$8" ]; then
        ok "struct sizes, short header vs rnn.h: rnn_config $s_cfg < $2, rnn_sampling $s_smp < $4, rnn_param $s_par < $6, rnn_allocator $s_al < $8"
    else
        bad "struct sizes: short header '$s_cfg $s_smp $s_par $s_al', rnn.h '$2 $4 $6 $8'"
    fi
    for which in short full; do
        while read -r tag res what; do
            case $tag:$res in
            chk:ok) ok "($which header) $what" ;;
            chk:*) bad "($which header) $what" ;;
            esac
        done < "$tmp/$which.out"
        grep -v '^\(chk\|val\|size\) ' "$tmp/$which.out" | sed "s/^/    ($which header) /" || true
    done
    for key in param checksum sampled greedy draw_top_k model_sample; do
        a=$(grep "^val $key " "$tmp/short.out" || true)
        b=$(grep "^val $key " "$tmp/full.out" || true)
        case $key in
        param) what="rnn_param_get: the same names and shapes ($(echo "$b" | wc -l) tensors)" ;;
        checksum) what="rnn_config without its 1.1 fields: the weights of the full output layer, as rnn.h's default (${b#val checksum })" ;;
        sampled) what="rnn_sampling without its 1.1 fields: rnn_state_generate (temperature 1) draws what the defaults draw" ;;
        greedy) what="rnn_sampling without its 1.1 fields: greedy rnn_state_generate the same" ;;
        draw_top_k) what="rnn_sampling without its 1.1 fields: rnn_state_draw with top_k 10 the same" ;;
        model_sample) what="rnn_sample (the model's generator, seeded by the default seed) the same" ;;
        esac
        if [ -n "$a" ] && [ "$a" = "$b" ]; then
            ok "$what"
        else
            bad "$what: short header '$(echo $a | cut -c1-120)', rnn.h '$(echo $b | cut -c1-120)'"
        fi
    done
fi

# 3b. the released 1.0.0 header, frozen in tests/abi/rnn.h: the same program built against it (a
#     1.0 program, rebuilt or not) runs on this library with the results of the current header.
# shellcheck disable=SC2086
if $cc_ -std=c11 -Wall -Wextra ${RNN_SANFLAGS:-} -DFULL -Itests/abi "$tmp/structs.c" -o "$tmp/v10_prog" \
    -L"$libdir" -Wl,-rpath,"$libdir" -lrnn -lm 2>"$tmp/cc10.log"; then
    "$tmp/v10_prog" > "$tmp/v10.out" 2>&1 || echo "chk FAIL the 1.0-header program exited $?" >> "$tmp/v10.out"
    grep -q '^#define RNN_VERSION_STRING "1.0.0"$' tests/abi/rnn.h &&
        ok "tests/abi/rnn.h is the 1.0.0 header" || bad "tests/abi/rnn.h is not the 1.0.0 header"
    nfail10=$(grep -c '^chk FAIL' "$tmp/v10.out" || true)
    [ "$nfail10" -eq 0 ] && ok "(1.0.0 header) every check of the struct program passes" ||
        bad "(1.0.0 header) $nfail10 checks fail: $(grep '^chk FAIL' "$tmp/v10.out" | head -n 3 | tr '\n' ' ')"
    if [ -s "$tmp/full.out" ] && grep -q '^val ' "$tmp/v10.out" &&
        [ "$(grep '^val ' "$tmp/v10.out")" = "$(grep '^val ' "${tmp}/full.out")" ]; then
        ok "(1.0.0 header) the same weights, parameters and sampled tokens as with rnn.h"
    else
        bad "(1.0.0 header) results differ from rnn.h's: $(diff "$tmp/v10.out" "$tmp/full.out" | head -n 4 | tr '\n' ' ')"
    fi
else
    bad "compiling the struct program against the 1.0.0 header:"; cat "$tmp/cc10.log"
fi

# 4. make install PREFIX=tmp, then build a program with nothing but pkg-config
if ${MAKE:-make} -s install PREFIX="$tmp/prefix" >/dev/null; then
    ok "make install PREFIX=$tmp/prefix"
    export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
    if cc tests/install_smoke.c $(pkg-config --cflags --libs rnn) -o "$tmp/smoke" &&
        LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/smoke"; then
        ok "cc install_smoke.c \$(pkg-config --cflags --libs rnn) builds and runs (shared)"
    else
        bad "pkg-config build against the installed shared library"
    fi
    if cc tests/install_smoke.c $(pkg-config --cflags rnn) "$tmp/prefix/lib/librnn.a" $(pkg-config --libs-only-l --static rnn | sed 's/-lrnn//') -lm -o "$tmp/smoke_static" &&
        "$tmp/smoke_static" >/dev/null; then
        ok "static link with pkg-config --static"
    else
        bad "static link against the installed librnn.a"
    fi
    [ -f "$tmp/prefix/lib/librnn.so.1" ] && [ "$(readlink "$tmp/prefix/lib/librnn.so")" = librnn.so.1 ] &&
        ok "installed librnn.so.1 and the librnn.so -> librnn.so.1 link" ||
        bad "installed files: $(ls "$tmp/prefix/lib" | tr '\n' ' ')"
else
    bad "make install"
fi
echo "abi: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
