"""GPU check and throughput table: training (fp32 vs bf16), scoring and ISM on CUDA vs CPU.

Run on a machine with a GPU: ``python scripts/bench_gpu.py --data DIR`` where DIR is a
``seqcnn simulate`` output (default: simulated here). Prints one table; figures go to
docs/benchmarks.md. Every row names its device so CPU and GPU numbers sit side by side.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from seqcnn.config import AugmentConfig, DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig
from seqcnn.interpret.ism import ism, naive_ism
from seqcnn.models.registry import build_model
from seqcnn.score.scoring import predict
from seqcnn.train.loop import fit

KOO = {"filters": [64, 128], "kernel_sizes": [19, 5], "pool1": 25, "hidden": 512,
       "dropouts": [0.1, 0.1, 0.3], "first_activation": "exp"}


def train_row(data: Path, out: Path, device: str, precision: str, epochs: int) -> dict:
    config = RunConfig(
        data=DataConfig(kind="simulate", path=str(data), batch_size=128,
                        augment=AugmentConfig(rc=True, shift=3)),
        model=ModelConfig(name="koo_cnn", kwargs=KOO),
        train=TrainConfig(epochs=epochs, lr=5e-3, scheduler="cosine", precision=precision, device=device),
        output=OutputConfig(dir=str(out)))
    began = time.perf_counter()
    result = fit(config, out_dir=out, device=device)
    seconds = time.perf_counter() - began
    auroc = result.test_metrics.get("auroc", float("nan"))
    return {"task": f"train koo_cnn {epochs} ep ({precision})", "device": device,
            "value": f"{seconds / epochs:.1f} s/epoch", "quality": f"test AUROC {auroc:.3f}"}


def random_seqs(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length))
    return ["".join("ACGT"[c] for c in row) for row in codes]


def score_rows(device: str, n: int) -> list[dict]:
    rows = []
    seqs = random_seqs(n, 1000)
    for name, kw in [("deepbind", {"n_tasks": 1, "filter_width": 24, "n_filters": 16, "hidden": 32}),
                     ("basset", {"input_length": 1000, "n_tasks": 164})]:
        torch.manual_seed(0)
        model = build_model(name, **kw).eval()
        predict(model, seqs[:512], device=device, batch_size=256)  # warm-up
        began = time.perf_counter()
        fp32 = predict(model, seqs, device=device, batch_size=512, rc="none")
        seconds = time.perf_counter() - began
        x = torch.from_numpy(np.stack([np.eye(4, dtype=np.float32)[["ACGT".index(c) for c in s]].T
                                       for s in seqs[:256]])).to(device)
        net = model.to(device)
        autocast = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
        with torch.inference_mode():
            full = torch.sigmoid(net(x)).cpu().numpy()
            with autocast:
                bf16 = torch.sigmoid(net(x)).float().cpu().numpy()
        diff = float(np.abs(bf16 - full).max())
        assert fp32.shape[0] == n
        rows.append({"task": f"score {name} 1 kbp strings->probabilities", "device": device,
                     "value": f"{n / seconds:,.0f} seq/s", "quality": f"bf16 max |diff| {diff:.1e}"})
    return rows


def ism_rows(device: str) -> list[dict]:
    rows = []
    for name, kw, n in [("deepbind", {"n_tasks": 1, "filter_width": 24, "n_filters": 16, "hidden": 32}, 64),
                        ("basset", {"input_length": 1000, "n_tasks": 164}, 4)]:
        torch.manual_seed(0)
        model = build_model(name, **kw).eval()
        seqs = random_seqs(n, 1000, seed=1)
        ism(model, seqs[:1], device=device)  # warm-up
        began = time.perf_counter()
        fast = ism(model, seqs, device=device, method="fast")
        seconds = time.perf_counter() - began
        mutations = n * 1000 * 3
        check = naive_ism(model, seqs[:1], device=device)
        diff = float(np.abs(fast.delta[:1] - check.delta).max())
        rows.append({"task": f"ISM {name} N={n} L=1000", "device": device,
                     "value": f"{mutations / seconds:,.0f} mut/s",
                     "quality": f"vs naive max |diff| {diff:.1e}"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_gpu"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--n-score", type=int, default=20000)
    parser.add_argument("--devices", default="cuda,cpu")
    args = parser.parse_args()
    rows = []
    for device in args.devices.split(","):
        if device.startswith("cuda"):
            for precision in ("fp32", "bf16"):
                rows.append(train_row(args.data, args.out / f"{device}-{precision}", device, precision,
                                      args.epochs))
        rows += score_rows(device, args.n_score if device.startswith("cuda") else args.n_score // 10)
        rows += ism_rows(device)
        for row in rows[-4:]:
            print(row, flush=True)
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(f"\nGPU: {name}; torch {torch.__version__}")
    print(f"| {'task':<44} | {'device':<6} | {'throughput':>16} | {'check':<26} |")
    print(f"|{'-' * 46}|{'-' * 8}|{'-' * 18}|{'-' * 28}|")
    for r in rows:
        print(f"| {r['task']:<44} | {r['device']:<6} | {r['value']:>16} | {r['quality']:<26} |")


if __name__ == "__main__":
    main()
