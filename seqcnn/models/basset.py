"""Basset (Kelley et al. 2016): three batch-normalised convolutions with max pooling, two dense layers.

Structure (``Network``): ``body = Sequential(ConvBlock x 3)`` (conv -> BatchNorm -> ReLU -> max-pool,
"valid" padding); ``head = DenseHead(Flatten -> (Linear -> BatchNorm -> ReLU -> Dropout) x 2 ->
Linear(n_tasks))`` sized from the body at ``input_length``. At 600 bp the flattened body output is
200 x 10 = 2000 features, as in the paper. Input ``(N, in_channels, input_length)``, output
``(N, n_tasks)`` logits.
"""

from __future__ import annotations

from collections.abc import Sequence

from seqcnn.layers.activations import ActivationSpec
from seqcnn.layers.conv import conv_stack
from seqcnn.layers.network import Network
from seqcnn.models.registry import register_model


@register_model(
    "basset",
    dims=1,
    small={"channels": (4, 4, 4), "kernel_sizes": (5, 3, 3), "pool_sizes": (2, 2, 2), "hidden": (8, 8),
           "input_length": 50, "n_tasks": 3},
    example_input=(4, 50),
)
def basset(
    *,
    n_tasks: int = 164,
    in_channels: int = 4,
    input_length: int = 600,
    channels: Sequence[int] = (300, 200, 200),
    kernel_sizes: Sequence[int] = (19, 11, 7),
    pool_sizes: Sequence[int] = (3, 4, 4),
    hidden: Sequence[int] = (1000, 1000),
    dropout: float = 0.3,
    norm: str | None = "batch",
    activation: ActivationSpec = "relu",
) -> Network:
    """Basset: 300/200/200 filters of widths 19/11/7, BN, max-pool 3/4/4, dense 1000 x 2, 164 outputs.

    Parameters
    ----------
    n_tasks
        Outputs.
    in_channels
        Input channels (4 for DNA/RNA).
    input_length
        Input length L (the dense layers are sized for it).
    channels, kernel_sizes, pool_sizes
        Filters, widths and max-pool sizes of the convolutions.
    hidden
        Units of the dense layers.
    dropout
        Dropout after each dense layer.
    norm
        ``batch`` normalisation or None.
    activation
        Activation name (``relu``, ``exp``, ``gelu``, ...), class or module.

    Returns
    -------
    Network
        Input ``(N, in_channels, input_length)``; output ``(N, n_tasks)`` logits.
    """
    body = conv_stack(in_channels, channels, kernel_sizes, pool_sizes=pool_sizes, padding="valid", norm=norm,
                      activation=activation)
    return Network.with_dense_head(body, n_tasks, in_channels=in_channels, input_size=input_length,
                                   hidden=tuple(hidden), norm=norm, activation=activation, dropout=dropout)
