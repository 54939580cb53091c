"""The conventions every public function shares, written once.

Every library entry point that takes a model and inputs goes through these helpers, so that one word
means one thing everywhere (``shared/DESIGN.md``):

- :func:`as_onehot` / :func:`as_tensor`: the one input converter. A string is one sequence, a list of
  strings is a batch, an array or tensor is used as given; a file is read only when it is given as a
  path object (``pathlib.Path``), never because a string happens to name an existing file.
- :func:`preserved`: the context manager that hands a library call the model on the wanted device in
  eval mode and gives it back to the caller as it was (device, train/eval mode of every submodule,
  ``requires_grad`` of every parameter).
- :func:`task_output`: a model's ``(N, T)`` outputs (profile models: their ``counts`` head).
- :func:`transform_outputs`: probabilities for binary (sigmoid) and multiclass (softmax) models.
- :func:`task_names`, :func:`resolve_targets`: output names and the ``target`` argument (None = all
  outputs; an int, a task name, or a list of them).
- :func:`resolve_rc`: the ``rc`` argument (None = the model file's ``rc_mode``).
- :func:`resolve_batch_size`: the ``batch_size`` argument (None = automatic).
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from seqcnn.device import resolve_device
from seqcnn.errors import ConfigError, InputError

Target = int | str | Sequence[int | str] | None
"""The ``target`` argument: None (all outputs), an output index, a task name, or a list of them."""

RC_MODES = ("mean", "max", "none")
"""Values of ``rc``: combine both strands by their mean or maximum, or score the given strand only."""


# -- inputs ------------------------------------------------------------------------------------
def is_sequence_list(inputs: Any) -> bool:
    """True for a string or a non-empty list/tuple of strings."""
    if isinstance(inputs, str):
        return True
    return isinstance(inputs, (list, tuple)) and bool(inputs) and all(isinstance(s, str) for s in inputs)


def as_onehot(
    inputs: Any,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device | None = "cpu",
) -> torch.Tensor:
    """Convert sequences to a float one-hot batch.

    Parameters
    ----------
    inputs
        One sequence (``str``), a list of equal-length sequences, a FASTA file given as a path
        object (``pathlib.Path``; a plain string is always a sequence), or a one-hot array or
        tensor ``(N, A, L)`` or ``(A, L)``.
    dtype
        Floating dtype of the result.
    device
        Device of the result (``None``: automatic).

    Returns
    -------
    torch.Tensor
        ``(N, A, L)``; A = 4 for DNA/RNA (IUPAC codes fractional, N = 0.25 each).

    Raises
    ------
    InputError
        Invalid letters (naming the record and position), unequal lengths, a missing file ("no
        such file", naming it; also for a string that looks like a file name), or an array of the
        wrong shape.
    """
    if isinstance(inputs, os.PathLike):
        inputs = _read_fasta_path(inputs)
    if is_sequence_list(inputs):
        from seqcnn.seq.encode import one_hot

        seqs = [inputs] if isinstance(inputs, str) else list(inputs)
        try:
            x = torch.from_numpy(one_hot(seqs))
        except InputError:
            for seq in seqs:  # only on failure: a file name given as a string says so
                check_not_path(seq)
            raise
    else:
        x = as_tensor(inputs)
        if x.dim() == 2:
            x = x[None]
        if x.dim() != 3:
            shape = tuple(x.shape)
            raise InputError(f"sequences must be strings or a one-hot array (N, A, L), got shape {shape}")
    if x.shape[0] == 0:
        raise InputError("no sequences given")
    return x.to(device=resolve_device(device), dtype=dtype)


def as_tensor(inputs: Any) -> torch.Tensor:
    """An array, tensor or nested list as a tensor (no copy where possible); other types are an
    :class:`InputError` naming the type."""
    if isinstance(inputs, torch.Tensor):
        return inputs.detach()
    if isinstance(inputs, str):
        raise InputError("expected an array, got a string (sequences go through as_onehot)")
    try:
        array = np.asarray(inputs)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cannot use {type(inputs).__name__} as model input: {exc}") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputError(f"cannot use {type(inputs).__name__} of {array.dtype} as model input")
    return torch.from_numpy(np.ascontiguousarray(array))


def _read_fasta_path(path: os.PathLike) -> list[str]:
    from seqcnn.seq.fasta import read_fasta

    if not os.path.exists(path):
        raise InputError("no such file", file=os.fspath(path))
    return [seq for _, seq in read_fasta(path)]


_FILE_SUFFIXES = (".fa", ".fasta", ".fna", ".fas", ".ffn", ".seq", ".txt")


def looks_like_path(seq: str) -> bool:
    """True for a string that reads as a file name rather than a sequence.

    Parameters
    ----------
    seq
        A string given where a sequence is expected.

    Returns
    -------
    bool
        It holds a path separator (``/`` or ``\\``, never in a sequence) or ends in a FASTA or
        text file extension (optionally ``.gz``).
    """
    lower = seq.strip().lower().removesuffix(".gz")
    return "/" in seq or "\\" in seq or lower.endswith(_FILE_SUFFIXES)


def check_not_path(seq: str) -> None:
    """Raise a clear error for a file name given as a string where a sequence is expected.

    A string is always a sequence (files are read only from path objects), so a FASTA file name
    passed as ``str`` would otherwise fail as ``invalid character '/'``.

    Parameters
    ----------
    seq
        A string given where a sequence is expected.

    Raises
    ------
    InputError
        ``seq`` looks like a file name (:func:`looks_like_path`): "no such file" when it does not
        exist, else a hint to pass it as ``pathlib.Path``; the error names the file.
    """
    if not isinstance(seq, str) or not looks_like_path(seq):
        return
    name = seq.strip()
    if not os.path.exists(name):
        raise InputError("no such file (a string is read as a sequence; give a FASTA file as "
                         "pathlib.Path)", file=name)
    raise InputError("a file name given as a string, which is read as a sequence: give a FASTA file "
                     f"as pathlib.Path({name!r})", file=name)


def as_model_input(inputs: Any, model: nn.Module, device: torch.device) -> torch.Tensor:
    """Sequences (strings, a FASTA path object, one-hot arrays) or images as a batch for ``model``.

    Parameters
    ----------
    inputs
        A string or list of strings, a ``pathlib.Path`` to a FASTA file, or an array or tensor
        ``(N, C, *S)``.
    model
        The model the batch is for (its floating dtype is used).
    device
        Device of the batch.

    Returns
    -------
    torch.Tensor
        ``(N, C, *S)`` in the model's dtype on ``device``.

    Raises
    ------
    InputError
        Unreadable sequences, or an array with fewer than three axes.
    """
    dtype = model_dtype(model)
    if is_sequence_list(inputs) or isinstance(inputs, os.PathLike):
        return as_onehot(inputs, dtype=dtype, device=device)
    x = as_tensor(inputs)
    if x.dim() < 3:
        raise InputError(f"expected inputs (N, C, *S), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise InputError("no inputs given")
    return x.to(device, dtype)


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating parameter (float32 when it has none)."""
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    return param.dtype if param is not None else torch.float32


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU when it has none)."""
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


# -- the caller's model ------------------------------------------------------------------------
@contextlib.contextmanager
def preserved(model: nn.Module, device: str | torch.device | None = None) -> Iterator[nn.Module]:
    """Lend ``model`` to a library call on ``device`` in eval mode, and give it back as it was.

    Parameters
    ----------
    model
        The caller's model; it is moved in place (no copy), so memory stays as it is.
    device
        Where the call runs (``None``: automatic, CUDA then MPS then CPU).

    Yields
    ------
    nn.Module
        The same model object, on ``device``, in eval mode.

    On exit (also on error) every submodule's train/eval flag, every parameter's ``requires_grad``
    and the model's device are restored; the parameter values are never changed.
    """
    target = resolve_device(device)
    home = model_device(model)
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        if target != home:
            model.to(target)
        yield model
    finally:
        if model_device(model) != home:
            model.to(home)
        for module, training in modes:
            module.training = training
        for param, flag in grads:
            param.requires_grad_(flag)


# -- outputs -----------------------------------------------------------------------------------
def is_profile_output(out: Any) -> bool:
    """True for the dict of named heads a profile model (BPNet) returns."""
    return isinstance(out, dict)


def task_output(out: Any) -> torch.Tensor:
    """The ``(N, T)`` outputs of a model's raw output.

    Profile models (a dict of heads) give their ``counts`` head; a ``(N,)`` output becomes ``(N, 1)``.

    Raises
    ------
    ConfigError
        A dict without ``counts``, or an output that is not ``(N, T)``.
    """
    if is_profile_output(out):
        if "counts" not in out:
            raise ConfigError(f"model returns {sorted(out)}; this needs (N, T) outputs or a 'counts' head")
        out = out["counts"]
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2:
        raise ConfigError(f"model output has shape {tuple(out.shape)}; this needs (N, T) outputs")
    return out


def transform_outputs(out: torch.Tensor, task_type: str, *, logits: bool = False) -> torch.Tensor:
    """Raw outputs ``(N, T)`` to the scores users read: sigmoid for ``binary``, softmax over tasks for
    ``multiclass``, unchanged otherwise or when ``logits`` is true."""
    if logits:
        return out
    if task_type == "binary":
        return torch.sigmoid(out)
    if task_type == "multiclass":
        return torch.softmax(out, dim=1)
    return out


def metadata_of(model: nn.Module) -> Any:
    """The model file's metadata (``model.metadata``), or None for a model built in code."""
    return getattr(model, "metadata", None)


def task_names(model: nn.Module | None, n_tasks: int) -> list[str]:
    """The model file's task names, or ``task0 .. task{n-1}`` when it has none (or another count)."""
    meta = metadata_of(model) if model is not None else None
    names = list(meta.tasks) if meta is not None and meta.tasks else []
    return names if len(names) == n_tasks else [f"task{i}" for i in range(n_tasks)]


def resolve_targets(target: int | str | Sequence[int | str] | None, names: Sequence[str]) -> list[int]:
    """The output indices that ``target`` names.

    Parameters
    ----------
    target
        None (all outputs), an index, a task name, or a list of them.
    names
        The task names of the model's outputs (:func:`task_names`).

    Returns
    -------
    list[int]
        Indices into the outputs, in the order given.

    Raises
    ------
    ConfigError
        An index out of range or an unknown name (with the closest names), as one line.
    """
    n = len(names)
    if target is None:
        return list(range(n))
    items = [target] if isinstance(target, (int, str, np.integer)) else list(target)
    if not items:
        raise ConfigError("target is an empty list; give None for all outputs")
    return [_one_target(item, names) for item in items]


def _one_target(item: Any, names: Sequence[str]) -> int:
    n = len(names)
    if isinstance(item, (bool, np.bool_)):
        raise ConfigError(f"target must be an output index or task name, got {item!r}")
    if isinstance(item, (int, np.integer)):
        index = int(item)
        if not -n <= index < n:
            raise ConfigError(f"target {index} is out of range: the model has {n} output(s) (0..{n - 1})")
        return index % n
    if isinstance(item, str):
        if item in names:
            return list(names).index(item)
        if item.lstrip("-").isdigit():
            return _one_target(int(item), names)
        close = difflib.get_close_matches(item, list(names), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; tasks: {', '.join(names[:20])}"
        raise ConfigError(f"unknown target {item!r}{hint}")
    raise ConfigError(f"target must be an output index or task name, got {type(item).__name__}")


def resolve_rc(rc: str | None, model: nn.Module | None) -> str:
    """The strand mode: ``rc`` itself, or with None the model file's ``rc_mode`` (``none`` for a model
    built in code). Raises :class:`ConfigError` for other values."""
    if rc is None:
        meta = metadata_of(model) if model is not None else None
        rc = meta.rc_mode if meta is not None else "none"
    if rc not in RC_MODES:
        raise ConfigError(f"unknown rc mode {rc!r} (use mean, max or none)")
    return rc


def resolve_batch_size(batch_size: int | None, automatic: int) -> int:
    """``batch_size`` checked (>= 1), or ``automatic`` when it is None."""
    if batch_size is None:
        return automatic
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)
