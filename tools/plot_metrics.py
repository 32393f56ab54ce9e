#!/usr/bin/python3
"""Plot the metrics that `rnnlm train --metrics FILE.jsonl` writes.

usage: tools/plot_metrics.py METRICS.jsonl OUT.png

Top: training perplexity per log interval and validation perplexity per epoch (log scale),
against epochs (a log record's position inside its epoch is estimated from its batch number).
Bottom: training throughput (tokens/s) per log interval. The test perplexity, when present,
goes into the title.

Needs matplotlib (Debian: apt-get install python3-matplotlib).
"""
import json
import math
import sys


def die(msg):
    sys.stderr.write("plot_metrics.py: %s\n" % msg)
    sys.exit(1)


def num(x):
    """A JSON number, or NaN for null (rnnlm writes null for non-finite values)."""
    return float("nan") if x is None else float(x)


def read_metrics(path):
    logs, epochs, test = [], [], None
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        die("cannot open %s: %s" % (path, e.strerror))
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                die("%s:%d: not JSON: %s" % (path, lineno, e))
            if not isinstance(rec, dict):
                die("%s:%d: not a JSON object" % (path, lineno))
            if "batch" in rec:
                logs.append(rec)
            elif "valid_ppl" in rec:
                epochs.append(rec)
            elif "test_ppl" in rec:
                test = rec
    if not logs and not epochs:
        die("%s holds no training records" % path)
    return logs, epochs, test


def log_positions(logs):
    """Fractional epochs for the log records: epoch - 1 + batch / (estimated batches per epoch)."""
    per_epoch = {}
    for r in logs:
        per_epoch.setdefault(r["epoch"], []).append(r["batch"])
    length = {}
    for e, batches in per_epoch.items():
        step = batches[1] - batches[0] if len(batches) > 1 else batches[0]
        length[e] = max(batches) + step
    return [r["epoch"] - 1 + r["batch"] / length[r["epoch"]] for r in logs]


def plot(logs, epochs, test, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        die("matplotlib is not installed (Debian: apt-get install python3-matplotlib)")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    x = log_positions(logs)
    if logs:
        top.plot(x, [num(r["ppl"]) for r in logs], ".-", lw=1, ms=3, label="train ppl (log interval)")
        bottom.plot(x, [num(r["tokens_per_s"]) for r in logs], ".-", lw=1, ms=3, color="tab:green")
    if epochs:
        top.plot([r["epoch"] for r in epochs], [num(r["valid_ppl"]) for r in epochs], "o-",
                 color="tab:red", label="valid ppl (epoch)")
    top.set_yscale("log")
    plain = matplotlib.ticker.FormatStrFormatter("%g")
    top.yaxis.set_major_formatter(plain)
    lo, hi = top.get_ylim()
    top.yaxis.set_minor_formatter(plain if hi / lo < 10 else matplotlib.ticker.NullFormatter())
    top.set_ylabel("perplexity")
    top.grid(True, which="both", alpha=0.3)
    top.legend()
    title = "rnnlm training"
    if test is not None and not math.isnan(num(test.get("test_ppl"))):
        title += " (test ppl %.2f)" % num(test["test_ppl"])
    top.set_title(title)
    bottom.set_ylabel("tokens/s")
    bottom.set_xlabel("epoch")
    bottom.grid(True, alpha=0.3)
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=100)
    except OSError as e:
        die("cannot write %s: %s" % (out, e.strerror))


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: plot_metrics.py METRICS.jsonl OUT.png\n")
        return 2
    logs, epochs, test = read_metrics(argv[1])
    plot(logs, epochs, test, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
