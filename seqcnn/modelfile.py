"""One ``model.safetensors`` per trained model: weights plus JSON metadata, never pickle.

Loading rebuilds the architecture through the registry from the metadata, first on the
``meta`` device so that tampered sizes are caught before any memory is allocated.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from seqcnn._version import __version__
from seqcnn.device import resolve_device
from seqcnn.errors import ConfigError, ModelFileError
from seqcnn.io.atomic import atomic_path
from seqcnn.models.registry import build_model

FORMAT_VERSION = 1
TASK_TYPES = ("binary", "multiclass", "regression", "profile", "segmentation", "reconstruction")
RC_MODES = ("mean", "max", "none")
_MAX_METADATA_CHARS = 1_000_000


@dataclass
class ModelMetadata:
    """Everything needed to rebuild and use a model; stored as strings in the safetensors header.

    Attributes
    ----------
    architecture : str
        Registered model name (``seqcnn models``).
    model_kwargs : dict
        Keyword arguments of the model builder.
    tasks : list of str
        Output names, one per output column.
    task_type : str
        ``binary``, ``multiclass``, ``regression``, ``profile``, ``segmentation`` or
        ``reconstruction``; decides the output transform (sigmoid for binary, softmax for
        multiclass, none otherwise).
    alphabet : str
        ``dna`` or ``rna``.
    input_length : int or None
        Fixed input length, or None for models that take any length.
    input_shape : list of int or None
        Input shape without the batch axis (``[4, L]`` or ``[C, H, W]``).
    rc_mode : str
        How both strands are combined by default: ``mean``, ``max`` or ``none``.
    training : dict
        Training summary (epochs, best epoch, monitored metric, test metrics, ...).
    source : dict
        Where published weights came from (imported models: name, reference, package, version,
        licence, files with their sha256); empty for models trained here.
    seqcnn_version : str
        Version that wrote the file.
    format_version : int
        Version of the file format.
    """

    architecture: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)
    task_type: str = "binary"
    alphabet: str = "dna"
    input_length: int | None = None
    input_shape: list[int] | None = None
    rc_mode: str = "none"
    training: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    seqcnn_version: str = __version__
    format_version: int = FORMAT_VERSION

    def to_header(self) -> dict[str, str]:
        """Encode every field as a string (JSON for non-strings), as safetensors requires."""
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in asdict(self).items()}

    @classmethod
    def from_header(cls, header: dict[str, str], file: str) -> ModelMetadata:
        """Decode and validate a safetensors header; ``ModelFileError`` on anything odd."""
        if header.get("format_version") is None or "architecture" not in header:
            raise ModelFileError("not a seqcnn model file (no seqcnn metadata)", file=file)
        values: dict[str, Any] = {}
        text_fields = {"architecture", "task_type", "alphabet", "rc_mode", "seqcnn_version"}
        for f in fields(cls):
            if f.name not in header:
                continue
            raw = header[f.name]
            if len(raw) > _MAX_METADATA_CHARS:
                raise ModelFileError(f"metadata field {f.name!r} is oversized", file=file)
            try:
                values[f.name] = raw if f.name in text_fields else json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ModelFileError(f"metadata field {f.name!r} is not valid JSON", file=file) from exc
        meta = cls(**values)
        meta.validate(file)
        return meta

    def validate(self, file: str) -> None:
        """Check types and enumerations of the decoded fields."""
        checks = [
            (isinstance(self.model_kwargs, dict), "model_kwargs must be a JSON object"),
            (isinstance(self.source, dict), "source must be a JSON object"),
            (isinstance(self.tasks, list) and all(isinstance(t, str) for t in self.tasks),
             "tasks must be a list of names"),
            (self.task_type in TASK_TYPES, f"unknown task_type {self.task_type!r}"),
            (self.rc_mode in RC_MODES, f"unknown rc_mode {self.rc_mode!r}"),
            (self.input_length is None or (isinstance(self.input_length, int) and self.input_length > 0),
             f"bad input_length {self.input_length!r}"),
            (isinstance(self.format_version, int) and self.format_version <= FORMAT_VERSION,
             f"unsupported format_version {self.format_version!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ModelFileError(message, file=file)


def save_model(model: nn.Module, path: str | os.PathLike, metadata: ModelMetadata) -> Path:
    """Write a model's weights and metadata to one ``.safetensors`` file, atomically.

    Parameters
    ----------
    model
        The model; its state dict is saved (on the CPU; the model itself is not moved).
    path
        The output file.
    metadata
        What :func:`load_model` needs to rebuild the model.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata.to_header())
    return Path(path)


def read_metadata(path: str | os.PathLike) -> ModelMetadata:
    """Read only the metadata of a model file (no weights).

    Parameters
    ----------
    path
        A ``model.safetensors`` file.

    Returns
    -------
    ModelMetadata
        The decoded and validated metadata.

    Raises
    ------
    ModelFileError
        A missing or unreadable file, or metadata that is not seqcnn's.
    """
    header, _ = _read_header(path)
    return ModelMetadata.from_header(header, str(path))


def _read_header(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    file = str(path)
    if not Path(file).is_file():
        raise ModelFileError("model file not found", file=file)
    try:
        with safe_open(file, framework="pt") as handle:
            header = handle.metadata() or {}
            shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}
    except Exception as exc:  # safetensors raises several kinds for truncated or foreign files
        raise ModelFileError(f"not a readable safetensors file ({type(exc).__name__})", file=file) from exc
    return header, shapes


def _check_shapes(model: nn.Module, shapes: dict[str, tuple[int, ...]], file: str) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(shapes))
    extra = sorted(set(shapes) - set(expected))
    if missing or extra:
        raise ModelFileError(f"weights do not fit the architecture: missing {missing[:3]}, extra {extra[:3]}",
                             file=file)
    for name, shape in expected.items():
        if shapes[name] != shape:
            raise ModelFileError(f"tensor {name!r} has shape {shapes[name]}, architecture expects {shape}",
                                 file=file)


def load_model(path: str | os.PathLike, *, device: str | torch.device | None = None) -> nn.Module:
    """Rebuild a model from its file, in eval mode, with ``model.metadata`` attached.

    The file is read without unpickling: the architecture and its keyword arguments come from the
    metadata, the weights from the safetensors tensors (names and shapes checked first).

    Parameters
    ----------
    path
        A ``model.safetensors`` file written by :func:`save_model` (or ``seqcnn train``).
    device
        Where to put the model: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, or None for
        automatic (CUDA, then MPS, then the CPU).

    Returns
    -------
    torch.nn.Module
        The model in eval mode; ``model.metadata`` is its :class:`ModelMetadata`.

    Raises
    ------
    ModelFileError
        A missing or unreadable file, metadata of the wrong format version, an unknown
        architecture, or tensors that do not fit it.
    """
    file = str(path)
    header, shapes = _read_header(file)
    meta = ModelMetadata.from_header(header, file)
    try:
        with torch.device("meta"):
            skeleton = build_model(meta.architecture, **meta.model_kwargs)
    except ConfigError as exc:
        raise ModelFileError(f"cannot rebuild architecture: {exc.message}", file=file) from exc
    _check_shapes(skeleton, shapes, file)
    model = build_model(meta.architecture, **meta.model_kwargs)
    try:
        with safe_open(file, framework="pt", device="cpu") as handle:
            state = {k: handle.get_tensor(k) for k in handle.keys()}
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        raise ModelFileError(f"cannot load weights ({type(exc).__name__}: {exc})", file=file) from exc
    model.metadata = meta
    model.eval()
    return model.to(resolve_device(device))
