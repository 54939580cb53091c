"""Benchmark seqcnn's exact DeepLIFT/SHAP against tangermeme's ``deep_lift_shap``, side by side.

Both explain the same model, the same sequences and the same references (20 dinucleotide shuffles
per sequence, drawn once by ``seqcnn.seq.shuffle.shuffle_one_hot`` and passed to both), output 0, on
the CPU, with the same threads:

- a DeepBind-like model: the registered ``deepbind`` (16 filters x 24, ReLU, global max, dense 32,
  1 output), N=32 sequences of L=1000 (``--quick``: 8);
- a Basset-like model: the registered ``basset`` (300/200/200 filters of 19/11/7, BN, max-pool
  3/4/4, dense 1000 x 2, 164 outputs) at L=1000, N=2 sequences (``--quick``: 1);
- a BPNet-like model: the registered ``bpnet`` (64 filters, first kernel 21, 8 dilated residual
  layers, 1 task) at L=2114, its counts head (``BPNetScalar(model, output="counts")``), N=2
  (``--quick``: 1).

The peer is measured at its best: before the timed rounds its ``batch_size`` (sequence-reference
pairs per pass) is swept over 16-1024 (16-256 for BPNet) on the same work, one call per size, and the
fastest is used; the sweep's rates and the chosen size are printed. seqcnn runs at its default batch
size. Because a shared machine's speed drifts from minute to minute, the two are timed in alternation
(``--rounds`` pairs of calls): the speed-up is the median of the per-round ratios, each rate (pairs
per second, a pair being one sequence and one reference) the median of its rounds.

Printed besides: the max abs difference of the contributions, and each tool's largest convergence
delta relative to the mean |f(x) - f(r)| (tangermeme has no rule for the global max of DeepBind, so
its delta there is large; the contributions then differ too). Drawing the references is not timed;
its cost is printed once for each tool's shuffle (``shuffle_one_hot`` and tangermeme's
``dinucleotide_shuffle``, after a warm-up call).

Run: ``python scripts/bench_attr.py`` (about 5 minutes on 2 cores; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
import warnings

import numpy as np
import torch
from _peer import SWEEP, describe
from _peer import sweep as peer_sweep

from seqcnn.interpret.attribution.deeplift import deep_lift_shap
from seqcnn.models.registry import build_model
from seqcnn.seq.shuffle import shuffle_one_hot

N_REFS = 20


def random_one_hot(n: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 4, length)
    x[torch.arange(n)[:, None], torch.randint(4, (n, length), generator=g), torch.arange(length)] = 1
    return x


def time_ours(model: torch.nn.Module, x: torch.Tensor, refs: torch.Tensor) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    contrib = deep_lift_shap(model, x, target=0, references=refs, device="cpu")
    return time.perf_counter() - start, contrib


def time_tangermeme(model: torch.nn.Module, x: torch.Tensor, refs: torch.Tensor, batch_size: int
                    ) -> tuple[float, np.ndarray]:
    from tangermeme.deep_lift_shap import deep_lift_shap as tm_deep_lift_shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its convergence warnings (DeepBind's global max)
        start = time.perf_counter()
        contrib = tm_deep_lift_shap(model, x, target=0, references=refs, batch_size=batch_size, device="cpu")
        return time.perf_counter() - start, contrib.numpy()


def relative_delta(model: torch.nn.Module, x: torch.Tensor, refs: torch.Tensor, contrib: np.ndarray) -> float:
    """Largest |sum of contributions - (f(x) - mean f(r))| over sequences, over the mean |f(x) - f(r)|."""
    with torch.no_grad():
        y_x = model(x)[:, 0]
        y_r = model(refs.flatten(0, 1))[:, 0].view(refs.shape[:2])
    change = (y_x - y_r.mean(1)).numpy()
    scale = (y_x[:, None] - y_r).abs().mean(1).numpy()
    return float((np.abs(contrib.sum((1, 2)) - change) / scale).max())


def shuffle_costs(x: torch.Tensor) -> tuple[float, float]:
    from tangermeme.ersatz import dinucleotide_shuffle

    dinucleotide_shuffle(x[:1], n=1, random_state=0)  # warm-up (numba compilation)
    start = time.perf_counter()
    shuffle_one_hot(x.numpy(), k=2, n=N_REFS, seed=0)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    dinucleotide_shuffle(x, n=N_REFS, random_state=0)
    return ours, time.perf_counter() - start


def bench(args: argparse.Namespace) -> list[dict]:
    from seqcnn.models.bpnet import BPNetScalar

    quick = args.quick
    cases = [
        ("DeepBind-like", build_model("deepbind"), 8 if quick else 32, 1000, SWEEP),
        ("Basset-like", build_model("basset", input_length=1000), 1 if quick else 2, 1000, SWEEP),
        ("BPNet-like (counts)", BPNetScalar(build_model("bpnet"), output="counts"), 1 if quick else 2, 2114,
         SWEEP[:5]),
    ]
    rows = []
    for name, model, n, length, sizes in cases:
        torch.manual_seed(args.seed)
        model = model.eval()
        x = random_one_hot(n, length, args.seed)
        refs = torch.from_numpy(shuffle_one_hot(x.numpy(), k=2, n=N_REFS, seed=args.seed))
        pairs = n * N_REFS
        time_ours(model, x[:1], refs[:1])  # warm-up
        time_tangermeme(model, x[:1], refs[:1], 32)
        setting, rates = peer_sweep(functools.partial(time_tangermeme, model, x, refs),
                                    [{"batch_size": b} for b in sizes if b <= 2 * pairs], work=pairs,
                                    warmup="none")
        best = setting["batch_size"]
        print(f"# {name}: tangermeme sweep {describe(rates, setting, 'pairs/s')}", flush=True)
        ours_s, theirs_s, ratios = [], [], []
        for _ in range(args.rounds):
            t_ours, ours = time_ours(model, x, refs)
            t_theirs, theirs = time_tangermeme(model, x, refs, best)
            ours_s.append(t_ours)
            theirs_s.append(t_theirs)
            ratios.append(t_theirs / t_ours)
        shuffle_ours, shuffle_theirs = shuffle_costs(x)
        rows.append({
            "model": name, "N": n, "L": length, "pairs": pairs, "batch": best,
            "ours": pairs / statistics.median(ours_s), "theirs": pairs / statistics.median(theirs_s),
            "speedup": statistics.median(ratios), "range": (min(ratios), max(ratios)),
            "diff": float(np.abs(ours - theirs).max()), "scale": float(np.abs(theirs).max()),
            "delta_ours": relative_delta(model, x, refs, ours),
            "delta_theirs": relative_delta(model, x, refs, theirs),
            "shuffle": (shuffle_ours, shuffle_theirs),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sequences, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="alternating timed rounds (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 5)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads; {args.rounds} alternating rounds")
    rows = bench(args)
    print("| model | N x refs | L | seqcnn pairs/s | tangermeme pairs/s (batch) | speed-up (range) "
          "| max abs diff (scale) | rel. delta seqcnn / tangermeme | shuffles seqcnn / tangermeme |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['N']} x {N_REFS} | {r['L']} | {r['ours']:,.0f} | {r['theirs']:,.0f} "
              f"({r['batch']}) | {r['speedup']:.2f}x ({r['range'][0]:.2f}-{r['range'][1]:.2f}) "
              f"| {r['diff']:.1e} ({r['scale']:.1e}) | {r['delta_ours']:.1e} / {r['delta_theirs']:.1e} "
              f"| {r['shuffle'][0]:.2f} s / {r['shuffle'][1]:.2f} s |")


if __name__ == "__main__":
    main()
