"""The training loop: ``fit(config, out_dir=...) -> TrainResult``.

One loop serves every registered model, sequence or image, on CPU, CUDA or MPS, in one process
or under ``torchrun`` (DistributedDataParallel; only rank 0 writes). Each epoch trains on shuffled
batches, evaluates the validation split, keeps the best model by ``train.monitor`` (early
stopping after ``train.patience`` epochs without improvement) and writes resume state
atomically; ``fit(..., resume=True)`` continues a killed run exactly where its last checkpoint
left it. The run directory gets ``model.safetensors`` (best weights + metadata), ``config.yaml``,
``metrics.tsv``, ``test_metrics.tsv``, ``curves.png``, ``log.txt`` and ``checkpoint.pt``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path

import torch

from seqcnn.config import RunConfig
from seqcnn.device import intra_op_threads
from seqcnn.train import distributed as dist_utils
from seqcnn.train.trainer import RUN_FILES, Trainer, TrainingError, TrainResult

__all__ = ["RUN_FILES", "Trainer", "TrainResult", "TrainingError", "fit"]


def fit(
    config: RunConfig,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    device: str | torch.device | None = None,
    quiet: bool = True,
) -> TrainResult:
    """Train the model ``config`` describes; write the run directory (rank 0); return a TrainResult.

    ``out_dir`` defaults to ``config.output.dir`` or ``runs/<model name>``; ``device`` (default
    ``config.train.device``, then CUDA, MPS, CPU); ``resume=True`` continues from ``checkpoint.pt``.
    """
    cfg = copy.deepcopy(config)
    info, dev = dist_utils.setup(device if device is not None else cfg.train.device)
    trainer = None
    try:
        folder = Path(out_dir or cfg.output.dir or f"runs/{cfg.model.name}")
        with _deterministic(cfg.train.deterministic), intra_op_threads(cfg.train.threads):
            trainer = Trainer(cfg, folder, dev, info, quiet=quiet, resume=resume)
            return trainer.run()
    finally:
        if trainer is not None:
            trainer.close()
        dist_utils.teardown(info)


@contextlib.contextmanager
def _deterministic(on: bool) -> Iterator[None]:
    """cuDNN in deterministic mode (or benchmark mode when ``on`` is False), restored afterwards.

    CPU kernels are deterministic already, so seeded CPU runs repeat bit for bit without
    ``torch.use_deterministic_algorithms`` (which also costs seconds of imports).
    """
    cudnn = torch.backends.cudnn
    before = (cudnn.deterministic, cudnn.benchmark)
    cudnn.deterministic, cudnn.benchmark = on, not on
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = before


