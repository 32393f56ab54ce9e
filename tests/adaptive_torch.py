#!/usr/bin/env python3
"""tests/adaptive_torch.py -- PyTorch's side of tests/adaptive_cli.sh's end-to-end check.

    python3 tests/adaptive_torch.py INIT.rnn DATA_DIR BATCH BPTT LR

One epoch of main.py's loop (dropout 0, plain SGD on the clipped gradient, clip 0.25, hidden state
carried over between chunks) with nn.AdaptiveLogSoftmaxWithLoss as the decoder, in float64, from
the weights and vocabulary of INIT.rnn (read with tools/rnnfile.py: an LSTM with an adaptive output
layer, as `rnnlm train --adaptive-cutoffs` writes it); then main.py's evaluate() of valid.txt and
test.txt at batch size 10. Prints {"valid_loss": X, "test_loss": Y}: what `rnnlm train --init
INIT.rnn --dropout 0 --epochs 1` writes to --metrics, up to float32 rounding.
"""
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools'))
import rnnfile  # noqa: E402

init, data = sys.argv[1], sys.argv[2]
bs, bptt, lr, clip = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), 0.25
torch.set_num_threads(1)
m = rnnfile.read(init)
assert m.cell == 'LSTM' and m.cutoffs, 'an adaptive LSTM model'
w2i = {w.decode(): i for i, w in enumerate(m.vocab)}


def tokens(name):  # data.py's tokenize over the model's vocabulary
    ids = []
    with open(os.path.join(data, name), encoding='utf8') as f:
        for line in f:
            ids += [w2i[w] for w in line.split() + ['<eos>']]
    return torch.tensor(ids, dtype=torch.long)


def batchify(d, b):  # main.py's
    n = d.size(0) // b
    return d[:n * b].view(b, -1).t().contiguous()


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(m.V, m.E)
        self.rnn = nn.LSTM(m.E, m.H, m.L)
        self.decoder = nn.AdaptiveLogSoftmaxWithLoss(m.H, m.V, m.cutoffs, div_value=m.div_value,
                                                     head_bias=m.head_bias)


model = Model().double()
state = model.state_dict()
assert sorted(state) == sorted(n for n, _ in m.params), (sorted(state), [n for n, _ in m.params])
for name, a in m.params:
    state[name].copy_(torch.from_numpy(a.astype('float64')).reshape(state[name].shape))


def run(src, b, train):  # main.py's train() (train) or evaluate()
    h = tuple(torch.zeros(m.L, b, m.H, dtype=torch.double) for _ in range(2))
    total = 0.0
    for i in range(0, src.size(0) - 1, bptt):
        n = min(bptt, len(src) - 1 - i)
        x, y = src[i:i + n], src[i + 1:i + 1 + n].reshape(-1)
        h = tuple(t.detach() for t in h)
        out, h = model.rnn(model.encoder(x), h)
        loss = model.decoder(out.reshape(-1, m.H), y).loss
        if train:
            model.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
        total += n * loss.item()
    return total / (len(src) - 1)


run(batchify(tokens('train.txt'), bs), bs, True)
with torch.no_grad():
    print(json.dumps({"valid_loss": run(batchify(tokens('valid.txt'), 10), 10, False),
                      "test_loss": run(batchify(tokens('test.txt'), 10), 10, False)}))
