"""Spans of real sequences shuffled or masked: :func:`ablated` inputs and the :func:`ablation` loss of
score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqcnn._common import Target, as_onehot
from seqcnn.errors import ConfigError
from seqcnn.interpret.experiments.inputs import raw_scores
from seqcnn.seq.shuffle import shuffle_one_hot

ABLATION_MODES = ("shuffle", "mask")


@dataclass
class Ablation:
    """A span of sequences shuffled or masked.

    Attributes
    ----------
    span
        ``(start, end)``, 0-based, half-open.
    mode
        ``shuffle`` or ``mask``.
    tasks
        Names of the outputs scored.
    before, after
        ``(N, T)`` raw outputs of the sequences as given and ablated (mean over shuffles).
    """

    span: tuple[int, int]
    mode: str
    tasks: list[str]
    before: np.ndarray
    after: np.ndarray

    @property
    def loss(self) -> np.ndarray:
        """``(N, T)`` loss of score: as given minus ablated (positive where the span supported it)."""
        return self.before - self.after

    def table(self, ids: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per sequence: ``id`` (``ids``, else 0-based indices), then the loss of each task."""
        frame = pd.DataFrame(self.loss, columns=self.tasks)
        frame.insert(0, "id", list(ids) if ids is not None else np.arange(len(frame)))
        return frame


def _check_span(span: Sequence[int], length: int) -> tuple[int, int]:
    """``span`` as ``(start, end)``; a one-line :class:`ConfigError` unless ``0 <= start < end <= length``."""
    try:
        start, end = (int(v) for v in span)
    except (TypeError, ValueError):
        raise ConfigError(f"span must be (start, end), got {span!r}") from None
    if not 0 <= start < end:
        raise ConfigError(f"span {start}-{end} is empty or negative: need 0 <= start < end")
    if end > length:
        raise ConfigError(f"span {start}-{end} lies past the input length ({length} bases)")
    return start, end


def ablated(x: np.ndarray, span: tuple[int, int], mode: str, *, n_shuffles: int = 10,
            seed: int = 0) -> np.ndarray:
    """Ablated copies of one-hot sequences.

    Parameters
    ----------
    x
        ``(N, 4, L)`` one-hot.
    span
        ``(start, end)``, inside the sequences.
    mode
        ``shuffle``: ``n_shuffles`` dinucleotide shuffles of the span; ``mask``: the span set to N
        (0.25 per base, as seqcnn encodes N).
    n_shuffles
        Shuffles per sequence (``shuffle`` only).
    seed
        Random seed of the shuffles.

    Returns
    -------
    np.ndarray
        ``(N, S, 4, L)``: ``S = n_shuffles`` for ``shuffle``, 1 for ``mask``.

    Raises
    ------
    ConfigError
        An unknown mode.
    """
    start, end = span
    if mode == "mask":
        out = np.array(x, dtype=np.float32, copy=True)[:, None]
        out[..., start:end] = 0.25
        return out
    if mode != "shuffle":
        raise ConfigError(f"unknown ablation mode {mode!r}; use {' or '.join(ABLATION_MODES)}")
    out = np.repeat(np.asarray(x, dtype=np.float32)[:, None], n_shuffles, axis=1)
    out[..., start:end] = shuffle_one_hot(x[..., start:end], 2, n_shuffles, seed=seed)
    return out


def ablation(model: nn.Module, x: Any, span: Sequence[int], mode: str = "shuffle", *, n_shuffles: int = 10,
             seed: int = 0, target: Target = None, rc: str | None = None, batch_size: int | None = None,
             device: str | torch.device | None = None, progress: bool = False) -> Ablation:
    """The loss of score when a span of each sequence is shuffled or masked.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was.
    x
        Sequences (a string, a list of equal-length strings, a FASTA ``pathlib.Path`` or one-hot
        ``(N, 4, L)``).
    span
        ``(start, end)``, 0-based, half-open.
    mode
        ``shuffle`` (dinucleotide-preserving, ``n_shuffles`` times, outputs averaged) or ``mask``
        (the span set to N).
    n_shuffles
        Shuffles per sequence.
    seed
        Random seed of the shuffles.
    target, rc, batch_size, device, progress
        The shared keyword tail; scores are raw outputs.

    Returns
    -------
    Ablation
        Outputs as given and ablated.

    Raises
    ------
    ConfigError
        A span past the input length, an unknown mode, ``n_shuffles`` below 1.
    InputError
        Unreadable sequences.
    """
    if isinstance(n_shuffles, bool) or not isinstance(n_shuffles, (int, np.integer)) or n_shuffles < 1:
        raise ConfigError(f"n_shuffles must be a positive integer, got {n_shuffles!r}")
    onehot = as_onehot(x).numpy()
    bounds = _check_span(span, onehot.shape[-1])
    copies = ablated(onehot, bounds, mode, n_shuffles=n_shuffles, seed=seed)
    before, tasks = raw_scores(model, onehot, target, rc, batch_size, device, progress)
    flat = copies.reshape((-1,) + onehot.shape[1:])
    after, _ = raw_scores(model, flat, target, rc, batch_size, device, progress)
    after = after.reshape(copies.shape[0], copies.shape[1], -1).mean(axis=1)
    return Ablation(bounds, mode, tasks, before, after)
