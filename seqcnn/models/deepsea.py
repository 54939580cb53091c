"""DeepSEA (Zhou & Troyanskaya 2015): three convolutions with max pooling and dropout, two dense layers.

Structure (``Network``): ``body = Sequential(ConvBlock x 3)`` (conv -> ReLU -> [max-pool] -> dropout,
"valid" padding); ``head = DenseHead(Flatten -> Linear(hidden) -> ReLU -> Linear(n_tasks))`` sized
from the body at ``input_length``. Input ``(N, in_channels, input_length)``, output ``(N, n_tasks)``
logits (the paper's sigmoid is left to the loss).
"""

from __future__ import annotations

from collections.abc import Sequence

from seqcnn.layers.activations import ActivationSpec
from seqcnn.layers.conv import conv_stack
from seqcnn.layers.network import Network
from seqcnn.models.registry import register_model


@register_model(
    "deepsea",
    dims=1,
    small={"channels": (4, 4, 4), "kernel_size": 3, "pool_sizes": (2, 2, 1), "hidden": 8,
           "input_length": 40, "n_tasks": 3},
    example_input=(4, 40),
)
def deepsea(
    *,
    n_tasks: int = 919,
    in_channels: int = 4,
    input_length: int = 1000,
    channels: Sequence[int] = (320, 480, 960),
    kernel_size: int = 8,
    pool_sizes: Sequence[int] = (4, 4, 1),
    dropouts: Sequence[float] = (0.2, 0.2, 0.5),
    hidden: int = 925,
    activation: ActivationSpec = "relu",
) -> Network:
    """DeepSEA: 320/480/960 filters of width 8, max-pool 4, dropout .2/.2/.5, dense 925, 919 outputs.

    Parameters
    ----------
    n_tasks
        Outputs.
    in_channels
        Input channels (4 for DNA/RNA).
    input_length
        Input length L (the dense layer is sized for it).
    channels
        Filters of each convolution.
    kernel_size
        Width of every convolution.
    pool_sizes
        Max-pool size after each convolution (1: none).
    dropouts
        Dropout after each convolution.
    hidden
        Units of the dense layer.
    activation
        Activation name (``relu``, ``exp``, ``gelu``, ...), class or module.

    Returns
    -------
    Network
        Input ``(N, in_channels, input_length)``; output ``(N, n_tasks)`` logits.
    """
    body = conv_stack(in_channels, channels, [kernel_size] * len(channels), pool_sizes=pool_sizes,
                      dropouts=dropouts, padding="valid", activation=activation)
    return Network.with_dense_head(body, n_tasks, in_channels=in_channels, input_size=input_length,
                                   hidden=(hidden,), activation=activation)
