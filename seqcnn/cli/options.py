"""Options shared by several commands, so they are spelled the same everywhere."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
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


def load_scalar_model(model_path: str, profile_output: str, device: str | None = None,
                      position: int | None = None) -> Any:
    """The model file's model on ``device`` (None: automatic), wrapped to (N, T) outputs: profile models
    by ``profile_output``, per-position models (SpliceAI) at input ``position`` (required for them)."""
    from seqcnn.errors import ConfigError
    from seqcnn.modelfile import load_model
    from seqcnn.models.bpnet import BPNetScalar
    from seqcnn.models.registry import get_spec
    from seqcnn.models.spliceai import PositionOutputs

    model = load_model(model_path, device=device)
    kind = get_spec(model.metadata.architecture).output
    if kind == "positions" and position is None:
        raise ConfigError(f"{model_path}: a per-position model; give --position (0-based, in the input) "
                          "to ask about the outputs at one base")
    if kind != "positions" and position is not None:
        raise ConfigError(f"{model_path}: --position applies to per-position models only")
    if kind == "profile":
        wrapped = BPNetScalar(model, output=profile_output)
    elif kind == "positions":
        wrapped = PositionOutputs(model, position)
    else:
        return model
    wrapped.metadata = model.metadata
    return wrapped



def safe_name(record_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", record_id)[:120] or "record"


rc_option = click.option("--rc", type=click.Choice(["mean", "max", "none"]), default=None,
                         help="Combine both strands (default: the model file's rc_mode).")
score_batch_option = click.option(
    "--batch-size", "-b", type=click.IntRange(1), default=None,
    help="Sequences per batch [default: up to 1024, fewer for wide first layers or long sequences].")
logits_option = click.option("--logits", is_flag=True, help="Raw model outputs instead of probabilities.")


@contextlib.contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """When stdout's reader goes away (``| head``), stop quietly with exit status 0, as
    ``seqcnn.cli.main`` intends (click itself would turn EPIPE into exit 1). stdout is pointed at
    /dev/null first so that the interpreter's final flush cannot fail again."""
    try:
        yield
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise click.exceptions.Exit(0) from None


def note(message: str | None, quiet: bool) -> None:
    if message and not quiet:
        click.echo(f"seqcnn: {message}", err=True)


def report_skipped(skipped: list[str]) -> None:
    if skipped:
        shown = ", ".join(skipped[:20]) + (f", ... ({len(skipped) - 20} more)" if len(skipped) > 20 else "")
        click.echo(f"seqcnn: skipped {len(skipped)} record(s) with invalid bases: {shown}", err=True)


def load_scorer(model_path: str, device: str | None, rc: str | None, logits: bool) -> Any:
    from seqcnn.modelfile import load_model
    from seqcnn.score.scorer import Scorer
    from seqcnn.score.scoring import keep_freed_memory

    keep_freed_memory()
    return Scorer(load_model(model_path, device=device), device=device, rc=rc, logits=logits)


def bed_track_options(command: Any) -> Any:
    """``--bed`` and ``--genome`` of the commands that explain BED intervals into tracks (ism, explain)."""
    command = click.option("--genome", default=None, help="Indexed genome FASTA for --bed.")(command)
    return click.option("--bed", "bed_path", default=None,
                        help="Explain these BED intervals of --genome (each on the model's window centred on "
                             "it), written as a track (-o x.bw or x.bedgraph).")(command)


def refuse_options(what: str, **flags: Any) -> None:
    """A ConfigError naming the options given (not None or False) that do not apply to ``what``."""
    from seqcnn.errors import ConfigError

    given = [f"--{name.replace('_', '-')}" for name, value in flags.items() if value is not None
             and value is not False]
    if given:
        raise ConfigError(f"{', '.join(given)} cannot be used with {what}")
