"""In-silico saturation mutagenesis (ISM): the effect of every single-base substitution.

``ism(model, X)`` returns an :class:`ISMResult` whose ``delta[n, b, i, t]`` is the change of output
``t`` when position ``start + i`` of sequence ``n`` is set to base ``b`` (0 for the reference base),
with ``reference`` the unmutated outputs ``(N, T)``. ``mutation_map`` and ``importance`` turn it into
a DeepBind-style map and a per-position importance.

By default the fast exact engine runs (``seqcnn.interpret.ism.engine.fast``: only the windows a substitution
can change are recomputed). A model it cannot analyse falls back to ``naive_ism`` (one forward pass
per mutant) with a one-line ``ISMFallbackWarning``; the fast result of the first chunk is also checked
against the naive one on a few substitutions before it is trusted.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from seqcnn.device import resolve_device
from seqcnn.errors import ConfigError, InputError
from seqcnn.interpret.ism.engine.fast import FastISM, reference_bases
from seqcnn.interpret.ism.engine.trace import Unsupported
from seqcnn.progress import progress_bar

CHUNK_BYTES = 256 << 20  # reference activations of one chunk of sequences
NAIVE_BATCH = 128

_Strand = tuple[torch.Tensor, torch.Tensor, list[int]]  # changes (N, A, P, T'), reference (N, T'), columns


class ISMFallbackWarning(UserWarning):
    """The fast ISM engine could not analyse the model; the naive path was used."""


@dataclass
class ISMResult:
    """ISM of ``N`` sequences over positions ``[start, end)`` (``P = end - start``).

    ``delta``: (N, A, P, T) output change per substitution (0 at the reference base);
    ``reference``: (N, T) outputs of the unmutated sequences; ``bases``: (N, P) reference base index,
    -1 where the input column is not one-hot (e.g. ``N``); ``targets``: the output columns kept.
    """

    delta: np.ndarray
    reference: np.ndarray
    bases: np.ndarray
    start: int
    end: int
    targets: list[int]

    def mutation_map(self, task: int = 0) -> np.ndarray:
        """(N, A, P) DeepBind-style mutation map of output column ``task`` (see ``mutation_map``)."""
        return mutation_map(self, task)

    def importance(self, how: str = "max", task: int = 0) -> np.ndarray:
        """(N, P) per-position loss of score (see ``importance``)."""
        return importance(self, how, task)


def mutation_map(result: ISMResult, task: int = 0) -> np.ndarray:
    """(N, A, P) score change of every substitution for output column ``task`` (0 at the reference)."""
    return result.delta[..., task]


def importance(result: ISMResult, how: str = "max", task: int = 0) -> np.ndarray:
    """(N, P) loss of score at each position: ``max`` or ``mean`` over the substituted bases of
    ``reference - mutant`` (DeepBind's logo heights use the max); ``maxabs`` gives ``max |delta|``.
    """
    delta = result.delta[..., task]
    alt = np.ones(delta.shape, dtype=bool)
    n_idx, p_idx = np.nonzero(result.bases >= 0)
    alt[n_idx, result.bases[n_idx, p_idx], p_idx] = False
    if how == "max":
        return np.where(alt, -delta, -np.inf).max(1)
    if how == "mean":
        return np.where(alt, -delta, 0).sum(1) / alt.sum(1)
    if how == "maxabs":
        return np.abs(delta).max(1)
    raise ConfigError(f"unknown importance {how!r}; choose from max, mean, maxabs")


def ism(
    model: torch.nn.Module,
    X: np.ndarray | torch.Tensor | str | Sequence[str],
    *,
    target: int | Sequence[int] | None = None,
    start: int | None = None,
    end: int | None = None,
    rc: str = "none",
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    method: str = "auto",
) -> ISMResult:
    """Saturation mutagenesis of ``X`` (N, A, L) over ``[start, end)``, fast and exact.

    ``rc``: ``"none"``, or ``"mean"``/``"max"`` to mutate a model whose score combines both strands
    (as ``seqcnn score`` does with a model file's ``rc_mode``): each mutant's outputs are the mean or
    max of the forward and the reverse-complement strand (ACGT inputs). ``method``: ``"auto"``
    (fast, falling back to naive with a warning), ``"fast"`` (raise ``ConfigError`` if the model
    cannot be analysed) or ``"naive"``. ``batch_size`` caps the substitutions per block (fast) or
    per forward pass (naive).
    """
    if method not in ("auto", "fast", "naive"):
        raise ConfigError(f"unknown ISM method {method!r}; choose from auto, fast, naive")
    if rc not in ("none", "mean", "max"):
        raise ConfigError(f"unknown rc mode {rc!r}; choose from none, mean, max")
    with _prepared(model, device) as (net, dev):
        x = _as_input(X, net, dev)
        start, end = _span(start, end, x.shape[-1])
        length = x.shape[-1]
        job = _Job(start, end, target, batch_size, progress)
        parts = _one_strand(net, x, job, method)
        if rc != "none":
            reverse = _one_strand(net, x.flip(1, 2), replace(job, start=length - end, end=length - start),
                                  method)
            parts = _combine_strands(parts, reverse, rc)
        return _finish(parts, x, start, end)


@dataclass(frozen=True)
class _Job:
    """What one strand's ISM is asked for: the span, the output columns (``target``) and batching."""

    start: int
    end: int
    target: int | Sequence[int] | None
    batch_size: int | None
    progress: bool


def _one_strand(net: torch.nn.Module, x: torch.Tensor, job: _Job, method: str) -> _Strand:
    if method == "naive":
        return _naive(net, x, job)
    try:
        return _fast(net, x, job, check=method == "auto")
    except Unsupported as exc:
        if method == "fast":
            raise ConfigError(f"fast ISM cannot analyse this model: {exc}") from exc
        warnings.warn(f"fast ISM cannot analyse this model ({exc}); using one forward pass per mutant",
                      ISMFallbackWarning, stacklevel=3)
        return _naive(net, x, job)


def _combine_strands(forward: _Strand, reverse: _Strand, how: str) -> _Strand:
    """Both strands' (changes, reference, columns) on forward coordinates, combined by mean or max.

    The reverse strand's position ``i`` of the span is forward position ``end - 1 - i`` and its base
    ``b`` is the complement ``3 - b`` (ACGT order), so both axes are flipped.
    """
    d_f, r_f, columns = forward
    d_r, r_r = reverse[0].flip(1, 2), reverse[1]
    if how == "mean":
        return (d_f + d_r) / 2, (r_f + r_r) / 2, columns
    ref = torch.maximum(r_f, r_r)
    mutant = torch.maximum(d_f + r_f[:, None, None, :], d_r + r_r[:, None, None, :])
    return mutant - ref[:, None, None, :], ref, columns


def naive_ism(
    model: torch.nn.Module,
    X: np.ndarray | torch.Tensor | str | Sequence[str],
    *,
    target: int | Sequence[int] | None = None,
    start: int | None = None,
    end: int | None = None,
    rc: str = "none",
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> ISMResult:
    """Reference ISM: one full forward pass per mutant sequence (slow; for checks and fallback)."""
    return ism(model, X, target=target, start=start, end=end, rc=rc, batch_size=batch_size, device=device,
               progress=progress, method="naive")


# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _prepared(model: torch.nn.Module, device: str | torch.device | None) -> Iterator[tuple]:
    """Model in eval mode on ``device`` for the duration (training flag restored after)."""
    dev = resolve_device(device)
    was_training = model.training
    model.eval()
    model.to(dev)
    try:
        with torch.no_grad():
            yield model, dev
    finally:
        model.train(was_training)


def _as_input(X: object, model: torch.nn.Module, device: torch.device) -> torch.Tensor:
    if isinstance(X, str) or (isinstance(X, Sequence) and X and isinstance(X[0], str)):
        from seqcnn.seq.encode import one_hot

        X = one_hot([X] if isinstance(X, str) else list(X))
    x = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    if x.dim() == 2:
        x = x[None]
    if x.dim() != 3 or x.shape[0] == 0:
        raise InputError(f"ISM needs one-hot sequences (N, A, L), got shape {tuple(x.shape)}")
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    return x.to(device=device, dtype=dtype)


def _span(start: int | None, end: int | None, length: int) -> tuple[int, int]:
    start = 0 if start is None else start + length if start < 0 else start
    end = length if end is None else end + length if end < 0 else end
    if not 0 <= start < end <= length:
        raise InputError(f"ISM span [{start}, {end}) is not inside the sequence length {length}")
    return start, end


def _chunk_size(x: torch.Tensor, per_sequence: int) -> int:
    return int(max(1, min(x.shape[0], CHUNK_BYTES // max(1, per_sequence))))


def _fast(model: torch.nn.Module, x: torch.Tensor, job: _Job, check: bool) -> _Strand:
    engine = FastISM(model, job.start, job.end, max_block=job.batch_size)
    per_sequence, n_tasks = engine.measure(x[:1])
    chunk = _chunk_size(x, 3 * per_sequence)
    targets = _targets(job.target, n_tasks)
    columns = None if targets == list(range(n_tasks)) else targets  # None: every output, no copy
    # every chunk writes its changes into one result tensor: no concatenated copy at the end
    delta = x.new_empty(x.shape[0], x.shape[1], job.end - job.start, len(targets))
    refs = []
    bar = progress_bar(total=x.shape[0], enabled=job.progress, desc="ISM")
    for i in range(0, x.shape[0], chunk):
        d, r = engine.run(x[i:i + chunk], columns, out=delta[i:i + chunk])
        if check and i == 0:
            _check_against_naive(model, x[:1], (d[:1], r[:1], targets), job.start, job.end)
        refs.append(r)
        bar.update(d.shape[0])
    bar.close()
    return delta, torch.cat(refs), targets


def _check_against_naive(model: torch.nn.Module, x: torch.Tensor, fast: _Strand, start: int,
                         end: int) -> None:
    """Compare the fast result of one sequence, ``(delta, reference, columns)``, with single forward
    passes of its substitutions at the span's two ends and middle."""
    delta, reference, columns = fast
    positions = sorted({start, end - 1, (start + end) // 2})
    base = reference_bases(x)[0]
    subs = [(p, b) for p in positions for b in range(x.shape[1]) if int(base[p]) != b]
    mutants = x.repeat(len(subs), 1, 1)
    for i, (p, b) in enumerate(subs):
        mutants[i, :, p] = 0
        mutants[i, b, p] = 1
    y = model(mutants)[:, columns] - reference
    changes = torch.stack([delta[0, b, p - start] for p, b in subs])
    scale = float(reference.abs().max()) + float(y.abs().max())
    tol = (1e-9 if x.dtype == torch.float64 else 1e-4) * max(scale, 1e-6)
    err = float((changes - y).abs().max())
    if not err <= tol:
        raise Unsupported(f"fast and naive ISM differ by {err:.3g} on a check batch")


def _naive(model: torch.nn.Module, x: torch.Tensor, job: _Job) -> _Strand:
    n, n_bases, length = x.shape
    batch = job.batch_size or NAIVE_BATCH
    reference = model(x)
    if not isinstance(reference, torch.Tensor) or reference.dim() != 2:
        raise ConfigError("ISM needs a model with (N, T) outputs (wrap profile models, e.g. BPNetScalar)")
    targets = _targets(job.target, reference.shape[1])
    reference = reference[:, targets]
    out = reference.new_zeros(n, n_bases, job.end - job.start, len(targets))
    buffer = x.new_empty(batch, n_bases, length)  # reused for every batch of mutants
    bases = reference_bases(x[:, :, job.start:job.end])
    for i in progress_bar(range(n), enabled=job.progress, desc="ISM", total=n):
        pos, new = _substitutions(bases[i], n_bases)
        for a in range(0, len(pos), batch):
            p, b = pos[a:a + batch], new[a:a + batch]
            k = len(p)
            buffer[:k] = x[i]
            rows = torch.arange(k, device=x.device)
            buffer[rows, :, p + job.start] = 0
            buffer[rows, b, p + job.start] = 1
            out[i, b, p] = model(buffer[:k])[:, targets] - reference[i]
    return out, reference, targets


def _targets(target: int | Sequence[int] | None, n_tasks: int) -> list[int]:
    """The output columns asked for (all when ``target`` is None), negative indices resolved."""
    if target is None:
        return list(range(n_tasks))
    targets = [target] if isinstance(target, int) else list(target)
    for t in targets:
        if not -n_tasks <= t < n_tasks:
            raise ConfigError(f"target {t} out of range for a model with {n_tasks} outputs")
    return [t % n_tasks for t in targets]


def _substitutions(bases: torch.Tensor, n_bases: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions and new bases of every substitution of one sequence (the reference base skipped)."""
    grid_b = torch.arange(n_bases, device=bases.device).repeat(len(bases))
    grid_p = torch.arange(len(bases), device=bases.device).repeat_interleave(n_bases)
    keep = grid_b != bases[grid_p]
    return grid_p[keep], grid_b[keep]


def _finish(parts: _Strand, x: torch.Tensor, start: int, end: int) -> ISMResult:
    delta, reference, targets = parts
    bases = reference_bases(x[:, :, start:end]).to(torch.int8)
    return ISMResult(delta.cpu().numpy(), reference.cpu().numpy(), bases.cpu().numpy(), start, end, targets)
