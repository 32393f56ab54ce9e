#!/bin/sh
# tests/python_binding.sh -- bindings/python/rnn/ (pure ctypes) against lib/librnn.so, imported
# through PYTHONPATH (tests/python_package.sh installs it with pip).
#   sh tests/python_binding.sh       (make check runs it from the repository root)
# Environment: RNN_LIBDIR (folder of librnn.so, default lib), RNNLM (bin/rnnlm, default
# ./bin/rnnlm), PYTHON (default /usr/bin/python3, which must have numpy; without it: SKIP).
# Trains a tiny model from Python, checks that `rnnlm eval` gives the binding's main.py
# evaluate() perplexity to 1e-5, numpy parameter views alias the library's memory, errors raise
# RnnError with the message, and State generation is deterministic; then the 1.0 calls: find
# (rnn_vocab_find), encode (rnn_vocab_encode, against hand-computed ids and data.py's split),
# to_bytes / from_bytes (memory images: identical log-probabilities, app data, saved state),
# rnn_sampling in Model.sample, cells by rnn_cell_find, strided numpy slices, and finding
# librnn.so.1; then the argument checks (integers out of the C range: OverflowError; floats, str,
# bools where a number is expected: TypeError; a NUL in a path or word: ValueError) and the
# lifetimes of States and parameter views after Model.close() / a with block, each in a child
# process so that a segfault is one failure. When the default `python3` has no numpy, the
# binding's pure-Python (memoryview/list) path is checked with it too.
# Prints "N passed, M failed" last; exits non-zero when anything failed.
set -eu

PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import numpy' 2>/dev/null; then
    echo "SKIP: $PY has no numpy (apt-get install python3-numpy); the Python binding is not tested"
    echo "python_binding: 0 passed, 0 failed (skipped)"
    exit 0
fi
LIBDIR=$(cd "${RNN_LIBDIR:-lib}" 2>/dev/null && pwd) || LIBDIR=$(pwd)/lib
export RNN_LIBRARY="$LIBDIR/librnn.so"
RNNLM=${RNNLM:-$(pwd)/bin/rnnlm}
export RNNLM
PYTHONPATH="$(pwd)/bindings/python"
export PYTHONPATH
export OPENBLAS_NUM_THREADS=1
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in bindings/python from a test run
if [ ! -e "$RNN_LIBRARY" ]; then
    echo "FAIL $RNN_LIBRARY does not exist (run make first)"
    echo "python_binding: 0 passed, 1 failed"
    exit 1
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/rnn-python.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
# a tiny, learnable corpus ("DET ADJ NOUN VERB DET NOUN [today]")
. "$(dirname "$0")/lib/corpus.sh"
grammar_corpus "$W/train.txt" 11 4000
grammar_corpus "$W/valid.txt" 12 150
grammar_corpus "$W/test.txt" 13 150

cat >"$W/test_numpy.py" <<'EOF'
import json, math, os, subprocess, sys
import numpy as np
import rnn

W = sys.argv[1]
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what)


def raises(fn, code, text, what):
    try:
        fn()
    except rnn.RnnError as e:
        check(e.code == code and text in str(e) and e.strerror == rnn.RnnError(code, "x").strerror,
              "%s -> RnnError(%d) %r" % (what, e.code, str(e)))
        return e
    except Exception as e:  # noqa
        check(False, "%s raised %r, not RnnError" % (what, e))
    else:
        check(False, "%s did not raise" % what)


# data.py: line.split() + ['<eos>'], vocabulary over train, valid, test
words, index = [], {}
def tokenize(path):
    ids = []
    with open(path, encoding="utf8") as f:
        for line in f:
            for w in line.split() + ["<eos>"]:
                if w not in index:
                    index[w] = len(words)
                    words.append(w)
                ids.append(index[w])
    return np.array(ids, dtype=np.int32)

train, valid, test = (tokenize(os.path.join(W, n + ".txt")) for n in ("train", "valid", "test"))
V = len(words)
EOS = index["<eos>"]


def batchify(data, bsz):  # main.py: [nbatch][bsz] there; [bsz][nbatch] (stream rows) here
    nbatch = len(data) // bsz
    return data[:nbatch * bsz].reshape(bsz, nbatch)


def chunks(src, bptt=35):  # main.py's get_batch over range(0, nbatch - 1, bptt)
    n = src.shape[1]
    for i in range(0, n - 1, bptt):
        s = min(bptt, n - 1 - i)
        yield src[:, i:i + s], src[:, i + 1:i + 1 + s]


def evaluate(m, data, bsz=10):  # main.py's evaluate()
    src = batchify(data, bsz)
    m.reset_state(bsz)
    total = 0.0
    for x, y in chunks(src):
        total += x.shape[1] * m.evaluate(x, y)
    return total / (src.shape[1] - 1)


# ---- 1. train a tiny model from Python -----------------------------------------------------------
m = rnn.Model(vocab=words, cell="LSTM", emb_size=48, hidden_size=48, num_layers=2, dropout=0.2, seed=3)
check(m.config["vocab_size"] == V and m.config["cell"] == "LSTM" and m.vocab == words,
      "Model(vocab=..., **config): %r" % m)
lr, best = 20.0, None
for epoch in range(2):
    src = batchify(train, 5)
    m.reset_state(5)
    for x, y in chunks(src):
        loss = m.forward(x, y)
        m.zero_grad()
        m.backward()
        norm = m.clip_grad_norm(0.25)
        m.sgd_step(lr)
    val = evaluate(m, valid)
    print("epoch %d: last train loss %.3f, grad norm %.3f, valid ppl %.3f" % (epoch + 1, loss, norm, math.exp(val)))
check(math.isfinite(val) and math.exp(val) < V, "trained: valid ppl %.3f < V = %d" % (math.exp(val), V))
path = os.path.join(W, "py.rnn")
m.save(path)
check(os.path.getsize(path) > 0, "Model.save")

# ---- 2. rnnlm eval agrees with the binding's main.py evaluate() ---------------------------------
rnnlm = os.environ["RNNLM"]
for data_name, data in (("valid", valid), ("test", test)):
    out = subprocess.run([rnnlm, "eval", "--checkpoint", path, "--data", os.path.join(W, data_name + ".txt"),
                          "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        check(False, "rnnlm eval %s: %s" % (data_name, out.stderr.strip()))
        continue
    cli = json.loads(out.stdout)
    ours = math.exp(evaluate(m, data))
    check(abs(cli["ppl"] - ours) <= 1e-5 * ours,
          "rnnlm eval --data %s.txt ppl %.10g == binding evaluate() %.10g (1e-5)" % (data_name, cli["ppl"], ours))

# ---- 3. load: same vocabulary, same weights, same evaluation ---------------------------------------
m2 = rnn.Model.load(path)
check(m2.vocab == words and m2.config == m.config, "Model.load: vocabulary and config round-trip")
p1, p2 = m.params(), m2.params()
check(list(p1) == list(p2) and all(np.array_equal(p1[k].data, p2[k].data) for k in p1),
      "Model.load: every parameter bit-identical (%d tensors)" % len(p1))
check(evaluate(m2, valid) == evaluate(m, valid), "loaded model evaluates identically")

# ---- 4. numpy views alias the library's memory ------------------------------------------------------
names = list(p1)
check(names[0] == "encoder.weight" and names[-1] == "decoder.bias" and "rnn.weight_ih_l0" in names,
      "params() names in parameters() order: %s" % ", ".join(names))
enc = p1["encoder.weight"]
check(enc.data.shape == (V, 48) and enc.data.dtype == np.float32 and not enc.data.flags.owndata,
      "encoder.weight view: shape %s float32, not owning its memory" % (enc.data.shape,))
block, gblock = m.param_block()
check(np.shares_memory(block, enc.data) and enc.data.ctypes.data == block.ctypes.data,
      "params() views point into rnn_param_block's block")
x = np.array([[EOS, index["the"], index["big"]]], dtype=np.int32)
y = np.array([[index["the"], index["big"], index["cat"]]], dtype=np.int32)
m.reset_state(1)
base = m.evaluate(x, y)
bias = m.params()["decoder.bias"].data  # a fresh view of the same memory
saved = bias.copy()
bias[0, index["cat"]] += 10.0  # write through numpy ...
m.reset_state(1)
changed = m.evaluate(x, y)  # ... and the library sees it
bias[:] = saved
m.reset_state(1)
check(changed != base and m.evaluate(x, y) == base,
      "writing decoder.bias through numpy changes the forward (%.4f -> %.4f) and back" % (base, changed))
m.reset_state(1)
m.zero_grad()
check(not gblock.any(), "zero_grad zeroes the grad views")
m.forward(x, y)
m.backward()
g = m.params()["decoder.bias"].grad
check(g.any() and abs(g.sum()) < 1e-5, "backward writes into the grad views (decoder.bias grad sums to 0)")
m.zero_grad()
w = m.param("rnn.weight_hh_l1")
before = w.data[2, 3].copy()
w.grad[2, 3] = 1.0  # a gradient written through numpy ...
m.sgd_step(0.5)  # ... is what the library applies
check(np.float32(before) - np.float32(0.5) == w.data[2, 3] and np.count_nonzero(block - m2.param_block()[0]) == 1,
      "sgd_step applies a gradient written through the numpy grad view, and only it")
w.data[2, 3] = before
m.zero_grad()

# ---- 5. tokens as lists or numpy arrays; outputs ---------------------------------------------------
m.set_seed(9); m.reset_state(1)
la = m.forward(x.tolist(), y.tolist())
m.set_seed(9); m.reset_state(1)
lb = m.forward(x, y)
m.set_seed(9); m.reset_state(1)
lc = m.forward(x.astype(np.int64)[0], y[0])  # 1-D: one stream; int64 converted
check(la == lb == lc, "forward: nested lists, int32 arrays and 1-D int64 arrays give one loss")
m.threads = 3
m.set_seed(9); m.reset_state(1)
ld = m.forward(x, y)
check(m.threads == 3 and abs(ld - la) <= 1e-6 * abs(la), "threads = 3: the same loss as one thread")
def _zero_threads():
    m.threads = 0
raises(_zero_threads, rnn.ERR_INVALID, "threads must be in [1, 256]", "threads = 0")
check(m.threads == 3, "a refused thread count leaves the setting")
m.threads = 1
m.zero_grad()
m.reset_state(2)
loss, lp = m.evaluate(np.vstack([x, x]), np.vstack([y, y]), logprobs=True)
check(lp.shape == (2, 3, V) and np.allclose(np.exp(lp).sum(-1), 1, atol=1e-5) and
      abs(-lp[0, np.arange(3), y[0]].mean() - loss) < 1e-5,
      "evaluate(logprobs=True): [batch][steps][V] log_softmax, loss = mean NLL")
m.reset_state(1)
h, c = m.get_state()
check(h.shape == (2, 1, 48) and not h.any() and c is not None, "get_state after reset_state: zeros [L][1][H]")
m.sample([EOS], 1.0)
h, c = m.get_state()
check(h.any(), "sample advances the state")
m.set_state(np.zeros_like(h))
check(not m.get_state()[0].any() and not m.get_state()[1].any(), "set_state(h) zeroes h and (c None) c")
t = rnn.Model(vocab_size=V, cell="GRU", emb_size=8, hidden_size=8, num_layers=1, tied=True)
tp = t.params()
check("decoder.weight" not in tp and np.shares_memory(t.param("decoder.weight").data, tp["encoder.weight"].data)
      and tp["rnn.weight_ih_l0"].data.shape == (24, 8) and t.get_state is not None,
      "tied GRU: no decoder.weight tensor, param('decoder.weight') is encoder.weight, W_ih 3H x E")
t.reset_state(1)
check(t.get_state()[1] is None, "GRU get_state: c is None")
t.close()
m.app_data = b"epoch=2"
check(m.app_data == b"epoch=2", "app_data round-trip")

# ---- 6. errors raise RnnError with rnn_status_string and rnn_model_errmsg --------------------------------
m.reset_state(1)
e = raises(lambda: m.forward([[0, V]], [[1, 2]]), rnn.ERR_RANGE, "token %d at [0][1] is outside [0, %d)" % (V, V),
           "forward with token V")
check(e is not None and e.errmsg and e.strerror == rnn.status_string(rnn.ERR_RANGE) != rnn.status_string(rnn.ERR_INVALID)
      and e.function == "rnn_forward", "RnnError carries rnn_status_string (%r), errmsg and the function" % e.strerror)
raises(lambda: m.forward([[0, 1]], [[1, -2]]), rnn.ERR_RANGE, "not RNN_IGNORE", "forward with target -2")
raises(lambda: m.forward([[0, 1], [1, 2]], [[1, 2], [2, 3]]), rnn.ERR_STATE, "does not match", "forward with batch 2 != 1")
m.reset_state(1)
raises(m.backward, rnn.ERR_STATE, "rnn_backward", "backward without forward")
raises(lambda: m.clip_grad_norm(-1), rnn.ERR_INVALID, "max_norm", "clip_grad_norm(-1)")
raises(lambda: m.sgd_step(float("nan")), rnn.ERR_INVALID, "lr must be finite", "sgd_step(nan)")
raises(lambda: m.vocab_word(V), rnn.ERR_RANGE, "outside the vocabulary", "vocab_word(V)")
raises(lambda: setattr(m, "vocab", words[:-1]), rnn.ERR_INVALID, "exactly vocab_size", "vocab = too few words")
raises(lambda: m.param("nope"), rnn.ERR_NOTFOUND, 'no parameter named "nope"', "param('nope')")
raises(lambda: rnn.Model(vocab_size=0), rnn.ERR_INVALID, "vocab_size", "Model(vocab_size=0)")
raises(lambda: rnn.Model.load(os.path.join(W, "missing.rnn")), rnn.ERR_IO, "cannot open", "Model.load(missing)")
with open(os.path.join(W, "bad.rnn"), "wb") as f:
    f.write(open(path, "rb").read()[:64])
raises(lambda: rnn.Model.load(os.path.join(W, "bad.rnn")), rnn.ERR_FORMAT, "", "Model.load(truncated)")
check(m.vocab == words and evaluate(m, valid) == evaluate(m2, valid), "failed calls left the model unchanged")

# ---- 7. State: determinism, batching, clone/copy, score ----------------------------------------------
def gen(seed, n=40, batch=1, **kw):
    st = rnn.State(m2, batch, seed)
    st.feed([[EOS]] * batch)
    return st.generate(n, **kw)

a, b = gen(5), gen(5)
check(a.shape == (1, 40) and a.dtype == np.int32 and np.array_equal(a, b), "State: same seed -> same tokens")
check(not np.array_equal(a, gen(6)), "State: another seed -> other tokens")
batched = gen(5, batch=3)
check(all(np.array_equal(batched[i], gen(5 + i)[0]) for i in range(3)),
      "State(batch=3, seed=5): stream b == State(batch=1, seed=5+b)")
check(np.array_equal(gen(1, temperature=0), gen(2, temperature=0)), "temperature 0 is greedy (seed-independent)")
st = rnn.State.create(m2, 1, 7)
st.feed(np.array([[EOS, index["the"]]]))
twin = st.clone()
fork = rnn.State(m2, 1, 123)
fork.copy_from(st)
g1 = st.generate(20, top_k=5, top_p=0.9)
check(np.array_equal(g1, twin.generate(20, top_k=5, top_p=0.9)) and
      np.array_equal(g1, fork.generate(20, top_k=5, top_p=0.9)), "clone() and copy_from() continue identically")
st.reset()
st.feed([[EOS]])
lp = st.logprobs()
nxt = st.next(temperature=0)
check(lp.shape == (1, V) and nxt[0] == int(np.argmax(lp[0])), "logprobs() and next(temperature=0) agree")
one = st.clone()
s = st.score([[index["the"], index["big"]]])
first = float(one.logprobs()[0, index["the"]])
one.feed([[index["the"]]])
second = float(one.logprobs()[0, index["big"]])
check(s.shape == (1,) and abs(s[0] - (first + second)) < 1e-4, "score() == sum of logprobs() along the way")
e = raises(lambda: st.feed([[V]]), rnn.ERR_RANGE, "outside [0, %d)" % V, "State.feed with token V")
raises(lambda: st.next(temperature=-1), rnn.ERR_INVALID, "temperature", "State.next(temperature=-1)")
raises(lambda: rnn.State(m2, 2, 0).copy_from(st), rnn.ERR_STATE, "differ", "copy_from across batch sizes")

# ---- 8. the 1.0 calls: vocabulary look-up and tokenizer, memory images, cells, strides, lookup ----
check(m2.find("the") == index["the"] and m2.find(b"cat") == index["cat"] and m2.word_id("<eos>") == EOS,
      "find(word) (rnn_vocab_find) gives the data.py id")
raises(lambda: m2.find("zebra"), rnn.ERR_NOTFOUND, '"zebra" is not in the vocabulary', "find('zebra')")
raises(lambda: m2.find("the big"), rnn.ERR_NOTFOUND, "", "find('the big')")
try:
    m2.word_id("zebra")
    check(False, "word_id('zebra') raises KeyError")
except KeyError:
    check(True, "word_id('zebra') raises KeyError")
NBSP = "\u00a0"
line = "the" + NBSP + "big cat  sees\ta" + NBSP + NBSP + "dog today\u3000"
want = [index["the"], index["big"], index["cat"], index["sees"], index["a"], index["dog"], index["today"], EOS]
got = m2.encode(line)
check(got == want and isinstance(got, list), "encode(%r) == %r (U+00A0, U+3000, tab, double space separate)" % (line, want))
check(m2.encode(line.encode("utf-8"), eos=False) == want[:-1], "encode(bytes, eos=False): no <eos>")
check(m2.encode("") == [EOS] and m2.encode(" \t" + NBSP, eos=False) == [], "encode of an empty / blank line")
check(m2.encode("the " * 999 + "cat") == [index["the"]] * 999 + [index["cat"], EOS], "encode of a 1000-word line")
with open(os.path.join(W, "valid.txt"), encoding="utf8") as f:
    lines = f.read().splitlines()
check(all(m2.encode(l) == [index[w] for w in l.split() + ["<eos>"]] for l in lines),
      "encode == data.py's tokenize on every line of valid.txt (%d lines)" % len(lines))
raises(lambda: m2.encode("the zebra cat"), rnn.ERR_NOTFOUND, "zebra", "encode with an unknown word (unk='error')")
check(m2.encode("the zebra cat", unk="skip") == [index["the"], index["cat"], EOS], "encode(unk='skip') leaves zebra out")
try:
    m2.encode("the zebra", unk="map")  # this vocabulary has no <unk>
    check(False, "encode(unk='map') without <unk> in the vocabulary raises")
except rnn.RnnError as e:
    check(True, "encode(unk='map') without <unk> in the vocabulary raises %r" % str(e))
raises(lambda: m2.encode(b"the \xff cat"), rnn.ERR_FORMAT, "", "encode of invalid UTF-8")
try:
    m2.encode("the", unk="drop")
    check(False, "encode(unk='drop') raises ValueError")
except ValueError:
    check(True, "encode(unk='drop') raises ValueError")
u = rnn.Model(vocab=["<unk>", "x", "<eos>"], emb_size=4, hidden_size=4, num_layers=1)
check(u.encode("x y" + NBSP + "x", unk="map") == [1, 0, 1, 2] and u.encode("x y", unk="skip", eos=False) == [1],
      "encode(unk='map') maps an unknown word to <unk>")
raises(lambda: setattr(u, "vocab", ["<unk>", "x", "x"]), rnn.ERR_INVALID, "", "vocab with a repeated word")
raises(lambda: setattr(u, "vocab", ["<unk>", "x y", "z"]), rnn.ERR_INVALID, "", "vocab with a space in a word")
u.close()

check(rnn.split(line) == line.split() == ["the", "big", "cat", "sees", "a", "dog", "today"] and
      rnn.split(line.encode("utf-8")) == [w.encode("utf-8") for w in line.split()],
      "split() (rnn_text_next_word) == str.split(), for str and bytes")
check(all(rnn.split(l) == l.split() for l in lines) and rnn.split("") == [] and rnn.split(" \u2028 ") == [],
      "split() == str.split() on every line of valid.txt and on blank lines")
raises(lambda: rnn.split(b"a \xc3"), rnn.ERR_FORMAT, "byte offset 2", "split of invalid UTF-8")
raises(lambda: rnn.split("a\0b"), rnn.ERR_FORMAT, "", "split of a NUL")

# tools/rnnfile.py (files without librnn) agrees with the library: cell ids, refused vocabularies
sys.path.insert(0, os.path.join(os.getcwd(), "tools"))
import rnnfile  # noqa: E402
check(rnnfile.CELLS == [rnn.cell_name(i) for i in range(rnn.CELL_COUNT)] and
      rnnfile.MAX_WORD_BYTES == rnn.limit(rnn.LIMIT_WORD_BYTES) and rnnfile.MAX_DIM == rnn.limit(rnn.LIMIT_DIM)
      and rnnfile.MAX_LAYERS == rnn.limit(rnn.LIMIT_LAYERS),
      "tools/rnnfile.py: CELLS are rnn_cell_name's, limits are rnn_limit_get's")
f = rnnfile.read(path)
check(f.vocab == [w.encode() for w in words] and f.cell == m2.config["cell"], "rnnfile.read of a saved model")
for bad_vocab, why in ((words[:-1] + [words[0]], "a repeated word"), (words[:-1] + ["x" + NBSP + "y"], "a word with U+00A0"),
                       (words[:-1] + [b"\xff"], "a word that is not UTF-8")):
    f.vocab = [w if isinstance(w, bytes) else w.encode() for w in bad_vocab]
    real = rnnfile.check_vocab
    rnnfile.check_vocab = lambda v: None  # write it anyway
    try:
        rnnfile.write(os.path.join(W, "badvocab.rnn"), f)
    finally:
        rnnfile.check_vocab = real
    try:
        rnnfile.read(os.path.join(W, "badvocab.rnn"))
        tool = "accepted"
    except rnnfile.FormatError as e:
        tool = "refused (%s)" % e
    try:
        rnn.Model.load(os.path.join(W, "badvocab.rnn"))
        lib = "accepted"
    except rnn.RnnError as e:
        lib = "refused (%s)" % e
    try:
        rnnfile.encode(f)
        enc = "written"
    except rnnfile.FormatError:
        enc = "refused"
    check(tool.startswith("refused") and lib.startswith("refused") and enc == "refused",
          "a vocabulary with %s: rnnfile.read %s, Model.load %s, rnnfile.encode %s" % (why, tool, lib, enc))

# memory images
data = m2.to_bytes()
m3 = rnn.Model.from_bytes(data)
m2.reset_state(5); m3.reset_state(5)
src = batchify(valid, 5)
la, lpa = m2.evaluate(src[:, :20], src[:, 1:21], logprobs=True)
lb, lpb = m3.evaluate(src[:, :20], src[:, 1:21], logprobs=True)
check(isinstance(data, bytes) and la == lb and np.array_equal(lpa, lpb),
      "from_bytes(to_bytes()): identical log-probabilities (%d bytes, loss %.6f)" % (len(data), la))
check(m3.vocab == words and m3.config == m2.config and m3.app_data == b"", "from_bytes: vocabulary, config, no app data")
m2.save(os.path.join(W, "again.rnn"))
check(open(os.path.join(W, "again.rnn"), "rb").read() == data, "to_bytes() is what save() writes, byte for byte")
img = m2.to_bytes(app_data=b"step=7\0x")
check(rnn.Model.from_bytes(bytearray(img)).app_data == b"step=7\0x", "to_bytes(app_data=...) -> from_bytes().app_data")
m3.app_data = b"epoch=3"
m3.save(os.path.join(W, "app.rnn"))
check(rnn.Model.load(os.path.join(W, "app.rnn")).app_data == b"epoch=3" and
      rnn.Model.from_bytes(m3.to_bytes()).app_data == b"epoch=3", "app_data assigned, then save/to_bytes: loaded back")
raises(lambda: rnn.Model.from_bytes(data[:100]), rnn.ERR_FORMAT, "", "from_bytes(truncated)")
raises(lambda: rnn.Model.from_bytes(b""), rnn.ERR_FORMAT, "", "from_bytes(b'')")
m3.set_seed(4)
m3.sample([EOS] * 5)
full = m3.to_bytes(state=True)
m4 = rnn.Model.from_bytes(full)
h3, c3 = m3.get_state()
h4, c4 = m4.get_state()
check(m4.state_batch == 5 and np.array_equal(h3, h4) and np.array_equal(c3, c4)
      and np.array_equal(m3.sample([EOS] * 5), m4.sample([EOS] * 5)),
      "to_bytes(state=True) -> from_bytes: hidden state and generator restored (same samples)")
check(rnn.Model.from_bytes(full, state=False).state_batch == 0, "from_bytes(state=False): no hidden state")
m3.save(os.path.join(W, "state.rnn"), state=True)
check(rnn.Model.load(os.path.join(W, "state.rnn")).state_batch == 5 and
      rnn.Model.load(os.path.join(W, "state.rnn"), state=False).state_batch == 0, "load(state=True / False)")

# model sampling with an rnn_sampling
m3.reset_state(2)
g0 = m3.sample([EOS, index["the"]], temperature=0)
m3.reset_state(2)
lp3 = m3.evaluate([[EOS], [index["the"]]], logprobs=True)[1]
m3.reset_state(2)
g1 = m3.sample([EOS, index["the"]], top_k=1)
check(list(g0) == list(g1) == [int(np.argmax(lp3[0, 0])), int(np.argmax(lp3[1, 0]))],
      "Model.sample: temperature=0 and top_k=1 both give the argmax")
raises(lambda: m3.sample([EOS, EOS], top_p=0), rnn.ERR_INVALID, "", "Model.sample(top_p=0)")

# cells through rnn_cell_name / rnn_cell_find
check([rnn.cell_name(i) for i in range(rnn.CELL_COUNT)] == ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]
      and rnn.cell_find("GRU") == rnn.CELL_GRU, "cell_name / cell_find")
raises(lambda: rnn.cell_find("gru"), rnn.ERR_NOTFOUND, "", "cell_find('gru') (exact names)")
check([rnn.Model(vocab_size=3, cell=c, emb_size=2, hidden_size=2, num_layers=1).config["cell"]
       for c in ("tanh", "RNN_RELU", "lstm", "Gru", rnn.CELL_TANH)] == ["RNN_TANH", "RNN_RELU", "LSTM", "GRU", "RNN_TANH"],
      "Model(cell=...) by name in any case, RNN_ optional, or by id")
try:
    rnn.Model(vocab_size=3, cell="transformer")
    check(False, "Model(cell='transformer') raises ValueError")
except ValueError as e:
    check("RNN_TANH, RNN_RELU, LSTM, GRU" in str(e), "Model(cell='transformer') raises ValueError: %s" % e)
check(rnn.limit(rnn.LIMIT_THREADS) == 256 and rnn.limit(rnn.LIMIT_APP_DATA) > 0, "limit(LIMIT_THREADS) == 256")

# numpy column slices go without a copy, with their row stride
src = batchify(train, 5)
xs, ys = src[:, 7:42], src[:, 8:43]
check(rnn._tokens(xs)[3] == src.shape[1] and rnn._tokens(xs)[4] is xs and rnn._tokens(np.ascontiguousarray(xs))[3] == 0,
      "a column slice is passed as it is, stride %d" % src.shape[1])
m3.set_seed(3); m3.reset_state(5)
m3.zero_grad()
l_slice = m3.forward(xs, ys)
m3.backward()
g_slice = m3.params()["decoder.bias"].grad.copy()
m3.zero_grad(); m3.set_seed(3); m3.reset_state(5)
l_copy = m3.forward(xs.copy(), ys.copy())
m3.backward()
check(l_slice == l_copy and np.array_equal(g_slice, m3.params()["decoder.bias"].grad),
      "forward/backward on strided slices == on dense copies (loss %.6f)" % l_slice)
m3.zero_grad(); m3.set_seed(3); m3.reset_state(5)
check(m3.forward(xs, ys.copy()) == l_copy, "tokens strided, targets dense: the same loss")
m3.reset_state(5)
e1 = m3.evaluate(src[:, 0:30], src[:, 1:31])
m3.reset_state(5)
check(e1 == m3.evaluate(src[:, 0:30].copy(), src[:, 1:31].copy()), "evaluate on strided slices == on copies")
s1, s2 = rnn.State(m3, 5, 1), rnn.State(m3, 5, 1)
check(np.array_equal(s1.score(src[:, 3:20]), s2.score(src[:, 3:20].copy())) and
      np.array_equal(s1.logprobs(), s2.logprobs()), "State.score on a strided slice == on a copy")
s1.feed(src[:, 20:25]); s2.feed(src[:, 20:25].copy())
check(np.array_equal(s1.get()[0], s2.get()[0]), "State.feed on a strided slice == on a copy")

# the library lookup
env = dict(os.environ)
env.pop("RNN_LIBRARY", None)
env["LD_LIBRARY_PATH"] = os.path.dirname(os.environ["RNN_LIBRARY"])
out = subprocess.run([sys.executable, "-c", "import rnn; print(rnn.library, rnn.version())"], env=env,
                     capture_output=True, text=True)
check(out.returncode == 0 and out.stdout.split() == ["librnn.so.1", rnn.version()],
      "without RNN_LIBRARY: librnn.so.1 found by the loader (%s)" % (out.stdout.strip() or out.stderr.strip()[-200:]))
env["RNN_LIBRARY"] = os.path.join(W, "nope.so")
out = subprocess.run([sys.executable, "-c", "import rnn"], env=env, capture_output=True, text=True)
check(out.returncode != 0 and "ImportError" in out.stderr and "nope.so" in out.stderr, "RNN_LIBRARY naming no library: ImportError")
check(os.path.basename(rnn.library) in ("librnn.so", "librnn.so.1") and rnn.version().startswith("1."),
      "loaded %s, version %s" % (rnn.library, rnn.version()))

# ---- 9. argument checks: integer ranges and types, NULs, lifetimes after close ---------------------
# ctypes wraps an int to the C type's width, int() takes floats and str() anything: each entry point
# checks instead (OverflowError, TypeError, ValueError for a NUL, which would cut a C string).
def raises_py(fn, exc, what, text=""):
    try:
        fn()
    except exc as e:
        check(text in str(e), "%s -> %s(%r)" % (what, exc.__name__, str(e)))
    except Exception as e:  # noqa
        check(False, "%s raised %r, not %s" % (what, e, exc.__name__))
    else:
        check(False, "%s did not raise %s" % (what, exc.__name__))


BIG = 2 ** 32
small = dict(emb_size=4, hidden_size=4, num_layers=1, dropout=0.0)
k = rnn.Model(vocab=["a", "b", "c", "<eos>"], **small)
k.reset_state(1)
kst = rnn.State(k, 1, 3)
for what, fn in (
        ("Model(vocab_size=2**32+10)", lambda: rnn.Model(vocab_size=BIG + 10, **small)),
        ("Model(emb_size=2**32+4)", lambda: rnn.Model(vocab_size=4, emb_size=BIG + 4, hidden_size=4, num_layers=1)),
        ("Model(hidden_size=2**32+4)", lambda: rnn.Model(vocab_size=4, emb_size=4, hidden_size=BIG + 4, num_layers=1)),
        ("Model(num_layers=2**32+1)", lambda: rnn.Model(vocab_size=4, emb_size=4, hidden_size=4, num_layers=BIG + 1)),
        ("Model(cell=2**32+CELL_LSTM)", lambda: rnn.Model(vocab_size=4, cell=BIG + rnn.CELL_LSTM, **small)),
        ("Model(tied=2**32+1)", lambda: rnn.Model(vocab_size=4, tied=BIG + 1, **small)),
        ("Model(seed=2**64)", lambda: rnn.Model(vocab_size=4, seed=2 ** 64, **small)),
        ("Model(seed=-1)", lambda: rnn.Model(vocab_size=4, seed=-1, **small)),
        ("reset_state(2**32+1)", lambda: k.reset_state(BIG + 1)),
        ("reserve(1, 2**32+1)", lambda: k.reserve(1, BIG + 1)),
        ("forward with token 2**32+1", lambda: k.forward([[BIG + 1]], [[1]])),
        ("forward with target 2**32+1", lambda: k.forward([[1]], [[BIG + 1]])),
        ("forward with token -2**31-1", lambda: k.forward([[-2 ** 31 - 1]], [[1]])),
        ("forward with an int64 array holding 2**32+1", lambda: k.forward(np.array([[BIG + 1]]), [[1]])),
        ("evaluate with token 2**32+1", lambda: k.evaluate([[BIG + 1]])),
        ("sample([2**32+1])", lambda: k.sample([BIG + 1])),
        ("sample(top_k=2**32+1)", lambda: k.sample([1], top_k=BIG + 1)),
        ("set_seed(2**64)", lambda: k.set_seed(2 ** 64)),
        ("set_seed(-1)", lambda: k.set_seed(-1)),
        ("threads = 2**32+1", lambda: setattr(k, "threads", BIG + 1)),
        ("vocab_word(2**32)", lambda: k.vocab_word(BIG)),
        ("State(batch=2**32+1)", lambda: rnn.State(k, BIG + 1)),
        ("State(seed=2**64)", lambda: rnn.State(k, 1, 2 ** 64)),
        ("State(seed=-1)", lambda: rnn.State(k, 1, -1)),
        ("State.feed with token 2**32+1", lambda: kst.feed([[BIG + 1]])),
        ("State.score with a uint64 array holding 2**32+1", lambda: kst.score(np.array([[BIG + 1]], dtype=np.uint64))),
        ("State.next(top_k=2**32+1)", lambda: kst.next(top_k=BIG + 1)),
        ("status_string(2**32)", lambda: rnn.status_string(BIG)),
        ("limit(2**32+LIMIT_THREADS)", lambda: rnn.limit(BIG + rnn.LIMIT_THREADS)),
        ("cell_name(2**32+1)", lambda: rnn.cell_name(BIG + 1))):
    raises_py(fn, OverflowError, what, "outside")
check(k.config["vocab_size"] == 4 and k.state_batch == 1 and k.threads == 1, "refused integers left the model as it was")
# at the edges of the ranges the library decides
raises(lambda: k.forward([[2 ** 31 - 1]], [[1]]), rnn.ERR_RANGE, "outside [0, 4)", "forward with token 2**31-1")
raises(lambda: k.vocab_word(2 ** 31 - 1), rnn.ERR_RANGE, "", "vocab_word(2**31-1)")
raises(lambda: k.reset_state(-1), rnn.ERR_INVALID, "", "reset_state(-1)")
raises(lambda: kst.generate(-1), rnn.ERR_INVALID, "count -1 < 0", "State.generate(-1)")
e1, e2 = rnn.State(k, np.int64(2), 2 ** 64 - 1), rnn.State(k, 2, np.uint64(2 ** 64 - 1))
k.set_seed(np.uint64(2 ** 64 - 1))
k.set_seed(0)
check(e1.batch == 2 and np.array_equal(e1.generate(5), e2.generate(5)) and kst.generate(0).shape == (1, 0),
      "numpy integer scalars are integers; seed 2**64-1 is accepted (State and set_seed); generate(0)")
check(rnn.Model(vocab_size=4, tied=True, **small).config["tied"] and rnn.Model(vocab_size=4, tied=np.int32(1), **small).config["tied"]
      and not rnn.Model(vocab_size=4, tied=False, **small).config["tied"], "tied (a yes/no field) takes a bool or an int")

for what, fn in (
        ("Model(vocab_size=10.0)", lambda: rnn.Model(vocab_size=10.0, **small)),
        ("Model(vocab_size='10')", lambda: rnn.Model(vocab_size="10", **small)),
        ("Model(vocab_size=True)", lambda: rnn.Model(vocab_size=True, **small)),
        ("Model(hidden_size=None)", lambda: rnn.Model(vocab_size=4, emb_size=4, hidden_size=None)),
        ("Model(seed=1.5)", lambda: rnn.Model(vocab_size=4, seed=1.5, **small)),
        ("Model(cell=2.0)", lambda: rnn.Model(vocab_size=4, cell=2.0, **small)),
        ("Model(dropout='0.2')", lambda: rnn.Model(vocab_size=4, emb_size=4, hidden_size=4, dropout="0.2")),
        ("Model(vocab='abc')", lambda: rnn.Model(vocab="abc", **small)),
        ("Model(vocab=['a', 5])", lambda: rnn.Model(vocab=["a", 5], **small)),
        ("forward with a float token", lambda: k.forward([[1.7]], [[1]])),
        ("forward with a float target", lambda: k.forward([[1]], [[1.0]])),
        ("forward with a bool token", lambda: k.forward([[True]], [[1]])),
        ("forward with a None token", lambda: k.forward([[None]], [[1]])),
        ("forward with a str", lambda: k.forward("ab", "bc")),
        ("forward with a float64 array", lambda: k.forward(np.array([[1.0]]), [[1]])),
        ("forward with a bool array", lambda: k.forward([[1]], np.array([[True]]))),
        ("forward with an empty float32 array", lambda: k.forward(np.zeros((1, 0), np.float32), np.zeros((1, 0), np.int32))),
        ("evaluate with a float32 array", lambda: k.evaluate(np.ones((1, 2), np.float32))),
        ("sample([1.0])", lambda: k.sample([1.0])),
        ("sample(np.array([1.5]))", lambda: k.sample(np.array([1.5]))),
        ("sample(top_k=1.5)", lambda: k.sample([1], top_k=1.5)),
        ("sample(temperature='hot')", lambda: k.sample([1], temperature="hot")),
        ("reset_state(1.0)", lambda: k.reset_state(1.0)),
        ("reset_state('1')", lambda: k.reset_state("1")),
        ("reset_state(True)", lambda: k.reset_state(True)),
        ("reserve(None, 1)", lambda: k.reserve(None, 1)),
        ("set_seed(1.5)", lambda: k.set_seed(1.5)),
        ("set_seed(True)", lambda: k.set_seed(True)),
        ("threads = 2.0", lambda: setattr(k, "threads", 2.0)),
        ("vocab_word(1.0)", lambda: k.vocab_word(1.0)),
        ("sgd_step('0.1')", lambda: k.sgd_step("0.1")),
        ("clip_grad_norm(None)", lambda: k.clip_grad_norm(None)),
        ("set_state(strings)", lambda: k.set_state([[["1"] * 4]])),
        ("State('model')", lambda: rnn.State("model")),
        ("State(batch=1.0)", lambda: rnn.State(k, 1.0)),
        ("State(seed=1.5)", lambda: rnn.State(k, 1, 1.5)),
        ("State.generate(2.0)", lambda: kst.generate(2.0)),
        ("State.generate('3')", lambda: kst.generate("3")),
        ("State.feed([[1.0]])", lambda: kst.feed([[1.0]])),
        ("State.score(a float array)", lambda: kst.score(np.ones((1, 2)))),
        ("State.next(temperature='hot')", lambda: kst.next(temperature="hot")),
        ("State.next(top_k=1.5)", lambda: kst.next(top_k=1.5)),
        ("State.set(strings)", lambda: kst.set(np.full((1, 1, 4), "1"))),
        ("State.copy_from('x')", lambda: kst.copy_from("x")),
        ("app_data = 5", lambda: setattr(k, "app_data", 5)),
        ("app_data = 'text'", lambda: setattr(k, "app_data", "text")),
        ("to_bytes(app_data=3)", lambda: k.to_bytes(app_data=3)),
        ("save(app_data=[1, 2])", lambda: k.save(os.path.join(W, "t.rnn"), app_data=[1, 2])),
        ("from_bytes(100)", lambda: rnn.Model.from_bytes(100)),
        ("find(5)", lambda: k.find(5)),
        ("param(None)", lambda: k.param(None)),
        ("encode(5)", lambda: k.encode(5)),
        ("split(5)", lambda: rnn.split(5)),
        ("cell_find(2)", lambda: rnn.cell_find(2)),
        ("status_string(1.0)", lambda: rnn.status_string(1.0)),
        ("Model.load(5.0)", lambda: rnn.Model.load(5.0))):
    raises_py(fn, TypeError, what)
check(k.app_data == b"" and not os.path.exists(os.path.join(W, "t.rnn")), "refused arguments left no app data and no file")

nul = os.path.join(W, "nul\0x.rnn")
for what, fn in (
        ("save('.../nul\\0x.rnn')", lambda: k.save(nul)),
        ("save(b'.../nul\\0x.rnn')", lambda: k.save(os.fsencode(nul))),
        ("Model.load('...\\0...')", lambda: rnn.Model.load(path + "\0x")),
        ("find('a\\0b')", lambda: k.find("a\0b")),
        ("word_id('a\\0b')", lambda: k.word_id("a\0b")),
        ("find(b'a\\0')", lambda: k.find(b"a\0")),
        ("param('decoder.bias\\0x')", lambda: k.param("decoder.bias\0x")),
        ("cell_find('GRU\\0x')", lambda: rnn.cell_find("GRU\0x")),
        ("Model(cell='GRU\\0x')", lambda: rnn.Model(vocab_size=4, cell="GRU\0x", **small)),
        ("vocab = [..., 'c\\0d', ...]", lambda: setattr(k, "vocab", ["a", "b", "c\0d", "<eos>"])),
        ("Model(vocab=['a\\0b', 'c'])", lambda: rnn.Model(vocab=["a\0b", "c"], **small))):
    raises_py(fn, ValueError, what, "NUL")
check(not os.path.exists(os.path.join(W, "nul")) and k.vocab == ["a", "b", "c", "<eos>"],
      "a NUL path wrote no cut-off file 'nul'; a NUL word left the vocabulary as it was")
raises(lambda: k.encode("a\0b"), rnn.ERR_FORMAT, "", "encode('a\\0b') (length passed: the library refuses the NUL)")
import pathlib  # noqa: E402
uni = os.path.join(W, "m\u00f6del \u00fcn\u00ef.rnn")
k.save(uni)
check(rnn.Model.load(pathlib.Path(uni)).vocab == k.vocab and rnn.Model.load(os.fsencode(uni)).config == k.config
      and os.path.exists(uni.encode("utf-8")), "paths: a non-ASCII str (UTF-8), pathlib.Path and bytes")
try:
    k.app_data = bytearray(b"x\0y")
    took = (k.find(b"b") == 1 and k.find(bytearray(b"c")) == 2 and k.word_id(memoryview(b"<eos>")) == 3
            and k.app_data == b"x\0y" and rnn.Model.from_bytes(memoryview(k.to_bytes())).app_data == b"x\0y")
except Exception as e:  # noqa
    took = repr(e)
check(took is True, "bytes, bytearray and memoryview words and data are accepted (%s)" % took)

# Lifetimes: each case runs in a child, so that a crash (a segfault; an ASan report) fails it
# instead of ending this run. States, parameter views and vocabulary copies used after the model
# is closed (close() or the end of a with block) raise or stay valid; none reads freed memory.
PRELUDE = r'''
import gc, sys, weakref
import numpy as np
import rnn

def fresh():
    return rnn.Model(vocab=["a", "b", "c", "<eos>"], emb_size=4, hidden_size=4, num_layers=1, dropout=0.0)

def expect(exc, fn, text=""):
    try:
        fn()
    except exc as e:
        assert text in str(e), "%r lacks %r" % (str(e), text)
        return
    raise AssertionError("%r did not raise %s" % (fn, exc.__name__))
'''


def child(what, code):
    try:
        out = subprocess.run([sys.executable, "-c", PRELUDE + code + "\nprint('child ok')\n"],
                             capture_output=True, text=True, timeout=300)
        rc, log = out.returncode, (out.stderr.strip() or out.stdout.strip())
        ok = rc == 0 and out.stdout.rstrip().endswith("child ok")
    except subprocess.TimeoutExpired:
        rc, log, ok = "timeout", "", False
    check(ok, what + ("" if ok else " -- child exit %s%s: %s" % (
        rc, " (signal %d)" % -rc if isinstance(rc, int) and rc < 0 else "", log[-400:])))


child("a State used after its model's with block raises ValueError (every State call)", r'''
with fresh() as m:
    st = rnn.State(m, 1, 3)
    st.feed([[1, 2]])
    twin = st.clone()
calls = [lambda: st.feed([[1]]), lambda: st.score([[1]]), lambda: st.generate(5), st.next, st.logprobs,
         st.get, lambda: st.set(np.zeros((1, 1, 4))), st.reset, st.clone, st.copy, lambda: st.batch,
         lambda: twin.copy_from(st), lambda: st.copy_from(twin)]
for fn in calls:
    expect(ValueError, fn, "model is closed")
assert repr(st) == "<rnn.State closed>", repr(st)
st.close(); st.close(); twin.close()
del st, twin; gc.collect()
''')
child("Model.close() frees its States; a closed model refuses State(); states then close cleanly", r'''
m = fresh()
sts = [rnn.State(m, 2, s) for s in range(3)]
m.close()
expect(ValueError, lambda: sts[0].generate(3), "model is closed")
expect(ValueError, lambda: rnn.State(m), "model is closed")
for st in sts:
    st.close()
m.close()
del sts, m; gc.collect()
''')
child("parameter views after close(): read-only, still readable (memory kept), freed with the last view", r'''
m = fresh()
p = m.params()
d, g = p["decoder.bias"].data, p["decoder.bias"].grad
one = m.param("encoder.weight").data
blk, gblk = m.param_block()
before = blk.copy()
handle = weakref.ref(m._owner)
m.close()
for v in (d, g, one, blk, gblk):
    expect(ValueError, lambda: v.__setitem__(0, 1.0), "read-only")
assert np.array_equal(blk, before) and float(d.sum()) == float(before[-4:].sum())
assert handle() is not None, "the C model was freed under live views"
del p, d, g, one, blk, gblk, v; gc.collect()
assert handle() is None, "the C model outlived its last view"
''')
child("parameter views after a with block: read-only, and reading them reads live memory", r'''
with fresh() as m:
    w = m.param("rnn.weight_hh_l0")
    block = m.param_block()[0]
expect(ValueError, lambda: w.data.__setitem__((0, 0), 5.0), "read-only")
expect(ValueError, lambda: block.fill(0.0), "read-only")
assert np.isfinite(w.data).all() and np.isfinite(block).all() and np.shares_memory(w.data, block)
''')
child("closing a model that only States refer to frees its C memory at once", r'''
m = fresh()
st = rnn.State(m)
handle = weakref.ref(m._owner)
m.close()
assert handle() is None
''')
child("a State and a parameter view keep a collected Model alive and usable", r'''
st = rnn.State(fresh(), 1, 3)
twin = st.clone()
gc.collect()
st.feed([[1, 2]]); twin.feed([[1, 2]])
assert np.array_equal(st.generate(5), twin.generate(5))
d = fresh().params()["encoder.weight"].data
blk = rnn.Model.from_bytes(fresh().to_bytes()).param_block()[1]
gc.collect()
d[0, 0] = 5.0; blk[:] = 1.0
assert d[0, 0] == 5.0 and d.flags.writeable and blk.sum() == blk.size
''')
child("a garbage cycle holding a Model, its States and views is freed in a safe order", r'''
for i in range(20):
    m = fresh()
    st = rnn.State(m, 1, i)
    v = m.params()["encoder.weight"].data
    m.cycle, st.cycle = (st, st.clone(), v), m
    if i % 2:
        st.loop = st
    del m, st, v
    gc.collect()
''')
child("vocabulary, config and parameter names are copies: fine after close", r'''
m = fresh()
words, cfg, name = m.vocab, m.config, m.param("decoder.bias").name
m.close()
assert words == ["a", "b", "c", "<eos>"] and cfg["vocab_size"] == 4 and name == "decoder.bias"
expect(ValueError, lambda: m.vocab, "model is closed")
''')
child("State.generate(2**32+3) raises OverflowError (no wrapped count, no 16 GiB buffer)", r'''
st = rnn.State(fresh())
expect(OverflowError, lambda: st.generate(2 ** 32 + 3), "outside")
''')

# ---- the adaptive output layer (librnn 1.1): config fields, create, train, save, load ------------
import ctypes, re  # noqa: E402
hdr = open(os.path.join(os.getcwd(), "include", "rnn.h"), encoding="utf8").read()
hdr_max = int(re.search(r"#define RNN_MAX_CUTOFFS (\d+)", hdr).group(1))
C = rnn._Config
check(rnn.MAX_CUTOFFS == hdr_max == rnn.limit(rnn.LIMIT_CUTOFFS) and len(C().cutoffs) == hdr_max
      and C.output.offset == C.seed.offset + 8 and C.cutoffs.offset == C.num_cutoffs.offset + 4
      and C.div_value.offset == C.cutoffs.offset + 4 * hdr_max and ctypes.sizeof(C) == C.head_bias.offset + 4,
      "rnn_config's 1.1 fields after the 1.0 layout: cutoffs is int[RNN_MAX_CUTOFFS = %d] (rnn.h), no padding" % hdr_max)
cuts = [3, V // 2]
ad = rnn.Model(vocab=words, emb_size=12, hidden_size=16, num_layers=1, dropout=0.0, cell="GRU",
               adaptive_cutoffs=cuts, div_value=2.0, head_bias=True)
c = ad.config
check(c["adaptive_cutoffs"] == cuts and c["div_value"] == 2.0 and c["head_bias"] is True,
      "Model(adaptive_cutoffs=, div_value=, head_bias=): config reports them: %r" % {k: c[k] for k in ("adaptive_cutoffs", "div_value", "head_bias")})
check(list(ad.params())[-6:] == ["decoder.head.weight", "decoder.head.bias", "decoder.tail.0.0.weight",
                                 "decoder.tail.0.1.weight", "decoder.tail.1.0.weight", "decoder.tail.1.1.weight"]
      and ad.params()["decoder.head.weight"].shape == (cuts[0] + 2, 16) and ad.params()["decoder.tail.1.0.weight"].shape == (4, 16),
      "adaptive model: PyTorch's AdaptiveLogSoftmaxWithLoss parameters")
full = rnn.Model(vocab_size=5, emb_size=2, hidden_size=2, num_layers=1)
check(full.config["adaptive_cutoffs"] is None and full.config["div_value"] == 0.0 and full.config["head_bias"] is False
      and rnn.Model(**ad.config).config == ad.config, "config of a full model: None, 0.0, False; Model(**m.config) remakes an adaptive one")
d0 = rnn.Model(vocab_size=V, emb_size=4, hidden_size=16, num_layers=1, adaptive_cutoffs=[5]).config
check(d0["div_value"] == 4.0 and d0["head_bias"] is False, "adaptive defaults: div_value 4, no head bias")
src = batchify(train, 4)
xa, ya = src[:, :10], src[:, 1:11]
ad.reset_state(4)
l0 = ad.forward(xa, ya)
ad.zero_grad(); ad.backward(); ad.clip_grad_norm(0.25); ad.sgd_step(1.0)
check(math.isfinite(l0) and abs(l0 - math.log(V)) < 2.0, "adaptive model: a training step (loss %.4f, log V %.4f)" % (l0, math.log(V)))
apath = os.path.join(W, "adaptive.rnn")
ad.save(apath)
check(open(apath, "rb").read()[8:12] == b"\x02\x00\x00\x00", "an adaptive model is saved as format version 2")
ad2 = rnn.Model.load(apath)
ad.reset_state(4); ad2.reset_state(4)
la, lpa = ad.evaluate(xa, ya, logprobs=True)
lb, lpb = ad2.evaluate(xa, ya, logprobs=True)
check(ad2.config == ad.config and la == lb and np.array_equal(lpa, lpb) and ad2.vocab == words,
      "adaptive model: save, load: same config, vocabulary, loss and log-probabilities (bit for bit)")
check(np.allclose(np.exp(lpa).sum(-1), 1.0, atol=1e-5), "adaptive log-probabilities sum to 1")
ad3 = rnn.Model.from_bytes(ad.to_bytes(state=True))
check(ad3.config == ad.config and ad3.state_batch == 4, "adaptive model: to_bytes / from_bytes with its state")
f = rnnfile.read(apath)
check(f.cutoffs == cuts and f.div_value == 2.0 and f.head_bias and [n for n, _ in f.params] == list(ad.params()),
      "tools/rnnfile.py reads the adaptive file: %s" % f.describe())
r = subprocess.run([os.environ["RNNLM"], "info", "--checkpoint", apath, "--json"], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
j = json.loads(r.stdout.decode() or "{}")
sizes = [cuts[1] - cuts[0], V - cuts[1]]
check(r.returncode == 0 and j.get("format_version") == 2 and j.get("output") == "adaptive" and j.get("cutoffs") == cuts
      and j.get("div_value") == 2 and j.get("head_bias") is True and j.get("head_size") == cuts[0] + 2
      and j.get("cluster_sizes") == sizes and j.get("projections") == [8, 4]
      and j.get("parameters") == sum(p.data.size for p in ad.params().values()),
      "rnnlm info --json of the adaptive model: %s" % (r.stdout.decode().strip() or r.stderr.decode().strip())[:400])
r = subprocess.run([os.environ["RNNLM"], "info", "--checkpoint", apath], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
t = r.stdout.decode()
check(r.returncode == 0 and "output          adaptive softmax: cutoffs 3,%d, div_value 2, head bias yes\n" % cuts[1] in t
      and "  head          5 rows: words 0-2 and 2 clusters\n" in t
      and "  cluster 1     %d words (%d-%d) through 4 projection units\n" % (sizes[1], cuts[1], V - 1) in t,
      "rnnlm info of the adaptive model: the output layer, its head and clusters")
for kw, text in (({"adaptive_cutoffs": [V]}, "cutoffs[0]"), ({"adaptive_cutoffs": [4, 4]}, "increasing"),
                 ({"adaptive_cutoffs": []}, "num_cutoffs"), ({"adaptive_cutoffs": [2], "tied": True, "emb_size": 16}, "tied"),
                 ({"adaptive_cutoffs": [2], "div_value": 32.0}, "0 units"), ({"div_value": 2.0}, "RNN_OUTPUT_FULL"),
                 ({"head_bias": True}, "RNN_OUTPUT_FULL")):
    raises(lambda: rnn.Model(vocab_size=V, hidden_size=16, num_layers=1, **kw), rnn.ERR_INVALID, text, "Model(%r)" % kw)
for kw, exc in (({"adaptive_cutoffs": [1] * (rnn.MAX_CUTOFFS + 1)}, ValueError), ({"adaptive_cutoffs": [2.0]}, TypeError),
                ({"adaptive_cutoffs": 5}, TypeError), ({"adaptive_cutoffs": "12"}, TypeError),
                ({"adaptive_cutoffs": [2 ** 31]}, OverflowError), ({"div_value": "4"}, TypeError), ({"head_bias": 1.0}, TypeError)):
    try:
        rnn.Model(vocab_size=V, hidden_size=16, num_layers=1, **kw)
        check(False, "Model(%r) did not raise" % kw)
    except exc:
        check(True, "Model(%r) raises %s" % (kw, exc.__name__))
    except Exception as e:  # noqa
        check(False, "Model(%r) raised %r, not %s" % (kw, e, exc.__name__))

# ---- quantized weights (librnn 1.1): quantize, weight_type, files, inference, training refused ----
fp = rnn.Model.load(path)
check(fp.weight_type == "fp32", "a trained model's weight_type is 'fp32'")
ref = evaluate(fp, valid)
qtext = " ".join(words[int(i)] for i in valid[:12] if int(i) != EOS)
for kind in ("q8", "bf16"):
    q = rnn.Model.load(path)
    q.quantize(kind)
    qv = evaluate(q, valid)
    check(q.weight_type == kind and math.isfinite(qv) and qv != ref and abs(qv - ref) < 0.02 * ref,
          "Model.quantize(%r): weight_type %r, valid loss %.6f against fp32 %.6f" % (kind, q.weight_type, qv, ref))
    ps, fps = q.params(), fp.params()
    check(list(ps) == list(fps) and ps["encoder.weight"].data is None and ps["rnn.weight_hh_l1"].data is None
          and np.array_equal(ps["decoder.bias"].data, fps["decoder.bias"].data)
          and all(p.grad is None for p in ps.values()) and ps["decoder.weight"].shape == fps["decoder.weight"].shape,
          "%s params(): weight matrices' data None, biases fp32 as before, no gradients" % kind)
    for name, call in (("forward", lambda: q.forward(x, y)), ("backward", lambda: q.backward()),
                       ("zero_grad", lambda: q.zero_grad()), ("clip_grad_norm", lambda: q.clip_grad_norm(0.25)),
                       ("sgd_step", lambda: q.sgd_step(1.0)), ("adamw_step", lambda: q.adamw_step()),
                       ("param_block", lambda: q.param_block())):
        raises(call, rnn.ERR_STATE, "the model's weights are %s (rnn_model_quantize): a quantized model is for inference only"
               % kind, "%s model: %s" % (kind, name))
    qp = os.path.join(W, "py.%s.rnn" % kind)
    q.save(qp)
    lq, bq = rnn.Model.load(qp), rnn.Model.from_bytes(q.to_bytes())
    check(open(qp, "rb").read()[8:12] == b"\x03\x00\x00\x00" and os.path.getsize(qp) < 0.6 * os.path.getsize(path)
          and lq.weight_type == bq.weight_type == kind and lq.vocab == words and lq.config == q.config
          and evaluate(lq, valid) == evaluate(bq, valid) == qv,
          "%s model: save / load and to_bytes / from_bytes: format version 3, %d bytes against %d, the same evaluation"
          % (kind, os.path.getsize(qp), os.path.getsize(path)))
    out = subprocess.run([rnnlm, "eval", "--checkpoint", qp, "--data", os.path.join(W, "valid.txt"), "--json"],
                         capture_output=True, text=True)
    cli = json.loads(out.stdout or "{}")
    check(out.returncode == 0 and abs(cli.get("ppl", 0) - math.exp(qv)) <= 1e-5 * math.exp(qv),
          "rnnlm eval of the %s file: ppl %r == the binding's %.10g" % (kind, cli.get("ppl"), math.exp(qv)))
    lq.reset_state(1); q.reset_state(1)
    sq = rnn.State(q, 2, 7)
    sq.feed([[EOS, index["the"]]] * 2)
    gq = sq.generate(15)
    sl = rnn.State(lq, 2, 7)
    sl.feed([[EOS, index["the"]]] * 2)
    check(np.array_equal(gq, sl.generate(15)) and lq.score_text(qtext) == q.score_text(qtext)
          and all(math.isfinite(v) for v in q.score_text(qtext)) and lq.sample([EOS], 1.0) is not None
          and lq.generate_text("the", words=12, seed=4) == q.generate_text("the", words=12, seed=4),
          "%s model: State feed / generate, score_text, sample and generate_text work, and agree after load" % kind)
    lp = lq.evaluate([[EOS, index["the"]]], logprobs=True)
    check(np.allclose(np.exp(np.asarray(lp[1] if isinstance(lp, tuple) else lp)).sum(-1), 1.0, atol=1e-4),
          "%s model: evaluate(logprobs=True) rows sum to 1" % kind)
    q.quantize(kind)  # the type it has: nothing to do
    other = "bf16" if kind == "q8" else "q8"
    raises(lambda: q.quantize(other), rnn.ERR_STATE, "already %s" % kind, "%s model: quantize(%r)" % (kind, other))
raises(lambda: ad.quantize("q8"), rnn.ERR_INVALID, "adaptive output layer", "adaptive model: quantize('q8')")
check(ad.weight_type == "fp32", "a refused quantize leaves the model fp32")
try:
    fp.quantize("q4")
    check(False, "quantize('q4') did not raise")
except ValueError as e:
    check("q8" in str(e) and fp.weight_type == "fp32", "quantize('q4') raises ValueError naming the types: %s" % e)
# quantizing frees the fp32 blocks: refused while a params() / param_block() view is alive (it
# would read freed memory), allowed once they are gone
emb = fp.params()["encoder.weight"].data
first = float(emb[0][0])
del ps, fps
raises(lambda: fp.quantize("q8"), rnn.ERR_STATE, "still alive", "quantize with a live params() view")
check(fp.weight_type == "fp32" and float(emb[0][0]) == first, "the refused quantize left the model and the view as they were")
blk = fp.param_block()
del emb
raises(lambda: fp.quantize("q8"), rnn.ERR_STATE, "still alive", "quantize with a live param_block() view")
del blk
fp.quantize(rnn.WEIGHTS_BF16)
check(fp.weight_type == "bf16", "quantize(rnn.WEIGHTS_BF16): an RNN_WEIGHTS_* int works too, once the views are gone")
real_lib = rnn._lib


class Without11Quant:  # a 1.0 library: no rnn_model_quantize, no rnn_model_get_weight_type
    def __getattr__(self, name):
        if name in ("rnn_model_quantize", "rnn_model_get_weight_type"):
            raise AttributeError(name)
        return getattr(real_lib, name)


rnn._lib = Without11Quant()
m10 = rnn.Model.load(path)
errs = []
for call in (lambda: m10.quantize("q8"), lambda: m10.weight_type):
    try:
        call()
        errs.append("no error")
    except rnn.RnnError as e:
        errs.append(str(e))
rnn._lib = real_lib
check(all("needs librnn 1.1" in e for e in errs) and m10.weight_type == "fp32",
      "on a 1.0 library, quantize and weight_type raise RnnError naming the version needed (%r)" % errs)

np.save(os.path.join(W, "gen.npy"), gen(5, n=30))
with open(os.path.join(W, "dump.json"), "w") as f:  # for the no-numpy run
    json.dump({"gen": gen(5, n=30)[0].tolist(), "bias": m2.params()["decoder.bias"].data[0].tolist(),
               "EOS": EOS, "V": V, "words": words}, f)
m.close()
m.close()
check(repr(m) == "<rnn.Model closed>", "close() is idempotent")
try:
    m.forward(x, y)
    check(False, "a closed model raises")
except ValueError:
    check(True, "a closed model raises ValueError")
print("numpy: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF

cat >"$W/test_plain.py" <<'EOF'
import json, os, sys, struct
import rnn  # without numpy: memoryviews and lists

W = sys.argv[1]
d = json.load(open(os.path.join(W, "dump.json")))
m = rnn.Model.load(os.path.join(W, "py.rnn"))
ok = True
st = rnn.State(m, 1, 5)
st.feed([d["EOS"]])  # a flat list: one stream
g = st.generate(30)
ok &= g == [d["gen"]]
bias = m.params()["decoder.bias"].data
ok &= isinstance(bias, memoryview) and bias.shape == (1, d["V"])
ok &= [round(v, 6) for v in bias.tolist()[0]] == [round(v, 6) for v in d["bias"]]
bias[0, 0] = 42.0  # writes through to the model
ok &= m.param("decoder.bias").data[0, 0] == 42.0
try:
    st.feed([[d["V"]]])
    ok = False
except rnn.RnnError as e:
    ok &= e.code == rnn.ERR_RANGE and "outside" in e.errmsg
ok &= m.encode(d["words"][0] + "\u00a0" + d["words"][1]) == [0, 1, d["EOS"]]  # a list without numpy too
ok &= m.find(d["words"][1]) == 1
m2 = rnn.Model.from_bytes(m.to_bytes())
ok &= m2.params()["decoder.bias"].data[0, 0] == 42.0
st, st2 = rnn.State(m, 1, 5), rnn.State(m2, 1, 5)
ok &= st.generate(10) == st2.generate(10)  # from_bytes(to_bytes()) generates the same
print("plain python: generation and views match the numpy run" if ok else "plain python: MISMATCH")


def refused(exc, fn):  # argument checks and lifetimes on the list / memoryview path
    try:
        fn()
    except exc:
        return True
    except Exception:  # noqa
        return False
    return False


with rnn.Model.load(os.path.join(W, "py.rnn")) as m5:
    st5 = rnn.State(m5, 1, 5)
    b5 = m5.params()["decoder.bias"].data
    blk5 = m5.param_block()[0]
checks = [refused(OverflowError, lambda: st.feed([[2 ** 32 + 5]])), refused(TypeError, lambda: st.feed([[1.0]])),
          refused(TypeError, lambda: st.generate(2.0)), refused(TypeError, lambda: st.set([[[1.0] * 47 + ["x"]]])),
          refused(ValueError, lambda: st5.generate(3)), refused(ValueError, lambda: b5[0, 0]),
          refused(ValueError, lambda: blk5[0]), refused(ValueError, lambda: b5.tolist())]
print("plain python: argument checks; States and (released) memoryviews after the with block raise %s"
      % ("as they should" if all(checks) else "NOT as they should: %r" % checks))
sys.exit(0 if ok and all(checks) else 1)
EOF

pass=0
fail=0
out=$("$PY" "$W/test_numpy.py" "$W" 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out" # not echo: dash's echo would turn a backslash in the output into an escape
p=$(echo "$out" | grep -c '^ok ' || true)
f=$(echo "$out" | grep -c '^FAIL ' || true)
pass=$((pass + p))
fail=$((fail + f))
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then fail=$((fail + 1)); echo "FAIL $PY test_numpy.py exited $rc"; fi

# the pure-Python path, with a python3 that has no numpy (e.g. a pyenv one), when there is one
# (not under SANITIZE=1: an ASan-built librnn.so only loads into a process with the ASan runtime)
if [ -n "${RNN_SANFLAGS:-}" ]; then
    echo "(sanitizer build: the pure-Python path with a plain python3 is not exercised)"
elif command -v python3 >/dev/null && ! python3 -c 'import numpy' 2>/dev/null && [ -s "$W/dump.json" ]; then
    if python3 "$W/test_plain.py" "$W"; then
        pass=$((pass + 1)); echo "ok   $(command -v python3) (no numpy) uses memoryviews/lists and matches"
    else
        fail=$((fail + 1)); echo "FAIL $(command -v python3) (no numpy) path"
    fi
else
    echo "(no numpy-less python3 on PATH: the pure-Python path is not exercised)"
fi
echo "python_binding: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
