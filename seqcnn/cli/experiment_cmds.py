"""``seqcnn marginalize``, ``seqcnn spacing``, ``seqcnn ablate``: in-silico experiments, a table and a plot.

Each command parses its arguments, calls ``seqcnn.interpret.experiments`` and writes the table
(``-o``: .tsv, .tsv.gz, .parquet or - for stdout) and, with ``--plot``, a figure (.png, .svg, .pdf).
Both paths are checked before any work starts, and nothing is written when the inputs are bad.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from seqcnn.cli.options import (
    FIGURE_SUFFIXES,
    device_option,
    load_scalar_model,
    profile_option,
    quiet_option,
    rc_option,
    score_batch_option,
)


def _check_outputs(output: str, plot: str | None) -> None:
    """Refuse unknown table and figure extensions and missing folders before anything runs."""
    from seqcnn.errors import ConfigError, InputError
    from seqcnn.io.tables import table_format

    table_format(output)
    if plot is not None and Path(plot).suffix.lower() not in FIGURE_SUFFIXES:
        raise ConfigError(f"--plot {plot!r}: use a .png, .svg or .pdf file")
    for path in (output, plot):
        if path not in (None, "-") and not Path(path).absolute().parent.is_dir():
            raise InputError(f"output directory does not exist: {Path(path).parent}", file=path)


def _write(table: Any, output: str, figure: Any, plot: str | None) -> None:
    """The table, then the figure (drawn before either is written)."""
    from seqcnn.io.tables import write_table
    from seqcnn.report.maps import save_figure

    write_table(table, output)
    if plot is not None:
        save_figure(figure, plot)


def _motif(text: str, meme: str | None, jaspar: bool) -> Any:
    """A motif argument: letters, or with --meme / --jaspar the id or name of a motif there."""
    from seqcnn.errors import ConfigError

    if jaspar:
        from seqcnn.seq.jaspar import jaspar_motifs

        return jaspar_motifs([text])[0]
    if meme is None:
        return text
    from seqcnn.seq.meme import read_meme

    motifs = read_meme(meme)
    found = [m for m in motifs if text in (m.id, m.name)]
    if not found:
        known = ", ".join(m.id or m.name for m in motifs[:20])
        raise ConfigError(f"no motif {text!r} in {meme} (motifs: {known})")
    return found[0]


def _backgrounds(path: str | None) -> Any:
    return None if path is None else Path(path)


def _tasks(tasks: tuple[str, ...]) -> list[str] | None:
    return list(tasks) or None


motif_source_options = [
    click.option("--meme", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="MOTIF names a motif (id or name) in this MEME file; its consensus is inserted."),
    click.option("--jaspar", is_flag=True,
                 help="MOTIF names a JASPAR matrix id or TF name; its consensus is inserted."),
]
background_options = [
    click.option("--backgrounds", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="FASTA whose dinucleotide shuffles are the backgrounds (default: random bases)."),
    click.option("-n", "n_backgrounds", type=click.IntRange(1), default=100, show_default=True,
                 help="Number of backgrounds."),
    click.option("--length", type=click.IntRange(1), default=None,
                 help="Length of random backgrounds (default: the model's input length)."),
    click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the backgrounds."),
]
common_options = [
    click.option("-o", "--output", required=True,
                 help="Table (.tsv, .tsv.gz, .parquet; - for stdout)."),
    click.option("--plot", default=None, help="Also draw a figure (.png, .svg or .pdf)."),
    click.option("--task", "tasks", multiple=True, help="Task name or index (repeatable; default: all)."),
    rc_option, profile_option, score_batch_option, device_option, quiet_option,
]


def _apply(options: list) -> Any:
    def decorate(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("motif_text", metavar="MOTIF")
@click.option("--position", type=click.IntRange(0), default=None,
              help="0-based start of the motif (default: centred).")
@_apply(motif_source_options + background_options + common_options)
def marginalize(model_path: str, motif_text: str, position: int | None, meme: str | None, jaspar: bool,
                backgrounds: str | None, n_backgrounds: int, length: int | None, seed: int, output: str,
                plot: str | None, tasks: tuple[str, ...], rc: str | None, profile_output: str,
                batch_size: int | None, device: str | None, quiet: bool) -> None:
    """The effect of MOTIF inserted into dinucleotide-shuffled backgrounds, per task.

    MOTIF is a sequence of A, C, G, T (N keeps the background base), or with --meme/--jaspar a motif
    name. Writes one row per background: `background`, then the change of each task's raw output.
    """
    from seqcnn.interpret.experiments import marginalize as run

    _check_outputs(output, plot)
    model = load_scalar_model(model_path, profile_output, device=device)
    result = run(model, _motif(motif_text, meme, jaspar), _backgrounds(backgrounds), n=n_backgrounds,
                 length=length, position=position, seed=seed, target=_tasks(tasks), rc=rc,
                 batch_size=batch_size, device=device, progress=not quiet)
    figure = None
    if plot is not None:
        from seqcnn.report.experiment_plots import effect_distribution_figure

        figure = effect_distribution_figure(result.change, result.tasks,
                                            title=f"{result.motif} at {result.start}")
    _write(result.table(), output, figure, plot)
    if not quiet:
        mean = result.change.mean(axis=0)
        means = ", ".join(f"{t} {v:+.3g}" for t, v in zip(result.tasks, mean, strict=True))
        click.echo(f"seqcnn: mean change over {len(result.change)} backgrounds: {means}", err=True)


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("motif_a", metavar="MOTIF_A")
@click.argument("motif_b", metavar="MOTIF_B")
@click.option("--max-distance", type=click.IntRange(0), default=20, show_default=True,
              help="Distances 0..D bases between the end of MOTIF_A and the start of MOTIF_B.")
@click.option("--position", type=click.IntRange(0), default=None,
              help="0-based start of the pair (default: centred).")
@_apply(motif_source_options + background_options + common_options)
def spacing(model_path: str, motif_a: str, motif_b: str, max_distance: int, position: int | None,
            meme: str | None, jaspar: bool, backgrounds: str | None, n_backgrounds: int, length: int | None,
            seed: int, output: str, plot: str | None, tasks: tuple[str, ...], rc: str | None,
            profile_output: str, batch_size: int | None, device: str | None, quiet: bool) -> None:
    """The cooperativity curve of MOTIF_A and MOTIF_B: pair effect minus the sum of single effects.

    Writes one row per distance and measure (a, b, both, cooperativity, cooperativity_sd), one column
    per task: means over the backgrounds of raw-output effects.
    """
    from seqcnn.interpret.experiments import spacing as run

    _check_outputs(output, plot)
    model = load_scalar_model(model_path, profile_output, device=device)
    pair = (_motif(motif_a, meme, jaspar), _motif(motif_b, meme, jaspar))
    result = run(model, *pair, _backgrounds(backgrounds), distances=max_distance, n=n_backgrounds,
                 length=length, position=position, seed=seed,
                 target=_tasks(tasks), rc=rc, batch_size=batch_size, device=device, progress=not quiet)
    figure = None
    if plot is not None:
        from seqcnn.report.experiment_plots import spacing_figure

        mean, sd = result.curve()
        figure = spacing_figure(result.distances, mean, result.tasks, sd=sd,
                                title=f"{result.motif_a} + {result.motif_b}")
    _write(result.table(), output, figure, plot)
    if not quiet:
        click.echo(f"seqcnn: cooperativity at {len(result.distances)} distances written to {output}",
                   err=True)


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("fasta", metavar="FASTA")
@click.option("--span", required=True, help="START:END, 0-based and half-open, of the bases to ablate.")
@click.option("--mode", type=click.Choice(["shuffle", "mask"]), default="shuffle", show_default=True,
              help="Dinucleotide-shuffle the span, or mask it (set to N).")
@click.option("--shuffles", type=click.IntRange(1), default=10, show_default=True,
              help="Shuffles per sequence (their outputs are averaged).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the shuffles.")
@_apply(common_options)
def ablate(model_path: str, fasta: str, span: str, mode: str, shuffles: int, seed: int, output: str,
           plot: str | None, tasks: tuple[str, ...], rc: str | None, profile_output: str,
           batch_size: int | None, device: str | None, quiet: bool) -> None:
    """The loss of score of every FASTA record when its bases START:END are shuffled or masked.

    Writes one row per record: `id`, then each task's raw output as given minus ablated.
    """
    from seqcnn.errors import ConfigError, InputError
    from seqcnn.interpret.experiments import ablation
    from seqcnn.seq.fasta import read_fasta

    _check_outputs(output, plot)
    start, sep, end = span.partition(":")
    if not sep or not start.strip().isdigit() or not end.strip().isdigit():
        raise ConfigError(f"--span {span!r}: expected START:END, e.g. 90:110")
    records = list(read_fasta(fasta))
    if not records:
        raise InputError("no sequences in FASTA file", file=fasta)
    model = load_scalar_model(model_path, profile_output, device=device)
    result = ablation(model, [seq for _, seq in records], (int(start), int(end)), mode, n_shuffles=shuffles,
                      seed=seed, target=_tasks(tasks), rc=rc, batch_size=batch_size, device=device,
                      progress=not quiet)
    ids = [record_id for record_id, _ in records]
    figure = None
    if plot is not None:
        from seqcnn.report.experiment_plots import effect_distribution_figure

        figure = effect_distribution_figure(result.loss, result.tasks, ylabel="loss of score",
                                            title=f"{mode} {result.span[0]}:{result.span[1]}")
    _write(result.table(ids), output, figure, plot)
    if not quiet:
        click.echo(f"seqcnn: loss of score of {len(ids)} record(s) written to {output}", err=True)
