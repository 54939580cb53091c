"""Predicted tracks for genome browsers: window scores and per-base outputs as bigWig or bedGraph.

:func:`window_tracks` scans every contig of an indexed genome FASTA (or the intervals of a BED file)
with a :class:`~seqcnn.score.scorer.Scorer` and writes one track per task; :func:`position_tracks`
does the same with a per-position model (:mod:`seqcnn.score.positions`), one value per base. The
chromosome sizes of the track header come from the genome's index (``.fai``, made by pyfaidx when
missing), so the tracks open in IGV or the UCSC browser over that genome.

How a window's score maps to bases (``docs/formats.md``): each base takes the score of the window
whose centre is nearest to it among the windows that contain it (a tie goes to the earlier window),
within the region scanned (the contig, or the BED interval). Non-overlapping windows (step = window)
thus cover exactly their own bases; overlapping ones (step < window) their central ``step`` bases,
the first and last windows also reaching out to the region's ends; with step > window the bases
between windows have no value. :func:`window_spans` is the rule, written out.

BED intervals become track entries in the genome's contig order (they are sorted here) and must not
overlap one another (an error names both lines; :mod:`seqcnn.score.intervals`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seqcnn._common import Target, resolve_targets
from seqcnn.errors import ConfigError
from seqcnn.io.tracks import TrackWriter, track_paths
from seqcnn.score.intervals import interval_windows, track_intervals
from seqcnn.score.positions import PositionBlock, Region, Tiling, iter_positions
from seqcnn.score.scorer import Scorer
from seqcnn.score.scoring import score_records
from seqcnn.score.stream import ScoreStats
from seqcnn.seq.windows import window_starts

if TYPE_CHECKING:
    from torch import nn

    from seqcnn.seq.genome import BedInterval, Genome

FETCH_BASES = 1 << 20  # genome bases fetched at once when cutting windows


def window_spans(starts: np.ndarray, window: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The bases each window's score is written over: the nearest-centre rule (module docstring).

    Parameters
    ----------
    starts
        ``(W,)`` increasing window starts (0-based; the first may be negative, the last window may
        run past ``hi``).
    window
        Window length.
    lo, hi
        The region scanned, ``[lo, hi)``: spans are clipped to it.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        ``(begin, end)``, ``(W,)`` int64 each, 0-based half-open; increasing and non-overlapping.
        A window whose bases are all nearer another window's centre has ``begin == end``.

    Examples
    --------
    Windows of 10 every 4 bases over 18 bases (starts 0, 4, 8) cover ``[0, 7)``, ``[7, 11)`` and
    ``[11, 18)``: base 6 (centre 6.5) is nearer window 0's centre (5) than window 1's (9).
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = starts + window
    # base p is nearer window k's centre s_k + W/2 than window k+1's when 2p + 1 <= s_k + s_(k+1) + W
    middle = (starts[:-1] + starts[1:] + window - 1) // 2 + 1
    begin = np.concatenate([[lo], np.maximum(middle, starts[1:])])
    end = np.concatenate([np.minimum(middle, ends[:-1]), [hi]])
    begin = np.clip(np.maximum(begin, starts), lo, hi)
    end = np.clip(np.minimum(end, ends), lo, hi)
    return begin, np.maximum(end, begin)


def track_targets(target: Target, names: Sequence[str]) -> list[int]:
    """The outputs ``target`` selects, as :func:`seqcnn._common.resolve_targets`; an unknown name is
    one line listing the model's task names."""
    try:
        return resolve_targets(target, names)
    except ConfigError as exc:
        if "tasks:" in exc.message:
            raise
        raise ConfigError(f"{exc.message}; tasks: {', '.join(names)}") from None


class TrackSet:
    """One :class:`~seqcnn.io.tracks.TrackWriter` per selected output, written together.

    Parameters
    ----------
    output
        The output path given; several tracks become ``<stem>.<task><suffix>``
        (:func:`seqcnn.io.tracks.track_paths`).
    chrom_sizes
        The genome's contig lengths, in its order.
    names
        The selected outputs' names.

    Notes
    -----
    A context manager: every file appears when the block ends without error, none otherwise.
    """

    def __init__(self, output: str | os.PathLike, chrom_sizes: Mapping[str, int],
                 names: Sequence[str]) -> None:
        self.paths = track_paths(output, names)
        self._stack = contextlib.ExitStack()
        self.writers = [self._stack.enter_context(TrackWriter(p, chrom_sizes, name=n))
                        for p, n in zip(self.paths, names, strict=True)]

    def add_intervals(self, chrom: str, starts: np.ndarray, ends: np.ndarray, values: np.ndarray) -> None:
        """Intervals with ``(n, T')`` values, one column per track (empty intervals left out)."""
        keep = ends > starts
        for writer, column in zip(self.writers, np.asarray(values).T, strict=True):
            writer.add_intervals(chrom, starts[keep], ends[keep], column[keep])

    def add_values(self, chrom: str, start: int, values: np.ndarray) -> None:
        """Per-base ``(n, T')`` values from ``start``, one column per track."""
        for writer, column in zip(self.writers, np.asarray(values).T, strict=True):
            writer.add_values(chrom, start, column)

    def __enter__(self) -> TrackSet:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.__exit__(*exc)


@dataclass(frozen=True)
class TrackKey:
    """A scored window and the bases its score is written over.

    Attributes
    ----------
    chrom
        Contig.
    start, end
        The window scored (0-based, half-open; may reach past the contig).
    span
        ``(begin, end)``: the bases its score covers in the track.
    where
        Names it in messages (``line 3`` of a BED file, or the window ``chr1:1000-1200``).
    """

    chrom: str
    start: int
    end: int
    span: tuple[int, int]
    where: str

    def __str__(self) -> str:
        return self.where


# -- windows with a scorer -------------------------------------------------------------------
def scorer_task_names(scorer: Scorer) -> list[str]:
    """The scorer's output names, from one all-N sequence run through the model."""
    from seqcnn.seq.codes import encode_codes

    probe = encode_codes("N" * (scorer.input_length or scorer.minimum))[None]
    with scorer.lent():
        n_tasks = int(scorer.run(scorer.prepare(probe)).shape[1])
    return scorer.task_names(n_tasks)


def _contig_windows(genome: Genome, window: int, step: int) -> Iterator[tuple[TrackKey, str]]:
    """Every window of every contig, with the span its score covers (fetched a block at a time)."""
    for chrom, size in genome.chroms.items():
        if size < window:  # one window, the contig centred in it (as records shorter than the window)
            start = -((window - size) // 2)
            key = TrackKey(chrom, start, start + window, (0, size), f"{chrom}:{start}-{start + window}")
            yield key, genome.fetch(chrom, start, start + window)
            continue
        starts = window_starts(size, window, step)
        begin, end = window_spans(starts, window, 0, size)
        per_block = max(1, FETCH_BASES // max(step, 1))
        for a in range(0, len(starts), per_block):
            block = starts[a : a + per_block]
            first = int(block[0])
            text = genome.fetch(chrom, first, int(block[-1]) + window)
            for i, s in enumerate(block.tolist(), start=a):
                where = f"{chrom}:{s}-{s + window}"
                key = TrackKey(chrom, s, s + window, (int(begin[i]), int(end[i])), where)
                yield key, text[s - first : s - first + window]


def _interval_windows(intervals: list[BedInterval], genome: Genome, stats: ScoreStats, *, length: int | None,
                      minimum: int, window: int | None, step: int | None) -> Iterator[tuple[TrackKey, str]]:
    """The windows of every interval with the spans their scores cover (clipped to the interval)."""
    for interval in intervals:
        windows = interval_windows(interval, length, minimum, window, step)
        size = genome.chroms[interval.chrom]
        if window is None:
            spans = [(interval.start, interval.end)]
        else:
            begin, end = window_spans(np.array([w[0] for w in windows]), window, interval.start, interval.end)
            spans = list(zip(begin.tolist(), end.tolist(), strict=True))
        for (start, stop), span in zip(windows, spans, strict=True):
            if start < 0 or stop > size:
                stats.n_edge_padded += 1
            key = TrackKey(interval.chrom, start, stop, span, f"line {interval.line}")
            yield key, genome.fetch(interval.chrom, start, stop, interval.strand)


@dataclass
class TrackOptions:
    """Which outputs and how scoring runs.

    Attributes
    ----------
    target
        Outputs to write, one track each (None: all).
    batch_size
        Sequences (tiles) per batch (None: automatic).
    skip_invalid
        Skip BED intervals outside the genome (counted) and, for window scans, windows with invalid
        bases, instead of stopping.
    progress
        A progress bar on stderr.
    """

    target: Target = None
    batch_size: int | None = None
    skip_invalid: bool = False
    progress: bool = False


def window_tracks(scorer: Scorer, genome_path: str | os.PathLike, output: str | os.PathLike, *,
                  window: int | None = None, step: int | None = None, bed: str | None = None,
                  options: TrackOptions | None = None) -> tuple[list[Path], ScoreStats]:
    """Scan a genome (or BED intervals of it) with ``scorer`` into one track per output.

    Parameters
    ----------
    scorer
        The scorer.
    genome_path
        Indexed (or indexable) genome FASTA: its contigs and their lengths make the track header.
    output
        ``.bw``/``.bigwig`` or ``.bedgraph`` path (:func:`seqcnn.io.tracks.track_paths`).
    window, step
        Window length (None: the model's input length) and step (None: ``window``). With ``bed``
        and no ``window``, each interval is scored once (as ``seqcnn score --bed``) and its score
        covers the interval.
    bed
        Score these intervals only (sorted into genome order here; they must not overlap).
    options
        Outputs, batching, skipping, progress.

    Returns
    -------
    tuple[list[Path], ScoreStats]
        The files written and what happened to the input.

    Raises
    ------
    ConfigError
        No window for a model taking any length (genome scans), a window the model cannot take, an
        unknown target.
    InputError
        Bad BED lines or intervals (see :func:`checked_intervals`, :func:`sorted_intervals`),
        invalid bases.
    """
    from seqcnn.seq.genome import Genome

    opts = options or TrackOptions()
    window = _checked_window(scorer, window, bed is None)
    step = step or window
    stats = ScoreStats()
    names = scorer_task_names(scorer)
    keep = track_targets(opts.target, names)
    with Genome(genome_path) as genome:
        if bed is None:
            records = _contig_windows(genome, window, step)
        else:
            intervals = track_intervals(bed, genome, stats, skip_invalid=opts.skip_invalid)
            records = _interval_windows(intervals, genome, stats, length=window or scorer.input_length,
                                        minimum=scorer.minimum, window=window, step=step)
        stream = score_records(scorer, records, batch_size=opts.batch_size, file=bed or str(genome_path),
                               skip_invalid=opts.skip_invalid, progress=opts.progress, stats=stats)
        with TrackSet(output, genome.chroms, [names[i] for i in keep]) as tracks:
            for chunk, scores in stream:
                _write_window_chunk(tracks, chunk.keys, scores[:, keep])
    stats.n_windows = stats.n_records
    return tracks.paths, stats


def _checked_window(scorer: Scorer, window: int | None, whole_genome: bool) -> int | None:
    if window is None and whole_genome:
        if not scorer.input_length:
            raise ConfigError("this model takes any length: give --window W to scan the genome")
        return scorer.input_length
    return None if window is None else checked_length(scorer, window, "--window")


def checked_length(scorer: Scorer, value: int, flag: str) -> int:
    """A window length the scorer's model can take: its fixed input length, or at least its receptive
    field (a model taking any length).

    Raises
    ------
    ConfigError
        ``value`` below 1 or not such a length, naming ``flag``.
    """
    if value < 1:
        raise ConfigError(f"{flag} must be >= 1, got {value}")
    if scorer.input_length and value != scorer.input_length:
        raise ConfigError(f"{flag} {value} differs from the model's input length {scorer.input_length}")
    if not scorer.input_length and value < scorer.minimum:
        raise ConfigError(f"{flag} {value} is shorter than the model's receptive field {scorer.minimum}")
    return value


def _write_window_chunk(tracks: TrackSet, keys: list[TrackKey], scores: np.ndarray) -> None:
    """Write a chunk's windows, one contig run at a time."""
    chroms = [k.chrom for k in keys]
    begin = np.array([k.span[0] for k in keys], dtype=np.int64)
    end = np.array([k.span[1] for k in keys], dtype=np.int64)
    a = 0
    while a < len(keys):
        b = a + 1
        while b < len(keys) and chroms[b] == chroms[a]:
            b += 1
        tracks.add_intervals(chroms[a], begin[a:b], end[a:b], scores[a:b])
        a = b


# -- per-position models -----------------------------------------------------------------------
def genome_regions(genome: Genome, intervals: list[BedInterval] | None = None) -> Iterator[Region]:
    """Per-position regions: every contig, or each interval (reverse-complemented on ``-``) with its real
    genome flanks as the tiles' context.

    Yields
    ------
    Region
        Keyed by its interval (a whole contig: ``BedInterval(0, chrom, 0, length, name=chrom)``).
    """
    from seqcnn.seq.genome import BedInterval

    if intervals is None:
        intervals = [BedInterval(0, chrom, 0, size, name=chrom) for chrom, size in genome.chroms.items()]
    for interval in intervals:
        strand = "" if interval.strand == "." else f"({interval.strand})"
        label = f"{interval.chrom}:{interval.start}-{interval.end}{strand}"
        yield Region(interval, interval.end - interval.start, _fetcher(genome, interval), label)


def _fetcher(genome: Genome, interval: BedInterval) -> Any:
    """``fetch(a, b)`` of a region in its own coordinates (on ``-``: reading the reverse complement)."""
    chrom, start, end = interval.chrom, interval.start, interval.end
    if interval.strand == "-":
        return lambda a, b: genome.fetch(chrom, end - b, end - a, "-")
    return lambda a, b: genome.fetch(chrom, start + a, start + b)


def in_genome_order(blocks: Iterator[PositionBlock]) -> Iterator[tuple[BedInterval, int, np.ndarray]]:
    """The blocks of :func:`genome_regions` regions in genome order.

    Parameters
    ----------
    blocks
        From :func:`seqcnn.score.positions.iter_positions` over :func:`genome_regions`.

    Yields
    ------
    tuple[BedInterval, int, np.ndarray]
        ``(interval, genome start, (n, T') values)``, bases increasing; a ``-`` region's blocks
        (scored on the reverse complement) are held until the region is done, then flipped.
    """
    pending: list[tuple[BedInterval, int, np.ndarray]] = []
    for block in blocks:
        interval, n = block.key, len(block.values)
        if interval.strand != "-":
            yield interval, interval.start + block.start, block.values
            continue
        # region position p is genome base end - 1 - p
        pending.append((interval, interval.end - block.start - n, block.values[::-1]))
        if block.start + n == interval.end - interval.start:  # the region's last block
            yield from reversed(pending)
            pending = []


def position_tracks(model: nn.Module, genome_path: str | os.PathLike, output: str | os.PathLike, *,
                    tiling: Tiling, bed: str | None = None, rc: str | None = None, logits: bool = False,
                    device: Any = None, options: TrackOptions | None = None) -> tuple[list[Path], ScoreStats]:
    """Per-base outputs of a per-position model over a genome (or BED intervals of it), one track each.

    Parameters
    ----------
    model
        A per-position model (:mod:`seqcnn.score.positions`); given back as it was.
    genome_path, output, bed, options
        As :func:`window_tracks`.
    tiling
        From :func:`seqcnn.score.positions.plan_tiling`.
    rc, logits, device
        As :func:`seqcnn.score.positions.iter_positions`.

    Returns
    -------
    tuple[list[Path], ScoreStats]
        The files written; ``n_records`` counts the regions.

    Raises
    ------
    ConfigError, InputError
        As :func:`window_tracks` and :func:`seqcnn.score.positions.iter_positions`.
    """
    from seqcnn._common import task_names
    from seqcnn.seq.genome import Genome

    opts = options or TrackOptions()
    stats = ScoreStats()
    names = task_names(model, tiling.n_tasks)
    keep = track_targets(opts.target, names)
    with Genome(genome_path) as genome:
        intervals = None
        if bed is not None:
            intervals = track_intervals(bed, genome, stats, skip_invalid=opts.skip_invalid)
        regions = list(genome_regions(genome, intervals))
        stats.n_records = len(regions)
        with TrackSet(output, genome.chroms, [names[i] for i in keep]) as tracks:
            blocks = iter_positions(model, regions, tiling=tiling, target=keep, rc=rc, logits=logits,
                                    batch_size=opts.batch_size, device=device, progress=opts.progress,
                                    file=bed or str(genome_path))
            for interval, start, values in in_genome_order(blocks):
                tracks.add_values(interval.chrom, start, values)
    return tracks.paths, stats


__all__ = ["TrackKey", "TrackOptions", "TrackSet", "checked_length", "genome_regions", "in_genome_order",
           "position_tracks", "scorer_task_names", "track_targets", "window_spans", "window_tracks"]
