"""``seqcnn models`` and ``seqcnn summary``: the registered architectures and their layer tables.

Models are built on the meta device, so even VGG-16 is listed and summarised without allocating
its weights.
"""

from __future__ import annotations

from typing import Any

import click
import torch
import yaml

from seqcnn.cli.options import parse_overrides
from seqcnn.errors import ConfigError
from seqcnn.layers import receptive
from seqcnn.layers.summary import format_summary, summarize
from seqcnn.models.registry import ModelSpec, build_model, get_spec, list_models


def _build_meta(name: str, **kwargs: Any) -> torch.nn.Module:
    with torch.device("meta"):
        return build_model(name, **kwargs)


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@click.command("models")
@click.option("--dims", type=click.Choice(["1", "2"]), default=None, help="Only 1D or only 2D models.")
def models(dims: str | None) -> None:
    """List registered architectures with their parameter counts at default settings."""
    rows = [("name", "dims", "output", "parameters", "description")]
    for name in list_models(None if dims is None else int(dims)):
        spec = get_spec(name)
        rows.append((name, str(spec.dims), spec.output, f"{_count(_build_meta(name)):,}", spec.description))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  "
                   f"{row[3]:>{widths[3]}}  {row[4]}".rstrip())


def _parse_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(f"--size must look like HxW (e.g. 32x32), got {text!r}")
    return int(parts[0]), int(parts[1])


def _kwargs(spec: ModelSpec, sets: tuple[str, ...], length: int | None,
            size: tuple[int, int] | None) -> dict[str, Any]:
    """Builder arguments from ``--set`` (YAML values) plus the length or size where the builder takes it."""
    try:
        kwargs = {k: yaml.safe_load(v) for k, v in parse_overrides(sets).items()}
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set value is not valid YAML: {exc}") from exc
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    if spec.dims == 1 and size is not None:
        raise ConfigError(f"{spec.name} is a 1D model: use --length, not --size")
    if spec.dims == 2 and length is not None:
        raise ConfigError(f"{spec.name} is a 2D model: use --size HxW, not --length")
    if length is not None and "input_length" in spec.parameters:
        kwargs.setdefault("input_length", length)
    if size is not None and "input_size" in spec.parameters:
        kwargs.setdefault("input_size", size)
    return kwargs


def _footer(model: torch.nn.Module, spec: ModelSpec, shape: tuple[int, ...]) -> list[str]:
    """Receptive field and output-length lines (``n/a`` where a layer has no fixed receptive field)."""
    axes = range(spec.dims)
    try:
        fields = [receptive.receptive_field(model, length=shape[1 + a], axis=a) for a in axes]
        lengths = [receptive.positional_length(model, shape[1 + a], axis=a) for a in axes]
    except ValueError:
        return ["Receptive field: n/a"]
    text = "x".join(map(str, fields))
    lines = [f"Receptive field: {text} (one position of the last positional map, "
             f"{'x'.join(map(str, lengths))} positions at this input)"]
    if spec.dims == 1 and receptive.node_of(model).prefix()[1]:
        first, stop = receptive.input_span(model, shape[1])
        lines.append(f"Each output sees input positions {first}..{stop - 1} of {shape[1]}")
    return lines


@click.command("summary")
@click.argument("name")
@click.option("--length", "-L", type=click.IntRange(1), default=None, help="Input length of a 1D model.")
@click.option("--size", default=None, metavar="HxW", help="Input height x width of a 2D model.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Builder argument (YAML value).")
@click.option("--depth", type=click.IntRange(1), default=2, show_default=True, help="Module levels shown.")
def summary(name: str, length: int | None, size: str | None, sets: tuple[str, ...], depth: int) -> None:
    """Layer-by-layer output shapes, parameter counts and the receptive field of model NAME."""
    spec = get_spec(name)
    hw = None if size is None else _parse_size(size)
    kwargs = _kwargs(spec, sets, length, hw)
    model = _build_meta(name, **kwargs)
    channels = kwargs.get("in_channels", spec.parameters["in_channels"].default)
    if spec.dims == 1:
        fixed = getattr(model, "input_length", None)
        shape: tuple[int, ...] = (channels, length or fixed or 1000 + model.receptive_field - 1)
    else:
        shape = (channels, *(hw or getattr(model, "input_size", None) or (224, 224)))
    try:
        table = summarize(model, shape, depth=depth)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from exc
    header = f"Model: {name} ({spec.dims}D), input (N, {', '.join(map(str, shape))})"
    click.echo(format_summary(table, header=header))
    for line in _footer(model, spec, shape):
        click.echo(line)
