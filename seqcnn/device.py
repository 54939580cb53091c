"""Device selection shared by training, scoring and interpretation."""

from __future__ import annotations

import torch

from seqcnn.errors import ConfigError


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` as a torch.device; ``None`` picks CUDA, then MPS, then CPU."""
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
