"""Convolutional autoencoder: strided-convolution encoder, transposed-convolution decoder."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from seqcnn.layers.activations import ActivationSpec
from seqcnn.layers.conv import ConvBlock, UpConv
from seqcnn.layers.heads import DenseHead
from seqcnn.layers.receptive import Chain, Node, node_of
from seqcnn.models.image_base import body_shape, check_sizes
from seqcnn.models.registry import register_model


class ConvAutoencoder(nn.Module):
    """Images ``(N, C, H, W)`` -> reconstructions ``(N, C, H, W)``.

    ``encode(x)`` gives the code: feature maps ``(N, C', ceil(H / 2^k), ceil(W / 2^k))``, or
    ``(N, latent_dim)`` when a dense bottleneck is used; ``decode(z)`` maps a code back to images,
    cropped to ``(H, W)`` in ``forward``.
    """

    def __init__(
        self,
        encoder: nn.Sequential,
        decoder: nn.Sequential,
        *,
        in_channels: int,
        input_size: tuple[int, int] | None,
        to_latent: nn.Module | None = None,
        from_latent: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.to_latent, self.from_latent = to_latent, from_latent
        self.in_channels, self.input_size = in_channels, input_size

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        return z if self.to_latent is None else self.to_latent(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z if self.from_latent is None else self.from_latent(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return self.decode(self.encode(x))[..., :h, :w]

    def spatial_node(self, axis: int = 0) -> Node:
        """Spatial graph of the fully convolutional form (output lengths; see ``seqcnn.layers.receptive``)."""
        return Chain((node_of(self.encoder, axis), node_of(self.decoder, axis)))


@register_model(
    "autoencoder",
    dims=2,
    small={"in_channels": 1, "widths": (4, 8)},
    example_input=(1, 16, 16),
    output="image",
)
def autoencoder(
    *,
    in_channels: int = 1,
    input_size: Sequence[int] | None = None,
    widths: Sequence[int] = (32, 64),
    latent_dim: int | None = None,
    batch_norm: bool = True,
    activation: ActivationSpec = "relu",
    output_activation: ActivationSpec = "sigmoid",
) -> nn.Module:
    """Convolutional autoencoder: strided-convolution encoder, transposed-convolution decoder.

    Images ``(N, C, H, W)`` -> reconstructions ``(N, C, H, W)``.

    The encoder has one 3x3 stride-2 convolution per entry of ``widths`` (each halving H and W),
    the decoder mirrors it with 4x4 stride-2 transposed convolutions and ends in a 3x3 convolution
    back to ``in_channels`` with ``output_activation`` (sigmoid: images scaled to [0, 1]; None for
    unbounded values). ``latent_dim`` adds a dense bottleneck of that size (then ``input_size`` is
    required and inputs must have it); without it the model is fully convolutional and any size works.
    """
    size = check_sizes(in_channels, 1, input_size, required=latent_dim is not None)
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be positive channel counts, got {widths!r}")
    norm = "batch" if batch_norm else None
    chans = [in_channels, *widths]
    encoder = nn.Sequential(
        *(
            ConvBlock(a, b, 3, dims=2, stride=2, norm=norm, activation=activation)
            for a, b in zip(chans[:-1], chans[1:], strict=True)
        )
    )
    decoder = nn.Sequential(
        *(
            UpConv(b, a, dims=2, scale=2, kernel_size=4, norm=norm, activation=activation)
            for a, b in zip(chans[1:-1][::-1] + [widths[0]], chans[1:][::-1], strict=True)
        ),
        ConvBlock(widths[0], in_channels, 3, dims=2, activation=output_activation),
    )
    to_latent = from_latent = None
    if latent_dim is not None:
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        shape = body_shape(encoder, in_channels, size)  # type: ignore[arg-type]
        to_latent = DenseHead(shape, latent_dim)
        from_latent = nn.Sequential(DenseHead(latent_dim, math.prod(shape)), nn.Unflatten(1, shape))
    return ConvAutoencoder(
        encoder,
        decoder,
        in_channels=in_channels,
        input_size=size,
        to_latent=to_latent,
        from_latent=from_latent,
    )
