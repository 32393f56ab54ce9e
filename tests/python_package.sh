#!/bin/sh
# tests/python_package.sh -- the Python package (bindings/python: pyproject.toml, setup.py, rnn/)
# installed as a user installs it, then used from outside the source tree without PYTHONPATH.
#   sh tests/python_package.sh       (make check runs it from the repository root)
# Environment: RNN_LIBDIR (folder of librnn.so.1, default lib), PYTHON (default /usr/bin/python3;
# it makes the virtual environment), CI (set and not "false": missing tools are a failure, not a
# skip).
# A virtual environment (python3 -m venv --system-site-packages: Debian's numpy, setuptools and
# wheel stay visible) gets the package with pip install --no-index --no-build-isolation (no package
# index is needed): plain (the library found at run time), RNN_BUNDLE=1 (lib/librnn.so.1 built
# and put into the package) and RNN_BUNDLE=PATH. Checked: each documented way of finding the
# library and their order (RNN_LIBRARY, the bundled copy, the dynamic loader), that a plain build
# after a bundled one carries no stale library, the version against RNN_VERSION_STRING, the type
# hints, encode/decode round trips, score_text (per sentence: equal lines score equal, and the
# library's rnn_state_score_sentence; a 1.0 library raises naming the version), AdamW, generate_text
# (reproducible with a seed, made of the State calls it documents, stop_at_eos), the vocabulary
# cache (fast; emptied by assigning m.vocab), and every Python example of bindings/python/README.md.
# Prints "N passed, M failed" last; exits non-zero when anything failed.
set -eu

PY=${PYTHON:-/usr/bin/python3}
ROOT=$(pwd)
skip() {
    if [ -n "${CI:-}" ] && [ "${CI:-}" != false ]; then
        echo "FAIL: $1 (CI is set: scripts/setup.sh installs what this test needs)"
        echo "python_package: 0 passed, 1 failed"
        exit 1
    fi
    echo "SKIP: $1"
    echo "python_package: 0 passed, 0 failed (skipped)"
    exit 0
}
if [ -n "${RNN_SANFLAGS:-}" ]; then
    # an ASan-built librnn.so loads only into a process started with the ASan runtime, which a
    # virtual environment's python is not; the binding itself is tested by python_binding.sh
    echo "SKIP: sanitizer build (the package's Python cannot load an ASan-built librnn)"
    echo "python_package: 0 passed, 0 failed (skipped)"
    exit 0
fi
"$PY" -c 'import ensurepip, venv' 2>/dev/null || skip "$PY cannot make virtual environments (apt-get install python3-venv)"
"$PY" -c 'import setuptools, wheel' 2>/dev/null || skip "$PY has no setuptools/wheel (apt-get install python3-setuptools python3-wheel)"
"$PY" -c 'import numpy' 2>/dev/null || skip "$PY has no numpy (apt-get install python3-numpy)"

LIBDIR=$(cd "${RNN_LIBDIR:-lib}" 2>/dev/null && pwd) || LIBDIR=$ROOT/lib
LIB=$LIBDIR/librnn.so.1
if [ ! -e "$LIB" ]; then
    echo "FAIL $LIB does not exist (run make first)"
    echo "python_package: 0 passed, 1 failed"
    exit 1
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/rnn-package.XXXXXX")
# an in-tree pip build leaves these in bindings/python (ignored by git): removed again when this
# test made them
leftovers=""
for d in bindings/python/build bindings/python/librnn.egg-info; do
    [ -e "$d" ] || leftovers="$leftovers $ROOT/$d"
done
trap 'rm -rf "$W" $leftovers' EXIT INT TERM

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() {
    desc=$1; shift
    if "$@" >"$W/out" 2>&1; then ok "$desc"; else bad "$desc"; tail -15 "$W/out"; fi
}

. "$(dirname "$0")/lib/corpus.sh"
mkdir -p "$W/run/data" "$W/other"
grammar_corpus "$W/run/data/train.txt" 21 1000
grammar_corpus "$W/run/data/valid.txt" 22 100
grammar_corpus "$W/run/data/test.txt" 23 100
cp "$LIB" "$W/other/librnn.so.1"

export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 OPENBLAS_NUM_THREADS=1
export PYTHONDONTWRITEBYTECODE=1
VPY=$W/venv/bin/python
SITE=""
# vpy ENV... -- CODE: the venv's python from outside the source tree, with only the given
# library variables
vpy() {
    (cd "$W/run" && env -u PYTHONPATH -u RNN_LIBRARY -u LD_LIBRARY_PATH "$@")
}
pip_install() { # pip_install [RNN_BUNDLE value|-] SOURCE
    if [ "$1" = - ]; then
        (cd "$W/run" && env -u RNN_BUNDLE "$VPY" -m pip install --no-index --no-build-isolation \
            --force-reinstall --no-deps "$2")
    else
        (cd "$W/run" && RNN_BUNDLE=$1 "$VPY" -m pip install --no-index --no-build-isolation \
            --force-reinstall --no-deps "$2")
    fi
}

check "python3 -m venv --system-site-packages" "$PY" -m venv --system-site-packages "$W/venv"
check "pip install --no-index --no-build-isolation ./bindings/python" pip_install - "$ROOT/bindings/python"
SITE=$(vpy "$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
check "the plain wheel carries no library" test ! -e "$SITE/rnn/librnn.so.1"
check "the package ships py.typed" test -e "$SITE/rnn/py.typed"

# library lookup, plain install: nothing found, the dynamic loader, RNN_LIBRARY
if ldconfig -p 2>/dev/null | grep -q 'librnn\.so\.1 '; then
    echo "(librnn.so.1 is installed system-wide: the not-found case is not exercised)"
else
    vpy "$VPY" -c 'import rnn' >"$W/nolib" 2>&1 && rc=0 || rc=$?
    check "plain install, no library anywhere: ImportError naming RNN_LIBRARY" \
        sh -c "[ $rc -ne 0 ] && grep -q 'ImportError: rnn: cannot load librnn 1.x; tried librnn.so.1' '$W/nolib' && grep -q RNN_LIBRARY '$W/nolib'"
fi
where=$(vpy LD_LIBRARY_PATH="$LIBDIR" "$VPY" -c 'import rnn; print(rnn.library, rnn.__file__)' 2>&1 || true)
check "plain install + LD_LIBRARY_PATH: librnn.so.1 through the dynamic loader, the package from site-packages ($where)" \
    test "$where" = "librnn.so.1 $SITE/rnn/__init__.py"
where=$(vpy RNN_LIBRARY="$W/other/librnn.so.1" "$VPY" -c 'import rnn; print(rnn.library)' 2>&1 || true)
check "plain install + RNN_LIBRARY: that file ($where)" test "$where" = "$W/other/librnn.so.1"

# the version: pyproject.toml, the installed metadata and the header agree
hv=$(sed -n 's/^#define RNN_VERSION_STRING "\(.*\)"/\1/p' include/rnn.h)
pv=$(sed -n 's/^version = "\(.*\)"/\1/p' bindings/python/pyproject.toml)
mv=$(vpy "$VPY" -c 'import importlib.metadata as m; print(m.version("librnn"))' 2>&1 || true)
check "pyproject.toml's version ($pv) and the installed one ($mv) are RNN_VERSION_STRING ($hv)" \
    sh -c "[ -n '$hv' ] && [ '$pv' = '$hv' ] && [ '$mv' = '$hv' ]"

# type hints: every public function and method is annotated, and the hints resolve
cat >"$W/hints.py" <<'EOF'
import inspect, typing
import rnn
missing = []
n = 0
for owner in (rnn, rnn.Model, rnn.State):
    for name, f in vars(owner).items():
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(f, property):
            f = f.fget
        elif isinstance(f, (classmethod, staticmethod)):
            f = f.__func__
        if not inspect.isfunction(f) or getattr(f, "__module__", None) != "rnn":
            continue
        hints = typing.get_type_hints(f)  # raises if a hint does not resolve
        n += 1
        params = [p for p in inspect.signature(f).parameters if p not in ("self", "cls")]
        if name != "__init__" and "return" not in hints or any(p not in hints for p in params):
            missing.append("%s.%s" % (getattr(owner, "__name__", owner), name))
assert not missing, "without type hints: %s" % ", ".join(missing)
assert typing.get_type_hints(rnn.Model.encode)["return"] == typing.List[int]
assert typing.get_type_hints(rnn.Model.generate_text)["return"] is str
print("%d functions and methods annotated" % n)
EOF
check "type hints: every public function and method annotated, typing.get_type_hints resolves them" \
    vpy RNN_LIBRARY="$LIB" "$VPY" "$W/hints.py"

# bundled: RNN_BUNDLE=1 builds lib/librnn.so.1 of this tree (the default build) and puts it into
# the package; for another build (RNN_LIBDIR elsewhere: BLAS=ref, ...) its library is given by path
if [ "$LIBDIR" = "$ROOT/lib" ]; then BUNDLE=1; else BUNDLE=$LIB; fi
check "RNN_BUNDLE=$BUNDLE pip install ./bindings/python" pip_install "$BUNDLE" "$ROOT/bindings/python"
check "the bundled wheel carries librnn.so.1 (a file, the tree's library)" \
    sh -c "[ -f '$SITE/rnn/librnn.so.1' ] && [ ! -L '$SITE/rnn/librnn.so.1' ] && cmp -s '$SITE/rnn/librnn.so.1' '$LIB'"
where=$(vpy "$VPY" -c 'import rnn; print(rnn.library)' 2>&1 || true)
check "bundled, no variables: the package's own copy ($where)" test "$where" = "$SITE/rnn/librnn.so.1"
where=$(vpy LD_LIBRARY_PATH="$W/other" "$VPY" -c 'import rnn; print(rnn.library)' 2>&1 || true)
check "bundled + LD_LIBRARY_PATH: the bundled copy comes first ($where)" test "$where" = "$SITE/rnn/librnn.so.1"
where=$(vpy RNN_LIBRARY="$W/other/librnn.so.1" "$VPY" -c 'import rnn; print(rnn.library)' 2>&1 || true)
check "bundled + RNN_LIBRARY: RNN_LIBRARY comes first ($where)" test "$where" = "$W/other/librnn.so.1"
tags=$(cat "$SITE"/librnn-*.dist-info/WHEEL 2>/dev/null | sed -n 's/^Tag: //p')
check "the bundled wheel is tagged py3-none-<platform> ($tags)" sh -c "echo '$tags' | grep -q '^py3-none-linux'"

# a plain build after a bundled one (the in-tree build folder is reused) carries no stale library
check "pip install ./bindings/python again (plain)" pip_install - "$ROOT/bindings/python"
check "... and the reinstalled package has no bundled library left" test ! -e "$SITE/rnn/librnn.so.1"

# RNN_BUNDLE=PATH from a copy of the package outside the tree
mkdir -p "$W/pkg"
cp -R bindings/python/pyproject.toml bindings/python/setup.py bindings/python/README.md bindings/python/rnn "$W/pkg/"
rm -f "$W/pkg/rnn/librnn.so"*
check "RNN_BUNDLE=$W/other/librnn.so.1 pip install (a copy of the package)" pip_install "$W/other/librnn.so.1" "$W/pkg"
check "... bundles that file" cmp -s "$SITE/rnn/librnn.so.1" "$W/other/librnn.so.1"
pip_install "$W/nope.so" "$W/pkg" >"$W/nope" 2>&1 && rc=0 || rc=$?
check "RNN_BUNDLE naming no file: the install fails, naming it" sh -c "[ $rc -ne 0 ] && grep -q 'RNN_BUNDLE=$W/nope.so: no such file' '$W/nope'"

# the text helpers and the vocabulary cache, from the bundled install, outside the tree
cat >"$W/features.py" <<'EOF'
import math, os, sys, time
import numpy as np
import rnn

passed = failed = 0


def check(cond, what):
    global passed, failed
    passed, failed = passed + bool(cond), failed + (not cond)
    print(("ok   " if cond else "FAIL ") + what)


def raises(fn, exc, text=""):
    try:
        fn()
    except exc as e:
        return text in str(e)
    except Exception:  # noqa
        return False
    return False


ROOT = sys.argv[1]
check(not os.path.abspath(rnn.__file__).startswith(ROOT + os.sep) and "PYTHONPATH" not in os.environ,
      "imported from %s, not the source tree" % os.path.dirname(rnn.__file__))
lines = open("data/train.txt", encoding="utf8").read().splitlines()
words = sorted({w for line in lines for w in line.split()}) + ["<eos>"]
EOS = words.index("<eos>")
m = rnn.Model(vocab=words, emb_size=16, hidden_size=16, num_layers=1, dropout=0.0, seed=5)
src = np.array([i for line in lines for i in m.encode(line)], dtype=np.int32)
n = len(src) // 10 * 10
src = src[:n].reshape(10, -1)
m.reset_state(10)
for i in range(0, src.shape[1] - 1, 20):  # a little training: the scores mean something
    s = min(20, src.shape[1] - 1 - i)
    m.forward(src[:, i:i + s], src[:, i + 1:i + 1 + s])
    m.zero_grad(); m.backward(); m.clip_grad_norm(0.25); m.sgd_step(20.0)

# encode / decode
test = open("data/test.txt", encoding="utf8").read().splitlines()
check(all(m.decode(m.encode(l)) == " ".join(l.split()) + "\n" and m.decode(m.encode(l, eos=False)) == " ".join(l.split())
          for l in test), "decode(encode(line)) == the line's words + newline, for %d lines (eos=False: no newline)" % len(test))
allids = [i for l in test for i in m.encode(l)]
check(m.decode(allids) == "".join(" ".join(l.split()) + "\n" for l in test) and
      m.decode(np.array(allids, dtype=np.int64)) == m.decode(allids),
      "decode of many lines: one text line per <eos>; a numpy array decodes as the list")
check(m.decode([m.find("the"), EOS, EOS, m.find("cat")], eos=" | ") == "the |  | cat" and m.decode([]) == "",
      "decode(eos=...) writes <eos> as given, with no space around it; [] is ''")
check(m.encode("the \u00a0cat\u3000") == [m.find("the"), m.find("cat"), EOS], "encode: Unicode whitespace, <eos>")
check(raises(lambda: m.decode([len(words)]), rnn.RnnError, "outside") and raises(lambda: m.decode([-1]), rnn.RnnError, "outside")
      and raises(lambda: m.decode([1.0]), TypeError) and raises(lambda: m.decode(np.zeros((2, 2), np.int32)), ValueError),
      "decode refuses ids outside the vocabulary (RnnError), floats (TypeError), 2-D arrays (ValueError)")

# score_text
same = "the big cat sees a dog"
text = "\n".join([same, test[0], same, "", same]) + "\n"
per = m.score_text(text)
check(len(per) == 5 and per[0] == per[2] == per[4] and all(math.isfinite(x) and x < 0 for x in per),
      "score_text per sentence: 5 lines, identical lines score identically (%r)" % per)
check(m.score_text(text.splitlines()) == per and m.score_text(text.encode()) == per and m.score_text(text[:-1]) == per
      and m.score_text("") == [], "str, bytes, a list of lines and no final newline give the same; '' has no lines")
st = rnn.State(m, 1, 0)
byhand = []
for l in text.splitlines():
    st.reset(); st.feed([[EOS]])
    byhand.append(float(st.score([m.encode(l)])[0]))
check(per == byhand, "per sentence = zero state, feed <eos>, rnn_state_score (the definition)")
tokens = [m.encode(l) for l in text.splitlines()]
batch = rnn.State(m, 3, 0).score_sentence([tokens[0]] * 3)
check(max(abs(x - per[0]) for x in batch) < 1e-6 * abs(per[0]),  # within rounding: GEMMs over 3 streams
      "State.score_sentence: every stream of a batch scored as a sentence (%r)" % list(batch))
real_lib = rnn._lib


class WithoutSentenceCall:  # a 1.0 library: no rnn_state_score_sentence, no AdamW
    def __getattr__(self, name):
        if name in ("rnn_state_score_sentence", "rnn_adamw_step"):
            raise AttributeError(name)
        return getattr(real_lib, name)


rnn._lib = WithoutSentenceCall()
errs = []
for call in (lambda: m.score_text(text), lambda: m.adamw_step()):
    try:
        call()
        errs.append("no error")
    except rnn.RnnError as e:
        errs.append(str(e))
rnn._lib = real_lib
check(all("needs librnn 1.1" in e for e in errs),
      "on a 1.0 library, score_text and adamw_step raise RnnError naming the version needed (%r)" % errs)
# AdamW through the binding: the step count, and a step that changes the weights
before = [float(x) for x in m.param_block()[0]]
m.reset_state(1)
m.forward([tokens[1][:-1]], [tokens[1][1:]]); m.zero_grad(); m.backward()
m.adamw_step(lr=1e-2, weight_decay=0.0)
after = [float(x) for x in m.param_block()[0]]
check(m.adamw_steps == 1 and before != after,
      "adamw_step: one step taken (rnn_adamw_get_step), the weights changed")
m.adamw_reset()
check(m.adamw_steps == 0, "adamw_reset: a fresh optimizer")
stream = m.score_text(text, per_sentence=False)
st = rnn.State(m, 1, 0)
whole = float(st.score([[i for t in tokens for i in t]])[0])
check(abs(sum(stream) - whole) < 1e-6 * abs(whole) and stream[2] != per[2],  # within rounding: other GEMM shapes
      "per_sentence=False: one stream through the lines (sum %.6f = one rnn_state_score %.6f)" % (sum(stream), whole))
check(raises(lambda: m.score_text("the zebra"), rnn.RnnError, "zebra") and
      m.score_text("the zebra cat", unk="skip") == m.score_text("the cat"), "score_text: unk='error' / 'skip' as encode")

# generate_text
a = m.generate_text("the cat", words=40, seed=7)
check(a == m.generate_text("the cat", words=40, seed=7) and a != m.generate_text("the cat", words=40, seed=8)
      and len(a.split()) + a.count("\n") == 40, "generate_text: the same seed, the same 40 words; another seed, others")
st = rnn.State(m, 1, 7)
st.feed([[EOS] + m.encode("the cat", eos=False)])
check(a == m.decode(st.generate(40)[0]), "generate_text = State(seed), feed <eos> + prompt, generate, decode")
st = rnn.State(m, 1, 3)
st.feed([[EOS]])
check(m.generate_text(words=25, seed=3, temperature=0.7, top_p=0.9) == m.decode(st.generate(25, temperature=0.7, top_p=0.9)[0]),
      "generate_text without a prompt starts after <eos>; sampling options passed on")
long = m.generate_text("a dog", words=200, seed=11)
stop = m.generate_text("a dog", words=200, seed=11, stop_at_eos=True)
check("\n" in long and stop == long[:long.index("\n") + 1], "stop_at_eos: the text up to the first <eos> (%r)" % stop)
check(m.generate_text("the", words=30, top_k=1, seed=1) == m.generate_text("the", words=30, top_k=1, seed=2),
      "top_k=1 is greedy: the seed does not matter")
check(raises(lambda: m.generate_text(bogus=1), TypeError, "bogus") and raises(lambda: m.generate_text(words=-1), ValueError)
      and m.generate_text(words=0) == "", "generate_text: an unknown sampling option is TypeError; words=-1 ValueError; 0 words ''")

# the vocabulary cache: fast, and emptied by assigning m.vocab
big = ["w%d" % i for i in range(30000)] + ["<eos>"]
b = rnn.Model(vocab=big, emb_size=4, hidden_size=4, num_layers=1, dropout=0.0)
ids = list(np.random.RandomState(1).randint(0, len(big), 2000))
t0 = time.perf_counter()
text = b.decode(ids)
t_decode = time.perf_counter() - t0
t0 = time.perf_counter()
for i in ids[:300]:
    b.vocab[i]
t_index = time.perf_counter() - t0
check(t_decode < 0.5 and text.split() == [big[i] for i in ids if big[i] != "<eos>"],
      "decode 2,000 ids over 30,001 words: %.3f s (a guard: well under a second)" % t_decode)
check(t_index < 0.5, "m.vocab[i] 300 times over 30,001 words: %.3f s (a guard: the list is not rebuilt per read)" % t_index)
new = ["v%d" % i for i in range(30000)] + ["<eos>"]
before = b.decode(ids[:5])
b.vocab = new
check(b.vocab == new and b.vocab_word(3) == "v3" and b.decode(ids[:5]) == " ".join("v" + w[1:] for w in before.split()),
      "assigning m.vocab empties the cache: vocab, vocab_word and decode give the new words")
check(raises(lambda: setattr(b, "vocab", ["x"] * len(new)), rnn.RnnError) and b.vocab == new and b.decode(ids[:1]) == new[ids[0]],
      "a refused vocabulary leaves the old one, in the library and the cache")
vb = b.vocab
vb[0] = "changed"
check(b.vocab[0] == "v0", "m.vocab returns a copy: changing it leaves the cache alone")
path = os.path.join(os.getcwd(), "v.rnn")
b.save(path)
b.vocab = big
check(rnn.Model.load(path).decode(ids[:3]) == " ".join(new[i] for i in ids[:3]), "a loaded model has its own vocabulary")
b.close()
check(raises(lambda: b.decode([1]), ValueError, "closed") and raises(lambda: b.vocab, ValueError, "closed"),
      "a closed model's decode and vocab raise ValueError")
print("features: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
vpy "$VPY" "$W/features.py" "$ROOT" >"$W/features.out" 2>&1 && rc=0 || rc=$?
cat "$W/features.out"
p=$(grep -c '^ok ' "$W/features.out" || true)
f=$(grep -c '^FAIL ' "$W/features.out" || true)
pass=$((pass + p))
fail=$((fail + f))
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then bad "features.py exited $rc"; fi

# every ```python block of the README, in order, as one program over the small corpus
awk '/^```python$/ {on = 1; next} /^```$/ {on = 0} on' bindings/python/README.md >"$W/run/readme.py"
n=$(grep -c '^```python$' bindings/python/README.md)
check "the README's $n Python examples run (train, evaluate, rescore, generate, encode/decode, memory images)" \
    sh -c "[ $n -ge 6 ] && cd '$W/run' && env -u PYTHONPATH '$VPY' readme.py"
[ "$fail" -eq 0 ] || tail -20 "$W/out"

echo "python_package: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
