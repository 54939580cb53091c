"""numba kernels behind :func:`seqcnn.seq.encode.one_hot` for the common case (ACGTUN, any case).

Why our own kernels: a numpy ``np.take`` lookup table runs at ~0.3 GB/s; these loops are
branch-free byte comparisons that LLVM vectorises (see docs/benchmarks.md). Measured
shapes of the loop that matter (numba 0.68): the validity check is a separate min-reduction
per 16 KiB block, run while the block is in cache (fusing it into the writing loop stops
vectorisation), and rows and channels are walked through slices (indexing with ``r * L + j``
directly was ~15x slower: the index may be negative, so it is not vectorised). Sequences with
other IUPAC codes take the table path in ``encode.py``.
"""

from __future__ import annotations

import numba
import numpy as np

_A, _C, _G, _T, _U, _N = (ord(c) for c in "ACGTUN")
_BLOCK = 16384  # bytes of one row per inner loop, so the four output streams stay short


@numba.njit(cache=True, nogil=True)
def _block_exact(src: np.ndarray) -> bool:  # pragma: no cover - compiled
    """True if every byte of ``src`` (uint8) is one of ``ACGTUNacgtun`` (a vectorised min-reduction)."""
    ok = np.uint8(1)
    for i in range(src.shape[0]):
        u = src[i] & np.uint8(0xDF)  # clears the lowercase bit; only letters map onto letters
        hit = (u == _A) | (u == _C) | (u == _G) | (u == _T) | (u == _U) | (u == _N)
        ok = min(ok, np.uint8(hit))
    return ok == 1


@numba.njit(cache=True, nogil=True)
def encode_exact_int8(buf: np.ndarray, out: np.ndarray) -> bool:  # pragma: no cover - compiled
    """One-hot encode equal-length sequences of ACGTUN (either case) into int8.

    Each block is checked while it is in cache, then encoded.

    Parameters
    ----------
    buf
        ``(N * L,)`` uint8: the sequences' letters, concatenated.
    out
        ``(N, 4, L)`` int8, written in place (U as T; N as zeros).

    Returns
    -------
    bool
        True when every byte was encoded; False, leaving ``out`` partly written, as soon as a block
        holds anything but ACGTUN.
    """
    n, _, length = out.shape
    for r in range(n):
        for j0 in range(0, length, _BLOCK):
            m = min(_BLOCK, length - j0)
            src = buf[r * length + j0:r * length + j0 + m]
            if not _block_exact(src):
                return False
            o_a = out[r, 0, j0:j0 + m]
            o_c = out[r, 1, j0:j0 + m]
            o_g = out[r, 2, j0:j0 + m]
            o_t = out[r, 3, j0:j0 + m]
            for j in range(m):
                u = src[j] & np.uint8(0xDF)
                o_a[j] = u == _A
                o_c[j] = u == _C
                o_g[j] = u == _G
                o_t[j] = (u == _T) | (u == _U)
    return True


@numba.njit(cache=True, nogil=True)
def encode_exact_float(buf: np.ndarray, out: np.ndarray, n_value: float) -> bool:  # pragma: no cover
    """One-hot encode equal-length sequences of ACGTUN (either case) into float32.

    Parameters
    ----------
    buf
        ``(N * L,)`` uint8: the sequences' letters, concatenated.
    out
        ``(N, 4, L)`` float32, written in place (U as T).
    n_value
        The value of N in every channel (e.g. 0.25).

    Returns
    -------
    bool
        As :func:`encode_exact_int8`.
    """
    n, _, length = out.shape
    one = np.float32(1.0)
    zero = np.float32(0.0)
    nv = np.float32(n_value)
    for r in range(n):
        for j0 in range(0, length, _BLOCK):
            m = min(_BLOCK, length - j0)
            src = buf[r * length + j0:r * length + j0 + m]
            if not _block_exact(src):
                return False
            o_a = out[r, 0, j0:j0 + m]
            o_c = out[r, 1, j0:j0 + m]
            o_g = out[r, 2, j0:j0 + m]
            o_t = out[r, 3, j0:j0 + m]
            for j in range(m):
                u = src[j] & np.uint8(0xDF)
                fill = nv if u == _N else zero
                o_a[j] = one if u == _A else fill
                o_c[j] = one if u == _C else fill
                o_g[j] = one if u == _G else fill
                o_t[j] = one if (u == _T) | (u == _U) else fill
    return True


@numba.njit(cache=True, nogil=True)
def encode_str_int8(text: str, out: np.ndarray) -> bool:  # pragma: no cover - compiled
    """:func:`encode_exact_int8` straight from an ASCII ``str``'s buffer (no ``str.encode`` copy).

    Uses numba's string internals (``_kind``, ``_is_ascii``, ``_data``).

    Parameters
    ----------
    text
        The ``N * L`` letters of the sequences, concatenated.
    out
        ``(N, 4, L)`` int8, written in place.

    Returns
    -------
    bool
        As :func:`encode_exact_int8`; also False for a non-ASCII string (the caller then takes the
        bytes path, which names errors).
    """
    if text._kind != 1 or not text._is_ascii:
        return False
    return encode_exact_int8(numba.carray(text._data, len(text), np.uint8), out)


@numba.njit(cache=True, nogil=True)
def encode_str_float(text: str, out: np.ndarray, n_value: float) -> bool:  # pragma: no cover
    """:func:`encode_exact_float` straight from an ASCII ``str``'s buffer.

    Parameters
    ----------
    text
        The ``N * L`` letters of the sequences, concatenated.
    out
        ``(N, 4, L)`` float32, written in place.
    n_value
        The value of N in every channel.

    Returns
    -------
    bool
        As :func:`encode_str_int8`.
    """
    if text._kind != 1 or not text._is_ascii:
        return False
    return encode_exact_float(numba.carray(text._data, len(text), np.uint8), out, n_value)
