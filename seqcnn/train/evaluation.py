"""Evaluate a model on a split: loss, predictions and the per-task metric table (all ranks agree)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqcnn.errors import ConfigError
from seqcnn.train import distributed as dist_utils
from seqcnn.train.inputs import PreparedData, eval_batches, tensors, to_model_input
from seqcnn.train.losses import link
from seqcnn.train.metrics import MAIN_METRIC, metric_mode, metric_table

METRIC_NAMES = {
    "binary": ("auroc", "aupr", "accuracy"),
    "multiclass": ("auroc", "aupr", "accuracy"),
    "regression": ("pearson", "spearman", "mse", "mae"),
    "profile": ("pearson", "spearman", "mse", "mae", "profile_pearson"),
    "segmentation": ("dice", "iou", "accuracy"),
    "reconstruction": ("pearson", "spearman", "mse", "mae"),
}


def resolve_monitor(name: str, task_type: str) -> tuple[str, str]:
    """``(valid_<metric>, min|max)`` for ``train.monitor`` (``auto`` = the task type's main metric)."""
    if name == "auto":
        name = MAIN_METRIC[task_type]
    bare = name.removeprefix("valid_")
    if bare != "loss" and bare not in METRIC_NAMES[task_type]:
        raise ConfigError(
            f"train.monitor {name!r} is not a validation metric of {task_type} tasks; "
            f"use loss or one of {', '.join(METRIC_NAMES[task_type])}"
        )
    return f"valid_{bare}", metric_mode(bare)


class Evaluator:
    """Runs the (unwrapped) model over a split's shard on this rank and gathers everything."""

    def __init__(
        self,
        model: nn.Module,
        data: PreparedData,
        loss_fn: Callable[[Any, torch.Tensor], torch.Tensor],
        loss_name: str,
        device: torch.device,
        info: dist_utils.DistInfo,
        *,
        n_value: float,
        batch_size: int,
        channels_last: bool = False,
        bf16: bool = False,
        rc_mode: str = "none",
    ) -> None:
        self.model, self.data, self.loss_fn, self.loss_name = model, data, loss_fn, loss_name
        self.device, self.info, self.n_value, self.batch_size = device, info, n_value, batch_size
        self.channels_last, self.bf16 = channels_last, bf16
        self.rc_mode = rc_mode if data.modality == "sequence" and data.task_type != "profile" else "none"

    @torch.no_grad()
    def predict(self, split: str) -> tuple[float, np.ndarray, Any]:
        """Mean loss over the split, targets ``(N, ...)`` and predictions (see ``losses.link``)."""
        x_all, y_all = tensors(getattr(self.data, split))
        was_training = self.model.training
        self.model.eval()
        loss_sum, count, targets, preds = 0.0, 0, [], []
        batches = eval_batches(len(x_all), self.batch_size, rank=self.info.rank, world=self.info.world_size)
        for index in batches:
            x = to_model_input(
                x_all[index].to(self.device),
                self.data.modality,
                n_value=self.n_value,
                channels_last=self.channels_last,
            )
            y = x if self.data.task_type == "reconstruction" else y_all[index].to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                output = self.model(x)
            output = output if isinstance(output, dict) else output.float()
            loss_sum += float(self.loss_fn(output, y)) * len(index)
            count += len(index)
            targets.append(y.float().cpu().numpy() if y.is_floating_point() else y.cpu().numpy())
            preds.append(_numpy(self._rc_combine(x, link(output, self.loss_name))))
        self.model.train(was_training)
        loss_sum, count = dist_utils.sum_floats([loss_sum, float(count)], self.info)
        return loss_sum / max(count, 1), self._gather(np.concatenate(targets)), self._gather_preds(preds)

    def _rc_combine(self, x: torch.Tensor, pred: Any) -> Any:
        """With ``rc_mode`` mean/max, combine predictions on ``x`` and its reverse complement."""
        if self.rc_mode == "none":
            return pred
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            other = link(self.model(x.flip(1, 2)).float(), self.loss_name)
        return (pred + other) / 2 if self.rc_mode == "mean" else torch.maximum(pred, other)

    def evaluate(self, split: str) -> tuple[float, pd.DataFrame]:
        """Mean loss and the per-task metric table (with its ``macro`` row)."""
        loss, y_true, y_pred = self.predict(split)
        return loss, metric_table(y_true, y_pred, self.data.task_type, self.data.tasks)

    def _gather(self, array: np.ndarray) -> np.ndarray:
        return dist_utils.interleave(dist_utils.gather_rows(array, self.info), self.info)

    def _gather_preds(self, preds: list[Any]) -> Any:
        if isinstance(preds[0], dict):
            return {k: self._gather(np.concatenate([p[k] for p in preds])) for k in preds[0]}
        return self._gather(np.concatenate(preds))


def _numpy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v.cpu().numpy() for k, v in value.items()}
    return value.cpu().numpy()
