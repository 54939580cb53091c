"""What the fast engine saves: convolution and linear multiply-adds per substitution, against one forward
pass per mutant.

``ism(method="auto")`` runs the fast engine only where its plan does materially less arithmetic than
the reference. Where an op without a windowed rule sits near the input (SpliceAI's "N columns enter as
zeros" mask), every later op runs at full length on each substitution, the plan saves nothing, and its
bookkeeping made it about 2x slower than the reference (SpliceAI-10k at one output position, 48
mutants: 13 s against 6 s).
"""

from __future__ import annotations

from seqcnn.interpret.ism.engine.conv import Conv
from seqcnn.interpret.ism.engine.plan import Plan
from seqcnn.interpret.ism.engine.reduce import Dense
from seqcnn.interpret.ism.engine.trace import Op, Trace, refs_of

WEIGHTED_OPS = ("conv1d", "linear")


def full_multiply_adds(op: Op, trace: Trace) -> int:
    """Multiply-adds of one recorded convolution or linear op for one sequence (its weight times its
    output positions)."""
    weight = trace.values[op.args[1].index]
    out = trace.values[refs_of(op.outputs)[0].index]
    return weight.numel() * (out.shape[-1] if op.name == "conv1d" else 1)


def naive_multiply_adds(trace: Trace) -> int:
    """Convolution and linear multiply-adds of one forward pass (one mutant)."""
    return sum(full_multiply_adds(op, trace) for op in trace.ops if op.name in WEIGHTED_OPS)


def fast_multiply_adds(plan: Plan, trace: Trace) -> int:
    """Convolution and linear multiply-adds of one substitution under ``plan``: windowed convolutions over
    their input windows (or their transform's cost), ops replayed on full tensors at their full cost,
    first-layer table look-ups and the dense head's products (which are small) not counted."""
    total = 0
    for step in plan.steps:
        if isinstance(step, Conv):
            total += step.multiply_adds()
        elif isinstance(step, Dense) and step.op.name == "conv1d":
            total += full_multiply_adds(step.op, trace)
    return total
