"""One motif per first-layer filter: its matrix (activating sites or kernel), sites and influence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from seqcnn.errors import InputError
from seqcnn.motifs.influence import filter_influence
from seqcnn.motifs.pwm import consensus, information_content, kernel_pwms, trim_bounds
from seqcnn.motifs.sites import FirstLayer, activating_sites, first_layer

METHODS = ("sites", "kernel")


@dataclass
class FilterMotif:
    """The motif of first-layer filter ``index``: ``pwm`` ``(K, 4)``, ``influence`` ``(T,)`` (or empty)."""

    index: int
    pwm: np.ndarray
    nsites: int = 0
    influence: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def name(self) -> str:
        return f"filter{self.index}"

    @property
    def information(self) -> float:
        """Total information content in bits."""
        return float(information_content(self.pwm).sum())

    @property
    def consensus(self) -> str:
        return consensus(self.pwm)

    @property
    def core(self) -> tuple[int, int]:
        """Half-open bounds of the informative core (positions over 0.5 bits, one base of padding)."""
        return trim_bounds(self.pwm)

    @property
    def mean_influence(self) -> float:
        return float(np.mean(self.influence)) if self.influence.size else float("nan")


def effective_kernels(layer: FirstLayer) -> torch.Tensor:
    """First-layer weights ``(F, 4, K)`` times the scale of a batch norm right after the convolution
    (``gamma / sqrt(running_var + eps)``), so that under an exponential activation ``exp(w)`` is the
    filter's own relative preference for each base."""
    weight = layer.conv.weight.detach().clone()
    norm = layer.post[0] if layer.post else None
    if isinstance(norm, nn.modules.batchnorm._BatchNorm) and norm.running_var is not None:
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight.detach()
        weight *= scale[:, None, None]
    return weight


def extract_filter_motifs(
    model: nn.Module, seqs: Sequence[str] | np.ndarray | torch.Tensor, *, method: str = "sites",
    fraction: float = 0.5, pseudocount: float = 0.1, influence: bool = True,
    max_influence_sequences: int | None = 1000, ids: Sequence[str] | None = None, batch_size: int = 256,
    device: torch.device | str | None = None, progress: bool = False,
) -> list[FilterMotif]:
    """A ``FilterMotif`` for every first-layer filter of ``model`` over ``seqs`` (strings or ``(N, 4, L)``).

    ``method="sites"`` aligns the windows activating each filter over ``fraction`` of its maximum
    (Basset; Koo & Eddy 2019); ``"kernel"`` exponentiates the weights (scaled by a following batch
    norm, ``effective_kernels``; no data needed for the matrix; ``nsites`` is then 0). With
    ``influence``, the mean drop of each task's prediction when the filter is zeroed is computed on at
    most ``max_influence_sequences`` sequences.
    """
    if method not in METHODS:
        raise InputError(f"unknown motif method {method!r}; choose from {', '.join(METHODS)}")
    layer = first_layer(model)
    if method == "sites":
        sites = activating_sites(model, seqs, fraction=fraction, ids=ids, batch_size=batch_size,
                                 device=device, progress=progress)
        pwms, nsites = sites.pwms(pseudocount), sites.nsites
    else:
        pwms, nsites = kernel_pwms(effective_kernels(layer)), np.zeros(layer.n_filters, dtype=np.int64)
    drops = (filter_influence(model, seqs, max_sequences=max_influence_sequences, batch_size=batch_size,
                              device=device, progress=progress) if influence else None)
    return [FilterMotif(f, pwms[f], int(nsites[f]), drops[f] if drops is not None else np.zeros(0))
            for f in range(layer.n_filters)]
