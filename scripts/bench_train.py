"""Training benchmarks: accuracy targets and input-pipeline efficiency.

1. koo_cnn on the default planted-motif set (12 JASPAR motifs, 200 bp, 25,000 sequences,
   70/10/20): mean test AUROC (target >= 0.95) and wall time (target < 10 min on 2 CPU cores),
   beside the oracle that scans every sequence with the true planted PWMs.
2. lenet5 on the scikit-learn digits: test accuracy (target >= 0.98).
3. Input pipeline: training steps/s of the real loop (int8 batches gathered, augmented, upcast,
   loss checked for NaN) vs forward+backward+step of the same model on batches already sitting
   in memory as float tensors (target: ratio >= 0.85). Median of ``--repeats`` timings.

    python scripts/bench_train.py [--threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from seqcnn.config import load_config
from seqcnn.seq.simulate import simulate_dataset
from seqcnn.train.distributed import DistInfo
from seqcnn.train.inputs import tensors, to_model_input
from seqcnn.train.loop import Trainer, fit

ROOT = Path(__file__).resolve().parents[1]


def oracle_auroc(sim: Path) -> float:
    """Mean test AUROC of scanning with the true planted PWMs (max log-odds, both strands)."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from seqcnn.seq.encode import one_hot
    from seqcnn.seq.fasta import read_fasta
    from seqcnn.seq.meme import read_meme

    records = list(read_fasta(sim / "test.fa"))
    labels = pd.read_csv(sim / "labels.tsv", sep="\t", index_col=0).loc[[r[0] for r in records]]
    x = torch.from_numpy(one_hot([s for _, s in records], dtype=np.float32))
    aucs = []
    for motif in read_meme(sim / "motifs.meme"):
        w = torch.from_numpy(np.log((motif.pwm + 0.01) / 0.25).T.astype(np.float32))[None]
        score = torch.maximum(torch.conv1d(x, w).amax(-1), torch.conv1d(x.flip(1, 2), w).amax(-1))
        aucs.append(roc_auc_score(labels[motif.name].to_numpy(), score[:, 0].numpy()))
    return float(np.mean(aucs))


def run_fit(config: str, out: Path, overrides: dict[str, str]) -> tuple[dict, float, int]:
    cfg = load_config(ROOT / "configs" / config, overrides)
    start = time.perf_counter()
    result = fit(cfg, out_dir=out, progress=True)
    return result.test_metrics, time.perf_counter() - start, result.epochs_run


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    return statistics.median(_once(fn) for _ in range(repeats))


def _once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def pipeline_ratio(
    config: str, overrides: dict[str, str], out: Path, steps: int, repeats: int
) -> tuple[float, float]:
    """(loop steps/s, pre-loaded steps/s) for ``steps`` training steps of the config's model."""
    cfg = load_config(ROOT / "configs" / config, overrides)
    trainer = Trainer(cfg, out, torch.device("cpu"), DistInfo(), progress=False, resume=False)
    x_all, y_all = tensors(trainer.data.train)
    batches = trainer._batches(0)[:steps]

    def loop() -> None:
        for i, index in enumerate(batches):
            trainer._train_step(x_all[index], y_all[index], 0, i)

    model = copy.deepcopy(trainer.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    ready = [
        (to_model_input(x_all[i], trainer.data.modality, n_value=0.25, channels_last=False), y_all[i])
        for i in batches
    ]

    def preloaded() -> None:
        for x, y in ready:
            loss = trainer.loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    trainer.close()
    return len(batches) / _time(loop, repeats), len(batches) / _time(preloaded, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small data and few epochs (smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    sim = args.out / ("sim_quick" if args.quick else "sim")
    if not (sim / "labels.tsv").is_file():
        simulate_dataset(sim, n_sequences=2000 if args.quick else 25000, seed=0)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    common = {"train.threads": str(args.threads)}
    koo = {**common, "data.path": str(sim), **({"train.epochs": "2"} if args.quick else {})}
    lenet = {**common, **({"train.epochs": "3"} if args.quick else {})}
    rows = []
    metrics, seconds, epochs = run_fit("koo_cnn.yaml", args.out / f"koo_cnn-{stamp}", koo)
    rows.append(
        (
            "koo_cnn mean test AUROC",
            f"{metrics['auroc']:.4f}",
            f"{oracle_auroc(sim):.4f} (true-PWM scan)",
            ">= 0.95",
        )
    )
    rows.append(("koo_cnn wall time (s)", f"{seconds:.0f} ({epochs} epochs)", "", "< 600"))
    metrics, seconds, epochs = run_fit("lenet5_digits.yaml", args.out / f"lenet5-{stamp}", lenet)
    rows.append(("lenet5 digits test accuracy", f"{metrics['accuracy']:.4f}", "", ">= 0.98"))
    rows.append(("lenet5 wall time (s)", f"{seconds:.0f} ({epochs} epochs)", "", ""))
    for name, config, overrides in (
        ("koo_cnn", "koo_cnn.yaml", {**koo, "data.limit": "6000"}),
        ("lenet5", "lenet5_digits.yaml", lenet),
    ):
        ours, base = pipeline_ratio(config, overrides, args.out / f"pipe-{name}-{stamp}", 30, args.repeats)
        rows.append(
            (
                f"{name} train steps/s (loop vs pre-loaded)",
                f"{ours:.1f}",
                f"{base:.1f}",
                f"ratio {ours / base:.2f} (>= 0.85)",
            )
        )
    print(f"\nthreads={args.threads} torch={torch.__version__}")
    print(f"{'measure':44} {'seqcnn':>18} {'baseline':>24}  target")
    for name, ours, base, target in rows:
        print(f"{name:44} {ours:>18} {base:>24}  {target}")


if __name__ == "__main__":
    main()
