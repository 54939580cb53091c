"""``Network``: a body (``nn.Sequential`` of blocks) followed by a head, with shape bookkeeping.

Signature::

    Network(body, head, *, dims=1, input_size=None)
    Network.with_dense_head(body, out_features, *, in_channels, input_size, dims=1, **dense_head_kwargs)
        # head = DenseHead sized from feature_shape(body, (in_channels, *input_size)): no hand-computed
        # flatten size; ValueError when the input is too short for the body
        # forward(x) = head(body(x)); x is (N, C, L) for dims=1, (N, C, H, W) for dims=2
        # input_size: L (int) or (H, W) the head was built for; None when any size works

Attributes every sequence model exposes (see ``seqcnn.layers.receptive`` for the definitions):

- ``input_length``: the fixed input length (int), or ``None`` when any length works.
- ``receptive_field``: input positions seen by one position of the last positional feature map, which
  is the output for per-position models and the map entering the global pool / dense head otherwise.
- ``output_length(L)``: length of that map for inputs of length ``L``.
- ``body`` and ``head``: the two halves; ``body[0]`` is the first block, whose ``conv`` is the first
  ``nn.Conv1d`` in ``model.modules()`` (it sees the one-hot input).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from seqcnn.errors import InputError
from seqcnn.layers.heads import DenseHead, feature_shape
from seqcnn.layers.receptive import Chain, Node, node_of, positional_length, receptive_field


class Network(nn.Module):
    """``head(body(x))`` with ``input_length``, ``receptive_field`` and ``output_length``."""

    def __init__(self, body: nn.Sequential, head: nn.Module, *, dims: int = 1,
                 input_size: int | tuple[int, int] | None = None) -> None:
        super().__init__()
        self.body = body
        self.head = head
        self.dims = dims
        self.input_size = input_size

    @classmethod
    def with_dense_head(cls, body: nn.Sequential, out_features: int, *, in_channels: int,
                        input_size: int | tuple[int, int], dims: int = 1, **head_kwargs: Any) -> Network:
        """A Network whose ``DenseHead`` input size is inferred from ``body`` at ``input_size``."""
        size = input_size if isinstance(input_size, tuple) else (input_size,)
        shape = feature_shape(body, (in_channels, *size))
        if any(s < 1 for s in shape):
            raise ValueError(f"input size {input_size} is too small for this network (features {shape})")
        return cls(body, DenseHead(shape, out_features, **head_kwargs), dims=dims, input_size=input_size)

    @property
    def input_length(self) -> int | None:
        """Fixed input length of a 1D model (``None``: any length works)."""
        size = self.input_size
        return size[-1] if isinstance(size, tuple) else size

    @property
    def receptive_field(self) -> int:
        """Receptive field (positions; along the height axis for 2D) of the last positional map."""
        size = self.input_size
        return receptive_field(self, length=size[0] if isinstance(size, tuple) else size)

    def output_length(self, length: int) -> int:
        """Length of the last positional feature map for inputs of ``length`` (ValueError if too short)."""
        return positional_length(self, length)

    def spatial_node(self, axis: int = 0) -> Node:
        """Body then head (see ``receptive``)."""
        return Chain((node_of(self.body, axis), node_of(self.head, axis)))

    def check_input(self, x: torch.Tensor) -> None:
        """``InputError`` when ``x`` does not have the rank and size the model was built for."""
        if x.dim() != self.dims + 2:
            axes = "L" if self.dims == 1 else "H, W"
            raise InputError(f"expected a {self.dims + 2}-d input (N, C, {axes}), got shape {tuple(x.shape)}")
        size = self.input_size
        if size is not None and tuple(x.shape[2:]) != (size if isinstance(size, tuple) else (size,)):
            raise InputError(f"model expects inputs of size {size}, got {tuple(x.shape[2:])}")

    def forward(self, x: torch.Tensor) -> Any:
        self.check_input(x)
        return self.head(self.body(x))
