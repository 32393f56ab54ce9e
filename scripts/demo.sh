#!/usr/bin/env bash
# demo.sh -- install, build, make the King James Bible corpus, train a small LSTM language model
# with bin/rnnlm and generate 100 words from it.
#
#   ./scripts/demo.sh
#
# Steps: scripts/setup.sh (Debian packages; as a non-root user it only checks, and stops with the
# apt-get line to run if something is missing), make, scripts/make_corpus.sh data/kjv,
# bin/rnnlm train ... --save data/kjv.rnn, bin/rnnlm generate --checkpoint data/kjv.rnn.
#
# The model is deliberately small so that the run stays within a few minutes on 2 cores: a
# 2-layer LSTM with 128 units and tied embeddings, one epoch cut short after DEMO_MAX_BATCHES
# batches of 20 x 35 tokens (a full epoch of the 852k-token training set is about 1200 batches;
# the library takes about 0.18 s per batch of this model with OpenBLAS on 2 cores, so ~2 min).
# Environment overrides: DEMO_EPOCHS (default 1), DEMO_MAX_BATCHES (default 600; empty = full
# epochs), DEMO_SEED (default 1111), DEMO_WORDS (default 100).
set -euo pipefail
cd "$(dirname "$0")/.."

epochs=${DEMO_EPOCHS:-1}
max_batches=${DEMO_MAX_BATCHES-600}
seed=${DEMO_SEED:-1111}
words=${DEMO_WORDS:-100}

step() { printf '\n==> [%3ds] %s\n' "$SECONDS" "$*"; }

step "Checking/installing Debian packages (scripts/setup.sh)"
./scripts/setup.sh

step "Building (make)"
make -j"$(nproc 2>/dev/null || echo 2)"

step "Building the corpus (scripts/make_corpus.sh data/kjv)"
./scripts/make_corpus.sh data/kjv

train_args=(
    --data data/kjv
    --model LSTM
    --emsize 128 --nhid 128 --nlayers 2 --tied
    --dropout 0.2
    --lr 20 --clip 0.25
    --epochs "$epochs"
    --batch_size 20 --bptt 35
    --seed "$seed"
    --log-interval 50
    --save data/kjv.rnn
)
if [ -n "$max_batches" ]; then
    train_args+=(--max-batches "$max_batches")
fi

if [ ! -x bin/rnnlm ]; then
    echo "demo.sh: bin/rnnlm was not built (make builds it once src/rnnlm/main.c exists)" >&2
    exit 1
fi

step "Training: bin/rnnlm train ${train_args[*]}"
bin/rnnlm train "${train_args[@]}"

step "Generating $words words: bin/rnnlm generate --checkpoint data/kjv.rnn"
bin/rnnlm generate --checkpoint data/kjv.rnn --words "$words" --seed "$seed" \
    --outf data/kjv-generated.txt
echo
cat data/kjv-generated.txt
echo

step "Done. Checkpoint: data/kjv.rnn, sample: data/kjv-generated.txt"
