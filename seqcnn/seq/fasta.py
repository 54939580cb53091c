"""Streaming FASTA reading (plain, gzip, ``-`` for stdin) and atomic writing.

Why our own parser instead of ``Bio.SeqIO.parse``/``SimpleFastaParser``: it splits whole
blocks of bytes on ``\\n>`` instead of looping over lines in Python, which made it ~6x faster
than ``SimpleFastaParser`` on 100,000 x 200 bp records and ~20x faster than ``SeqIO.parse``
(see docs/benchmarks/encode.md), and it can report the edge cases we need (missing header,
empty record, duplicate id, truncated gzip) by file and record. Memory stays flat: only one
block (plus the record spanning its end) is held at a time.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from seqcnn.atomic import atomic_path
from seqcnn.errors import InputError

BLOCK_SIZE = 1 << 22  # 4 MiB of (decompressed) text per read
_GZIP_MAGIC = b"\x1f\x8b"
_LINE_BREAKS = b"\r\n"


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


def _parse_record(chunk: bytes, name: str, seen: set[str]) -> tuple[str, str]:
    """Turn ``header\\nline\\nline...`` (without the leading '>') into (id, sequence)."""
    header, _, body = chunk.partition(b"\n")
    fields = header.decode("utf-8", errors="replace").split(None, 1)
    if not fields:
        raise InputError("record with an empty header line ('>' without an id)", file=name)
    rid = fields[0]
    if rid in seen:
        raise InputError("duplicate record id", file=name, record=rid)
    seen.add(rid)
    seq = body.translate(None, _LINE_BREAKS)
    if not seq:
        raise InputError("record has no sequence", file=name, record=rid)
    try:
        text = seq.decode("ascii")
    except UnicodeDecodeError:
        text = seq.decode("utf-8", errors="replace")
    return rid, text


def _check_start(block: bytes, name: str) -> bytes:
    """Strip leading blank lines; anything else before the first '>' is a missing header."""
    stripped = block.lstrip(b" \t\r\n")
    if stripped and not stripped.startswith(b">"):
        line_no = block[: len(block) - len(stripped)].count(b"\n") + 1
        preview = stripped.split(b"\n", 1)[0][:20].decode("utf-8", errors="replace")
        raise InputError(f"line {line_no}: expected a '>' header line, found {preview!r}", file=name)
    return stripped


def read_fasta(path: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """Yield ``(id, sequence)`` for each record of a FASTA file (plain, .gz or ``-`` for stdin).

    The id is the header up to the first whitespace. Multi-line records and CRLF line ends
    are joined; the sequence is returned as written (case kept, not validated: the encoder
    validates). Raises :class:`InputError` for an empty file, a missing '>' header, a record
    with no sequence, a duplicate id, or a truncated/corrupt gzip stream.
    """
    name = str(path)
    seen: set[str] = set()
    pieces: list[bytes] = []  # the record being read, starting with '>', split across blocks
    with _open_binary(path) as handle:
        for block in _blocks(handle, name):
            if not pieces:
                block = _check_start(block, name)
                if not block:
                    continue
            elif pieces[-1].endswith(b"\n") and block.startswith(b">"):
                yield _parse_record(b"".join(pieces)[1:], name, seen)
                pieces = []
            cut = block.rfind(b"\n>")
            if cut < 0:
                pieces.append(block)
                continue
            data = b"".join(pieces) + block[:cut] if pieces else block[:cut]
            pieces = [block[cut + 1:]]
            for chunk in data[1:].split(b"\n>"):
                yield _parse_record(chunk, name, seen)
    if not pieces:
        raise InputError("empty FASTA file (no records)", file=name)
    yield _parse_record(b"".join(pieces)[1:], name, seen)


def iter_fasta_batches(path: str | os.PathLike, batch_size: int) -> Iterator[list[tuple[str, str]]]:
    """Yield lists of at most ``batch_size`` ``(id, sequence)`` records, streaming the file."""
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    batch: list[tuple[str, str]] = []
    for record in read_fasta(path):
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
    """Write ``(id, sequence)`` records atomically; ``.gz`` paths are gzipped, ``-`` is stdout.

    ``width`` wraps sequence lines (``None``: one line per sequence). Returns the path written.
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
