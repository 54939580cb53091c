"""Filter influence (Basset): how much each task's prediction drops when a first-layer filter is silenced."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from seqcnn._common import (
    is_profile_output,
    metadata_of,
    model_device,
    model_dtype,
    preserved,
    resolve_batch_size,
    task_output,
    transform_outputs,
)
from seqcnn.errors import InputError
from seqcnn.motifs.sites import first_layer, one_hot_batches
from seqcnn.progress import progress_bar


def prediction_scale(model: nn.Module, out: torch.Tensor | dict) -> torch.Tensor:
    """A model's raw output on the scale users read.

    Parameters
    ----------
    model
        The model (its ``metadata.task_type`` picks the transform).
    out
        Its raw output: ``(N, T)`` (other shapes are flattened per sequence) or a profile model's dict.

    Returns
    -------
    torch.Tensor
        ``(N, T)``: probabilities for binary and multiclass models, logits otherwise; the ``counts``
        head of profile models.

    Raises
    ------
    ConfigError
        A dict without a ``counts`` head.
    """
    out = task_output(out) if is_profile_output(out) else out.reshape(len(out), -1)
    meta = metadata_of(model)
    return transform_outputs(out, getattr(meta, "task_type", None) or "")


def _subsample(seqs: Any, n: int | None, seed: int = 0) -> Any:
    """At most ``n`` sequences, a seeded random subset in input order."""
    if n is None or len(seqs) <= n:
        return seqs
    keep = np.sort(np.random.default_rng(seed).choice(len(seqs), n, replace=False))
    return [seqs[i] for i in keep] if isinstance(seqs, list | tuple) else seqs[keep]


@torch.no_grad()
def filter_influence(
    model: nn.Module, seqs: Sequence[str] | np.ndarray | torch.Tensor, *, max_sequences: int | None = 1000,
    batch_size: int | None = None, device: torch.device | str | None = None, progress: bool = False,
) -> np.ndarray:
    """Mean drop of each task's prediction when each first-layer filter's activation is set to zero.

    ``drop[f, t] = mean_n (y[n, t] - y_without_f[n, t])``, positive when the filter supports the task,
    with ``y`` on the scale of :func:`prediction_scale`. Each batch is repeated once per filter in a
    group and a forward hook zeroes a different filter's channel in each copy.

    Parameters
    ----------
    model
        A model whose first convolution takes one-hot DNA; given back as it was (device, mode,
        ``requires_grad``).
    seqs
        Strings (grouped by length), a FASTA ``pathlib.Path``, or one-hot ``(N, 4, L)``; they must have
        the model's ``input_length`` when it has one.
    max_sequences
        Use a seeded random subset of at most this many sequences (None: all).
    batch_size
        Sequences per pass (None: 256); copies per pass are about as many.
    device
        Where to run (None: automatic).
    progress
        Show a progress bar.

    Returns
    -------
    np.ndarray
        ``(F, T)`` mean drops.

    Raises
    ------
    InputError
        Sequences of another length than the model's, too short, or none.
    ConfigError
        A model whose output has no ``(N, T)`` scores.
    """
    size = resolve_batch_size(batch_size, 256)
    if isinstance(seqs, os.PathLike):
        from seqcnn.seq.fasta import read_fasta

        seqs = [seq for _, seq in read_fasta(seqs)]
    seqs = _subsample(seqs, max_sequences)
    with preserved(model, device) as m:
        layer = first_layer(m)
        length = getattr(m, "input_length", None)
        mask_box: list[torch.Tensor | None] = [None]

        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
            mask, mask_box[0] = mask_box[0], None  # only the first call of a forward pass (shared modules)
            return None if mask is None else output * mask

        handle = layer.output_module.register_forward_hook(hook)
        total, count = None, 0
        try:
            for x in progress_bar(one_hot_batches(seqs, batch_size=size, min_length=layer.span),
                                  enabled=progress, desc="filter influence"):
                if length is not None and x.shape[2] != length:
                    raise InputError(f"sequences of length {x.shape[2]} for a model of input length {length}")
                x = x.to(model_device(m), model_dtype(m))
                drop = _batch_drop(m, x, layer.n_filters, max(1, size // len(x)), mask_box)
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
        mask = torch.ones(len(filters), 1, n_filters, 1, device=x.device, dtype=x.dtype)
        mask[torch.arange(len(filters)), 0, filters] = 0.0
        mask_box[0] = mask.expand(-1, len(x), -1, -1).reshape(-1, n_filters, 1)
        out = prediction_scale(model, model(x.repeat(len(filters), 1, 1)))  # (G*B, T)
        drops.append((base.repeat(len(filters), 1) - out).view(len(filters), len(x), -1).sum(dim=1))
    return torch.cat(drops)
