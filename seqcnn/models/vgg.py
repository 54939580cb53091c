"""VGG (Simonyan & Zisserman 2015): configurations A/B/D/E as layer lists, with or without batch norm."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.heads import DenseHead
from seqcnn.models.image_base import ImageClassifier, body_shape, check_sizes, init_weights, scaled
from seqcnn.models.registry import register_model

# numbers are 3x3 convolutions (output channels), "M" a 2x2 max-pool (Table 1 of the paper)
# fmt: off
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG-11
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG-13
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],  # VGG-16
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],  # VGG-19
}
# fmt: on
ALIASES = {"11": "A", "13": "B", "16": "D", "19": "E", "vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}


def vgg_features(
    layers: Sequence[int | str],
    in_channels: int,
    *,
    input_size: tuple[int, int],
    batch_norm: bool,
    width: float,
    small_input: bool,
) -> nn.Sequential:
    """3x3 "same" convolutions with ReLU (and batch norm); each "M" max-pools the preceding block.

    With ``small_input`` a pool is skipped once the map is down to 1 pixel on a side.
    """
    blocks: list[ConvBlock] = []
    channels, (h, w) = in_channels, input_size
    for item in layers:
        if item == "M":
            if not blocks:
                raise ValueError("a VGG layer list cannot start with 'M'")
            if small_input and min(h, w) < 2:
                continue
            blocks[-1] = ConvBlock(
                blocks[-1].conv.in_channels,
                blocks[-1].conv.out_channels,
                3,
                dims=2,
                norm="batch" if batch_norm else None,
                bias=True,
                pool="max",
                pool_size=2,
            )
            h, w = h // 2, w // 2
        elif isinstance(item, int) and item > 0:
            out = scaled(item, width)
            norm = "batch" if batch_norm else None
            blocks.append(ConvBlock(channels, out, 3, dims=2, norm=norm, bias=True))  # biased, as torchvision
            channels = out
        else:
            raise ValueError(f"VGG layer list items are positive ints or 'M', got {item!r}")
    return nn.Sequential(*blocks)


@register_model(
    "vgg",
    dims=2,
    small={
        "config": "A",
        "in_channels": 3,
        "num_classes": 5,
        "input_size": (16, 16),
        "width": 0.125,
        "hidden": 32,
        "batch_norm": True,
        "small_input": True,
    },
    example_input=(3, 16, 16),
    output="tasks",
)
def vgg(
    *,
    in_channels: int = 3,
    num_classes: int = 1000,
    input_size: Sequence[int] = (224, 224),
    config: str = "D",
    layers: Sequence[int | str] | None = None,
    batch_norm: bool = False,
    width: float = 1.0,
    hidden: int | None = None,
    dropout: float = 0.5,
    small_input: bool = False,
) -> nn.Module:
    """VGG-11/13/16/19 (configs A/B/D/E): 3x3 convolution stacks, 5 max-pools, dense 4096 x 2.

    Images ``(N, C, H, W)`` -> logits ``(N, num_classes)``.

    ``config`` "A" (VGG-11), "B" (13), "D" (16) or "E" (19) (also "11".."19"); ``layers`` replaces it
    with your own list of channel counts and "M" (max-pool). ``batch_norm`` adds batch norm after
    every convolution. The classifier is two dense layers of ``hidden`` units (4096 by default,
    512 with ``small_input``) with ReLU and dropout, its input size inferred from ``input_size``
    (224x224 gives 7x7x512 and VGG-16's 138,357,544 parameters). ``width`` scales every
    convolution's channels. ``small_input=True`` (8x8 to 32x32 images) skips pools once the map
    is 1 pixel wide.
    """
    size = check_sizes(in_channels, num_classes, input_size, required=True)
    if layers is None:
        key = ALIASES.get(str(config).lower(), str(config).upper())
        if key not in CONFIGS:
            raise ValueError(f"unknown VGG config {config!r}; choose from A, B, D, E (or 11, 13, 16, 19)")
        layers = CONFIGS[key]
    features = vgg_features(
        layers, in_channels, input_size=size, batch_norm=batch_norm, width=width, small_input=small_input
    )
    units = hidden if hidden is not None else (512 if small_input else 4096)
    head = DenseHead(
        body_shape(features, in_channels, size), num_classes, hidden=(units, units), dropout=dropout
    )
    model = ImageClassifier(features, head, in_channels=in_channels, num_classes=num_classes, input_size=size)
    return init_weights(model)
