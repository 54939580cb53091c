"""Activations chosen by name or class, including the exponential activation.

``make_activation(spec)`` accepts a name (``relu gelu elu leaky_relu softplus sigmoid tanh exp``, also
``silu``, ``identity``), an ``nn.Module`` subclass, an ``nn.Module`` instance (used as is) or ``None``
(returns ``None``: no activation). ``Exp`` is the exponential first-layer activation of Koo & Ploenzke
(2021), which makes first-layer filters more interpretable as motifs.
"""

from __future__ import annotations

import torch
from torch import nn


class Exp(nn.Module):
    """Elementwise ``exp(x)`` (Koo & Ploenzke 2021). Shape preserved."""

    elementwise = True  # for seqcnn.layers.receptive

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(x)


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "exp": Exp,
    "identity": nn.Identity,
}

ActivationSpec = str | type[nn.Module] | nn.Module | None


def make_activation(spec: ActivationSpec) -> nn.Module | None:
    """An activation module from a name, class or instance.

    Parameters
    ----------
    spec
        A name from ``ACTIVATIONS`` (``relu``, ``gelu``, ``exp``, ...; case and ``-``/``_`` ignored),
        an ``nn.Module`` class (instantiated without arguments) or instance (returned as it is), or
        None, ``"none"`` or ``"linear"`` for no activation.

    Returns
    -------
    torch.nn.Module or None
        The activation (None: none).

    Raises
    ------
    ValueError
        An unknown name or another kind of value.
    """
    if spec is None or (isinstance(spec, str) and spec.lower() in ("none", "linear")):
        return None
    if isinstance(spec, nn.Module):
        return spec
    if isinstance(spec, type) and issubclass(spec, nn.Module):
        return spec()
    if isinstance(spec, str):
        key = spec.lower().replace("-", "_")
        if key in ACTIVATIONS:
            return ACTIVATIONS[key]()
        raise ValueError(f"unknown activation {spec!r}; choose from {', '.join(ACTIVATIONS)}")
    raise ValueError(f"activation must be a name, an nn.Module class or instance, got {spec!r}")
