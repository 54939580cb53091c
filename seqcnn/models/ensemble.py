"""An ensemble of classifiers: the mean of the members' class probabilities, as log-probabilities.

``Ensemble(members)``: every member maps the same input to class scores ``(N, C, *S)`` (logits or
log-probabilities, classes along dim 1); the ensemble returns
``log(mean_m softmax(member_m(x), dim=1))`` with the same shape, so ``softmax`` over dim 1 of the
output is exactly the mean of the members' probabilities (the released SpliceAI models are averaged
so). It is computed as ``logsumexp_m(log_softmax(member_m(x))) - log(M)``, which never takes the log
of a rounded-to-zero probability.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from seqcnn.layers.receptive import Node, Parallel, node_of


class Ensemble(nn.Module):
    """Mean probability of ``members`` (a list of modules of the same input and output shapes).

    Attributes ``members`` (nn.ModuleList); ``input_length``, ``receptive_field``, ``context`` and
    ``output_length(L)`` are the first member's (all members share the architecture).
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logs = torch.stack([member(x).log_softmax(dim=1) for member in self.members])
        return torch.logsumexp(logs, dim=0) - math.log(len(self.members))

    @property
    def input_length(self) -> int | None:
        """The members' fixed input length (None: any length)."""
        return getattr(self.members[0], "input_length", None)

    @property
    def receptive_field(self) -> int:
        """The members' receptive field."""
        return int(self.members[0].receptive_field)

    @property
    def context(self) -> int | None:
        """The members' context (input positions beyond the output), when they name one."""
        return getattr(self.members[0], "context", None)

    def output_length(self, length: int) -> int:
        """The members' output length for inputs of ``length``."""
        return int(self.members[0].output_length(length))

    def spatial_node(self, axis: int = 0) -> Node:
        """The members in parallel (see ``receptive``)."""
        return Parallel([node_of(m, axis) for m in self.members])
