"""Gradient attributions: saliency, input x gradient, integrated gradients (Captum), DeepLIFT/SHAP (ours).

Each method returns an :class:`Attribution` holding, for inputs ``X`` ``(N, C, *S)``:

- ``hypothetical``: for one-hot sequences, the contribution each base *would* make at each position
  (TF-MoDISco's hypothetical contributions): ``m[b] - sum_c ref[c] * m[c]`` averaged over references,
  where ``m`` are the method's multipliers (gradients, path-averaged gradients, DeepLIFT multipliers);
  for other inputs (images) the multipliers themselves.
- ``actual``: for one-hot sequences ``hypothetical * X`` (the observed base's contribution, the other
  bases 0: what TF-MoDISco reads as contribution scores); for other inputs Captum's attribution
  ``(X - reference) * m``, averaged over references.

Summed over channels, ``actual`` equals Captum's attribution summed over channels in both cases.
Captum does the differentiation where it is exact (``Saliency``, ``InputXGradient``,
``IntegratedGradients``); this module adds per-sequence dinucleotide-shuffled references, batching,
hypothetical contributions and the ``(N, T)`` target handling. ``deepliftshap`` is
:func:`seqcnn.interpret.attribution.deeplift.contributions`, exact for nonlinearities written as
modules or functions (Captum's DeepLIFT treats a functional ``torch.relu`` or a reused ``nn.ReLU`` by
its gradient).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from seqcnn._common import (
    Target,
    as_model_input,
    model_device,
    preserved,
    resolve_batch_size,
    resolve_rc,
    resolve_targets,
    task_names,
)
from seqcnn.errors import ConfigError, InputError
from seqcnn.progress import progress_bar

METHODS = ("saliency", "input_x_grad", "ig", "deepliftshap")
BASELINES = ("zeros", "uniform", "shuffle")


@dataclass
class Attribution:
    """Attributions of ``N`` inputs to the outputs ``target`` (see the module docstring).

    Attributes
    ----------
    actual, hypothetical
        ``(N, C, *S)`` for one target (an int or a task name); ``(N, C, *S, T)`` with a last axis over
        the ``T`` targets when ``target`` was None (all outputs) or a list.
    method
        The attribution method (one of ``METHODS``).
    target
        The output index explained, or the list of indices along the last axis.
    """

    actual: np.ndarray
    hypothetical: np.ndarray
    method: str
    target: int | list[int]


def is_one_hot(x: torch.Tensor) -> bool:
    """True for ``(N, A, L)`` inputs whose columns are one-hot or uniform (N): sequences, not images.

    Parameters
    ----------
    x
        Model inputs ``(N, C, *S)``.

    Returns
    -------
    bool
        Whether ``x`` is a batch of one-hot (or IUPAC-uniform) sequences.
    """
    if x.dim() != 3:
        return False
    sums = x.sum(1)
    return bool(((x == 0) | (x == 1) | (x == 0.25) | (x == 1 / x.shape[1])).all() and torch.allclose(
        sums[sums > 0], torch.ones_like(sums[sums > 0])))


def output_targets(model: nn.Module, x: torch.Tensor, target: Target) -> tuple[list[int], bool]:
    """The output indices ``target`` names for ``model``, and whether the result keeps a target axis.

    Parameters
    ----------
    model
        A model returning ``(N, T)`` outputs.
    x
        A batch ``(n, C, *S)`` the model accepts (one forward pass of it tells ``T``).
    target
        None (all outputs), an index, a task name, or a list of them.

    Returns
    -------
    tuple[list[int], bool]
        The indices, and True when ``target`` was None or a list (results then get a last axis over
        the indices), False for one index or name.

    Raises
    ------
    ConfigError
        A model without ``(N, T)`` outputs, an index out of range or an unknown task name.
    """
    with torch.no_grad():
        y = model(x)
    if not isinstance(y, torch.Tensor) or y.dim() != 2:
        raise ConfigError("attributions need a model with (N, T) outputs (wrap profile models, e.g. "
                          "BPNetScalar)")
    indices = resolve_targets(target, task_names(model, y.shape[1]))
    return indices, not isinstance(target, (int, str, np.integer))


def _references(x: torch.Tensor, baseline: str | np.ndarray | torch.Tensor, n_shuffles: int,
                seed: int) -> torch.Tensor:
    """(N, R, C, *S) reference inputs for each input."""
    if isinstance(baseline, (np.ndarray, torch.Tensor)):
        ref = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
        if ref.shape == x.shape[1:]:
            return ref.expand(x.shape[0], 1, *ref.shape)
        if ref.shape == x.shape:
            return ref[:, None]
        raise InputError(f"baseline of shape {tuple(ref.shape)} does not fit inputs {tuple(x.shape)}")
    if baseline == "zeros":
        return torch.zeros_like(x)[:, None]
    if baseline == "uniform":
        return torch.full_like(x, 1.0 / x.shape[1])[:, None]
    if baseline == "shuffle":
        if x.dim() != 3:
            raise ConfigError("shuffled references are for sequences (N, 4, L)")
        from seqcnn.seq.shuffle import shuffle_one_hot

        refs = shuffle_one_hot(x.detach().cpu().numpy(), k=2, n=n_shuffles, seed=seed)
        return torch.as_tensor(refs, dtype=x.dtype, device=x.device)
    raise ConfigError(f"unknown baseline {baseline!r}; choose from {', '.join(BASELINES)} or an array")


def _combine(x: torch.Tensor, refs: torch.Tensor, mult: torch.Tensor, one_hot: bool
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(actual, hypothetical) from multipliers ``mult`` (N, R, C, *S) and references (N, R, C, *S)."""
    if one_hot:
        hyp = (mult - (refs * mult).sum(2, keepdim=True)).mean(1)
        return hyp * x, hyp
    return ((x[:, None] - refs) * mult).mean(1), mult.mean(1)


def attribute(
    model: nn.Module,
    X: Any,
    method: str,
    *,
    target: Target = None,
    baseline: str | np.ndarray | torch.Tensor | None = None,
    steps: int = 50,
    n_shuffles: int = 20,
    seed: int = 0,
    rc: str | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> Attribution:
    """Attributions of inputs ``X`` to the outputs ``target`` with ``method``.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs (profile models wrapped, e.g. ``BPNetScalar``). It is given
        back as it was (device, train/eval mode, ``requires_grad``).
    X
        Inputs ``(N, C, *S)`` (array or tensor), or sequences (a string, a list of strings, a FASTA
        file as a ``pathlib.Path``).
    method
        One of ``METHODS``: ``saliency``, ``input_x_grad``, ``ig``, ``deepliftshap``.
    target
        None (every output, on a last axis), an output index, a task name, or a list of them.
    baseline
        The reference: ``"zeros"``, ``"uniform"`` (1/C per channel), ``"shuffle"`` (``n_shuffles``
        dinucleotide shuffles of each sequence, seeded by ``seed``) or an array ``(C, *S)`` /
        ``(N, C, *S)``. Default: zeros; ``deepliftshap`` shuffles.
    steps
        Integration steps of ``ig`` (Gauss-Legendre).
    n_shuffles, seed
        Shuffled references per sequence and their seed.
    rc
        How the explained output combines the two strands of a sequence, as in scoring: ``mean``
        (the attributions of both strands, the reverse one mapped back, averaged: exact for the mean
        output, as every method here is linear in the output), ``max`` (the attributions of the strand
        that scores higher on the input) or ``none`` (the given strand). None: the model file's
        ``rc_mode``. Images and other non-sequence inputs always use ``none``.
    batch_size
        Inputs per pass (None: 32).
    device
        Where to run (None: automatic).
    progress
        Show a progress bar.

    Returns
    -------
    Attribution
        ``actual`` and ``hypothetical`` of shape ``(N, C, *S)`` for one target, ``(N, C, *S, T)`` for
        None or a list.

    Raises
    ------
    ConfigError
        An unknown method or baseline, a bad target or batch size, a model without ``(N, T)`` outputs.
    InputError
        Inputs that are not ``(N, C, *S)`` or a baseline that does not fit them.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown attribution method {method!r}; choose from {', '.join(METHODS)}")
    size = resolve_batch_size(batch_size, 32)
    if method == "deepliftshap":
        return _deeplift(model, X, target=target, baseline=baseline, n_shuffles=n_shuffles, seed=seed, rc=rc,
                         batch_size=batch_size, device=device, progress=progress)
    with preserved(model, device) as m:
        x_all = as_model_input(X, m, model_device(m))
        indices, axis = output_targets(m, x_all[:1], target)
        one_hot = is_one_hot(x_all)
        strands = resolve_rc(rc, model) if one_hot else "none"
        actual, hyp = [], []
        for a in progress_bar(range(0, len(x_all), size), enabled=progress, desc=method):
            x = x_all[a:a + size]
            refs = _references(x, baseline or "zeros", n_shuffles, seed + a)
            parts = [_combine(x, refs, _strand_multipliers(m, x, refs, method, t, steps, strands), one_hot)
                     for t in indices]
            actual.append(torch.stack([p[0].detach().cpu() for p in parts], -1))
            hyp.append(torch.stack([p[1].detach().cpu() for p in parts], -1))
    act, hy = torch.cat(actual).numpy(), torch.cat(hyp).numpy()
    if not axis:
        return Attribution(act[..., 0], hy[..., 0], method, indices[0])
    return Attribution(act, hy, method, indices)


def _strand_multipliers(model: nn.Module, x: torch.Tensor, refs: torch.Tensor, method: str, target: int,
                        steps: int, rc: str) -> torch.Tensor:
    """(N, R, 4, L) multipliers of the output combined over strands as ``rc`` says.

    The reverse strand of a one-hot batch ``(N, 4, L)`` in A, C, G, T order is ``x.flip(1, 2)``; its
    multipliers map back to the given strand by the same flip.
    """
    forward = _multipliers(model, x, refs, method, target, steps)
    if rc == "none":
        return forward
    reverse = _multipliers(model, x.flip(1, 2), refs.flip(2, 3), method, target, steps).flip(2, 3)
    if rc == "mean":
        return (forward + reverse) / 2
    with torch.no_grad():
        keep = model(x)[:, target] >= model(x.flip(1, 2))[:, target]
    return torch.where(keep.view(-1, *([1] * (forward.dim() - 1))), forward, reverse)


def _multipliers(model: nn.Module, x: torch.Tensor, refs: torch.Tensor, method: str, target: int,
                 steps: int) -> torch.Tensor:
    """(N, R, C, *S) multipliers of ``method`` for each (input, reference) pair."""
    import captum.attr as ca

    n, r = refs.shape[:2]
    x = x.detach().requires_grad_(True)
    if method in ("saliency", "input_x_grad"):
        # m = gradient at x (the reference only enters the hypothetical formula)
        grad = ca.Saliency(model).attribute(x, target=target, abs=False)
        return grad[:, None].expand(n, r, *x.shape[1:])
    inputs = x.detach()[:, None].expand(n, r, *x.shape[1:]).reshape(n * r, *x.shape[1:]).requires_grad_(True)
    base = refs.reshape(n * r, *x.shape[1:])
    ig = ca.IntegratedGradients(model, multiply_by_inputs=False)
    mult = ig.attribute(inputs, baselines=base, target=target, n_steps=steps,
                        internal_batch_size=max(1, n * r))
    return mult.reshape(n, r, *x.shape[1:])


def _deeplift(model: nn.Module, X: Any, *, target: Target, baseline: str | np.ndarray | torch.Tensor | None,
              n_shuffles: int, seed: int, rc: str | None, batch_size: int | None,
              device: str | torch.device | None, progress: bool) -> Attribution:
    """``deepliftshap`` of :func:`attribute` by the exact implementation (``baseline`` as references)."""
    from seqcnn.interpret.attribution.deeplift import contributions

    with preserved(model, device) as m:
        x = as_model_input(X, m, model_device(m)).cpu()
    shuffled = baseline is None or isinstance(baseline, str) and baseline == "shuffle"
    references = None if shuffled else _references(x, baseline, n_shuffles, seed)  # type: ignore[arg-type]
    n_refs = n_shuffles if references is None else references.shape[1]
    pairs = None if batch_size is None else resolve_batch_size(batch_size, 32) * n_refs
    result = contributions(model, x, target=target, references=references, n_shuffles=n_shuffles, seed=seed,
                           rc=rc, batch_size=pairs, device=device, progress=progress)
    if isinstance(target, (int, str, np.integer)):
        return Attribution(result.actual[..., 0], result.hypothetical[..., 0], "deepliftshap",
                           result.targets[0])
    return Attribution(result.actual, result.hypothetical, "deepliftshap", result.targets)


def saliency(model: nn.Module, X: Any, **kwargs: Any) -> Attribution:
    """Gradients of the outputs ``target``: hypothetical = gradient, actual = gradient x input.

    Parameters
    ----------
    model, X
        As in :func:`attribute`.
    **kwargs
        ``target``, ``batch_size``, ``device``, ``progress`` (see :func:`attribute`).

    Returns
    -------
    Attribution
        As :func:`attribute` returns it.
    """
    return attribute(model, X, "saliency", **kwargs)


def integrated_gradients(model: nn.Module, X: Any, *, steps: int = 50,
                         baseline: str | np.ndarray | torch.Tensor = "zeros", **kwargs: Any) -> Attribution:
    """Integrated gradients from ``baseline`` in ``steps`` steps, averaged over shuffled references.

    Parameters
    ----------
    model, X
        As in :func:`attribute`.
    steps
        Integration steps (Gauss-Legendre).
    baseline
        ``"zeros"``, ``"uniform"``, ``"shuffle"`` or an array (see :func:`attribute`).
    **kwargs
        ``target``, ``n_shuffles``, ``seed``, ``batch_size``, ``device``, ``progress``.

    Returns
    -------
    Attribution
        As :func:`attribute` returns it.
    """
    return attribute(model, X, "ig", steps=steps, baseline=baseline, **kwargs)


def deeplift_shap(model: nn.Module, X: Any, *, n_shuffles: int = 20, **kwargs: Any) -> Attribution:
    """DeepLIFT (rescale rule) averaged over ``n_shuffles`` dinucleotide-shuffled references (DeepSHAP).

    Parameters
    ----------
    model, X
        As in :func:`attribute`.
    n_shuffles
        Shuffled references per sequence.
    **kwargs
        ``target``, ``baseline`` (an array instead of shuffles), ``seed``, ``batch_size``, ``device``,
        ``progress``.

    Returns
    -------
    Attribution
        As :func:`attribute` returns it.
    """
    return attribute(model, X, "deepliftshap", n_shuffles=n_shuffles, **kwargs)


def methods() -> Sequence[str]:
    """Names accepted by :func:`attribute`.

    Returns
    -------
    Sequence[str]
        ``METHODS``.
    """
    return METHODS
