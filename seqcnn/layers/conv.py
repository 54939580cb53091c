"""Convolution blocks for 1D sequences ``(N, C, L)`` and 2D images ``(N, C, H, W)``.

Signatures (every block takes ``dims=1`` or ``dims=2``)::

    ConvBlock(in_channels, out_channels, kernel_size, *, dims=1, stride=1, dilation=1, groups=1,
              padding="same"|"valid"|"causal"|int, norm=None|"batch"|"layer", activation="relu",
              pool=None|"max"|"avg", pool_size=2, pool_stride=None, pool_padding=0, ceil_mode=False,
              dropout=0.0, bias=None)
    conv_stack(in_channels, channels, kernel_sizes, *, pool_sizes=None, dropouts=None, **block_kwargs)
        # nn.Sequential of ConvBlocks: channels[i] filters of width kernel_sizes[i], max-pooled by
        # pool_sizes[i] (1 or None: no pool), dropout dropouts[i]; other ConvBlock arguments shared
    UpConv(in_channels, out_channels, *, dims=1, scale=2, kernel_size=None, norm=None, activation=None,
           bias=None)                               # transposed-convolution upsampling, L -> L * scale
    conv_layer(in_channels, out_channels, kernel_size, *, dims=1, stride=1, dilation=1, groups=1,
               padding=0, bias=True) -> nn.Conv1d | nn.Conv2d
    norm_layer(kind, channels, *, dims=1) -> nn.Module | None
    pool_layer(kind, size, *, dims=1, stride=None, padding=0, ceil_mode=False) -> nn.Module | None
    ChannelLayerNorm(channels)                      # LayerNorm over the channel axis at every position

``ConvBlock`` is an ``nn.Sequential`` whose children are, in order and only when used:
``pad`` (an ``nn.ConstantPad1d/2d`` of zeros: causal padding, or "same" with stride > 1 and an even
kernel), ``conv`` (a plain ``nn.Conv1d``/``nn.Conv2d``), ``norm``, ``act``, ``pool``, ``drop``. So
``block.conv.weight`` is the filter bank, and a walker over ``block.children()`` sees each step.

Padding: ``"valid"`` none; ``"same"`` keeps ``ceil(L / stride)`` positions, the extra one of an even
kernel on the right (as PyTorch's ``padding="same"``); ``"causal"`` pads ``dilation * (k - 1)`` zeros on
the left (1D only) so output ``t`` depends on inputs ``<= t``; an int pads both sides by that much.
``bias=None`` means "no bias when followed by batch norm, bias otherwise".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from seqcnn.layers.activations import ActivationSpec, make_activation

IntOrPair = int | Sequence[int]


def _tuple(value: IntOrPair, dims: int, what: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * dims
    out = tuple(int(v) for v in value)
    if len(out) != dims:
        raise ValueError(f"{what} must be an int or {dims} ints, got {value!r}")
    return out


def _check_dims(dims: int) -> int:
    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 or 2, got {dims!r}")
    return dims


def conv_layer(
    in_channels: int,
    out_channels: int,
    kernel_size: IntOrPair,
    *,
    dims: int = 1,
    stride: IntOrPair = 1,
    dilation: IntOrPair = 1,
    groups: int = 1,
    padding: IntOrPair = 0,
    bias: bool = True,
) -> nn.Module:
    """A plain ``nn.Conv1d`` or ``nn.Conv2d`` (the only place models get one)."""
    cls = (nn.Conv1d, nn.Conv2d)[_check_dims(dims) - 1]
    return cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
               dilation=dilation, groups=groups, bias=bias)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels at each position: ``(N, C, *S) -> (N, C, *S)``."""

    elementwise = True  # position-wise, for seqcnn.layers.receptive

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)


def norm_layer(kind: str | None, channels: int, *, dims: int = 1) -> nn.Module | None:
    """``"batch"`` -> BatchNorm1d/2d, ``"layer"`` -> ChannelLayerNorm, ``None``/``"none"`` -> None.

    ``dims=0`` gives a norm for flat features ``(N, C)`` (BatchNorm1d or LayerNorm).
    """
    if kind is None or kind == "none":
        return None
    if kind == "batch":
        return (nn.BatchNorm1d, nn.BatchNorm1d, nn.BatchNorm2d)[dims](channels)
    if kind == "layer":
        return nn.LayerNorm(channels) if dims == 0 else ChannelLayerNorm(channels)
    raise ValueError(f"unknown norm {kind!r}; choose from batch, layer, none")


def pool_layer(
    kind: str | None,
    size: IntOrPair,
    *,
    dims: int = 1,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    ceil_mode: bool = False,
) -> nn.Module | None:
    """``"max"`` or ``"avg"`` pooling of window ``size`` (stride defaults to ``size``); None -> None."""
    if kind is None or kind == "none":
        return None
    stride = size if stride is None else stride
    if kind == "max":
        cls = (nn.MaxPool1d, nn.MaxPool2d)[_check_dims(dims) - 1]
        return cls(size, stride=stride, padding=padding, ceil_mode=ceil_mode)
    if kind == "avg":
        cls = (nn.AvgPool1d, nn.AvgPool2d)[_check_dims(dims) - 1]
        return cls(size, stride=stride, padding=padding, ceil_mode=ceil_mode)
    raise ValueError(f"unknown pool {kind!r}; choose from max, avg, none")


def _padding(
    padding: str | IntOrPair, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[tuple[int, ...] | str, tuple[int, ...] | None]:
    """(conv padding argument, explicit (left, right) pads per axis or None) for a padding mode."""
    dims = len(kernel)
    if not isinstance(padding, str):
        return _tuple(padding, dims, "padding"), None
    total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
    if padding == "valid":
        return (0,) * dims, None
    if padding == "causal":
        if dims != 1:
            raise ValueError("causal padding is for 1D sequences only")
        return (0,), (total[0], 0)
    if padding == "same":
        if all(t % 2 == 0 for t in total):
            return tuple(t // 2 for t in total), None
        if all(s == 1 for s in stride):
            return "same", None
        pads: list[int] = []
        for t in reversed(total):  # F.pad order: last axis first
            pads += [t // 2, t - t // 2]
        return (0,) * dims, tuple(pads)
    raise ValueError(f"unknown padding {padding!r}; choose from same, valid, causal or an int")


class ConvBlock(nn.Sequential):
    """conv -> [norm] -> [activation] -> [pool] -> [dropout]; ``(N, C_in, *S) -> (N, C_out, *S')``.

    See the module docstring for the arguments; ``activation`` is a name, class, module or None.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        *,
        dims: int = 1,
        stride: IntOrPair = 1,
        dilation: IntOrPair = 1,
        groups: int = 1,
        padding: str | IntOrPair = "same",
        norm: str | None = None,
        activation: ActivationSpec = "relu",
        pool: str | None = None,
        pool_size: IntOrPair = 2,
        pool_stride: IntOrPair | None = None,
        pool_padding: IntOrPair = 0,
        ceil_mode: bool = False,
        dropout: float = 0.0,
        bias: bool | None = None,
    ) -> None:
        super().__init__()
        _check_dims(dims)
        kernel = _tuple(kernel_size, dims, "kernel_size")
        strides = _tuple(stride, dims, "stride")
        dilations = _tuple(dilation, dims, "dilation")
        conv_pad, explicit = _padding(padding, kernel, strides, dilations)
        if explicit is not None:
            self.pad = (nn.ConstantPad1d, nn.ConstantPad2d)[dims - 1](explicit, 0.0)
        if bias is None:
            bias = norm != "batch"
        self.conv = conv_layer(in_channels, out_channels, kernel, dims=dims, stride=strides,
                               dilation=dilations, groups=groups, padding=conv_pad, bias=bias)
        for name, module in (
            ("norm", norm_layer(norm, out_channels, dims=dims)),
            ("act", make_activation(activation)),
            ("pool", pool_layer(pool, pool_size, dims=dims, stride=pool_stride, padding=pool_padding,
                                ceil_mode=ceil_mode)),
            ("drop", nn.Dropout(dropout) if dropout > 0 else None),
        ):
            if module is not None:
                self.add_module(name, module)


class UpConv(nn.Sequential):
    """Transposed-convolution upsampling by ``scale``: ``(N, C_in, *S) -> (N, C_out, *(S * scale))``.

    Children: ``conv`` (ConvTranspose1d/2d with kernel ``kernel_size or scale``, stride ``scale``;
    a kernel larger than ``scale`` is padded so the output is still exactly ``S * scale`` when
    ``kernel_size - scale`` is even), then optional ``norm`` and ``act``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        dims: int = 1,
        scale: int = 2,
        kernel_size: int | None = None,
        norm: str | None = None,
        activation: ActivationSpec = None,
        bias: bool | None = None,
    ) -> None:
        super().__init__()
        kernel = scale if kernel_size is None else kernel_size
        if kernel < scale or (kernel - scale) % 2:
            raise ValueError(f"UpConv kernel_size must be >= scale with an even difference, got {kernel}")
        cls = (nn.ConvTranspose1d, nn.ConvTranspose2d)[_check_dims(dims) - 1]
        self.conv = cls(in_channels, out_channels, kernel, stride=scale, padding=(kernel - scale) // 2,
                        bias=norm != "batch" if bias is None else bias)
        for name, module in (("norm", norm_layer(norm, out_channels, dims=dims)),
                             ("act", make_activation(activation))):
            if module is not None:
                self.add_module(name, module)


def conv_stack(
    in_channels: int,
    channels: Sequence[int],
    kernel_sizes: Sequence[IntOrPair],
    *,
    pool_sizes: Sequence[int | None] | None = None,
    dropouts: Sequence[float] | None = None,
    pool: str = "max",
    **block_kwargs: object,
) -> nn.Sequential:
    """``nn.Sequential`` of ``ConvBlock`` s, one per entry of ``channels`` (see the module docstring)."""
    n = len(channels)
    pool_sizes = [None] * n if pool_sizes is None else list(pool_sizes)
    dropouts = [0.0] * n if dropouts is None else list(dropouts)
    if not len(kernel_sizes) == len(pool_sizes) == len(dropouts) == n:
        raise ValueError(f"need one kernel size, pool size and dropout per layer ({n} layers), got "
                         f"{list(kernel_sizes)}, {pool_sizes}, {dropouts}")
    blocks = nn.Sequential()
    for out_channels, kernel, size, rate in zip(channels, kernel_sizes, pool_sizes, dropouts, strict=True):
        pooled = size not in (None, 1)
        blocks.append(ConvBlock(in_channels, out_channels, kernel, pool=pool if pooled else None,
                                pool_size=size if pooled else 2, dropout=rate, **block_kwargs))  # type: ignore[arg-type]
        in_channels = out_channels
    return blocks
