"""numba kernels behind :mod:`seqcnn.score.accel.fused`: table-lookup convolution fused with pooling.

Layout: a first layer of ``O`` filters is held as ``ceil(O / 16)`` blocks of 16 channels, the table
``(blocks, groups * rows, 16)`` float32: row ``j * rows + c`` of a block is the summed weights of kernel
group ``j`` for the grouped code ``c`` (``g`` bases read as a base-``radix`` number, radix 6 for codes
A C G T N pad, 4 for A C G T only). For each sequence, ``row_indices`` turns the codes into the table
row of every (group, output position); each output position is then ``groups`` additions of 16-float
rows per block.

Why 16 named accumulators instead of a loop over channels: written as a loop, LLVM cannot prove that
the accumulator row and the table do not overlap, and the generated code was scalar (or gathered
across positions), about 4-6 ns per 16-float row. With the accumulators in registers and LLVM's SLP
vectorizer on (numba leaves it off by default; :func:`seqcnn.score.accel.fused` compiles these kernels
with it on) each row is one vector load and add: 1.2-1.4 ns on this CPU.
"""

from __future__ import annotations

import math

import numba
import numpy as np

LANES = 16  # channels per block
GROUP = 8  # sequences whose row indices are computed together (see global_pool_rows)
_NEG = -np.inf


@numba.njit(cache=True, nogil=True, boundscheck=False)
def row_indices(codes: np.ndarray, r: int, pad_left: int, pad_code: int, g: int, radix: int, stride: int,
                rows: int, padded: np.ndarray, grouped: np.ndarray,
                out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out[j, i]`` (uint32): table row of group ``j`` for output position ``i`` of sequence ``r``.

    The window of position ``i`` starts at ``i * stride - pad_left``; positions outside the
    sequence read ``pad_code``. ``padded`` (uint8) and ``grouped`` (uint32) are scratch buffers of at
    least ``pad_left + (n_pos - 1) * stride + groups * g`` entries: the codes are copied into the
    padded buffer once and each grouped code is computed once, then looked up by every group.
    """
    length = codes.shape[1]
    nb, n_pos = out.shape
    span = (n_pos - 1) * stride + (nb - 1) * g + 1
    need = span + g - 1
    head = min(pad_left, need)
    body = max(0, min(length, need - pad_left))
    row = codes[r]
    for p in range(head):  # three branch-free loops instead of a bounds test per position
        padded[p] = pad_code
    for p in range(body):
        padded[pad_left + p] = row[p]
    for p in range(pad_left + body, need):
        padded[p] = pad_code
    for p in range(span):
        grouped[p] = np.uint32(padded[p])
    weight = np.uint32(1)
    base = np.uint32(radix)
    for t in range(1, g):  # digit t of every grouped code, one vectorisable pass each
        weight *= base
        for p in range(span):
            grouped[p] += weight * np.uint32(padded[p + t])
    for j in range(nb):
        offset = np.uint32(j * rows)
        src = grouped[j * g:]
        dst = out[j]
        if stride == 1:
            for i in range(n_pos):
                dst[i] = offset + src[i]
        else:
            for i in range(n_pos):
                dst[i] = offset + src[i * stride]


@numba.njit(cache=True, nogil=True)
def _scratch(tables: np.ndarray, radix: int, g: int, n_pos: int, stride: int) -> tuple:  # pragma: no cover
    """``(group, rowidx, padded, grouped)``: sequences indexed together (``GROUP``, or 1 when the
    layer is one 16-channel block: no table to share, the indices stay in L1), their row indices
    ``(group, groups, n_pos)`` and the padded/grouped buffers of :func:`row_indices`."""
    n_blocks, n_rows, _ = tables.shape
    nb = n_rows // radix**g
    group = GROUP if n_blocks > 1 else 1
    size = (n_pos - 1) * stride + nb * g + 1
    rowidx = np.empty((group, nb, n_pos), dtype=np.uint32)
    return group, rowidx, np.empty(size, dtype=np.uint8), np.empty(size, dtype=np.uint32)


@numba.njit(cache=True, nogil=True)
def _index_group(codes: np.ndarray, s0: int, s1: int, pad_left: int, g: int, radix: int, stride: int,
                 padded: np.ndarray, grouped: np.ndarray, rowidx: np.ndarray) -> None:  # pragma: no cover
    """:func:`row_indices` of sequences ``s0:s1`` into ``rowidx[0:s1 - s0]`` (radix 6 pads with code 5)."""
    pad_code = 5 if radix == 6 else 0
    rows = radix**g
    for r in range(s0, s1):
        row_indices(codes, r, pad_left, pad_code, g, radix, stride, rows, padded, grouped, rowidx[r - s0])


@numba.njit(cache=True, nogil=True, boundscheck=False)
def window_max(table: np.ndarray, rowidx: np.ndarray, i0: int, i1: int,
               dst: np.ndarray) -> None:  # pragma: no cover - compiled
    """``dst[:16]`` = max over positions ``i0:i1`` of the convolution output of one block (16 channels)."""
    nb = rowidx.shape[0]
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = np.float32(_NEG)
    m8 = m9 = m10 = m11 = m12 = m13 = m14 = m15 = np.float32(_NEG)
    for i in range(i0, i1):
        t = table[rowidx[0, i]]
        a0, a1, a2, a3, a4, a5, a6, a7 = t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]
        a8, a9, a10, a11, a12, a13, a14, a15 = t[8], t[9], t[10], t[11], t[12], t[13], t[14], t[15]
        for j in range(1, nb):
            t = table[rowidx[j, i]]
            a0 += t[0]
            a1 += t[1]
            a2 += t[2]
            a3 += t[3]
            a4 += t[4]
            a5 += t[5]
            a6 += t[6]
            a7 += t[7]
            a8 += t[8]
            a9 += t[9]
            a10 += t[10]
            a11 += t[11]
            a12 += t[12]
            a13 += t[13]
            a14 += t[14]
            a15 += t[15]
        m0, m1, m2, m3 = max(m0, a0), max(m1, a1), max(m2, a2), max(m3, a3)
        m4, m5, m6, m7 = max(m4, a4), max(m5, a5), max(m6, a6), max(m7, a7)
        m8, m9, m10, m11 = max(m8, a8), max(m9, a9), max(m10, a10), max(m11, a11)
        m12, m13, m14, m15 = max(m12, a12), max(m13, a13), max(m14, a14), max(m15, a15)
    dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], dst[6], dst[7] = m0, m1, m2, m3, m4, m5, m6, m7
    dst[8], dst[9], dst[10], dst[11] = m8, m9, m10, m11
    dst[12], dst[13], dst[14], dst[15] = m12, m13, m14, m15


@numba.njit(cache=True, nogil=True, boundscheck=False)
def window_mean(table: np.ndarray, rowidx: np.ndarray, i0: int, i1: int, act: int,
                dst: np.ndarray) -> None:  # pragma: no cover - compiled
    """``dst[:16]`` = mean over positions ``i0:i1`` of ``act(conv output)`` (0 identity, 1 ReLU, 2 exp)."""
    nb = rowidx.shape[0]
    acc = np.zeros(LANES, dtype=np.float64)
    for i in range(i0, i1):
        for c in range(LANES):
            v = table[rowidx[0, i], c]
            for j in range(1, nb):
                v += table[rowidx[j, i], c]
            if act == 1:
                v = max(v, np.float32(0.0))
            elif act == 2:
                v = math.exp(v)
            acc[c] += v
    for c in range(LANES):
        dst[c] = acc[c] / (i1 - i0)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def global_pool_rows(codes: np.ndarray, tables: np.ndarray, pad_left: int, g: int, radix: int,
                     stride: int, n_pos: int, act: int, want_mean: bool, r0: int, r1: int,
                     out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Rows ``r0:r1`` of ``out (N, 2, blocks * 16)``: the max over positions of the convolution output,
    and (``want_mean``) the mean of its activation. ``tables`` is ``(blocks, groups * radix**g, 16)``.

    Sequences go in groups of ``GROUP``: their row indices are computed once, then each block's table
    is used for the whole group while it sits in the L2 cache."""
    n_blocks = tables.shape[0]
    group, rowidx, padded, grouped = _scratch(tables, radix, g, n_pos, stride)
    for s0 in range(r0, r1, group):
        s1 = min(r1, s0 + group)
        _index_group(codes, s0, s1, pad_left, g, radix, stride, padded, grouped, rowidx)
        for blk in range(n_blocks):
            lo = blk * LANES
            for r in range(s0, s1):
                window_max(tables[blk], rowidx[r - s0], 0, n_pos, out[r, 0, lo:lo + LANES])
                if want_mean:
                    window_mean(tables[blk], rowidx[r - s0], 0, n_pos, act, out[r, 1, lo:lo + LANES])


@numba.njit(cache=True, nogil=True, boundscheck=False)
def max_pool_rows(codes: np.ndarray, tables: np.ndarray, pad_left: int, g: int, radix: int, stride: int,
                  size: int, step: int, r0: int, r1: int, out: np.ndarray) -> None:  # pragma: no cover
    """Rows ``r0:r1`` of ``out (N, O, L_pool)``: max over each pooling window (``size``, ``step``) of
    the convolution output. ``tables`` is ``(blocks, groups * radix**g, 16)``, ``blocks * 16 >= O``;
    sequences in groups as in :func:`global_pool_rows`."""
    n_blocks = tables.shape[0]
    n_out, l_pool = out.shape[1], out.shape[2]
    n_pos = (l_pool - 1) * step + size
    best = np.empty((l_pool, LANES), dtype=np.float32)
    group, rowidx, padded, grouped = _scratch(tables, radix, g, n_pos, stride)
    for s0 in range(r0, r1, group):
        s1 = min(r1, s0 + group)
        _index_group(codes, s0, s1, pad_left, g, radix, stride, padded, grouped, rowidx)
        for blk in range(n_blocks):
            table = tables[blk]
            lo = blk * LANES
            for r in range(s0, s1):
                idx = rowidx[r - s0]
                for q in range(l_pool):
                    window_max(table, idx, q * step, q * step + size, best[q])
                for c in range(min(LANES, n_out - lo)):
                    dst = out[r, lo + c]
                    for q in range(l_pool):
                        dst[q] = best[q, c]


def compile_vectorized(kernel: str) -> None:
    """Compile (or load from numba's cache) the entry kernel ``"global"`` (:func:`global_pool_rows`) or
    ``"max_pool"`` (:func:`max_pool_rows`) with LLVM's SLP vectorizer on.

    numba leaves SLP vectorization off by default (``NUMBA_SLP_VECTORIZE``); the 16 named
    accumulators above need it. The setting is read when a function is compiled, so it is switched
    on only around these compilations (with the argument types the callers pass). One kernel at a
    time: loading one from the cache costs ~0.1 s of start-up."""
    old = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1
    try:
        codes = np.zeros((1, 8), dtype=np.uint8)
        tables = np.zeros((1, 4, LANES), dtype=np.float32)
        if kernel == "global":
            pooled = np.zeros((1, 2, LANES), dtype=np.float32)
            global_pool_rows(codes, tables, 0, 1, 4, 1, 8, 0, True, 0, 1, pooled)
        else:
            max_pool_rows(codes, tables, 0, 1, 4, 1, 2, 2, 0, 1, np.zeros((1, LANES, 4), dtype=np.float32))
    finally:
        numba.config.SLP_VECTORIZE = old
