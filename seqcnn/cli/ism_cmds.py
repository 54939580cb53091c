"""``seqcnn ism``: in-silico mutagenesis maps of FASTA records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from seqcnn.cli.options import (
    bed_track_options,
    device_option,
    load_scalar_model,
    profile_option,
    quiet_option,
    refuse_options,
    safe_name,
)


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("fasta", metavar="[FASTA]", required=False)
@click.option("-o", "--output", required=True,
              help="Maps file (.npz), or with --bed a per-base importance track (.bw, .bedgraph; one file "
                   "per task); see docs/formats.md.")
@bed_track_options
@click.option("--importance", "how", type=click.Choice(["max", "mean", "maxabs"]), default="max",
              show_default=True, help="Tracks: per-base importance, the largest (mean) loss of score over "
                                      "the substitutions, or the largest |change|.")
@click.option("--start", type=click.IntRange(0), default=None, help="First position to mutate (0-based).")
@click.option("--end", type=click.IntRange(1), default=None, help="Position after the last one to mutate.")
@click.option("--task", "tasks", multiple=True, help="Task name or index to keep (repeatable; default: all).")
@click.option("--plot", "plot_dir", default=None, help="Also draw a mutation map per record in this folder.")
@click.option("--plot-format", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True)
@click.option("--max-plots", type=click.IntRange(0), default=100, show_default=True,
              help="Draw at most this many records.")
@click.option("--chunk", type=click.IntRange(1), default=256, show_default=True,
              help="Records per part file (the unit of resuming).")
@click.option("--rc", type=click.Choice(["mean", "max", "none"]), default=None,
              help="Score both strands of each mutant (default: the model file's rc_mode).")
@click.option("--position", type=click.IntRange(0), default=None,
              help="Per-position models (SpliceAI): the base (0-based, in each record) whose class "
                   "probabilities are explained.")
@click.option("--method", type=click.Choice(["auto", "fast", "naive"]), default=None,
              help="ISM engine: the fast exact engine checked against the reference (auto), that engine "
                   "only, or one forward pass per mutant (default: auto; naive with --position, where "
                   "one output position makes the reference faster).")
@profile_option
@device_option
@quiet_option
def ism(model_path: str, fasta: str | None, output: str, bed_path: str | None, genome: str | None, how: str,
        start: int | None, end: int | None, tasks: tuple[str, ...], plot_dir: str | None, plot_format: str,
        max_plots: int, chunk: int, rc: str | None, position: int | None, method: str | None,
        profile_output: str, device: str | None, quiet: bool) -> None:
    """In-silico mutagenesis of every FASTA record: the change of each output for every substitution.

    Streams the FASTA in chunks with flat memory; an interrupted run resumes where it stopped when
    started again with the same arguments (work files: .OUTPUT.ism-work/ beside OUTPUT). Records
    must share one length. Blocks of substitutions are sized by memory, not by a batch size.

    With --bed and --genome and -o x.bw (or .bedgraph), writes each interval's per-base importance as
    a genome browser track instead.
    """
    from seqcnn.interpret.ism.stream import fingerprint, ism_fasta
    from seqcnn.workflows.importance_tracks import bed_track_input

    if bed_track_input(fasta, bed_path, genome, output):
        refuse_options("a track output (--bed)", start=start, end=end, plot=plot_dir, position=position,
                       method=method)
        _ism_track(model_path, bed_path, genome, output, how, tasks, chunk, rc, profile_output, device, quiet)
        return
    model = load_scalar_model(model_path, profile_output, position=position)
    if plot_dir is not None:
        Path(plot_dir).mkdir(parents=True, exist_ok=True)
    draw = _plotter(Path(plot_dir), plot_format, max_plots) if plot_dir is not None else None
    model_id = {**fingerprint(model_path), "position": position}
    method = method or ("naive" if position is not None else "auto")
    stats = ism_fasta(model, fasta, output, model_id=model_id, start=start, end=end,
                      target=list(tasks) or None, rc=rc, chunk=chunk, device=device, progress=not quiet,
                      on_chunk=draw, method=method)
    if not quiet:
        resumed = f", {stats.reused} chunk(s) reused from an earlier run" if stats.reused else ""
        click.echo(f"seqcnn: ISM of {stats.records} record(s) written to {output}{resumed}", err=True)


def _ism_track(model_path: str, bed_path: str, genome: str, output: str, how: str, tasks: tuple[str, ...],
               chunk: int, rc: str | None, profile_output: str, device: str | None, quiet: bool) -> None:
    from seqcnn.workflows.importance_tracks import ism_tracks

    model = load_scalar_model(model_path, profile_output, device=device)
    paths, stats = ism_tracks(model, genome, bed_path, output, how=how, target=list(tasks) or None, rc=rc,
                              chunk=chunk, device=device, progress=not quiet)
    if not quiet:
        click.echo(f"seqcnn: ISM importance of {stats.n_records} interval(s) written to "
                   f"{', '.join(map(str, paths))}", err=True)


def _plotter(plot_dir: Path, plot_format: str, max_plots: int) -> Callable[[list[str], list[str], Any], None]:
    """A chunk callback drawing the first kept task's mutation map of up to ``max_plots`` records."""
    plotted = [0]

    def draw(ids: list[str], seqs: list[str], result: Any) -> None:
        from seqcnn.report.maps import plot_mutation_map

        for i, (record_id, seq) in enumerate(zip(ids, seqs, strict=True)):
            if plotted[0] >= max_plots:
                return
            path = plot_dir / f"{safe_name(record_id)}.{plot_format}"
            plot_mutation_map(result.delta[i, ..., 0], seq[result.start:result.end], path,
                              title=f"{record_id}: {result.tasks[0]}", start=result.start)
            plotted[0] += 1

    return draw
