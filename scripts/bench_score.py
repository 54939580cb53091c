"""Benchmark ``seqcnn score`` against the model's forward pass and against tangermeme.

For a DeepBind-size and a Basset-size model on random 1,000 bp sequences (CPU; every method timed
once per round, rounds interleaved, medians reported):

- ``forward``: the plain model forward on pre-encoded float32 one-hot tensors (batches of 256,
  inference mode), timed on a slice and reported as sequences/second;
- ``fast`` / ``plain``: ``Scorer.run`` on pre-encoded base codes with seqcnn's fast paths (fused
  first block, FFT convolutions) or without them, batches as ``seqcnn score`` makes them;
- ``in-process``: ``score_fasta`` from the FASTA file to a TSV file in this (warm) process: parsing,
  encoding, scoring and writing, without the interpreter's start-up;
- ``seqcnn score``: end to end, ``seqcnn score MODEL FASTA -o out.tsv`` in a subprocess: start-up,
  model load, FASTA parsing, encoding, scoring and writing the TSV (ratio vs ``forward``, target >= 85%);
- ``start-up``: the same command on a one-record FASTA file (seconds);
- ``tangermeme``: tangermeme's one-hot encoder on the (already parsed) sequences, then
  ``tangermeme.predict``; its time excludes file parsing (ours includes it). It runs at its best:
  before the timed rounds, on the first ``--sweep`` sequences (Basset: ``--sweep-basset``), its two
  encoders (``one_hot_encode`` a sequence at a time, stacked; the batch encoder ``_one_hot_encode_rows``
  on torch's threads) and then ``predict``'s ``batch_size`` (16-1024) are tried, one call each, and the
  fastest of each is used; the sweeps' rates and the settings used are printed;
- GFLOP/s: the dense model's multiply-adds x 2 per sequence times sequences/second, next to
  this machine's float32 matrix-multiply GFLOP/s.

    python scripts/bench_score.py                    # DeepBind 100,000 x 1,000 bp; Basset 3,000
    python scripts/bench_score.py --n 20000 --n-basset 1000
    python scripts/bench_score.py --n 3000 --n-basset 300 --sample 3000 --sample-basset 300 \
        --sweep 1024 --sweep-basset 256 --rounds 1    # a smoke run

The forward-only rates are timed on the first ``--sample`` sequences (Basset: ``--sample-basset``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _peer import SWEEP, describe, setting_name, sweep
from torch import nn

from seqcnn.modelfile import ModelMetadata, load_model, save_model
from seqcnn.models.registry import build_model
from seqcnn.score.scoring import keep_freed_memory
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


def scorer_rate(model: nn.Module, seqs: list[str], fast: bool | None, device: str = "cpu") -> float:
    """Sequences/second of ``Scorer.run`` on pre-encoded codes, with or without the fast paths (None:
    the scorer's choice), in the batches ``seqcnn score`` would use, on ``device``."""
    from seqcnn.score.scorer import Scorer
    from seqcnn.score.stream import rows_per_batch
    from seqcnn.seq.codes import encode_codes

    scorer = Scorer(model, rc="none", fast=fast, device=device)
    codes = np.stack([encode_codes(s) for s in seqs])
    batch, bases = scorer.batch_plan(None)
    step = rows_per_batch(batch, codes.shape[1], bases)
    batches = [scorer.prepare(codes[i : i + step]) for i in range(0, len(codes), step)]
    with scorer:  # the model lent once, as score_fasta does
        scorer.run(batches[0])
        start = time.perf_counter()
        for batch in batches:
            scorer.run(batch)
        return len(seqs) / (time.perf_counter() - start)


def in_process_rate(model: nn.Module, fasta: Path, n: int, out: Path) -> float:
    """Sequences/second of ``score_fasta`` + TSV writing in this (warm) process: what ``seqcnn score``
    does after start-up."""
    from seqcnn.io.tables import open_table
    from seqcnn.score.scorer import Scorer
    from seqcnn.score.scoring import score_fasta

    scorer = Scorer(model)  # built (tables, FFT spectra, probes) before the clock: start-up measures it
    start = time.perf_counter()
    rows = 0
    with open_table(str(out)) as table:
        for chunk, scores in score_fasta(scorer, str(fasta), batch_size=None):
            cols = {"id": chunk.keys, **dict(zip(scorer.task_names(scores.shape[1]), scores.T, strict=True))}
            table.write(cols)
            rows += len(chunk.keys)
    elapsed = time.perf_counter() - start
    assert rows == n, (rows, n)
    return n / elapsed


def startup_seconds(model_path: Path, fasta: Path, out: Path) -> float:
    """Wall seconds of ``seqcnn score`` on the first record only (interpreter, imports, model, probes)."""
    one = out.with_suffix(".one.fa")
    with open(fasta) as src, open(one, "w") as dst:
        dst.write(src.readline())
        for line in src:
            if line.startswith(">"):
                break
            dst.write(line)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seqcnn.cli", "score", str(model_path), str(one), "-o", str(out),
                    "-q"], check=True)
    return time.perf_counter() - start


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


def tangermeme_encoders() -> dict[str, Callable[[list[str]], torch.Tensor]]:
    """tangermeme's two ways to one-hot encode a list of strings, each to an int8 ``(N, 4, L)`` tensor:
    its public ``one_hot_encode`` a sequence at a time, stacked, and its batch encoder
    ``_one_hot_encode_rows`` (what its ``extract_loci`` uses) on torch's thread count."""
    from tangermeme.utils import _one_hot_encode_rows, one_hot_encode

    threads = torch.get_num_threads()
    return {
        "one_hot_encode": lambda seqs: torch.stack([one_hot_encode(s) for s in seqs]),
        "_one_hot_encode_rows": lambda seqs: torch.from_numpy(_one_hot_encode_rows(seqs, n_jobs=threads)),
    }


def tangermeme_best(label: str, model: nn.Module, seqs: list[str], device: str = "cpu") -> dict:
    """tangermeme at its best on ``seqs`` (a subset): the faster encoder, then ``predict``'s fastest
    ``batch_size`` (16-1024, under twice ``len(seqs)``), one call per setting; the sweeps are printed.

    ``predict``'s other knobs: ``dtype`` autocasts (bfloat16 would change the scores, so it is not
    tried: both tools score in float32), ``verbose`` only draws a progress bar, ``device`` is the same
    for both. The input stays int8, as its encoders give it (``predict`` converts a batch at a time):
    converting to float32 first was slower (DeepBind-size, batch 32, one thread: 19-22k seq/s against
    22-24k).
    """
    from tangermeme.predict import predict

    encoders = tangermeme_encoders()
    encoder, rates = sweep(lambda encoder: encoders[encoder](seqs), [{"encoder": e} for e in encoders],
                           len(seqs), warmup="each")  # each encoder's numba compilation
    print(f"# {label}: tangermeme encoder sweep on {len(seqs)} seq " + describe(rates, encoder, "seq/s"),
          flush=True)
    x = encoders[encoder["encoder"]](seqs)
    sizes = [{"batch_size": b} for b in SWEEP if b < 2 * len(seqs)]  # 1024 on 1,000: one batch of all
    batch, rates = sweep(lambda batch_size: predict(model, x, batch_size=batch_size, device=device), sizes,
                         len(seqs))
    print(f"# {label}: tangermeme predict batch_size sweep on {len(seqs)} seq "
          + describe(rates, batch, "seq/s"), flush=True)
    return {**encoder, **batch}


def tangermeme_rate(model: nn.Module, seqs: list[str], encoder: str, batch_size: int, device: str = "cpu"
                    ) -> float:
    """Sequences/second of tangermeme's encoder + ``predict`` (sequences already parsed)."""
    from tangermeme.predict import predict

    encode = tangermeme_encoders()[encoder]
    start = time.perf_counter()
    predict(model, encode(seqs), batch_size=batch_size, device=device)
    return len(seqs) / (time.perf_counter() - start)


def saved_model(name: str, kwargs: dict, workdir: Path) -> tuple[Path, nn.Module]:
    """A seeded registered model saved as a binary-task model file (rc_mode none), and loaded back."""
    torch.manual_seed(0)
    meta = ModelMetadata(name, kwargs, tasks=[f"t{i}" for i in range(kwargs["n_tasks"])], task_type="binary",
                         input_length=kwargs.get("input_length"), rc_mode="none")
    path = save_model(build_model(name, **kwargs), workdir / f"{name}.safetensors", meta)
    return path, load_model(path)


def bench_model(label: str, name: str, kwargs: dict, n: int, n_sample: int, n_sweep: int, rounds: int,
                workdir: Path) -> dict:
    path, model = saved_model(name, kwargs, workdir)
    fasta = workdir / f"{name}.fa"
    write_fasta(fasta, n)
    seqs = [s for _, s in read_fasta(fasta)]
    flops = dense_flops(model)
    sample = seqs[: min(n, n_sample)]
    diff = max_difference(model, sample[:256])
    peer = tangermeme_best(label, model, sample[:n_sweep])
    names = ("forward", "fast", "plain", "in_process", "seqcnn", "startup", "tangermeme")
    timings: dict[str, list[float]] = {k: [] for k in names}
    for _ in range(rounds):  # interleaved, so that the machine's load drifts across all methods alike
        timings["forward"].append(forward_rate(model, sample))
        timings["fast"].append(scorer_rate(model, sample, fast=True))
        timings["plain"].append(scorer_rate(model, sample, fast=False))
        timings["in_process"].append(in_process_rate(model, fasta, n, workdir / f"{name}.inproc.tsv"))
        timings["seqcnn"].append(seqcnn_rate(path, fasta, n, workdir / f"{name}.tsv"))
        timings["startup"].append(startup_seconds(path, fasta, workdir / f"{name}.one.tsv"))
        timings["tangermeme"].append(tangermeme_rate(model, seqs, **peer))
    medians = {k: float(np.median(v)) for k, v in timings.items()}
    ratios = {f"{a}_{b}": float(np.median(np.divide(timings[a], timings[b])))
              for a in ("seqcnn", "in_process") for b in ("forward", "tangermeme")}
    return {"model": label, "n": n, "sample": len(sample), "mflop": flops / 1e6, "diff": diff, "peer": peer,
            **medians, **ratios, "rounds": {k: [round(x, 2) if k == "startup" else round(x) for x in v]
                                 for k, v in timings.items()}}


def max_difference(model: nn.Module, seqs: list[str]) -> float:
    """Largest |probability difference| between the fast scorer and the plain forward pass."""
    from seqcnn.score.scorer import Scorer
    from seqcnn.seq.codes import encode_codes

    scorer = Scorer(model, rc="none")
    with torch.inference_mode():
        plain = torch.sigmoid(model(torch.from_numpy(one_hot(seqs)))).numpy()
    fast = scorer.run(scorer.prepare(np.stack([encode_codes(s) for s in seqs])))
    return float(np.abs(fast - plain).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="sequences for the DeepBind-size model")
    parser.add_argument("--n-basset", type=int, default=3_000, help="sequences for the Basset-size model")
    parser.add_argument("--sample", type=int, default=20_000, help="sequences for the forward-only rates")
    parser.add_argument("--sample-basset", type=int, default=1_000, help="the same for the Basset-size model")
    parser.add_argument("--sweep", type=int, default=4096, help="sequences for tangermeme's settings sweep")
    parser.add_argument("--sweep-basset", type=int, default=1024, help="the same for the Basset-size model")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; medians are reported")
    args = parser.parse_args()
    keep_freed_memory()  # as seqcnn score does; the in-process baselines (forward, tangermeme) gain too
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    peak = matmul_gflops()
    print(f"matmul (2048 x 2048, float32): {peak:.1f} GFLOP/s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (name, kwargs) in MODELS.items():
            n, sample, n_sweep = ((args.n, args.sample, args.sweep) if name == "deepbind"
                                  else (args.n_basset, args.sample_basset, args.sweep_basset))
            rows.append(bench_model(label, name, kwargs, n, sample, n_sweep, args.rounds, Path(tmp)))
    print(f"\nmedians of {args.rounds} interleaved rounds; ratios are medians of per-round ratios")
    print("sequences/second (forward: plain model on float one-hot; fast/plain: Scorer.run on pre-encoded")
    print("codes with and without the fast paths; in-proc: FASTA file -> TSV in a warm process;")
    print("score: seqcnn score end to end in a subprocess; start-up: the same on one record, seconds)")
    print(f"load average at the end: {os.getloadavg()}")
    header = (f"{'model':<14}{'n':>8}{'MFLOP':>7}{'forward':>9}{'fast':>8}{'plain':>8}{'in-proc':>9}"
              f"{'score':>8}{'start-up':>9}{'tangermeme':>11}{'score/fwd':>10}{'score/tm':>9}"
              f"{'in-proc/fwd':>12}{'in-proc/tm':>11}{'fwd GF/s':>9}{'score GF/s':>11}{'max |dp|':>10}")
    print(header)
    for r in rows:
        print(f"{r['model']:<14}{r['n']:>8,}{r['mflop']:>7.1f}{r['forward']:>9.0f}{r['fast']:>8.0f}"
              f"{r['plain']:>8.0f}{r['in_process']:>9.0f}{r['seqcnn']:>8.0f}{r['startup']:>8.2f}s"
              f"{r['tangermeme']:>11.0f}{r['seqcnn_forward']:>10.0%}{r['seqcnn_tangermeme']:>8.2f}x"
              f"{r['in_process_forward']:>12.0%}{r['in_process_tangermeme']:>10.2f}x"
              f"{r['mflop'] * r['forward'] / 1e3:>9.1f}{r['mflop'] * r['seqcnn'] / 1e3:>11.1f}"
              f"{r['diff']:>10.1e}")
    print("tangermeme's settings (the fastest of its sweep): "
          + "; ".join(f"{r['model']}: {setting_name(r['peer'])}" for r in rows))
    print("\nper round (sequences/second; start-up in seconds):")
    for r in rows:
        print(f"{r['model']}: {r['rounds']}")


if __name__ == "__main__":
    main()
