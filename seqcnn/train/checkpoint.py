"""Resume state: ``checkpoint.pt`` in the run directory, written atomically, read without pickle.

The file holds only tensors, numbers, strings, lists and dicts (``torch.load(weights_only=True)``
accepts nothing else): model and optimizer state dicts, the scheduler state dict, the best weights
so far, counters (``epoch`` = the epoch in progress, ``step`` = batches of it already done), the
metric history and every random number generator state as a tensor.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqcnn.errors import InputError
from seqcnn.io.atomic import atomic_path

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_VERSION = 1


def rng_states(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every random number generator's state, as tensors and plain numbers (loadable weights-only).

    Parameters
    ----------
    generator
        The data generator (shuffling, augmentation), saved as ``data`` when given.

    Returns
    -------
    dict
        torch CPU (and CUDA) states, numpy's and Python's states, and the generator's.
    """
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
        "python_version": int(py_version),
        "python_state": torch.tensor(py_state, dtype=torch.int64),
        "python_gauss": py_gauss,
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        states["data"] = generator.get_state()
    return states


def restore_rng_states(states: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Restore the states :func:`rng_states` saved.

    Parameters
    ----------
    states
        What :func:`rng_states` returned (CUDA states only when the device count matches).
    generator
        The data generator to restore (from ``data``).
    """
    torch.set_rng_state(states["torch"])
    keys = states["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(
        ("MT19937", keys, states["numpy_pos"], states["numpy_has_gauss"], states["numpy_gauss"])
    )
    random.setstate(
        (states["python_version"], tuple(int(v) for v in states["python_state"]), states["python_gauss"])
    )
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    if generator is not None and "data" in states:
        generator.set_state(states["data"])


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (a temporary file renamed into place).

    Parameters
    ----------
    path
        The checkpoint file.
    state
        Plain types and tensors only, so that :func:`load_checkpoint` can read it weights-only.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    payload = {"checkpoint_version": CHECKPOINT_VERSION, **state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` (never unpickles code).

    Parameters
    ----------
    path
        A file written by :func:`save_checkpoint`.

    Returns
    -------
    dict
        The saved state (with ``checkpoint_version``), tensors on the CPU.

    Raises
    ------
    InputError
        A missing, truncated, foreign or tampered file, or an unsupported version.
    """
    file = str(path)
    if not Path(file).is_file():
        raise InputError("no checkpoint to resume from", file=file)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign or tampered files raise several kinds
        raise InputError(f"cannot read checkpoint ({type(exc).__name__}: {exc})", file=file) from exc
    if not isinstance(state, dict) or state.get("checkpoint_version") != CHECKPOINT_VERSION:
        raise InputError("not a seqcnn checkpoint (or an unsupported version)", file=file)
    return state
