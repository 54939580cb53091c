"""Other projects' real files through the CLI (tests/data/thirdparty/README.md lists sources and licences):
every record is scored right or refused clearly, and every skip is counted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

THIRDPARTY = Path(__file__).resolve().parents[1] / "data" / "thirdparty"
MODEL = Path(__file__).resolve().parents[2] / "data" / "example" / "model.safetensors"



@pytest.fixture
def chr17(tmp_path: Path) -> Path:
    """pyfaidx's hg19 chr17:1-40,000 excerpt, copied so its .fai index is not written into the repository."""
    path = tmp_path / "chr17.fa"
    shutil.copy(THIRDPARTY / "pyfaidx" / "chr17.hg19.part.fa", path)
    return path


def test_vcf_with_star_ref_stops_at_the_first_bad_record_or_counts_each(chr17, tmp_path, capsys, run) -> None:
    """pyvcf3 issue-214.vcf: contig '1' (not in this genome) on line 31, REF '*' on line 32."""
    vcf = THIRDPARTY / "pyvcf3" / "issue-214.vcf"
    out = tmp_path / "vep.tsv"
    code, _, err = run(["vep", MODEL, vcf, "--genome", chr17, "-o", out, "-q"], capsys)
    assert code == 2 and not out.exists()
    assert err.strip() == f"seqcnn: error: {vcf}:line 31: chromosome '1' is not in the genome ({chr17})"
    rejects = tmp_path / "rejects.tsv"
    code, _, err = run(["vep", MODEL, vcf, "--genome", chr17, "-o", out, "-q", "--skip-invalid",
                        "--rejects", rejects], capsys)
    assert code == 0
    assert "skipped 2 invalid VCF record(s): 1 unknown contig, 1 bad REF" in err
    lines = rejects.read_text().splitlines()
    assert lines[0].startswith("#CHROM\tPOS") and lines[0].endswith("\treason")
    rejected = [line.split("\t")[:4] for line in lines[1:]]
    assert rejected == [["1", "456904", ".", "T"], ["1", "456940", ".", "*"]]
    assert out.read_text().splitlines()[0].startswith("chrom\tpos\tid\tref\talt\tref_match\tref_CTCF")
    assert len(out.read_text().splitlines()) == 1  # header, no rows


def test_vcf_with_dot_ref_is_one_line_naming_file_line_and_value(chr17, tmp_path, capsys, run) -> None:
    vcf = THIRDPARTY / "pyvcf3" / "issue-16.vcf"
    code, _, err = run(["vep", MODEL, vcf, "--genome", chr17, "-o", tmp_path / "v.tsv", "-q"], capsys)
    assert code == 2
    assert err.strip() == f"seqcnn: error: {vcf}:line 20: REF must be bases ACGTN, got '.'"


@pytest.mark.parametrize("name", ["walk_refcall.vcf", "null_genotype_mono.vcf"])
def test_vcf_of_reference_calls_only_gives_a_header_only_table(name, chr17, tmp_path, capsys, run) -> None:
    """Every ALT is '.', so nothing is scored; the table still has its header (downstream scripts)."""
    out = tmp_path / "v.tsv"
    code, _, _ = run(["vep", MODEL, THIRDPARTY / "pyvcf3" / name, "--genome", chr17, "-o", out, "-q"], capsys)
    assert code == 0
    header = out.read_text().splitlines()
    assert len(header) == 1 and header[0].split("\t")[:6] == ["chrom", "pos", "id", "ref", "alt", "ref_match"]
    assert len(header[0].split("\t")) == 6 + 4 * 12  # ref/alt/diff/log2fc for each of the 12 tasks
