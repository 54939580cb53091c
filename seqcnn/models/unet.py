"""U-Net (Ronneberger et al. 2015): encoder/decoder with skip connections for per-pixel classes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from seqcnn.layers.conv import ConvBlock, UpConv, pool_layer
from seqcnn.layers.receptive import IDENTITY, Chain, Node, Parallel, node_of
from seqcnn.models.image_base import check_sizes, init_weights
from seqcnn.models.registry import register_model


def double_conv(
    in_channels: int, out_channels: int, *, norm: str | None, dropout: float = 0.0
) -> nn.Sequential:
    """Two 3x3 "same" convolutions with norm and ReLU: ``(N, C_in, H, W) -> (N, C_out, H, W)``."""
    return nn.Sequential(
        ConvBlock(in_channels, out_channels, 3, dims=2, norm=norm),
        ConvBlock(out_channels, out_channels, 3, dims=2, norm=norm, dropout=dropout),
    )


def match_size(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Zero-pad (or crop) ``x`` on the bottom/right to the height and width of ``like``."""
    dh, dw = like.shape[-2] - x.shape[-2], like.shape[-1] - x.shape[-1]
    return F.pad(x, (0, dw, 0, dh)) if dh or dw else x


class UNet(nn.Module):
    """Images ``(N, C, H, W)`` -> per-pixel logits ``(N, num_classes, H, W)``.

    ``encoder[i]`` (double conv, then 2x2 max-pool) feeds ``decoder[i]`` through a skip connection:
    the decoder upsamples (``up[i]``, transposed convolution) and concatenates the skip before its
    double conv. Any H, W works: an upsampled map one pixel short of its skip (odd sizes) is padded.
    """

    def __init__(
        self, in_channels: int, num_classes: int, *, base: int, depth: int, norm: str | None, dropout: float
    ) -> None:
        super().__init__()
        widths = [base * 2**i for i in range(depth + 1)]
        self.in_channels, self.num_classes, self.depth = in_channels, num_classes, depth
        self.encoder = nn.ModuleList(
            double_conv(in_channels if i == 0 else widths[i - 1], widths[i], norm=norm) for i in range(depth)
        )
        self.pool = pool_layer("max", 2, dims=2)
        self.bottleneck = double_conv(widths[depth - 1], widths[depth], norm=norm, dropout=dropout)
        self.up = nn.ModuleList(UpConv(widths[i + 1], widths[i], dims=2, scale=2) for i in range(depth))
        self.decoder = nn.ModuleList(double_conv(2 * widths[i], widths[i], norm=norm) for i in range(depth))
        self.classifier = ConvBlock(widths[0], num_classes, 1, dims=2, activation=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for encode in self.encoder:
            x = encode(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for i in reversed(range(self.depth)):
            x = match_size(self.up[i](x), skips[i])
            x = self.decoder[i](torch.cat([skips[i], x], dim=1))
        return self.classifier(x)

    def spatial_node(self, axis: int = 0) -> Node:
        """Spatial graph (``seqcnn.layers.receptive``): encoder -> (skip | pool -> deeper -> up) -> decoder.

        Gives output lengths for H and W divisible by ``2 ** depth`` (no padding of odd maps); the
        layer library has no receptive field through transposed convolutions.
        """
        inner: Node = node_of(self.bottleneck, axis)
        for i in reversed(range(self.depth)):
            down = Chain((node_of(self.pool, axis), inner, node_of(self.up[i], axis)))
            inner = Chain(
                (node_of(self.encoder[i], axis), Parallel([IDENTITY, down]), node_of(self.decoder[i], axis))
            )
        return Chain((inner, node_of(self.classifier, axis)))


@register_model(
    "unet",
    dims=2,
    small={"in_channels": 1, "num_classes": 4, "base": 4, "depth": 2},
    example_input=(1, 16, 16),
    output="pixels",
)
def unet(
    *,
    in_channels: int = 1,
    num_classes: int = 2,
    input_size: Sequence[int] | None = None,
    base: int = 64,
    depth: int = 4,
    batch_norm: bool = True,
    dropout: float = 0.0,
) -> nn.Module:
    """U-Net: encoder/decoder with skip connections, per-pixel class logits of the input's size.

    Images ``(N, C, H, W)`` -> logits ``(N, num_classes, H, W)``.

    ``depth`` down-sampling levels with ``base``, 2x, 4x ... channels (64 -> 1024 with the paper's
    depth 4), "same" padding so the output has the input's height and width (the paper crops
    instead), batch norm after each convolution unless ``batch_norm=False``, ``dropout`` at the
    bottom of the contracting path. ``input_size`` is optional: any size works (sizes divisible by
    ``2 ** depth`` avoid padding).
    """
    size = check_sizes(in_channels, num_classes, input_size)
    if depth < 1 or base < 1:
        raise ValueError(f"depth and base must be >= 1, got depth={depth}, base={base}")
    if size is not None and min(size) < 2**depth:
        raise ValueError(f"input_size {size[0]}x{size[1]} is smaller than 2**depth = {2**depth}")
    model = UNet(
        in_channels,
        num_classes,
        base=base,
        depth=depth,
        norm="batch" if batch_norm else None,
        dropout=dropout,
    )
    return init_weights(model)
