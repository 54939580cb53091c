"""Evaluate a saved model on labelled data: a metrics TSV and ROC/PR curve plots."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from seqcnn._common import resolve_batch_size
from seqcnn.config import load_config
from seqcnn.data.sequences import SIMULATE_FILES, load_labelled_fasta
from seqcnn.device import resolve_device
from seqcnn.errors import InputError
from seqcnn.io.atomic import atomic_open
from seqcnn.modelfile import ModelMetadata, load_model
from seqcnn.train.distributed import DistInfo
from seqcnn.train.evaluation import Evaluator
from seqcnn.train.inputs import PreparedData, prepare_data
from seqcnn.train.losses import make_loss, resolve_loss_name
from seqcnn.train.metrics import metric_table
from seqcnn.train.plots import plot_roc_pr


def evaluate_model(
    model_path: str | os.PathLike,
    data: list[str],
    out_dir: str | os.PathLike,
    *,
    split: str = "test",
    batch_size: int | None = None,
    device: str | None = None,
) -> pd.DataFrame:
    """Score labelled data with a model file; write ``metrics.tsv``, ``roc.png`` and ``pr.png``.

    Parameters
    ----------
    model_path
        A ``model.safetensors`` file.
    data
        One YAML run config (its ``split``), one ``seqcnn simulate`` folder (its ``split``), or a
        FASTA file and its labels TSV.
    out_dir
        Output folder (created).
    split
        ``train``, ``valid`` or ``test``, for a config or a simulate folder.
    batch_size
        Sequences per batch (None: automatic, 256).
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, or None for automatic.

    Returns
    -------
    pandas.DataFrame
        One row per task plus a ``macro`` row; one column per metric (and ``loss``).

    Raises
    ------
    InputError
        Data that cannot be read or does not fit the model's tasks.
    ConfigError
        A bad ``batch_size``.
    """
    batch_size = resolve_batch_size(batch_size, 256)
    dev = resolve_device(device)
    model = load_model(model_path, device=dev)
    meta = model.metadata
    prepared = _load_data(data, meta, split)
    loss_name = resolve_loss_name(meta.training.get("loss", "auto"), meta.task_type)
    evaluator = Evaluator(
        model,
        prepared,
        make_loss(loss_name, meta.task_type),
        loss_name,
        dev,
        DistInfo(),
        n_value=0.25,
        batch_size=batch_size,
        rc_mode=meta.rc_mode,
    )
    loss, y_true, y_pred = evaluator.predict("test")
    table = metric_table(y_true, y_pred, meta.task_type, prepared.tasks)
    table["loss"] = np.nan
    table.loc["macro", "loss"] = loss
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "metrics.tsv", "w") as handle:
        table.to_csv(handle, sep="\t", float_format="%.6g")
    if meta.task_type in ("binary", "multiclass"):
        truth = y_true if meta.task_type == "binary" else np.eye(len(prepared.tasks))[y_true]
        plot_roc_pr(truth, y_pred, prepared.tasks, out)
    return table


def _load_data(data: list[str], meta: ModelMetadata, split: str) -> PreparedData:
    """PreparedData whose ``test`` split is what ``data`` names."""
    first = Path(data[0])
    if len(data) == 1 and first.suffix in (".yaml", ".yml"):
        cfg = load_config(first)
        prepared = prepare_data(cfg.data, seed=cfg.train.seed)
        prepared.test = getattr(prepared, split)
        return prepared
    if len(data) == 1 and first.is_dir() and all((first / f).is_file() for f in SIMULATE_FILES):
        fasta, labels = str(first / f"{split}.fa"), str(first / "labels.tsv")
    elif len(data) == 2:
        fasta, labels = data
    else:
        raise InputError(
            "DATA must be a YAML config, a `seqcnn simulate` folder, or a FASTA file and its labels TSV",
            file=data[0],
        )
    tasks = meta.tasks if meta.task_type != "multiclass" else None
    ds, names = load_labelled_fasta(
        fasta, labels, tasks=tasks, task_type=meta.task_type, length=meta.input_length
    )
    if meta.task_type == "multiclass" and names != list(meta.tasks):
        raise InputError(
            f"labels name classes {names}, the model was trained on {list(meta.tasks)}", file=labels
        )
    return PreparedData(ds, ds, ds, list(meta.tasks), meta.task_type, "sequence", (4, ds.x.shape[-1]))
