"""Benchmark seqcnn's fast exact ISM against tangermeme, and check ISM quality on planted motifs.

Speed (one CPU run, the same threads for everyone): ``seqcnn.interpret.ism.ism`` against
``tangermeme.saturation_mutagenesis`` with ``fast=False`` (one forward pass per mutant) and
``fast=True`` (its fastISM path; its "skip when the job is short" threshold is set to 0 so that the
fast path is really taken) on

- a DeepBind-like model: the registered ``deepbind`` (16 filters x 24, ReLU, global max, dense 32,
  1 output), N=64 sequences of L=1000;
- a Basset-like model: the registered ``basset`` (300/200/200 filters of 19/11/7, BN, max-pool
  3/4/4, dense 1000 x 2, 164 outputs) at L=1000, N=4 sequences;
- a BPNet-like model: the registered ``bpnet`` (64 filters, first kernel 21, 8 dilated residual
  layers, 1 task) at L=2114, its counts head (``BPNetScalar(model, output="counts")``, an (N, 1)
  output), N=1 sequence.

The peer is measured at its best: before the timed rounds, tangermeme's ``batch_size`` is swept
(16-1024; 32-256 for BPNet) on a subset of the sequences, the best of two calls per size, for its
fast path and, for DeepBind, its plain path too (elsewhere the plain path uses the fast path's best size); the
fastest setting is used, and the sweep's rates and the chosen sizes are printed.

Mutations/s count the 3 substitutions of every position (``N * L * 3``). The max abs difference of
the output changes (mutant - reference) against both tangermeme paths is printed. Because a shared
machine's speed drifts by tens of percent from minute to minute, seqcnn and tangermeme's fast path
are timed in alternation (``--rounds`` pairs of calls, back to back): the speed-up is the median of
the per-round ratios (against the faster of tangermeme's two paths), and each rate the median of its
rounds. The plain path runs once.

Quality: a ``koo_cnn`` trained briefly (plain loop) on a simulated planted-motif set
(``seqcnn.seq.simulate``); on held-out sequences with planted sites, the per-sequence AUROC of
``max |delta|`` over substitutions (for the planted motifs' tasks) against the planted positions.

Run: ``python scripts/bench_ism.py`` (about 10 minutes on 2 cores; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _peer import SWEEP, describe
from _peer import sweep as peer_sweep

from seqcnn.interpret.ism import ism
from seqcnn.models.registry import build_model


def random_one_hot(n: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 4, length)
    x[torch.arange(n)[:, None], torch.randint(4, (n, length), generator=g), torch.arange(length)] = 1
    return x


def time_ours(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    result = ism(model, x, device="cpu")
    return time.perf_counter() - start, result.delta


def time_tangermeme(model: torch.nn.Module, x: torch.Tensor, fast: bool, batch_size: int
                    ) -> tuple[float, np.ndarray, str]:
    import tangermeme.saturation_mutagenesis as tsm

    tsm._FAST_MIN_SECONDS = 0.0  # always attempt the fast path when fast=True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        y0, y_hat = tsm.saturation_mutagenesis(model, x, raw_outputs=True, fast=fast, device="cpu",
                                               batch_size=batch_size)
        elapsed = time.perf_counter() - start
    fell_back = [str(w.message) for w in caught if "fast=False" in str(w.message)]
    note = "fell back to fast=False" if fast and fell_back else ""
    delta = (y_hat - y0[:, None, None, :]).numpy()
    return elapsed, delta, note


def sweep(model: torch.nn.Module, x: torch.Tensor, fast: bool, sizes: tuple[int, ...]) -> tuple[int, str]:
    """tangermeme's fastest batch size on ``x`` (the best of two calls per size; one call per size chose a
    size 1.5x slower than the best on the full job in one run) and the sweep as printed."""
    best, rates = peer_sweep(lambda batch_size: time_tangermeme(model, x, fast=fast, batch_size=batch_size),
                             [{"batch_size": b} for b in sizes], work=x.shape[0] * x.shape[-1] * 3, repeats=2)
    return best["batch_size"], describe(rates, best, "mut/s")


def speed(args: argparse.Namespace) -> list[dict]:
    from seqcnn.models.bpnet import BPNetScalar

    quick = args.quick
    # name, model, N, L, sequences for the fast sweep, sequences for the plain sweep (0: use fast's best),
    # batch sizes swept
    cases = [
        ("DeepBind-like", build_model("deepbind"), 8 if quick else 64, 1000, 8 if quick else 16, 4, SWEEP),
        ("Basset-like", build_model("basset", input_length=1000), 1 if quick else 4, 1000, 1, 0, SWEEP),
        ("BPNet-like (counts)", BPNetScalar(build_model("bpnet"), output="counts"), 1, 2114, 1, 0,
         (32, 64, 128, 256)),
    ]
    rows = []
    for name, model, n, length, n_fast, n_plain, sizes in cases:
        torch.manual_seed(args.seed)
        model = model.eval()
        x = random_one_hot(n, length, args.seed)
        mutations = n * length * 3
        start = time.perf_counter()
        ism(model, x[:1], device="cpu")  # warm-up (allocator, first plan)
        warm_s = time.perf_counter() - start
        fast_batch, fast_sweep = sweep(model, x[:n_fast], True, sizes)
        print(f"# {name}: seqcnn warm-up call {warm_s:.1f} s; tangermeme sweep, fast=True on {n_fast} seq "
              f"{fast_sweep}", flush=True)
        plain_batch = fast_batch
        if n_plain:
            plain_batch, plain_sweep = sweep(model, x[:n_plain], False, sizes)
            print(f"# {name}: fast=False on {n_plain} seq {plain_sweep}", flush=True)
        plain_s, plain, _ = time_tangermeme(model, x, fast=False, batch_size=plain_batch)
        ours_s, fast_s, ratios = [], [], []
        for _ in range(args.rounds):  # alternate, so that both see the same machine
            t_ours, ours = time_ours(model, x)
            t_fast, fast, note = time_tangermeme(model, x, fast=True, batch_size=fast_batch)
            ours_s.append(t_ours)
            fast_s.append(t_fast)
            ratios.append(min(plain_s, t_fast) / t_ours)  # against the faster tangermeme path
        rows.append({
            "model": name, "N": n, "L": length, "mutations": mutations,
            "ours": mutations / statistics.median(ours_s), "tm_plain": mutations / plain_s,
            "tm_fast": mutations / statistics.median(fast_s), "speedup": statistics.median(ratios),
            "range": (min(ratios), max(ratios)),
            "diff_plain": float(np.abs(ours - plain).max()), "diff_fast": float(np.abs(ours - fast).max()),
            "scale": float(np.abs(plain).max()), "note": note, "fast_batch": fast_batch,
            "plain_batch": plain_batch,
        })
    return rows


def train_koo(paths: dict, epochs: int, seed: int) -> tuple[torch.nn.Module, list[str]]:
    import pandas as pd

    from seqcnn.seq.encode import one_hot
    from seqcnn.seq.fasta import read_fasta

    labels = pd.read_csv(paths["labels"], sep="\t", index_col="id")
    records = list(read_fasta(str(paths["train"])))
    x = torch.as_tensor(one_hot([s for _, s in records]))
    y = torch.as_tensor(labels.loc[[i for i, _ in records]].to_numpy(), dtype=torch.float32)
    torch.manual_seed(seed)
    model = build_model("koo_cnn", n_tasks=y.shape[1], input_length=x.shape[-1], first_activation="exp")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x))
        for a in range(0, len(x), 128):
            idx = order[a:a + 128]
            optimizer.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            optimizer.step()
    return model.eval(), list(labels.columns)


def quality(args: argparse.Namespace) -> dict:
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from seqcnn.seq.encode import one_hot
    from seqcnn.seq.fasta import read_fasta
    from seqcnn.seq.simulate import simulate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        paths = simulate_dataset(Path(tmp), motifs=["MA0139.2", "MA0037.5", "MA0080.7", "MA0148.5"],
                                 n_sequences=3000 if args.quick else 20000, min_instances=1, max_instances=3,
                                 seed=args.seed)
        start = time.perf_counter()
        model, tasks = train_koo(paths, 2 if args.quick else 8, args.seed)
        train_s = time.perf_counter() - start
        sites = pd.read_csv(paths["sites"], sep="\t")
        test = [(i, s) for i, s in read_fasta(str(paths["test"])) if i in set(sites["id"])]
        test = test[:200]
        result = ism(model, one_hot([s for _, s in test]), device="cpu")
    aucs = []
    for n, (record_id, seq) in enumerate(test):
        planted = sites[sites["id"] == record_id]
        truth = np.zeros(len(seq), dtype=bool)
        for row in planted.itertuples():
            truth[row.start:row.end] = True
        task_idx = sorted({tasks.index(m) for m in planted["motif"]})
        score = np.abs(result.delta[n][..., task_idx]).max(axis=(0, 2))
        if truth.any() and not truth.all():
            aucs.append(roc_auc_score(truth, score))
    return {"sequences": len(aucs), "mean_auroc": float(np.mean(aucs)),
            "median_auroc": float(np.median(aucs)), "train_s": train_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads for every contender")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating seqcnn / tangermeme fast calls")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# seqcnn ISM benchmark: torch {torch.__version__}, {args.threads} thread(s)")
    if not args.skip_speed:
        rows = speed(args)
        print("\n| model | N x L | mutations | seqcnn mut/s | tangermeme plain mut/s (batch) "
              "| tangermeme fast mut/s (batch) | speed-up vs faster tangermeme (median, range of rounds) "
              "| max abs diff (plain / fast) | output scale |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            note = f" ({r['note']})" if r["note"] else ""
            print(f"| {r['model']} | {r['N']} x {r['L']} | {r['mutations']:,} | {r['ours']:,.0f} "
                  f"| {r['tm_plain']:,.0f} ({r['plain_batch']}) "
                  f"| {r['tm_fast']:,.0f} ({r['fast_batch']}){note} "
                  f"| {r['speedup']:.1f}x ({r['range'][0]:.1f}-{r['range'][1]:.1f}x) "
                  f"| {r['diff_plain']:.2g} / {r['diff_fast']:.2g} | {r['scale']:.3g} |")
    if not args.skip_quality:
        q = quality(args)
        print(f"\nQuality: koo_cnn (exp first activation) trained {q['train_s']:.0f} s on planted motifs; "
              f"per-sequence AUROC of max|ISM| vs planted positions over {q['sequences']} held-out "
              f"sequences: mean {q['mean_auroc']:.3f}, median {q['median_auroc']:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
