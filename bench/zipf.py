#!/usr/bin/env python3
"""zipf.py -- how the cost of training grows with the vocabulary: full against adaptive softmax,
librnn against PyTorch, on Zipf-distributed corpora (`make bench-vocab` = `sh bench/run.sh vocab`;
see bench/README.md). Run with Debian's python3-torch: /usr/bin/python3.

  zipf.py [--bench build/bench/bench] [--out build/bench] [--quick] [--vocabs 10000,33278,...]
          [--runs N] [--warmup W] [--train-batches N] [--threads 1,2] [--rule geometric|proportional]
          [--train-words N] [--seed S] [--exponent S] [--python /usr/bin/python3]
          [--png bench/vocab_scan.png] [--report-only]

Corpora (written under OUT/zipf/V<V>/, seeded, rewritten only when their settings change; nothing
downloaded): V - 1 words "w0".."w{V-2}" plus data.py's "<eos>", so that the vocabulary data.py
builds has exactly V words. Word k (0-based rank) is drawn with probability proportional to
1/(k+1)^exponent (exponent 1.0: Zipf's law, close to English text), lines of 5-39 words.
train.txt holds --train-words words (default 1,000,000; plus one <eos> a line), valid.txt and
test.txt 50,000 each; the words that the draws never produced (many at V = 250k) are listed once in
valid.txt, so that they are in the vocabulary but not in the training text (they get the last ids,
in the last cluster).

Measurement: bench/bench.c `run` (ours) and bench/torch_ref.py `run` (PyTorch) with --eval-chunks 0
--gen-tokens 0: main.py's training step (batch 20, bptt 35; W warm-up batches, then N timed),
training tokens/s and the peak resident memory (VmHWM right after the training loop); every
measurement its own process, OPENBLAS_NUM_THREADS=1 (ours: rnn_model_set_threads(T); PyTorch:
torch.set_num_threads(T)); word ids by training-set frequency on both sides and for both outputs.
Rounds outermost, interleaved ours/PyTorch; the table gives medians.

Cutoffs (--rule): geometric (default): a head of 2,000 words and clusters each 5 times the one
before, 2000, 10000, 50000, 250000, ..., those below V - 1 (V = 33,278: 2000,10000, the issue's
WikiText-2 setting; V = 10k: 2000; V = 100k and 250k: 2000,10000,50000), so that the head's cost is
the same at every V; proportional: [round(0.0601 V), round(0.3005 V)], WikiText-2's 2000,10000
scaled with V (the head grows with V). div_value 4, no head bias.

Writes OUT/vocab_raw.jsonl (one JSON line per measurement), OUT/vocab.md (the table, also
printed) and, when matplotlib can be imported, the plot --png (default bench/vocab_scan.png, beside
bench/README.md: training tokens/s and peak memory against V, log-log, full and adaptive, ours and
PyTorch's). Without matplotlib the scan still runs and says how to install it (Debian:
apt-get install -y python3-matplotlib; for the bench only). --report-only rewrites the table and
the plot from OUT/vocab_raw.jsonl without measuring.
"""
import argparse, json, math, os, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def cutoffs_for(V, rule):
    if rule == 'geometric':
        c, out = 2000, []
        while c < V - 1:
            out.append(c)
            c *= 5
        return out
    return [round(0.0601 * V), round(0.3005 * V)]


def write_corpus(d, V, train_words, seed, exponent):
    """Writes d/{train,valid,test}.txt unless d/settings.json says they are already these."""
    settings = {'V': V, 'train_words': train_words, 'seed': seed, 'exponent': exponent, 'version': 1}
    stamp = os.path.join(d, 'settings.json')
    try:
        if json.load(open(stamp)) == settings:
            return
    except (OSError, ValueError):
        pass
    import numpy as np
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng([seed, V])
    n = V - 1  # the words w0..w{V-2}; <eos> is the V-th
    p = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    p /= p.sum()
    seen = np.zeros(n, dtype=bool)

    def text(words):
        ids = rng.choice(n, size=words, p=p)
        seen[ids] = True
        lens = []
        left = words
        while left > 0:
            k = min(int(rng.integers(5, 40)), left)
            lens.append(k)
            left -= k
        lines, i = [], 0
        for k in lens:
            lines.append(' '.join('w%d' % w for w in ids[i:i + k]))
            i += k
        return lines

    train = text(train_words)
    valid = text(50000)
    test = text(50000)
    unseen = np.nonzero(~seen)[0]
    for i in range(0, len(unseen), 30):  # every word in the vocabulary, none in train.txt
        valid.append(' '.join('w%d' % w for w in unseen[i:i + 30]))
    for name, lines in (('train.txt', train), ('valid.txt', valid), ('test.txt', test)):
        with open(os.path.join(d, name), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    with open(stamp, 'w') as f:
        json.dump(settings, f)


def main():
    p = argparse.ArgumentParser(prog='zipf.py')
    p.add_argument('--bench', default=os.path.join(HERE, '..', 'build', 'bench', 'bench'))
    p.add_argument('--out', default=os.path.join(HERE, '..', 'build', 'bench'))
    p.add_argument('--quick', action='store_true', help='1 run, 1+2 batches (a smoke run)')
    p.add_argument('--vocabs', default='10000,33278,100000,250000')
    p.add_argument('--runs', type=int)
    p.add_argument('--warmup', type=int)
    p.add_argument('--train-batches', type=int)
    p.add_argument('--threads', default='1')
    p.add_argument('--rule', default='geometric', choices=['geometric', 'proportional'])
    p.add_argument('--train-words', type=int, default=1000000)
    p.add_argument('--seed', type=int, default=1111)
    p.add_argument('--exponent', type=float, default=1.0)
    p.add_argument('--python', default=os.environ.get('PYTHON', '/usr/bin/python3'))
    p.add_argument('--timeout', type=float, default=900, help='seconds per measurement')
    p.add_argument('--png', default=os.path.join(HERE, 'vocab_scan.png'), help='the plot (needs matplotlib)')
    p.add_argument('--report-only', action='store_true', help='table and plot from OUT/vocab_raw.jsonl, no runs')
    a = p.parse_args()
    if a.runs is None:
        a.runs = 1 if a.quick else 3
    if a.warmup is None:
        a.warmup = 1 if a.quick else 2
    if a.train_batches is None:
        a.train_batches = 2 if a.quick else 6
    vocabs = [int(v) for v in a.vocabs.split(',')]
    threads = [int(t) for t in a.threads.split(',')]
    os.makedirs(a.out, exist_ok=True)
    raw = os.path.join(a.out, 'vocab_raw.jsonl')
    t_start = time.time()
    if a.report_only:  # the settings of the run that wrote the raw file, for the table's header
        lines = [json.loads(l) for l in open(raw) if l.startswith('{')]
        meta = next((l for l in lines if l.get('kind') == 'meta'), {})
        recs = [l for l in lines if l.get('kind') != 'meta']
        for k in ('quick', 'runs', 'warmup', 'train_batches', 'rule', 'train_words', 'exponent', 'seed'):
            if k in meta:
                setattr(a, k, meta[k])
        vocabs = sorted({r['V'] for r in recs})
        threads = sorted({r['threads'] for r in recs})
        report(recs, vocabs, threads, a, os.path.join(a.out, 'vocab.md'), a.png, 0)
        return 0

    def log(msg):
        sys.stderr.write('bench-vocab: [%ds] %s\n' % (time.time() - t_start, msg))
        sys.stderr.flush()

    dirs = {}
    for V in vocabs:
        dirs[V] = os.path.join(a.out, 'zipf', 'V%d' % V)
        log('corpus V=%d (%d training words, exponent %g, seed %d) in %s' % (
            V, a.train_words, a.exponent, a.seed, dirs[V]))
        write_corpus(dirs[V], V, a.train_words, a.seed, a.exponent)

    recs = []
    failed = 0
    with open(raw, 'w') as out:
        out.write(json.dumps({'kind': 'meta', 'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
                              'cpu': cpu_name(), 'cores': os.cpu_count(), 'quick': a.quick, 'runs': a.runs,
                              'warmup': a.warmup, 'train_batches': a.train_batches, 'rule': a.rule,
                              'train_words': a.train_words, 'exponent': a.exponent, 'seed': a.seed,
                              'load_start': open('/proc/loadavg').read().split()[:3]}) + '\n')
        for r in range(1, a.runs + 1):
            for V in vocabs:
                cut = ','.join(str(c) for c in cutoffs_for(V, a.rule))
                for output in ('full', 'adaptive'):
                    for t in threads:
                        common = ['--data', dirs[V], '--warmup', str(a.warmup), '--train-batches', str(a.train_batches),
                                  '--eval-chunks', '0', '--gen-tokens', '0', '--threads', str(t), '--run', str(r),
                                  '--freq-order', '1', '--setting', 'OB=1', '--output', output]
                        if output == 'adaptive':
                            common += ['--cutoffs', cut, '--div-value', '4']
                        for impl, cmd in (('ours', [a.bench, 'run'] + common + ['--lib-threads', str(t)]),
                                          ('torch', [a.python, os.path.join(HERE, 'torch_ref.py'), 'run'] + common)):
                            log('run %d V=%d %s%s threads=%d %s' % (r, V, output, ' (' + cut + ')' if output ==
                                                                    'adaptive' else '', t, impl))
                            env = dict(os.environ, OPENBLAS_NUM_THREADS='1')
                            try:
                                pr = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, timeout=a.timeout,
                                                    universal_newlines=True)
                            except subprocess.TimeoutExpired:
                                log('TIMED OUT after %gs' % a.timeout)
                                failed = 1
                                continue
                            lines = [l for l in pr.stdout.splitlines() if l.startswith('{')]
                            if pr.returncode != 0 or not lines:
                                log('FAILED (exit %d)' % pr.returncode)
                                failed = 1
                            for l in lines:
                                rec = json.loads(l)
                                rec['V'] = V
                                recs.append(rec)
                                out.write(json.dumps(rec) + '\n')
                                out.flush()
    log('done; raw runs in %s' % raw)
    report(recs, vocabs, threads, a, os.path.join(a.out, 'vocab.md'), a.png, time.time() - t_start)
    return failed


def cpu_name():
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return '?'


def fmt(v):
    if v is None:
        return 'n/a'
    return '%.0f' % v if v >= 100 else '%.1f' % v


def report(recs, vocabs, threads, a, md, png, seconds):
    def med(impl, V, output, t, key):
        v = [r[key] for r in recs if r['impl'] == impl and r['V'] == V and r['output'] == output and
             r['threads'] == t and r.get(key) is not None]
        return (statistics.median(v), len(v)) if v else (None, 0)

    w = []
    w.append('# Training cost against the vocabulary: full and adaptive softmax, librnn and PyTorch')
    w.append('')
    w.append('%s; CPU: %s (%s cores); %s, %.0f s; Zipf corpora (exponent %g, seed %d, %d training words), the '
             'example\'s default LSTM (200/200, 2 layers, dropout 0.2), batch 20, bptt 35, %d+%d training batches '
             '(warm-up+timed) per run, OPENBLAS_NUM_THREADS=1; cutoffs by the %s rule (bench/zipf.py), div_value 4. '
             'Medians of the runs; peak memory = VmHWM after training (MiB).' % (
                 time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), cpu_name(), os.cpu_count(),
                 'quick run (smoke test, not a measurement)' if a.quick else 'full run', seconds, a.exponent, a.seed,
                 a.train_words, a.warmup, a.train_batches, a.rule))
    w.append('')
    w.append('| V | threads | output | cutoffs | ours tokens/s | PyTorch tokens/s | ours/PyTorch | ours peak MiB | '
             'PyTorch peak MiB | adaptive/full (ours, PyTorch) | vs V = %d (ours, PyTorch) | runs (ours/PyTorch) |'
             % vocabs[0])
    w.append('|---:|---:|---|---|---:|---:|---:|---:|---:|---|---|---|')
    for t in threads:
        for V in vocabs:
            for output in ('full', 'adaptive'):
                o, no = med('ours', V, output, t, 'train_tok_s')
                p, np_ = med('torch', V, output, t, 'train_tok_s')
                om, _ = med('ours', V, output, t, 'peak_rss_mb')
                pm, _ = med('torch', V, output, t, 'peak_rss_mb')
                rel = 'n/a'
                if output == 'adaptive':
                    of, _ = med('ours', V, 'full', t, 'train_tok_s')
                    pf, _ = med('torch', V, 'full', t, 'train_tok_s')
                    rel = '%s, %s' % ('%.2f' % (o / of) if o and of else 'n/a', '%.2f' % (p / pf) if p and pf else 'n/a')
                o0, _ = med('ours', vocabs[0], output, t, 'train_tok_s')
                p0, _ = med('torch', vocabs[0], output, t, 'train_tok_s')
                w.append('| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |' % (
                    V, t, output, ','.join(str(c) for c in cutoffs_for(V, a.rule)) if output == 'adaptive' else '',
                    fmt(o), fmt(p), '%.2f' % (o / p) if o and p else 'n/a', fmt(om), fmt(pm), rel,
                    '%s, %s' % ('%.2f' % (o / o0) if o and o0 else 'n/a', '%.2f' % (p / p0) if p and p0 else 'n/a'),
                    no, np_))
    w.append('')
    for V in vocabs:  # both sides must have numbered the words alike (bench.c's ids_check)
        checks = {r.get('ids_check') for r in recs if r['V'] == V}
        if len(checks) > 1:
            w.append('WARNING: V = %d: ours and PyTorch numbered the words differently (ids_check %s).' % (
                V, ', '.join(str(x) for x in sorted(checks, key=str))))
            w.append('')
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        w.append('No plot: matplotlib cannot be imported by %s (the table above is the result); for the plot '
                 '(bench only): apt-get install -y python3-matplotlib' % sys.executable)
        w.append('')
        sys.stderr.write('bench-vocab: no plot: matplotlib cannot be imported by %s; to get %s:\n'
                         '    apt-get install -y python3-matplotlib\n' % (sys.executable, png))
        plt = None
    if plt is not None:
        fig, ax = plt.subplots(1, 2, figsize=(11, 4.4))
        # colour: librnn / PyTorch; line: full (solid) / adaptive (dashed); marker: thread count
        for impl, name, colour in (('ours', 'librnn', 'tab:blue'), ('torch', 'PyTorch', 'tab:orange')):
            for output, style in (('full', '-'), ('adaptive', '--')):
                for t, marker in zip(threads, 'osD^v'):
                    xs = [V for V in vocabs if med(impl, V, output, t, 'train_tok_s')[0]]
                    if not xs:
                        continue
                    lab = '%s %s%s' % (name, output, '' if len(threads) == 1 else ', %d threads' % t)
                    for x, key in ((ax[0], 'train_tok_s'), (ax[1], 'peak_rss_mb')):
                        x.plot(xs, [med(impl, V, output, t, key)[0] for V in xs], style, color=colour, marker=marker,
                               label=lab)
        for x, title in ((ax[0], 'training tokens/s (higher is better)'), (ax[1], 'peak memory, MiB (lower is better)')):
            x.set_xscale('log')
            x.set_yscale('log')
            x.set_xlabel('vocabulary size V (Zipf corpus)')
            x.set_xticks(vocabs)
            x.set_xticklabels(['%dk' % round(V / 1000) for V in vocabs])
            x.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            x.set_title(title, fontsize=10)
            x.grid(True, which='both', alpha=0.3)
        ax[0].legend(fontsize=8)
        fig.suptitle('Training cost against the vocabulary: default LSTM, batch 20, bptt 35, %s' % (
            'quick run (not a measurement)' if a.quick else '%d run(s), medians' % a.runs), fontsize=10)
        fig.tight_layout()
        fig.savefig(png, dpi=100)
        w.append('Plot: %s' % png)
        w.append('')
    text = '\n'.join(w) + '\n'
    with open(md, 'w') as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == '__main__':
    sys.exit(main())
