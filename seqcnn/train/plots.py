"""Training curves and ROC/PR plots (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from seqcnn.io.atomic import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(history: pd.DataFrame, metric: str, path: str | os.PathLike) -> Path:
    """Two panels: train/valid loss per epoch, and the validation ``metric`` (a column of ``history``)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(history["epoch"], history["train_loss"], marker="o", label="train")
    left.plot(history["epoch"], history["valid_loss"], marker="o", label="valid")
    left.set(xlabel="epoch", ylabel="loss", title="loss")
    left.legend()
    if metric in history:
        right.plot(history["epoch"], history[metric], marker="o", color="tab:green")
    right.set(xlabel="epoch", ylabel=metric, title=metric)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)


def plot_roc_pr(
    y_true: np.ndarray, y_prob: np.ndarray, tasks: list[str], folder: str | os.PathLike
) -> list[Path]:
    """``roc.png`` and ``pr.png`` with one curve per task: 0/1 labels ``(N, T)`` vs scores ``(N, T)``."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = _pyplot()
    written = []
    for name, curve, labels in (
        ("roc", roc_curve, ("false positive rate", "true positive rate")),
        ("pr", precision_recall_curve, ("recall", "precision")),
    ):
        fig, ax = plt.subplots(figsize=(5, 5))
        for t, task in enumerate(tasks):
            y = y_true[:, t]
            if not 0 < y.sum() < len(y):
                continue
            a, b, _ = curve(y, y_prob[:, t])
            ax.plot(*((a, b) if name == "roc" else (b, a)), lw=1, label=task)
        ax.set(xlabel=labels[0], ylabel=labels[1], title=name.upper(), xlim=(0, 1), ylim=(0, 1.02))
        if len(tasks) <= 20:
            ax.legend(fontsize=7, loc="lower right" if name == "roc" else "lower left")
        fig.tight_layout()
        path = Path(folder) / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        written.append(path)
    return written
