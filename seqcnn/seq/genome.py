"""BED intervals + an indexed genome FASTA (pyfaidx) -> fixed-width sequence windows.

Coordinates are 0-based, half-open (BED): ``[start, end)`` covers bases ``start`` to ``end - 1``.
Windows reaching past a chromosome end are padded with N; minus-strand intervals are
reverse-complemented. :func:`read_bed` reads a whole BED file into a table; :func:`iter_bed` streams
it as :class:`BedInterval` records that keep their line number, strand as written, extra columns and
narrowPeak summit. Bad files and intervals raise :class:`~seqcnn.errors.InputError` naming the file
and line (or interval); bad arguments raise :class:`~seqcnn.errors.ConfigError`.
"""

from __future__ import annotations

import difflib
import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seqcnn.errors import ConfigError, InputError
from seqcnn.seq.encode import reverse_complement

if TYPE_CHECKING:  # pandas is imported on use: importing seqcnn.seq stays cheap
    import pandas as pd

BED_COLUMNS = ["chrom", "start", "end", "name", "score", "strand"]
"""Columns of the table :func:`read_bed` returns."""
_STRANDS = ("+", "-", ".")


class Genome:
    """An indexed FASTA genome, read through pyfaidx.

    The ``.fai`` index is built on first use if missing. Use it as a context manager (or call
    :meth:`close`) to close the file.

    Parameters
    ----------
    path
        The genome FASTA file (plain or bgzip-compressed).

    Raises
    ------
    InputError
        The file does not exist or cannot be indexed.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import pyfaidx

        #: The FASTA file.
        self.path = str(path)
        if not Path(path).is_file():
            raise InputError("no such genome FASTA file", file=self.path)
        try:
            self._fasta = pyfaidx.Fasta(self.path, as_raw=True, sequence_always_upper=False,
                                        rebuild=False)
        except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError) as exc:
            raise InputError(f"cannot index genome FASTA: {exc}", file=self.path) from None
        #: Length of each chromosome, in file order.
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

    def interval_problem(self, chrom: str, start: int, end: int) -> tuple[str, str] | None:
        """Why ``chrom:[start, end)`` is not inside this genome, or None when it is.

        Parameters
        ----------
        chrom
            Chromosome name.
        start, end
            0-based, half-open coordinates (``0 <= start <= end``).

        Returns
        -------
        tuple[str, str] or None
            ``(reason, message)``: reason ``"unknown contig"`` (the message suggests close names) or
            ``"outside contig"`` (the message names the contig length); None for an interval inside
            its contig.
        """
        if chrom not in self.chroms:
            return "unknown contig", self._unknown(chrom).message
        size = self.chroms[chrom]
        if end > size:
            return "outside contig", (f"interval {chrom}:{start}-{end} runs past the end of {chrom} "
                                      f"(length {size}) in {self.path}; is this the genome the intervals "
                                      f"were made for?")
        return None

    def fetch(self, chrom: str, start: int, end: int, strand: str = "+") -> str:
        """The sequence of ``chrom:[start, end)`` (0-based, half-open).

        Parameters
        ----------
        chrom
            Chromosome name, exactly as in the FASTA file.
        start, end
            0-based, half-open coordinates; they may reach past either end of the chromosome.
        strand
            ``"+"`` (or ``"."``) for the forward strand, ``"-"`` for the reverse complement.

        Returns
        -------
        str
            ``end - start`` letters, case as in the file, N where the window runs past the
            chromosome's ends.

        Raises
        ------
        InputError
            An unknown chromosome (with a suggestion, e.g. ``chr1`` for ``1``), ``end < start`` or a
            strand other than ``+``, ``-`` or ``.``.
        """
        if chrom not in self.chroms:
            raise self._unknown(chrom)
        if end < start:
            raise InputError(f"end {end} < start {start}", file=self.path, record=chrom)
        if strand not in _STRANDS:
            raise InputError(f"strand must be +, - or ., got {strand!r}", file=self.path, record=chrom)
        size = self.chroms[chrom]
        lo, hi = max(start, 0), min(end, size)
        core = self._fasta[chrom][lo:hi] if hi > lo else ""
        left = min(lo - start, end - start)
        seq = "N" * left + core + "N" * (end - start - left - len(core))
        return reverse_complement(seq) if strand == "-" else seq

    def close(self) -> None:
        """Close the FASTA file."""
        self._fasta.close()

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _bed_error(path: str, line: int, message: str) -> InputError:
    return InputError(f"line {line}: {message}", file=path)


NARROWPEAK_EXTRA = ["signalValue", "pValue", "qValue", "peak"]
"""Names of a narrowPeak file's columns 7 to 10 (:attr:`BedInterval.extra`)."""


@dataclass(frozen=True)
class BedInterval:
    """One interval of a BED (or narrowPeak) file, as :func:`iter_bed` reads it.

    Attributes
    ----------
    line
        1-based line number in the file.
    chrom, start, end
        The interval, 0-based, half-open.
    name
        Column 4 (``"."`` when missing).
    score
        Column 5 as a number (missing or ``"."``: 0).
    strand
        Column 6 as written: ``+``, ``-`` or ``.`` (missing: ``.``).
    extra
        Columns 7 onwards, as text.
    summit
        narrowPeak only (exactly 10 columns): the summit offset from ``start`` (column 10), None when
        absent or -1.
    """

    line: int
    chrom: str
    start: int
    end: int
    name: str = "."
    score: float = 0.0
    strand: str = "."
    extra: tuple[str, ...] = ()
    summit: int | None = None

    @property
    def centre(self) -> int:
        """The base windows are centred on: ``start + summit`` (narrowPeak), else ``(start + end) // 2``."""
        return self.start + self.summit if self.summit is not None else (self.start + self.end) // 2

    def centred(self, width: int) -> tuple[int, int]:
        """The ``width``-long window ``[c - width // 2, c - width // 2 + width)`` around :attr:`centre`
        (it may reach past the contig ends)."""
        start = self.centre - width // 2
        return start, start + width


def _parse_bed_line(fields: list[str], path: str, line_no: int) -> BedInterval:
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
    strand = fields[5] if len(fields) > 5 else "."
    if strand not in _STRANDS:
        raise _bed_error(path, line_no, f"strand must be +, - or ., got {strand!r}")
    summit = None
    if len(fields) == 10:  # narrowPeak: column 10 is the summit offset (-1: none)
        text = fields[9]
        if not (text.isascii() and text.lstrip("-").isdigit()):
            raise _bed_error(path, line_no, f"narrowPeak summit (column 10) must be an integer, got {text!r}")
        summit = int(text) if int(text) >= 0 else None
        if summit is not None and start + summit >= end:
            message = f"narrowPeak summit offset {summit} is not inside the interval {start}-{end}"
            raise _bed_error(path, line_no, message)
    return BedInterval(line_no, fields[0], start, end, name, score, strand, tuple(fields[6:]), summit)


def iter_bed(path: str | os.PathLike) -> Iterator[BedInterval]:
    """Stream the intervals of a BED3+ (or narrowPeak) file, each checked as it is read.

    Header lines (``#``, ``track``, ``browser``) and blank lines are skipped.

    Parameters
    ----------
    path
        The BED file (tab-separated; 0-based, half-open coordinates); gzip-compressed when its name ends
        in ``.gz`` (as ENCODE ships peak files).

    Yields
    ------
    BedInterval
        One per interval, in file order, with its 1-based line number.

    Raises
    ------
    InputError
        As :func:`read_bed`; a narrowPeak line (10 columns) whose summit is not an integer inside the
        interval. Lines before a bad one have been yielded by then.
    """
    file = str(path)
    n = 0
    try:
        with gzip.open(path, "rt") if file.endswith(".gz") else open(path) as handle:
            for line_no, line in enumerate(handle, start=1):
                text = line.rstrip("\r\n")
                if not text.strip() or text.startswith(("#", "track", "browser")):
                    continue
                n += 1
                yield _parse_bed_line(text.split("\t"), file, line_no)
    except FileNotFoundError:
        raise InputError("no such file", file=file) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a BED file", file=file) from None
    except UnicodeDecodeError:
        raise InputError("not a BED text file (binary or non-UTF-8 content)", file=file) from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise InputError(f"not a complete gzip file ({exc})", file=file) from None
    if not n:
        raise InputError("no intervals in BED file", file=file)


def read_bed(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a BED3+ file.

    Header lines (``#``, ``track``, ``browser``) and blank lines are skipped. A missing name
    becomes ``"."``, a missing score 0 and a missing strand ``"+"`` (``"."`` also means ``"+"``
    here; :func:`iter_bed` keeps the strand as written).

    Parameters
    ----------
    path
        The BED file (tab-separated; 0-based, half-open coordinates).

    Returns
    -------
    pandas.DataFrame
        One row per interval, columns ``chrom, start, end, name, score, strand`` (:data:`BED_COLUMNS`;
        start and end int64, score float64). ``attrs["file"]`` holds the path, so that
        :func:`iter_bed_sequences` can name the file in its errors.

    Raises
    ------
    InputError
        A missing, binary or empty file (or a directory), or a bad line (fewer than 3 columns,
        coordinates that are not integers with ``0 <= start <= end``, a score that is not a number,
        a strand other than ``+``, ``-`` or ``.``), naming the file and line.
    """
    import pandas as pd

    rows = [[r.chrom, r.start, r.end, r.name, r.score, "-" if r.strand == "-" else "+"]
            for r in iter_bed(path)]
    df = pd.DataFrame(rows, columns=BED_COLUMNS)
    df.attrs["file"] = str(path)  # lets bed_sequences name the BED file in its errors
    return df.astype({"start": np.int64, "end": np.int64, "score": np.float64})


def bed_sequences(bed: pd.DataFrame, genome: Genome, width: int | None = None) -> list[tuple[str, str]]:
    """The sequence of every interval, as a list.

    Parameters
    ----------
    bed
        Intervals, as :func:`read_bed` returns them.
    genome
        The genome they refer to.
    width
        See :func:`iter_bed_sequences`.

    Returns
    -------
    list[tuple[str, str]]
        ``(id, sequence)`` per interval, as :func:`iter_bed_sequences` yields them.

    Raises
    ------
    InputError
        See :func:`iter_bed_sequences`.
    ConfigError
        ``width`` below 1.
    """
    return list(iter_bed_sequences(bed, genome, width))


def iter_bed_sequences(
    bed: pd.DataFrame, genome: Genome, width: int | None = None
) -> Iterator[tuple[str, str]]:
    """The sequence of every interval, streamed.

    Parameters
    ----------
    bed
        Intervals with columns ``chrom, start, end`` and optionally ``strand`` (missing: ``+``), as
        :func:`read_bed` returns them.
    genome
        The genome they refer to.
    width
        Fetch windows of this many bases centred on each interval: ``start = (start + end) // 2 -
        width // 2``. None: the intervals as given (lengths may then differ).

    Yields
    ------
    tuple[str, str]
        ``(id, sequence)``; the id is the fetched window ``chrom:start-end(strand)`` (0-based,
        half-open), the sequence N-padded past chromosome ends and reverse-complemented on ``-``.

    Raises
    ------
    InputError
        An interval the genome cannot give (unknown chromosome, bad strand), naming the BED file
        (when ``bed`` came from :func:`read_bed`) and the interval.
    ConfigError
        ``width`` below 1.
    """
    if width is not None and width < 1:
        raise ConfigError(f"width must be >= 1, got {width}")
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
