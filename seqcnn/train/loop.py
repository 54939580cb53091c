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
    progress: bool = False,
) -> TrainResult:
    """Train the model ``config`` describes and write the run directory (rank 0 only).

    Parameters
    ----------
    config
        The run's settings (data, model, training, output); not modified.
    out_dir
        Run directory; default ``config.output.dir``, else ``runs/<model name>``.
    resume
        Continue the run in ``out_dir`` from its ``checkpoint.pt``. A run resumed with a different
        ``train.epochs`` follows the learning-rate schedule of that epoch count from where it stopped.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, or None: ``config.train.device``, else
        automatic (CUDA, then MPS, then the CPU).
    progress
        Show a progress bar per epoch (on stderr, rank 0 only).

    Returns
    -------
    TrainResult
        The trained model (best weights), the paths of the run files and the test metrics.

    Raises
    ------
    ConfigError
        Invalid settings, or ``out_dir`` already holds a run and ``resume`` is False.
    InputError
        Unreadable data, or nothing to resume.
    TrainingError
        The loss became NaN or infinite (the last checkpoint is kept).
    """
    cfg = copy.deepcopy(config)
    info, dev = dist_utils.setup(device if device is not None else cfg.train.device)
    trainer = None
    try:
        folder = Path(out_dir or cfg.output.dir or f"runs/{cfg.model.name}")
        with _deterministic(cfg.train.deterministic), intra_op_threads(cfg.train.threads):
            trainer = Trainer(cfg, folder, dev, info, progress=progress, resume=resume)
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


