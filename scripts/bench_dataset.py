"""Benchmark ``seqcnn dataset`` at whole-genome scale: wall time and peak memory growth.

Writes a synthetic genome FASTA (24 contigs with the lengths of GRCh38's chr1-22, X and Y scaled to
``--genome-mb`` megabases; GC varying by 100 kb segment between 0.35 and 0.60; a 1 Mb N gap at the
start of every contig, as assemblies have at centromeres and telomeres; 60 letters a line) and
``--peaks`` narrowPeak peaks (200-600 bp, random summits, scattered uniformly outside the gaps), then
builds a dataset with GC-matched negatives (ratio 1, ``--length`` bp windows) in a child process. The
child imports everything first (torch included: the config skeletons build each model once), reads its
resident memory, builds with progress bars on, and reports the wall time of the build and its peak
resident memory (``ru_maxrss``) minus the resident memory before it: the growth the build itself
causes, which must stay flat (< 500 MB) however large the genome.

Run: ``python scripts/bench_dataset.py`` (3,100 Mb: ~3.2 GB of disk, about 15 minutes on 2 cores
of which half is writing the genome); ``--genome-mb 300`` for a smaller run. ``--keep DIR`` keeps the
genome and peaks there and reuses them on the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# GRCh38 chr1-22, X, Y lengths in Mb (rounded), the contig proportions of the synthetic genome
HUMAN_MB = [248, 242, 198, 190, 181, 171, 159, 145, 138, 134, 135, 133, 114, 107, 102, 90, 83, 80, 59, 64,
            47, 51, 156, 57]
NAMES = [f"chr{i}" for i in range(1, 23)] + ["chrX", "chrY"]
GAP = 1_000_000
LINE = 60

CHILD = r"""
import json, os, resource, sys, time
import torch  # noqa: F401  imported before the baseline: the config skeletons need it
import seqcnn.models.registry as registry
registry.list_models()
from seqcnn.data.build import DatasetOptions, build_dataset

def rss_mb():
    with open("/proc/self/status") as handle:
        return next(int(l.split()[1]) for l in handle if l.startswith("VmRSS")) / 1024

genome, peaks, out, length = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
before = rss_mb()
start = time.perf_counter()
result = build_dataset(out, DatasetOptions(genome=genome, peaks=[peaks], length=length), progress=True)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
m = result.manifest
neg = m["negatives"]
print(json.dumps({"wall_s": wall, "rss_before_mb": before, "rss_peak_mb": peak, "growth_mb": peak - before,
                  "windows": m["windows"], "candidates": neg["candidates"], "ks": m["gc"]["ks_statistic"],
                  "borrowed": neg["borrowed_from_neighbouring_gc_bins"]}))
"""


def contig_sizes(total_mb: float) -> dict[str, int]:
    scale = total_mb * 1e6 / (sum(HUMAN_MB) * 1e6)
    return {name: max(3 * GAP, int(mb * 1e6 * scale)) for name, mb in zip(NAMES, HUMAN_MB, strict=True)}


def write_genome(path: Path, sizes: dict[str, int], seed: int) -> None:
    """Random bases in 1 Mb blocks, each written as 60-letter lines (the genome is never in memory whole)."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    block = 1_020_000  # a multiple of LINE
    with open(path, "wb") as handle:
        for name, size in sizes.items():
            handle.write(f">{name}\n".encode())
            for lo in range(0, size, block):
                n = min(block, size - lo)
                gc = np.repeat(rng.uniform(0.35, 0.60, n // 100_000 + 1), 100_000)[:n]
                draw = rng.random(n)
                base = np.where(draw < gc, np.where(draw < gc / 2, 1, 2), np.where(draw < (1 + gc) / 2, 0, 3))
                seq = letters[base]
                seq[max(0, -lo):max(0, GAP - lo)] = ord("N")
                rows = -(-n // LINE)
                padded = np.full(rows * (LINE + 1), ord("\n"), dtype=np.uint8)
                view = padded.reshape(rows, LINE + 1)
                full = n // LINE
                view[:full, :LINE] = seq[:full * LINE].reshape(full, LINE)
                tail = n - full * LINE
                if tail:
                    view[full, :tail] = seq[full * LINE:]
                    padded = padded[:full * (LINE + 1) + tail + 1]
                    padded[-1] = ord("\n")
                handle.write(padded.tobytes())


def write_peaks(path: Path, sizes: dict[str, int], n: int, seed: int) -> None:
    rng = np.random.default_rng(seed + 1)
    names = list(sizes)
    weights = np.asarray([sizes[c] - 2 * GAP for c in names], dtype=float)
    chrom = rng.choice(len(names), size=n, p=weights / weights.sum())
    width = rng.integers(200, 600, n)
    room = np.asarray([sizes[names[c]] for c in chrom]) - 2 * GAP - 600
    start = GAP + (rng.random(n) * room).astype(np.int64)
    summit = (rng.random(n) * width).astype(np.int64)
    with open(path, "w") as handle:
        for i in range(n):
            handle.write(f"{names[chrom[i]]}\t{start[i]}\t{start[i] + width[i]}\tpeak{i}\t1000\t.\t10\t5\t3\t"
                         f"{summit[i]}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genome-mb", type=float, default=3100.0, help="Synthetic genome size in Mb.")
    parser.add_argument("--peaks", type=int, default=100_000)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="Keep (and reuse) genome and peaks here.")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_dataset."))
    work.mkdir(parents=True, exist_ok=True)
    sizes = contig_sizes(args.genome_mb)
    genome, peaks = work / f"genome_{int(args.genome_mb)}mb.fa", work / f"peaks_{args.peaks}.narrowPeak"
    free = shutil.disk_usage(work).free / 1e9
    need = sum(sizes.values()) * (LINE + 1) / LINE / 1e9 + 0.5
    if not genome.is_file() and free < need + 2:
        sys.exit(f"bench_dataset: {need:.1f} GB needed for the genome, {free:.1f} GB free in {work}")
    try:
        if not genome.is_file():
            t = time.perf_counter()
            write_genome(genome, sizes, args.seed)
            print(f"genome\t{sum(sizes.values()) / 1e6:.0f} Mb in {len(sizes)} contigs\t"
                  f"written in {time.perf_counter() - t:.0f} s", flush=True)
        if not peaks.is_file():
            write_peaks(peaks, sizes, args.peaks, args.seed)
        out = work / "dataset"
        shutil.rmtree(out, ignore_errors=True)
        command = [sys.executable, "-c", CHILD, str(genome), str(peaks), str(out), str(args.length)]
        proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        files = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    cpus = len(os.sched_getaffinity(0))
    print(f"machine\t{platform.processor() or platform.machine()}, {cpus} usable CPUs, "
          f"Python {platform.python_version()}")
    print(f"build\t{args.peaks} narrowPeak peaks, {args.length} bp windows, gc-matched negatives (ratio 1)")
    print(f"wall\t{result['wall_s']:.1f} s")
    print(f"memory\tRSS {result['rss_before_mb']:.0f} MB before, peak {result['rss_peak_mb']:.0f} MB, "
          f"growth {result['growth_mb']:.0f} MB")
    print(f"windows\t{result['windows']}\tcandidates {result['candidates']}\tGC KS {result['ks']:.4f}\t"
          f"borrowed {result['borrowed']}\tdataset {files:.0f} MB")


if __name__ == "__main__":
    main()
