"""Genome windows from BED intervals: centring, strands, N padding and chromosome-name hints."""

from __future__ import annotations

import pytest

from seqcnn.errors import ConfigError, InputError
from seqcnn.seq.encode import reverse_complement
from seqcnn.seq.genome import Genome, bed_sequences, read_bed

CHR1 = "ACGTACGTACGGGGTTTTAA"  # 20 bp
CHR2 = "acgtNNNNcc"  # 10 bp, soft-masked start


@pytest.fixture
def genome(tmp_path):
    path = tmp_path / "genome.fa"
    path.write_text(f">chr1 first\n{CHR1[:10]}\n{CHR1[10:]}\n>chr2\n{CHR2}\n")
    with Genome(path) as g:
        yield g


def test_chromosomes_and_plain_fetch(genome):
    assert genome.chroms == {"chr1": 20, "chr2": 10}
    assert genome.fetch("chr1", 0, 20) == CHR1
    assert genome.fetch("chr1", 8, 13) == CHR1[8:13]  # across a line break
    assert genome.fetch("chr2", 0, 4) == "acgt"  # case kept


@pytest.mark.parametrize("start, end, want", [
    (-3, 4, "NNN" + CHR1[:4]),
    (17, 23, CHR1[17:] + "NNN"),
    (-2, 22, "NN" + CHR1 + "NN"),
    (25, 28, "NNN"),
    (-6, -2, "NNNN"),
    (5, 5, ""),
])
def test_n_padding_past_ends(genome, start, end, want):
    assert genome.fetch("chr1", start, end) == want


def test_minus_strand_is_reverse_complement(genome):
    assert genome.fetch("chr1", 2, 7, "-") == reverse_complement(CHR1[2:7]) == "CGTAC"
    assert genome.fetch("chr1", -2, 2, "-") == "GTNN"


def test_unknown_chromosome_suggests_naming_style(tmp_path, genome):
    with pytest.raises(InputError, match=r"'1' is not in the genome; did you mean 'chr1'"):
        genome.fetch("1", 0, 5)
    path = tmp_path / "ens.fa"
    path.write_text(">1\nACGT\n>2\nACGT\n")
    with pytest.raises(InputError, match=r"did you mean '2'"):
        Genome(path).fetch("chr2", 0, 2)
    with pytest.raises(InputError, match="no such genome"):
        Genome(tmp_path / "missing.fa")


def test_unindexable_genome(tmp_path):
    path = tmp_path / "ragged.fa"
    path.write_text(">chr1\nACGT\nAC\nACGT\n")
    with pytest.raises(InputError, match="cannot index"):
        Genome(path)


def test_read_bed_fills_defaults_and_skips_headers(tmp_path):
    path = tmp_path / "x.bed"
    path.write_text("track name=x\n# comment\nchr1\t2\t6\tpeak1\t5\t-\n\nchr2\t0\t4\nchr1\t3\t9\tp\t.\t.\n")
    bed = read_bed(path)
    assert list(bed.columns) == ["chrom", "start", "end", "name", "score", "strand"]
    assert bed.values.tolist() == [["chr1", 2, 6, "peak1", 5.0, "-"], ["chr2", 0, 4, ".", 0.0, "+"],
                                   ["chr1", 3, 9, "p", 0.0, "+"]]


@pytest.mark.parametrize("line, match", [
    ("chr1\t5", "at least 3"),
    ("chr1\tfive\t9", "integers"),
    ("chr1\t9\t5", "start <= end"),
    ("chr1\t-1\t5", "non-negative integers"),
    ("chr1\t1_000\t2000", "non-negative integers, got '1_000'"),
    ("chr1\t 5\t9", "non-negative integers"),
    ("chr1\t+5\t9", "non-negative integers"),
    ("chr1\t5\t\u0669", "non-negative integers"),  # an Arabic-Indic digit nine
    ("chr1\t1\t5\tn\tx", "score"),
    ("chr1\t1\t5\tn\t0\t*", "strand"),
])
def test_read_bed_errors_name_line(tmp_path, line, match):
    path = tmp_path / "bad.bed"
    path.write_text("chr1\t0\t5\n" + line + "\n")
    with pytest.raises(InputError, match=match) as info:
        read_bed(path)
    assert "line 2" in info.value.message and info.value.file == str(path)


def test_read_bed_empty_and_missing(tmp_path):
    path = tmp_path / "empty.bed"
    path.write_text("# nothing\n")
    with pytest.raises(InputError, match="no intervals"):
        read_bed(path)
    with pytest.raises(InputError, match="no such file"):
        read_bed(tmp_path / "none.bed")
    with pytest.raises(InputError, match="is a directory"):
        read_bed(tmp_path)


def test_bed_sequences_as_given_and_centred(tmp_path, genome):
    path = tmp_path / "x.bed"
    path.write_text("chr1\t2\t6\tp\t0\t-\nchr1\t0\t3\nchr2\t8\t10\n")
    bed = read_bed(path)
    assert bed_sequences(bed, genome) == [
        ("chr1:2-6(-)", reverse_complement(CHR1[2:6])), ("chr1:0-3(+)", CHR1[:3]), ("chr2:8-10(+)", "cc")]
    # centre of [2, 6) is 4 -> [1, 7); centre of [0, 3) is 1 -> [-2, 4) padded; chr2 [6, 12) padded
    assert bed_sequences(bed, genome, width=6) == [
        ("chr1:1-7(-)", reverse_complement(CHR1[1:7])), ("chr1:-2-4(+)", "NN" + CHR1[:4]),
        ("chr2:6-12(+)", "NNccNN")]
    assert {len(s) for _, s in bed_sequences(bed, genome, width=5)} == {5}
    with pytest.raises(ConfigError, match="width must be >= 1, got 0"):  # an argument, not the data
        bed_sequences(bed, genome, width=0)


def test_bed_sequences_errors_name_bed_file_and_interval(tmp_path, genome):
    path = tmp_path / "x.bed"
    path.write_text("chr1\t0\t3\n1\t2\t6\tp\t0\t-\n")
    with pytest.raises(InputError, match=r"did you mean 'chr1'.*\(genome .*genome\.fa\)") as info:
        bed_sequences(read_bed(path), genome)
    assert info.value.file == str(path) and info.value.record == "1:2-6(-)"


def test_fetch_rejects_unknown_strand(genome):
    assert genome.fetch("chr1", 2, 7, ".") == CHR1[2:7]
    with pytest.raises(InputError, match="strand must be"):
        genome.fetch("chr1", 2, 7, "*")


def test_variant_windows_reject_zero_width(genome):
    from seqcnn.seq.variants import Variant, variant_windows

    snv = Variant("chr1", 5, "rs1", "A", "G")
    ref, alt, match = variant_windows(snv, genome, 5)
    assert (ref, alt, match) == (CHR1[2:7], CHR1[2:4] + "G" + CHR1[5:7], True)
    with pytest.raises(ConfigError, match="width must be >= 1"):
        variant_windows(snv, genome, 0)


def test_seq_package_exports_resolve_and_import_stays_light():
    # a fresh interpreter: the subpackage (genome and labels included) loads pandas only on use
    import subprocess
    import sys

    code = ("import sys, seqcnn.seq as s\n"
            "missing = [n for n in s.__all__ if not hasattr(s, n)]\n"
            "assert not missing, missing\n"
            "assert s.Genome is __import__('seqcnn.seq.genome', fromlist=['x']).Genome\n"
            "heavy = sorted({'pandas', 'torch', 'pyjaspar', 'pyfaidx'} & set(sys.modules))\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_iter_bed_keeps_lines_strand_extra_columns_and_summit(tmp_path):
    from seqcnn.seq.genome import iter_bed

    path = tmp_path / "x.narrowPeak"
    path.write_text("track name=x\n\nchr1\t2\t12\tpk\t7\t.\t5.5\t3\t2\t4\n"
                    "chr1\t0\t6\tpk2\t1\t-\t1\t1\t1\t-1\nchr2\t1\t3\n")
    rows = list(iter_bed(path))
    assert [(r.line, r.chrom, r.start, r.end, r.name, r.score, r.strand) for r in rows] == [
        (3, "chr1", 2, 12, "pk", 7.0, "."), (4, "chr1", 0, 6, "pk2", 1.0, "-"),
        (5, "chr2", 1, 3, ".", 0.0, ".")]
    assert rows[0].extra == ("5.5", "3", "2", "4") and rows[2].extra == ()
    assert [r.summit for r in rows] == [4, None, None]
    assert [r.centre for r in rows] == [6, 3, 2]  # summit 2 + 4; (0 + 6) // 2; (1 + 3) // 2
    assert rows[0].centred(4) == (4, 8) and rows[1].centred(5) == (1, 6)
    # read_bed keeps its table form: "." and a missing strand read as "+"
    assert read_bed(path)["strand"].tolist() == ["+", "-", "+"]


@pytest.mark.parametrize("line, match", [
    ("chr1\t2\t12\tp\t0\t+\t1\t1\t1\tsummit", "line 2: narrowPeak summit .* must be an integer"),
    ("chr1\t2\t12\tp\t0\t+\t1\t1\t1\t10", "line 2: narrowPeak summit offset 10 is not inside .* 2-12"),
])
def test_iter_bed_refuses_bad_summits(tmp_path, line, match):
    from seqcnn.seq.genome import iter_bed

    path = tmp_path / "x.narrowPeak"
    path.write_text("chr1\t0\t5\n" + line + "\n")
    with pytest.raises(InputError, match=match):
        list(iter_bed(path))


def test_interval_problem_and_contig_length(genome):
    from seqcnn.seq.variants import chrom_length

    assert chrom_length(genome, "chr2") == 10
    with pytest.raises(InputError, match="did you mean 'chr1'"):
        chrom_length(genome, "1")
    assert genome.interval_problem("chr1", 0, 20) is None and genome.interval_problem("chr1", 19, 20) is None
    reason, message = genome.interval_problem("chr1", 15, 21)
    assert reason == "outside contig" and "chr1:15-21 runs past the end of chr1 (length 20)" in message
    assert genome.interval_problem("chr1", 25, 30)[0] == "outside contig"
    reason, message = genome.interval_problem("2", 0, 5)
    assert reason == "unknown contig" and "did you mean 'chr2'" in message
