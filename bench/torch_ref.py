#!/usr/bin/env python3
"""torch_ref.py -- PyTorch's side of the librnn benchmark (bench/bench.c is ours, bench/run.sh runs
both; see bench/README.md). Run with Debian's python3-torch: /usr/bin/python3.

  torch_ref.py run [--data DIR] [--cell LSTM|GRU|RNN_TANH] [--threads N] [--train-batches N]
                   [--warmup W] [--eval-chunks N] [--gen-tokens N] [--run I] [--setting S]
                   [--max-seconds S] [--output full|adaptive] [--cutoffs C1,C2,...] [--div-value D]
                   [--head-bias 0|1] [--freq-order 0|1]
      One process = one measurement of every figure, printed as one JSON line, with the model,
      corpus, batching and loops of bench/torch_main.py (PyTorch's examples/word_language_model):
      training tokens/s (main.py's train() step), peak RSS (VmHWM right after the training loop),
      evaluation tokens/s (main.py's evaluate(), batch 10, on valid.txt) and generation tokens/s
      (generate.py's loop, batch 1, temperature 1). torch.set_num_threads(N); the OpenBLAS thread
      count is the environment's OPENBLAS_NUM_THREADS (run.sh tries 1 and N). --max-seconds S:
      evaluation and generation each stop after S seconds (at least 3 chunks / 20 tokens);
      --eval-chunks 0 / --gen-tokens 0 skip them. --output adaptive: torch_main.AdaptiveRNNModel
      (the decoder nn.AdaptiveLogSoftmaxWithLoss(200, V, cutoffs, div_value, head_bias) after the
      output dropout), word ids by descending training-set frequency (torch_main.order_by_frequency;
      --freq-order 1 is the default with adaptive), training and evaluation through the module's
      .loss, generation through log_prob().exp() and torch.multinomial (generate.py's loop).

  torch_ref.py report RAW.jsonl OUT.md [--quick]
      Aggregates raw runs (medians) into the results table; needs no torch.
"""
import json, math, os, statistics, sys, time


def vmhwm_mb():
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cmd_run(argv):
    import argparse
    p = argparse.ArgumentParser(prog='torch_ref.py run')
    p.add_argument('--data', default='../shared/data/wikitext-2')
    p.add_argument('--cell', default='LSTM')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--train-batches', type=int, default=30)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--eval-chunks', type=int, default=50)
    p.add_argument('--gen-tokens', type=int, default=2000)
    p.add_argument('--run', type=int, default=0)
    p.add_argument('--setting', default='')
    p.add_argument('--max-seconds', type=float, default=0)
    p.add_argument('--output', default='full', choices=['full', 'adaptive'])
    p.add_argument('--cutoffs', default='2000,10000')
    p.add_argument('--div-value', type=float, default=4.0)
    p.add_argument('--head-bias', type=int, default=0)
    p.add_argument('--freq-order', type=int, default=-1)
    args = p.parse_args(argv)
    adaptive = args.output == 'adaptive'
    if args.freq_order < 0:
        args.freq_order = int(adaptive)

    import torch
    import torch.nn as nn
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_main as tm  # the faithful copy of main.py / model.py / data.py

    torch.set_num_threads(args.threads)
    torch.manual_seed(1111)
    corpus = tm.Corpus(args.data)
    ntokens = len(corpus.dictionary)
    if args.freq_order:
        tm.order_by_frequency(corpus)
    cutoffs = [int(x) for x in args.cutoffs.split(',')]
    ids = torch.cat([corpus.train, corpus.valid, corpus.test])  # bench.c's ids_check, the same sum
    extra = {"output": args.output, "cutoffs": args.cutoffs if adaptive else "", "vocab": ntokens,
             "freq_order": args.freq_order,
             "ids_check": int((ids * (torch.arange(ids.numel()) % 1000003 + 1)).sum().item())}
    del ids
    if adaptive:
        edges = [0] + cutoffs + [ntokens]
        counts = torch.bincount(corpus.train, minlength=ntokens)
        extra.update({"div_value": args.div_value, "head_bias": args.head_bias,
                      "cluster_freq": [round(counts[a:b].sum().item() / corpus.train.numel(), 6)
                                       for a, b in zip(edges, edges[1:])]})
    bsz, bptt, eval_bsz = 20, 35, 10
    train_data = tm.batchify(corpus.train, bsz)
    val_data = tm.batchify(corpus.valid, eval_bsz)
    if adaptive:
        model = tm.AdaptiveRNNModel(args.cell, ntokens, 200, 200, 2, 0.2, cutoffs, args.div_value,
                                    bool(args.head_bias))
        criterion = model.loss  # the module's mean NLL (.loss)
        logp = model.log_prob   # log_prob(): generation's log-probabilities
    else:
        model = tm.RNNModel(args.cell, ntokens, 200, 200, 2, 0.2, False)
        criterion = nn.NLLLoss()
        logp = lambda output: output  # the model returns log_softmax already
    lr, clip = 20.0, 0.25

    def get_batch(source, i):
        seq_len = min(bptt, len(source) - 1 - i)
        return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].view(-1)

    # ---- training: main.py's train() step
    model.train()
    hidden = model.init_hidden(bsz)
    total_loss = 0.
    tokens = 0
    t0 = None
    starts = list(range(0, train_data.size(0) - 1, bptt))[:args.warmup + args.train_batches]
    for batch, i in enumerate(starts):
        if batch == args.warmup:
            t0 = time.perf_counter()
            c0 = time.process_time()
        data, targets = get_batch(train_data, i)
        model.zero_grad()
        hidden = tm.repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for q in model.parameters():
            q.data.add_(q.grad, alpha=-lr)
        total_loss += loss.item()
        if batch >= args.warmup:
            tokens += data.numel()
    train_s = time.perf_counter() - t0
    train_cpu_s = time.process_time() - c0
    rss = vmhwm_mb()
    last_loss = loss.item()

    # ---- evaluation: main.py's evaluate(), batch 10
    model.eval()
    hidden = model.init_hidden(eval_bsz)
    ewarm = 2 if args.eval_chunks > 0 else 0
    etokens = echunks = 0
    cap = args.max_seconds
    with torch.no_grad():
        for k, i in enumerate(list(range(0, val_data.size(0) - 1, bptt))[:ewarm + args.eval_chunks]):
            if k == ewarm:
                t0 = time.perf_counter()
            data, targets = get_batch(val_data, i)
            output, hidden = model(data, hidden)
            hidden = tm.repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
            if k >= ewarm:
                etokens += data.numel()
                echunks += 1
                if cap > 0 and echunks >= 3 and time.perf_counter() - t0 > cap:
                    break
    eval_s = time.perf_counter() - t0 if args.eval_chunks > 0 else 1.0

    # ---- generation: generate.py's loop, batch 1, temperature 1
    temperature = 1.0
    hidden = model.init_hidden(1)
    input = torch.tensor([[ntokens // 2]], dtype=torch.long)
    gtokens = 0
    gen_s = gen8_s = 1.0
    with torch.no_grad():
        for k in range(20 + args.gen_tokens if args.gen_tokens > 0 else 0):
            if k == 20:
                t0 = time.perf_counter()
            output, hidden = model(input, hidden)
            word_weights = logp(output).squeeze().div(temperature).exp().cpu()
            word_idx = torch.multinomial(word_weights, 1)[0]
            input.fill_(word_idx)
            if k >= 20:
                gtokens += 1
                if cap > 0 and gtokens >= 20 and gtokens % 10 == 0 and time.perf_counter() - t0 > cap:
                    break
    if args.gen_tokens > 0:
        gen_s = time.perf_counter() - t0

    # ---- batched generation: 8 streams, generate.py's loop with an input of shape (1, 8)
    GB = 8
    hidden = model.init_hidden(GB)
    input = torch.tensor([[(ntokens // 2 + 97 * b) % ntokens for b in range(GB)]], dtype=torch.long)
    g8 = 0
    with torch.no_grad():
        for k in range(5 + args.gen_tokens // 2 if args.gen_tokens > 0 else 0):
            if k == 5:
                t0 = time.perf_counter()
            output, hidden = model(input, hidden)
            word_weights = logp(output.view(GB, -1)).div(temperature).exp().cpu()
            word_idx = torch.multinomial(word_weights, 1).view(1, GB)
            input.copy_(word_idx)
            if k >= 5:
                g8 += 1
                if cap > 0 and g8 >= 20 and g8 % 10 == 0 and time.perf_counter() - t0 > cap:
                    break
    if args.gen_tokens > 0:
        gen8_s = time.perf_counter() - t0

    print(json.dumps(dict(extra, **{
        "impl": "torch", "cell": args.cell, "threads": args.threads,
        "torch_threads": torch.get_num_threads(),
        "blas_threads": int(os.environ.get('OPENBLAS_NUM_THREADS', '0') or 0),
        "setting": args.setting, "run": args.run, "train_batches": args.train_batches,
        "train_tokens": tokens, "train_s": round(train_s, 4), "train_cpu_s": round(train_cpu_s, 4),
        "train_tok_s": round(tokens / train_s, 1),
        "last_loss": round(last_loss, 4), "peak_rss_mb": round(rss, 1), "eval_chunks": echunks,
        "eval_tok_s": round(etokens / eval_s, 1), "gen_tokens": gtokens,
        "gen_tok_s": round(gtokens / gen_s, 1), "gen8_tok_s": round(GB * g8 / gen8_s, 1),
        "torch_version": torch.__version__})), flush=True)


# ---------------------------------------------------------------------------------------------
FIGURES = [('train_tok_s', 'training tokens/s', True), ('eval_tok_s', 'evaluation tokens/s', True),
           ('gen_tok_s', 'generation tokens/s', True), ('gen8_tok_s', 'generation tokens/s, 8 streams', True),
           ('peak_rss_mb', 'peak RSS MB (training)', False)]
CELLS = ['LSTM', 'GRU', 'RNN_TANH']


def cmd_report(argv):
    raw, out = argv[0], argv[1]
    recs = [json.loads(l) for l in open(raw) if l.strip().startswith('{')]
    runs = [r for r in recs if r.get('impl') in ('ours', 'torch') and not r.get('weights')]
    qruns = [r for r in recs if r.get('impl') == 'ours' and r.get('weights')]
    for r in runs:
        r['model'] = model_of(r)
    gemm = [r for r in recs if r.get('kind') == 'gemm' and r.get('output', 'full') == 'full']
    gemm_ad = [r for r in recs if r.get('kind') == 'gemm' and r.get('output') == 'adaptive']
    roof = {r['cell']: r for r in recs if r.get('kind') == 'roofline' and r.get('output', 'full') == 'full'}
    roof_ad = [r for r in recs if r.get('kind') == 'roofline' and r.get('output') == 'adaptive']
    meta = next((r for r in recs if r.get('kind') == 'meta'), {})
    meta_end = next((r for r in recs if r.get('kind') == 'meta_end'), {})

    def med(rs, key):
        v = [r[key] for r in rs if r.get(key) is not None]
        return statistics.median(v) if v else None

    cells = [c for c in CELLS if any(r['model'] == c for r in runs)]
    models = cells + sorted({r['model'] for r in runs} - set(cells))
    threads = sorted({r['threads'] for r in runs})
    lines = []
    w = lines.append
    w('| model | figure | threads | ours | PyTorch | ours/PyTorch | PyTorch best setting (other) | runs (ours/PyTorch) |')
    w('|---|---|---:|---:|---:|---:|---|---|')
    notes = []
    allocs = []
    for c in models:
        for fig, label, higher in FIGURES:
            for t in threads:
                ours = [r for r in runs if r['impl'] == 'ours' and r['model'] == c and r['threads'] == t]
                th = [r for r in runs if r['impl'] == 'torch' and r['model'] == c and r['threads'] == t]
                if not ours and not th:
                    continue
                settings = sorted({r['setting'] for r in th})
                best, bset = None, ''
                per = {}
                for s in settings:
                    v = med([r for r in th if r['setting'] == s], fig)
                    per[s] = v
                if fig == 'peak_rss_mb':
                    # RSS of the setting that won training throughput
                    tr = {s: med([r for r in th if r['setting'] == s], 'train_tok_s') for s in settings}
                    bset = max(tr, key=lambda s: tr[s]) if tr else ''
                    best = per.get(bset)
                else:
                    for s, v in per.items():
                        if v is not None and (best is None or (v > best if higher else v < best)):
                            best, bset = v, s
                o = med(ours, fig)
                ratio = (o / best) if (o is not None and best) else None
                alts = ', '.join('%s: %s' % (s, fmt(v)) for s, v in per.items() if s != bset)
                w('| %s | %s | %d | %s | %s | %s | %s | %d/%d |' % (
                    c, label, t, fmt(o), fmt(best), '%.2f' % ratio if ratio is not None else 'n/a',
                    bset + (' (' + alts + ')' if alts else ''),
                    len(ours), len([r for r in th if r['setting'] == bset])))
        for r in runs:
            if r['impl'] == 'ours' and r['model'] == c:
                allocs.append((r.get('allocs_train'), r.get('allocs_eval'), r.get('allocs_gen')))
    w('')
    if allocs:
        tot = [sum(a[i] or 0 for a in allocs) for i in range(3)]
        w('Allocations by librnn inside the timed loops, summed over all %d runs of ours: '
          'training %d, evaluation %d, generation %d%s.' % (len(allocs), tot[0], tot[1], tot[2],
                                                           ' (zero in the steady state)' if not any(tot) else
                                                           ' (NOT ZERO)'))
        w('')
    if roof:
        w('Roofline, training at 1 thread (GEMM FLOPs only; limit = every GEMM of a batch at its '
          'measured 1-thread cblas_sgemm rate (CPU time, best of several), nothing else costing time; '
          'achieved = the median wall-clock tokens/s, and in parentheses tokens per CPU-second, '
          'which the machine\'s other load does not deflate):')
        w('')
        w('| model | GEMM MFLOP/token | GEMM limit tokens/s | ours tokens/s | ours achieved/limit '
          '(by CPU time) | PyTorch tokens/s | PyTorch achieved/limit (by CPU time) |')
        w('|---|---:|---:|---:|---:|---:|---:|')
        for c in cells:
            if c not in roof:
                continue
            R = roof[c]
            ours1 = [r for r in runs if r['impl'] == 'ours' and r['model'] == c and r['threads'] == 1]
            th1 = [r for r in runs if r['impl'] == 'torch' and r['model'] == c and r['threads'] == 1]
            lim = R['limit_tok_s']
            w('| %s | %.2f | %s | %s | %s | %s | %s |' % ((c, R['flops_per_token'] / 1e6, fmt(lim)) +
                                                          achieved(ours1, lim) + achieved(th1, lim)))
        w('')
        w('cblas_sgemm at 1 thread (OpenBLAS; GFLOP/s by CPU time, best of several; calls = per '
          'batch of 20 x 35 tokens, per layer for the layer shapes):')
        w('')
        w('| shape | op | M x N x K | calls | GFLOP/s |')
        w('|---|---|---|---:|---:|')
        for g in gemm:
            w('| %s%s | %s | %d x %d x %d | %d | %.1f |' % (
                g['shape'], (' (' + g['cell'] + ')') if g.get('cell') else '', g['trans'], g['M'], g['N'], g['K'],
                g.get('calls_per_chunk', 1), g['gflops']))
        w('')
    for c in models:  # both sides must have numbered the words alike (bench.c's ids_check)
        checks = {r.get('ids_check') for r in runs if r['model'] == c}
        if len(checks) > 1:
            w('WARNING: %s: ours and PyTorch numbered the words differently (ids_check %s): the '
              'rows do not compare the same model.' % (c, ', '.join(str(x) for x in sorted(checks, key=str))))
            w('')
    adaptive_section(w, runs, threads, roof_ad, gemm_ad, med)
    quant_section(w, runs, qruns, med)
    head = ['# librnn vs PyTorch benchmark', '']
    if meta:
        head.append('%s; CPU: %s (%s cores); %s run, %s s; PyTorch %s; load average %s at the start, %s at the '
                    'end. Per run: %s+%s training batches (warm-up+timed, batch 20, bptt 35), 2+%s evaluation '
                    'chunks (batch 10), 20+%s generated tokens (batch 1).' % (
            meta.get('date', ''), meta.get('cpu', ''), meta.get('cores', ''), meta.get('mode', ''),
            meta_end.get('seconds', '?'), meta.get('torch', ''), meta.get('load_start', '?'),
            meta_end.get('load_end', '?'), meta.get('warmup'), meta.get('train_batches'),
            meta.get('eval_chunks'), meta.get('gen_tokens')))
        head.append('')
    head.append('Medians of the runs; tokens/s higher is better, RSS lower is better. ours/PyTorch > 1 '
                'means librnn is faster (for RSS: uses more memory). Threads: ours rnn_model_set_threads(threads) with '
                'OPENBLAS_NUM_THREADS=1; '
                'PyTorch torch.set_num_threads(threads) with OB = OPENBLAS_NUM_THREADS 1 or threads, the best '
                'median shown (the other setting\'s median in parentheses; RSS: the setting that won training).')
    head.append('')
    text = '\n'.join(head + lines) + '\n'
    with open(out, 'w') as f:
        f.write(text)
    sys.stdout.write(text)


def model_of(r):
    """The table's model column: the cell, and for an adaptive output layer its cutoffs."""
    if r.get('output', 'full') == 'full':
        return r['cell']
    return '%s adaptive (%s)' % (r['cell'], r.get('cutoffs', ''))


def achieved(rs, lim):
    """(median tokens/s, 'achieved/limit (by CPU time)') of the runs rs against the limit lim."""
    v = statistics.median([r['train_tok_s'] for r in rs]) if rs else None
    cpu = [r['train_tokens'] / r['train_cpu_s'] for r in rs if r.get('train_cpu_s')]
    vc = statistics.median(cpu) if cpu else None
    return fmt(v), ('%.2f' % (v / lim) if v else 'n/a') + (' (%.2f)' % (vc / lim) if vc else '')


def adaptive_section(w, runs, threads, roof_ad, gemm_ad, med):
    """The adaptive output layer: ours full vs ours adaptive vs PyTorch's adaptive, the adaptive
    roofline (FLOPs per token with the corpus's cluster shares) and its GEMM shapes."""
    ad = sorted({(r['cell'], r['model']) for r in runs if r.get('output') == 'adaptive'})
    if not ad:
        return
    w('Adaptive output layer (PyTorch\'s AdaptiveLogSoftmaxWithLoss, div_value 4, no head bias; word '
      'ids by descending training-set frequency on both sides): our full softmax against our adaptive '
      'one, and our adaptive against PyTorch\'s adaptive model (its better OPENBLAS_NUM_THREADS setting):')
    w('')
    w('| model | figure | threads | ours full | ours adaptive | adaptive/full | PyTorch adaptive | '
      'ours/PyTorch (adaptive) |')
    w('|---|---|---:|---:|---:|---:|---:|---:|')
    for cell, model in ad:
        for fig, label, higher in FIGURES:
            for t in threads:
                full = med([r for r in runs if r['impl'] == 'ours' and r['model'] == cell and r['threads'] == t], fig)
                o = med([r for r in runs if r['impl'] == 'ours' and r['model'] == model and r['threads'] == t], fig)
                th = [r for r in runs if r['impl'] == 'torch' and r['model'] == model and r['threads'] == t]
                per = [med([r for r in th if r['setting'] == s], fig) for s in sorted({r['setting'] for r in th})]
                per = [v for v in per if v is not None]
                p = (max(per) if higher else min(per)) if per else None
                if o is None and p is None:
                    continue
                w('| %s | %s | %d | %s | %s | %s | %s | %s |' % (
                    model, label, t, fmt(full), fmt(o), '%.2f' % (o / full) if o and full else 'n/a', fmt(p),
                    '%.2f' % (o / p) if o and p else 'n/a'))
    w('')
    if not roof_ad:
        return
    w('Adaptive roofline, training at 1 thread: GEMM FLOPs per token of the layers and of the adaptive '
      'output layer, the latter with the cluster shares p_i of the training tokens: head 6*H*(cutoffs[0] + '
      'clusters) for every token, cluster i 6*p_i*d_i*(H + size_i) (d_i = floor(H / div_value^(i+1)); '
      'its rows only); the limit times every GEMM of a batch of 700 at its measured 1-thread cblas_sgemm '
      'rate, each cluster with its mean rows p_i*700, nothing else costing time:')
    w('')
    w('| model | V | cluster shares (head, clusters) | output layer MFLOP/token (full softmax) | step MFLOP/token | '
      'GEMM limit tokens/s | ours tokens/s | ours achieved/limit (by CPU time) | PyTorch tokens/s | '
      'PyTorch achieved/limit (by CPU time) |')
    w('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|')
    for R in roof_ad:
        model = '%s adaptive (%s)' % (R['cell'], R['cutoffs'])
        ours1 = [r for r in runs if r['impl'] == 'ours' and r['model'] == model and r['threads'] == 1]
        th1 = [r for r in runs if r['impl'] == 'torch' and r['model'] == model and r['threads'] == 1]
        lim = R['limit_tok_s']
        w('| %s | %d | %s | %.2f (%.2f) | %.2f | %s | %s | %s | %s | %s |' % (
            (model, R['vocab'], ', '.join('%.3f' % f for f in R['cluster_freq']), R['output_flops_per_token'] / 1e6,
             R['full_output_flops_per_token'] / 1e6, R['flops_per_token'] / 1e6, fmt(lim)) +
            achieved(ours1, lim) + achieved(th1, lim)))
    w('')
    w('cblas_sgemm at 1 thread for the adaptive step (GFLOP/s by CPU time, best of several; calls per '
      'batch, per layer for the layer shapes):')
    w('')
    w('| shape | op | M x N x K | calls | GFLOP/s |')
    w('|---|---|---|---:|---:|')
    for g in gemm_ad:
        w('| %s | %s | %d x %d x %d | %d | %.1f |' % (g['shape'], g['trans'], g['M'], g['N'], g['K'],
                                                   g.get('calls_per_chunk', 1), g['gflops']))
    w('')


QFIGURES = [('eval_tok_s', 'evaluation tokens/s', True), ('gen_tok_s', 'generation tokens/s', True),
            ('gen8_tok_s', 'generation tokens/s, 8 streams', True), ('file_mb', 'model file MB', False)]


def quant_section(w, runs, qruns, med):
    """Quantized weights (rnn_model_quantize after training): our LSTM with bf16 and q8 weights
    against our fp32 LSTM and PyTorch's fp32 LSTM (its better OPENBLAS_NUM_THREADS setting)."""
    types = [t for t in ('bf16', 'q8') if any(r['weights'] == t for r in qruns)]
    if not types:
        return
    w('Quantized weights (`rnn_model_quantize` after the training loop; the example\'s default LSTM): '
      'ours fp32, bf16 and q8 against PyTorch\'s fp32 model (its better OPENBLAS_NUM_THREADS setting at '
      'the same thread count); the model file is `rnn_model_save`\'s size (PyTorch\'s: none measured):')
    w('')
    w('| figure | threads | ours fp32 | ' + ' | '.join('ours ' + t for t in types) + ' | ' +
      ' | '.join(t + '/fp32' for t in types) + ' | PyTorch fp32 | ' + ' | '.join(t + '/PyTorch' for t in types) +
      ' | runs (' + '/'.join(types) + ') |')
    w('|---|---:|---:|' + '---:|' * (3 * len(types) + 1) + '---|')
    threads = sorted({r['threads'] for r in qruns})
    for fig, label, higher in QFIGURES:
        for t in threads:
            fp = med([r for r in runs if r['impl'] == 'ours' and r['model'] == 'LSTM' and r['threads'] == t], fig)
            th = [r for r in runs if r['impl'] == 'torch' and r['model'] == 'LSTM' and r['threads'] == t]
            per = [med([r for r in th if r['setting'] == s], fig) for s in sorted({r['setting'] for r in th})]
            per = [v for v in per if v is not None]
            p = max(per) if per else None
            q = {k: med([r for r in qruns if r['weights'] == k and r['threads'] == t], fig) for k in types}
            n = [len([r for r in qruns if r['weights'] == k and r['threads'] == t]) for k in types]
            w('| %s | %d | %s | %s | %s | %s | %s | %s |' % (
                label, t, fmt(fp), ' | '.join(fmt(q[k]) for k in types),
                ' | '.join('%.2f' % (q[k] / fp) if q[k] and fp else 'n/a' for k in types), fmt(p),
                ' | '.join('%.2f' % (q[k] / p) if q[k] and p and higher else 'n/a' for k in types),
                '/'.join(str(x) for x in n)))
    best_t = [r for r in runs if r['impl'] == 'torch' and r['model'] == 'LSTM']
    bt = [med([r for r in best_t if r['setting'] == s and r['threads'] == t], 'gen_tok_s')
          for s in {r['setting'] for r in best_t} for t in {r['threads'] for r in best_t}]
    bt = [v for v in bt if v is not None]
    if bt:
        w('')
        w('Batch-1 generation against PyTorch\'s best (%s tokens/s, any thread count and setting): %s.' % (
            fmt(max(bt)), ', '.join('%s %s' % (k, '%.2fx' % (max(v) / max(bt)) if v else 'n/a') for k, v in (
                (k, [x for x in (med([r for r in qruns if r['weights'] == k and r['threads'] == t], 'gen_tok_s')
                                 for t in threads) if x is not None]) for k in types))))
    w('')


def fmt(v):
    if v is None:
        return 'n/a'
    if v >= 100:
        return '%.0f' % v
    return '%.1f' % v


if __name__ == '__main__':
    if len(sys.argv) >= 2 and sys.argv[1] == 'run':
        cmd_run(sys.argv[2:])
    elif len(sys.argv) >= 4 and sys.argv[1] == 'report':
        cmd_report(sys.argv[2:])
    else:
        sys.stderr.write(__doc__)
        sys.exit(1)
