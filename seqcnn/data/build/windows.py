"""Positive windows from peak files, their multi-task labels, and the chromosome split.

Every peak gives a window of ``length`` bp centred on its summit (narrowPeak) or midpoint; windows
at the same position (peaks of several files) are kept once. Peaks whose window touches the blacklist
are dropped (and counted). A window is positive for every task (peak file) with a peak overlapping
its central ``label_width`` bases (DeepSEA-style multi-task labels); with ``single_task`` there is one
task, positive for any file.

Splits are by chromosome, never random: windows on ``valid_chroms`` form the validation split, on
``test_chroms`` the test split, the rest train. Overlapping windows therefore always share a split.
The defaults follow DeepSEA (Zhou & Troyanskaya 2015): chr7 for validation, chr8 and chr9 held out for
testing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seqcnn.data.build.intervals import IntervalSet
from seqcnn.data.build.peaks import PeakTable, Source, file_line, read_peaks
from seqcnn.errors import ConfigError, InputError
from seqcnn.seq.genome import Genome

DEFAULT_VALID_CHROMS = ("chr7",)
DEFAULT_TEST_CHROMS = ("chr8", "chr9")
SPLIT_NAMES = ("train", "valid", "test")


@dataclass
class PositiveWindows:
    """Positive windows sorted by genome position, with their labels.

    Attributes
    ----------
    chrom, start
        ``(W,)`` chromosome names and window starts (windows are ``length`` long; they may reach past
        a contig end, where the sequence is N).
    labels
        ``(W, T)`` int8, 1 where task t has a peak in the window's central bases.
    tasks
        Task names.
    peaks
        Per task: peaks read, dropped for the blacklist, kept.
    first_use
        Chromosome -> the first peak line that needs it (``FILE line N``), for messages.
    exclusion
        Every peak read (blacklisted ones too), as intervals, for keeping negatives away.
    """

    chrom: np.ndarray
    start: np.ndarray
    labels: np.ndarray
    tasks: list[str]
    peaks: dict[str, dict[str, int]] = field(default_factory=dict)
    first_use: dict[str, str] = field(default_factory=dict)
    exclusion: list[PeakTable] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.start)


def _drop_blacklisted(table: PeakTable, length: int, blacklist: IntervalSet | None) -> PeakTable:
    if blacklist is None or not len(table):
        return table
    starts = table.centre - length // 2
    hit = np.zeros(len(table), dtype=bool)
    for chrom in np.unique(table.chrom):
        on = table.chrom == chrom
        hit[on] = blacklist.overlaps(str(chrom), starts[on], starts[on] + length)
    if hit.all():
        raise InputError(f"all {len(table)} peaks have windows ({length} bp) overlapping the blacklist; "
                         "nothing is left to learn from", file=table.source.path)
    return table.subset(~hit)


def positive_windows(sources: list[Source], genome: Genome, *, length: int, label_width: int,
                     blacklist: IntervalSet | None = None, single_task: bool = False) -> PositiveWindows:
    """Read every peak file and make the labelled positive windows.

    Parameters
    ----------
    sources
        Peak files with their task names.
    genome
        The genome they refer to.
    length
        Window length.
    label_width
        Width of the central region a peak must overlap for a positive label.
    blacklist
        Windows touching these intervals are dropped.
    single_task
        One task positive for any file, instead of one task per file.

    Returns
    -------
    PositiveWindows
        The windows.

    Raises
    ------
    InputError
        A bad peak file (see :func:`~seqcnn.data.build.peaks.read_peaks`), or one whose every window
        touches the blacklist.
    """
    tables, stats, first_use = [], {}, {}
    for source in sources:
        read = read_peaks(source, genome)
        kept = _drop_blacklisted(read, length, blacklist)
        tables.append((read, kept))
        stats[source.name] = {"peaks": len(read), "blacklisted": len(read) - len(kept), "kept": len(kept)}
        for chrom in dict.fromkeys(kept.chrom.tolist()):  # each chromosome's first peak, in file order
            first_use.setdefault(str(chrom), file_line(kept, int(np.flatnonzero(kept.chrom == chrom)[0])))
    rank = {c: i for i, c in enumerate(genome.chroms)}
    chrom = np.concatenate([k.chrom for _, k in tables])
    start = np.concatenate([k.centre for _, k in tables]) - length // 2
    order_key = np.asarray([rank[c] for c in chrom], dtype=np.int64)
    order = np.lexsort((start, order_key))
    chrom, start, order_key = chrom[order], start[order], order_key[order]
    first = np.ones(len(start), dtype=bool)
    first[1:] = (start[1:] != start[:-1]) | (order_key[1:] != order_key[:-1])
    chrom, start = chrom[first], start[first]
    tasks = ["peak" if len(sources) > 1 else sources[0].name] if single_task else [s.name for s in sources]
    centre_lo = start + (length - min(label_width, length)) // 2
    centre_hi = centre_lo + min(label_width, length)
    labels = np.zeros((len(start), len(sources)), dtype=np.int8)
    for t, (_, kept) in enumerate(tables):
        peaks = IntervalSet.from_arrays(kept.chrom, kept.start, kept.end)
        for c in np.unique(chrom):
            on = chrom == c
            labels[on, t] = peaks.overlaps(str(c), centre_lo[on], centre_hi[on])
    if single_task:
        labels = labels.max(axis=1, keepdims=True)
    return PositiveWindows(chrom, start, labels, tasks, stats, first_use, [r for r, _ in tables])


def exclusion_set(positives: PositiveWindows, length: int, flank: int) -> IntervalSet:
    """Where negatives may not be: every peak plus ``flank`` on each side, and every positive window.

    Parameters
    ----------
    positives
        The positive windows (with every peak read).
    length
        Window length.
    flank
        Bases added on each side of each peak.

    Returns
    -------
    IntervalSet
        The excluded intervals.
    """
    chroms = [positives.chrom] + [t.chrom for t in positives.exclusion]
    starts = [positives.start] + [t.start - flank for t in positives.exclusion]
    ends = [positives.start + length] + [t.end + flank for t in positives.exclusion]
    return IntervalSet.from_arrays(np.concatenate(chroms), np.concatenate(starts), np.concatenate(ends))


def split_of(chroms: np.ndarray, valid_chroms: list[str], test_chroms: list[str], *,
             check: bool = True) -> np.ndarray:
    """The split of each window by its chromosome.

    Parameters
    ----------
    chroms
        ``(W,)`` chromosome names.
    valid_chroms, test_chroms
        Chromosomes of the validation and test splits (disjoint).
    check
        Refuse a split left empty.

    Returns
    -------
    numpy.ndarray
        ``(W,)`` split names (``train``, ``valid``, ``test``).

    Raises
    ------
    ConfigError
        A chromosome in both lists, or a split left empty (naming the chromosomes the windows are on).
    """
    both = sorted(set(valid_chroms) & set(test_chroms))
    if both:
        raise ConfigError(f"chromosome(s) {', '.join(both)} given for both validation and test")
    split = np.full(len(chroms), "train", dtype=object)
    split[np.isin(chroms, list(valid_chroms))] = "valid"
    split[np.isin(chroms, list(test_chroms))] = "test"
    for name, option, wanted in (("valid", "--valid-chroms", valid_chroms),
                                 ("test", "--test-chroms", test_chroms), ("train", None, None)):
        if check and not (split == name).any():
            hint = _empty_split_hint(chroms, option, wanted)
            raise ConfigError(f"no window falls in the {name} split; {hint}")
    return split


def _empty_split_hint(chroms: np.ndarray, option: str | None, wanted: list[str] | None) -> str:
    if option is None:
        return "hold out fewer chromosomes for validation and test"
    present = sorted(set(np.asarray(chroms, dtype=str).tolist()))
    shown = ", ".join(present[:12]) + (" ..." if len(present) > 12 else "")
    given = ", ".join(wanted) if wanted else "none"
    return f"its chromosomes are {given}, the windows are on {shown}: pass {option}"


__all__ = ["DEFAULT_TEST_CHROMS", "DEFAULT_VALID_CHROMS", "PositiveWindows", "exclusion_set",
           "positive_windows", "split_of"]
