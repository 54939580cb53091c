"""Export a model to ONNX or TorchScript with its metadata inside the file.

ONNX: the model file's metadata (architecture, tasks, task type, alphabet, input length, rc mode, ...)
goes into ``metadata_props`` as strings (JSON for non-strings) plus ``seqcnn_output = "logits"``.
TorchScript: the same mapping as ``seqcnn_metadata.json`` in ``_extra_files``. Both take float
one-hot input ``(N, 4, L)`` (``input``) and give the model's raw outputs ``(N, T)`` (``output``); the
batch axis is dynamic, and so is the length for models that take any length.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqcnn._common import preserved
from seqcnn.errors import ConfigError
from seqcnn.io.atomic import atomic_path

FORMATS = ("onnx", "torchscript")
METADATA_FILE = "seqcnn_metadata.json"


def export_metadata(model: nn.Module) -> dict[str, str]:
    """The model file's metadata as a flat string mapping (what travels in the exported file).

    Parameters
    ----------
    model
        A model, usually from :func:`seqcnn.modelfile.load_model` (``model.metadata``).

    Returns
    -------
    dict[str, str]
        The metadata header (JSON for non-strings) plus ``seqcnn_output = "logits"``.
    """
    meta = getattr(model, "metadata", None)
    header = meta.to_header() if meta is not None else {}
    header["seqcnn_output"] = "logits"
    return header


def example_input(model: nn.Module, length: int | None = None) -> torch.Tensor:
    """A random one-hot example input for tracing.

    Parameters
    ----------
    model
        The model; its ``input_length`` (or its metadata's) fixes the length when it has one.
    length
        Length for models that take any length (default 1000, at least the receptive field).

    Returns
    -------
    torch.Tensor
        ``(2, 4, L)`` float one-hot, seeded (the same every call).
    """
    meta = getattr(model, "metadata", None)
    fixed = getattr(model, "input_length", None) or (meta.input_length if meta is not None else None)
    size = fixed or max(length or 1000, int(getattr(model, "receptive_field", 1) or 1))
    generator = torch.Generator().manual_seed(0)
    bases = torch.randint(0, 4, (2, size), generator=generator)
    return torch.nn.functional.one_hot(bases, 4).permute(0, 2, 1).float()


def export_format(path: str | os.PathLike) -> str:
    """The export format an output name asks for: ``.onnx`` is ONNX, ``.pt`` and ``.ts`` TorchScript.

    Parameters
    ----------
    path
        The output file name.

    Returns
    -------
    str
        ``"onnx"`` or ``"torchscript"``.

    Raises
    ------
    ConfigError
        Any other extension.
    """
    lower = str(path).lower()
    if lower.endswith(".onnx"):
        return "onnx"
    if lower.endswith((".pt", ".ts")):
        return "torchscript"
    raise ConfigError(f"cannot tell the export format from {str(path)!r}: give the format "
                      "(onnx or torchscript) or an .onnx/.pt output name")


def export_model(model: nn.Module, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write ``model`` to ``path`` as ONNX or TorchScript, atomically, with its metadata inside.

    The model is traced on the CPU in eval mode and given back as it was (device, train/eval mode,
    ``requires_grad``); it is not copied.

    Parameters
    ----------
    model
        The model to export; it takes float one-hot input ``(N, 4, L)``.
    path
        The output file.
    fmt
        ``"onnx"`` or ``"torchscript"``; None: from the extension of ``path`` (see :func:`export_format`).

    Returns
    -------
    pathlib.Path
        ``path``. The exported model takes ``input`` ``(N, 4, L)`` (dynamic batch axis; dynamic
        length for models that take any length) and returns raw outputs ``output`` ``(N, T)``.

    Raises
    ------
    ConfigError
        An unknown format.
    """
    fmt = export_format(path) if fmt is None else fmt
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r} (use onnx or torchscript)")
    with preserved(model, "cpu") as cpu_model:
        x = example_input(cpu_model)
        dynamic_length = getattr(cpu_model, "input_length", None) is None
        with atomic_path(path) as tmp:
            if fmt == "onnx":
                _export_onnx(cpu_model, x, tmp, export_metadata(cpu_model), dynamic_length)
            else:
                _export_torchscript(cpu_model, x, tmp, export_metadata(cpu_model))
    return Path(path)


def _export_onnx(model: nn.Module, x: torch.Tensor, path: Path, metadata: dict[str, str],
                 dynamic_length: bool) -> None:
    import onnx

    axes: dict[str, Any] = {"input": {0: "batch"}, "output": {0: "batch"}}
    if dynamic_length:
        axes["input"][2] = "length"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter warns that it is legacy
        torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["output"],
                          dynamic_axes=axes, dynamo=False)
    proto = onnx.load(str(path))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def _export_torchscript(model: nn.Module, x: torch.Tensor, path: Path, metadata: dict[str, str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export, still supported
        traced = torch.jit.trace(model, x, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={METADATA_FILE: json.dumps(metadata)})


def read_export_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata stored in an exported file.

    Parameters
    ----------
    path
        An ``.onnx`` file, or a TorchScript file written by :func:`export_model`.

    Returns
    -------
    dict[str, str]
        What :func:`export_metadata` gave at export time.
    """
    name = str(path)
    if name.endswith(".onnx"):
        import onnx

        proto = onnx.load(name, load_external_data=False)
        return {p.key: p.value for p in proto.metadata_props}
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.load(name, _extra_files=extra)
    return json.loads(extra[METADATA_FILE])
