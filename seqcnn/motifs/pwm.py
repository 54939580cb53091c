"""Position probability matrices: from first-layer kernels, information content, trimming, consensus.

Every matrix here is a probability matrix of shape ``(L, 4)`` (rows are positions, columns A, C, G, T),
the orientation of MEME files and of ``seqcnn.seq.meme.Motif.pwm``. TomTom (memelite) wants ``(4, L)``:
``seqcnn.motifs.annotate`` transposes at that boundary only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from seqcnn.errors import InputError

if TYPE_CHECKING:  # torch is imported where a kernel is read: logo-drawing workers do without it
    import torch

UNIFORM = np.full(4, 0.25)

# Two-base IUPAC codes by the pair of bases (ACGT order) they stand for.
_PAIR_CODES = {
    frozenset("AC"): "M", frozenset("AG"): "R", frozenset("AT"): "W",
    frozenset("CG"): "S", frozenset("CT"): "Y", frozenset("GT"): "K",
}
_BASES = "ACGT"


def as_pwm(matrix: np.ndarray, *, name: str = "motif") -> np.ndarray:
    """Validate an ``(L, 4)`` matrix of non-negative values and normalise each row to sum 1.

    Parameters
    ----------
    matrix
        ``(L, 4)`` counts or probabilities.
    name
        The motif's name, for error messages.

    Returns
    -------
    np.ndarray
        ``(L, 4)`` float64 probabilities.

    Raises
    ------
    InputError
        A wrong shape, negative or non-finite values, or an all-zero row.
    """
    pwm = np.asarray(matrix, dtype=np.float64)
    if pwm.ndim != 2 or pwm.shape[1] != 4 or pwm.shape[0] == 0:
        raise InputError(f"expected an (L, 4) matrix, got shape {pwm.shape}", record=name)
    if not np.isfinite(pwm).all() or (pwm < 0).any():
        raise InputError("matrix has negative or non-finite values", record=name)
    sums = pwm.sum(axis=1, keepdims=True)
    if (sums <= 0).any():
        raise InputError(f"row {int(np.argmin(sums[:, 0]))} of the matrix is all zero", record=name)
    return pwm / sums


def counts_to_pwm(counts: np.ndarray, pseudocount: float = 0.1) -> np.ndarray:
    """Base counts plus ``pseudocount`` per cell, normalised to probabilities.

    Parameters
    ----------
    counts
        ``(L, 4)`` base counts.
    pseudocount
        Added to every cell.

    Returns
    -------
    np.ndarray
        ``(L, 4)`` probabilities.

    Raises
    ------
    InputError
        A wrong shape or negative counts.
    """
    counts = np.asarray(counts, dtype=np.float64)
    return as_pwm(counts + pseudocount)


def information_content(pwm: np.ndarray, background: np.ndarray = UNIFORM) -> np.ndarray:
    """Information content in bits per position, ``sum_b p_b log2(p_b / q_b)``.

    A uniform row has 0 bits, a one-hot row 2 bits (uniform background).

    Parameters
    ----------
    pwm
        ``(L, 4)`` probabilities.
    background
        ``(4,)`` background probabilities ``q``.

    Returns
    -------
    np.ndarray
        ``(L,)`` bits.
    """
    p = np.asarray(pwm, dtype=np.float64)
    q = np.asarray(background, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(p / q), 0.0)
    return terms.sum(axis=1)


def total_information(pwm: np.ndarray, background: np.ndarray = UNIFORM) -> float:
    """Sum of the per-position information content.

    Parameters
    ----------
    pwm
        ``(L, 4)`` probabilities.
    background
        ``(4,)`` background probabilities.

    Returns
    -------
    float
        Bits.
    """
    return float(information_content(pwm, background).sum())


def trim_bounds(pwm: np.ndarray, *, threshold: float = 0.5, pad: int = 1) -> tuple[int, int]:
    """Bounds of the informative core: positions over ``threshold`` bits, ``pad`` more on each side.

    Parameters
    ----------
    pwm
        ``(L, 4)`` probabilities.
    threshold
        Bits a core position must exceed.
    pad
        Positions added on each side (clipped to the matrix).

    Returns
    -------
    tuple[int, int]
        Half-open ``(start, end)``; ``(0, L)`` when no position is over the threshold.
    """
    ic = information_content(pwm)
    strong = np.flatnonzero(ic > threshold)
    if strong.size == 0:
        return 0, len(ic)
    return max(0, int(strong[0]) - pad), min(len(ic), int(strong[-1]) + 1 + pad)


def trim(pwm: np.ndarray, *, threshold: float = 0.5, pad: int = 1) -> np.ndarray:
    """The informative core of ``pwm`` (:func:`trim_bounds`).

    Parameters
    ----------
    pwm
        ``(L, 4)`` probabilities.
    threshold, pad
        As for :func:`trim_bounds`.

    Returns
    -------
    np.ndarray
        ``(L', 4)``.
    """
    start, end = trim_bounds(pwm, threshold=threshold, pad=pad)
    return np.asarray(pwm)[start:end]


def reverse_complement(pwm: np.ndarray) -> np.ndarray:
    """Reverse complement of an ACGT matrix: rows reversed, A<->T and C<->G swapped.

    Parameters
    ----------
    pwm
        ``(L, 4)`` matrix.

    Returns
    -------
    np.ndarray
        ``(L, 4)``, contiguous.
    """
    return np.ascontiguousarray(np.asarray(pwm)[::-1, ::-1])


def consensus(pwm: np.ndarray) -> str:
    """IUPAC consensus by Cavener's rules.

    A base when its probability is over 0.5 and over twice the second's; else the two-base code when
    the top two together are over 0.75; else N.

    Parameters
    ----------
    pwm
        ``(L, 4)`` probabilities.

    Returns
    -------
    str
        ``L`` IUPAC letters.
    """
    letters = []
    for row in np.asarray(pwm, dtype=np.float64):
        order = np.argsort(-row, kind="stable")
        p1, p2 = row[order[0]], row[order[1]]
        if p1 > 0.5 and p1 > 2 * p2:
            letters.append(_BASES[order[0]])
        elif p1 + p2 > 0.75:
            letters.append(_PAIR_CODES[frozenset(_BASES[order[0]] + _BASES[order[1]])])
        else:
            letters.append("N")
    return "".join(letters)


def kernel_pwm(weight: np.ndarray | torch.Tensor, *, beta: float = 1.0) -> np.ndarray:
    """DeepBind-style probability matrix of one first-layer kernel ``(4, K)`` -> ``(K, 4)``.

    Each position's weights are centred and exponentiated, ``p_b = exp(beta w_b) / sum_c exp(beta w_c)``
    (a softmax over bases), so a kernel whose weights are log-odds gives back those odds.

    Parameters
    ----------
    weight
        ``(4, K)`` kernel.
    beta
        Contrast scale, for kernels trained with other activations.

    Returns
    -------
    np.ndarray
        ``(K, 4)`` probabilities.

    Raises
    ------
    InputError
        A kernel that is not ``(4, K)``.
    """
    import torch

    w = torch.as_tensor(weight).detach().to("cpu", torch.float64)
    if w.ndim != 2 or w.shape[0] != 4:
        raise InputError(f"expected a (4, K) kernel, got shape {tuple(w.shape)}")
    return torch.softmax(beta * w.T, dim=1).numpy()


def kernel_pwms(conv_weight: np.ndarray | torch.Tensor, *, beta: float = 1.0) -> list[np.ndarray]:
    """:func:`kernel_pwm` of every filter of a first-layer weight.

    Parameters
    ----------
    conv_weight
        ``(F, 4, K)`` weights.
    beta
        As for :func:`kernel_pwm`.

    Returns
    -------
    list[np.ndarray]
        ``F`` matrices ``(K, 4)``.

    Raises
    ------
    InputError
        Weights that are not ``(F, 4, K)``.
    """
    import torch

    w = torch.as_tensor(conv_weight).detach()
    if w.ndim != 3 or w.shape[1] != 4:
        raise InputError(f"expected (F, 4, K) first-layer weights, got shape {tuple(w.shape)}")
    return [kernel_pwm(w[f], beta=beta) for f in range(w.shape[0])]
