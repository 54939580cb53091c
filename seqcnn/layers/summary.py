"""Keras-like layer table of any network: each layer's output shape and parameter count.

Signatures::

    summarize(model, input_shape, *, depth=2) -> Summary   # input_shape without N
    format_summary(summary, *, header="") -> str

The forward pass runs on the meta device (meta copies of the parameters, no memory, no arithmetic),
so summarising VGG-16 at 224 x 224 costs nothing. Rows are the modules down to ``depth`` dotted
levels below the model (deeper modules are folded into their ancestor), in definition order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from seqcnn.layers.heads import eval_mode


@dataclass
class SummaryRow:
    """One table row: dotted module name, class name, output shape text, parameters (recursive)."""

    name: str
    kind: str
    output: str
    params: int


@dataclass
class Summary:
    """Table rows, the model's output shape text and its parameter counts."""

    rows: list[SummaryRow]
    output: str
    total: int
    trainable: int


def _shape_text(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return "(" + ", ".join(["N", *(str(s) for s in out.shape[1:])]) + ")"
    if isinstance(out, dict):
        return ", ".join(f"{k}: {_shape_text(v)}" for k, v in out.items())
    if isinstance(out, tuple | list):
        return ", ".join(_shape_text(v) for v in out)
    return "-"


def _rows_modules(model: nn.Module, depth: int) -> list[tuple[str, nn.Module]]:
    chosen = []
    for name, module in model.named_modules():
        level = name.count(".") + 1 if name else 0
        if 0 < level <= depth and (level == depth or not any(True for _ in module.children())):
            chosen.append((name, module))
    return chosen


def summarize(model: nn.Module, input_shape: Sequence[int], *, depth: int = 2) -> Summary:
    """Rows for ``model`` run on one input of ``input_shape`` (``ValueError`` if the input does not fit)."""
    modules = _rows_modules(model, depth)
    shapes: dict[str, str] = {}
    handles = [m.register_forward_hook(lambda _m, _a, out, n=name: shapes.__setitem__(n, _shape_text(out)))
               for name, m in modules]
    tensors = {n: torch.empty_like(t, device="meta") for n, t in [*model.named_parameters(),
                                                                     *model.named_buffers()]}
    try:
        with eval_mode(model):  # batch norm refuses a batch of one in training mode
            out = functional_call(model, tensors, (torch.empty((1, *input_shape), device="meta"),))
    except RuntimeError as exc:
        raise ValueError(f"input of shape {tuple(input_shape)} does not fit this network: {exc}") from exc
    finally:
        for handle in handles:
            handle.remove()
    rows = [SummaryRow(n, type(m).__name__, shapes.get(n, "-"), sum(p.numel() for p in m.parameters()))
            for n, m in modules]
    return Summary(rows, _shape_text(out), sum(p.numel() for p in model.parameters()),
                   sum(p.numel() for p in model.parameters() if p.requires_grad))


def format_summary(summary: Summary, *, header: str = "") -> str:
    """Text table: ``Layer (type) | Output shape | Param #``, the output shape and the totals."""
    table = [("Layer (type)", "Output shape", "Param #")]
    table += [(f"{r.name} ({r.kind})", r.output, f"{r.params:,}") for r in summary.rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    rule = "-" * (sum(widths) + 4)

    def line(row: tuple[str, str, str]) -> str:
        return f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}"

    lines = ([header] if header else []) + [rule, line(table[0]), rule.replace("-", "=")]
    lines += [line(row) for row in table[1:]] + [rule, f"Output: {summary.output}",
                                                 f"Total params: {summary.total:,}",
                                                 f"Trainable params: {summary.trainable:,}"]
    return "\n".join(lines)
