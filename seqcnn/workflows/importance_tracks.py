"""Per-base importance of genome intervals as browser tracks: ISM and attribution maps.

Each BED interval is explained on the genome window a model scores for it (as ``seqcnn score --bed``:
a fixed-length model's input length centred on the interval, narrowPeak: on its summit; a model
taking any length: the interval, widened to its receptive field when shorter), reverse-complemented
on ``-``. The per-base values of that window are put back in genome order and written over the bases
the window and the interval share. Intervals are sorted into the genome's contig order and must not
overlap (:func:`seqcnn.score.tracks.track_intervals`); memory holds ``chunk`` windows at a time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seqcnn._common import Target, task_names
from seqcnn.errors import ConfigError
from seqcnn.score.intervals import interval_windows, track_intervals
from seqcnn.score.positions import fixed_input_length, output_shape, probe_length
from seqcnn.score.stream import ScoreStats
from seqcnn.score.tracks import TrackSet, track_targets

if TYPE_CHECKING:
    from torch import nn

    from seqcnn.seq.genome import BedInterval, Genome

ValuesOf = Callable[[list[str]], np.ndarray]  # equal-length sequences -> (n, L, T') per-base values


@dataclass
class _Window:
    interval: BedInterval
    start: int
    end: int
    seq: str


def _windows(genome: Genome, intervals: list[BedInterval], model: nn.Module,
             stats: ScoreStats) -> Iterator[_Window]:
    length = fixed_input_length(model)
    minimum = int(getattr(model, "receptive_field", 1) or 1)
    for interval in intervals:
        (start, end), = interval_windows(interval, length, minimum, None, None)
        if start < 0 or end > genome.chroms[interval.chrom]:
            stats.n_edge_padded += 1
        yield _Window(interval, start, end, genome.fetch(interval.chrom, start, end, interval.strand))


def _runs(windows: Iterator[_Window], chunk: int) -> Iterator[list[_Window]]:
    """Consecutive windows of one length, at most ``chunk`` at a time (order kept)."""
    run: list[_Window] = []
    for window in windows:
        if run and (len(run) >= chunk or len(window.seq) != len(run[0].seq)):
            yield run
            run = []
        run.append(window)
    if run:
        yield run


def _write(tracks: TrackSet, window: _Window, values: np.ndarray) -> None:
    """``(L, T')`` values of a window (in its strand's order) over the bases it shares with its interval."""
    if window.interval.strand == "-":
        values = values[::-1]
    lo = max(window.start, window.interval.start)
    hi = min(window.end, window.interval.end)
    tracks.add_values(window.interval.chrom, lo, values[lo - window.start : hi - window.start])


def bed_track_input(inputs: str | None, bed: str | None, genome: str | None, output: str) -> bool:
    """Whether a command's input is BED intervals of a genome, written as tracks.

    Parameters
    ----------
    inputs
        The positional input file (FASTA, ...), or None.
    bed, genome
        ``--bed`` and ``--genome``.
    output
        The output path.

    Returns
    -------
    bool
        True for BED input (the output is then a track), False for the positional input.

    Raises
    ------
    ConfigError
        ``bed`` without ``genome`` (or the reverse), both or neither input, a track output without
        genome coordinates, or BED input written to something other than a track.
    """
    from seqcnn.io.tracks import track_format

    if (bed is None) != (genome is None):
        raise ConfigError("--bed and --genome go together")
    track = track_format(output) is not None
    if bed is None:
        if inputs is None:
            raise ConfigError("give an input file, or --bed with --genome")
        if track:
            raise ConfigError("a track needs genome coordinates: give --bed and --genome")
        return False
    if inputs is not None:
        raise ConfigError("give an input file or --bed with --genome, not both")
    if not track:
        raise ConfigError("--bed input is written as a track: -o x.bw (bigWig) or x.bedgraph")
    return True


def importance_tracks(model: nn.Module, genome_path: str | os.PathLike, bed: str, output: str | os.PathLike,
                      values_of: ValuesOf, names: list[str], *, chunk: int = 64,
                      skip_invalid: bool = False) -> tuple[list[Path], ScoreStats]:
    """Write per-base values of every BED interval's window as tracks (one per name).

    Parameters
    ----------
    model
        The model (for its input length and receptive field).
    genome_path
        Indexed genome FASTA (its contigs make the track header).
    bed
        BED intervals (sorted here; they must not overlap).
    output
        ``.bw``/``.bigwig`` or ``.bedgraph`` path; several names give ``<stem>.<name><suffix>``.
    values_of
        Turns a list of equal-length window sequences into ``(n, L, len(names))`` values.
    names
        Track names.
    chunk
        Windows per call of ``values_of``.
    skip_invalid
        Skip (and count) intervals outside the genome instead of stopping.

    Returns
    -------
    tuple[list[Path], ScoreStats]
        The files written; ``n_records`` intervals explained, skipped ones by reason, windows padded
        with N at contig ends.
    """
    from seqcnn.seq.genome import Genome

    stats = ScoreStats()
    with Genome(genome_path) as genome, TrackSet(output, genome.chroms, names) as tracks:
        intervals = track_intervals(bed, genome, stats, skip_invalid=skip_invalid)
        for run in _runs(_windows(genome, intervals, model, stats), chunk):
            values = values_of([w.seq for w in run])
            for window, row in zip(run, values, strict=True):
                _write(tracks, window, row)
            stats.n_records += len(run)
    return tracks.paths, stats


def ism_tracks(model: nn.Module, genome_path: str | os.PathLike, bed: str, output: str | os.PathLike, *,
               how: str = "max", target: Target = None, rc: str | None = None, chunk: int = 64,
               device: Any = None, progress: bool = False,
               skip_invalid: bool = False) -> tuple[list[Path], ScoreStats]:
    """ISM importance (:func:`seqcnn.interpret.ism.importance`) of BED intervals, one track per output.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs (wrap profile models); given back as it was.
    genome_path, bed, output, chunk, skip_invalid
        As :func:`importance_tracks`.
    how
        ``max`` (the largest loss of score over a base's substitutions), ``mean`` or ``maxabs``.
    target, rc, device, progress
        As :func:`seqcnn.interpret.ism.ism`.

    Returns
    -------
    tuple[list[Path], ScoreStats]
        As :func:`importance_tracks`.
    """
    from seqcnn.interpret.ism import ism
    from seqcnn.interpret.ism.result import IMPORTANCE, importance

    if how not in IMPORTANCE:
        raise ConfigError(f"unknown importance {how!r}; choose from {', '.join(IMPORTANCE)}")
    names = task_names(model, output_shape(model, probe_length(model), device=device)[0])
    keep = track_targets(target, names)

    def values_of(seqs: list[str]) -> np.ndarray:
        result = ism(model, seqs, target=keep, rc=rc, device=device, progress=progress)
        return np.stack([importance(result, how, task=j) for j in range(len(keep))], axis=-1)

    return importance_tracks(model, genome_path, bed, output, values_of, [names[i] for i in keep],
                             chunk=chunk, skip_invalid=skip_invalid)


def explain_tracks(model: nn.Module, genome_path: str | os.PathLike, bed: str, output: str | os.PathLike, *,
                   method: str, target: Target | str = "top", chunk: int = 64, batch_size: int | None = None,
                   device: Any = None, progress: bool = False, skip_invalid: bool = False,
                   **options: Any) -> tuple[list[Path], ScoreStats]:
    """Attribution maps (:func:`seqcnn.interpret.explain.explain`'s ``map``) of BED intervals as one track.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was.
    genome_path, bed, output, chunk, skip_invalid
        As :func:`importance_tracks`.
    method
        One of :data:`seqcnn.interpret.explain.METHODS`.
    target
        ``"top"`` (each window's highest output), an output index or a task name: one map per base.
    batch_size, device, progress, options
        As :func:`seqcnn.interpret.explain.explain`.

    Returns
    -------
    tuple[list[Path], ScoreStats]
        As :func:`importance_tracks`; the track is named after the method.

    Raises
    ------
    ConfigError
        A ``target`` naming several outputs (a track holds one value per base).
    """
    from seqcnn.interpret.explain import explain

    if target is None or isinstance(target, (list, tuple)):
        raise ConfigError("an attribution track holds one map: give one target (a task, an index or top)")

    def values_of(seqs: list[str]) -> np.ndarray:
        expl = explain(model, seqs, method, target=target, batch_size=batch_size, device=device,
                       progress=progress, **options)
        return expl.map[..., None]

    return importance_tracks(model, genome_path, bed, output, values_of, [method], chunk=chunk,
                             skip_invalid=skip_invalid)


__all__ = ["bed_track_input", "explain_tracks", "importance_tracks", "ism_tracks"]
