"""DeepBind (Alipanahi et al. 2015): one convolution, global pooling, a small dense layer.

Structure (``Network``): ``body = Sequential(ConvBlock(conv, act))``;
``head = Sequential(GlobalPool(max | avg | maxavg), DenseHead([hidden, dropout], n_tasks))``.
Input ``(N, in_channels, L)`` for any ``L >= filter_width`` (``input_length`` is None); output
``(N, n_tasks)`` logits. ``receptive_field`` is ``filter_width`` (one filter position); the global
pool lets every output see the whole input.
"""

from __future__ import annotations

from torch import nn

from seqcnn.layers.activations import ActivationSpec
from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.heads import DenseHead, GlobalPool
from seqcnn.layers.network import Network
from seqcnn.models.registry import register_model


@register_model(
    "deepbind",
    dims=1,
    small={"n_filters": 4, "filter_width": 5, "hidden": 4, "pool": "maxavg"},
    example_input=(4, 20),
)
def deepbind(
    *,
    n_tasks: int = 1,
    in_channels: int = 4,
    n_filters: int = 16,
    filter_width: int = 24,
    padding: str = "valid",
    activation: ActivationSpec = "relu",
    pool: str = "max",
    hidden: int = 32,
    dropout: float = 0.5,
) -> Network:
    """DeepBind: 16 filters of width 24, ReLU, global max pooling, hidden layer of 32 (0: none).

    Parameters
    ----------
    n_tasks
        Outputs.
    in_channels
        Input channels (4 for DNA/RNA).
    n_filters, filter_width
        The convolution's filters and their width.
    padding
        ``valid`` (positions with full context only) or ``same``.
    activation
        Activation after the convolution (name, class or module).
    pool
        Global pooling: ``max``, ``avg`` or ``maxavg`` (both, concatenated).
    hidden
        Units of the hidden dense layer (0: none).
    dropout
        Dropout before the output layer.

    Returns
    -------
    Network
        Input ``(N, in_channels, L)`` for any ``L >= filter_width``; output ``(N, n_tasks)`` logits.
    """
    conv = ConvBlock(in_channels, n_filters, filter_width, padding=padding, activation=activation)
    global_pool = GlobalPool(pool)
    head = nn.Sequential(
        global_pool,
        DenseHead(global_pool.channels(n_filters), n_tasks, hidden=(hidden,) if hidden else (),
                  dropout=dropout),
    )
    return Network(nn.Sequential(conv), head)
