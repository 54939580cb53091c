"""Score tables: stream records, BED intervals, windows or variants through a scorer into a table file.

Each function reads its input a chunk at a time, scores it and writes the rows as they come
(:func:`seqcnn.io.tables.open_table`: the ``output`` extension picks TSV, gzip TSV, parquet or npz;
``-`` is stdout), so memory stays flat however large the input. Columns (``docs/formats.md``): the
record's identity first (``id``; the BED columns; ``id start end``; ``chrom pos id ref alt
ref_match``), then one column per task.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqcnn.errors import InputError
from seqcnn.io.tables import TableWriter, open_table
from seqcnn.score.scorer import Scorer
from seqcnn.score.scoring import RecordMax, score_fasta, score_records, score_windows
from seqcnn.score.stream import ScoreStats


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
        _check_scored(table, fasta, stats)
    return stats


def bed_table(scorer: Scorer, bed_path: str, genome_path: str, output: str, *, echo: bool = False,
              options: TableOptions | None = None) -> ScoreStats:
    """Score the BED intervals of an indexed genome FASTA into ``output``: the BED columns, then tasks.

    Parameters
    ----------
    scorer, output, echo, options
        As :func:`fasta_table`.
    bed_path
        BED file of the intervals.
    genome_path
        Indexed genome FASTA.

    Returns
    -------
    ScoreStats
        Records read, padded, cropped and skipped.

    Raises
    ------
    InputError
        As :func:`fasta_table`; intervals outside the genome.
    """
    from seqcnn.seq.genome import Genome, iter_bed_sequences, read_bed

    opts = options or TableOptions()
    stats = ScoreStats()
    bed = read_bed(bed_path)
    records = ((i, seq) for i, (_, seq) in enumerate(iter_bed_sequences(bed, Genome(genome_path))))
    stream = score_records(scorer, records, batch_size=opts.batch_size, file=bed_path,
                           skip_invalid=opts.skip_invalid, echo=echo, progress=opts.progress, stats=stats)
    with open_table(output, header=opts.header) as table:
        for chunk, scores in stream:
            rows = bed.iloc[chunk.keys]
            cols: dict[str, Any] = {c: rows[c].to_numpy() for c in bed.columns}
            if echo:
                cols["sequence"] = chunk.seqs
            cols.update(zip(scorer.task_names(scores.shape[1]), scores.T, strict=True))
            table.write(cols)
        _check_scored(table, bed_path, stats)
    return stats


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
        _check_scored(table, fasta, stats)
    return stats


def _check_scored(table: TableWriter, source: str, stats: ScoreStats) -> None:
    if table.n_rows == 0:
        reason = "every record was skipped" if stats.skipped else "no records"
        raise InputError(f"nothing to score ({reason})", file=source)


def _write_maxima(table: TableWriter, rows: list[tuple[str, int, np.ndarray]], names: list[str]) -> None:
    if not rows:
        return
    values = np.stack([r[2] for r in rows])
    table.write({"id": [r[0] for r in rows], "n_windows": [r[1] for r in rows],
                 **dict(zip(names, values.T, strict=True))})


__all__ = ["TableOptions", "bed_table", "fasta_table", "window_table"]
