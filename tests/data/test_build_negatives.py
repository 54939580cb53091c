"""GC-matched negatives of `seqcnn dataset` (issue 16) on a synthetic genome with planted GC-rich peaks.

No negative touches a peak, its flank or the blacklist (checked base by base against the planted truth);
the GC of the negatives' written sequences matches the positives' (two-sample KS statistic < 0.05, while
unmatched genome windows are far off); the same seed gives the same dataset, byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from seqcnn.data.build import DatasetOptions, build_dataset
from seqcnn.data.build.intervals import IntervalSet, merge_intervals
from seqcnn.data.build.negatives import allocate, gc_fraction, window_counts
from seqcnn.errors import InputError
from seqcnn.seq.fasta import read_fasta

LENGTH = 200
FLANK = 300


def test_window_counts_agree_with_the_plain_gc_of_each_window() -> None:
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("ACGTacgtNNR"), 5000))
    codes = np.frombuffer(text.encode(), dtype=np.uint8)
    offsets = np.arange(0, 5000 - 50 + 1, 37)
    gc, acgt = window_counts(codes, offsets, 50)
    for o, g, a in zip(offsets, gc, acgt, strict=True):
        window = text[o:o + 50].upper()
        assert a == sum(window.count(b) for b in "ACGT")
        assert g / a == pytest.approx(gc_fraction(text[o:o + 50]))


def test_interval_overlaps_agree_with_a_naive_scan() -> None:
    rng = np.random.default_rng(1)
    starts = rng.integers(0, 1000, 40)
    ends = starts + rng.integers(0, 60, 40)
    merged = merge_intervals(starts, ends)
    assert np.all(merged[0][1:] > merged[1][:-1])  # disjoint and sorted
    bases = np.zeros(1100, dtype=bool)
    for s, e in zip(starts, ends, strict=True):
        bases[s:e] = True
    probe = rng.integers(0, 1050, 300)
    hit = IntervalSet({"c": (starts, ends)}).overlaps("c", probe, probe + 7)
    assert hit.tolist() == [bool(bases[p:p + 7].any()) for p in probe]
    assert not IntervalSet({"c": (starts, ends)}).overlaps("other", probe, probe + 7).any()


def test_allocate_keeps_proportions_and_total() -> None:
    counts = allocate(np.array([3, 0, 1, 6]), 25)
    assert counts.sum() == 25 and counts.tolist() == [8, 0, 2, 15]


@pytest.fixture
def planted(tmp_path: Path, peak_genome) -> dict:
    data = peak_genome(tmp_path, length=400_000, n_peaks=200)
    # blacklist: a 20 kb block of every contig, where candidates would otherwise be plentiful
    blacklist = tmp_path / "blacklist.bed"
    blacklist.write_text("".join(f"chr{k}\t{100_000 + 7 * k}\t{120_000 + 7 * k}\n" for k in range(1, 5)))
    return {**data, "blacklist": blacklist, "root": tmp_path}


def _build(planted: dict, out: Path, **kw) -> dict:
    options = DatasetOptions(genome=str(planted["genome"]), peaks=[str(planted["peaks"])], length=LENGTH,
                             flank=FLANK, blacklist=str(planted["blacklist"]), valid_chroms=["chr3"],
                             test_chroms=["chr4"], **kw)
    return build_dataset(out, options).manifest


def _gc_by_kind(out: Path) -> dict[str, np.ndarray]:
    windows = pd.read_csv(out / "windows.bed", sep="\t", header=None, usecols=[3, 7], names=["id", "kind"])
    kind = dict(zip(windows["id"], windows["kind"], strict=True))
    gc: dict[str, list[float]] = {"positive": [], "negative": []}
    for split in ("train", "valid", "test"):
        for rid, seq in read_fasta(out / f"{split}.fa"):
            gc[kind[rid]].append(gc_fraction(seq))
    return {k: np.asarray(v) for k, v in gc.items()}


def test_gc_matched_negatives_avoid_peaks_flanks_blacklist_and_match_gc(planted: dict) -> None:
    out = planted["root"] / "ds"
    manifest = _build(planted, out)
    windows = pd.read_csv(out / "windows.bed", sep="\t", header=None,
                          names=["chrom", "start", "end", "id", "score", "strand", "split", "kind"])
    negatives = windows[windows["kind"] == "negative"]
    n_pos = (windows["kind"] == "positive").sum()
    assert len(negatives) == n_pos == manifest["negatives"]["made"] > 300
    forbidden = {c: np.zeros(len(s), dtype=bool) for c, s in planted["contigs"].items()}
    for chrom, start, end, _ in planted["truth"]:
        forbidden[chrom][max(0, start - FLANK):end + FLANK] = True
    for line in planted["blacklist"].read_text().splitlines():
        chrom, start, end = line.split("\t")
        forbidden[chrom][int(start):int(end)] = True
    for row in negatives.itertuples():
        assert row.end - row.start == LENGTH
        assert not forbidden[row.chrom][row.start:row.end].any(), row.id
        assert planted["contigs"][row.chrom][row.start:row.end].upper().count("N") <= 0.05 * LENGTH
    assert set(negatives["split"]) == {"train", "valid", "test"}
    assert (negatives["split"] == np.where(negatives["chrom"] == "chr3", "valid",
                                           np.where(negatives["chrom"] == "chr4", "test", "train"))).all()
    gc = _gc_by_kind(out)
    matched = ks_2samp(gc["positive"], gc["negative"]).statistic
    assert matched < 0.05
    assert manifest["gc"]["ks_statistic"] == pytest.approx(matched)
    assert sum(manifest["gc"]["negatives"]) == len(negatives)
    # the same draw without GC matching (one bin): the planted peaks are GC-rich, the genome is not
    unmatched = _gc_by_kind(_build_path(planted, "unmatched", gc_bins=1))
    assert ks_2samp(gc["positive"], unmatched["negative"]).statistic > 0.3


def _build_path(planted: dict, name: str, **kw) -> Path:
    out = planted["root"] / name
    _build(planted, out, **kw)
    return out


def test_same_seed_same_dataset_other_seed_other_negatives(planted: dict,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    files = {}
    for run, seed in (("a", 0), ("b", 0), ("c", 1)):
        (planted["root"] / run).mkdir()
        monkeypatch.chdir(planted["root"] / run)
        _build(planted, Path("ds"), seed=seed)
        files[run] = {p.name: p.read_bytes() for p in sorted(Path("ds").iterdir())}
    assert files["a"] == files["b"]
    assert "manifest.json" in files["a"] and "config.deepbind.yaml" in files["a"]
    assert files["a"]["windows.bed"] != files["c"]["windows.bed"]
    def positives(run: str) -> list[str]:
        return [line for line in files[run]["windows.bed"].decode().splitlines() if line.endswith("positive")]

    assert positives("a") == positives("c")


def test_more_negatives_than_the_genome_can_give(planted: dict) -> None:
    with pytest.raises(InputError, match=r"negatives requested \(100 per positive\) but only \d+ windows"):
        _build(planted, planted["root"] / "ds", ratio=100)
    assert not (planted["root"] / "ds").exists()
    assert not list(planted["root"].glob(".ds.*"))  # no temporary directory left behind


def test_bgzipped_genome_gives_the_same_dataset(planted: dict) -> None:
    from Bio import bgzf

    packed = planted["root"] / "genome.fa.gz"
    with bgzf.BgzfWriter(str(packed), "wb") as handle:
        handle.write(planted["genome"].read_bytes())
    plain = _build_path(planted, "plain")
    zipped = planted["root"] / "zipped"
    options = DatasetOptions(genome=str(packed), peaks=[str(planted["peaks"])], length=LENGTH, flank=FLANK,
                             blacklist=str(planted["blacklist"]), valid_chroms=["chr3"], test_chroms=["chr4"])
    build_dataset(zipped, options)
    assert (planted["root"] / "genome.fa.gz.fai").is_file()  # the index is made when missing
    for name in ("train.fa", "valid.fa", "test.fa", "labels.tsv", "windows.bed"):
        assert (plain / name).read_bytes() == (zipped / name).read_bytes(), name
