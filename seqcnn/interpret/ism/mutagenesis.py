"""Fast exact in-silico saturation mutagenesis, checked against the reference.

``ism(model, X)`` gives the same :class:`ISMResult` as :func:`seqcnn.interpret.ism.naive.naive_ism`
(one forward pass per mutant) up to floating-point rounding, but recomputes only the windows of each
layer that a substitution can change. Before the fast result is trusted, the first chunk's changes
are compared with single forward passes of a few substitutions (the span's two ends and middle). A
model the engine cannot analyse, or one that fails that check, is run by the reference instead, with
one :class:`ISMFallbackWarning`. ``method="auto"`` also runs the reference, silently, where the plan
would save less than half the convolution arithmetic (``engine.cost``; e.g. SpliceAI, whose input mask
leaves nothing to window).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import torch
from torch import nn

from seqcnn._common import Target, task_output
from seqcnn.errors import ConfigError
from seqcnn.interpret.ism.engine import FastISM, Survey, Unsupported
from seqcnn.interpret.ism.naive import Job, Strand, mutagenize, naive_ism, naive_strand
from seqcnn.interpret.ism.result import ISMResult, importance, mutation_map, reference_bases
from seqcnn.progress import progress_bar

__all__ = ["ISMFallbackWarning", "ISMResult", "importance", "ism", "mutation_map", "naive_ism"]

CHUNK_BYTES = 256 << 20
"""Reference activations kept for one chunk of sequences."""

METHODS = ("auto", "fast", "naive")
"""Values of ``method``: the fast engine with the reference as fallback, the fast engine only, or the
reference only."""


class ISMFallbackWarning(UserWarning):
    """The fast ISM engine could not analyse the model (or failed its check); the reference ran."""


def ism(
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
    method: str = "auto",
) -> ISMResult:
    """Saturation mutagenesis: the change of every output for every single-base substitution.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs (wrap profile models, e.g. ``BPNetScalar``). It is given back
        as it was: device, train/eval mode of every submodule, ``requires_grad``.
    X
        Sequences: a string, a list of equal-length strings, a FASTA ``pathlib.Path`` or one-hot
        ``(N, A, L)`` (or ``(A, L)``).
    target
        The outputs to keep: None (all), an index, a task name, or a list of them.
    rc
        ``none`` (the given strand), ``mean`` or ``max`` (each mutant scored on both strands,
        combined as in scoring); None: the model file's ``rc_mode`` (``none`` for a model built in
        code). Then ``result.reference`` equals ``predict(model, X, logits=True)``.
    start, end
        The span of positions to mutate (negative values count from the end; default: all).
    batch_size
        Substitutions per block of the fast engine, or mutants per forward pass of the reference
        (None: sized by memory).
    device
        Where to run (None: automatic).
    progress
        Show a progress bar (sequences) on stderr.
    method
        ``auto`` (fast, checked, falling back to the reference with a warning), ``fast`` (raise if
        the model cannot be analysed) or ``naive`` (the reference only).

    Returns
    -------
    ISMResult
        ``delta`` ``(N, A, P, T)`` for ``P = end - start``, ``reference`` ``(N, T)``, ``bases``
        ``(N, P)``, ``targets``.

    Raises
    ------
    ConfigError
        An unknown target, rc mode or method, a bad batch size, or (``method="fast"``) a model the
        engine cannot analyse.
    InputError
        Bad sequences, or a span outside the sequences.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown ISM method {method!r}; choose from {', '.join(METHODS)}")
    strand = naive_strand if method == "naive" else functools.partial(_fast_or_naive, strict=method == "fast")
    return mutagenize(model, X, strand, target=target, rc=rc, start=start, end=end, batch_size=batch_size,
                      device=device, progress=progress)


def _fast_or_naive(model: nn.Module, x: torch.Tensor, job: Job, strict: bool) -> Strand:
    try:
        engine = FastISM(model, job.start, job.end, max_block=job.batch_size)
        survey = engine.survey(x[:1])
        if not strict and not survey.saves_work:  # e.g. a mask at the input: nothing to window
            return naive_strand(model, x, job)
        return _fast(engine, survey, model, x, job, check=not strict)
    except Unsupported as exc:
        if strict:
            raise ConfigError(f"fast ISM cannot analyse this model: {exc}") from exc
        warnings.warn(f"fast ISM cannot analyse this model ({exc}); using one forward pass per mutant",
                      ISMFallbackWarning, stacklevel=4)
        return naive_strand(model, x, job)


def _fast(engine: FastISM, survey: Survey, model: nn.Module, x: torch.Tensor, job: Job, check: bool
          ) -> Strand:
    """The fast engine on chunks of ``x`` ``(N, A, L)`` sized by memory, written into one result."""
    chunk = int(max(1, min(x.shape[0], CHUNK_BYTES // max(1, 3 * survey.bytes_per_sequence))))
    targets, tasks = job.outputs(model, survey.n_outputs)
    columns = None if targets == list(range(survey.n_outputs)) else targets  # None: every output, no copy
    delta = x.new_empty(x.shape[0], x.shape[1], job.end - job.start, len(targets))
    refs = []
    with progress_bar(total=x.shape[0], enabled=job.progress, desc="ISM", unit="seq") as bar:
        for i in range(0, x.shape[0], chunk):
            d, r = engine.run(x[i:i + chunk], columns, out=delta[i:i + chunk])
            if check and i == 0:
                _check_against_naive(model, x[:1], d[:1], r[:1], targets, job.start, job.end)
            refs.append(r)
            bar.update(d.shape[0])
    return delta, torch.cat(refs), targets, tasks


def _check_against_naive(model: nn.Module, x: torch.Tensor, delta: torch.Tensor, reference: torch.Tensor,
                         columns: list[int], start: int, end: int) -> None:
    """Compare the fast changes ``(1, A, P, T)`` of one sequence ``x`` ``(1, A, L)`` with single forward
    passes of its substitutions at the span's two ends and middle; raise :class:`Unsupported` if they
    differ."""
    positions = sorted({start, end - 1, (start + end) // 2})
    base = reference_bases(x)[0]
    subs = [(p, b) for p in positions for b in range(x.shape[1]) if int(base[p]) != b]
    mutants = x.repeat(len(subs), 1, 1)
    for i, (p, b) in enumerate(subs):
        mutants[i, :, p] = 0
        mutants[i, b, p] = 1
    y = task_output(model(mutants))[:, columns] - reference
    changes = torch.stack([delta[0, b, p - start] for p, b in subs])
    scale = float(reference.abs().max()) + float(y.abs().max())
    tol = (1e-9 if x.dtype == torch.float64 else 1e-4) * max(scale, 1e-6)
    err = float((changes - y).abs().max())
    if not err <= tol:
        raise Unsupported(f"fast and naive ISM differ by {err:.3g} on a check batch")
