"""Benchmark one-hot encoding: seqcnn vs tangermeme vs a plain numpy lookup table.

Cases (all to an int8 (N, 4, L) / (4, L) array, ACGT sequence, seeded):
  a) one 10 Mbp string
  b) a list of 100,000 x 200 bp strings
  c) a 100,000-record FASTA file (200 bp, 60-column lines) end to end, parsing included;
     the numpy column is Biopython's SimpleFastaParser + np.take.
MB/s counts sequence characters (a, b) or file bytes (c); each time is the median of
``--repeats`` rounds after one warm-up run (numba compilation excluded); within a round the
three methods run one after another, so load changes on a shared machine hit all. Results are checked
for equality between the three methods.

tangermeme runs at its best: before the timed rounds, each case tries every tangermeme path and
setting that gives the same int8 encoding, one call each after a warm-up call of each (numba
compilation), and times only the fastest; the sweep's MB/s and the setting used are printed.
  a) ``one_hot_encode(seq, n_jobs=...)`` (its threads split a long sequence), n_jobs 1 and all numba threads;
  b) ``one_hot_encode`` a string at a time, stacked, and its batch encoder ``_one_hot_encode_rows``
     (what ``extract_loci`` uses) at chunk_size 256-16384 and n_jobs 1 / all;
  c) tangermeme has no FASTA record reader: Biopython's SimpleFastaParser + ``_one_hot_encode_rows``
     (the settings of b), or ``tangermeme.io.extract_loci`` on one locus a record (pyfaidx builds the
     .fai index, which is deleted before each call: the file is read cold, as seqcnn reads it).
``dtype`` (int8 is its default and fastest: other dtypes convert afterwards) and ``return_packed``
(a PackedSequence, not a one-hot array) are not swept.

Usage: python scripts/bench_encode.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _peer import describe, setting_name, sweep
from Bio.SeqIO.FastaIO import SimpleFastaParser

from seqcnn.seq.encode import one_hot
from seqcnn.seq.fasta import read_fasta, read_fasta_one_hot, write_fasta

_LUT = np.zeros((256, 4), dtype=np.int8)
for _i, _c in enumerate("ACGT"):
    _LUT[ord(_c), _i] = 1


def numpy_take(seqs: str | list[str]) -> np.ndarray:
    """The naive baseline: a 256 x 4 lookup table applied with np.take."""
    if isinstance(seqs, str):
        return np.take(_LUT, np.frombuffer(seqs.encode("ascii"), np.uint8), axis=0).T
    length = len(seqs[0])
    codes = np.frombuffer("".join(seqs).encode("ascii"), np.uint8)
    return np.take(_LUT, codes, axis=0).reshape(len(seqs), length, 4).transpose(0, 2, 1)


def median_seconds(fns: dict[str, Callable[[], object]], repeats: int) -> tuple[dict, dict]:
    """Median time of each function; methods alternate within each round so load drifts hit all."""
    outputs = {name: fn() for name, fn in fns.items()}  # warm-up (JIT compilation, page cache)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, outputs


def simple_fasta(path: Path) -> list[str]:
    with open(path) as handle:
        return [seq for _, seq in SimpleFastaParser(handle)]


Encoder = Callable[..., object]


def tangermeme_paths(fasta: Path) -> tuple[Encoder, Encoder, Encoder, list[int]]:
    """tangermeme's encoders for a string, a list of strings and a FASTA file (each ``f(**setting)``),
    and the thread counts to try (1 and numba's)."""
    import numba
    import pandas as pd
    import pyfaidx
    from tangermeme.io import extract_loci
    from tangermeme.utils import _one_hot_encode_rows, one_hot_encode

    def encode_list(seqs: list[str], encoder: str, **kwargs: int) -> np.ndarray:
        if encoder == "one_hot_encode":
            return np.stack([one_hot_encode(s).numpy() for s in seqs])
        return _one_hot_encode_rows(seqs, **kwargs)

    def encode_file(reader: str, encoder: str = "", **kwargs: int) -> np.ndarray:
        if reader == "SimpleFastaParser":
            return encode_list(simple_fasta(fasta), encoder, **kwargs)
        Path(f"{fasta}.fai").unlink(missing_ok=True)
        with pyfaidx.Fasta(str(fasta)) as handle:  # builds the index: record names and lengths
            index = handle.faidx.index
            loci = pd.DataFrame({"chrom": list(index), "start": 0, "end": [r.rlen for r in index.values()]})
        return extract_loci(loci, str(fasta), in_window=int(loci["end"].iloc[0]), **kwargs).numpy()

    jobs = sorted({1, numba.config.NUMBA_NUM_THREADS})
    return one_hot_encode, encode_list, encode_file, jobs


def cases(tmp: Path) -> list[tuple[str, float, dict[str, Callable[[], object]], Encoder, list[dict]]]:
    """Each case: name, MB, seqcnn's and numpy's functions, tangermeme's function and its settings."""
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"ACGT", np.uint8)
    long_seq = letters[rng.integers(0, 4, 10_000_000)].tobytes().decode()
    rows = letters[rng.integers(0, 4, (100_000, 200))].tobytes().decode()
    batch = [rows[i * 200:(i + 1) * 200] for i in range(100_000)]
    fasta = tmp / "bench.fa"
    write_fasta(((f"seq{i}", s) for i, s in enumerate(batch)), fasta, width=60)
    file_mb = fasta.stat().st_size / 1e6
    one_hot_encode, encode_list, encode_file, jobs = tangermeme_paths(fasta)
    by_rows = [{"encoder": "_one_hot_encode_rows", "chunk_size": c, "n_jobs": j}
               for c in (256, 1024, 4096, 16384) for j in jobs]
    list_settings = [{"encoder": "one_hot_encode"}, *by_rows]
    file_settings = [{"reader": "SimpleFastaParser", **s} for s in list_settings] + [
        {"reader": "extract_loci", "n_jobs": j} for j in jobs]
    return [
        ("a) 10 Mbp string", 10.0, {
            "seqcnn": lambda: one_hot(long_seq, dtype=np.int8),
            "numpy": lambda: numpy_take(long_seq),
        }, lambda **kw: one_hot_encode(long_seq, **kw).numpy(), [{"n_jobs": j} for j in jobs]),
        ("b) 100k x 200 bp list", 20.0, {
            "seqcnn": lambda: one_hot(batch, dtype=np.int8),
            "numpy": lambda: numpy_take(batch),
        }, lambda **kw: encode_list(batch, **kw), list_settings),
        ("c) 100k-record FASTA", file_mb, {
            "seqcnn": lambda: read_fasta_one_hot(fasta, dtype=np.int8)[1],
            "numpy": lambda: numpy_take(simple_fasta(fasta)),
        }, encode_file, file_settings),
        ("c') FASTA, read_fasta+one_hot", file_mb, {
            "seqcnn": lambda: one_hot([s for _, s in read_fasta(fasta)], dtype=np.int8),
            "numpy": lambda: numpy_take(simple_fasta(fasta)),
        }, encode_file, file_settings),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    import tangermeme

    print(f"# python {platform.python_version()}, numpy {np.__version__}, tangermeme "
          f"{tangermeme.__version__}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
    header = (f"{'case':32s} {'seqcnn MB/s':>12s} {'tangermeme MB/s':>16s} {'numpy-take MB/s':>16s} "
              f"{'ratio':>7s}")
    print(header)
    print("-" * len(header))
    used, chosen = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, megabytes, fns, peer, settings in cases(Path(tmp)):
            if peer not in chosen:  # c' does tangermeme's work of c: its sweep is not repeated
                best, rates = chosen[peer] = sweep(peer, settings, megabytes, warmup="each")
                print(f"# {name}: tangermeme sweep " + describe(rates, best, "MB/s"), flush=True)
            best = chosen[peer][0]
            used.append(f"{name}: {setting_name(best)}")
            fns = {"seqcnn": fns["seqcnn"], "tangermeme": lambda peer=peer, best=best: peer(**best),
                   "numpy": fns["numpy"]}
            seconds, outputs = median_seconds(fns, args.repeats)
            speed = {method: megabytes / t for method, t in seconds.items()}
            ref = np.asarray(outputs["seqcnn"])
            for method in ("tangermeme", "numpy"):
                if not np.array_equal(ref, np.asarray(outputs[method])):
                    sys.exit(f"{name}: {method} output differs from seqcnn")
            print(f"{name:32s} {speed['seqcnn']:12.0f} {speed['tangermeme']:16.0f} {speed['numpy']:16.0f} "
                  f"{speed['seqcnn'] / speed['tangermeme']:7.2f}", flush=True)
    print("tangermeme's settings (the fastest of each sweep):\n  " + "\n  ".join(used))
    print("ratio = seqcnn / tangermeme; MB = 1e6 sequence characters (a, b) or file bytes (c)")


if __name__ == "__main__":
    main()
