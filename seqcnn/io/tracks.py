"""Genome browser tracks: bigWig (through pyBigWig) and bedGraph, written from sorted values.

A :class:`TrackWriter` takes the chromosome sizes first (the header: name and length of every
contig, in the genome index's order) and then entries in that contig order, sorted and
non-overlapping within a contig, as genome browsers and ``bedGraphToBigWig`` need them; an entry out of
order, past its contig's end or on an unknown contig is an error, never a silently broken file. An
entry is an interval with one value (:meth:`TrackWriter.add_intervals`) or a run of per-base values
(:meth:`TrackWriter.add_values`). NaN values are left out (no data there). bedGraph merges adjacent
entries of equal value into one line; bigWig stores per-base runs as fixed-step sections (4 bytes a
base) and computes its zoom levels when it closes. Coordinates are 0-based, half-open (as BED and
bedGraph; bigWig stores them the same way). Files are written under a temporary name and renamed
when the writer closes without error (:mod:`seqcnn.io.atomic`).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqcnn.errors import ConfigError, InputError
from seqcnn.io.atomic import atomic_path

TRACK_FORMATS = {".bw": "bigwig", ".bigwig": "bigwig", ".bedgraph": "bedgraph"}
"""Output extensions (any case) that ask for a track, and their formats."""
FLOAT_FORMAT = "%.7g"  # bigWig stores float32, which keeps ~7 significant digits


def track_format(path: str | os.PathLike) -> str | None:
    """The track format an output path asks for.

    Parameters
    ----------
    path
        Output path.

    Returns
    -------
    str or None
        ``bigwig`` (``.bw``, ``.bigwig``), ``bedgraph`` (``.bedgraph``, ``.bedGraph``: any case), or
        None for any other name (a table).
    """
    return TRACK_FORMATS.get(Path(str(path)).suffix.lower())


def track_paths(path: str | os.PathLike, names: Sequence[str]) -> list[Path]:
    """One output file per track: ``path`` itself for one track, else ``<stem>.<name><suffix>``.

    Parameters
    ----------
    path
        The output path given (e.g. ``scores.bw``).
    names
        Track (task) names; characters other than letters, digits, ``_.-`` become ``_``.

    Returns
    -------
    list[Path]
        ``[scores.bw]`` for one name; ``[scores.CTCF.bw, scores.GATA1.bw]`` for two.

    Raises
    ------
    ConfigError
        No names, or two names that give the same file name.
    """
    target = Path(path)
    if not names:
        raise ConfigError("no tracks to write")
    if len(names) == 1:
        return [target]
    safe = [re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "track" for name in names]
    if len(set(safe)) != len(safe):
        raise ConfigError(f"task names {list(names)} give clashing track file names; pick one with --task")
    return [target.with_name(f"{target.stem}.{name}{target.suffix}") for name in safe]


class TrackWriter:
    """Write one bigWig or bedGraph track, atomically.

    Parameters
    ----------
    path
        Output file; the extension picks the format (:func:`track_format`).
    chrom_sizes
        Every contig's length, in the order entries will come (the genome index's order).
    name
        Track name for the bedGraph ``track`` line (default: the file stem).

    Raises
    ------
    ConfigError
        An extension that is not a track format.
    InputError
        The output directory does not exist; no contigs.

    Notes
    -----
    Use as a context manager: the file appears under ``path`` only when the block ends without error.
    """

    def __init__(self, path: str | os.PathLike, chrom_sizes: Mapping[str, int], *,
                 name: str | None = None) -> None:
        fmt = track_format(path)
        if fmt is None:
            raise ConfigError(f"{path}: a track is written as .bw/.bigwig or .bedgraph")
        if not chrom_sizes:
            raise InputError("no contigs for the track header", file=str(path))
        self.path = Path(path)
        self.format = fmt
        self.sizes = {str(c): int(n) for c, n in chrom_sizes.items()}
        self._order = {c: i for i, c in enumerate(self.sizes)}
        self._at = (-1, 0)  # (contig index, end of the last entry): where the next entry may start
        self._pending: list[Any] | None = None  # bedGraph: the run being merged [chrom, start, end, value]
        self._closed = False
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        if fmt == "bigwig":
            import pyBigWig

            self._bw = pyBigWig.open(str(self._tmp), "w")
            self._bw.addHeader(list(self.sizes.items()), maxZooms=10)
        else:
            self._text = self._stack.enter_context(open(self._tmp, "w"))
            label = (name or self.path.stem).replace('"', "'")
            self._text.write(f'track type=bedGraph name="{label}"\n')

    # -- entries ---------------------------------------------------------------------------
    def add_intervals(self, chrom: str, starts: Any, ends: Any, values: Any) -> None:
        """Add intervals of one contig, each with one value.

        Parameters
        ----------
        chrom
            Contig name (one of the header's).
        starts, ends
            ``(n,)`` 0-based, half-open coordinates; increasing, non-overlapping, after every entry
            added before on this contig.
        values
            ``(n,)`` values; NaN entries are left out.

        Raises
        ------
        InputError
            An unknown contig, entries out of order or overlapping, or past the contig's end.
        """
        starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        ends = np.asarray(ends, dtype=np.int64).reshape(-1)
        values = np.asarray(values, dtype=np.float32).reshape(-1)
        if not starts.size:
            return
        self._check(chrom, starts, ends)
        keep = ~np.isnan(values)
        starts, ends, values = starts[keep], ends[keep], values[keep]
        if not starts.size:
            return
        if self.format == "bigwig":
            self._bw.addEntries([chrom] * len(starts), starts.tolist(), ends=ends.tolist(),
                                values=values.astype(np.float64).tolist())
        else:
            self._write_runs(chrom, starts, ends, values)

    def add_values(self, chrom: str, start: int, values: Any) -> None:
        """Add per-base values: ``values[i]`` is base ``start + i`` of ``chrom``.

        Parameters
        ----------
        chrom
            Contig name.
        start
            0-based position of the first value.
        values
            ``(n,)`` values; NaN bases are left out.

        Raises
        ------
        InputError
            As :meth:`add_intervals`.
        """
        values = np.asarray(values, dtype=np.float32).reshape(-1)
        if not values.size:
            return
        if self.format == "bedgraph":
            positions = np.arange(start, start + len(values), dtype=np.int64)
            self.add_intervals(chrom, positions, positions + 1, values)
            return
        self._check(chrom, np.array([start], dtype=np.int64), np.array([start + len(values)], dtype=np.int64))
        for a, b in _finite_runs(values):  # one fixed-step section per run of finite values
            self._bw.addEntries(chrom, int(start + a), values=values[a:b].astype(np.float64), span=1, step=1)

    def _check(self, chrom: str, starts: np.ndarray, ends: np.ndarray) -> None:
        """Entries must be on a known contig, in the header's contig order, sorted and inside it."""
        if chrom not in self._order:
            raise InputError(f"contig {chrom!r} is not in the track header (the genome's contigs)",
                             file=str(self.path))
        index, last_end = self._at
        here = self._order[chrom]
        first = int(starts[0])
        ordered = (here > index or (here == index and first >= last_end)) and first >= 0
        ordered = ordered and bool((ends > starts).all()) and bool((starts[1:] >= ends[:-1]).all())
        if not ordered:
            raise InputError(f"track entries out of order or overlapping at {chrom}:{first} (a track needs "
                             "sorted, non-overlapping entries in the genome's contig order)",
                             file=str(self.path))
        if int(ends[-1]) > self.sizes[chrom]:
            raise InputError(f"track entry {chrom}:{int(starts[-1])}-{int(ends[-1])} runs past the end of "
                             f"{chrom} (length {self.sizes[chrom]})", file=str(self.path))
        self._at = (here, int(ends[-1]))

    def _write_runs(self, chrom: str, starts: np.ndarray, ends: np.ndarray, values: np.ndarray) -> None:
        """bedGraph lines, merging adjacent entries of equal value (also across calls)."""
        lines = []
        run = self._pending
        for s, e, v in zip(starts.tolist(), ends.tolist(), values.tolist(), strict=True):
            if run is not None and run[0] == chrom and run[2] == s and run[3] == v:
                run[2] = e
                continue
            if run is not None:
                lines.append(_bedgraph_line(run))
            run = [chrom, s, e, v]
        self._pending = run
        self._text.write("".join(lines))

    # -- closing ---------------------------------------------------------------------------
    def close(self, error: bool = False) -> None:
        """Finish the file and rename it into place (``error``: discard it instead)."""
        if self._closed:
            return
        self._closed = True
        if self.format == "bigwig":
            self._bw.close()
        elif self._pending is not None and not error:
            self._text.write(_bedgraph_line(self._pending))
        self._pending = None
        if error:
            failure = RuntimeError("track not finished")
            self._stack.__exit__(type(failure), failure, None)
        else:
            self._stack.close()

    def __enter__(self) -> TrackWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.close(error=exc_type is not None)


def _bedgraph_line(run: list[Any]) -> str:
    chrom, start, end, value = run
    return f"{chrom}\t{start}\t{end}\t{FLOAT_FORMAT % value}\n"


def _finite_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """``[a, b)`` index ranges of the runs of finite (not NaN) values."""
    finite = np.concatenate([[False], ~np.isnan(values), [False]])
    edges = np.flatnonzero(finite[1:] != finite[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


__all__ = ["TRACK_FORMATS", "TrackWriter", "track_format", "track_paths"]
