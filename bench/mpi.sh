#!/bin/sh
# bench/mpi.sh -- data-parallel figures on this machine (bench/README.md, "MPI"; `make bench-mpi`):
#   1. the all-reduce of the WikiText-2 default model's gradient block (build/bench/allreduce: the
#      whole untied block, 13,987,678 floats, and what the sparse embedding exchange sends when a
#      step touches 700 rows, 7,472,078) between 2 ranks, over shared memory and over TCP loopback
#      (--mca btl tcp,self), each with Open MPI's default algorithm choice and with the ring;
#   2. rnnlm train's tokens/s on WikiText-2: 1 process x 1 thread, 1 process x 2 threads, 2 ranks x
#      1 thread (plain `mpirun -np 2`), and 2 ranks x 1 thread exchanging the whole embedding
#      gradient (RNNLM_DP_EXCHANGE=dense, the exchange before the sparse one); and two independent
#      1 x 1 runs at once, tokens/s added: with the whole batch each (2x1-independent, what two
#      cores give two copies of the work) and with half of it (2x1-independent-half, the work of
#      2 ranks without their exchange: the ceiling of mpirun -np 2 on this machine);
#   3. the training step alone (build/bench/dpstep, bench/dpstep.c: the same library calls on
#      synthetic tokens, BENCH_BATCHES steps after 3 warm-up ones): 1 process (step-1x1), 2 ranks
#      that only synchronise once a step and exchange nothing (step-2ranks-sync: what waiting for
#      the slower rank costs), 2 ranks with the whole block's ring all-reduce
#      (step-2ranks-allreduce), and two independent half-batch processes (the ceiling again).
# Runs are interleaved (round r: every configuration once) and each figure is the median over
# rounds; a training run's figure is the median tokens/s of its log intervals after the first.
#
#   make bench-mpi                   (builds bin/rnnlm, build/bench/allreduce and build/bench/dpstep first)
#   BENCH_QUICK=1 make bench-mpi     1 round, 16 batches (a few minutes)
# Knobs: BENCH_DATA (default ../shared/data/wikitext-2), BENCH_RUNS (rounds), BENCH_BATCHES,
# BENCH_LOG (log interval), BENCH_REPS (timed all-reduce calls per run).
# Writes build/bench/mpi.jsonl (every run, one JSON line) and prints the medians
# (BENCH_REPORT_ONLY=1 sh bench/mpi.sh: the medians of the last run's file again).
set -eu

cd "$(dirname "$0")/.."
OUTDIR=build/bench
RAW=$OUTDIR/mpi.jsonl
DATA=${BENCH_DATA:-../shared/data/wikitext-2}
RNNLM=$(pwd)/bin/rnnlm
AR=$OUTDIR/allreduce
STEP=$(pwd)/$OUTDIR/dpstep
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_RUNS:=1}" "${BENCH_BATCHES:=16}" "${BENCH_LOG:=4}" "${BENCH_REPS:=7}"
else
    : "${BENCH_RUNS:=3}" "${BENCH_BATCHES:=40}" "${BENCH_LOG:=8}" "${BENCH_REPS:=15}"
fi
for f in train.txt valid.txt test.txt; do
    [ -f "$DATA/$f" ] || { echo "bench-mpi: $DATA/$f not found (set BENCH_DATA=DIR)" >&2; exit 1; }
done
if [ ! -x "$AR" ] || [ ! -x "$RNNLM" ] || [ ! -x "$STEP" ]; then echo "bench-mpi: run it as make bench-mpi" >&2; exit 1; fi

# root (as in CI) and more ranks than cores are allowed; nothing else of Open MPI's is set here
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
RING="--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm 4"
W=$(mktemp -d "${TMPDIR:-/tmp}/rnnlm-bench-mpi.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
[ "${BENCH_REPORT_ONLY:-0}" = 1 ] || echo "bench-mpi: $cpu, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $BENCH_RUNS round(s), $BENCH_BATCHES batches" >&2
[ "${BENCH_REPORT_ONLY:-0}" = 1 ] || printf '{"kind": "meta", "date": "%s", "cpu": "%s", "cores": %s, "load_start": "%s", "runs": %s, "batches": %s}\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$cpu" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$BENCH_RUNS" \
    "$BENCH_BATCHES" > "$RAW"

# allreduce NAME MPIRUN-ARGS...: one run of build/bench/allreduce, its lines tagged with NAME
allreduce() {
    name=$1; shift
    # shellcheck disable=SC2086
    mpirun -np 2 "$@" "$AR" "$BENCH_REPS" | sed "s/^{/{\"config\": \"$name\", /" >> "$RAW"
}
# train NAME ENV MPIRUN-PREFIX THREADS: one rnnlm train run; its tokens/s = the median of the log
# intervals after the first (which holds the start-up)
train() {
    name=$1 envs=$2 prefix=$3 threads=$4
    rm -f "$W/m.jsonl" "$W/s.rnn"
    # shellcheck disable=SC2086
    if ! env $envs $prefix "$RNNLM" train --data "$DATA" --threads "$threads" --epochs 1 \
        --max-batches "$BENCH_BATCHES" --log-interval "$BENCH_LOG" --max-eval-batches 1 \
        --save "$W/s.rnn" --metrics "$W/m.jsonl" > "$W/out" 2> "$W/err"; then
        echo "bench-mpi: $name failed:" >&2; cat "$W/err" >&2; exit 1
    fi
    awk -v name="$name" -F'"tokens_per_s":' '
        NF > 1 { split($2, a, /[,}]/); n++; if (n > 1) v[++k] = a[1] + 0
                 if (match($0, /"allreduce_ms":[-0-9.eE+]+/)) { r = substr($0, RSTART + 15, RLENGTH - 15); if (n > 1) ar[++j] = r + 0 } }
        function med(x, m,   i, t, s) { for (i = 1; i <= m; i++) for (s = i + 1; s <= m; s++) if (x[s] < x[i]) { t = x[i]; x[i] = x[s]; x[s] = t }
                                       return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2 }
        END { if (k == 0) exit 1
              printf "{\"kind\": \"train\", \"config\": \"%s\", \"intervals\": %d, \"tokens_per_s\": %.1f", name, k, med(v, k)
              if (j > 0) printf ", \"allreduce_ms\": %.2f", med(ar, j)
              print "}" }' "$W/m.jsonl" >> "$RAW"
}

# pair NAME BATCH: two independent 1 x 1 processes at once (no MPI), each with --batch_size BATCH;
# their tokens/s added up. With the whole batch (20): what this machine's two cores give two
# untouched copies of the work (memory bandwidth and the shared L3 are the limits). With half of
# it (10): exactly the computation of 2 ranks, without their exchange and waiting, i.e. the
# ceiling of `mpirun -np 2` here.
pair() {
    pname=$1 pb=$2
    for i in 1 2; do
        rm -f "$W/p$i.jsonl" "$W/p$i.rnn"
        "$RNNLM" train --data "$DATA" --threads 1 --epochs 1 --max-batches "$BENCH_BATCHES" --batch_size "$pb" \
            --log-interval "$BENCH_LOG" --max-eval-batches 1 --save "$W/p$i.rnn" --metrics "$W/p$i.jsonl" \
            > "$W/p$i.out" 2> "$W/p$i.err" &
    done
    wait
    for i in 1 2; do [ -s "$W/p$i.jsonl" ] || { echo "bench-mpi: pair run $i failed:" >&2; cat "$W/p$i.err" >&2; exit 1; }; done
    awk -F'"tokens_per_s":' '
        FNR == 1 { f++; n = 0 }
        NF > 1 { split($2, a, /[,}]/); n++; if (n > 1) v[f, ++k[f]] = a[1] + 0 }
        function med(f, m,   i, j, t, x) { for (i = 1; i <= m; i++) x[i] = v[f, i]
                                          for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
                                          return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2 }
        END { if (k[1] == 0 || k[2] == 0) exit 1
              printf "{\"kind\": \"train\", \"config\": \"%s\", \"intervals\": %d, \"tokens_per_s\": %.1f}\n", name, k[1], med(1, k[1]) + med(2, k[2]) }' name="$pname" \
        "$W/p1.jsonl" "$W/p2.jsonl" >> "$RAW"
}

# step NAME MPIRUN-PREFIX MODE BATCH: one build/bench/dpstep run (the training step on librnn's API,
# synthetic tokens; MODE none: one process, sync: the ranks' per-step all-reduce of 3 doubles and no
# gradient exchange, allreduce: and the whole block's); its JSON line tagged with NAME
step() {
    sname=$1 sprefix=$2 smode=$3 sbatch=$4
    # shellcheck disable=SC2086
    if ! OPENBLAS_NUM_THREADS=1 $sprefix "$STEP" "$smode" "$BENCH_BATCHES" "$sbatch" > "$W/step" 2> "$W/step.err"; then
        echo "bench-mpi: $sname failed:" >&2; cat "$W/step.err" >&2; exit 1
    fi
    sed "s/^{/{\"config\": \"$sname\", /" "$W/step" >> "$RAW"
}
# two one-process steps of half the batch at once (no MPI), tokens/s added: the ceiling
step_pair() {
    for i in 1 2; do OPENBLAS_NUM_THREADS=1 "$STEP" none "$BENCH_BATCHES" 10 > "$W/sp$i" 2> "$W/sp$i.err" & done
    wait
    for i in 1 2; do [ -s "$W/sp$i" ] || { echo "bench-mpi: step pair run $i failed:" >&2; cat "$W/sp$i.err" >&2; exit 1; }; done
    awk -F'"tokens_per_s": ' '{ split($2, a, ","); s += a[1] } END { printf "{\"config\": \"step-2x1-independent-half\", \"kind\": \"dpstep\", \"mode\": \"none\", \"tokens_per_s\": %.1f}\n", s }' \
        "$W/sp1" "$W/sp2" >> "$RAW"
}

# BENCH_REPORT_ONLY=1: only the medians of the last run's build/bench/mpi.jsonl
[ "${BENCH_REPORT_ONLY:-0}" = 1 ] || for r in $(seq 1 "$BENCH_RUNS"); do
    echo "bench-mpi: round $r" >&2
    allreduce shm-default
    # shellcheck disable=SC2086
    allreduce shm-ring $RING
    allreduce tcp-default --mca btl tcp,self
    # shellcheck disable=SC2086
    allreduce tcp-ring --mca btl tcp,self $RING
    train 1x1 "" "" 1
    train 2ranks "" "mpirun -np 2" 1
    train 1x2 "" "" 2
    train 2ranks-dense "RNNLM_DP_EXCHANGE=dense" "mpirun -np 2 -x RNNLM_DP_EXCHANGE" 1
    pair 2x1-independent 20
    pair 2x1-independent-half 10
    step step-1x1 "" none 20
    step step-2ranks-sync "mpirun -np 2 -x OPENBLAS_NUM_THREADS" sync 20
    # shellcheck disable=SC2086
    step step-2ranks-allreduce "mpirun -np 2 -x OPENBLAS_NUM_THREADS $RING" allreduce 20
    step_pair
done
if [ "${BENCH_REPORT_ONLY:-0}" != 1 ]; then
    echo "bench-mpi: load at the end $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    printf '{"kind": "meta_end", "load_end": "%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW"
fi

# the medians over rounds
awk '
    function get(k,   v) { if (!match($0, "\"" k "\": [^,}]+")) return ""; v = substr($0, RSTART + length(k) + 4, RLENGTH - length(k) - 4); gsub(/"/, "", v); return v }
    function med(s,   x, m, i, j, t) { m = split(s, x, " "); for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
                                     return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2 }
    /"kind": "allreduce"/ { key = get("config") " " get("floats"); ms[key] = ms[key] " " get("median_ms"); bw[key] = bw[key] " " get("busbw_GBps"); if (!(key in seen)) { seen[key] = 1; order[++no] = key } }
    /"kind": "dpstep"/ { c = get("config"); stps[c] = stps[c] " " get("tokens_per_s"); w = get("wait_ms"); if (w != "") swt[c] = swt[c] " " w; x = get("exchange_ms"); if (x != "") sex[c] = sex[c] " " x; if (!(c in sseen)) { sseen[c] = 1; sorder[++ns] = c } }
    /"kind": "train"/ { c = get("config"); tps[c] = tps[c] " " get("tokens_per_s"); a = get("allreduce_ms"); if (a != "") arm[c] = arm[c] " " a; if (!(c in tseen)) { tseen[c] = 1; torder[++nt] = c } }
    END {
        print "| all-reduce, 2 ranks | floats | median ms | bus GB/s |"; print "|---|---|---|---|"
        for (i = 1; i <= no; i++) { split(order[i], p, " "); printf "| %s | %s | %.1f | %.2f |\n", p[1], p[2], med(ms[order[i]]), med(bw[order[i]]) }
        print ""; print "| training | tokens/s | vs 1x1 | all-reduce ms/step |"; print "|---|---|---|---|"
        base = med(tps["1x1"])
        for (i = 1; i <= nt; i++) {
            c = torder[i]; v = med(tps[c]); r = 0; if (base > 0) r = v / base
            a = "-"; if (arm[c] != "") a = sprintf("%.1f", med(arm[c]))
            printf "| %s | %.0f | %.2fx | %s |\n", c, v, r, a
        }
        if (ns > 0) {
            print ""; print "| training step (bench/dpstep.c) | tokens/s | vs step-1x1 | wait ms/step | exchange ms/step |"; print "|---|---|---|---|---|"
            base = med(stps["step-1x1"])
            for (i = 1; i <= ns; i++) {
                c = sorder[i]; v = med(stps[c]); r = 0; if (base > 0) r = v / base
                w = "-"; if (swt[c] != "") w = sprintf("%.1f", med(swt[c])); x = "-"; if (sex[c] != "") x = sprintf("%.1f", med(sex[c]))
                printf "| %s | %.0f | %.2fx | %s | %s |\n", c, v, r, w, x
            }
        }
    }' "$RAW"
