"""``seqcnn score``, ``vep``, ``info`` and ``export`` through the console entry point."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seqcnn.cli import main
from seqcnn.modelfile import ModelMetadata, load_model, save_model
from seqcnn.models.registry import build_model
from seqcnn.score.scoring import predict

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
KWARGS = {"n_tasks": 2, "n_filters": 6, "filter_width": 7, "hidden": 5}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("score")
    torch.manual_seed(0)
    model = save_model(build_model("deepbind", **KWARGS), root / "m.safetensors",
                       ModelMetadata("deepbind", KWARGS, tasks=["CTCF", "GATA1"], task_type="binary",
                                     rc_mode="max"))
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), size=int(n))) for n in rng.integers(30, 90, size=25)]
    fasta = root / "x.fa"
    fasta.write_text("".join(f">s{i} desc\n{s}\n" for i, s in enumerate(seqs)))
    bad = root / "bad.fa"
    bad.write_text(">ok1\nACGTACGTACGT\n>bad1\nACGT-ACGTACG\n>ok2\nTTTTGGGGCCCC\n")
    return {"model": model, "fasta": fasta, "bad": bad, "root": root}


def run(args: list[str], capsys, *, stdin: bytes | None = None, monkeypatch=None) -> tuple[int, str, str]:
    """Run ``seqcnn ARGS``; returns (exit status, stdout, stderr)."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _expected(files: dict[str, Path], **kwargs) -> pd.DataFrame:
    return predict(load_model(files["model"]), files["fasta"], **kwargs)


def test_score_writes_id_and_task_columns(files, capsys) -> None:
    code, out, err = run(["score", files["model"], files["fasta"], "-q"], capsys)
    assert code == 0 and err == ""
    got = pd.read_csv(io.StringIO(out), sep="\t")
    expected = _expected(files)
    assert list(got.columns) == ["id", "CTCF", "GATA1"]
    assert got["id"].tolist() == [f"s{i}" for i in range(25)]
    np.testing.assert_allclose(got[["CTCF", "GATA1"]], expected[["CTCF", "GATA1"]], rtol=1e-6, atol=1e-7)
    assert ((got[["CTCF", "GATA1"]] > 0) & (got[["CTCF", "GATA1"]] < 1)).all().all()  # probabilities


def test_score_options_echo_no_header_logits_stdin(files, capsys, monkeypatch) -> None:
    data = files["fasta"].read_bytes()
    code, out, _ = run(["score", files["model"], "-", "--echo", "--no-header", "--logits", "--rc", "none"],
                       capsys, stdin=data, monkeypatch=monkeypatch)
    assert code == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert rows[0][0] == "s0" and len(rows) == 25
    seqs = [line for line in files["fasta"].read_text().splitlines() if not line.startswith(">")]
    assert [r[1] for r in rows] == seqs
    logits = _expected(files, logits=True, rc="none")
    np.testing.assert_allclose(np.array([r[2:] for r in rows], dtype=float), logits[["CTCF", "GATA1"]],
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("suffix", [".tsv.gz", ".parquet", ".npz"])
def test_output_format_follows_extension(files, capsys, suffix: str) -> None:
    out_path = files["root"] / f"scores{suffix}"
    code, out, _ = run(["score", files["model"], files["fasta"], "-o", out_path, "-q"], capsys)
    assert code == 0 and out == ""
    if suffix == ".npz":
        with np.load(out_path) as data:
            got = pd.DataFrame({k: data[k] for k in ("id", "CTCF", "GATA1")})
    elif suffix == ".parquet":
        got = pd.read_parquet(out_path)
    else:
        got = pd.read_csv(out_path, sep="\t")
    expected = _expected(files)
    assert got["id"].tolist() == expected["id"].tolist()
    np.testing.assert_allclose(got["GATA1"], expected["GATA1"], rtol=1e-6)


def test_skip_invalid_scores_the_rest_and_names_the_skipped(files, capsys) -> None:
    code, out, err = run(["score", files["model"], files["bad"], "--skip-invalid"], capsys)
    assert code == 0
    assert [line.split("\t")[0] for line in out.splitlines()] == ["id", "ok1", "ok2"]
    assert "skipped 1 record(s) with invalid bases: bad1" in err


def test_skip_invalid_skips_empty_records(files, tmp_path, capsys) -> None:
    """docs/formats.md: --skip-invalid skips records with no sequence too; without it they are an error."""
    fasta = tmp_path / "empty.fa"
    fasta.write_text(">a\n" + "ACGT" * 8 + "\n>empty\n\n>b\n" + "ACGT" * 8 + "\n>last\n")
    code, out, err = run(["score", files["model"], str(fasta), "--skip-invalid", "-q"], capsys)
    assert code == 0
    assert [line.split("\t")[0] for line in out.splitlines()] == ["id", "a", "b"]
    assert "skipped 2 record(s)" in err and "empty, last" in err
    code, out, err = run(["score", files["model"], str(fasta), "-q"], capsys)
    assert code == 2 and "empty: record has no sequence" in err and out == ""


@pytest.mark.parametrize(("args", "message"), [
    (["score", "{model}", "{bad}"], "bad1:5: invalid character '-'"),
    (["score", "{model}", BAD / "fasta_empty.fa"], "empty FASTA"),
    (["score", "{model}", BAD / "fasta_invalid_base_digit.fa"], "invalid character"),
    (["score", BAD / "model_garbage.safetensors", "{fasta}"], "not a readable safetensors file"),
    (["score", "{fasta}", "{fasta}"], "safetensors"),
    (["score", "{model}", "{fasta}", "-o", "{root}/missing/out.tsv"], "output directory does not exist"),
    (["score", "{model}", "{fasta}", "-o", "{root}/out.xlsx"], "unknown output extension"),
    (["score", "{model}", "{fasta}", "--window", "3"], "shorter than the model's receptive field"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(files, capsys, args: list, message: str) -> None:
    out_path = files["root"] / "never.tsv"
    argv = [str(a).format(**{k: str(v) for k, v in files.items()}) for a in args]
    if "-o" not in argv:
        argv += ["-o", str(out_path)]
    code, out, err = run(argv, capsys)
    assert code == 2, err
    assert err.startswith("seqcnn: error:") and err.count("\n") == 1 and message in err, err
    assert not out_path.exists()
    assert not list(files["root"].glob(".*.part")) and not (files["root"] / "missing").exists()


def test_window_scan_and_record_max(files, capsys) -> None:
    maxima = files["root"] / "max.tsv"
    code, out, _ = run(["score", files["model"], files["fasta"], "--window", "20", "--step", "10",
                        "--record-max", maxima, "--rc", "none"], capsys)
    assert code == 0
    windows = pd.read_csv(io.StringIO(out), sep="\t")
    assert list(windows.columns) == ["id", "start", "end", "CTCF", "GATA1"]
    first = files["fasta"].read_text().splitlines()[1]
    s0 = windows[windows["id"] == "s0"]
    assert s0["start"].tolist()[:2] == [0, 10] and s0["end"].max() == len(first)
    model = load_model(files["model"])
    subs = [first[s:e] for s, e in zip(s0["start"], s0["end"], strict=True)]
    np.testing.assert_allclose(s0[["CTCF", "GATA1"]].to_numpy(), predict(model, subs, rc="none"), rtol=1e-6)
    best = pd.read_csv(maxima, sep="\t")
    assert best["id"].tolist() == [f"s{i}" for i in range(25)]
    assert best.loc[0, "n_windows"] == len(s0)
    np.testing.assert_allclose(best.loc[0, "CTCF"], s0["CTCF"].max(), rtol=1e-6)


def test_works_in_a_pipe_with_head(files, tmp_path) -> None:
    rng = np.random.default_rng(1)
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    big = tmp_path / "big.fa"
    seqs = (bases[rng.integers(0, 4, 100)].tobytes().decode() for _ in range(30000))
    big.write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(seqs)))
    script = (f"{sys.executable} -m seqcnn.cli score {files['model']} - < {big} 2> {tmp_path}/err"
              " | head -n 3; echo \"status=${PIPESTATUS[0]}\"")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)
    lines = done.stdout.splitlines()
    assert lines[0] == "id\tCTCF\tGATA1" and lines[1].startswith("r0\t") and len(lines) == 4
    assert lines[3] == "status=0"
    assert (tmp_path / "err").read_text() == ""


def test_program_run_ends_with_every_output_complete(files, tmp_path) -> None:
    """Run as a program, ``seqcnn score`` skips the interpreter's teardown (``os._exit``): stdout
    must still be flushed whole, gzip files closed, notes printed and the exit status kept."""
    rng = np.random.default_rng(2)
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    fasta = tmp_path / "many.fa"
    seqs = (bases[rng.integers(0, 4, 60)].tobytes().decode() for _ in range(6000))
    fasta.write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(seqs)) + ">short\nACG\n")
    base = [sys.executable, "-m", "seqcnn.cli", "score", str(files["model"]), str(fasta)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # block-buffered, as usual
    to_stdout = subprocess.run(base, capture_output=True, text=True, timeout=300, env=env)
    assert to_stdout.returncode == 0
    rows = to_stdout.stdout.splitlines()
    assert len(rows) == 6002 and rows[-1].startswith("short\t")  # 64 kB pipe buffers: all flushed
    assert "padded with N" in to_stdout.stderr  # the length note comes after the last batch
    gz = tmp_path / "out.tsv.gz"
    done = subprocess.run([*base, "-o", str(gz)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0
    assert pd.read_csv(gz, sep="\t").shape == (6001, 3)  # a truncated gzip stream would not read
    bad = subprocess.run([*base[:-1], str(files["bad"]), "-o", str(tmp_path / "bad.tsv")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "bad1" in bad.stderr and not (tmp_path / "bad.tsv").exists()


def test_info_shows_metadata_tasks_and_layers(files, capsys) -> None:
    code, out, _ = run(["info", files["model"]], capsys)
    assert code == 0
    assert "architecture:   deepbind" in out and "rc_mode:        max" in out
    assert "tasks:          2 (CTCF, GATA1)" in out
    assert "body.0.conv" in out and "Conv1d" in out and "(1, 6, 994)" in out  # 1000 - 7 + 1
    assert f"total parameters: {sum(p.numel() for p in load_model(files['model']).parameters()):,}" in out


def test_export_command(files, capsys) -> None:
    from seqcnn.export import read_export_metadata

    onnx_path = files["root"] / "m.onnx"
    assert run(["export", files["model"], "--format", "onnx", "-o", onnx_path], capsys)[0] == 0
    assert read_export_metadata(onnx_path)["architecture"] == "deepbind"
    code, _, err = run(["export", files["model"], "-o", files["root"] / "m.bin"], capsys)
    assert code == 2 and "--format" in err


@pytest.fixture(scope="module")
def genome(files) -> dict[str, Path]:
    rng = np.random.default_rng(2)
    chroms = {name: "".join(rng.choice(list("ACGT"), size=n)) for name, n in (("chr1", 400), ("chr2", 90))}
    fa = files["root"] / "genome.fa"
    fa.write_text("".join(f">{name}\n{seq}\n" for name, seq in chroms.items()))
    c1 = chroms["chr1"]
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    vcf = files["root"] / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"chr1\t100\trs1\t{c1[99]}\t{other[c1[99]]},{other[other[c1[99]]]}\t.\t.\t.\n"
                   f"chr1\t150\trs2\t{other[c1[149]]}\t{c1[149]}\t.\t.\t.\n"  # REF disagrees with the genome
                   f"chr1\t200\tdel1\t{c1[199:203]}\t{c1[199]}\t.\t.\t.\n"
                   f"chr2\t5\tins1\t{chroms['chr2'][4]}\t{chroms['chr2'][4]}TTG\t.\t.\t.\n"
                   "chr2\t7\tsv1\tA\t<DUP>\t.\t.\t.\n")
    bed = files["root"] / "r.bed"
    bed.write_text("chr1\t10\t60\tpeak1\t5\t+\nchr1\t100\t170\tpeak2\t1\t-\nchr2\t0\t40\tpeak3\t0\t.\n")
    return {"fa": fa, "vcf": vcf, "bed": bed}


def test_vep_columns_and_values(files, genome, capsys) -> None:
    from seqcnn.seq.genome import Genome
    from seqcnn.seq.variants import read_vcf, variant_windows

    code, out, err = run(["vep", files["model"], genome["vcf"], "--genome", genome["fa"], "--window", "50"],
                         capsys)
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out), sep="\t")
    tasks = [f"{k}_{t}" for t in ("CTCF", "GATA1") for k in ("ref", "alt", "diff", "log2fc")]
    assert list(table.columns) == ["chrom", "pos", "id", "ref", "alt", "ref_match", *tasks]
    assert table["id"].tolist() == ["rs1", "rs1", "rs2", "del1", "ins1"]  # multi-allelic split, <DUP> skipped
    assert table["ref_match"].tolist() == [True, True, False, True, True]
    assert "1 variant(s) have a REF that differs" in err and "<DUP>" in err
    model, ref_genome = load_model(files["model"]), Genome(genome["fa"])
    windows = [variant_windows(v, ref_genome, 50) for v in read_vcf(genome["vcf"])]
    ref = predict(model, [w[0] for w in windows])
    alt = predict(model, [w[1] for w in windows])
    np.testing.assert_allclose(table[["ref_CTCF", "ref_GATA1"]], ref, rtol=1e-6)
    np.testing.assert_allclose(table[["alt_CTCF", "alt_GATA1"]], alt, rtol=1e-6)
    np.testing.assert_allclose(table["diff_GATA1"], alt[:, 1] - ref[:, 1], atol=1e-6)
    log2fc = np.log2((alt[:, 0] + 1e-6) / (ref[:, 0] + 1e-6))
    np.testing.assert_allclose(table["log2fc_CTCF"], log2fc, atol=1e-5)


@pytest.mark.parametrize(("vcf", "extra", "message"), [
    (BAD / "vcf_unknown_chrom.vcf", ["--window", "50"], "'chrZ' is not in the genome"),
    (BAD / "vcf_pos_past_end.vcf", ["--window", "50"], "past the end of chr1"),
    (BAD / "vcf_empty.vcf", ["--window", "50"], "empty VCF"),
    ("{vcf}", [], "give the window width with --window"),
])
def test_vep_bad_input_exit_2_no_output(files, genome, capsys, vcf, extra: list, message: str) -> None:
    out_path = files["root"] / "vep_never.tsv"
    vcf_path = str(vcf).format(vcf=genome["vcf"])
    args = ["vep", files["model"], vcf_path, "--genome", genome["fa"], "-o", out_path]
    code, _, err = run(args + extra, capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not out_path.exists()


def test_score_bed_intervals(files, genome, capsys) -> None:
    from seqcnn.seq.genome import Genome

    args = ["score", files["model"], "--bed", genome["bed"], "--genome", genome["fa"], "--echo"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out), sep="\t")
    bed_columns = ["chrom", "start", "end", "name", "score", "strand"]
    assert list(table.columns) == [*bed_columns, "sequence", "CTCF", "GATA1"]
    assert table["name"].tolist() == ["peak1", "peak2", "peak3"]
    assert table["strand"].tolist() == ["+", "-", "."]  # a "." strand is echoed as ".", not "+"
    ref_genome = Genome(genome["fa"])
    seqs = [ref_genome.fetch("chr1", 10, 60), ref_genome.fetch("chr1", 100, 170, "-"),
            ref_genome.fetch("chr2", 0, 40)]
    assert table["sequence"].tolist() == seqs
    np.testing.assert_allclose(table[["CTCF", "GATA1"]], predict(load_model(files["model"]), seqs), rtol=1e-6)


EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "example"


def test_score_bed_widens_short_intervals_with_genome_sequence(tmp_path, capsys) -> None:
    from seqcnn.seq.genome import Genome

    bed = tmp_path / "peaks.bed"
    bed.write_text("chr1\t10000\t10100\tp1\t0\t+\nchr2\t500\t520\tp2\t0\t-\n")
    args = ["score", EXAMPLE / "model.safetensors", "--bed", bed, "--genome", EXAMPLE / "genome.fa", "--echo"]
    code, out, err = run(args, capsys)
    assert code == 0 and err == "", err
    table = pd.read_csv(io.StringIO(out), sep="\t")
    with Genome(EXAMPLE / "genome.fa") as genome:  # the 200 bp windows centred on 10050 and 510
        seqs = [genome.fetch("chr1", 9950, 10150), genome.fetch("chr2", 410, 610, "-")]
    assert table["sequence"].tolist() == seqs and "N" not in "".join(seqs)
    expected = predict(load_model(EXAMPLE / "model.safetensors"), seqs)
    np.testing.assert_allclose(table.iloc[:, -12:].to_numpy(), expected, rtol=1e-5, atol=1e-6)


def test_score_bed_outside_genome_is_exit_2_or_skipped_and_counted(tmp_path, capsys) -> None:
    bed = tmp_path / "peaks.bed"
    bed.write_text("chr1\t1000\t1200\tok\nchr1\t19950\t20150\tpast\nchr9\t0\t10\tnope\n")
    out_path = tmp_path / "o.tsv"
    base = ["score", EXAMPLE / "model.safetensors", "--bed", bed, "--genome", EXAMPLE / "genome.fa",
            "-o", out_path]
    code, _, err = run(base, capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert f"{bed}: line 2: interval chr1:19950-20150 runs past the end of chr1 (length 20000)" in err
    assert not out_path.exists()
    code, _, err = run([*base, "--skip-invalid", "-q"], capsys)
    assert code == 0
    assert err == ("seqcnn: skipped 2 interval(s): 1 outside contig (first: line 2), "
                   "1 unknown contig (first: line 3)\n")
    assert pd.read_csv(out_path, sep="\t")["name"].tolist() == ["ok"]


def test_score_bed_window_scan(files, genome, capsys) -> None:
    from seqcnn.seq.genome import Genome

    args = ["score", files["model"], "--bed", genome["bed"], "--genome", genome["fa"], "--window", "30",
            "--step", "20", "--rc", "none"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out), sep="\t")
    assert list(table.columns) == ["chrom", "start", "end", "name", "strand", "CTCF", "GATA1"]
    # peak1 [10, 60): 10, 30 and 30 flush with the end -> 10, 30; peak2 [100, 170): 100, 120, 140
    assert table[["name", "start", "end"]].values.tolist() == [
        ["peak1", 10, 40], ["peak1", 30, 60], ["peak2", 100, 130], ["peak2", 120, 150], ["peak2", 140, 170],
        ["peak3", 0, 30], ["peak3", 10, 40]]
    ref = Genome(genome["fa"])
    strands = {"peak1": "+", "peak2": "-", "peak3": "+"}
    seqs = [ref.fetch(c, s, e, strands[n]) for c, s, e, n in table[["chrom", "start", "end", "name"]].values]
    np.testing.assert_allclose(table[["CTCF", "GATA1"]], predict(load_model(files["model"]), seqs, rc="none"),
                               rtol=1e-6)


@pytest.mark.parametrize(("extra", "message"), [
    (["--width", "50"], "--width and --extra-columns need --bed"),
    (["--window", "30", "--echo"], "--window cannot be combined with --echo"),
])
def test_score_option_conflicts(files, capsys, extra: list, message: str) -> None:
    code, _, err = run(["score", files["model"], files["fasta"], *extra], capsys)
    assert code == 2 and message in err, err


def test_predict_names_a_mistyped_fasta_path(files) -> None:
    from seqcnn.errors import InputError

    model = load_model(files["model"])
    missing = str(files["root"] / "sequnces.fa")
    with pytest.raises(InputError, match="no such file") as info:
        predict(model, missing)
    assert info.value.file == missing and "invalid character" not in str(info.value)
    with pytest.raises(InputError, match=r"give a FASTA file as pathlib\.Path"):
        predict(model, str(files["fasta"]))
    with pytest.raises(InputError, match="invalid character 'x'"):  # a sequence is still a sequence
        predict(model, "ACGTxACGT")


def test_every_record_skipped_still_writes_the_header(files, tmp_path, capsys) -> None:
    fasta = tmp_path / "all_bad.fa"
    fasta.write_text(">b1\nACGT-ACGT\n>b2\nAC*GT\n")
    out_path = tmp_path / "o.tsv"
    code, _, err = run(["score", files["model"], fasta, "--skip-invalid", "-o", out_path], capsys)
    assert code == 0 and "skipped 2 record(s) with invalid bases: b1, b2" in err
    assert out_path.read_text() == "id\tCTCF\tGATA1\n"
    code, _, err = run(["score", files["model"], fasta, "--skip-invalid", "--window", "8", "-o", out_path],
                       capsys)
    assert code == 0 and out_path.read_text() == "id\tstart\tend\tCTCF\tGATA1\n"
