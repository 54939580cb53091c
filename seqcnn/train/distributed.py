"""DistributedDataParallel support: set-up under ``torchrun``, cross-rank reductions.

Under ``torchrun --nproc_per_node=K`` the environment holds ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``; training then uses one process group (nccl on CUDA, gloo otherwise). Without it
every function here is a no-op on a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from seqcnn.device import resolve_device
from seqcnn.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # we created the process group (and so destroy it)
    active: bool = False  # launched by torchrun (even with one process): DDP and collectives

    @property
    def enabled(self) -> bool:
        return self.active

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str | torch.device | None) -> tuple[DistInfo, torch.device]:
    """Join the torchrun job if there is one (``RANK`` and ``WORLD_SIZE`` set, even for one process);
    returns this rank's info and device."""
    resolved = resolve_device(device)
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistInfo(), resolved
    world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if resolved.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"torchrun started process {local_rank + 1} on a node with {torch.cuda.device_count()} "
                "GPU(s): start one process per GPU, or train on --device cpu"
            )
        resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank, owns, active=True), resolved


def teardown(info: DistInfo) -> None:
    """Destroy the process group if :func:`setup` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def _device(info: DistInfo) -> torch.device:
    return torch.device("cuda", info.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_true(flag: bool, info: DistInfo) -> bool:
    """Whether ``flag`` holds on every rank."""
    if not info.enabled:
        return flag
    value = torch.tensor([0 if flag else 1], dtype=torch.int64, device=_device(info))
    dist.all_reduce(value)
    return int(value.item()) == 0


def sum_floats(values: list[float], info: DistInfo) -> list[float]:
    """Element-wise sum of ``values`` over ranks."""
    if not info.enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=_device(info))
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def gather_rows(array: np.ndarray, info: DistInfo) -> np.ndarray:
    """Concatenate each rank's ``array`` (same trailing shape, any row count) in rank order."""
    if not info.enabled:
        return array
    device = _device(info)
    counts = torch.zeros(info.world_size, dtype=torch.int64, device=device)
    counts[info.rank] = array.shape[0]
    dist.all_reduce(counts)
    longest = int(counts.max())
    padded = torch.zeros((longest, *array.shape[1:]), dtype=torch.from_numpy(array[:0]).dtype, device=device)
    padded[: array.shape[0]] = torch.from_numpy(array).to(device)
    parts = [torch.empty_like(padded) for _ in range(info.world_size)]
    dist.all_gather(parts, padded)
    return np.concatenate([p[: int(c)].cpu().numpy() for p, c in zip(parts, counts, strict=True)])


def interleave(array: np.ndarray, info: DistInfo) -> np.ndarray:
    """Undo the ``rank::world`` sharding of :func:`gather_rows` output (back to the original order)."""
    if not info.enabled:
        return array
    n = array.shape[0]
    order = np.concatenate([np.arange(r, n, info.world_size) for r in range(info.world_size)])
    out = np.empty_like(array)
    out[order] = array
    return out
