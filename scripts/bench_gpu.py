"""The prepared device benchmark: training, scoring and ISM side by side on one device (a lent GPU).

One call: ``python scripts/bench_gpu.py`` (the device is CUDA when there is one), sized to take 3-5
minutes on an H100 (an estimate: it has not run on one yet), well inside a 600 s limit;
``--device cpu --quick`` is the smoke run of every row on a CPU (about 2.5 minutes on 2 cores). Each
row is printed (and flushed) as soon as it is measured, so a run cut off by a time limit still leaves
its figures; a row that fails prints its error and the run goes on. Sections (``--sections``):

- ``train``: ``configs/koo_cnn.yaml``, ``basset.yaml`` and ``bpnet.yaml`` as shipped (bpnet's profile
  targets are the synthetic read piles of the planted sites), each on the same small simulated set
  (``--n-train`` sequences of 200 bp, 70% of them for training), for ``--epochs`` epochs without
  early stopping, in ``fp32`` and then ``bf16`` (autocast): seconds an epoch (training + validation;
  the median of the epochs after the first, the first, with its warm-up, shown apart) and the best
  validation metric.
- ``score``: DeepBind-size and Basset-size models on random 1,000 bp sequences, sequences/s of
  the forward pass on float one-hot already on the device (the upper bound); the same codes copied
  to the device as uint8 and expanded there by a table look-up (``onehot_by_lookup``, alone);
  ``Scorer.run`` on base codes, which is what ``seqcnn score`` does (on an accelerator the codes
  travel as uint8 and are expanded on the device; on the CPU by the numba loop); ``score_fasta`` from
  the FASTA file in this process (``seqcnn score`` without its start-up and TSV writing); and
  tangermeme's encoder +
  ``predict`` at its best encoder and ``batch_size`` (16-1024, swept first).
- ``ism``: ``seqcnn.interpret.ism.ism`` against ``tangermeme.saturation_mutagenesis`` on the models
  of ``scripts/bench_ism.py`` (registered ``deepbind`` N=64 x 1,000 bp, ``basset`` N=4 x 1,000 bp,
  ``bpnet`` counts head via ``BPNetScalar`` N=1 x 2,114 bp). tangermeme is swept first over
  ``fast`` True/False x ``batch_size`` 32-1024 on a subset (its fast path forced, as in bench_ism),
  and its fastest setting is timed in ``--rounds`` rounds alternating with seqcnn; the speed-up is
  the median of the per-round ratios. ``--quick`` scores fewer sequences and mutates a 48-base
  window of the Basset and BPNet inputs.

Float32 rows run with torch's defaults (on CUDA, cuDNN may use TF32 for convolutions; both the flags
are printed). Results go to docs/benchmarks.md under the card's name.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _peer import describe, setting_name, sweep
from bench_score import saved_model, scorer_rate, tangermeme_best, tangermeme_rate, write_fasta

from seqcnn.config import load_config
from seqcnn.interpret.ism import ism
from seqcnn.models.registry import build_model
from seqcnn.score.scorer import Scorer, onehot_by_lookup
from seqcnn.score.scoring import score_fasta
from seqcnn.score.stream import rows_per_batch
from seqcnn.seq.codes import encode_codes
from seqcnn.seq.fasta import read_fasta
from seqcnn.train.loop import fit

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ISM_SWEEP = (32, 64, 128, 256, 512, 1024)
SECTIONS = ("train", "score", "ism")


def row(section: str, model: str, setting: str, value: str, check: str = "") -> None:
    print(f"| {section} | {model} | {setting} | {value} | {check} |", flush=True)


def guarded(section: str, model: str, step: Callable[[], None]) -> None:
    """Run one measurement; an error becomes a row, and the run goes on."""
    try:
        step()
    except Exception as exc:  # a one-shot device run must leave every other figure
        row(section, model, "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


# -- training -------------------------------------------------------------------------------------
def train_row(name: str, precision: str, args: argparse.Namespace, tmp: Path) -> None:
    """Train a shipped config on the shared small simulated set; print seconds an epoch."""
    cfg = load_config(CONFIGS / f"{name}.yaml")
    cfg.data.path = str(tmp / "sim")  # simulated by the first run, reused by the others
    cfg.data.simulate = {"n_sequences": args.n_train, "length": 200}
    cfg.train.epochs, cfg.train.patience, cfg.train.precision = args.epochs, None, precision
    cfg.output.plots = False
    result = fit(cfg, out_dir=tmp / f"{name}-{precision}", device=args.device)
    seconds = pd.read_csv(result.metrics_path, sep="\t")["seconds"].to_numpy()
    epochs = np.diff(seconds, prepend=0.0)
    later = float(np.median(epochs[1:])) if len(epochs) > 1 else float("nan")
    row("train", name, f"{precision}, batch {cfg.data.batch_size}, {len(epochs)} epochs",
        f"{later:.2f} s/epoch (epoch 1: {epochs[0]:.2f} s)",
        f"best {result.monitor} {result.best_metric:.3f}")


# -- scoring --------------------------------------------------------------------------------------
def device_expansion_rates(model: torch.nn.Module, codes: np.ndarray, device: str, step: int
                           ) -> tuple[float, float, np.ndarray]:
    """Sequences/s of the forward pass on device-resident float one-hot, and of uint8 codes copied to
    the device and expanded there, in batches of ``step``; and the second's probabilities.

    The expansion is the scorer's own (``seqcnn.score.scorer.onehot_by_lookup``: seqcnn's code table,
    so N and the other IUPAC codes expand exactly as on the CPU).
    """
    net = model.to(device).eval()
    batches = [codes[i:i + step] for i in range(0, len(codes), step)]

    def expand(batch: np.ndarray) -> torch.Tensor:  # (n, L) uint8 -> (n, 4, L) float32 on the device
        return onehot_by_lookup(batch, torch.device(device))

    with torch.inference_mode():
        resident = [expand(b) for b in batches]
        net(resident[0])
        synchronize(device)
        start = time.perf_counter()
        for x in resident:
            torch.sigmoid(net(x))
        synchronize(device)
        forward = len(codes) / (time.perf_counter() - start)
        del resident
        start = time.perf_counter()
        probs = np.concatenate([torch.sigmoid(net(expand(b))).cpu().numpy() for b in batches])
        expanded = len(codes) / (time.perf_counter() - start)
    model.cpu()
    return forward, expanded, probs


def fasta_rate(model: torch.nn.Module, fasta: Path, n: int, device: str) -> tuple[float, np.ndarray]:
    """Sequences/s of ``score_fasta`` (parse, encode, score) from the file, and its probabilities."""
    scorer = Scorer(model, device=device, rc="none")
    start = time.perf_counter()
    probs = np.concatenate([scores for _, scores in score_fasta(scorer, str(fasta))])
    elapsed = time.perf_counter() - start
    assert len(probs) == n, (len(probs), n)
    return n / elapsed, probs


def score_model(label: str, name: str, kwargs: dict, args: argparse.Namespace, tmp: Path) -> None:
    model = saved_model(name, kwargs, tmp)[1]  # with its metadata: binary tasks, so probabilities
    fasta = tmp / f"{name}.fa"
    write_fasta(fasta, args.n_score)
    seqs = [s for _, s in read_fasta(fasta)]
    codes = np.stack([encode_codes(s) for s in seqs])
    batch, bases = Scorer(model, rc="none", device=args.device).batch_plan(None)
    step = rows_per_batch(batch, codes.shape[1], bases)
    fasta_rate(model, fasta, args.n_score, args.device)  # warm-up (cuDNN plans, allocator)
    for size in sorted({step, 1024}):  # the scorer's batches, and larger ones (a GPU may want them)
        forward, expanded, probs = device_expansion_rates(model, codes, args.device, size)
        setting = f"{args.n_score} x 1,000 bp, batch {size}"
        row("score", label, f"forward, float one-hot already on the device; {setting}",
            f"{forward:,.0f} seq/s")
        row("score", label, f"codes copied as uint8, expanded on the device; {setting}",
            f"{expanded:,.0f} seq/s")
    setting = f"{args.n_score} x 1,000 bp, batch {step}"
    rate = scorer_rate(model, seqs, fast=None, device=args.device)
    row("score", label, f"Scorer.run on codes (seqcnn score's path; on a GPU, expanded on the device); "
        f"{setting}", f"{rate:,.0f} seq/s")
    rate, ours = fasta_rate(model, fasta, args.n_score, args.device)
    row("score", label, "score_fasta: FASTA -> scores in process (seqcnn score less start-up and TSV)",
        f"{rate:,.0f} seq/s", f"max |dp| vs device expansion {np.abs(ours - probs).max():.1e}")
    peer = tangermeme_best(label, model, seqs[:args.n_sweep], device=args.device)
    rate = tangermeme_rate(model, seqs, **peer, device=args.device)
    row("score", label, f"tangermeme encoder + predict ({setting_name(peer)})", f"{rate:,.0f} seq/s")


# -- ISM ------------------------------------------------------------------------------------------
def tangermeme_delta(model: torch.nn.Module, x: torch.Tensor, window: tuple[int, int], device: str,
                     fast: bool, batch_size: int) -> tuple[np.ndarray, bool]:
    """tangermeme's output changes ``(N, 4, positions, T)`` and whether its fast path fell back."""
    import tangermeme.saturation_mutagenesis as tsm

    tsm._FAST_MIN_SECONDS = 0.0  # take the fast path even for a short job, as bench_ism.py does
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y0, y_hat = tsm.saturation_mutagenesis(model, x, start=window[0], end=window[1], raw_outputs=True,
                                               fast=fast, device=device, batch_size=batch_size)
    fell_back = fast and any("fast=False" in str(w.message) for w in caught)
    return (y_hat - y0[:, None, None, :]).numpy(), fell_back


def ism_model(label: str, model: torch.nn.Module, n: int, length: int, n_sweep: int, window: tuple[int, int],
              args: argparse.Namespace) -> None:
    """Time seqcnn's ISM against tangermeme's at its best on positions ``window`` of N random sequences."""
    from tangermeme.utils import random_one_hot

    model = model.eval()
    x = random_one_hot((n, 4, length), random_state=0).float()
    mutations = n * (window[1] - window[0]) * 3
    ism(model, x[:1], start=window[0], end=window[1], device=args.device)  # warm-up
    sub = x[:n_sweep]
    sub_mutations = mutations * n_sweep // n
    settings = [{"fast": f, "batch_size": b} for f in (True, False) for b in ISM_SWEEP
                if b <= max(ISM_SWEEP[0], sub_mutations)]
    best, rates = sweep(lambda **s: tangermeme_delta(model, sub, window, args.device, **s), settings,
                        sub_mutations)
    print(f"# ISM {label}: tangermeme sweep on {n_sweep} seq " + describe(rates, best, "mut/s"), flush=True)
    ours_s, theirs_s = [], []
    for _ in range(args.rounds):  # alternate, so that both see the same machine
        start = time.perf_counter()
        ours = ism(model, x, start=window[0], end=window[1], device=args.device).delta
        ours_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs, fell_back = tangermeme_delta(model, x, window, args.device, **best)
        theirs_s.append(time.perf_counter() - start)
    speedup = statistics.median(t / o for t, o in zip(theirs_s, ours_s, strict=True))
    setting = f"N={n} x {length} bp, positions {window[0]}-{window[1]}"
    row("ism", label, f"seqcnn ism; {setting}", f"{mutations / statistics.median(ours_s):,.0f} mut/s",
        f"{speedup:.2f}x tangermeme")
    row("ism", label, f"tangermeme ({setting_name(best)}{', fell back to fast=False' if fell_back else ''})",
        f"{mutations / statistics.median(theirs_s):,.0f} mut/s",
        f"max |diff| {np.abs(ours - theirs).max():.1e} (scale {np.abs(theirs).max():.1e})")


def ism_cases(quick: bool) -> list[tuple[str, torch.nn.Module, int, int, int, tuple[int, int]]]:
    """The models of bench_ism.py: label, model, N, L, sequences in tangermeme's sweep, positions
    mutated (all; in a quick run 48 in the middle for Basset and BPNet)."""
    from seqcnn.models.bpnet import BPNetScalar

    def positions(length: int) -> tuple[int, int]:
        return (length // 2 - 24, length // 2 + 24) if quick else (0, length)

    torch.manual_seed(0)
    deepbind, basset = build_model("deepbind"), build_model("basset", input_length=1000)
    bpnet = BPNetScalar(build_model("bpnet"), output="counts")
    return [
        ("DeepBind-like", deepbind, 4 if quick else 64, 1000, 2 if quick else 8, (0, 1000)),
        ("Basset-like", basset, 1 if quick else 4, 1000, 1, positions(1000)),
        ("BPNet-like (counts)", bpnet, 1, 2114, 1, positions(2114)),
    ]


# -- main -----------------------------------------------------------------------------------------
def header(device: str) -> None:
    card = torch.cuda.get_device_name(torch.device(device)) if torch.device(device).type == "cuda" else "CPU"
    print(f"# device {device}: {card}; torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.get_num_threads()} CPU threads of {os.cpu_count()} CPUs", flush=True)
    if torch.device(device).type == "cuda":
        print(f"# TF32: cuDNN convolutions {torch.backends.cudnn.allow_tf32}, matmul "
              f"{torch.backends.cuda.matmul.allow_tf32}", flush=True)
    print("| section | model | setting | figure | check |\n|---|---|---|---|---|", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="a smoke run of every row (small sizes)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated: train,score,ism")
    parser.add_argument("--n-train", type=int, help="simulated sequences (default 6000; quick 600)")
    parser.add_argument("--epochs", type=int, help="epochs a run (default 3; quick 2)")
    parser.add_argument("--n-score", type=int, help="sequences scored (default 20000; quick 512)")
    parser.add_argument("--n-sweep", type=int, help="sequences in tangermeme's predict sweep (4096; 256)")
    parser.add_argument("--rounds", type=int, help="alternating ISM rounds (default 3; quick 1)")
    args = parser.parse_args()
    quick = args.quick
    args.n_train = args.n_train or (600 if quick else 6000)
    args.epochs = args.epochs or (2 if quick else 3)
    args.n_score = args.n_score or (512 if quick else 20000)
    args.n_sweep = args.n_sweep or (256 if quick else 4096)
    args.rounds = args.rounds or (1 if quick else 3)
    sections = args.sections.split(",")
    began = time.perf_counter()
    header(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        if "train" in sections:
            for name in ("koo_cnn", "basset", "bpnet"):
                for precision in ("fp32", "bf16"):
                    guarded("train", name, partial(train_row, name, precision, args, Path(tmp)))
        if "score" in sections:
            for label, name, kwargs in (("DeepBind-size", "deepbind", {"n_tasks": 1}),
                                        ("Basset-size", "basset", {"n_tasks": 164, "input_length": 1000})):
                guarded("score", label, partial(score_model, label, name, kwargs, args, Path(tmp)))
        if "ism" in sections:
            for label, *case in ism_cases(quick):
                guarded("ism", label, partial(ism_model, label, *case, args))
    print(f"# done in {time.perf_counter() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()
