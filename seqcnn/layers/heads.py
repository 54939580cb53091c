"""Global pooling, dense heads and build-time shape inference.

Signatures::

    GlobalPool(kind="max"|"avg"|"maxavg", *, dims=1)   # (N, C, *S) -> (N, C), "maxavg" -> (N, 2C)
    DenseHead(in_shape, out_features, *, hidden=(), activation="relu", norm=None, dropout=0.0,
              input_dropout=0.0)                       # (N, *in_shape) -> (N, out_features)
    feature_shape(body, input_shape) -> tuple[int, ...]   # body's output shape without N

``DenseHead`` takes the shape its input will have (``int`` for flat features, or ``(C, L)`` /
``(C, H, W)``, then it starts with ``nn.Flatten``). Get that shape with ``feature_shape``, which
runs an empty batch through the body (no memory, no compute), so no flatten size is ever
computed by hand::

    body = nn.Sequential(ConvBlock(4, 32, 8, pool="max", pool_size=4), ...)
    head = DenseHead(feature_shape(body, (4, 1000)), n_tasks, hidden=(925,), dropout=0.5)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
from torch import nn
from torch.func import functional_call

from seqcnn.layers.activations import ActivationSpec, make_activation
from seqcnn.layers.conv import norm_layer
from seqcnn.layers.receptive import Node, Reduce


class GlobalPool(nn.Module):
    """Global max, average or concatenated max+average over all positions: ``(N, C, *S) -> (N, C|2C)``."""

    def __init__(self, kind: str = "max", *, dims: int = 1) -> None:
        super().__init__()
        if kind not in ("max", "avg", "maxavg"):
            raise ValueError(f"unknown global pool {kind!r}; choose from max, avg, maxavg")
        self.kind = kind
        self.dims = dims

    def channels(self, in_channels: int) -> int:
        """Output features for ``in_channels`` input channels."""
        return 2 * in_channels if self.kind == "maxavg" else in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)
        if self.kind == "max":
            return flat.amax(-1)
        if self.kind == "avg":
            return flat.mean(-1)
        return torch.cat([flat.amax(-1), flat.mean(-1)], dim=1)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, dims={self.dims}"

    def spatial_node(self, axis: int = 0) -> Node:
        """A global reduction (see ``receptive``)."""
        return Reduce()


class DenseHead(nn.Sequential):
    """[Flatten] -> ([Dropout] -> Linear -> [norm] -> act -> [Dropout]) per hidden size -> Linear.

    ``in_shape``: an int (flat features) or the per-sample shape of the input (flattened first).
    ``dropout`` follows each hidden layer; ``input_dropout`` precedes the first Linear.
    Output ``(N, out_features)``, no final activation (logits).
    """

    def __init__(
        self,
        in_shape: int | Sequence[int],
        out_features: int,
        *,
        hidden: Sequence[int] = (),
        activation: ActivationSpec = "relu",
        norm: str | None = None,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(in_shape, int):
            features = in_shape
        else:
            features = math.prod(in_shape)
            if len(in_shape) > 1:
                self.append(nn.Flatten())
        if features < 1:
            raise ValueError(f"dense head input has no features (shape {in_shape!r}): input too short?")
        if input_dropout > 0:
            self.append(nn.Dropout(input_dropout))
        for size in hidden:
            self.append(nn.Linear(features, size))
            for module in (norm_layer(norm, size, dims=0), make_activation(activation),
                           nn.Dropout(dropout) if dropout > 0 else None):
                if module is not None:
                    self.append(module)
            features = size
        self.append(nn.Linear(features, out_features))


def feature_shape(body: nn.Module, input_shape: Sequence[int]) -> tuple[int, ...]:
    """Shape (without N) of ``body``'s output for one input of shape ``input_shape`` (without N).

    Runs an empty batch ``(0, *input_shape)`` through ``body`` on the CPU with stand-in parameters
    of the right shapes (zero-stride views of one zero, so no memory and no arithmetic), in eval
    mode. Models built on the meta device (``load_model``'s skeleton) work too. Only when that
    fails does it fall back to meta tensors, whose kernels import ``torch._dynamo`` (about 1 s of
    start-up, which every CLI command paid before). Raises ``ValueError`` when the input is too
    small for the body.
    """
    def stand_in(device: str) -> dict[str, torch.Tensor]:
        return {name: torch.zeros((), dtype=t.dtype, device=device).expand(t.shape)
                for name, t in [*body.named_parameters(), *body.named_buffers()]}

    with eval_mode(body), torch.no_grad():  # batch norm refuses a batch of one in training mode
        try:
            empty = torch.zeros((0, *input_shape), device="cpu")
            return tuple(functional_call(body, stand_in("cpu"), (empty,)).shape[1:])
        except RuntimeError:
            pass  # an op that refuses empty batches, or an input too short: ask the meta kernels
        try:
            out = functional_call(body, stand_in("meta"), (torch.empty((1, *input_shape), device="meta"),))
        except RuntimeError as exc:
            shape = tuple(input_shape)
            raise ValueError(f"input of shape {shape} is too small for this network: {exc}") from exc
    return tuple(out.shape[1:])


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode for the block, then restore each submodule's own mode."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training
