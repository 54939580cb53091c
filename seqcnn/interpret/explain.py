"""One entry point for attribution maps of sequences (FASTA) and images (PNG/JPEG or .npz).

``read_inputs(path, model)`` turns a FASTA file, an image file or a ``.npz`` (array ``x``) into model
inputs; ``explain(model, x, method)`` runs one of ``METHODS`` for each input's target (by default the
output the model scores highest for that input); ``save_explanation`` writes the arrays (.npz).
Every method yields a ``map`` with one value per position / pixel: the channel sum of the actual
contributions (sequences), the channel sum of their absolute values (images), or the Grad-CAM /
occlusion map itself.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqcnn.errors import ConfigError, InputError
from seqcnn.interpret.attribution.gradients import attribute
from seqcnn.interpret.cam import grad_cam, occlusion
from seqcnn.io.atomic import atomic_path

METHODS = ("saliency", "input_x_grad", "ig", "deepliftshap", "gradcam", "occlusion")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class Explanation:
    """Maps of N inputs ``x`` (N, C, *S); ``actual``/``hypothetical`` only for gradient methods."""

    ids: list[str]
    x: np.ndarray
    kind: str  # "sequence" or "image"
    method: str
    targets: np.ndarray  # (N,) output column explained for each input
    map: np.ndarray  # (N, *S)
    actual: np.ndarray | None = None
    hypothetical: np.ndarray | None = None


def _image_shape(model: torch.nn.Module) -> tuple[int | None, tuple[int, int] | None]:
    meta = getattr(model, "metadata", None)
    shape = getattr(meta, "input_shape", None)
    if shape and len(shape) == 3:
        return int(shape[0]), (int(shape[1]), int(shape[2]))
    channels = getattr(meta, "model_kwargs", {}).get("in_channels") if meta is not None else None
    return channels, None


def read_inputs(path: str | os.PathLike, model: torch.nn.Module) -> tuple[list[str], np.ndarray, str]:
    """(ids, x (N, C, *S) float32, kind) from a FASTA, PNG/JPEG or .npz file."""
    name = str(path)
    suffix = Path(name).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        from seqcnn.data.images import read_image

        channels, size = _image_shape(model)
        image = read_image(name, channels=channels if channels in (1, 3) else None, size=size)
        return [Path(name).stem], image.numpy()[None], "image"
    if suffix == ".npz":
        x, ids = _read_npz(name)
        if x.dtype == np.uint8:
            x = x / 255.0
        if x.ndim == 3 and _dims(model) == 2:
            x = x[:, None]
        if x.ndim not in (3, 4) or len(ids) != len(x):
            raise InputError(f"x must be (N, C, L) or (N, C, H, W) with one id each, got {x.shape}",
                             file=name)
        return ids, x.astype(np.float32), "image" if x.ndim == 4 else "sequence"
    from seqcnn.seq.encode import one_hot
    from seqcnn.seq.fasta import read_fasta

    records = list(read_fasta(name))
    if not records:
        raise InputError("no FASTA records", file=name)
    ids = [r[0] for r in records]
    return ids, one_hot([r[1] for r in records], ids=ids, file=name), "sequence"


def _read_npz(name: str) -> tuple[np.ndarray, list[str]]:
    """Array ``x`` (and ``ids`` when present) of a .npz, never unpickled; InputError naming the file."""
    try:
        with np.load(name, allow_pickle=False) as npz:
            if "x" not in npz.files:
                raise InputError(f"npz lacks array x (found: {', '.join(npz.files) or 'none'})", file=name)
            x = np.asarray(npz["x"])
            ids = [str(i) for i in npz["ids"]] if "ids" in npz.files else [str(i) for i in range(len(x))]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"not a readable .npz ({type(exc).__name__}: {exc})", file=name) from exc
    if not np.issubdtype(x.dtype, np.number) or x.ndim == 0:
        raise InputError(f"x must be a numeric array, got {x.dtype} of shape {x.shape}", file=name)
    return x, ids


def _dims(model: torch.nn.Module) -> int:
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))]
    return 2 if convs and isinstance(convs[0], torch.nn.Conv2d) else 1


def predicted_targets(model: torch.nn.Module, x: np.ndarray, batch_size: int = 64,
                      device: str | torch.device | None = None) -> np.ndarray:
    """(N,) index of each input's highest output."""
    from seqcnn.device import resolve_device

    dev = resolve_device(device)
    model.eval().to(dev)
    param = next(model.parameters())
    out = []
    with torch.no_grad():
        for a in range(0, len(x), batch_size):
            y = model(torch.as_tensor(x[a:a + batch_size], dtype=param.dtype, device=dev))
            if not isinstance(y, torch.Tensor) or y.dim() != 2:
                raise ConfigError("explain needs a model with (N, T) outputs")
            out.append(y.argmax(1).cpu())
    return torch.cat(out).numpy()


def explain(model: torch.nn.Module, x: np.ndarray, method: str, *, ids: list[str] | None = None,
            kind: str = "sequence", target: int | None = None, **options: Any) -> Explanation:
    """Attribution maps of ``x`` (N, C, *S) by ``method``; ``target=None`` explains each input's top output.

    ``options`` go to the method: ``layer`` (gradcam), ``window``/``stride``/``baseline`` (occlusion),
    ``steps``/``baseline``/``n_shuffles``/``seed`` (ig, deepliftshap), and ``batch_size``/``device``.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    ids = ids if ids is not None else [str(i) for i in range(len(x))]
    device, batch_size = options.pop("device", None), options.pop("batch_size", 32)
    targets = (predicted_targets(model, x, batch_size, device) if target is None
               else np.full(len(x), target, dtype=np.int64))
    maps = np.zeros((len(x), *x.shape[2:]), dtype=np.float32)
    actual = np.zeros_like(x) if method not in ("gradcam", "occlusion") else None
    hypothetical = np.zeros_like(x) if actual is not None else None
    for t in np.unique(targets):
        rows = np.flatnonzero(targets == t)
        part = x[rows]
        if method == "gradcam":
            maps[rows] = grad_cam(model, part, layer=options.get("layer"), target=int(t), device=device,
                                  batch_size=batch_size)
        elif method == "occlusion":
            maps[rows] = occlusion(model, part, window=options.get("window", 10),
                                   stride=options.get("stride"), baseline=options.get("baseline"),
                                   target=int(t), device=device, batch_size=batch_size)
        else:
            keys = ("steps", "baseline", "n_shuffles", "seed")
            result = attribute(model, part, method, target=int(t), device=device, batch_size=batch_size,
                               **{k: options[k] for k in keys if options.get(k) is not None})
            actual[rows], hypothetical[rows] = result.actual, result.hypothetical  # type: ignore[index]
            summed = result.actual if kind == "sequence" else np.abs(result.actual)
            maps[rows] = summed.sum(1)
    return Explanation(ids, x, kind, method, targets, maps, actual, hypothetical)


def save_explanation(expl: Explanation, path: str | os.PathLike) -> Path:
    """Write ``expl`` as .npz: ids, x, targets, map, and actual/hypothetical for gradient methods."""
    out = Path(path)
    arrays: dict[str, np.ndarray] = {"ids": np.array(expl.ids), "targets": expl.targets,
                                     "map": expl.map, "method": np.array(expl.method)}
    arrays["sequences" if expl.kind == "sequence" else "images"] = expl.x.astype(np.float32)
    if expl.actual is not None:
        arrays["actual"] = expl.actual.astype(np.float32)
        arrays["hypothetical"] = expl.hypothetical.astype(np.float32)  # type: ignore[union-attr]
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    return out
