#!/usr/bin/env python3
"""rnn2torch.py -- convert a librnn model file to a PyTorch word_language_model state_dict.

    /usr/bin/python3 tools/rnn2torch.py --checkpoint model.rnn --state-dict model_sd.pt \\
        [--vocab vocab.txt] [--adaptive-cutoffs 2000,10000] [--div-value 4] [--head-bias]

The state_dict loads with load_state_dict into the example's RNNModel built with the cell and
sizes this prints (for a tied model decoder.weight is the same tensor as encoder.weight, as
PyTorch's own state_dict has it); a model with an adaptive output layer (format version 2) into
docs/PYTORCH.md's AdaptiveRNNModel, whose decoder is nn.AdaptiveLogSoftmaxWithLoss with the
file's cutoffs, div_value and head_bias (printed too). The three flags are optional: when given,
they are checked against the file (an error when they differ). The vocabulary is written one
word per line in id order. Every section's CRC-32C is verified; sections this tool does not know
are skipped.

Exit status: 0 ok, 1 bad input (unreadable or malformed file, no vocabulary), 2 usage error.
"""
import argparse
import collections
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import rnnfile  # noqa: E402
except ImportError as _e:  # numpy missing: say which Python to use instead of a traceback
    sys.exit('%s: error: %s (%s); run with a Python that has numpy and PyTorch, e.g. '
             '/usr/bin/python3 with Debian\'s python3-torch' % (os.path.basename(__file__)[:-3],
                                                               _e, sys.executable))

PROG = 'rnn2torch'




class Fail(Exception):
    pass


def to_state_dict(m):
    """An OrderedDict in PyTorch's RNNModel.state_dict() order (biases 1-D)."""
    import torch
    sd = collections.OrderedDict()
    for name, a in m.params:
        t = torch.from_numpy(a.copy())
        if name.startswith('rnn.bias') or name in ('decoder.bias', 'decoder.head.bias'):
            t = t.reshape(-1)
        if name == 'decoder.bias' and m.tied:
            sd['decoder.weight'] = sd['encoder.weight']
        sd[name] = t
    return sd


def check_flags(a, m, path):
    """Fail when --adaptive-cutoffs, --div-value or --head-bias contradict the file's output layer."""
    given = a.adaptive_cutoffs is not None or a.div_value is not None or a.head_bias
    if not given:
        return
    if m.cutoffs is None:
        raise Fail('%s has the full softmax output layer (decoder.weight, decoder.bias), not an adaptive '
                   'one; leave out --adaptive-cutoffs, --div-value and --head-bias' % path)
    said = '%s (output %s)' % (path, m.output())
    if a.adaptive_cutoffs is not None and a.adaptive_cutoffs != m.cutoffs:
        raise Fail('%s: --adaptive-cutoffs %s differs from the file\'s cutoffs %s'
                   % (said, ','.join(map(str, a.adaptive_cutoffs)), ','.join(map(str, m.cutoffs))))
    f32 = lambda x: struct.unpack('<f', struct.pack('<f', x))[0]   # noqa: E731 (the file's float32)
    if a.div_value is not None and f32(a.div_value) != f32(m.div_value):
        raise Fail('%s: --div-value %g differs from the file\'s div_value %g' % (said, a.div_value, m.div_value))
    if a.head_bias and not m.head_bias:
        raise Fail('%s: --head-bias, but the file\'s head has no bias (head_bias=False)' % said)


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description='Convert a librnn model file to a PyTorch '
                                'state_dict for the word_language_model example\'s RNNModel.')
    p.add_argument('--checkpoint', required=True, metavar='MODEL.rnn', help='librnn model file')
    p.add_argument('--state-dict', required=True, metavar='OUT.pt', help='where to torch.save the '
                   'state_dict')
    p.add_argument('--vocab', metavar='OUT.txt', help='where to write the vocabulary, one word per '
                   'line (an error when the model has none)')
    p.add_argument('--adaptive-cutoffs', type=rnnfile.cutoffs_arg, metavar='C1,C2,...',
                   help='checked: the file\'s output layer is adaptive with these cutoffs (the file '
                   'has them; the flag is optional)')
    p.add_argument('--div-value', type=float, metavar='D', help='checked: its div_value is D')
    p.add_argument('--head-bias', action='store_true', help='checked: its head has a bias')
    p.add_argument('-q', '--quiet', action='store_true', help='no summary on stdout')
    a = p.parse_args(argv)
    try:
        try:
            import torch
        except ImportError:
            raise Fail('cannot import torch with %s; run this with a Python that has PyTorch '
                       '(e.g. /usr/bin/python3 with Debian\'s python3-torch)' % sys.executable)
        for out in [a.state_dict] + ([a.vocab] if a.vocab else []):
            d = os.path.dirname(os.path.abspath(out))
            if not os.path.isdir(d):
                raise Fail('%s: the folder %s does not exist' % (out, d))
            if os.path.isdir(out):
                raise Fail('%s: Is a directory' % out)
        try:
            m = rnnfile.read(a.checkpoint)
        except OSError as e:
            raise Fail('%s: %s' % (a.checkpoint, e.strerror or e))
        except rnnfile.FormatError as e:
            raise Fail('%s: %s' % (a.checkpoint, e))
        check_flags(a, m, a.checkpoint)
        vocab_bytes = None
        if a.vocab:
            if m.vocab is None:
                raise Fail('%s has no vocabulary (no VOCB section); leave out --vocab' % a.checkpoint)
            for i, w in enumerate(m.vocab):
                if any(c in w for c in (b'\n', b'\r')) or w.decode('utf-8', 'replace').split() != \
                        [w.decode('utf-8', 'replace')]:
                    raise Fail('%s: word %d (%r) contains whitespace and cannot be one line of a '
                               'vocabulary file' % (a.checkpoint, i, w))
            vocab_bytes = b''.join(w + b'\n' for w in m.vocab)
        sd = to_state_dict(m)
        import io
        buf = io.BytesIO()
        torch.save(sd, buf)
        try:
            rnnfile.atomic_write(a.state_dict, buf.getvalue())
            if vocab_bytes is not None:
                rnnfile.atomic_write(a.vocab, vocab_bytes)
        except OSError as e:
            raise Fail('%s' % (e.strerror and '%s: %s' % (e.filename, e.strerror) or e))
        if not a.quiet:
            print('read %s: %s' % (a.checkpoint, m.describe()))
            if m.cutoffs is None:
                print('RNNModel(%r, %d, %d, %d, %d, dropout=%g, tie_weights=%s).load_state_dict('
                      'torch.load(%r))' % (m.cell, m.V, m.E, m.H, m.L, m.dropout, m.tied, a.state_dict))
            else:   # docs/PYTORCH.md's class
                print('AdaptiveRNNModel(%r, %d, %d, %d, %d, cutoffs=%r, div_value=%r, head_bias=%s, '
                      'dropout=%g).load_state_dict(torch.load(%r))'
                      % (m.cell, m.V, m.E, m.H, m.L, m.cutoffs, float('%.7g' % m.div_value), m.head_bias,
                         m.dropout, a.state_dict))
        return 0
    except Fail as e:
        print('%s: error: %s' % (PROG, e), file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
