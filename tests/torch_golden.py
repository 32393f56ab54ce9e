#!/usr/bin/env python3
"""torch_golden.py -- golden reference data for librnn from PyTorch (tests/test_golden.c reads it).

Usage:  python3 tests/torch_golden.py OUTDIR

For every cell in {RNN_TANH, RNN_RELU, LSTM, GRU} x layers in {1, 2, 3} x {untied, tied} this builds
the model of PyTorch's examples/word_language_model (Embedding -> Dropout -> nn.RNN/LSTM/GRU ->
Dropout -> Linear -> log_softmax, dropout 0), gives every parameter (decoder bias included) values
U(-0.5, 0.5) from a fixed seed, and writes OUTDIR/<CELL>_L<layers>_<tied|untied>.bin with

  (a) one chunk from a random non-zero h0 (and c0): log-probs, the mean NLL, every parameter's
      gradient, the final hidden state and the gradient of the loss w.r.t. h0 (c0);
  (b) STEPS steps of the example's training loop from the same weights and h0: hidden carried and
      detached, model.zero_grad(), loss.backward(), clip_grad_norm_(params, CLIP[cell]),
      p -= LR * grad;
      every step's loss and total norm (before clipping), and the final weights;
  (c) a NaN weight: (a) again from the same weights and h0, except that element 0 of encoder row
      NAN_TOK is NaN and that token is stream 0's input at step NAN_STEP only, so stream 0 turns
      NaN from there (as PyTorch propagates NaN: relu keeps it, and its gradient passes through a
      NaN output) while the other streams stay finite (all of them when tied: decoder row NAN_TOK
      is that row too). The C test requires the same NaN positions and the finite values.

File format (all little-endian):
  magic    8 bytes  "RNNGOLD1"
  count    uint32   number of arrays that follow
  count times:
    name_len uint32, name (name_len bytes of ASCII, no terminator)
    dtype    uint32   0 = float32, 1 = int32
    ndims    uint32, dims uint32[ndims]   (row-major; a scalar is stored as ndims 1, dims [1])
    data     prod(dims) elements of dtype

Arrays (librnn layouts: batch-major tokens, [L][B][H] states, [B][T][V] log-probs):
  config            int32 [9]  cell (RNN_CELL_* value), V, E, H, L, tied, B, T, STEPS
  lr, clip          float32 [1]
  init/<name>       float32    the initial value of every parameter, by state_dict name, in
                               model.parameters() order (tied: only encoder.weight, not
                               decoder.weight, as the tensor is shared)
  h0, c0            float32 [L][B][H]   entering state (c0 for LSTM only)
  tokens, targets   int32 [B][T]
  logprobs          float32 [B][T][V]
  loss              float32 [1]
  grad/<name>       float32    d loss / d parameter, same names and order as init/
  h1, c1            float32 [L][B][H]   state after the chunk (c1 for LSTM only)
  dh0, dc0          float32 [L][B][H]   d loss / d h0 (dc0 for LSTM only)
  train/tokens, train/targets  int32 [STEPS][B][T]
  train/loss, train/norm       float32 [STEPS]   loss and clip_grad_norm_'s total norm per step
  final/<name>      float32    every parameter after the last SGD step, same names and order
  nan/where         int32 [2]  (c): the row and column of encoder.weight that is NaN
  nan/tokens, nan/targets, nan/logprobs, nan/loss, nan/grad/<name>, nan/h1, nan/c1, nan/dh0,
  nan/dc0           (c): as in (a); the weights are init/ with that element NaN

AdamW (tests/test_optim.c reads these): OUTDIR/adamw/<CELL>_L<layers>_<tied|untied>.bin for
ADAMW_CASES, the same model and format: ADAMW_STEPS steps of main.py's loop with --use-optimizer
(zero_grad, backward, clip_grad_norm_, torch.optim.AdamW.step() with non-default options; the lr of
the param group divided by 4 before step ADAMW_ANNEAL, as rnnlm anneals it), and
  config            int32 [9]  as above, STEPS = ADAMW_STEPS
  clip              float32 [1]
  adamw             float32 [6]  lr, beta1, beta2, eps, weight_decay (each exactly a float32, so
                                 that C's double equals Python's), the step before which lr /= 4
  init/<name>, h0, c0, train/tokens, train/targets, train/loss, train/norm   as above
  grad<k>/<name>    float32    every parameter's gradient (clipped) that AdamW step k (1-based) used
  step<k>/<name>    float32    every parameter after AdamW step k
  final/exp_avg/<name>, final/exp_avg_sq/<name>   the optimizer's moments after the last step

Adaptive softmax (tests/test_adaptive.c reads these): OUTDIR/adaptive/<name>.bin for ADAPTIVE_CASES,
the model above with its decoder replaced by nn.AdaptiveLogSoftmaxWithLoss(H, V, cutoffs, div_value,
head_bias) (dropout 0, every parameter U(-0.5, 0.5)); targets of RNN_IGNORE (-1) are left out of
the loss (the module is run on the kept rows only: the loss is their mean), and a case may leave a
cluster without any target;
  config            int32 [8]  cell, V, E, H, L, B, T, head_bias
  cutoffs           int32 [n]
  div_value         float32 [1]
  init/<name>, h0, c0, tokens, targets   as above (targets may hold -1)
  loss              float32 [1]  the module's loss over the kept rows
  grad/<name>       float32      every parameter's gradient of that loss
  logprobs          float32 [B][T][V]   module.log_prob() of every row
  dh0               float32 [L][B][H]
"""
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CELLS = [("RNN_TANH", 0), ("RNN_RELU", 1), ("LSTM", 2), ("GRU", 3)]
LAYERS = [1, 2, 3]
V, E_UNTIED, H_UNTIED, H_TIED = 37, 11, 13, 13
B, T, STEPS = 3, 5, 5
LR = 2.0
# Per cell, a clip threshold inside the range of that cell's gradient norms, so that both branches
# of clip_grad_norm_ (scaled and left alone) are exercised.
CLIP = {"RNN_TANH": 1.2, "RNN_RELU": 0.7, "LSTM": 0.36, "GRU": 0.6}
INIT_RANGE = 0.5
NAN_TOK, NAN_STEP = V - 1, 2
# AdamW: two cases (an untied LSTM and a tied GRU), options away from torch's defaults.
ADAMW_CASES = [("LSTM", 2, 2, 0), ("GRU", 3, 2, 1)]
ADAMW_STEPS, ADAMW_ANNEAL = 6, 4
ADAMW_OPTS = dict(lr=0.02, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=0.1)


class RNNModel(nn.Module):
    """examples/word_language_model/model.py's RNNModel (dropout fixed at 0)."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, tie_weights):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(0.0)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ("LSTM", "GRU"):
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=0.0)
        else:
            nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=0.0)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            assert nhid == ninp
            self.decoder.weight = self.encoder.weight

    def forward(self, inp, hidden):
        emb = self.drop(self.encoder(inp))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden


def named_params(model):
    """(name, parameter) in model.parameters() order; a shared tensor once, under its first name."""
    seen, out = set(), []
    for name, p in model.named_parameters():  # already drops duplicates, as parameters() does
        if id(p) in seen:
            continue
        seen.add(id(p))
        out.append((name, p))
    assert [id(p) for _, p in out] == [id(p) for p in model.parameters()]
    return out


class Writer:
    def __init__(self):
        self.arrays = []

    def f32(self, name, a):
        self.arrays.append((name, 0, np.ascontiguousarray(np.asarray(a, dtype="<f4"))))

    def i32(self, name, a):
        self.arrays.append((name, 1, np.ascontiguousarray(np.asarray(a, dtype="<i4"))))

    def save(self, path):
        with open(path, "wb") as f:
            f.write(b"RNNGOLD1")
            f.write(struct.pack("<I", len(self.arrays)))
            for name, dtype, a in self.arrays:
                nb = name.encode("ascii")
                dims = a.shape if a.ndim > 0 else (1,)
                f.write(struct.pack("<I", len(nb)) + nb)
                f.write(struct.pack("<II", dtype, len(dims)))
                f.write(struct.pack("<%dI" % len(dims), *dims))
                f.write(a.tobytes())


def tensor(x):
    """A copy: .numpy() shares memory, and gradients are later zeroed and refilled in place."""
    return x.detach().cpu().numpy().copy()


def batch_major(tok):
    """[T][B] -> [B][T]"""
    return tensor(tok.t().contiguous())


def one_chunk(w, prefix, model, params, tokens, targets, h0, c0):
    """Case (a) from the model's current weights: writes prefix + tokens, targets, logprobs, loss,
    grad/<name>, h1 (c1), dh0 (dc0)."""
    is_lstm = c0 is not None
    h0 = h0.detach().clone().requires_grad_(True)
    c0 = c0.detach().clone().requires_grad_(True) if is_lstm else None
    w.i32(prefix + "tokens", batch_major(tokens))
    w.i32(prefix + "targets", batch_major(targets))
    model.zero_grad()
    logp, hidden = model(tokens, (h0, c0) if is_lstm else h0)
    loss = F.nll_loss(logp, targets.view(-1))
    loss.backward()
    w.f32(prefix + "logprobs", tensor(logp.view(T, B, V).transpose(0, 1)))
    w.f32(prefix + "loss", [loss.item()])
    for n, p in params:
        w.f32(prefix + "grad/" + n, tensor(p.grad))
    if is_lstm:
        w.f32(prefix + "h1", tensor(hidden[0]))
        w.f32(prefix + "c1", tensor(hidden[1]))
    else:
        w.f32(prefix + "h1", tensor(hidden))
    w.f32(prefix + "dh0", tensor(h0.grad))
    if is_lstm:
        w.f32(prefix + "dc0", tensor(c0.grad))


def make_case(cell, cell_id, layers, tied, seed):
    torch.manual_seed(seed)
    E, H = (H_TIED, H_TIED) if tied else (E_UNTIED, H_UNTIED)
    model = RNNModel(cell, V, E, H, layers, tied)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-INIT_RANGE, INIT_RANGE)
    params = named_params(model)
    init = [(n, p.detach().clone()) for n, p in params]
    is_lstm = cell == "LSTM"

    w = Writer()
    w.i32("config", [cell_id, V, E, H, layers, int(tied), B, T, STEPS])
    w.f32("lr", [LR])
    w.f32("clip", [CLIP[cell]])
    for n, p in init:
        w.f32("init/" + n, tensor(p))

    h0 = torch.rand(layers, B, H) * 2 - 1
    c0 = torch.rand(layers, B, H) * 2 - 1 if is_lstm else None
    w.f32("h0", tensor(h0))
    if is_lstm:
        w.f32("c0", tensor(c0))

    # (a) one chunk: forward, loss, backward.
    tokens = torch.randint(0, V, (T, B))
    targets = torch.randint(0, V, (T, B))
    one_chunk(w, "", model, params, tokens, targets, h0, c0)

    # (b) the example's training loop from the same weights and h0 (c0).
    with torch.no_grad():
        for (_, p), (_, p0) in zip(params, init):
            p.copy_(p0)
    hidden = (h0.detach(), c0.detach()) if is_lstm else h0.detach()
    tr_tok, tr_tgt, tr_loss, tr_norm = [], [], [], []
    for _ in range(STEPS):
        data = torch.randint(0, V, (T, B))
        tgt = torch.randint(0, V, (T, B))
        tr_tok.append(batch_major(data))
        tr_tgt.append(batch_major(tgt))
        hidden = tuple(h.detach() for h in hidden) if is_lstm else hidden.detach()
        model.zero_grad()
        out, hidden = model(data, hidden)
        loss = F.nll_loss(out, tgt.view(-1))
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP[cell])
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-LR)
        tr_loss.append(loss.item())
        tr_norm.append(float(norm))
    w.i32("train/tokens", np.stack(tr_tok))
    w.i32("train/targets", np.stack(tr_tgt))
    w.f32("train/loss", tr_loss)
    w.f32("train/norm", tr_norm)
    for n, p in params:
        w.f32("final/" + n, tensor(p))

    # (c) (a) with a NaN weight, from the initial weights.
    with torch.no_grad():
        for (_, p), (_, p0) in zip(params, init):
            p.copy_(p0)
        model.encoder.weight[NAN_TOK, 0] = float("nan")
    tokens = torch.randint(0, V - 1, (T, B))  # NAN_TOK nowhere ...
    tokens[NAN_STEP, 0] = NAN_TOK              # ... but here
    targets = torch.randint(0, V, (T, B))
    w.i32("nan/where", [NAN_TOK, 0])
    one_chunk(w, "nan/", model, params, tokens, targets, h0, c0)
    return w, tr_norm


def f32(x):
    """x rounded to the nearest float32, as a Python float (what the C side reads)."""
    return float(np.float32(x))


def make_adamw_case(cell, cell_id, layers, tied, seed):
    torch.manual_seed(seed)
    E, H = (H_TIED, H_TIED) if tied else (E_UNTIED, H_UNTIED)
    model = RNNModel(cell, V, E, H, layers, tied)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-INIT_RANGE, INIT_RANGE)
    params = named_params(model)
    is_lstm = cell == "LSTM"
    o = {k: f32(v) for k, v in ADAMW_OPTS.items()}
    w = Writer()
    w.i32("config", [cell_id, V, E, H, layers, int(tied), B, T, ADAMW_STEPS])
    w.f32("clip", [CLIP[cell]])
    w.f32("adamw", [o["lr"], o["beta1"], o["beta2"], o["eps"], o["weight_decay"], ADAMW_ANNEAL])
    for n, p in params:
        w.f32("init/" + n, tensor(p))
    h0 = torch.rand(layers, B, H) * 2 - 1
    c0 = torch.rand(layers, B, H) * 2 - 1 if is_lstm else None
    w.f32("h0", tensor(h0))
    if is_lstm:
        w.f32("c0", tensor(c0))
    opt = torch.optim.AdamW(model.parameters(), lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"],
                            weight_decay=o["weight_decay"], foreach=False)
    hidden = (h0, c0) if is_lstm else h0
    tr_tok, tr_tgt, tr_loss, tr_norm = [], [], [], []
    for k in range(1, ADAMW_STEPS + 1):
        if k == ADAMW_ANNEAL:
            for g in opt.param_groups:
                g["lr"] /= 4.0
        data = torch.randint(0, V, (T, B))
        tgt = torch.randint(0, V, (T, B))
        tr_tok.append(batch_major(data))
        tr_tgt.append(batch_major(tgt))
        hidden = tuple(h.detach() for h in hidden) if is_lstm else hidden.detach()
        model.zero_grad()
        out, hidden = model(data, hidden)
        loss = F.nll_loss(out, tgt.view(-1))
        loss.backward()
        tr_norm.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP[cell])))
        for n, p in params:
            w.f32("grad%d/%s" % (k, n), tensor(p.grad))
        opt.step()
        tr_loss.append(loss.item())
        for n, p in params:
            w.f32("step%d/%s" % (k, n), tensor(p))
    w.i32("train/tokens", np.stack(tr_tok))
    w.i32("train/targets", np.stack(tr_tgt))
    w.f32("train/loss", tr_loss)
    w.f32("train/norm", tr_norm)
    for n, p in params:
        w.f32("final/exp_avg/" + n, tensor(opt.state[p]["exp_avg"]))
        w.f32("final/exp_avg_sq/" + n, tensor(opt.state[p]["exp_avg_sq"]))
    return w, tr_norm


# (name, cell, layers, cutoffs, div_value, head_bias, ignored targets, cluster left without targets)
ADAPTIVE_CASES = [
    ("LSTM_c1", "LSTM", 1, [20], 4.0, 0, 0, None),
    ("LSTM_c2_bias_ignore", "LSTM", 2, [10, 25], 2.0, 1, 3, None),
    ("LSTM_c3_empty", "LSTM", 1, [8, 16, 30], 1.5, 0, 0, 1),
    ("GRU_c1_bias", "GRU", 2, [30], 4.0, 1, 0, None),
    ("GRU_c3_bias_ignore_empty", "GRU", 1, [8, 16, 30], 1.5, 1, 2, 2),
    ("RNN_TANH_c2", "RNN_TANH", 1, [12, 24], 2.0, 0, 2, None),
    ("RNN_RELU_c2_bias_empty", "RNN_RELU", 2, [12, 24], 3.0, 1, 0, 0),
    # (with their own V, E, H) a cluster projecting to more than 16 units, which librnn multiplies
    # out by the BLAS, beside a thin one (output_adaptive.c); and a thin cluster of 118,000 words,
    # which librnn takes in blocks of rows and tiles of 1,024 words
    ("LSTM_c2_wide_thin", "LSTM", 1, [10, 25], 2.0, 1, 2, None, dict(H=40)),
    ("GRU_c2_big_thin", "GRU", 1, [10, 2000], 2.0, 0, 1, None, dict(V=120000, E=8, H=8)),
]


class AdaptiveModel(nn.Module):
    """RNNModel with nn.AdaptiveLogSoftmaxWithLoss as its decoder (dropout 0)."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, cutoffs, div_value, head_bias):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ("LSTM", "GRU"):
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=0.0)
        else:
            nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=0.0)
        self.decoder = nn.AdaptiveLogSoftmaxWithLoss(nhid, ntoken, cutoffs, div_value=div_value,
                                                     head_bias=bool(head_bias))

    def forward(self, inp, hidden):
        output, hidden = self.rnn(self.encoder(inp), hidden)
        return output.reshape(-1, output.size(2)), hidden


def make_adaptive_case(name, cell, layers, cutoffs, div_value, head_bias, n_ignore, empty, seed, V=V, E=E_UNTIED,
                       H=H_UNTIED):
    torch.manual_seed(seed)
    cell_id = dict(CELLS)[cell]
    model = AdaptiveModel(cell, V, E, H, layers, cutoffs, div_value, head_bias)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-INIT_RANGE, INIT_RANGE)
    params = named_params(model)
    is_lstm = cell == "LSTM"
    w = Writer()
    w.i32("config", [cell_id, V, E, H, layers, B, T, head_bias])
    w.i32("cutoffs", cutoffs)
    w.f32("div_value", [div_value])
    for n, p in params:
        w.f32("init/" + n, tensor(p))
    h0 = (torch.rand(layers, B, H) * 2 - 1).requires_grad_(True)
    c0 = (torch.rand(layers, B, H) * 2 - 1) if is_lstm else None
    w.f32("h0", tensor(h0))
    if is_lstm:
        w.f32("c0", tensor(c0))
    tokens = torch.randint(0, V, (T, B))
    bounds = [0] + cutoffs + [V]
    allowed = [t for t in range(V) if empty is None or not (bounds[empty + 1] <= t < bounds[empty + 2])]
    targets = torch.tensor(allowed)[torch.randint(0, len(allowed), (T, B))]
    flat = targets.view(-1).clone()
    for r in torch.randperm(T * B)[:n_ignore]:
        flat[r] = -1
    targets = flat.view(T, B)
    for i in range(len(cutoffs)):  # every cluster but the empty one has a target
        if i != empty and not ((flat >= bounds[i + 1]) & (flat < bounds[i + 2])).any().item():
            cand = ((flat >= 0) & (flat < cutoffs[0])).nonzero()  # a shortlist target moves there
            if len(cand) == 0:  # (or, with a large V, one of the last cluster's)
                cand = (flat >= bounds[-2]).nonzero()
            r = cand[0, 0]
            flat[r] = bounds[i + 1] + int(r) % (bounds[i + 2] - bounds[i + 1])
        inside = ((flat >= bounds[i + 1]) & (flat < bounds[i + 2])).any().item()
        assert inside == (i != empty), (name, i)
    w.i32("tokens", batch_major(tokens))
    w.i32("targets", batch_major(targets))
    model.zero_grad()
    out, _ = model(tokens, (h0, c0) if is_lstm else h0)
    kept = flat != -1
    loss = model.decoder(out[kept], flat[kept]).loss
    loss.backward()
    w.f32("loss", [loss.item()])
    for n, p in params:  # (an empty cluster's tail has no gradient: zeros)
        w.f32("grad/" + n, tensor(p.grad if p.grad is not None else torch.zeros_like(p)))
    with torch.no_grad():
        logp = model.decoder.log_prob(out)
    w.f32("logprobs", tensor(logp.view(T, B, V).transpose(0, 1)))
    w.f32("dh0", tensor(h0.grad))
    return w


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_golden.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    seed, nclipped, nsteps, closest = 20240, 0, 0, 1.0
    for cell, cell_id in CELLS:
        for layers in LAYERS:
            for tied in (0, 1):
                seed += 1
                w, norms = make_case(cell, cell_id, layers, tied, seed)
                nclipped += sum(n > CLIP[cell] for n in norms)
                nsteps += len(norms)
                closest = min([closest] + [abs(n / CLIP[cell] - 1) for n in norms])
                name = "%s_L%d_%s.bin" % (cell, layers, "tied" if tied else "untied")
                w.save(os.path.join(outdir, name))
    os.makedirs(os.path.join(outdir, "adamw"), exist_ok=True)
    for cell, cell_id, layers, tied in ADAMW_CASES:
        seed += 1
        w, norms = make_adamw_case(cell, cell_id, layers, tied, seed)
        closest = min([closest] + [abs(n / CLIP[cell] - 1) for n in norms])
        name = "%s_L%d_%s.bin" % (cell, layers, "tied" if tied else "untied")
        w.save(os.path.join(outdir, "adamw", name))
    os.makedirs(os.path.join(outdir, "adaptive"), exist_ok=True)
    for case in ADAPTIVE_CASES:
        seed += 1
        make_adaptive_case(*case[:8], seed, **(case[8] if len(case) > 8 else {})).save(os.path.join(outdir, "adaptive", case[0] + ".bin"))
    # A norm within float noise of the threshold could take the other branch in librnn.
    assert closest > 1e-3, "a gradient norm is too close to the clip threshold; change the seed"
    print("torch_golden: wrote %d cases, %d AdamW cases and %d adaptive cases to %s (torch %s; %d of %d SGD "
          "steps clipped)" % (len(CELLS) * len(LAYERS) * 2, len(ADAMW_CASES), len(ADAPTIVE_CASES), outdir, torch.__version__, nclipped, nsteps))


if __name__ == "__main__":
    main()
