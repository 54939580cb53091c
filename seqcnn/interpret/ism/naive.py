"""Reference in-silico saturation mutagenesis: one forward pass per mutant sequence.

For every sequence and every position of the span ``[start, end)``, each base other than the
reference base is substituted in a copy of the sequence, the copies are run through the model in
batches, and the change of every kept output is recorded::

    delta[n, b, i, t] = model(x_n with position start + i set to b)[t] - model(x_n)[t]

(0 at the reference base; at a position that is not one-hot, such as ``N``, all bases are
substituted). With ``rc="mean"`` or ``"max"`` the model scores both strands, as in scoring: the
same is run on the reverse complement and the two strands' outputs are combined per mutant.

This is slow (``3 L`` forward passes per sequence) and simple; it is the oracle the fast engine is
tested and checked against, and its fallback. :func:`mutagenize` is the frame both share: the
argument conventions, the caller's model lent and restored, both strands and the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from seqcnn._common import (
    Target,
    as_onehot,
    model_device,
    model_dtype,
    preserved,
    resolve_batch_size,
    resolve_rc,
    resolve_targets,
    task_names,
    task_output,
)
from seqcnn.errors import InputError
from seqcnn.interpret.ism.result import ISMResult, reference_bases
from seqcnn.progress import progress_bar

NAIVE_BATCH = 128
"""Mutant sequences per forward pass when ``batch_size`` is None."""

Strand = tuple[torch.Tensor, torch.Tensor, list[int], list[str]]
"""One strand's changes ``(N, A, P, T)``, reference outputs ``(N, T)``, output indices and names."""


@dataclass(frozen=True)
class Job:
    """What one strand's ISM is asked for: the span, the outputs (``target``), batching, progress."""

    start: int
    end: int
    target: Target
    batch_size: int | None
    progress: bool

    def outputs(self, model: nn.Module, n_tasks: int) -> tuple[list[int], list[str]]:
        """The indices and task names of the outputs ``target`` names, for a model with ``n_tasks``
        outputs."""
        names = task_names(model, n_tasks)
        targets = resolve_targets(self.target, names)
        return targets, [names[t] for t in targets]

    def reverse(self, length: int) -> Job:
        """The same span on the reverse strand of sequences of ``length``."""
        return replace(self, start=length - self.end, end=length - self.start)


def naive_ism(
    model: nn.Module,
    X: Any,
    *,
    target: Target = None,
    rc: str | None = None,
    start: int | None = None,
    end: int | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> ISMResult:
    """Saturation mutagenesis by one forward pass per mutant (slow; the reference).

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs (a profile model's ``counts`` head is used). It is given
        back as it was: device, train/eval mode, ``requires_grad``.
    X
        Sequences: a string, a list of equal-length strings, a FASTA ``pathlib.Path`` or one-hot
        ``(N, A, L)`` (or ``(A, L)``).
    target
        The outputs to keep: None (all), an index, a task name, or a list of them.
    rc
        ``none`` (the given strand), ``mean`` or ``max`` (both strands per mutant); None: the
        model file's ``rc_mode``.
    start, end
        The span of positions to mutate (negative values count from the end; default: all).
    batch_size
        Mutants per forward pass (None: 128).
    device
        Where to run (None: automatic).
    progress
        Show a progress bar (sequences) on stderr.

    Returns
    -------
    ISMResult
        ``delta`` ``(N, A, P, T)``, ``reference`` ``(N, T)``, ``bases`` ``(N, P)``.

    Raises
    ------
    ConfigError
        An unknown target, rc mode, a bad batch size, or a model without ``(N, T)`` outputs.
    InputError
        Bad sequences, or a span outside the sequences.
    """
    return mutagenize(model, X, naive_strand, target=target, rc=rc, start=start, end=end,
                      batch_size=batch_size, device=device, progress=progress)


def mutagenize(model: nn.Module, X: Any, strand: Callable[[nn.Module, torch.Tensor, Job], Strand], *,
               target: Target, rc: str | None, start: int | None, end: int | None, batch_size: int | None,
               device: str | torch.device | None, progress: bool) -> ISMResult:
    """Run ``strand(model, x, job)`` on the given strand (and the reverse one for ``rc`` mean/max)
    under the shared conventions (parameters as in :func:`naive_ism`)."""
    how = resolve_rc(rc, model)
    if batch_size is not None:
        resolve_batch_size(batch_size, NAIVE_BATCH)
    with preserved(model, device) as net, torch.no_grad():
        x = as_onehot(X, dtype=model_dtype(net), device=model_device(net))
        length = x.shape[-1]
        lo, hi = span(start, end, length)
        job = Job(lo, hi, target, batch_size, progress)
        parts = strand(net, x, job)
        if how != "none":
            parts = combine_strands(parts, strand(net, x.flip(1, 2), job.reverse(length)), how)
        return finish(parts, x, lo, hi)


def naive_strand(model: nn.Module, x: torch.Tensor, job: Job) -> Strand:
    """One forward pass per substitution of every sequence of ``x`` ``(N, A, L)``, in batches."""
    n, n_bases, length = x.shape
    batch = resolve_batch_size(job.batch_size, NAIVE_BATCH)
    reference = torch.cat([task_output(model(x[a:a + batch])) for a in range(0, n, batch)])
    targets, tasks = job.outputs(model, reference.shape[1])
    reference = reference[:, targets]
    out = reference.new_zeros(n, n_bases, job.end - job.start, len(targets))
    buffer = x.new_empty(batch, n_bases, length)  # reused for every batch of mutants
    bases = reference_bases(x[:, :, job.start:job.end])
    for i in progress_bar(range(n), enabled=job.progress, desc="ISM", unit="seq", total=n):
        pos, new = substitutions(bases[i], n_bases)
        for a in range(0, len(pos), batch):
            p, b = pos[a:a + batch], new[a:a + batch]
            k = len(p)
            buffer[:k] = x[i]
            rows = torch.arange(k, device=x.device)
            buffer[rows, :, p + job.start] = 0
            buffer[rows, b, p + job.start] = 1
            out[i, b, p] = task_output(model(buffer[:k]))[:, targets] - reference[i]
    return out, reference, targets, tasks


def substitutions(bases: torch.Tensor, n_bases: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions and new bases of every substitution of one sequence whose bases are ``bases``
    ``(P,)`` (-1: not one-hot, every base substituted); the reference base is skipped."""
    grid_b = torch.arange(n_bases, device=bases.device).repeat(len(bases))
    grid_p = torch.arange(len(bases), device=bases.device).repeat_interleave(n_bases)
    keep = grid_b != bases[grid_p]
    return grid_p[keep], grid_b[keep]


def span(start: int | None, end: int | None, length: int) -> tuple[int, int]:
    """``[start, end)`` resolved against ``length`` (None: the ends; negative: from the end).

    Raises
    ------
    InputError
        An empty span or one outside the sequences.
    """
    start = 0 if start is None else start + length if start < 0 else start
    end = length if end is None else end + length if end < 0 else end
    if not 0 <= start < end <= length:
        raise InputError(f"ISM span [{start}, {end}) is not inside the sequence length {length}")
    return start, end


def combine_strands(forward: Strand, reverse: Strand, how: str) -> Strand:
    """Both strands' results on forward coordinates, combined per mutant by ``mean`` or ``max``.

    The reverse strand's position ``i`` of the span is forward position ``end - 1 - i`` and its base
    ``b`` is the complement ``3 - b`` (ACGT order), so both axes are flipped.
    """
    d_f, r_f, columns, tasks = forward
    d_r, r_r = reverse[0].flip(1, 2), reverse[1]
    if how == "mean":
        return (d_f + d_r) / 2, (r_f + r_r) / 2, columns, tasks
    ref = torch.maximum(r_f, r_r)
    mutant = torch.maximum(d_f + r_f[:, None, None, :], d_r + r_r[:, None, None, :])
    return mutant - ref[:, None, None, :], ref, columns, tasks


def finish(parts: Strand, x: torch.Tensor, start: int, end: int) -> ISMResult:
    """The :class:`ISMResult` (NumPy, on the CPU) of ``parts`` for inputs ``x`` over ``[start, end)``."""
    delta, reference, targets, tasks = parts
    bases = reference_bases(x[:, :, start:end]).to(torch.int8)
    return ISMResult(delta.cpu().numpy(), reference.cpu().numpy(), bases.cpu().numpy(), start, end,
                     list(targets), list(tasks))
