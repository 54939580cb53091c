"""Metrics per task and macro-averaged, computed with scikit-learn and scipy.

``metric_table(y_true, y_pred, task_type, tasks)`` gives one row per task (class for multiclass and
segmentation) plus a ``macro`` row; ``compute_metrics`` returns the macro row as a dict.
Predictions are probabilities (binary: sigmoid ``(N, T)``, multiclass: softmax ``(N, K)``,
segmentation: softmax ``(N, K, H, W)``), values (regression ``(N, T)``, reconstruction any shape)
or, for profiles, ``{"profile": probabilities (N, T, L'), "counts": log(1 + total) (N, T)}``.
A metric that is undefined for a task (e.g. AUROC with one class present) is NaN and left out of
the macro mean.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

MAIN_METRIC = {
    "binary": "auroc",
    "multiclass": "accuracy",
    "regression": "pearson",
    "profile": "pearson",
    "segmentation": "dice",
    "reconstruction": "mse",
}
LOWER_IS_BETTER = {"loss", "mse", "mae"}


def metric_mode(name: str) -> str:
    """Which way a metric improves.

    Parameters
    ----------
    name
        A metric name (``valid_loss``, ``valid_auroc``, ...).

    Returns
    -------
    str
        ``min`` for losses and errors (loss, mse, mae), ``max`` for the rest.
    """
    return "min" if name.split("_")[-1] in LOWER_IS_BETTER else "max"


def compute_metrics(
    y_true: Any, y_pred: Any, task_type: str, tasks: list[str] | None = None
) -> dict[str, float]:
    """Macro-averaged metrics: the ``macro`` row of :func:`metric_table`.

    Parameters
    ----------
    y_true, y_pred, task_type, tasks
        As for :func:`metric_table`.

    Returns
    -------
    dict[str, float]
        Metric name to value (counts left out).
    """
    return macro_metrics(metric_table(y_true, y_pred, task_type, tasks))


def macro_metrics(table: pd.DataFrame) -> dict[str, float]:
    """The ``macro`` row of a metric table, without the count columns.

    Parameters
    ----------
    table
        From :func:`metric_table`.

    Returns
    -------
    dict[str, float]
        Metric name to value.
    """
    row = table.loc["macro"].drop(["n", "n_positive"], errors="ignore")
    return {str(k): float(v) for k, v in row.items()}


def metric_table(y_true: Any, y_pred: Any, task_type: str, tasks: list[str] | None = None) -> pd.DataFrame:
    """Metrics per task and their macro average.

    Parameters
    ----------
    y_true
        Labels or values: ``(N, T)`` (binary, regression), ``(N,)`` classes (multiclass),
        ``(N, H, W)`` classes (segmentation), counts ``(N, T, L)`` (profile).
    y_pred
        Predictions as described in the module docstring (probabilities or values).
    task_type
        The task type; it decides the metrics (AUROC/AUPR, accuracy, Pearson/Spearman, Dice, MSE).
    tasks
        Row names (default, or when their number differs: ``0``, ``1``, ...).

    Returns
    -------
    pandas.DataFrame
        One row per task (class for multiclass and segmentation) plus ``macro``; ``n`` first.
    """
    fn = {
        "binary": _binary,
        "multiclass": _multiclass,
        "regression": _regression,
        "profile": _profile,
        "segmentation": _segmentation,
        "reconstruction": _reconstruction,
    }[task_type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant inputs: scipy/sklearn warn, we report NaN
        rows, macro = fn(y_true, y_pred)
    names = (
        list(tasks) if tasks is not None and len(tasks) == len(rows) else [str(i) for i in range(len(rows))]
    )
    table = pd.DataFrame(rows, index=names)
    macro_row = dict(table.mean(numeric_only=True)) if macro is None else dict(macro)
    macro_row["n"] = max((r["n"] for r in rows), default=0)
    table = pd.concat([table, pd.DataFrame([macro_row], index=["macro"])])
    table.index.name = "task"
    return table


def _safe(fn: Any, *args: Any) -> float:
    try:
        value = float(fn(*args))
    except ValueError:
        return float("nan")
    return value


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(stats.pearsonr(a, b)[0])


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(stats.spearmanr(a, b)[0])


def _binary_row(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    two_classes = 0 < y.sum() < len(y)
    return {
        "n": len(y),
        "n_positive": int(y.sum()),
        "auroc": _safe(roc_auc_score, y, p) if two_classes else float("nan"),
        "aupr": _safe(average_precision_score, y, p) if y.sum() > 0 else float("nan"),
        "accuracy": float(np.mean((p >= 0.5) == (y >= 0.5))),
    }


def _binary(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[list[dict], None]:
    y_true, y_pred = np.asarray(y_true).reshape(len(y_true), -1), np.asarray(y_pred).reshape(len(y_pred), -1)
    return [_binary_row(y_true[:, t], y_pred[:, t]) for t in range(y_true.shape[1])], None


def _multiclass(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[list[dict], dict]:
    y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred)
    rows = []
    for k in range(y_pred.shape[1]):
        row = _binary_row((y_true == k).astype(float), y_pred[:, k])
        row["accuracy"] = float(np.mean(y_pred[y_true == k].argmax(1) == k)) if row["n_positive"] else np.nan
        rows.append(row)
    macro = {
        "n_positive": float("nan"),
        "auroc": float(np.nanmean([r["auroc"] for r in rows])),
        "aupr": float(np.nanmean([r["aupr"] for r in rows])),
        "accuracy": float(np.mean(y_pred.argmax(1) == y_true)),
    }
    return rows, macro


def _regression_row(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "n": len(y),
        "pearson": _pearson(y, p),
        "spearman": _spearman(y, p),
        "mse": float(np.mean((y - p) ** 2)),
        "mae": float(np.mean(np.abs(y - p))),
    }


def _regression(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[list[dict], None]:
    y_true, y_pred = np.asarray(y_true).reshape(len(y_true), -1), np.asarray(y_pred).reshape(len(y_pred), -1)
    return [_regression_row(y_true[:, t], y_pred[:, t]) for t in range(y_true.shape[1])], None


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b`` (NaN for constant rows)."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    denominator = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(-1) / denominator, np.nan)


def _profile(y_true: np.ndarray, y_pred: dict[str, np.ndarray]) -> tuple[list[dict], None]:
    probs, log_counts = np.asarray(y_pred["profile"]), np.asarray(y_pred["counts"])
    counts = np.asarray(y_true)
    start = (counts.shape[-1] - probs.shape[-1]) // 2
    counts = counts[..., start : start + probs.shape[-1]]
    total = np.log1p(counts.sum(-1))
    rows = []
    for t in range(counts.shape[1]):
        row = _regression_row(total[:, t], log_counts[:, t])
        row["profile_pearson"] = float(np.nanmean(_rowwise_pearson(counts[:, t], probs[:, t])))
        rows.append(row)
    return rows, None


def _segmentation(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[list[dict], dict]:
    y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred)
    hard = y_pred.argmax(1)
    rows = []
    for k in range(y_pred.shape[1]):
        truth, guess = y_true == k, hard == k
        inter, union = np.sum(truth & guess), np.sum(truth | guess)
        size = truth.sum() + guess.sum()
        rows.append(
            {
                "n": int(truth.sum()),
                "dice": 2 * inter / size if size else np.nan,
                "iou": inter / union if union else np.nan,
            }
        )
    macro = {
        "dice": float(np.nanmean([r["dice"] for r in rows])),
        "iou": float(np.nanmean([r["iou"] for r in rows])),
        "accuracy": float(np.mean(hard == y_true)),
    }
    return rows, macro


def _reconstruction(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[list[dict], None]:
    a, b = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    return [_regression_row(a, b)], None
