"""The dense head of fast ISM: the steps after the last windowed one, on all substitution rows of a chunk.

``fuse_head`` rewrites those steps once per plan: an eval-mode batch norm after a linear layer is
folded into its weights, a ReLU after it is applied in place on the fresh output, and an eval dropout
becomes an alias. The deferred ``flatten -> linear`` before the head (``FlatLinear``) takes the same
folds. Dense linear layers become ``DenseLinear``, which skips the input columns that are zero in every
row of a slice: after a ReLU about half the units of a sequence stay off under all of its
substitutions (about 54% of Basset's 1000 units are ever on), so the product shrinks by that much.

``dense_stage`` feeds rows in (sequence, window start) order, a slice at a time, so that each slice
belongs to one sequence (shared zero columns) and each window start is one contiguous run (one
matrix product per run in ``FlatLinear.finish``); outputs return to the block order at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqcnn.interpret.ism.engine.ops import DROPOUTS, bind, bind_dropout_training, eval_norm_affine
from seqcnn.interpret.ism.engine.reduce import Dense, FlatLinear, PendingFlat, sparse_product
from seqcnn.interpret.ism.engine.steps import Alias, Step
from seqcnn.interpret.ism.engine.trace import Op, Ref, Trace, Unsupported
from seqcnn.interpret.ism.engine.window import ChunkState, even_ranges

DENSE_ROWS = 2048  # rows per slice of the dense stage: freed slices stay in the heap (no new pages)


@dataclass
class DenseLinear(Step):
    """``linear`` on per-substitution rows ``(M, in)``, with folded batch norm and fused ReLU; input
    columns that are zero in every row are left out of the product."""

    source: int = 0  # input value index
    weight_t: torch.Tensor = None  # type: ignore[assignment]  # (in, out)
    bias: torch.Tensor | None = None  # (out,)
    relu: bool = False

    def run(self, ctx: Any, env: dict[int, Any]) -> None:
        x = env[self.source] if self.source in env else ctx.state.values[self.source]
        if x.dim() != 2:
            y = F.linear(x, self.weight_t.T, self.bias)
        else:
            y = sparse_product(x, self.weight_t, self.bias)
        env[self.out] = y.clamp_min_(0) if self.relu else y


def _is_relu(op: Op) -> bool:
    """A plain ReLU of one value (``inplace`` flags aside)."""
    return (op.name in ("relu", "relu_") and isinstance(op.args[0], Ref)
            and all(a is False for a in op.args[1:]) and set(op.kwargs) <= {"inplace"})


def _eval_norm(op: Op, trace: Trace) -> tuple[int, torch.Tensor, torch.Tensor] | None:
    """(input index, scale, shift) of an eval batch norm with constant statistics, else None."""
    if op.name != "batch_norm":
        return None
    a = bind(op)
    x = a["input"]
    if a["training"] or not isinstance(x, Ref) or not isinstance(a["running_var"], Ref):
        return None
    consts = [a[k] for k in ("running_mean", "running_var", "weight", "bias")]
    if any(isinstance(c, Ref) and trace.depends[c.index] for c in consts) or \
            not all(c is None or isinstance(c, Ref) for c in consts):
        return None
    return (x.index, *eval_norm_affine(a, trace.values))


def _dense_linear(step: Dense, trace: Trace) -> DenseLinear | None:
    """The DenseLinear for a recorded ``linear`` with constant weights, else None."""
    a = bind(step.op)
    x, w, b = a["input"], a["weight"], a["bias"]
    if not isinstance(x, Ref) or not isinstance(w, Ref) or trace.depends[w.index]:
        return None
    if b is not None and (not isinstance(b, Ref) or trace.depends[b.index]):
        return None
    weight = trace.values[w.index]
    bias = None if b is None else trace.values[b.index]
    return DenseLinear(step.op, step.out, source=x.index, weight_t=weight.T.contiguous(), bias=bias)


@torch.no_grad()
def fuse_head(steps: list[Step], boundary: int, trace: Trace, uses: dict[int, int]) -> list[Step]:
    """Rewrite the head ``steps[boundary:]`` (see the module docstring); returns all steps."""
    head: list[Step] = []
    open_: dict[int, Step] = {}  # value index -> fusable linear step that produces it
    last = steps[boundary - 1] if boundary else None
    if isinstance(last, FlatLinear) and last.deferred:
        open_[last.out] = last
    for step in steps[boundary:]:
        op = step.op
        if isinstance(step, Dense) and op.name == "linear":
            fused = _dense_linear(step, trace)
            if fused is not None:
                head.append(fused)
                open_[fused.out] = fused
                continue
        norm = _eval_norm(op, trace) if isinstance(step, Dense) else None
        source = norm[0] if norm else (op.args[0].index if _is_relu(op) else None)
        producer = open_.pop(source, None) if source is not None and uses.get(source) == 1 else None
        if producer is not None and norm is not None:
            _fold_norm(producer, norm[1], norm[2], step.out)
            open_[step.out] = producer
            continue
        if producer is not None:  # ReLU: in place on the producer's fresh output
            producer.relu = True
            _retarget(producer, step.out)
            continue
        if op.name in DROPOUTS and not bind_dropout_training(op) and isinstance(op.args[0], Ref):
            head.append(Alias(op, step.out))
            continue
        head.append(step)
    return steps[:boundary] + head


def _retarget(step: Step, index: int) -> None:
    """Make ``step`` write its (fused) result under value ``index``."""
    if isinstance(step, FlatLinear):
        step.result = index
    else:
        step.out = index


def _fold_norm(step: Step, scale: torch.Tensor, shift: torch.Tensor, index: int) -> None:
    """Fold ``y * scale + shift`` into the linear ``step`` that produces ``y``."""
    if isinstance(step, FlatLinear):
        step.weight = step.weight * scale  # (positions, C, out): the change scales; the reference is
        step.reference = index  # the recorded batch-norm output
    else:
        step.weight_t = step.weight_t * scale
        bias = step.bias if step.bias is not None else torch.zeros_like(shift)
        step.bias = bias * scale + shift
    _retarget(step, index)


class DenseContext:
    """The little a dense step needs: recorded values and the number of rows."""

    def __init__(self, state: ChunkState, batch: int) -> None:
        self.state = state
        self.batch = batch


def dense_stage(steps: list[Step], output: Any, state: ChunkState, carried: dict[int, list],
                row_seq: np.ndarray, flat: dict[int, FlatLinear], columns: list[int] | None = None
                ) -> torch.Tensor:
    """Run the head ``steps`` on all rows of a chunk (see the module docstring); (rows, T) outputs in
    the order of the blocks. ``row_seq``: sequence of each row; ``flat``: deferred FlatLinear steps
    by the value they feed; ``columns``: the outputs kept (all when None)."""
    if not isinstance(output, Ref):
        raise Unsupported("model output is not a single tensor")
    steps, pick = output_columns(steps, output, columns)
    merged = {index: _concat(parts) for index, parts in carried.items()}
    carried.clear()
    lo = next((rows.lo.numpy() for rows in merged.values() if isinstance(rows, PendingFlat)), None)
    order = np.lexsort((lo, row_seq)) if lo is not None else np.argsort(row_seq, kind="stable")
    results = []
    for a, b in _slices(row_seq[order]):
        take = torch.from_numpy(order[a:b])
        env: dict[int, Any] = {}
        for index, rows in merged.items():
            piece = _take(rows, take)
            if index in flat:
                linear = flat[index]
                env[linear.result] = linear.finish(piece, state.values[linear.reference])
            else:
                env[index] = piece
        ctx = DenseContext(state, b - a)
        for step in steps:
            step.run(ctx, env)  # type: ignore[arg-type]
        if output.index not in env:
            raise Unsupported("model output does not depend on the input")
        results.append(env[output.index] if pick is None else env[output.index][:, pick])
    y = torch.cat(results) if len(results) > 1 else results[0]
    if not isinstance(y, torch.Tensor) or y.dim() != 2:
        raise Unsupported("model output is not (N, T)")
    return torch.empty_like(y).index_copy_(0, torch.from_numpy(order).to(y.device), y)


def output_columns(steps: list[Step], output: Ref, columns: list[int] | None
                   ) -> tuple[list[Step], list[int] | None]:
    """``steps`` computing only the output ``columns``, and the columns still to pick from their result.

    When the last step is the linear layer that makes the output, it keeps just those weight columns
    (e.g. 1 of Basset's 164); otherwise every output is computed and the columns are picked after.
    """
    last = steps[-1] if steps else None
    if columns is None or not (isinstance(last, DenseLinear) and last.out == output.index):
        return steps, columns
    index = torch.tensor(columns, device=last.weight_t.device)
    bias = None if last.bias is None else last.bias.index_select(0, index)
    return [*steps[:-1], replace(last, weight_t=last.weight_t.index_select(1, index), bias=bias)], None


def _slices(seq: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges of at most DENSE_ROWS (about equal within a sequence) that never span two sequences."""
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(seq)) + 1, [len(seq)]]).tolist()
    return [r for a, b in zip(bounds[:-1], bounds[1:], strict=True) for r in even_ranges(a, b, DENSE_ROWS)]


def _concat(parts: list) -> Any:
    """One tensor (or PendingFlat) from the per-block ``parts``, emptying the list first and dropping
    each part once copied (so the peak is the result plus one part, not twice the rows)."""
    pieces = parts[:]
    parts.clear()
    if isinstance(pieces[0], PendingFlat):
        lo, seq = torch.cat([p.lo for p in pieces]), torch.cat([p.seq for p in pieces])
        deltas = [p.delta for p in pieces]
        pieces.clear()
        return PendingFlat(_fill(deltas), lo, seq)
    return _fill(pieces)


def _fill(pieces: list[torch.Tensor]) -> torch.Tensor:
    """``torch.cat(pieces)``, dropping each piece from the list once it is copied."""
    out = pieces[0].new_empty(sum(p.shape[0] for p in pieces), *pieces[0].shape[1:])
    at = 0
    for i, piece in enumerate(pieces):
        out[at: at + piece.shape[0]] = piece
        at += piece.shape[0]
        pieces[i] = None  # type: ignore[call-overload]
    return out


def _take(rows: Any, index: torch.Tensor) -> Any:
    if isinstance(rows, PendingFlat):
        return PendingFlat(rows.delta.index_select(0, index.to(rows.delta.device)), rows.lo[index],
                           rows.seq[index])
    return rows.index_select(0, index.to(rows.device))

