#!/bin/sh
# bench/quant_quality.sh -- what quantized weights cost in quality (issue 16; bench/README.md,
# "Quantized weights: quality"): an fp32 model trained one epoch on WikiText-2 with the example's
# defaults (LSTM 200/200, 2 layers, dropout 0.2, lr 20, batch 20, bptt 35, seed 1111), quantized
# to q8 and bf16 by `rnnlm quantize`, each evaluated on test.txt by `rnnlm eval --reference` (both
# perplexities, the mean and 99th-percentile KL divergence of the next-word distributions, the
# top-1 agreement), and the file sizes. Prints a table and the issue's targets (test perplexity
# within 1% of fp32 for q8, within 0.2% for bf16); writes build/bench/quant_quality/.
#
#   sh bench/quant_quality.sh                    trains the fp32 model first (~15-30 minutes)
#   QQ_MODEL=fp32.rnn sh bench/quant_quality.sh  uses that fp32 model instead
#   QQ_MAX_BATCHES=50 sh bench/quant_quality.sh  a smoke run (50 training batches)
#
# Knobs (environment): QQ_DATA (../shared/data/wikitext-2), QQ_MODEL, QQ_MAX_BATCHES (0: the whole
# epoch), QQ_THREADS (2).
set -eu

cd "$(dirname "$0")/.."
DATA=${QQ_DATA:-../shared/data/wikitext-2}
THREADS=${QQ_THREADS:-2}
OUT=build/bench/quant_quality
mkdir -p "$OUT"
${MAKE:-make} --no-print-directory bin/rnnlm >&2
for f in train.txt valid.txt test.txt; do
    [ -f "$DATA/$f" ] || { echo "quant_quality: $DATA/$f not found (set QQ_DATA=DIR)" >&2; exit 1; }
done

MODEL=${QQ_MODEL:-}
if [ -z "$MODEL" ]; then
    MODEL=$OUT/fp32.rnn
    set -- --data "$DATA" --epochs 1 --threads "$THREADS" --save "$MODEL"
    [ "${QQ_MAX_BATCHES:-0}" = 0 ] || set -- "$@" --max-batches "$QQ_MAX_BATCHES"
    echo "quant_quality: bin/rnnlm train $* > $OUT/train.log" >&2
    bin/rnnlm train "$@" > "$OUT/train.log" 2>&1 || { tail -n 5 "$OUT/train.log" >&2; exit 1; }
fi
[ -f "$MODEL" ] || { echo "quant_quality: $MODEL not found" >&2; exit 1; }

size() { wc -c < "$1" | tr -d ' '; }
: > "$OUT/results.jsonl"
for type in q8 bf16; do
    bin/rnnlm quantize --checkpoint "$MODEL" --out "$OUT/$type.rnn" --type "$type" >&2
    echo "quant_quality: bin/rnnlm eval --checkpoint $OUT/$type.rnn --reference $MODEL --data $DATA/test.txt" >&2
    bin/rnnlm eval --checkpoint "$OUT/$type.rnn" --reference "$MODEL" --data "$DATA/test.txt" --threads "$THREADS" \
        --json | sed "s/^{/{\"type\":\"$type\",\"bytes\":$(size "$OUT/$type.rnn"),\"fp32_bytes\":$(size "$MODEL"),/" \
        >> "$OUT/results.jsonl"
done

# the table: one row per type, from the JSON lines
awk '
    function get(k,   v) { if (!match($0, "\"" k "\":[^,}]+")) return ""; v = substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3); gsub(/"/, "", v); return v }
    BEGIN { print "| weights | test ppl | fp32 test ppl | ppl ratio | target | KL mean (nats) | KL p99 | top-1 agreement | file MB | size vs fp32 |"
            print "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|" }
    { t = get("type"); p = get("ppl"); r = get("reference_ppl"); lim = t == "q8" ? 1.01 : 1.002
      printf "| %s | %.2f | %.2f | %.5f | <= %s: %s | %.3g | %.3g | %.4f | %.2f | %.3fx |\n", t, p, r, p / r, lim,
             p / r <= lim ? "met" : "NOT met", get("kl_mean"), get("kl_p99"), get("top1_agreement"),
             get("bytes") / 1e6, get("bytes") / get("fp32_bytes") }' "$OUT/results.jsonl" | tee "$OUT/quant_quality.md"
