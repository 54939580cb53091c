"""One training run's state and steps: :class:`Trainer`, driven by :func:`seqcnn.train.loop.fit`.

Per epoch: shuffled batches (int8 sequences or float images gathered by index, augmented and
upcast on the device), a NaN/Inf check of every loss, validation with metrics gathered over
ranks, the best weights kept by ``train.monitor``, resume state written atomically.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqcnn.config import RunConfig, dump_config
from seqcnn.errors import ConfigError, InputError, SeqcnnError
from seqcnn.io.atomic import atomic_open, remove_stale_parts
from seqcnn.modelfile import save_model
from seqcnn.progress import progress_bar
from seqcnn.train import checkpoint as ckpt
from seqcnn.train import distributed as dist_utils
from seqcnn.train.build import build, make_optimizer, make_scheduler, model_kwargs
from seqcnn.train.evaluation import Evaluator, resolve_monitor
from seqcnn.train.inputs import make_augment, prepare_data, tensors, to_model_input, train_batches
from seqcnn.train.losses import make_loss, pos_weight_from_labels, resolve_loss_name
from seqcnn.train.metrics import MAIN_METRIC, macro_metrics
from seqcnn.train.plots import plot_training_curves
from seqcnn.train.run_state import checkpoint_state, restore_checkpoint, run_metadata

RUN_FILES = {
    "model": "model.safetensors",
    "config": "config.yaml",
    "metrics": "metrics.tsv",
    "test_metrics": "test_metrics.tsv",
    "curves": "curves.png",
    "log": "log.txt",
    "checkpoint": ckpt.CHECKPOINT_NAME,
}


class TrainingError(SeqcnnError):
    """Training cannot go on (for example the loss became NaN or infinite)."""


@dataclass
class TrainResult:
    """What a finished run produced; ``model`` holds the best weights, on the training device."""

    out_dir: Path
    model_path: Path
    config_path: Path
    metrics_path: Path
    test_metrics_path: Path
    curves_path: Path | None
    log_path: Path
    checkpoint_path: Path
    monitor: str
    best_metric: float
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    test_metrics: dict[str, float] = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)


def _float(output: Any) -> Any:
    return output if isinstance(output, dict) else output.float()


class Trainer:
    """State of one run; :meth:`run` drives it. Build with :func:`fit`."""

    def __init__(
        self,
        cfg: RunConfig,
        out: Path,
        device: torch.device,
        info: dist_utils.DistInfo,
        *,
        progress: bool,
        resume: bool,
    ) -> None:
        self.cfg, self.out, self.device, self.dist, self.progress = cfg, out, device, info, progress
        self.paths = {k: out / v for k, v in RUN_FILES.items()}
        created = not out.exists()
        self._check_out_dir(resume)
        self.log = self._make_logger()
        try:
            self._prepare(resume)
        except BaseException:
            self.close()
            if created and info.is_main:  # bad data or model settings: leave nothing behind
                shutil.rmtree(out, ignore_errors=True)
            raise

    def _prepare(self, resume: bool) -> None:
        cfg, info, device = self.cfg, self.dist, self.device
        torch.manual_seed(cfg.train.seed)
        self.data = prepare_data(cfg.data, seed=cfg.train.seed)
        if len(self.data.valid) < info.world_size or len(self.data.test) < info.world_size:
            raise ConfigError(f"valid/test splits need at least {info.world_size} examples (one per rank)")
        self._setup_model()
        self._setup_optimisation()
        self.evaluator = Evaluator(
            self.model,
            self.data,
            self.loss_fn,
            self.loss_name,
            device,
            info,
            n_value=cfg.data.n_value,
            batch_size=cfg.data.batch_size,
            channels_last=self._channels_last,
            bf16=self._bf16,
            rc_mode=cfg.model.rc_mode,
        )
        self.epoch = self.step = self.global_step = self.bad_epochs = 0
        self.running = [0.0, 0]
        self.best: float | None = None
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stopped = False
        self.history: list[dict[str, Any]] = []
        self.started = time.monotonic()
        if resume:
            self._load()
            if info.is_main:  # a killed run may have died inside an atomic write
                remove_stale_parts(self.out)
        if info.is_main:  # on resume too: the continued run may train more epochs
            dump_config(cfg, self.paths["config"])

    # ---- set-up -----------------------------------------------------------------------------

    def _check_out_dir(self, resume: bool) -> None:
        if resume and not self.paths["checkpoint"].is_file():
            raise InputError("nothing to resume: no checkpoint.pt in the run directory", file=str(self.out))
        if not resume and self.paths["checkpoint"].is_file():
            raise ConfigError(
                f"{self.out} already holds a training run; resume it (--resume) "
                f"or choose another output directory (--out)"
            )
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)

    def _make_logger(self) -> logging.Logger:
        log = logging.getLogger(f"seqcnn.train.run{id(self)}")
        log.setLevel(logging.INFO)
        log.propagate = False
        if self.dist.is_main:
            handler = logging.FileHandler(self.paths["log"], encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
            log.addHandler(handler)
            if self.progress:
                log.addHandler(logging.StreamHandler(sys.stderr))
        return log

    def close(self) -> None:
        for handler in list(self.log.handlers):
            handler.close()
            self.log.removeHandler(handler)

    def _setup_model(self) -> None:
        cfg = self.cfg
        self.kwargs = model_kwargs(cfg.model, self.data.model_defaults)
        model, notes = build(cfg.model, self.kwargs)
        self._channels_last = cfg.train.channels_last and self.data.modality == "image"
        self._bf16 = cfg.train.precision == "bf16"
        model.to(self.device)
        if self._channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = model
        self.forward: nn.Module = model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if cfg.train.compile:
            self.forward = torch.compile(self.forward)
        n_params = sum(p.numel() for p in model.parameters())
        self.log.info(
            "model %s %s: %d parameters on %s (world size %d)",
            cfg.model.name,
            self.kwargs,
            n_params,
            self.device,
            self.dist.world_size,
        )
        for note in notes:
            self.log.info(note)

    def _setup_optimisation(self) -> None:
        cfg = self.cfg.train
        self.loss_name = resolve_loss_name(cfg.loss, self.data.task_type)
        pos_weight = None
        if cfg.pos_weight is not None and self.loss_name != "bce":
            raise ConfigError("train.pos_weight applies to the bce loss only")
        if cfg.pos_weight == "auto":
            pos_weight = pos_weight_from_labels(tensors(self.data.train)[1])
        elif cfg.pos_weight is not None:
            if len(cfg.pos_weight) != len(self.data.tasks):
                raise ConfigError(
                    f"train.pos_weight has {len(cfg.pos_weight)} values for {len(self.data.tasks)} tasks"
                )
            pos_weight = torch.tensor(cfg.pos_weight, dtype=torch.float32)
        self.loss_fn = make_loss(
            self.loss_name, self.data.task_type, pos_weight=pos_weight, counts_weight=cfg.counts_weight
        )
        self.monitor, self.mode = resolve_monitor(cfg.monitor, self.data.task_type)
        self.n_batches = len(self._batches(0))
        self.optimizer = make_optimizer(cfg, self.model)
        self.scheduler = make_scheduler(cfg, self.optimizer, self.n_batches, self.mode)
        self.generator = torch.Generator().manual_seed(cfg.seed + 1 + self.dist.rank)
        self.augment = make_augment(self.cfg.data, self.data.modality, self.generator)

    def _batches(self, epoch: int) -> list[torch.Tensor]:
        return train_batches(
            len(self.data.train),
            self.cfg.data.batch_size,
            epoch=epoch,
            seed=self.cfg.train.seed,
            rank=self.dist.rank,
            world=self.dist.world_size,
        )

    # ---- training ---------------------------------------------------------------------------

    def run(self) -> TrainResult:
        """Train the remaining epochs (unless stopped early), then evaluate the test split."""
        for epoch in range(self.epoch, self.cfg.train.epochs):
            if self.stopped:
                break
            train_loss = self._train_epoch(epoch)
            self._end_epoch(epoch, train_loss)
        return self._finish()

    def _train_epoch(self, epoch: int) -> float:
        x_all, y_all = tensors(self.data.train)
        batches = self._batches(epoch)
        self.model.train()
        metric = f"valid_{MAIN_METRIC[self.data.task_type]}"
        last = self.history[-1].get(metric) if self.history else None
        bar = progress_bar(
            range(self.step, len(batches)),
            enabled=self.progress and self.dist.is_main,
            total=len(batches),
            initial=self.step,
            desc=f"epoch {epoch + 1}/{self.cfg.train.epochs}",
        )
        every = self.cfg.train.checkpoint_every
        for i in bar:
            index = batches[i]
            loss = self._train_step(x_all[index], y_all[index], epoch, i)
            self.running = [self.running[0] + loss * len(index), self.running[1] + len(index)]
            self.step, self.global_step = i + 1, self.global_step + 1
            if i % 10 == 0 or i + 1 == len(batches):
                postfix = {"loss": f"{self.running[0] / self.running[1]:.4f}"}
                if last is not None:
                    postfix[metric] = f"{last:.4f}"
                bar.set_postfix(postfix)
            if every and self.global_step % every == 0 and i + 1 < len(batches):
                self._save_checkpoint()
        total, count = dist_utils.sum_floats([float(self.running[0]), float(self.running[1])], self.dist)
        return total / max(count, 1)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor, epoch: int, step: int) -> float:
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        if self.augment is not None:
            x, y = self.augment(x, y)
        x = to_model_input(
            x, self.data.modality, n_value=self.cfg.data.n_value, channels_last=self._channels_last
        )
        if self.data.task_type == "reconstruction":
            y = x
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._bf16):
            output = self.forward(x)
        loss = self.loss_fn(_float(output), y)
        value = float(loss.detach())
        if not dist_utils.all_true(math.isfinite(value), self.dist):
            where = (
                f"the last good checkpoint is {self.paths['checkpoint']}"
                if self.paths["checkpoint"].is_file()
                else "no checkpoint was written before it"
            )
            raise TrainingError(
                f"loss became {value} at epoch {epoch + 1}, step {step + 1} "
                f"(global step {self.global_step + 1}); {where}; "
                "try a lower train.lr or train.grad_clip"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.train.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        self.optimizer.step()
        if (
            self.cfg.train.scheduler == "onecycle"
            and self.scheduler.last_epoch + 1 < self.scheduler.total_steps
        ):
            self.scheduler.step()
        return value

    def _end_epoch(self, epoch: int, train_loss: float) -> None:
        valid_loss, table = self.evaluator.evaluate("valid")
        metrics = {f"valid_{k}": v for k, v in macro_metrics(table).items()}
        value = valid_loss if self.monitor == "valid_loss" else metrics.get(self.monitor, math.nan)
        self.history.append(
            {
                "epoch": epoch + 1,
                "step": self.global_step,
                "lr": self.optimizer.param_groups[0]["lr"],
                "train_loss": train_loss,
                "valid_loss": valid_loss,
                **metrics,
                "seconds": round(time.monotonic() - self.started, 2),
            }
        )
        self.epoch, self.step, self.running = epoch + 1, 0, [0.0, 0]
        if self._improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch + 1, 0
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            if self.dist.is_main:
                save_model(self.model, self.paths["model"], run_metadata(self, {}))
        else:
            self.bad_epochs += 1
        self._step_scheduler(value)
        patience = self.cfg.train.patience
        self.stopped = bool(patience) and self.bad_epochs >= patience
        self._save_checkpoint()
        self._write_history()
        shown = " ".join(f"{k}={v:.4g}" for k, v in self.history[-1].items() if isinstance(v, float))
        self.log.info(
            "epoch %d/%d %s%s",
            epoch + 1,
            self.cfg.train.epochs,
            shown,
            " (best)" if self.best_epoch == epoch + 1 else "",
        )
        if self.stopped:
            self.log.info("early stop: %s did not improve for %d epochs", self.monitor, patience)

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if not math.isfinite(value):
            return False
        if not math.isfinite(self.best):
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def _step_scheduler(self, value: float) -> None:
        if self.cfg.train.scheduler == "cosine":
            self.scheduler.step()
        elif self.cfg.train.scheduler == "plateau" and math.isfinite(value):
            self.scheduler.step(value)

    # ---- files ------------------------------------------------------------------------------

    def _write_history(self, *, plot: bool = False) -> None:
        if not self.dist.is_main:
            return
        history = pd.DataFrame(self.history)
        with atomic_open(self.paths["metrics"], "w") as handle:
            history.to_csv(handle, sep="\t", index=False, float_format="%.6g")
        if self.cfg.output.plots and plot and self.history:
            metric = (
                self.monitor if self.monitor != "valid_loss" else f"valid_{MAIN_METRIC[self.data.task_type]}"
            )
            plot_training_curves(history, metric, self.paths["curves"])

    def _rank_states(self) -> dict[str, torch.Tensor]:
        """Every rank's data generator, torch CPU RNG and running loss (rows in rank order)."""
        own = {
            "data": self.generator.get_state().numpy(),
            "torch": torch.get_rng_state().numpy(),
            "running": np.array([self.running[0], self.running[1]], dtype=np.float64),
        }
        return {k: torch.from_numpy(dist_utils.gather_rows(v[None], self.dist)) for k, v in own.items()}

    def _save_checkpoint(self) -> None:
        ranks = self._rank_states() if self.dist.enabled else {}  # a collective: every rank joins
        if self.dist.is_main:
            ckpt.save_checkpoint(self.paths["checkpoint"], checkpoint_state(self, ranks))

    def _load(self) -> None:
        restore_checkpoint(self, ckpt.load_checkpoint(self.paths["checkpoint"]))
        self.log.info(
            "resumed from %s at epoch %d, step %d", self.paths["checkpoint"], self.epoch + 1, self.step
        )

    def _finish(self) -> TrainResult:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        test_loss, table = self.evaluator.evaluate("test")
        test = {"loss": test_loss, **macro_metrics(table)}
        self._write_history(plot=True)
        if self.dist.is_main:
            with atomic_open(self.paths["test_metrics"], "w") as handle:
                table.to_csv(handle, sep="\t", float_format="%.6g")
            save_model(self.model, self.paths["model"], run_metadata(self, test))
        self.log.info(
            "test %s (best epoch %d, %s=%.4g)",
            " ".join(f"{k}={v:.4g}" for k, v in test.items()),
            self.best_epoch,
            self.monitor,
            self.best if self.best is not None else math.nan,
        )
        curves = self.paths["curves"] if self.cfg.output.plots else None
        return TrainResult(
            self.out,
            self.paths["model"],
            self.paths["config"],
            self.paths["metrics"],
            self.paths["test_metrics"],
            curves,
            self.paths["log"],
            self.paths["checkpoint"],
            self.monitor,
            self.best if self.best is not None else math.nan,
            self.best_epoch,
            self.epoch,
            self.stopped,
            test,
            self.model,
        )
