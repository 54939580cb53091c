"""BED intervals scored on a genome (``bed_table``): windows of genome sequence, never silent N.

Known answers come from ``data/example/genome.fa`` read as plain text (no pyfaidx) and from
``predict`` on hand-cut sequences; the example model takes 200 bp and its chr1 is 20,000 bp long.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seqcnn.errors import ConfigError, InputError
from seqcnn.modelfile import ModelMetadata, load_model, save_model
from seqcnn.models.registry import build_model
from seqcnn.score.scorer import Scorer
from seqcnn.score.scoring import predict
from seqcnn.seq.encode import reverse_complement
from seqcnn.workflows.score_tables import TableOptions, bed_table

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "example"
GENOME = EXAMPLE / "genome.fa"
MODEL = EXAMPLE / "model.safetensors"
TASKS = ["CTCF", "Gata3", "Spi1", "CEBPB", "FOXA1", "HNF4A", "REST", "Nrf1", "Yy1", "TP53", "MAX", "SP1"]


@pytest.fixture(scope="module")
def chroms() -> dict[str, str]:
    """The example genome, parsed by hand: the oracle for every extracted sequence."""
    out: dict[str, list[str]] = {}
    name = ""
    for line in GENOME.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            out[name] = []
        else:
            out[name].append(line.strip())
    return {k: "".join(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def model():
    return load_model(MODEL, device="cpu")


@pytest.fixture(scope="module")
def scorer(model):
    return Scorer(model, device="cpu")


def score_bed(scorer, tmp_path: Path, text: str, **kw) -> tuple[pd.DataFrame, object]:
    bed = tmp_path / "x.bed"
    bed.write_text(text)
    out = tmp_path / "out.tsv"
    options = TableOptions(skip_invalid=kw.pop("skip_invalid", False))
    stats = bed_table(scorer, str(bed), str(GENOME), str(out), echo=True, options=options, **kw)
    return pd.read_csv(out, sep="\t", keep_default_na=False), stats


def test_short_interval_is_widened_with_genome_not_n(scorer, model, chroms, tmp_path) -> None:
    c1 = chroms["chr1"]
    assert len(c1) == 20000
    table, stats = score_bed(scorer, tmp_path, "chr1\t1000\t1100\tp1\t7\t+\nchr1\t3000\t3600\tlong\t0\t+\n")
    # centre 1050 -> [950, 1150); centre 3300 -> [3200, 3400) (cut, not cropped to the interval's middle)
    assert table["sequence"].tolist() == [c1[950:1150], c1[3200:3400]]
    assert "N" not in "".join(table["sequence"]) and stats.n_edge_padded == 0
    assert table[["start", "end", "name", "score"]].values.tolist() == [[1000, 1100, "p1", 7],
                                                                      [3000, 3600, "long", 0]]
    expected = predict(model, [c1[950:1150], c1[3200:3400]])
    np.testing.assert_allclose(table[TASKS].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    n_padded = predict(model, ["N" * 50 + c1[1000:1100] + "N" * 50])  # what the old code scored
    assert not np.allclose(n_padded[0], expected[0], atol=1e-3)


def test_minus_strand_and_dot_strand(scorer, model, chroms, tmp_path) -> None:
    c1 = chroms["chr1"]
    text = "chr1\t2000\t2200\tm\t0\t-\nchr1\t4000\t4200\td\t0\t.\nchr1\t4000\t4200\n"
    table, _ = score_bed(scorer, tmp_path, text)
    assert table["sequence"].tolist() == [reverse_complement(c1[2000:2200]), c1[4000:4200], c1[4000:4200]]
    assert reverse_complement("ACGTN") == "NACGT"
    assert table["strand"].tolist() == ["-", ".", "."]  # as written, not "+"
    expected = predict(model, [reverse_complement(c1[2000:2200]), c1[4000:4200], c1[4000:4200]])
    np.testing.assert_allclose(table[TASKS].to_numpy(), expected, rtol=1e-5, atol=1e-6)


def test_narrowpeak_is_centred_on_its_summit_and_echoes_extra_columns(scorer, chroms, tmp_path) -> None:
    c1 = chroms["chr1"]
    text = ("chr1\t3000\t3400\tpk1\t900\t.\t12.5\t8.1\t6.0\t50\n"
            "chr1\t5000\t5100\tpk2\t10\t+\t3.0\t2.0\t1.0\t-1\n")
    bed = tmp_path / "x.narrowPeak"
    bed.write_text(text)
    out = tmp_path / "o.tsv"
    bed_table(scorer, str(bed), str(GENOME), str(out), echo=True, extra_columns=True)
    table = pd.read_csv(out, sep="\t", keep_default_na=False)
    cols = ["chrom", "start", "end", "name", "score", "strand", "signalValue", "pValue", "qValue", "peak"]
    assert list(table.columns) == [*cols, "sequence", *TASKS]
    # summit 3050 -> [2950, 3150); no summit (-1): centre 5050 -> [4950, 5150)
    assert table["sequence"].tolist() == [c1[2950:3150], c1[4950:5150]]
    assert table["peak"].tolist() == [50, -1] and table["signalValue"].tolist() == [12.5, 3.0]


def test_interval_past_contig_end_is_one_error_naming_line_and_length(scorer, tmp_path) -> None:
    bed = tmp_path / "x.bed"
    bed.write_text("# header\nchr1\t100\t300\nchr1\t19950\t20150\tp\t0\t+\n")
    out = tmp_path / "o.tsv"
    with pytest.raises(InputError) as info:
        bed_table(scorer, str(bed), str(GENOME), str(out))
    assert info.value.file == str(bed)
    assert info.value.message.startswith("line 3: interval chr1:19950-20150 runs past the end of chr1")
    assert "(length 20000)" in info.value.message
    assert not out.exists() and not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize(("line", "match"), [
    ("1\t10\t20", r"line 3: chromosome '1' is not in the genome; did you mean 'chr1'"),
    ("chr1\t20000\t20100", r"line 3: .*past the end of chr1 \(length 20000\)"),
    ("chr1\t500\t500\tz", r"line 3: empty interval chr1:500-500"),  # line 3, not line 2
])
def test_bad_intervals_name_their_line(scorer, tmp_path, line: str, match: str) -> None:
    bed = tmp_path / "x.bed"
    bed.write_text(f"track name=x\nchr1\t0\t200\n{line}\n")
    with pytest.raises(InputError, match=match):
        bed_table(scorer, str(bed), str(GENOME), str(tmp_path / "o.tsv"))


def test_skip_invalid_counts_by_reason_and_scores_nothing_for_them(scorer, model, chroms, tmp_path) -> None:
    text = ("chr1\t1000\t1200\tok1\nchr1\t19950\t20150\tpast\nchr1\t5\t5\tempty\nchrZ\t1\t9\tunknown\n"
            "chr2\t19990\t30000\tpast2\nchr2\t600\t800\tok2\n")
    table, stats = score_bed(scorer, tmp_path, text, skip_invalid=True)
    assert table["name"].tolist() == ["ok1", "ok2"]
    assert stats.skip_reasons == {"outside contig": 2, "empty interval": 1, "unknown contig": 1}
    assert stats.skip_summary("interval") == ("skipped 4 interval(s): 2 outside contig (first: line 2), "
                                              "1 empty interval (first: line 3), 1 unknown contig "
                                              "(first: line 4)")
    expected = predict(model, [chroms["chr1"][1000:1200], chroms["chr2"][600:800]])
    np.testing.assert_allclose(table[TASKS].to_numpy(), expected, rtol=1e-5, atol=1e-6)


def test_every_interval_skipped_still_writes_the_header(scorer, tmp_path) -> None:
    table, stats = score_bed(scorer, tmp_path, "chr1\t19950\t20150\tpast\n", skip_invalid=True)
    assert len(table) == 0 and stats.skip_reasons == {"outside contig": 1}
    assert list(table.columns) == ["chrom", "start", "end", "name", "score", "strand", "sequence", *TASKS]


def test_window_past_contig_start_is_n_padded_and_counted(scorer, chroms, tmp_path) -> None:
    table, stats = score_bed(scorer, tmp_path, "chr1\t0\t50\nchr1\t19990\t20000\n")
    c1 = chroms["chr1"]
    # centre 25 -> [-75, 125); centre 19995 -> [19895, 20095)
    assert table["sequence"].tolist() == ["N" * 75 + c1[:125], c1[19895:] + "N" * 95]
    assert stats.n_edge_padded == 2


def test_window_scan_inside_regions(scorer, model, chroms, tmp_path) -> None:
    c1 = chroms["chr1"]
    table, stats = score_bed(scorer, tmp_path, "chr1\t5000\t5500\tr1\t0\t-\nchr1\t8000\t8100\tr2\n",
                             window=200, step=100)
    assert list(table.columns)[:6] == ["chrom", "start", "end", "name", "strand", "sequence"]
    # 500 bp: starts 5000, 5100, 5200, 5300 (the last flush with the end); 100 bp: one centred window
    assert table[["start", "end"]].values.tolist() == [[5000, 5200], [5100, 5300], [5200, 5400], [5300, 5500],
                                                       [7950, 8150]]
    assert table["name"].tolist() == ["r1"] * 4 + ["r2"] and stats.n_windows == 5
    seqs = [reverse_complement(c1[s:s + 200]) for s in (5000, 5100, 5200, 5300)] + [c1[7950:8150]]
    assert table["sequence"].tolist() == seqs
    np.testing.assert_allclose(table[TASKS].to_numpy(), predict(model, seqs), rtol=1e-5, atol=1e-6)


def test_width_for_models_taking_any_length(chroms, tmp_path) -> None:
    kw = {"n_tasks": 1, "n_filters": 4, "filter_width": 9, "hidden": 4}
    torch.manual_seed(0)
    path = save_model(build_model("deepbind", **kw), tmp_path / "m.safetensors",
                      ModelMetadata("deepbind", kw, tasks=["t"]))
    any_length = load_model(path, device="cpu")
    scorer = Scorer(any_length, device="cpu")
    c1 = chroms["chr1"]
    table, _ = score_bed(scorer, tmp_path, "chr1\t1000\t1003\nchr1\t2000\t2100\n")
    # as given, the 3 bp interval widened to the receptive field (9) around its centre 1001
    assert table["sequence"].tolist() == [c1[997:1006], c1[2000:2100]]
    table, _ = score_bed(scorer, tmp_path, "chr1\t1000\t1003\nchr1\t2000\t2100\n", width=60)
    assert table["sequence"].tolist() == [c1[971:1031], c1[2020:2080]]
    expected = predict(any_length, [c1[971:1031], c1[2020:2080]])[:, 0]
    np.testing.assert_allclose(table["t"], expected, rtol=1e-5, atol=1e-6)


def test_width_and_window_must_fit_the_model(scorer, tmp_path) -> None:
    with pytest.raises(ConfigError, match="--width 100 differs from the model's input length 200"):
        score_bed(scorer, tmp_path, "chr1\t0\t10\n", width=100)
    with pytest.raises(ConfigError, match="--window 50 differs"):
        score_bed(scorer, tmp_path, "chr1\t0\t10\n", window=50, step=10)
    with pytest.raises(ConfigError, match="cannot be combined"):
        score_bed(scorer, tmp_path, "chr1\t0\t10\n", window=200, width=200)


THIRDPARTY = Path(__file__).resolve().parents[1] / "data" / "thirdparty"


@pytest.fixture
def chr17(tmp_path) -> tuple[Path, str]:
    """pyfaidx's 40 kb hg19 chr17 excerpt, copied (its .fai is written beside the copy) and as text."""
    source = THIRDPARTY / "pyfaidx" / "chr17.hg19.part.fa"
    path = tmp_path / "chr17.fa"
    path.write_bytes(source.read_bytes())
    return path, "".join(source.read_text().splitlines()[1:])


def test_thirdparty_chr17_windows_are_genome_substrings(scorer, model, chr17, tmp_path) -> None:
    genome, text = chr17
    bed = tmp_path / "x.bed"
    bed.write_text("chr17\t20000\t20100\tshort\t0\t+\n")  # the 100 bp peak
    out = tmp_path / "o.tsv"
    bed_table(scorer, str(bed), str(genome), str(out), echo=True)
    table = pd.read_csv(out, sep="\t", keep_default_na=False)
    assert table["sequence"].tolist() == [text[19950:20150]]  # case kept (soft-masked), no N
    expected = predict(model, [text[19950:20150]])
    np.testing.assert_allclose(table[TASKS].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    # pyfaidx's minus-strand BED12 gene: 200 bp around the centre of [6010, 31420), reverse-complemented,
    # columns 7-12 (thickStart ... blockStarts) echoed as written
    bed12 = THIRDPARTY / "pyfaidx" / "gene.bed12"
    bed_table(scorer, str(bed12), str(genome), str(out), echo=True, extra_columns=True)
    table = pd.read_csv(out, sep="\t", keep_default_na=False, dtype=str)
    assert table["sequence"].tolist() == [reverse_complement(text[18615:18815])]
    assert table[["strand", "col7", "col10", "col12"]].values.tolist() == [
        ["-", "6012", "6", "0,5195,5861,7910,16317,24887,"]]


def test_thirdparty_beds_on_the_wrong_genome_are_refused_or_counted(scorer, chr17, tmp_path) -> None:
    genome, _ = chr17
    peaks = THIRDPARTY / "pybedtools" / "example.narrowPeak"  # chr1 peaks, behind track/browser lines
    message = r"narrowPeak: line 3: chromosome 'chr1' is not in the genome; did you mean 'chr17'"
    with pytest.raises(InputError, match=message):
        bed_table(scorer, str(peaks), str(genome), str(tmp_path / "o.tsv"))
    stats = bed_table(scorer, str(peaks), str(genome), str(tmp_path / "o.tsv"),
                      options=TableOptions(skip_invalid=True))
    assert stats.skip_reasons == {"unknown contig": 3} and stats.first_skipped == {"unknown contig": "line 3"}
    header = ["chrom", "start", "end", "name", "score", "strand", *TASKS]
    assert (tmp_path / "o.tsv").read_text().splitlines() == ["\t".join(header)]
    regions = THIRDPARTY / "pyfaidx" / "regions.bed"
    with pytest.raises(InputError, match=r"regions.bed: line 1: chromosome 'gi\|563317589\|dbj\|AB821309"):
        bed_table(scorer, str(regions), str(genome), str(tmp_path / "o.tsv"))
    with pytest.raises(InputError, match="malformed.bed: line 1: expected at least 3 tab-separated columns"):
        bed_table(scorer, str(THIRDPARTY / "pyfaidx" / "malformed.bed"), str(genome), str(tmp_path / "o.tsv"))


def test_thirdparty_narrowpeak_summits_and_dot_strands() -> None:
    from seqcnn.seq.genome import iter_bed

    rows = list(iter_bed(THIRDPARTY / "pybedtools" / "example.narrowPeak"))
    assert [(r.line, r.start, r.end, r.strand, r.summit, r.centre) for r in rows] == [
        (3, 9356548, 9356648, ".", 50, 9356598), (4, 9358722, 9358822, ".", 40, 9358762),
        (5, 9361082, 9361182, ".", 75, 9361157)]
    assert rows[0].extra == ("182", "5.0945", "-1", "50")
