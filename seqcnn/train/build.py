"""Model, optimizer and schedule from a RunConfig; transfer learning (init from a file, freeze)."""

from __future__ import annotations

import fnmatch
import warnings
from dataclasses import dataclass, field
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

    Raises
    ------
    ConfigError
        ``init_from`` fits no tensor, or (``init_strict``) leaves a tensor outside the head
        unloaded; a ``freeze`` pattern matches no parameter, or matches one that ``init_from``
        did not load.
    """
    model = build_model(cfg.name, **kwargs)
    notes: list[str] = []
    transfer = None
    if cfg.init_from:
        transfer = init_from(model, cfg.init_from, strict=cfg.init_strict)
        notes += transfer.notes
    if cfg.freeze:
        notes += freeze(model, cfg.freeze, transfer=transfer)
    return model, notes


_HEADS = ("head", "classifier")  # top-level modules that map features to the outputs


def head_names(model: nn.Module) -> set[str]:
    """The state-dict names of the model's head: what a different task count may change.

    The head is the top-level ``head`` (or ``classifier``) module when the model has one, else the
    last module that holds parameters (the output layer).

    Parameters
    ----------
    model
        The model.

    Returns
    -------
    set of str
        State-dict names (parameters and buffers) inside the head.
    """
    names = list(model.state_dict())
    children = [name for name, _ in model.named_children()]
    prefixes = [f"{name}." for name in children if name in _HEADS]
    if not prefixes:
        owners = [n.rsplit(".", 1)[0] for n, _ in model.named_parameters() if "." in n]
        prefixes = [f"{owners[-1]}."] if owners else []
    return {n for n in names if n.startswith(tuple(prefixes))}


def _shape(shape: tuple[int, ...] | None) -> str:
    return "absent" if shape is None else str(shape)


@dataclass
class Transfer:
    """What :func:`init_from` did: the file, the names it loaded, every file tensor's shape, log lines."""

    path: str
    loaded: set[str]
    file_shapes: dict[str, tuple[int, ...]]
    notes: list[str] = field(default_factory=list)


def init_from(model: nn.Module, path: str, *, strict: bool = False) -> Transfer:
    """Copy every tensor of a model file whose name and shape match ``model``'s (transfer learning).

    Tensors of the head that differ (an output layer for a different number of tasks) keep their
    fresh initialisation and are reported as the new head; tensors outside the head that do not
    load (absent from the file, or another shape there) are reported as mismatches, with the
    file's shape and the model's.

    Parameters
    ----------
    model
        The freshly built model; changed in place.
    path
        A ``model.safetensors`` file.
    strict
        Refuse any tensor outside the head that does not load (``model.init_strict``).

    Returns
    -------
    Transfer
        The names of the tensors loaded from the file, the file's shapes, and the log lines: how
        many tensors were copied, which were newly initialised as the head, which did not match.

    Raises
    ------
    ConfigError
        No tensor fits; with ``strict``, a tensor outside the head does not fit.
    """
    source = load_model(path, device="cpu").state_dict()
    shapes = {k: tuple(v.shape) for k, v in source.items()}
    own = model.state_dict()
    copied = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    if not copied:
        raise ConfigError(f"model.init_from: no tensor of {path} fits model (names/shapes all differ)")
    head = head_names(model)
    fresh = [k for k in own if k not in copied and k in head]
    mismatched = [
        f"{k} {_shape(shapes.get(k))} in file, {_shape(tuple(own[k].shape))} in model"
        for k in own
        if k not in copied and k not in head
    ]
    if strict and mismatched:
        more = f"; ... ({len(mismatched) - 5} more)" if len(mismatched) > 5 else ""
        shown = "; ".join(mismatched[:5]) + more
        raise ConfigError(
            f"model.init_from: {len(mismatched)} tensor(s) outside the head do not load from {path} "
            f"(model.init_strict is true): {shown}"
        )
    model.load_state_dict(copied, strict=False)
    lines = [f"initialised {len(copied)}/{len(own)} tensors from {path}"]
    if fresh:
        lines.append(f"newly initialised (new head): {', '.join(fresh)}")
    if mismatched:
        lines.append(f"not loaded (mismatch outside the head, kept random): {'; '.join(mismatched)}")
    unused = [k for k in source if k not in own]
    if unused:
        lines.append(f"in {path} but not in the model (unused): {', '.join(unused)}")
    return Transfer(path, set(copied), shapes, lines)


def freeze(model: nn.Module, patterns: list[str], *, transfer: Transfer | None = None) -> list[str]:
    """Freeze the parameters whose names match any of the patterns.

    Parameters
    ----------
    model
        The model; ``requires_grad`` is set to False in place.
    patterns
        ``fnmatch`` patterns over parameter names (``body.0.*``).
    transfer
        With ``init_from``: what :func:`init_from` loaded. Freezing a parameter it did not load
        would hold it at its random initial values, which is refused.

    Returns
    -------
    list of str
        One log line naming the frozen parameters.

    Raises
    ------
    ConfigError
        A pattern that matches no parameter, or one that matches a parameter not loaded by
        ``transfer``.
    """
    names = [n for n, _ in model.named_parameters()]
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
            raise ConfigError(
                f"model.freeze pattern {pattern!r} matches no parameter; "
                f"parameters: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"
            )
    frozen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if transfer is not None:
        unloaded = [n for n in frozen if n not in transfer.loaded]
        if unloaded:
            name = unloaded[0]
            pattern = next(p for p in patterns if fnmatch.fnmatchcase(name, p))
            own = dict(model.named_parameters())[name]
            others = unloaded[1:6] + (["..."] if len(unloaded) > 6 else [])
            more = f" (also: {', '.join(others)})" if others else ""
            raise ConfigError(
                f"model.freeze pattern {pattern!r} matches {name}, which was not loaded from "
                f"{transfer.path}: shape {_shape(transfer.file_shapes.get(name))} in file, "
                f"{_shape(tuple(own.shape))} in model; freezing it would hold random values{more}"
            )
    for name, param in model.named_parameters():
        if name in frozen:
            param.requires_grad_(False)
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
