"""Options shared by several commands, so they are spelled the same everywhere."""

from __future__ import annotations

import re
from typing import Any

import click

quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
device_option = click.option(
    "--device", default=None, help="cpu, cuda, cuda:N or mps (default: CUDA, then MPS, then CPU)."
)
batch_size_option = click.option("--batch-size", "-b", type=click.IntRange(1), default=256, show_default=True,
                                 help="Sequences per batch.")


def parse_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    """Turn ``("a.b=1", ...)`` from ``--set`` options into a dict; a pair without ``=`` is a usage error."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--set")
        result[key.strip()] = value.strip()
    return result


FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
profile_option = click.option("--profile-output", type=click.Choice(["counts", "profile"]), default="counts",
                              show_default=True,
                              help="For profile models (BPNet): explain the log counts or the profile.")


def load_scalar_model(model_path: str, profile_output: str, device: str | None = None) -> Any:
    """The model file's model on ``device`` (None: automatic); profile models wrapped to (N, T) outputs."""
    from seqcnn.modelfile import load_model
    from seqcnn.models.bpnet import BPNetScalar
    from seqcnn.models.registry import get_spec

    model = load_model(model_path, device=device)
    if get_spec(model.metadata.architecture).output == "profile":
        wrapped = BPNetScalar(model, output=profile_output)
        wrapped.metadata = model.metadata
        return wrapped
    return model



def safe_name(record_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", record_id)[:120] or "record"

