"""Genome tracks from scores: the nearest-centre rule by hand, and whole tracks against a naive reference."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyBigWig
import pytest
import torch
from torch import nn

from seqcnn.errors import InputError
from seqcnn.score.positions import plan_tiling
from seqcnn.score.scorer import Scorer
from seqcnn.score.scoring import predict
from seqcnn.score.tracks import TrackOptions, position_tracks, window_spans, window_tracks
from seqcnn.seq.encode import one_hot, reverse_complement

CONTIGS = {"chrZ": 61, "chrA": 9}  # chrA is shorter than the windows: one centred window


@pytest.fixture
def genome(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    path = tmp_path / "genome.fa"
    path.write_text("".join(f">{name} x\n{''.join(rng.choice(list('ACGT'), size=n))}\n"
                            for name, n in CONTIGS.items()))
    return path


def _contig(genome: Path, name: str) -> str:
    lines = genome.read_text().split(">")[1:]
    return next(block.split("\n")[1] for block in lines if block.startswith(name + " "))


def _read(path: Path, chrom: str) -> np.ndarray:
    with pyBigWig.open(str(path)) as bw:
        return np.array(bw.values(chrom, 0, bw.chroms(chrom)), dtype=np.float64)


@pytest.mark.parametrize(("starts", "window", "region", "expected"), [
    ([0, 4, 8], 10, (0, 18), [(0, 7), (7, 11), (11, 18)]),  # overlapping: central step bases, ends reach out
    ([0, 10, 20], 10, (0, 30), [(0, 10), (10, 20), (20, 30)]),  # step = window: each its own bases
    ([0, 4, 8, 10], 10, (0, 20), [(0, 7), (7, 11), (11, 14), (14, 20)]),  # last window flush with the end
    ([0, 10], 4, (0, 14), [(0, 4), (10, 14)]),  # step > window: bases between windows have no value
    ([0, 3], 4, (0, 7), [(0, 4), (4, 7)]),  # base 3 is as near both centres: the earlier window
    ([100, 104, 108], 10, (102, 115), [(102, 107), (107, 111), (111, 115)]),  # clipped to a BED interval
])
def test_window_spans_by_hand(starts, window, region, expected) -> None:
    begin, end = window_spans(np.array(starts), window, *region)
    assert list(zip(begin.tolist(), end.tolist(), strict=True)) == expected


def _naive_track(model: nn.Module, seq: str, window: int, step: int) -> np.ndarray:
    """Each base's value: the score of the window with the nearest centre among those holding it
    (written from the definition: a loop over bases and windows)."""
    n = len(seq)
    if n < window:
        pad = (window - n) // 2
        return np.full(n, predict(model, "N" * pad + seq + "N" * (window - n - pad))[0, 0])
    starts = list(range(0, n - window + 1, step))
    if starts[-1] + window < n:
        starts.append(n - window)
    scores = predict(model, [seq[s : s + window] for s in starts])[:, 0]
    values = np.full(n, np.nan)
    for p in range(n):
        holding = [(abs(p + 0.5 - (s + window / 2)), k) for k, s in enumerate(starts) if s <= p < s + window]
        if holding:
            values[p] = scores[min(holding)[1]]
    return values


def test_window_track_equals_the_naive_reference(toy_model: nn.Module, genome: Path, tmp_path: Path) -> None:
    paths, stats = window_tracks(Scorer(toy_model), genome, tmp_path / "s.bw", window=20, step=8,
                                 options=TrackOptions(target="GATA1"))
    assert paths == [tmp_path / "s.bw"]
    with pyBigWig.open(str(paths[0])) as bw:
        assert bw.chroms() == CONTIGS  # the .fai's contigs, in its order
    for name in CONTIGS:
        seq = _contig(genome, name)
        expected = _naive_track(_task(toy_model, 1), seq, 20, 8)
        np.testing.assert_allclose(_read(paths[0], name), expected, rtol=0, atol=2e-6)
    assert stats.n_windows == 7 + 1  # chrZ: 0, 8, ..., 40 and 41; chrA: one


def _task(model: nn.Module, index: int) -> nn.Module:
    """The model's output ``index`` alone, (N, 1)."""

    class One(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return model(x)[:, index : index + 1]

    one = One()
    one.metadata = model.metadata
    return one


def test_bed_intervals_are_sorted_and_must_not_overlap(toy_model: nn.Module, genome: Path,
                                                       tmp_path: Path) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("chrA\t1\t8\ta\t0\t+\nchrZ\t30\t50\tb\t0\t-\nchrZ\t2\t20\tc\t0\t+\n")  # not sorted
    paths, _ = window_tracks(Scorer(toy_model), genome, tmp_path / "r.bedgraph", bed=str(bed),
                             options=TrackOptions(target=0))
    lines = [line.split("\t")[:3] for line in paths[0].read_text().splitlines()[1:]]
    assert lines == [["chrZ", "2", "20"], ["chrZ", "30", "50"], ["chrA", "1", "8"]]
    bed.write_text("chrZ\t2\t20\n\nchrZ\t19\t30\n")
    with pytest.raises(InputError, match="line 3: interval chrZ:19-30 overlaps line 1"):
        window_tracks(Scorer(toy_model), genome, tmp_path / "o.bw", bed=str(bed))
    assert not (tmp_path / "o.bw").exists()


class Crop(nn.Module):
    """Per-position toy with an even crop of 6: (N, 4, L) -> (N, 2, L - 6)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv1d(4, 2, 7)
        self.input_length = 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _conv(model: nn.Module, seq: str) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(one_hot(seq))[None])[0].T.numpy()


def test_position_track_puts_minus_strand_outputs_in_genome_order(genome: Path, tmp_path: Path) -> None:
    model = Crop()
    bed = tmp_path / "r.bed"
    bed.write_text("chrZ\t25\t52\tm\t0\t-\nchrZ\t3\t20\tp\t0\t+\n")  # 27 bases: three tiles of 10
    paths, _ = position_tracks(model, genome, tmp_path / "p.bw", tiling=plan_tiling(model), bed=str(bed),
                               options=TrackOptions(target=1))
    seq = _contig(genome, "chrZ")
    got = _read(paths[0], "chrZ")
    plus = _conv(model, seq[0:23])[:, 1]  # outputs of bases 3..19 use 3 bases of genome context each side
    minus = _conv(model, reverse_complement(seq[22:55]))[:, 1][::-1]  # outputs of 25..51, read on '-'
    np.testing.assert_allclose(got[3:20], plus, atol=1e-5)
    np.testing.assert_allclose(got[25:52], minus, atol=1e-5)
    assert all(math.isnan(v) for v in np.r_[got[:3], got[20:25], got[52:]])
