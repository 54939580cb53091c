"""The whole product end to end, from nothing: simulate → train → score → mutation maps → motifs.

``run_demo`` is what ``seqcnn demo`` calls. Every step goes through the same public functions a
pipeline author would use, so the demo doubles as a worked example of the Python API.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seqcnn.config import AugmentConfig, DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig
from seqcnn.device import resolve_device
from seqcnn.io.tables import write_table
from seqcnn.modelfile import load_model
from seqcnn.motifs.recovery import RECOVERY_TOP, recovered_motifs
from seqcnn.score.scoring import predict
from seqcnn.seq.fasta import read_fasta
from seqcnn.seq.meme import read_meme
from seqcnn.seq.simulate import simulate_dataset
from seqcnn.train.loop import TrainResult, fit

Log = Callable[[str], None]


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of one demo run.

    Attributes
    ----------
    n_sequences
        Simulated sequences.
    epochs
        Most training epochs.
    n_filters
        First-layer filters.
    motif_sequences
        Test sequences the motif report reads.
    n_maps
        Mutation maps drawn.
    """

    n_sequences: int
    epochs: int
    n_filters: int
    motif_sequences: int
    n_maps: int = 3

    @classmethod
    def for_mode(cls, quick: bool) -> DemoSettings:
        """The settings of a quick run (about a minute on 2 cores) or a full one.

        Parameters
        ----------
        quick
            Trade accuracy for time.

        Returns
        -------
        DemoSettings
            The sizes.
        """
        if quick:
            return cls(n_sequences=8000, epochs=5, n_filters=64, motif_sequences=1500)
        return cls(n_sequences=25000, epochs=12, n_filters=64, motif_sequences=5000)


@dataclass
class DemoResult:
    """What the demo measured and where it wrote everything.

    Attributes
    ----------
    test_auroc
        Macro AUROC on the held-out test set.
    planted
        Names of the planted motifs.
    recovered
        Planted motifs some filter recovered (``seqcnn.motifs.recovery.recovered_motifs``: a TomTom
        match with q < 0.05 among the filter's top 5 that is the planted matrix, one of the same TF or
        one TomTom cannot tell from it).
    fraction_filters_matched
        Filters matching any target motif.
    outputs
        Paths written, by name.
    seconds
        Wall time.
    """

    test_auroc: float
    planted: list[str]
    recovered: list[str]
    fraction_filters_matched: float
    outputs: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def demo_config(data_dir: Path, run_dir: Path, settings: DemoSettings, device: str | None) -> RunConfig:
    """Koo & Ploenzke's recipe, as configs/koo_cnn.yaml.

    koo_cnn (CNN-25: max-pool 25 after the first layer, so filters learn whole motifs) whose first
    layer uses the exponential activation.

    Parameters
    ----------
    data_dir
        The simulated data.
    run_dir
        The run folder.
    settings
        Sizes.
    device
        Training device.

    Returns
    -------
    RunConfig
        The run's configuration.
    """
    return RunConfig(
        data=DataConfig(kind="simulate", path=str(data_dir), task_type="binary", batch_size=100,
                        augment=AugmentConfig(rc=True, shift=3)),
        model=ModelConfig(name="koo_cnn", rc_mode="mean",
                          kwargs={"filters": [settings.n_filters, 128], "kernel_sizes": [19, 5], "pool1": 25,
                                  "hidden": 512, "dropouts": [0.1, 0.1, 0.3], "first_activation": "exp"}),
        train=TrainConfig(epochs=settings.epochs, lr=5e-3, optimizer="adam", scheduler="cosine",
                          patience=4, seed=0, device=device),
        output=OutputConfig(dir=str(run_dir)),
    )


def _train_fresh(config: RunConfig, run_dir: Path, device: str, progress: bool) -> TrainResult:
    """Train into ``run_dir.partial`` and swap it in only when training finished, so a re-run
    replaces an earlier run (fit refuses to overwrite one) and an interrupted run leaves it intact."""
    partial = run_dir.with_name(run_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    result = fit(config, out_dir=partial, device=device, progress=progress)
    old = run_dir.with_name(run_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if run_dir.exists():
        run_dir.rename(old)
    partial.rename(run_dir)
    shutil.rmtree(old, ignore_errors=True)
    moved = {name: run_dir / Path(value).name for name, value in vars(result).items()
             if isinstance(value, Path) and Path(value).parent == partial}
    return dataclasses.replace(result, out_dir=run_dir, **{k: v for k, v in moved.items() if k != "out_dir"})


def _auroc(metrics: dict[str, float]) -> float:
    """Macro test AUROC from a TrainResult's test metrics (key spelling tolerant)."""
    for key in ("auroc_macro", "macro_auroc", "auroc"):
        if key in metrics:
            return float(metrics[key])
    values = [v for k, v in metrics.items() if k.startswith("auroc")]
    return float(np.mean(values)) if values else float("nan")


def _score_test_set(model: torch.nn.Module, test_fasta: Path, out: Path, device: str | None) -> Path:
    scores = predict(model, test_fasta, device=device)
    write_table(scores, out)
    return out


def _mutation_maps(model: torch.nn.Module, test_fasta: Path, scores: pd.DataFrame, out_dir: Path,
                   n: int, device: str | None) -> list[Path]:
    """ISM of the ``n`` top-scoring test sequences, one DeepBind-style map each (PNG)."""
    from seqcnn.interpret.ism import ism
    from seqcnn.report.maps import plot_mutation_map

    shutil.rmtree(out_dir, ignore_errors=True)  # maps of an earlier run may name other sequences
    out_dir.mkdir(parents=True)
    records = dict(read_fasta(str(test_fasta)))
    tasks = [c for c in scores.columns if c != "id"]
    best = scores.set_index("id")[tasks].max(axis=1).nlargest(n)
    paths = []
    for record_id in best.index:
        task = int(np.argmax(scores.set_index("id").loc[record_id, tasks].to_numpy()))
        result = ism(model, [records[record_id]], target=task, device=device)
        path = out_dir / f"{record_id}_{tasks[task]}.png"
        plot_mutation_map(result.delta[0, ..., 0], records[record_id], path,
                          title=f"{record_id}: {tasks[task]} (p={best[record_id]:.2f})")
        paths.append(path)
    return paths


def run_demo(out_dir: str | Path, *, quick: bool = False, device: str | None = None,
             progress: bool = True, log: Log = print) -> DemoResult:
    """Run the whole pipeline into ``out_dir`` (safe to repeat: outputs are replaced atomically).

    Parameters
    ----------
    out_dir
        Output folder (created).
    quick
        Smaller data and fewer epochs (:meth:`DemoSettings.for_mode`).
    device
        Where to train and score (None: automatic).
    progress
        Show progress bars.
    log
        Called with one line per step.

    Returns
    -------
    DemoResult
        What was measured and written.
    """
    from seqcnn.workflows.motif_pipeline import ReportOptions, motif_report

    began = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = DemoSettings.for_mode(quick)
    dev = str(resolve_device(device))
    log(f"[1/5] simulating {settings.n_sequences:,} sequences with 12 planted JASPAR motifs")
    data = simulate_dataset(out / "data", n_sequences=settings.n_sequences, length=200, seed=0)
    planted = read_meme(data["motifs"])
    log(f"[2/5] training koo_cnn (exponential first layer) on {dev} for up to {settings.epochs} epochs")
    trained = _train_fresh(demo_config(out / "data", out / "run", settings, dev), out / "run", dev, progress)
    model = load_model(trained.model_path)  # as a user would: task names and output type from the file
    log("[3/5] scoring the held-out test set")
    scores_path = _score_test_set(model, data["test"], out / "test_scores.tsv", dev)
    scores = pd.read_csv(scores_path, sep="\t")
    log(f"[4/5] mutation maps of the {settings.n_maps} top-scoring test sequences")
    _mutation_maps(model, data["test"], scores, out / "mutation_maps", settings.n_maps, dev)
    log("[5/5] motifs from the first-layer filters, annotated against JASPAR")
    records = list(read_fasta(str(data["test"])))[: settings.motif_sequences]
    report = motif_report(model, records, out / "motifs",
                          ReportOptions(n_examples=settings.n_maps, device=dev, progress=progress))
    recovered = recovered_motifs(report.matches, planted)
    outputs = {"report": report.files["html"], "model": trained.model_path, "scores": scores_path,
               "metrics": trained.metrics_path, "curves": trained.curves_path,
               "motifs": report.files["filters.meme"], "motif_table": report.files["table.tsv"],
               "mutation_maps": out / "mutation_maps", "data": out / "data"}
    return DemoResult(_auroc(trained.test_metrics), [m.name for m in planted], recovered,
                      report.fraction_matched, {k: Path(v) for k, v in outputs.items() if v is not None},
                      time.perf_counter() - began)


def format_summary(result: DemoResult) -> str:
    """The lines ``seqcnn demo`` prints at the end.

    Parameters
    ----------
    result
        The demo's result.

    Returns
    -------
    str
        The summary, lines joined by newlines.
    """
    lines = [
        f"test AUROC (mean over {len(result.planted)} motifs): {result.test_auroc:.3f}",
        f"planted motifs recovered by a filter (TomTom q < 0.05 among its top {RECOVERY_TOP}; "
        f"same-TF or equivalent matrices count): "
        f"{len(result.recovered)}/{len(result.planted)} ({', '.join(result.recovered) or 'none'})",
        f"filters matching a JASPAR motif: {result.fraction_filters_matched:.0%}",
        f"finished in {result.seconds:.0f} s; outputs:",
    ]
    lines += [f"  {name:<14}{path}" for name, path in result.outputs.items()]
    return "\n".join(lines)
