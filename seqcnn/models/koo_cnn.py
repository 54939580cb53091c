"""Koo & Eddy (2019) CNN-N: the first max-pool size N controls how whole the first-layer motifs are.

Structure (``Network``): ``body = Sequential(ConvBlock(30 x 19, BN, act, max-pool N, dropout),
ConvBlock(128 x 5, BN, ReLU, max-pool M, dropout))`` with "same" padding; ``head = DenseHead(Flatten
-> Linear(512) -> BN -> ReLU -> Dropout -> Linear(n_tasks))``. ``M`` defaults to
``input_length // N // 2`` (100 / N at the paper's 200 nt), leaving two positions for the dense layer.
``first_activation="exp"`` gives the exponential activation of Koo & Ploenzke (2021).
Input ``(N, in_channels, input_length)``, output ``(N, n_tasks)`` logits.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from seqcnn.layers.activations import ActivationSpec
from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.network import Network
from seqcnn.models.registry import register_model


@register_model(
    "koo_cnn",
    dims=1,
    small={"filters": (4, 4), "kernel_sizes": (5, 3), "pool1": 2, "hidden": 8, "input_length": 24,
           "n_tasks": 3},
    example_input=(4, 24),
)
def koo_cnn(
    *,
    n_tasks: int = 12,
    in_channels: int = 4,
    input_length: int = 200,
    pool1: int = 4,
    pool2: int | None = None,
    filters: Sequence[int] = (30, 128),
    kernel_sizes: Sequence[int] = (19, 5),
    first_activation: ActivationSpec = "relu",
    hidden: int = 512,
    dropouts: Sequence[float] = (0.1, 0.1, 0.5),
    norm: str | None = "batch",
) -> Network:
    """Koo & Eddy CNN-N: 30 filters of width 19, max-pool N, 128 filters of width 5, max-pool, dense 512.

    Parameters
    ----------
    n_tasks
        Outputs.
    in_channels
        Input channels (4 for DNA/RNA).
    input_length
        Input length L (the dense layer is sized for it).
    pool1
        First max-pool size N (small N: distributed motif parts; large N: whole motifs).
    pool2
        Second max-pool size (default ``input_length // pool1 // 2``).
    filters, kernel_sizes
        Filters and widths of the two convolutions.
    first_activation
        Activation of the first layer (``exp``: the exponential activation of Koo & Ploenzke 2021).
    hidden
        Units of the dense layer.
    dropouts
        Dropout after each convolution and the dense layer.
    norm
        ``batch`` normalisation or None.

    Returns
    -------
    Network
        Input ``(N, in_channels, input_length)``; output ``(N, n_tasks)`` logits.
    """
    second_pool = max(1, input_length // pool1 // 2) if pool2 is None else pool2
    first = ConvBlock(in_channels, filters[0], kernel_sizes[0], norm=norm, activation=first_activation,
                      pool="max", pool_size=pool1, dropout=dropouts[0])
    second = ConvBlock(filters[0], filters[1], kernel_sizes[1], norm=norm, activation="relu",
                       pool="max" if second_pool > 1 else None, pool_size=second_pool, dropout=dropouts[1])
    return Network.with_dense_head(nn.Sequential(first, second), n_tasks, in_channels=in_channels,
                                   input_size=input_length, hidden=(hidden,), norm=norm, dropout=dropouts[2])
