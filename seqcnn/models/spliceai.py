"""SpliceAI (Jaganathan et al., Cell 2019): splice sites from sequence by a deep dilated residual network.

Structure (``SpliceAI``, a ``Network``), for the 80/400/2k/10k-nt context variants (32 channels)::

    body[0]  ConvBlock(in_channels -> channels, 1x1)                       Keras conv1d_1
    body[1]  SpliceAITower:
               skip   = Conv(1x1)(x)                                      Keras conv1d_2
               for each group of four residual units (kernel, dilation):
                 80: (11, 1)x4; 400: + (11, 4)x4; 2k: + (21, 10)x4; 10k: + (41, 25)x4
                 x    = ResidualUnit(x)   # x + conv(relu(bn(conv(relu(bn(x)))))), pre-activation
                 skip = skip + Conv(1x1)(x)                                 Keras conv1d_11, _20, ...
    head     ConvBlock(channels -> n_tasks, 1x1) -> LogSoftmax over classes

Every convolution is "valid" and each residual and skip path is cropped to match, so the context is
cropped as it is consumed: ``(N, in_channels, L) -> (N, n_tasks, L - context)``, output ``i`` centred
on input ``i + context // 2``. (Keras pads "same" and crops ``context / 2`` at the end; the kept
positions never read that padding, so both give the same numbers, and "valid" does ~10-30% less work.)
Batch norm uses the released epsilon (Keras: 1e-3). The outputs are log-probabilities of the classes
``neither, acceptor, donor``: ``softmax`` over dim 1 gives the probabilities exactly.

``spliceai(n_models=5)`` is the released ensemble: an :class:`~seqcnn.models.ensemble.Ensemble` whose
output is the log of the mean of the members' probabilities. :class:`PositionTarget` gives the ``(N, 1)``
probability of one class at one output position, for attribution and ISM tools.
"""

from __future__ import annotations

import torch
from torch import nn

from seqcnn.errors import InputError
from seqcnn.layers.activations import make_activation
from seqcnn.layers.conv import ConvBlock, conv_layer, norm_layer
from seqcnn.layers.network import Network
from seqcnn.layers.receptive import Chain, Leaf, Node, Parallel, node_of
from seqcnn.models.ensemble import Ensemble
from seqcnn.models.registry import register_model

SPLICEAI_UNITS: dict[int, list[tuple[int, int]]] = {
    80: [(11, 1)] * 4,
    400: [(11, 1)] * 4 + [(11, 4)] * 4,
    2000: [(11, 1)] * 4 + [(11, 4)] * 4 + [(21, 10)] * 4,
    10000: [(11, 1)] * 4 + [(11, 4)] * 4 + [(21, 10)] * 4 + [(41, 25)] * 4,
}
"""(kernel, dilation) of every residual unit, by context (the published architectures)."""

SPLICEAI_TASKS = ["neither", "acceptor", "donor"]
"""The classes of SpliceAI's outputs, in order."""

GROUP_SIZE = 4
"""Residual units between two skip connections."""

KERAS_BN_EPS = 1e-3
"""Keras' batch-norm epsilon, the released models' (PyTorch's default is 1e-5)."""


def _batch_norm(channels: int, eps: float) -> nn.Module:
    norm = norm_layer("batch", channels)
    assert norm is not None
    norm.eps = eps  # norm_layer takes no epsilon; the released models need Keras' 1e-3
    return norm


def _centre(x: torch.Tensor, length: int) -> torch.Tensor:
    """The central ``length`` positions of ``x`` (N, C, L) (equal crops: every path loses an even number)."""
    crop = (x.shape[-1] - length) // 2
    return x[..., crop: crop + length] if crop else x


class ResidualUnit(nn.Module):
    """Pre-activation residual unit: ``x + conv2(relu(bn2(conv1(relu(bn1(x))))))``, both convolutions
    ``valid`` with kernel ``k`` and dilation ``d``: ``(N, C, L) -> (N, C, L - 2 d (k - 1))``."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, *, eps: float = KERAS_BN_EPS) -> None:
        super().__init__()
        self.crop = dilation * (kernel_size - 1)  # positions each convolution loses, both sides together
        self.norm1 = _batch_norm(channels, eps)
        self.act1 = make_activation("relu")
        self.conv1 = conv_layer(channels, channels, kernel_size, dilation=dilation)
        self.norm2 = _batch_norm(channels, eps)
        self.act2 = make_activation("relu")
        self.conv2 = conv_layer(channels, channels, kernel_size, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.act2(self.norm2(self.conv1(self.act1(self.norm1(x))))))
        return y + _centre(x, y.shape[-1])

    def spatial_node(self, axis: int = 0) -> Node:
        """The two convolutions in parallel with the cropped identity (see ``receptive``)."""
        branch = Chain((node_of(self.conv1, axis), node_of(self.conv2, axis)))
        return Parallel([branch, Leaf(1, 1, -self.crop, -self.crop)])


class SpliceAITower(nn.Module):
    """Residual units in groups of four with 1x1 skip convolutions summed to the output.

    ``(N, C, L) -> (N, C, L - context)``; attributes ``skip`` (the first 1x1 convolution, on the input),
    ``groups`` (ModuleList of nn.Sequential of :class:`ResidualUnit`) and ``dense`` (one 1x1 convolution
    after each group).
    """

    def __init__(self, channels: int, units: list[tuple[int, int]], *, eps: float = KERAS_BN_EPS) -> None:
        super().__init__()
        self.skip = conv_layer(channels, channels, 1)
        chunks = [units[i:i + GROUP_SIZE] for i in range(0, len(units), GROUP_SIZE)]
        self.groups = nn.ModuleList(
            nn.Sequential(*(ResidualUnit(channels, k, d, eps=eps) for k, d in chunk)) for chunk in chunks
        )
        self.dense = nn.ModuleList(conv_layer(channels, channels, 1) for _ in chunks)
        self.context = sum(2 * d * (k - 1) for k, d in units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(x)
        for group, dense in zip(self.groups, self.dense, strict=True):
            x = group(x)
            skip = _centre(skip, x.shape[-1]) + dense(x)
        return skip

    def spatial_node(self, axis: int = 0) -> Node:
        """Each skip path (units so far, its 1x1 convolution, the crop still to come) in parallel."""
        paths: list[Node] = []
        before: list[Node] = []
        left = self.context // 2
        paths.append(Chain((node_of(self.skip, axis), Leaf(1, 1, -left, -left))))
        for group, dense in zip(self.groups, self.dense, strict=True):
            before.append(node_of(group, axis))
            left -= sum(unit.crop for unit in group)
            paths.append(Chain((*before, node_of(dense, axis), Leaf(1, 1, -left, -left))))
        return Parallel(paths)


def unknown_as_zero(x: torch.Tensor) -> torch.Tensor:
    """``x`` (N, C, L) with every column whose channels all equal ``1 / C`` set to zero.

    seqcnn's one-hot codes N (and padding) as 0.25 in each channel; SpliceAI was trained with N as
    zeros, so its published scores near Ns and sequence ends need them zero. One-hot bases are unchanged.
    """
    unknown = (x == 1.0 / x.shape[1]).all(dim=1, keepdim=True)
    return x.masked_fill(unknown, 0.0)


class SpliceAI(Network):
    """A ``Network`` that takes any length longer than its context and names its context.

    Unknown bases (N, seqcnn's 0.25 columns) enter the network as zeros, as in SpliceAI's own encoding.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.head(self.body(unknown_as_zero(x)))

    def __init__(self, body: nn.Sequential, head: nn.Module, *, context: int) -> None:
        super().__init__(body, head)
        self.context = context

    def check_input(self, x: torch.Tensor) -> None:
        """``InputError`` for an input that is not ``(N, C, L)`` with ``L > context``."""
        super().check_input(x)
        if x.shape[-1] <= self.context:
            raise InputError(f"SpliceAI-{self.context} needs sequences longer than its context "
                             f"({self.context} bp), got length {x.shape[-1]}")


class PositionTarget(nn.Module):
    """``(N, 1)`` probability of class ``task`` at output position ``position`` of a per-position model.

    The model returns ``(N, T, L_out)`` log-probabilities or logits; the softmax over T is taken at
    ``position`` (negative counts from the end). For attribution and ISM tools, which need ``(N, T)``.
    """

    def __init__(self, model: nn.Module, position: int, task: int) -> None:
        super().__init__()
        self.model = model
        self.position = position
        self.task = task

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if not -out.shape[-1] <= self.position < out.shape[-1]:
            raise InputError(f"position {self.position} is outside the output (length {out.shape[-1]})")
        return out[:, :, self.position].softmax(dim=1)[:, self.task: self.task + 1]


class PositionOutputs(nn.Module):
    """``(N, T)`` class probabilities at one input position of a per-position model.

    The model returns ``(N, T, L_out)`` log-probabilities or logits centred on its ``(N, C, L)`` input;
    ``position`` is 0-based in the input, so output ``position - (L - L_out) // 2`` is taken and the
    softmax over T applied. This is how ``seqcnn ism --position`` asks how each substitution changes the
    acceptor and donor probabilities at one site.
    """

    def __init__(self, model: nn.Module, position: int) -> None:
        super().__init__()
        self.model = model
        self.position = position

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        index = self.position - (x.shape[-1] - out.shape[-1]) // 2
        if not 0 <= index < out.shape[-1]:
            first = (x.shape[-1] - out.shape[-1]) // 2
            raise InputError(f"position {self.position} has no output: a length-{x.shape[-1]} input gives "
                             f"outputs for positions {first}..{first + out.shape[-1] - 1}")
        return out[:, :, index].softmax(dim=1)


def _single(context: int, channels: int, n_tasks: int, in_channels: int, eps: float) -> SpliceAI:
    body = nn.Sequential(
        ConvBlock(in_channels, channels, 1, activation=None),
        SpliceAITower(channels, SPLICEAI_UNITS[context], eps=eps),
    )
    head = nn.Sequential(ConvBlock(channels, n_tasks, 1, activation=None), nn.LogSoftmax(dim=1))
    return SpliceAI(body, head, context=context)


@register_model(
    "spliceai",
    dims=1,
    small={"context": 80, "channels": 4},
    example_input=(4, 100),
    output="positions",
)
def spliceai(
    *,
    context: int = 10000,
    channels: int = 32,
    n_tasks: int = 3,
    in_channels: int = 4,
    n_models: int = 1,
    eps: float = KERAS_BN_EPS,
) -> nn.Module:
    """SpliceAI: dilated residual units with skip connections, per-position splice-site classes.

    Parameters
    ----------
    context
        Flanking sequence the model sees, both sides together: 80, 400, 2000 or 10000 (the released
        models are 10000).
    channels
        Channels of every convolution (32 in the paper).
    n_tasks
        Classes per position (3: neither, acceptor, donor).
    in_channels
        Input channels (4 for DNA).
    n_models
        1 for one network; more for an ensemble of that many (the release has 5) whose output is the
        log of the mean of their probabilities.
    eps
        Batch-norm epsilon (1e-3, as in the released Keras models).

    Returns
    -------
    torch.nn.Module
        ``(N, in_channels, L) -> (N, n_tasks, L - context)`` log-probabilities, for any ``L > context``.

    Raises
    ------
    ValueError
        A context other than 80, 400, 2000 or 10000, or ``n_models < 1``.
    """
    if context not in SPLICEAI_UNITS:
        raise ValueError(f"context must be one of {', '.join(map(str, SPLICEAI_UNITS))}, got {context!r}")
    if n_models < 1:
        raise ValueError(f"n_models must be >= 1, got {n_models}")
    if n_models == 1:
        return _single(context, channels, n_tasks, in_channels, eps)
    return Ensemble([_single(context, channels, n_tasks, in_channels, eps) for _ in range(n_models)])
