#!/bin/sh
# tests/score_cli.sh -- rnnlm score's modes (--per-sentence, --per-word, --nbest, --lm-weight),
# --unk-policy and the OOV counts of score and eval, eval --data DIR, and PyTorch files given as
# checkpoints; on a tiny corpus and models trained here. Also builds examples/score.c against the
# build tree: its --reset agrees with rnnlm score --per-sentence.
#   RNNLM=/abs/path/bin/rnnlm sh tests/score_cli.sh        (make check runs it)
# Prints "N passed, M failed" last; exits non-zero when anything failed.
set -eu

RNNLM=${RNNLM:-$(pwd)/bin/rnnlm}
W=$(mktemp -d "${TMPDIR:-/tmp}/rnnlm-score.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
. "$(dirname "$0")/lib/harness.sh"
export OPENBLAS_NUM_THREADS=1

# ---- a tiny corpus and two models: m.rnn without <unk>, unk.rnn with it --------------------------
C=$W/corpus
toy_corpus "$C" 11 300 60
TINY="--emsize 16 --nhid 16 --epochs 1 --batch_size 4 --bptt 10 --max-batches 20"
run "$RNNLM" train --data "$C" $TINY --save "$W/m.rnn"
check "train m.rnn" test "$rc" -eq 0 -a -s "$W/m.rnn"
mkdir -p "$W/unkc" && cp "$C/valid.txt" "$C/test.txt" "$W/unkc/" && { cat "$C/train.txt"; echo "the <unk> sat"; } >"$W/unkc/train.txt"
run "$RNNLM" train --data "$W/unkc" $TINY --save "$W/unk.rnn"
check "train unk.rnn" test "$rc" -eq 0 -a -s "$W/unk.rnn"
S="score --checkpoint $W/m.rnn"
SU="score --checkpoint $W/unk.rnn"
SUMMARY='^total logprob -[0-9.]* tokens [0-9]* ppl [0-9.]* sentences [0-9]* words [0-9]* oovs [0-9]* ppl_excluding_oovs [0-9.]*$'

run "$RNNLM" score --help
for f in --per-sentence --per-word --nbest --lm-weight --unk-policy "excluding OOVs"; do
    check "score --help mentions $f" grep -q -- "$f" "$W/out"
done
run "$RNNLM" eval --help
check "eval --help mentions --unk-policy and ppl_excluding_oovs" sh -c "grep -q -- --unk-policy '$W/out' && grep -q ppl_excluding_oovs '$W/out'"

# ---- --per-sentence: identical lines, identical scores -------------------------------------------
printf 'the cat sat on the mat\nthe cat sat on the mat\nred dog ran\nthe cat sat on the mat\n' >"$W/rep.txt"
run "$RNNLM" $S --data "$W/rep.txt" --per-sentence
cp "$W/out" "$W/ps.txt"
check "--per-sentence exits 0 with one line per input line and the summary" \
    test "$rc" -eq 0 -a "$(wc -l <"$W/ps.txt")" -eq 5
check "--per-sentence: identical lines get identical scores" \
    test -n "$(sed -n 1p "$W/ps.txt")" -a "$(sed -n 1p "$W/ps.txt")" = "$(sed -n 2p "$W/ps.txt")" -a "$(sed -n 1p "$W/ps.txt")" = "$(sed -n 4p "$W/ps.txt")"
check "--per-sentence: summary line" grep -q "$SUMMARY" "$W/ps.txt"
check "--per-sentence: sentences 4 words 21 oovs 0" grep -q ' sentences 4 words 21 oovs 0 ' "$W/ps.txt"
run "$RNNLM" $S --data "$W/rep.txt"
cp "$W/out" "$W/carried.txt"
check "default (carried) mode: the repeated line scores differently" test "$(sed -n 1p "$W/carried.txt")" != "$(sed -n 2p "$W/carried.txt")"
check "default mode: the summary line" grep -q "$SUMMARY" "$W/carried.txt"
check "no OOVs: ppl_excluding_oovs = ppl" awk '/^total/ { exit !($7 == $15) }' "$W/carried.txt"
# a line scored alone equals the same line first in a file (both start from the start state)
printf 'red dog ran\n' >"$W/one.txt"
run "$RNNLM" $S --data "$W/one.txt" --per-sentence
check "--per-sentence: a line's score does not depend on the lines before it" \
    test -n "$(head -n 1 "$W/out")" -a "$(head -n 1 "$W/out")" = "$(sed -n 3p "$W/ps.txt")"
"$RNNLM" $S --data - --per-sentence <"$W/rep.txt" >"$W/ps_stdin.txt" 2>"$W/err" || :
check "--per-sentence --data - equals the file" cmp -s "$W/ps_stdin.txt" "$W/ps.txt"

# ---- examples/score.c --reset agrees with --per-sentence -----------------------------------------
ROOT=$(dirname "$(dirname "$RNNLM")")
if ${CC:-cc} -std=c11 -Wall -Wextra -Werror -Iinclude examples/score.c -L"$ROOT/lib" -Wl,-rpath,"$ROOT/lib" \
    -lrnn -lm -o "$W/score_ex" 2>"$W/cc.log"; then
    run "$W/score_ex" "$W/m.rnn" "$C/valid.txt" --reset
    cp "$W/out" "$W/ex.txt"
    run "$RNNLM" $S --data "$C/valid.txt" --per-sentence
    cp "$W/out" "$W/cli_ps.txt"
    check "examples/score --reset == rnnlm score --per-sentence (every line, printed precision)" \
        test "$(wc -l <"$W/ex.txt")" -gt 10 -a "$(head -n -1 "$W/ex.txt" | cut -f2,3)" = "$(head -n -1 "$W/cli_ps.txt" | awk -F'\t' '{ print $2 "\t" $1 }')"
    run "$W/score_ex" "$W/m.rnn" "$W/rep.txt" --reset
    check "examples/score --reset: identical lines, identical scores" \
        test "$(sed -n 1p "$W/out" | cut -f2-)" = "$(sed -n 2p "$W/out" | cut -f2-)"
else
    cat "$W/cc.log"; bad "compile examples/score.c against $ROOT/lib"
fi

# ---- --per-word ------------------------------------------------------------------------------------
run "$RNNLM" $S --data "$W/rep.txt" --per-sentence --per-word
cp "$W/out" "$W/pw.txt"
check "--per-word: one line per token (words + <eos>) and the summary" test "$rc" -eq 0 -a "$(wc -l <"$W/pw.txt")" -eq $((21 + 4 + 1))
check "--per-word lines: LINE WORD LOG10 LN OOV" \
    test "$(head -n -1 "$W/pw.txt" | grep -cv '^[1-4]	[a-z<>]*	-[0-9]*\.[0-9]*	-[0-9]*\.[0-9]*	0$')" -eq 0
check "--per-word: the words are the text's, <eos> last" test "$(head -n 7 "$W/pw.txt" | cut -f2 | tr '\n' ' ')" = "the cat sat on the mat <eos> "
check "--per-word: log10 = ln / ln(10)" awk -F'\t' 'NF == 5 { d = $3 - $4 / log(10); if (d > 2e-6 || d < -2e-6) exit 1 }' "$W/pw.txt"
check "--per-word --per-sentence: each line's ln sum = its --per-sentence score (1e-5)" awk -F'\t' '
    NR == FNR { if (NF == 3) s[FNR] = $1; next }
    NF == 5 { t[$1] += $4 }
    END { for (i in s) { d = s[i] - t[i]; if (d > 1e-5 || d < -1e-5) exit 1 } }' "$W/ps.txt" "$W/pw.txt"
check "--per-word: the summary equals --per-sentence's (1e-5)" awk '
    /^total/ { v[++n] = $3 } END { d = v[1] - v[2]; exit !(n == 2 && d < 1e-5 && d > -1e-5) }' "$W/ps.txt" "$W/pw.txt"
run "$RNNLM" $S --data "$W/rep.txt" --per-word --json
check "--per-word --json" grep -q '^{"line":1,"word":"the","log10prob":-[0-9.e+-]*,"logprob":-[0-9.e+-]*,"oov":0}$' "$W/out"
check "--json summary has the OOV fields" sh -c "tail -n 1 '$W/out' | grep -q '^{\"total_logprob\":-[0-9.e+-]*,\"tokens\":25,\"ppl\":[0-9.e+-]*,\"lines\":4,\"sentences\":4,\"words\":21,\"oovs\":0,\"total_logprob_excluding_oovs\":-[0-9.e+-]*,\"tokens_excluding_oovs\":25,\"ppl_excluding_oovs\":[0-9.e+-]*}\$'"

# ---- --unk-policy and OOVs -------------------------------------------------------------------------
printf 'the cat zebra sat\nred quokka ran on zebra\n' >"$W/unk.txt"
run "$RNNLM" $SU --data "$W/unk.txt" --per-word
cp "$W/out" "$W/unk_map.txt"
check "map: 3 OOVs scored as <unk>, counted" grep -q ' sentences 2 words 9 oovs 3 ' "$W/unk_map.txt"
check "map: --per-word shows the text's word with OOV 1" test "$(grep -c '	1$' "$W/unk_map.txt")" -eq 3 -a "$(sed -n 3p "$W/unk_map.txt" | cut -f2,5)" = "zebra	1"
check "map: tokens 11, ppl excluding OOVs over the other 8" awk -F'\t' '
    NF == 5 && $5 == 0 { s += $4; n++ }
    /^total/ { split($0, f, " "); p = exp(-s / n); d = (f[15] - p) / p; exit !(f[5] == 11 && n == 8 && d < 1e-5 && d > -1e-5) }' "$W/unk_map.txt"
run "$RNNLM" $SU --data "$W/unk.txt"
check "map: the default mode's summary equals --per-word's ppl excluding OOVs" \
    test "$(tail -n 1 "$W/out" | cut -d' ' -f15)" = "$(tail -n 1 "$W/unk_map.txt" | cut -d' ' -f15)"
run "$RNNLM" $SU --data "$W/unk.txt" --unk-policy skip --per-word
check "skip: the unknown words are left out and counted" \
    sh -c "grep -q ' tokens 8 ppl .* words 9 oovs 3 ' '$W/out' && ! grep -q 'zebra' '$W/out'"
check "skip: ppl excluding OOVs = ppl" awk '/^total/ { exit !($7 == $15) }' "$W/out"
expect_error 1 "--unk-policy error with unknown words" "$RNNLM" $SU --data "$W/unk.txt" --unk-policy error
check "--unk-policy error: the message names the words and lines and the policies" \
    grep -q '3 words not in the model.s vocabulary (--unk-policy error): "zebra" (line 1), "quokka" (line 2); give --unk-policy map (to <unk>) or skip' "$W/err"
expect_error 1 "map without <unk> in the model" "$RNNLM" $S --data "$W/unk.txt"
check "map without <unk>: the message suggests --unk-policy skip" grep -q 'has no <unk> to map them to.*zebra.*quokka.*--unk-policy skip' "$W/err"
run "$RNNLM" $S --data "$W/unk.txt" --unk-policy skip --json
check "skip on a model without <unk>" sh -c "test $rc -eq 0 && tail -n 1 '$W/out' | grep -q '\"words\":9,\"oovs\":3,'"

# ---- --nbest ----------------------------------------------------------------------------------------
cat >"$W/nb.txt" <<'NB'
0 ||| the cat sat on the mat ||| -1.5
0 ||| mat the on sat cat the ||| -0.5
0 ||| red dog ran ||| d: -2 lm: -3.0
1 ||| the mat ||| -4 ||| 7
1 ||| mat the |||  -4 ||| 1
NB
run "$RNNLM" $S --data "$W/nb.txt" --nbest
cp "$W/out" "$W/nb.out"
check "--nbest: the list, same lines, LM appended; the summary on stderr" \
    sh -c "test $rc -eq 0 -a \$(wc -l <'$W/nb.out') -eq 5 && grep -q '$SUMMARY' '$W/err' && test \$(grep -vc '^[01] ||| .* ||| -[0-9]*\.[0-9]*\$' '$W/nb.out') -eq 0"
check "--nbest: each ID's lines sorted by LM, best first" awk -F' \\|\\|\\| ' '
    { id = $1; lm = $NF; if (id == prev && lm > last + 0) exit 1; if (id != prev && seen[id]++) exit 1; prev = id; last = lm }' "$W/nb.out"
check "--nbest: LM = the --per-sentence log-probability / ln(10)" sh -c "
    printf 'the cat sat on the mat\n' >'$W/h.txt'
    '$RNNLM' $S --data '$W/h.txt' --per-sentence | head -n 1 | cut -f1 >'$W/h.lp'
    grep '^0 ||| the cat sat on the mat ||| -1.5 |||' '$W/nb.out' | awk -F' \\\\|\\\\|\\\\| ' -v f='$W/h.lp' '
        { getline lp <f; d = \$NF - lp / log(10); exit !(d < 2e-6 && d > -2e-6) }'"
run "$RNNLM" $S --data "$W/nb.txt" --nbest --lm-weight 0.5
cp "$W/out" "$W/nbw.out"
check "--nbest --lm-weight: combined = last number + W * LM, sorted by it" awk -F' \\|\\|\\| ' '
    { n = split($(NF - 2), s, " "); c = s[n] + 0.5 * $(NF - 1); d = c - $NF; if (d > 2e-6 || d < -2e-6) exit 1
      if ($1 == prev && $NF > last + 0) exit 1; prev = $1; last = $NF }' "$W/nbw.out"
check "--nbest --lm-weight: ID 1 reordered by the combined score" test "$(grep -c '^1 ' "$W/nbw.out")" -eq 2 -a \
    "$(grep '^1 ' "$W/nbw.out" | head -n 1 | cut -d'|' -f4)" = " the mat "
run "$RNNLM" $S --data "$W/nb.txt" --nbest --json
check "--nbest --json" grep -q '^{"line":4,"id":"1","hypothesis":"the mat","lm_log10prob":-[0-9.e+-]*,"lm_logprob":-[0-9.e+-]*,"score":-[0-9.e+-]*}$' "$W/out"
"$RNNLM" $S --data - --nbest <"$W/nb.txt" >"$W/nb_stdin.out" 2>"$W/err" || :
check "--nbest from a pipe equals the file" cmp -s "$W/nb_stdin.out" "$W/nb.out"
printf '0 ||| the cat ||| 1\n1 ||| the mat ||| 2\n0 ||| red dog ||| 3\n' >"$W/nb_split.txt"
expect_error 1 "--nbest: an ID that comes back after another" "$RNNLM" $S --data "$W/nb_split.txt" --nbest
check "--nbest: the split ID is named with its line" grep -q 'nb_split.txt:3: the ID "0" comes again' "$W/err"
printf '0 ||| the cat ||| 1\n0 ||| the mat\n' >"$W/nb_short.txt"
expect_error 1 "--nbest: a line of two fields" "$RNNLM" $S --data "$W/nb_short.txt" --nbest
check "--nbest: the malformed line is named" grep -q 'nb_short.txt:2: not an n-best line' "$W/err"
printf ' ||| the cat ||| 1\n' >"$W/nb_noid.txt"
expect_error 1 "--nbest: an empty ID" "$RNNLM" $S --data "$W/nb_noid.txt" --nbest
printf '0 ||| the cat ||| lm: x\n' >"$W/nb_nan.txt"
expect_error 1 "--nbest --lm-weight: no number at the end" "$RNNLM" $S --data "$W/nb_nan.txt" --nbest --lm-weight 1
check "--lm-weight: the message names the line" grep -q 'nb_nan.txt:1: --lm-weight needs a number' "$W/err"
run "$RNNLM" $S --data "$W/nb_nan.txt" --nbest
check "--nbest without --lm-weight does not read the scores" test "$rc" -eq 0

# ---- bad flag values: exit 2, one line --------------------------------------------------------------
for args in "$S --data $W/rep.txt --unk-policy bogus" "$S --data $W/rep.txt --unk-policy" \
    "$S --data $W/nb.txt --lm-weight 1" "$S --data $W/nb.txt --nbest --per-word" \
    "$S --data $W/nb.txt --nbest --lm-weight x" "$S --data $W/nb.txt --nbest --lm-weight inf" \
    "$S --data $W/rep.txt --per-sentence=1" \
    "eval --checkpoint $W/m.rnn --data $C/test.txt --unk-policy MAP"; do
    # shellcheck disable=SC2086
    expect_error 2 "rnnlm $args" "$RNNLM" $args
done
run "$RNNLM" $S --data "$W/rep.txt" --unk-policy bogus
check "--unk-policy bogus: the message lists the policies" grep -q 'error, map or skip' "$W/err"

# ---- eval: --unk-policy, OOVs, --data DIR ----------------------------------------------------------
run "$RNNLM" eval --checkpoint "$W/m.rnn" --data "$C/test.txt"
cp "$W/out" "$W/ev.txt"
check "eval: loss line, then the OOV line" sh -c "test $rc -eq 0 && sed -n 1p '$W/ev.txt' | grep -q '^loss [0-9.]* ppl [0-9.]* tokens [1-9][0-9]*\$' &&
    sed -n 2p '$W/ev.txt' | grep -q '^oovs 0 ppl_excluding_oovs [0-9.]* tokens_excluding_oovs [1-9][0-9]*\$'"
check "eval without OOVs: the same perplexity and tokens excluding them" awk 'NR == 1 { p = $4; t = $6 } NR == 2 { exit !($4 == p && $6 == t) }' "$W/ev.txt"
run "$RNNLM" eval --checkpoint "$W/m.rnn" --data "$C"
check "eval --data DIR: evaluates DIR/test.txt and says so" sh -c "test $rc -eq 0 && sed -n 1p '$W/out' | grep -q '^evaluating .*/test.txt (--data is a folder)\$' && test \"\$(tail -n 2 '$W/out')\" = \"\$(cat '$W/ev.txt')\""
run "$RNNLM" eval --checkpoint "$W/m.rnn" --data "$C" --json
check "eval --json: OOV fields and the file" grep -q '^{"loss":[0-9.]*,"ppl":[0-9.]*,"tokens":[1-9][0-9]*,"oovs":0,"loss_excluding_oovs":[0-9.]*,"ppl_excluding_oovs":[0-9.]*,"tokens_excluding_oovs":[1-9][0-9]*,"data":".*/test.txt"}$' "$W/out"
mkdir -p "$W/notest"
expect_error 1 "eval --data a folder without test.txt" "$RNNLM" eval --checkpoint "$W/m.rnn" --data "$W/notest"
check "eval --data DIR without test.txt: names DIR/test.txt" grep -q 'notest/test.txt: cannot open' "$W/err"
# unknown words in the evaluated text (the first lines of test.txt, so that main.py's batching keeps them)
{ printf 'the zebra sat on the quokka mat\nred zebra ran\n'; cat "$C/test.txt"; } >"$W/evunk.txt"
run "$RNNLM" eval --checkpoint "$W/unk.rnn" --data "$W/evunk.txt" --json
check "eval map: 3 OOVs; tokens excluding them = tokens - 3; the perplexities differ" awk '{
    gsub(/[{}"]/, ""); n = split($0, kv, ","); for (i = 1; i <= n; i++) { split(kv[i], p, ":"); v[p[1]] = p[2] }
    exit !(v["oovs"] == 3 && v["tokens_excluding_oovs"] == v["tokens"] - 3 && v["ppl"] != v["ppl_excluding_oovs"]) }' "$W/out"
run "$RNNLM" eval --checkpoint "$W/unk.rnn" --data "$W/evunk.txt" --unk-policy skip
check "eval skip: 3 OOVs, nothing excluded" sh -c "test $rc -eq 0 && sed -n 2p '$W/out' | grep -q '^oovs 3 ' && awk 'NR == 1 { p = \$4; t = \$6 } NR == 2 { exit !(\$4 == p && \$6 == t) }' '$W/out'"
run "$RNNLM" eval --checkpoint "$W/unk.rnn" --data "$W/evunk.txt" --unk-policy skip --batching seed --bptt 5 --batch_size 2
check "eval skip --batching seed" test "$rc" -eq 0
expect_error 1 "eval --unk-policy error with unknown words" "$RNNLM" eval --checkpoint "$W/unk.rnn" --data "$W/evunk.txt" --unk-policy error
check "eval --unk-policy error names the words" grep -q '"zebra" (line 1), "quokka" (line 1)' "$W/err"
expect_error 1 "eval map without <unk>" "$RNNLM" eval --checkpoint "$W/m.rnn" --data "$W/evunk.txt"
check "eval map without <unk>: suggests --unk-policy skip" grep -q 'give --unk-policy skip' "$W/err"
run "$RNNLM" eval --checkpoint "$W/m.rnn" --data "$W/evunk.txt" --unk-policy skip
check "eval --unk-policy skip on a model without <unk>" test "$rc" -eq 0

# ---- a PyTorch file given as a checkpoint ----------------------------------------------------------
printf 'PK\003\004\024\000\000\000\010\000rest of a zip' >"$W/model.pt"
printf '\200\002\212\012l\374\234F\371 j\250P.' >"$W/legacy.pt"
for pt in model.pt legacy.pt; do
    for args in "eval --checkpoint $W/$pt --data $C/test.txt" "score --checkpoint $W/$pt --data $C/test.txt" \
        "generate --checkpoint $W/$pt --outf $W/bad.txt" "train --data $C --init $W/$pt --save $W/bad.rnn --epochs 1"; do
        # shellcheck disable=SC2086
        expect_error 1 "rnnlm ${args%% *} with $pt" "$RNNLM" $args
        check "rnnlm ${args%% *} with $pt: says to convert it with tools/torch2rnn.py" \
            grep -q "$pt is a PyTorch file, not a librnn model: convert it with tools/torch2rnn.py" "$W/err"
    done
done
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    /usr/bin/python3 -c "import torch; torch.save({'w': torch.zeros(2)}, '$W/real.pt')"
    expect_error 1 "eval with a real torch.save file" "$RNNLM" eval --checkpoint "$W/real.pt" --data "$C/test.txt"
    check "a real torch.save file: says to convert it" grep -q 'tools/torch2rnn.py' "$W/err"
fi

echo "score_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
