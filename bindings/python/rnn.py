"""rnn -- a pure-ctypes Python binding for librnn (word-level RNN language models).

No compiled extension: this one file loads ``librnn.so`` with :mod:`ctypes` and wraps every
call of ``include/rnn.h``. numpy is optional; with it, token and state arrays come back as
numpy arrays and :meth:`Model.params` gives zero-copy views of the library's parameter and
gradient memory.

Finding the library (first hit wins):

1. the ``RNN_LIBRARY`` environment variable (a path to ``librnn.so``),
2. ``ctypes.util.find_library("rnn")`` (an installed library on the loader's path),
3. ``../../lib/librnn.so`` relative to this file (a build tree: ``bindings/python/rnn.py``).

Quick tour::

    import rnn
    m = rnn.Model(vocab_size=100, emb_size=32, hidden_size=32, num_layers=1, dropout=0.0)
    m.reset_state(batch=4)                      # hidden = zeros(L, 4, H)
    loss = m.forward(tokens, targets)           # tokens/targets: [4][steps] lists or int32 arrays
    m.zero_grad(); m.backward(); m.clip_grad_norm(0.25); m.sgd_step(20.0)
    m.vocab = words                             # 100 strings, saved with the model
    m.save("tiny.rnn")

    m = rnn.Model.load("tiny.rnn")
    st = rnn.State(m, batch=1, seed=7)          # an inference state over the (read-only) model
    st.feed([[m.word_id("<eos>")]])
    ids = st.generate(20, temperature=0.8)      # [1][20]
    vocab = m.vocab                             # list of str (one C call per word: fetch once)
    print(" ".join(vocab[i] for i in ids[0]))

Conventions (those of the C library):

* Tokens are int32 arrays laid out ``[batch][steps]``. Accepted: nested lists, numpy arrays of
  any integer dtype (converted to a C-contiguous int32 copy when they are not one already), or a
  flat 1-D sequence, which means ONE stream (batch 1) of ``len`` steps.
* Every failing call raises :class:`RnnError` carrying the status ``code`` (``RNN_ERR_*``),
  ``rnn_strerror(code)`` and the handle's ``rnn_errmsg`` detail. A failed call leaves the model
  unchanged.
* Thread safety is the library's: one handle must not be used by two threads at once; distinct
  handles, and distinct :class:`State` objects over one unmodified model, may be. ctypes
  releases the GIL during each C call, so such threads do run in parallel.
* Lifetime: a :class:`State` keeps its :class:`Model` alive; numpy views from :meth:`Model.params`
  keep the Model alive too. :meth:`Model.close` frees the C handle at once; any view or state
  used after that reads freed memory, so only call it when nothing refers to the model any more
  (or rely on garbage collection, which is safe).
"""

import ctypes
import ctypes.util
import os

try:  # optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised by the no-numpy smoke test
    _np = None

__all__ = [
    "RnnError", "Model", "State", "Param", "library", "version",
    "CELL_TANH", "CELL_RELU", "CELL_LSTM", "CELL_GRU", "IGNORE",
    "OK", "ERR_INVALID", "ERR_RANGE", "ERR_STATE", "ERR_NOMEM", "ERR_IO", "ERR_FORMAT",
    "ERR_NUMERIC", "ERR_NOTFOUND",
]

# ---- constants (values fixed forever by rnn.h) -------------------------------------------------
OK, ERR_INVALID, ERR_RANGE, ERR_STATE, ERR_NOMEM, ERR_IO, ERR_FORMAT, ERR_NUMERIC, ERR_NOTFOUND = range(9)
CELL_TANH, CELL_RELU, CELL_LSTM, CELL_GRU = range(4)
IGNORE = -1  #: a target left out of the loss (RNN_IGNORE)
SAVE_STATE = 1  #: rnn_model_save_ex flag
_CELL_NAMES = {"RNN_TANH": CELL_TANH, "TANH": CELL_TANH, "RNN_RELU": CELL_RELU, "RELU": CELL_RELU,
               "LSTM": CELL_LSTM, "GRU": CELL_GRU}
_CELL_BY_ID = {CELL_TANH: "RNN_TANH", CELL_RELU: "RNN_RELU", CELL_LSTM: "LSTM", CELL_GRU: "GRU"}
_HEADER_MAJOR = 0  # RNN_VERSION_MAJOR this binding was written for

_c_int, _c_float, _c_double, _c_size = ctypes.c_int, ctypes.c_float, ctypes.c_double, ctypes.c_size_t
_P_i32, _P_f32, _P_f64 = ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(_c_float), ctypes.POINTER(_c_double)


# ---- structs (layouts of rnn.h; they only grow at the end) --------------------------------------
class _Config(ctypes.Structure):
    _fields_ = [("cell", _c_int), ("vocab_size", _c_int), ("emb_size", _c_int),
                ("hidden_size", _c_int), ("num_layers", _c_int), ("dropout", _c_float),
                ("tied", _c_int), ("seed", ctypes.c_uint64)]


class _Sampling(ctypes.Structure):
    _fields_ = [("temperature", _c_float), ("top_k", _c_int), ("top_p", _c_float)]


class _Param(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("data", _P_f32), ("grad", _P_f32),
                ("rows", _c_int), ("cols", _c_int), ("size", _c_size)]


# ---- loading the library -------------------------------------------------------------------------
def _find_library():
    env = os.environ.get("RNN_LIBRARY")
    if env:
        return env
    found = ctypes.util.find_library("rnn")
    if found:
        return found
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib", "librnn.so")


def _load():
    path = _find_library()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError("rnn: cannot load librnn from %r (%s); set RNN_LIBRARY to the path of "
                          "librnn.so" % (path, e)) from None
    M, S = ctypes.c_void_p, ctypes.c_void_p  # rnn_model *, rnn_state * (opaque)
    sigs = {
        # name: (restype, argtypes)
        "rnn_version_number": (ctypes.c_uint, []),
        "rnn_version_string": (ctypes.c_char_p, []),
        "rnn_strerror": (ctypes.c_char_p, [_c_int]),
        "rnn_config_init": (None, [ctypes.POINTER(_Config)]),
        "rnn_model_create": (_c_int, [ctypes.POINTER(M), ctypes.POINTER(_Config), ctypes.c_void_p]),
        "rnn_model_free": (None, [M]),
        "rnn_model_config": (_c_int, [M, ctypes.POINTER(_Config)]),
        "rnn_errmsg": (ctypes.c_char_p, [M]),
        "rnn_reset_state": (_c_int, [M, _c_int]),
        "rnn_reserve": (_c_int, [M, _c_int, _c_int]),
        "rnn_state_batch": (_c_int, [M, ctypes.POINTER(_c_int)]),
        "rnn_get_state": (_c_int, [M, _c_int, _P_f32, _P_f32]),
        "rnn_set_state": (_c_int, [M, _c_int, _P_f32, _P_f32]),
        "rnn_get_state_grad": (_c_int, [M, _c_int, _P_f32, _P_f32]),
        "rnn_forward": (_c_int, [M, _P_i32, _P_i32, _c_int, _c_int, _P_f64]),
        "rnn_backward": (_c_int, [M]),
        "rnn_zero_grad": (_c_int, [M]),
        "rnn_clip_grad_norm": (_c_int, [M, _c_float, _P_f64]),
        "rnn_sgd_step": (_c_int, [M, _c_float]),
        "rnn_evaluate": (_c_int, [M, _P_i32, _P_i32, _c_int, _c_int, _P_f64, _P_f32]),
        "rnn_sample": (_c_int, [M, _P_i32, _c_int, _c_float, _P_i32]),
        "rnn_set_seed": (_c_int, [M, ctypes.c_uint64]),
        "rnn_set_threads": (_c_int, [M, _c_int]),
        "rnn_get_threads": (_c_int, [M, ctypes.POINTER(_c_int)]),
        "rnn_sampling_init": (None, [ctypes.POINTER(_Sampling)]),
        "rnn_state_create": (_c_int, [ctypes.POINTER(S), M, _c_int, ctypes.c_uint64]),
        "rnn_state_free": (None, [S]),
        "rnn_state_errmsg": (ctypes.c_char_p, [S]),
        "rnn_state_reset": (_c_int, [S]),
        "rnn_state_copy": (_c_int, [S, S]),
        "rnn_state_clone": (_c_int, [ctypes.POINTER(S), S]),
        "rnn_state_batch_size": (_c_int, [S, ctypes.POINTER(_c_int)]),
        "rnn_state_get": (_c_int, [S, _P_f32, _P_f32]),
        "rnn_state_set": (_c_int, [S, _P_f32, _P_f32]),
        "rnn_state_feed": (_c_int, [S, _P_i32, _c_int]),
        "rnn_state_score": (_c_int, [S, _P_i32, _c_int, _P_f64]),
        "rnn_state_logprobs": (_c_int, [S, _P_f32]),
        "rnn_state_next": (_c_int, [S, ctypes.POINTER(_Sampling), _P_i32]),
        "rnn_state_generate": (_c_int, [S, ctypes.POINTER(_Sampling), _c_int, _P_i32]),
        "rnn_param_count": (_c_int, [M, ctypes.POINTER(_c_int)]),
        "rnn_param_get": (_c_int, [M, _c_int, ctypes.POINTER(_Param)]),
        "rnn_param_find": (_c_int, [M, ctypes.c_char_p, ctypes.POINTER(_Param)]),
        "rnn_param_block": (_c_int, [M, ctypes.POINTER(_P_f32), ctypes.POINTER(_P_f32),
                                     ctypes.POINTER(_c_size)]),
        "rnn_vocab_set": (_c_int, [M, ctypes.POINTER(ctypes.c_char_p), _c_int]),
        "rnn_vocab_size": (_c_int, [M, ctypes.POINTER(_c_int)]),
        "rnn_vocab_word": (_c_int, [M, _c_int, ctypes.POINTER(ctypes.c_char_p)]),
        "rnn_model_save": (_c_int, [M, ctypes.c_char_p]),
        "rnn_model_save_ex": (_c_int, [M, ctypes.c_char_p, ctypes.c_uint]),
        "rnn_set_app_data": (_c_int, [M, ctypes.c_void_p, _c_size]),
        "rnn_get_app_data": (_c_int, [M, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_c_size)]),
        "rnn_model_load": (_c_int, [ctypes.POINTER(M), ctypes.c_char_p, ctypes.c_void_p,
                                    ctypes.c_char_p, _c_size]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    major = lib.rnn_version_number() // 10000
    if major != _HEADER_MAJOR:
        raise ImportError("rnn: %s is librnn %s, this binding expects major version %d"
                          % (path, lib.rnn_version_string().decode(), _HEADER_MAJOR))
    return lib, path


_lib, library = _load()  #: library: the path (or name) librnn was loaded from


def version():
    """The linked library's version string (rnn_version_string), e.g. ``"0.1.0"``."""
    return _lib.rnn_version_string().decode()


# ---- errors ---------------------------------------------------------------------------------------
class RnnError(Exception):
    """A librnn call failed.

    Attributes: ``code`` (the RNN_ERR_* status), ``strerror`` (rnn_strerror(code)), ``errmsg``
    (the handle's detail, rnn_errmsg / rnn_state_errmsg, or the load error buffer; may be empty)
    and ``function`` (the C function that failed).
    """

    def __init__(self, code, function, errmsg=""):
        self.code = code
        self.function = function
        self.strerror = _lib.rnn_strerror(code).decode()
        self.errmsg = errmsg or ""
        msg = "%s: %s" % (function, self.strerror)
        if self.errmsg:
            msg += " (%s)" % self.errmsg
        super().__init__(msg)


def _dec(b):
    return b.decode("utf-8", "surrogateescape") if b is not None else ""


def _enc(s):
    return s if isinstance(s, bytes) else str(s).encode("utf-8", "surrogateescape")


# ---- array helpers ----------------------------------------------------------------------------------
def _tokens(x, what="tokens"):
    """(pointer, batch, steps, keepalive) for a [batch][steps] token array (1-D: one stream)."""
    if _np is not None and not isinstance(x, (list, tuple)):
        a = _np.asarray(x)
        if a.dtype.kind not in "iu" and a.size:
            raise TypeError("%s must be integers, got dtype %s" % (what, a.dtype))
        if a.size and (a.min() < -2 ** 31 or a.max() >= 2 ** 31):
            raise OverflowError("%s outside the int32 range" % what)
        a = _np.ascontiguousarray(a, dtype=_np.int32)
        if a.ndim == 1:
            a = a.reshape(1, -1)
        if a.ndim != 2:
            raise ValueError("%s must be [batch][steps] (2-D) or one stream (1-D)" % what)
        return a.ctypes.data_as(_P_i32), a.shape[0], a.shape[1], a
    rows = list(x)
    if not rows or not isinstance(rows[0], (list, tuple)) and not hasattr(rows[0], "__len__"):
        rows = [rows]  # a flat sequence: one stream
    steps = len(rows[0])
    if any(len(r) != steps for r in rows):
        raise ValueError("%s rows differ in length" % what)
    flat = [int(t) for r in rows for t in r]
    buf = (ctypes.c_int32 * len(flat))(*flat) if flat else (ctypes.c_int32 * 1)()
    return ctypes.cast(buf, _P_i32), len(rows), steps, buf


def _f32_buffer(n, shape):
    """A zeroed float32 buffer of n floats: (pointer, result) with result a numpy array of the
    given shape, or a nested list built on demand by _result()."""
    if _np is not None:
        a = _np.zeros(shape, dtype=_np.float32)
        return a.ctypes.data_as(_P_f32), a
    buf = (_c_float * max(n, 1))()
    return ctypes.cast(buf, _P_f32), buf


def _result(obj, shape):
    """numpy arrays pass through; ctypes buffers become nested lists of `shape`."""
    if _np is not None and isinstance(obj, _np.ndarray):
        return obj
    flat = list(obj)

    def build(off, dims):
        if len(dims) == 1:
            return flat[off:off + dims[0]]
        step = 1
        for d in dims[1:]:
            step *= d
        return [build(off + i * step, dims[1:]) for i in range(dims[0])]
    return build(0, list(shape))


def _f32_input(x, n, what):
    """A float32 pointer over n floats from a numpy array or (nested) sequence; (ptr, keepalive)."""
    if _np is not None:
        a = _np.ascontiguousarray(x, dtype=_np.float32).reshape(-1)
        if a.size != n:
            raise ValueError("%s must hold %d floats, got %d" % (what, n, a.size))
        return a.ctypes.data_as(_P_f32), a

    def flatten(v):
        for e in v:
            if hasattr(e, "__len__"):
                yield from flatten(e)
            else:
                yield float(e)
    flat = list(flatten(x))
    if len(flat) != n:
        raise ValueError("%s must hold %d floats, got %d" % (what, n, len(flat)))
    buf = (_c_float * n)(*flat)
    return ctypes.cast(buf, _P_f32), buf


def _i32_out(shape):
    n = 1
    for d in shape:
        n *= d
    if _np is not None:
        a = _np.zeros(shape, dtype=_np.int32)
        return a.ctypes.data_as(_P_i32), a
    buf = (ctypes.c_int32 * max(n, 1))()
    return ctypes.cast(buf, _P_i32), buf


def _view(ptr, rows, cols, owner):
    """A zero-copy view of rows x cols floats at ptr that keeps `owner` alive: a numpy array when
    numpy is installed, else a 2-D memoryview (format 'f')."""
    n = rows * cols
    carr = (_c_float * n).from_address(ctypes.addressof(ptr.contents))
    carr._rnn_owner = owner  # the view's base chain holds carr, which holds the model
    if _np is not None:
        return _np.ctypeslib.as_array(carr).reshape(rows, cols)
    return memoryview(carr).cast("B").cast("f", [rows, cols])


class Param:
    """One parameter tensor (rnn_param): ``name`` (the state_dict key), ``rows``, ``cols``,
    ``data`` and ``grad``, zero-copy views of the library's memory (writing to ``data`` changes
    the model; the views stay valid as long as the model is not closed)."""

    __slots__ = ("name", "rows", "cols", "data", "grad")

    def __init__(self, name, rows, cols, data, grad):
        self.name, self.rows, self.cols, self.data, self.grad = name, rows, cols, data, grad

    @property
    def shape(self):
        return (self.rows, self.cols)

    def __repr__(self):
        return "Param(%r, %dx%d)" % (self.name, self.rows, self.cols)


# ---- the model -----------------------------------------------------------------------------------------
class _Closing:
    """Frees the library handle on close(), at the end of a with-block, or when collected."""

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may already be gone
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Model(_Closing):
    """An rnn_model handle: parameters, gradients, the training hidden state, a generator.

    ``Model(vocab_size=V, **config)`` creates a freshly initialised model (rnn_model_create).
    Keyword arguments are the rnn_config fields, defaulting to rnn_config_init's (PyTorch
    example's) values: ``cell`` (``"LSTM"`` default, ``"GRU"``, ``"RNN_TANH"``, ``"RNN_RELU"`` or a
    CELL_* int), ``vocab_size``, ``emb_size`` (200), ``hidden_size`` (200), ``num_layers`` (2),
    ``dropout`` (0.2), ``tied`` (False), ``seed`` (1111). ``vocab=[words]`` may be given instead of
    (or with) ``vocab_size``: it sets the size and the vocabulary.
    ``Model.load(path)`` reads a model file.
    """

    def __init__(self, vocab=None, **config):
        self._h = None
        cfg = _Config()
        _lib.rnn_config_init(ctypes.byref(cfg))
        if vocab is not None:
            vocab = list(vocab)
            config.setdefault("vocab_size", len(vocab))
        for key, val in config.items():
            if key == "cell" and isinstance(val, str):
                if val.upper() not in _CELL_NAMES:
                    raise ValueError("cell must be one of RNN_TANH, RNN_RELU, LSTM, GRU; got %r" % val)
                val = _CELL_NAMES[val.upper()]
            if key not in dict(_Config._fields_):
                raise TypeError("unknown config field %r" % key)
            setattr(cfg, key, int(val) if key != "dropout" else float(val))
        h = ctypes.c_void_p()
        rc = _lib.rnn_model_create(ctypes.byref(h), ctypes.byref(cfg), None)
        if rc != OK:
            raise RnnError(rc, "rnn_model_create", "bad configuration %s" % _config_dict(cfg)
                           if rc == ERR_INVALID else "")
        self._h = h
        if vocab is not None:
            self.vocab = vocab

    @classmethod
    def load(cls, path):
        """Creates a model from a file written by :meth:`save` (rnn_model_load)."""
        h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(512)
        rc = _lib.rnn_model_load(ctypes.byref(h), os.fsencode(path), None, err, len(err))
        if rc != OK:
            raise RnnError(rc, "rnn_model_load", _dec(err.value))
        self = cls.__new__(cls)
        self._h = h
        return self

    # -- lifetime
    def close(self):
        """Frees the C handle now (rnn_model_free). States, param views and the model must not be
        used afterwards. Idempotent; the garbage collector calls it otherwise."""
        if getattr(self, "_h", None):
            _lib.rnn_model_free(self._h)
            self._h = None

    @property
    def _handle(self):
        if not self._h:
            raise ValueError("the model is closed")
        return self._h

    def _check(self, rc, fn):
        if rc != OK:
            raise RnnError(rc, fn, _dec(_lib.rnn_errmsg(self._h)))

    # -- files
    def save(self, path, state=False):
        """Saves config, vocabulary and parameters atomically (rnn_model_save). ``state=True``:
        rnn_model_save_ex(RNN_SAVE_STATE), also the hidden state and the generator."""
        self._check(_lib.rnn_model_save_ex(self._handle, os.fsencode(path), SAVE_STATE if state else 0),
                    "rnn_model_save_ex" if state else "rnn_model_save")

    # -- configuration
    @property
    def config(self):
        """The rnn_config as a dict (cell as its name)."""
        cfg = _Config()
        self._check(_lib.rnn_model_config(self._handle, ctypes.byref(cfg)), "rnn_model_config")
        return _config_dict(cfg)

    @property
    def vocab_size(self):
        return self.config["vocab_size"]

    # -- hidden state of the training API
    def reset_state(self, batch):
        """Zero hidden state for `batch` streams (init_hidden); drops a pending backward."""
        self._check(_lib.rnn_reset_state(self._handle, int(batch)), "rnn_reset_state")

    def reserve(self, batch, steps):
        """Sizes the workspace for chunks up to batch x steps now (rnn_reserve)."""
        self._check(_lib.rnn_reserve(self._handle, int(batch), int(steps)), "rnn_reserve")

    @property
    def state_batch(self):
        """The batch size of the current hidden state (0 before reset_state)."""
        b = _c_int()
        self._check(_lib.rnn_state_batch(self._handle, ctypes.byref(b)), "rnn_state_batch")
        return b.value

    def _state_shape(self):
        c = self.config
        return (c["num_layers"], self.state_batch, c["hidden_size"])

    def _get2(self, fn, name):
        shape = self._state_shape()
        n = shape[0] * shape[1] * shape[2]
        ph, h = _f32_buffer(n, shape)
        pc, c = _f32_buffer(n, shape)
        lstm = self.config["cell"] == "LSTM"
        self._check(fn(self._handle, shape[1], ph, pc if lstm else None), name)
        return _result(h, shape), (_result(c, shape) if lstm else None)

    def get_state(self):
        """(h, c) float32 [L][batch][H] (c is None unless LSTM) -- rnn_get_state."""
        return self._get2(_lib.rnn_get_state, "rnn_get_state")

    def set_state(self, h, c=None):
        """Sets the hidden state (same batch as now); c None: zeros (LSTM) -- rnn_set_state."""
        shape = self._state_shape()
        n = shape[0] * shape[1] * shape[2]
        ph, kh = _f32_input(h, n, "h")
        pc, kc = _f32_input(c, n, "c") if c is not None else (None, None)
        self._check(_lib.rnn_set_state(self._handle, shape[1], ph, pc), "rnn_set_state")

    def get_state_grad(self):
        """(dh, dc) after backward: the gradient w.r.t. the chunk's entering state."""
        return self._get2(_lib.rnn_get_state_grad, "rnn_get_state_grad")

    # -- training
    def forward(self, tokens, targets):
        """Training-mode forward over one chunk; returns the mean NLL (rnn_forward).
        targets may hold IGNORE (-1)."""
        pt, b, s, kt = _tokens(tokens)
        py, by, sy, ky = _tokens(targets, "targets")
        if (by, sy) != (b, s):
            raise ValueError("targets are %dx%d, tokens %dx%d" % (by, sy, b, s))
        loss = _c_double()
        self._check(_lib.rnn_forward(self._handle, pt, py, b, s, ctypes.byref(loss)), "rnn_forward")
        return loss.value

    def backward(self):
        """Truncated BPTT through the last forward's chunk; ADDS to the gradients."""
        self._check(_lib.rnn_backward(self._handle), "rnn_backward")

    def zero_grad(self):
        self._check(_lib.rnn_zero_grad(self._handle), "rnn_zero_grad")

    def clip_grad_norm(self, max_norm):
        """clip_grad_norm_(parameters, max_norm); returns the total norm before clipping."""
        norm = _c_double()
        self._check(_lib.rnn_clip_grad_norm(self._handle, float(max_norm), ctypes.byref(norm)),
                    "rnn_clip_grad_norm")
        return norm.value

    def sgd_step(self, lr):
        """p -= lr * grad for every parameter."""
        self._check(_lib.rnn_sgd_step(self._handle, float(lr)), "rnn_sgd_step")

    # -- evaluation and generation
    def evaluate(self, tokens, targets=None, logprobs=False):
        """Evaluation-mode forward (no dropout, no gradient), the state carried (rnn_evaluate).
        Returns the mean NLL (0 when targets is None: the chunk only advances the state), or
        (loss, logprobs) with logprobs float32 [batch][steps][V] when logprobs=True."""
        pt, b, s, kt = _tokens(tokens)
        py = ky = None
        if targets is not None:
            py, by, sy, ky = _tokens(targets, "targets")
            if (by, sy) != (b, s):
                raise ValueError("targets are %dx%d, tokens %dx%d" % (by, sy, b, s))
        loss = _c_double()
        plp = lp = None
        if logprobs:
            shape = (b, s, self.vocab_size)
            plp, lp = _f32_buffer(b * s * shape[2], shape)
        self._check(_lib.rnn_evaluate(self._handle, pt, py, b, s, ctypes.byref(loss), plp), "rnn_evaluate")
        return (loss.value, _result(lp, shape)) if logprobs else loss.value

    def sample(self, tokens, temperature=1.0):
        """Feeds tokens[b] to stream b (one step) and draws next[b] (rnn_sample); returns next
        (int32 array or list, one per stream). tokens: one id per stream (a flat sequence)."""
        if _np is not None and not isinstance(tokens, (list, tuple)):
            column = _np.asarray(tokens).reshape(-1, 1)
        else:
            column = [[int(t)] for t in tokens]
        pt, b, s, kt = _tokens(column)
        pn, nxt = _i32_out((b,))
        self._check(_lib.rnn_sample(self._handle, pt, b, float(temperature), pn), "rnn_sample")
        return nxt if _np is not None else list(nxt)[:b]

    def set_seed(self, seed):
        """Reseeds the handle's generator (dropout and rnn_sample)."""
        self._check(_lib.rnn_set_seed(self._handle, int(seed)), "rnn_set_seed")

    @property
    def threads(self):
        """librnn's threads for this model (rnn_set_threads; set OPENBLAS_NUM_THREADS=1 with > 1)."""
        n = _c_int()
        self._check(_lib.rnn_get_threads(self._handle, ctypes.byref(n)), "rnn_get_threads")
        return n.value

    @threads.setter
    def threads(self, n):
        self._check(_lib.rnn_set_threads(self._handle, int(n)), "rnn_set_threads")

    # -- vocabulary
    @property
    def vocab(self):
        """The vocabulary as a list of str (id order); [] when the model has none. Assign a list of
        vocab_size non-empty strings to set it (rnn_vocab_set)."""
        n = _c_int()
        self._check(_lib.rnn_vocab_size(self._handle, ctypes.byref(n)), "rnn_vocab_size")
        return [self.vocab_word(i) for i in range(n.value)]

    @vocab.setter
    def vocab(self, words):
        enc = [_enc(w) for w in words]
        arr = (ctypes.c_char_p * max(len(enc), 1))(*enc)
        self._check(_lib.rnn_vocab_set(self._handle, arr, len(enc)), "rnn_vocab_set")

    def vocab_word(self, i):
        """Word `i` (rnn_vocab_word); RnnError(ERR_RANGE) outside the vocabulary."""
        w = ctypes.c_char_p()
        self._check(_lib.rnn_vocab_word(self._handle, int(i), ctypes.byref(w)), "rnn_vocab_word")
        return _dec(w.value)

    def word_id(self, word):
        """The id of `word` (a linear scan; build a dict from .vocab for many look-ups)."""
        try:
            return self.vocab.index(word)
        except ValueError:
            raise KeyError(word) from None

    # -- application data
    @property
    def app_data(self):
        """The application data saved with the model, as bytes (b"" when none)."""
        p, n = ctypes.c_void_p(), _c_size()
        self._check(_lib.rnn_get_app_data(self._handle, ctypes.byref(p), ctypes.byref(n)), "rnn_get_app_data")
        return ctypes.string_at(p, n.value) if n.value else b""

    @app_data.setter
    def app_data(self, data):
        data = bytes(data or b"")
        self._check(_lib.rnn_set_app_data(self._handle, data, len(data)), "rnn_set_app_data")

    # -- parameters
    def _param(self, p):
        return Param(_dec(p.name), p.rows, p.cols, _view(p.data, p.rows, p.cols, self),
                     _view(p.grad, p.rows, p.cols, self))

    def params(self):
        """{state_dict name: Param} in model.parameters() order (a tied model has no
        "decoder.weight": it is encoder.weight). Param.data / .grad are zero-copy numpy views
        (rows x cols float32) of the library's memory, or memoryviews without numpy."""
        n = _c_int()
        self._check(_lib.rnn_param_count(self._handle, ctypes.byref(n)), "rnn_param_count")
        out = {}
        for i in range(n.value):
            p = _Param()
            self._check(_lib.rnn_param_get(self._handle, i, ctypes.byref(p)), "rnn_param_get")
            out[_dec(p.name)] = self._param(p)
        return out

    def param(self, name):
        """One Param by state_dict name (rnn_param_find; "decoder.weight" of a tied model gives
        the shared encoder.weight). RnnError(ERR_NOTFOUND) for an unknown name."""
        p = _Param()
        self._check(_lib.rnn_param_find(self._handle, _enc(name), ctypes.byref(p)), "rnn_param_find")
        return self._param(p)

    def param_block(self):
        """(data, grad): the whole parameter and gradient blocks, in parameters() order, as flat
        zero-copy views (numpy float32 arrays, or 1-D memoryviews without numpy)."""
        d, g, n = _P_f32(), _P_f32(), _c_size()
        self._check(_lib.rnn_param_block(self._handle, ctypes.byref(d), ctypes.byref(g), ctypes.byref(n)),
                    "rnn_param_block")
        views = [_view(p, 1, n.value, self) for p in (d, g)]
        return tuple(v.reshape(-1) if _np is not None else v.cast("B").cast("f") for v in views)

    def __repr__(self):
        if not self._h:
            return "<rnn.Model closed>"
        c = self.config
        return "<rnn.Model %s V=%d E=%d H=%d L=%d%s>" % (c["cell"], c["vocab_size"], c["emb_size"],
                                                       c["hidden_size"], c["num_layers"],
                                                       " tied" if c["tied"] else "")


def _config_dict(cfg):
    return {"cell": _CELL_BY_ID.get(cfg.cell, cfg.cell), "vocab_size": cfg.vocab_size,
            "emb_size": cfg.emb_size, "hidden_size": cfg.hidden_size, "num_layers": cfg.num_layers,
            "dropout": float("%.7g" % cfg.dropout), "tied": bool(cfg.tied), "seed": cfg.seed}


# ---- inference states ------------------------------------------------------------------------------------
class State(_Closing):
    """An rnn_state: hidden state, workspace and per-stream generators for `batch` streams over a
    model it only reads. Stream b's generator is seeded with seed + b.

    ``State(model, batch=1, seed=1111)`` (rnn_state_create). Several States may run on one
    model from different threads as long as nothing modifies the model meanwhile.
    """

    def __init__(self, model, batch=1, seed=1111):
        self._s = None
        self.model = model  # keeps the model alive
        s = ctypes.c_void_p()
        rc = _lib.rnn_state_create(ctypes.byref(s), model._handle, int(batch), int(seed))
        if rc != OK:
            raise RnnError(rc, "rnn_state_create", "batch %d" % batch if rc == ERR_INVALID else "")
        self._s = s

    @classmethod
    def create(cls, model, batch=1, seed=1111):
        """Same as State(model, batch, seed)."""
        return cls(model, batch, seed)

    def close(self):
        """Frees the state now (rnn_state_free); idempotent."""
        if getattr(self, "_s", None):
            _lib.rnn_state_free(self._s)
            self._s = None

    @property
    def _handle(self):
        if not self._s:
            raise ValueError("the state is closed")
        return self._s

    def _check(self, rc, fn):
        if rc != OK:
            raise RnnError(rc, fn, _dec(_lib.rnn_state_errmsg(self._s)))

    @property
    def batch(self):
        b = _c_int()
        self._check(_lib.rnn_state_batch_size(self._handle, ctypes.byref(b)), "rnn_state_batch_size")
        return b.value

    def _tok(self, tokens):
        pt, b, s, keep = _tokens(tokens)
        if b != self.batch:
            raise ValueError("tokens have %d rows, the state has %d streams" % (b, self.batch))
        return pt, s, keep

    def reset(self):
        """Zero hidden state; every generator reseeded with the creation seed."""
        self._check(_lib.rnn_state_reset(self._handle), "rnn_state_reset")

    def copy_from(self, src):
        """Copies src's hidden state and generators into this state (rnn_state_copy; same model
        and batch, no allocation)."""
        self._check(_lib.rnn_state_copy(self._handle, src._handle), "rnn_state_copy")

    def clone(self):
        """A new State equal to this one (rnn_state_clone)."""
        s = ctypes.c_void_p()
        rc = _lib.rnn_state_clone(ctypes.byref(s), self._handle)
        if rc != OK:
            raise RnnError(rc, "rnn_state_clone")
        new = State.__new__(State)
        new._s, new.model = s, self.model
        return new

    copy = clone  #: Python's copy() convention: a new object

    def _shape(self):
        c = self.model.config
        return (c["num_layers"], self.batch, c["hidden_size"])

    def get(self):
        """(h, c) float32 [L][batch][H]; c is None unless the model is an LSTM."""
        shape = self._shape()
        n = shape[0] * shape[1] * shape[2]
        ph, h = _f32_buffer(n, shape)
        pc, c = _f32_buffer(n, shape)
        lstm = self.model.config["cell"] == "LSTM"
        self._check(_lib.rnn_state_get(self._handle, ph, pc if lstm else None), "rnn_state_get")
        return _result(h, shape), (_result(c, shape) if lstm else None)

    def set(self, h, c=None):
        """Sets the hidden state; c None: zeros (LSTM)."""
        shape = self._shape()
        n = shape[0] * shape[1] * shape[2]
        ph, kh = _f32_input(h, n, "h")
        pc, kc = _f32_input(c, n, "c") if c is not None else (None, None)
        self._check(_lib.rnn_state_set(self._handle, ph, pc), "rnn_state_set")

    def feed(self, tokens):
        """Advances every stream over tokens [batch][steps] (no dropout): prime with a prompt."""
        pt, s, keep = self._tok(tokens)
        self._check(_lib.rnn_state_feed(self._handle, pt, s), "rnn_state_feed")

    def score(self, tokens):
        """Per-stream sum of log p(token) over tokens [batch][steps], then advances the state past
        them (rnn_state_score). Returns float64 [batch] (array or list)."""
        pt, s, keep = self._tok(tokens)
        b = self.batch
        if _np is not None:
            out = _np.zeros(b, dtype=_np.float64)
            po = out.ctypes.data_as(_P_f64)
        else:
            out = (_c_double * b)()
            po = ctypes.cast(out, _P_f64)
        self._check(_lib.rnn_state_score(self._handle, pt, s, po), "rnn_state_score")
        return out if _np is not None else list(out)

    def logprobs(self):
        """The next-token log-probabilities of every stream, float32 [batch][V]."""
        shape = (self.batch, self.model.vocab_size)
        p, lp = _f32_buffer(shape[0] * shape[1], shape)
        self._check(_lib.rnn_state_logprobs(self._handle, p), "rnn_state_logprobs")
        return _result(lp, shape)

    @staticmethod
    def _sampling(temperature, top_k, top_p):
        s = _Sampling()
        _lib.rnn_sampling_init(ctypes.byref(s))
        s.temperature, s.top_k, s.top_p = float(temperature), int(top_k), float(top_p)
        return s

    def next(self, temperature=1.0, top_k=0, top_p=1.0):
        """Draws one token per stream (temperature, then top-k, then top-p) WITHOUT advancing:
        feed the ones you keep. Returns int32 [batch]."""
        s = self._sampling(temperature, top_k, top_p)
        b = self.batch
        pn, nxt = _i32_out((b,))
        self._check(_lib.rnn_state_next(self._handle, ctypes.byref(s), pn), "rnn_state_next")
        return nxt if _np is not None else list(nxt)[:b]

    def generate(self, count, temperature=1.0, top_k=0, top_p=1.0):
        """Draws and feeds `count` tokens per stream; returns int32 [batch][count]."""
        s = self._sampling(temperature, top_k, top_p)
        b = self.batch
        po, out = _i32_out((b, int(count)))
        self._check(_lib.rnn_state_generate(self._handle, ctypes.byref(s), int(count), po), "rnn_state_generate")
        return _result(out, (b, int(count))) if _np is None else out

    def __repr__(self):
        return "<rnn.State batch=%d>" % self.batch if self._s else "<rnn.State closed>"
