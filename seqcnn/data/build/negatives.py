"""Negative windows: GC-matched genome windows, or k-mer preserving shuffles of the positives.

GC-matched (as chrombpnet's ``prep nonpeaks`` and gReLU's matched intervals do it): the genome is cut
into a grid of non-overlapping candidate windows (one pass, chunk by chunk through pyfaidx; GC and
ACGT counts of every window from cumulative sums over the chunk, so the whole genome is never in
memory). A candidate qualifies when it touches no excluded interval (peaks plus a flank, positive
windows, the blacklist) and has at most a set fraction of bases that are not A, C, G or T. Its GC
fraction (G + C over A + C + G + T) falls in one of ``gc_bins`` equal bins on [0, 1]; each bin is asked
for ``ratio`` times as many negatives as it holds positives, drawn uniformly among its candidates
(seeded random keys: the same seed and inputs give the same windows). A bin with too few candidates
takes the missing windows from its nearest bins; more negatives than qualify is an error.

The plain reference first: :func:`gc_fraction` computes one window's GC from its text; the genome
scan (:func:`window_counts`) must agree with it (tests/data/test_build_negatives.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from seqcnn.data.build.intervals import IntervalSet
from seqcnn.errors import InputError
from seqcnn.progress import progress_bar
from seqcnn.seq.genome import Genome
from seqcnn.seq.shuffle import kmer_shuffle

SCAN_CHUNK = 1 << 22  # bases read from the genome at a time (4 Mb: ~60 MB of working arrays)
_GC = np.zeros(256, dtype=np.uint8)
_GC[list(b"GCgc")] = 1
_ACGT = np.zeros(256, dtype=np.uint8)
_ACGT[list(b"ACGTacgt")] = 1


def gc_fraction(seq: str) -> float:
    """GC fraction of one sequence: (G + C) / (A + C + G + T), any case; NaN without A, C, G or T.

    Parameters
    ----------
    seq
        The sequence.

    Returns
    -------
    float
        In [0, 1], or NaN.
    """
    upper = seq.upper()
    acgt = sum(upper.count(b) for b in "ACGT")
    return (upper.count("G") + upper.count("C")) / acgt if acgt else float("nan")


def gc_bin(gc: np.ndarray, n_bins: int) -> np.ndarray:
    """The bin of each GC fraction among ``n_bins`` equal bins on [0, 1] (1.0 in the last bin).

    Parameters
    ----------
    gc
        ``(K,)`` GC fractions (not NaN).
    n_bins
        Number of bins.

    Returns
    -------
    numpy.ndarray
        ``(K,)`` int64 bin indices.
    """
    return np.minimum((np.asarray(gc, dtype=np.float64) * n_bins).astype(np.int64), n_bins - 1)


def window_counts(codes: np.ndarray, offsets: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """GC and ACGT counts of windows ``codes[o:o + length]``, from cumulative sums.

    Parameters
    ----------
    codes
        ``(M,)`` uint8 letters (ASCII).
    offsets
        ``(W,)`` window starts within ``codes`` (``o + length <= M``).
    length
        Window length.

    Returns
    -------
    tuple of numpy.ndarray
        ``(gc, acgt)``, each ``(W,)`` int64.
    """
    dtype = np.int32 if len(codes) < 2**31 else np.int64  # a chunk's sums fit in 32 bits: half the memory
    gc = np.zeros(len(codes) + 1, dtype=dtype)
    np.cumsum(_GC[codes], out=gc[1:], dtype=dtype)
    acgt = np.zeros(len(codes) + 1, dtype=dtype)
    np.cumsum(_ACGT[codes], out=acgt[1:], dtype=dtype)
    ends = offsets + length
    return ((gc[ends] - gc[offsets]).astype(np.int64), (acgt[ends] - acgt[offsets]).astype(np.int64))


@dataclass
class Candidates:
    """Qualifying genome windows of one chunk: chromosome, start and GC fraction."""

    chrom: str
    start: np.ndarray
    gc: np.ndarray


def scan_genome(genome: Genome, length: int, exclude: IntervalSet, max_n: float, *,
                progress: bool = False) -> Iterator[Candidates]:
    """Every qualifying window of the grid ``[k * length, (k + 1) * length)`` on every contig.

    Parameters
    ----------
    genome
        The genome, read chunk by chunk.
    length
        Window length (also the grid step: candidates never overlap each other).
    exclude
        Intervals no candidate may touch.
    max_n
        Largest allowed fraction of bases that are not A, C, G or T.
    progress
        Show a progress bar over the genome's bases.

    Yields
    ------
    Candidates
        One batch per chunk with at least one qualifying window.
    """
    chunk = max(length, SCAN_CHUNK // length * length)
    with progress_bar(total=sum(genome.chroms.values()), enabled=progress, unit="bp", unit_scale=True,
                      desc="negatives: scanning genome") as bar:
        for chrom, size in genome.chroms.items():
            for lo in range(0, size - length + 1, chunk):
                hi = min(size, lo + chunk + length)  # the bases of the windows starting in [lo, lo + chunk)
                codes = np.frombuffer(genome.fetch(chrom, lo, hi).encode("latin-1"), dtype=np.uint8)
                offsets = np.arange(0, min(chunk, hi - lo - length + 1), length, dtype=np.int64)
                gc, acgt = window_counts(codes, offsets, length)
                starts = lo + offsets
                ok = (length - acgt <= max_n * length) & (acgt > 0)
                ok &= ~exclude.overlaps(chrom, starts, starts + length)
                bar.update(min(lo + chunk, size) - lo)
                if ok.any():
                    yield Candidates(chrom, starts[ok], gc[ok] / acgt[ok])
            bar.update(size - _scanned(size, length, chunk))


def _scanned(size: int, length: int, chunk: int) -> int:
    """Bases of a contig the chunk loop of :func:`scan_genome` reported to its progress bar."""
    return sum(min(lo + chunk, size) - lo for lo in range(0, size - length + 1, chunk))


def allocate(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts proportional to ``weights`` summing to ``total`` (largest remainders).

    Parameters
    ----------
    weights
        ``(B,)`` non-negative weights, not all 0.
    total
        The sum wanted.

    Returns
    -------
    numpy.ndarray
        ``(B,)`` int64.
    """
    exact = np.asarray(weights, dtype=np.float64) * total / np.sum(weights)
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


class _BinReservoir:
    """Per GC bin, the ``cap`` candidates with the smallest random keys seen so far (a seeded uniform
    sample of each bin that never holds more than ``n_bins * cap`` windows). Bins and keys are 32-bit
    (ties between float32 keys are broken by scan order, so the draw stays a function of the seed)."""

    def __init__(self, n_bins: int, cap: int, rng: np.random.Generator) -> None:
        self.n_bins, self.cap, self.rng = n_bins, cap, rng
        self.seen = np.zeros(n_bins, dtype=np.int64)
        self.chroms: list[str] = []
        self.parts: list[tuple[np.ndarray, ...]] = []
        empty = np.zeros(0, np.int32)
        self.kept = (empty, np.zeros(0, np.float32), empty, np.zeros(0, np.int64))
        self.pending = 0

    def add(self, batch: Candidates, bins: np.ndarray) -> None:
        self.seen += np.bincount(bins, minlength=self.n_bins)
        if batch.chrom not in self.chroms:
            self.chroms.append(batch.chrom)
        chrom = np.full(len(bins), self.chroms.index(batch.chrom), dtype=np.int32)
        keys = self.rng.random(len(bins), dtype=np.float32)
        self.parts.append((bins.astype(np.int32), keys, chrom, batch.start))
        self.pending += len(bins)
        if self.pending > max(1 << 20, len(self.kept[0])):
            self._compact()

    def _compact(self) -> None:
        bins, keys, chrom, start = (np.concatenate([k, *p]) for k, *p in zip(self.kept, *self.parts,
                                                                               strict=True))
        keep = np.flatnonzero(self._rank(bins, keys) < self.cap)  # in scan order
        self.kept = (bins[keep], keys[keep], chrom[keep], start[keep])
        self.parts, self.pending = [], 0

    def _rank(self, bins: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Each candidate's rank by key within its bin (0 = smallest key)."""
        order = np.lexsort((keys, bins))
        sorted_bins = bins[order]
        first = np.searchsorted(sorted_bins, np.arange(self.n_bins))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - first[sorted_bins]
        return rank

    def take(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``counts[b]`` windows of each bin b, smallest keys first: (chrom index, start)."""
        self._compact()
        bins, keys, chrom, start = self.kept
        chosen = self._rank(bins, keys) < counts[bins]
        return chrom[chosen], start[chosen]


@dataclass
class MatchedNegatives:
    """GC-matched negative windows, sorted by genome position, and how they were drawn.

    Attributes
    ----------
    chrom, start
        ``(K,)`` the windows (each ``length`` long).
    candidates
        Qualifying genome windows in all.
    borrowed
        Windows taken from a neighbouring GC bin because a bin had too few candidates.
    """

    chrom: np.ndarray
    start: np.ndarray
    candidates: int
    borrowed: int


def gc_matched(genome: Genome, positive_gc: np.ndarray, *, length: int, ratio: float, exclude: IntervalSet,
               max_n: float, n_bins: int, seed: int, progress: bool = False) -> MatchedNegatives:
    """Draw genome windows whose GC distribution matches the positives'.

    Parameters
    ----------
    genome
        The genome.
    positive_gc
        ``(P,)`` GC fractions of the positive windows (NaN ones ignored).
    length
        Window length.
    ratio
        Negatives per positive.
    exclude
        Intervals no negative may touch.
    max_n
        Largest fraction of non-ACGT bases in a negative.
    n_bins
        GC bins on [0, 1].
    seed
        Seed of the draw.
    progress
        Show a progress bar.

    Returns
    -------
    MatchedNegatives
        The windows.

    Raises
    ------
    InputError
        Fewer qualifying windows in the genome than negatives requested.
    """
    gc = positive_gc[~np.isnan(positive_gc)]
    total = int(round(ratio * len(gc)))
    quota = np.zeros(n_bins, dtype=np.int64)
    if total:
        quota = allocate(np.bincount(gc_bin(gc, n_bins), minlength=n_bins), total)
    reservoir = _BinReservoir(n_bins, max(total, 1), np.random.default_rng(seed))
    for batch in scan_genome(genome, length, exclude, max_n, progress=progress):
        reservoir.add(batch, gc_bin(batch.gc, n_bins))
    available = np.minimum(reservoir.seen, max(total, 1))
    if reservoir.seen.sum() < total:
        raise InputError(f"{total} negatives requested ({ratio:g} per positive) but only "
                         f"{reservoir.seen.sum()} windows of {length} bp qualify (away from peaks and their "
                         f"flank, outside the blacklist, at most {max_n:g} N); lower --ratio or --flank, or "
                         "raise --max-n",
                         file=genome.path)
    counts = np.minimum(quota, available)
    borrowed = _borrow(counts, quota - counts, available)
    chrom_index, start = reservoir.take(counts)
    names = np.asarray(reservoir.chroms + [""], dtype=object)[chrom_index]
    rank = {c: i for i, c in enumerate(genome.chroms)}
    order = np.lexsort((start, np.asarray([rank[c] for c in names], dtype=np.int64)))
    return MatchedNegatives(names[order], start[order], int(reservoir.seen.sum()), borrowed)


def _borrow(counts: np.ndarray, short: np.ndarray, available: np.ndarray) -> int:
    """Move each bin's shortfall to its nearest bins with spare candidates (in place); the windows moved."""
    moved = 0
    for b in np.flatnonzero(short):
        need = int(short[b])
        for d in range(1, len(counts)):
            for nb in (b - d, b + d):
                if need and 0 <= nb < len(counts):
                    extra = int(min(need, available[nb] - counts[nb]))
                    counts[nb] += extra
                    need -= extra
                    moved += extra
            if not need:
                break
    return moved


def shuffled_copies(n_positives: int, ratio: float, seed: int) -> np.ndarray:
    """How many shuffles of each positive make ``round(ratio * n)`` negatives (the remainder spread over
    a seeded random subset).

    Returns
    -------
    numpy.ndarray
        ``(n_positives,)`` int64 copies.
    """
    total = int(round(ratio * n_positives))
    copies = np.full(n_positives, total // max(n_positives, 1), dtype=np.int64)
    extra = np.random.default_rng(seed).permutation(n_positives)[: total - copies.sum()]
    copies[extra] += 1
    return copies


def shuffles(seq: str, copies: int, k: int, rng: np.random.Generator) -> list[str]:
    """``copies`` k-mer preserving shuffles of ``seq`` (:func:`~seqcnn.seq.shuffle.kmer_shuffle`; case and N
    kept)."""
    return [kmer_shuffle(seq, k, seed=rng) for _ in range(copies)]


__all__ = ["Candidates", "MatchedNegatives", "allocate", "gc_bin", "gc_fraction", "gc_matched", "scan_genome",
           "shuffled_copies", "shuffles", "window_counts"]
