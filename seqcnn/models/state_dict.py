"""PyTorch state dicts into seqcnn models (``torch.load(weights_only=True)`` or safetensors, never
unpickled), and :class:`ImportedModel`, what every import gives back (see :mod:`seqcnn.models.convert` for
Keras HDF5 files).

Functions::

    read_state_dict(path) -> dict[str, Tensor]        # .safetensors, or a torch.save'd state dict
    load_weights(model, state, *, file=None)          # strict: names and shapes, errors name both
    import_state_dict(path, architecture, model_kwargs, ...) -> ImportedModel
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqcnn.errors import InputError
from seqcnn.models.registry import build_model


@dataclass
class ImportedModel:
    """A converted model and what its model file should say about it.

    Attributes
    ----------
    model
        The model, in eval mode.
    architecture, model_kwargs
        Registered name and builder arguments (``build_model(architecture, **model_kwargs)``).
    tasks, task_type
        Output names and the output transform (``multiclass``: softmax over dim 1).
    source
        Where the weights came from: name, reference, url, package, version, licence, files (name and
        sha256 of each).
    """

    model: nn.Module
    architecture: str
    model_kwargs: dict[str, Any]
    tasks: list[str]
    task_type: str
    source: dict[str, Any] = field(default_factory=dict)

    def metadata_fields(self) -> dict[str, Any]:
        """Keyword arguments of ``seqcnn.modelfile.ModelMetadata`` for this model."""
        return {"architecture": self.architecture, "model_kwargs": self.model_kwargs, "tasks": self.tasks,
                "task_type": self.task_type, "rc_mode": "none", "source": self.source,
                "training": {"imported": True}}


def file_sha256(item: str | Path | tuple[str, bytes]) -> str:
    """sha256 hex digest of a file, or of a ``(name, bytes)`` pair's bytes (a member read from a wheel)."""
    data = item[1] if isinstance(item, tuple) else Path(item).read_bytes()
    return hashlib.sha256(data).hexdigest()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a ``torch.save``'d state dict, without unpickling.

    Parameters
    ----------
    path
        The file. A checkpoint dict holding the state dict under ``state_dict`` or
        ``model_state_dict`` works too; a ``module.`` prefix (DataParallel) is dropped.

    Returns
    -------
    dict[str, torch.Tensor]
        Parameter and buffer names to tensors (on the CPU).

    Raises
    ------
    InputError
        A missing or unreadable file, or one that holds no state dict.
    """
    file = str(path)
    if not Path(file).is_file():
        raise InputError("no such file", file=file)
    try:
        if file.endswith(".safetensors"):
            from safetensors.torch import load_file

            state: Any = load_file(file, device="cpu")
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)  # never unpickles code
    except Exception as exc:  # torch and safetensors raise several kinds for foreign or truncated files
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise InputError(f"not a readable state dict ({reason})", file=file) from None
    for key in ("state_dict", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError("the file holds no state dict (a mapping of names to tensors)", file=file)
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], *, file: str | None = None) -> nn.Module:
    """Copy ``state`` into ``model`` after checking every name and shape.

    Parameters
    ----------
    model
        The model (changed in place).
    state
        Names to tensors, as ``model.state_dict()`` names them.
    file
        The file ``state`` came from, named in errors.

    Returns
    -------
    torch.nn.Module
        ``model``.

    Raises
    ------
    InputError
        A missing or unexpected tensor (naming it) or a shape that does not fit (naming both shapes).
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        raise InputError(f"weights do not fit the architecture: missing {missing[:3]}, "
                         f"unexpected {extra[:3]}", file=file)
    for name, value in state.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise InputError(f"tensor {name!r} has shape {tuple(value.shape)}, the architecture expects "
                             f"{tuple(expected[name].shape)}", file=file)
    model.load_state_dict(state, strict=False)
    return model


def import_state_dict(path: str | Path, architecture: str, model_kwargs: dict[str, Any] | None = None, *,
                      tasks: list[str] | None = None, task_type: str = "regression") -> ImportedModel:
    """A registered architecture with the weights of a PyTorch state dict file.

    Parameters
    ----------
    path
        A ``.safetensors`` file or a ``torch.save``'d state dict (:func:`read_state_dict`).
    architecture, model_kwargs
        The registered model and its builder arguments, which the weights must fit.
    tasks, task_type
        Output names (default ``task_0 ...`` from the output count is left to the reader) and the
        output transform.

    Returns
    -------
    ImportedModel
        The model in eval mode; ``source`` names the file and its sha256.

    Raises
    ------
    ConfigError
        An unknown architecture or argument.
    InputError
        An unreadable file or weights that do not fit (see :func:`load_weights`).
    """
    kwargs = dict(model_kwargs or {})
    model = load_weights(build_model(architecture, **kwargs), read_state_dict(path), file=str(path))
    source = {"files": [{"name": Path(path).name, "sha256": file_sha256(Path(path))}]}
    return ImportedModel(model.eval(), architecture, kwargs, list(tasks or []), task_type, source)
