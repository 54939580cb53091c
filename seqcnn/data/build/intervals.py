"""Sets of genomic intervals for fast "does this window touch any of them?" questions.

An :class:`IntervalSet` holds, per chromosome, sorted and merged (disjoint) half-open intervals, so
one :func:`numpy.searchsorted` call answers the overlap question for a whole array of windows. We
write this small structure ourselves rather than use an interval tree (pybedtools, ncls): the
windows come as numpy arrays, and a sorted-array search is vectorised, exact and dependency-free.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from seqcnn.seq.genome import iter_bed


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge overlapping or touching half-open intervals.

    Parameters
    ----------
    starts, ends
        ``(K,)`` int64 coordinates, in any order, ``start <= end``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(starts, ends)`` of the disjoint, sorted union (empty intervals dropped).
    """
    keep = ends > starts
    starts, ends = np.asarray(starts, np.int64)[keep], np.asarray(ends, np.int64)[keep]
    if not len(starts):
        return starts, ends
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    # a new merged interval begins where the start lies past everything before it
    first = np.ones(len(starts), dtype=bool)
    first[1:] = starts[1:] > reach[:-1]
    group_starts = starts[first]
    group_ends = reach[np.append(np.flatnonzero(first)[1:] - 1, len(starts) - 1)]
    return group_starts, group_ends


class IntervalSet:
    """Disjoint half-open intervals per chromosome, for vectorised overlap tests.

    Parameters
    ----------
    intervals
        ``{chrom: (starts, ends)}``; they are merged on construction.
    """

    def __init__(self, intervals: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        self._by_chrom: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for chrom, (starts, ends) in (intervals or {}).items():
            self._by_chrom[chrom] = merge_intervals(starts, ends)

    @classmethod
    def from_arrays(cls, chroms: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> IntervalSet:
        """Group parallel arrays of intervals by chromosome.

        Parameters
        ----------
        chroms
            ``(K,)`` chromosome names.
        starts, ends
            ``(K,)`` int64 coordinates.

        Returns
        -------
        IntervalSet
            Their union.
        """
        chroms = np.asarray(chroms)
        return cls({str(c): (starts[chroms == c], ends[chroms == c]) for c in np.unique(chroms)})

    @classmethod
    def from_bed(cls, path: str | os.PathLike) -> IntervalSet:
        """The intervals of a BED3+ file (checked line by line by :func:`~seqcnn.seq.genome.iter_bed`).

        Parameters
        ----------
        path
            The BED file (e.g. a blacklist).

        Returns
        -------
        IntervalSet
            Their union.
        """
        chroms, starts, ends = [], [], []
        for record in iter_bed(path):
            chroms.append(record.chrom)
            starts.append(record.start)
            ends.append(record.end)
        return cls.from_arrays(np.asarray(chroms), np.asarray(starts, np.int64), np.asarray(ends, np.int64))

    def union(self, others: Iterable[IntervalSet]) -> IntervalSet:
        """This set joined with others.

        Parameters
        ----------
        others
            More interval sets.

        Returns
        -------
        IntervalSet
            A new set holding every interval of all of them.
        """
        parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for one in (self, *others):
            for chrom, pair in one._by_chrom.items():
                parts.setdefault(chrom, []).append(pair)
        return IntervalSet({c: (np.concatenate([p[0] for p in ps]), np.concatenate([p[1] for p in ps]))
                            for c, ps in parts.items()})

    def overlaps(self, chrom: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Which windows ``[start, end)`` on ``chrom`` share at least one base with the set.

        Parameters
        ----------
        chrom
            Chromosome name.
        starts, ends
            ``(W,)`` int64 window coordinates.

        Returns
        -------
        numpy.ndarray
            ``(W,)`` bool.
        """
        starts = np.asarray(starts, np.int64)
        if chrom not in self._by_chrom:
            return np.zeros(len(starts), dtype=bool)
        set_starts, set_ends = self._by_chrom[chrom]
        # the last interval starting before the window ends; intervals are disjoint and sorted, so
        # their ends are sorted too and that interval is the only one that can reach into the window
        last = np.searchsorted(set_starts, np.asarray(ends, np.int64), side="left") - 1
        hit = last >= 0
        hit[hit] = set_ends[last[hit]] > starts[hit]
        return hit

    def chroms(self) -> list[str]:
        """Chromosomes with at least one interval."""
        return [c for c, (s, _) in self._by_chrom.items() if len(s)]

    def total_bases(self) -> int:
        """Bases covered."""
        return int(sum((e - s).sum() for s, e in self._by_chrom.values()))


__all__ = ["IntervalSet", "merge_intervals"]
