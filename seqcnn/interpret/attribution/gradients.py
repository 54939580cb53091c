"""Gradient attributions: saliency, input x gradient, integrated gradients, DeepLIFT/SHAP (Captum).

Each method returns an :class:`Attribution` holding, for inputs ``X`` ``(N, C, *S)``:

- ``hypothetical``: for one-hot sequences, the contribution each base *would* make at each position
  (TF-MoDISco's hypothetical contributions): ``m[b] - sum_c ref[c] * m[c]`` averaged over references,
  where ``m`` are the method's multipliers (gradients, path-averaged gradients, DeepLIFT multipliers);
  for other inputs (images) the multipliers themselves.
- ``actual``: for one-hot sequences ``hypothetical * X`` (the observed base's contribution, the other
  bases 0: what TF-MoDISco reads as contribution scores); for other inputs Captum's attribution
  ``(X - reference) * m``, averaged over references.

Summed over channels, ``actual`` equals Captum's attribution summed over channels in both cases.
Captum does the differentiation (``Saliency``, ``InputXGradient``, ``IntegratedGradients``,
``DeepLift``); this module adds per-sequence dinucleotide-shuffled references, batching, hypothetical
contributions and the ``(N, T)`` target handling. DeepLIFT needs activations as modules (``nn.ReLU``);
a functional ``torch.relu`` is treated by its gradient, and Captum's max-pool rule is not exactly
conservative (contributions then sum to ``f(x) - f(ref)`` only approximately).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seqcnn.device import resolve_device
from seqcnn.errors import ConfigError, InputError
from seqcnn.progress import progress_bar

METHODS = ("saliency", "input_x_grad", "ig", "deepliftshap")
BASELINES = ("zeros", "uniform", "shuffle")


@dataclass
class Attribution:
    """Attributions of ``N`` inputs ``(N, C, *S)`` to output column ``target`` (see module docstring)."""

    actual: np.ndarray
    hypothetical: np.ndarray
    method: str
    target: int


def is_one_hot(x: torch.Tensor) -> bool:
    """True for (N, A, L) inputs whose columns are one-hot or uniform (N) — sequences, not images."""
    if x.dim() != 3:
        return False
    sums = x.sum(1)
    return bool(((x == 0) | (x == 1) | (x == 0.25) | (x == 1 / x.shape[1])).all() and torch.allclose(
        sums[sums > 0], torch.ones_like(sums[sums > 0])))


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
    model: torch.nn.Module,
    X: np.ndarray | torch.Tensor,
    method: str,
    *,
    target: int = 0,
    baseline: str | np.ndarray | torch.Tensor | None = None,
    steps: int = 50,
    n_shuffles: int = 20,
    seed: int = 0,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> Attribution:
    """Attributions of ``X`` (N, C, *S) to output ``target`` with ``method`` (one of ``METHODS``).

    ``baseline`` (``ig``: default ``"zeros"``; ``deepliftshap``: always shuffles, or an array):
    ``"zeros"``, ``"uniform"`` (1/C per channel), ``"shuffle"`` (``n_shuffles`` dinucleotide shuffles
    of each sequence, seeded by ``seed``) or an array (C, *S) / (N, C, *S). ``steps``: integration
    steps of ``ig`` (Gauss-Legendre). ``batch_size`` inputs go through the model at once.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown attribution method {method!r}; choose from {', '.join(METHODS)}")
    dev = resolve_device(device)
    x_all = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    param = next(model.parameters(), None)
    x_all = x_all.to(dev, param.dtype if param is not None else torch.float32)
    if x_all.dim() < 3:
        raise InputError(f"expected inputs (N, C, *S), got shape {tuple(x_all.shape)}")
    if method == "deepliftshap" and baseline is None:
        baseline = "shuffle"
    one_hot = is_one_hot(x_all)
    was_training = model.training
    model.eval().to(dev)
    _check_target(model, x_all[:1], target)
    actual, hyp = [], []
    try:
        for a in progress_bar(range(0, len(x_all), batch_size), enabled=progress, desc=method):
            x = x_all[a:a + batch_size]
            refs = _references(x, baseline or "zeros", n_shuffles, seed + a)
            mult = _multipliers(model, x, refs, method, target, steps)
            act, hy = _combine(x, refs, mult, one_hot)
            actual.append(act.detach().cpu())
            hyp.append(hy.detach().cpu())
    finally:
        model.train(was_training)
    return Attribution(torch.cat(actual).numpy(), torch.cat(hyp).numpy(), method, target)


def _check_target(model: torch.nn.Module, x: torch.Tensor, target: int) -> None:
    with torch.no_grad():
        y = model(x)
    if not isinstance(y, torch.Tensor) or y.dim() != 2:
        raise ConfigError("attributions need a model with (N, T) outputs (wrap profile models, e.g. "
                          "BPNetScalar)")
    if not 0 <= target < y.shape[1]:
        raise ConfigError(f"target {target} out of range for a model with {y.shape[1]} outputs")


def _multipliers(model: torch.nn.Module, x: torch.Tensor, refs: torch.Tensor, method: str, target: int,
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
    if method == "ig":
        ig = ca.IntegratedGradients(model, multiply_by_inputs=False)
        mult = ig.attribute(inputs, baselines=base, target=target, n_steps=steps,
                            internal_batch_size=max(1, n * r))
    else:
        with warnings.catch_warnings():  # Captum announces the hooks it sets on activations
            warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
            deeplift = ca.DeepLift(model, multiply_by_inputs=False)
            mult = deeplift.attribute(inputs, baselines=base, target=target)
    return mult.reshape(n, r, *x.shape[1:])


def saliency(model: torch.nn.Module, X: np.ndarray | torch.Tensor, **kwargs) -> Attribution:
    """Gradients of output ``target``: hypothetical = gradient, actual = gradient x input."""
    return attribute(model, X, "saliency", **kwargs)


def input_x_gradient(model: torch.nn.Module, X: np.ndarray | torch.Tensor, **kwargs) -> Attribution:
    """Input x gradient (the same arrays as ``saliency``; the method name says which to show)."""
    return attribute(model, X, "input_x_grad", **kwargs)


def integrated_gradients(model: torch.nn.Module, X: np.ndarray | torch.Tensor, *, steps: int = 50,
                         baseline: str | np.ndarray | torch.Tensor = "zeros", **kwargs) -> Attribution:
    """Integrated gradients from ``baseline`` in ``steps`` steps, averaged over shuffled references."""
    return attribute(model, X, "ig", steps=steps, baseline=baseline, **kwargs)


def deeplift_shap(model: torch.nn.Module, X: np.ndarray | torch.Tensor, *, n_shuffles: int = 20,
                  **kwargs) -> Attribution:
    """DeepLIFT (rescale rule) averaged over ``n_shuffles`` dinucleotide-shuffled references (DeepSHAP)."""
    return attribute(model, X, "deepliftshap", n_shuffles=n_shuffles, **kwargs)


def methods() -> Sequence[str]:
    """Names accepted by ``attribute``."""
    return METHODS
