"""Keras-like layer table of any network: each layer's output shape and parameter count.

The forward pass runs on the meta device (meta copies of the parameters, no memory, no arithmetic),
so summarising VGG-16 at 224 x 224 costs nothing. Rows are the modules down to ``depth`` dotted
levels below the model (deeper modules are folded into their ancestor), in definition order; a
large ``depth`` lists every leaf module.
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
    """One table row.

    Attributes
    ----------
    name
        Dotted module name.
    kind
        Class name.
    output
        Output shape text, e.g. ``(N, 300, 982)``.
    params
        Parameters of the module and its children.
    """

    name: str
    kind: str
    output: str
    params: int


@dataclass
class Summary:
    """A layer table.

    Attributes
    ----------
    rows
        One per listed module, in definition order.
    output
        The model's output shape text.
    total, trainable
        Parameter counts (all; those with ``requires_grad``).
    """

    rows: list[SummaryRow]
    output: str
    total: int
    trainable: int


def _shape_text(out: Any, batch: int | None = None) -> str:
    if isinstance(out, torch.Tensor):
        first = "N" if batch is None else str(out.shape[0])
        return "(" + ", ".join([first, *(str(s) for s in out.shape[1:])]) + ")"
    if isinstance(out, dict):
        return ", ".join(f"{k}: {_shape_text(v, batch)}" for k, v in out.items())
    if isinstance(out, tuple | list):
        return ", ".join(_shape_text(v, batch) for v in out)
    return "-"


def _rows_modules(model: nn.Module, depth: int) -> list[tuple[str, nn.Module]]:
    chosen = []
    for name, module in model.named_modules():
        level = name.count(".") + 1 if name else 0
        if 0 < level <= depth and (level == depth or not any(True for _ in module.children())):
            chosen.append((name, module))
    return chosen


def summarize(model: nn.Module, input_shape: Sequence[int], *, depth: int = 2,
              batch: int | None = None) -> Summary:
    """The layer table of ``model`` run on one input.

    Parameters
    ----------
    model
        Any network (left unchanged: it runs on meta copies of its parameters, in eval mode).
    input_shape
        One input's shape without the batch axis, e.g. ``(4, L)`` or ``(C, H, W)``.
    depth
        Dotted levels below the model to list (deeper modules fold into their ancestor).
    batch
        Run a batch of this many inputs and show it as the first axis of every shape (None: one
        input, shown as ``N``).

    Returns
    -------
    Summary
        The rows, the output shape text and the parameter totals.

    Raises
    ------
    ValueError
        The input does not fit the network.
    """
    modules = _rows_modules(model, depth)
    shapes: dict[str, str] = {}
    handles = [m.register_forward_hook(
        lambda _m, _a, out, n=name: shapes.__setitem__(n, _shape_text(out, batch))) for name, m in modules]
    tensors = {n: torch.empty_like(t, device="meta") for n, t in [*model.named_parameters(),
                                                                     *model.named_buffers()]}
    try:
        with eval_mode(model):  # batch norm refuses a batch of one in training mode
            x = torch.empty((batch or 1, *input_shape), device="meta")
            out = functional_call(model, tensors, (x,))
    except RuntimeError as exc:
        raise ValueError(f"input of shape {tuple(input_shape)} does not fit this network: {exc}") from exc
    finally:
        for handle in handles:
            handle.remove()
    rows = [SummaryRow(n, type(m).__name__, shapes.get(n, "-"), sum(p.numel() for p in m.parameters()))
            for n, m in modules]
    return Summary(rows, _shape_text(out, batch), sum(p.numel() for p in model.parameters()),
                   sum(p.numel() for p in model.parameters() if p.requires_grad))


def format_summary(summary: Summary, *, header: str = "", footer: str | None = None) -> str:
    """The layer table as text.

    Parameters
    ----------
    summary
        From :func:`summarize`.
    header
        A first line (none when empty).
    footer
        A last line in place of the output shape and the totals (None: those).

    Returns
    -------
    str
        ``Layer (type) | Output shape | Param #`` rows, then the output shape and the totals.
    """
    table = [("Layer (type)", "Output shape", "Param #")]
    table += [(f"{r.name} ({r.kind})", r.output, f"{r.params:,}") for r in summary.rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    rule = "-" * (sum(widths) + 4)

    def line(row: tuple[str, str, str]) -> str:
        return f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}"

    lines = ([header] if header else []) + [rule, line(table[0]), rule.replace("-", "=")]
    lines += [line(row) for row in table[1:]] + [rule]
    if footer is not None:
        return "\n".join([*lines, footer])
    lines += [f"Output: {summary.output}", f"Total params: {summary.total:,}",
              f"Trainable params: {summary.trainable:,}"]
    return "\n".join(lines)
