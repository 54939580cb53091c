"""The result of in-silico saturation mutagenesis and the views users read from it.

An :class:`ISMResult` holds, for ``N`` sequences mutated over positions ``[start, end)``
(``P = end - start``), the change of every kept output for every single-base substitution.
:func:`mutation_map` gives a DeepBind-style map of one output and :func:`importance` the loss of
score at each position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from seqcnn.errors import ConfigError

IMPORTANCE = ("max", "mean", "maxabs")
"""Values of ``how`` in :func:`importance`."""


@dataclass
class ISMResult:
    """ISM of ``N`` sequences over positions ``[start, end)`` (``P = end - start``).

    Attributes
    ----------
    delta : np.ndarray
        ``(N, A, P, T)`` change of output ``t`` when position ``start + i`` is set to base ``b``
        (mutant minus reference); 0 at the reference base.
    reference : np.ndarray
        ``(N, T)`` outputs of the unmutated sequences.
    bases : np.ndarray
        ``(N, P)`` int8 index of the reference base, -1 where the input column is not one-hot
        (e.g. ``N``: then all ``A`` bases are substitutions).
    start, end : int
        The mutated span.
    targets : list[int]
        The model output indices kept, in the order of the last axis of ``delta``.
    tasks : list[str]
        Their task names (the model file's, or ``task0 ..`` for a model without names).
    """

    delta: np.ndarray
    reference: np.ndarray
    bases: np.ndarray
    start: int
    end: int
    targets: list[int]
    tasks: list[str] = field(default_factory=list)

    def mutation_map(self, task: int = 0) -> np.ndarray:
        """The ``(N, A, P)`` mutation map of column ``task`` of ``delta`` (see :func:`mutation_map`)."""
        return mutation_map(self, task)

    def importance(self, how: str = "max", task: int = 0) -> np.ndarray:
        """The ``(N, P)`` per-position loss of score (see :func:`importance`)."""
        return importance(self, how, task)


def mutation_map(result: ISMResult, task: int = 0) -> np.ndarray:
    """DeepBind-style mutation map: the score change of every substitution for one output.

    Parameters
    ----------
    result
        An ISM result.
    task
        Column of ``result.delta`` (an index into ``result.targets``, not a model output index).

    Returns
    -------
    np.ndarray
        ``(N, A, P)`` changes, 0 at the reference bases.
    """
    return result.delta[..., task]


def importance(result: ISMResult, how: str = "max", task: int = 0) -> np.ndarray:
    """Loss of score at each position over its substitutions.

    Parameters
    ----------
    result
        An ISM result.
    how
        ``max`` or ``mean`` over the substituted bases of ``reference - mutant`` (DeepBind's logo
        heights use the max); ``maxabs`` gives ``max |delta|`` over all bases.
    task
        Column of ``result.delta``.

    Returns
    -------
    np.ndarray
        ``(N, P)`` importance per position.

    Raises
    ------
    ConfigError
        An unknown ``how``.
    """
    if how not in IMPORTANCE:
        raise ConfigError(f"unknown importance {how!r}; choose from {', '.join(IMPORTANCE)}")
    delta = result.delta[..., task]
    if how == "maxabs":
        return np.abs(delta).max(1)
    alt = np.ones(delta.shape, dtype=bool)
    n_idx, p_idx = np.nonzero(result.bases >= 0)
    alt[n_idx, result.bases[n_idx, p_idx], p_idx] = False
    if how == "max":
        return np.where(alt, -delta, -np.inf).max(1)
    return np.where(alt, -delta, 0).sum(1) / alt.sum(1)


def reference_bases(x: torch.Tensor) -> torch.Tensor:
    """The base at each position of one-hot sequences.

    Parameters
    ----------
    x
        ``(N, A, L)`` one-hot (or fractional) sequences.

    Returns
    -------
    torch.Tensor
        ``(N, L)`` long: index of the base, -1 where the column is not exactly one-hot.
    """
    hot = (x == 1).sum(1) == 1
    clean = hot & ((x == 0).sum(1) == x.shape[1] - 1)
    return torch.where(clean, x.argmax(1), torch.full_like(clean, -1, dtype=torch.long))
