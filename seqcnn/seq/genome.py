"""BED intervals + an indexed genome FASTA (pyfaidx) -> fixed-width sequence windows.

Coordinates are 0-based, half-open (BED). Windows reaching past a chromosome end are padded
with N; minus-strand intervals are reverse-complemented.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from seqcnn.errors import InputError
from seqcnn.seq.encode import reverse_complement

BED_COLUMNS = ["chrom", "start", "end", "name", "score", "strand"]


class Genome:
    """An indexed FASTA genome (``.fai`` built by pyfaidx on first use if missing)."""

    def __init__(self, path: str | os.PathLike) -> None:
        import pyfaidx

        self.path = str(path)
        if not Path(path).is_file():
            raise InputError("no such genome FASTA file", file=self.path)
        try:
            self._fasta = pyfaidx.Fasta(self.path, as_raw=True, sequence_always_upper=False,
                                        rebuild=False)
        except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError) as exc:
            raise InputError(f"cannot index genome FASTA: {exc}", file=self.path) from None
        self.chroms: dict[str, int] = {name: len(rec) for name, rec in self._fasta.records.items()}

    def _unknown(self, chrom: str) -> InputError:
        names = list(self.chroms)
        alt = chrom[3:] if chrom.startswith("chr") else "chr" + chrom
        if alt in self.chroms:
            hint = f"; did you mean {alt!r}? (this genome names chromosomes like {alt!r})"
        else:
            close = difflib.get_close_matches(chrom, names, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        return InputError(f"chromosome {chrom!r} is not in the genome{hint}", file=self.path)

    def fetch(self, chrom: str, start: int, end: int, strand: str = "+") -> str:
        """Sequence of ``chrom:[start, end)`` (0-based), N-padded past the ends, RC on ``-``."""
        if chrom not in self.chroms:
            raise self._unknown(chrom)
        if end < start:
            raise InputError(f"end {end} < start {start}", file=self.path, record=chrom)
        size = self.chroms[chrom]
        lo, hi = max(start, 0), min(end, size)
        core = self._fasta[chrom][lo:hi] if hi > lo else ""
        left = min(lo - start, end - start)
        seq = "N" * left + core + "N" * (end - start - left - len(core))
        return reverse_complement(seq) if strand == "-" else seq

    def close(self) -> None:
        self._fasta.close()

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _bed_error(path: str, line: int, message: str) -> InputError:
    return InputError(f"line {line}: {message}", file=path)


def _parse_bed_line(fields: list[str], path: str, line_no: int) -> list:
    if len(fields) < 3:
        raise _bed_error(path, line_no, f"expected at least 3 tab-separated columns, got {len(fields)}")
    # plain ASCII digits only: int() alone would take "1_000", " 5", "+5" and non-ASCII digits
    if not all(f.isascii() and f.isdigit() for f in fields[1:3]):
        message = f"start/end must be non-negative integers, got {fields[1]!r}, {fields[2]!r}"
        raise _bed_error(path, line_no, message)
    start, end = int(fields[1]), int(fields[2])
    if start < 0 or end < start:
        raise _bed_error(path, line_no, f"need 0 <= start <= end, got {start}, {end}")
    name = fields[3] if len(fields) > 3 else "."
    try:
        score = float(fields[4]) if len(fields) > 4 and fields[4] != "." else 0.0
    except ValueError:
        raise _bed_error(path, line_no, f"score must be a number, got {fields[4]!r}") from None
    strand = fields[5] if len(fields) > 5 else "+"
    if strand not in ("+", "-", "."):
        raise _bed_error(path, line_no, f"strand must be +, - or ., got {strand!r}")
    return [fields[0], start, end, name, score, "+" if strand == "." else strand]


def read_bed(path: str | os.PathLike) -> pd.DataFrame:
    """Read a BED3+ file into columns chrom, start, end, name, score, strand (validated).

    Missing name -> ".", score -> 0, strand -> "+" ("." also means "+"). Header lines
    (``#``, ``track``, ``browser``) and blank lines are skipped.
    """
    file = str(path)
    rows = []
    try:
        with open(path) as handle:
            for line_no, line in enumerate(handle, start=1):
                text = line.rstrip("\r\n")
                if not text.strip() or text.startswith(("#", "track", "browser")):
                    continue
                rows.append(_parse_bed_line(text.split("\t"), file, line_no))
    except FileNotFoundError:
        raise InputError("no such file", file=file) from None
    except UnicodeDecodeError:
        raise InputError("not a BED text file (binary or non-UTF-8 content)", file=file) from None
    if not rows:
        raise InputError("no intervals in BED file", file=file)
    df = pd.DataFrame(rows, columns=BED_COLUMNS)
    df.attrs["file"] = file  # lets bed_sequences name the BED file in its errors
    return df.astype({"start": np.int64, "end": np.int64, "score": np.float64})


def bed_sequences(bed: pd.DataFrame, genome: Genome, width: int | None = None) -> list[tuple[str, str]]:
    """``(id, sequence)`` per interval, as a list (see ``iter_bed_sequences``)."""
    return list(iter_bed_sequences(bed, genome, width))


def iter_bed_sequences(
    bed: pd.DataFrame, genome: Genome, width: int | None = None
) -> Iterator[tuple[str, str]]:
    """``(id, sequence)`` per interval, streamed; ``width`` gives windows of that size centred on each
    interval. Ids are the fetched window ``chrom:start-end(strand)``. Without ``width`` intervals are
    taken as given (lengths may differ). Errors name the BED file (from ``read_bed``) and interval.
    """
    if width is not None and width < 1:
        raise InputError(f"width must be >= 1, got {width}")
    strands = bed["strand"] if "strand" in bed else ["+"] * len(bed)
    for chrom, start, end, strand in zip(bed["chrom"], bed["start"], bed["end"], strands, strict=True):
        start, end = int(start), int(end)
        if width is not None:
            start = (start + end) // 2 - width // 2
            end = start + width
        key = f"{chrom}:{start}-{end}({strand})"
        try:
            sequence = genome.fetch(str(chrom), start, end, strand)
        except InputError as exc:
            if "file" not in bed.attrs:
                raise
            message = f"{exc.message} (genome {exc.file})"
            raise InputError(message, file=bed.attrs["file"], record=key) from None
        yield key, sequence
