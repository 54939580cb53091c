"""WaveNet for sequences (van den Oord et al. 2016): causal dilated gated stack with skip connections.

Structure (``Network``): ``body = Sequential(ConvBlock(causal, kernel_size, no activation),
WaveNetStack(blocks of dilations 1, 2, ..., max_dilation))`` returning the summed skip outputs
``(N, skip_channels, L)``; ``head``:

- ``head="position"``: ``ReLU -> ConvBlock(1x1, ReLU) -> ConvBlock(1x1)``: per-position logits
  ``(N, n_tasks, L)``; output ``t`` depends only on inputs ``<= t`` (causal).
- ``head="pool"``: ``ReLU -> ConvBlock(1x1, ReLU) -> GlobalPool(pool) -> DenseHead``: ``(N, n_tasks)``.

Any input length works (``input_length`` is None). ``receptive_field`` =
``kernel_size + blocks * (kernel_size - 1) * (1 + 2 + ... + max_dilation)``.
"""

from __future__ import annotations

from torch import nn

from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.dilated import WaveNetStack, wavenet_dilations
from seqcnn.layers.heads import DenseHead, GlobalPool
from seqcnn.layers.network import Network
from seqcnn.models.registry import register_model


@register_model(
    "wavenet",
    dims=1,
    small={"channels": 4, "skip_channels": 4, "blocks": 1, "max_dilation": 4, "head_channels": 4},
    example_input=(4, 16),
)
def wavenet(
    *,
    n_tasks: int = 1,
    in_channels: int = 4,
    channels: int = 32,
    gate_channels: int | None = None,
    skip_channels: int = 64,
    head_channels: int = 64,
    kernel_size: int = 2,
    blocks: int = 2,
    max_dilation: int = 512,
    head: str = "pool",
    pool: str = "avg",
) -> Network:
    """WaveNet: causal dilated stack (kernel 2, dilations 1..512 x blocks), gated, residual + skip.

    Parameters
    ----------
    n_tasks
        Outputs.
    in_channels
        Input channels (4 for DNA/RNA).
    channels
        Residual channels.
    gate_channels
        Channels of the gated activation (default ``channels``).
    skip_channels, head_channels
        Channels of the summed skip outputs and of the head's 1x1 convolution.
    kernel_size
        Width of the causal convolutions.
    blocks
        Repeats of the dilations 1, 2, ..., ``max_dilation``.
    max_dilation
        Largest dilation (a power of 2).
    head
        ``pool`` (global pooling, output ``(N, n_tasks)``) or ``position`` (per-position causal
        logits ``(N, n_tasks, L)``).
    pool
        Global pooling of the ``pool`` head: ``avg``, ``max`` or ``maxavg``.

    Returns
    -------
    Network
        Input ``(N, in_channels, L)``, any L.

    Raises
    ------
    ValueError
        An unknown head.
    """
    body = nn.Sequential(
        ConvBlock(in_channels, channels, kernel_size, padding="causal", activation=None),
        WaveNetStack(channels, skip_channels, dilations=wavenet_dilations(blocks, max_dilation),
                     kernel_size=kernel_size, gate_channels=gate_channels),
    )
    mix = [nn.ReLU(), ConvBlock(skip_channels, head_channels, 1, activation="relu")]
    if head == "position":
        out = nn.Sequential(*mix, ConvBlock(head_channels, n_tasks, 1, activation=None))
    elif head == "pool":
        global_pool = GlobalPool(pool)
        out = nn.Sequential(*mix, global_pool, DenseHead(global_pool.channels(head_channels), n_tasks))
    else:
        raise ValueError(f"unknown wavenet head {head!r}; choose from position, pool")
    return Network(body, out)
