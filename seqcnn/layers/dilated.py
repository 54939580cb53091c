"""Causal and dilated stacks: the WaveNet gated residual block and the BPNet dilated residual tower.

Signatures (1D: ``(N, C, L)``)::

    WaveNetBlock(channels, skip_channels, *, dilation, kernel_size=2, gate_channels=None, residual=True)
        # z = tanh(Wf * x) . sigmoid(Wg * x) (causal dilated convolutions, one conv of 2 * gate_channels),
        # forward(x) -> (x + W_res z, W_skip z) ; residual=False (last block) -> (None, W_skip z)
    WaveNetStack(channels, skip_channels, *, dilations, kernel_size=2, gate_channels=None)
        # WaveNetBlocks in order; forward(x) -> sum of their skip outputs (N, skip_channels, L)
    wavenet_dilations(blocks, max_dilation=512) -> [1, 2, ..., 512] * blocks
    DilatedResidualTower(channels, n_layers, *, kernel_size=3, first_dilation=2, activation="relu",
                         padding="valid")
        # BPNet: x <- crop(x) + act(conv_d(x)) for d = 2, 4, ..., 2**n_layers; "valid" shortens L by
        # (kernel_size - 1) * sum(dilations), "same" keeps L
    Crop(left, right)   # x[..., left:L - right]

Causality: every convolution in the WaveNet stack is causally padded, so output ``t`` depends only on
inputs ``<= t``. Attributes: ``WaveNetStack.blocks`` and ``DilatedResidualTower.layers`` (ModuleLists
of blocks / ``ConvBlock`` s, in order).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from seqcnn.layers.activations import ActivationSpec
from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.receptive import IDENTITY, Chain, Leaf, Node, Parallel, node_of


class Crop(nn.Module):
    """Drop ``left`` and ``right`` positions of the last axis: ``(N, C, L) -> (N, C, L - left - right)``."""

    def __init__(self, left: int, right: int) -> None:
        super().__init__()
        self.left, self.right = left, right

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.left: x.shape[-1] - self.right]

    def spatial_node(self, axis: int = 0) -> Node:
        """A crop is a kernel-1 layer with negative padding (see ``receptive``)."""
        return Leaf(1, 1, -self.left, -self.right)

    def extra_repr(self) -> str:
        return f"left={self.left}, right={self.right}"


class WaveNetBlock(nn.Module):
    """Gated causal dilated block with residual and skip 1x1 convolutions (van den Oord et al. 2016)."""

    def __init__(self, channels: int, skip_channels: int, *, dilation: int, kernel_size: int = 2,
                 gate_channels: int | None = None, residual: bool = True) -> None:
        super().__init__()
        gate = gate_channels or channels
        self.conv = ConvBlock(channels, 2 * gate, kernel_size, dilation=dilation, padding="causal",
                              activation=None)
        self.residual = ConvBlock(gate, channels, 1, activation=None) if residual else None
        self.skip = ConvBlock(gate, skip_channels, 1, activation=None)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        filt, gate = self.conv(x).chunk(2, dim=1)
        z = torch.tanh(filt) * torch.sigmoid(gate)
        out = None if self.residual is None else x + self.residual(z)
        return out, self.skip(z)

    def spatial_node(self, axis: int = 0) -> Node:
        """Residual output: gated conv in parallel with the identity (see ``receptive``)."""
        return Parallel([node_of(self.conv, axis), IDENTITY])


def wavenet_dilations(blocks: int, max_dilation: int = 512) -> list[int]:
    """WaveNet's dilations.

    Parameters
    ----------
    blocks
        Repeats.
    max_dilation
        Largest dilation of a cycle (powers of 2 up to it).

    Returns
    -------
    list of int
        ``[1, 2, 4, ..., max_dilation]`` repeated ``blocks`` times.
    """
    cycle = [2**i for i in range(max_dilation.bit_length()) if 2**i <= max_dilation]
    return cycle * blocks


class WaveNetStack(nn.Module):
    """WaveNet blocks; ``(N, channels, L) -> (N, skip_channels, L)``, the sum of all skip outputs."""

    def __init__(self, channels: int, skip_channels: int, *, dilations: Sequence[int], kernel_size: int = 2,
                 gate_channels: int | None = None) -> None:
        super().__init__()
        if not dilations:
            raise ValueError("WaveNetStack needs at least one dilation")
        last = len(dilations) - 1
        self.blocks = nn.ModuleList(
            WaveNetBlock(channels, skip_channels, dilation=d, kernel_size=kernel_size,
                         gate_channels=gate_channels, residual=i < last)
            for i, d in enumerate(dilations)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total: torch.Tensor | None = None
        for block in self.blocks:
            out, skip = block(x)
            total = skip if total is None else total + skip
            if out is not None:
                x = out
        assert total is not None
        return total

    def spatial_node(self, axis: int = 0) -> Node:
        """Union over blocks of (residual path so far -> this block's gated conv) (see ``receptive``)."""
        before: list[Node] = []
        skips: list[Node] = []
        for block in self.blocks:
            skips.append(Chain((*before, node_of(block.conv, axis))))
            before.append(block.spatial_node(axis))
        return Parallel(skips)


class DilatedResidualTower(nn.Module):
    """BPNet tower: ``n_layers`` dilated convolutions, each added back to its (cropped) input.

    ``(N, C, L) -> (N, C, L - (kernel_size - 1) * sum(dilations))`` with ``padding="valid"``,
    ``(N, C, L)`` with ``"same"``. Dilations ``first_dilation * 2**i``: 2, 4, ..., 2**n_layers by default.
    """

    def __init__(self, channels: int, n_layers: int, *, kernel_size: int = 3, first_dilation: int = 2,
                 activation: ActivationSpec = "relu", padding: str = "valid") -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"DilatedResidualTower needs an odd kernel_size, got {kernel_size}")
        self.dilations = [first_dilation * 2**i for i in range(n_layers)]
        self.layers = nn.ModuleList(
            ConvBlock(channels, channels, kernel_size, dilation=d, padding=padding, activation=activation)
            for d in self.dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            y = layer(x)
            crop = (x.shape[-1] - y.shape[-1]) // 2
            x = y + (x[..., crop: crop + y.shape[-1]] if crop else x)
        return x

    def spatial_node(self, axis: int = 0) -> Node:
        """Each layer in parallel with the identity, cropped alike (see ``receptive``)."""
        nodes: list[Node] = []
        for layer in self.layers:
            conv = node_of(layer, axis)
            geo = conv.geometry(None)
            crop = (geo.rf - 1) // 2 + geo.start  # positions lost on each side: 0 for "same"
            nodes.append(Parallel([conv, Leaf(1, 1, -crop, -crop)]))
        return Chain(tuple(nodes))
