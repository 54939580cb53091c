"""What the 2D image models share: the ``features`` -> ``head`` classifier shape and argument checks.

Every image classifier in the zoo is an :class:`ImageClassifier`: ``model.features`` maps images
``(N, C, H, W)`` to feature maps ``(N, C', h, w)`` (the last of them is what Grad-CAM looks at) and
``model.head`` maps those to logits ``(N, num_classes)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from seqcnn.layers.heads import feature_shape
from seqcnn.layers.network import Network


class ImageClassifier(Network):
    """``head(features(x))``: images ``(N, C, H, W)`` -> logits ``(N, num_classes)``.

    A 2D :class:`~seqcnn.layers.network.Network` (so ``receptive_field``, ``output_length`` and the
    input check come with it) whose ``body`` is also reachable as ``features``. ``input_size`` is the
    ``(H, W)`` a dense head was sized for (inputs must have it), or ``None`` when the head pools
    globally and any large enough image works.
    """

    def __init__(
        self,
        features: nn.Sequential,
        head: nn.Module,
        *,
        in_channels: int,
        num_classes: int,
        input_size: tuple[int, int] | None,
    ) -> None:
        super().__init__(features, head, dims=2, input_size=input_size)
        self.in_channels = in_channels
        self.num_classes = num_classes

    @property
    def features(self) -> nn.Sequential:
        """The convolutional body: ``(N, C, H, W) -> (N, C', h, w)`` (Grad-CAM's last maps)."""
        return self.body


def check_sizes(
    in_channels: int, num_classes: int, input_size: Sequence[int] | None, *, required: bool = False
) -> tuple[int, int] | None:
    """Validate the common 2D builder arguments; returns ``input_size`` as a tuple (or None).

    ``required``: the model sizes a dense layer from ``input_size``, so it may not be None.
    """
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1, got {in_channels}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if input_size is None:
        if required:
            raise ValueError("input_size (H, W) is needed: the dense head is sized from it")
        return None
    size = tuple(int(v) for v in input_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"input_size must be (H, W) with positive sizes, got {input_size!r}")
    return size  # type: ignore[return-value]


def body_shape(body: nn.Module, in_channels: int, input_size: tuple[int, int]) -> tuple[int, ...]:
    """``(C', h, w)`` that ``body`` gives for one ``(in_channels, *input_size)`` image.

    Raises ``ValueError`` naming the size when the image is too small for the network.
    """
    training = body.training
    body.eval()  # batch norm refuses a batch of one 1x1 map in training mode
    try:
        return feature_shape(body, (in_channels, *input_size))
    except ValueError as exc:
        raise ValueError(
            f"input_size {input_size[0]}x{input_size[1]} is too small for this network "
            "(use a larger input_size or small_input=True)"
        ) from exc
    finally:
        body.train(training)


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels * width`` rounded, at least 1 (width multipliers)."""
    return max(1, int(round(channels * width)))


def init_weights(model: nn.Module) -> nn.Module:
    """He (fan-out) initialisation of convolutions, N(0, 0.01) for linear layers, unit norms.

    As torchvision does for VGG and ResNet: deep plain stacks train from it where PyTorch's
    default (variance-shrinking) initialisation stalls.
    Parameters on the meta device (the skeleton ``load_model`` builds to check a file's shapes)
    are left alone: meta kernels would import ``torch._dynamo`` (about 1 s of start-up).
    """
    if any(p.is_meta for p in model.parameters()):
        return model
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm | nn.GroupNorm | nn.LayerNorm):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
    return model
