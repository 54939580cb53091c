"""Config skeletons: one ``seqcnn train`` config per model family that fits a dataset's targets.

Each skeleton names the dataset's files with ``data.kind: fasta`` (train/valid/test FASTA plus the
labels, targets or profiles file), sets the task type, and takes its model settings from the
family's config under ``configs/`` (narrowed for a CPU). A family is written only when its model builds
and runs on the dataset's input length (BPNet needs inputs longer than its receptive field); the
skeleton is checked with :func:`seqcnn.config.config_from_dict` before it is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from seqcnn.config import config_from_dict
from seqcnn.errors import ConfigError
from seqcnn.io.atomic import atomic_open

# family -> (model kwargs, train section); the settings of configs/<family>.yaml
FAMILIES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "deepbind": ({"n_filters": 32, "filter_width": 19, "hidden": 64, "dropout": 0.3},
                 {"epochs": 10, "lr": 0.002, "optimizer": "adam", "patience": 4}),
    "basset": ({"channels": [128, 128, 128], "kernel_sizes": [19, 11, 7], "pool_sizes": [3, 4, 4],
                "hidden": [256, 256]},
               {"epochs": 8, "lr": 0.001, "optimizer": "adam", "scheduler": "plateau", "patience": 4,
                "grad_clip": 5.0}),
    "deepsea": ({"channels": [64, 96, 128], "kernel_size": 8, "pool_sizes": [4, 4, 1], "hidden": 128},
                {"epochs": 8, "lr": 0.001, "optimizer": "adamw", "weight_decay": 0.0001,
                 "scheduler": "cosine", "patience": 4}),
    "bpnet": ({"n_filters": 32, "first_kernel": 21, "n_layers": 4, "profile_kernel": 25},
              {"epochs": 6, "lr": 0.002, "optimizer": "adam", "counts_weight": 1.0, "patience": 3}),
}
# task type -> (targets file, families, name suffix of the config file)
FITTING = {
    "binary": ("labels.tsv", ["deepbind", "basset", "deepsea"], ""),
    "regression": ("targets.tsv", ["deepbind", "basset", "deepsea"], "-signal"),
    "profile": ("profiles.npz", ["bpnet"], ""),
}


def skeleton(family: str, task_type: str, dataset: str, run_dir: str) -> dict[str, Any]:
    """The config of one model family on a dataset directory.

    Parameters
    ----------
    family
        A key of :data:`FAMILIES`.
    task_type
        ``binary``, ``regression`` or ``profile``.
    dataset
        The dataset directory as the config should name it.
    run_dir
        ``output.dir`` of the run.

    Returns
    -------
    dict
        Sections ``data``, ``model``, ``train``, ``output``.
    """
    kwargs, train = FAMILIES[family]
    targets = FITTING[task_type][0]
    data: dict[str, Any] = {"kind": "fasta", **{s: f"{dataset}/{s}.fa" for s in ("train", "valid", "test")},
                            "labels": f"{dataset}/{targets}", "task_type": task_type,
                            "batch_size": 64 if task_type == "profile" else 100,
                            "augment": {"rc": True, "shift": 0 if task_type == "profile" else 3}}
    train = dict(train)
    if task_type == "regression":
        train["loss"] = "mse"
    return {"data": data, "model": {"name": family, "kwargs": dict(kwargs)}, "train": train,
            "output": {"dir": run_dir}}


def fits(family: str, *, length: int, n_tasks: int) -> str | None:
    """Why ``family`` cannot take inputs of ``length`` bp with ``n_tasks`` outputs, or None when it can.

    The model is built and run once on a zero input ``(1, 4, length)``.
    """
    import torch

    from seqcnn.models.registry import build_model, get_spec

    kwargs = dict(FAMILIES[family][0])
    parameters = get_spec(family).parameters
    kwargs.update({k: v for k, v in {"n_tasks": n_tasks, "input_length": length}.items() if k in parameters})
    try:
        model = build_model(family, **kwargs).eval()
        with torch.no_grad():
            out = model(torch.zeros(1, 4, length))
        widths = [v.shape[-1] for v in out.values()] if isinstance(out, dict) else [out.shape[-1]]
        if min(widths) < 1:
            return f"no output at {length} bp"
    except (ConfigError, RuntimeError, ValueError) as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


def write_skeletons(root: Path, task_types: list[str], *, dataset: str, length: int,
                    n_tasks: dict[str, int]) -> tuple[list[str], dict[str, str]]:
    """Write ``config.<family>[-signal].yaml`` for every fitting family of every task type.

    Parameters
    ----------
    root
        The (temporary) dataset directory.
    task_types
        Task types the dataset has targets for.
    dataset
        The final dataset directory, as configs name it.
    length
        Input length.
    n_tasks
        Outputs per task type.

    Returns
    -------
    tuple
        The config file names written, and ``{family: why}`` for families skipped.
    """
    written, skipped = [], {}
    name = Path(dataset).name or "dataset"
    for task_type in task_types:
        _, families, suffix = FITTING[task_type]
        for family in families:
            problem = fits(family, length=length, n_tasks=n_tasks[task_type])
            if problem is not None:
                skipped[f"{family}{suffix}"] = problem
                continue
            config = skeleton(family, task_type, dataset, f"runs/{name}-{family}{suffix}")
            config_from_dict(config)  # the skeleton is a valid config
            file = f"config.{family}{suffix}.yaml"
            header = (f"# seqcnn dataset skeleton: {family} on {dataset} ({task_type}, {n_tasks[task_type]} "
                      f"output(s), {length} bp).\n# Train: seqcnn train {dataset}/{file} (from the directory "
                      "`seqcnn dataset` ran in).\n")
            with atomic_open(root / file, "w", encoding="utf-8") as handle:
                handle.write(header)
                yaml.safe_dump(config, handle, sort_keys=False, default_flow_style=None)
            written.append(file)
    return written, skipped


__all__ = ["FAMILIES", "FITTING", "fits", "skeleton", "write_skeletons"]
