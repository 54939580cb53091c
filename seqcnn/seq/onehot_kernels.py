"""numba kernels behind :func:`seqcnn.seq.encode.one_hot` for the common case (ACGTUN, any case).

Why our own kernels: a numpy ``np.take`` lookup table runs at ~0.3 GB/s; these loops are
branch-free byte comparisons that LLVM vectorises, so the check runs at >10 GB/s and the
encoding at several GB/s (see docs/benchmarks/encode.md). The check is a separate min-reduction
over the bytes because fusing it into the writing loop stops the loop from vectorising.
Sequences with other IUPAC codes take the (slower, rare) table path in ``encode.py``.
"""

from __future__ import annotations

import numba
import numpy as np

# Byte values after clearing the lowercase bit (``b & 0xDF``); only 'x' and 'X' map to 'X'.
_A, _C, _G, _T, _U, _N = (ord(c) for c in "ACGTUN")


@numba.njit(cache=True, nogil=True)
def all_exact(buf: np.ndarray) -> bool:
    """True if every byte of ``buf`` (uint8) is one of ``ACGTUNacgtun``."""
    ok = np.uint8(1)
    for i in range(buf.shape[0]):
        u = buf[i] & np.uint8(0xDF)
        hit = (u == _A) | (u == _C) | (u == _G) | (u == _T) | (u == _U) | (u == _N)
        ok = min(ok, np.uint8(hit))
    return ok == 1


@numba.njit(cache=True, nogil=True)
def encode_exact_int8(buf: np.ndarray, out: np.ndarray) -> None:
    """Write ``buf`` (uint8, N*L bytes of ACGTUN) into ``out`` (N, 4, L) int8; N -> zeros."""
    n, _, length = out.shape
    for r in range(n):
        base = r * length
        o_a = out[r, 0]
        o_c = out[r, 1]
        o_g = out[r, 2]
        o_t = out[r, 3]
        for j in range(length):
            u = buf[base + j] & np.uint8(0xDF)
            o_a[j] = u == _A
            o_c[j] = u == _C
            o_g[j] = u == _G
            o_t[j] = (u == _T) | (u == _U)


@numba.njit(cache=True, nogil=True)
def encode_exact_float(buf: np.ndarray, out: np.ndarray, n_value: float) -> None:
    """Write ``buf`` (uint8, N*L bytes of ACGTUN) into ``out`` (N, 4, L) float32; N -> ``n_value``."""
    n, _, length = out.shape
    nv = np.float32(n_value)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for r in range(n):
        base = r * length
        o_a = out[r, 0]
        o_c = out[r, 1]
        o_g = out[r, 2]
        o_t = out[r, 3]
        for j in range(length):
            u = buf[base + j] & np.uint8(0xDF)
            fill = nv if u == _N else zero
            o_a[j] = one if u == _A else fill
            o_c[j] = one if u == _C else fill
            o_g[j] = one if u == _G else fill
            o_t[j] = one if (u == _T) | (u == _U) else fill
