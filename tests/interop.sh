#!/bin/sh
# tests/interop.sh -- PyTorch <-> librnn interoperability, for every cell type, tied and untied:
#   (1) round trip: torch state_dict -> tools/torch2rnn.py -> tools/rnn2torch.py: identical
#       tensors and vocabulary; the result loads into bench/torch_main.py's RNNModel;
#   (2) `rnnlm eval` perplexity versus main.py's evaluate() (batch 10, bptt 35): rel. diff <= 1e-4;
#   (3) 5 clipped SGD steps of `rnnlm train --init` versus main.py's training loop: every tensor
#       within 1e-4 (max abs diff / max abs value), the weight change within 1e-3; the file
#       rnnlm wrote, converted back and forth, is byte-identical;
# plus the FORMAT.md examples, CRC checking, unknown sections and the converters' error paths; and
# the adaptive output layer (format version 2, OUTP): tools/rnnfile.py against the library (through
# the Python binding and `rnnlm info`): the files each writes, byte for byte, and every malformed
# OUTP refused by both; and adaptive models through the converters: docs/PYTORCH.md's
# AdaptiveRNNModel (its code block, executed here) for 1-3 clusters, head bias on and off, LSTM, GRU
# and RNN_RELU: torch2rnn --adaptive-cutoffs/--div-value/--head-bias -> rnn2torch gives identical
# tensors (and back, the same bytes), rnnlm eval's loss and the Python binding's loss and
# log-probabilities equal its decoder's .loss and log_prob() to 1e-5 relative, flags that
# contradict the shapes or the file (and a tied adaptive model) are refused with one clear line,
# and PYTORCH.md's frequency order (compared with `rnnlm train --adaptive-cutoffs`'s vocabulary
# when rnnlm has that flag).
# Usage (from `make check`): RNNLM=/abs/bin/rnnlm sh tests/interop.sh
# Prints one line per check and a last line "N passed, M failed"; exits 1 on any failure.
PY=${PYTHON3:-/usr/bin/python3}
RNNLM=${RNNLM:-bin/rnnlm}
case $RNNLM in /*) ;; *) RNNLM=$PWD/$RNNLM ;; esac
cd "$(dirname "$0")/.." || exit 1

if ! "$PY" -c 'import torch, numpy' >/dev/null 2>&1; then
    echo "SKIP: python3-torch not installed"
    exit 0
fi
if [ ! -x "$RNNLM" ]; then
    echo "FAIL: rnnlm not found at $RNNLM (run make)"
    echo "0 passed, 1 failed"
    exit 1
fi

export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in tools/ from a test run
# The Python binding loads the build's library: make check passes its folder (build/ref/lib in
# make BLAS=ref's tree, where the binding's own fallback, lib/, does not exist). Not a sanitizer
# build's: ASan ends a python that loads it ("ASan runtime does not come first").
if [ -z "${RNN_LIBRARY:-}" ] && [ -z "${RNN_SANFLAGS:-}" ] && [ -n "${RNN_LIBDIR:-}" ] && [ -f "$RNN_LIBDIR/librnn.so.1" ]; then
    RNN_LIBRARY=$(cd "$RNN_LIBDIR" && pwd)/librnn.so.1
    export RNN_LIBRARY
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rnn-interop.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

cat > "$tmp/driver.py" <<'PYEOF'
import concurrent.futures, json, math, os, random, re, struct, subprocess, sys, time
import warnings
import numpy as np
import torch
warnings.filterwarnings('ignore', message='dropout option adds dropout')
import torch.nn as nn

sys.path.insert(0, 'bench')
sys.path.insert(0, 'tools')
from torch_main import RNNModel, batchify, repackage_hidden  # noqa: E402
import rnnfile  # noqa: E402
import torch2rnn as torch2rnn_mod  # noqa: E402

TMP, RNNLM = sys.argv[1], sys.argv[2]
PY = sys.executable
torch.set_num_threads(1)
ENV = dict(os.environ, OPENBLAS_NUM_THREADS='1', OMP_NUM_THREADS='1')
EVAL_TOL, STEP_TOL, DELTA_TOL = 1e-4, 1e-4, 1e-3


def run(args, check=True):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    out, err = p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')
    if check and p.returncode != 0:
        raise RuntimeError('%s exited %d: %s' % (' '.join(os.path.basename(a) if i == 0 else a
                                                          for i, a in enumerate(args[:3])),
                                                 p.returncode, (err or out).strip()[-400:]))
    return p.returncode, out, err


def torch2rnn(*args, check=True):
    return run([PY, 'tools/torch2rnn.py', '-q'] + list(args), check)


def rnn2torch(*args, check=True):
    return run([PY, 'tools/rnn2torch.py', '-q'] + list(args), check)


class Results:
    def __init__(self):
        self.lines = []

    def check(self, ok, name, detail=''):
        self.lines.append('%s %s%s' % ('PASS' if ok else 'FAIL', name, ': ' + detail if detail else ''))
        return ok


# ---- vocabulary and text -----------------------------------------------------------------------
WORDS = ['the', 'a', 'cat', 'dog', 'sat', 'on', 'mat', 'and', 'ran', 'to', 'house', 'of', 'in',
         'it', 'was', 'big', 'small', 'red', 'blue', '<eos>', 'green', 'tree', 'under', 'over',
         'café', 'naïve', 'x', 'y', 'z', '1998', ',', '.', '"', 'who', 'saw', 'him', 'her',
         '<unk>', 'end', 'quickly']        # V = 40; <eos> in the middle, two UTF-8 words
V = len(WORDS)
W2I = {w: i for i, w in enumerate(WORDS)}
TEXT_WORDS = [w for w in WORDS if w not in ('<eos>', '<unk>')]


def gen_text(rng, ntokens):
    """Lines of vocabulary words whose data.py token count (words + one <eos> a line) is ntokens;
    includes an empty line (a lone <eos>)."""
    lines, left = [''], ntokens - 1
    while left > 0:
        k = min(rng.randint(1, 12), left - 1)
        lines.append(' '.join(rng.choice(TEXT_WORDS) for _ in range(k)))
        left -= k + 1
    rng.shuffle(lines)
    return '\n'.join(lines) + '\n'


def tokenize(path):  # data.py's tokenize with a fixed vocabulary
    ids = []
    with open(path, 'r', encoding='utf8') as f:
        for line in f:
            ids += [W2I[w] for w in line.split() + ['<eos>']]
    return torch.tensor(ids, dtype=torch.int64)


def write(path, text):
    with open(path, 'w', encoding='utf8') as f:
        f.write(text)


# ---- PyTorch reference ------------------------------------------------------------------------
def make_model(cell, E, H, L, tied, seed):
    model = RNNModel(cell, V, E, H, L, dropout=0.2, tie_weights=tied)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            s = 1.0 if not name.startswith('rnn.') else 1.5 / math.sqrt(H)
            p.copy_(torch.rand(p.shape, generator=g) * 2 * s - s)
    return model


def torch_evaluate(model, ids, bsz=10, bptt=35, criterion=None):  # main.py's evaluate()
    model.eval()
    data_source = batchify(ids, bsz)
    criterion = criterion or nn.NLLLoss()
    total_loss = 0.
    hidden = model.init_hidden(bsz)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            seq_len = min(bptt, len(data_source) - 1 - i)
            data, targets = data_source[i:i + seq_len], data_source[i + 1:i + 1 + seq_len].view(-1)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1), (len(data_source) - 1) * bsz


def torch_train(model, ids, bsz, bptt, lr, clip, max_batches):  # main.py's train()
    model.train()
    train_data = batchify(ids, bsz)
    criterion = nn.NLLLoss()
    hidden = model.init_hidden(bsz)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
        seq_len = min(bptt, len(train_data) - 1 - i)
        data, targets = train_data[i:i + seq_len], train_data[i + 1:i + 1 + seq_len].view(-1)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for q in model.parameters():
            q.data.add_(q.grad, alpha=-lr)
        if batch + 1 >= max_batches:
            break
    return batch + 1


def rel_err(a, b):
    """max |a - b| / max |b| (0/0 = 0), in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d, s = float(np.max(np.abs(a - b))), float(np.max(np.abs(b)))
    return d / s if s > 0 else (0.0 if d == 0 else math.inf)


# ---- one configuration ------------------------------------------------------------------------
def case(idx, cell, tied):
    R = Results()
    tag = '%s-%s' % (cell, 'tied' if tied else 'untied')
    d = os.path.join(TMP, tag)
    os.makedirs(d)
    E, H, L = (16, 16, 2) if tied else (10, 16, 2)
    B, T = ((4, 7), (3, 5))[idx % 2]
    rng = random.Random(1000 + idx)
    model = make_model(cell, E, H, L, tied, 1234 + idx)
    sd0 = model.state_dict()
    sd_path, vocab_path = os.path.join(d, 'sd.pt'), os.path.join(d, 'vocab.txt')
    torch.save(sd0, sd_path)
    write(vocab_path, ''.join(w + '\n' for w in WORDS))
    rnn_path = os.path.join(d, 'model.rnn')
    torch2rnn('--state-dict', sd_path, '--vocab', vocab_path, '--model', cell,
              *(['--tied'] if tied else []), '--out', rnn_path)

    # (1) round trip
    sd1_path, vocab1_path = os.path.join(d, 'back.pt'), os.path.join(d, 'back.txt')
    rnn2torch('--checkpoint', rnn_path, '--state-dict', sd1_path, '--vocab', vocab1_path)
    sd1 = torch.load(sd1_path)
    bad = [k for k in sd0 if k not in sd1 or sd1[k].dtype != sd0[k].dtype
           or not torch.equal(sd1[k], sd0[k])]
    R.check(list(sd1.keys()) == list(sd0.keys()) and not bad, tag + ' round trip tensors',
            'keys %s, differing %s' % (list(sd1.keys()), bad) if bad or list(sd1) != list(sd0)
            else '%d tensors identical' % len(sd0))
    R.check(open(vocab1_path, 'rb').read() == open(vocab_path, 'rb').read(),
            tag + ' round trip vocabulary')
    m2 = RNNModel(cell, V, E, H, L, dropout=0.2, tie_weights=tied)
    try:
        m2.load_state_dict(sd1)
        ok, why = True, ''
    except Exception as e:  # noqa: BLE001
        ok, why = False, str(e)[:300]
    if tied and ok:
        ok = sd1['decoder.weight'].data_ptr() == sd1['encoder.weight'].data_ptr()
        why = '' if ok else 'decoder.weight is not encoder.weight'
    R.check(ok, tag + ' rnn2torch output loads into RNNModel', why)
    f = rnnfile.read(rnn_path)
    R.check((f.cell, f.V, f.E, f.H, f.L, f.tied, round(f.dropout, 6), f.seed)
            == (cell, V, E, H, L, tied, 0.2, 1111), tag + ' CONF fields', f.describe())

    # (2) evaluation agreement
    eval_path = os.path.join(d, 'eval.txt')
    write(eval_path, gen_text(rng, 437))
    t_loss, t_tokens = torch_evaluate(model, tokenize(eval_path))
    _, out, _ = run([RNNLM, 'eval', '--checkpoint', rnn_path, '--data', eval_path, '--json'])
    j = json.loads(out.strip().splitlines()[-1])
    t_ppl = math.exp(t_loss)
    e = abs(j['ppl'] - t_ppl) / t_ppl
    R.check(e <= EVAL_TOL, tag + ' eval ppl', 'rnnlm %.6f torch %.6f rel.diff %.2e'
            % (j['ppl'], t_ppl, e))
    R.check(j['tokens'] == t_tokens, tag + ' eval tokens', 'rnnlm %s, main.py scores %d'
            % (j['tokens'], t_tokens))
    eval_err = e

    # (3) five SGD steps
    data = os.path.join(d, 'corpus')
    os.makedirs(data)
    # even cases: plenty of data; odd cases: the 5th chunk is the last and is short
    ntrain = B * (T * 12 + 1) + 2 if idx % 2 == 0 else B * (4 * T + 3 + 1) + 1
    write(os.path.join(data, 'train.txt'), gen_text(rng, ntrain))
    write(os.path.join(data, 'valid.txt'), gen_text(rng, 61))
    write(os.path.join(data, 'test.txt'), gen_text(rng, 53))
    out_path = os.path.join(d, 'out.rnn')
    run([RNNLM, 'train', '--init', rnn_path, '--data', data, '--dropout', '0', '--lr', '1',
         '--clip', '0.25', '--epochs', '1', '--max-batches', '5', '--batch_size', str(B),
         '--bptt', str(T), '--save', out_path])
    ref = RNNModel(cell, V, E, H, L, dropout=0.0, tie_weights=tied)
    ref.load_state_dict(sd0)
    nb = torch_train(ref, tokenize(os.path.join(data, 'train.txt')), B, T, 1.0, 0.25, 5)
    sd_t = ref.state_dict()
    sd2_path, v2_path = os.path.join(d, 'out.pt'), os.path.join(d, 'out.txt')
    rnn2torch('--checkpoint', out_path, '--state-dict', sd2_path, '--vocab', v2_path)
    sd_c = torch.load(sd2_path)
    worst_w, worst_d = (0.0, ''), (0.0, '')
    bad = []
    for k in sd_t:
        ew = rel_err(sd_c[k], sd_t[k])
        ed = rel_err(sd_c[k].double() - sd0[k].double(), sd_t[k].double() - sd0[k].double())
        if ew > STEP_TOL or ed > DELTA_TOL or not ew == ew or not ed == ed:
            bad.append('%s (weights %.2e, change %.2e)' % (k, ew, ed))
        worst_w = max(worst_w, (ew, k))
        worst_d = max(worst_d, (ed, k))
    R.check(nb == 5 and not bad, tag + ' 5 SGD steps (B=%d, bptt=%d%s)'
            % (B, T, ', short last chunk' if idx % 2 else ''),
            ('; '.join(bad) + '; ' if bad else '')
            + 'max rel.err weights %.2e (%s), change %.2e (%s)' % (worst_w + worst_d))
    # the file rnnlm wrote, through rnn2torch and back, is byte-identical
    f = rnnfile.read(out_path)
    again = os.path.join(d, 'again.rnn')
    rc = torch2rnn_mod.main(['-q', '--state-dict', sd2_path, '--vocab', v2_path, '--model', cell]
                            + (['--tied'] if tied else []) + ['--dropout', repr(float(f.dropout)),
                            '--seed', str(f.seed), '--out', again])   # in-process: saves a start
    if rc != 0:
        raise RuntimeError('torch2rnn.main exited %d' % rc)
    R.check(open(again, 'rb').read() == open(out_path, 'rb').read(),
            tag + ' rnnlm-written file == rnn2torch + torch2rnn of it (byte for byte)')
    return R, eval_err, worst_w[0], worst_d[0]


def run_case(idx, cell, tied):
    try:
        return case(idx, cell, tied)
    except Exception as e:  # noqa: BLE001
        R = Results()
        R.check(False, '%s-%s' % (cell, 'tied' if tied else 'untied'),
                '%s: %s' % (type(e).__name__, e))
        return R, None, None, None


# ---- format and error paths -------------------------------------------------------------------
def misc():
    R = Results()
    d = os.path.join(TMP, 'misc')
    os.makedirs(d)
    # the example of docs/FORMAT.md, byte for byte
    doc = open('docs/FORMAT.md', encoding='utf8').read()
    block = doc[doc.index('## Example'):]
    size = int(re.search(r'(\d+) bytes:', block).group(1))
    m = rnnfile.Model('RNN_TANH', 2, 1, 1, 1, True, 0.5, 1111, [b'a', b'<eos>'],
                      [(n, np.zeros(s, np.float32))
                       for n, s in rnnfile.expected_shapes('RNN_TANH', 2, 1, 1, 1, True)])
    m.params[0][1][:, 0] = [1, -2]
    enc = rnnfile.encode(m)
    nbytes, bad = 0, []
    for line in block.split('```')[1].splitlines():   # xxd lines; the doc elides some ("...")
        mo = re.match(r'^([0-9a-f]{8}): ((?:[0-9a-f]{2,4} ?)+)', line)
        if mo:
            off, got = int(mo.group(1), 16), bytes.fromhex(mo.group(2).split('  ')[0].replace(' ', ''))
            nbytes += len(got)
            if enc[off:off + len(got)] != got:
                bad.append('%08x' % off)
    R.check(len(enc) == size and nbytes > 100 and not bad, 'FORMAT.md example bytes',
            '%d bytes written, %d stated; %d bytes shown in the doc compared%s'
            % (len(enc), size, nbytes, ', differing at ' + ' '.join(bad) if bad else ''))
    R.check(rnnfile.crc32c(b'123456789') == 0xE3069283, 'CRC-32C check value')
    # the second example: an adaptive model (version 2, OUTP)
    size2 = int(re.search(r'every value 0; (\d+) bytes', block).group(1))
    m = rnnfile.Model('RNN_TANH', 3, 1, 2, 1, False, 0.5, 1111, [b'a', b'b', b'<eos>'],
                      [(n, np.zeros(s, np.float32)) for n, s in
                       rnnfile.expected_shapes('RNN_TANH', 3, 1, 2, 1, False, [1], 2.0, True)],
                      cutoffs=[1], div_value=2.0, head_bias=True)
    enc = rnnfile.encode(m)
    nbytes, bad = 0, []
    for line in block.split('```')[3].splitlines():
        mo = re.match(r'^([0-9a-f]{8}): ((?:[0-9a-f]{2,4} ?)+)', line)
        if mo:
            off, got = int(mo.group(1), 16), bytes.fromhex(mo.group(2).split('  ')[0].replace(' ', ''))
            nbytes += len(got)
            if enc[off:off + len(got)] != got:
                bad.append('%08x' % off)
    R.check(len(enc) == size2 and nbytes >= 100 and not bad, 'FORMAT.md adaptive example bytes',
            '%d bytes written, %d stated; %d bytes shown in the doc compared%s'
            % (len(enc), size2, nbytes, ', differing at ' + ' '.join(bad) if bad else ''))

    # a small LSTM to break
    model = make_model('LSTM', 8, 8, 1, False, 7)
    sd_path, vocab_path = os.path.join(d, 'sd.pt'), os.path.join(d, 'vocab.txt')
    torch.save(model.state_dict(), sd_path)
    write(vocab_path, ''.join(w + '\n' for w in WORDS))
    good = os.path.join(d, 'good.rnn')
    torch2rnn('--state-dict', sd_path, '--vocab', vocab_path, '--model', 'LSTM', '--out', good)
    raw = open(good, 'rb').read()
    eval_path = os.path.join(d, 'eval.txt')
    write(eval_path, gen_text(random.Random(5), 200))
    _, out, _ = run([RNNLM, 'eval', '--checkpoint', good, '--data', eval_path, '--json'])
    ppl_good = json.loads(out.strip().splitlines()[-1])['ppl']

    # an unknown section before END: skipped by rnn2torch and by rnnlm
    unk = os.path.join(d, 'unknown.rnn')
    payload = b'future training state'
    head = b'TRST' + struct.pack('<Q', len(payload))
    sec = head + payload + struct.pack('<I', rnnfile.crc32c(head + payload))
    open(unk, 'wb').write(raw[:-16] + sec + raw[-16:])
    rc, _, err = rnn2torch('--checkpoint', unk, '--state-dict', os.path.join(d, 'u.pt'), check=False)
    ok = rc == 0 and all(torch.equal(a, b) for a, b in
                         zip(torch.load(os.path.join(d, 'u.pt')).values(), model.state_dict().values()))
    R.check(ok, 'rnn2torch skips an unknown section', err.strip())
    rc, out, err = run([RNNLM, 'eval', '--checkpoint', unk, '--data', eval_path, '--json'], False)
    R.check(rc == 0 and json.loads(out.strip().splitlines()[-1])['ppl'] == ppl_good,
            'rnnlm eval skips an unknown section', (err or out).strip()[:200])

    # a flipped bit in PARM: CRC error, exit 1
    bad = os.path.join(d, 'bad.rnn')
    b = bytearray(raw)
    b[len(raw) - 40] ^= 0x10
    open(bad, 'wb').write(bytes(b))
    rc, _, err = rnn2torch('--checkpoint', bad, '--state-dict', os.path.join(d, 'x.pt'), check=False)
    R.check(rc == 1 and 'CRC' in err and not os.path.exists(os.path.join(d, 'x.pt')),
            'rnn2torch refuses a corrupted file', 'exit %d: %s' % (rc, err.strip()))
    rc, _, err = rnn2torch('--checkpoint', good[:-4] + '.pt', '--state-dict', os.path.join(d, 'x.pt'),
                           check=False)
    R.check(rc == 1, 'rnn2torch: missing file -> exit 1', err.strip())

    # torch2rnn error paths: one line on stderr, exit 1 (2 for usage); the output is untouched
    out = os.path.join(d, 'out.rnn')
    write(out, 'old')
    short_vocab = os.path.join(d, 'short.txt')
    write(short_vocab, ''.join(w + '\n' for w in WORDS[:-1]))
    dup_vocab = os.path.join(d, 'dup.txt')
    write(dup_vocab, ''.join(w + '\n' for w in WORDS[:-1] + ['the']))
    whole = os.path.join(d, 'whole.pt')
    torch.save(model, whole)             # what main.py's --save writes
    tied_sd = os.path.join(d, 'tied.pt')
    torch.save(make_model('GRU', 8, 8, 1, True, 8).state_dict(), tied_sd)
    cases = [
        ('vocabulary count != V', ['--vocab', short_vocab], 1, 'V = 40'),
        ('repeated word', ['--vocab', dup_vocab], 1, 'repeats'),
        ('--tied on an untied model', ['--tied'], 1, 'differs'),
        ('--model GRU on an LSTM', ['--model', 'GRU'], 1, 'LSTM'),
        ('not a torch file', ['--state-dict', eval_path], 1, 'torch.save'),
        ('a whole pickled model', ['--state-dict', whole], 1, 'state_dict()'),
        ('bad flag', ['--bogus'], 2, ''),
        ('--dropout 1', ['--dropout', '1'], 2, 'dropout'),
        ('missing output folder', ['--out', os.path.join(d, 'nope', 'x.rnn')], 1, 'does not exist'),
    ]
    for name, over, want_rc, want_msg in cases:
        args = {'--state-dict': sd_path, '--vocab': vocab_path, '--model': 'LSTM', '--out': out}
        flags = []
        it = iter(over)
        for a in it:
            if a in args:
                args[a] = next(it)
            else:
                flags.append(a)
        argv = [x for kv in args.items() for x in kv] + flags
        rc, so, err = torch2rnn(*argv, check=False)
        ok = (rc == want_rc and want_msg in err and open(out).read() == 'old'
              and len(err.strip().splitlines()) >= 1)
        if want_rc == 1:
            ok = ok and len(err.strip().splitlines()) == 1
        R.check(ok, 'torch2rnn: ' + name + ' -> exit %d' % want_rc,
                'exit %d: %s' % (rc, err.strip().splitlines()[-1] if err.strip() else ''))
    leftovers = [n for n in os.listdir(d) if '.tmp.' in n]
    R.check(not leftovers, 'no temporary files left', ' '.join(leftovers))
    # a tied model converted without --tied: a note, written untied (decoder.weight stored)
    rc, _, err = torch2rnn('--state-dict', tied_sd, '--vocab', vocab_path, '--model', 'GRU',
                           '--out', out, check=False)
    R.check(rc == 0 and 'looks tied' in err and not rnnfile.read(out).tied,
            'torch2rnn notes a tied-looking untied conversion', err.strip())
    return R


BINDING = (None, None)  # (the rnn module or None, the exception importing it raised): import_binding


def import_binding():
    """Imports the Python binding once, in the main thread, before the checks' threads start: two
    threads importing a package whose import fails (librnn.so.1 not found, e.g. in make BLAS=ref's
    tree) can be handed the other's partially initialised module, one without Model."""
    global BINDING
    sys.path.insert(0, 'bindings/python')
    try:
        import rnn
        BINDING = (rnn, None)
    except Exception as e:  # noqa: BLE001 (an ASan build's librnn.so does not load into python)
        BINDING = (None, e)


def binding(R):
    """The binding's module, or None after a check that its import may fail only in a build whose
    library python cannot load."""
    rnn, err = BINDING
    if rnn is None:
        R.check(bool(os.environ.get('RNN_SANFLAGS')), 'the Python binding loads librnn (or: a sanitizer '
                'build, whose librnn.so python cannot load)', str(err))
    return rnn


def adaptive():
    """The adaptive output layer's file (version 2, OUTP): the library (the Python binding, whose
    librnn is the build's) and tools/rnnfile.py write the same bytes and read each other's files,
    and refuse the same malformed ones."""
    R = Results()
    d = os.path.join(TMP, 'adaptive')
    os.makedirs(d)
    rnn = binding(R)
    if rnn is None:
        return R
    rng = np.random.default_rng(3)
    k = 0
    for nc in (1, 2, 3):
        for hb in (False, True):
            V, H = 40 + k, 16
            cuts = [5 + 9 * i for i in range(nc)]
            div = 2.0 if nc == 3 else (4.0, 2.5, 0.0)[k % 3]
            tag = 'adaptive %d cluster%s, head bias %s, div_value %g' % (nc, 's' if nc > 1 else '', 'on' if hb else 'off', div)
            a = rnn.Model(vocab=WORDS + ['w%d' % i for i in range(V - len(WORDS))], cell=('LSTM', 'GRU', 'RNN_TANH')[k % 3],
                          emb_size=8, hidden_size=H, num_layers=1 + k % 2, dropout=0.1, seed=50 + k,
                          adaptive_cutoffs=cuts, div_value=div, head_bias=hb)
            blk = a.param_block()[0]
            blk[:] = rng.standard_normal(blk.shape).astype(np.float32)
            lib_path = os.path.join(d, 'lib%d.rnn' % k)
            a.save(lib_path)
            raw = open(lib_path, 'rb').read()
            f = rnnfile.read(lib_path)
            ps = a.params()
            same = (f.cutoffs == cuts and f.div_value == (div or 4.0) and f.head_bias == hb
                    and [n for n, _ in f.params] == list(ps)
                    and all(np.array_equal(x, ps[n].data.reshape(x.shape)) for n, x in f.params))
            R.check(same, tag + ': rnnfile.read of the library\'s file', f.describe())
            R.check(rnnfile.encode(f) == raw, tag + ': rnnfile.encode gives the library\'s bytes')
            # rnnfile writes one with other values: the library loads exactly them
            for i, (n, x) in enumerate(f.params):
                f.params[i] = (n, (x * 0.5 + 0.25).astype(np.float32))
            py_path = os.path.join(d, 'py%d.rnn' % k)
            rnnfile.write(py_path, f)
            b = rnn.Model.load(py_path)
            pb = b.params()
            R.check(b.config == a.config and all(np.array_equal(x, pb[n].data.reshape(x.shape)) for n, x in f.params)
                    and b.to_bytes() == open(py_path, 'rb').read(),
                    tag + ': the library loads rnnfile\'s file (and saves the same bytes)')
            _, out, _ = run([RNNLM, 'info', '--checkpoint', py_path, '--json'])
            j = json.loads(out)
            R.check(j['format_version'] == 2 and j['output'] == 'adaptive' and j['cutoffs'] == cuts
                    and j['head_bias'] == hb and j['parameters'] == sum(x.size for _, x in f.params),
                    tag + ': rnnlm info of rnnfile\'s file', out.strip()[:300])
            k += 1
    # malformed or misplaced OUTP: refused by both readers; a few valid variations accepted by both
    base = open(os.path.join(d, 'lib3.rnn'), 'rb').read()   # 2 clusters, head bias

    def sections(data):
        out, pos = [], 16
        while pos < len(data):
            (ln,) = struct.unpack_from('<Q', data, pos + 4)
            out.append([data[pos:pos + 4], bytearray(data[pos + 12:pos + 12 + ln])])
            pos += 16 + ln
        return out

    def build(secs, version=2):
        return b'RNNMODEL' + struct.pack('<II', version, 0) + b''.join(
            rnnfile._section(bytes(t), bytes(p)) for t, p in secs)

    def outp(secs):
        return [s for s in secs if s[0] == b'OUTP'][0][1]

    def with_field(i, v, fmt='<I'):
        secs = sections(base)
        struct.pack_into(fmt, outp(secs), 4 * i, v)
        return build(secs)

    def moved(f):
        secs = sections(base)
        f(secs)
        return build(secs)

    def resized(n):
        secs = sections(base)
        p = outp(secs)
        del p[n:]
        p.extend(b'\0' * (n - len(p)))
        return build(secs)

    o = [s[0] for s in sections(base)].index(b'OUTP')
    bad = {
        'kind 0': with_field(0, 0), 'kind 2': with_field(0, 2), 'no cutoffs': with_field(1, 0),
        '9 cutoffs': with_field(1, 9), '1 cutoff in a payload of 2': with_field(1, 1),
        'cutoff 0': with_field(2, 0), 'equal cutoffs': with_field(2, 14), 'cutoff V': with_field(3, 43),
        'cutoff 2^31': with_field(3, 1 << 31), 'div_value NaN': with_field(4, float('nan'), '<f'),
        'div_value -1': with_field(4, -1.0, '<f'), 'div_value inf': with_field(4, float('inf'), '<f'),
        'div_value 64 (0 units)': with_field(4, 64.0, '<f'), 'div_value 2 (shapes differ)': with_field(4, 2.0, '<f'),
        'head_bias 0 (a bias in PARM)': with_field(5, 0), 'head_bias 2^31': with_field(5, 1 << 31),
        'OUTP truncated': resized(20), 'OUTP empty': resized(0), 'OUTP too long': resized(52),
        'OUTP twice': moved(lambda s: s.insert(o, [b'OUTP', bytearray(outp(s))])),
        'OUTP after PARM': moved(lambda s: s.insert(len(s) - 1, s.pop(o))),
        'OUTP before CONF': moved(lambda s: s.insert(0, s.pop(o))),
        'no OUTP in version 2': moved(lambda s: s.pop(o)),
        'tied adaptive': moved(lambda s: struct.pack_into('<II', s[0][1], 8, 16, 16) or
                               struct.pack_into('<I', s[0][1], 20, 1)),
    }
    secs = sections(base)
    bad['OUTP in version 1'] = build(secs, version=1)
    bad['version 1 without OUTP (adaptive tensors)'] = build([s for s in secs if s[0] != b'OUTP'], version=1)
    bad['version 3'] = build(secs, version=3)
    good = {'the library\'s file': base,
            'an unknown section before OUTP': moved(lambda s: s.insert(o, [b'XTRA', bytearray(b'xyz')])),
            'div_value 0 (4)': with_field(4, 0.0, '<f')}
    for name, data in list(bad.items()) + list(good.items()):
        want = name not in bad
        try:
            rnnfile.decode(data)
            py_ok, py_msg = True, ''
        except rnnfile.FormatError as e:
            py_ok, py_msg = False, str(e)
        try:
            rnn.Model.from_bytes(data).close()
            lib_ok, lib_msg = True, ''
        except rnn.RnnError as e:
            lib_ok, lib_msg = (False if e.code == rnn.ERR_FORMAT else 'status %d' % e.code), str(e)
        R.check(py_ok is want and lib_ok is want, 'OUTP: %s: %s by rnnfile and the library'
                % (name, 'accepted' if want else 'refused'),
                'rnnfile: %s; librnn: %s' % (py_msg or 'loads', lib_msg or 'loads'))
    return R


# ---- adaptive models through the converters ---------------------------------------------------
def pytorch_doc_block(marker):
    """The one ```python block of docs/PYTORCH.md that contains marker (the documented code is the
    tested code)."""
    doc = open('docs/PYTORCH.md', encoding='utf8').read()
    hits = [b for b in re.findall(r'```python\n(.*?)```', doc, re.S) if marker in b]
    if len(hits) != 1:
        raise RuntimeError('docs/PYTORCH.md has %d ```python blocks with %r (expected 1)' % (len(hits), marker))
    return hits[0]


def doc_adaptive_class():
    ns = {'__name__': 'pytorch_md'}
    exec(compile(pytorch_doc_block('class AdaptiveRNNModel('), 'docs/PYTORCH.md', 'exec'), ns)
    return ns['AdaptiveRNNModel']


def make_adaptive(cls, cell, E, H, L, cuts, div, hb, seed):
    model = cls(cell, V, E, H, L, cuts, div_value=div, head_bias=hb, dropout=0.2)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            s = 1.0 if not name.startswith('rnn.') else 1.5 / math.sqrt(H)
            p.copy_(torch.rand(p.shape, generator=g) * 2 * s - s)
    return model


def torch_evaluate_adaptive(model, ids, bsz=10, bptt=35):
    """main.py's evaluate() with PYTORCH.md's loss: decoder(output.view(-1, nhid), targets).loss."""
    return torch_evaluate(model, ids, bsz, bptt,
                          criterion=lambda output, targets: model.decoder(output.view(-1, model.nhid), targets).loss)


ADAPTIVE_TOL = 1e-5   # issue 14's tolerance for loss and log_prob
# (cell, layers, cutoffs, div_value (None: the flag left out, 4), head_bias): 1-3 clusters, head
# bias on and off, each with LSTM and GRU (and one RNN_RELU)
ADAPTIVE_CASES = [('LSTM', 2, [10], None, False), ('GRU', 1, [10], 4.0, True),
                  ('GRU', 2, [6, 20], 2.5, False), ('LSTM', 1, [6, 20], None, True),
                  ('LSTM', 2, [4, 12, 25], 2.0, False), ('GRU', 1, [4, 12, 25], 2.0, True),
                  ('RNN_RELU', 1, [6, 20], 2.0, True)]


def adaptive_convert():
    """docs/PYTORCH.md's AdaptiveRNNModel through torch2rnn and rnn2torch: exact round trips;
    rnnlm eval and the Python binding against its .loss and log_prob(); the flags' errors."""
    R = Results()
    d = os.path.join(TMP, 'adaptive-convert')
    os.makedirs(d)
    Model = doc_adaptive_class()
    rnn = binding(R)
    vocab_path = os.path.join(d, 'vocab.txt')
    write(vocab_path, ''.join(w + '\n' for w in WORDS))
    E = 10
    H = 16
    paths = {}
    for k, (cell, L, cuts, div, hb) in enumerate(ADAPTIVE_CASES):
        dv = 4.0 if div is None else div
        tag = 'adaptive %s L=%d cutoffs %s div_value %g head bias %s' % (
            cell, L, ','.join(map(str, cuts)), dv, 'on' if hb else 'off')
        try:
            model = make_adaptive(Model, cell, E, H, L, cuts, dv, hb, 300 + k)
            sd0 = model.state_dict()
            sd_path, rnn_path = os.path.join(d, 'sd%d.pt' % k), os.path.join(d, 'm%d.rnn' % k)
            torch.save(sd0, sd_path)
            flags = ['--adaptive-cutoffs', ','.join(map(str, cuts))] + \
                (['--div-value', repr(div)] if div is not None else []) + (['--head-bias'] if hb else [])
            torch2rnn('--state-dict', sd_path, '--vocab', vocab_path, '--model', cell, *flags,
                      '--out', rnn_path)
            paths[k] = (sd_path, rnn_path)
            f = rnnfile.read(rnn_path)
            R.check((f.cell, f.V, f.E, f.H, f.L, f.tied, f.cutoffs, f.div_value, f.head_bias)
                    == (cell, V, E, H, L, False, cuts, dv, hb), tag + ': the file\'s configuration',
                    f.describe())
            # back: the settings from the file (the flags given in odd cases, checked)
            back = os.path.join(d, 'back%d.pt' % k)
            _, out, _ = run([PY, 'tools/rnn2torch.py', '--checkpoint', rnn_path, '--state-dict', back,
                             '--vocab', os.path.join(d, 'back%d.txt' % k)] + (flags if k % 2 else []))
            sd1 = torch.load(back)
            bad = [n for n in sd0 if n not in sd1 or sd1[n].dtype != sd0[n].dtype
                   or not torch.equal(sd1[n], sd0[n])]
            R.check(list(sd1) == list(sd0) and not bad, tag + ': round trip tensors',
                    'keys %s, differing %s' % (list(sd1), bad) if bad or list(sd1) != list(sd0)
                    else '%d tensors identical' % len(sd0))
            R.check(open(os.path.join(d, 'back%d.txt' % k), 'rb').read() == open(vocab_path, 'rb').read(),
                    tag + ': round trip vocabulary')
            again = os.path.join(d, 'again%d.rnn' % k)
            torch2rnn('--state-dict', back, '--vocab', os.path.join(d, 'back%d.txt' % k), '--model', cell,
                      *flags, '--out', again)
            R.check(open(again, 'rb').read() == open(rnn_path, 'rb').read(),
                    tag + ': torch2rnn of rnn2torch\'s output == the file (byte for byte)')
            # rnn2torch's last line builds PYTORCH.md's class and loads the state_dict into it
            ns = {'AdaptiveRNNModel': Model, 'torch': torch}
            try:
                ret = eval(out.strip().splitlines()[-1], ns)
                ok, why = not ret.missing_keys and not ret.unexpected_keys, str(ret)
            except Exception as e:  # noqa: BLE001
                ok, why = False, '%s: %s' % (type(e).__name__, e)
            R.check(ok, tag + ': rnn2torch\'s last line loads it into AdaptiveRNNModel',
                    why if not ok else out.strip().splitlines()[-1][:160])

            # rnnlm eval (main.py's evaluate with .loss)
            rng = random.Random(70 + k)
            eval_path = os.path.join(d, 'eval%d.txt' % k)
            write(eval_path, gen_text(rng, 421))
            t_loss, t_tokens = torch_evaluate_adaptive(model, tokenize(eval_path))
            _, out, _ = run([RNNLM, 'eval', '--checkpoint', rnn_path, '--data', eval_path, '--json'])
            j = json.loads(out.strip().splitlines()[-1])
            e = abs(j['loss'] - t_loss) / t_loss
            R.check(e <= ADAPTIVE_TOL and j['tokens'] == t_tokens, tag + ': rnnlm eval loss == .loss',
                    'rnnlm %.8f torch %.8f rel.diff %.2e, tokens %s / %d' % (j['loss'], t_loss, e, j['tokens'], t_tokens))

            # the Python binding: loss and log-probabilities over two chunks (the state carried)
            if rnn is not None:
                B, T = 3, 6
                ids = torch.tensor([rng.randrange(V) for _ in range(B * (2 * T + 1))])
                grid = ids.view(B, -1)                      # librnn's [batch][steps]
                lm = rnn.Model.load(rnn_path)
                lm.reset_state(B)
                model.eval()
                hidden = model.init_hidden(B)
                worst_loss = worst_lp = 0.0
                with torch.no_grad():
                    for c in range(2):
                        x, y = grid[:, c * T:(c + 1) * T], grid[:, c * T + 1:(c + 1) * T + 1]
                        loss, lp = lm.evaluate(x.numpy().astype(np.int32), y.numpy().astype(np.int32),
                                               logprobs=True)
                        output, hidden = model(x.t().contiguous(), hidden)   # time-major
                        t_loss = model.decoder(output.view(-1, model.nhid), y.t().reshape(-1)).loss.item()
                        t_lp = model.decoder.log_prob(output.view(-1, model.nhid)).view(T, B, V).permute(1, 0, 2)
                        worst_loss = max(worst_loss, abs(loss - t_loss) / abs(t_loss))
                        worst_lp = max(worst_lp, rel_err(np.asarray(lp).reshape(B, T, V), t_lp.numpy()))
                lm.close()
                R.check(worst_loss <= ADAPTIVE_TOL and worst_lp <= ADAPTIVE_TOL,
                        tag + ': Python binding loss == .loss, log-probabilities == log_prob()',
                        'rel.diff loss %.2e, log_prob %.2e (max |diff| / max |value|)' % (worst_loss, worst_lp))
        except Exception as e:  # noqa: BLE001
            R.check(False, tag, '%s: %s' % (type(e).__name__, str(e)[:400]))

    # flags that contradict the shapes (one line on stderr, exit 1; usage errors exit 2); the
    # output is left as it was
    out = os.path.join(d, 'out.rnn')
    write(out, 'old')
    sd_bias, _ = paths.get(3, (None, None))        # LSTM L=1, cutoffs 6,20, div 4, head bias
    sd_plain, rnn_plain = paths.get(2, (None, None))   # GRU L=2, cutoffs 6,20, div 2.5, no head bias
    full_sd = os.path.join(d, 'full.pt')
    torch.save(make_model('LSTM', E, H, 1, False, 9).state_dict(), full_sd)
    cases = [
        ('no --adaptive-cutoffs for an adaptive decoder', sd_bias, [], 1,
         '--adaptive-cutoffs 6,20 [--div-value D] --head-bias'),
        ('--tied without --adaptive-cutoffs', sd_bias, ['--tied'], 1, 'AdaptiveLogSoftmaxWithLoss'),
        ('other cutoffs (6,21)', sd_bias, ['--adaptive-cutoffs', '6,21', '--head-bias'], 1,
         'its shapes say --adaptive-cutoffs 6,20 --head-bias'),
        ('other head size (7,20)', sd_bias, ['--adaptive-cutoffs', '7,20', '--head-bias'], 1,
         'decoder.head.weight has 8 rows, expected 9'),
        ('fewer clusters (6)', sd_bias, ['--adaptive-cutoffs', '6', '--head-bias'], 1,
         'makes 1 cluster, but the decoder has 2'),
        ('more clusters (6,20,30)', sd_bias, ['--adaptive-cutoffs', '6,20,30', '--head-bias'], 1,
         'makes 3 clusters, but the decoder has 2'),
        ('a cutoff >= V', sd_bias, ['--adaptive-cutoffs', '6,40', '--head-bias'], 1, 'outside [1, V - 1 = 39]'),
        ('no --head-bias for a head with a bias', sd_bias, ['--adaptive-cutoffs', '6,20'], 1, 'pass --head-bias'),
        ('--head-bias for a head without one', sd_plain, ['--adaptive-cutoffs', '6,20', '--div-value', '2.5',
                                                          '--head-bias'], 1, 'leave out --head-bias'),
        ('--div-value that gives other projections', sd_plain, ['--adaptive-cutoffs', '6,20'], 1,
         'decoder.tail.0.0.weight has 6 rows, but --div-value 4 gives cluster 0 a projection of '
         'floor(H 16 / 4^1) = 4 units'),
        ('--div-value whose projection has 0 units', sd_plain, ['--adaptive-cutoffs', '6,20', '--div-value', '17'],
         1, 'has 0 units'),
        ('--adaptive-cutoffs for a full softmax decoder', full_sd, ['--adaptive-cutoffs', '6,20'], 1,
         'nn.Linear (decoder.weight, decoder.bias)'),
        ('a tied adaptive model (--tied --adaptive-cutoffs)', sd_bias,
         ['--tied', '--adaptive-cutoffs', '6,20', '--head-bias'], 2, 'cannot be tied'),
        ('--div-value without --adaptive-cutoffs', full_sd, ['--div-value', '2'], 2, 'need --adaptive-cutoffs'),
        ('--head-bias without --adaptive-cutoffs', full_sd, ['--head-bias'], 2, 'need --adaptive-cutoffs'),
        ('decreasing cutoffs', sd_bias, ['--adaptive-cutoffs', '20,6'], 2, 'strictly increasing'),
        ('--div-value 0', sd_bias, ['--adaptive-cutoffs', '6,20', '--div-value', '0'], 2, '> 0'),
    ]
    for name, sd_path, flags, want_rc, want_msg in cases:
        if sd_path is None:
            R.check(False, 'torch2rnn: ' + name, 'its model was not converted (see above)')
            continue
        model_flag = 'GRU' if sd_path == sd_plain else 'LSTM'
        rc, _, err = torch2rnn('--state-dict', sd_path, '--vocab', vocab_path, '--model', model_flag,
                               *flags, '--out', out, check=False)
        lines = err.strip().splitlines()
        ok = rc == want_rc and want_msg in err and open(out).read() == 'old' and lines
        if want_rc == 1:
            ok = ok and len(lines) == 1
        R.check(bool(ok), 'torch2rnn: %s -> exit %d' % (name, want_rc),
                'exit %d: %s' % (rc, lines[-1] if lines else ''))
    # rnn2torch: the flags, when given, are checked against the file
    full_rnn = os.path.join(d, 'full.rnn')
    torch2rnn('--state-dict', full_sd, '--vocab', vocab_path, '--model', 'LSTM', '--out', full_rnn)
    cases = [('other cutoffs', rnn_plain, ['--adaptive-cutoffs', '6,21'], 'differs from the file\'s cutoffs 6,20'),
             ('other --div-value', rnn_plain, ['--div-value', '4'], 'differs from the file\'s div_value 2.5'),
             ('--head-bias for a head without one', rnn_plain, ['--head-bias'], 'head_bias=False'),
             ('--adaptive-cutoffs for a full softmax file', full_rnn, ['--adaptive-cutoffs', '6,20'],
              'the full softmax output layer')]
    sd_out = os.path.join(d, 'x.pt')
    for name, path, flags, want_msg in cases:
        if path is None:
            R.check(False, 'rnn2torch: ' + name, 'its model was not converted (see above)')
            continue
        rc, _, err = rnn2torch('--checkpoint', path, '--state-dict', sd_out, *flags, check=False)
        lines = err.strip().splitlines()
        R.check(rc == 1 and len(lines) == 1 and want_msg in err and not os.path.exists(sd_out),
                'rnn2torch: %s -> exit 1' % name, 'exit %d: %s' % (rc, lines[-1] if lines else ''))
    rc, _, err = rnn2torch('--checkpoint', rnn_plain, '--state-dict', sd_out, '--adaptive-cutoffs', '6,20',
                           '--div-value', '2.5', check=False) if rnn_plain else (None, '', '')
    R.check(rc == 0, 'rnn2torch: flags that agree with the file -> exit 0', err.strip())
    leftovers = [n for n in os.listdir(d) if '.tmp.' in n]
    R.check(not leftovers, 'adaptive: no temporary files left', ' '.join(leftovers))

    # PYTORCH.md's frequency order: on a corpus, as it says; and the vocabulary of
    # `rnnlm train --adaptive-cutoffs` is in that order (once rnnlm has the flag)
    ns = {'__name__': 'pytorch_md'}
    saved = sys.modules.get('data')
    import torch_main
    sys.modules['data'] = torch_main          # data.py's Corpus
    try:
        exec(compile(pytorch_doc_block('def frequency_order('), 'docs/PYTORCH.md', 'exec'), ns)
    finally:
        if saved is None:
            del sys.modules['data']
        else:
            sys.modules['data'] = saved
    corpus_dir = os.path.join(d, 'corpus')
    os.makedirs(corpus_dir)
    write(os.path.join(corpus_dir, 'train.txt'), 'b a c\nc b d\nc\n')     # c 3, b 2, <eos> 3, a 1, d 1
    write(os.path.join(corpus_dir, 'valid.txt'), 'e a\nf\n')
    write(os.path.join(corpus_dir, 'test.txt'), 'f g b\n')
    want = ['c', '<eos>', 'b', 'a', 'd', 'e', 'f', 'g']   # by count, ties by first appearance; then the rest
    corpus = torch_main.Corpus(corpus_dir)
    old_valid = [corpus.dictionary.idx2word[i] for i in corpus.valid.tolist()]
    ns['reorder_by_frequency'](corpus, corpus_dir)
    R.check(corpus.dictionary.idx2word == want and [want[i] for i in corpus.valid.tolist()] == old_valid
            and all(corpus.dictionary.word2idx[w] == i for i, w in enumerate(want)),
            'PYTORCH.md\'s reorder_by_frequency: ids by train.txt\'s counts, then first appearance',
            'got %s' % corpus.dictionary.idx2word)
    _, out, err = run([RNNLM, 'train', '--help'], check=False)
    if '--adaptive-cutoffs' in out + err:
        big = os.path.join(d, 'corpus-big')
        os.makedirs(big)
        rng = random.Random(77)
        files = [os.path.join(big, n) for n in ('train.txt', 'valid.txt', 'test.txt')]
        for path, n in zip(files, (300, 80, 80)):
            write(path, gen_text(rng, n))
        want = ns['frequency_order'](files)
        m_path = os.path.join(d, 'freq.rnn')
        run([RNNLM, 'train', '--data', big, '--adaptive-cutoffs', '5,15', '--emsize', '4', '--nhid', '16',
             '--nlayers', '1', '--epochs', '1', '--dry-run', '--save', m_path])
        got = [w.decode() for w in rnnfile.read(m_path).vocab]
        R.check(got == want, 'rnnlm train --adaptive-cutoffs numbers words as PYTORCH.md says',
                'got %s, PYTORCH.md %s' % (got[:12], want[:12]))
    else:
        R.lines.append('SKIP rnnlm train --adaptive-cutoffs: this rnnlm has no such flag (yet)')
    return R


def main():
    t0 = time.time()
    cases = [(i, cell, tied) for i, (cell, tied) in
             enumerate((c, t) for c in ('RNN_TANH', 'RNN_RELU', 'LSTM', 'GRU') for t in (False, True))]
    import_binding()
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        futs = [ex.submit(run_case, *c) for c in cases]
        fm = ex.submit(misc)
        fa = ex.submit(adaptive)
        fc = ex.submit(adaptive_convert)
        results = [f.result() for f in futs]
        try:
            mres = fm.result()
        except Exception as e:  # noqa: BLE001
            mres = Results()
            mres.check(False, 'format and error paths', '%s: %s' % (type(e).__name__, e))
        try:
            ares = fa.result()
        except Exception as e:  # noqa: BLE001
            ares = Results()
            ares.check(False, 'adaptive output layer files', '%s: %s' % (type(e).__name__, e))
        try:
            cres = fc.result()
        except Exception as e:  # noqa: BLE001
            cres = Results()
            cres.check(False, 'adaptive models through the converters', '%s: %s' % (type(e).__name__, e))
    for R, *_ in results:
        print('\n'.join(R.lines))
    print('\n'.join(mres.lines))
    print('\n'.join(ares.lines))
    print('\n'.join(cres.lines))
    print('summary (max over tied/untied): cell       eval ppl rel.diff  5-step weights  5-step change')
    for cell in ('RNN_TANH', 'RNN_RELU', 'LSTM', 'GRU'):
        rows = [r for (i, c, t), r in zip(cases, results) if c == cell and r[1] is not None]
        if rows:
            print('summary: %-10s %18.2e %15.2e %14.2e' % (cell, max(r[1] for r in rows),
                                                          max(r[2] for r in rows),
                                                          max(r[3] for r in rows)))
    print('time %.1f s' % (time.time() - t0))


main()
PYEOF

( "$PY" "$tmp/driver.py" "$tmp" "$RNNLM"; echo $? > "$tmp/rc" ) 2>&1 | tee "$tmp/log"
rc=$(cat "$tmp/rc" 2>/dev/null || echo 1)
pass=$(grep -c '^PASS' "$tmp/log")
fail=$(grep -c '^FAIL' "$tmp/log")
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
    echo "FAIL: the test driver exited with status $rc"
    fail=1
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
