"""bigWig targets of `seqcnn dataset` (issue 16) against hand computations on tiny bigWigs written here.

The expected values come from dense per-base arrays filled from the very entries written to the bigWigs
(NaN where no entry), read window by window in plain Python: sums, means, log1p, base-resolution
profiles of a stranded pair and a control, positions past a contig end and the count of NaN bases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pytest

from seqcnn.data.build import DatasetOptions, build_dataset
from seqcnn.errors import InputError

SIZES = {"chr1": 1000, "chr2": 600, "chr3": 600}
LENGTH = 40
# (chrom, start, end, value) runs written to each bigWig; every other base has no data (NaN)
ENTRIES = {
    "plus": [("chr1", 100, 110, 2.0), ("chr1", 120, 125, 1.5), ("chr1", 975, 1000, 4.0),
             ("chr2", 300, 305, 3.0), ("chr3", 60, 61, 10.0)],
    "minus": [("chr1", 105, 130, 0.5), ("chr2", 290, 300, 1.0), ("chr3", 40, 80, 0.25)],
    "control": [("chr1", 0, 1000, 0.1), ("chr2", 0, 600, 0.2), ("chr3", 0, 600, 0.3)],
}
PEAKS = [("chr1", 100, 140), ("chr1", 980, 1000), ("chr2", 300, 320), ("chr3", 50, 70)]  # BED3: midpoints


def _write_bigwig(path: Path, entries: list[tuple[str, int, int, float]], sizes: dict[str, int]) -> None:
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()))
    for chrom, start, end, value in entries:
        bw.addEntries(chrom, [start], values=[value], span=end - start)
    bw.close()


def _dense(entries: list[tuple[str, int, int, float]]) -> dict[str, np.ndarray]:
    dense = {c: np.full(n, np.nan) for c, n in SIZES.items()}
    for chrom, start, end, value in entries:
        dense[chrom][start:end] = value
    return dense


def _by_hand(dense: dict[str, np.ndarray], chrom: str, start: int) -> tuple[list[float], int]:
    """The window's per-base signal (NaN and off-contig positions 0) and its NaN count, base by base."""
    values, nan = [], 0
    for pos in range(start, start + LENGTH):
        if 0 <= pos < len(dense[chrom]) and not np.isnan(dense[chrom][pos]):
            values.append(float(dense[chrom][pos]))
        else:
            values.append(0.0)
            nan += 0 <= pos < len(dense[chrom])
    return values, nan


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    (tmp_path / "genome.fa").write_text("".join(f">{c}\n{''.join(rng.choice(list('ACGT'), n))}\n"
                                                for c, n in SIZES.items()))
    (tmp_path / "peaks.bed").write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in PEAKS))
    for name, entries in ENTRIES.items():
        _write_bigwig(tmp_path / f"{name}.bw", entries, SIZES)
    return tmp_path


def _options(root: Path, **kw) -> DatasetOptions:
    base = {"genome": str(root / "genome.fa"), "peaks": [str(root / "peaks.bed")], "length": LENGTH,
            "valid_chroms": ["chr2"], "test_chroms": ["chr3"], "negatives": "none"}
    return DatasetOptions(**{**base, **kw})


def _windows(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "windows.bed", sep="\t", header=None,
                       names=["chrom", "start", "end", "id", "score", "strand", "split", "kind"])


@pytest.mark.parametrize("stat,log1p", [("sum", False), ("mean", False), ("sum", True)])
def test_window_targets_match_hand_computation(tiny: Path, stat: str, log1p: bool) -> None:
    out = tiny / "ds"
    result = build_dataset(out, _options(tiny, signal=[f"{tiny / 'plus.bw'}:ctcf"], stat=stat, log1p=log1p))
    targets = pd.read_csv(out / "targets.tsv", sep="\t", index_col=0)
    windows = _windows(out)
    assert list(targets.columns) == ["ctcf"] and len(targets) == len(PEAKS)
    dense, nan_total = _dense(ENTRIES["plus"]), 0
    for row in windows.itertuples():
        values, nan = _by_hand(dense, row.chrom, row.start)
        nan_total += nan
        expected = sum(values) / (LENGTH if stat == "mean" else 1)
        expected = np.log1p(expected) if log1p else expected
        assert targets.loc[row.id, "ctcf"] == pytest.approx(expected, rel=1e-6)
    # the window centred on chr1:980-1000 reaches 10 bases past the contig end: 5 NaN, 25 x 4.0, 10 zeros
    assert targets.loc["chr1:970-1010", "ctcf"] == pytest.approx({"sum": 100, "mean": 2.5}[stat] if not log1p
                                                                 else np.log1p(100), rel=1e-6)
    assert result.manifest["signal"]["nan_bases_counted_as_zero"] == {"ctcf": nan_total} and nan_total > 0
    assert result.manifest["outputs"] == {"binary": 1, "regression": 1, "profile": 0}
    assert "config.deepbind-signal.yaml" in result.manifest["configs"]


def test_stranded_profiles_and_control_match_hand_computation(tiny: Path) -> None:
    out = tiny / "ds"
    pair = f"{tiny / 'plus.bw'},{tiny / 'minus.bw'}:ctcf"
    result = build_dataset(out, _options(tiny, signal=[pair], profile=True, control=str(tiny / "control.bw"),
                                         negatives="gc-matched", ratio=1.0, flank=0))
    with np.load(out / "profiles.npz", allow_pickle=False) as npz:
        ids, profile, control = list(npz["id"]), npz["profile"], npz["control"]
        assert list(npz["tasks"]) == ["ctcf_plus", "ctcf_minus"]
        assert list(npz["control_tracks"]) == ["control"]
    windows = _windows(out).set_index("id")
    assert profile.shape == (len(windows), 2, LENGTH) and control.shape == (len(windows), 1, LENGTH)
    assert (windows["kind"] == "negative").sum() == len(PEAKS)  # gc-matched negatives carry signal too
    for i, rid in enumerate(ids):
        chrom, start = windows.loc[rid, "chrom"], int(windows.loc[rid, "start"])
        for j, name in enumerate(["plus", "minus"]):
            np.testing.assert_allclose(profile[i, j], _by_hand(_dense(ENTRIES[name]), chrom, start)[0])
        np.testing.assert_allclose(control[i, 0], _by_hand(_dense(ENTRIES["control"]), chrom, start)[0])
    nan = result.manifest["signal"]["nan_bases_counted_as_zero"]
    places = [(windows.loc[r, "chrom"], int(windows.loc[r, "start"])) for r in ids]
    expected = {f"ctcf_{s}": sum(_by_hand(_dense(ENTRIES[s]), c, p)[1] for c, p in places)
                for s in ("plus", "minus")}
    assert nan == expected
    # at 40 bp only DeepBind fits: BPNet's receptive field and Basset's/DeepSEA's pooling need more
    assert result.manifest["configs"] == ["config.deepbind.yaml"]
    assert set(result.manifest["configs_skipped"]) == {"bpnet", "basset", "deepsea"}


def test_log1p_of_a_signed_track_is_refused(tiny: Path) -> None:
    _write_bigwig(tiny / "signed.bw", [("chr1", 0, 1000, -0.5)], SIZES)
    with pytest.raises(InputError, match=r"window chr1:\d+-\d+: its signal sum is -1 or less"):
        build_dataset(tiny / "ds", _options(tiny, signal=[str(tiny / "signed.bw")], log1p=True))
    assert not (tiny / "ds").exists()
    build_dataset(tiny / "ds", _options(tiny, signal=[str(tiny / "signed.bw")]))  # without log1p: fine


def test_bigwig_of_another_assembly_is_refused(tiny: Path) -> None:
    _write_bigwig(tiny / "other.bw", [("1", 0, 10, 1.0)], {"1": 1000, "2": 600, "3": 600})
    with pytest.raises(InputError) as info:
        build_dataset(tiny / "ds", _options(tiny, signal=[str(tiny / "other.bw")]))
    message = str(info.value)
    assert "other.bw" in message and "'chr1'" in message and "peaks.bed line 1" in message
    assert "did you mean '1'" in message
    assert not (tiny / "ds").exists()
    _write_bigwig(tiny / "short.bw", [("chr1", 0, 10, 1.0)], {**SIZES, "chr2": 599})
    with pytest.raises(InputError, match=r"'chr2' \(needed by .*peaks.bed line 3\) is 599 bp here but 600"):
        build_dataset(tiny / "ds", _options(tiny, signal=[str(tiny / "short.bw")]))
