"""Filter influence (Basset): how much each task's prediction drops when a first-layer filter is silenced."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from seqcnn.device import resolve_device
from seqcnn.errors import InputError
from seqcnn.motifs.sites import first_layer, one_hot_batches
from seqcnn.progress import progress_bar


def prediction_scale(model: nn.Module, out: torch.Tensor | dict) -> torch.Tensor:
    """Model output ``(N, T)`` on the scale users read: probabilities for binary and multiclass models
    (per ``model.metadata.task_type``, logits otherwise), the ``counts`` head of profile models."""
    if isinstance(out, dict):
        if "counts" not in out:
            raise InputError("model returns a dict without a 'counts' output; influence needs (N, T) scores")
        out = out["counts"]
    out = out.reshape(len(out), -1)  # (N, T); other output shapes are flattened per sequence
    task_type = getattr(getattr(model, "metadata", None), "task_type", None)
    if task_type == "binary":
        return torch.sigmoid(out)
    if task_type == "multiclass":
        return torch.softmax(out, dim=-1)
    return out


def _subsample(seqs: Sequence[str] | np.ndarray | torch.Tensor, n: int | None, seed: int = 0):
    """At most ``n`` sequences, a seeded random subset in input order."""
    if n is None or len(seqs) <= n:
        return seqs
    keep = np.sort(np.random.default_rng(seed).choice(len(seqs), n, replace=False))
    return [seqs[i] for i in keep] if isinstance(seqs, list | tuple) else seqs[keep]


@torch.no_grad()
def filter_influence(
    model: nn.Module, seqs: Sequence[str] | np.ndarray | torch.Tensor, *, max_sequences: int | None = 1000,
    batch_size: int = 256, device: torch.device | str | None = None, progress: bool = False,
) -> np.ndarray:
    """Mean drop of each task's prediction when each filter's activation is set to zero: ``(F, T)``.

    ``drop[f, t] = mean_n (y[n, t] - y_without_f[n, t])``, positive when the filter supports the task.
    Sequences must have the model's input length (when it has one). Each batch is repeated once per
    filter in a group and a forward hook zeroes a different filter's channel in each copy.
    """
    dev = resolve_device(device)
    model.to(dev).eval()
    layer = first_layer(model)
    n_filters = layer.n_filters
    length = getattr(model, "input_length", None)
    seqs = _subsample(seqs, max_sequences)
    mask_box: list[torch.Tensor | None] = [None]

    def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
        mask, mask_box[0] = mask_box[0], None  # only the first call of a forward pass (shared modules)
        return None if mask is None else output * mask

    handle = layer.output_module.register_forward_hook(hook)
    total, count = None, 0
    try:
        for x in progress_bar(one_hot_batches(seqs, batch_size=batch_size, min_length=layer.span),
                              enabled=progress, desc="filter influence"):
            if length is not None and x.shape[2] != length:
                raise InputError(f"sequences of length {x.shape[2]} for a model of input length {length}")
            drop = _batch_drop(model, x.to(dev), n_filters, max(1, batch_size // len(x)), mask_box)
            total = drop if total is None else total + drop
            count += len(x)
    finally:
        handle.remove()
    return (total / count).cpu().numpy()


def _batch_drop(model: nn.Module, x: torch.Tensor, n_filters: int, group: int,
                mask_box: list[torch.Tensor | None]) -> torch.Tensor:
    """Summed prediction drops ``(F, T)`` over the batch ``x`` ``(B, 4, L)``, ``group`` filters per pass."""
    base = prediction_scale(model, model(x))  # (B, T)
    drops = []
    for start in range(0, n_filters, group):
        filters = torch.arange(start, min(start + group, n_filters), device=x.device)
        mask = torch.ones(len(filters), 1, n_filters, 1, device=x.device)
        mask[torch.arange(len(filters)), 0, filters] = 0.0
        mask_box[0] = mask.expand(-1, len(x), -1, -1).reshape(-1, n_filters, 1)
        out = prediction_scale(model, model(x.repeat(len(filters), 1, 1)))  # (G*B, T)
        drops.append((base.repeat(len(filters), 1) - out).view(len(filters), len(x), -1).sum(dim=1))
    return torch.cat(drops)
