"""Acceptance benchmark of the motif report (issue 7).

Simulates the default planted-JASPAR data set (12 motifs), trains ``koo_cnn`` with an exponential
first-layer activation (and, as the baseline, the same model with ReLU), runs the motif report on the
test sequences and prints, side by side:

* planted motifs **recovered**, counted as everywhere in the project (``seqcnn demo``,
  ``scripts/bench_train.py --sets``) by ``seqcnn.motifs.recovery.recovered_motifs`` with its default
  rule: some filter has, among its 5 best TomTom matches with q < 0.05 (against all JASPAR2026 CORE
  vertebrate matrices), the planted matrix, another matrix of the same TF, or a matrix TomTom cannot
  tell from the planted one;
* two extra columns, counted by the same function with other settings so nothing is hidden: **best
  match** (the planted matrix or a same-TF one is some filter's single best match, q < 0.05: ``rule=
  "same_tf", top=1``) and **any rank** (the same at any rank among the 100 matches kept per filter:
  ``rule="same_tf", top=None``);
* filters matching some JASPAR motif at q < 0.05;
* seconds for activating-site extraction, vectorised vs a naive per-window loop (on a subset).

Usage: python scripts/bench_motifs.py [--out runs/bench_motifs] [--epochs 30] [--device cpu] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seqcnn.device import resolve_device
from seqcnn.modelfile import ModelMetadata, load_model, save_model
from seqcnn.models.registry import build_model
from seqcnn.motifs.recovery import recovered_motifs
from seqcnn.motifs.sites import activating_sites, first_layer, one_hot_batches
from seqcnn.seq.encode import one_hot
from seqcnn.seq.fasta import read_fasta
from seqcnn.seq.meme import Motif, read_meme

# lr 2e-3 over 1e-3: in a short sweep (40 epochs, H100) the exp model's validation AUROC for Gata3, the
# hardest planted motif, rose from 0.60 to 0.78 (mean over tasks 0.94 -> 0.95).
LR = 2e-3
MATCHES_ANY = 100  # TomTom matches kept per filter (seqcnn motifs --matches 100), for the any-rank column
# Column -> recovered_motifs settings: "recovered" is the project's one rule (its defaults), the other two
# are the same counts with other settings, shown beside it.
RECOVERY_COLUMNS = {
    "recovered": {},
    "best match": {"rule": "same_tf", "top": 1},
    "any rank": {"rule": "same_tf", "top": None},
}


def train(data_dir: Path, out: Path, activation: str, epochs: int, device: str | None) -> Path:
    """Train koo_cnn on the simulated set with ``activation`` in the first layer; the model file.

    Uses ``seqcnn.train.loop.fit``; if the training stack cannot run here, a minimal Adam loop."""
    from seqcnn.config import DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig

    config = RunConfig(
        data=DataConfig(kind="simulate", path=str(data_dir), batch_size=128),
        model=ModelConfig(name="koo_cnn", kwargs={"first_activation": activation}),
        train=TrainConfig(epochs=epochs, lr=LR, patience=8, seed=0, device=device, deterministic=False),
        output=OutputConfig(dir=str(out), plots=False),
    )
    try:
        from seqcnn.train.loop import fit

        return fit(config, out_dir=out, device=device).model_path
    except ImportError as exc:
        print(f"fit unavailable ({exc}); minimal training loop", file=sys.stderr)
        return minimal_train(data_dir, out, activation, epochs, device)


def _split(data_dir: Path, split: str, labels: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    records = list(read_fasta(data_dir / f"{split}.fa"))
    x = torch.from_numpy(one_hot([s for _, s in records]))
    y = torch.from_numpy(labels.loc[[i for i, _ in records]].to_numpy(np.float32))
    return x, y


def minimal_train(data_dir: Path, out: Path, activation: str, epochs: int, device: str | None) -> Path:
    """Adam (lr ``LR``), BCE, batch 128, best validation loss kept; writes ``out/model.safetensors``."""
    dev = resolve_device(device)
    labels = pd.read_csv(data_dir / "labels.tsv", sep="\t", index_col="id")
    (xt, yt), (xv, yv) = _split(data_dir, "train", labels), _split(data_dir, "valid", labels)
    torch.manual_seed(0)
    kwargs = {"first_activation": activation, "n_tasks": yt.shape[1], "input_length": xt.shape[2]}
    model = build_model("koo_cnn", **kwargs).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best, best_state = float("inf"), None
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt)).split(128):
            optimizer.zero_grad()
            loss_fn(model(xt[idx].to(dev)), yt[idx].to(dev)).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            valid = sum(loss_fn(model(xb.to(dev)), yb.to(dev)).item() * len(xb)
                        for xb, yb in zip(xv.split(512), yv.split(512), strict=True)) / len(xv)
        if valid < best:
            best, best_state = valid, {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    out.mkdir(parents=True, exist_ok=True)
    meta = ModelMetadata(architecture="koo_cnn", model_kwargs=kwargs, tasks=list(labels.columns),
                         task_type="binary", input_length=xt.shape[2])
    return save_model(model, out / "model.safetensors", meta)


def naive_sites(model: torch.nn.Module, seqs: list[str], fraction: float = 0.5) -> np.ndarray:
    """Reference: per-filter, per-window Python loop over the activations (F, K, 4)."""
    layer = first_layer(model)
    x = torch.cat(list(one_hot_batches(seqs, min_length=layer.span)))
    with torch.no_grad():
        act = layer(x).numpy()
    counts = np.zeros((act.shape[1], layer.kernel_size, 4))
    for f in range(act.shape[1]):
        thr = fraction * act[:, f].max()
        for n in range(act.shape[0]):
            for pos in range(act.shape[2]):
                if act[n, f, pos] > thr:
                    counts[f] += x[n, :, pos:pos + layer.kernel_size].numpy().T
    return counts


def timed(fn, repeats: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def evaluate(model_path: Path, records: list[tuple[str, str]], planted: list[Motif], out: Path) -> dict:
    """Report on ``records``; planted-motif recovery (``RECOVERY_COLUMNS``) and filter match rate."""
    from seqcnn.motifs.annotate import annotate, load_targets
    from seqcnn.workflows.motif_pipeline import Q_THRESHOLD, ReportOptions, motif_report

    model = load_model(model_path)
    start = time.perf_counter()
    report = motif_report(model, records, out, ReportOptions(n_matches=MATCHES_ANY, n_examples=2))
    seconds = time.perf_counter() - start
    targets = load_targets()
    found = {column: recovered_motifs(report.matches, planted, targets, **settings)
             for column, settings in RECOVERY_COLUMNS.items()}
    kernel = annotate(_kernel_motifs(model), targets, n_best=1)
    return {
        "found": found, "filters": len(report.table),
        "matched": int((report.table["match_q_value"] < Q_THRESHOLD).sum()),
        "kernel_matched": int((kernel["q_value"] < Q_THRESHOLD).sum()), "report_s": seconds,
    }


def _kernel_motifs(model):
    """Filter motifs from the kernels alone (batch-norm scale folded in), the data-free baseline."""
    from seqcnn.motifs.extract import FilterMotif, effective_kernels
    from seqcnn.motifs.pwm import kernel_pwms

    return [FilterMotif(i, p) for i, p in enumerate(kernel_pwms(effective_kernels(first_layer(model))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench_motifs")
    parser.add_argument("--data", default=None, help="simulated data (default OUT/data; made if missing)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--device", default=None)
    parser.add_argument("--activations", default="exp,relu")
    parser.add_argument("--train-only", action="store_true", help="train (or reuse) the models, then stop")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    data = Path(args.data) if args.data else out / "data"
    if not (data / "test.fa").exists():
        from seqcnn.seq.simulate import simulate_dataset

        simulate_dataset(data, seed=0)
    models = {}
    for activation in args.activations.split(","):
        folder = out / f"koo_cnn_{activation}"
        if not (folder / "model.safetensors").exists():  # a model trained earlier (e.g. on a GPU) is reused
            start = time.perf_counter()
            train(data, folder, activation, args.epochs, args.device)
            (folder / "train_seconds.txt").write_text(f"{time.perf_counter() - start:.1f}\n")
        models[activation] = folder
    if not args.train_only:
        report(data, out, models)


def report(data: Path, out: Path, models: dict[str, Path]) -> None:
    """Motif reports of every model on the test sequences; the comparison table."""
    planted = read_meme(data / "motifs.meme")
    records = list(read_fasta(data / "test.fa"))
    rows = {}
    for activation, folder in models.items():
        seconds = folder / "train_seconds.txt"
        result = evaluate(folder / "model.safetensors", records, planted, out / f"report_{activation}")
        result["train_s"] = float(seconds.read_text()) if seconds.exists() else float("nan")
        rows[activation] = result
    model = load_model(next(iter(models.values())) / "model.safetensors")
    subset = [s for _, s in records[:1000]]
    fast_s, _ = timed(lambda: activating_sites(model, subset, device="cpu"))
    slow_s, _ = timed(lambda: naive_sites(model, subset), repeats=1)
    n = len(planted)
    print(f"planted motifs: {', '.join(m.name for m in planted)}; test sequences: {len(records)}")
    print("| first activation | planted recovered (seqcnn.motifs.recovery) | best match of some filter | "
          "any rank | filters matched (sites) | filters matched (kernel PWMs) | train s | report s |")
    print("|---|---|---|---|---|---|---|---|")
    for act, r in rows.items():
        found = r["found"]
        counts = " | ".join(f"{len(found[column])}/{n}" for column in RECOVERY_COLUMNS)
        print(f"| {act} | {counts} | {r['matched']}/{r['filters']} ({r['matched'] / r['filters']:.0%}) | "
              f"{r['kernel_matched']}/{r['filters']} | {r['train_s']:.0f} | {r['report_s']:.0f} |")
        for column, names in found.items():
            missing = [m.name for m in planted if m.name not in names]
            print(f"  {act}: not counted under '{column}': {', '.join(missing) or 'none'}")
    print(f"\nactivating sites on 1000 sequences x 30 filters: vectorised {fast_s:.3f} s (median of 3), "
          f"naive loop {slow_s:.2f} s, ratio {slow_s / fast_s:.0f}x")


if __name__ == "__main__":
    main()
