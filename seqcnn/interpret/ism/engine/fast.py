"""Fast exact in-silico mutagenesis: recompute only what a substitution can change.

A substitution at position ``p`` changes the first convolution's output only in the ``K`` columns
whose windows contain ``p`` (by ``W[:, new, k] - W[:, old, k]``, a table look-up), the next layer
only inside those columns widened by its own receptive field, and so on: a plan works out these
windows for every positional tensor of the recorded forward pass, and its steps map a block of
substitutions through them. Global max pooling costs O(window) per substitution via running
maxima of the reference; ``flatten -> linear`` multiplies only the window's weight columns. The
result equals one forward pass per mutant up to floating-point rounding (the test suite checks every
registered 1D model against ``naive_ism``).

``FastISM`` plans once per graph shape, splits the substitutions of a chunk of sequences into
blocks sized by memory (small blocks run in lockstep groups) and returns the changes and the
reference outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from seqcnn.interpret.ism.engine.cost import fast_multiply_adds, naive_multiply_adds
from seqcnn.interpret.ism.engine.head import dense_stage
from seqcnn.interpret.ism.engine.plan import Plan, plan
from seqcnn.interpret.ism.engine.reduce import FlatLinear
from seqcnn.interpret.ism.engine.steps import InputRep
from seqcnn.interpret.ism.engine.trace import Ref, Trace, Unsupported, record
from seqcnn.interpret.ism.engine.window import BlockContext, ChunkState, even_ranges
from seqcnn.interpret.ism.result import reference_bases

BLOCK_BYTES = 64 << 20  # working set of one block of substitutions
NAIVE_SHARE = 0.5  # ism(method="auto") runs the reference when the plan saves less than half the work
GROUP_ROWS = 192  # smaller blocks (few sequences) are run in groups, their convolution products joined


@dataclass(frozen=True)
class Survey:
    """What ``FastISM.survey`` learns from one forward pass."""

    bytes_per_sequence: int  # reference activations kept per sequence
    n_outputs: int  # model outputs T
    saves_work: bool  # the plan does less than NAIVE_SHARE of the reference's convolution arithmetic


class FastISM:
    """Plans once per graph shape and runs blocks of substitutions (see the module docstring)."""

    def __init__(self, model: torch.nn.Module, start: int, end: int, *, block_bytes: int = BLOCK_BYTES,
                 max_block: int | None = None) -> None:
        self.model = model
        self.start, self.end = start, end
        self.block_bytes = block_bytes
        self.max_block = max_block
        self._plans: dict[tuple, Plan] = {}

    def plan_for(self, trace: Trace) -> Plan:
        """The cached plan for this trace's graph."""
        key = trace.signature()
        if key not in self._plans:
            self._plans[key] = plan(trace, self.start, self.end)
        return self._plans[key]

    def survey(self, x: torch.Tensor, share: float = NAIVE_SHARE) -> Survey:
        """One forward pass over ``x`` (nothing kept) and its plan (cached): what a call needs to know
        before running (see ``Survey``)."""
        trace = record(self.model, x)
        live = [v for v, d in zip(trace.values, trace.depends, strict=True) if d]
        saves = fast_multiply_adds(self.plan_for(trace), trace) < share * naive_multiply_adds(trace)
        return Survey(sum(v.numel() * v.element_size() for v in live) // x.shape[0], _output(trace).shape[1],
                      saves)

    def run(self, x: torch.Tensor, columns: list[int] | None = None, out: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Changes (n, A, P, T) and reference outputs (n, T) for one chunk of sequences ``x``; only the
        output ``columns`` (then ``T = len(columns)``) when given. The changes are written into
        ``out`` when given (a tensor of that shape)."""
        trace = record(self.model, x)
        reference = _output(trace)
        if columns is not None:
            reference = reference[:, columns]
        the_plan = self.plan_for(trace)
        state = ChunkState(trace.values)
        n, n_bases, _ = x.shape
        span = self.end - self.start
        base = reference_bases(x[:, :, self.start:self.end])
        soft = bool((base < 0).any())
        n_subs = n_bases if soft else n_bases - 1
        shifts = torch.arange(0 if soft else 1, n_bases, device=x.device)
        carried: dict[int, list] = {i: [] for i in the_plan.carry}
        placed = []
        for group in _groups(self.blocks(the_plan, n, n_subs, span), n_subs):
            ctxs = [self._context(block, state, the_plan.period, x, base, shifts) for block in group]
            envs: list[dict[int, Any]] = [{0: InputRep(the_plan.geos[0])} for _ in ctxs]
            placed += [(c.n0, c.n1, c.alt, c.positions) for c in ctxs]
            _run_steps(the_plan.steps[:the_plan.boundary], ctxs, envs)
            for env in envs:
                for index in the_plan.carry:
                    carried[index].append(env[index])
        row_seq = np.concatenate([np.repeat(np.arange(n0, n1), alt[0].numel()) for n0, n1, alt, _ in placed])
        y = self.dense_stage(the_plan, state, carried, row_seq, columns)
        out = reference.new_zeros(n, n_bases, span, reference.shape[1]) if out is None else out.zero_()
        at = 0
        for n0, n1, alt, pos_t in placed:
            rows = alt.numel()
            change = y[at: at + rows].view(*alt.shape, -1) - reference[n0:n1, None, None, :]
            seq = torch.arange(n0, n1, device=x.device)[:, None, None]
            out[seq, alt, pos_t[None, :, None]] = change
            at += rows
        if soft:
            ident = base >= 0
            out.permute(0, 2, 1, 3)[ident.nonzero(as_tuple=True) + (base[ident],)] = 0
        return out, reference

    def _context(self, block: tuple, state: ChunkState, period: int, x: torch.Tensor, base: torch.Tensor,
                 shifts: torch.Tensor) -> BlockContext:
        """The BlockContext of ``block`` (see ``blocks``) of chunk ``x``; ``shifts``: base offsets of the
        substitutions."""
        n0, n1, r, m0, m1, edge = block
        pos = np.arange(r + m0 * period, min(self.end - self.start, r + m1 * period), period)
        pos_t = torch.from_numpy(pos).to(x.device)
        b = base[n0:n1].index_select(1, pos_t).clamp_min(0)
        alt = (b[:, :, None] + shifts) % x.shape[1]
        cols = x[n0:n1].index_select(2, pos_t + self.start)
        return BlockContext(state, n0, n1, pos_t, int(pos[0]), r, len(shifts), edge, b, alt, cols)

    def dense_stage(self, the_plan: Plan, state: ChunkState, carried: dict[int, list],
                    row_seq: np.ndarray, columns: list[int] | None) -> torch.Tensor:
        """The steps after the boundary on all rows of the chunk (``dense_stage``)."""
        steps = the_plan.steps[:the_plan.boundary]
        flat = {s.out: s for s in steps if isinstance(s, FlatLinear) and s.deferred}
        return dense_stage(the_plan.steps[the_plan.boundary:], the_plan.output, state, carried, row_seq, flat,
                           columns)

    def blocks(self, the_plan: Plan, n: int, n_subs: int, span: int) -> Iterator[tuple]:
        """(n0, n1, residue, m0, m1, edge) blocks covering every substitution once."""
        period = the_plan.period
        itemsize = 8 if _is_double(self.model) else 4
        per_sub = max(1, the_plan.floats_per_sub * itemsize)
        budget = max(1, self.block_bytes // per_sub)
        if self.max_block is not None:
            budget = min(budget, self.max_block)
        n_blk = min(n, max(1, budget // n_subs))
        m_blk = max(1, budget // (n_subs * n_blk))
        for r in range(min(period, span)):
            inner = the_plan.interior[np.arange(r, span, period)]
            for m0, m1 in even_ranges(0, len(inner), m_blk):  # no small remainder block
                for n0 in range(0, n, n_blk):
                    yield n0, min(n, n0 + n_blk), r, m0, m1, not inner[m0:m1].all()


def _groups(blocks: Iterator[tuple], n_subs: int) -> Iterator[list[tuple]]:
    """Consecutive blocks gathered until they hold ``GROUP_ROWS`` substitutions (one block each when
    blocks are that large already, as with four or more Basset sequences)."""
    group, rows = [], 0
    for block in blocks:
        group.append(block)
        rows += (block[1] - block[0]) * (block[4] - block[3]) * n_subs
        if rows >= GROUP_ROWS:
            yield group
            group, rows = [], 0
    if group:
        yield group


def _run_steps(steps: list, ctxs: list[BlockContext], envs: list[dict[int, Any]]) -> None:
    """Run ``steps`` on a group of blocks in lockstep; steps with a ``run_group`` take them together."""
    for step in steps:
        together = getattr(step, "run_group", None) if len(ctxs) > 1 else None
        if together is not None:
            together(ctxs, envs)
            continue
        for ctx, env in zip(ctxs, envs, strict=True):
            step.run(ctx, env)


def _is_double(model: torch.nn.Module) -> bool:
    p = next(model.parameters(), None)
    return p is not None and p.dtype == torch.float64


def _output(trace: Trace) -> torch.Tensor:
    out = trace.output
    if not isinstance(out, Ref):
        raise Unsupported("model output is not a single tensor")
    y = trace.values[out.index]
    if y.dim() != 2:
        raise Unsupported(f"model output has shape {tuple(y.shape)}, not (N, T)")
    return y
