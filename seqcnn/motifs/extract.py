"""One motif per first-layer filter: its matrix (activating sites or kernel), sites and influence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from seqcnn.errors import ConfigError
from seqcnn.motifs.influence import filter_influence
from seqcnn.motifs.pwm import consensus, information_content, kernel_pwms, trim_bounds
from seqcnn.motifs.sites import FirstLayer, activating_sites, first_layer

METHODS = ("sites", "kernel")


@dataclass
class FilterMotif:
    """The motif of first-layer filter ``index``.

    It reads like a ``seqcnn.seq.meme.Motif`` (``id``, ``name``, ``pwm``, ``nsites``), so it goes
    straight to ``seqcnn.motifs.annotate.annotate``.

    Attributes
    ----------
    index
        The filter's index in the first convolution.
    pwm
        ``(K, 4)`` probability matrix.
    nsites
        Activating sites counted (0 for kernel motifs).
    influence
        ``(T,)`` mean prediction drop per task when the filter is silenced (empty when not computed).
    """

    index: int
    pwm: np.ndarray
    nsites: int = 0
    influence: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def name(self) -> str:
        """``filterK``."""
        return f"filter{self.index}"

    @property
    def id(self) -> str:
        """The motif's identifier, ``filterK`` (as in the MEME file of the report)."""
        return self.name

    @property
    def information(self) -> float:
        """Total information content in bits."""
        return float(information_content(self.pwm).sum())

    @property
    def consensus(self) -> str:
        """IUPAC consensus of the matrix."""
        return consensus(self.pwm)

    @property
    def core(self) -> tuple[int, int]:
        """Half-open bounds of the informative core (positions over 0.5 bits, one base of padding)."""
        return trim_bounds(self.pwm)

    @property
    def mean_influence(self) -> float:
        """Influence averaged over tasks (NaN when not computed)."""
        return float(np.mean(self.influence)) if self.influence.size else float("nan")


def effective_kernels(layer: FirstLayer) -> torch.Tensor:
    """First-layer weights times the scale of a batch norm right after the convolution.

    The scale is ``gamma / sqrt(running_var + eps)``, so that under an exponential activation
    ``exp(w)`` is the filter's own relative preference for each base.

    Parameters
    ----------
    layer
        The model's first layer (``seqcnn.motifs.sites.first_layer``).

    Returns
    -------
    torch.Tensor
        ``(F, 4, K)`` weights (a copy).
    """
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
    max_influence_sequences: int | None = 1000, ids: Sequence[str] | None = None,
    batch_size: int | None = None, device: torch.device | str | None = None, progress: bool = False,
) -> list[FilterMotif]:
    """A :class:`FilterMotif` for every first-layer filter of ``model``.

    Parameters
    ----------
    model
        A model whose first convolution takes one-hot DNA; given back as it was (device, mode,
        ``requires_grad``).
    seqs
        Strings (any lengths), a FASTA ``pathlib.Path``, or one-hot ``(N, 4, L)``.
    method
        ``"sites"`` aligns the windows activating each filter over ``fraction`` of its maximum
        (Basset; Koo & Eddy 2019); ``"kernel"`` exponentiates the weights (scaled by a following
        batch norm, :func:`effective_kernels`; no data needed for the matrix; ``nsites`` is then 0).
    fraction
        Site threshold as a fraction of each filter's maximum activation.
    pseudocount
        Added to every cell of the site counts.
    influence
        Also compute each filter's influence (``seqcnn.motifs.influence.filter_influence``).
    max_influence_sequences
        At most this many sequences (a seeded random subset) for the influence.
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
    list[FilterMotif]
        One per filter, in filter order.

    Raises
    ------
    ConfigError
        An unknown method.
    InputError
        Unusable sequences, or a model without a 4-channel first convolution.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown motif method {method!r}; choose from {', '.join(METHODS)}")
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
