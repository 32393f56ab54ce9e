#!/bin/sh
# bench/quality.sh -- the quality of the adaptive output layer (issue 14; bench/README.md): one
# epoch of WikiText-2 with the example's default LSTM (200/200, 2 layers, dropout 0.2, lr 20,
# clip 0.25, batch 20, bptt 35, seed 1111), trained by
#   ours-full       rnnlm train                                      (full softmax, data.py's ids)
#   ours-adaptive   rnnlm train --adaptive-cutoffs C [--div-value D] [--head-bias]
#   torch-adaptive  bench/torch_main.py (PyTorch's main.py) with the same three flags: its decoder
#                   nn.AdaptiveLogSoftmaxWithLoss(200, V, C, div_value=D, head_bias=...), word
#                   ids by training-set frequency as rnnlm orders them
#   torch-full      bench/torch_main.py without them (not run by default: ~30 minutes an epoch)
# and prints each one's test perplexity (main.py's "| End of training | test loss | test ppl"
# line, which both print), its wall time, and ours-adaptive against torch-adaptive (the issue's
# target: within 3 %) and against ours-full.
#
#   sh bench/quality.sh                                   the three default runs, in turn
#   QUALITY_RUNS="torch-adaptive" sh bench/quality.sh     only PyTorch's adaptive model
#   QUALITY_MAX_BATCHES=50 sh bench/quality.sh            a smoke run (50 batches, whole valid/test)
#
# Knobs (environment): QUALITY_SEEDS (1111; a list, e.g. "1111 1 2": every run once per seed, in
# turn, and each run's figure is the geometric mean over its seeds, i.e. the mean test loss
# exponentiated), QUALITY_DATA (../shared/data/wikitext-2), QUALITY_RUNS ("ours-full
# ours-adaptive torch-adaptive"; torch-full may be added), QUALITY_EPOCHS (1), QUALITY_CUTOFFS
# (2000,10000), QUALITY_DIV_VALUE (4), QUALITY_HEAD_BIAS (0; 1 adds --head-bias), QUALITY_THREADS
# (1: rnnlm --threads and torch.set_num_threads, OPENBLAS_NUM_THREADS=1 for both),
# QUALITY_MAX_BATCHES (0: whole epochs), PYTHON (/usr/bin/python3). Logs and models go to
# build/bench/quality/ (NAME.log, NAME.model). A run whose flags this rnnlm lacks (before
# `--adaptive-cutoffs` exists) is reported as skipped; exit status 1 when a run failed.
set -eu

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
DATA=${QUALITY_DATA:-../shared/data/wikitext-2}
RUNS=${QUALITY_RUNS:-ours-full ours-adaptive torch-adaptive}
EPOCHS=${QUALITY_EPOCHS:-1}
CUTOFFS=${QUALITY_CUTOFFS:-2000,10000}
DIV=${QUALITY_DIV_VALUE:-4}
THREADS=${QUALITY_THREADS:-1}
SEEDS=${QUALITY_SEEDS:-1111}
MAXB=${QUALITY_MAX_BATCHES:-0}
OUT=build/bench/quality
mkdir -p "$OUT"

AD="--adaptive-cutoffs $CUTOFFS --div-value $DIV"
[ "${QUALITY_HEAD_BIAS:-0}" = 0 ] || AD="$AD --head-bias"
COMMON="--data $DATA --epochs $EPOCHS --threads $THREADS"
[ "$MAXB" = 0 ] || COMMON="$COMMON --max-batches $MAXB"

case " $RUNS " in *" ours-"*) ${MAKE:-make} --no-print-directory bin/rnnlm >&2 ;; esac
export OPENBLAS_NUM_THREADS=1

failed=0
summary=$OUT/summary.txt
: > "$summary"
for seed in $SEEDS; do
for name in $RUNS; do
    tag=$name
    [ "$SEEDS" = 1111 ] || tag=$name-seed$seed
    case $name in
    ours-full) set -- bin/rnnlm train $COMMON --seed "$seed" --save "$OUT/$tag.model" ;;
    ours-adaptive) set -- bin/rnnlm train $COMMON $AD --seed "$seed" --save "$OUT/$tag.model" ;;
    torch-full) set -- "$PYTHON" bench/torch_main.py $COMMON --seed "$seed" --save "$OUT/$tag.pt" ;;
    torch-adaptive) set -- "$PYTHON" bench/torch_main.py $COMMON $AD --seed "$seed" --save "$OUT/$tag.pt" ;;
    *) echo "quality: unknown run '$name' (ours-full, ours-adaptive, torch-adaptive, torch-full)" >&2; exit 2 ;;
    esac
    if [ "$name" = ours-adaptive ] && ! bin/rnnlm train --help 2>&1 | grep -q -- '--adaptive-cutoffs'; then
        echo "quality: skip $name: this rnnlm has no 'train --adaptive-cutoffs' yet" >&2
        echo "$name $seed skipped" >> "$summary"
        continue
    fi
    echo "quality: $* > $OUT/$tag.log" >&2
    t0=$(date +%s)
    if "$@" > "$OUT/$tag.log" 2>&1; then
        ppl=$(sed -n 's/.*End of training.*test ppl *\([0-9.]*\).*/\1/p' "$OUT/$tag.log" | tail -n 1)
        echo "$name $seed ${ppl:-?} $(( $(date +%s) - t0 ))" >> "$summary"
    else
        echo "quality: $tag FAILED (see $OUT/$tag.log)" >&2
        tail -n 5 "$OUT/$tag.log" >&2
        echo "$name $seed failed" >> "$summary"
        failed=1
    fi
done
done

# the table: test perplexity and seconds per run and seed; per run, the geometric mean of its
# seeds' perplexities (the mean test loss, exponentiated), which the two comparisons use
awk -v epochs="$EPOCHS" -v cut="$CUTOFFS" -v maxb="$MAXB" -v seeds="$SEEDS" '
    { n = $1; if (!(n in seen)) { seen[n] = 1; order[++no] = n }
      row[NR] = $0
      if ($3 != "skipped" && $3 != "failed" && $3 != "?") { ls[n] += log($3); k[n]++ } }
    END {
        printf "WikiText-2, default LSTM, %s epoch(s)%s; adaptive: cutoffs %s; seeds: %s\n\n", epochs,
               maxb ? sprintf(" of at most %s batches (a smoke run)", maxb) : "", cut, seeds
        printf "| run | seed | test ppl | seconds |\n|---|---:|---:|---:|\n"
        for (i = 1; i <= NR; i++) { split(row[i], fl, " "); printf "| %s | %s | %s | %s |\n", fl[1], fl[2], fl[3], fl[4] }
        printf "\n| run | seeds | geometric mean test ppl |\n|---|---:|---:|\n"
        for (i = 1; i <= no; i++) { n = order[i]; if (k[n]) { g[n] = exp(ls[n] / k[n]); printf "| %s | %d | %.2f |\n", n, k[n], g[n] } }
        a = g["ours-adaptive"] + 0; t = g["torch-adaptive"] + 0; f = g["ours-full"] + 0
        printf "\n"
        if (a > 0 && t > 0)
            printf "ours-adaptive / torch-adaptive test ppl: %.4f (target: within 3%%, i.e. <= 1.03): %s\n", a / t,
                   a / t <= 1.03 ? "met" : "NOT met"
        if (a > 0 && f > 0) printf "ours-adaptive / ours-full test ppl: %.4f\n", a / f
    }' "$summary" | tee "$OUT/quality.md"
exit $failed
