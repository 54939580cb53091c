"""Peak files (BED3+, narrowPeak, broadPeak) and peak FASTA files, read and checked against a genome.

A peak file gives one task. Each peak is checked as it is read; a bad one stops the build with one
:class:`~seqcnn.errors.InputError` naming the file, the line and the value: an end that is not after
the start, a chromosome the genome lacks (with the closest names, e.g. ``17`` vs ``chr17``), an
interval past the contig end, a narrowPeak summit outside its peak, an empty file. Windows are centred
on the summit for narrowPeak (10 columns, column 10 the summit offset) and on the midpoint otherwise.

A peak FASTA (``--positives-fasta``) holds sequences already cut around the peaks; the record ids must
be ``chrom:start-end`` (as ``bedtools getfasta`` and ``samtools faidx`` write them) so that the
chromosome split can place each record.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqcnn.errors import ConfigError, InputError
from seqcnn.seq.fasta import read_fasta
from seqcnn.seq.genome import Genome, iter_bed

_COORD_ID = re.compile(r"^(?P<chrom>[^:\s]+):(?P<start>\d+)-(?P<end>\d+)(\([+.-]\))?$")


@dataclass(frozen=True)
class Source:
    """A file given on the command line as ``FILE[:NAME]``.

    Attributes
    ----------
    path
        The file.
    name
        The task or track name: NAME, else the file name without its last extension (and ``.gz``).
    """

    path: str
    name: str


def parse_source(spec: str, what: str) -> Source:
    """Split ``FILE[:NAME]`` (the whole text is the file when it names an existing file).

    Parameters
    ----------
    spec
        The option value.
    what
        What the option names, for error messages (``"--peaks"``).

    Returns
    -------
    Source
        The file and its name.

    Raises
    ------
    ConfigError
        An empty file or name.
    """
    path, name = spec, None
    if ":" in spec and not Path(spec).exists():
        path, name = spec.rsplit(":", 1)
    if not path or name == "":
        raise ConfigError(f"{what}: expected FILE[:NAME], got {spec!r}")
    if name is None:
        base = Path(path).name
        base = base[:-3] if base.endswith(".gz") else base
        name = base.rsplit(".", 1)[0] if "." in base else base
    return Source(path, name)


def unique_names(sources: list[Source], what: str) -> None:
    """Refuse two sources with the same name (they would be one column twice).

    Raises
    ------
    ConfigError
        A repeated name, naming it.
    """
    seen: set[str] = set()
    for source in sources:
        if source.name in seen:
            raise ConfigError(f"{what}: two files are named {source.name!r}; give names as FILE:NAME")
        seen.add(source.name)


@dataclass
class PeakTable:
    """The peaks of one file, as parallel arrays.

    Attributes
    ----------
    source
        The file and its task name.
    chrom, start, end, centre, line
        ``(K,)`` arrays: chromosome names, 0-based half-open coordinates, the base windows are
        centred on (summit or midpoint) and the 1-based line number in the file.
    """

    source: Source
    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    centre: np.ndarray
    line: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    def subset(self, keep: np.ndarray) -> PeakTable:
        """The peaks where ``keep`` (bool ``(K,)``) is true."""
        return PeakTable(self.source, self.chrom[keep], self.start[keep], self.end[keep], self.centre[keep],
                         self.line[keep])


def read_peaks(source: Source, genome: Genome) -> PeakTable:
    """Read and check one peak file against the genome.

    Parameters
    ----------
    source
        The peak file (BED3+, narrowPeak or broadPeak; ``#``, ``track`` and ``browser`` lines skipped).
    genome
        The genome the peaks were called on.

    Returns
    -------
    PeakTable
        Every peak, in file order.

    Raises
    ------
    InputError
        A missing or empty file or a bad peak, naming the file, the line and the value.
    """
    chroms: list[str] = []
    rows: list[tuple[int, int, int, int]] = []
    for peak in iter_bed(source.path):
        where = f"line {peak.line}: "
        if peak.end <= peak.start:
            raise InputError(f"{where}peak end {peak.end} is not after its start {peak.start}",
                             file=source.path)
        problem = genome.interval_problem(peak.chrom, peak.start, peak.end)
        if problem is not None:
            raise InputError(where + problem[1].replace(" in the genome", f" in the genome {genome.path}"),
                             file=source.path)
        chroms.append(peak.chrom)
        rows.append((peak.start, peak.end, peak.centre, peak.line))
    table = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    return PeakTable(source, np.asarray(chroms, dtype=object), *table.T)


@dataclass
class FastaPositives:
    """The records of a peak FASTA, with the coordinates their ids give.

    Attributes
    ----------
    source
        The FASTA file and its task name.
    ids, sequences
        Record ids and sequences, in file order.
    chrom, start, end
        ``(K,)`` coordinates parsed from the ids.
    """

    source: Source
    ids: list[str]
    sequences: list[str]
    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray


def read_fasta_positives(source: Source, length: int | None) -> FastaPositives:
    """Read a FASTA of peak sequences whose ids are ``chrom:start-end``.

    Parameters
    ----------
    source
        The FASTA file and its task name.
    length
        Crop or N-pad every record to this length around its centre (None: all records must have
        one length).

    Returns
    -------
    FastaPositives
        Records with their coordinates.

    Raises
    ------
    InputError
        A missing or empty file, an id that is not ``chrom:start-end``, a repeated id, or (``length``
        None) records of different lengths, naming the file and the record.
    """
    from seqcnn.seq.encode import pad_or_crop

    if not Path(source.path).is_file():
        raise InputError("no such FASTA file", file=source.path)
    ids, seqs, coords = [], [], []
    seen: set[str] = set()
    for rid, seq in read_fasta(source.path):
        match = _COORD_ID.match(rid)
        if match is None:
            raise InputError("record id is not chrom:start-end, which the chromosome split needs "
                             f"(got {rid!r})", file=source.path, record=rid)
        if rid in seen:
            raise InputError(f"record id {rid!r} appears twice", file=source.path, record=rid)
        seen.add(rid)
        if length is None and seqs and len(seq) != len(seqs[0]):
            raise InputError(f"record is {len(seq)} bp, the first record {len(seqs[0])} bp; pass --length "
                             "to crop or pad them to one length", file=source.path, record=rid)
        ids.append(rid)
        seqs.append(seq if length is None else pad_or_crop(seq, length))
        coords.append((match["chrom"], int(match["start"]), int(match["end"])))
    if not ids:
        raise InputError("no records in FASTA file", file=source.path)
    chrom, start, end = zip(*coords, strict=True)
    return FastaPositives(source, ids, seqs, np.asarray(chrom, dtype=object), np.asarray(start, np.int64),
                          np.asarray(end, np.int64))


def file_line(table: PeakTable, index: int) -> str:
    """``FILE line N`` of peak ``index``, for messages about that peak."""
    return f"{table.source.path} line {int(table.line[index])}"


def check_path(path: str | os.PathLike, what: str) -> None:
    """Refuse a path that is not a file before any work starts.

    Raises
    ------
    InputError
        The path is missing or a directory.
    """
    if not Path(path).is_file():
        raise InputError(f"no such {what} file", file=str(path))


__all__ = ["FastaPositives", "PeakTable", "Source", "check_path", "file_line", "parse_source",
           "read_fasta_positives", "read_peaks", "unique_names"]
