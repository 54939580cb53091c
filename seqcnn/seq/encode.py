"""One-hot encoding of DNA/RNA strings, decoding, reverse complement and pad/crop.

Layout: a string of length L encodes to ``(4, L)``, a list of N equal-length strings to
``(N, 4, L)``; channels are ``A, C, G, T`` (``U`` shares ``T``). IUPAC ambiguity codes encode
fractionally (R = 0.5 A + 0.5 G, N = ``n_value`` each, B/D/H/V = 1/3 each); lowercase
(soft-masked) letters encode like uppercase and :func:`one_hot_mask` reports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from seqcnn.errors import InputError
from seqcnn.seq.alphabet import BYTE_TO_CODE, CODE_INVALID, CODE_N, CODE_ONEHOT, N_EXACT_CODES, complement

# the one base-code table (seqcnn.seq.alphabet): codes 0-4 = A C G T N, 6-15 ambiguity letters, 255 invalid
_IUPAC_MATRIX = CODE_ONEHOT[:16]  # (16, 4) float32: (A, C, G, T) fractions of each code
_CHUNK_BYTES = 1 << 20

# 4-bit support mask (bit c = channel c nonzero) -> IUPAC letter, for decode
_DECODE_DNA = np.frombuffer(b"NACMGRSVTWYHKDBN", dtype=np.uint8)
_DECODE_RNA = np.frombuffer(b"NACMGRSVUWYHKDBN", dtype=np.uint8)


def _record_name(index: int, ids: Sequence[str] | None) -> str:
    """The id of record ``index`` (0-based) or ``#<1-based index>`` when no ids were given."""
    if ids is not None and index < len(ids):
        return str(ids[index])
    return f"#{index + 1}"


def _not_a_string(seqs: Sequence, ids: Sequence[str] | None, file: str | None) -> InputError:
    k = next((k for k, s in enumerate(seqs) if not isinstance(s, str)), 0)
    return InputError(f"expected a string, got {type(seqs[k]).__name__}", file=file,
                      record=_record_name(k, ids))


def _check_lengths(seqs: list, ids: Sequence[str] | None, file: str | None) -> int:
    """The common length of ``seqs``; a different length raises InputError naming the record.

    Non-strings are caught here (no ``len``) or when the rows are joined, not by a type pass.
    """
    try:
        lengths = set(map(len, seqs))
    except TypeError:
        raise _not_a_string(seqs, ids, file) from None
    length = len(seqs[0]) if seqs else 0
    if len(lengths) > 1:
        k = next(k for k, s in enumerate(seqs) if len(s) != length)
        raise InputError(
            f"length {len(seqs[k])} differs from the first record's {length}; "
            "use pad_or_crop to give all sequences one length",
            file=file, record=_record_name(k, ids))
    return length


def _to_bytes(joined: str, length: int, offset: int, ids: Sequence[str] | None,
              file: str | None) -> np.ndarray:
    """Rows of ``length`` joined in one str -> uint8 buffer; ``offset`` numbers the first record."""
    try:
        data = joined.encode("ascii")
    except UnicodeEncodeError as exc:
        row, col = divmod(exc.start, max(length, 1))
        raise InputError(f"invalid character {joined[exc.start]!r}", file=file,
                         record=_record_name(offset + row, ids), position=col + 1) from None
    return np.frombuffer(data, dtype=np.uint8)


def _codes(buf: np.ndarray, length: int, offset: int, ids: Sequence[str] | None,
           file: str | None) -> np.ndarray:
    """IUPAC code index per byte; the first invalid byte raises InputError naming record and position."""
    codes = BYTE_TO_CODE[buf]
    if codes.max(initial=0) == CODE_INVALID:
        first = int(np.argmax(codes == CODE_INVALID))
        row, col = divmod(first, max(length, 1))
        raise InputError(f"invalid character {chr(buf[first])!r} (not an IUPAC nucleotide code)",
                         file=file, record=_record_name(offset + row, ids), position=col + 1)
    return codes


def _encode_table(buf: np.ndarray, out: np.ndarray, n_value: float, offset: int,
                  ids: Sequence[str] | None, file: str | None) -> None:
    """General (slow, rare) path: every IUPAC code; validates and fills ``out`` (N, 4, L)."""
    n, _, length = out.shape
    codes = _codes(buf, length, offset, ids, file)
    if out.dtype == np.int8:
        exact = codes < N_EXACT_CODES
        if not exact.all():
            first = int(np.argmin(exact))
            row, col = divmod(first, max(length, 1))
            raise InputError(f"ambiguity code {chr(buf[first])!r} needs a float dtype, not int8",
                             file=file, record=_record_name(offset + row, ids), position=col + 1)
        matrix = np.zeros((len(_IUPAC_MATRIX), 4), dtype=np.int8)
        matrix[np.arange(4), np.arange(4)] = 1
    else:
        matrix = _IUPAC_MATRIX.copy()
        matrix[CODE_N] = n_value
    out[...] = matrix[codes].reshape(n, length, 4).transpose(0, 2, 1)


_STR_KERNEL_OK = True  # False once this numba failed to compile the str kernel


def _encode_str(text: str, out: np.ndarray, n_value: float) -> bool:
    """Fast path straight from the str buffer; False when the bytes path must take over."""
    global _STR_KERNEL_OK
    if not _STR_KERNEL_OK:
        return False
    from numba.core import errors as numba_errors

    from seqcnn.seq import onehot_kernels as kernels

    try:
        if out.dtype == np.int8:
            return kernels.encode_str_int8(text, out)
        return kernels.encode_str_float(text, out, float(n_value))
    except numba_errors.NumbaError:  # numba's str internals changed: bytes path from now on
        _STR_KERNEL_OK = False
        return False


def _encode_into(buf: np.ndarray, out: np.ndarray, n_value: float, offset: int,
                 ids: Sequence[str] | None, file: str | None) -> None:
    """Fill ``out`` (N, 4, L) from ``buf`` (N*L bytes): fast kernels for ACGTUN, table otherwise."""
    from seqcnn.seq import onehot_kernels as kernels  # numba: imported on first use

    if out.dtype == np.int8:
        done = kernels.encode_exact_int8(buf, out)
    else:
        done = kernels.encode_exact_float(buf, out, float(n_value))
    if not done:
        _encode_table(buf, out, n_value, offset, ids, file)


def one_hot(
    seqs: str | Sequence[str],
    *,
    dtype: Any = np.float32,
    n_value: float = 0.25,
    ids: Sequence[str] | None = None,
    file: str | None = None,
) -> np.ndarray:
    """One-hot encode a string to ``(4, L)`` or a list of equal-length strings to ``(N, 4, L)``.

    Parameters
    ----------
    seqs
        One sequence or a list of equal-length sequences (any case; U = T).
    dtype
        ``np.float32`` (IUPAC codes fractional, N -> ``n_value`` per channel) or ``np.int8``
        (exact bases and N only; N -> all zeros); other dtypes are cast from float32.
    n_value
        The value of each channel for N (float dtypes).
    ids
        Record names for error messages (default ``#1``, ``#2``, ...).
    file
        File name for error messages.

    Returns
    -------
    np.ndarray
        ``(4, L)`` for a string, ``(N, 4, L)`` for a list.

    Raises
    ------
    InputError
        An invalid character (naming the record, the 1-based position and the character), a
        non-string, unequal lengths, or an ambiguity code with ``np.int8``.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.int8), np.dtype(np.float32)):
        out = one_hot(seqs, dtype=np.float32, n_value=n_value, ids=ids, file=file)
        return out.astype(dtype)
    single = isinstance(seqs, str)
    seq_list = [seqs] if single else list(seqs)
    length = _check_lengths(seq_list, ids, file)
    out = np.empty((len(seq_list), 4, length), dtype=dtype)
    if length:
        # rows are joined ~1 MB at a time, so the byte buffer stays in cache
        step = max(1, _CHUNK_BYTES // length)
        for start in range(0, len(seq_list), step):
            part = seq_list[start:start + step]
            try:
                joined = part[0] if len(part) == 1 else "".join(part)
            except TypeError:
                raise _not_a_string(seq_list, ids, file) from None
            if not isinstance(joined, str):
                raise _not_a_string(seq_list, ids, file)
            if not _encode_str(joined, out[start:start + step], n_value):
                buf = _to_bytes(joined, length, start, ids, file)
                _encode_into(buf, out[start:start + step], n_value, start, ids, file)
    return out[0] if single else out


def one_hot_bytes(buf: np.ndarray, n: int, length: int, *, dtype: Any = np.float32,
                  n_value: float = 0.25, ids: Sequence[str] | None = None,
                  file: str | None = None) -> np.ndarray:
    """One-hot encode sequence bytes, row after row; used by the FASTA reader to skip Python strings.

    Parameters
    ----------
    buf
        ``n * length`` uint8 characters.
    n, length
        Rows and their length.
    dtype, n_value, ids, file
        As :func:`one_hot`.

    Returns
    -------
    np.ndarray
        ``(n, 4, length)``.

    Raises
    ------
    InputError
        As :func:`one_hot`, or a buffer of another size.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.int8), np.dtype(np.float32)):
        return one_hot_bytes(buf, n, length, dtype=np.float32, n_value=n_value, ids=ids,
                             file=file).astype(dtype)
    buf = np.ascontiguousarray(buf, dtype=np.uint8).reshape(-1)
    if buf.size != n * length:
        raise InputError(f"buffer holds {buf.size} bytes, expected {n} x {length}", file=file)
    out = np.empty((n, 4, length), dtype=dtype)
    if buf.size:
        _encode_into(buf, out, n_value, 0, ids, file)
    return out


def one_hot_mask(seqs: str | Sequence[str]) -> np.ndarray:
    """Where the letters are lowercase (soft-masked).

    Parameters
    ----------
    seqs
        One sequence or a list of equal-length sequences.

    Returns
    -------
    np.ndarray
        Boolean ``(L,)`` for a string, ``(N, L)`` for a list.

    Raises
    ------
    InputError
        Non-ASCII characters, non-strings or unequal lengths.
    """
    single = isinstance(seqs, str)
    seq_list = [seqs] if single else list(seqs)
    length = _check_lengths(seq_list, None, None)
    try:
        joined = "".join(seq_list)
    except TypeError:
        raise _not_a_string(seq_list, None, None) from None
    buf = _to_bytes(joined, length, 0, None, None)
    mask = (buf >= ord("a")).reshape(len(seq_list), length)
    return mask[0] if single else mask


def upcast(x: Any, n_value: float = 0.25) -> Any:
    """An int8 one-hot batch as float32, with N restored.

    Parameters
    ----------
    x
        int8 one-hot array or tensor ``(..., 4, L)`` (N stored as an all-zero column).
    n_value
        The value of each channel of an all-zero column (0 keeps them zero).

    Returns
    -------
    torch.Tensor
        float32 ``(..., 4, L)``.
    """
    import torch

    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    t = t.to(torch.float32)
    if n_value:
        empty = (t == 0).all(dim=-2, keepdim=True)
        t = t.masked_fill(empty, float(n_value))
    return t


def decode(x: Any, *, rna: bool = False) -> str | list[str]:
    """Invert :func:`one_hot`.

    A column decodes to the IUPAC letter of its nonzero channels (one channel -> the base,
    two -> R/Y/S/W/K/M, three -> B/D/H/V, four or none -> N).

    Parameters
    ----------
    x
        One-hot array or tensor ``(4, L)`` or ``(N, 4, L)``.
    rna
        Write U for T.

    Returns
    -------
    str or list[str]
        One string for ``(4, L)``, a list for ``(N, 4, L)``.

    Raises
    ------
    InputError
        Another shape.
    """
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    if arr.ndim not in (2, 3) or arr.shape[-2] != 4:
        raise InputError(f"expected a (4, L) or (N, 4, L) one-hot array, got shape {arr.shape}")
    support = arr > 0
    mask = (support[..., 0, :].astype(np.uint8) | (support[..., 1, :] << 1)
            | (support[..., 2, :] << 2) | (support[..., 3, :] << 3))
    letters = (_DECODE_RNA if rna else _DECODE_DNA)[mask]
    if arr.ndim == 2:
        return letters.tobytes().decode("ascii")
    return [row.tobytes().decode("ascii") for row in letters]


def reverse_complement(x: Any) -> Any:
    """Reverse complement of sequences or one-hot arrays.

    On arrays the channel axis (ACGT -> TGCA) and the length axis are both flipped; numpy
    results are contiguous copies. Applying it twice gives the input back.

    Parameters
    ----------
    x
        A string, a list of strings, or a one-hot array or tensor ``(..., 4, L)``.

    Returns
    -------
    str, list[str], np.ndarray or torch.Tensor
        The same kind and shape as ``x``.

    Raises
    ------
    InputError
        An array whose second-to-last axis is not 4.
    """
    if isinstance(x, str):
        return complement(x)[::-1]
    if isinstance(x, (list, tuple)):
        return [reverse_complement(s) for s in x]
    if hasattr(x, "flip"):
        return x.flip(dims=(-2, -1))
    arr = np.asarray(x)
    if arr.ndim < 2 or arr.shape[-2] != 4:
        raise InputError(f"expected a (..., 4, L) one-hot array, got shape {arr.shape}")
    return np.ascontiguousarray(arr[..., ::-1, ::-1])


def pad_or_crop(seq: str, length: int, how: str = "center") -> str:
    """Pad with N or crop ``seq`` to ``length``.

    Parameters
    ----------
    seq
        The sequence.
    length
        The length wanted (>= 0).
    how
        ``center`` keeps it centred (an odd surplus goes to the right), ``left`` keeps its start
        (pads/crops on the right), ``right`` keeps its end.

    Returns
    -------
    str
        ``length`` letters.

    Raises
    ------
    InputError
        A negative ``length`` or an unknown ``how``.
    """
    if length < 0:
        raise InputError(f"length must be >= 0, got {length}")
    if how not in ("center", "left", "right"):
        raise InputError(f"how must be 'center', 'left' or 'right', got {how!r}")
    diff = length - len(seq)
    if diff == 0:
        return seq
    if how == "left":
        return seq[:length] if diff < 0 else seq + "N" * diff
    if how == "right":
        return seq[len(seq) - length:] if diff < 0 else "N" * diff + seq
    if diff < 0:
        start = -diff // 2
        return seq[start:start + length]
    return "N" * (diff // 2) + seq + "N" * (diff - diff // 2)


__all__ = ["one_hot", "one_hot_mask", "upcast", "decode", "reverse_complement", "pad_or_crop"]
