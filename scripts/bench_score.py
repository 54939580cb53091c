"""Benchmark ``seqcnn score`` against the model's forward pass and against tangermeme.

For a DeepBind-size and a Basset-size model on random 1,000 bp sequences (CPU; every method timed
once per round, rounds interleaved, medians reported):

- ``forward``: the plain model forward on pre-encoded float32 one-hot tensors (batches of 256,
  inference mode), timed on a slice and reported as sequences/second;
- ``seqcnn score``: end to end, ``seqcnn score MODEL FASTA -o out.tsv`` in a subprocess: start-up,
  model load, FASTA parsing, encoding, scoring and writing the TSV (ratio vs ``forward``, target >= 85%);
- ``tangermeme``: ``tangermeme.utils.one_hot_encode`` on every (already parsed) sequence, stacked,
  then ``tangermeme.predict`` (batch 256); its time excludes file parsing (ours includes it);
- GFLOP/s: the dense model's multiply-adds x 2 per sequence times sequences/second, next to
  this machine's float32 matrix-multiply GFLOP/s.

    python scripts/bench_score.py                    # DeepBind 100,000 x 1,000 bp; Basset 3,000
    python scripts/bench_score.py --n 20000 --n-basset 1000

The forward-only rates are timed on the first ``--sample`` sequences (Basset: ``--sample-basset``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from seqcnn.modelfile import ModelMetadata, load_model, save_model
from seqcnn.models.registry import build_model
from seqcnn.seq.encode import one_hot
from seqcnn.seq.fasta import read_fasta

LENGTH = 1000
BATCH = 256
MODELS = {
    "DeepBind-size": ("deepbind", {"n_tasks": 1}),
    "Basset-size": ("basset", {"n_tasks": 164, "input_length": LENGTH}),
}


def write_fasta(path: Path, n: int, seed: int = 0) -> None:
    """``n`` random 1,000 bp records, 60 bases a line, written in blocks."""
    rng = np.random.default_rng(seed)
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "w") as handle:
        for start in range(0, n, 1000):
            block = bases[rng.integers(0, 4, size=(min(1000, n - start), LENGTH))]
            lines = []
            for i, row in enumerate(block):
                seq = row.tobytes().decode()
                wrapped = "\n".join(seq[j : j + 60] for j in range(0, LENGTH, 60))
                lines.append(f">seq{start + i}\n{wrapped}\n")
            handle.write("".join(lines))


def dense_flops(model: nn.Module) -> float:
    """Floating-point operations (2 x multiply-adds) of one forward pass on one sequence."""
    total = [0.0]

    def hook(module: nn.Module, inputs, output) -> None:
        if isinstance(module, nn.Conv1d):
            per_out = module.in_channels // module.groups * module.kernel_size[0]
            total[0] += 2.0 * output.numel() * per_out
        elif isinstance(module, nn.Linear):
            total[0] += 2.0 * output.numel() * module.in_features

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Linear))]
    handles = [m.register_forward_hook(hook) for m in layers]
    with torch.inference_mode():
        model(torch.zeros(1, 4, LENGTH))
    for h in handles:
        h.remove()
    return total[0]


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def forward_rate(model: nn.Module, seqs: list[str]) -> float:
    """Sequences/second of the plain forward on pre-encoded float32 tensors."""
    x = torch.from_numpy(one_hot(seqs))
    with torch.inference_mode():
        model(x[:BATCH])
        start = time.perf_counter()
        for i in range(0, len(x), BATCH):
            model(x[i : i + BATCH])
    return len(x) / (time.perf_counter() - start)


def scorer_rate(model: nn.Module, seqs: list[str], fast: bool) -> float:
    """Sequences/second of ``Scorer.run`` on pre-encoded codes, with or without the table conv."""
    from seqcnn.predict import Scorer
    from seqcnn.predict_fast import encode_codes

    scorer = Scorer(model, rc="none", fast=fast)
    codes = np.stack([encode_codes(s) for s in seqs])
    batches = [scorer.prepare(codes[i : i + BATCH]) for i in range(0, len(codes), BATCH)]
    scorer.run(batches[0])
    start = time.perf_counter()
    for batch in batches:
        scorer.run(batch)
    return len(seqs) / (time.perf_counter() - start)


def seqcnn_rate(model_path: Path, fasta: Path, n: int, out: Path) -> float:
    """Sequences/second of ``seqcnn score`` end to end (a subprocess, like a user runs it)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seqcnn.cli", "score", str(model_path), str(fasta), "-o", str(out),
                    "-q"], check=True)
    elapsed = time.perf_counter() - start
    with open(out) as handle:
        rows = sum(1 for _ in handle) - 1
    assert rows == n, (rows, n)
    return n / elapsed


def tangermeme_rate(model: nn.Module, seqs: list[str]) -> float:
    """Sequences/second of tangermeme one_hot_encode + predict (sequences already parsed)."""
    from tangermeme.predict import predict
    from tangermeme.utils import one_hot_encode

    start = time.perf_counter()
    x = torch.stack([one_hot_encode(s) for s in seqs])
    predict(model, x, batch_size=BATCH, device="cpu")
    return len(seqs) / (time.perf_counter() - start)


def bench_model(label: str, name: str, kwargs: dict, n: int, n_sample: int, rounds: int,
                workdir: Path) -> dict:
    torch.manual_seed(0)
    meta = ModelMetadata(name, kwargs, tasks=[f"t{i}" for i in range(kwargs["n_tasks"])], task_type="binary",
                         input_length=kwargs.get("input_length"), rc_mode="none")
    path = save_model(build_model(name, **kwargs), workdir / f"{name}.safetensors", meta)
    model = load_model(path)
    fasta = workdir / f"{name}.fa"
    write_fasta(fasta, n)
    seqs = [s for _, s in read_fasta(fasta)]
    flops = dense_flops(model)
    sample = seqs[: min(n, n_sample)]
    timings: dict[str, list[float]] = {k: [] for k in ("forward", "table", "dense", "seqcnn", "tangermeme")}
    for _ in range(rounds):  # interleaved, so that the machine's load drifts across all methods alike
        timings["forward"].append(forward_rate(model, sample))
        timings["table"].append(scorer_rate(model, sample, fast=True))
        timings["dense"].append(scorer_rate(model, sample, fast=False))
        timings["seqcnn"].append(seqcnn_rate(path, fasta, n, workdir / f"{name}.tsv"))
        timings["tangermeme"].append(tangermeme_rate(model, seqs))
    medians = {k: float(np.median(v)) for k, v in timings.items()}
    ratios = {"score_fwd": float(np.median(np.divide(timings["seqcnn"], timings["forward"]))),
              "score_tm": float(np.median(np.divide(timings["seqcnn"], timings["tangermeme"])))}
    return {"model": label, "n": n, "sample": len(sample), "mflop": flops / 1e6, **medians, **ratios,
            "rounds": {k: [round(x) for x in v] for k, v in timings.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="sequences for the DeepBind-size model")
    parser.add_argument("--n-basset", type=int, default=3_000, help="sequences for the Basset-size model")
    parser.add_argument("--sample", type=int, default=20_000, help="sequences for the forward-only rates")
    parser.add_argument("--sample-basset", type=int, default=1_000, help="the same for the Basset-size model")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; medians are reported")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    peak = matmul_gflops()
    print(f"matmul (2048 x 2048, float32): {peak:.1f} GFLOP/s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (name, kwargs) in MODELS.items():
            n, sample = (args.n, args.sample) if name == "deepbind" else (args.n_basset, args.sample_basset)
            rows.append(bench_model(label, name, kwargs, n, sample, args.rounds, Path(tmp)))
    print(f"\nmedians of {args.rounds} interleaved rounds; ratios are medians of per-round ratios")
    print("sequences/second (forward: plain model on float one-hot; dense/table: Scorer.run on pre-encoded")
    print("codes with the dense or the table first conv; score: seqcnn score end to end)")
    print(f"load average at the end: {os.getloadavg()}")
    header = (f"{'model':<14}{'n':>8}{'MFLOP/seq':>10}{'forward':>9}{'dense':>8}{'table':>8}{'score':>8}"
              f"{'vs fwd':>8}{'tangermeme':>11}{'vs tm':>7}{'fwd GFLOP/s':>12}{'score GFLOP/s':>14}")
    print(header)
    for r in rows:
        print(f"{r['model']:<14}{r['n']:>8,}{r['mflop']:>10.1f}{r['forward']:>9.0f}{r['dense']:>8.0f}"
              f"{r['table']:>8.0f}{r['seqcnn']:>8.0f}{r['score_fwd']:>8.0%}"
              f"{r['tangermeme']:>11.0f}"
              f"{r['score_tm']:>6.2f}x{r['mflop'] * r['forward'] / 1e3:>12.1f}"
              f"{r['mflop'] * r['seqcnn'] / 1e3:>14.1f}")
    print("\nper round (sequences/second):")
    for r in rows:
        print(f"{r['model']}: {r['rounds']}")


if __name__ == "__main__":
    main()
