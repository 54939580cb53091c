"""Scoring sequences: ``predict`` for arrays and files in memory, ``score_*`` to stream large inputs.

``predict(model, inputs)`` is the one-call API. ``score_fasta``, ``score_records`` and ``score_windows``
stream FASTA-sized inputs through a :class:`~seqcnn.score.scorer.Scorer` (reading and encoding in a
background thread, :mod:`seqcnn.score.stream`) and yield ``(chunk, scores)`` pairs in input order, so
memory stays flat however large the input.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from seqcnn._common import Target, as_tensor, check_not_path, resolve_batch_size, resolve_targets, task_names
from seqcnn.errors import ConfigError, InputError
from seqcnn.progress import progress_bar
from seqcnn.score.scorer import Scorer
from seqcnn.score.stream import (
    Chunk,
    ScoreStats,
    background,
    fasta_chunks,
    record_chunks,
    rows_per_batch,
    window_chunks,
)

if TYPE_CHECKING:
    import pandas as pd

Scored = tuple[Chunk, np.ndarray]  # a chunk of keys and its scores (n, T)


def keep_freed_memory(retain: int = 512 << 20) -> bool:
    """Ask glibc's malloc to serve large blocks from its heap and keep up to ``retain`` freed bytes.

    The forward pass's large activations (16 MB a batch for DeepBind at 256 sequences) then reuse
    memory instead of being mapped, page-faulted (zero-filled) and unmapped on every batch (at 1,024
    DeepBind sequences a batch that made the forward 2.6x slower: 15k vs 39k sequences/s; at 256 it
    happens under load). Process-wide, so meant for CLI commands.

    Parameters
    ----------
    retain
        Freed bytes malloc may keep.

    Returns
    -------
    bool
        True when set; False (a no-op) where the C library is not glibc.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library's symbols, as the interpreter links them
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(mallopt(m_mmap_max, 0) and mallopt(m_trim_threshold, int(retain)))


def iter_scores(scorer: Any, chunks: Iterable[Chunk], *, progress: bool = False,
                desc: str = "scoring") -> Iterator[Scored]:
    """Run chunks (made in a background thread) through ``scorer``.

    Parameters
    ----------
    scorer
        A :class:`Scorer` (or anything with its ``run`` and ``lent``); its model stays lent while
        the chunks are scored.
    chunks
        Chunks of prepared batches (:mod:`seqcnn.score.stream`).
    progress
        A progress bar on stderr.
    desc
        The bar's label.

    Yields
    ------
    tuple[Chunk, np.ndarray]
        Each chunk with its scores ``(n, T)`` float32, rows in the order of ``chunk.keys``.
    """
    bar = progress_bar(enabled=progress, desc=desc, unit="seq")
    try:
        with scorer.lent():
            for chunk in background(chunks):
                if not chunk.keys:  # every record of the chunk was skipped
                    continue
                parts = [(idx, scorer.run(prep)) for idx, prep in chunk.groups]
                n_tasks = parts[0][1].shape[1] if parts else 0
                scores = np.empty((len(chunk.keys), n_tasks), dtype=np.float32)
                for idx, part in parts:
                    scores[idx] = part
                bar.update(len(chunk.keys))
                yield chunk, scores
    finally:
        bar.close()


def score_records(scorer: Scorer, records: Iterable[tuple[Any, str]], *, batch_size: int | None = None,
                  file: str | None = None, skip_invalid: bool = False, echo: bool = False,
                  progress: bool = False, stats: ScoreStats | None = None) -> Iterator[Scored]:
    """Stream ``(id, sequence)`` records through ``scorer``.

    Parameters
    ----------
    scorer
        The scorer.
    records
        ``(key, sequence)`` pairs; keys are handed back in ``chunk.keys``.
    batch_size
        Sequences per batch (None: the scorer's plan, :meth:`Scorer.batch_plan`).
    file
        Source named in error messages.
    skip_invalid
        Skip records with invalid bases or no bases (listed in ``stats.skipped``) instead of raising.
    echo
        Keep the fitted sequences in ``chunk.seqs``.
    progress
        A progress bar on stderr.
    stats
        Filled as records are read: counts of records and of padded/cropped/skipped ones.

    Yields
    ------
    tuple[Chunk, np.ndarray]
        Chunks with their scores ``(n, T)``, in input order.

    Raises
    ------
    InputError
        An invalid or empty record (without ``skip_invalid``), naming the record and position.
    """
    stats = stats if stats is not None else ScoreStats()
    batch_size, max_bases = scorer.batch_plan(batch_size)
    chunks = record_chunks(records, scorer.prepare, scorer.policy(), stats, batch_size=batch_size,
                           file=file, skip_invalid=skip_invalid, echo=echo, max_bases=max_bases)
    yield from iter_scores(scorer, chunks, progress=progress)


def score_fasta(scorer: Scorer, path: str | os.PathLike, *, batch_size: int | None = None,
                skip_invalid: bool = False, echo: bool = False, progress: bool = False,
                stats: ScoreStats | None = None) -> Iterator[Scored]:
    """:func:`score_records` of the FASTA file ``path`` (``-``: stdin), read a block at a time.

    Blocks of equal-length valid records skip the per-record path
    (:func:`seqcnn.score.stream.fasta_chunks`). Parameters and errors as :func:`score_records`.

    Yields
    ------
    tuple[Chunk, np.ndarray]
        Chunks (keys: the record ids) with their scores ``(n, T)``, in file order.
    """
    stats = stats if stats is not None else ScoreStats()
    batch_size, max_bases = scorer.batch_plan(batch_size)
    chunks = fasta_chunks(os.fspath(path), scorer.prepare, scorer.policy(), stats, batch_size=batch_size,
                          skip_invalid=skip_invalid, echo=echo, max_bases=max_bases)
    yield from iter_scores(scorer, chunks, progress=progress)


def score_windows(scorer: Scorer, records: Iterable[tuple[str, str]], *, window: int, step: int,
                  batch_size: int | None = None, file: str | None = None, skip_invalid: bool = False,
                  progress: bool = False, stats: ScoreStats | None = None) -> Iterator[Scored]:
    """Scan each record with ``window``-long windows every ``step`` bases.

    Windows follow :func:`seqcnn.seq.windows.window_starts` (a last one flush with the record's end);
    a record shorter than ``window`` is padded with N (centred). Other parameters as
    :func:`score_records`.

    Yields
    ------
    tuple[Chunk, np.ndarray]
        Chunks whose keys are ``(id, start, end)`` (0-based, end exclusive) with their scores ``(n, T)``.

    Raises
    ------
    ConfigError
        ``window`` or ``step`` below 1, a window other than a fixed-length model's input length, or
        one shorter than the model's receptive field.
    """
    if window < 1 or step < 1:
        raise ConfigError(f"window and step must be >= 1, got {window} and {step}")
    if scorer.input_length and window != scorer.input_length:
        raise ConfigError(f"--window {window} differs from the model's input length {scorer.input_length}")
    if not scorer.input_length and window < scorer.minimum:  # fixed-length models fix the window
        raise ConfigError(f"--window {window} is shorter than the model's receptive field {scorer.minimum}")
    stats = stats if stats is not None else ScoreStats()
    batch_size, max_bases = scorer.batch_plan(batch_size)
    chunks = window_chunks(records, scorer.prepare, stats, window=window, step=step, batch_size=batch_size,
                           file=file, skip_invalid=skip_invalid, max_bases=max_bases)
    yield from iter_scores(scorer, chunks, progress=progress, desc="windows")


class RecordMax:
    """Per-record maximum over the windows of :func:`score_windows` (records arrive contiguously).

    :meth:`add` and :meth:`finish` return the rows of records that are complete:
    ``(id, n_windows, max (T,))``.
    """

    def __init__(self) -> None:
        self.current: str | None = None
        self.count = 0
        self.best: np.ndarray | None = None

    def add(self, keys: list[tuple[str, int, int]], scores: np.ndarray) -> list[tuple[str, int, np.ndarray]]:
        """Take the next windows.

        Parameters
        ----------
        keys
            ``(id, start, end)`` of each window, records contiguous.
        scores
            ``(n, T)`` scores of the windows.

        Returns
        -------
        list[tuple[str, int, np.ndarray]]
            ``(id, n_windows, max (T,))`` of the records completed by these windows.
        """
        done = []
        for (rid, _, _), row in zip(keys, scores, strict=True):
            if rid != self.current:
                if self.current is not None:
                    done.append((self.current, self.count, self.best))
                self.current, self.count, self.best = rid, 0, row.copy()
            self.count += 1
            np.maximum(self.best, row, out=self.best)
        return done

    def finish(self) -> list[tuple[str, int, np.ndarray]]:
        """The last record's row (none when no window was added)."""
        return [] if self.current is None else [(self.current, self.count, self.best)]


def predict(model: nn.Module, inputs: Any, *, target: Target = None, rc: str | None = None,
            batch_size: int | None = None, device: str | torch.device | None = None, progress: bool = False,
            logits: bool = False) -> np.ndarray | pd.DataFrame:
    """Score sequences with ``model``.

    Parameters
    ----------
    model
        A model returning ``(N, T)`` outputs (profile models: their ``counts`` head). It is left as
        it was found (device, train/eval mode, ``requires_grad``).
    inputs
        One sequence (``str``; a string is always a sequence, never a file name) or a list of them;
        a one-hot array or tensor ``(N, 4, L)`` or ``(4, L)``; or a FASTA file given as a path
        object (``pathlib.Path``). Fixed-length models get other lengths padded with N or cropped
        (centred, with a warning saying how many); others get sequences shorter than their
        receptive field padded.
    target
        The outputs to return: None for all, or an index, a task name, or a list of them.
    rc
        ``mean``/``max`` combine both strands, ``none`` scores the given strand; None takes the
        model file's ``rc_mode``.
    batch_size
        Sequences per batch (None: chosen from the model and the sequence length).
    device
        Where to run (None: CUDA, then MPS, then CPU).
    progress
        A progress bar on stderr.
    logits
        Raw outputs instead of probabilities (``binary``: sigmoid, ``multiclass``: softmax).

    Returns
    -------
    np.ndarray or pandas.DataFrame
        Sequences and arrays: ``(N, T')`` float32 scores, one column per selected output. A FASTA
        path: a DataFrame with ``id`` and one column per selected task (names from
        ``model.metadata``, else ``task0 ..``).

    Raises
    ------
    InputError
        Invalid bases (naming the record and position), an empty sequence, a missing file (also a
        ``str`` that looks like a file name: "no such file"), or an array that is not ``(N, 4, L)``.
    ConfigError
        A bad ``target``, ``rc`` or ``batch_size``.
    """
    if batch_size is not None:
        resolve_batch_size(batch_size, 1)
    _check_target_early(target, model)
    if isinstance(inputs, str):
        check_not_path(inputs)
        inputs = [inputs]
    if not isinstance(inputs, (os.PathLike, np.ndarray, torch.Tensor)):
        inputs = list(inputs) if isinstance(inputs, Iterable) else inputs
        if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
            raise InputError("inputs must be sequences (str), a one-hot array (N, 4, L) or a FASTA "
                             "file as a pathlib.Path")
    scorer = Scorer(model, device=device, rc=rc, logits=logits)
    with scorer:
        if isinstance(inputs, os.PathLike):
            frame = _predict_fasta(scorer, inputs, batch_size, progress)
            keep = resolve_targets(target, list(frame.columns[1:]))
            return frame.iloc[:, [0, *(i + 1 for i in keep)]] if target is not None else frame
        if isinstance(inputs, list):
            scores = _predict_strings(scorer, inputs, batch_size, progress)
        else:
            scores = _predict_array(scorer, inputs, batch_size)
    if target is None:
        return scores
    return scores[:, resolve_targets(target, task_names(model, scores.shape[1]))]


def _check_target_early(target: Target, model: nn.Module) -> None:
    """Raise for a bad ``target`` before any work when the model file names its tasks."""
    meta = getattr(model, "metadata", None)
    if target is not None and meta is not None and meta.tasks:
        resolve_targets(target, list(meta.tasks))


def _empty(scorer: Scorer) -> np.ndarray:
    meta = getattr(scorer.source, "metadata", None)
    return np.zeros((0, len(meta.tasks) if meta is not None and meta.tasks else 0), dtype=np.float32)


def _predict_strings(scorer: Scorer, seqs: list[str], batch_size: int | None, progress: bool) -> np.ndarray:
    if not seqs:
        return _empty(scorer)
    stats = ScoreStats()
    records = ((f"#{i + 1}", s) for i, s in enumerate(seqs))  # named like seqcnn.seq.encode names them
    scored = score_records(scorer, records, batch_size=batch_size, progress=progress, stats=stats)
    parts = [scores for _, scores in scored]
    _warn_lengths(stats, scorer)
    return np.concatenate(parts)


def _predict_fasta(scorer: Scorer, path: os.PathLike, batch_size: int | None, progress: bool) -> pd.DataFrame:
    import pandas as pd  # imported here: `seqcnn score` does not need it, and it costs 0.3 s to import

    if not os.path.exists(path):
        raise InputError("no such file", file=os.fspath(path))
    stats = ScoreStats()
    ids: list[str] = []
    parts: list[np.ndarray] = []
    for chunk, scores in score_fasta(scorer, path, batch_size=batch_size, progress=progress, stats=stats):
        ids.extend(chunk.keys)
        parts.append(scores)
    _warn_lengths(stats, scorer)
    if not parts:
        raise InputError("no FASTA records", file=os.fspath(path))
    scores = np.concatenate(parts)
    frame = pd.DataFrame(scores, columns=scorer.task_names(scores.shape[1]))
    frame.insert(0, "id", ids)
    return frame


def _predict_array(scorer: Scorer, inputs: np.ndarray | torch.Tensor, batch_size: int | None) -> np.ndarray:
    x = as_tensor(inputs).cpu().numpy()
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] != 4:
        raise InputError(f"one-hot input must have shape (N, 4, L), got {x.shape}")
    x = x.astype(np.float32, copy=False)
    length = scorer.input_length or max(x.shape[2], scorer.minimum)
    if x.shape[2] != length:
        warnings.warn(f"{x.shape[0]} sequence(s) of length {x.shape[2]} padded with N or cropped (centred) "
                      f"to {length}", stacklevel=3)
        x = _fit_onehot(x, length)
    rows, max_bases = scorer.batch_plan(batch_size)
    step = rows_per_batch(rows, length, max_bases)
    parts = [scorer.run(scorer.prepare_onehot(x[i : i + step])) for i in range(0, len(x), step)]
    return np.concatenate(parts) if parts else _empty(scorer)


def _fit_onehot(x: np.ndarray, length: int) -> np.ndarray:
    """Crop or pad ``(N, 4, L)`` to ``length`` keeping it centred; padding is N (0.25)."""
    diff = length - x.shape[2]
    if diff < 0:
        start = -diff // 2
        return x[:, :, start : start + length]
    return np.pad(x, ((0, 0), (0, 0), (diff // 2, diff - diff // 2)), constant_values=0.25)


def _warn_lengths(stats: ScoreStats, scorer: Scorer) -> None:
    note = stats.length_note(scorer.input_length)
    if note:
        warnings.warn(note, stacklevel=4)


__all__ = ["RecordMax", "iter_scores", "keep_freed_memory", "predict", "score_fasta",
           "score_records", "score_windows"]
