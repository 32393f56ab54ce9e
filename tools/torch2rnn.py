#!/usr/bin/env python3
"""torch2rnn.py -- convert a PyTorch word_language_model RNNModel state_dict to a librnn model file.

    /usr/bin/python3 tools/torch2rnn.py --state-dict model_sd.pt --vocab vocab.txt \\
        --model LSTM [--tied] [--dropout 0.2] [--seed 1111] --out model.rnn
    /usr/bin/python3 tools/torch2rnn.py --state-dict model_sd.pt --vocab vocab.txt \\
        --model LSTM --adaptive-cutoffs 2000,10000 [--div-value 4] [--head-bias] --out model.rnn

The state_dict is what `torch.save(model.state_dict(), path)` writes for the example's RNNModel
(keys encoder.weight, rnn.weight_ih_l{k}, rnn.weight_hh_l{k}, rnn.bias_ih_l{k}, rnn.bias_hh_l{k},
decoder.weight, decoder.bias); V, E, H and the number of layers come from the shapes. With
--adaptive-cutoffs it is docs/PYTORCH.md's AdaptiveRNNModel, whose decoder is
nn.AdaptiveLogSoftmaxWithLoss(nhid, ntoken, cutoffs, div_value, head_bias) (keys
decoder.head.weight, decoder.head.bias with --head-bias, decoder.tail.{i}.0.weight and
decoder.tail.{i}.1.weight instead of decoder.weight and decoder.bias); the three flags say what
the module was built with and are checked against the shapes (a state_dict with such a decoder
and no --adaptive-cutoffs is an error that names the flags its shapes need). The vocabulary file
has one word per line in id order (the example's corpus.dictionary.idx2word; for an adaptive
model ordered by descending frequency, see docs/PYTORCH.md); its line count must equal V. The
output follows docs/FORMAT.md (version 2 for an adaptive model) and is written atomically.

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


def cutoffs_arg(text):
    """--adaptive-cutoffs (argparse type): rnnfile.cutoffs_arg, at most librnn's RNN_MAX_CUTOFFS."""
    return rnnfile.cutoffs_arg(text, rnnfile.MAX_CUTOFFS)


def adaptive_shapes(sd):
    """(cutoffs, head_bias) that sd's decoder.head / decoder.tail shapes say, for messages; cutoffs
    None when those tensors do not form an AdaptiveLogSoftmaxWithLoss."""
    n = 0
    while 'decoder.tail.%d.1.weight' % n in sd:
        n += 1
    try:
        cuts = [sd['decoder.head.weight'].shape[0] - n]
        for i in range(n - 1):
            cuts.append(cuts[-1] + sd['decoder.tail.%d.1.weight' % i].shape[0])
    except (KeyError, IndexError):
        cuts = []
    return (cuts if n and cuts and cuts[0] >= 1 else None), 'decoder.head.bias' in sd


def check_adaptive(sd, cell, V, E, H, L, cutoffs, div_value, head_bias, sd_name):
    """Fail unless sd's decoder is the AdaptiveLogSoftmaxWithLoss that the flags describe, with a
    message that names the flag (and the value the shapes need) rather than only a shape."""
    said, said_bias = adaptive_shapes(sd)
    hint = (' (its shapes say --adaptive-cutoffs %s%s)' % (','.join(map(str, said)),
                                                          ' --head-bias' if said_bias else '')
            if said else '')
    n_sd = len(set(k.split('.')[2] for k in sd if k.startswith('decoder.tail.')))
    if n_sd != len(cutoffs):
        raise Fail('%s: --adaptive-cutoffs %s makes %d cluster%s, but the decoder has %d '
                   '(decoder.tail.0 .. decoder.tail.%d)%s'
                   % (sd_name, ','.join(map(str, cutoffs)), len(cutoffs), 's' if len(cutoffs) > 1 else '',
                      n_sd, n_sd - 1, hint))
    if head_bias and 'decoder.head.bias' not in sd:
        raise Fail('%s: --head-bias, but the state_dict has no decoder.head.bias (the module was built '
                   'with head_bias=False); leave out --head-bias' % sd_name)
    if not head_bias and 'decoder.head.bias' in sd:
        raise Fail('%s: decoder.head.bias is there (the module was built with head_bias=True); pass '
                   '--head-bias' % sd_name)
    try:
        rnnfile.check_config(cell, V, E, H, L, False, 0.0, 0, cutoffs, div_value, head_bias)
    except rnnfile.FormatError as e:
        raise Fail('%s: --adaptive-cutoffs %s --div-value %g: %s'
                   % (sd_name, ','.join(map(str, cutoffs)), div_value, e))
    for name, (rows, cols) in rnnfile.expected_shapes(cell, V, E, H, L, False, cutoffs, div_value,
                                                      head_bias):
        if not name.startswith('decoder.') or not name.endswith('.weight') or name not in sd \
                or sd[name].dim() != 2:
            continue   # missing tensors, dimensions and columns: convert()'s general messages
        got = sd[name].shape[0]
        if got == rows:
            continue
        if name.endswith('.0.weight'):   # a projection: floor(H / div_value^(i+1)) units
            i = int(name.split('.')[2])
            raise Fail('%s: %s has %d rows, but --div-value %g gives cluster %d a projection of '
                       'floor(H %d / %g^%d) = %d units (the module\'s div_value gives %d)'
                       % (sd_name, name, got, div_value, i, H, div_value, i + 1, rows, got))
        raise Fail('%s: %s has %d rows, expected %d for --adaptive-cutoffs %s (V = %d)%s'
                   % (sd_name, name, got, rows, ','.join(map(str, cutoffs)), V, hint))


def convert(sd, cell, tied, sd_name='state_dict', cutoffs=None, div_value=4.0, head_bias=False):
    """(V, E, H, L, [(name, float32 numpy array)], notes) from a state_dict; Fail on mismatch.
    cutoffs None: the example's nn.Linear decoder; a list: nn.AdaptiveLogSoftmaxWithLoss."""
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
    adaptive_keys = sorted((k for k in sd if k.startswith(('decoder.head.', 'decoder.tail.'))),
                           key=lambda k: (k != 'decoder.head.weight', k))
    if adaptive_keys and cutoffs is None:
        said, said_bias = adaptive_shapes(sd)
        raise Fail('%s: the decoder is nn.AdaptiveLogSoftmaxWithLoss (%s); pass what it was built '
                   'with: %s' % (sd_name, adaptive_keys[0],
                                 '--adaptive-cutoffs %s [--div-value D]%s (from its shapes)'
                                 % (','.join(map(str, said)), ' --head-bias' if said_bias else '')
                                 if said else '--adaptive-cutoffs C1,C2,... [--div-value D] [--head-bias]'))
    if cutoffs is not None and not adaptive_keys:
        raise Fail('%s: --adaptive-cutoffs, but the decoder is the example\'s nn.Linear (%s), not '
                   'nn.AdaptiveLogSoftmaxWithLoss (decoder.head.weight, decoder.tail.*); leave out '
                   '--adaptive-cutoffs, --div-value and --head-bias'
                   % (sd_name, ', '.join(k for k in ('decoder.weight', 'decoder.bias') if k in sd)
                      or 'no decoder.head.weight'))
    if tied and E != H:
        raise Fail('--tied needs emsize == nhid, but encoder.weight is %dx%d and H = %d' % (V, E, H))
    try:
        rnnfile.check_config(cell, V, E, H, L, tied, 0.0, 0)
    except rnnfile.FormatError as e:
        raise Fail('%s: %s' % (sd_name, e))
    if cutoffs is not None:
        check_adaptive(sd, cell, V, E, H, L, cutoffs, div_value, head_bias, sd_name)

    want = rnnfile.expected_shapes(cell, V, E, H, L, tied, cutoffs, div_value, head_bias)
    expected_keys = set(n for n, _ in want) | ({'decoder.weight'} if cutoffs is None else set())
    extra = sorted(k for k in sd if k not in expected_keys)
    if extra:
        raise Fail('%s: unexpected keys %s (a %s with %d layers has none; is this the example\'s '
                   'RNNModel?)' % (sd_name, ', '.join(extra), cell, L))

    if cutoffs is not None:
        pass   # no decoder.weight to tie (check_adaptive checked the decoder's tensors)
    elif tied:
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
    p.add_argument('--adaptive-cutoffs', type=cutoffs_arg, metavar='C1,C2,...',
                   help='the decoder is nn.AdaptiveLogSoftmaxWithLoss(nhid, ntoken, cutoffs, ...) with '
                   'these cutoffs (docs/PYTORCH.md\'s AdaptiveRNNModel); checked against the shapes')
    p.add_argument('--div-value', type=float, metavar='D',
                   help='its div_value (default 4.0); needs --adaptive-cutoffs')
    p.add_argument('--head-bias', action='store_true',
                   help='it was built with head_bias=True; needs --adaptive-cutoffs')
    p.add_argument('--dropout', type=float, default=0.2, help='stored in the file (default 0.2)')
    p.add_argument('--seed', type=int, default=1111, help='stored in the file (default 1111)')
    p.add_argument('--out', required=True, metavar='MODEL.rnn', help='the librnn model file to write')
    p.add_argument('-q', '--quiet', action='store_true', help='no summary line on stdout')
    a = p.parse_args(argv)
    if not (0.0 <= a.dropout < 1.0):
        p.error('--dropout must be in [0, 1)')
    if not 0 <= a.seed < (1 << 64):
        p.error('--seed must be in [0, 2^64)')
    if a.adaptive_cutoffs is None and (a.div_value is not None or a.head_bias):
        p.error('--div-value and --head-bias describe an adaptive decoder: they need --adaptive-cutoffs')
    if a.div_value is not None and not (0.0 < a.div_value < float('inf')):
        p.error('--div-value must be a finite number > 0')
    if a.adaptive_cutoffs is not None and a.tied:
        p.error('--tied with --adaptive-cutoffs: an adaptive output layer cannot be tied '
                '(nn.AdaptiveLogSoftmaxWithLoss has no decoder.weight to share with the encoder)')
    div_value = 4.0 if a.div_value is None else a.div_value
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
        V, E, H, L, params, notes = convert(sd, a.model, a.tied, a.state_dict, a.adaptive_cutoffs,
                                            div_value, a.head_bias)
        if len(words) != V:
            raise Fail('%s has %d words but encoder.weight has V = %d rows' % (a.vocab, len(words), V))
        m = rnnfile.Model(a.model, V, E, H, L, a.tied, a.dropout, a.seed, words, params,
                          a.adaptive_cutoffs, div_value, a.head_bias)
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
