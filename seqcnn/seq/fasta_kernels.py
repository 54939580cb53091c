"""numba kernel behind :mod:`seqcnn.seq.fasta`: one pass over a block of FASTA bytes.

Why a kernel: splitting records in Python costs ~1 us per record and numpy needs ~8 passes
over the block; this loop finds headers and copies sequence bytes (minus CR/LF) in one pass.
"""

from __future__ import annotations

import numba
import numpy as np

_GT, _LF, _CR = ord(">"), ord("\n"), ord("\r")


@numba.njit(cache=True, nogil=True)
def scan_records(data: np.ndarray, seq_out: np.ndarray, head_lo: np.ndarray, head_hi: np.ndarray,
                 seq_end: np.ndarray) -> tuple[int, int]:  # pragma: no cover - compiled
    """Index the records of a block of FASTA bytes and copy their sequence bytes out.

    Parameters
    ----------
    data
        ``(B,)`` uint8 bytes of whole records: starts with ``>`` and ends with a newline.
    seq_out
        ``(B,)`` uint8, filled with the sequence bytes of every record, concatenated (no CR/LF).
    head_lo, head_hi
        int64 arrays, one slot per possible record: record r's header (without ``>`` and the line
        break) is ``data[head_lo[r]:head_hi[r]]``.
    seq_end
        int64, one slot per possible record: record r's sequence ends at ``seq_end[r]`` in
        ``seq_out`` (and starts where record r - 1's ends).

    Returns
    -------
    tuple[int, int]
        The number of records and of sequence bytes written.
    """
    n = data.shape[0]
    r = -1
    k = 0
    i = 0
    while i < n:
        c = data[i]
        if c == _GT and (i == 0 or data[i - 1] == _LF):
            if r >= 0:
                seq_end[r] = k
            r += 1
            j = i + 1
            while data[j] != _LF:
                j += 1
            head_lo[r] = i + 1
            head_hi[r] = j - 1 if data[j - 1] == _CR and j - 1 > i else j
            i = j + 1
            continue
        if c != _LF and c != _CR:
            seq_out[k] = c
            k += 1
        i += 1
    if r >= 0:
        seq_end[r] = k
    return r + 1, k
