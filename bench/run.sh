#!/bin/sh
# bench/run.sh -- librnn vs PyTorch's examples/word_language_model on WikiText-2 (bench/README.md).
#
#   sh bench/run.sh                 the full run (3 runs of every row; < 20 minutes on 2 cores)
#   BENCH_QUICK=1 sh bench/run.sh   a ~3-minute smoke run (LSTM only, 1 run, tiny counts; q8 and bf16 rows too)
#   sh bench/run.sh vocab           the vocabulary scan instead (make bench-vocab): builds the bench,
#                                   then runs bench/zipf.py (Zipf corpora, V = 10k..250k, full and
#                                   adaptive softmax, ours and PyTorch's; BENCH_QUICK=1 as above)
#
# Writes build/bench/raw.jsonl (every run, one JSON line each) and build/bench/results.md (the
# table, also printed). Knobs (environment): BENCH_DATA (default ../shared/data/wikitext-2),
# BENCH_RUNS, BENCH_CELLS, BENCH_THREADS, BENCH_TRAIN_BATCHES, BENCH_WARMUP, BENCH_EVAL_CHUNKS,
# BENCH_GEN_TOKENS, BENCH_FIGURE_CAP_S (evaluation and generation each stop after this many
# seconds), BENCH_GEMM_REPS, BENCH_BUDGET_S (runs after the first round are skipped when they would
# end past this many seconds), BENCH_ADAPTIVE (the adaptive rows' cutoffs, default 2000,10000;
# "none": no adaptive rows), BENCH_WEIGHTS (the quantized rows' weight types, default "q8 bf16";
# "none": no quantized rows), PYTHON (default /usr/bin/python3, Debian's, which has torch).
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUTDIR=build/bench
RAW=$OUTDIR/raw.jsonl
RES=$OUTDIR/results.md
BIN=$OUTDIR/bench
PYTHON=${PYTHON:-/usr/bin/python3}
DATA=${BENCH_DATA:-../shared/data/wikitext-2}

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    MODE=quick
    : "${BENCH_RUNS:=1}" "${BENCH_CELLS:=LSTM}" "${BENCH_TRAIN_BATCHES:=3}" "${BENCH_WARMUP:=1}"
    : "${BENCH_EVAL_CHUNKS:=5}" "${BENCH_GEN_TOKENS:=50}" "${BENCH_GEMM_REPS:=2}" "${BENCH_BUDGET_S:=150}"
    : "${BENCH_FIGURE_CAP_S:=2}"
else
    MODE=full
    : "${BENCH_RUNS:=3}" "${BENCH_CELLS:=LSTM GRU RNN_TANH}" "${BENCH_TRAIN_BATCHES:=8}" "${BENCH_WARMUP:=3}"
    : "${BENCH_EVAL_CHUNKS:=30}" "${BENCH_GEN_TOKENS:=1000}" "${BENCH_GEMM_REPS:=5}" "${BENCH_BUDGET_S:=1080}"
    : "${BENCH_FIGURE_CAP_S:=3}"
fi
: "${BENCH_THREADS:=1 2}"
: "${BENCH_ADAPTIVE:=2000,10000}"
[ "$BENCH_ADAPTIVE" != none ] || BENCH_ADAPTIVE=
: "${BENCH_WEIGHTS:=q8 bf16}"
[ "$BENCH_WEIGHTS" != none ] || BENCH_WEIGHTS=

for f in train.txt valid.txt test.txt; do
    [ "${1:-}" != vocab ] || break
    [ -f "$DATA/$f" ] || { echo "bench: $DATA/$f not found (set BENCH_DATA=DIR)" >&2; exit 1; }
done
"$PYTHON" -c 'import torch' 2>/dev/null || { echo "bench: $PYTHON cannot import torch (apt-get install python3-torch)" >&2; exit 1; }

# ---- build: the library through the Makefile, the bench program here
${MAKE:-make} --no-print-directory lib/librnn.a >&2
mkdir -p "$OUTDIR"
${CC:-cc} -O2 -std=c11 -Iinclude -Isrc -Isrc/rnnlm $(pkg-config --cflags openblas 2>/dev/null) bench/bench.c \
    src/rnnlm/corpus.c lib/librnn.a $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -lm -pthread -o "$BIN"

if [ "${1:-}" = vocab ]; then # the vocabulary scan (bench/zipf.py; bench/README.md)
    if [ "$MODE" = quick ]; then set -- --quick; else set --; fi
    exec "$PYTHON" bench/zipf.py --bench "$BIN" --out "$OUTDIR" "$@"
fi

START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
cores=$(nproc)
tver=$("$PYTHON" -c 'import torch; print(torch.__version__)')
load0=$(cut -d' ' -f1-3 /proc/loadavg)
: > "$RAW"
printf '{"kind": "meta", "date": "%s", "cpu": "%s", "cores": %s, "mode": "%s", "torch": "%s", "runs": %s, "train_batches": %s, "warmup": %s, "eval_chunks": %s, "gen_tokens": %s, "figure_cap_s": %s, "load_start": "%s"}\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$cpu" "$cores" "$MODE" "$tver" "$BENCH_RUNS" "$BENCH_TRAIN_BATCHES" \
    "$BENCH_WARMUP" "$BENCH_EVAL_CHUNKS" "$BENCH_GEN_TOKENS" "$BENCH_FIGURE_CAP_S" "$load0" >> "$RAW"

echo "bench: $MODE run on $cpu ($cores cores), load $load0; torch $tver; data $DATA" >&2
echo "bench: per run: $BENCH_WARMUP+$BENCH_TRAIN_BATCHES training batches, 2+$BENCH_EVAL_CHUNKS eval chunks, 20+$BENCH_GEN_TOKENS generated tokens (each of the last two capped at ${BENCH_FIGURE_CAP_S}s)" >&2

# ---- the roofline: cblas_sgemm at 1 thread for the training step's shapes
echo "bench: [$(elapsed)s] cblas_sgemm shapes at 1 thread" >&2
OPENBLAS_NUM_THREADS=1 "$BIN" gemm --reps "$BENCH_GEMM_REPS" >> "$RAW"
if [ -n "$BENCH_ADAPTIVE" ]; then
    echo "bench: [$(elapsed)s] cblas_sgemm shapes of the adaptive step (cutoffs $BENCH_ADAPTIVE) at 1 thread" >&2
    OPENBLAS_NUM_THREADS=1 "$BIN" gemm-adaptive --reps "$BENCH_GEMM_REPS" --data "$DATA" --cutoffs "$BENCH_ADAPTIVE" \
        --div-value 4 >> "$RAW"
fi

COMMON="--data $DATA --train-batches $BENCH_TRAIN_BATCHES --warmup $BENCH_WARMUP --eval-chunks $BENCH_EVAL_CHUNKS --gen-tokens $BENCH_GEN_TOKENS --max-seconds $BENCH_FIGURE_CAP_S"
failed=0
skipped=0

# measure KEY LABEL CMD...: runs CMD (appending its JSON line to $RAW) unless round 1 showed that it
# would end past BENCH_BUDGET_S; remembers how long it took (dur_KEY).
measure() {
    key=$1 label=$2
    shift 2
    eval "est=\${dur_$key:-0}"
    if [ "$r" -gt 1 ] && [ $(( $(elapsed) + est )) -gt "$BENCH_BUDGET_S" ]; then
        echo "bench: [$(elapsed)s] skip run $r $label: would end past the ${BENCH_BUDGET_S}s budget" >&2
        skipped=$((skipped + 1))
        return 0
    fi
    echo "bench: [$(elapsed)s] run $r $label" >&2
    t0=$(date +%s)
    if ! "$@" >> "$RAW"; then
        echo "bench: FAILED (or allocated in a timed loop): $label" >&2
        failed=1
    fi
    eval "dur_$key=$(( $(date +%s) - t0 ))"
}

# Interleaved: ours, PyTorch, ours, PyTorch ...; rounds outermost, so that when the budget runs
# out (a loaded machine), rows get fewer runs rather than no runs.
r=1
while [ "$r" -le "$BENCH_RUNS" ]; do
    for cell in $BENCH_CELLS; do
        for t in $BENCH_THREADS; do
            # ours: librnn's own threads (rnn_model_set_threads), OpenBLAS on one thread under them
            measure "ours_${cell}_$t" "$cell threads=$t ours (rnn_model_set_threads($t), OPENBLAS_NUM_THREADS=1)" \
                env OPENBLAS_NUM_THREADS=1 "$BIN" run $COMMON --cell "$cell" --threads "$t" --lib-threads "$t" \
                --run "$r" --setting "OB=1"
            obs=1
            [ "$t" = 1 ] || obs="1 $t"
            for ob in $obs; do # PyTorch: OPENBLAS_NUM_THREADS 1 and t; the report takes the best
                measure "torch_${cell}_${t}_$ob" "$cell threads=$t PyTorch (set_num_threads($t), OPENBLAS_NUM_THREADS=$ob)" \
                    env OPENBLAS_NUM_THREADS="$ob" "$PYTHON" bench/torch_ref.py run $COMMON --cell "$cell" \
                    --threads "$t" --run "$r" --setting "OB=$ob"
            done
        done
    done
    # the adaptive output layer: the example's default LSTM, PyTorch's AdaptiveLogSoftmaxWithLoss
    # (cutoffs BENCH_ADAPTIVE, div_value 4), word ids by training-set frequency on both sides
    if [ -n "$BENCH_ADAPTIVE" ]; then
        AD="--cell LSTM --output adaptive --cutoffs $BENCH_ADAPTIVE --div-value 4"
        for t in $BENCH_THREADS; do
            measure "ours_ad_$t" "LSTM adaptive ($BENCH_ADAPTIVE) threads=$t ours" \
                env OPENBLAS_NUM_THREADS=1 "$BIN" run $COMMON $AD --threads "$t" --lib-threads "$t" \
                --run "$r" --setting "OB=1"
            obs=1
            [ "$t" = 1 ] || obs="1 $t"
            for ob in $obs; do
                measure "torch_ad_${t}_$ob" "LSTM adaptive ($BENCH_ADAPTIVE) threads=$t PyTorch (OPENBLAS_NUM_THREADS=$ob)" \
                    env OPENBLAS_NUM_THREADS="$ob" "$PYTHON" bench/torch_ref.py run $COMMON $AD \
                    --threads "$t" --run "$r" --setting "OB=$ob"
            done
        done
    fi
    # quantized weights (rnn_model_quantize after the training loop): the example's default LSTM,
    # evaluation and generation against the fp32 rows above (ours and PyTorch's LSTM)
    for wt in $BENCH_WEIGHTS; do
        for t in $BENCH_THREADS; do
            measure "ours_${wt}_$t" "LSTM weights $wt threads=$t ours" \
                env OPENBLAS_NUM_THREADS=1 "$BIN" run $COMMON --cell LSTM --weights "$wt" --threads "$t" \
                --lib-threads "$t" --run "$r" --setting "OB=1"
        done
    done
    r=$((r + 1))
done
[ "$skipped" = 0 ] || echo "bench: $skipped measurements skipped for the time budget (see the runs column)" >&2

printf '{"kind": "meta_end", "seconds": %s, "load_end": "%s"}\n' "$(elapsed)" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW"
echo "bench: [$(elapsed)s] done; raw runs in $RAW" >&2
echo >&2
"$PYTHON" bench/torch_ref.py report "$RAW" "$RES"
exit $failed
