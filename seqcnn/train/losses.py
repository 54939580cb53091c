"""Loss functions by name, matched to task types.

All take the model output and the batch target and return a scalar (mean over the batch):

* ``bce``: binary cross-entropy on logits ``(N, T)`` vs 0/1 ``(N, T)``, optional ``pos_weight (T,)``;
* ``ce``: cross-entropy on logits ``(N, K)`` vs classes ``(N,)``, or ``(N, K, H, W)`` vs ``(N, H, W)``;
* ``mse``, ``mae``: on ``(N, T)`` (or any matching shape);
* ``poisson``: Poisson NLL with the output read as log-rate;
* ``multinomial``: BPNet profile loss on ``{"profile": (N, T, L'), "counts": (N, T)}`` vs counts
  ``(N, T, L)``: multinomial NLL of the profile plus ``counts_weight`` times the MSE of log(1 + total);
* ``dice`` (soft Dice on softmax probabilities) and ``ce_dice`` (their sum) for segmentation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from seqcnn.errors import ConfigError

LossFn = Callable[[Any, Tensor], Tensor]

DEFAULT_LOSS = {
    "binary": "bce",
    "multiclass": "ce",
    "regression": "mse",
    "profile": "multinomial",
    "segmentation": "ce_dice",
    "reconstruction": "mse",
}
ALLOWED = {
    "binary": {"bce", "mse"},
    "multiclass": {"ce"},
    "regression": {"mse", "mae", "poisson"},
    "profile": {"multinomial"},
    "segmentation": {"ce", "dice", "ce_dice"},
    "reconstruction": {"mse", "mae"},
}


def resolve_loss_name(name: str, task_type: str) -> str:
    """The loss a config asks for, checked against the task type.

    Parameters
    ----------
    name
        A loss name, or ``auto`` for the task type's default.
    task_type
        ``binary``, ``multiclass``, ``regression``, ``profile``, ``segmentation`` or ``reconstruction``.

    Returns
    -------
    str
        The loss name.

    Raises
    ------
    ConfigError
        An unknown task type, or a loss that does not fit it.
    """
    if task_type not in DEFAULT_LOSS:
        raise ConfigError(f"unknown task type {task_type!r}; known: {', '.join(DEFAULT_LOSS)}")
    if name == "auto":
        return DEFAULT_LOSS[task_type]
    if name not in ALLOWED[task_type]:
        raise ConfigError(
            f"train.loss {name!r} does not fit task type {task_type!r}; "
            f"use one of {', '.join(sorted(ALLOWED[task_type]))}"
        )
    return name


def make_loss(
    name: str, task_type: str, *, pos_weight: Tensor | None = None, counts_weight: float = 1.0
) -> LossFn:
    """The loss function for a loss name.

    Parameters
    ----------
    name
        A loss name, or ``auto`` (see :func:`resolve_loss_name`).
    task_type
        The task type the loss must fit.
    pos_weight
        ``(T,)`` weights of the positive class (binary cross-entropy only).
    counts_weight
        Weight of the counts term of the profile (BPNet) loss.

    Returns
    -------
    Callable
        ``fn(output, target) -> scalar tensor``.

    Raises
    ------
    ConfigError
        A loss that does not fit the task type.
    """
    name = resolve_loss_name(name, task_type)
    if name == "bce":
        return lambda out, y: F.binary_cross_entropy_with_logits(
            out, y, pos_weight=None if pos_weight is None else pos_weight.to(out.device)
        )
    simple: dict[str, LossFn] = {
        "ce": F.cross_entropy,
        "mse": F.mse_loss,
        "mae": F.l1_loss,
        "poisson": lambda out, y: F.poisson_nll_loss(out, y, log_input=True, full=False),
        "dice": dice_loss,
        "ce_dice": lambda out, y: F.cross_entropy(out, y) + dice_loss(out, y),
    }
    if name == "multinomial":
        return lambda out, y: profile_loss(out, y, counts_weight=counts_weight)
    return simple[name]


def pos_weight_from_labels(y: Tensor) -> Tensor:
    """Positive-class weights that balance each task's labels.

    Parameters
    ----------
    y
        0/1 labels ``(N, T)``.

    Returns
    -------
    torch.Tensor
        ``(T,)`` float: ``n_negative / n_positive`` per task (1 where a task has no positives).
    """
    positives = y.sum(0)
    negatives = y.shape[0] - positives
    return torch.where(positives > 0, negatives / positives.clamp(min=1), torch.ones_like(positives)).float()


def center_crop(y: Tensor, length: int) -> Tensor:
    """Crop the last axis around its centre (profile targets of models with valid padding).

    Parameters
    ----------
    y
        ``(..., L)``.
    length
        The output length, at most ``L``.

    Returns
    -------
    torch.Tensor
        ``(..., length)``, a view.

    Raises
    ------
    ValueError
        ``length`` greater than ``L``.
    """
    extra = y.shape[-1] - length
    if extra < 0:
        raise ValueError(f"target length {y.shape[-1]} is shorter than the output length {length}")
    start = extra // 2
    return y[..., start : start + length]


def multinomial_nll(logits: Tensor, counts: Tensor) -> Tensor:
    """Multinomial negative log-likelihood of profile counts (as in BPNet).

    The ``log(n!/prod k!)`` term, which does not depend on the model, is left out.

    Parameters
    ----------
    logits
        Profile logits ``(N, T, L)``.
    counts
        Observed counts ``(N, T, L)``.

    Returns
    -------
    torch.Tensor
        Scalar: the mean over ``(N, T)`` of ``-sum_l counts_l * log_softmax(logits)_l``.
    """
    return -(counts * torch.log_softmax(logits, dim=-1)).sum(-1).mean()


def profile_loss(output: dict[str, Tensor], counts: Tensor, *, counts_weight: float = 1.0) -> Tensor:
    """The BPNet loss: profile shape plus total counts.

    Parameters
    ----------
    output
        The model's outputs: ``profile`` logits ``(N, T, L')`` and ``counts`` ``(N, T)`` (log(1 + total)).
    counts
        Observed counts ``(N, T, L)``, ``L >= L'`` (centre-cropped to ``L'``).
    counts_weight
        Weight of the counts term.

    Returns
    -------
    torch.Tensor
        Scalar: multinomial NLL of the profile + ``counts_weight`` * MSE of log(1 + total counts).
    """
    logits = output["profile"].float()
    counts = center_crop(counts, logits.shape[-1])
    total = torch.log1p(counts.sum(-1))
    return multinomial_nll(logits, counts) + counts_weight * F.mse_loss(output["counts"].float(), total)


def dice_loss(logits: Tensor, target: Tensor, eps: float = 1.0) -> Tensor:
    """Soft Dice loss for segmentation.

    Parameters
    ----------
    logits
        ``(N, K, H, W)`` class logits.
    target
        ``(N, H, W)`` class indices.
    eps
        Smoothing added to numerator and denominator.

    Returns
    -------
    torch.Tensor
        Scalar ``1 - mean_k dice_k`` over the softmax probabilities.
    """
    probs = torch.softmax(logits.float(), dim=1)
    onehot = F.one_hot(target, probs.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    dims = (0, 2, 3)
    intersection = (probs * onehot).sum(dims)
    total = probs.sum(dims) + onehot.sum(dims)
    return 1 - ((2 * intersection + eps) / (total + eps)).mean()


def link(output: Any, loss_name: str) -> Any:
    """Turn raw model outputs into predictions for metrics: probabilities or values.

    Parameters
    ----------
    output
        Raw outputs: ``(N, T)``, ``(N, K, ...)``, or a profile model's dict.
    loss_name
        The loss trained with: bce gives a sigmoid; ce, dice and ce_dice a softmax over dim 1;
        poisson an exp; multinomial a dict with the profile softmax over positions and the log
        counts; mse and mae leave the outputs unchanged.

    Returns
    -------
    Any
        Predictions shaped like ``output``.
    """
    if loss_name == "bce":
        return torch.sigmoid(output.float())
    if loss_name in ("ce", "dice", "ce_dice"):
        return torch.softmax(output.float(), dim=1)
    if loss_name == "poisson":
        return torch.exp(output.float())
    if loss_name == "multinomial":
        return {
            "profile": torch.softmax(output["profile"].float(), dim=-1),
            "counts": output["counts"].float(),
        }
    return output.float()
