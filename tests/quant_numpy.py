#!/usr/bin/env python3
"""quant_numpy.py -- docs/DESIGN.md's "Quantized weights", reproduced with numpy (no librnn).

    /usr/bin/python3 tests/quant_numpy.py FP32.rnn QUANT.rnn TEXT LOSS

1. Re-quantizes FP32.rnn's weights by the definitions and requires QUANT.rnn's QPRM values to be
   those, bit for bit (the q8 scales and int8s, the bf16 halves).
2. Runs the LSTM over TEXT's tokens (data.py's: every line's words, then <eos>) from a zero state with the defined products
   (q8: activations quantized per block, int32 block sums, fp32 sums in block order; bf16: 8 fp32
   lanes, then the fixed tree) and requires the mean next-token NLL to match LOSS (what
   `rnnlm eval --batch_size 1 --bptt N` printed, N >= the tokens) to 1e-4: numpy's tanh and exp are not librnn's to the
   last bit, everything else is. Prints the NLL; exits 1 on a mismatch.
"""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools'))
import rnnfile  # noqa: E402

f32 = np.float32


def qprm(path):
    """(weight type, [(name, type, values)]) of QUANT.rnn's QPRM section"""
    data = open(path, 'rb').read()
    assert data[:8] == b'RNNMODEL' and struct.unpack_from('<I', data, 8)[0] == 3
    pos = 16
    while data[pos:pos + 4] != b'QPRM':
        pos += 16 + struct.unpack_from('<Q', data, pos + 4)[0]
    p = pos + 12
    n, wtype = struct.unpack_from('<II', data, p)
    p += 8
    out = []
    for _ in range(n):
        ln, = struct.unpack_from('<I', data, p)
        name = data[p + 4:p + 4 + ln].decode()
        rows, cols, tt = struct.unpack_from('<III', data, p + 4 + ln)
        p += 16 + ln
        if tt == 0:
            v = np.frombuffer(data, '<f4', rows * cols, p).reshape(rows, cols)
            p += 4 * rows * cols
        elif tt == 1:
            v = np.frombuffer(data, '<u2', rows * cols, p).reshape(rows, cols)
            p += 2 * rows * cols
        else:
            nb = (cols + 31) // 32
            s = np.frombuffer(data, '<f4', rows * nb, p).reshape(rows, nb)
            q = np.frombuffer(data, 'i1', rows * cols, p + 4 * rows * nb).reshape(rows, cols)
            p += 4 * rows * nb + rows * cols
            v = (s, q)
        out.append((name, tt, v))
    return wtype, out


def bf16(w):
    b = w.astype(f32).view(np.uint32).astype(np.uint64)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def q8(w):
    """per row, blocks of 32 along the columns: scales (rows, nb), int8 (rows, cols)"""
    rows, cols = w.shape
    nb = (cols + 31) // 32
    s = np.zeros((rows, nb), f32)
    q = np.zeros((rows, cols), np.int8)
    for b in range(nb):
        blk = w[:, 32 * b:32 * b + 32].astype(f32)
        sb = (np.abs(blk).max(axis=1) / f32(127)).astype(f32)
        safe = np.where(sb == 0, f32(1), sb)
        qb = np.clip(np.rint(blk / safe[:, None]), -127, 127)
        s[:, b] = sb
        q[:, 32 * b:32 * b + 32] = np.where(sb[:, None] == 0, 0, qb).astype(np.int8)
    return s, q


def dot(kind, W, a):
    """the defined product of the weight matrix W (its stored form) with one activation row a"""
    if kind == 1:
        w = (W.astype(np.uint32) << 16).view(f32)
        prods = (w * a[None, :].astype(f32)).astype(f32)
        lanes = np.zeros((w.shape[0], 8), f32)
        for k0 in range(0, w.shape[1], 8):
            blk = prods[:, k0:k0 + 8]
            lanes[:, :blk.shape[1]] = (lanes[:, :blk.shape[1]] + blk).astype(f32)
        l = lanes
        return (((l[:, 0] + l[:, 1]) + (l[:, 2] + l[:, 3])) + ((l[:, 4] + l[:, 5]) + (l[:, 6] + l[:, 7]))).astype(f32)
    sw, qw = W
    sa, qa = q8(a[None, :])
    acc = np.zeros(qw.shape[0], f32)
    for b in range(sw.shape[1]):
        isum = qw[:, 32 * b:32 * b + 32].astype(np.int32) @ qa[0, 32 * b:32 * b + 32].astype(np.int32)
        acc = (acc + (isum.astype(f32) * (sw[:, b] * sa[0, b]).astype(f32)).astype(f32)).astype(f32)
    return acc


def sigmoid(x):
    return (f32(1) / (f32(1) + np.exp(-x.astype(f32)))).astype(f32)


def main(argv):
    fp, qpath, text, want = argv[1], argv[2], argv[3], float(argv[4])
    m = rnnfile.read(fp)
    ids = {w: i for i, w in enumerate(m.vocab)}
    toks = [ids[w] for line in open(text, 'rb') for w in line.split() + [b'<eos>']]  # data.py
    assert m.cell == 'LSTM' and not m.tied
    wtype, q = qprm(qpath)
    ref = dict(m.params)
    bad = 0
    for name, tt, v in q:  # 1. the stored values are the definitions' of the fp32 weights
        w = ref[name]
        if tt == 0:
            same = np.array_equal(v.view(np.uint32), w.view(np.uint32))
        elif tt == 1:
            same = np.array_equal(v, bf16(w))
        else:
            s, qq = q8(w)
            same = np.array_equal(v[0].view(np.uint32), s.view(np.uint32)) and np.array_equal(v[1], qq)
        if not same:
            print('quant_numpy: %s differs from the definition' % name)
            bad += 1
    P = {name: v for name, _, v in q}
    H, L = m.H, m.L
    h = [np.zeros(H, f32) for _ in range(L)]
    c = [np.zeros(H, f32) for _ in range(L)]
    nll = 0.0
    for t in range(len(toks) - 1):  # 2. the forward pass
        enc = P['encoder.weight']
        if wtype == 1:
            x = (enc[toks[t]].astype(np.uint32) << 16).view(f32)
        else:
            x = (enc[1][toks[t]].astype(f32) * np.repeat(enc[0][toks[t]], 32)[:m.E]).astype(f32)
        for l in range(L):
            g = (P['rnn.bias_ih_l%d' % l][0] + dot(wtype, P['rnn.weight_ih_l%d' % l], x)).astype(f32)
            g = (g + dot(wtype, P['rnn.weight_hh_l%d' % l], h[l])).astype(f32)
            g = (g + P['rnn.bias_hh_l%d' % l][0]).astype(f32)
            i, fg, gg, o = sigmoid(g[:H]), sigmoid(g[H:2 * H]), np.tanh(g[2 * H:3 * H]), sigmoid(g[3 * H:])
            c[l] = (fg * c[l] + i * gg).astype(f32)
            h[l] = (o * np.tanh(c[l])).astype(f32)
            x = h[l]
        v = (dot(wtype, P['decoder.weight'], x) + P['decoder.bias'][0]).astype(np.float64)
        mx = v.max()
        nll += mx + np.log(np.exp(v - mx).sum()) - v[toks[t + 1]]
    nll /= len(toks) - 1
    print('quant_numpy: %s: numpy NLL %.6f, librnn %.6f' % ('q8' if wtype == 2 else 'bf16', nll, want))
    if abs(nll - want) > 1e-4 * max(1.0, abs(want)):
        bad += 1
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
