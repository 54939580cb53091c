"""Options shared by several commands, so they are spelled the same everywhere."""

from __future__ import annotations

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
