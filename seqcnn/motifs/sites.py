"""First-layer filters as motifs from the windows that activate them (Basset; Koo & Eddy 2019).

The first layer is the first ``nn.Conv1d`` in ``model.modules()`` followed by the element-wise modules
registered after it in the same parent (batch norm, activation; for a ``ConvBlock`` its norm and
activation), stopping at pooling, dropout or the next layer. It is applied without padding so that every
window lies inside its sequence.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from seqcnn._common import (
    as_onehot,
    is_sequence_list,
    model_device,
    model_dtype,
    preserved,
    resolve_batch_size,
)
from seqcnn.errors import ConfigError, InputError
from seqcnn.motifs.pwm import counts_to_pwm
from seqcnn.progress import progress_bar
from seqcnn.seq.encode import one_hot
from seqcnn.seq.fasta import read_fasta

_STOP = (
    nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.dropout._DropoutNd, nn.Flatten, nn.Linear,
    nn.modules.conv._ConvNd, nn.Sequential, nn.ModuleList, nn.ModuleDict,
)


@dataclass
class FirstLayer:
    """The first convolution of a model plus the element-wise modules that follow it.

    Calling it on ``(N, 4, L)`` gives activations ``(N, F, L - span + 1)`` (no padding).

    Attributes
    ----------
    conv
        The convolution.
    post
        The norm/activation modules applied after it, in order.
    """

    conv: nn.Conv1d
    post: list[nn.Module]

    @property
    def n_filters(self) -> int:
        """Filters ``F``."""
        return self.conv.out_channels

    @property
    def kernel_size(self) -> int:
        """Kernel width ``K``."""
        return self.conv.kernel_size[0]

    @property
    def span(self) -> int:
        """Bases one filter covers: ``dilation * (K - 1) + 1``."""
        return self.conv.dilation[0] * (self.kernel_size - 1) + 1

    @property
    def output_module(self) -> nn.Module:
        """The module whose output is the filters' activation (for hooks that silence a filter)."""
        return self.post[-1] if self.post else self.conv

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Activations ``(N, F, L - span + 1)`` of one-hot ``x`` ``(N, 4, L)``."""
        c = self.conv
        out = F.conv1d(x, c.weight, c.bias, stride=1, padding=0, dilation=c.dilation)
        for module in self.post:
            out = module(out)
        return out


def _is_elementwise(module: nn.Module) -> bool:
    """Norm layers and parameter-free modules that are not pooling, dropout or containers."""
    if isinstance(module, _STOP):
        return False
    if "norm" in type(module).__name__.lower():
        return True
    return next(module.parameters(), None) is None


def first_layer(model: nn.Module) -> FirstLayer:
    """Find the first ``nn.Conv1d`` of ``model`` and the norm/activation after it.

    Parameters
    ----------
    model
        Any model (not moved or changed).

    Returns
    -------
    FirstLayer
        The convolution and the modules after it.

    Raises
    ------
    InputError
        The model has no 1D convolution or its first one does not take 4 channels.
    """
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv1d)), None)
    if conv is None:
        raise InputError(f"model {type(model).__name__} has no 1D convolution: no filters to make motifs of")
    if conv.in_channels != 4 or conv.groups != 1:
        raise InputError(f"first convolution takes {conv.in_channels} channels (groups={conv.groups}); "
                         "motifs need a 4-channel one-hot DNA input")
    parent = next((m for m in model.modules() if any(child is conv for child in m.children())), None)
    if parent is None:  # the model is the convolution itself
        return FirstLayer(conv, [])
    children = list(parent.children())
    post: list[nn.Module] = []
    for child in children[[i for i, c in enumerate(children) if c is conv][0] + 1:]:
        if not _is_elementwise(child):
            break
        post.append(child)
    return FirstLayer(conv, post)


def one_hot_batches(
    seqs: Sequence[str] | np.ndarray | torch.Tensor | os.PathLike, *, batch_size: int = 256,
    min_length: int = 1, ids: Sequence[str] | None = None,
) -> Iterator[torch.Tensor]:
    """Float one-hot batches of sequences of any lengths.

    Parameters
    ----------
    seqs
        Strings (of any lengths: batches group equal lengths), a FASTA file as a ``pathlib.Path``, or
        one-hot sequences ``(N, 4, L)``.
    batch_size
        Sequences per batch.
    min_length
        The shortest length allowed (a filter's span).
    ids
        Record names for error messages (default ``#1``, ``#2``, ...).

    Yields
    ------
    torch.Tensor
        ``(B, 4, L)`` float32 batches, on the CPU.

    Raises
    ------
    InputError
        No sequences, a sequence shorter than ``min_length``, invalid letters or a wrong shape.
    """
    if isinstance(seqs, os.PathLike):
        records = list(read_fasta(seqs))
        seqs, ids = [r[1] for r in records], [r[0] for r in records]
    if len(seqs) == 0:
        raise InputError("no sequences given")
    if not is_sequence_list(seqs):
        x = as_onehot(seqs)
        if x.shape[1] != 4:
            raise InputError(f"expected one-hot sequences (N, 4, L), got shape {tuple(x.shape)}")
        if x.shape[2] < min_length:
            raise InputError(f"sequences of length {x.shape[2]} are shorter than the filters ({min_length})")
        yield from torch.split(x, batch_size)
        return
    names = list(ids) if ids is not None else [f"#{i + 1}" for i in range(len(seqs))]
    by_length: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        if len(s) < min_length:
            raise InputError(f"sequence of length {len(s)} is shorter than the filters ({min_length})",
                             record=names[i])
        by_length.setdefault(len(s), []).append(i)
    for idx in by_length.values():
        for start in range(0, len(idx), batch_size):
            chunk = idx[start:start + batch_size]
            yield torch.from_numpy(one_hot([seqs[i] for i in chunk], ids=[names[i] for i in chunk]))


@dataclass
class SiteMotifs:
    """Activating-site motifs of every filter.

    Attributes
    ----------
    counts
        ``(F, K, 4)`` base counts of the activating windows.
    nsites
        ``(F,)`` activating windows per filter.
    max_activation
        ``(F,)`` each filter's maximum activation over the sequences.
    """

    counts: np.ndarray
    nsites: np.ndarray
    max_activation: np.ndarray

    def pwms(self, pseudocount: float = 0.1) -> list[np.ndarray]:
        """One probability matrix per filter (counts plus ``pseudocount`` per cell).

        Parameters
        ----------
        pseudocount
            Added to every cell.

        Returns
        -------
        list[np.ndarray]
            ``F`` matrices ``(K, 4)``.
        """
        return [counts_to_pwm(c, pseudocount) for c in self.counts]


@torch.no_grad()
def activating_sites(
    model: nn.Module, seqs: Sequence[str] | np.ndarray | torch.Tensor | os.PathLike, *, fraction: float = 0.5,
    ids: Sequence[str] | None = None, batch_size: int | None = None, device: torch.device | str | None = None,
    progress: bool = False,
) -> SiteMotifs:
    """Count the bases of every window that activates each first-layer filter.

    A window counts when its activation exceeds ``fraction`` of the filter's maximum over ``seqs``; the
    windows are aligned at the filter's start. Two passes (maximum, then counts), each a batched
    convolution plus one matrix product over unfolded windows, so memory stays flat.

    Parameters
    ----------
    model
        A model whose first convolution takes one-hot DNA; given back as it was (device, mode,
        ``requires_grad``).
    seqs
        Strings of any lengths, a FASTA ``pathlib.Path``, or one-hot ``(N, 4, L)``.
    fraction
        The activation threshold as a fraction of each filter's maximum, in ``[0, 1)``.
    ids
        Record names for error messages.
    batch_size
        Sequences per pass (None: 256).
    device
        Where to run (None: automatic).
    progress
        Show progress bars.

    Returns
    -------
    SiteMotifs
        ``counts`` ``(F, K, 4)``, ``nsites`` ``(F,)``, ``max_activation`` ``(F,)``.

    Raises
    ------
    ConfigError
        A ``fraction`` outside ``[0, 1)``.
    InputError
        No sequences, one shorter than the filters, or a model
        without a 4-channel first convolution.
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"fraction must be in [0, 1), got {fraction}")
    size = resolve_batch_size(batch_size, 256)
    with preserved(model, device) as m:
        layer = first_layer(m)
        dev = model_device(m)

        def batches(desc: str) -> Iterator[torch.Tensor]:
            it = one_hot_batches(seqs, batch_size=size, min_length=layer.span, ids=ids)
            for x in progress_bar(it, enabled=progress, desc=desc):
                yield x.to(dev, model_dtype(m))

        return _count_sites(layer, batches, fraction, dev)


def _count_sites(layer: FirstLayer, batches: Callable[[str], Iterator[torch.Tensor]], fraction: float,
                 dev: torch.device) -> SiteMotifs:
    """The two passes of :func:`activating_sites` over the batches ``batches(description)`` yields."""
    k, d = layer.kernel_size, layer.conv.dilation[0]
    max_act = torch.full((layer.n_filters,), -torch.inf, device=dev)
    for x in batches("filter maxima"):
        max_act = torch.maximum(max_act, layer(x).amax(dim=(0, 2)).to(max_act.dtype))
    threshold = torch.where(max_act > 0, fraction * max_act, torch.inf)[None, :, None]
    counts = torch.zeros(layer.n_filters, 4, k, device=dev, dtype=torch.float64)
    nsites = torch.zeros(layer.n_filters, device=dev, dtype=torch.float64)
    for x in batches("activating sites"):
        mask = (layer(x) > threshold).to(x.dtype)  # (B, F, L')
        windows = x.unfold(2, layer.span, 1)[..., ::d]  # (B, 4, L', K)
        # one GEMM (F, B*L') @ (B*L', 4*K); float32 sums of at most B*L' ones are exact
        flat_mask = mask.permute(1, 0, 2).reshape(layer.n_filters, -1)
        flat_windows = windows.permute(0, 2, 1, 3).reshape(-1, 4 * k)
        counts += (flat_mask @ flat_windows).view(layer.n_filters, 4, k).to(torch.float64)
        nsites += mask.sum(dim=(0, 2)).to(torch.float64)
    return SiteMotifs(counts.permute(0, 2, 1).cpu().numpy(), nsites.cpu().numpy().astype(np.int64),
                      max_act.cpu().numpy())
