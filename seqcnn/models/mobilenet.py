"""MobileNet v1 (Howard et al. 2017): depthwise-separable convolutions with a width multiplier."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.heads import DenseHead, GlobalPool
from seqcnn.layers.modules import SeparableConv
from seqcnn.models.image_base import ImageClassifier, body_shape, check_sizes, init_weights, scaled
from seqcnn.models.registry import register_model

# Table 1 of the paper: (output channels, stride) of the 13 depthwise-separable layers
LAYERS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


@register_model(
    "mobilenet",
    dims=2,
    small={"in_channels": 3, "num_classes": 5, "width_multiplier": 0.125, "small_input": True},
    example_input=(3, 16, 16),
    output="tasks",
)
def mobilenet(
    *,
    in_channels: int = 3,
    num_classes: int = 1000,
    input_size: Sequence[int] | None = None,
    width_multiplier: float = 1.0,
    dropout: float = 0.2,
    small_input: bool = False,
) -> nn.Module:
    """MobileNet v1: 13 depthwise-separable layers (32 to 1024 channels) with a width multiplier.

    Images ``(N, C, H, W)`` -> logits ``(N, num_classes)``.

    A 3x3 stride-2 convolution (32 channels), 13 depthwise-separable layers (3x3 depthwise and 1x1
    pointwise, each with batch norm and ReLU; 64 up to 1024 channels, five of them stride 2), global
    average pooling, dropout and a dense output: 4,231,976 parameters at ImageNet settings.
    ``width_multiplier`` (alpha in the paper: 1, 0.75, 0.5, 0.25) scales every channel count.
    ``small_input=True`` (8x8 to 32x32): the first convolution and the first stride-2 layer keep
    stride 1, so 32x32 images end on 4x4 maps.
    """
    size = check_sizes(in_channels, num_classes, input_size)
    if width_multiplier <= 0:
        raise ValueError(f"width_multiplier must be > 0, got {width_multiplier}")
    channels = scaled(32, width_multiplier)
    layers: list[nn.Module] = [
        ConvBlock(in_channels, channels, 3, dims=2, stride=1 if small_input else 2, norm="batch")
    ]
    first_stride2 = True
    for out, stride in LAYERS:
        if small_input and stride == 2 and first_stride2:
            stride, first_stride2 = 1, False
        out = scaled(out, width_multiplier)
        layers.append(SeparableConv(channels, out, 3, dims=2, stride=stride, norm="batch"))
        channels = out
    features = nn.Sequential(*layers)
    if size is not None:
        body_shape(features, in_channels, size)
    head = nn.Sequential(GlobalPool("avg", dims=2), DenseHead(channels, num_classes, input_dropout=dropout))
    model = ImageClassifier(features, head, in_channels=in_channels, num_classes=num_classes, input_size=None)
    return init_weights(model)
