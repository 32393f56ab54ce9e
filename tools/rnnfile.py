#!/usr/bin/env python3
"""rnnfile.py -- read and write librnn model files (docs/FORMAT.md, versions 1 and 2) with numpy.

Shared by tools/torch2rnn.py and tools/rnn2torch.py; needs numpy only (no torch).

    import rnnfile
    m = rnnfile.read('model.rnn')          # verifies every CRC-32C, skips unknown sections
    m.cell, m.V, m.E, m.H, m.L, m.tied, m.dropout, m.seed
    m.cutoffs, m.div_value, m.head_bias     # adaptive output layer (version 2, OUTP); cutoffs None: full
    m.vocab                                 # list of bytes (word i = token id i), or None
    m.params                                # list of (name, float32 array rows x cols), in file order
    rnnfile.write('out.rnn', m)             # atomic: temp file in the same folder + os.replace

Run as a script to describe a file:  python3 tools/rnnfile.py model.rnn
"""
import argparse
import os
import struct
import sys
import tempfile

import numpy as np

MAGIC = b'RNNMODEL'
VERSION = 1            # the full output layer (no OUTP)
VERSION_ADAPTIVE = 2   # an adaptive output layer, in OUTP
OUTPUT_ADAPTIVE = 1    # OUTP's kind (RNN_OUTPUT_ADAPTIVE)
MAX_CUTOFFS = 8        # RNN_MAX_CUTOFFS = rnn_limit_get(RNN_LIMIT_CUTOFFS)
# CONF's cell field: the RNN_CELL_* ids of rnn.h, named as rnn_cell_name() names them (this module
# reads and writes files without librnn; tests/python_binding.sh checks the two agree).
CELLS = ['RNN_TANH', 'RNN_RELU', 'LSTM', 'GRU']
GATES = {'RNN_TANH': 1, 'RNN_RELU': 1, 'LSTM': 4, 'GRU': 3}
MAX_DIM = 1 << 24          # rnn_limit_get(RNN_LIMIT_DIM)
MAX_LAYERS = 1024          # rnn_limit_get(RNN_LIMIT_LAYERS)
MAX_WORD_BYTES = 1 << 20   # rnn_limit_get(RNN_LIMIT_WORD_BYTES)
U32_MAX_FIELD = (1 << 31) - 1


class FormatError(Exception):
    """A malformed, unsupported or inconsistent model file (or model description)."""


# ---- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) ------------------------------------
_POLY = 0x82F63B78


def _make_table():
    t = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        t.append(c)
    return t


_TABLE = _make_table()
_NP_TABLE = np.array(_TABLE, dtype=np.uint32)


def _crc_update(reg, data):
    """Feeds bytes to the raw register (no initial value or final XOR applied here)."""
    t = _TABLE
    for b in data:
        reg = t[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


def _zeros_operator(nbytes):
    """The linear map reg -> register after feeding nbytes zero bytes, as 4 byte-lookup tables."""
    # columns of the one-zero-byte operator, then square-and-multiply on 32x32 GF(2) matrices
    def apply(mat, v):
        r, i = 0, 0
        while v:
            if v & 1:
                r ^= mat[i]
            v >>= 1
            i += 1
        return r

    def mul(a, b):  # a after b
        return [apply(a, col) for col in b]

    one = [_crc_update(1 << i, b'\0') for i in range(32)]
    result = [1 << i for i in range(32)]
    n = nbytes
    while n:
        if n & 1:
            result = mul(one, result)
        one = mul(one, one)
        n >>= 1
    return [[apply(result, b << (8 * k)) for b in range(256)] for k in range(4)]


def _crc_update_fast(reg, data):
    """Same as _crc_update; large inputs are split into equal chunks whose CRCs numpy computes
    side by side, then combined (the register update is affine over GF(2))."""
    n = len(data)
    if n < (1 << 16):
        return _crc_update(reg, data)
    nchunks = 4096
    clen = n // nchunks
    arr = np.frombuffer(data, dtype=np.uint8, count=nchunks * clen).reshape(nchunks, clen)
    cols = np.ascontiguousarray(arr.T)   # one row per byte position
    regs = np.zeros(nchunks, dtype=np.uint32)
    tab = _NP_TABLE
    for j in range(clen):
        regs = tab[(regs ^ cols[j]) & 0xFF] ^ (regs >> 8)
    t0, t1, t2, t3 = _zeros_operator(clen)
    for c in regs.tolist():
        reg = (t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF] ^ t3[reg >> 24]) ^ c
    return _crc_update(reg, data[nchunks * clen:])


def crc32c(data, crc=0):
    """CRC-32C of data; pass a previous result as crc to continue it."""
    return _crc_update_fast(crc ^ 0xFFFFFFFF, memoryview(data).cast('B')) ^ 0xFFFFFFFF


# ---- the model description --------------------------------------------------------------------
class Model:
    """cell: 'RNN_TANH' | 'RNN_RELU' | 'LSTM' | 'GRU'; vocab: list of bytes or None;
    params: list of (name, 2-D float32 numpy array) in the file's (PyTorch parameters()) order."""

    def __init__(self, cell, V, E, H, L, tied, dropout=0.2, seed=1111, vocab=None, params=None,
                 cutoffs=None, div_value=4.0, head_bias=False):
        self.cell, self.V, self.E, self.H, self.L = cell, V, E, H, L
        self.tied, self.dropout, self.seed = bool(tied), dropout, seed
        # the output layer: cutoffs None is the full softmax; a list makes it adaptive
        self.cutoffs = list(cutoffs) if cutoffs is not None else None
        self.div_value, self.head_bias = div_value, bool(head_bias)
        self.vocab = vocab
        self.params = params if params is not None else []
        self.extra_sections = []   # (tag, payload) of sections this reader does not know

    def param_dict(self):
        return dict(self.params)

    def output(self):
        """The output layer in words: 'full', or 'adaptive cutoffs=[...] div_value=D head_bias=B'."""
        if self.cutoffs is None:
            return 'full'
        return ('adaptive cutoffs=%s div_value=%g head_bias=%d'
                % (','.join(str(c) for c in self.cutoffs), self.div_value, self.head_bias))

    def describe(self):
        n = sum(a.size for _, a in self.params)
        return ('%s V=%d E=%d H=%d L=%d %s dropout=%g seed=%d, output %s, %d tensors, %d parameters, %s'
                % (self.cell, self.V, self.E, self.H, self.L, 'tied' if self.tied else 'untied',
                   self.dropout, self.seed, self.output(), len(self.params), n,
                   'vocabulary of %d words' % len(self.vocab) if self.vocab is not None
                   else 'no vocabulary'))


def cutoffs_arg(text, max_cutoffs=None):
    """--adaptive-cutoffs of the converters: 'C1,C2,...', positive and strictly increasing, at
    most max_cutoffs of them when given (an argparse type)."""
    try:
        cuts = [int(c) for c in text.split(',')]
    except ValueError:
        cuts = []
    if not cuts or any(c < 1 for c in cuts) or any(b <= a for a, b in zip(cuts, cuts[1:])):
        raise argparse.ArgumentTypeError('%r is not a comma-separated list of strictly increasing '
                                         'positive integers, e.g. 2000,10000' % text)
    if max_cutoffs is not None and len(cuts) > max_cutoffs:
        raise argparse.ArgumentTypeError('%d cutoffs; at most %d' % (len(cuts), max_cutoffs))
    return cuts


def adaptive_proj(H, div_value, i):
    """Units of adaptive cluster i's projection: PyTorch's in_features // (div_value ** (i + 1))
    (Python's float floor division; div_value 0 means 4, as in rnn_config)."""
    d = 4.0 if div_value == 0 else float(div_value)
    return H // (d ** (i + 1))


def expected_shapes(cell, V, E, H, L, tied, cutoffs=None, div_value=4.0, head_bias=False):
    """[(name, (rows, cols))] in the order docs/FORMAT.md's PARM table gives (with cutoffs: the
    adaptive output layer's tensors, OUTP's table, instead of decoder.weight and decoder.bias)."""
    G = GATES[cell]
    out = [('encoder.weight', (V, E))]
    for k in range(L):
        out += [('rnn.weight_ih_l%d' % k, (G * H, E if k == 0 else H)),
                ('rnn.weight_hh_l%d' % k, (G * H, H)),
                ('rnn.bias_ih_l%d' % k, (1, G * H)),
                ('rnn.bias_hh_l%d' % k, (1, G * H))]
    if cutoffs is not None:
        n = len(cutoffs)
        out.append(('decoder.head.weight', (cutoffs[0] + n, H)))
        if head_bias:
            out.append(('decoder.head.bias', (1, cutoffs[0] + n)))
        bounds = list(cutoffs) + [V]
        for i in range(n):
            p = int(adaptive_proj(H, div_value, i))
            out += [('decoder.tail.%d.0.weight' % i, (p, H)),
                    ('decoder.tail.%d.1.weight' % i, (bounds[i + 1] - bounds[i], p))]
        return out
    if not tied:
        out.append(('decoder.weight', (V, H)))
    out.append(('decoder.bias', (1, V)))
    return out


def check_config(cell, V, E, H, L, tied, dropout, seed, cutoffs=None, div_value=4.0, head_bias=False):
    """Raises FormatError unless rnn_model_create would accept this configuration (cutoffs None:
    the full output layer; a list: the adaptive one, as AdaptiveLogSoftmaxWithLoss checks it)."""
    if cell not in GATES:
        raise FormatError('unknown cell %r (expected one of %s)' % (cell, ', '.join(CELLS)))
    for name, v, hi in (('V (vocabulary size)', V, MAX_DIM), ('E (embedding size)', E, MAX_DIM),
                        ('H (hidden size)', H, MAX_DIM), ('L (layers)', L, MAX_LAYERS)):
        if not isinstance(v, int) or not 1 <= v <= hi:
            raise FormatError('%s = %r is outside [1, %d]' % (name, v, hi))
    d32 = struct.unpack('<f', struct.pack('<f', dropout))[0] if dropout == dropout else dropout
    if not (0.0 <= d32 < 1.0):
        raise FormatError('dropout %r is outside [0, 1) (as a float32: %r)' % (dropout, d32))
    if tied and E != H:
        raise FormatError('a tied model needs E == H (E=%d, H=%d)' % (E, H))
    if not isinstance(seed, int) or not 0 <= seed < (1 << 64):
        raise FormatError('seed %r is outside [0, 2^64)' % (seed,))
    if cutoffs is None:
        return
    if tied:
        raise FormatError('an adaptive output layer cannot be tied')
    n = len(cutoffs)
    if not 1 <= n <= MAX_CUTOFFS:
        raise FormatError('%d cutoffs (num_cutoffs must be in [1, %d])' % (n, MAX_CUTOFFS))
    for i, c in enumerate(cutoffs):
        if not isinstance(c, int) or not 1 <= c <= V - 1:
            raise FormatError('cutoffs[%d] %r is outside [1, V - 1 = %d]' % (i, c, V - 1))
        if i and c <= cutoffs[i - 1]:
            raise FormatError('cutoffs must be strictly increasing (cutoffs[%d] %d after %d)'
                              % (i, c, cutoffs[i - 1]))
    d32 = struct.unpack('<f', struct.pack('<f', div_value))[0] if div_value == div_value else div_value
    if not (d32 >= 0.0) or d32 == float('inf'):
        raise FormatError('div_value %r must be finite and > 0 (0: 4)' % (div_value,))
    for i in range(n):
        p = adaptive_proj(H, d32, i)
        if not p >= 1:
            raise FormatError("cluster %d's projection floor(H %d / div_value %g^%d) has 0 units"
                              % (i, H, d32 or 4.0, i + 1))
        if p > MAX_DIM:
            raise FormatError("cluster %d's projection floor(H %d / div_value %g^%d) exceeds %d"
                              % (i, H, d32 or 4.0, i + 1, MAX_DIM))


def check_word(w, i):
    """Raises FormatError unless librnn 1.x's rnn_vocab_set (and so its loader) accepts word i:
    non-empty, no NUL, at most MAX_WORD_BYTES bytes, strict UTF-8 (Python's codec), and no
    whitespace as Python's str.split() (and rnn_vocab_encode) splits."""
    if not isinstance(w, (bytes, bytearray)):
        raise FormatError('word %d is not a byte string' % i)
    if len(w) == 0:
        raise FormatError('word %d is empty' % i)
    if b'\0' in w:
        raise FormatError('word %d (%r) contains a NUL byte' % (i, bytes(w)))
    if len(w) > MAX_WORD_BYTES:
        raise FormatError('word %d is %d bytes, over the limit of %d' % (i, len(w), MAX_WORD_BYTES))
    try:
        s = bytes(w).decode('utf-8')
    except UnicodeDecodeError as e:
        raise FormatError('word %d (%r) is not valid UTF-8 (%s)' % (i, bytes(w)[:40], e.reason))
    if s.split() != [s]:
        raise FormatError('word %d (%r) contains whitespace (words are what str.split() gives)' % (i, s[:40]))


def check_vocab(words):
    """check_word of every word, and no word twice (rnn_vocab_set refuses duplicates)."""
    seen = {}
    for i, w in enumerate(words):
        check_word(w, i)
        j = seen.setdefault(bytes(w), i)
        if j != i:
            raise FormatError('word %d (%r) is also word %d' % (i, bytes(w)[:40], j))


# ---- writing ------------------------------------------------------------------------------------
def _section(tag, payload):
    head = tag + struct.pack('<Q', len(payload))
    crc = crc32c(payload, crc32c(head))
    return head + payload + struct.pack('<I', crc)


def encode(m):
    """The file's bytes for Model m (validated first)."""
    check_config(m.cell, m.V, m.E, m.H, m.L, m.tied, m.dropout, m.seed, m.cutoffs, m.div_value,
                 m.head_bias)
    conf = struct.pack('<6I', CELLS.index(m.cell), m.V, m.E, m.H, m.L, 1 if m.tied else 0)
    conf += struct.pack('<f', m.dropout) + struct.pack('<Q', m.seed)
    version = VERSION if m.cutoffs is None else VERSION_ADAPTIVE
    out = [MAGIC + struct.pack('<II', version, 0), _section(b'CONF', conf)]
    if m.cutoffs is not None:   # as librnn writes it: the model's div_value (0 is 4), head_bias 0/1
        n = len(m.cutoffs)
        outp = struct.pack('<II%dI' % n, OUTPUT_ADAPTIVE, n, *m.cutoffs)
        outp += struct.pack('<fI', m.div_value or 4.0, 1 if m.head_bias else 0)
        out.append(_section(b'OUTP', outp))
    if m.vocab is not None:
        if len(m.vocab) != m.V:
            raise FormatError('the vocabulary has %d words but V = %d' % (len(m.vocab), m.V))
        check_vocab(m.vocab)
        parts = [struct.pack('<I', len(m.vocab))]
        for w in m.vocab:
            parts += [struct.pack('<I', len(w)), bytes(w)]
        out.append(_section(b'VOCB', b''.join(parts)))
    want = expected_shapes(m.cell, m.V, m.E, m.H, m.L, m.tied, m.cutoffs, m.div_value, m.head_bias)
    if [n for n, _ in m.params] != [n for n, _ in want]:
        raise FormatError('tensor names %s differ from the expected %s'
                          % ([n for n, _ in m.params], [n for n, _ in want]))
    parts = [struct.pack('<I', len(want))]
    for (name, arr), (_, shape) in zip(m.params, want):
        a = np.asarray(arr)
        if a.ndim == 1:
            a = a.reshape(1, -1)
        if a.shape != shape:
            raise FormatError('%s has shape %s, expected %s' % (name, a.shape, shape))
        if a.dtype != np.float32:
            raise FormatError('%s has dtype %s, expected float32' % (name, a.dtype))
        nb = name.encode('ascii')
        parts += [struct.pack('<I', len(nb)), nb, struct.pack('<II', *shape),
                  np.ascontiguousarray(a, dtype='<f4').tobytes()]
    out.append(_section(b'PARM', b''.join(parts)))
    for tag, payload in m.extra_sections:
        out.append(_section(tag, payload))
    out.append(_section(b'END ', b''))
    return b''.join(out)


def atomic_write(path, data):
    """Writes data to path atomically: a temporary file in the same folder, fsync, os.replace,
    then fsync of the folder (best effort). A replaced file keeps its mode; a new one gets
    0666 less the umask. On failure the temporary file is removed and path is untouched."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + '.tmp.', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def write(path, m):
    atomic_write(path, encode(m))


# ---- reading ------------------------------------------------------------------------------------
def decode(data, keep_unknown=False):
    """Model from a file's bytes; FormatError on anything docs/FORMAT.md's loader refuses."""
    data = memoryview(data).cast('B')
    if len(data) < 16:
        raise FormatError('file too short for the header (%d bytes)' % len(data))
    if bytes(data[:8]) != MAGIC:
        raise FormatError('not a librnn model file (bad magic %r)' % bytes(data[:8]))
    version, reserved = struct.unpack_from('<II', data, 8)
    if version not in (VERSION, VERSION_ADAPTIVE):
        raise FormatError('unsupported format version %d (this reader reads versions 1 and 2)' % version)
    if reserved != 0:
        raise FormatError('reserved header word is %d, expected 0' % reserved)
    pos = 16
    m = None
    have_vocab = have_parm = have_outp = False
    while True:
        if len(data) - pos < 12:
            raise FormatError('truncated file: no END section (offset %d)' % pos)
        tag = bytes(data[pos:pos + 4])
        (ln,) = struct.unpack_from('<Q', data, pos + 4)
        remaining = len(data) - pos - 12
        if ln > remaining or remaining - ln < 4:
            raise FormatError('section %r at offset %d: length %d exceeds the file' % (tag, pos, ln))
        payload = data[pos + 12:pos + 12 + ln]
        (crc,) = struct.unpack_from('<I', data, pos + 12 + ln)
        got = crc32c(data[pos:pos + 12 + ln])
        if got != crc:
            raise FormatError('section %r at offset %d: CRC-32C mismatch (stored %08x, computed %08x)'
                              % (tag, pos, crc, got))
        pos += 16 + ln
        if tag == b'END ':
            break
        if tag in (b'VOCB', b'PARM') and m is not None and version == VERSION_ADAPTIVE and not have_outp:
            raise FormatError('%s section before OUTP (a format version 2 file has its output layer '
                              'in OUTP, after CONF)' % tag.decode())
        if tag == b'CONF':
            if m is not None:
                raise FormatError('repeated CONF section')
            m = _decode_conf(payload)
        elif tag == b'OUTP':
            if version == VERSION:
                raise FormatError('OUTP section in a format version 1 file (an output layer in OUTP '
                                  'makes a version 2 file)')
            if m is None:
                raise FormatError('OUTP section before CONF')
            if have_outp:
                raise FormatError('repeated OUTP section')
            _decode_outp(payload, m)
            have_outp = True
        elif tag == b'VOCB':
            if m is None:
                raise FormatError('VOCB section before CONF')
            if have_vocab:
                raise FormatError('repeated VOCB section')
            m.vocab = _decode_vocab(payload, m.V)
            have_vocab = True
        elif tag == b'PARM':
            if m is None:
                raise FormatError('PARM section before CONF')
            if have_parm:
                raise FormatError('repeated PARM section')
            m.params = _decode_parm(payload, m)
            have_parm = True
        elif keep_unknown:
            if m is None:
                raise FormatError('cannot keep unknown section %r before CONF' % tag)
            m.extra_sections.append((tag, bytes(payload)))
    if m is None:
        raise FormatError('no CONF section')
    if version == VERSION_ADAPTIVE and not have_outp:
        raise FormatError('no OUTP section in a format version 2 file')
    if not have_parm:
        raise FormatError('no PARM section')
    return m


def _decode_outp(p, m):
    """OUTP into m: as librnn's loader reads it (kind 1, 1 <= n <= MAX_CUTOFFS, exactly 16 + 4n
    bytes, fields at most 2^31 - 1), then the whole configuration checked as rnn_model_create
    checks it."""
    if len(p) > 16 + 4 * MAX_CUTOFFS:
        raise FormatError('OUTP holds %d bytes (at most %d)' % (len(p), 16 + 4 * MAX_CUTOFFS))
    if len(p) < 8:
        raise FormatError('OUTP section is truncated')
    kind, n = struct.unpack_from('<II', p, 0)
    if kind != OUTPUT_ADAPTIVE:
        raise FormatError('OUTP kind %d is not RNN_OUTPUT_ADAPTIVE (1)' % kind)
    if not 1 <= n <= MAX_CUTOFFS:
        raise FormatError('OUTP holds %d cutoffs (num_cutoffs must be in [1, %d])' % (n, MAX_CUTOFFS))
    if len(p) != 16 + 4 * n:
        raise FormatError('OUTP holds %d bytes; %d cutoffs take %d' % (len(p), n, 16 + 4 * n))
    cutoffs = list(struct.unpack_from('<%dI' % n, p, 8))
    (div_value,) = struct.unpack_from('<f', p, 8 + 4 * n)
    (head_bias,) = struct.unpack_from('<I', p, 12 + 4 * n)
    for i, c in enumerate(cutoffs):
        if c > U32_MAX_FIELD:
            raise FormatError('OUTP cutoff %d is out of range (%d)' % (i, c))
    if head_bias > U32_MAX_FIELD:
        raise FormatError('OUTP head_bias is out of range (%d)' % head_bias)
    try:
        check_config(m.cell, m.V, m.E, m.H, m.L, m.tied, m.dropout, m.seed, cutoffs, div_value,
                     head_bias != 0)
    except FormatError as e:
        raise FormatError('invalid OUTP: %s' % e)
    m.cutoffs, m.div_value, m.head_bias = cutoffs, (div_value or 4.0), head_bias != 0


def _decode_conf(p):
    if len(p) < 36:
        raise FormatError('CONF payload is %d bytes, expected 36' % len(p))
    f = struct.unpack_from('<6I', p, 0)
    for name, v in zip(('cell', 'V', 'E', 'H', 'L', 'tied'), f):
        if v > U32_MAX_FIELD:
            raise FormatError('CONF %s = %d exceeds 2^31-1' % (name, v))
    cell, V, E, H, L, tied = f
    (dropout,) = struct.unpack_from('<f', p, 24)
    (seed,) = struct.unpack_from('<Q', p, 28)
    if cell >= len(CELLS):
        raise FormatError('CONF cell %d is not 0..3' % cell)
    try:
        check_config(CELLS[cell], V, E, H, L, tied != 0, dropout, seed)
    except FormatError as e:
        raise FormatError('invalid CONF: %s' % e)
    return Model(CELLS[cell], V, E, H, L, tied != 0, dropout, seed)


def _decode_vocab(p, V):
    if len(p) < 4:
        raise FormatError('VOCB payload too short')
    (n,) = struct.unpack_from('<I', p, 0)
    if n != V:
        raise FormatError('VOCB has %d words but V = %d' % (n, V))
    if (len(p) - 4) // 5 < n:
        raise FormatError('VOCB payload too short for %d words' % n)
    pos, words = 4, []
    for i in range(n):
        if len(p) - pos < 4:
            raise FormatError('VOCB word %d: truncated' % i)
        (ln,) = struct.unpack_from('<I', p, pos)
        pos += 4
        if ln > len(p) - pos:
            raise FormatError('VOCB word %d: length %d exceeds the payload' % (i, ln))
        w = bytes(p[pos:pos + ln])
        pos += ln
        words.append(w)
    if pos != len(p):
        raise FormatError('VOCB has %d bytes left over' % (len(p) - pos))
    try:
        check_vocab(words)
    except FormatError as e:
        raise FormatError('VOCB: %s' % e)
    return words


def _decode_parm(p, m):
    want = expected_shapes(m.cell, m.V, m.E, m.H, m.L, m.tied, m.cutoffs, m.div_value, m.head_bias)
    if len(p) < 4:
        raise FormatError('PARM payload too short')
    (t,) = struct.unpack_from('<I', p, 0)
    if t != len(want):
        raise FormatError('PARM has %d tensors, the configuration needs %d' % (t, len(want)))
    pos, out = 4, []
    for name, (rows, cols) in want:
        if len(p) - pos < 4:
            raise FormatError('PARM: truncated before %s' % name)
        (ln,) = struct.unpack_from('<I', p, pos)
        pos += 4
        got = bytes(p[pos:pos + ln])
        if got != name.encode('ascii'):
            raise FormatError('PARM: tensor %r where %r was expected' % (got, name))
        pos += ln
        if len(p) - pos < 8:
            raise FormatError('PARM: truncated shape of %s' % name)
        r, c = struct.unpack_from('<II', p, pos)
        pos += 8
        if (r, c) != (rows, cols):
            raise FormatError('PARM: %s is %dx%d, expected %dx%d' % (name, r, c, rows, cols))
        nb = 4 * rows * cols
        if nb > len(p) - pos:
            raise FormatError('PARM: values of %s exceed the payload' % name)
        a = np.frombuffer(p[pos:pos + nb], dtype='<f4').astype(np.float32).reshape(rows, cols)
        pos += nb
        out.append((name, a))
    if pos != len(p):
        raise FormatError('PARM has %d bytes left over' % (len(p) - pos))
    return out


def read(path, keep_unknown=False):
    """Model from a file (OSError when it cannot be read, FormatError when it is malformed)."""
    if os.path.isdir(path):
        raise IsADirectoryError(21, 'Is a directory', path)
    with open(path, 'rb') as f:
        data = f.read()
    return decode(data, keep_unknown)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ('-h', '--help'):
        print('usage: rnnfile.py MODEL.rnn...   (describe librnn model files, verifying every CRC)')
        return 0 if argv else 2
    rc = 0
    for path in argv:
        try:
            print('%s: %s' % (path, read(path).describe()))
        except (OSError, FormatError) as e:
            print('rnnfile: %s: %s' % (path, e.strerror if isinstance(e, OSError) and e.strerror
                                        else e), file=sys.stderr)
            rc = 1
    return rc


if __name__ == '__main__':
    sys.exit(main())
