"""BPNet (Avsec et al. 2021): base-resolution profiles and total counts from a dilated residual tower.

Structure (``BPNet``, a ``Network``): ``body = Sequential(ConvBlock(n_filters x first_kernel, ReLU,
"valid"), DilatedResidualTower(n_layers, kernel 3, dilations 2, 4, ..., 2**n_layers, "valid"))``;
``head = BPNetHead``: a profile ConvBlock (width ``profile_kernel``, "valid") giving per-position logits,
and a count head (crop to the same window -> global average -> Linear) giving the log total count.
Every convolution is "valid", so the model predicts exactly the positions with full context:
``L' = L - receptive_field + 1`` (the bpnet-lite layout; 8 layers map 2114 bp to 1000 positions).

``forward(x)``: ``(N, in_channels, L) -> {"profile": (N, n_tasks, L'), "counts": (N, n_tasks)}``.
``BPNetScalar(model, output="profile"|"counts")`` wraps it to ``(N, n_tasks)`` for attribution tools.
"""

from __future__ import annotations

import torch
from torch import nn

from seqcnn.layers.activations import ActivationSpec
from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.dilated import Crop, DilatedResidualTower
from seqcnn.layers.heads import DenseHead, GlobalPool
from seqcnn.layers.network import Network
from seqcnn.layers.receptive import Node, node_of
from seqcnn.models.registry import register_model


class BPNetHead(nn.Module):
    """Profile logits ``(N, T, L - profile_kernel + 1)`` and log counts ``(N, T)`` from ``(N, C, L)``."""

    def __init__(self, channels: int, n_tasks: int, profile_kernel: int) -> None:
        super().__init__()
        self.profile = ConvBlock(channels, n_tasks, profile_kernel, padding="valid", activation=None)
        left = (profile_kernel - 1) // 2
        self.counts = nn.Sequential(Crop(left, profile_kernel - 1 - left), GlobalPool("avg"),
                                    DenseHead(channels, n_tasks))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"profile": self.profile(x), "counts": self.counts(x)}

    def spatial_node(self, axis: int = 0) -> Node:
        """The profile output (the counts pool over the same window) (see ``receptive``)."""
        return node_of(self.profile, axis)


class BPNet(Network):
    """A ``Network`` whose head returns ``{"profile", "counts"}``."""


class BPNetScalar(nn.Module):
    """``(N, T)`` view of a BPNet for attribution tools.

    ``output="profile"``: ``sum_i softmax(p)_i * p_i`` over positions, the softmax weights detached
    (the BPNet/DeepLIFT profile contribution target); ``output="counts"``: the log counts.
    """

    def __init__(self, model: nn.Module, output: str = "profile") -> None:
        super().__init__()
        if output not in ("profile", "counts"):
            raise ValueError(f"unknown BPNet output {output!r}; choose from profile, counts")
        self.model = model
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if self.output == "counts":
            return out["counts"]
        logits = out["profile"]
        return (torch.softmax(logits, dim=-1).detach() * logits).sum(-1)


@register_model(
    "bpnet",
    dims=1,
    small={"n_filters": 4, "first_kernel": 3, "n_layers": 2, "profile_kernel": 3, "n_tasks": 2},
    example_input=(4, 24),
    output="profile",
)
def bpnet(
    *,
    n_tasks: int = 1,
    in_channels: int = 4,
    n_filters: int = 64,
    first_kernel: int = 21,
    n_layers: int = 8,
    profile_kernel: int = 75,
    activation: ActivationSpec = "relu",
) -> BPNet:
    """BPNet: 64 filters of width 21, 8 dilated residual layers, profile + count heads, cropped output.

    Parameters
    ----------
    n_tasks
        Profiles (tracks) predicted.
    in_channels
        Input channels (4 for DNA).
    n_filters
        Channels of every convolution of the tower.
    first_kernel
        Width of the first convolution.
    n_layers
        Dilated residual layers (dilations 2, 4, ..., ``2**n_layers``).
    profile_kernel
        Width of the profile head's convolution.
    activation
        Activation name (``relu``, ``exp``, ``gelu``, ...), class or module.

    Returns
    -------
    BPNet
        ``(N, in_channels, L) -> {"profile": (N, n_tasks, L'), "counts": (N, n_tasks)}`` with
        ``L' = L - receptive_field + 1``.
    """
    body = nn.Sequential(
        ConvBlock(in_channels, n_filters, first_kernel, padding="valid", activation=activation),
        DilatedResidualTower(n_filters, n_layers, activation=activation),
    )
    return BPNet(body, BPNetHead(n_filters, n_tasks, profile_kernel))
