"""Files written by other projects (tests/data/thirdparty, see its README): each is read with the right
values, checked against a hand count, the genome text or Biopython, or refused with one line naming the
file and line.

Only the readers (seqcnn.seq) are tested here; the CLI behaviours these files expose (vep
--skip-invalid, empty tables with a header, BED intervals outside the genome) are tested with the CLI.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from Bio import motifs as bio_motifs

from seqcnn.errors import InputError
from seqcnn.seq import Genome, VcfStats, read_bed, read_meme, read_vcf
from seqcnn.seq.genome import iter_bed

THIRD = Path(__file__).resolve().parents[1] / "data" / "thirdparty"
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def _revcomp(text: str) -> str:
    """The test's own reverse complement (case kept), independent of seqcnn's."""
    return text.translate(_COMPLEMENT)[::-1]


def _one_line_error(info: pytest.ExceptionInfo[InputError], path: Path, line: int) -> str:
    message = str(info.value)
    assert "\n" not in message
    assert info.value.file == str(path)
    assert f"line {line}" in message
    return message


# ---------------------------------------------------------------- VCF (pyvcf3)


def _variants(path: Path, **kw: object) -> tuple[list[tuple], VcfStats]:
    stats = VcfStats()
    rows = [(v.line, v.chrom, v.pos, v.id, v.ref, v.alt) for v in read_vcf(path, stats, **kw)]
    return rows, stats


def test_vcf_spec_example_every_allele() -> None:
    path = THIRD / "pyvcf3" / "example-4.0.vcf"
    rows, stats = _variants(path)
    assert rows == [  # hand count: 6 records, one multi-allelic (2 ALTs), one microsatellite (2 ALTs)
        (19, "20", 14370, "rs6054257", "G", "A"),
        (20, "20", 17330, ".", "T", "A"),
        (21, "20", 1110696, "rs6040355", "A", "G"),
        (21, "20", 1110696, "rs6040355", "A", "T"),
        (23, "20", 1231234, ".", "AT", "A"),
        (24, "20", 1234567, "microsat1", "GTCT", "G"),
        (24, "20", 1234567, "microsat1", "GTCT", "GTACT"),
    ]
    assert stats.n_records == 6 and stats.n_split == 2
    assert stats.skipped == ["20:1230237:."]  # line 22: ALT '.', a reference call
    assert _variants(path, skip_invalid=True)[0] == rows and stats.invalid == {}


def test_vcf_samtools_lower_case_and_multiallelic_indels() -> None:
    rows, stats = _variants(THIRD / "pyvcf3" / "samtools.vcf")
    assert stats.n_records == 11 and stats.n_split == 4 and len(rows) == 15 and stats.skipped == []
    assert rows[0] == (24, "chrX", 2774478, ".", "A", "G")
    assert rows[6] == (30, "chr1", 10363194, ".", "cca", "cCAca")  # case as written
    assert [r[5] for r in rows if r[0] == 32] == ["t" + "T" * 22, "t" + "T" * 13, "t" + "T" * 7]
    assert rows[-1] == (34, "chr1", 152276149, ".", "C", "T")


@pytest.mark.parametrize("name, line, ref", [("issue-214.vcf", 32, "*"), ("issue-16.vcf", 20, ".")])
def test_vcf_bad_ref_is_one_line_error_or_counted_skip(name: str, line: int, ref: str) -> None:
    path = THIRD / "pyvcf3" / name
    with pytest.raises(InputError) as info:
        list(read_vcf(path))
    assert repr(ref) in _one_line_error(info, path, line)
    rejected: list[tuple[str | None, str]] = []
    stats = VcfStats(on_reject=lambda text, reason: rejected.append((text, reason)))
    rows = [(v.line, v.pos, v.ref, v.alt) for v in read_vcf(path, stats, skip_invalid=True)]
    assert stats.invalid == {"bad REF": 1}
    assert len(rejected) == 1 and repr(ref) in rejected[0][1]
    assert rejected[0][0] == path.read_text().splitlines()[line - 1]  # the record as written
    if name == "issue-214.vcf":  # line 31: T -> C and a spanning deletion '*' (skipped, listed)
        assert rows == [(31, 456904, "T", "C")] and stats.skipped == ["1:456904:*"]
    else:
        assert rows == []


@pytest.mark.parametrize("name, n_records, skipped", [
    ("walk_refcall.vcf", 4, ["rs6054257:.", "20:17330:.", "rs6040355:.", "20:1230237:."]),
    ("null_genotype_mono.vcf", 1, ["chr1:65312657:."]),
])
def test_vcf_reference_calls_only_give_no_variant(name: str, n_records: int, skipped: list[str]) -> None:
    rows, stats = _variants(THIRD / "pyvcf3" / name)
    assert rows == [] and stats.n_records == n_records and stats.skipped == skipped
    assert stats.invalid == {}


# ---------------------------------------------------------------- BED and narrowPeak (pybedtools, pyfaidx)


def test_bed6_zero_based_half_open_and_strand_as_written() -> None:
    path = THIRD / "pybedtools" / "a.bed"
    rows = [(r.line, r.chrom, r.start, r.end, r.name, r.strand) for r in iter_bed(path)]
    assert rows == [(1, "chr1", 1, 100, "feature1", "+"), (2, "chr1", 100, 200, "feature2", "+"),
                    (3, "chr1", 150, 500, "feature3", "-"), (4, "chr1", 900, 950, "feature4", "+")]
    bed = read_bed(path)
    assert bed["start"].tolist() == [1, 100, 150, 900] and bed["end"].tolist() == [100, 200, 500, 950]
    assert (bed["end"] - bed["start"]).tolist() == [99, 100, 350, 50]  # half-open lengths
    (peak,) = iter_bed(THIRD / "pybedtools" / "test_peaks.bed")
    assert (peak.start, peak.end, peak.name, peak.score, peak.strand) == (3, 4, "peak1", 50.0, ".")


def test_narrowpeak_header_lines_summits_and_extra_columns() -> None:
    peaks = list(iter_bed(THIRD / "pybedtools" / "example.narrowPeak"))
    assert [p.line for p in peaks] == [3, 4, 5]  # the track and browser lines are skipped, still counted
    assert [(p.start, p.end) for p in peaks] == [(9356548, 9356648), (9358722, 9358822), (9361082, 9361182)]
    assert [p.summit for p in peaks] == [50, 40, 75]
    assert [p.centre for p in peaks] == [9356598, 9358762, 9361157]  # start + summit, not the midpoint
    assert peaks[0].centred(10) == (9356593, 9356603)
    assert peaks[0].extra == ("182", "5.0945", "-1", "50") and {p.strand for p in peaks} == {"."}


def test_bed_contig_names_with_pipes() -> None:
    rows = [(r.chrom, r.start, r.end) for r in iter_bed(THIRD / "pyfaidx" / "regions.bed")]
    assert rows == [("gi|563317589|dbj|AB821309.1|", 0, 999), ("gi|543583785|ref|NM_000465.3|", 99, 5522)]


def test_malformed_bed_is_one_line_error() -> None:
    path = THIRD / "pyfaidx" / "malformed.bed"
    with pytest.raises(InputError) as info:
        list(iter_bed(path))
    assert "3 tab-separated columns, got 2" in _one_line_error(info, path, 1)
    with pytest.raises(InputError, match="line 1"):
        read_bed(path)


# ---------------------------------------------------------------- genome (pyfaidx's hg19 chr17 excerpt)


@pytest.fixture
def chr17(tmp_path: Path) -> Iterator[tuple[Genome, str]]:
    """The excerpt copied to tmp_path (its .fai index is written there), and its text."""
    path = tmp_path / "chr17.fa"
    shutil.copy(THIRD / "pyfaidx" / "chr17.hg19.part.fa", path)
    text = "".join(path.read_text().splitlines()[1:])
    with Genome(path) as genome:
        yield genome, text


def test_genome_windows_are_substrings(chr17: tuple[Genome, str]) -> None:
    genome, text = chr17
    assert genome.chroms == {"chr17": 40000} and len(text) == 40000
    assert genome.fetch("chr17", 20000, 20100) == text[20000:20100]
    centred = genome.fetch("chr17", 19950, 20150)  # the 200 bp window around it: genome, no N
    assert centred == text[19950:20150] and "N" not in centred.upper()
    assert genome.fetch("chr17", 0, 7) == "AAGCTTC"  # 0-based: the first base is position 0
    assert genome.fetch("chr17", 100, 130, "-") == _revcomp(text[100:130])
    assert any(c.islower() for c in text[400:500]) and genome.fetch("chr17", 400, 500) == text[400:500]


def test_minus_strand_bed12_gene(chr17: tuple[Genome, str]) -> None:
    genome, text = chr17
    (gene,) = iter_bed(THIRD / "pyfaidx" / "gene.bed12")
    where = (gene.chrom, gene.start, gene.end, gene.name, gene.strand)
    assert where == ("chr17", 6010, 31420, "uc010vpx.1", "-")
    assert len(gene.extra) == 6 and gene.extra[3] == "6"  # thickStart ... blockStarts, as text
    assert gene.summit is None  # 12 columns: not a narrowPeak
    sequence = genome.fetch(gene.chrom, gene.start, gene.end, gene.strand)
    assert sequence == _revcomp(text[6010:31420]) and len(sequence) == 25410


def test_intervals_outside_the_excerpt(chr17: tuple[Genome, str]) -> None:
    genome, text = chr17
    # past the contig end: fetch pads with N (documented), interval_problem says why it is not inside
    assert genome.fetch("chr17", 39990, 40010) == text[39990:] + "N" * 10
    reason, message = genome.interval_problem("chr17", 39990, 40010)
    assert reason == "outside contig" and "40000" in message and "\n" not in message
    assert genome.interval_problem("chr17", 39900, 40000) is None
    # pybedtools' chr1 intervals against a chr17 genome: the contig is unknown
    first = next(iter_bed(THIRD / "pybedtools" / "a.bed"))
    reason, message = genome.interval_problem(first.chrom, first.start, first.end)
    assert reason == "unknown contig" and "'chr1'" in message
    with pytest.raises(InputError, match="'chr1' is not in the genome"):
        genome.fetch(first.chrom, first.start, first.end)


# ---------------------------------------------------------------- MEME minimal (Biopython)


def _biopython(path: Path) -> list:
    with open(path) as handle:
        return list(bio_motifs.parse(handle, "minimal"))


@pytest.mark.parametrize("name", ["minimal_test.meme", "minimal_test_rna.meme"])
def test_meme_motifs_equal_biopython(name: str) -> None:
    path = THIRD / "biopython" / name
    ours, theirs = read_meme(path), _biopython(path)
    assert [m.name for m in ours] == [m.name for m in theirs]
    assert [m.length for m in ours] == [len(m) for m in theirs] == [19, 18, 18]
    assert [m.nsites for m in ours] == [17, 14, None]  # the third has no nsites=/E=
    assert [m.num_occurrences for m in theirs] == [17, 14, 20]  # Biopython's default for a missing nsites
    assert [m.evalue for m in ours] == pytest.approx([4.1e-9, 3.2e-35, None])
    for motif, peer in zip(ours, theirs, strict=True):
        n = motif.nsites or 20
        letters = "ACGT" if "ACGT" in str(peer.alphabet) else "ACGU"
        counts = np.array([peer.counts[b] for b in letters]).T
        # Biopython stores counts = round(probability * nsites): ours give the same counts ...
        np.testing.assert_array_equal(np.round(motif.pwm * n), counts)
        np.testing.assert_allclose(motif.pwm.sum(axis=1), 1.0, atol=1e-9)
    # ... and the probabilities as written (first row of KRP: 0 0.176471 0 0.823529)
    np.testing.assert_allclose(ours[0].pwm[0], [0, 0.176471, 0, 0.823529], atol=1e-6)
    np.testing.assert_allclose(ours[2].pwm, ours[1].pwm)  # the same matrix, without statistics


def test_meme_rna_alphabet_reads_as_dna_columns() -> None:
    dna = read_meme(THIRD / "biopython" / "minimal_test.meme")
    rna = read_meme(THIRD / "biopython" / "minimal_test_rna.meme")
    assert [m.name for m in rna] == [f"{m.name}_fake_RNA" for m in dna]
    for a, b in zip(dna, rna, strict=True):
        np.testing.assert_array_equal(a.pwm, b.pwm)  # U is the fourth column, as T
