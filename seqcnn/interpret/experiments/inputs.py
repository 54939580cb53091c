"""What the in-silico experiments share: motifs as letters, their insertion, shuffled backgrounds and
the raw scores of the chosen outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from seqcnn._common import Target, as_onehot, metadata_of, resolve_targets, task_names
from seqcnn.errors import ConfigError
from seqcnn.seq.meme import Motif
from seqcnn.seq.shuffle import shuffle_one_hot

MotifLike = str | np.ndarray | Motif
"""A motif: a string (``ACGT``, ``N`` keeps the background), an ``(K, 4)`` matrix or a ``Motif``."""

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


def insert_motif(x: np.ndarray, motif: str, start: int) -> np.ndarray:
    """A copy of one-hot ``x`` ``(N, 4, L)`` with ``motif`` written at ``start`` (N letters keep the base
    there); a :class:`ConfigError` when it does not fit."""
    length = x.shape[-1]
    check_fits(len(motif), length, start, what=f"motif {motif}")
    out = np.array(x, copy=True)
    for offset, letter in enumerate(motif):
        if letter != "N":
            out[:, :, start + offset] = 0
            out[:, _BASES.index(letter), start + offset] = 1
    return out


def check_fits(width: int, length: int, start: int, *, what: str) -> None:
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


def background_length(model: nn.Module, sequences: Any, length: int | None) -> int | None:
    """The length of random backgrounds: ``length``, else the model file's input length."""
    if sequences is not None or length is not None:
        return length
    meta = metadata_of(model)
    if meta is None or not meta.input_length:
        raise ConfigError("the model has no fixed input length: give background sequences or a length")
    return int(meta.input_length)


def raw_scores(model: nn.Module, x: np.ndarray, target: Target, rc: str | None, batch_size: int | None,
            device: Any, progress: bool = False) -> tuple[np.ndarray, list[str]]:
    """Raw outputs ``(N, T')`` of the ``target`` outputs and their task names."""
    from seqcnn.score.scoring import predict

    out = np.asarray(predict(model, x, rc=rc, batch_size=batch_size, device=device, logits=True,
                             progress=progress))
    names = task_names(model, out.shape[1])
    keep = resolve_targets(target, names)
    return out[:, keep].astype(np.float64), [names[i] for i in keep]


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
