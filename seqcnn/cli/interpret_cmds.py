"""``seqcnn ism`` and ``seqcnn explain``: parse, call seqcnn.interpret, write maps and figures."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from seqcnn.cli.options import batch_size_option, device_option, quiet_option

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
profile_option = click.option("--profile-output", type=click.Choice(["counts", "profile"]), default="counts",
                              show_default=True,
                              help="For profile models (BPNet): explain the log counts or the profile.")


def _load(model_path: str, profile_output: str) -> Any:
    """The model file's model; profile models wrapped to (N, T) outputs."""
    from seqcnn.modelfile import load_model
    from seqcnn.models.bpnet import BPNetScalar
    from seqcnn.models.registry import get_spec

    model = load_model(model_path)
    if get_spec(model.metadata.architecture).output == "profile":
        wrapped = BPNetScalar(model, output=profile_output)
        wrapped.metadata = model.metadata
        return wrapped
    return model


def _task_indices(model: Any, tasks: tuple[str, ...]) -> list[int] | None:
    from seqcnn.errors import ConfigError

    if not tasks:
        return None
    names = list(getattr(model.metadata, "tasks", []) or [])
    out = []
    for task in tasks:
        if task in names:
            out.append(names.index(task))
        elif task.isdigit():
            out.append(int(task))
        else:
            raise ConfigError(f"unknown task {task!r}; tasks: {', '.join(names) or '(unnamed: use indices)'}")
    return out


def _safe_name(record_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", record_id)[:120] or "record"


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("fasta", metavar="FASTA")
@click.option("-o", "--output", required=True, help="Maps file (.npz); see docs/formats.md.")
@click.option("--start", type=click.IntRange(0), default=None, help="First position to mutate (0-based).")
@click.option("--end", type=click.IntRange(1), default=None, help="Position after the last one to mutate.")
@click.option("--task", "tasks", multiple=True, help="Task name or index to keep (repeatable; default all).")
@click.option("--plot", "plot_dir", default=None, help="Also draw a mutation map per record in this folder.")
@click.option("--plot-format", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True)
@click.option("--max-plots", type=click.IntRange(0), default=100, show_default=True,
              help="Draw at most this many records.")
@click.option("--chunk", type=click.IntRange(1), default=256, show_default=True,
              help="Records per part file (the unit of resuming).")
@click.option("--rc", type=click.Choice(["mean", "max", "none"]), default=None,
              help="Score both strands of each mutant (default: the model file's rc_mode).")
@profile_option
@device_option
@quiet_option
def ism(model_path: str, fasta: str, output: str, start: int | None, end: int | None, tasks: tuple[str, ...],
        plot_dir: str | None, plot_format: str, max_plots: int, chunk: int, rc: str | None,
        profile_output: str, device: str | None, quiet: bool) -> None:
    """In-silico mutagenesis of every FASTA record: the change of each output for every substitution.

    Streams the FASTA in chunks with flat memory; an interrupted run resumes where it stopped when
    started again with the same arguments (work files: .OUTPUT.ism-work/ beside OUTPUT). Records
    must share one length. Blocks of substitutions are sized by memory, not by a batch size.
    """
    from seqcnn.interpret.ism_stream import fingerprint, ism_fasta

    model = _load(model_path, profile_output)
    targets = _task_indices(model, tasks)
    names = list(getattr(model.metadata, "tasks", []) or [])
    plotted = [0]
    if plot_dir is not None:
        Path(plot_dir).mkdir(parents=True, exist_ok=True)

    def draw(ids: list[str], seqs: list[str], result: Any) -> None:
        from seqcnn.report.maps import plot_mutation_map

        for i, (record_id, seq) in enumerate(zip(ids, seqs, strict=True)):
            if plotted[0] >= max_plots:
                return
            task = result.targets[0]
            label = names[task] if task < len(names) else f"task{task}"
            path = Path(plot_dir) / f"{_safe_name(record_id)}.{plot_format}"
            plot_mutation_map(result.delta[i, ..., 0], seq[result.start:result.end], path,
                              title=f"{record_id}: {label}", start=result.start)
            plotted[0] += 1

    stats = ism_fasta(model, fasta, output, model_id=fingerprint(model_path), start=start, end=end,
                      target=targets, rc=rc or model.metadata.rc_mode, task_names=names or None,
                      chunk=chunk, device=device,
                      progress=not quiet, on_chunk=draw if plot_dir is not None else None)
    if not quiet:
        resumed = f", {stats.reused} chunk(s) reused from an earlier run" if stats.reused else ""
        click.echo(f"seqcnn: ISM of {stats.records} record(s) written to {output}{resumed}", err=True)


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("input_path", metavar="INPUT")
@click.option("--method", "-m", required=True,
              type=click.Choice(["saliency", "input_x_grad", "ig", "deepliftshap", "gradcam", "occlusion"]))
@click.option("-o", "--output", required=True,
              help="Arrays (.npz), or a figure (.png/.svg/.pdf) when INPUT holds one sequence or image.")
@click.option("--plot", "plot_dir", default=None, help="Also draw one figure per input into this folder.")
@click.option("--target", type=int, default=None, help="Output column to explain (default: each input's top)")
@click.option("--layer", default=None, help="Grad-CAM layer name (default: the last convolution).")
@click.option("--window", type=click.IntRange(1), default=10, show_default=True, help="Occlusion window.")
@click.option("--stride", type=click.IntRange(1), default=None, help="Occlusion stride (default: window/2).")
@click.option("--steps", type=click.IntRange(2), default=50, show_default=True, help="IG integration steps.")
@click.option("--baseline", type=click.Choice(["zeros", "uniform", "shuffle"]), default=None,
              help="IG reference (default zeros); deepliftshap always uses dinucleotide shuffles.")
@click.option("--shuffles", type=click.IntRange(1), default=20, show_default=True,
              help="Shuffled references per sequence.")
@click.option("--seed", type=int, default=0, show_default=True)
@profile_option
@batch_size_option
@device_option
@quiet_option
def explain(model_path: str, input_path: str, method: str, output: str, plot_dir: str | None,
            target: int | None, layer: str | None, window: int, stride: int | None, steps: int,
            baseline: str | None, shuffles: int, seed: int, profile_output: str, batch_size: int,
            device: str | None, quiet: bool) -> None:
    """Attribution maps of sequences (FASTA) or images (PNG/JPEG, or .npz with array x) under MODEL."""
    from seqcnn.errors import ConfigError
    from seqcnn.interpret.explain import explain as run
    from seqcnn.interpret.explain import read_inputs, save_explanation

    model = _load(model_path, profile_output)
    suffix = Path(output).suffix.lower()
    if suffix not in FIGURE_SUFFIXES + (".npz",):
        raise ConfigError(f"output {output!r}: use .npz for arrays or .png/.svg/.pdf for a figure")
    ids, x, kind = read_inputs(input_path, model)
    if suffix in FIGURE_SUFFIXES and len(ids) != 1:
        raise ConfigError(f"{len(ids)} inputs: write arrays (-o OUT.npz) and figures with --plot DIR")
    expl = run(model, x, method, ids=ids, kind=kind, target=target, layer=layer, window=window,
               stride=stride, steps=steps, baseline=baseline, n_shuffles=shuffles, seed=seed,
               batch_size=min(batch_size, 64), device=device)
    if suffix == ".npz":
        save_explanation(expl, output)
    else:
        _figure(expl, 0, output)
    if plot_dir is not None:
        Path(plot_dir).mkdir(parents=True, exist_ok=True)
        for i, record_id in enumerate(ids):
            _figure(expl, i, Path(plot_dir) / f"{_safe_name(record_id)}.png")
    if not quiet:
        click.echo(f"seqcnn: {method} maps of {len(ids)} input(s) written to {output}", err=True)


def _figure(expl: Any, i: int, path: str | Path) -> None:
    from seqcnn.report.maps import plot_attribution_logo, plot_image_overlay

    title = f"{expl.ids[i]}: {expl.method}, output {int(expl.targets[i])}"
    if expl.kind == "image":
        plot_image_overlay(expl.x[i], expl.map[i], path, title=title)
    elif expl.actual is not None:
        plot_attribution_logo(expl.actual[i], path, title=title)
    else:
        plot_attribution_logo(expl.x[i] * expl.map[i][None, :], path, title=title)
