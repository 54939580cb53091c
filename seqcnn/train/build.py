"""Model, optimizer and schedule from a RunConfig; transfer learning (init from a file, freeze)."""

from __future__ import annotations

import fnmatch
from typing import Any

import torch
from torch import nn

from seqcnn.config import ModelConfig, TrainConfig
from seqcnn.errors import ConfigError
from seqcnn.modelfile import load_model
from seqcnn.models.registry import build_model, get_spec

# keyword arguments filled from the data, and whether a conflicting explicit value is an error
_CHECKED = ("n_tasks", "num_classes", "in_channels")


def model_kwargs(cfg: ModelConfig, defaults: dict[str, Any]) -> dict[str, Any]:
    """``cfg.kwargs`` plus the data-derived arguments the builder takes and the config leaves out."""
    params = get_spec(cfg.name).parameters
    kwargs = dict(cfg.kwargs)
    for key, value in defaults.items():
        if key not in params:
            continue
        if key not in kwargs:
            kwargs[key] = value
        elif key in _CHECKED and kwargs[key] != value:
            raise ConfigError(
                f"model.kwargs.{key} is {kwargs[key]!r} but the data have {value!r}; "
                f"leave it out to use the data's value"
            )
    return kwargs


def build(cfg: ModelConfig, kwargs: dict[str, Any]) -> tuple[nn.Module, list[str]]:
    """Build the model; with ``init_from``, copy matching weights and freeze ``freeze`` patterns.

    Returns the model and log lines describing the transfer.
    """
    model = build_model(cfg.name, **kwargs)
    notes: list[str] = []
    if cfg.init_from:
        notes += init_from(model, cfg.init_from)
    if cfg.freeze:
        notes += freeze(model, cfg.freeze)
    return model, notes


def init_from(model: nn.Module, path: str) -> list[str]:
    """Copy every tensor of the model file at ``path`` whose name and shape match ``model``'s.

    Tensors that differ (a head for a different number of tasks) keep their fresh initialisation.
    """
    source = load_model(path).state_dict()
    own = model.state_dict()
    copied = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    if not copied:
        raise ConfigError(f"model.init_from: no tensor of {path} fits model (names/shapes all differ)")
    model.load_state_dict(copied, strict=False)
    fresh = [k for k in own if k not in copied]
    lines = [f"initialised {len(copied)}/{len(own)} tensors from {path}"]
    if fresh:
        lines.append(f"newly initialised (new head): {', '.join(fresh)}")
    return lines


def freeze(model: nn.Module, patterns: list[str]) -> list[str]:
    """Set ``requires_grad=False`` on parameters whose names match any fnmatch pattern."""
    names = [n for n, _ in model.named_parameters()]
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
            raise ConfigError(
                f"model.freeze pattern {pattern!r} matches no parameter; "
                f"parameters: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"
            )
    frozen = []
    for name, param in model.named_parameters():
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            param.requires_grad_(False)
            frozen.append(name)
    return [f"frozen: {', '.join(frozen)}"]


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (with momentum) over the trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("every parameter is frozen: nothing to train (check model.freeze)")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return kind(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(
    cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int, mode: str
) -> Any:
    """None, cosine (per epoch), plateau (on the monitored metric) or one-cycle (per step)."""
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1))
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=0.5, patience=max(1, (cfg.patience or 4) // 2)
        )
    if cfg.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=max(1, cfg.epochs * steps_per_epoch)
        )
    return None
