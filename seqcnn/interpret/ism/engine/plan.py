"""Plan fast ISM for a recorded forward pass: a step per op and a window per positional value.

``plan(trace, start, end)`` walks the recorded ops in order, tracking for every value whether it is
the input, positional (a ``Geo`` window), flattened positional, or per-substitution dense, and picks
the step that maps it. Ops without a windowed rule get their positional inputs
materialised at full length, so any traceable model is planned; ``Unsupported`` is raised only for
what cannot be replayed at all (training-mode batch norm or dropout, value-dependent outputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from seqcnn.interpret.ism.engine import reduce as red
from seqcnn.interpret.ism.engine import steps as st
from seqcnn.interpret.ism.engine.conv import Conv, FirstConv
from seqcnn.interpret.ism.engine.head import fuse_head
from seqcnn.interpret.ism.engine.ops import (
    ADDITIVE,
    BINARY,
    DROPOUTS,
    IDENTITIES,
    UNARY,
    bind,
    bind_dropout_training,
    broadcasts,
    eval_norm_affine,
    monotone,
    one_value,
    reduced_dims,
    use_counts,
)
from seqcnn.interpret.ism.engine.ownership import mark_owners
from seqcnn.interpret.ism.engine.trace import Op, Ref, Trace, Unsupported, refs_of
from seqcnn.interpret.ism.engine.window import Geo, conv_geometry


@dataclass
class Plan:
    """Steps in call order, the window of every positional value and the blocking they allow."""

    steps: list[st.Step]
    geos: dict[int, Geo]
    period: int
    interior: np.ndarray  # (P,) bool: no window of this position leaves its tensor
    output: Any
    floats_per_sub: int  # rough working-set size of one substitution, in floats
    boundary: int = 0  # steps[:boundary] run per block; the rest on all rows of a chunk
    carry: list[int] = field(default_factory=list)  # dense values crossing the boundary
    materialized: list[str] = field(default_factory=list)  # ops run at full length


class Planner:
    """Walks a Trace (see ``plan``)."""

    def __init__(self, trace: Trace, start: int, end: int) -> None:
        self.trace = trace
        self.kind: dict[int, Any] = {}  # index -> "input" | Geo | ("flat", Geo) | "dense"
        x = trace.values[0]
        self.batch = x.shape[0]
        positions = np.arange(start, end, dtype=np.int64)
        self.geos: dict[int, Geo] = {0: Geo(x.shape[-1], 1, positions, 1, x.shape[1])}
        self.kind[0] = "input"
        self.steps: list[st.Step] = []
        self.local_steps: set[int] = set()  # id() of steps that read windowed values
        self.producer: dict[int, st.Step] = {}  # value index -> the step that made it
        self.uses = use_counts(trace)
        self.materialized: list[str] = []
        self.start = start

    # ----------------------------------------------------------------- helpers
    def value(self, ref: Any) -> torch.Tensor:
        return self.trace.values[ref.index]

    def new_geo(self, index: int, like: Geo, **changes: Any) -> Geo:
        geo = replace(like, reads=[], pad_value=0.0, left=0, right=0, **changes)
        geo.channels = self.value(Ref(index)).shape[1]
        self.geos[index] = geo
        self.kind[index] = geo
        return geo

    def positional(self, ref: Any) -> bool:
        return isinstance(ref, Ref) and self.kind.get(ref.index) not in (None, "dense")

    def geo_of(self, ref: Ref) -> Geo:
        kind = self.kind[ref.index]
        if kind == "input":
            return self.geos[ref.index]
        if isinstance(kind, tuple):
            raise Unsupported("flattened value used as positional")
        return kind

    # ----------------------------------------------------------------- walk
    def walk(self) -> Plan:
        for op in self.trace.ops:
            if not op.depends:
                continue
            if op.name in DROPOUTS and bind_dropout_training(op):
                raise Unsupported("dropout in training mode")
            step = self.windowed(op)
            if step is not None:
                self.local_steps.add(id(step))
            else:
                step = self.fallback(op)
            self.steps.append(step)
            for r in refs_of(op.outputs):
                self.producer[r.index] = step
        self.steps = [s for s in self.steps if not getattr(s, "skipped", False)]
        mark_owners(self.steps, self.producer, self.trace)
        return self.finish()

    def windowed(self, op: Op) -> st.Step | None:
        """The windowed step for ``op``, or None when it has none (its output then goes dense)."""
        refs = refs_of((op.args, op.kwargs))
        positional = [r for r in refs if self.positional(r)]
        if not positional:
            return None
        kinds = {self.kind[r.index] == "input" or isinstance(self.kind[r.index], Geo) for r in positional}
        out = refs_of(op.outputs)
        if kinds != {True}:
            return self.flat_rule(op, out[0].index) if op.name == "linear" else None
        method = getattr(self, "rule_" + op.name.strip("_"), None)
        if method is not None:
            return method(op, out[0].index)
        if op.name in BINARY:
            return self.rule_binary(op, out[0].index)
        if op.name in IDENTITIES and op.args and op.args[0] == positional[0]:
            return self.alias(op, out[0].index)
        if op.name in UNARY and len(positional) == 1 and op.args and op.args[0] == positional[0]:
            if any(isinstance(a, torch.Tensor) or isinstance(a, Ref) for a in op.args[1:]):
                return None
            return st.Unary(op, out[0].index, geo=self.new_geo(out[0].index, self.geo_of(op.args[0])))
        return None

    def fallback(self, op: Op) -> st.Step:
        """Materialise positional inputs, then run the op as recorded; its outputs are dense."""
        refs = refs_of((op.args, op.kwargs))
        todo = [r.index for r in refs if self.positional(r)]
        if todo:
            self.materialized.append(op.name)
            step = red.Materialize(op, todo[0], indices=todo)
            self.local_steps.add(id(step))
            self.steps.append(step)
            for index in todo:
                self.kind[index] = "dense"
        for r in refs_of(op.outputs):
            self.kind[r.index] = "dense"
        return red.Dense(op, refs_of(op.outputs)[0].index, ref_batch=self.batch)

    def finish(self) -> Plan:
        output_refs = refs_of(self.trace.output)
        todo = [r.index for r in output_refs if self.positional(r)]
        if todo:
            dummy = Op(lambda: None, "output", (), {}, None, True)
            step = red.Materialize(dummy, todo[0], indices=todo)
            self.local_steps.add(id(step))
            self.steps.append(step)
            self.materialized.append("output")
        local = {i: g for i, g in self.geos.items() if i in self.kind}
        period = math.lcm(*(g.sigma for g in local.values()))
        interior = np.ones(len(self.geos[0].lo), dtype=bool)
        floats = 0
        for geo in local.values():
            geo.finalize(period)
            interior &= geo.valid()
            floats += geo.channels * (geo.width + sum(w for _, w in geo.reads))
        for step in self.steps:
            step.prepare(period, self.start)
            if isinstance(step, red.Materialize):
                floats += sum(self.geos[i].channels * self.geos[i].length for i in step.indices
                              if i in self.geos)
        boundary, carry = self.split()
        self.steps = fuse_head(self.steps, boundary, self.trace, self.uses)
        return Plan(self.steps, local, period, interior, self.trace.output, floats, boundary, carry,
                    self.materialized)

    def split(self) -> tuple[int, list[int]]:
        """Last windowed step + 1, and the dense values that later steps (or the output) read."""
        local = [i for i, step in enumerate(self.steps) if id(step) in self.local_steps]
        boundary = max(local) + 1 if local else 0
        last = self.steps[boundary - 1] if boundary else None
        if isinstance(last, red.FlatLinear):
            last.deferred = True
        produced = set()
        for step in self.steps[:boundary]:
            if isinstance(step, red.Materialize):
                produced.update(step.indices)
            else:
                outs = refs_of(step.op.outputs)
                produced.update(r.index for r in outs if self.kind.get(r.index) == "dense")
        used = {r.index for step in self.steps[boundary:] for r in refs_of((step.op.args, step.op.kwargs))}
        used.update(r.index for r in refs_of(self.trace.output))
        return boundary, sorted(produced & used)

    # ----------------------------------------------------------------- rules
    def rule_conv1d(self, op: Op, out: int) -> st.Step | None:
        a = bind(op)
        weight = a["weight"]
        if not isinstance(weight, Ref) or self.positional(weight) or self.positional(a["bias"]):
            return None
        w = self.value(weight)
        stride, dilation = one_value(a["stride"]), one_value(a["dilation"])
        kernel = w.shape[-1]
        pad = a["padding"]
        if pad == "same":
            pad_left = dilation * (kernel - 1) // 2
        elif pad == "valid":
            pad_left = 0
        else:
            pad_left = one_value(pad)
        x = a["input"]
        in_geo = self.geo_of(x)
        out_len = self.value(Ref(out)).shape[-1]
        geo, read_lo, read_width = conv_geometry(in_geo, kernel, stride, dilation, pad_left, out_len,
                                                 w.shape[0])
        self.geos[out] = geo
        self.kind[out] = geo
        if self.kind[x.index] == "input" and a["groups"] == 1:
            return FirstConv(op, out, geo=geo, in_geo=in_geo, weight=w, stride=stride, dilation=dilation,
                                pad_left=pad_left)
        return Conv(op, out, geo=geo, in_geo=in_geo, read_lo=read_lo, read_width=read_width, stride=stride,
                       dilation=dilation, groups=int(a["groups"]), op_weight=w)

    def rule_batch_norm(self, op: Op, out: int) -> st.Step | None:
        a = bind(op)
        if a["training"] or a["running_var"] is None:
            raise Unsupported("batch norm in training mode")
        scale, _ = eval_norm_affine(a, self.trace.values)
        geo = self.new_geo(out, self.geo_of(a["input"]))
        return st.BatchNorm(op, out, geo=geo, scale=scale.view(-1, 1, 1, 1, 1))

    def fuse_activation(self, source: Ref) -> tuple[Ref, Any]:
        """For a max over ``source``: when ``source`` is a monotone activation (through aliases) used
        only here, take the max of the activation's input and apply the activation afterwards, on
        the pooled (smaller) tensor: ``max(f(x)) == f(max(x))`` for non-decreasing ``f``. Returns the
        value to pool and the fused activation op (or None)."""
        chain, index = [], source.index
        while isinstance(self.producer.get(index), st.Alias) and self.uses.get(index, 0) == 1:
            chain.append(self.producer[index])
            index = refs_of(self.producer[index].op.args[0])[0].index
        step = self.producer.get(index)
        if not (isinstance(step, st.Unary) and not step.additive and self.uses.get(index, 0) == 1
                and monotone(step.op)):
            return source, None
        for skipped in (*chain, step):
            skipped.skipped = True  # type: ignore[attr-defined]
        return refs_of(step.op.args[0])[0], step.op

    def _pool(self, op: Op, out: int, cls: type) -> st.Step | None:
        a = bind(op)
        kernel = one_value(a["kernel_size"])
        stride = kernel if a["stride"] in (None, []) else one_value(a["stride"])
        dilation = one_value(a.get("dilation", 1))
        in_geo = self.geo_of(a["input"])
        out_len = self.value(Ref(out)).shape[-1]
        pad_left = one_value(a["padding"])
        if a["ceil_mode"] and cls is st.AvgPool:
            return None
        if cls is st.AvgPool and pad_left and not a["count_include_pad"]:
            return None
        post = None
        if cls is st.MaxPool and not a["return_indices"]:
            source, post = self.fuse_activation(a["input"])
            in_geo = self.geo_of(source)
        if out_len == 1 and pad_left == 0 and kernel >= in_geo.length:
            self.kind[out] = "dense"
            if cls is st.MaxPool:
                return self.max_over_positions(op, out, source, post, keepdim=True)
            return red.GlobalSum(op, out, mean=True, keepdim=True) if kernel == in_geo.length else None
        geo, read_lo, read_width = conv_geometry(in_geo, kernel, stride, dilation, pad_left, out_len,
                                                 in_geo.channels)
        self.geos[out] = geo
        self.kind[out] = geo
        if cls is st.MaxPool:
            if a["return_indices"]:
                return None
            in_geo.pad_value = -torch.inf
            in_geo.read(read_lo, read_width)
            return st.MaxPool(op, out, geo=geo, read_lo=read_lo, read_width=read_width, kernel=kernel,
                              stride=stride, dilation=dilation, source=source, post=post)
        return st.AvgPool(op, out, geo=geo, read_lo=read_lo, read_width=read_width, kernel=kernel,
                          stride=stride)

    def rule_max_pool1d(self, op: Op, out: int) -> st.Step | None:
        return self._pool(op, out, st.MaxPool)

    def rule_avg_pool1d(self, op: Op, out: int) -> st.Step | None:
        return self._pool(op, out, st.AvgPool)

    def rule_adaptive_max_pool1d(self, op: Op, out: int) -> st.Step | None:
        a = bind(op)
        if one_value(a["output_size"]) != 1 or a["return_indices"]:
            return None
        return self.global_max(op, out, a["input"], keepdim=True)

    def global_max(self, op: Op, out: int, source: Ref, keepdim: bool) -> st.Step:
        source, post = self.fuse_activation(source)
        self.kind[out] = "dense"
        return self.max_over_positions(op, out, source, post, keepdim=keepdim)

    def max_over_positions(self, op: Op, out: int, source: Ref, post: Op | None, keepdim: bool) -> st.Step:
        """A GlobalMax of ``source``; the first convolution making it runs inside it when nothing else
        reads its output (see ``first_max``)."""
        self.geo_of(source).pad_value = -torch.inf
        first = self.producer.get(source.index)
        if isinstance(first, FirstConv) and self.uses.get(source.index, 0) == 1:
            first.skipped = True  # type: ignore[attr-defined]
        else:
            first = None
        return red.GlobalMax(op, out, keepdim=keepdim, source=source, post=post, first=first)

    def rule_adaptive_avg_pool1d(self, op: Op, out: int) -> st.Step | None:
        if one_value(bind(op)["output_size"]) != 1:
            return None
        self.kind[out] = "dense"
        return red.GlobalSum(op, out, mean=True, keepdim=True)

    def rule_amax(self, op: Op, out: int) -> st.Step | None:
        a = bind(op)
        if reduced_dims(a["dim"], 3) != {2}:
            return None
        return self.global_max(op, out, a["input"], keepdim=bool(a["keepdim"]))

    def _sum(self, op: Op, out: int, mean: bool) -> st.Step | None:
        a = bind(op)
        if reduced_dims(a["dim"], 3) != {2} or op.kwargs.get("dtype") is not None:
            return None
        self.kind[out] = "dense"
        return red.GlobalSum(op, out, mean=mean, keepdim=bool(a["keepdim"]))

    def rule_mean(self, op: Op, out: int) -> st.Step | None:
        return self._sum(op, out, True)

    def rule_sum(self, op: Op, out: int) -> st.Step | None:
        return self._sum(op, out, False)

    def rule_pad(self, op: Op, out: int) -> st.Step | None:
        a = bind(op)
        pads = list(a["pad"])
        if a["mode"] != "constant" or len(pads) < 2 or any(pads[2:]):
            return None
        in_geo = self.geo_of(a["input"])
        geo = self.new_geo(out, in_geo, lo=in_geo.lo + pads[0], length=self.value(Ref(out)).shape[-1])
        if self.kind[a["input"].index] == "input" and min(pads[:2]) >= 0 and not a["value"]:
            self.kind[out] = "input"  # zero-padded one-hot input: first convolutions still use tables
            return st.Shift(op, out, geo=geo, input_pad=True)
        return st.Shift(op, out, geo=geo)

    def rule_getitem(self, op: Op, out: int) -> st.Step | None:
        index = op.args[1]
        if not isinstance(index, tuple):
            index = (index,)
        if any(isinstance(i, (Ref, torch.Tensor)) for i in index) or index.count(Ellipsis) > 1:
            return None
        if Ellipsis in index:
            at = index.index(Ellipsis)
            index = index[:at] + (slice(None),) * (3 - len(index) + 1) + index[at + 1:]
        index = index + (slice(None),) * (3 - len(index))
        if len(index) != 3 or not all(isinstance(i, slice) for i in index) or index[0] != slice(None):
            return None
        in_geo = self.geo_of(op.args[0])
        begin, stop, step = index[2].indices(in_geo.length)
        if step != 1:
            return None
        length = max(0, stop - begin)
        if self.value(Ref(out)).shape[-1] != length:
            return None
        geo = self.new_geo(out, in_geo, lo=in_geo.lo - begin, length=length)
        channels = None if index[1] == slice(None) else index[1]
        return st.Shift(op, out, geo=geo, channels=channels)

    def rule_chunk(self, op: Op, out: int) -> st.Step | None:
        a = bind(op)
        if a["dim"] % 3 != 1:
            return None
        in_geo = self.geo_of(a["input"])
        outs, slices, at = [], [], 0
        for ref in refs_of(op.outputs):
            size = self.value(ref).shape[1]
            outs.append(ref.index)
            slices.append(slice(at, at + size))
            at += size
            self.new_geo(ref.index, in_geo)
        return st.Shift(op, out, geo=self.geos[out], outs=outs, slices=slices)

    rule_split = rule_chunk

    def rule_cat(self, op: Op, out: int) -> st.Step | None:
        a = bind(op)
        parts = a["tensors"]
        if a["dim"] % 3 != 1 or not all(self.positional(p) for p in parts):
            return None
        geo = self.union(out, [self.geo_of(p) for p in parts])
        return None if geo is None else st.Cat(op, out, geo=geo)

    def rule_flatten(self, op: Op, out: int) -> st.Step | None:
        a = bind(op)
        start, end = a["start_dim"] % 3, a["end_dim"] % 3
        in_geo = self.geo_of(a["input"])
        if start == 2 or start == end:
            return self.alias(op, out)
        if (start, end) == (1, 2):
            self.kind[out] = ("flat", in_geo)
            return red.Flatten(op, out)
        return None

    def rule_view(self, op: Op, out: int) -> st.Step | None:
        before, after = self.value(op.args[0]).shape, self.value(Ref(out)).shape
        in_geo = self.geo_of(op.args[0])
        if after == before:
            return self.alias(op, out)
        if tuple(after) == (before[0], before[1] * before[2]):
            self.kind[out] = ("flat", in_geo)
            return red.Flatten(op, out)
        return None

    rule_reshape = rule_view

    def alias(self, op: Op, out: int) -> st.Step:
        """The output is the input's window itself: same geometry object, same reference."""
        source = refs_of(op.args[0])[0]
        self.kind[out] = self.kind[source.index]
        if source.index in self.geos:
            self.geos[out] = self.geos[source.index]
        return st.Alias(op, out)

    def rule_binary(self, op: Op, out: int) -> st.Step | None:
        tensors = [a for a in op.args if isinstance(a, Ref)]
        positional = [t for t in tensors if self.positional(t)]
        for t in tensors:
            if not self.positional(t) and not broadcasts(self.value(t)):
                return None
        if len(positional) == 1:
            in_geo = self.geo_of(positional[0])
            additive = (op.name in ADDITIVE and op.args[0] == positional[0]
                        and op.kwargs.get("alpha", 1) == 1 and len(op.args) <= 2)
            return st.Unary(op, out, geo=self.new_geo(out, in_geo), additive=additive)
        geos = [self.geo_of(t) for t in positional]
        geo = self.union(out, geos)
        if geo is None:
            return None
        linear = op.name in ADDITIVE and len(positional) == 2 and len(tensors) == 2
        if not linear:
            for g in geos:
                g.read(geo.lo, geo.width)
        return st.Binary(op, out, geo=geo, linear=linear)

    def union(self, out: int, geos: list[Geo]) -> Geo | None:
        if len({(g.length, g.sigma) for g in geos}) != 1:
            return None
        lo = np.minimum.reduce([g.lo for g in geos])
        hi = np.maximum.reduce([g.lo + g.width for g in geos])
        return self.new_geo(out, geos[0], lo=lo, width=int((hi - lo).max()))

    def flat_rule(self, op: Op, out: int) -> st.Step | None:
        a = bind(op)
        kind = self.kind.get(a["input"].index) if isinstance(a["input"], Ref) else None
        if not isinstance(kind, tuple) or self.positional(a["weight"]):
            return None
        geo = kind[1]
        self.kind[out] = "dense"
        weight = self.value(a["weight"])
        return red.FlatLinear(op, out, geo=geo, weight=weight)


def plan(trace: Trace, start: int, end: int) -> Plan:
    """Plan fast ISM over positions ``[start, end)`` for a recorded forward pass."""
    return Planner(trace, start, end).walk()
