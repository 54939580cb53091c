"""ResNet (He et al. 2016) and SE-ResNet (Hu et al. 2018), from the layer library's residual blocks."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.heads import DenseHead, GlobalPool
from seqcnn.layers.residual import BottleneckBlock, ResidualBlock
from seqcnn.models.image_base import ImageClassifier, body_shape, check_sizes, init_weights, scaled
from seqcnn.models.registry import register_model

# depth -> (block kind, blocks per stage)
DEPTHS: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
EXPANSION = 4  # bottleneck output channels = 4 x its width


def resnet_stem(in_channels: int, channels: int, *, small_input: bool) -> list[nn.Module]:
    """7x7 stride-2 convolution + 3x3 stride-2 max-pool (ImageNet), or one 3x3 stride-1 conv (small)."""
    if small_input:
        return [ConvBlock(in_channels, channels, 3, dims=2, norm="batch")]
    return [
        ConvBlock(
            in_channels,
            channels,
            7,
            dims=2,
            stride=2,
            norm="batch",
            pool="max",
            pool_size=3,
            pool_stride=2,
            pool_padding=1,
        ),
    ]


def resnet_stages(
    depth: int, width: int, *, se_reduction: int | None, stages: Sequence[int] | None = None
) -> tuple[list[nn.Module], int]:
    """The four residual stages (widths w, 2w, 4w, 8w; stride 2 from the second) and output channels."""
    if depth not in DEPTHS:
        raise ValueError(f"unsupported ResNet depth {depth}; choose from {', '.join(map(str, DEPTHS))}")
    kind, counts = DEPTHS[depth]
    counts = tuple(stages) if stages is not None else counts
    blocks: list[nn.Module] = []
    channels = width
    for stage, count in enumerate(counts):
        planes = width * 2**stage
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            if kind == "basic":
                blocks.append(
                    ResidualBlock(channels, planes, dims=2, stride=stride, se_reduction=se_reduction)
                )
                channels = planes
            else:
                blocks.append(
                    BottleneckBlock(
                        channels,
                        planes,
                        dims=2,
                        stride=stride,
                        expansion=EXPANSION,
                        se_reduction=se_reduction,
                    )
                )
                channels = planes * EXPANSION
    return blocks, channels


def build_resnet(
    *,
    depth: int,
    in_channels: int,
    num_classes: int,
    input_size: Sequence[int] | None,
    width: float,
    small_input: bool,
    se_reduction: int | None,
    stages: Sequence[int] | None = None,
) -> ImageClassifier:
    """ResNet body (stem + 4 stages) and a global-average-pool + dense head; see :func:`resnet`."""
    size = check_sizes(in_channels, num_classes, input_size)
    base = scaled(64, width)
    blocks, channels = resnet_stages(depth, base, se_reduction=se_reduction, stages=stages)
    features = nn.Sequential(*resnet_stem(in_channels, base, small_input=small_input), *blocks)
    if size is not None:
        body_shape(features, in_channels, size)  # fails early when the image is too small
    head = nn.Sequential(GlobalPool("avg", dims=2), DenseHead(channels, num_classes))
    model = ImageClassifier(features, head, in_channels=in_channels, num_classes=num_classes, input_size=None)
    return init_weights(model)


@register_model(
    "resnet",
    dims=2,
    small={"depth": 18, "in_channels": 3, "num_classes": 5, "width": 0.125, "small_input": True},
    example_input=(3, 16, 16),
    output="tasks",
)
def resnet(
    *,
    depth: int = 18,
    in_channels: int = 3,
    num_classes: int = 1000,
    input_size: Sequence[int] | None = None,
    width: float = 1.0,
    small_input: bool = False,
    stages: Sequence[int] | None = None,
) -> nn.Module:
    """ResNet-18/34 (basic blocks) or 50/101/152 (bottlenecks), global average pooling.

    Images ``(N, C, H, W)`` -> logits ``(N, num_classes)``.

    torchvision's layout ("v1.5": the stride on the 3x3 convolution of a bottleneck), so the
    ImageNet parameter counts match: 11,689,512 (18), 21,797,672 (34), 25,557,032 (50). The head
    averages globally, so any image large enough works; ``input_size`` only checks that.
    ``width`` scales every channel count (64 x width in the first stage); ``stages`` overrides the
    blocks per stage. ``small_input=True`` (8x8 to 32x32, CIFAR-style): a 3x3 stride-1 stem and no
    max-pool.
    """
    return build_resnet(
        depth=depth,
        in_channels=in_channels,
        num_classes=num_classes,
        input_size=input_size,
        width=width,
        small_input=small_input,
        se_reduction=None,
        stages=stages,
    )


@register_model(
    "se_resnet",
    dims=2,
    small={
        "depth": 18,
        "in_channels": 3,
        "num_classes": 5,
        "width": 0.125,
        "small_input": True,
        "reduction": 4,
    },
    example_input=(3, 16, 16),
    output="tasks",
)
def se_resnet(
    *,
    depth: int = 50,
    in_channels: int = 3,
    num_classes: int = 1000,
    input_size: Sequence[int] | None = None,
    width: float = 1.0,
    small_input: bool = False,
    reduction: int = 16,
    stages: Sequence[int] | None = None,
) -> nn.Module:
    """SE-ResNet: a ResNet with squeeze-and-excitation gates on every residual branch.

    Images ``(N, C, H, W)`` -> logits ``(N, num_classes)``.

    Arguments as :func:`resnet`, plus the SE ``reduction`` ratio (16 in the paper: SE-ResNet-50 has
    28,088,024 parameters at ImageNet settings).
    """
    if reduction < 1:
        raise ValueError(f"reduction must be >= 1, got {reduction}")
    return build_resnet(
        depth=depth,
        in_channels=in_channels,
        num_classes=num_classes,
        input_size=input_size,
        width=width,
        small_input=small_input,
        se_reduction=reduction,
        stages=stages,
    )
