"""Fast-ISM steps that leave the positional windows: flatten -> linear, global pooling, and ops run on
full-length or per-substitution tensors.

``FlatLinear`` multiplies only the window's weight columns (deferred to whole chunks when nothing
windowed follows), ``GlobalMax`` uses running maxima of the reference outside the window,
``GlobalSum`` adds the summed change, ``Materialize`` rebuilds full-length mutated inputs for ops
without a windowed rule, and ``Dense`` replays any op on per-substitution tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqcnn.interpret.ism.engine.first_max import FirstConvMax
from seqcnn.interpret.ism.engine.steps import Flat, InputRep, Step, apply_post, as_local, halving_max, resolve
from seqcnn.interpret.ism.engine.trace import Op, Ref
from seqcnn.interpret.ism.engine.window import BlockContext, Geo, Local

SPARSE_INPUT = 64  # products look for all-zero input columns from this many input features up
SPARSE_SHARE = 0.85  # ... and multiply only the nonzero ones when they are at most this share


def sparse_product(x: torch.Tensor, weight_t: torch.Tensor, bias: torch.Tensor | None,
                   out: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ weight_t + bias`` for ``x`` (M, in), over the columns of ``x`` that are not all zero.

    After a ReLU (or a max pool of one) many inputs are zero in every row of a slice of one sequence:
    about half of Basset's dense units, and of its flattened pooled map within one window start.
    """
    if x.shape[0] and x.shape[1] >= SPARSE_INPUT:
        # two column reductions: ~7x faster than (x != 0).any(0) (same answer, NaN counted as nonzero)
        active = (x.amax(0) != 0) | (x.amin(0) != 0)
        if int(active.sum()) <= SPARSE_SHARE * x.shape[1]:
            index = active.nonzero().squeeze(1)
            x, weight_t = x.index_select(1, index), weight_t.index_select(0, index)
    if bias is None:
        return torch.mm(x, weight_t, out=out)
    return torch.addmm(bias, x, weight_t, out=out)


@dataclass
class Flatten(Step):
    """``flatten(1)`` or ``view(N, -1)`` of a positional value: kept as a window for a linear layer."""

    def run(self, ctx: BlockContext, env: dict[int, Any]) -> None:
        env[self.out] = Flat(as_local(ctx, resolve(ctx, env, self.op.args[0])))


@dataclass
class PendingFlat:
    """``linear(flatten(x))`` rows of a block, multiplied later with rows of the same window start."""

    delta: torch.Tensor  # (rows, w * C), window positions outer
    lo: torch.Tensor  # (rows,) window start
    seq: torch.Tensor  # (rows,) sequence index in the chunk


@dataclass
class FlatLinear(Step):
    """``linear(flatten(x))``: reference output plus the weight columns of the window times the change.

    Deferred (``deferred=True``) when nothing windowed follows: each block only stores its rows, and
    ``finish`` multiplies all rows of a chunk that share a sequence and window start by that window's
    weight slab at once (a few large matrix products instead of one small one per position). The head
    fusion (``fuse_head``) may fold a batch norm into ``weight`` (then ``reference`` is the
    recorded batch-norm output) and a ReLU (``relu``); ``result`` is the value the output stands for.
    """

    geo: Geo = None  # type: ignore[assignment]
    weight: torch.Tensor = None  # type: ignore[assignment]  # (left + L + right, C, O), zero margins
    deferred: bool = False
    result: int = -1  # value index of the (fused) output; -1: ``out``
    reference: int = -1  # recorded value the change is added to; -1: ``out``
    relu: bool = False

    def __post_init__(self) -> None:
        self.result = self.out if self.result < 0 else self.result
        self.reference = self.out if self.reference < 0 else self.reference

    def prepare(self, period: int, start: int) -> None:
        geo = self.geo
        if self.weight.dim() == 2:
            out_features = self.weight.shape[0]
            w = self.weight.view(out_features, geo.channels, geo.length).permute(2, 1, 0)
            self.weight = F.pad(w, (0, 0, 0, 0, geo.left, geo.right)).contiguous()

    def slab(self, lo: int, width: int) -> torch.Tensor:
        """(w * C, O) weight rows of the window starting at ``lo``."""
        start = self.geo.left + lo
        return self.weight[start: start + width].flatten(0, 1)

    def run(self, ctx: BlockContext, env: dict[int, Any]) -> None:
        x = resolve(ctx, env, self.op.args[0]).local
        channels, n, m, n_subs, width = x.delta(ctx).shape
        rows = x.delta(ctx).permute(1, 2, 3, 4, 0).reshape(ctx.batch, width * channels)
        lo = self.geo.lo[ctx.first] + np.arange(m) * self.geo.step
        lo_rows = torch.from_numpy(np.repeat(np.tile(lo, n), n_subs))
        seq = torch.arange(ctx.n0, ctx.n1).repeat_interleave(m * n_subs)
        pending = PendingFlat(rows, lo_rows, seq)
        env[self.out] = pending if self.deferred else self.finish(pending, ctx.state.values[self.out])

    def finish(self, rows: PendingFlat, reference: torch.Tensor) -> torch.Tensor:
        """(rows, O) outputs of pending rows: the reference output of each row's sequence plus the
        change, one product per run of rows with the same sequence and window start."""
        delta, lo, seq = rows.delta, rows.lo.numpy(), rows.seq.numpy()
        order = np.lexsort((lo, seq))
        permuted = not np.array_equal(order, np.arange(len(order)))
        if permuted:
            index = torch.from_numpy(order).to(delta.device)
            delta, lo, seq = delta.index_select(0, index), lo[order], seq[order]
        width = delta.shape[1] // self.geo.channels
        out = delta.new_empty(len(lo), self.weight.shape[-1])
        cuts = np.flatnonzero((np.diff(lo) != 0) | (np.diff(seq) != 0)) + 1
        for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(lo)], strict=True):
            s = int(seq[a])
            sparse_product(delta[a:b], self.slab(int(lo[a]), width), reference[s: s + 1], out=out[a:b])
        if permuted:
            out = torch.empty_like(out).index_copy_(0, index, out)
        return out.clamp_min_(0) if self.relu else out


@dataclass
class GlobalMax(Step):
    """Max over all positions: running maxima of the reference outside the window, values inside
    (a fused monotone activation applied to the (M, C) result).

    When the pooled value is the first convolution's output and nothing else reads it, the planner
    hands that ``FirstConv`` step over (``first``) and both run as one kernel (``first_max``).
    """

    keepdim: bool = False
    source: Ref | None = None
    post: Op | None = None
    first: Any = None  # the FirstConv step making ``source``, run here (see first_max)
    fused: FirstConvMax | None = None

    def prepare(self, period: int, start: int) -> None:
        if self.first is not None:
            self.first.prepare(period, start)
            self.fused = FirstConvMax(self.first)

    def run(self, ctx: BlockContext, env: dict[int, Any]) -> None:
        source = self.source or self.op.args[0]
        if self.fused is not None and self.fused.usable(ctx):
            geo = self.first.geo
            outside = self.outside(ctx, geo, source.index)
            out = self.fused.run(ctx, source.index, geo, outside).reshape(ctx.batch, -1)
        else:
            if self.first is not None:
                self.first.run(ctx, env)
            x = as_local(ctx, resolve(ctx, env, source))
            value = x.value(ctx)
            valid = ctx.mask(x.geo)
            if valid is not None:
                value = value.masked_fill(~valid, -torch.inf)
            inside = halving_max(value)  # (C, n, m, B)
            outside = self.outside(ctx, x.geo, x.index)
            out = torch.maximum(inside, outside.permute(1, 0, 2)[..., None])
            out = out.permute(1, 2, 3, 0).reshape(ctx.batch, -1)
        out = apply_post(self.post, ctx, env, out)
        env[self.out] = out[..., None] if self.keepdim else out

    @staticmethod
    def outside(ctx: BlockContext, geo: Geo, index: int) -> torch.Tensor:
        """(n, C, m) maxima of the reference outside each position's window."""
        prefix, suffix = ctx.state.running_max(index)
        lo = geo.lo[ctx.first] + np.arange(ctx.m) * geo.step
        before = torch.from_numpy(np.clip(lo, 0, geo.length)).to(prefix.device)
        after = torch.from_numpy(np.clip(lo + geo.width, 0, geo.length)).to(prefix.device)
        return torch.maximum(prefix[ctx.n0:ctx.n1].index_select(2, before),
                             suffix[ctx.n0:ctx.n1].index_select(2, after))


@dataclass
class GlobalSum(Step):
    """Sum or mean over all positions: reference plus the summed change (over the positions inside the
    tensor, so its input need not have reset the others)."""

    mean: bool = False
    keepdim: bool = False

    def run(self, ctx: BlockContext, env: dict[int, Any]) -> None:
        x = as_local(ctx, resolve(ctx, env, self.op.args[0]))
        delta = x.delta(ctx)
        change = delta.sum(-1)  # (C, n, m, B)
        for j, a, b in ctx.cuts(x.geo):  # positions outside the tensor need not have been reset
            change[:, :, j] -= delta[:, :, j, :, :a].sum(-1) + delta[:, :, j, :, max(a, b):].sum(-1)
        change = change.permute(1, 2, 3, 0)  # (n, m, B, C)
        if self.mean:
            change = change / x.geo.length
        ref = ctx.state.values[self.out][ctx.n0:ctx.n1]
        ref = ref.reshape(ref.shape[0], 1, 1, -1)
        out = (change + ref).reshape(ctx.batch, -1)
        env[self.out] = out[..., None] if self.keepdim else out


@dataclass
class Materialize(Step):
    """Full-length mutated tensors ``(M, C, L)`` for positional inputs of an op we cannot window."""

    indices: list[int] = field(default_factory=list)

    def run(self, ctx: BlockContext, env: dict[int, Any]) -> None:
        for index in self.indices:
            rep = env[index]
            if isinstance(rep, Flat):
                env[index] = full(ctx, rep.local).flatten(1)
            elif isinstance(rep, (Local, InputRep)):
                env[index] = full(ctx, as_local(ctx, rep))


def full(ctx: BlockContext, x: Local) -> torch.Tensor:
    """(M, C, L) reference with the window's change added."""
    geo = x.geo
    ext = ctx.state.ext_of(x.index, geo)[ctx.n0:ctx.n1]
    n, channels, total = ext.shape
    out = ext[:, None, None].expand(n, ctx.m, ctx.n_subs, channels, total).contiguous()
    lo0 = geo.left + int(geo.lo[ctx.first])
    window = out.as_strided((n, ctx.m, ctx.n_subs, channels, geo.width),
                            (ctx.m * ctx.n_subs * channels * total, ctx.n_subs * channels * total + geo.step,
                             channels * total, total, 1), lo0)
    window.add_(x.delta(ctx).permute(1, 2, 3, 0, 4))
    return out[..., geo.left: geo.left + geo.length].reshape(ctx.batch, channels, geo.length)


@dataclass
class Dense(Step):
    """Run the op as recorded on per-substitution tensors, fixing a recorded batch size in reshapes."""

    ref_batch: int = 0

    def run(self, ctx: BlockContext, env: dict[int, Any]) -> None:
        args = resolve(ctx, env, self.op.args)
        kwargs = resolve(ctx, env, self.op.kwargs)
        if self.op.name in ("view", "reshape", "expand", "unflatten") and len(args) > 1:
            args = _fix_batch(args, self.ref_batch, ctx.batch)
        out = self.op.func(*args, **kwargs)
        outs = self.op.outputs
        if isinstance(outs, Ref):
            env[outs.index] = out
        else:
            for ref, value in zip(outs, out, strict=True):
                if isinstance(ref, Ref):
                    env[ref.index] = value


def _fix_batch(args: tuple, ref_batch: int, batch: int) -> tuple:
    sizes = args[1]
    if isinstance(sizes, (tuple, list, torch.Size)):
        if sizes and sizes[0] == ref_batch:
            return (args[0], (batch, *sizes[1:]), *args[2:])
        return args
    if sizes == ref_batch:
        return (args[0], batch, *args[2:])
    return args
