"""What fast ISM knows about recorded torch calls: argument names, and which ops are elementwise,
additive, monotone (commute with max) or identities in eval mode."""

from __future__ import annotations

from typing import Any

import torch

from seqcnn.interpret.ism.engine.trace import Op, Trace, Unsupported, refs_of

SIGNATURES: dict[str, tuple[tuple[str, Any], ...]] = {
    "conv1d": (("input", None), ("weight", None), ("bias", None), ("stride", 1), ("padding", 0),
               ("dilation", 1), ("groups", 1)),
    "batch_norm": (("input", None), ("running_mean", None), ("running_var", None), ("weight", None),
                   ("bias", None), ("training", False), ("momentum", 0.1), ("eps", 1e-5)),
    "max_pool1d": (("input", None), ("kernel_size", None), ("stride", None), ("padding", 0),
                   ("dilation", 1), ("ceil_mode", False), ("return_indices", False)),
    "avg_pool1d": (("input", None), ("kernel_size", None), ("stride", None), ("padding", 0),
                   ("ceil_mode", False), ("count_include_pad", True)),
    "pad": (("input", None), ("pad", None), ("mode", "constant"), ("value", None)),
    "linear": (("input", None), ("weight", None), ("bias", None)),
    "flatten": (("input", None), ("start_dim", 0), ("end_dim", -1)),
    "amax": (("input", None), ("dim", ()), ("keepdim", False)),
    "mean": (("input", None), ("dim", None), ("keepdim", False)),
    "sum": (("input", None), ("dim", None), ("keepdim", False)),
    "chunk": (("input", None), ("chunks", None), ("dim", 0)),
    "split": (("input", None), ("split_size", None), ("dim", 0)),
    "cat": (("tensors", None), ("dim", 0)),
    "dropout": (("input", None), ("p", 0.5), ("training", True), ("inplace", False)),
    "adaptive_max_pool1d": (("input", None), ("output_size", None), ("return_indices", False)),
    "adaptive_avg_pool1d": (("input", None), ("output_size", None)),
}

UNARY = {
    "relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "exp", "exp_", "gelu", "elu", "elu_", "selu",
    "celu", "silu", "mish", "softplus", "leaky_relu", "leaky_relu_", "hardtanh", "hardtanh_", "relu6",
    "hardswish", "hardsigmoid", "softsign", "logsigmoid", "tanhshrink", "abs", "neg", "__neg__", "square",
    "sqrt", "log", "log1p", "expm1", "sin", "cos", "erf", "clamp", "clamp_min", "clamp_max", "threshold",
    "detach", "contiguous", "clone", "float", "double", "pow", "__pow__", "dropout1d", "alpha_dropout",
    "feature_alpha_dropout", "dropout",
}
ADDITIVE = {"add", "add_", "__add__", "__radd__", "__iadd__", "sub", "sub_", "__sub__", "__isub__"}
BINARY = ADDITIVE | {"mul", "mul_", "__mul__", "__rmul__", "__imul__", "div", "div_", "__truediv__",
                     "__rtruediv__", "__itruediv__", "true_divide", "__rsub__", "rsub", "maximum", "minimum"}
DROPOUTS = {"dropout", "dropout1d", "alpha_dropout", "feature_alpha_dropout"}
IDENTITIES = DROPOUTS | {"detach", "contiguous", "clone"}


def bind(op: Op) -> dict[str, Any]:
    """Arguments of ``op`` by name (for the ops in SIGNATURES)."""
    names = SIGNATURES[op.name]
    out = {name: default for name, default in names}
    for (name, _), value in zip(names, op.args, strict=False):
        out[name] = value
    aliases = {"dim": "dim", "split_size_or_sections": "split_size", "sections": "split_size"}
    for key, value in op.kwargs.items():
        out[aliases.get(key, key)] = value
    return out


def eval_norm_affine(a: dict[str, Any], values: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` of an eval batch norm bound by ``bind`` (tensor arguments as Refs into
    ``values``): ``y = x * scale + shift``."""
    def get(key: str) -> torch.Tensor | None:
        return None if a[key] is None else values[a[key].index]

    mean, weight, bias = get("running_mean"), get("weight"), get("bias")
    scale = torch.rsqrt(get("running_var") + a["eps"])
    if weight is not None:
        scale = scale * weight
    shift = -mean * scale if mean is not None else torch.zeros_like(scale)
    return scale, (shift + bias if bias is not None else shift)


def one_value(value: Any) -> int:
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise Unsupported(f"expected one value per axis, got {value!r}")
        value = value[0]
    return int(value)


def reduced_dims(dim: Any, ndim: int) -> set[int]:
    if dim is None:
        return set(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    return {d % ndim for d in dims}


MONOTONE = {"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "exp", "exp_", "softplus", "relu6",
            "hardtanh", "hardtanh_", "hardsigmoid", "elu", "elu_", "celu", "selu", "leaky_relu",
            "leaky_relu_"}


def monotone(op: Op) -> bool:
    """Elementwise and non-decreasing (so it commutes with max)."""
    if op.name not in MONOTONE:
        return False
    if op.name.startswith("leaky_relu"):
        slope = op.kwargs.get("negative_slope", op.args[1] if len(op.args) > 1 else 0.01)
        return isinstance(slope, (int, float)) and slope >= 0
    if op.name.startswith(("elu", "celu")):
        alpha = op.kwargs.get("alpha", op.args[1] if len(op.args) > 1 else 1.0)
        return isinstance(alpha, (int, float)) and alpha >= 0
    return True


def use_counts(trace: Trace) -> dict[int, int]:
    """How many recorded ops (and the output) read each value."""
    counts: dict[int, int] = {}
    for op in trace.ops:
        for r in {r.index for r in refs_of((op.args, op.kwargs))}:
            counts[r] = counts.get(r, 0) + 1
    for r in refs_of(trace.output):
        counts[r.index] = counts.get(r.index, 0) + 1
    return counts


def broadcasts(t: torch.Tensor) -> bool:
    """A constant that broadcasts over (n, m, B, C, w) as it did over (N, C, L): no length extent."""
    if t.dim() == 0:
        return True
    if t.dim() > 3 or t.shape[-1] != 1:
        return False
    return t.dim() < 3 or t.shape[0] == 1


def bind_dropout_training(op: Op) -> bool:
    """True when a dropout op ran in training mode."""
    if op.name == "dropout":
        return bool(bind(op)["training"])
    return bool(op.kwargs.get("training", op.args[2] if len(op.args) > 2 else False))
