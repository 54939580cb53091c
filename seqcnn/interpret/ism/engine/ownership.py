"""Which steps may skip a copy, from who reads each value (run once a plan's steps are known).

Two copies a residual tower would otherwise make in every block:

- a crop (``Shift``) read only by linear adds and global sums need not reset the positions of its
  windows that lie outside the tensor: an add's result lies in the same coordinates and is reset
  there, and a sum skips them;
- an activation's fresh output read only by one linear add may become that add's result, in place.
"""

from __future__ import annotations

from seqcnn.interpret.ism.engine import reduce as red
from seqcnn.interpret.ism.engine import steps as st
from seqcnn.interpret.ism.engine.trace import Ref, Trace, refs_of


def readers(producer: dict[int, st.Step], trace: Trace) -> dict[int, list[st.Step | None]]:
    """The steps reading each value through the recorded ops' arguments (``None``: the output, or an
    op without a step)."""
    found: dict[int, list[st.Step | None]] = {}
    for op in trace.ops:
        outs = refs_of(op.outputs)
        step = producer.get(outs[0].index) if outs else None
        for index in {r.index for r in refs_of((op.args, op.kwargs))}:
            found.setdefault(index, []).append(step)
    for r in refs_of(trace.output):
        found.setdefault(r.index, []).append(None)
    return found


def mark_owners(steps: list[st.Step], producer: dict[int, st.Step], trace: Trace) -> None:
    """Set ``Binary.owned`` and ``Shift.keep_outside`` where the readers allow (see the module)."""
    found = readers(producer, trace)
    for step in steps:
        if not isinstance(step, st.Binary) or not step.linear:
            continue
        for arg in step.op.args[:2]:
            if not isinstance(arg, Ref):
                continue
            source = producer.get(arg.index)
            if isinstance(source, st.Unary) and not source.additive and found.get(arg.index) == [step]:
                step.owned.add(arg.index)
    for step in steps:
        if isinstance(step, st.Shift) and not step.outs and resets_outside(step.out, found):
            step.keep_outside = True


def resets_outside(index: int, found: dict[int, list[st.Step | None]]) -> bool:
    """Whether every reader of ``index`` (through aliases) ignores or resets the positions of its windows
    that lie outside the tensor: linear adds and global sums do."""
    readers_here = found.get(index, [None])
    for reader in readers_here:
        if isinstance(reader, st.Alias):
            if not resets_outside(reader.out, found):
                return False
        elif not (isinstance(reader, red.GlobalSum) or isinstance(reader, st.Binary) and reader.linear):
            return False
    return bool(readers_here)
