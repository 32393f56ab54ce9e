"""rnn -- a pure-ctypes Python binding for librnn 1.x (word-level RNN language models).

No compiled extension: this package loads ``librnn.so.1`` with :mod:`ctypes` and wraps the calls
of ``include/rnn.h``. numpy is optional; with it, token and state arrays come back as numpy arrays
and :meth:`Model.params` gives zero-copy views of the library's parameter and gradient memory.

Finding the library (the first that fits wins):

1. the ``RNN_LIBRARY`` environment variable (a path to ``librnn.so`` or ``librnn.so.1``): only
   that file is tried;
2. ``librnn.so.1`` beside this file, in the package folder: the library a wheel built with
   ``RNN_BUNDLE`` carries (see the README);
3. ``librnn.so.1`` through the dynamic loader's search (``LD_LIBRARY_PATH``, the ldconfig cache,
   the system folders: an installed library), then ``ctypes.util.find_library("rnn")``;
4. ``../../../lib/librnn.so.1`` and ``../../../lib/librnn.so`` relative to this file (the build
   tree: ``bindings/python/rnn/__init__.py``).

A candidate that does not load or is not a librnn 1.x is skipped.

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
    st.feed([m.encode("the cat", eos=False)])   # rnn_vocab_encode: data.py's tokenizer
    ids = st.generate(20, temperature=0.8)      # [1][20]
    print(m.decode(ids[0]))                     # words joined by spaces, <eos> as a newline
    print(m.generate_text("the cat", words=20, seed=7))   # the same in one call
    print(m.score_text("the cat sat\nthe cat sat"))  # one log-probability per line

Conventions (those of the C library):

* Tokens are int32 arrays laid out ``[batch][steps]``. Accepted: nested lists, numpy arrays of
  any integer dtype, or a flat 1-D sequence, which means ONE stream (batch 1) of ``len`` steps.
  A 2-D int32 numpy array whose rows are contiguous (e.g. a column slice ``a[:, i:j]`` of a
  C-contiguous array) is passed without a copy, with its row stride; anything else is converted
  to a dense int32 copy.
* Every failing call raises :class:`RnnError` carrying the status ``code`` (``RNN_ERR_*``),
  ``rnn_status_string(code)`` and the handle's ``rnn_model_errmsg`` / ``rnn_state_errmsg``
  detail. A failed call leaves the model unchanged.
* Thread safety is the library's: one handle must not be used by two threads at once; distinct
  handles, and distinct :class:`State` objects over one unmodified model, may be. ctypes
  releases the GIL during each C call, so such threads do run in parallel.
* Arguments are checked before ctypes sees them (it would wrap an int to the C type's width,
  and int() would take a float): sizes, counts, indices and token ids must be integers (Python
  ints or numpy integer scalars / integer-dtype arrays) in the C int / int32 range, seeds in
  [0, 2**64); out of range is OverflowError, anything else (a float, str, None, a float or bool
  array) TypeError. A bool is a number only where it is a yes/no: ``tied`` (and the flags
  ``state``, ``eos``, ``logprobs``); as a size, id or seed it is TypeError. Floats (``dropout``,
  ``lr``, ``temperature``, ...) take any real number but not a str or bool. Words, names and
  paths are str (UTF-8; paths in the file-system encoding, os.PathLike too) or bytes; a NUL in
  them (C would stop there) is ValueError. Text passed with its length (:meth:`Model.encode`,
  :func:`split`) goes as it is: the library refuses a NUL (RnnError ERR_FORMAT). Binary data
  (``app_data``, :meth:`Model.from_bytes`) is any bytes-like object, never an int or str.
* Lifetime: a :class:`State` keeps its :class:`Model` alive, and so do the views of
  :meth:`Model.params` / :meth:`Model.param_block`. :meth:`Model.close` (or the end of its with
  block) frees the model's States at once (using one then raises ValueError) and makes the views
  it handed out read-only (numpy: still readable, the memory is kept until the last of them
  goes) or releases them (memoryviews: any use raises ValueError). Nothing reads freed memory.
* Memory: the binding passes no rnn_allocator (NULL: the library uses malloc/free).
"""

import ctypes
import ctypes.util
import operator
import os
import weakref
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

try:  # optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised by the no-numpy smoke test
    _np = None

__all__ = [
    "RnnError", "Model", "State", "Param", "library", "version", "status_string", "limit",
    "cell_name", "cell_find", "split",
    "CELL_TANH", "CELL_RELU", "CELL_LSTM", "CELL_GRU", "CELL_COUNT", "IGNORE",
    "OK", "ERR_INVALID", "ERR_RANGE", "ERR_STATE", "ERR_NOMEM", "ERR_IO", "ERR_FORMAT",
    "ERR_NUMERIC", "ERR_NOTFOUND", "ERR_SIZE",
    "LIMIT_DIM", "LIMIT_LAYERS", "LIMIT_THREADS", "LIMIT_CHUNK", "LIMIT_WORD_BYTES", "LIMIT_APP_DATA",
    "LIMIT_REPEAT_WINDOW", "LIMIT_CUTOFFS", "OUTPUT_FULL", "OUTPUT_ADAPTIVE", "MAX_CUTOFFS",
    "WEIGHTS_FP32", "WEIGHTS_BF16", "WEIGHTS_Q8",
]

# ---- constants (values fixed forever by rnn.h) -------------------------------------------------
(OK, ERR_INVALID, ERR_RANGE, ERR_STATE, ERR_NOMEM, ERR_IO, ERR_FORMAT, ERR_NUMERIC, ERR_NOTFOUND,
 ERR_SIZE) = range(10)
CELL_TANH, CELL_RELU, CELL_LSTM, CELL_GRU = range(4)
CELL_COUNT = 4  #: RNN_CELL_COUNT
LIMIT_DIM, LIMIT_LAYERS, LIMIT_THREADS, LIMIT_CHUNK, LIMIT_WORD_BYTES, LIMIT_APP_DATA = range(6)
LIMIT_REPEAT_WINDOW = 6  # librnn 1.1
LIMIT_CUTOFFS = 7  # librnn 1.1
OUTPUT_FULL, OUTPUT_ADAPTIVE = 0, 1  #: rnn_config.output (RNN_OUTPUT_*, librnn 1.1)
MAX_CUTOFFS = 8  #: RNN_MAX_CUTOFFS, the size of rnn_config.cutoffs (fixed by the 1.1 layout)
WEIGHTS_FP32, WEIGHTS_BF16, WEIGHTS_Q8 = 0, 1, 2  #: RNN_WEIGHTS_* (rnn_model_quantize, librnn 1.1)
_WEIGHT_NAMES = {"fp32": WEIGHTS_FP32, "bf16": WEIGHTS_BF16, "q8": WEIGHTS_Q8}
IGNORE = -1  #: a target left out of the loss (RNN_IGNORE)
SAVE_STATE = 1  #: RNN_SAVE_STATE (rnn_model_save / rnn_model_save_mem flag)
LOAD_NO_STATE = 1  #: RNN_LOAD_NO_STATE (rnn_model_load / rnn_model_load_mem flag)
ENCODE_EOS, ENCODE_UNK_MAP, ENCODE_UNK_SKIP = 1, 2, 4  #: RNN_ENCODE_* (rnn_vocab_encode flags)
_HEADER_MAJOR = 1  # RNN_VERSION_MAJOR this binding was written for
_SONAME = "librnn.so.%d" % _HEADER_MAJOR

#: Type of token arguments: a flat sequence of ints (one stream), nested [batch][steps] sequences,
#: or an integer numpy array (Any: numpy is optional).
Tokens = Any
#: Type of int32 results: numpy arrays with numpy, (nested) lists without.
IntArray = Any
#: Type of file names: str, bytes or os.PathLike.
PathLike = Union[str, bytes, os.PathLike]

_c_int, _c_float, _c_double, _c_size = ctypes.c_int, ctypes.c_float, ctypes.c_double, ctypes.c_size_t
_P_i32, _P_f32, _P_f64 = ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(_c_float), ctypes.POINTER(_c_double)


# ---- structs (layouts of rnn.h; each begins with struct_size and only grows at the end) ----------
class _Config(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("cell", _c_int), ("vocab_size", _c_int),
                ("emb_size", _c_int), ("hidden_size", _c_int), ("num_layers", _c_int),
                ("dropout", _c_float), ("tied", _c_int), ("seed", ctypes.c_uint64),
                # librnn 1.1: the output layer (a 1.0 library refuses them unless they keep their
                # default 0: the struct rules); Model's keywords adaptive_cutoffs, div_value,
                # head_bias set them
                ("output", _c_int), ("num_cutoffs", _c_int), ("cutoffs", _c_int * MAX_CUTOFFS),
                ("div_value", _c_float), ("head_bias", _c_int)]


_CONFIG_1_0 = ("cell", "vocab_size", "emb_size", "hidden_size", "num_layers", "dropout", "tied", "seed")


# The rnn_sampling fields after struct_size, in struct order. The one place a new field is added:
# _sampling() then sets it from a keyword of the same name, which every sampling method
# (Model.sample, State.next, State.generate, Model.generate_text) passes on (**sampling).
# reserved_1_0 covers 1.0's tail padding: in the struct, never a keyword (the library ignores it).
_SAMPLING_FIELDS = (("temperature", _c_float), ("top_k", _c_int), ("top_p", _c_float),
                    ("reserved_1_0", _c_int),
                    # librnn 1.1: a 1.0 library refuses them unless they keep their default 0
                    ("min_p", _c_float), ("repeat_penalty", _c_float), ("repeat_last_n", _c_int))
_SAMPLING_OPTIONS = tuple(f for f in _SAMPLING_FIELDS if not f[0].startswith("reserved"))


class _Sampling(ctypes.Structure):
    _fields_ = [("struct_size", _c_size)] + list(_SAMPLING_FIELDS)


class _AdamW(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("lr", _c_double), ("beta1", _c_double), ("beta2", _c_double),
                ("eps", _c_double), ("weight_decay", _c_double)]


class _Param(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("name", ctypes.c_char_p), ("data", _P_f32),
                ("grad", _P_f32), ("rows", _c_int), ("cols", _c_int), ("size", _c_size)]


_ALLOC_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, _c_size)
_FREE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class _Allocator(ctypes.Structure):  # declared for the signatures; the binding passes NULL
    _fields_ = [("struct_size", _c_size), ("alloc", _ALLOC_FN), ("free", _FREE_FN),
                ("user", ctypes.c_void_p)]


def _sized(struct_type):
    """A zeroed struct with struct_size = sizeof (the layout this binding was written for)."""
    s = struct_type()
    s.struct_size = ctypes.sizeof(struct_type)
    return s


# ---- loading the library -------------------------------------------------------------------------
def _candidates():
    env = os.environ.get("RNN_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.join(here, _SONAME)] if os.path.exists(os.path.join(here, _SONAME)) else []
    out.append(_SONAME)
    found = ctypes.util.find_library("rnn")
    if found and found not in out:
        out.append(found)
    root = os.path.join(here, "..", "..", "..")
    if os.path.isfile(os.path.join(root, "include", "rnn.h")):  # the source tree, not site-packages
        tree = os.path.join(root, "lib")
        out += [os.path.join(tree, _SONAME), os.path.join(tree, "librnn.so")]
    return out


def _bind(lib):
    M, S = ctypes.c_void_p, ctypes.c_void_p  # rnn_model *, rnn_state * (opaque)
    PI, PS, PV = ctypes.POINTER(_c_int), ctypes.POINTER(_c_size), ctypes.POINTER(ctypes.c_void_p)
    PA, PCfg, PSmp, PPar = (ctypes.POINTER(_Allocator), ctypes.POINTER(_Config),
                            ctypes.POINTER(_Sampling), ctypes.POINTER(_Param))
    sigs = {
        # name: (restype, argtypes)
        "rnn_version_number": (ctypes.c_uint, []),
        "rnn_version_string": (ctypes.c_char_p, []),
        "rnn_status_string": (ctypes.c_char_p, [_c_int]),
        "rnn_limit_get": (_c_int, [_c_int, ctypes.POINTER(ctypes.c_int64)]),
        "rnn_cell_name": (_c_int, [_c_int, ctypes.POINTER(ctypes.c_char_p)]),
        "rnn_cell_find": (_c_int, [ctypes.c_char_p, PI]),
        "rnn_config_init": (_c_int, [PCfg, _c_size]),
        "rnn_model_create": (_c_int, [ctypes.POINTER(M), PCfg, PA, ctypes.c_char_p, _c_size]),
        "rnn_model_free": (None, [M]),
        "rnn_model_get_config": (_c_int, [M, PCfg]),
        "rnn_model_errmsg": (ctypes.c_char_p, [M]),
        "rnn_model_errcode": (_c_int, [M]),
        "rnn_model_set_seed": (_c_int, [M, ctypes.c_uint64]),
        "rnn_model_set_threads": (_c_int, [M, _c_int]),
        "rnn_model_get_threads": (_c_int, [M, PI]),
        "rnn_model_reset_hidden": (_c_int, [M, _c_int]),
        "rnn_model_get_batch": (_c_int, [M, PI]),
        "rnn_model_get_hidden": (_c_int, [M, _c_int, _P_f32, _P_f32]),
        "rnn_model_set_hidden": (_c_int, [M, _c_int, _P_f32, _P_f32]),
        "rnn_model_reserve": (_c_int, [M, _c_int, _c_int]),
        "rnn_forward": (_c_int, [M, _P_i32, _P_i32, _c_int, _c_int, _c_int, _P_f64]),
        "rnn_backward": (_c_int, [M]),
        "rnn_zero_grad": (_c_int, [M]),
        "rnn_clip_grad_norm": (_c_int, [M, _c_float, _P_f64]),
        "rnn_sgd_step": (_c_int, [M, _c_float]),
        "rnn_evaluate": (_c_int, [M, _P_i32, _P_i32, _c_int, _c_int, _c_int, _P_f64, _P_f32]),
        "rnn_sampling_init": (_c_int, [PSmp, _c_size]),
        "rnn_sample": (_c_int, [M, _P_i32, _c_int, PSmp, _P_i32]),
        "rnn_state_create": (_c_int, [ctypes.POINTER(S), M, _c_int, ctypes.c_uint64]),
        "rnn_state_free": (None, [S]),
        "rnn_state_errmsg": (ctypes.c_char_p, [S]),
        "rnn_state_errcode": (_c_int, [S]),
        "rnn_state_reset": (_c_int, [S]),
        "rnn_state_copy": (_c_int, [S, S]),
        "rnn_state_clone": (_c_int, [ctypes.POINTER(S), S]),
        "rnn_state_get_batch": (_c_int, [S, PI]),
        "rnn_state_get_hidden": (_c_int, [S, _P_f32, _P_f32]),
        "rnn_state_set_hidden": (_c_int, [S, _P_f32, _P_f32]),
        "rnn_state_feed": (_c_int, [S, _P_i32, _c_int, _c_int]),
        "rnn_state_score": (_c_int, [S, _P_i32, _c_int, _c_int, _P_f64]),
        "rnn_state_get_logprobs": (_c_int, [S, _P_f32]),
        "rnn_state_draw": (_c_int, [S, PSmp, _P_i32]),
        "rnn_state_generate": (_c_int, [S, PSmp, _c_int, _P_i32]),
        "rnn_param_get_count": (_c_int, [M, PI]),
        "rnn_param_get": (_c_int, [M, _c_int, PPar]),
        "rnn_param_find": (_c_int, [M, ctypes.c_char_p, PPar]),
        "rnn_vocab_set": (_c_int, [M, ctypes.POINTER(ctypes.c_char_p), _c_int]),
        "rnn_vocab_get_size": (_c_int, [M, PI]),
        "rnn_vocab_get_word": (_c_int, [M, _c_int, ctypes.POINTER(ctypes.c_char_p)]),
        "rnn_vocab_find": (_c_int, [M, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int32)]),
        "rnn_text_next_word": (_c_int, [ctypes.c_char_p, _c_size, PS, PS]),
        "rnn_vocab_encode": (_c_int, [M, ctypes.c_char_p, _c_size, ctypes.c_uint, _P_i32, _c_size,
                                      PS, PS]),
        "rnn_model_save": (_c_int, [M, ctypes.c_char_p, ctypes.c_uint, ctypes.c_void_p, _c_size]),
        "rnn_model_save_mem": (_c_int, [M, ctypes.c_void_p, _c_size, PS, ctypes.c_uint,
                                        ctypes.c_void_p, _c_size]),
        "rnn_model_load": (_c_int, [ctypes.POINTER(M), ctypes.c_char_p, PA, ctypes.c_uint,
                                    ctypes.c_char_p, _c_size]),
        "rnn_model_load_mem": (_c_int, [ctypes.POINTER(M), ctypes.c_void_p, _c_size, PA, ctypes.c_uint,
                                        ctypes.c_char_p, _c_size]),
        "rnn_model_get_app_data": (_c_int, [M, PV, PS]),
        # the RNN_EXPERT_API section: exported by every 1.x library, may change in a minor release
        "rnn_model_get_hidden_grad": (_c_int, [M, _c_int, _P_f32, _P_f32]),
        "rnn_param_get_block": (_c_int, [M, ctypes.POINTER(_P_f32), ctypes.POINTER(_P_f32), PS]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    # calls added in librnn 1.1: bound when the loaded library exports them; the methods that use
    # them raise RnnError naming the version otherwise (_need)
    optional = {
        "rnn_state_score_sentence": (_c_int, [S, _P_i32, _c_int, _c_int, _P_f64]),
        "rnn_adamw_init": (_c_int, [ctypes.POINTER(_AdamW), _c_size]),
        "rnn_adamw_step": (_c_int, [M, ctypes.POINTER(_AdamW)]),
        "rnn_adamw_reset": (_c_int, [M]),
        "rnn_adamw_get_step": (_c_int, [M, ctypes.POINTER(ctypes.c_int64)]),
        "rnn_model_quantize": (_c_int, [M, _c_int]),
        "rnn_model_get_weight_type": (_c_int, [M, ctypes.POINTER(_c_int)]),
    }
    for name, (res, args) in optional.items():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype, fn.argtypes = res, args


def _load():
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        try:
            lib.rnn_version_number.restype = ctypes.c_uint
            lib.rnn_version_string.restype = ctypes.c_char_p
            major = lib.rnn_version_number() // 10000
        except AttributeError:
            tried.append("%s (not librnn: no rnn_version_number)" % path)
            continue
        if major != _HEADER_MAJOR:
            tried.append("%s (librnn %s; this binding needs major version %d)"
                         % (path, lib.rnn_version_string().decode(), _HEADER_MAJOR))
            continue
        try:
            _bind(lib)
        except AttributeError as e:
            tried.append("%s (librnn %s lacks a call: %s)" % (path, lib.rnn_version_string().decode(), e))
            continue
        return lib, path
    raise ImportError("rnn: cannot load librnn %d.x; tried %s. Set RNN_LIBRARY to the path of "
                      "librnn.so.%d" % (_HEADER_MAJOR, "; ".join(tried), _HEADER_MAJOR))


_lib, library = _load()  #: library: the path (or name) librnn was loaded from


def version() -> str:
    """The linked library's version string (rnn_version_string), e.g. ``"1.0.0"``."""
    return _lib.rnn_version_string().decode()


def status_string(code: int) -> str:
    """The library's name for a status code (rnn_status_string)."""
    return _lib.rnn_status_string(_int(code, "code")).decode()


# ---- errors ---------------------------------------------------------------------------------------
class RnnError(Exception):
    """A librnn call failed.

    Attributes: ``code`` (the RNN_ERR_* status), ``strerror`` (rnn_status_string(code)),
    ``errmsg`` (the detail: rnn_model_errmsg / rnn_state_errmsg, or the error buffer of
    rnn_model_create / rnn_model_load / rnn_model_load_mem; may be empty) and ``function`` (the C
    function that failed, or the Python attribute for a check the binding makes itself).
    """

    def __init__(self, code, function, errmsg=""):
        self.code = code
        self.function = function
        self.strerror = status_string(code)
        self.errmsg = errmsg or ""
        msg = "%s: %s" % (function, self.strerror)
        if self.errmsg:
            msg += " (%s)" % self.errmsg
        super().__init__(msg)


def _dec(b):
    return b.decode("utf-8", "surrogateescape") if b is not None else ""


# ---- argument checks: what ctypes would silently wrap, truncate or convert ---------------------
_INT_MIN, _INT_MAX = -2 ** 31, 2 ** 31 - 1  # C int and int32_t (token ids): sizes, counts, ids
_U64_MAX = 2 ** 64 - 1  # uint64_t: seeds


def _int(v, what, lo=_INT_MIN, hi=_INT_MAX, flag=False):
    """v as an int in [lo, hi]. Python ints and numpy integer scalars (anything with __index__)
    are accepted; TypeError for anything else (float, str, None, ...) and for a bool unless
    ``flag`` (a yes/no field); OverflowError outside [lo, hi] (ctypes would wrap it)."""
    if not flag and (isinstance(v, bool) or (_np is not None and isinstance(v, _np.bool_))):
        raise TypeError("%s must be an integer, not a bool" % what)
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError("%s must be an integer, not %s" % (what, type(v).__name__)) from None
    if not lo <= i <= hi:
        raise OverflowError("%s %d is outside [%d, %d]" % (what, i, lo, hi))
    return i


def _float(v, what):
    """v as a float: int, float and numpy scalars; TypeError for str, bytes, bool, None, ..."""
    if isinstance(v, (bool, str, bytes, bytearray)) or (_np is not None and isinstance(v, _np.bool_)):
        raise TypeError("%s must be a number, not %s" % (what, type(v).__name__))
    try:
        return float(v)
    except TypeError:
        raise TypeError("%s must be a number, not %s" % (what, type(v).__name__)) from None


def _enc(s, what="text", cstr=True):
    """str (as UTF-8; surrogateescape for the lone surrogates _dec makes of bytes that are not
    UTF-8) or bytes-like as bytes; TypeError for anything else. ``cstr``: the bytes go to C as a
    NUL-terminated string, so a NUL (which would cut it there) raises ValueError."""
    if isinstance(s, str):
        b = s.encode("utf-8", "surrogateescape")
    elif isinstance(s, (bytes, bytearray, memoryview)):
        b = bytes(s)
    else:
        raise TypeError("%s must be str or bytes, not %s" % (what, type(s).__name__))
    if cstr and b"\0" in b:
        raise ValueError("%s %r contains a NUL character" % (what, s))
    return b


def _path(path):
    """A file name for C: str (the file-system encoding), bytes or os.PathLike; ValueError for a
    NUL (C would stop there)."""
    b = os.fsencode(path)
    if b"\0" in b:
        raise ValueError("path %r contains a NUL character" % (path,))
    return b


def _bytes(data, what):
    """Bytes-like data (bytes, bytearray, memoryview, ...) as bytes; TypeError for anything else
    (bytes(5) would make 5 zero bytes, bytes([1, 2]) a list into bytes)."""
    try:
        return bytes(memoryview(data))
    except TypeError:
        raise TypeError("%s must be bytes-like, not %s" % (what, type(data).__name__)) from None


def limit(which: int) -> int:
    """A limit of the linked library (rnn_limit_get): ``rnn.limit(rnn.LIMIT_THREADS)``, ..."""
    v = ctypes.c_int64()
    rc = _lib.rnn_limit_get(_int(which, "limit"), ctypes.byref(v))
    if rc != OK:
        raise RnnError(rc, "rnn_limit_get", "unknown limit %r" % (which,))
    return v.value


def cell_name(cell: int) -> str:
    """The name of cell id `cell` (rnn_cell_name): "RNN_TANH", "RNN_RELU", "LSTM" or "GRU"."""
    name = ctypes.c_char_p()
    rc = _lib.rnn_cell_name(_int(cell, "cell"), ctypes.byref(name))
    if rc != OK:
        raise RnnError(rc, "rnn_cell_name", "no cell %r" % (cell,))
    return _dec(name.value)


def cell_find(name: Union[str, bytes]) -> int:
    """The id (CELL_*) of the cell called `name`, exactly as spelled (rnn_cell_find);
    RnnError(ERR_NOTFOUND) for any other name."""
    c = _c_int()
    rc = _lib.rnn_cell_find(_enc(name, "cell name"), ctypes.byref(c))
    if rc != OK:
        raise RnnError(rc, "rnn_cell_find", "no cell named %r" % (name,))
    return c.value


def split(text: Union[str, bytes]) -> List[Any]:
    """The words of one line as Python's str.split() gives them, found with rnn_text_next_word
    (the splitting rnn_vocab_encode and rnnlm use; for building a vocabulary). ``text``: str (a
    list of str comes back) or UTF-8 bytes (a list of bytes). RnnError(ERR_FORMAT) for a NUL
    or text that is not strict UTF-8 (the length is passed: a NUL is the library's to refuse)."""
    b = _enc(text, cstr=False)
    pos, n = _c_size(0), _c_size()
    words = []
    while True:
        rc = _lib.rnn_text_next_word(b, len(b), ctypes.byref(pos), ctypes.byref(n))
        if rc == ERR_NOTFOUND:
            return words
        if rc != OK:
            raise RnnError(rc, "rnn_text_next_word", "at byte offset %d" % pos.value)
        w = b[pos.value:pos.value + n.value]
        words.append(w if isinstance(text, (bytes, bytearray)) else w.decode("utf-8"))
        pos.value += n.value


def _cell_id(val):
    """Model(cell=...): a CELL_* int, or a name as rnn_cell_find spells it, in any case, with
    "RNN_" optional for TANH / RELU (as 0.1's binding accepted)."""
    if not isinstance(val, str):
        return _int(val, "cell")
    c = _c_int()
    for cand in (val, val.upper(), "RNN_" + val.upper()):
        if _lib.rnn_cell_find(_enc(cand, "cell name"), ctypes.byref(c)) == OK:
            return c.value
    raise ValueError("cell must be one of %s; got %r"
                     % (", ".join(cell_name(i) for i in range(CELL_COUNT)), val))


# ---- array helpers ----------------------------------------------------------------------------------
def _tokens(x, what="tokens"):
    """(pointer, batch, steps, stride, keepalive) for a [batch][steps] token array (1-D: one
    stream). stride is the C calls' row stride in entries (0: dense). A 2-D int32 numpy array
    with contiguous rows is passed as it is (no copy), its row stride given; anything else is
    copied into a dense int32 buffer. Ids are int32: TypeError for anything but integers (a
    float, bool or str; a numpy array of another dtype kind), OverflowError outside int32."""
    if isinstance(x, (str, bytes, bytearray)):
        raise TypeError("%s must be integers, not %s" % (what, type(x).__name__))
    if _np is not None and not isinstance(x, (list, tuple)):
        a = _np.asarray(x)
        if a.dtype.kind not in "iu":
            raise TypeError("%s must be integers, got dtype %s" % (what, a.dtype))
        if a.ndim == 1:
            a = a.reshape(1, -1)
        if a.ndim != 2:
            raise ValueError("%s must be [batch][steps] (2-D) or one stream (1-D)" % what)
        b, s = a.shape
        if (a.dtype == _np.dtype(_np.int32) and b >= 1 and s >= 1 and a.strides[1] == 4
                and a.ctypes.data % 4 == 0
                and (b == 1 or (a.strides[0] % 4 == 0 and s <= a.strides[0] // 4 < 2 ** 31))):
            stride = a.strides[0] // 4 if b > 1 else 0
            return a.ctypes.data_as(_P_i32), b, s, (0 if stride == s else stride), a
        if a.size and a.dtype != _np.dtype(_np.int32) and (a.min() < -2 ** 31 or a.max() >= 2 ** 31):
            raise OverflowError("%s outside the int32 range" % what)
        a = _np.ascontiguousarray(a, dtype=_np.int32)
        return a.ctypes.data_as(_P_i32), b, s, 0, a
    rows = list(x)
    if not rows or not isinstance(rows[0], (list, tuple)) and not hasattr(rows[0], "__len__"):
        rows = [rows]  # a flat sequence: one stream
    steps = len(rows[0])
    if any(len(r) != steps for r in rows):
        raise ValueError("%s rows differ in length" % what)
    flat = [_int(t, what[:-1]) for r in rows for t in r]
    buf = (ctypes.c_int32 * len(flat))(*flat) if flat else (ctypes.c_int32 * 1)()
    return ctypes.cast(buf, _P_i32), len(rows), steps, 0, buf


def _token_pair(tokens, targets):
    """_tokens of both, with one stride (the C calls take one for both): (pt, py, b, s, stride,
    keepalive)."""
    pt, b, s, st, kt = _tokens(tokens)
    py, by, sy, sty, ky = _tokens(targets, "targets")
    if (by, sy) != (b, s):
        raise ValueError("targets are %dx%d, tokens %dx%d" % (by, sy, b, s))
    if st != sty:  # different row strides: pass dense copies of both
        def dense(k):
            return _np.ascontiguousarray(k, dtype=_np.int32).reshape(-1)[:b * s].reshape(b, s)
        pt, b, s, st, kt = _tokens(dense(kt))
        py, by, sy, sty, ky = _tokens(dense(ky), "targets")
    return pt, py, b, s, st, (kt, ky)


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
        a = _np.asarray(x)
        if a.dtype.kind not in "fiu":
            raise TypeError("%s must be numbers, got dtype %s" % (what, a.dtype))
        a = _np.ascontiguousarray(a, dtype=_np.float32).reshape(-1)
        if a.size != n:
            raise ValueError("%s must hold %d floats, got %d" % (what, n, a.size))
        return a.ctypes.data_as(_P_f32), a

    def flatten(v):
        for e in v:
            if hasattr(e, "__len__") and not isinstance(e, (str, bytes, bytearray)):
                yield from flatten(e)
            else:
                yield _float(e, what)
    flat = list(flatten(x))
    if len(flat) != n:
        raise ValueError("%s must hold %d floats, got %d" % (what, n, len(flat)))
    buf = (_c_float * n)(*flat)
    return ctypes.cast(buf, _P_f32), buf


def _f64_out(n):
    """A zeroed float64 buffer of n: (result, pointer), a numpy array or a ctypes array."""
    if _np is not None:
        out = _np.zeros(n, dtype=_np.float64)
        return out, out.ctypes.data_as(_P_f64)
    out = (_c_double * max(n, 1))()
    return out, ctypes.cast(out, _P_f64)


def _i32_out(shape):
    n = 1
    for d in shape:
        n *= d
    if _np is not None:
        a = _np.zeros(shape, dtype=_np.int32)
        return a.ctypes.data_as(_P_i32), a
    buf = (ctypes.c_int32 * max(n, 1))()
    return ctypes.cast(buf, _P_i32), buf


def _view(ptr, shape, model):
    """A zero-copy view of `shape` floats at ptr, a numpy array when numpy is installed, else a
    memoryview (format 'f'). It keeps the Model object and its C memory (_Handle) alive, and is
    made read-only (numpy) or released (memoryview) by Model.close()."""
    n = 1
    for d in shape:
        n *= d
    carr = (_c_float * n).from_address(ctypes.addressof(ptr.contents))
    carr._rnn_owner = (model, model._owner)  # the view's base chain holds carr, which holds both
    if _np is not None:
        v = _np.ctypeslib.as_array(carr).reshape(shape)
    else:
        v = memoryview(carr).cast("B").cast("f", list(shape))
    return model._owner.add_view(v)


class _Handle:
    """The C model and the C states over it, freed in the order the library needs (the states,
    then the model). The Model holds it, and so does every parameter view (through its buffer),
    so the C memory outlives any view. Model.close() frees the states, makes the views it handed
    out read-only (numpy) or releases them (memoryview) and drops its reference: the C model is
    freed then, or when the last view that still holds it goes. States are kept as C pointers
    here (not as State objects), so that a garbage cycle holding a Model and its States frees
    them in the right order whatever order the collector finalizes them in."""

    def __init__(self, h):
        self.h = h
        self.states = {}  # address -> c_void_p of every live rnn_state over this model
        self.views = {}  # id -> weakref of every view handed out

    def add_state(self, s):
        self.states[s.value] = s

    def has_state(self, s):
        return self.states.get(s.value) is s

    def free_state(self, s):
        if self.states.pop(s.value, None) is not None:
            _lib.rnn_state_free(s)

    def add_view(self, v):
        key, views = id(v), self.views

        def gone(ref):
            if views.get(key) is ref:
                del views[key]
        views[key] = weakref.ref(v, gone)
        return v

    def detach(self):
        """For Model.close(): frees every state and disarms every view still alive."""
        states, self.states = self.states, {}
        for s in states.values():
            _lib.rnn_state_free(s)
        views, self.views = self.views, {}
        for ref in views.values():
            v = ref()
            try:
                if isinstance(v, memoryview):
                    v.release()  # any use now raises ValueError
                elif v is not None:
                    v.flags.writeable = False
            except (BufferError, ValueError):  # a memoryview something else exported: left alone
                pass

    def __del__(self):
        try:
            self.detach()
            if self.h:
                _lib.rnn_model_free(self.h)
                self.h = None
        except Exception:  # interpreter shutdown: the library may already be gone
            pass


class Param:
    """One parameter tensor (rnn_param): ``name`` (the state_dict key), ``rows``, ``cols``,
    ``data`` and ``grad``, zero-copy views of the library's memory (writing to ``data`` changes
    the model). A view keeps its Model alive; after Model.close() it is read-only (numpy: the
    last values, still readable) or released (memoryview: any use raises ValueError)."""

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
    example's) values: ``cell`` (``"LSTM"`` default, ``"GRU"``, ``"RNN_TANH"``, ``"RNN_RELU"`` --
    looked up with rnn_cell_find, in any case, "RNN_" optional -- or a CELL_* int),
    ``vocab_size``, ``emb_size`` (200), ``hidden_size`` (200), ``num_layers`` (2), ``dropout``
    (0.2), ``tied`` (False), ``seed`` (1111). ``vocab=[words]`` may be given instead of (or with)
    ``vocab_size``: it sets the size and the vocabulary.
    The output layer (librnn 1.1): ``adaptive_cutoffs=[c0, c1, ...]`` (at most MAX_CUTOFFS,
    strictly increasing, in [1, vocab_size - 1]) makes it PyTorch's AdaptiveLogSoftmaxWithLoss
    (RNN_OUTPUT_ADAPTIVE) instead of the full softmax (None, the default), with ``div_value``
    (4.0; 0 means 4) and ``head_bias`` (False). :attr:`config` reports the three (None, 0.0 and
    False for the full softmax), so ``Model(**m.config)`` makes the same kind of model. A 1.0
    library refuses an adaptive model (RnnError ERR_INVALID, naming the version needed).
    ``Model.load(path)`` reads a model file, ``Model.from_bytes(data)`` a memory image.
    """

    def __init__(self, vocab: Optional[Iterable[Union[str, bytes]]] = None, **config: Any) -> None:
        self._h = self._owner = None
        self._app = None
        self._words = None  # the vocabulary cache (see vocab)
        cfg = _Config()
        _lib.rnn_config_init(ctypes.byref(cfg), ctypes.sizeof(cfg))
        if vocab is not None:
            if isinstance(vocab, (str, bytes, bytearray)):
                raise TypeError("vocab must be a list of words, not %s" % type(vocab).__name__)
            vocab = list(vocab)
            config.setdefault("vocab_size", len(vocab))
        fields = _CONFIG_1_0 + ("adaptive_cutoffs", "div_value", "head_bias")
        for key, val in config.items():
            if key not in fields:
                raise TypeError("unknown config field %r" % key)
            if key == "adaptive_cutoffs":
                if val is None:
                    continue
                if isinstance(val, (str, bytes, bytearray)):
                    raise TypeError("adaptive_cutoffs must be a list of ints, not %s" % type(val).__name__)
                try:
                    cuts = [_int(c, "adaptive_cutoffs[%d]" % i) for i, c in enumerate(val)]
                except TypeError as e:
                    if not hasattr(val, "__iter__"):
                        raise TypeError("adaptive_cutoffs must be a list of ints, not %s"
                                        % type(val).__name__) from None
                    raise e
                if len(cuts) > MAX_CUTOFFS:
                    raise ValueError("adaptive_cutoffs has %d entries; at most %d (RNN_MAX_CUTOFFS)"
                                     % (len(cuts), MAX_CUTOFFS))
                cfg.output, cfg.num_cutoffs = OUTPUT_ADAPTIVE, len(cuts)
                for i, c in enumerate(cuts):
                    cfg.cutoffs[i] = c
                continue
            if key == "cell":
                val = _cell_id(val)
            elif key in ("dropout", "div_value"):
                val = _float(val, key)
            else:  # C ints, except the uint64 seed; tied and head_bias are yes/no (bool or int)
                val = (_int(val, key, 0, _U64_MAX) if key == "seed"
                       else _int(val, key, flag=key in ("tied", "head_bias")))
            setattr(cfg, key, val)
        h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(512)
        rc = _lib.rnn_model_create(ctypes.byref(h), ctypes.byref(cfg), None, err, len(err))
        if rc != OK:
            msg = _dec(err.value)
            if rc == ERR_INVALID and _lib_older_than_1_1() and (cfg.output or cfg.div_value or cfg.head_bias):
                msg = ("the adaptive output layer (adaptive_cutoffs, div_value, head_bias) needs librnn 1.1 "
                       "or later; the loaded library (%s) is %s (it says: %s)" % (library, version(), msg))
            raise RnnError(rc, "rnn_model_create", msg)
        self._adopt(h)
        if vocab is not None:
            self.vocab = vocab

    def _adopt(self, h):
        self._owner = _Handle(h)
        self._h = h

    @classmethod
    def _wrap(cls, h):
        self = cls.__new__(cls)
        self._app = None
        self._words = None
        self._adopt(h)
        return self

    @classmethod
    def load(cls, path: PathLike, state: bool = True) -> "Model":
        """Creates a model from a file written by :meth:`save` (rnn_model_load). A hidden state
        and generator saved with ``save(state=True)`` are restored unless ``state=False``
        (RNN_LOAD_NO_STATE)."""
        h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(512)
        rc = _lib.rnn_model_load(ctypes.byref(h), _path(path), None, 0 if state else LOAD_NO_STATE,
                                 err, len(err))
        if rc != OK:
            raise RnnError(rc, "rnn_model_load", _dec(err.value))
        return cls._wrap(h)

    @classmethod
    def from_bytes(cls, data: Any, state: bool = True) -> "Model":
        """Creates a model from the bytes of a model file, e.g. from :meth:`to_bytes`
        (rnn_model_load_mem; the bytes are not kept). ``state`` as in :meth:`load`."""
        data = _bytes(data, "data")
        h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(512)
        rc = _lib.rnn_model_load_mem(ctypes.byref(h), data, len(data), None, 0 if state else LOAD_NO_STATE,
                                     err, len(err))
        if rc != OK:
            raise RnnError(rc, "rnn_model_load_mem", _dec(err.value))
        return cls._wrap(h)

    # -- lifetime
    def close(self) -> None:
        """Frees the C handle now (rnn_model_free), and its States first (rnn_state_free).
        Afterwards the model and its States raise ValueError; the parameter views it handed out
        become read-only (numpy; their memory is freed with the last of them) or released
        (memoryview). Idempotent; the garbage collector calls it otherwise."""
        owner = getattr(self, "_owner", None)
        self._h = self._owner = None
        if owner is not None:
            owner.detach()  # the C model goes with `owner`: now, unless a view still holds it

    @property
    def _handle(self):
        if not self._h:
            raise ValueError("the model is closed")
        return self._h

    def _check(self, rc, fn):
        if rc != OK:
            raise RnnError(rc, fn, _dec(_lib.rnn_model_errmsg(self._h)))

    # -- files and memory images
    def _app_arg(self, app_data):
        app = self.app_data if app_data is None else _bytes(app_data, "app_data")
        return (app or None), len(app)

    def save(self, path: PathLike, state: bool = False, app_data: Optional[bytes] = None) -> None:
        """Saves config, vocabulary, parameters and application data atomically (rnn_model_save).
        ``state=True`` (RNN_SAVE_STATE): also the hidden state and the generator. ``app_data``:
        the bytes to carry (None: :attr:`app_data`)."""
        app, n = self._app_arg(app_data)
        self._check(_lib.rnn_model_save(self._handle, _path(path), SAVE_STATE if state else 0, app, n),
                    "rnn_model_save")

    def to_bytes(self, state: bool = False, app_data: Optional[bytes] = None) -> bytes:
        """The bytes :meth:`save` would write, as a bytes object (rnn_model_save_mem).
        ``state`` and ``app_data`` as in :meth:`save`; :meth:`from_bytes` reads them back."""
        app, n = self._app_arg(app_data)
        flags = SAVE_STATE if state else 0
        need = _c_size()
        self._check(_lib.rnn_model_save_mem(self._handle, None, 0, ctypes.byref(need), flags, app, n),
                    "rnn_model_save_mem")
        while True:
            buf = ctypes.create_string_buffer(max(need.value, 1))
            got = _c_size()
            rc = _lib.rnn_model_save_mem(self._handle, buf, need.value, ctypes.byref(got), flags, app, n)
            if rc == ERR_SIZE and got.value > need.value:  # cannot happen on an unchanged model
                need = got
                continue
            self._check(rc, "rnn_model_save_mem")
            return buf.raw[:got.value]

    # -- configuration
    @property
    def config(self) -> Dict[str, Any]:
        """The rnn_config as a dict (cell as its name; rnn_model_get_config)."""
        cfg = _sized(_Config)
        self._check(_lib.rnn_model_get_config(self._handle, ctypes.byref(cfg)), "rnn_model_get_config")
        return _config_dict(cfg)

    @property
    def vocab_size(self) -> int:
        return self.config["vocab_size"]

    # -- hidden state of the training API
    def reset_state(self, batch: int) -> None:
        """Zero hidden state for `batch` streams (init_hidden; rnn_model_reset_hidden); drops a
        pending backward."""
        self._check(_lib.rnn_model_reset_hidden(self._handle, _int(batch, "batch")), "rnn_model_reset_hidden")

    def reserve(self, batch: int, steps: int) -> None:
        """Sizes the workspace for chunks up to batch x steps now (rnn_model_reserve)."""
        self._check(_lib.rnn_model_reserve(self._handle, _int(batch, "batch"), _int(steps, "steps")),
                    "rnn_model_reserve")

    @property
    def state_batch(self) -> int:
        """The batch size of the current hidden state (0 before reset_state; rnn_model_get_batch)."""
        b = _c_int()
        self._check(_lib.rnn_model_get_batch(self._handle, ctypes.byref(b)), "rnn_model_get_batch")
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

    def get_state(self) -> Tuple[Any, Any]:
        """(h, c) float32 [L][batch][H] (c is None unless LSTM) -- rnn_model_get_hidden."""
        return self._get2(_lib.rnn_model_get_hidden, "rnn_model_get_hidden")

    def set_state(self, h: Any, c: Any = None) -> None:
        """Sets the hidden state (same batch as now); c None: zeros (LSTM) -- rnn_model_set_hidden."""
        shape = self._state_shape()
        n = shape[0] * shape[1] * shape[2]
        ph, kh = _f32_input(h, n, "h")
        pc, kc = _f32_input(c, n, "c") if c is not None else (None, None)
        self._check(_lib.rnn_model_set_hidden(self._handle, shape[1], ph, pc), "rnn_model_set_hidden")

    def get_state_grad(self) -> Tuple[Any, Any]:
        """(dh, dc) after backward: the gradient w.r.t. the chunk's entering state
        (rnn_model_get_hidden_grad, an RNN_EXPERT_API call)."""
        return self._get2(_lib.rnn_model_get_hidden_grad, "rnn_model_get_hidden_grad")

    # -- training
    def forward(self, tokens: Tokens, targets: Tokens) -> float:
        """Training-mode forward over one chunk; returns the mean NLL (rnn_forward).
        targets may hold IGNORE (-1)."""
        pt, py, b, s, stride, keep = _token_pair(tokens, targets)
        loss = _c_double()
        self._check(_lib.rnn_forward(self._handle, pt, py, b, s, stride, ctypes.byref(loss)), "rnn_forward")
        return loss.value

    def backward(self) -> None:
        """Truncated BPTT through the last forward's chunk; ADDS to the gradients."""
        self._check(_lib.rnn_backward(self._handle), "rnn_backward")

    def zero_grad(self) -> None:
        self._check(_lib.rnn_zero_grad(self._handle), "rnn_zero_grad")

    def clip_grad_norm(self, max_norm: float) -> float:
        """clip_grad_norm_(parameters, max_norm); returns the total norm before clipping."""
        norm = _c_double()
        self._check(_lib.rnn_clip_grad_norm(self._handle, _float(max_norm, "max_norm"), ctypes.byref(norm)),
                    "rnn_clip_grad_norm")
        return norm.value

    def sgd_step(self, lr: float) -> None:
        """p -= lr * grad for every parameter."""
        self._check(_lib.rnn_sgd_step(self._handle, _float(lr, "lr")), "rnn_sgd_step")

    def adamw_step(self, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                   weight_decay: float = 1e-2) -> None:
        """One torch.optim.AdamW step (rnn_adamw_step, librnn 1.1) with these options (torch's
        defaults). The step count and moments live in the model (saved with save(state=True));
        the first step allocates them."""
        fn = _need("rnn_adamw_step")
        o = _AdamW()
        rc = _lib.rnn_adamw_init(ctypes.byref(o), ctypes.sizeof(o))
        if rc != OK:
            raise RnnError(rc, "rnn_adamw_init")
        o.lr, o.eps, o.weight_decay = float(lr), float(eps), float(weight_decay)
        o.beta1, o.beta2 = (float(b) for b in betas)
        self._check(fn(self._handle, ctypes.byref(o)), "rnn_adamw_step")

    def adamw_reset(self) -> None:
        """Drops AdamW's moments and step count: the next adamw_step starts a fresh optimizer
        (rnn_adamw_reset)."""
        self._check(_need("rnn_adamw_reset")(self._handle), "rnn_adamw_reset")

    @property
    def adamw_steps(self) -> int:
        """AdamW steps taken so far (rnn_adamw_get_step; 0: none)."""
        n = ctypes.c_int64()
        self._check(_need("rnn_adamw_get_step")(self._handle, ctypes.byref(n)), "rnn_adamw_get_step")
        return n.value

    # -- quantized weights (librnn 1.1)
    def quantize(self, weights: Union[str, int]) -> None:
        """Converts the weight matrices (embedding, every layer's weight_ih / weight_hh, decoder)
        to ``"q8"`` (int8 in blocks of 32 inputs, one fp32 scale each) or ``"bf16"`` (bfloat16)
        in place; biases stay fp32 (rnn_model_quantize; a WEIGHTS_* int works too). Irreversible:
        the fp32 weights, gradients and AdamW state are freed, so the model is then for
        inference only: evaluate, sample, score_text, generate_text, State and save work;
        forward, backward, zero_grad, clip_grad_norm, sgd_step, adamw_step and param_block raise
        RnnError(ERR_STATE), and :meth:`params` gives a weight matrix's ``data`` as None.
        ``"fp32"`` or the type the model already has does nothing. RnnError(ERR_INVALID) for an
        adaptive output layer, ERR_STATE when already quantized to the other type, ERR_NUMERIC
        for a weight that is not finite; ValueError for an unknown name. A quantized model saves
        as a quantized file (format version 3) that :meth:`load` reads back. Converting frees the
        memory that :meth:`params` and :meth:`param_block` views point into, so it raises
        RnnError(ERR_STATE) while any such view is still alive: drop them (``del``) first."""
        if isinstance(weights, str):
            if weights.lower() not in _WEIGHT_NAMES:
                raise ValueError("weights must be one of %s; got %r" % (", ".join(_WEIGHT_NAMES), weights))
            code = _WEIGHT_NAMES[weights.lower()]
        else:
            code = _int(weights, "weights")
        quantize = _need("rnn_model_quantize")
        if code != WEIGHTS_FP32 and _WEIGHT_NAMES.get(self.weight_type) == WEIGHTS_FP32:
            alive = sum(1 for ref in list(self._owner.views.values()) if ref() is not None)
            if alive:  # (they would read freed memory: a numpy array cannot be disarmed)
                raise RnnError(ERR_STATE, "Model.quantize",
                               "%d view(s) from params() / param_block() are still alive and would point into "
                               "freed memory: drop them (del) before quantizing" % alive)
        self._check(quantize(self._handle, code), "rnn_model_quantize")

    @property
    def weight_type(self) -> str:
        """``"fp32"`` (the default), ``"bf16"`` or ``"q8"`` (rnn_model_get_weight_type): what
        :meth:`quantize` made of the model, or what its file held."""
        t = _c_int()
        self._check(_need("rnn_model_get_weight_type")(self._handle, ctypes.byref(t)), "rnn_model_get_weight_type")
        for name, code in _WEIGHT_NAMES.items():
            if code == t.value:
                return name
        return "unknown (%d)" % t.value  # a later library's type

    # -- evaluation and generation
    def evaluate(self, tokens: Tokens, targets: Optional[Tokens] = None, logprobs: bool = False) -> Any:
        """Evaluation-mode forward (no dropout, no gradient), the state carried (rnn_evaluate).
        Returns the mean NLL (0 when targets is None: the chunk only advances the state), or
        (loss, logprobs) with logprobs float32 [batch][steps][V] when logprobs=True."""
        if targets is not None:
            pt, py, b, s, stride, keep = _token_pair(tokens, targets)
        else:
            pt, b, s, stride, keep = _tokens(tokens)
            py = None
        loss = _c_double()
        plp = lp = None
        if logprobs:
            shape = (b, s, self.vocab_size)
            plp, lp = _f32_buffer(b * s * shape[2], shape)
        self._check(_lib.rnn_evaluate(self._handle, pt, py, b, s, stride, ctypes.byref(loss), plp),
                    "rnn_evaluate")
        return (loss.value, _result(lp, shape)) if logprobs else loss.value

    def sample(self, tokens: Tokens, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
               **sampling: Any) -> IntArray:
        """Feeds tokens[b] to stream b (one step) and draws next[b] with the model's generator
        (rnn_sample; temperature, then top-k, then top-p as in :meth:`State.next`); returns next
        (int32 array or list, one per stream). tokens: one id per stream (a flat sequence)."""
        if _np is not None and not isinstance(tokens, (list, tuple)):
            column = _np.asarray(tokens).reshape(-1, 1)
        else:
            column = [[t] for t in tokens]  # _tokens checks them
        pt, b, s, stride, kt = _tokens(column)
        smp = _sampling(temperature=temperature, top_k=top_k, top_p=top_p, **sampling)
        pn, nxt = _i32_out((b,))
        self._check(_lib.rnn_sample(self._handle, pt, b, ctypes.byref(smp), pn), "rnn_sample")
        return nxt if _np is not None else list(nxt)[:b]

    def set_seed(self, seed: int) -> None:
        """Reseeds the handle's generator (dropout and rnn_sample; rnn_model_set_seed); seed in
        [0, 2**64)."""
        self._check(_lib.rnn_model_set_seed(self._handle, _int(seed, "seed", 0, _U64_MAX)), "rnn_model_set_seed")

    @property
    def threads(self) -> int:
        """librnn's threads for this model (rnn_model_set_threads; set OPENBLAS_NUM_THREADS=1 with
        > 1; at most ``rnn.limit(rnn.LIMIT_THREADS)``)."""
        n = _c_int()
        self._check(_lib.rnn_model_get_threads(self._handle, ctypes.byref(n)), "rnn_model_get_threads")
        return n.value

    @threads.setter
    def threads(self, n: int) -> None:
        self._check(_lib.rnn_model_set_threads(self._handle, _int(n, "threads")), "rnn_model_set_threads")

    # -- vocabulary and text
    def _vocab_list(self) -> List[str]:
        """The cached vocabulary (the list itself: callers must not change it). Filled on first
        use with one rnn_vocab_get_word per word; emptied by the vocab setter (rnn_vocab_set), the
        one call that changes a model's vocabulary (a loaded model is a new Model)."""
        h, words = self._handle, self._words
        if words is None:
            n = _c_int()
            self._check(_lib.rnn_vocab_get_size(h, ctypes.byref(n)), "rnn_vocab_get_size")
            w = ctypes.c_char_p()
            words = []
            for i in range(n.value):
                self._check(_lib.rnn_vocab_get_word(h, i, ctypes.byref(w)), "rnn_vocab_get_word")
                words.append(_dec(w.value))
            self._words = words
        return words

    @property
    def vocab(self) -> List[str]:
        """The vocabulary as a list of str (id order); [] when the model has none. Assign a list of
        vocab_size distinct, non-empty strings without whitespace to set it (rnn_vocab_set).
        Cached: the first read asks the library, later ones copy the cached list (assigning
        empties the cache). Each read returns a new list; index it in a loop through
        :meth:`vocab_word` or :meth:`decode`, which use the cache without copying."""
        return list(self._vocab_list())

    @vocab.setter
    def vocab(self, words: Iterable[Union[str, bytes]]) -> None:
        if isinstance(words, (str, bytes, bytearray)):
            raise TypeError("vocab must be a list of words, not %s" % type(words).__name__)
        enc = [_enc(w, "word") for w in words]
        arr = (ctypes.c_char_p * max(len(enc), 1))(*enc)
        h = self._handle
        self._words = None  # before the call: on failure the library keeps the old vocabulary,
        self._check(_lib.rnn_vocab_set(h, arr, len(enc)), "rnn_vocab_set")  # which is re-read

    def vocab_word(self, i: int) -> str:
        """Word `i` (from the vocabulary cache; rnn_vocab_get_word's answer); RnnError(ERR_RANGE)
        outside the vocabulary."""
        i = _int(i, "index")
        words = self._vocab_list()
        if not 0 <= i < len(words):
            w = ctypes.c_char_p()  # the library's own error and message
            self._check(_lib.rnn_vocab_get_word(self._handle, i, ctypes.byref(w)), "rnn_vocab_get_word")
        return words[i]

    def find(self, word: Union[str, bytes]) -> int:
        """The id of `word` (rnn_vocab_find); RnnError(ERR_NOTFOUND) when the vocabulary does not
        hold it (or the model has none)."""
        i = ctypes.c_int32()
        self._check(_lib.rnn_vocab_find(self._handle, _enc(word, "word"), ctypes.byref(i)), "rnn_vocab_find")
        return i.value

    def word_id(self, word: Union[str, bytes]) -> int:
        """The id of `word` (rnn_vocab_find); KeyError when it is not in the vocabulary."""
        try:
            return self.find(word)
        except RnnError as e:
            if e.code == ERR_NOTFOUND:
                raise KeyError(word) from None
            raise

    _UNK = {"error": 0, "map": ENCODE_UNK_MAP, "skip": ENCODE_UNK_SKIP}

    def encode(self, text: Union[str, bytes], eos: bool = True, unk: str = "error") -> List[int]:
        """One line of text as a list of token ids, as the PyTorch example's data.py tokenizes
        (rnn_vocab_encode): the words of str.split() (Unicode whitespace included), then "<eos>"
        when ``eos``. ``text``: str (encoded as UTF-8) or UTF-8 bytes. An unknown word raises
        RnnError(ERR_NOTFOUND) with ``unk="error"``, becomes "<unk>" with ``unk="map"`` or is
        left out with ``unk="skip"``."""
        if unk not in self._UNK:
            raise ValueError("unk must be 'error', 'map' or 'skip', got %r" % (unk,))
        flags = (ENCODE_EOS if eos else 0) | self._UNK[unk]
        b = _enc(text, cstr=False)  # with its length: a NUL is the library's to refuse (ERR_FORMAT)
        cap = (len(b) + 1) // 2 + 1  # words are >= 1 byte with >= 1 byte between them, + <eos>
        while True:
            buf = (ctypes.c_int32 * cap)()
            n = _c_size()
            rc = _lib.rnn_vocab_encode(self._handle, b, len(b), flags, buf, cap, ctypes.byref(n), None)
            if rc == ERR_SIZE and n.value > cap:
                cap = n.value
                continue
            self._check(rc, "rnn_vocab_encode")
            return list(buf[:n.value])

    def _eos_id(self) -> Optional[int]:
        """The id of "<eos>", or None when the vocabulary has no such word (or there is none)."""
        i = ctypes.c_int32()
        return i.value if _lib.rnn_vocab_find(self._handle, b"<eos>", ctypes.byref(i)) == OK else None

    def decode(self, ids: Tokens, eos: str = "\n") -> str:
        """Token ids of one stream (a flat sequence or 1-D integer array) as text: the words joined
        by single spaces, each "<eos>" written as ``eos`` (a newline) with no space around it, so
        that ``decode(encode(line))`` is the line's words joined by single spaces and a newline.
        Uses the vocabulary cache (one C call per decode, not one per word). RnnError(ERR_RANGE)
        for an id outside the vocabulary, ERR_STATE when the model has none."""
        words = self._vocab_list()
        if not words:
            raise RnnError(ERR_STATE, "Model.decode", "the model has no vocabulary")
        if _np is not None and isinstance(ids, _np.ndarray):
            if ids.dtype.kind not in "iu":
                raise TypeError("ids must be integers, got dtype %s" % ids.dtype)
            if ids.ndim != 1:
                raise ValueError("decode takes one stream (a 1-D array), got %d-D" % ids.ndim)
            ids = ids.tolist()
        elif isinstance(ids, (str, bytes, bytearray)):
            raise TypeError("ids must be integers, not %s" % type(ids).__name__)
        e, n = self._eos_id(), len(words)
        out, sep = [], ""
        for k, t in enumerate(ids):
            t = _int(t, "token id")
            if not 0 <= t < n:
                raise RnnError(ERR_RANGE, "Model.decode", "token %d at [%d] is outside [0, %d)" % (t, k, n))
            if t == e:
                out.append(eos)
                sep = ""
            else:
                out.append(sep + words[t])
                sep = " "
        return "".join(out)

    def score_text(self, text: Union[str, bytes, Iterable[Union[str, bytes]]], per_sentence: bool = True,
                   unk: str = "error") -> List[float]:
        """The natural log-probability of every line of ``text``, one float per line.

        ``text``: str or UTF-8 bytes, cut into lines at "\\n" (a final newline ends the last line;
        "" has no lines), or an iterable of lines (str or bytes, one line each: an n-best list).
        A line's tokens are :meth:`encode`'s: its words, then "<eos>" when the vocabulary has it
        (its number of tokens is ``len(m.encode(line))``, for a perplexity); ``unk`` as there.

        ``per_sentence=True``: each line scored on its own, by the library's one definition of a
        sentence's score (:meth:`State.score_sentence`: the zero hidden state, "<eos>" fed when the
        vocabulary has it, then the line's tokens), so that equal lines score equal wherever
        they are: what rescoring n-best lists needs. ``per_sentence=False``: one stream through
        all the lines from the zero hidden state, each line scored given the lines before it (as
        ``rnnlm score``); the sum is the text's log-probability. A line with no tokens scores 0.
        """
        if isinstance(text, (str, bytes, bytearray)):
            nl = "\n" if isinstance(text, str) else b"\n"
            lines = text.split(nl)
            if not lines[-1]:
                lines.pop()
        else:
            lines = list(text)
        eos = self._eos_id() is not None
        out = []
        with State(self, 1, 0) as st:
            for line in lines:
                ids = self.encode(line, eos=eos, unk=unk)
                if not ids:
                    out.append(0.0)
                else:
                    out.append(float((st.score_sentence if per_sentence else st.score)([ids])[0]))
        return out

    def generate_text(self, prompt: Union[str, bytes] = "", words: int = 100, temperature: float = 1.0,
                      top_k: int = 0, top_p: float = 1.0, seed: int = 1111, stop_at_eos: bool = False,
                      unk: str = "error", **sampling: Any) -> str:
        """Up to ``words`` sampled words after ``prompt``, as text (:meth:`decode`: <eos> as a
        newline); the prompt itself is not in it.

        A new one-stream :class:`State` seeded with ``seed`` is fed "<eos>" (when the vocabulary
        has it: the prompt begins a sentence, as a line does in :meth:`score_text`) and the
        prompt's words (:meth:`encode` without "<eos>"; ``unk`` as there); then
        :meth:`State.generate` draws ``words`` tokens with the sampling options (temperature, then
        top-k, then top-p; other rnn_sampling fields by name). The same arguments give the same
        text. ``stop_at_eos``: stop after the first "<eos>" drawn (the text then ends with a
        newline); the words before it are the same as without."""
        count = _int(words, "words")
        if count < 0:
            raise ValueError("words must be >= 0, got %d" % count)
        smp = dict(temperature=temperature, top_k=top_k, top_p=top_p, **sampling)
        _sampling(**smp)  # checks the options before any work
        eos = self._eos_id()
        first = ([eos] if eos is not None else []) + self.encode(prompt, eos=False, unk=unk)
        with State(self, 1, seed) as st:
            if first:
                st.feed([first])
            if not stop_at_eos:
                ids = st.generate(count, **smp)[0]
            else:  # draw and feed one at a time: what generate does, with a look at each token
                ids = []
                for _ in range(count):
                    t = int(st.next(**smp)[0])
                    st.feed([[t]])
                    ids.append(t)
                    if t == eos:
                        break
        return self.decode(ids)

    # -- application data
    @property
    def app_data(self) -> bytes:
        """The application data as bytes: what was last assigned to this attribute, else the data
        of the file the model was loaded from (rnn_model_get_app_data); b"" when none. It is
        written by :meth:`save` and :meth:`to_bytes` (their ``app_data`` argument overrides it)."""
        if self._app is not None:
            return self._app
        p, n = ctypes.c_void_p(), _c_size()
        self._check(_lib.rnn_model_get_app_data(self._handle, ctypes.byref(p), ctypes.byref(n)),
                    "rnn_model_get_app_data")
        return ctypes.string_at(p, n.value) if n.value else b""

    @app_data.setter
    def app_data(self, data: Optional[bytes]) -> None:
        data = b"" if data is None else _bytes(data, "app_data")
        most = limit(LIMIT_APP_DATA)
        if len(data) > most:
            raise RnnError(ERR_INVALID, "Model.app_data",
                           "%d bytes of application data; RNN_LIMIT_APP_DATA is %d" % (len(data), most))
        self._app = data

    # -- parameters
    def _param(self, p):
        # a quantized model has no fp32 weight matrices and no gradients: those are NULL -> None
        shape = (p.rows, p.cols)
        return Param(_dec(p.name), p.rows, p.cols, _view(p.data, shape, self) if p.data else None,
                     _view(p.grad, shape, self) if p.grad else None)

    def params(self) -> Dict[str, "Param"]:
        """{state_dict name: Param} in model.parameters() order (a tied model has no
        "decoder.weight": it is encoder.weight). Param.data / .grad are zero-copy numpy views
        (rows x cols float32) of the library's memory, or memoryviews without numpy. On a
        quantized model (:meth:`quantize`) a weight matrix's ``data`` is None (its values are
        int8 / bfloat16, not float32) and every ``grad`` is None."""
        n = _c_int()
        self._check(_lib.rnn_param_get_count(self._handle, ctypes.byref(n)), "rnn_param_get_count")
        out = {}
        for i in range(n.value):
            p = _sized(_Param)
            self._check(_lib.rnn_param_get(self._handle, i, ctypes.byref(p)), "rnn_param_get")
            out[_dec(p.name)] = self._param(p)
        return out

    def param(self, name: Union[str, bytes]) -> "Param":
        """One Param by state_dict name (rnn_param_find; "decoder.weight" of a tied model gives
        the shared encoder.weight). RnnError(ERR_NOTFOUND) for an unknown name."""
        p = _sized(_Param)
        self._check(_lib.rnn_param_find(self._handle, _enc(name, "parameter name"), ctypes.byref(p)), "rnn_param_find")
        return self._param(p)

    def param_block(self) -> Tuple[Any, Any]:
        """(data, grad): the whole parameter and gradient blocks, in parameters() order, as flat
        zero-copy views (numpy float32 arrays, or 1-D memoryviews without numpy);
        rnn_param_get_block, an RNN_EXPERT_API call."""
        d, g, n = _P_f32(), _P_f32(), _c_size()
        self._check(_lib.rnn_param_get_block(self._handle, ctypes.byref(d), ctypes.byref(g), ctypes.byref(n)),
                    "rnn_param_get_block")
        return tuple(_view(p, (n.value,), self) for p in (d, g))

    def __repr__(self):
        if not self._h:
            return "<rnn.Model closed>"
        c = self.config
        return "<rnn.Model %s V=%d E=%d H=%d L=%d%s>" % (c["cell"], c["vocab_size"], c["emb_size"],
                                                       c["hidden_size"], c["num_layers"],
                                                       " tied" if c["tied"] else "")


def _config_dict(cfg):
    name = ctypes.c_char_p()
    cell = _dec(name.value) if _lib.rnn_cell_name(cfg.cell, ctypes.byref(name)) == OK else cfg.cell
    adaptive = cfg.output == OUTPUT_ADAPTIVE
    return {"cell": cell, "vocab_size": cfg.vocab_size,
            "emb_size": cfg.emb_size, "hidden_size": cfg.hidden_size, "num_layers": cfg.num_layers,
            "dropout": float("%.7g" % cfg.dropout), "tied": bool(cfg.tied), "seed": cfg.seed,
            "adaptive_cutoffs": list(cfg.cutoffs[:cfg.num_cutoffs]) if adaptive else None,
            "div_value": float("%.7g" % cfg.div_value), "head_bias": bool(cfg.head_bias)}


def _lib_older_than_1_1():
    try:
        major, minor = (int(x) for x in version().split(".")[:2])
    except ValueError:
        return False
    return (major, minor) < (1, 1)


def _sampling(**given):
    """An rnn_sampling: rnn_sampling_init's defaults, then the fields given by name (those of
    _SAMPLING_FIELDS: float fields through _float, int fields through _int); TypeError for a name
    that is not one."""
    s = _Sampling()
    rc = _lib.rnn_sampling_init(ctypes.byref(s), ctypes.sizeof(s))
    if rc != OK:
        raise RnnError(rc, "rnn_sampling_init")
    for name, ctype in _SAMPLING_OPTIONS:
        if name in given:
            v = given.pop(name)
            setattr(s, name, _float(v, name) if ctype is _c_float else _int(v, name))
    if given:
        raise TypeError("unknown sampling option %r (known: %s)"
                        % (sorted(given)[0], ", ".join(n for n, _ in _SAMPLING_OPTIONS)))
    return s


def _need(name: str) -> Any:
    """The library's function `name`, a call added in a later 1.x; RnnError(INVALID) naming the
    version when the loaded library is older."""
    fn = getattr(_lib, name, None)
    if fn is None:
        raise RnnError(ERR_INVALID, name, "needs librnn 1.1 or later; the loaded library (%s) is %s"
                       % (library, version()))
    return fn


# ---- inference states ------------------------------------------------------------------------------------
class State(_Closing):
    """An rnn_state: hidden state, workspace and per-stream generators for `batch` streams over a
    model it only reads. Stream b's generator is seeded with seed + b.

    ``State(model, batch=1, seed=1111)`` (rnn_state_create; seed in [0, 2**64)). Several States
    may run on one model from different threads as long as nothing modifies the model meanwhile.
    A State keeps its Model alive; closing the Model frees its States (they raise ValueError).
    """

    def __init__(self, model: Model, batch: int = 1, seed: int = 1111) -> None:
        self._s = None
        if not isinstance(model, Model):
            raise TypeError("State needs a Model, not %s" % type(model).__name__)
        batch, seed = _int(batch, "batch"), _int(seed, "seed", 0, _U64_MAX)
        self.model = model  # keeps the model alive
        s = ctypes.c_void_p()
        rc = _lib.rnn_state_create(ctypes.byref(s), model._handle, batch, seed)
        if rc != OK:
            raise RnnError(rc, "rnn_state_create", "batch %d" % batch if rc == ERR_INVALID else "")
        self._adopt(s)

    def _adopt(self, s):
        self.model._owner.add_state(s)  # freed by close(), or by Model.close() before the model
        self._s = s

    @classmethod
    def create(cls, model: Model, batch: int = 1, seed: int = 1111) -> "State":
        """Same as State(model, batch, seed)."""
        return cls(model, batch, seed)

    def close(self) -> None:
        """Frees the state now (rnn_state_free); idempotent."""
        s = getattr(self, "_s", None)
        self._s = None
        owner = getattr(getattr(self, "model", None), "_owner", None)
        if s and owner is not None:  # None: Model.close() has freed it
            owner.free_state(s)

    @property
    def _handle(self):
        s = self._s
        if not s:
            raise ValueError("the state is closed")
        owner = self.model._owner
        if owner is None or not owner.has_state(s):
            raise ValueError("the state's model is closed (Model.close() frees its States)")
        return s

    def _check(self, rc, fn):
        if rc != OK:
            raise RnnError(rc, fn, _dec(_lib.rnn_state_errmsg(self._s)))

    @property
    def batch(self) -> int:
        """The number of streams (rnn_state_get_batch)."""
        b = _c_int()
        self._check(_lib.rnn_state_get_batch(self._handle, ctypes.byref(b)), "rnn_state_get_batch")
        return b.value

    def _tok(self, tokens):
        pt, b, s, stride, keep = _tokens(tokens)
        if b != self.batch:
            raise ValueError("tokens have %d rows, the state has %d streams" % (b, self.batch))
        return pt, s, stride, keep

    def reset(self) -> None:
        """Zero hidden state; every generator reseeded with the creation seed."""
        self._check(_lib.rnn_state_reset(self._handle), "rnn_state_reset")

    def copy_from(self, src: "State") -> None:
        """Copies src's hidden state and generators into this state (rnn_state_copy; same model
        and batch, no allocation)."""
        if not isinstance(src, State):
            raise TypeError("copy_from needs a State, not %s" % type(src).__name__)
        self._check(_lib.rnn_state_copy(self._handle, src._handle), "rnn_state_copy")

    def clone(self) -> "State":
        """A new State equal to this one (rnn_state_clone)."""
        s = ctypes.c_void_p()
        rc = _lib.rnn_state_clone(ctypes.byref(s), self._handle)
        if rc != OK:
            raise RnnError(rc, "rnn_state_clone")
        new = State.__new__(State)
        new.model = self.model
        new._adopt(s)
        return new

    copy = clone  #: Python's copy() convention: a new object

    def _shape(self):
        c = self.model.config
        return (c["num_layers"], self.batch, c["hidden_size"])

    def get(self) -> Tuple[Any, Any]:
        """(h, c) float32 [L][batch][H]; c is None unless the model is an LSTM
        (rnn_state_get_hidden)."""
        shape = self._shape()
        n = shape[0] * shape[1] * shape[2]
        ph, h = _f32_buffer(n, shape)
        pc, c = _f32_buffer(n, shape)
        lstm = self.model.config["cell"] == "LSTM"
        self._check(_lib.rnn_state_get_hidden(self._handle, ph, pc if lstm else None), "rnn_state_get_hidden")
        return _result(h, shape), (_result(c, shape) if lstm else None)

    def set(self, h: Any, c: Any = None) -> None:
        """Sets the hidden state; c None: zeros (LSTM) (rnn_state_set_hidden)."""
        shape = self._shape()
        n = shape[0] * shape[1] * shape[2]
        ph, kh = _f32_input(h, n, "h")
        pc, kc = _f32_input(c, n, "c") if c is not None else (None, None)
        self._check(_lib.rnn_state_set_hidden(self._handle, ph, pc), "rnn_state_set_hidden")

    def feed(self, tokens: Tokens) -> None:
        """Advances every stream over tokens [batch][steps] (no dropout): prime with a prompt."""
        pt, s, stride, keep = self._tok(tokens)
        self._check(_lib.rnn_state_feed(self._handle, pt, s, stride), "rnn_state_feed")

    def score(self, tokens: Tokens) -> Any:
        """Per-stream sum of log p(token) over tokens [batch][steps], then advances the state past
        them (rnn_state_score). Returns float64 [batch] (array or list)."""
        pt, s, stride, keep = self._tok(tokens)
        out, po = _f64_out(self.batch)
        self._check(_lib.rnn_state_score(self._handle, pt, s, stride, po), "rnn_state_score")
        return out if _np is not None else list(out)

    def score_sentence(self, tokens: Tokens) -> Any:
        """Scores tokens [batch][steps] as sentences: every stream reset to the zero hidden state,
        "<eos>" fed when the model's vocabulary has it, then :meth:`score` -- the library's one
        definition of a sentence's score (rnn_state_score_sentence, librnn 1.1). Returns float64
        [batch] (array or list); the state is left after the tokens."""
        fn = _need("rnn_state_score_sentence")
        pt, s, stride, keep = self._tok(tokens)
        out, po = _f64_out(self.batch)
        self._check(fn(self._handle, pt, s, stride, po), "rnn_state_score_sentence")
        return out if _np is not None else list(out)

    def logprobs(self) -> Any:
        """The next-token log-probabilities of every stream, float32 [batch][V]
        (rnn_state_get_logprobs)."""
        shape = (self.batch, self.model.vocab_size)
        p, lp = _f32_buffer(shape[0] * shape[1], shape)
        self._check(_lib.rnn_state_get_logprobs(self._handle, p), "rnn_state_get_logprobs")
        return _result(lp, shape)

    _sampling = staticmethod(_sampling)

    def next(self, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, **sampling: Any) -> IntArray:
        """Draws one token per stream (temperature, then top-k, then top-p) WITHOUT advancing:
        feed the ones you keep (rnn_state_draw). Returns int32 [batch]."""
        s = _sampling(temperature=temperature, top_k=top_k, top_p=top_p, **sampling)
        b = self.batch
        pn, nxt = _i32_out((b,))
        self._check(_lib.rnn_state_draw(self._handle, ctypes.byref(s), pn), "rnn_state_draw")
        return nxt if _np is not None else list(nxt)[:b]

    def generate(self, count: int, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 **sampling: Any) -> IntArray:
        """Draws and feeds `count` tokens per stream; returns int32 [batch][count]."""
        s = _sampling(temperature=temperature, top_k=top_k, top_p=top_p, **sampling)
        count = _int(count, "count")
        b = self.batch
        po, out = _i32_out((b, max(count, 0)))  # count < 0: the library's ERR_INVALID
        self._check(_lib.rnn_state_generate(self._handle, ctypes.byref(s), count, po), "rnn_state_generate")
        return _result(out, (b, count)) if _np is None else out

    def __repr__(self):
        try:
            return "<rnn.State batch=%d>" % self.batch
        except ValueError:
            return "<rnn.State closed>"
