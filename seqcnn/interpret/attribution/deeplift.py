"""DeepLIFT/SHAP, exact: the rescale rule for every nonlinearity, averaged over shuffled references.

For a sequence ``x`` and references ``r_1 .. r_R`` (dinucleotide shuffles of ``x`` by default),
DeepLIFT's multipliers ``m_j`` (Shrikumar et al. 2017; rules in ``_deeplift_rules``) satisfy
``sum((x - r_j) * m_j) = f(x) - f(r_j)`` for every reference. From them, for one-hot sequences:

- hypothetical contributions (TF-MoDISco's): ``h = mean_j (m_j - sum_c r_j[c] * m_j[c])``, the
  contribution each base would make at each position;
- actual contributions ``h * x``: the observed base's, the others zero. They sum to
  ``f(x) - mean_j f(r_j)``; the convergence delta is what is left over (``return_delta``).

The rules are applied to torch functions as the model calls them (a ``TorchFunctionMode``), so
nonlinearities count whether they are modules or functions (``torch.relu`` in ``forward``, a reused
``nn.ReLU``), and each sequence goes through the model once per batch with its references, not once
per reference as in Captum and tangermeme. Models with ``(N, T)`` outputs are explained directly;
profile models (a dict of heads) by their ``counts`` head, or by their profile through
``BPNetScalar(model, "profile")`` (the softmax-weighted logits, weights held fixed per input).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from seqcnn._common import (
    Target,
    as_model_input,
    as_tensor,
    model_device,
    preserved,
    resolve_batch_size,
    resolve_rc,
    resolve_targets,
    task_names,
    task_output,
)
from seqcnn.errors import ConfigError, InputError
from seqcnn.interpret.attribution._deeplift_rules import DeepLiftMode
from seqcnn.progress import progress_bar

PAIRS_PER_BATCH = 256
"""(sequence, reference) pairs per forward pass when ``batch_size`` is None ..."""
POSITIONS_PER_BATCH = 1 << 18
"""... and at most about this many input positions a pass (long inputs, deep models: memory)."""


def deep_lift_shap(
    model: nn.Module,
    x: Any,
    *,
    target: Target = None,
    references: Any = None,
    n_shuffles: int = 20,
    hypothetical: bool = False,
    return_delta: bool = False,
    seed: int | None = 0,
    rc: str | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """DeepLIFT/SHAP contributions of sequences to the outputs ``target``.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; a profile model (dict of heads) is explained by its
        ``counts`` head (wrap it in ``BPNetScalar(model, "profile")`` for the profile). It is given
        back as it was (device, train/eval mode, ``requires_grad``).
    x
        Sequences: a string, a list of strings, a FASTA file as ``pathlib.Path``, or a one-hot array
        or tensor ``(N, 4, L)``. Other inputs ``(N, C, *S)`` (images) need ``references`` (see
        :func:`contributions`).
    target
        None (every output, on a last axis), an output index, a task name, or a list of them.
    references
        ``(N, R, 4, L)`` references for each sequence, or ``(R, 4, L)`` for all of them (any values,
        e.g. uniform 0.25 columns); None:
        ``n_shuffles`` dinucleotide shuffles of each sequence (sequence ``i`` seeded by
        ``(seed, i)``, so the references do not depend on batching).
    n_shuffles
        Shuffled references per sequence when ``references`` is None.
    hypothetical
        Return hypothetical contributions (every base at every position) instead of actual ones.
    return_delta
        Also return the convergence delta of each sequence: the sum of its actual contributions
        minus ``(f(x) - mean_j f(r_j))`` of the explained output.
    seed
        Seed of the shuffles (None: a fresh draw every call).
    rc
        The strands of the explained output: ``mean`` (the contributions of both strands, the
        reverse one mapped back, averaged: exact for the strand-mean output), ``max`` (those of the
        strand with the higher output for the sequence), ``none`` (the given strand). None: the
        model file's ``rc_mode``.
    batch_size
        (sequence, reference) pairs per pass; a pass holds whole sequences with all their references
        while they fit, else one sequence and ``batch_size`` of its references. None: 256, fewer for
        inputs longer than 1,024 (about 2**18 positions a pass), but all references of a sequence.
    device
        Where to run (None: automatic).
    progress
        Show a progress bar.

    Returns
    -------
    np.ndarray or tuple[np.ndarray, np.ndarray]
        Contributions ``(N, 4, L)`` for one target, ``(N, 4, L, T)`` for None or a list (actual ones
        are the hypothetical ones times the one-hot input), in the model's dtype; with
        ``return_delta`` also the deltas ``(N,)`` or ``(N, T)``.

    Raises
    ------
    ConfigError
        A bad target, batch size, ``n_shuffles`` or ``rc``; a model without ``(N, T)`` outputs or a
        ``counts`` head.
    InputError
        Unreadable sequences, inputs that are not one-hot ``(N, 4, L)`` given without references, or
        references that do not fit them.
    """
    result = contributions(model, x, target=target, references=references, n_shuffles=n_shuffles, seed=seed,
                           rc=rc, batch_size=batch_size, device=device, progress=progress)
    out = result.hypothetical if hypothetical else result.actual
    if isinstance(target, (int, str, np.integer)):
        out, delta = out[..., 0], result.delta[..., 0]
    else:
        delta = result.delta
    return (out, delta) if return_delta else out


@dataclass
class Contributions:
    """DeepLIFT/SHAP results for ``N`` inputs and ``T`` explained outputs (see :func:`contributions`).

    Attributes
    ----------
    actual, hypothetical
        ``(N, C, *S, T)``.
    delta
        ``(N, T)`` convergence deltas.
    targets
        The output indices along the last axis.
    """

    actual: np.ndarray
    hypothetical: np.ndarray
    delta: np.ndarray
    targets: list[int]


def contributions(model: nn.Module, x: Any, *, target: Target = None, references: Any = None,
                  n_shuffles: int = 20, seed: int | None = 0, rc: str | None = None,
                  batch_size: int | None = None, device: str | torch.device | None = None,
                  progress: bool = False) -> Contributions:
    """Actual and hypothetical contributions and deltas of :func:`deep_lift_shap`, for any inputs.

    Sequences (one-hot ``(N, 4, L)``) are as in :func:`deep_lift_shap`. Other inputs (images
    ``(N, C, H, W)``, or arrays that are not one-hot) need ``references``; their actual contributions
    are ``mean_j (x - r_j) * m_j`` and their hypothetical ones the mean multipliers, and ``rc`` is
    ``none``. Arguments as in :func:`deep_lift_shap`.

    Returns
    -------
    Contributions
        Every array with a last axis over the targets (one for an int or a task name).
    """
    from seqcnn.interpret.attribution.gradients import is_one_hot

    if isinstance(n_shuffles, bool) or not isinstance(n_shuffles, (int, np.integer)) or n_shuffles < 1:
        raise ConfigError(f"n_shuffles must be a positive integer, got {n_shuffles!r}")
    with preserved(model, device) as m:
        for param in m.parameters():
            param.requires_grad_(False)  # only input gradients are needed (preserved restores the flags)
        xs = as_model_input(x, m, model_device(m))
        one_hot = is_one_hot(xs)
        if references is None and not one_hot:
            raise InputError(f"inputs of shape {tuple(xs.shape)} are not one-hot sequences (N, 4, L): "
                             "give references")
        strands = resolve_rc(rc, model) if one_hot else "none"
        refs = _given_references(references, xs)
        n_refs = n_shuffles if refs is None else refs.shape[1]
        automatic = max(n_refs, POSITIONS_PER_BATCH // int(np.prod(xs.shape[2:])))
        size = resolve_batch_size(batch_size, min(PAIRS_PER_BATCH, automatic))
        with torch.no_grad():
            n_outputs = task_output(m(xs[:1])).shape[1]
        targets = resolve_targets(target, task_names(model, n_outputs))
        sums = _accumulate(m, xs, refs, n_refs, targets, strands, size, seed, one_hot, progress)
    hyp, actual, delta = _finish(sums, xs.detach().cpu(), n_refs, strands, one_hot)
    return Contributions(actual.numpy(), hyp.numpy(), delta.numpy(), targets)


def _given_references(references: Any, xs: torch.Tensor) -> torch.Tensor | None:
    """``references`` as ``(N, R, C, *S)`` on the CPU in the dtype of ``xs``, or None."""
    if references is None:
        return None
    refs = as_tensor(references).to("cpu", xs.dtype)
    if refs.dim() == xs.dim():
        refs = refs.expand(len(xs), *refs.shape)
    if refs.dim() != xs.dim() + 1 or refs.shape[0] != len(xs) or refs.shape[2:] != xs.shape[1:] \
            or refs.shape[1] < 1:
        raise InputError(f"references of shape {tuple(refs.shape)} do not fit inputs {tuple(xs.shape)}: "
                         "give (N, R, C, *S) or (R, C, *S)")
    return refs


def _shuffles(xs: np.ndarray, first: int, n: int, seed: int | None) -> torch.Tensor:
    """``(k, n, 4, L)`` dinucleotide shuffles of ``xs`` (k, 4, L); sequence ``i`` seeded by
    ``(seed, first + i)``."""
    from seqcnn.seq.shuffle import shuffle_one_hot

    rngs = [np.random.default_rng(None if seed is None else [seed, first + i]) for i in range(len(xs))]
    shuffles = [shuffle_one_hot(one, k=2, n=n, seed=rng) for one, rng in zip(xs, rngs, strict=True)]
    return torch.from_numpy(np.stack(shuffles))


def _batches(n_seqs: int, n_refs: int, size: int) -> list[tuple[slice, slice]]:
    """(sequences, references) of each pass: whole sequences while they fit, else reference slices."""
    per = size // n_refs
    if per >= 1:
        return [(slice(a, min(a + per, n_seqs)), slice(0, n_refs)) for a in range(0, n_seqs, per)]
    return [(slice(i, i + 1), slice(a, min(a + size, n_refs))) for i in range(n_seqs)
            for a in range(0, n_refs, size)]


def _accumulate(model: nn.Module, xs: torch.Tensor, refs: torch.Tensor | None, n_refs: int,
                targets: list[int], strands: str, size: int, seed: int | None, one_hot: bool, progress: bool
                ) -> dict[str, torch.Tensor]:
    """Sums over references, per strand (see :func:`_pass`), as CPU tensors keyed ``"<key>"`` and
    ``"rev_<key>"``; ``out`` is f(x) itself."""
    n, device = len(xs), xs.device
    x_cpu = xs.detach().cpu().numpy()
    sums: dict[str, torch.Tensor] = {}
    unpaired: set[str] = set()
    shuffled: tuple[int, torch.Tensor] | None = None
    for seqs, part in progress_bar(_batches(n, n_refs, size), enabled=progress, desc="deeplift"):
        if refs is not None:
            chunk = refs[seqs, part]
        else:  # the shuffles of a sequence are drawn once, also when its references span passes
            if shuffled is None or shuffled[0] != seqs.start:
                shuffled = (seqs.start, _shuffles(x_cpu[seqs], seqs.start, n_refs, seed).to(xs.dtype))
            chunk = shuffled[1][:, part]
        seq_batch, ref_batch = xs[seqs], chunk.to(device)
        passes = [("", seq_batch, ref_batch)]
        if strands != "none":
            passes.append(("rev_", seq_batch.flip(1, 2), ref_batch.flip(2, 3)))
        for prefix, s, r in passes:
            result, names = _pass(model, s, r, targets, one_hot)
            unpaired |= names
            if prefix:
                result["hyp"] = result["hyp"].flip(1, 2)
            for key, value in result.items():
                total = sums.setdefault(prefix + key, torch.zeros((n, *value.shape[1:]), dtype=value.dtype))
                total[seqs] += value if key != "out" else value * (part.stop - part.start) / n_refs
    if unpaired:
        warnings.warn(f"deep_lift_shap: {', '.join(sorted(unpaired))} met tensors without the batch axis "
                      "first and were differentiated as usual; contributions may not sum to the output "
                      "change (see return_delta)", RuntimeWarning, stacklevel=4)
    return sums


def _pass(model: nn.Module, seqs: torch.Tensor, refs: torch.Tensor, targets: list[int], one_hot: bool
          ) -> tuple[dict[str, torch.Tensor], set[str]]:
    """One forward and ``len(targets)`` backward passes over ``k`` inputs and their ``q`` references
    ``(k, q, C, *S)``. Sums over the references: ``hyp`` (k, C, *S, T) (one-hot: ``m - sum_c r_c m_c``,
    else ``m``), ``actual`` (not one-hot: ``(x - r) * m``), ``out`` f(x) (k, T), ``ref_out`` (k, T),
    ``spread`` |f(x) - f(r)| (k, T); and the functions DeepLIFT met unpaired."""
    k, q = refs.shape[:2]
    batch = torch.cat([seqs, refs.reshape(k * q, *seqs.shape[1:])]).requires_grad_(True)
    eps = 1e-10 if batch.dtype == torch.float64 else 1e-6
    mode = DeepLiftMode(k, q, eps)
    with torch.enable_grad():
        with mode:
            raw = model(batch)
        y = task_output(raw)[:, targets]
        multipliers = []
        for i in range(len(targets)):
            (grad,) = torch.autograd.grad(y[k:, i].sum(), batch, retain_graph=i < len(targets) - 1)
            multipliers.append(grad[k:].reshape(k, q, *seqs.shape[1:]))
    mult = torch.stack(multipliers, -1)  # (k, q, C, *S, T)
    y = y.detach()
    y_x, y_r = y[:k], y[k:].reshape(k, q, -1)
    sums = {"out": y_x, "ref_out": y_r.sum(1), "spread": (y_x[:, None] - y_r).abs().sum(1)}
    if one_hot:
        sums["hyp"] = (mult - (refs[..., None] * mult).sum(2, keepdim=True)).sum(1)
    else:
        sums["hyp"] = mult.sum(1)
        sums["actual"] = ((seqs[:, None] - refs)[..., None] * mult).sum(1)
    return {key: value.cpu() for key, value in sums.items()}, mode.unpaired


def _finish(sums: dict[str, torch.Tensor], xs: torch.Tensor, n_refs: int, strands: str, one_hot: bool
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hypothetical and actual contributions ``(N, C, *S, T)`` and deltas ``(N, T)`` from the sums."""

    def strand(prefix: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        hyp = sums[prefix + "hyp"] / n_refs
        actual = hyp * xs[..., None] if one_hot else sums[prefix + "actual"] / n_refs
        change = sums[prefix + "out"] - sums[prefix + "ref_out"] / n_refs
        delta = actual.sum(tuple(range(1, actual.dim() - 1))) - change
        return hyp, actual, delta, sums[prefix + "spread"] / n_refs

    hyp, actual, delta, spread = strand("")
    if strands != "none":
        hyp_r, actual_r, delta_r, spread_r = strand("rev_")
        if strands == "mean":
            hyp, actual = (hyp + hyp_r) / 2, (actual + actual_r) / 2
            delta, spread = (delta + delta_r) / 2, (spread + spread_r) / 2
        else:
            keep = sums["out"] >= sums["rev_out"]  # (N, T)
            hyp, actual = torch.where(keep[:, None, None], hyp, hyp_r), torch.where(keep[:, None, None],
                                                                                    actual, actual_r)
            delta, spread = torch.where(keep, delta, delta_r), torch.where(keep, spread, spread_r)
    if bool((delta.abs() > 0.01 * spread + 1e-6).any()):
        warnings.warn("deep_lift_shap: contributions miss the output change by over 1% (an operation "
                      "without a DeepLIFT rule?); see return_delta", RuntimeWarning, stacklevel=4)
    return hyp, actual, delta
