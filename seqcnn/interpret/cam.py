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

import numpy as np
import torch
from torch import nn

from seqcnn.device import resolve_device
from seqcnn.errors import ConfigError, InputError
from seqcnn.interpret.attribution.gradients import is_one_hot

CONVS = (nn.Conv1d, nn.Conv2d)


def layer_names(model: nn.Module, *, convolutions_only: bool = False) -> list[str]:
    """Names of the model's submodules (only ``Conv1d``/``Conv2d`` ones if asked)."""
    return [name for name, m in model.named_modules()
            if name and (not convolutions_only or isinstance(m, CONVS))]


def get_layer(model: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    """(name, module) of layer ``name``; ``None`` picks the last convolution."""
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


def _prepare(model: nn.Module, X: np.ndarray | torch.Tensor, device: str | torch.device | None
             ) -> tuple[torch.Tensor, torch.device]:
    dev = resolve_device(device)
    x = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    if x.dim() not in (3, 4):
        raise InputError(f"expected (N, C, L) or (N, C, H, W) inputs, got shape {tuple(x.shape)}")
    param = next(model.parameters(), None)
    model.eval().to(dev)
    return x.to(dev, param.dtype if param is not None else torch.float32), dev


def _batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for a in range(0, x.shape[0], batch_size):
        yield x[a:a + batch_size]


def grad_cam(model: nn.Module, X: np.ndarray | torch.Tensor, *, layer: str | None = None, target: int = 0,
             relu: bool = True, batch_size: int = 64, device: str | torch.device | None = None) -> np.ndarray:
    """(N, *S) Grad-CAM of output ``target`` at ``layer``, upsampled to the input's spatial size."""
    import captum.attr as ca

    x, _ = _prepare(model, X, device)
    _, module = get_layer(model, layer)
    cam = ca.LayerGradCam(model, module)
    mode = "linear" if x.dim() == 3 else "bilinear"
    maps = []
    for batch in _batches(x, batch_size):
        attr = cam.attribute(batch, target=target, relu_attributions=relu)
        if attr.dim() != x.dim():
            raise ConfigError(f"layer {layer!r} does not give (N, C, *S) feature maps")
        up = ca.LayerAttribution.interpolate(attr, tuple(x.shape[2:]), interpolate_mode=mode)
        maps.append(up[:, 0].detach().cpu())
    return torch.cat(maps).numpy()


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Window starts along one axis: every ``stride``, plus one flush with the end so all is covered."""
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] + window < size:
        starts.append(size - window)
    return starts


def occlusion(model: nn.Module, X: np.ndarray | torch.Tensor, *, window: int | tuple[int, int] = 10,
              stride: int | tuple[int, int] | None = None, baseline: float | None = None, target: int = 0,
              batch_size: int = 64, device: str | torch.device | None = None) -> np.ndarray:
    """(N, *S) mean drop of output ``target`` over the occluded windows covering each position/pixel.

    ``window``/``stride``: positions (1D) or ``(h, w)`` pixels (2D); stride defaults to half the window.
    ``baseline``: the fill value (0.25 = N for one-hot sequences, 0 for images by default).
    Windows lie fully inside the input; a last one flush with the end covers what the stride skips.
    (Our own loop, batched: Captum's ``Occlusion`` agrees where the windows tile the input exactly,
    but at a ragged end it averages in a window that is cut off.)
    """
    x, _ = _prepare(model, X, device)
    spatial = x.dim() - 2
    win = (window,) * spatial if isinstance(window, int) else tuple(window)
    step = tuple(max(1, w // 2) for w in win) if stride is None else (
        (stride,) * spatial if isinstance(stride, int) else tuple(stride))
    if len(win) != spatial or len(step) != spatial or any(w < 1 for w in (*win, *step)):
        raise ConfigError(f"window {window!r} / stride {stride!r} do not fit {spatial}-d inputs")
    if any(w > s for w, s in zip(win, x.shape[2:], strict=True)):
        raise ConfigError(f"occlusion window {win} is larger than the input {tuple(x.shape[2:])}")
    fill = (0.25 if is_one_hot(x) else 0.0) if baseline is None else float(baseline)
    axes = [window_starts(s, w, st) for s, w, st in zip(x.shape[2:], win, step, strict=True)]
    regions = [tuple(slice(c, c + w) for c, w in zip(corner, win, strict=True))
               for corner in np.array(np.meshgrid(*axes, indexing="ij")).reshape(spatial, -1).T.tolist()]
    count = torch.zeros(x.shape[2:], dtype=x.dtype, device=x.device)
    for region in regions:
        count[region] += 1
    maps = [_occlude(model, batch, regions, fill, target, batch_size) / count for batch in _batches(x, 16)]
    return torch.cat(maps).cpu().numpy()


def _occlude(model: nn.Module, x: torch.Tensor, regions: list[tuple[slice, ...]], fill: float, target: int,
             batch_size: int) -> torch.Tensor:
    """(n, *S) summed drops of ``target`` over the occluded ``regions`` covering each position."""
    total = torch.zeros(x.shape[0], *x.shape[2:], dtype=x.dtype, device=x.device)
    per = max(1, batch_size // x.shape[0])
    with torch.no_grad():
        base = model(x)[:, target]
        for a in range(0, len(regions), per):
            part = regions[a:a + per]
            copies = x.repeat(len(part), *[1] * (x.dim() - 1))  # (k * n, C, *S), window-major
            for k, region in enumerate(part):
                copies[(slice(k * x.shape[0], (k + 1) * x.shape[0]), slice(None), *region)] = fill
            drop = base.repeat(len(part)) - model(copies)[:, target]
            for k, region in enumerate(part):
                d = drop[k * x.shape[0]:(k + 1) * x.shape[0]].view(-1, *[1] * (x.dim() - 2))
                total[(slice(None), *region)] += d
    return total


def first_layer_kernels(model: nn.Module) -> np.ndarray:
    """Weights of the first ``Conv1d``/``Conv2d`` in ``model.modules()``: (K, C, *kernel)."""
    for m in model.modules():
        if isinstance(m, CONVS):
            return m.weight.detach().cpu().numpy()
    raise ConfigError("the model has no convolution layer")


def activation_maps(model: nn.Module, X: np.ndarray | torch.Tensor, layer: str, *, batch_size: int = 64,
                    device: str | torch.device | None = None) -> np.ndarray:
    """Output of ``layer`` for every input: (N, C, *S) (whatever shape the layer gives)."""
    x, _ = _prepare(model, X, device)
    _, module = get_layer(model, layer)
    captured: list[torch.Tensor] = []

    def hook(_m: nn.Module, _inp: object, out: torch.Tensor) -> None:
        captured.append(out.detach().cpu())

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            for batch in _batches(x, batch_size):
                model(batch)
    finally:
        handle.remove()
    return torch.cat(captured).numpy()
