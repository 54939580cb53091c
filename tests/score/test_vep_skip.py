"""``seqcnn vep --skip-invalid`` and ``variant_effects(skip_invalid=True)`` on real-world-like VCFs.

The records reproduce what third-party VCFs hold (janggu's ``sample.vcf`` and the VCF 4.2 example:
REF ``M``/``*``/``.``; pyvcf3's ``issue-214.vcf``/``issue-16.vcf``: positions past the contig;
``walk_refcall.vcf``: nothing left to score), written into ``tmp_path`` and scored against
``data/example/genome.fa`` (chr1 and chr2, 20,000 bp each) with ``data/example/model.safetensors``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqcnn.errors import InputError
from seqcnn.modelfile import load_model
from seqcnn.score.variants import variant_effects
from seqcnn.seq.variants import VcfStats

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "example"
MODEL = EXAMPLE / "model.safetensors"
GENOME = EXAMPLE / "genome.fa"
HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=20000>\n"
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
GOOD = ["chr1\t1005\tgood1\tC\tG\t.\tPASS\t.",
        "chr2\t3000\tgood2\tATC\tA\t.\tPASS\t.",
        "chr2\t5000\tgood3\tT\tA,C\t.\tPASS\t."]
BAD = {  # line -> the reason written to the rejects file
    "chr1\t1010\tbadM\tM\tA\t.\tPASS\t.": "bad REF 'M' (not bases ACGTN)",
    "chr1\t1020\tbadStar\t*\tA\t.\tPASS\t.": "bad REF '*' (not bases ACGTN)",
    "chr1\t1030\tbadDot\t.\tA\t.\tPASS\t.": "bad REF '.' (not bases ACGTN)",
    "chr1\t1040\tbadAlt\tA\tZ,G\t.\tPASS\t.": "bad ALT 'Z' (not bases ACGTN or symbolic)",
    "chr1\t25000\tpast\tA\tG,T\t.\tPASS\t.": "chr1:25000 is past the end of chr1 (length 20000)",
    "chr1\t19999\tpast2\tACG\tA\t.\tPASS\t.": "chr1:19999 is past the end of chr1 (length 20000)",
    "chrX\t100\tunknown\tA\tG\t.\tPASS\t.": f"unknown contig 'chrX' (not in {GENOME})",
}
ORDER = [GOOD[0], *list(BAD)[:3], GOOD[1], *list(BAD)[3:], GOOD[2]]  # good and bad interleaved


@pytest.fixture(scope="module")
def model():
    return load_model(MODEL)


@pytest.fixture
def vcfs(tmp_path) -> dict[str, Path]:
    paths = {"mixed": tmp_path / "mixed.vcf", "good": tmp_path / "good.vcf", "none": tmp_path / "none.vcf"}
    paths["mixed"].write_text(HEADER + "".join(line + "\n" for line in ORDER))
    paths["good"].write_text(HEADER + "".join(line + "\n" for line in GOOD))
    paths["none"].write_text(HEADER + "chr1\t1010\tbadM\tM\tA\t.\t.\t.\nchr1\t1011\trefcall\tA\t.\t.\t.\t.\n")
    return paths



def test_without_the_flag_the_first_bad_record_is_one_line_and_no_output(vcfs, tmp_path, capsys, run) -> None:
    out = tmp_path / "never.tsv"
    code, _, err = run(["vep", MODEL, vcfs["mixed"], "--genome", GENOME, "-o", out, "-q"], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert f"{vcfs['mixed']}:line 5: REF must be bases ACGTN, got 'M'" in err  # 3 header lines + good1
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize(("line", "message"), [
    ("chr1\t25000\tpast\tA\tG\t.\t.\t.", ":line 4: chr1:25000 is past the end of chr1 (length 20000)"),
    ("chrX\t100\tunknown\tA\tG\t.\t.\t.", ":line 4: chromosome 'chrX' is not in the genome"),
])
def test_without_the_flag_contig_errors_name_the_line(tmp_path, capsys, line: str, message: str, run) -> None:
    vcf, out = tmp_path / "one.vcf", tmp_path / "never.tsv"
    vcf.write_text(HEADER + line + "\n")
    code, _, err = run(["vep", MODEL, vcf, "--genome", GENOME, "-o", out, "-q"], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_skip_invalid_scores_the_good_records_exactly_and_counts_the_rest(vcfs, tmp_path, capsys,
                                                                          run) -> None:
    out, clean, rejects = tmp_path / "mixed.tsv", tmp_path / "clean.tsv", tmp_path / "rejects.tsv"
    code, _, err = run(["vep", MODEL, vcfs["mixed"], "--genome", GENOME, "-o", out, "--skip-invalid",
                        "--rejects", rejects, "-q"], capsys)
    assert code == 0, err
    assert err == ("seqcnn: skipped 7 invalid VCF record(s): 3 bad REF, 1 bad ALT, 2 past contig end, "
                   f"1 unknown contig (written to {rejects})\n")
    code, _, err = run(["vep", MODEL, vcfs["good"], "--genome", GENOME, "-o", clean, "-q"], capsys)
    assert code == 0, err
    got, expected = pd.read_csv(out, sep="\t"), pd.read_csv(clean, sep="\t")
    assert got["id"].tolist() == ["good1", "good2", "good3", "good3"]  # multi-allelic split, order kept
    pd.testing.assert_frame_equal(got, expected)
    lines = rejects.read_text().splitlines()
    assert lines[0] == HEADER.splitlines()[-1] + "\treason"
    assert lines[1:] == [f"{line}\t{reason}" for line, reason in BAD.items()]  # once per record, in order


def test_all_records_skipped_gives_a_header_only_table(vcfs, tmp_path, capsys, model, run) -> None:
    out = tmp_path / "empty.tsv"
    code, _, err = run(["vep", MODEL, vcfs["none"], "--genome", GENOME, "-o", out, "--skip-invalid", "-q"],
                       capsys)
    assert code == 0, err
    assert "skipped 1 invalid VCF record(s): 1 bad REF" in err
    tasks = list(model.metadata.tasks)
    header = ["chrom", "pos", "id", "ref", "alt", "ref_match"]
    header += [f"{kind}_{t}" for t in tasks for kind in ("ref", "alt", "diff", "log2fc")]
    assert out.read_text() == "\t".join(header) + "\n"


@pytest.mark.parametrize("suffix", [".parquet", ".npz"])
def test_all_records_skipped_gives_typed_empty_columns(vcfs, tmp_path, capsys, model, suffix: str,
                                                       run) -> None:
    out = tmp_path / f"empty{suffix}"
    code, _, err = run(["vep", MODEL, vcfs["none"], "--genome", GENOME, "-o", out, "--skip-invalid", "-q"],
                       capsys)
    assert code == 0, err
    if suffix == ".npz":
        with np.load(out) as data:
            got = {k: data[k] for k in data.files}
    else:
        got = {k: v.to_numpy() for k, v in pd.read_parquet(out).items()}
    assert len(got) == 6 + 4 * len(model.metadata.tasks)
    assert all(len(v) == 0 for v in got.values())
    assert got["pos"].dtype == np.int64 and got["ref_match"].dtype == bool
    assert got[f"diff_{model.metadata.tasks[0]}"].dtype == np.float32


def test_a_walk_refcall_vcf_without_the_flag_has_a_header_too(tmp_path, capsys, run) -> None:
    vcf, out = tmp_path / "refcall.vcf", tmp_path / "refcall.tsv"
    vcf.write_text(HEADER + "chr1\t1011\trefcall\tA\t.\t.\t.\t.\n")  # only a missing ALT: nothing to score
    code, _, err = run(["vep", MODEL, vcf, "--genome", GENOME, "-o", out, "-q"], capsys)
    assert code == 0, err
    assert out.read_text().startswith("chrom\tpos\tid\tref\talt\tref_match\tref_")
    assert out.read_text().count("\n") == 1


def test_rejects_needs_skip_invalid(vcfs, tmp_path, capsys, run) -> None:
    rejects = tmp_path / "rejects.tsv"
    code, _, err = run(["vep", MODEL, vcfs["good"], "--genome", GENOME, "--rejects", rejects], capsys)
    assert code == 2 and err.count("\n") == 1 and "--rejects needs --skip-invalid" in err, err
    assert not rejects.exists()


def test_rejects_file_is_atomic_on_a_failed_run(vcfs, tmp_path, capsys, run) -> None:
    vcf, rejects, out = tmp_path / "broken.vcf", tmp_path / "rejects.tsv", tmp_path / "never.tsv"
    vcf.write_text(HEADER + "chr1\t1010\tbadM\tM\tA\t.\t.\t.\nchr1\tpos\tx\tA\tG\t.\t.\t.\n")  # a bad POS
    code, _, err = run(["vep", MODEL, vcf, "--genome", GENOME, "-o", out, "--skip-invalid", "--rejects",
                        rejects, "-q"], capsys)
    assert code == 2 and err.count("\n") == 1 and "line 5: POS must be a positive integer" in err, err
    assert not rejects.exists() and not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_variant_effects_skip_invalid_and_stats(vcfs, model) -> None:
    with pytest.raises(InputError, match="line 5: REF must be bases ACGTN, got 'M'"):
        variant_effects(model, vcfs["mixed"], GENOME)
    stats = VcfStats()
    frame = variant_effects(model, vcfs["mixed"], GENOME, skip_invalid=True, stats=stats)
    assert stats.invalid == {"bad REF": 3, "bad ALT": 1, "past contig end": 2, "unknown contig": 1}
    assert stats.n_invalid == 7 and stats.n_records == len(ORDER)
    expected = variant_effects(model, vcfs["good"], GENOME)
    pd.testing.assert_frame_equal(frame, expected)
    tasks = list(model.metadata.tasks)
    empty = variant_effects(model, vcfs["none"], GENOME, skip_invalid=True, target=tasks[1])
    assert empty.shape == (0, 10)
    assert list(empty.columns[6:]) == [f"{k}_{tasks[1]}" for k in ("ref", "alt", "diff", "log2fc")]


def test_skip_invalid_on_variants_made_in_code(model) -> None:
    from seqcnn.seq.variants import Variant

    variants = [Variant("chr1", 1005, "a", "C", "G"), Variant("chrZ", 5, "z", "A", "G"),
                Variant("chr1", 20001, "p", "A", "G")]
    seen: list[tuple] = []
    stats = VcfStats(on_reject=lambda text, reason: seen.append((text, reason)))
    frame = variant_effects(model, variants, GENOME, skip_invalid=True, stats=stats)
    assert frame["id"].tolist() == ["a"]
    assert stats.invalid == {"unknown contig": 1, "past contig end": 1}
    assert seen == [(None, f"unknown contig 'chrZ' (not in {GENOME})"),
                    (None, "chr1:20001 is past the end of chr1 (length 20000)")]


def test_no_row_columns_of_a_model_without_task_names(vcfs) -> None:
    import torch

    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Conv1d(4, 3, 5), torch.nn.AdaptiveMaxPool1d(1), torch.nn.Flatten())
    frame = variant_effects(plain, vcfs["none"], GENOME, window=40, skip_invalid=True)
    assert frame.shape == (0, 6 + 4 * 3)  # three outputs, counted by one forward pass
    assert list(frame.columns[6:10]) == ["ref_task0", "alt_task0", "diff_task0", "log2fc_task0"]
    full = variant_effects(plain, vcfs["good"], GENOME, window=40)
    assert list(full.columns) == list(frame.columns)
