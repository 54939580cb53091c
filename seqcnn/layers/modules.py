"""Inception module, depthwise-separable convolution and squeeze-excitation.

Signatures (every block takes ``dims=1`` or ``dims=2``)::

    Inception(in_channels, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj, *, dims=1,
              norm=None, activation="relu")
        # GoogLeNet module: concat[1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | maxpool 3 -> 1x1], "same" padding
        # (N, C_in, *S) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, *S); .out_channels holds the sum
    SeparableConv(in_channels, out_channels, kernel_size=3, *, dims=1, stride=1, dilation=1,
                  padding="same", norm="batch", activation="relu")
        # MobileNet v1: depthwise ConvBlock (groups=in_channels, stride) -> pointwise 1x1 ConvBlock
    SqueezeExcitation(channels, *, reduction=16, dims=1, activation="relu")
        # x * sigmoid(W2 act(W1 mean(x))): (N, C, *S) -> (N, C, *S)
"""

from __future__ import annotations

import torch
from torch import nn

from seqcnn.layers.activations import ActivationSpec, make_activation
from seqcnn.layers.conv import ConvBlock, IntOrPair, pool_layer
from seqcnn.layers.receptive import IDENTITY, Mix, Node, Parallel, node_of


class SqueezeExcitation(nn.Module):
    """Channel gates from globally averaged features (Hu et al. 2018). Shape preserved."""

    def __init__(self, channels: int, *, reduction: int = 16, dims: int = 1,
                 activation: ActivationSpec = "relu") -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.dims = dims
        self.fc1 = nn.Linear(channels, hidden)
        self.act = make_activation(activation) or nn.Identity()
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(self.act(self.fc1(x.flatten(2).mean(-1)))))
        return x * gate.view(*gate.shape, *([1] * (x.dim() - 2)))

    def spatial_node(self, axis: int = 0) -> Node:
        """The input, gated by a function of all positions (see ``receptive``)."""
        return Parallel([IDENTITY, Mix()])


class SeparableConv(nn.Sequential):
    """Depthwise then pointwise convolution: ``(N, C_in, *S) -> (N, C_out, *S / stride)``.

    Children ``depthwise`` and ``pointwise`` are ``ConvBlock`` s, each with ``norm`` and ``activation``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair = 3,
        *,
        dims: int = 1,
        stride: IntOrPair = 1,
        dilation: IntOrPair = 1,
        padding: str | IntOrPair = "same",
        norm: str | None = "batch",
        activation: ActivationSpec = "relu",
    ) -> None:
        super().__init__()
        self.depthwise = ConvBlock(in_channels, in_channels, kernel_size, dims=dims, stride=stride,
                                   dilation=dilation, groups=in_channels, padding=padding, norm=norm,
                                   activation=activation)
        self.pointwise = ConvBlock(in_channels, out_channels, 1, dims=dims, norm=norm, activation=activation)


class Inception(nn.Module):
    """GoogLeNet inception module with 1x1 reductions; branches concatenated on channels."""

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3_reduce: int,
        ch3x3: int,
        ch5x5_reduce: int,
        ch5x5: int,
        pool_proj: int,
        *,
        dims: int = 1,
        norm: str | None = None,
        activation: ActivationSpec = "relu",
    ) -> None:
        super().__init__()

        def block(cin: int, cout: int, k: int) -> ConvBlock:
            return ConvBlock(cin, cout, k, dims=dims, norm=norm, activation=activation)

        self.branches = nn.ModuleList([
            block(in_channels, ch1x1, 1),
            nn.Sequential(block(in_channels, ch3x3_reduce, 1), block(ch3x3_reduce, ch3x3, 3)),
            nn.Sequential(block(in_channels, ch5x5_reduce, 1), block(ch5x5_reduce, ch5x5, 5)),
            nn.Sequential(pool_layer("max", 3, dims=dims, stride=1, padding=1),
                          block(in_channels, pool_proj, 1)),
        ])
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)

    def spatial_node(self, axis: int = 0) -> Node:
        """The four branches in parallel (see ``receptive``)."""
        return Parallel([node_of(b, axis) for b in self.branches])
