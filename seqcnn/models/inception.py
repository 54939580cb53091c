"""GoogLeNet (Szegedy et al. 2015): nine inception modules with 1x1 reductions (no auxiliary heads)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from seqcnn.layers.conv import ConvBlock, pool_layer
from seqcnn.layers.heads import DenseHead, GlobalPool
from seqcnn.layers.modules import Inception
from seqcnn.models.image_base import ImageClassifier, body_shape, check_sizes, init_weights, scaled
from seqcnn.models.registry import register_model

# Table 1 of the paper: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj; "M" a 3x3 stride-2 max-pool
MODULES: list[tuple[str, tuple[int, int, int, int, int, int]] | str] = [
    ("3a", (64, 96, 128, 16, 32, 32)),
    ("3b", (128, 128, 192, 32, 96, 64)),
    "M",
    ("4a", (192, 96, 208, 16, 48, 64)),
    ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)),
    "M",
    ("5a", (256, 160, 320, 32, 128, 128)),
    ("5b", (384, 192, 384, 48, 128, 128)),
]


def googlenet_stem(in_channels: int, width: float, *, norm: str | None, small_input: bool) -> list[nn.Module]:
    """conv 7x7/2 -> max-pool -> conv 1x1 -> conv 3x3 (192) -> max-pool; or one 3x3 conv (small)."""
    c64, c192 = scaled(64, width), scaled(192, width)
    if small_input:
        return [ConvBlock(in_channels, c192, 3, dims=2, norm=norm)]
    pool = {"pool": "max", "pool_size": 3, "pool_stride": 2, "ceil_mode": True}
    return [
        ConvBlock(in_channels, c64, 7, dims=2, stride=2, norm=norm, **pool),  # type: ignore[arg-type]
        ConvBlock(c64, c64, 1, dims=2, norm=norm),
        ConvBlock(c64, c192, 3, dims=2, norm=norm, **pool),  # type: ignore[arg-type]
    ]


@register_model(
    "inception",
    dims=2,
    small={"in_channels": 3, "num_classes": 5, "width": 0.0625, "small_input": True},
    example_input=(3, 16, 16),
    output="tasks",
)
def inception(
    *,
    in_channels: int = 3,
    num_classes: int = 1000,
    input_size: Sequence[int] | None = None,
    width: float = 1.0,
    batch_norm: bool = True,
    dropout: float = 0.4,
    small_input: bool = False,
) -> nn.Module:
    """GoogLeNet: inception modules 3a-5b with 1x1 reductions, global average pooling, dropout 0.4.

    Images ``(N, C, H, W)`` -> logits ``(N, num_classes)``.

    Stem, inception modules 3a-3b, max-pool, 4a-4e, max-pool, 5a-5b (each module concatenates a
    1x1, a 1x1 -> 3x3, a 1x1 -> 5x5 and a 3x3 max-pool -> 1x1 branch; output channels 256, 480, 512,
    512, 512, 528, 832, 832, 1024), global average pooling, dropout 0.4 and a dense output. Batch
    norm after every convolution (``batch_norm=False`` for the paper's plain version); the auxiliary
    classifiers are left out. ``width`` scales every channel count. ``small_input=True`` (8x8 to
    32x32): a single 3x3 stem convolution with no pooling before module 3a.
    """
    size = check_sizes(in_channels, num_classes, input_size)
    norm = "batch" if batch_norm else None
    layers: list[nn.Module] = googlenet_stem(in_channels, width, norm=norm, small_input=small_input)
    channels = scaled(192, width)
    for item in MODULES:
        if item == "M":
            padding = 1 if small_input else 0  # small maps: pad so a 1x1 map survives
            layers.append(pool_layer("max", 3, dims=2, stride=2, padding=padding, ceil_mode=not small_input))
            continue
        _, spec = item
        module = Inception(channels, *(scaled(c, width) for c in spec), dims=2, norm=norm)
        layers.append(module)
        channels = module.out_channels
    features = nn.Sequential(*layers)
    if size is not None:
        body_shape(features, in_channels, size)
    head = nn.Sequential(GlobalPool("avg", dims=2), DenseHead(channels, num_classes, input_dropout=dropout))
    model = ImageClassifier(features, head, in_channels=in_channels, num_classes=num_classes, input_size=None)
    return init_weights(model)
