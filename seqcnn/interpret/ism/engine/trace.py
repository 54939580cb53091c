"""Record a model's forward pass as a flat list of torch calls, for the fast ISM planner.

The model is run once on the reference batch under a ``TorchFunctionMode`` that logs every torch
function and tensor method it calls (``F.conv1d``, ``F.batch_norm``, ``Tensor.flatten``, ``torch.add``
...), with the concrete arguments of that call. Python control flow on shapes is thereby resolved
for the input length at hand, which ``torch.fx`` symbolic tracing cannot do (``Network.check_input``
branches on ``x.dim()``). The recorded outputs double as the reference activations.

Every tensor an op returns becomes a numbered value; tensors that no recorded op produced (weights,
buffers) are constants. An in-place op (``relu_``, ``inplace=True``) first snapshots the tensor it is
about to overwrite, so each value keeps the contents it had when it was produced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

INPLACE_DUNDERS = {"__iadd__", "__isub__", "__imul__", "__itruediv__", "__idiv__"}


class Unsupported(Exception):
    """The fast ISM path cannot analyse this model (the message says why)."""


@dataclass(frozen=True)
class Ref:
    """Placeholder for recorded value number ``index`` inside an op's arguments."""

    index: int


@dataclass
class Op:
    """One recorded call: ``func(*args, **kwargs)`` with tensors replaced by ``Ref`` s."""

    func: Callable[..., Any]
    name: str
    args: tuple
    kwargs: dict
    outputs: Any  # Ref, or a tuple/list of Refs (e.g. chunk)
    depends: bool  # some argument depends on the model input


@dataclass
class Trace:
    """The recorded forward pass: ops in call order, every value, the input and the output."""

    ops: list[Op] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)
    depends: list[bool] = field(default_factory=list)  # value i depends on the input
    output: Any = None  # model output with tensors replaced by Refs

    def signature(self) -> tuple:
        """Hashable description of the graph (names, shapes, constant args) for plan caching."""
        parts = []
        for op in self.ops:
            shapes = [tuple(self.values[r.index].shape[1:]) for r in _refs(op.outputs)]
            parts.append((op.name, id(op.func), _hashable(op.args), _hashable(op.kwargs), tuple(shapes)))
        return tuple(parts)


def _refs(obj: Any) -> list[Ref]:
    leaves, _ = tree_flatten(obj)
    return [leaf for leaf in leaves if isinstance(leaf, Ref)]


def refs_of(obj: Any) -> list[Ref]:
    """All ``Ref`` s inside a (nested) argument or output structure."""
    return _refs(obj)


def _hashable(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        return tuple(_hashable(o) for o in obj)
    if isinstance(obj, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in obj.items()))
    if isinstance(obj, torch.Tensor):
        return ("tensor", tuple(obj.shape), obj.data_ptr())
    if isinstance(obj, slice):
        return ("slice", obj.start, obj.stop, obj.step)
    try:
        hash(obj)
    except TypeError:
        return repr(obj)
    return obj


def _is_inplace(name: str, kwargs: dict, args: tuple) -> bool:
    if name in INPLACE_DUNDERS or kwargs.get("inplace") is True:
        return True
    return name.endswith("_") and not name.endswith("__")


class _Recorder(TorchFunctionMode):
    """Logs calls into a Trace while running them."""

    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.trace = Trace()
        self.ids: dict[int, int] = {}
        self._keep: list[torch.Tensor] = []
        self._add(x, depends=True)

    def _add(self, t: torch.Tensor, depends: bool) -> Ref:
        index = len(self.trace.values)
        self.trace.values.append(t)
        self.trace.depends.append(depends)
        self.ids[id(t)] = index
        self._keep.append(t)
        return Ref(index)

    def _to_ref(self, obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            if id(obj) not in self.ids:
                return self._add(obj, depends=False)
            return Ref(self.ids[id(obj)])
        return obj

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        if name in ("__get__", "__set__") or name.startswith("_") and not name.startswith("__"):
            return func(*args, **kwargs)
        ref_args = tree_map(self._to_ref, args)
        ref_kwargs = tree_map(self._to_ref, kwargs)
        inputs = _refs((ref_args, ref_kwargs))
        depends = any(self.trace.depends[r.index] for r in inputs)
        if depends and _is_inplace(name, kwargs, args) and args and isinstance(args[0], torch.Tensor):
            # keep the pre-call contents as the value that was recorded for this tensor
            self.trace.values[self.ids[id(args[0])]] = args[0].detach().clone()
        out = func(*args, **kwargs)
        flat, _ = tree_flatten(out)
        if not any(isinstance(t, torch.Tensor) for t in flat):
            return out  # shape queries and the like: their values are baked into later arguments
        out_refs = tree_map(lambda t: self._add(t, depends) if isinstance(t, torch.Tensor) else t, out)
        self.trace.ops.append(Op(func, name, ref_args, ref_kwargs, out_refs, depends))
        return out


def record(model: torch.nn.Module, x: torch.Tensor) -> Trace:
    """Run ``model(x)`` once without gradients and return its Trace (values are the reference run)."""
    recorder = _Recorder(x)
    with torch.no_grad(), recorder:
        out = model(x)
    recorder.trace.output = tree_map(
        lambda t: Ref(recorder.ids[id(t)]) if isinstance(t, torch.Tensor) and id(t) in recorder.ids else t,
        out,
    )
    recorder.trace.ops = live_ops(recorder.trace)
    return recorder.trace


def live_ops(trace: Trace) -> list[Op]:
    """The ops the output depends on, in call order; the rest (e.g. the profile head of a model
    scored through its counts) would only cost time in every ISM block."""
    live = {r.index for r in refs_of(trace.output)}
    kept = []
    for op in reversed(trace.ops):
        if any(r.index in live for r in refs_of(op.outputs)):
            kept.append(op)
            live.update(r.index for r in refs_of((op.args, op.kwargs)))
    return kept[::-1]
