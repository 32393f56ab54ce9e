#!/usr/bin/env python3
"""torch2rnn.py -- convert a PyTorch word_language_model RNNModel state_dict to a librnn model file.

    /usr/bin/python3 tools/torch2rnn.py --state-dict model_sd.pt --vocab vocab.txt \\
        --model LSTM [--tied] [--dropout 0.2] [--seed 1111] --out model.rnn

The state_dict is what `torch.save(model.state_dict(), path)` writes for the example's RNNModel
(keys encoder.weight, rnn.weight_ih_l{k}, rnn.weight_hh_l{k}, rnn.bias_ih_l{k}, rnn.bias_hh_l{k},
decoder.weight, decoder.bias); V, E, H and the number of layers come from the shapes. The
vocabulary file has one word per line in id order (the example's corpus.dictionary.idx2word);
its line count must equal V. The output follows docs/FORMAT.md and is written atomically.

Exit status: 0 ok, 1 bad input (files, shapes, values), 2 usage error.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import rnnfile  # noqa: E402
except ImportError as _e:  # numpy missing: say which Python to use instead of a traceback
    sys.exit('%s: error: %s (%s); run with a Python that has numpy and PyTorch, e.g. '
             '/usr/bin/python3 with Debian\'s python3-torch' % (os.path.basename(__file__)[:-3],
                                                               _e, sys.executable))

PROG = 'torch2rnn'


class Fail(Exception):
    pass


def read_vocab(path):
    """Words (bytes, UTF-8) of a one-word-per-line file; Fail with a reason on anything odd."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise Fail('%s: %s' % (path, e.strerror or e))
    if data.endswith(b'\n'):
        data = data[:-1]
    lines = data.split(b'\n') if data else []
    words, seen = [], {}
    for i, raw in enumerate(lines):
        w = raw[:-1] if raw.endswith(b'\r') else raw
        where = '%s:%d' % (path, i + 1)
        try:
            s = w.decode('utf-8')
        except UnicodeDecodeError as e:
            raise Fail('%s: not valid UTF-8 (%s)' % (where, e.reason))
        if not s:
            raise Fail('%s: empty line (every line must hold one word)' % where)
        if '\0' in s:
            raise Fail('%s: the word contains a NUL byte' % where)
        if s.split() != [s]:
            raise Fail('%s: %r contains whitespace (data.py splits words on whitespace)' % (where, s))
        if w in seen:
            raise Fail('%s: %r repeats line %d' % (where, s, seen[w] + 1))
        seen[w] = i
        words.append(w)
    if not words:
        raise Fail('%s: no words' % path)
    return words


def load_state_dict(path):
    import torch
    try:
        with open(path, 'rb') as f:
            head = f.read(4)
    except OSError as e:
        raise Fail('%s: %s' % (path, e.strerror or e))
    if not (head.startswith(b'PK\x03\x04') or head.startswith(b'\x80')):
        raise Fail('%s: not a file written by torch.save (expected torch.save(model.state_dict(), '
                   'path))' % path)
    try:
        try:
            # only tensors and containers: no code runs while loading an untrusted file
            sd = torch.load(path, map_location='cpu', weights_only=True)
        except TypeError:  # torch < 1.13 has no weights_only
            sd = torch.load(path, map_location='cpu')
    except Exception as e:  # pickle errors, zip errors, weights_only refusals
        if 'weights_only' in str(e) or 'Weights only' in str(e):
            raise Fail('%s: holds objects other than tensors, e.g. a whole model as main.py\'s --save '
                       'writes; load it where its class is defined and save model.state_dict() '
                       'instead' % path)
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise Fail('%s: torch.load failed (%s)' % (path, msg))
    if isinstance(sd, dict) and 'state_dict' in sd and isinstance(sd['state_dict'], dict):
        sd = sd['state_dict']
    if not isinstance(sd, dict):
        raise Fail('%s: holds a %s, not a state_dict; save it with torch.save(model.state_dict(), '
                   'path)' % (path, type(sd).__name__))
    keys = list(sd.keys())
    if keys and all(isinstance(k, str) and k.startswith('module.') for k in keys):
        sd = {k[len('module.'):]: v for k, v in sd.items()}   # saved from nn.DataParallel
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise Fail('%s: entry %r is a %s, not a tensor' % (path, k, type(v).__name__))
    return sd


def convert(sd, cell, tied, sd_name='state_dict'):
    """(V, E, H, L, [(name, float32 numpy array)], notes) from a state_dict; Fail on mismatch."""
    import torch
    notes = []
    G = rnnfile.GATES[cell]

    def get(key, ndim):
        if key not in sd:
            raise Fail('%s: missing %s' % (sd_name, key))
        t = sd[key]
        if t.dim() != ndim:
            raise Fail('%s: %s has shape %s, expected %d dimensions'
                       % (sd_name, key, tuple(t.shape), ndim))
        if not t.is_floating_point():
            raise Fail('%s: %s has dtype %s, expected a floating-point tensor' % (sd_name, key, t.dtype))
        return t

    enc = get('encoder.weight', 2)
    V, E = enc.shape
    hh0 = get('rnn.weight_hh_l0', 2)
    H = hh0.shape[1]
    if hh0.shape[0] % H or hh0.shape[0] // H not in (1, 3, 4):
        raise Fail('%s: rnn.weight_hh_l0 has shape %s, not (G*H, H) with G in 1, 3, 4'
                   % (sd_name, tuple(hh0.shape)))
    g = hh0.shape[0] // H
    if g != G:
        kind = {1: 'RNN_TANH or RNN_RELU', 3: 'GRU', 4: 'LSTM'}[g]
        raise Fail('%s: rnn.weight_hh_l0 has %d = %d x H rows: a %s, not --model %s'
                   % (sd_name, hh0.shape[0], g, kind, cell))
    L = 0
    while 'rnn.weight_ih_l%d' % L in sd:
        L += 1
    if L == 0:
        raise Fail('%s: missing rnn.weight_ih_l0' % sd_name)
    if tied and E != H:
        raise Fail('--tied needs emsize == nhid, but encoder.weight is %dx%d and H = %d' % (V, E, H))
    try:
        rnnfile.check_config(cell, V, E, H, L, tied, 0.0, 0)
    except rnnfile.FormatError as e:
        raise Fail('%s: %s' % (sd_name, e))

    want = rnnfile.expected_shapes(cell, V, E, H, L, tied)
    expected_keys = set(n for n, _ in want) | {'decoder.weight'}
    extra = sorted(k for k in sd if k not in expected_keys)
    if extra:
        raise Fail('%s: unexpected keys %s (a %s with %d layers has none; is this the example\'s '
                   'RNNModel?)' % (sd_name, ', '.join(extra), cell, L))

    if tied:
        if 'decoder.weight' in sd:
            dec = get('decoder.weight', 2)
            if dec.shape != enc.shape or not torch.equal(dec, enc):
                raise Fail('%s: --tied, but decoder.weight differs from encoder.weight' % sd_name)
    else:
        if 'decoder.weight' not in sd:
            raise Fail('%s: missing decoder.weight (a tied model? then pass --tied)' % sd_name)
        dec = get('decoder.weight', 2)
        if dec.shape == enc.shape and torch.equal(dec, enc):
            notes.append('decoder.weight equals encoder.weight: the model looks tied (--tied stores '
                         'it once and keeps it tied in training); writing it untied')

    params = []
    for name, (rows, cols) in want:
        t = get(name, 1 if rows == 1 and 'bias' in name else 2)
        shape = (rows, cols) if t.dim() == 2 else (cols,)
        if tuple(t.shape) != shape:
            raise Fail('%s: %s has shape %s, expected %s (V=%d E=%d H=%d, %s)'
                       % (sd_name, name, tuple(t.shape), shape, V, E, H, cell))
        if t.dtype != torch.float32:
            notes.append('%s is %s; converted to float32' % (name, str(t.dtype).replace('torch.', '')))
        a = t.detach().to(device='cpu', dtype=torch.float32).contiguous().numpy().reshape(rows, cols)
        if not bool(torch.isfinite(t).all()):
            notes.append('%s holds non-finite values (copied as they are)' % name)
        params.append((name, a.copy()))
    return V, E, H, L, params, notes


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description='Convert a PyTorch word_language_model '
                                'RNNModel state_dict and its vocabulary to a librnn model file.')
    p.add_argument('--state-dict', required=True, metavar='SD.pt',
                   help='torch.save(model.state_dict(), path) of the example\'s RNNModel')
    p.add_argument('--vocab', required=True, metavar='VOCAB.txt',
                   help='one word per line, in id order (corpus.dictionary.idx2word); V lines')
    p.add_argument('--model', required=True, choices=rnnfile.CELLS, help='the RNNModel\'s rnn_type')
    p.add_argument('--tied', action='store_true', help='the model was built with --tied')
    p.add_argument('--dropout', type=float, default=0.2, help='stored in the file (default 0.2)')
    p.add_argument('--seed', type=int, default=1111, help='stored in the file (default 1111)')
    p.add_argument('--out', required=True, metavar='MODEL.rnn', help='the librnn model file to write')
    p.add_argument('-q', '--quiet', action='store_true', help='no summary line on stdout')
    a = p.parse_args(argv)
    if not (0.0 <= a.dropout < 1.0):
        p.error('--dropout must be in [0, 1)')
    if not 0 <= a.seed < (1 << 64):
        p.error('--seed must be in [0, 2^64)')
    try:
        out_dir = os.path.dirname(os.path.abspath(a.out))
        if not os.path.isdir(out_dir):
            raise Fail('%s: the folder %s does not exist' % (a.out, out_dir))
        if os.path.isdir(a.out):
            raise Fail('%s: Is a directory' % a.out)
        words = read_vocab(a.vocab)
        try:
            import torch  # noqa: F401
        except ImportError:
            raise Fail('cannot import torch with %s; run this with a Python that has PyTorch '
                       '(e.g. /usr/bin/python3 with Debian\'s python3-torch)' % sys.executable)
        sd = load_state_dict(a.state_dict)
        V, E, H, L, params, notes = convert(sd, a.model, a.tied, a.state_dict)
        if len(words) != V:
            raise Fail('%s has %d words but encoder.weight has V = %d rows' % (a.vocab, len(words), V))
        m = rnnfile.Model(a.model, V, E, H, L, a.tied, a.dropout, a.seed, words, params)
        try:
            data = rnnfile.encode(m)
        except rnnfile.FormatError as e:
            raise Fail(str(e))
        try:
            rnnfile.atomic_write(a.out, data)
        except OSError as e:
            raise Fail('%s: %s' % (a.out, e.strerror or e))
        for n in notes:
            print('%s: note: %s' % (PROG, n), file=sys.stderr)
        if not a.quiet:
            print('wrote %s: %s' % (a.out, m.describe()))
        return 0
    except Fail as e:
        print('%s: error: %s' % (PROG, e), file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
