#!/bin/sh
# tests/adaptive_cli.sh -- `rnnlm train --adaptive-cutoffs LIST [--div-value X] [--head-bias]`: the
# adaptive softmax from the command line, over a generated Zipf-distributed corpus (so that the
# head and every cluster hold real shares of the tokens):
#   - word ids by descending count in train.txt, ties by first occurrence over train, valid and
#     test (words missing from train.txt last), computed here independently; without the flag
#     data.py's order and a full softmax, as before;
#   - the start-up summary names the output layer, each cluster's words and its share of the
#     training tokens (computed here too); rnnlm info and the model file (tools/rnnfile.py) hold
#     the cutoffs, div_value, head bias and the tensors' shapes;
#   - eval gives the training run's test loss; score (every mode) and the Python binding agree;
#     generate (every sampling flag) is deterministic and the same for any --threads;
#   - the flags are stored in checkpoints and a run killed with SIGKILL (or stopped with SIGINT),
#     then continued with --resume, ends with a --save file bit-identical to an uninterrupted run's;
#     --init from an adaptive model keeps its output layer and vocabulary;
#   - one epoch (dropout 0) gives PyTorch's validation and test loss with
#     nn.AdaptiveLogSoftmaxWithLoss from the same weights (tests/adaptive_torch.py; needs torch);
#   - mpirun -np 1 is the single process bit for bit, -np 2 the same up to sum order (skipped
#     without mpirun / mpicc or an rnnlm built without MPI);
#   - the flags' errors: one "rnnlm:" line, exit 2 (exit 1 for a cutoff >= V, known once the
#     corpus is read).
#   RNNLM=/abs/path/bin/rnnlm sh tests/adaptive_cli.sh        (make check runs it)
# Environment: PYTHON (default /usr/bin/python3; with numpy the model file and the Python binding
# are checked too, with torch the comparison with PyTorch), RNN_LIBDIR (librnn.a / librnn.so, default lib), RNN_CC, RNN_LIBS (the MPI
# part's comparing helper, as tests/mpi.sh).
# Prints "N passed, M failed" last; exits non-zero when anything failed.
set -eu

RNNLM=${RNNLM:-$(pwd)/bin/rnnlm}
PY=${PYTHON:-/usr/bin/python3}
RNN_LIBDIR=${RNN_LIBDIR:-lib}
RNN_CC=${RNN_CC:-cc}
RNN_SANFLAGS=${RNN_SANFLAGS:-}
RNN_LIBS=${RNN_LIBS:-"$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -lm -pthread"}
TOOLS=$(pwd)/tools
W=$(mktemp -d "${TMPDIR:-/tmp}/rnnlm-adaptive.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
. "$(dirname "$0")/lib/harness.sh"
export PYTHONDONTWRITEBYTECODE=1
NUMPY=0
if "$PY" -c 'import numpy' 2>/dev/null; then NUMPY=1; else echo "note: $PY has no numpy: the model file and binding checks are skipped"; fi

# zipf_corpus DIR SEED NTRAIN NOTHER NW: lines of 3-10 words w1..wNW drawn with probability ~ 1/k
# (so first occurrence and frequency orders differ), plus in valid and test a few words x0..x4
# that train.txt lacks
zipf_corpus() {
    mkdir -p "$1"
    awk -v dir="$1" -v seed="$2" -v ntrain="$3" -v nother="$4" -v nw="$5" 'BEGIN {
        srand(seed); z = 0
        for (k = 1; k <= nw; k++) { z += 1 / k; cum[k] = z }
        for (f = 0; f < 3; f++) {
            file = dir "/" (f == 0 ? "train.txt" : f == 1 ? "valid.txt" : "test.txt")
            n = f == 0 ? ntrain : nother
            for (i = 0; i < n; i++) {
                m = 3 + int(rand() * 8); l = ""
                for (j = 0; j < m; j++) {
                    u = rand() * z; lo = 1; hi = nw
                    while (lo < hi) { mid = int((lo + hi) / 2); if (cum[mid] < u) lo = mid + 1; else hi = mid }
                    w = "w" lo
                    if (f > 0 && rand() < 0.02) w = "x" int(rand() * 5)
                    l = l (j ? " " : "") w
                }
                print l > file
            }
        }
    }'
}
C=$W/corpus
zipf_corpus "$C" 7 300 40 400
F="--data $C --emsize 16 --nhid 16 --epochs 3 --batch_size 4 --bptt 5 --dropout 0.2 --threads 1 --log-interval 3"
A="--adaptive-cutoffs 20,100 --head-bias"

# The vocabulary in the documented order: words (with <eos>) of train, valid, test; by descending
# count in train.txt, ties by first occurrence (ORDER=freq), or by first occurrence (ORDER=first).
vocab_order() {
    awk '{ for (i = 1; i <= NF + 1; i++) { w = i <= NF ? $i : "<eos>"; if (!(w in first)) first[w] = n++
                                           if (FILENAME ~ /train\.txt$/) cnt[w]++ } }
         END { for (w in first) printf "%d %d %s\n", cnt[w] + 0, first[w], w }' \
        "$C/train.txt" "$C/valid.txt" "$C/test.txt" |
        if [ "$1" = freq ]; then sort -k1,1nr -k2,2n; else sort -k2,2n; fi | awk '{ print $3 }'
}
vocab_order freq >"$W/want.freq"
vocab_order first >"$W/want.first"
V=$(wc -l <"$W/want.freq")
check "the corpus orders words differently by frequency and by first occurrence" sh -c "! cmp -s '$W/want.freq' '$W/want.first'"
check "the corpus has words that train.txt lacks" grep -q '^x' "$W/want.freq"
# the words of a model (rnnlm info --vocab: "ID<TAB>WORD"), in id order
model_words() { "$RNNLM" info --checkpoint "$1" --vocab | awk -F '\t' 'NF == 2 && $1 ~ /^[0-9]+$/ { print $2 }'; }

# ---- the uninterrupted adaptive run; its vocabulary and summary ------------------------------------
# shellcheck disable=SC2086
run "$RNNLM" train $F $A --save "$W/A.rnn" --metrics "$W/A.json"
check "train --adaptive-cutoffs trains and tests" test "$rc" -eq 0 -a -s "$W/A.rnn"
cp "$W/out" "$W/A.out"
TEST_LINE=$(grep '^| End of training' "$W/A.out" || true)
echo "adaptive: $TEST_LINE (V = $V)"
model_words "$W/A.rnn" >"$W/got.vocab"
check "word ids by descending count in train.txt, ties by first occurrence" cmp -s "$W/got.vocab" "$W/want.freq"
# the words of valid and test that train.txt lacks: the last ones
awk 'NR == FNR { for (i = 1; i <= NF; i++) t[$i] = 1; next } !($1 in t) && $1 != "<eos>"' "$C/train.txt" "$W/want.freq" >"$W/missing"
nmiss=$(wc -l <"$W/missing")
check "words missing from train.txt ($nmiss) come last" sh -c "[ $nmiss -gt 0 ] && tail -n $nmiss '$W/got.vocab' | cmp -s - '$W/missing'"
check "the summary names the frequency order" grep -q "^| vocabulary: $V words, every word of train, valid and test (data.py), ids by descending count in train.txt (--adaptive-cutoffs)" "$W/A.out"
check "the summary names the output layer" grep -q '^| output: adaptive softmax, cutoffs 20,100, div_value 4, head bias$' "$W/A.out"
# the shares of the training tokens (<eos> included) in the head and the clusters
awk 'NR == FNR { id[$1] = NR - 1; next }
     { for (i = 1; i <= NF + 1; i++) { k = id[i <= NF ? $i : "<eos>"]; b = k < 20 ? 0 : k < 100 ? 1 : 2; n[b]++; all++ } }
     END { for (b = 0; b < 3; b++) printf "%.1f\n", 100 * n[b] / all }' "$W/want.freq" "$C/train.txt" >"$W/shares"
s0=$(sed -n 1p "$W/shares") s1=$(sed -n 2p "$W/shares") s2=$(sed -n 3p "$W/shares")
echo "shares of the training tokens: head $s0%, cluster 0 $s1%, cluster 1 $s2%"
check "the summary gives the head's share ($s0%)" grep -q "^|   head: words 0-19 (20) and 2 clusters: $s0% of the training tokens" "$W/A.out"
check "the summary gives cluster 0's words, projection and share ($s1%)" grep -q "^|   cluster 0: words 20-99 (80) through 4 units: $s1% of the training tokens" "$W/A.out"
check "the summary gives cluster 1's ($s2%)" grep -q "^|   cluster 1: words 100-$((V - 1)) ($((V - 100))) through 1 unit: $s2% of the training tokens" "$W/A.out"
check "every cluster holds a real share of the tokens" awk -v a="$s1" -v b="$s2" 'BEGIN { exit !(a >= 5 && b >= 5) }'
run "$RNNLM" info --checkpoint "$W/A.rnn"
check "info: the adaptive softmax" grep -q '^output          adaptive softmax: cutoffs 20,100, div_value 4, head bias yes' "$W/out"
check "info: format version 2" grep -q '^format version  2' "$W/out"
if [ "$NUMPY" = 1 ]; then
    "$PY" -c "import sys; sys.path.insert(0, '$TOOLS'); import rnnfile
m = rnnfile.read('$W/A.rnn')
print(m.cutoffs, m.div_value, m.head_bias)
for n, a in m.params:
    if n.startswith('decoder'): print(n, a.shape)" >"$W/shapes" 2>&1 || cat "$W/shapes"
    cat >"$W/want.shapes" <<EOF
[20, 100] 4.0 True
decoder.head.weight (22, 16)
decoder.head.bias (1, 22)
decoder.tail.0.0.weight (4, 16)
decoder.tail.0.1.weight (80, 4)
decoder.tail.1.0.weight (1, 16)
decoder.tail.1.1.weight ($((V - 100)), 1)
EOF
    check "the model file: cutoffs, div_value, head bias and the decoder's shapes" cmp -s "$W/shapes" "$W/want.shapes" ||
        diff "$W/shapes" "$W/want.shapes" || true
fi

# ---- without the flag: as before ------------------------------------------------------------------
# shellcheck disable=SC2086
run "$RNNLM" train $F --epochs 1 --save "$W/full.rnn"
model_words "$W/full.rnn" >"$W/got.vocab"
check "without --adaptive-cutoffs: data.py's word order" cmp -s "$W/got.vocab" "$W/want.first"
check "without --adaptive-cutoffs: the summary as before" sh -c \
    "grep -q '^| vocabulary: $V words, every word of train, valid and test (data.py)\$' '$W/out' && ! grep -q '^| output' '$W/out'"
run "$RNNLM" info --checkpoint "$W/full.rnn"
check "without --adaptive-cutoffs: the full softmax, format version 1" sh -c \
    "grep -q '^output          full softmax' '$W/out' && grep -q '^format version  1' '$W/out'"
# --div-value and the head bias reach the model (and change it)
# shellcheck disable=SC2086
run "$RNNLM" train $F --epochs 1 --adaptive-cutoffs 20,100 --div-value 2 --save "$W/d2.rnn"
check "--div-value 2: the summary and the projections" grep -q '^| output: adaptive softmax, cutoffs 20,100, div_value 2, no head bias$' "$W/out"
check "--div-value 2: cluster 1 through floor(16 / 2^2) = 4 units" grep -q '^|   cluster 1: .* through 4 units' "$W/out"
run "$RNNLM" info --checkpoint "$W/d2.rnn"
check "--div-value 2 without --head-bias: info" grep -q 'cutoffs 20,100, div_value 2, head bias no' "$W/out"

# ---- eval, score, generate, the Python binding on the adaptive model -------------------------------
run "$RNNLM" eval --checkpoint "$W/A.rnn" --data "$C/test.txt" --bptt 5
want=$(sed -n 's/.*test loss *\([0-9.]*\) .*/\1/p' "$W/A.out")
got=$(sed -n 's/^loss \([0-9.]*\) .*/\1/p' "$W/out")
check "eval: the training run's test loss ($want; eval: $got)" awk -v a="$got" -v b="$want" 'BEGIN { exit !(a != "" && sprintf("%.2f", a) == b) }'
run "$RNNLM" eval --checkpoint "$W/A.rnn" --data "$C/test.txt" --bptt 5 --json
check "eval --json" grep -q '"ppl"' "$W/out"

run "$RNNLM" score --checkpoint "$W/A.rnn" --data "$C/valid.txt"
# the lines "LOGPROB<TAB>NTOKENS<TAB>TEXT" (then a "total" line)
scores() { awk -F '\t' 'NF == 3 && $2 ~ /^[0-9]+$/ { print $1 }' "$W/out"; }
scores >"$W/stream.lp"
check "score: one line per input line" test "$(wc -l <"$W/stream.lp")" -eq "$(wc -l <"$C/valid.txt")" -a \
    "$(grep -c '^total logprob' "$W/out")" -eq 1
run "$RNNLM" score --checkpoint "$W/A.rnn" --data "$C/valid.txt" --per-word
# the per-word lines summed per sentence equal the sentence scores
awk -F '\t' 'NF == 5 && $1 ~ /^[0-9]+$/ { s[$1] += $4 } END { for (i = 1; i in s; i++) printf "%.6f\n", s[i] }' "$W/out" >"$W/pw.sum"
check "score --per-word sums to the line scores (to 1e-4)" sh -c "[ \$(wc -l <'$W/pw.sum') -eq \$(wc -l <'$W/stream.lp') ] &&
    paste '$W/pw.sum' '$W/stream.lp' | awk '{ d = \$1 - \$2; if (d < 0) d = -d; if (d > 1e-4) exit 1 }'"
run "$RNNLM" score --checkpoint "$W/A.rnn" --data "$C/valid.txt" --per-sentence
scores >"$W/sent.lp"
check "score --per-sentence: finite scores, other than the stream's" sh -c \
    "! grep -qi 'nan\|inf' '$W/sent.lp' && ! cmp -s '$W/sent.lp' '$W/stream.lp'"
awk '{ print NR - 1 " ||| " $0 " ||| 1.5" }' "$C/valid.txt" >"$W/nbest"
run "$RNNLM" score --checkpoint "$W/A.rnn" --data "$W/nbest" --nbest --lm-weight 0.5 --json
check "score --nbest --json: one object per hypothesis" test "$(grep -c '^{' "$W/out")" -eq "$(wc -l <"$C/valid.txt")"
if [ "$NUMPY" = 1 ]; then
    LIBDIR=$(cd "$RNN_LIBDIR" 2>/dev/null && pwd) || LIBDIR=$(pwd)/lib
    RNN_LIBRARY="$LIBDIR/librnn.so" PYTHONPATH="$(pwd)/bindings/python" "$PY" -c "import rnn
m = rnn.Model.load('$W/A.rnn')
c = m.config
assert c['adaptive_cutoffs'] == [20, 100] and c['head_bias'], c
text = open('$C/valid.txt').read()
for x in m.score_text(text, per_sentence=True): print('%.6f' % x)
for x in m.score_text(text, per_sentence=False): print('%.6f' % x)" >"$W/py.lp" 2>"$W/py.err" || cat "$W/py.err"
    cat "$W/sent.lp" "$W/stream.lp" >"$W/cli.lp"
    # (both print the doubles to 6 decimals, C's printf and Python's %: the same digits; rounding
    # the CLI's printed decimals again to fewer would not be, at a tie such as -21.033250)
    check "the Python binding: the config and score's numbers (per sentence and streamed)" cmp -s "$W/py.lp" "$W/cli.lp"
fi

gen() { "$RNNLM" generate --checkpoint "$W/A.rnn" --words 60 --outf - "$@" 2>/dev/null; }
for flags in "" "--temperature 0.7" "--temperature 0" "--top-k 5" "--top-p 0.8" "--min-p 0.05" \
    "--repeat-penalty 1.3" "--prompt w1 --echo" "--stop-at-eos"; do
    # shellcheck disable=SC2086
    a=$(gen --seed 5 $flags | tr '\n' ' ' || echo FAILED)
    # shellcheck disable=SC2086
    b=$(gen --seed 5 --threads 2 $flags | tr '\n' ' ' || echo FAILED)
    n=$(echo "$a" | wc -w)
    # every word of the text is the model's
    unknown=$(echo "$a" | tr ' ' '\n' | awk 'NR == FNR { v[$1] = 1; next } $1 != "" && !($1 in v)' "$W/want.freq" - | head -n 1)
    check "generate ${flags:-(fast two-level draw)}: words of the model ($n), the same for --threads 2" \
        test "$a" = "$b" -a "$n" -gt 0 -a -z "$unknown"
done
check "generate: another --seed, another text" test "$(gen --seed 5)" != "$(gen --seed 6)"

# ---- checkpoints and --resume --------------------------------------------------------------------------
# shellcheck disable=SC2086
"$RNNLM" train $F $A --save "$W/B.rnn" --checkpoint-every 1 >"$W/B.out" 2>&1 || bad "the run with checkpoints failed: $(tail -n 1 "$W/B.out")"
check "checkpoints do not change the run" cmp -s "$W/A.rnn" "$W/B.rnn"
check "the checkpoint stores --adaptive-cutoffs" grep -aq '^adaptive_cutoffs=20,100$' "$W/B.rnn.ckpt"
check "the checkpoint stores --head-bias" grep -aq '^head_bias=1$' "$W/B.rnn.ckpt"
check "the checkpoint stores --div-value (0: not given, 4)" grep -aq '^div_value=0x0p+0$' "$W/B.rnn.ckpt"

# stopped: tests/lib/harness.sh; here the resumed summary also names the output layer
echo "stops (resume point = the last checkpoint):"
for stop in "kill1 KILL 1 5" "kill2 KILL 2 2" "int3 INT 3 4"; do
    # shellcheck disable=SC2086
    stopped $stop "$W/A.rnn" "$TEST_LINE" $F $A
    name=${stop%% *}
    check "$name: the resumed summary names the output layer" grep -q '^| output: adaptive softmax, cutoffs 20,100' "$W/$name.2"
done
expect_error 2 "--adaptive-cutoffs with --resume" "$RNNLM" train --resume "$W/B.rnn.ckpt" --adaptive-cutoffs 20

# ---- checkpoints of earlier versions: the keys are "added in version 2" ------------------------------------
# A checkpoint's application data rewritten (tools/rnnfile.py) as version 1, which lacks the keys of
# version 2: it resumes with the full softmax, bit-identical to the uninterrupted run. A version-2
# blob must hold them; a version-1 blob must not.
if [ "$NUMPY" = 1 ]; then
    O="--data $C --emsize 16 --nhid 16 --batch_size 4 --bptt 5 --threads 1 --max-batches 10 --log-interval 1000 --lr 5"
    # shellcheck disable=SC2086
    run "$RNNLM" train $O --epochs 2 --save "$W/ref.rnn"
    cp "$W/out" "$W/ref.out"
    # shellcheck disable=SC2086
    run "$RNNLM" train $O --epochs 1 --checkpoint-every 1000 --save "$W/old.rnn"
    # appl CKPT VERSION DROP-KEYS...: the checkpoint with its training state's version and without the keys
    appl() {
        "$PY" - "$@" <<'PYEOF'
import sys
sys.path.insert(0, sys.argv[1])
import rnnfile
path, version, drop = sys.argv[2], sys.argv[3], set(sys.argv[4:])
m = rnnfile.read(path, keep_unknown=True)
for i, (tag, p) in enumerate(m.extra_sections):
    if tag == b'APPL':
        lines = p.decode().split('\n')
        lines[0] = 'rnnlm-train-checkpoint ' + version
        lines = [l for l in lines if l.split('=')[0] not in drop]
        m.extra_sections[i] = (tag, '\n'.join(lines).encode())
rnnfile.write(path, m)
PYEOF
    }
    ADDED="vocab_size min_count patience max_eval_batches stale use_optimizer weight_decay"
    cp "$W/old.rnn.ckpt" "$W/old.keep"
    # shellcheck disable=SC2086
    appl "$TOOLS" "$W/old.rnn.ckpt" 1 $ADDED adaptive_cutoffs div_value head_bias
    run "$RNNLM" train --resume "$W/old.rnn.ckpt" --epochs 2
    check "a version-1 checkpoint (without the adaptive keys) resumes" test "$rc" -eq 0
    check "a version-1 checkpoint: the full softmax, bit-identical to the uninterrupted run" sh -c \
        "cmp -s '$W/old.rnn' '$W/ref.rnn' && ! grep -q '^| output' '$W/out' && grep -q '^| end of epoch   2' '$W/out'"
    check "the uninterrupted run's second epoch is its best (so that the comparison can fail)" sh -c \
        "[ \$(sed -n 's/.*valid loss *\\([0-9.]*\\) .*/\\1/p' '$W/ref.out' | sort -n | head -n 1) = \$(sed -n 's/^| end of epoch   2 .*valid loss *\\([0-9.]*\\) .*/\\1/p' '$W/ref.out') ]"
    cp "$W/old.keep" "$W/old.rnn.ckpt"
    appl "$TOOLS" "$W/old.rnn.ckpt" 2 adaptive_cutoffs
    expect_error 1 "a version-2 checkpoint without adaptive_cutoffs" "$RNNLM" train --resume "$W/old.rnn.ckpt" --epochs 2
    check "a version-2 checkpoint without adaptive_cutoffs: the message" grep -q "lacks 'adaptive_cutoffs'" "$W/err"
    cp "$W/old.keep" "$W/old.rnn.ckpt"
    # shellcheck disable=SC2086
    appl "$TOOLS" "$W/old.rnn.ckpt" 1 $ADDED div_value head_bias
    expect_error 1 "a version-1 checkpoint with adaptive_cutoffs" "$RNNLM" train --resume "$W/old.rnn.ckpt" --epochs 2
    check "a version-1 checkpoint with adaptive_cutoffs: the message" grep -q "unknown key 'adaptive_cutoffs'" "$W/err"
fi

# ---- --init from an adaptive model ----------------------------------------------------------------------
run "$RNNLM" train --data "$C" --init "$W/A.rnn" --epochs 1 --batch_size 4 --bptt 5 --threads 1 --save "$W/I.rnn"
check "--init from an adaptive model trains" test "$rc" -eq 0 -a -s "$W/I.rnn"
check "--init: the summary names the model's output layer" grep -q '^| output: adaptive softmax, cutoffs 20,100, div_value 4, head bias$' "$W/out"
run "$RNNLM" info --checkpoint "$W/I.rnn"
check "--init: the model keeps the output layer" grep -q 'adaptive softmax: cutoffs 20,100, div_value 4, head bias yes' "$W/out"
model_words "$W/I.rnn" >"$W/got.vocab"
check "--init: the model keeps the vocabulary's order" cmp -s "$W/got.vocab" "$W/want.freq"
check "--init: the weights moved on" sh -c "! cmp -s '$W/I.rnn' '$W/A.rnn'"
expect_error 2 "--init with --adaptive-cutoffs" "$RNNLM" train --data "$C" --init "$W/A.rnn" --adaptive-cutoffs 20 --save "$W/bad.rnn"
check "--init with --adaptive-cutoffs: the message says why" grep -q "init takes the model's cell, sizes and output layer" "$W/err"
expect_error 2 "--init with --head-bias" "$RNNLM" train --data "$C" --init "$W/A.rnn" --head-bias --save "$W/bad.rnn"

# ---- with --vocab-size: its order (<unk> id 0, in the head) ----------------------------------------------
# shellcheck disable=SC2086
run "$RNNLM" train $F --epochs 1 --adaptive-cutoffs 10,30 --vocab-size 50 --save "$W/v.rnn"
check "--vocab-size 50 with --adaptive-cutoffs trains" test "$rc" -eq 0
model_words "$W/v.rnn" >"$W/got.vocab"
{ echo '<unk>'; grep -v '^x' "$W/want.freq" | head -n 49; } >"$W/want.v"
check "--vocab-size: <unk> id 0, then by descending count" cmp -s "$W/got.vocab" "$W/want.v"

# ---- errors ---------------------------------------------------------------------------------------------
E="--data $C --emsize 16 --nhid 16 --epochs 1 --batch_size 4 --bptt 5 --threads 1 --save $W/bad.rnn"
# err STATUS DESC PATTERN FLAGS...: fails with one line matching PATTERN
err() {
    st=$1 desc=$2 pat=$3; shift 3
    # shellcheck disable=SC2086
    expect_error "$st" "$desc" "$RNNLM" train $E "$@"
    check "$desc: the message ($pat)" grep -q -- "$pat" "$W/err"
}
err 2 "cutoffs not increasing" "strictly increasing, got 10 after 20" --adaptive-cutoffs 20,10
err 2 "cutoffs equal" "strictly increasing, got 20 after 20" --adaptive-cutoffs 20,20
err 2 "a cutoff 0" "at least 1, got 0" --adaptive-cutoffs 0,10
err 2 "not a list" "not a comma-separated list of integers" --adaptive-cutoffs 20,,30
err 2 "a negative cutoff" "not a comma-separated list of integers" --adaptive-cutoffs -5
err 2 "a trailing comma" "not a comma-separated list of integers" --adaptive-cutoffs 20,
err 2 "more cutoffs than RNN_LIMIT_CUTOFFS" "more than 8 cutoffs (librnn's RNN_LIMIT_CUTOFFS)" --adaptive-cutoffs 1,2,3,4,5,6,7,8,9
err 2 "a cutoff beyond any vocabulary" "larger than any vocabulary" --adaptive-cutoffs 99999999999
err 1 "a cutoff >= V" "the vocabulary has V = $V words, so every cutoff must be at most V - 1 = $((V - 1))" --adaptive-cutoffs 20,$V
err 1 "a cutoff >= V with --vocab-size" "V = 50 words" --adaptive-cutoffs 20,50 --vocab-size 50
err 2 "a projection of 0 units" "--div-value 3 gives cluster 2 a projection of floor(--nhid 16 / 3^3) = 0 units" --adaptive-cutoffs 20,100,200 --div-value 3
err 2 "a projection of 0 units (default --div-value)" "--div-value 4 (the default) gives cluster 2" --adaptive-cutoffs 20,100,200
err 2 "--div-value 0" "--div-value must be" --adaptive-cutoffs 20 --div-value 0
err 2 "--div-value inf" "--div-value" --adaptive-cutoffs 20 --div-value inf
err 2 "--tied with --adaptive-cutoffs" "--tied cannot be used with --adaptive-cutoffs" --adaptive-cutoffs 20 --tied
err 2 "--div-value alone" "--div-value is for the adaptive softmax" --div-value 2
err 2 "--head-bias alone" "--head-bias is for the adaptive softmax" --head-bias
check "--help names the flags and the order" sh -c "'$RNNLM' train --help | grep -q -- '--adaptive-cutoffs LIST' &&
    '$RNNLM' train --help | grep -q 'ids by descending count in train.txt'"
# shellcheck disable=SC2086
run "$RNNLM" train $E --adaptive-cutoffs 20,$((V - 1))
check "the largest cutoff, V - 1 (a cluster of one word), trains" test "$rc" -eq 0

# ---- against PyTorch: one epoch of main.py's loop with nn.AdaptiveLogSoftmaxWithLoss ----------------------
# The initial weights: a run with --lr 0 saves them unchanged; then one epoch with dropout 0 here and
# in PyTorch (tests/adaptive_torch.py, float64) from them: the validation and test losses to 1e-6.
if "$PY" -c 'import torch, numpy' 2>/dev/null; then
    # shellcheck disable=SC2086
    run "$RNNLM" train $F --epochs 1 --lr 0 $A --save "$W/init.rnn"
    # shellcheck disable=SC2086
    run "$RNNLM" train --data "$C" --init "$W/init.rnn" --epochs 1 --batch_size 4 --bptt 5 --threads 1 --dropout 0 \
        --lr 5 --log-interval 1000 --save "$W/T.rnn" --metrics "$W/T.json"
    "$PY" tests/adaptive_torch.py "$W/init.rnn" "$C" 4 5 5 >"$W/torch.json" 2>"$W/torch.err" || cat "$W/torch.err"
    for k in valid_loss test_loss; do
        ours=$(sed -n "s/.*\"$k\":\([-0-9.eE+]*\).*/\1/p" "$W/T.json" 2>/dev/null | tail -n 1)
        theirs=$(sed -n "s/.*\"$k\": \([-0-9.eE+]*\).*/\1/p" "$W/torch.json")
        check "one epoch against PyTorch's AdaptiveLogSoftmaxWithLoss: $k $ours, PyTorch $theirs (1e-6)" \
            awk -v a="$ours" -v b="$theirs" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= 1e-6 * b) }'
    done
else
    echo "note: $PY has no torch: the comparison with PyTorch is skipped"
fi

# ---- mpirun: -np 1 bit for bit, -np 2 up to the order of sums -------------------------------------------
mpi_part() {
    command -v mpirun >/dev/null 2>&1 && command -v mpicc >/dev/null 2>&1 || { echo "SKIP (mpi): no mpirun / mpicc"; return 0; }
    mpi_env
    M="--data $C --emsize 16 --nhid 16 --epochs 1 --batch_size 4 --bptt 5 --dropout 0.2 --threads 1 --max-batches 30 --log-interval 10 $A"
    # shellcheck disable=SC2086
    run "$RNNLM" train $M --save "$W/one.rnn" --metrics "$W/one.json"
    # shellcheck disable=SC2086
    run timeout 120 mpirun -np 1 "$RNNLM" train $M --save "$W/np1.rnn"
    if grep -q 'built without MPI' "$W/err"; then echo "SKIP (mpi): $RNNLM was built without MPI"; return 0; fi
    check "mpirun -np 1 with --adaptive-cutoffs: the single process bit for bit" cmp -s "$W/np1.rnn" "$W/one.rnn"
    # shellcheck disable=SC2086
    run timeout 120 mpirun -np 2 "$RNNLM" train $M --save "$W/np2.rnn" --metrics "$W/np2.json"
    check "mpirun -np 2 with --adaptive-cutoffs trains" test "$rc" -eq 0
    a=$(sed -n 's/.*"test_loss":\([-0-9.eE+]*\).*/\1/p' "$W/np2.json" 2>/dev/null || true)
    b=$(sed -n 's/.*"test_loss":\([-0-9.eE+]*\).*/\1/p' "$W/one.json" 2>/dev/null || true)
    check "mpirun -np 2: the test loss of one process to 1e-5 ($a, $b)" awk -v a="$a" -v b="$b" \
        'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-5 * (b < 0 ? -b : b)) }'
    CMP=$W/mpi_compare
    # shellcheck disable=SC2086
    if $RNN_CC -std=c11 $RNN_SANFLAGS -Iinclude tests/mpi_compare.c "$RNN_LIBDIR/librnn.a" $RNN_LIBS -o "$CMP"; then
        if diff=$("$CMP" "$W/np2.rnn" "$W/one.rnn" 1e-4); then ok; else bad "mpirun -np 2: a tensor differs by $diff"; fi
        echo "mpirun -np 2: test loss $a (one process $b), largest tensor difference ${diff% *}"
    else
        bad "cannot build tests/mpi_compare.c against $RNN_LIBDIR/librnn.a"
    fi
}
mpi_part

echo "$pass passed, $fail failed"
test "$fail" -eq 0
