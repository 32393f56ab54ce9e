#!/bin/sh
# tests/quant_cli.sh -- rnnlm quantize (q8, bf16) and what reads its output: eval (and eval
# --reference), score, generate, info; train --resume / --init refusing it; the refusals of
# quantize itself (its own input as --out, a quantized input, a bad --type, an adaptive model). On a tiny corpus and
# a model trained here.
#   RNNLM=/abs/path/bin/rnnlm sh tests/quant_cli.sh        (make check runs it)
# Prints "N passed, M failed" last; exits non-zero when anything failed.
set -eu

RNNLM=${RNNLM:-$(pwd)/bin/rnnlm}
W=$(mktemp -d "${TMPDIR:-/tmp}/rnnlm-quant.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
. "$(dirname "$0")/lib/harness.sh"
export OPENBLAS_NUM_THREADS=1

C=$W/corpus
toy_corpus "$C" 11 300 60
TINY="--emsize 40 --nhid 40 --epochs 1 --batch_size 4 --bptt 10 --max-batches 30"
run "$RNNLM" train --data "$C" $TINY --save "$W/m.rnn" --checkpoint-every 10
check "train m.rnn" test "$rc" -eq 0 -a -s "$W/m.rnn"
CKPT=$(ls "$W"/m.rnn.ckpt 2>/dev/null || true)

run "$RNNLM" quantize --help
check "quantize --help names q8 and bf16" sh -c "grep -q q8 '$W/out' && grep -q bf16 '$W/out'"
run "$RNNLM" --help
check "rnnlm --help lists quantize" grep -q quantize "$W/out"

fp32=$(wc -c <"$W/m.rnn")
for t in q8 bf16; do
    run "$RNNLM" quantize --checkpoint "$W/m.rnn" --out "$W/$t.rnn" --type $t
    check "quantize --type $t exits 0 silently" test "$rc" -eq 0 -a ! -s "$W/out" -a ! -s "$W/err"
    size=$(wc -c <"$W/$t.rnn")
    check "$t file ($size bytes) is smaller than fp32 ($fp32)" test "$size" -lt "$fp32"
    run "$RNNLM" info --checkpoint "$W/$t.rnn"
    check "info: $t, format version 3" sh -c "grep -q '^weight type  *$t' '$W/out' && grep -q '^format version  *3' '$W/out'"
    run "$RNNLM" info --checkpoint "$W/$t.rnn" --json
    check "info --json: weight_type $t" grep -q "\"weight_type\":\"$t\"" "$W/out"
    run "$RNNLM" eval --checkpoint "$W/$t.rnn" --data "$C/test.txt"
    check "eval on $t" sh -c "[ $rc -eq 0 ] && grep -q '^loss [0-9.]* ppl [0-9.]* tokens' '$W/out'"
    run "$RNNLM" score --checkpoint "$W/$t.rnn" --data "$C/test.txt"
    check "score on $t" sh -c "[ $rc -eq 0 ] && grep -q '^total logprob' '$W/out'"
    run "$RNNLM" generate --checkpoint "$W/$t.rnn" --words 20 --seed 3 --outf "$W/gen.txt"
    check "generate on $t writes 20 words" sh -c "[ $rc -eq 0 ] && [ \$(wc -w <'$W/gen.txt') -eq 20 ]"
    # --reference: both perplexities, the KL figures and the agreement
    run "$RNNLM" eval --checkpoint "$W/$t.rnn" --reference "$W/m.rnn" --data "$C/test.txt"
    check "eval --reference on $t prints both perplexities and the KL" sh -c "[ $rc -eq 0 ] &&
        grep -q '^loss [0-9.]* ppl [0-9.]* tokens [0-9]*$' '$W/out' &&
        grep -q '^reference_loss [0-9.]* reference_ppl [0-9.]*$' '$W/out' &&
        grep -q '^kl_mean [0-9.]* kl_p99 [0-9.]* top1_agreement [0-9.]*$' '$W/out'"
    ppl=$(sed -n 's/^loss [0-9.]* ppl \([0-9.]*\) .*/\1/p' "$W/out")
    kl=$(sed -n 's/^kl_mean \([0-9.]*\) .*/\1/p' "$W/out")
    agree=$(sed -n 's/.*top1_agreement \([0-9.]*\)$/\1/p' "$W/out")
    echo "quant_cli: $t: ppl $ppl, $(sed -n 2p "$W/out"), kl_mean $kl, top1_agreement $agree"
    run "$RNNLM" eval --checkpoint "$W/$t.rnn" --data "$C/test.txt"
    check "eval --reference's ppl is plain eval's" grep -q "^loss [0-9.]* ppl $ppl " "$W/out"
    check "$t: KL > 0 and small, agreement high" awk -v k="$kl" -v a="$agree" 'BEGIN { exit !(k > 0 && k < 0.05 && a > 0.9) }'
    run "$RNNLM" eval --checkpoint "$W/m.rnn" --reference "$W/m.rnn" --data "$C/test.txt" --json
    check "a model against itself: KL 0, agreement 1" sh -c "grep -q '\"kl_mean\":0,' '$W/out' && grep -q '\"top1_agreement\":1,' '$W/out'"

    # docs/DESIGN.md's definitions reproduced with numpy: the stored values bit for bit, the loss
    # to numpy's tanh / exp
    if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
        head -c 2000 "$C/test.txt" | head -n 8 >"$W/short.txt"
        run "$RNNLM" eval --checkpoint "$W/$t.rnn" --data "$W/short.txt" --batch_size 1 --bptt 5000 --json
        loss=$(sed -n 's/.*"loss":\([0-9.e+-]*\),.*/\1/p' "$W/out")
        run /usr/bin/python3 "$(dirname "$0")/quant_numpy.py" "$W/m.rnn" "$W/$t.rnn" "$W/short.txt" "$loss"
        check "quant_numpy.py reproduces $t" test "$rc" -eq 0
        cat "$W/out"
    else
        echo "quant_cli: numpy missing for /usr/bin/python3: the numpy reproduction is skipped"
    fi

    # training from a quantized model is refused with one line
    expect_error 1 "train --init $t" "$RNNLM" train --data "$C" --epochs 1 --max-batches 5 --init "$W/$t.rnn" --save "$W/bad.rnn"
    check "train --init $t says quantized" grep -q "quantized" "$W/err"
    expect_error 1 "train --resume $t" "$RNNLM" train --resume "$W/$t.rnn"
    check "train --resume $t says quantized" grep -q "quantized" "$W/err"
    # quantizing a quantized model
    expect_error 1 "quantize a $t model" "$RNNLM" quantize --checkpoint "$W/$t.rnn" --out "$W/bad.rnn" --type q8
done

# an adaptive output layer is refused, naming what to do instead
run "$RNNLM" train --data "$C" $TINY --adaptive-cutoffs 8 --save "$W/ad.rnn"
check "train an adaptive model" test "$rc" -eq 0 -a -s "$W/ad.rnn"
expect_error 1 "quantize an adaptive model" "$RNNLM" quantize --checkpoint "$W/ad.rnn" --out "$W/bad.rnn" --type q8
check "the refusal names the alternatives (fp32; a model without --adaptive-cutoffs)" \
    sh -c "grep -q 'adaptive' '$W/err' && grep -q 'fp32' '$W/err' && grep -q 'without --adaptive-cutoffs' '$W/err'"

# the same input twice gives the same bytes
run "$RNNLM" quantize --checkpoint "$W/m.rnn" --out "$W/q8b.rnn" --type q8
check "quantize is deterministic" cmp -s "$W/q8.rnn" "$W/q8b.rnn"
# refusals: its own input as output (also through a link), an unknown type, a missing flag
cp "$W/m.rnn" "$W/keep.rnn"
expect_error 1 "quantize --out = --checkpoint" "$RNNLM" quantize --checkpoint "$W/m.rnn" --out "$W/m.rnn" --type q8
check "the input is untouched" cmp -s "$W/m.rnn" "$W/keep.rnn"
ln -s "$W/m.rnn" "$W/link.rnn"
expect_error 1 "quantize --out = a link to --checkpoint" "$RNNLM" quantize --checkpoint "$W/m.rnn" --out "$W/link.rnn" --type bf16
check "the input is untouched (link)" cmp -s "$W/m.rnn" "$W/keep.rnn"
expect_error 2 "quantize --type q4" "$RNNLM" quantize --checkpoint "$W/m.rnn" --out "$W/bad.rnn" --type q4
expect_error 2 "quantize without --type" "$RNNLM" quantize --checkpoint "$W/m.rnn" --out "$W/bad.rnn"
echo "not a model" >"$W/text.txt"
expect_error 1 "quantize over a file that is not a model" "$RNNLM" quantize --checkpoint "$W/m.rnn" --out "$W/text.txt" --type q8
check "the text file is untouched" grep -q "not a model" "$W/text.txt"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
