"""Streaming FASTA reading (plain, gzip, ``-`` for stdin) and atomic writing.

Why our own parser instead of Biopython's ``SimpleFastaParser``/``SeqIO.parse``: a numba
kernel scans whole 4 MiB blocks (``fasta_kernels.scan_records``), so ``read_fasta_one_hot``
hands sequence bytes to the encoder with no per-record Python objects (~1.5x faster end to
end than ``SimpleFastaParser`` + tangermeme's encoder, ~2x ``SimpleFastaParser`` + numpy;
see docs/benchmarks.md), while
``read_fasta`` as a record iterator runs at about ``SimpleFastaParser``'s speed and ~2x
``SeqIO.parse``'s. It also names the file and record for every malformed-file case (missing
header, empty record, duplicate id, truncated gzip). Memory stays flat: one block at a time.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from seqcnn.errors import ConfigError, InputError
from seqcnn.io.atomic import atomic_path

BLOCK_SIZE = 1 << 22  # 4 MiB of (decompressed) text per read
_GZIP_MAGIC = b"\x1f\x8b"


@contextmanager
def _open_binary(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open ``path`` (or stdin for ``-``) for binary reading, gunzipping if it starts with gzip magic."""
    if str(path) == "-":
        raw: BinaryIO = sys.stdin.buffer
        owned = False
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise InputError("no such file", file=str(path)) from None
        except IsADirectoryError:
            raise InputError("is a directory, not a FASTA file", file=str(path)) from None
        owned = True
    try:
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
        if buffered.peek(2)[:2] == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=buffered, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            yield buffered
    finally:
        if owned:
            raw.close()


def _blocks(handle: BinaryIO, name: str) -> Iterator[bytes]:
    """Read ``handle`` in blocks, turning gzip damage into InputError."""
    while True:
        try:
            block = handle.read(BLOCK_SIZE)
        except EOFError:
            raise InputError("truncated gzip file (ended before the end-of-stream marker)",
                             file=name) from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise InputError(f"corrupt gzip file ({exc})", file=name) from None
        if not block:
            return
        yield block


@dataclass
class FastaBlock:
    """The complete records of one read block.

    Attributes
    ----------
    ids
        Record ids, in file order.
    seq
        Their newline-free sequence bytes back to back, uint8.
    offsets
        ``(len(ids) + 1,)`` int64: record ``i`` is ``seq[offsets[i]:offsets[i + 1]]``.
    """

    ids: list[str]
    seq: np.ndarray  # uint8
    offsets: np.ndarray  # (len(ids) + 1,) int64

    def texts(self) -> list[str]:
        """The sequences as strings (UTF-8 decoded, with replacement, when not ASCII)."""
        data = self.seq.tobytes()
        o = self.offsets.tolist()
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:  # decode each record as UTF-8 (as headers are): no mojibake
            return [data[o[i]:o[i + 1]].decode("utf-8", errors="replace") for i in range(len(self.ids))]
        return [text[o[i]:o[i + 1]] for i in range(len(self.ids))]


def _scan_block(arr: np.ndarray, name: str, seen: SeenIds, allow_empty: bool = False) -> FastaBlock:
    """Index complete records (``data`` starts with '>' and ends with a newline).

    One numba pass finds header spans ('>' at a line start up to the newline) and copies the
    sequence bytes minus CR/LF; only the id list and per-record strings are Python objects.
    A record with no sequence raises unless ``allow_empty`` (then it has zero length); a file of
    bare carriage returns raises either way.
    """
    from seqcnn.seq.fasta_kernels import scan_records  # numba: imported on first use

    upper = arr.size // 4 + 2  # a record takes at least 4 bytes (">a\nA"); np.empty is lazy
    seq_out = np.empty(arr.size, dtype=np.uint8)
    head_lo, head_hi, seq_end = (np.empty(upper, dtype=np.int64) for _ in range(3))
    n, size = scan_records(arr, seq_out, head_lo, head_hi, seq_end)
    head_lo, head_hi, seq_end = head_lo[:n], head_hi[:n], seq_end[:n]
    header_bytes = arr[_ranges(head_lo, head_hi)]
    text = np.insert(header_bytes, np.cumsum(head_hi - head_lo), 10).tobytes()
    lines = text.decode("utf-8", errors="replace").split("\n")[:-1]
    headers = lines
    if np.isin(header_bytes, (32, 9, 13)).any():
        headers = [h.split(None, 1)[0] if h.strip() else "" for h in lines]
    if "" in headers:
        raise InputError("record with an empty header line ('>' without an id)", file=name)
    seen.add(headers, name)
    offsets = np.concatenate(([0], seq_end))
    empty = np.flatnonzero(np.diff(offsets) == 0)
    if empty.size:
        for k in empty.tolist():
            if "\r" in lines[k].rstrip("\r"):  # the whole file read as one header line
                raise InputError("lines end in a bare carriage return (classic Mac line ends); convert them "
                                 "to newlines, e.g. with tr '\\r' '\\n'", file=name, record=headers[k])
            if not allow_empty:
                raise InputError("record has no sequence", file=name, record=headers[k])
    seq = seq_out[:size]
    return FastaBlock(headers, seq, offsets)


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(lo[i], hi[i])`` for all i, without a Python loop."""
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(lo - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return offsets + np.arange(total)


class SeenIds:
    """Record ids read so far, for the duplicate check, in bounded memory.

    The newest ids (up to ``RECENT``) are kept as strings; older ones only as 64-bit hashes in a
    sorted array: 8 bytes per record instead of ~120 for a set of strings, which keeps memory
    flat on files with millions of records. Two different ids share a hash with probability about
    n^2 / 2^65 (3e-8 for a million ids); such a pair would be reported as a duplicate.
    """

    RECENT = 1 << 16

    def __init__(self) -> None:
        self._recent: set[str] = set()
        self._hashes = np.empty(0, dtype=np.int64)

    def add(self, ids: list[str], name: str) -> None:
        """Add one block's ids; the first id seen before (here or earlier) raises InputError."""
        block = set(ids)
        if len(block) != len(ids) or not self._recent.isdisjoint(block) or self._seen_hash(ids):
            self._raise_first(ids, name)
        self._recent |= block
        if len(self._recent) >= self.RECENT:
            old = np.fromiter((hash(i) for i in self._recent), dtype=np.int64, count=len(self._recent))
            merged = np.concatenate([self._hashes, old])
            merged.sort()  # in place: two copies at the peak, not three
            self._hashes = merged
            self._recent.clear()

    def _seen_hash(self, ids: list[str]) -> bool:
        if not self._hashes.size:
            return False
        hashes = np.fromiter((hash(i) for i in ids), dtype=np.int64, count=len(ids))
        pos = np.minimum(np.searchsorted(self._hashes, hashes), self._hashes.size - 1)
        return bool((self._hashes[pos] == hashes).any())

    def _raise_first(self, ids: list[str], name: str) -> None:
        old = set(self._hashes.tolist()) if self._hashes.size else set()
        so_far: set[str] = set()
        for rid in ids:
            if rid in so_far or rid in self._recent or hash(rid) in old:
                raise InputError("duplicate record id", file=name, record=rid)
            so_far.add(rid)


def _check_start(block: bytes, name: str) -> bytes:
    """Strip leading blank lines; anything else before the first '>' is a missing header."""
    stripped = block.lstrip(b" \t\r\n")
    if stripped and not stripped.startswith(b">"):
        line_no = block[: len(block) - len(stripped)].count(b"\n") + 1
        preview = stripped.split(b"\n", 1)[0][:20].decode("utf-8", errors="replace")
        raise InputError(f"line {line_no}: expected a '>' header line, found {preview!r}", file=name)
    return stripped


def read_fasta(path: str | os.PathLike, *, allow_empty: bool = False) -> Iterator[tuple[str, str]]:
    """Read the records of a FASTA file, streamed.

    Parameters
    ----------
    path
        FASTA file, plain or gzip (detected by content), or ``-`` for stdin.
    allow_empty
        Yield a record with no sequence as ``(id, "")`` (for a caller that skips and counts it)
        instead of raising.

    Yields
    ------
    tuple[str, str]
        ``(id, sequence)``: the id is the header up to the first whitespace; multi-line records
        and CRLF line ends are joined; the sequence is returned as written (case kept, not
        validated: the encoder validates).

    Raises
    ------
    InputError
        An empty or missing file, a missing '>' header, a record with no sequence (without
        ``allow_empty``), a duplicate id, or a truncated/corrupt gzip stream.
    """
    for block in read_fasta_blocks(path, allow_empty=allow_empty):
        yield from zip(block.ids, block.texts(), strict=True)


def read_fasta_blocks(path: str | os.PathLike, *, allow_empty: bool = False) -> Iterator[FastaBlock]:
    """Read a FASTA file a block at a time, with no per-record objects (memory: one block).

    Parameters
    ----------
    path
        As :func:`read_fasta`.
    allow_empty
        Keep records with no sequence (zero length in ``offsets``) instead of raising, for a
        caller that skips and counts them (``--skip-invalid``).

    Yields
    ------
    FastaBlock
        The complete records of each ~4 MiB read block.

    Raises
    ------
    InputError
        As :func:`read_fasta`.
    """
    name = str(path)
    seen = SeenIds()
    pieces: list[bytes] = []  # the record being read, starting with '>', split across blocks
    with _open_binary(path) as handle:
        for block in _blocks(handle, name):
            if not pieces:
                block = _check_start(block, name)
                if not block:
                    continue
            elif pieces[-1].endswith(b"\n") and block.startswith(b">"):
                yield _scan_block(_as_array(pieces), name, seen, allow_empty)
                pieces = []
            cut = block.rfind(b"\n>")
            if cut < 0:
                pieces.append(block)
                continue
            yield _scan_block(_as_array(pieces, block, cut + 1), name, seen, allow_empty)
            pieces = [block[cut + 1:]]
    if not pieces:
        raise InputError("empty FASTA file (no records)", file=name)
    if not pieces[-1].endswith(b"\n"):
        pieces.append(b"\n")
    yield _scan_block(_as_array(pieces), name, seen, allow_empty)


def _as_array(pieces: list[bytes], block: bytes = b"", stop: int = 0) -> np.ndarray:
    """``pieces`` + ``block[:stop]`` as one uint8 array, copying only when there are pieces."""
    head = np.frombuffer(block, dtype=np.uint8, count=stop)
    if not pieces:
        return head
    return np.concatenate([np.frombuffer(p, dtype=np.uint8) for p in pieces] + [head])


def read_fasta_one_hot(path: str | os.PathLike, *, dtype: Any = np.float32,
                       n_value: float = 0.25) -> tuple[list[str], np.ndarray]:
    """Read and one-hot encode a FASTA file whose records share one length.

    The fast end-to-end path: sequence bytes go from the parser to the encoder without
    per-record strings.

    Parameters
    ----------
    path
        As :func:`read_fasta`.
    dtype, n_value
        As :func:`seqcnn.seq.encode.one_hot`.

    Returns
    -------
    tuple[list[str], np.ndarray]
        The record ids and their one-hot ``(N, 4, L)``.

    Raises
    ------
    InputError
        As :func:`read_fasta`; records of different lengths (naming the first that differs);
        invalid characters (named by record and position).
    """
    from seqcnn.seq.encode import one_hot_bytes

    ids: list[str] = []
    chunks, lengths = [], []
    for block in read_fasta_blocks(path):
        ids.extend(block.ids)
        chunks.append(block.seq)
        lengths.append(np.diff(block.offsets))
    sizes = np.concatenate(lengths)
    length = int(sizes[0])
    if (sizes != length).any():
        k = int(np.argmax(sizes != length))
        raise InputError(f"length {sizes[k]} differs from the first record's {length}; "
                         "all records must have one length", file=str(path), record=ids[k])
    buf = np.concatenate(chunks)
    x = one_hot_bytes(buf, len(ids), length, dtype=dtype, n_value=n_value, ids=ids, file=str(path))
    return ids, x


def iter_fasta_batches(path: str | os.PathLike, batch_size: int) -> Iterator[list[tuple[str, str]]]:
    """Stream a FASTA file in batches of records.

    Parameters
    ----------
    path
        FASTA file (plain or gzip), or ``-`` for stdin.
    batch_size
        Records per batch (>= 1).

    Yields
    ------
    list[tuple[str, str]]
        ``(id, sequence)`` records in file order, ``batch_size`` a batch (the last one may hold
        fewer); memory holds one batch and one read block.

    Raises
    ------
    ConfigError
        ``batch_size`` below 1 (raised at the call, before the file is opened).
    InputError
        As :func:`read_fasta`.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    return _fasta_batches(path, int(batch_size))


def _fasta_batches(path: str | os.PathLike, batch_size: int) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    for block in read_fasta_blocks(path):
        for record in zip(block.ids, block.texts(), strict=True):
            batch.append(record)
            if len(batch) == batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def _format_records(records: Iterable[tuple[str, str]], width: int | None) -> Iterator[bytes]:
    for rid, seq in records:
        if not rid or any(c.isspace() for c in rid):
            raise InputError("record id must be non-empty and contain no whitespace", record=repr(rid))
        if width:
            lines = "\n".join(seq[i:i + width] for i in range(0, len(seq), width))
        else:
            lines = seq
        yield f">{rid}\n{lines}\n".encode()


def write_fasta(records: Iterable[tuple[str, str]], path: str | os.PathLike, *,
                width: int | None = None) -> Path | None:
    """Write FASTA records atomically (a failed write leaves no file).

    Parameters
    ----------
    records
        ``(id, sequence)`` pairs; ids must be non-empty without whitespace.
    path
        Output path (``.gz``: gzipped) or ``-`` for stdout.
    width
        Wrap sequence lines at this many letters (None: one line per sequence).

    Returns
    -------
    Path or None
        The path written (None for stdout).

    Raises
    ------
    InputError
        An empty id or one with whitespace.
    """
    if str(path) == "-":
        out = sys.stdout.buffer
        for data in _format_records(records, width):
            out.write(data)
        out.flush()
        return None
    target = Path(path)
    with atomic_path(target) as tmp:
        opener = gzip.open if target.suffix == ".gz" else open
        with opener(tmp, "wb") as handle:
            for data in _format_records(records, width):
                handle.write(data)
    return target
