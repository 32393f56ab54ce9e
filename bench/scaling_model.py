#!/usr/bin/python3
"""The cost model of docs/SCALING.md: data-parallel training of the WikiText-2 default model
(LSTM, 2 layers, emsize = nhid = 200, untied, V = 33,278) over K machines with a ring all-reduce.

usage: bench/scaling_model.py TOKENS_PER_S [DATA_DIR]

TOKENS_PER_S: the measured training speed of one process x 1 thread (bench/mpi.sh's 1x1), which
gives the compute time per token c = 1 / TOKENS_PER_S. DATA_DIR (default ../shared/data/wikitext-2):
the corpus whose steps are counted for the distinct tokens (embedding rows) a step touches.

Model, per step (no overlap of compute and exchange):
  compute  = N_k * c                      N_k: the tokens of one machine's streams
  ring     = 2 (K-1)/K * S / bw + 2 (K-1) * lat
  dense    S = 4 * P bytes                 P: every parameter
  sparse   S = 4 * (P - V*E + u*E) bytes   u: the distinct tokens of the global step, plus an OR
                                           of a V-bit bitmap (log2 K rounds of lat + its bytes)
  overlap  the decoder's all-reduce (V*H + V floats) hidden behind the rest of the backward, whose
           time is taken as the layers' share of the FLOPs (2/3 of 3.84 of 43.77 MFLOP a token)
  efficiency = compute / (compute + exchange); a gain is (old step time / new step time) - 1.
Two regimes: strong (the global batch stays B = 20 streams, raised to a multiple of K: K = 8
-> 24, K = 64 -> 64) and weak (every machine keeps 20 streams: B = 20 K).
"""
import math
import sys

V, E, H, L, G, BPTT = 33278, 200, 200, 2, 4, 35
P = V * E + sum(G * H * ((E if l == 0 else H) + H) + 2 * G * H for l in range(L)) + H * V + V
DEC = H * V + V
LAT = 50e-6  # seconds per message step on 10 or 100 Gb/s Ethernet with TCP (an assumption)
LAYER_BWD_SHARE = (2.0 / 3.0) * 3.84 / 43.77  # the layers' backward, of a step's FLOPs


def tokens(data):
    out = []
    with open(data + "/train.txt", encoding="utf-8") as f:
        for line in f:
            out.extend(line.split() + ["<eos>"])
    return out


def distinct_per_step(toks, B, steps=100):
    """Mean distinct tokens of the first `steps` global steps (B streams x 35 inputs each)."""
    n = len(toks) // B
    streams = [toks[i * n:(i + 1) * n] for i in range(B)]
    counts = []
    for s in range(min(steps, (n - 1) // BPTT)):
        seen = set()
        for st in streams:
            seen.update(st[s * BPTT:(s + 1) * BPTT])
        counts.append(len(seen))
    return sum(counts) / len(counts), max(counts)


def ring(K, nbytes, bw):
    return 2.0 * (K - 1) / K * nbytes / bw + 2 * (K - 1) * LAT if K > 1 else 0.0


def small(K, nbytes, bw):
    """A small all-reduce (recursive doubling, as Open MPI picks for a few kB): log2 K rounds."""
    return math.ceil(math.log2(K)) * (LAT + nbytes / bw) if K > 1 else 0.0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    c = 1.0 / float(sys.argv[1])
    data = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/wikitext-2"
    toks = tokens(data)
    print("P = %d floats (%.2f MB), embedding V*E = %d (%.2f MB), decoder %d (%.2f MB); c = %.3f ms/token"
          % (P, 4e-6 * P, V * E, 4e-6 * V * E, DEC, 4e-6 * DEC, c * 1e3))
    for regime in ("strong", "weak"):
        print("\n%s scaling" % regime)
        print("| K | B | tokens/machine | distinct rows u | link | compute ms | dense ms | eff dense"
              " | sparse ms | eff sparse | gain sparse | overlap hides ms | gain overlap |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for K in (2, 8, 64):
            B = 20 * K if regime == "weak" else -(-20 // K) * K
            u, _ = distinct_per_step(toks, B)
            nk = B * BPTT / K
            comp = nk * c
            for gbps in (10, 100):
                bw = gbps * 1e9 / 8
                dense = ring(K, 4.0 * P, bw)
                sparse = ring(K, 4.0 * (P - V * E + u * E), bw) + small(K, V / 8.0, bw)
                hide = min(ring(K, 4.0 * DEC, bw), comp * LAYER_BWD_SHARE)
                print("| %d | %d | %d | %.0f | %d Gb/s | %.1f | %.1f | %.0f%% | %.1f | %.0f%% | %+.0f%% | %.1f | %+.0f%% |"
                      % (K, B, nk, u, gbps, comp * 1e3, dense * 1e3, 100 * comp / (comp + dense), sparse * 1e3,
                         100 * comp / (comp + sparse), 100 * ((comp + dense) / (comp + sparse) - 1), hide * 1e3,
                         100 * ((comp + dense) / (comp + dense - hide) - 1)))


if __name__ == "__main__":
    main()
