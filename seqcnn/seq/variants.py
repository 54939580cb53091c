"""VCF records -> ref/alt sequence windows centred on the variant.

Why our own reader instead of pysam/cyvcf2: neither is a dependency, we need only the first five
columns, and a plain streaming line parser lets every bad line be reported by file and line
(``x.vcf:line 12: POS must be a positive integer``). Reads plain, bgzip/gzip and ``-`` (stdin).

Windows: the allele (REF for the reference window, ALT for the alternative one) sits in the middle
of a ``width``-long window, flanked by genome sequence: ``left = (width - len(allele)) // 2`` bases
before the variant and the rest after the REF span. SNVs and indels therefore keep the same
length. The reference window uses the VCF's REF allele; whether it agrees with the genome is
reported separately (``ref_match``) and never an error.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from seqcnn.errors import ConfigError, InputError

_BASES = re.compile(r"^[ACGTNacgtn]+$")
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Variant:
    """One REF -> ALT change, as in a VCF record (one ALT allele).

    Parameters
    ----------
    chrom
        Chromosome name.
    pos
        1-based position of the first REF base, as in the VCF (0-based start: ``pos - 1``).
    id
        The VCF ID column (``"."`` when there is none).
    ref
        The reference allele (letters ACGTN, either case).
    alt
        The alternative allele (letters ACGTN, either case).
    line
        The VCF line number it was read from (None for a variant made in code); named in errors and
        rejects, not compared.
    text
        That VCF line as written (None for a variant made in code), for a rejects file; not compared.
    """

    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    line: int | None = field(default=None, compare=False, repr=False)
    text: str | None = field(default=None, compare=False, repr=False)

    @property
    def where(self) -> str | None:
        """``line N`` for a variant read from a file, else its ID (None when it has none)."""
        if self.line is not None:
            return f"line {self.line}"
        return self.id if self.id != "." else None


@dataclass
class VcfStats:
    """Counts filled in while :func:`read_vcf` reads a VCF.

    Parameters
    ----------
    n_records
        Variant records read (lines, before splitting multi-allelic records).
    n_split
        Extra ALT alleles split off multi-allelic records.
    skipped
        ``label:alt`` of each skipped (symbolic, breakend, ``*`` or ``.``) ALT allele, the label being
        the record's ID or ``chrom:pos``.
    invalid
        Records left out with ``skip_invalid``, counted by reason (one of :data:`REJECT_REASONS`).
    header
        The VCF's ``#CHROM`` header line (None until it is read).
    on_reject
        Called as ``on_reject(text, reason)`` for each record left out with ``skip_invalid``:
        ``text`` is the VCF line as written (None for a variant made in code), ``reason`` a
        one-line description (e.g. ``bad REF 'M'``).
    """

    n_records: int = 0
    n_split: int = 0
    skipped: list[str] = field(default_factory=list)
    invalid: dict[str, int] = field(default_factory=dict)
    header: str | None = None
    on_reject: Callable[[str | None, str], None] | None = None
    _last_rejected: int | None = field(default=None, init=False, repr=False, compare=False)

    def reject(self, kind: str, detail: str, line: int | None = None, text: str | None = None) -> None:
        """Count one record left out (once per VCF line, however many ALT alleles it has).

        Parameters
        ----------
        kind
            The reason's kind, one of :data:`REJECT_REASONS`.
        detail
            The reason in full, for the rejects file.
        line
            The VCF line number (None for a variant made in code: counted every time).
        text
            The VCF line as written.
        """
        if line is not None and line == self._last_rejected:
            return
        self._last_rejected = line
        self.invalid[kind] = self.invalid.get(kind, 0) + 1
        if self.on_reject is not None:
            self.on_reject(text, detail)

    @property
    def n_invalid(self) -> int:
        """Records left out with ``skip_invalid``."""
        return sum(self.invalid.values())

    def invalid_summary(self) -> str | None:
        """One line counting the records left out by reason (None when none was).

        Returns
        -------
        str or None
            E.g. ``skipped 3 invalid VCF record(s): 2 bad REF, 1 past contig end``.
        """
        if not self.invalid:
            return None
        parts = ", ".join(f"{n} {kind}" for kind, n in self.invalid.items())
        return f"skipped {self.n_invalid} invalid VCF record(s): {parts}"


REJECT_REASONS = ("bad REF", "bad ALT", "past contig end", "unknown contig")
"""Kinds of records ``skip_invalid`` leaves out (:attr:`VcfStats.invalid`)."""


def _open_text(path: str | os.PathLike) -> io.TextIOBase:
    name = str(path)
    if name == "-":
        raw: Any = sys.stdin.buffer
    else:
        try:
            raw = open(name, "rb")  # noqa: SIM115 - wrapped and closed by the caller
        except (FileNotFoundError, IsADirectoryError):
            raise InputError("no such VCF file", file=name) from None
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        buffered = gzip.GzipFile(fileobj=buffered, mode="rb")
    return io.TextIOWrapper(buffered, encoding="utf-8", errors="replace", newline=None)


def _lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    name = str(path)
    handle = _open_text(path)
    try:
        for number, line in enumerate(handle, 1):
            yield number, line.rstrip("\n")
    except EOFError:
        raise InputError("truncated gzip file", file=name) from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise InputError(f"corrupt gzip file ({exc})", file=name) from None
    finally:
        if name != "-":
            handle.close()


def read_vcf(path: str | os.PathLike, stats: VcfStats | None = None, *,
             skip_invalid: bool = False) -> Iterator[Variant]:
    """Stream the variants of a VCF file, one per ALT allele (multi-allelic records are split).

    Symbolic (``<DEL>``), breakend, ``*`` and ``.`` ALT alleles are skipped and listed in
    ``stats.skipped``. Only the first five columns are read.

    Parameters
    ----------
    path
        A plain, gzip or bgzip VCF file, or ``"-"`` for standard input.
    stats
        Counts to fill in while reading (see :class:`VcfStats`).
    skip_invalid
        Leave out records whose REF is not bases (e.g. ``M``, ``*``, ``.``) or with an ALT allele
        that is neither bases nor symbolic/missing, counting them in ``stats.invalid`` (and passing
        them to ``stats.on_reject``) instead of raising. Structural faults (too few columns, a bad
        POS, no header) stay errors.

    Yields
    ------
    Variant
        One per ALT allele, in file order.

    Raises
    ------
    InputError
        A missing, empty, truncated or corrupt file, no variant records, a missing ``#CHROM``
        header, too few columns, a bad POS, or REF/ALT letters outside ACGTN (without
        ``skip_invalid``), naming the file and line.
    """
    name = str(path)
    stats = stats if stats is not None else VcfStats()
    header_seen = False
    for number, line in _lines(path):
        if line.startswith("##") or not line.strip():
            continue
        if line.startswith("#"):
            header_seen = True
            stats.header = line
            continue
        if not header_seen:
            raise InputError("no '#CHROM' header line before the first record", file=name,
                             record=f"line {number}")
        stats.n_records += 1
        yield from _parse_record(line, name, number, stats, skip_invalid)
    if not header_seen:
        raise InputError("empty VCF file (no '#CHROM' header)", file=name)
    if stats.n_records == 0:
        raise InputError("VCF file has no variant records", file=name)


def _parse_record(line: str, name: str, number: int, stats: VcfStats,
                  skip_invalid: bool = False) -> Iterator[Variant]:
    where = {"file": name, "record": f"line {number}"}
    cols = line.split("\t")
    if len(cols) < 5:
        raise InputError(f"expected at least 5 tab-separated columns, found {len(cols)}", **where)
    chrom, pos_text, vid, ref, alts = cols[:5]
    if not (pos_text.isascii() and pos_text.isdigit()) or int(pos_text) < 1:
        raise InputError(f"POS must be a positive integer, got {pos_text!r}", **where)
    if not _BASES.match(ref):
        if skip_invalid:
            stats.reject("bad REF", f"bad REF {ref!r} (not bases ACGTN)", number, line)
            return
        raise InputError(f"REF must be bases ACGTN, got {ref!r}", **where)
    label = vid if vid != "." else f"{chrom}:{pos_text}"
    alleles = alts.split(",")
    symbolic = [a in (".", "*") or a.startswith("<") or "[" in a or "]" in a for a in alleles]
    for alt, skip in zip(alleles, symbolic, strict=True):
        if not skip and not _BASES.match(alt):
            if skip_invalid:
                stats.reject("bad ALT", f"bad ALT {alt!r} (not bases ACGTN or symbolic)", number, line)
                return
            raise InputError(f"ALT must be bases ACGTN (or symbolic), got {alt!r}", **where)
    stats.n_split += len(alleles) - 1
    for alt, skip in zip(alleles, symbolic, strict=True):
        if skip:
            stats.skipped.append(f"{label}:{alt}")
            continue
        yield Variant(chrom, int(pos_text), vid, ref, alt, number, line)


def chrom_length(genome: Any, chrom: str) -> int:
    """The length of a chromosome.

    Parameters
    ----------
    genome
        A :class:`seqcnn.seq.genome.Genome` (or any object with its ``chroms`` and ``fetch``).
    chrom
        Chromosome name.

    Returns
    -------
    int
        Its length in bases.

    Raises
    ------
    InputError
        An unknown chromosome (naming the genome, with a suggestion).
    """
    if chrom not in genome.chroms:
        genome.fetch(chrom, 0, 0)  # raises InputError naming the genome, with a suggestion
    return int(genome.chroms[chrom])


def variant_windows(variant: Variant, genome: Any, width: int, *, file: str | None = None,
                    length: int | None = None) -> tuple[str, str, bool]:
    """The reference and alternative windows of a variant, each centred on its allele.

    Parameters
    ----------
    variant
        The variant.
    genome
        The genome it refers to (a :class:`seqcnn.seq.genome.Genome`).
    width
        Length of both windows; alleles longer than ``width`` are cropped to their centre.
    file
        The VCF file, named in errors.
    length
        The chromosome's length (looked up when None).

    Returns
    -------
    tuple[str, str, bool]
        ``(ref window, alt window, ref_match)``: two sequences of ``width`` letters (N-padded past
        the chromosome's ends) and whether the genome's bases under REF equal REF (any case).

    Raises
    ------
    InputError
        An unknown chromosome, or a variant past the chromosome's end.
    ConfigError
        ``width`` below 1.
    """
    if width < 1:
        raise ConfigError(f"width must be >= 1, got {width}")
    start = variant.pos - 1
    length = chrom_length(genome, variant.chrom) if length is None else length
    if start + len(variant.ref) > length:
        raise InputError(past_end_message(variant, length), file=file, record=variant.where)
    alleles = (variant.ref, variant.alt)
    lefts = [(width - min(len(a), width)) // 2 for a in alleles]
    rights = [width - min(len(a), width) - left for a, left in zip(alleles, lefts, strict=True)]
    lo, hi = start - max(lefts), start + len(variant.ref) + max(rights)
    region = _fetch(genome, variant.chrom, lo, hi)
    genome_ref = region[start - lo : start - lo + len(variant.ref)]
    windows = []
    for allele, left, right in zip(alleles, lefts, rights, strict=True):
        core = allele if len(allele) <= width else allele[(len(allele) - width) // 2 :][:width]
        before = region[start - lo - left : start - lo]
        after_start = start - lo + len(variant.ref)
        windows.append(before + core + region[after_start : after_start + right])
    return windows[0], windows[1], genome_ref.upper() == variant.ref.upper()


def past_end_message(variant: Variant, length: int) -> str:
    """The message for a variant whose REF runs past its chromosome's end.

    Parameters
    ----------
    variant
        The variant.
    length
        Its chromosome's length.

    Returns
    -------
    str
        E.g. ``chr1:35001 is past the end of chr1 (length 30000)``.
    """
    return f"{variant.chrom}:{variant.pos} is past the end of {variant.chrom} (length {length})"


def _fetch(genome: Any, chrom: str, start: int, end: int) -> str:
    """Genome sequence of ``[start, end)``, N-padded where it runs off the chromosome's start."""
    pad = max(0, -start)
    return "N" * pad + genome.fetch(chrom, max(start, 0), end)
