"""Where a convolutional model looks, for sequences ``(N, C, L)`` and images ``(N, C, H, W)`` alike.

- ``grad_cam``: Grad-CAM (Selvaraju et al. 2017) on any named layer, upsampled to the input size
  (linear for 1D, bilinear for 2D): ``relu(sum_k alpha_k A_k)`` with ``alpha_k`` the mean gradient
  of the target over channel ``k`` of the layer's output ``A``. Captum's ``LayerGradCam``.
- ``occlusion``: the drop of the target when a sliding window (all channels) is replaced by a
  baseline, averaged over the windows covering each position/pixel (batched forward passes).
- ``first_layer_kernels`` and ``activation_maps``: the first convolution's filters and any layer's
  feature maps (forward hook), e.g. for image models' kernel grids.

Layers are named as in ``model.named_modules()`` (``body.0.conv``); ``layer_names`` lists them and an
unknown name raises ``ConfigError`` with the closest match.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from seqcnn._common import Target, as_model_input, model_device, preserved, resolve_batch_size, task_output
from seqcnn.errors import ConfigError, InputError
from seqcnn.interpret.attribution.gradients import is_one_hot, output_targets
from seqcnn.progress import progress_bar
from seqcnn.seq.windows import window_starts

CONVS = (nn.Conv1d, nn.Conv2d)


def layer_names(model: nn.Module, *, convolutions_only: bool = False) -> list[str]:
    """Names of the model's submodules, as in ``model.named_modules()``.

    Parameters
    ----------
    model
        Any model.
    convolutions_only
        Only ``Conv1d``/``Conv2d`` layers.

    Returns
    -------
    list[str]
        Dotted names (``body.0.conv``), in module order.
    """
    return [name for name, m in model.named_modules()
            if name and (not convolutions_only or isinstance(m, CONVS))]


def get_layer(model: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    """The layer called ``name``.

    Parameters
    ----------
    model
        Any model.
    name
        A name from :func:`layer_names`; None picks the last convolution.

    Returns
    -------
    tuple[str, nn.Module]
        The name and the module.

    Raises
    ------
    ConfigError
        No convolution (for None) or an unknown name (naming the closest one).
    """
    if name is None:
        convs = layer_names(model, convolutions_only=True)
        if not convs:
            raise ConfigError("the model has no convolution layer")
        name = convs[-1]
    modules = dict(model.named_modules())
    if name not in modules or not name:
        names = layer_names(model)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        convs = ", ".join(layer_names(model, convolutions_only=True)[:12])
        raise ConfigError(f"no layer {name!r}{hint}; convolution layers: {convs}")
    return name, modules[name]


def _spatial_input(X: Any, model: nn.Module) -> torch.Tensor:
    x = as_model_input(X, model, model_device(model))
    if x.dim() not in (3, 4):
        raise InputError(f"expected (N, C, L) or (N, C, H, W) inputs, got shape {tuple(x.shape)}")
    return x


def _batches(x: torch.Tensor, batch_size: int, *, progress: bool = False, desc: str = ""
             ) -> Iterator[torch.Tensor]:
    for a in progress_bar(range(0, x.shape[0], batch_size), enabled=progress, desc=desc):
        yield x[a:a + batch_size]


def _finish(maps: torch.Tensor, axis: bool) -> np.ndarray:
    """``(N, *S, T)`` maps as an array, the target axis dropped for a single target."""
    out = maps.numpy()
    return out if axis else out[..., 0]


def grad_cam(model: nn.Module, X: Any, *, layer: str | None = None, target: Target = None, relu: bool = True,
             batch_size: int | None = None, device: str | torch.device | None = None,
             progress: bool = False) -> np.ndarray:
    """Grad-CAM of the outputs ``target`` at ``layer``, upsampled to the input's spatial size.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was (device, mode, ``requires_grad``).
    X
        Inputs ``(N, C, L)`` or ``(N, C, H, W)``, or sequences (strings, a FASTA ``pathlib.Path``).
    layer
        Layer name (:func:`layer_names`); None: the last convolution.
    target
        None (every output, on a last axis), an output index, a task name, or a list of them.
    relu
        Keep only positive evidence (Grad-CAM's ReLU).
    batch_size
        Inputs per pass (None: 64).
    device
        Where to run (None: automatic).
    progress
        Show a progress bar.

    Returns
    -------
    np.ndarray
        ``(N, *S)`` for one target, ``(N, *S, T)`` for None or a list.

    Raises
    ------
    ConfigError
        An unknown layer, a layer without ``(N, C, *S)`` feature maps, or a bad target.
    """
    import captum.attr as ca

    size = resolve_batch_size(batch_size, 64)
    with preserved(model, device) as m:
        x = _spatial_input(X, m)
        indices, axis = output_targets(m, x[:1], target)
        _, module = get_layer(m, layer)
        cam = ca.LayerGradCam(m, module)
        mode = "linear" if x.dim() == 3 else "bilinear"
        maps = []
        for batch in _batches(x, size, progress=progress, desc="Grad-CAM"):
            per_target = []
            for t in indices:
                attr = cam.attribute(batch, target=t, relu_attributions=relu)
                if attr.dim() != x.dim():
                    raise ConfigError(f"layer {layer!r} does not give (N, C, *S) feature maps")
                up = ca.LayerAttribution.interpolate(attr, tuple(x.shape[2:]), interpolate_mode=mode)
                per_target.append(up[:, 0].detach().cpu())
            maps.append(torch.stack(per_target, -1))
    return _finish(torch.cat(maps), axis)


def occlusion(model: nn.Module, X: Any, *, window: int | tuple[int, int] = 10,
              stride: int | tuple[int, int] | None = None, baseline: float | None = None,
              target: Target = None,
              batch_size: int | None = None, device: str | torch.device | None = None,
              progress: bool = False) -> np.ndarray:
    """Mean drop of the outputs ``target`` over the occluded windows covering each position/pixel.

    Windows lie fully inside the input; a last one flush with the end covers what the stride skips.
    (Our own loop, batched: Captum's ``Occlusion`` agrees where the windows tile the input exactly,
    but at a ragged end it averages in a window that is cut off.) Every output comes from the same
    forward passes, so more targets cost nothing extra.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was (device, mode, ``requires_grad``).
    X
        Inputs ``(N, C, L)`` or ``(N, C, H, W)``, or sequences (strings, a FASTA ``pathlib.Path``).
    window, stride
        Positions (1D) or ``(h, w)`` pixels (2D); the stride defaults to half the window.
    baseline
        The fill value (default 0.25 = N for one-hot sequences, 0 for other inputs).
    target
        None (every output, on a last axis), an output index, a task name, or a list of them.
    batch_size
        Occluded copies per forward pass (None: 64).
    device
        Where to run (None: automatic).
    progress
        Show a progress bar.

    Returns
    -------
    np.ndarray
        ``(N, *S)`` for one target, ``(N, *S, T)`` for None or a list.

    Raises
    ------
    ConfigError
        A window or stride that does not fit the inputs, or a bad target.
    """
    size = resolve_batch_size(batch_size, 64)
    with preserved(model, device) as m:
        x = _spatial_input(X, m)
        indices, axis = output_targets(m, x[:1], target)
        regions, count = _regions(x, window, stride)
        fill = (0.25 if is_one_hot(x) else 0.0) if baseline is None else float(baseline)
        maps = [_occlude(m, batch, regions, fill, indices, size) / count[..., None]
                for batch in _batches(x, 16, progress=progress, desc="occlusion")]
    return _finish(torch.cat(maps).cpu(), axis)


def _regions(x: torch.Tensor, window: int | tuple[int, int], stride: int | tuple[int, int] | None
             ) -> tuple[list[tuple[slice, ...]], torch.Tensor]:
    """The occluded regions (slices over ``x.shape[2:]``) and how many cover each position ``(*S)``."""
    spatial = x.dim() - 2
    win = (window,) * spatial if isinstance(window, int) else tuple(window)
    step = tuple(max(1, w // 2) for w in win) if stride is None else (
        (stride,) * spatial if isinstance(stride, int) else tuple(stride))
    if len(win) != spatial or len(step) != spatial or any(w < 1 for w in (*win, *step)):
        raise ConfigError(f"window {window!r} / stride {stride!r} do not fit {spatial}-d inputs")
    if any(w > s for w, s in zip(win, x.shape[2:], strict=True)):
        raise ConfigError(f"occlusion window {win} is larger than the input {tuple(x.shape[2:])}")
    axes = [window_starts(s, w, st) for s, w, st in zip(x.shape[2:], win, step, strict=True)]
    regions = [tuple(slice(c, c + w) for c, w in zip(corner, win, strict=True))
               for corner in np.array(np.meshgrid(*axes, indexing="ij")).reshape(spatial, -1).T.tolist()]
    count = torch.zeros(x.shape[2:], dtype=x.dtype, device=x.device)
    for region in regions:
        count[region] += 1
    return regions, count


def _occlude(model: nn.Module, x: torch.Tensor, regions: list[tuple[slice, ...]], fill: float,
             targets: list[int], batch_size: int) -> torch.Tensor:
    """``(n, *S, T)`` summed drops of the ``targets`` over the occluded ``regions`` covering each position."""
    total = torch.zeros(x.shape[0], *x.shape[2:], len(targets), dtype=x.dtype, device=x.device)
    per = max(1, batch_size // x.shape[0])
    with torch.no_grad():
        base = task_output(model(x))[:, targets]  # (n, T)
        for a in range(0, len(regions), per):
            part = regions[a:a + per]
            copies = x.repeat(len(part), *[1] * (x.dim() - 1))  # (k * n, C, *S), window-major
            for k, region in enumerate(part):
                copies[(slice(k * x.shape[0], (k + 1) * x.shape[0]), slice(None), *region)] = fill
            drop = base.repeat(len(part), 1) - task_output(model(copies))[:, targets]
            for k, region in enumerate(part):
                d = drop[k * x.shape[0]:(k + 1) * x.shape[0]].view(-1, *[1] * (x.dim() - 2), len(targets))
                total[(slice(None), *region)] += d
    return total


def first_layer_kernels(model: nn.Module) -> np.ndarray:
    """Weights of the first ``Conv1d``/``Conv2d`` in ``model.modules()``.

    Parameters
    ----------
    model
        Any model (not moved or changed).

    Returns
    -------
    np.ndarray
        ``(K, C, *kernel)``.

    Raises
    ------
    ConfigError
        The model has no convolution.
    """
    for m in model.modules():
        if isinstance(m, CONVS):
            return m.weight.detach().cpu().numpy()
    raise ConfigError("the model has no convolution layer")


def activation_maps(model: nn.Module, X: Any, layer: str, *, batch_size: int | None = None,
                    device: str | torch.device | None = None, progress: bool = False) -> np.ndarray:
    """Output of ``layer`` for every input (a forward hook).

    Parameters
    ----------
    model
        Any model; given back as it was (device, mode, ``requires_grad``).
    X
        Inputs ``(N, C, L)`` or ``(N, C, H, W)``, or sequences (strings, a FASTA ``pathlib.Path``).
    layer
        Layer name (:func:`layer_names`).
    batch_size
        Inputs per pass (None: 64).
    device
        Where to run (None: automatic).
    progress
        Show a progress bar.

    Returns
    -------
    np.ndarray
        ``(N, C', *S')``: whatever shape the layer gives.

    Raises
    ------
    ConfigError
        An unknown layer.
    """
    size = resolve_batch_size(batch_size, 64)
    captured: list[torch.Tensor] = []

    def hook(_m: nn.Module, _inp: object, out: torch.Tensor) -> None:
        captured.append(out.detach().cpu())

    with preserved(model, device) as m:
        x = _spatial_input(X, m)
        _, module = get_layer(m, layer)
        handle = module.register_forward_hook(hook)
        try:
            with torch.no_grad():
                for batch in _batches(x, size, progress=progress, desc=f"activations of {layer}"):
                    m(batch)
        finally:
            handle.remove()
    return torch.cat(captured).numpy()
