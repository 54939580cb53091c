"""BED intervals checked against a genome, for scoring and for tracks.

:func:`checked_intervals` streams the intervals of a BED (or narrowPeak) file that lie inside a genome
(refusing or counting the others), :func:`track_intervals` sorts them into the genome's contig order
and refuses overlaps (a track holds one value per base), and :func:`interval_windows` gives the genome
windows scored for an interval.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from seqcnn.errors import InputError
from seqcnn.score.stream import ScoreStats
from seqcnn.seq.windows import window_starts

if TYPE_CHECKING:
    from seqcnn.seq.genome import BedInterval, Genome


def checked_intervals(bed_path: str, genome: Genome, stats: ScoreStats, *,
                      skip_invalid: bool = False) -> Iterator[BedInterval]:
    """The intervals of a BED file that lie inside the genome, in file order.

    Parameters
    ----------
    bed_path
        BED (or narrowPeak) file.
    genome
        The genome.
    stats
        Counts the intervals skipped, by reason.
    skip_invalid
        Skip (and count) intervals on unknown contigs, past a contig's end or of length 0 instead of
        raising.

    Yields
    ------
    BedInterval
        Each usable interval.

    Raises
    ------
    InputError
        Such an interval (without ``skip_invalid``), or a line with another number of columns than
        the first, naming the file and line.
    """
    from seqcnn.seq.genome import iter_bed

    n_extra = None
    for interval in iter_bed(bed_path):
        if n_extra is None:
            n_extra = len(interval.extra)
        elif len(interval.extra) != n_extra:
            raise InputError(f"line {interval.line}: {6 + len(interval.extra)} columns where the first "
                             f"interval has {6 + n_extra}", file=bed_path)
        problem = genome.interval_problem(interval.chrom, interval.start, interval.end)
        if problem is None and interval.start == interval.end:
            problem = ("empty interval", f"empty interval {interval.chrom}:{interval.start}-{interval.end} "
                                         "(start == end): nothing to score")
        if problem is not None:
            reason, message = problem
            if not skip_invalid:
                raise InputError(f"line {interval.line}: {message}", file=bed_path)
            stats.skip(reason, f"line {interval.line}")
            continue
        yield interval


def track_intervals(bed_path: str, genome: Genome, stats: ScoreStats, *,
                    skip_invalid: bool = False) -> list[BedInterval]:
    """The usable intervals (:func:`checked_intervals`) in the genome's contig order, by start.

    Raises
    ------
    InputError
        As :func:`checked_intervals`; two intervals that overlap, naming both lines (a track holds
        one value per base).
    """
    order = {chrom: i for i, chrom in enumerate(genome.chroms)}
    ranked = sorted(checked_intervals(bed_path, genome, stats, skip_invalid=skip_invalid),
                    key=lambda r: (order[r.chrom], r.start, r.end))
    for before, after in zip(ranked, ranked[1:], strict=False):
        if before.chrom == after.chrom and after.start < before.end:
            raise InputError(f"line {after.line}: interval {after.chrom}:{after.start}-{after.end} overlaps "
                             f"line {before.line} ({before.chrom}:{before.start}-{before.end}); a track "
                             "holds one value per base: merge overlapping intervals first (bedtools merge)",
                             file=bed_path)
    return ranked


def interval_windows(interval: BedInterval, length: int | None, minimum: int, window: int | None,
                     step: int | None) -> list[tuple[int, int]]:
    """The genome windows scored for one interval (0-based, half-open; they may reach past the contig).

    Parameters
    ----------
    interval
        The BED interval.
    length
        The length every window is scored at (None: the interval as given).
    minimum
        The model's receptive field: shorter intervals are widened around their centre.
    window, step
        Scan the interval with windows (:func:`seqcnn.seq.windows.window_starts`, in genome
        coordinates); an interval no longer than ``window`` gets the one centred window.

    Returns
    -------
    list[tuple[int, int]]
        The windows, in order.
    """
    span = interval.end - interval.start
    if window is not None and step is not None:
        if span <= window:
            return [interval.centred(window)]
        starts = window_starts(span, window, step) + interval.start
        return [(s, s + window) for s in starts.tolist()]
    if length is not None:
        return [interval.centred(length)]
    if span < minimum:
        return [interval.centred(minimum)]
    return [(interval.start, interval.end)]


__all__ = ["checked_intervals", "interval_windows", "track_intervals"]
