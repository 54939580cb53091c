"""bigWig and bedGraph tracks: what is written reads back as the values put in, by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyBigWig
import pytest

from seqcnn.errors import ConfigError, InputError
from seqcnn.io.tracks import TrackWriter, track_format, track_paths

SIZES = {"chrB": 20, "chrA": 12}  # header order is the genome's, not alphabetical


def _values(path: Path, chrom: str) -> list[float]:
    with pyBigWig.open(str(path)) as bw:
        return bw.values(chrom, 0, bw.chroms(chrom))


def _same(got: list[float], expected: list[float]) -> bool:
    pairs = zip(got, expected, strict=True)
    return all((math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-6 for a, b in pairs)


def _write_example(path: Path) -> None:
    with TrackWriter(path, SIZES) as track:
        track.add_intervals("chrB", [0, 5], [5, 8], [1.5, np.nan])  # NaN: no entry
        track.add_values("chrB", 8, [1.5, 2.0, np.nan, -3.25])  # per-base, NaN hole
        track.add_intervals("chrA", [2], [12], [7.0])


def test_bigwig_reads_back_the_hand_values(tmp_path: Path) -> None:
    path = tmp_path / "x.bw"
    _write_example(path)
    nan = float("nan")
    with pyBigWig.open(str(path)) as bw:
        assert bw.chroms() == SIZES
        assert list(bw.chroms()) == ["chrB", "chrA"]
        assert bw.intervals("chrB") == ((0, 5, 1.5), (8, 9, 1.5), (9, 10, 2.0), (11, 12, -3.25))
    assert _same(_values(path, "chrB"), [1.5] * 5 + [nan] * 3 + [1.5, 2.0, nan, -3.25] + [nan] * 8)
    assert _same(_values(path, "chrA"), [nan] * 2 + [7.0] * 10)


def test_bedgraph_text_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "x.bedGraph"
    _write_example(path)
    # adjacent entries of equal value merge (chrB 0-5 and 8-9 are not adjacent: two lines)
    assert path.read_text() == ('track type=bedGraph name="x"\n'
                                "chrB\t0\t5\t1.5\n"
                                "chrB\t8\t9\t1.5\n"
                                "chrB\t9\t10\t2\n"
                                "chrB\t11\t12\t-3.25\n"
                                "chrA\t2\t12\t7\n")


def test_bedgraph_merges_equal_neighbours_across_calls(tmp_path: Path) -> None:
    path = tmp_path / "m.bedgraph"
    with TrackWriter(path, SIZES, name="merged") as track:
        track.add_values("chrB", 0, [1.0, 1.0])
        track.add_intervals("chrB", [2, 4], [4, 6], [1.0, 2.0])
    assert path.read_text() == 'track type=bedGraph name="merged"\nchrB\t0\t4\t1\nchrB\t4\t6\t2\n'


@pytest.mark.parametrize("suffix", [".bw", ".bedgraph"])
@pytest.mark.parametrize("bad", [
    lambda t: (t.add_intervals("chrB", [5], [8], [1]), t.add_intervals("chrB", [7], [9], [1])),  # overlap
    lambda t: (t.add_intervals("chrA", [0], [2], [1]), t.add_intervals("chrB", [0], [2], [1])),  # order
    lambda t: t.add_intervals("chrB", [3, 1], [4, 2], [1, 1]),  # unsorted
    lambda t: t.add_values("chrA", 10, [1, 2, 3]),  # past the contig end
    lambda t: t.add_intervals("chr1", [0], [1], [1]),  # unknown contig
], ids=["overlap", "contig-order", "unsorted", "past-end", "unknown-contig"])
def test_bad_entries_raise_and_leave_no_file(tmp_path: Path, suffix: str, bad) -> None:
    path = tmp_path / f"bad{suffix}"
    with pytest.raises(InputError), TrackWriter(path, SIZES) as track:
        bad(track)
    assert list(tmp_path.iterdir()) == []


def test_formats_and_paths() -> None:
    assert track_format("a.bw") == track_format("a.BigWig") == "bigwig"
    assert track_format("a.bedGraph") == track_format("a.bedgraph") == "bedgraph"
    assert track_format("a.tsv") is None and track_format("-") is None
    assert track_paths("out/s.bw", ["CTCF"]) == [Path("out/s.bw")]
    assert track_paths("out/s.bw", ["CTCF", "a/b"]) == [Path("out/s.CTCF.bw"), Path("out/s.a_b.bw")]
    with pytest.raises(ConfigError, match="clashing"):
        track_paths("s.bw", ["a/b", "a_b"])
    with pytest.raises(ConfigError):
        TrackWriter("x.tsv", SIZES)
