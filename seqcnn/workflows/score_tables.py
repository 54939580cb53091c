"""Score tables: stream records, BED intervals, windows or variants through a scorer into a table file.

Each function reads its input a chunk at a time, scores it and writes the rows as they come
(:func:`seqcnn.io.tables.open_table`: the ``output`` extension picks TSV, gzip TSV, parquet or npz;
``-`` is stdout), so memory stays flat however large the input. Columns (``docs/formats.md``): the
record's identity first (``id``; the BED columns; ``id start end``; ``chrom pos id ref alt
ref_match``), then one column per task.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from seqcnn._common import Target, task_names
from seqcnn.errors import ConfigError, InputError
from seqcnn.io.tables import TableWriter, open_table
from seqcnn.score.intervals import checked_intervals, interval_windows
from seqcnn.score.scorer import Scorer
from seqcnn.score.scoring import RecordMax, score_fasta, score_records, score_windows
from seqcnn.score.stream import ScoreStats
from seqcnn.score.tracks import (
    checked_length,
    genome_regions,
    in_genome_order,
    scorer_task_names,
    track_targets,
)

if TYPE_CHECKING:
    from torch import nn

    from seqcnn.score.positions import Tiling
    from seqcnn.seq.genome import BedInterval, Genome


@dataclass
class TableOptions:
    """How a score table is read and written.

    Attributes
    ----------
    header
        Write a header line (TSV).
    skip_invalid
        Skip records with invalid bases (listed in the stats) instead of stopping.
    batch_size
        Sequences per batch (None: the scorer's plan).
    progress
        A progress bar on stderr.
    """

    header: bool = True
    skip_invalid: bool = False
    batch_size: int | None = None
    progress: bool = False


def fasta_table(scorer: Scorer, fasta: str, output: str, *, echo: bool = False,
                options: TableOptions | None = None) -> ScoreStats:
    """Score the FASTA file ``fasta`` (``-``: stdin) into ``output``: ``id`` [``sequence``] then tasks.

    Parameters
    ----------
    scorer
        The scorer.
    fasta
        FASTA path, or ``-`` for stdin.
    output
        Table path (the extension picks the format) or ``-``.
    echo
        Add the scored (fitted) sequence as a column.
    options
        Reading and writing options.

    Returns
    -------
    ScoreStats
        Records read, padded, cropped and skipped.

    Raises
    ------
    InputError
        Invalid bases (without ``skip_invalid``), or nothing left to score.
    """
    opts = options or TableOptions()
    stats = ScoreStats()
    stream = score_fasta(scorer, fasta, batch_size=opts.batch_size, skip_invalid=opts.skip_invalid, echo=echo,
                         progress=opts.progress, stats=stats)
    with open_table(output, header=opts.header) as table:
        for chunk, scores in stream:
            cols: dict[str, Any] = {"id": chunk.keys}
            if echo:
                cols["sequence"] = chunk.seqs
            cols.update(zip(scorer.task_names(scores.shape[1]), scores.T, strict=True))
            table.write(cols)
        if table.n_rows == 0 and _anything_skipped(stats):
            _header_only(table, scorer, ["id", "sequence"] if echo else ["id"])
        _check_scored(table, fasta, stats)
    return stats


def bed_table(scorer: Scorer, bed_path: str, genome_path: str, output: str, *, echo: bool = False,
              extra_columns: bool = False, width: int | None = None, window: int | None = None,
              step: int | None = None, options: TableOptions | None = None) -> ScoreStats:
    """Score the BED (or narrowPeak) intervals of an indexed genome FASTA into ``output``.

    Each interval is checked against the genome: one on an unknown contig, reaching past its contig's
    end or of length 0 is an error naming the BED file, line and contig length, or with
    ``options.skip_invalid`` skipped and counted by reason (``stats.skip_reasons``). The sequence
    scored is genome sequence (never N-padded unless the window runs past a contig end, counted in
    ``stats.n_edge_padded``), reverse-complemented on ``-``:

    - a fixed-length model: the window of its input length centred on the interval (narrowPeak: on
      its summit, ``start + column 10``), widening or cutting it;
    - a model taking any length: the interval as given, or the centred ``width``-long window; an
      interval shorter than the model's receptive field is widened around its centre;
    - ``window``: windows of that length every ``step`` bases inside each interval (the last one flush
      with its end; an interval shorter than ``window`` gets the one centred window).

    Parameters
    ----------
    scorer, output, options
        As :func:`fasta_table`.
    bed_path
        BED file of the intervals (0-based, half-open).
    genome_path
        Indexed genome FASTA.
    echo
        Add the scored sequence as a column.
    extra_columns
        Add the BED columns after the sixth (narrowPeak: ``signalValue pValue qValue peak``; others
        ``col7 ...``).
    width
        Score windows of this length (a model taking any length; a fixed-length model takes only its
        own).
    window, step
        Scan inside each interval (``step`` None: ``window``).

    Returns
    -------
    ScoreStats
        Records read, windows, skipped (by reason) and N-padded at contig ends.

    Raises
    ------
    InputError
        A bad BED line or an interval outside the genome (without ``skip_invalid``), naming the BED
        file and line; invalid bases (without ``skip_invalid``).
    ConfigError
        ``width`` or ``window`` the model cannot take; both given.
    """
    from seqcnn.seq.genome import Genome

    opts = options or TableOptions()
    length = _bed_length(scorer, width, window)
    stats = ScoreStats()
    with Genome(genome_path) as genome:
        records = _bed_records(bed_path, genome, stats, length=length, minimum=scorer.minimum,
                               window=window, step=step or window, skip_invalid=opts.skip_invalid)
        stream = score_records(scorer, records, batch_size=opts.batch_size, file=bed_path,
                               skip_invalid=opts.skip_invalid, echo=echo, progress=opts.progress, stats=stats)
        extra_names: list[str] | None = None
        with open_table(output, header=opts.header) as table:
            for chunk, scores in stream:
                first = chunk.keys[0].interval
                if extra_names is None:
                    extra_names = _extra_names(first) if extra_columns else []
                cols = _bed_columns(chunk.keys, extra_names, bed_path, scan=window is not None)
                if echo:
                    cols["sequence"] = chunk.seqs
                cols.update(zip(scorer.task_names(scores.shape[1]), scores.T, strict=True))
                table.write(cols)
            if table.n_rows == 0 and _anything_skipped(stats):
                keys = ["chrom", "start", "end", "name", *([] if window else ["score"]), "strand"]
                _header_only(table, scorer, keys + (["sequence"] if echo else []))
            _check_scored(table, bed_path, stats)
    if window is not None:
        stats.n_windows = stats.n_records
    return stats


@dataclass(frozen=True)
class _BedKey:
    """A scored genome window and the BED interval it came from."""

    interval: BedInterval
    start: int
    end: int

    def __str__(self) -> str:  # names the record in messages: <bed file>:line 3:<position>
        return f"line {self.interval.line}"


def _bed_length(scorer: Scorer, width: int | None, window: int | None) -> int | None:
    """The length every BED window is scored at (None: intervals as given), checked against the model."""
    if width is not None and window is not None:
        raise ConfigError("--width and --window cannot be combined (--window sets the scored length)")
    for flag, value in (("--width", width), ("--window", window)):
        if value is not None:
            return checked_length(scorer, value, flag)
    return scorer.input_length


def _bed_records(bed_path: str, genome: Genome, stats: ScoreStats, *, length: int | None, minimum: int,
                 window: int | None, step: int | None, skip_invalid: bool) -> Iterator[tuple[_BedKey, str]]:
    """``(key, genome sequence)`` of every window to score, intervals outside the genome refused or
    skipped (counted in ``stats``)."""
    for interval in checked_intervals(bed_path, genome, stats, skip_invalid=skip_invalid):
        size = genome.chroms[interval.chrom]
        for start, end in interval_windows(interval, length, minimum, window, step):
            if start < 0 or end > size:
                stats.n_edge_padded += 1
            yield _BedKey(interval, start, end), genome.fetch(interval.chrom, start, end, interval.strand)


def _extra_names(interval: BedInterval) -> list[str]:
    from seqcnn.seq.genome import NARROWPEAK_EXTRA

    if len(interval.extra) == len(NARROWPEAK_EXTRA):
        return list(NARROWPEAK_EXTRA)
    return [f"col{7 + i}" for i in range(len(interval.extra))]


def _bed_columns(keys: list[_BedKey], extra: list[str], bed_path: str, *, scan: bool) -> dict[str, Any]:
    """The identifying columns of a chunk: the interval's BED columns (``scan``: the window's
    coordinates, name and strand), then the requested extra columns."""
    rows = [k.interval for k in keys]
    cols: dict[str, Any] = {"chrom": [r.chrom for r in rows]}
    if scan:
        cols["start"] = np.array([k.start for k in keys], dtype=np.int64)
        cols["end"] = np.array([k.end for k in keys], dtype=np.int64)
        cols["name"] = [r.name for r in rows]
    else:
        cols["start"] = np.array([r.start for r in rows], dtype=np.int64)
        cols["end"] = np.array([r.end for r in rows], dtype=np.int64)
        cols["name"] = [r.name for r in rows]
        cols["score"] = np.array([r.score for r in rows], dtype=np.float64)
    cols["strand"] = [r.strand for r in rows]
    for i, name in enumerate(extra):
        cols[name] = [r.extra[i] if i < len(r.extra) else "." for r in rows]
    return cols


def window_table(scorer: Scorer, fasta: str, output: str, *, window: int, step: int,
                 record_max: str | None = None, options: TableOptions | None = None) -> ScoreStats:
    """Scan each FASTA record with windows into ``output``: ``id start end`` then tasks.

    Parameters
    ----------
    scorer, fasta, output, options
        As :func:`fasta_table`.
    window, step
        Window width and step (:func:`seqcnn.score.scoring.score_windows`).
    record_max
        A second table with each record's maximum over its windows: ``id n_windows`` then tasks.

    Returns
    -------
    ScoreStats
        Records and windows read, padded and skipped.
    """
    from seqcnn.seq.fasta import read_fasta

    opts = options or TableOptions()
    stats = ScoreStats()
    stream = score_windows(scorer, read_fasta(fasta), window=window, step=step, batch_size=opts.batch_size,
                           file=fasta, skip_invalid=opts.skip_invalid, progress=opts.progress, stats=stats)
    best = RecordMax()
    with contextlib.ExitStack() as stack:
        table = stack.enter_context(open_table(output, header=opts.header))
        maxima = stack.enter_context(open_table(record_max, header=opts.header)) if record_max else None
        for chunk, scores in stream:
            names = scorer.task_names(scores.shape[1])
            rid, start, end = zip(*chunk.keys, strict=True)
            table.write({"id": rid, "start": start, "end": end, **dict(zip(names, scores.T, strict=True))})
            if maxima is not None:
                _write_maxima(maxima, best.add(chunk.keys, scores), names)
        if maxima is not None:
            n_tasks = 0 if best.best is None else len(best.best)
            _write_maxima(maxima, best.finish(), scorer.task_names(n_tasks))
        if table.n_rows == 0 and _anything_skipped(stats):
            _header_only(table, scorer, ["id", "start", "end"])
            if maxima is not None:
                _header_only(maxima, scorer, ["id", "n_windows"])
        _check_scored(table, fasta, stats)
    return stats


def position_table(model: nn.Module, fasta: str, output: str, *, tiling: Tiling, bed: str | None = None,
                   genome: str | None = None, rc: str | None = None, logits: bool = False, device: Any = None,
                   options: TableOptions | None = None, target: Target = None) -> ScoreStats:
    """Per-position outputs of a per-position model into ``output``: one row per base.

    Columns: ``id start end`` (FASTA records; 0-based, ``end = start + 1``), or with ``bed`` and
    ``genome`` ``chrom start end name strand`` in genome coordinates (each interval's bases in genome
    order, also on ``-``), then one column per selected output.

    Parameters
    ----------
    model
        A per-position model (:mod:`seqcnn.score.positions`); given back as it was.
    fasta
        FASTA path or ``-`` (unused with ``bed``).
    output
        Table path (the extension picks the format) or ``-``.
    tiling
        From :func:`seqcnn.score.positions.plan_tiling`.
    bed, genome
        Score these intervals of this indexed genome instead (with real genome flanks as context).
    rc, logits, device, target
        As :func:`seqcnn.score.positions.iter_positions`.
    options
        Header, skipping of BED intervals outside the genome, batch size, progress.

    Returns
    -------
    ScoreStats
        ``n_records``: records (intervals) scored; skipped intervals by reason.
    """
    from seqcnn.score.positions import iter_positions, sequence_region
    from seqcnn.seq.fasta import read_fasta

    opts = options or TableOptions()
    stats = ScoreStats()
    names = task_names(model, tiling.n_tasks)
    keep = track_targets(target, names)
    with contextlib.ExitStack() as stack:
        if bed is not None:
            from seqcnn.seq.genome import Genome

            opened = stack.enter_context(Genome(genome))
            intervals = list(checked_intervals(bed, opened, stats, skip_invalid=opts.skip_invalid))
            regions: Any = genome_regions(opened, intervals)
        else:
            regions = (sequence_region(rid, seq) for rid, seq in read_fasta(fasta))
        blocks = iter_positions(model, _counted(regions, stats), tiling=tiling, target=keep, rc=rc,
                                logits=logits, batch_size=opts.batch_size, device=device,
                                progress=opts.progress, file=bed or fasta)
        table = stack.enter_context(open_table(output, header=opts.header))
        rows = in_genome_order(blocks) if bed is not None else ((b.key, b.start, b.values) for b in blocks)
        for key, start, values in rows:
            table.write({**_position_columns(key, start, len(values), bed is not None),
                         **dict(zip([names[i] for i in keep], values.T, strict=True))})
        if table.n_rows == 0:
            raise InputError("nothing to score (no records)", file=bed or fasta)
    return stats


def _counted(regions: Iterator[Any], stats: ScoreStats) -> Iterator[Any]:
    for region in regions:
        stats.n_records += 1
        yield region


def _position_columns(key: Any, first: int, n: int, genomic: bool) -> dict[str, Any]:
    """The identifying columns of ``n`` positions from ``first``: ``id start end`` (``key`` a record id),
    or ``chrom start end name strand`` (``key`` a BED interval)."""
    start = np.arange(first, first + n, dtype=np.int64)
    if not genomic:
        return {"id": [key] * n, "start": start, "end": start + 1}
    return {"chrom": [key.chrom] * n, "start": start, "end": start + 1, "name": [key.name] * n,
            "strand": [key.strand] * n}


def _anything_skipped(stats: ScoreStats) -> bool:
    return bool(stats.skipped or stats.skip_reasons)


def _header_only(table: TableWriter, scorer: Scorer, keys: list[str]) -> None:
    """Write the header (no rows) of a table whose every record was skipped: the task columns come
    from one all-N sequence run through the model."""
    table.write({**{k: np.array([], dtype=str) for k in keys},
                 **{t: np.array([], dtype=np.float32) for t in scorer_task_names(scorer)}})


def _check_scored(table: TableWriter, source: str, stats: ScoreStats) -> None:
    if table.n_rows == 0 and not (_anything_skipped(stats) and table.columns is not None):
        reason = "every record was skipped" if stats.skipped else "no records"
        raise InputError(f"nothing to score ({reason})", file=source)


def _write_maxima(table: TableWriter, rows: list[tuple[str, int, np.ndarray]], names: list[str]) -> None:
    if not rows:
        return
    values = np.stack([r[2] for r in rows])
    table.write({"id": [r[0] for r in rows], "n_windows": [r[1] for r in rows],
                 **dict(zip(names, values.T, strict=True))})


__all__ = ["TableOptions", "bed_table", "fasta_table", "position_table", "window_table"]
