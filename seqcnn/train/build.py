"""Model, optimizer and schedule from a RunConfig; transfer learning (init from a file, freeze)."""

from __future__ import annotations

import fnmatch
import warnings
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
    """The builder's keyword arguments: the config's, plus what the data decide and the config omits.

    Parameters
    ----------
    cfg
        The model section (name and kwargs).
    defaults
        Data-derived arguments (``n_tasks``, ``num_classes``, ``in_channels``, ``input_length``, ...);
        only those the builder takes are used.

    Returns
    -------
    dict
        The keyword arguments for :func:`seqcnn.models.build_model`.

    Raises
    ------
    ConfigError
        A config value of ``n_tasks``, ``num_classes`` or ``in_channels`` that contradicts the data.
    """
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
    """Build the model; with ``init_from``, copy matching weights, and freeze the ``freeze`` patterns.

    Parameters
    ----------
    cfg
        The model section.
    kwargs
        Builder arguments (from :func:`model_kwargs`).

    Returns
    -------
    tuple
        The model and the log lines that describe the transfer.
    """
    model = build_model(cfg.name, **kwargs)
    notes: list[str] = []
    if cfg.init_from:
        notes += init_from(model, cfg.init_from)
    if cfg.freeze:
        notes += freeze(model, cfg.freeze)
    return model, notes


def init_from(model: nn.Module, path: str) -> list[str]:
    """Copy every tensor of a model file whose name and shape match ``model``'s (transfer learning).

    Tensors that differ (a head for a different number of tasks) keep their fresh initialisation.

    Parameters
    ----------
    model
        The freshly built model; changed in place.
    path
        A ``model.safetensors`` file.

    Returns
    -------
    list of str
        Log lines: how many tensors were copied, which were newly initialised.

    Raises
    ------
    ConfigError
        No tensor fits.
    """
    source = load_model(path, device="cpu").state_dict()
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
    """Freeze the parameters whose names match any of the patterns.

    Parameters
    ----------
    model
        The model; ``requires_grad`` is set to False in place.
    patterns
        ``fnmatch`` patterns over parameter names (``body.0.*``).

    Returns
    -------
    list of str
        One log line naming the frozen parameters.

    Raises
    ------
    ConfigError
        A pattern that matches no parameter.
    """
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
    """The optimizer over the trainable parameters: Adam, AdamW or SGD with momentum.

    Parameters
    ----------
    cfg
        Training settings (``optimizer``, ``lr``, ``momentum``, ``weight_decay``).
    model
        The model.

    Returns
    -------
    torch.optim.Optimizer
        The optimizer.

    Raises
    ------
    ConfigError
        Every parameter is frozen.
    """
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
    """The learning-rate schedule: none, cosine (per epoch), plateau (on the monitored metric) or
    one-cycle (per optimizer step).

    Parameters
    ----------
    cfg
        Training settings (``scheduler``, ``epochs``, ``lr``, ``patience``).
    optimizer
        The optimizer.
    steps_per_epoch
        Optimizer steps per epoch (one-cycle).
    mode
        ``min`` or ``max``: whether the monitored metric improves downwards (plateau).

    Returns
    -------
    Any
        A torch learning-rate scheduler, or None.
    """
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


def extend_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, scheduler: Any, *,
                     steps_per_epoch: int, epochs_done: int, steps_done: int) -> Any:
    """The schedule of a run configured for ``cfg.epochs``, continued where ``scheduler`` stopped.

    A resumed run whose epoch count changed (a finished run given more epochs, say) must not keep
    the saved schedule: a cosine or one-cycle schedule that has ended holds the learning rate at
    its minimum (0 for cosine). The returned scheduler gives the learning rates of a run configured
    with ``cfg.epochs`` from the start, at the epoch (cosine) or step (one-cycle) reached so far,
    and sets the optimizer's learning rate to that value.

    Parameters
    ----------
    cfg
        The resumed run's training settings (``epochs``, ``scheduler``, ``lr``).
    optimizer
        The optimizer, its state (``initial_lr`` of each group) already restored.
    scheduler
        The restored scheduler, or None.
    steps_per_epoch
        Optimizer steps per epoch (one-cycle schedules count steps).
    epochs_done, steps_done
        Epochs finished and optimizer steps taken so far (a cosine schedule steps once per epoch,
        a one-cycle schedule once per optimizer step).

    Returns
    -------
    Any
        A new scheduler for cosine and one-cycle schedules; ``scheduler`` itself otherwise
        (plateau and constant rates do not depend on the epoch count).
    """
    if scheduler is None or cfg.scheduler not in ("cosine", "onecycle"):
        return scheduler
    done = epochs_done
    if cfg.scheduler == "onecycle":  # the trainer stops stepping one step before the end
        done = min(steps_done, max(1, cfg.epochs * steps_per_epoch) - 1)
    for group in optimizer.param_groups:  # a new schedule starts from the initial rate
        group["lr"] = group.get("initial_lr", group["lr"])
    fresh = make_scheduler(cfg, optimizer, steps_per_epoch, "min")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler stepped before the optimizer": a replay, not training
        for _ in range(done):  # replay: the rates (and one-cycle momenta) of the longer schedule
            fresh.step()
    return fresh
