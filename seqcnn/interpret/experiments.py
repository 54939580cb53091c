"""In-silico experiments: what a model does with a motif placed, paired or removed.

- :func:`marginalize`: a motif inserted into ``n`` dinucleotide-shuffled backgrounds; the change of
  every output, per background (its distribution is the motif's marginal effect, free of the context
  any one real sequence gives it).
- :func:`spacing`: two motifs at distances ``0 .. D`` apart in the same backgrounds; the effect of the
  pair against the sum of the effects of each alone (the cooperativity curve).
- :func:`ablation`: a span of real sequences shuffled (dinucleotides kept) or masked (set to N); the
  loss of score.

Every score is the model's raw output (logits for binary and multiclass models), because effects on
that scale add: for a model without interactions the pair's effect is exactly the sum of the singles'.
Motifs are strings of ``A C G T`` (``U`` read as ``T``) where ``N`` keeps the background base, or a
probability matrix / :class:`~seqcnn.seq.meme.Motif`, inserted as its consensus (most probable base).
Positions are 0-based; spans are half-open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqcnn._common import Target, as_onehot, metadata_of, resolve_targets, task_names
from seqcnn.errors import ConfigError
from seqcnn.progress import progress_bar
from seqcnn.seq.meme import Motif
from seqcnn.seq.shuffle import shuffle_one_hot

MotifLike = str | np.ndarray | Motif
"""A motif: a string (``ACGT``, ``N`` keeps the background), an ``(K, 4)`` matrix or a ``Motif``."""

ABLATION_MODES = ("shuffle", "mask")
_BASES = "ACGT"


# -- motifs and backgrounds ---------------------------------------------------------------------
def motif_sequence(motif: MotifLike) -> str:
    """The letters a motif is inserted as.

    Parameters
    ----------
    motif
        A string of ``A C G T N`` (any case; ``U`` is read as ``T``), an ``(K, 4)`` probability
        matrix or a :class:`~seqcnn.seq.meme.Motif` (its consensus: the most probable base per
        position).

    Returns
    -------
    str
        Upper-case ``A C G T N`` letters; ``N`` keeps the background base there.

    Raises
    ------
    ConfigError
        An empty motif, or a letter other than A, C, G, T, U or N (naming the letter and its
        1-based position), or a matrix that is not ``(K, 4)``.
    """
    if isinstance(motif, Motif):
        return motif.consensus
    if isinstance(motif, str):
        text = motif.strip().upper().replace("U", "T")
        if not text:
            raise ConfigError("empty motif: give letters A, C, G, T (N keeps the background base)")
        for i, letter in enumerate(text):
            if letter not in "ACGTN":
                raise ConfigError(f"invalid letter {motif.strip()[i]!r} at position {i + 1} of motif "
                                  f"{motif.strip()!r}: use A, C, G, T, or N to keep the background base")
        return text
    matrix = np.asarray(motif, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != 4 or matrix.shape[0] == 0:
        raise ConfigError(f"a motif matrix must be (K, 4) with K >= 1, got shape {matrix.shape}")
    return "".join(_BASES[i] for i in matrix.argmax(axis=1))


def _insert(x: np.ndarray, motif: str, start: int) -> np.ndarray:
    """A copy of one-hot ``x`` ``(N, 4, L)`` with ``motif`` written at ``start`` (N letters keep the base
    there); a :class:`ConfigError` when it does not fit."""
    length = x.shape[-1]
    _check_fits(len(motif), length, start, what=f"motif {motif}")
    out = np.array(x, copy=True)
    for offset, letter in enumerate(motif):
        if letter != "N":
            out[:, :, start + offset] = 0
            out[:, _BASES.index(letter), start + offset] = 1
    return out


def _check_fits(width: int, length: int, start: int, *, what: str) -> None:
    """A one-line :class:`ConfigError` unless ``[start, start + width)`` lies inside ``[0, length)``."""
    if width > length:
        raise ConfigError(f"{what} is {width} bases, longer than the input ({length} bases)")
    if start < 0 or start + width > length:
        raise ConfigError(f"{what} at position {start} ({width} bases) lies past the input (0..{length - 1})")


def shuffled_backgrounds(sequences: Any = None, *, n: int = 100, length: int | None = None, k: int = 2,
                         seed: int = 0) -> np.ndarray:
    """``n`` background sequences: k-mer preserving shuffles of ``sequences``, or random ones.

    Parameters
    ----------
    sequences
        Sequences whose shuffles are the backgrounds (anything ``seqcnn._common.as_onehot`` reads),
        used in turn (``n`` may exceed their number); None: uniformly random bases.
    n
        Number of backgrounds.
    length
        Length of random backgrounds (only without ``sequences``).
    k
        The k-mer size each shuffle keeps (2: dinucleotides).
    seed
        Random seed; the backgrounds are a function of it.

    Returns
    -------
    np.ndarray
        ``(n, 4, L)`` float32 one-hot.

    Raises
    ------
    ConfigError
        ``n`` below 1, or neither ``sequences`` nor ``length``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    if sequences is None:
        if length is None or length < 1:
            raise ConfigError("give background sequences or a positive length for random backgrounds")
        codes = rng.integers(0, 4, size=(n, length))
        return np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1).copy()
    x = as_onehot(sequences).numpy()
    out = np.empty((n,) + x.shape[1:], dtype=np.float32)
    for i in range(n):
        out[i] = shuffle_one_hot(x[i % len(x)], k, 1, seed=rng)[0]
    return out


def _background_length(model: nn.Module, sequences: Any, length: int | None) -> int | None:
    """The length of random backgrounds: ``length``, else the model file's input length."""
    if sequences is not None or length is not None:
        return length
    meta = metadata_of(model)
    if meta is None or not meta.input_length:
        raise ConfigError("the model has no fixed input length: give background sequences or a length")
    return int(meta.input_length)


def _scores(model: nn.Module, x: np.ndarray, target: Target, rc: str | None, batch_size: int | None,
            device: Any, progress: bool = False) -> tuple[np.ndarray, list[str]]:
    """Raw outputs ``(N, T')`` of the ``target`` outputs and their task names."""
    from seqcnn.score.scoring import predict

    out = np.asarray(predict(model, x, rc=rc, batch_size=batch_size, device=device, logits=True,
                             progress=progress))
    names = task_names(model, out.shape[1])
    keep = resolve_targets(target, names)
    return out[:, keep].astype(np.float64), [names[i] for i in keep]


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


def effect_summary(values: np.ndarray, tasks: Sequence[str]) -> pd.DataFrame:
    """Mean, standard deviation and 5/50/95% quantiles of ``(N, T)`` effects, one row per task.

    Parameters
    ----------
    values
        ``(N, T)`` effects.
    tasks
        One name per column.

    Returns
    -------
    pd.DataFrame
        ``task, mean, sd, q05, median, q95``.
    """
    q05, median, q95 = np.quantile(values, [0.05, 0.5, 0.95], axis=0)
    sd = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
    return pd.DataFrame({"task": list(tasks), "mean": values.mean(axis=0), "sd": sd, "q05": q05,
                         "median": median, "q95": q95})


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
    x = shuffled_backgrounds(sequences, n=n, length=_background_length(model, sequences, length), seed=seed)
    start = (x.shape[-1] - len(letters)) // 2 if position is None else int(position)
    with_motif = _insert(x, letters, start)
    before, tasks = _scores(model, x, target, rc, batch_size, device, progress)
    after, _ = _scores(model, with_motif, target, rc, batch_size, device, progress)
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
        _check_fits(width, length, start, what=f"the motif pair at distance {d}")
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
    x = shuffled_backgrounds(sequences, n=n, length=_background_length(model, sequences, length), seed=seed)
    starts = _pair_starts(len(a), len(b), steps.astype(np.int64), x.shape[-1], position)
    background, tasks = _scores(model, x, target, rc, batch_size, device)
    outputs = {"a": [], "b": [], "both": []}
    for start_a, start_b in progress_bar(starts.tolist(), enabled=progress, desc="distances"):
        with_a = _insert(x, a, start_a)
        variants = {"a": with_a, "b": _insert(x, b, start_b), "both": _insert(with_a, b, start_b)}
        for name, seqs in variants.items():
            outputs[name].append(_scores(model, seqs, target, rc, batch_size, device)[0])
    return Spacing(a, b, steps.astype(np.int64), starts, tasks, background,
                   *(np.stack(outputs[k]) for k in ("a", "b", "both")))


# -- ablation -------------------------------------------------------------------------------------
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
    before, tasks = _scores(model, onehot, target, rc, batch_size, device, progress)
    flat = copies.reshape((-1,) + onehot.shape[1:])
    after, _ = _scores(model, flat, target, rc, batch_size, device, progress)
    after = after.reshape(copies.shape[0], copies.shape[1], -1).mean(axis=1)
    return Ablation(bounds, mode, tasks, before, after)
