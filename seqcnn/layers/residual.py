"""ResNet residual and bottleneck blocks (post-activation, torchvision "v1.5" layout).

Signatures::

    ResidualBlock(in_channels, out_channels, *, dims=1, stride=1, kernel_size=3, norm="batch",
                  activation="relu", se_reduction=None)
        # out = act(F(x) + shortcut(x)); F = ConvBlock(k, stride) -> ConvBlock(k, no activation)
    BottleneckBlock(in_channels, width, *, dims=1, stride=1, expansion=4, groups=1, norm="batch",
                    activation="relu", se_reduction=None)
        # F = 1x1 (width) -> 3x3 (width, stride) -> 1x1 (width * expansion, no activation)

``out_channels`` of a bottleneck is ``width * expansion``. The shortcut is the identity when shape is
unchanged, else a 1x1 ``ConvBlock`` with the block's stride and norm and no activation. With
``se_reduction=r`` a ``SqueezeExcitation(channels, reduction=r)`` rescales F(x) before the addition
(SE-ResNet). Attributes: ``branch`` (nn.Sequential), ``shortcut`` (nn.Module), ``se``, ``act``.
Convolutions ahead of batch norm have no bias, so ResNet-18/50 match torchvision's parameter counts.
"""

from __future__ import annotations

import torch
from torch import nn

from seqcnn.layers.activations import ActivationSpec, make_activation
from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.modules import SqueezeExcitation
from seqcnn.layers.receptive import Chain, Node, Parallel, node_of


class _Residual(nn.Module):
    """``act(se(branch(x)) + shortcut(x))``; subclasses fill ``branch`` and ``shortcut``."""

    branch: nn.Sequential

    def _finish(self, in_channels: int, out_channels: int, *, dims: int, stride: int, norm: str | None,
                activation: ActivationSpec, se_reduction: int | None) -> None:
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = ConvBlock(in_channels, out_channels, 1, dims=dims, stride=stride,
                                                 padding="valid", norm=norm, activation=None)
        else:
            self.shortcut = nn.Identity()
        self.se = None if se_reduction is None else SqueezeExcitation(out_channels, reduction=se_reduction,
                                                                      dims=dims)
        self.act = make_activation(activation) or nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        if self.se is not None:
            out = self.se(out)
        return self.act(out + self.shortcut(x))

    def spatial_node(self, axis: int = 0) -> Node:
        """Receptive-field graph: branch and shortcut in parallel (see ``receptive``)."""
        branch = node_of(self.branch, axis)
        if self.se is not None:
            branch = Chain((branch, node_of(self.se, axis)))
        return Parallel([branch, node_of(self.shortcut, axis)])


class ResidualBlock(_Residual):
    """Basic ResNet block (two k x k convolutions): ``(N, C_in, *S) -> (N, C_out, *S / stride)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        dims: int = 1,
        stride: int = 1,
        kernel_size: int = 3,
        norm: str | None = "batch",
        activation: ActivationSpec = "relu",
        se_reduction: int | None = None,
    ) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            ConvBlock(in_channels, out_channels, kernel_size, dims=dims, stride=stride, norm=norm,
                      activation=activation),
            ConvBlock(out_channels, out_channels, kernel_size, dims=dims, norm=norm, activation=None),
        )
        self._finish(in_channels, out_channels, dims=dims, stride=stride, norm=norm, activation=activation,
                     se_reduction=se_reduction)


class BottleneckBlock(_Residual):
    """ResNet-50 bottleneck: ``(N, C_in, *S) -> (N, width * expansion, *S / stride)``."""

    def __init__(
        self,
        in_channels: int,
        width: int,
        *,
        dims: int = 1,
        stride: int = 1,
        expansion: int = 4,
        groups: int = 1,
        norm: str | None = "batch",
        activation: ActivationSpec = "relu",
        se_reduction: int | None = None,
    ) -> None:
        super().__init__()
        out_channels = width * expansion
        self.branch = nn.Sequential(
            ConvBlock(in_channels, width, 1, dims=dims, norm=norm, activation=activation),
            ConvBlock(width, width, 3, dims=dims, stride=stride, groups=groups, norm=norm,
                      activation=activation),
            ConvBlock(width, out_channels, 1, dims=dims, norm=norm, activation=None),
        )
        self._finish(in_channels, out_channels, dims=dims, stride=stride, norm=norm, activation=activation,
                     se_reduction=se_reduction)
