"""Motifs placed into backgrounds: :func:`marginalize` (one motif) and :func:`spacing` (two motifs over
their distance)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqcnn._common import Target
from seqcnn.errors import ConfigError
from seqcnn.interpret.experiments.inputs import (
    MotifLike,
    background_length,
    check_fits,
    effect_summary,
    insert_motif,
    motif_sequence,
    raw_scores,
    shuffled_backgrounds,
)
from seqcnn.progress import progress_bar


# -- marginalization ------------------------------------------------------------------------------
@dataclass
class Marginalization:
    """A motif inserted into backgrounds.

    Attributes
    ----------
    motif
        The inserted letters.
    start
        0-based position of its first letter.
    tasks
        Names of the outputs scored.
    before, after
        ``(N, T)`` raw outputs without and with the motif.
    """

    motif: str
    start: int
    tasks: list[str]
    before: np.ndarray
    after: np.ndarray

    @property
    def change(self) -> np.ndarray:
        """``(N, T)`` change of each output (with minus without the motif)."""
        return self.after - self.before

    def table(self) -> pd.DataFrame:
        """One row per background: ``background`` (0-based), then the change of each task."""
        frame = pd.DataFrame(self.change, columns=self.tasks)
        frame.insert(0, "background", np.arange(len(frame)))
        return frame

    def summary(self) -> pd.DataFrame:
        """One row per task: ``task, mean, sd, q05, median, q95`` of the change over backgrounds."""
        return effect_summary(self.change, self.tasks)


def marginalize(model: nn.Module, motif: MotifLike, sequences: Any = None, *, n: int = 100,
                length: int | None = None, position: int | None = None, seed: int = 0,
                target: Target = None, rc: str | None = None, batch_size: int | None = None,
                device: str | torch.device | None = None, progress: bool = False) -> Marginalization:
    """The effect of a motif inserted into ``n`` dinucleotide-shuffled backgrounds.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs (profile models: their ``counts`` head); given back as it was.
    motif
        What to insert (:func:`motif_sequence`).
    sequences
        Sequences whose dinucleotide shuffles are the backgrounds; None: uniformly random bases of
        ``length`` (default: the model file's input length). See :func:`shuffled_backgrounds`.
    n
        Number of backgrounds.
    length
        Length of random backgrounds.
    position
        0-based start of the motif (None: centred, ``(L - K) // 2``).
    seed
        Random seed of the backgrounds.
    target, rc, batch_size, device, progress
        The shared keyword tail (``seqcnn.score.scoring.predict``); scores are raw outputs.

    Returns
    -------
    Marginalization
        Outputs without and with the motif, per background.

    Raises
    ------
    ConfigError
        An invalid motif letter, a motif longer than the input or placed past its end, a bad ``target``.
    """
    letters = motif_sequence(motif)
    x = shuffled_backgrounds(sequences, n=n, length=background_length(model, sequences, length), seed=seed)
    start = (x.shape[-1] - len(letters)) // 2 if position is None else int(position)
    with_motif = insert_motif(x, letters, start)
    before, tasks = raw_scores(model, x, target, rc, batch_size, device, progress)
    after, _ = raw_scores(model, with_motif, target, rc, batch_size, device, progress)
    return Marginalization(letters, start, tasks, before, after)


# -- spacing --------------------------------------------------------------------------------------
@dataclass
class Spacing:
    """Two motifs at a range of distances in the same backgrounds.

    Attributes
    ----------
    motif_a, motif_b
        The inserted letters (A first, then B downstream).
    distances
        ``(D,)`` bases between the end of A and the start of B.
    starts
        ``(D, 2)`` 0-based starts of A and B at each distance (the pair centred).
    tasks
        Names of the outputs scored.
    background
        ``(N, T)`` raw outputs of the backgrounds.
    a, b, both
        ``(D, N, T)`` raw outputs with A alone, B alone and both, at each distance's positions.
    """

    motif_a: str
    motif_b: str
    distances: np.ndarray
    starts: np.ndarray
    tasks: list[str]
    background: np.ndarray
    a: np.ndarray
    b: np.ndarray
    both: np.ndarray

    @property
    def cooperativity(self) -> np.ndarray:
        """``(D, N, T)`` effect of the pair minus the sum of the singles' effects."""
        return (self.both - self.background) - (self.a - self.background) - (self.b - self.background)

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """``(D, T)`` mean cooperativity over backgrounds and its standard deviation (0 for one)."""
        coop = self.cooperativity
        sd = coop.std(axis=1, ddof=1) if coop.shape[1] > 1 else np.zeros_like(coop[:, 0])
        return coop.mean(axis=1), sd

    def table(self) -> pd.DataFrame:
        """Means over backgrounds: one row per distance and measure, one column per task.

        Measures: ``a``, ``b``, ``both`` (effects: with minus without), ``cooperativity`` (both minus
        a minus b) and ``cooperativity_sd`` (its standard deviation over backgrounds).
        """
        means = {"a": (self.a - self.background).mean(axis=1), "b": (self.b - self.background).mean(axis=1),
                 "both": (self.both - self.background).mean(axis=1)}
        means["cooperativity"], means["cooperativity_sd"] = self.curve()
        rows = [[int(distance), name, *values[d]] for d, distance in enumerate(self.distances)
                for name, values in means.items()]
        return pd.DataFrame(rows, columns=["distance", "measure", *self.tasks])


def _pair_starts(width_a: int, width_b: int, distances: np.ndarray, length: int,
                 position: int | None) -> np.ndarray:
    """``(D, 2)`` starts of A and B, the pair starting at ``position`` (None: centred)."""
    starts = []
    for d in distances.tolist():
        width = width_a + d + width_b
        start = (length - width) // 2 if position is None else int(position)
        check_fits(width, length, start, what=f"the motif pair at distance {d}")
        starts.append((start, start + width_a + d))
    return np.array(starts, dtype=np.int64)


def spacing(model: nn.Module, motif_a: MotifLike, motif_b: MotifLike, sequences: Any = None, *,
            distances: int | Sequence[int] = 20, n: int = 100, length: int | None = None,
            position: int | None = None, seed: int = 0, target: Target = None, rc: str | None = None,
            batch_size: int | None = None, device: str | torch.device | None = None,
            progress: bool = False) -> Spacing:
    """The cooperativity curve of two motifs: pair against singles at each distance.

    At distance ``d`` motif A starts at ``s`` and motif B at ``s + len(A) + d`` (``d`` bases between
    them); the pair is centred in the backgrounds unless ``position`` gives ``s``. The singles are
    scored at the same positions, so the curve is free of position effects.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was.
    motif_a, motif_b
        The motifs (:func:`motif_sequence`).
    sequences, n, length, seed
        The backgrounds, as for :func:`marginalize`.
    distances
        An int ``D`` for ``0 .. D``, or the distances themselves (non-negative).
    position
        0-based start of the pair (None: centred).
    target, rc, batch_size, device, progress
        The shared keyword tail; scores are raw outputs.

    Returns
    -------
    Spacing
        Outputs of the backgrounds, singles and pair at every distance.

    Raises
    ------
    ConfigError
        An invalid motif letter, a negative distance, or a pair that does not fit in the input at
        some distance.
    """
    a, b = motif_sequence(motif_a), motif_sequence(motif_b)
    steps = np.arange(distances + 1) if isinstance(distances, (int, np.integer)) else np.asarray(distances)
    if steps.size == 0 or steps.ndim != 1 or (steps < 0).any():
        raise ConfigError(f"distances must be a non-negative int or non-negative values, got {distances!r}")
    x = shuffled_backgrounds(sequences, n=n, length=background_length(model, sequences, length), seed=seed)
    starts = _pair_starts(len(a), len(b), steps.astype(np.int64), x.shape[-1], position)
    background, tasks = raw_scores(model, x, target, rc, batch_size, device)
    outputs = {"a": [], "b": [], "both": []}
    for start_a, start_b in progress_bar(starts.tolist(), enabled=progress, desc="distances"):
        with_a = insert_motif(x, a, start_a)
        variants = {"a": with_a, "b": insert_motif(x, b, start_b), "both": insert_motif(with_a, b, start_b)}
        for name, seqs in variants.items():
            outputs[name].append(raw_scores(model, seqs, target, rc, batch_size, device)[0])
    return Spacing(a, b, steps.astype(np.int64), starts, tasks, background,
                   *(np.stack(outputs[k]) for k in ("a", "b", "both")))
