"""``seqcnn explain``: attribution maps of sequences or images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from seqcnn.cli.options import (
    FIGURE_SUFFIXES,
    batch_size_option,
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
@click.argument("input_path", metavar="[INPUT]", required=False)
@click.option("--method", "-m", required=True,
              type=click.Choice(["saliency", "input_x_grad", "ig", "deepliftshap", "gradcam", "occlusion"]))
@click.option("-o", "--output", required=True,
              help="Arrays (.npz), or a figure (.png/.svg/.pdf) when INPUT holds one sequence or image, or "
                   "with --bed a per-base track (.bw, .bedgraph).")
@bed_track_options
@click.option("--plot", "plot_dir", default=None, help="Also draw one figure per input into this folder.")
@click.option("--target", default="top", show_default=True,
              help="Output to explain: a task name, an index, or 'top' (each input's highest output).")
@click.option("--layer", default=None, help="Grad-CAM layer name (default: the last convolution).")
@click.option("--window", type=click.IntRange(1), default=10, show_default=True, help="Occlusion window.")
@click.option("--stride", type=click.IntRange(1), default=None, help="Occlusion stride (default: window/2).")
@click.option("--steps", type=click.IntRange(2), default=50, show_default=True, help="IG integration steps.")
@click.option("--baseline", type=click.Choice(["zeros", "uniform", "shuffle"]), default=None,
              help="Reference of ig (default zeros) and deepliftshap (seqcnn's exact DeepLIFT/SHAP; "
                   "default: --shuffles dinucleotide shuffles of each sequence).")
@click.option("--shuffles", type=click.IntRange(1), default=20, show_default=True,
              help="Shuffled references per sequence.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--rc", type=click.Choice(["mean", "max", "none"]), default=None,
              help="Strands of the explained output, gradient methods (default: the model file's rc_mode).")
@profile_option
@batch_size_option
@device_option
@quiet_option
def explain(model_path: str, input_path: str | None, method: str, output: str, bed_path: str | None,
            genome: str | None, plot_dir: str | None, target: str, layer: str | None, window: int,
            stride: int | None, steps: int, baseline: str | None, shuffles: int, seed: int, rc: str | None,
            profile_output: str, batch_size: int | None, device: str | None, quiet: bool) -> None:
    """Attribution maps of sequences (FASTA) or images (PNG/JPEG, or .npz with array x) under MODEL.

    With --bed and --genome and -o x.bw (or .bedgraph), writes each interval's map (one value per base)
    as a genome browser track instead.
    """
    from seqcnn.errors import ConfigError
    from seqcnn.interpret.explain import explain as run
    from seqcnn.interpret.explain import read_inputs, save_explanation
    from seqcnn.workflows.importance_tracks import bed_track_input, explain_tracks

    model = load_scalar_model(model_path, profile_output, device=device)
    options = dict(layer=layer, window=window, stride=stride, steps=steps, baseline=baseline,
                   n_shuffles=shuffles, seed=seed, rc=rc)
    if bed_track_input(input_path, bed_path, genome, output):
        refuse_options("a track output (--bed)", plot=plot_dir)
        paths, stats = explain_tracks(model, genome, bed_path, output, method=method, target=target,
                                      batch_size=None if batch_size is None else min(batch_size, 64),
                                      device=device, progress=not quiet, **options)
        if not quiet:
            click.echo(f"seqcnn: {method} maps of {stats.n_records} interval(s) written to {paths[0]}",
                       err=True)
        return
    suffix = Path(output).suffix.lower()
    if suffix not in FIGURE_SUFFIXES + (".npz",):
        raise ConfigError(f"output {output!r}: use .npz for arrays or .png/.svg/.pdf for a figure")
    ids, x, kind = read_inputs(input_path, model)
    if suffix in FIGURE_SUFFIXES and len(ids) != 1:
        raise ConfigError(f"{len(ids)} inputs: write arrays (-o OUT.npz) and figures with --plot DIR")
    expl = run(model, x, method, ids=ids, kind=kind, target=target,
               batch_size=None if batch_size is None else min(batch_size, 64), device=device,
               progress=not quiet, **options)
    if suffix == ".npz":
        save_explanation(expl, output)
    else:
        _figure(expl, 0, output)
    if plot_dir is not None:
        Path(plot_dir).mkdir(parents=True, exist_ok=True)
        for i, record_id in enumerate(ids):
            _figure(expl, i, Path(plot_dir) / f"{safe_name(record_id)}.png")
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
