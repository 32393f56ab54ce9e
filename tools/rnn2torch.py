#!/usr/bin/env python3
"""rnn2torch.py -- convert a librnn model file to a PyTorch word_language_model state_dict.

    /usr/bin/python3 tools/rnn2torch.py --checkpoint model.rnn --state-dict model_sd.pt \\
        [--vocab vocab.txt]

The state_dict loads with load_state_dict into the example's RNNModel built with the cell and
sizes this prints (for a tied model decoder.weight is the same tensor as encoder.weight, as
PyTorch's own state_dict has it). The vocabulary is written one word per line in id order.
Every section's CRC-32C is verified; sections this tool does not know are skipped.

Exit status: 0 ok, 1 bad input (unreadable or malformed file, no vocabulary), 2 usage error.
"""
import argparse
import collections
import os
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
        if name.startswith('rnn.bias') or name == 'decoder.bias':
            t = t.reshape(-1)
        if name == 'decoder.bias' and m.tied:
            sd['decoder.weight'] = sd['encoder.weight']
        sd[name] = t
    return sd


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description='Convert a librnn model file to a PyTorch '
                                'state_dict for the word_language_model example\'s RNNModel.')
    p.add_argument('--checkpoint', required=True, metavar='MODEL.rnn', help='librnn model file')
    p.add_argument('--state-dict', required=True, metavar='OUT.pt', help='where to torch.save the '
                   'state_dict')
    p.add_argument('--vocab', metavar='OUT.txt', help='where to write the vocabulary, one word per '
                   'line (an error when the model has none)')
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
            print('RNNModel(%r, %d, %d, %d, %d, dropout=%g, tie_weights=%s).load_state_dict('
                  'torch.load(%r))' % (m.cell, m.V, m.E, m.H, m.L, m.dropout, m.tied, a.state_dict))
        return 0
    except Fail as e:
        print('%s: error: %s' % (PROG, e), file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
