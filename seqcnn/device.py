"""Device selection shared by training, scoring and interpretation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from seqcnn.errors import ConfigError


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on.

    Parameters
    ----------
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, a ``torch.device``, or None (or ``"auto"``)
        for automatic: CUDA, then MPS, then the CPU.

    Returns
    -------
    torch.device
        The resolved device.

    Raises
    ------
    ConfigError
        An unknown device name, or CUDA asked for where it is not available.
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {device!r} (use cpu, cuda, cuda:N or mps)") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available")
    return resolved


@contextlib.contextmanager
def intra_op_threads(n: int | None) -> Iterator[None]:
    """Run torch on ``n`` intra-op threads inside the block (process-wide), then restore the count.

    Parameters
    ----------
    n
        Threads; None or 0 (or the current count) changes nothing.

    Yields
    ------
    None
    """
    before = torch.get_num_threads()
    if not n or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
