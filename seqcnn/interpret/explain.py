"""One entry point for attribution maps of sequences (FASTA) and images (PNG/JPEG or .npz).

``read_inputs(path, model)`` turns a FASTA file, an image file or a ``.npz`` (array ``x``) into model
inputs; ``explain(model, x, method)`` runs one of ``METHODS`` for the outputs ``target`` names (None:
every output; ``"top"``: the output the model scores highest for each input); ``save_explanation``
writes the arrays (.npz).
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
from torch import nn

from seqcnn._common import (
    Target,
    as_model_input,
    as_onehot,
    is_sequence_list,
    model_device,
    preserved,
    resolve_batch_size,
)
from seqcnn.errors import ConfigError, InputError
from seqcnn.interpret.attribution.gradients import attribute, output_targets
from seqcnn.interpret.cam import grad_cam, occlusion
from seqcnn.io.atomic import atomic_path

GRADIENT_METHODS = ("saliency", "input_x_grad", "ig", "deepliftshap")
METHODS = (*GRADIENT_METHODS, "gradcam", "occlusion")
TOP = "top"
"""The ``target`` of :func:`explain` that picks each input's highest-scoring output."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class Explanation:
    """Maps of ``N`` inputs, one per input and explained output.

    Attributes
    ----------
    ids
        One identifier per input.
    x
        The inputs ``(N, C, *S)``.
    kind
        ``"sequence"`` or ``"image"``.
    method
        One of ``METHODS``.
    targets
        ``(N,)`` output explained for each input (one target, or ``"top"``), or ``(N, T)`` when
        several outputs are explained (target None or a list; the same row for every input).
    map
        ``(N, *S)`` (or ``(N, *S, T)``) one value per position / pixel.
    actual, hypothetical
        ``(N, C, *S)`` (or ``(N, C, *S, T)``) contributions; gradient methods only.
    """

    ids: list[str]
    x: np.ndarray
    kind: str
    method: str
    targets: np.ndarray
    map: np.ndarray
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
    """Model inputs from a FASTA, PNG/JPEG or .npz (array ``x``, optional ``ids``) file.

    Parameters
    ----------
    path
        The file; its suffix tells its kind (anything but an image or ``.npz`` is read as FASTA).
    model
        The model the inputs are for (an image is read with its channels and size).

    Returns
    -------
    tuple[list[str], np.ndarray, str]
        ``ids``, inputs ``(N, C, *S)`` float32, and ``"sequence"`` or ``"image"``.

    Raises
    ------
    InputError
        An unreadable file, no records, or arrays of the wrong shape.
    """
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


def predicted_targets(model: nn.Module, x: Any, *, batch_size: int | None = None,
                      device: str | torch.device | None = None) -> np.ndarray:
    """Index of each input's highest output.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was (device, mode, ``requires_grad``).
    x
        Inputs ``(N, C, *S)`` or sequences.
    batch_size
        Inputs per pass (None: 64).
    device
        Where to run (None: automatic).

    Returns
    -------
    np.ndarray
        ``(N,)`` int64.

    Raises
    ------
    ConfigError
        A model without ``(N, T)`` outputs.
    """
    size = resolve_batch_size(batch_size, 64)
    out = []
    with preserved(model, device) as m, torch.no_grad():
        inputs = as_model_input(x, m, model_device(m))
        for a in range(0, len(inputs), size):
            y = m(inputs[a:a + size])
            if not isinstance(y, torch.Tensor) or y.dim() != 2:
                raise ConfigError("explain needs a model with (N, T) outputs")
            out.append(y.argmax(1).cpu())
    return torch.cat(out).numpy()


def explain(model: nn.Module, x: Any, method: str, *, ids: list[str] | None = None, kind: str = "sequence",
            target: Target | str = None, batch_size: int | None = None,
            device: str | torch.device | None = None, progress: bool = False, **options: Any) -> Explanation:
    """Attribution maps of ``x`` by ``method``.

    Every method yields a ``map`` with one value per position / pixel: the channel sum of the actual
    contributions (sequences), the channel sum of their absolute values (images), or the Grad-CAM /
    occlusion map itself.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was (device, mode, ``requires_grad``).
    x
        Inputs ``(N, C, *S)`` (e.g. from :func:`read_inputs`), or sequences (strings, a FASTA
        ``pathlib.Path``).
    method
        One of ``METHODS``.
    ids
        One identifier per input (default ``0 .. N-1``).
    kind
        ``"sequence"`` or ``"image"``.
    target
        None (every output, on a last axis), an output index, a task name, a list of them, or
        ``"top"``: each input's highest-scoring output.
    batch_size
        Inputs per pass (None: 32).
    device
        Where to run (None: automatic).
    progress
        Show progress bars.
    **options
        For the method: ``layer`` (gradcam), ``window``/``stride``/``baseline`` (occlusion),
        ``steps``/``baseline``/``n_shuffles``/``seed`` (ig, deepliftshap), ``rc`` (the gradient methods;
        None: the model file's ``rc_mode``).

    Returns
    -------
    Explanation
        The maps, with ``targets`` ``(N,)`` for one target or ``"top"``, ``(N, T)`` otherwise.

    Raises
    ------
    ConfigError
        An unknown method, a bad target or batch size.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    size = resolve_batch_size(batch_size, 32)
    arr = as_onehot(x).numpy() if is_sequence_list(x) or isinstance(x, os.PathLike) else np.asarray(x)
    ids = ids if ids is not None else [str(i) for i in range(len(arr))]
    common = {"batch_size": size, "device": device, "progress": progress}
    if isinstance(target, str) and target == TOP:
        targets = predicted_targets(model, arr, batch_size=size, device=device)
        maps = np.zeros((len(arr), *arr.shape[2:]), dtype=np.float32)
        actual = np.zeros_like(arr) if method in GRADIENT_METHODS else None
        hypothetical = np.zeros_like(arr) if actual is not None else None
        for t in np.unique(targets):
            rows = np.flatnonzero(targets == t)
            part = _run(model, arr[rows], method, int(t), kind, options, common)
            maps[rows] = part[0]
            if actual is not None:
                actual[rows], hypothetical[rows] = part[1], part[2]  # type: ignore[index]
        return Explanation(ids, arr, kind, method, targets, maps, actual, hypothetical)
    maps, actual, hypothetical, chosen = _run(model, arr, method, target, kind, options, common)
    targets = np.broadcast_to(np.asarray(chosen, dtype=np.int64), (len(arr), *np.shape(chosen))).copy()
    return Explanation(ids, arr, kind, method, targets, maps, actual, hypothetical)


def _run(model: nn.Module, x: np.ndarray, method: str, target: Target, kind: str, options: dict[str, Any],
         common: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, int | list[int]]:
    """(map, actual, hypothetical, targets) of one call of ``method`` for ``target``."""
    if method in ("gradcam", "occlusion"):
        if method == "gradcam":
            maps = grad_cam(model, x, layer=options.get("layer"), target=target, **common)
        else:
            maps = occlusion(model, x, window=options.get("window", 10), stride=options.get("stride"),
                             baseline=options.get("baseline"), target=target, **common)
        chosen = _chosen(model, x, target)
        return maps.astype(np.float32), None, None, chosen
    keys = ("steps", "baseline", "n_shuffles", "seed", "rc")
    result = attribute(model, x, method, target=target, **common,
                       **{k: options[k] for k in keys if options.get(k) is not None})
    summed = result.actual if kind == "sequence" else np.abs(result.actual)
    return summed.sum(1), result.actual, result.hypothetical, result.target


def _chosen(model: nn.Module, x: np.ndarray, target: Target) -> int | list[int]:
    """The output index (an int or a name) or indices (None, a list) ``target`` names for ``model``."""
    with preserved(model, model_device(model)) as m:
        indices, axis = output_targets(m, as_model_input(x[:1], m, model_device(m)), target)
    return indices if axis else indices[0]


def save_explanation(expl: Explanation, path: str | os.PathLike) -> Path:
    """Write ``expl`` as .npz (atomically).

    Parameters
    ----------
    expl
        The explanation.
    path
        The ``.npz`` file to write.

    Returns
    -------
    Path
        ``path``; it holds ``ids``, ``sequences`` or ``images``, ``targets``, ``map``, ``method`` and,
        for gradient methods, ``actual`` and ``hypothetical``.
    """
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
