"""AlexNet (Krizhevsky et al. 2012), single-tower form as in torchvision (64/192/384/256/256 filters)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.heads import DenseHead
from seqcnn.models.image_base import ImageClassifier, body_shape, check_sizes, scaled
from seqcnn.models.registry import register_model


@register_model(
    "alexnet",
    dims=2,
    small={
        "in_channels": 3,
        "num_classes": 4,
        "input_size": (16, 16),
        "small_input": True,
        "width": 0.125,
        "hidden": 32,
    },
    example_input=(3, 16, 16),
    output="tasks",
)
def alexnet(
    *,
    in_channels: int = 3,
    num_classes: int = 1000,
    input_size: Sequence[int] = (224, 224),
    width: float = 1.0,
    hidden: int | None = None,
    dropout: float = 0.5,
    small_input: bool = False,
) -> nn.Module:
    """AlexNet: convolutions of 64/192/384/256/256 filters, 3 max-pools, dense 4096 x 2 with dropout.

    Images ``(N, C, H, W)`` -> logits ``(N, num_classes)``.

    Five convolutions with ReLU: 11x11 stride 4 (64), 5x5 (192), then 3x3 (384, 256, 256), with
    3x3 stride-2 max-pools after the 1st, 2nd and 5th; then dropout, two dense layers of ``hidden``
    (4096) with ReLU and dropout, and the output. The dense input is inferred from ``input_size``
    (224x224 gives 6x6x256: 61,100,840 parameters, as torchvision's ``alexnet``). ``width``
    scales the convolution channels. ``small_input=True`` (8x8 to 32x32) uses a 3x3 stride-1 first
    convolution and a 3x3 second, 2x2 pools (skipped once the map is 1 pixel wide) and 512 hidden.
    """
    size = check_sizes(in_channels, num_classes, input_size, required=True)
    c1, c2, c3, c4, c5 = (scaled(c, width) for c in (64, 192, 384, 256, 256))
    if small_input:
        pools = [min(size) >= 2, min(size) >= 4, min(size) >= 8]
        pool_kw = [{"pool": "max", "pool_size": 2} if p else {} for p in pools]
        first = {"kernel_size": 3, "stride": 1, "padding": 1}
        second = 3
    else:
        pool_kw = [{"pool": "max", "pool_size": 3, "pool_stride": 2}] * 3
        first = {"kernel_size": 11, "stride": 4, "padding": 2}
        second = 5
    features = nn.Sequential(
        ConvBlock(in_channels, c1, dims=2, **first, **pool_kw[0]),  # type: ignore[arg-type]
        ConvBlock(c1, c2, second, dims=2, **pool_kw[1]),  # type: ignore[arg-type]
        ConvBlock(c2, c3, 3, dims=2),
        ConvBlock(c3, c4, 3, dims=2),
        ConvBlock(c4, c5, 3, dims=2, **pool_kw[2]),  # type: ignore[arg-type]
    )
    units = hidden if hidden is not None else (512 if small_input else 4096)
    head = DenseHead(
        body_shape(features, in_channels, size),
        num_classes,
        hidden=(units, units),
        dropout=dropout,
        input_dropout=dropout,
    )
    return ImageClassifier(features, head, in_channels=in_channels, num_classes=num_classes, input_size=size)
