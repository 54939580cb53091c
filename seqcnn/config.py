"""Run configuration: dataclasses for data, model, training and output, loaded from YAML.

``load_config("configs/koo_cnn.yaml", {"train.lr": "0.0005"})`` reads the file, applies
``--set`` overrides (values parsed as YAML scalars), and checks every key and type:
unknown keys raise ``ConfigError`` naming the closest valid key, wrong types name the key
and the expected type. Numeric strings such as ``1e-3`` (which YAML reads as text) are
accepted for float fields. Relative paths are taken relative to the working directory.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from seqcnn.errors import ConfigError
from seqcnn.io.atomic import atomic_open

TaskType = Literal["binary", "multiclass", "regression", "profile", "segmentation", "reconstruction"]


@dataclass
class AugmentConfig:
    """Training-time augmentation. Sequences: ``rc`` (p=0.5, labels unchanged), ``shift`` (±k, N padded).
    Images: horizontal/vertical flips, random crop after zero padding by ``crop`` pixels, Gaussian noise."""

    rc: bool = False
    shift: int = 0
    hflip: bool = False
    vflip: bool = False
    crop: int = 0
    noise: float = 0.0


@dataclass
class DataConfig:
    """Where examples come from and how they are batched.

    kinds: ``simulate`` (a ``seqcnn simulate`` output dir in ``path``, generated from ``simulate``
    options when missing), ``fasta`` (``fasta`` split by ``split``, or ``train``/``valid``/``test``
    files, with ``labels``), ``bed`` (``bed`` + ``genome`` + ``labels``), ``images`` (``images`` is
    digits, folder, npz or segmentation; ``path`` for folder/npz).
    """

    kind: Literal["simulate", "fasta", "bed", "images"] = "simulate"
    path: str | None = None
    fasta: str | None = None
    train: str | None = None
    valid: str | None = None
    test: str | None = None
    labels: str | None = None
    bed: str | None = None
    genome: str | None = None
    images: Literal["digits", "folder", "npz", "segmentation"] | None = None
    task_type: TaskType = "binary"
    tasks: list[str] | None = None
    length: int | None = None
    split: list[float] = field(default_factory=lambda: [0.7, 0.1, 0.2])
    valid_chroms: list[str] = field(default_factory=list)
    test_chroms: list[str] = field(default_factory=list)
    limit: int | None = None
    n_value: float = 0.25
    batch_size: int = 128
    num_workers: int = 0
    simulate: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class ModelConfig:
    """A registered architecture and its keyword arguments; optional transfer learning.

    ``n_tasks``/``input_length`` (1D) and ``num_classes``/``in_channels``/``input_size`` (2D) are
    filled from the data when the builder takes them and they are not given.
    ``init_from`` copies every weight whose name and shape match from a model file (a new head
    for a different task count stays freshly initialised; other tensors that do not load are
    logged as mismatches, or refused with ``init_strict``); ``freeze`` holds fnmatch patterns of
    parameter names to keep fixed (e.g. ``conv1.*``); with ``init_from`` each must have been loaded.
    """

    name: str = "koo_cnn"
    kwargs: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    freeze: list[str] = field(default_factory=list)
    init_strict: bool = False
    rc_mode: Literal["none", "mean", "max"] = "none"


@dataclass
class TrainConfig:
    """Optimisation, schedule, early stopping, precision and checkpointing.

    ``checkpoint_every``: also write resume state every N steps (0: at epoch ends only);
    ``threads``: CPU threads for this run (default: torch's own choice).
    """

    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    momentum: float = 0.9
    scheduler: Literal["none", "cosine", "plateau", "onecycle"] = "none"
    loss: Literal["auto", "bce", "ce", "mse", "mae", "poisson", "multinomial", "dice", "ce_dice"] = "auto"
    pos_weight: Literal["auto"] | list[float] | None = None
    counts_weight: float = 1.0
    grad_clip: float | None = None
    monitor: str = "auto"
    patience: int | None = None
    seed: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"
    compile: bool = False
    channels_last: bool = False
    deterministic: bool = True
    checkpoint_every: int = 0
    device: str | None = None
    threads: int | None = None


@dataclass
class OutputConfig:
    """Run directory (default ``runs/<model name>``) and whether to draw ``curves.png``."""

    dir: str | None = None
    plots: bool = True


@dataclass
class RunConfig:
    """A whole training run: the sections of a YAML config under ``configs/``.

    Attributes
    ----------
    data : DataConfig
        What to train on (sequences or images, paths, splits, batch size, augmentation).
    model : ModelConfig
        The registered architecture and its keyword arguments (transfer learning too).
    train : TrainConfig
        Optimiser, learning rate and schedule, epochs, early stopping, precision, device.
    output : OutputConfig
        Run directory and plots.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: OutputConfig = field(default_factory=OutputConfig)


# ---------------------------------------------------------------------------------------------
# loading and validation


def load_config(path: str | os.PathLike, overrides: dict[str, str] | None = None) -> RunConfig:
    """Read a YAML config, apply overrides and validate it.

    Parameters
    ----------
    path
        A YAML file with the sections ``data``, ``model``, ``train`` and ``output``.
    overrides
        Dotted keys to YAML scalar text, as ``seqcnn train --set`` gives them
        (``{"train.epochs": "2"}``).

    Returns
    -------
    RunConfig
        The validated configuration.

    Raises
    ------
    ConfigError
        A missing or unreadable file, an unknown key (with a did-you-mean suggestion) or a value
        of the wrong type or range.
    """
    file = str(path)
    if not Path(file).is_file():
        raise ConfigError("config file not found", file=file)
    try:
        raw = yaml.safe_load(Path(file).read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({str(exc).splitlines()[0]})", file=file) from exc
    except UnicodeDecodeError:
        raise ConfigError("not a YAML text file (binary or non-UTF-8 content)", file=file) from None
    if not isinstance(raw, dict):
        raise ConfigError("a config must be a mapping of sections (data, model, train, output)", file=file)
    apply_overrides(raw, overrides or {})
    return config_from_dict(raw, file=file)


def apply_overrides(raw: dict[str, Any], overrides: dict[str, str]) -> None:
    """Apply ``--set`` overrides to a raw config, in place.

    Parameters
    ----------
    raw
        Sections as nested dicts (as read from YAML); changed in place.
    overrides
        Dotted key to YAML scalar text: ``{"train.epochs": "2"}`` sets ``raw["train"]["epochs"] = 2``.

    Raises
    ------
    ConfigError
        A value that is not a YAML scalar, or a key whose parent is not a section.
    """
    for key, text in overrides.items():
        try:
            value = yaml.safe_load(text) if text != "" else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key}: value {text!r} is not a YAML scalar") from exc
        parts = key.split(".")
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a section")
            node = child
        node[parts[-1]] = value


def config_from_dict(raw: dict[str, Any], *, file: str | None = None) -> RunConfig:
    """Build a validated RunConfig from plain dicts (as read from YAML).

    Parameters
    ----------
    raw
        Sections as nested dicts.
    file
        File name for error messages.

    Returns
    -------
    RunConfig
        The validated configuration.

    Raises
    ------
    ConfigError
        An unknown key or a value of the wrong type or range.
    """
    return _build(RunConfig, raw, "", file)


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """A config as plain dicts and lists, ready for YAML.

    Parameters
    ----------
    config
        The configuration.

    Returns
    -------
    dict
        One entry per section.
    """
    return dataclasses.asdict(config)


def dump_config(config: RunConfig, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML, atomically.

    Parameters
    ----------
    config
        The configuration.
    path
        The output file.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    with atomic_open(path, "w") as handle:
        yaml.safe_dump(config_to_dict(config), handle, sort_keys=False)
    return Path(path)


def _build(cls: type, raw: Any, prefix: str, file: str | None) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {raw!r}", file=file)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in names:
            raise ConfigError(
                f"unknown key {prefix + str(key)!r}{_closest(str(key), names, prefix)}", file=file
            )
        values[key] = _coerce(value, hints[key], prefix + key, file)
    return cls(**values)


def _closest(word: str, names: list[str], prefix: str) -> str:
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.5)
    if close:
        return f" (did you mean {prefix + close[0]!r}?)"
    return f"; valid keys: {', '.join(prefix + n for n in names)}"


def _describe(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is list:
        return f"a list of {_describe(args[0])}"
    if origin is dict:
        return "a mapping"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {float: "a number", int: "an integer", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, key: str, file: str | None) -> Any:
    """Return ``value`` checked (and, for numeric strings, converted) against type ``tp``."""
    try:
        return _convert(value, tp, key, file)
    except _Mismatch:
        raise ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}", file=file) from None


class _Mismatch(Exception):
    pass


def _convert(value: Any, tp: Any, key: str, file: str | None) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key + ".", file)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return _convert(value, arg, key, file)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value in args and type(value) is type(args[0]):
            return value
        raise _Mismatch
    if origin is list:
        if not isinstance(value, list):
            raise _Mismatch
        return [_coerce(v, args[0], f"{key}[{i}]", file) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        return dict(value)
    return _scalar(value, tp)


def _scalar(value: Any, tp: Any) -> Any:
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML reads 1e-3 as a string
            except ValueError:
                raise _Mismatch from None
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    raise _Mismatch
