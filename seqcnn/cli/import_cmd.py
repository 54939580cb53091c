"""``seqcnn import``: published weights (SpliceAI's Keras files, PyTorch state dicts) into a model file."""

from __future__ import annotations

from typing import Any

import click

from seqcnn.cli.options import parse_overrides


def _save(imported: Any, output: str) -> None:
    """Write the converted model with its metadata (atomically) and say what was written."""
    from seqcnn.modelfile import ModelMetadata, save_model

    save_model(imported.model, output, ModelMetadata(**imported.metadata_fields()))
    source = imported.source
    origin = f"{source['package']} {source['version']}" if "package" in source else "state dict"
    licence = source.get("licence", "see the source")
    kwargs = " ".join(f"{k}={v}" for k, v in imported.model_kwargs.items())
    click.echo(f"{output}\t{imported.architecture} {kwargs}\tfrom {origin}\tlicence {licence}")


@click.group("import")
def import_group() -> None:
    """Convert published weights into a seqcnn model file (model.safetensors)."""


@import_group.command("spliceai")
@click.argument("sources", nargs=-1, required=True, metavar="H5_OR_WHEEL...")
@click.option("-o", "--output", required=True, help="Model file to write (model.safetensors).")
@click.option("--version", "version", default=None,
              help="spliceai package version to record (default: the wheel's, else 'unknown').")
def spliceai(sources: tuple[str, ...], output: str, version: str | None) -> None:
    """SpliceAI's released Keras models (spliceai1.h5 ... spliceai5.h5, or the spliceai wheel that holds
    them): one file becomes one network, several their ensemble (mean of their probabilities).

    The outputs are per-position log-probabilities of neither/acceptor/donor (task type multiclass).
    The released weights are GPL-3.0: keep that licence with the model file when you share it.
    """
    from seqcnn.models.convert import import_spliceai

    _save(import_spliceai(list(sources), version=version), output)


@import_group.command("state-dict")
@click.argument("weights", metavar="WEIGHTS")
@click.option("--model", "architecture", required=True, help="Registered architecture (seqcnn models).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Builder argument of the architecture (YAML value); repeatable.")
@click.option("--tasks", default=None, help="Comma-separated output names.")
@click.option("--task-type", default="regression", show_default=True,
              type=click.Choice(["binary", "multiclass", "regression", "profile"]),
              help="Output transform the model file records.")
@click.option("-o", "--output", required=True, help="Model file to write (model.safetensors).")
def state_dict(weights: str, architecture: str, sets: tuple[str, ...], tasks: str | None, task_type: str,
               output: str) -> None:
    """A PyTorch state dict (.pt/.pth via torch.load(weights_only=True), or .safetensors) loaded into a
    registered architecture; names and shapes must fit exactly."""
    import yaml

    from seqcnn.errors import ConfigError
    from seqcnn.models.state_dict import import_state_dict

    try:
        kwargs = {k: yaml.safe_load(v) for k, v in parse_overrides(sets).items()}
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set value is not valid YAML: {exc}") from exc
    names = [t.strip() for t in tasks.split(",")] if tasks else None
    _save(import_state_dict(weights, architecture, kwargs, tasks=names, task_type=task_type), output)
