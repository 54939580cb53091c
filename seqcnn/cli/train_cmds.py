"""``seqcnn train`` and ``seqcnn evaluate``: parse, call seqcnn.train, report."""

from __future__ import annotations

import os
from pathlib import Path

import click

from seqcnn.cli.options import batch_size_option, device_option, parse_overrides, quiet_option


@click.command("train")
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("more_overrides", nargs=-1, metavar="[KEY=VALUE]...")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value, e.g. --set train.lr=0.0005 model.kwargs.n_filters=32 "
    "(values are YAML scalars).",
)
@click.option(
    "--out",
    "-o",
    "out",
    default=None,
    type=click.Path(file_okay=False),
    help="Run directory (default: output.dir of the config, else runs/<model>).",
)
@click.option(
    "--resume",
    default=None,
    type=click.Path(file_okay=False),
    help="Continue the killed or finished run in this directory.",
)
@device_option
@quiet_option
def train(
    config: str,
    more_overrides: tuple[str, ...],
    overrides: tuple[str, ...],
    out: str | None,
    resume: str | None,
    device: str | None,
    quiet: bool,
) -> None:
    """Train a model from a YAML CONFIG (see configs/); writes model.safetensors, metrics.tsv,
    curves.png, config.yaml and log.txt to the run directory. Works under torchrun."""
    from seqcnn.config import load_config
    from seqcnn.errors import ConfigError
    from seqcnn.train.loop import fit

    if resume and out and Path(resume).resolve() != Path(out).resolve():
        raise click.BadParameter(
            "give either --out or --resume (the run directory), not both", param_hint="--out"
        )
    cfg = load_config(config, parse_overrides(overrides + more_overrides))
    try:
        result = fit(cfg, out_dir=resume or out, resume=resume is not None, device=device,
                     progress=not quiet)
    except ConfigError as exc:
        if exc.file is None:  # a setting the config file (or its --set overrides) got wrong
            exc.file = config
        raise
    if int(os.environ.get("RANK", "0")) == 0:
        shown = " ".join(f"{k}={v:.4f}" for k, v in result.test_metrics.items())
        click.echo(
            f"{result.model_path}\tbest epoch {result.best_epoch}\t{result.monitor}={result.best_metric:.4f}"
            f"\ttest {shown}"
        )


@click.command("evaluate")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data", nargs=-1, required=True)
@click.option(
    "--out",
    "-o",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for metrics.tsv, roc.png and pr.png.",
)
@click.option(
    "--split",
    type=click.Choice(["train", "valid", "test"]),
    default="test",
    show_default=True,
    help="Split to evaluate when DATA is a config or a simulate folder.",
)
@batch_size_option
@device_option
@quiet_option
def evaluate(
    model: str, data: tuple[str, ...], out: str, split: str, batch_size: int, device: str | None, quiet: bool
) -> None:
    """Metrics per task (and macro) of MODEL on DATA: a YAML config, a `seqcnn simulate` folder,
    or a FASTA file followed by its labels TSV. Writes OUT/metrics.tsv and ROC/PR plots."""
    from seqcnn.train.evaluate import evaluate_model

    table = evaluate_model(model, list(data), out, split=split, batch_size=batch_size, device=device)
    click.echo(table.loc[["macro"]].to_csv(sep="\t", float_format="%.4f"), nl=False)
