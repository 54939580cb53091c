"""Load test: peak memory of ``seqcnn score`` and ``seqcnn vep`` at 10% and 100% of a large input.

Each run is one ``python -m seqcnn.cli`` process (the code path users run); its peak RSS is read
exactly with ``os.wait4`` (``ru_maxrss`` of that child alone). Memory should stay flat: the target
is growth under 100 MB from 10% to 100% of the input. Inputs are generated into a temporary folder:
random 200 bp FASTA records, a random two-chromosome genome and SNVs on it (REF from the genome),
scored with a tiny seeded koo_cnn (so I/O, parsing and batching dominate, not the network).

    python scripts/bench_load.py                      # 1,000,000 records, 200,000 variants
    python scripts/bench_load.py --records 300000     # smaller, on a busy machine
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

LENGTH = 200
TARGET_MB = 100.0
TINY = {"filters": [4, 4], "kernel_sizes": [5, 3], "pool1": 4, "hidden": 8, "input_length": LENGTH,
        "n_tasks": 2}
CHROM_LENGTH = 4_999_980  # a multiple of the 60-base line


def _bases(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, shape, dtype=np.uint8)]


def write_model(path: Path) -> Path:
    """A seeded koo_cnn with a few hundred weights (200 bp input, two tasks)."""
    import torch

    from seqcnn.modelfile import ModelMetadata, save_model
    from seqcnn.models.registry import build_model

    torch.manual_seed(0)
    meta = ModelMetadata(architecture="koo_cnn", model_kwargs=TINY, tasks=["a", "b"], task_type="binary",
                         input_length=LENGTH, input_shape=[4, LENGTH])
    return save_model(build_model("koo_cnn", **TINY), path, meta)


def write_fasta(path: Path, n: int, seed: int = 0, chunk: int = 100_000) -> Path:
    """``n`` random 200 bp records (ids r0, r1, ...), written a chunk of records at a time."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as handle:
        for start in range(0, n, chunk):
            seqs = _bases(rng, (min(chunk, n - start), LENGTH))
            handle.write(b"".join(b">r%d\n%s\n" % (start + i, row.tobytes()) for i, row in enumerate(seqs)))
    return path


def write_genome(path: Path, seed: int = 1) -> dict[str, np.ndarray]:
    """Two random chromosomes of ``CHROM_LENGTH`` bases, 60 per line; returns them as byte arrays."""
    rng = np.random.default_rng(seed)
    chroms = {name: _bases(rng, (CHROM_LENGTH,)) for name in ("chr1", "chr2")}
    with open(path, "wb") as handle:
        for name, seq in chroms.items():
            lines = seq.reshape(-1, 60)
            body = np.concatenate([lines, np.full((len(lines), 1), ord("\n"), dtype=np.uint8)], axis=1)
            handle.write(b">%s\n" % name.encode() + body.tobytes())
    return chroms


def write_vcf(path: Path, n: int, chroms: dict[str, np.ndarray], seed: int = 2) -> Path:
    """``n`` SNVs at random positions (REF from the genome, ALT another base), sorted per chromosome."""
    rng = np.random.default_rng(seed)
    names = list(chroms)
    with open(path, "w") as handle:
        handle.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for c, name in enumerate(names):
            count = n // len(names) + (c < n % len(names))
            pos = np.sort(rng.integers(1, CHROM_LENGTH + 1, count))
            ref = chroms[name][pos - 1]
            ref_idx = np.searchsorted(np.frombuffer(b"ACGT", dtype=np.uint8), ref)
            alt = np.frombuffer(b"ACGT", dtype=np.uint8)[(ref_idx + rng.integers(1, 4, count)) % 4]
            handle.write("".join(f"{name}\t{p}\t{name}_{i}\t{chr(r)}\t{chr(a)}\t.\tPASS\t.\n"
                                 for i, (p, r, a) in enumerate(zip(pos, ref, alt, strict=True))))
    return path


def prefix_vcf(source: Path, path: Path, n: int) -> Path:
    """The header and the first ``n`` records of ``source``."""
    with open(source) as src, open(path, "w") as dst:
        kept = 0
        for line in src:
            if not line.startswith("#"):
                if kept == n:
                    break
                kept += 1
            dst.write(line)
    return path


def peak_run(args: list[str]) -> tuple[float, float]:
    """Run ``python -m seqcnn.cli ARGS``; (peak RSS in MB, wall seconds) of that process alone."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "seqcnn.cli", *args, "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"seqcnn {' '.join(args)} failed: {proc.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="FASTA records to score (100%%)")
    parser.add_argument("--variants", type=int, default=200_000, help="VCF variants for vep (100%%)")
    parser.add_argument("--fraction", type=float, default=0.1, help="the small run's share of the input")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="seqcnn-load-") as folder:
        tmp = Path(folder)
        model = str(write_model(tmp / "tiny.safetensors"))
        chroms = write_genome(tmp / "genome.fa")
        write_vcf(tmp / "all.vcf", args.variants, chroms)
        jobs = {"score (FASTA records)": (args.records, lambda n, p: write_fasta(p, n), ".fa",
                                          lambda f, out: ["score", model, f, "-o", out]),
                "vep (VCF variants)": (args.variants, lambda n, p: prefix_vcf(tmp / "all.vcf", p, n), ".vcf",
                                       lambda f, out: ["vep", model, f, "--genome", str(tmp / "genome.fa"),
                                                       "-o", out])}
        for label, (total, make, suffix, command) in jobs.items():
            measured = []
            for n in (max(1, int(total * args.fraction)), total):
                data = make(n, tmp / f"input{suffix}")
                peak, seconds = peak_run(command(str(data), str(tmp / "out.tsv")))
                measured.append((peak, seconds))
                print(f"  {label}: {n:,} in {seconds:.1f} s ({n / seconds:,.0f}/s), peak {peak:.1f} MB",
                      file=sys.stderr, flush=True)
            rows.append((label, total, measured))
    print_table(rows, args.fraction)


def print_table(rows: list, fraction: float) -> None:
    """Markdown table: input, records, peak MB at the small and the full run, growth, target met."""
    pct = f"{fraction:.0%}"
    print(f"| input | records (100%) | peak MB at {pct} | peak MB at 100% | growth MB | "
          f"s at {pct} | s at 100% | target < {TARGET_MB:.0f} MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for label, total, ((small, t_small), (full, t_full)) in rows:
        growth = full - small
        print(f"| {label} | {total:,} | {small:.1f} | {full:.1f} | {growth:+.1f} | {t_small:.1f} | "
              f"{t_full:.1f} | {'yes' if growth < TARGET_MB else 'NO'} |")


if __name__ == "__main__":
    main()
