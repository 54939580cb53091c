"""``seqcnn score``/``ism``/``explain`` writing genome browser tracks, and per-position models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pytest
import torch

from seqcnn.interpret.ism import ism
from seqcnn.interpret.ism.result import importance
from seqcnn.modelfile import ModelMetadata, load_model, save_model
from seqcnn.models.registry import build_model
from seqcnn.score.positions import predict_positions
from seqcnn.score.scoring import predict

POSITION_KW = {"channels": 4, "skip_channels": 4, "blocks": 1, "max_dilation": 4, "head_channels": 4,
               "head": "position", "n_tasks": 3}
CLASSES = ["neither", "acceptor", "donor"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tracks")
    rng = np.random.default_rng(5)
    genome = root / "genome.fa"
    genome.write_text("".join(f">{name}\n{''.join(rng.choice(list('ACGT'), size=n))}\n"
                              for name, n in (("chr2", 90), ("chr1", 50))))
    bed = root / "r.bed"
    bed.write_text("chr1\t10\t30\tpeak1\t0\t-\nchr2\t20\t45\tpeak2\t0\t+\n")
    torch.manual_seed(0)  # wavenet's per-position head: (N, 3, L) softmax classes, a fixed input length
    positions = save_model(build_model("wavenet", **POSITION_KW), root / "positions.safetensors",
                           ModelMetadata("wavenet", POSITION_KW, tasks=CLASSES, task_type="multiclass",
                                         input_length=32))
    return {"genome": genome, "bed": bed, "positions": positions, "root": root}


def _values(path: Path, chrom: str) -> np.ndarray:
    with pyBigWig.open(str(path)) as bw:
        return np.array(bw.values(chrom, 0, bw.chroms(chrom)))


def test_window_scan_writes_one_bigwig_per_task(run, capsys, toy_model_file, files, tmp_path) -> None:
    out = tmp_path / "s.bw"
    code, _, err = run(["score", toy_model_file, files["genome"], "--window", 30, "--step", 10, "-o", out],
                       capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.CTCF.bw", "s.GATA1.bw"]
    fai = dict(line.split("\t")[:2] for line in Path(f"{files['genome']}.fai").read_text().splitlines())
    with pyBigWig.open(str(tmp_path / "s.GATA1.bw")) as bw:
        assert bw.chroms() == {k: int(v) for k, v in fai.items()} == {"chr2": 90, "chr1": 50}
    seq = files["genome"].read_text().split("\n")[1]  # chr2
    first, last = predict(load_model(toy_model_file), [seq[:30], seq[60:]], target="GATA1")[:, 0]
    got = _values(tmp_path / "s.GATA1.bw", "chr2")
    np.testing.assert_allclose(got[:20], first, atol=1e-6)  # window 0 covers 0-19, window 1 (centre 25) 20-29
    np.testing.assert_allclose(got[75:], last, atol=1e-6)
    assert not np.isnan(got).any()


def test_task_picks_one_bedgraph(run, capsys, toy_model_file, files, tmp_path) -> None:
    out = tmp_path / "r.bedGraph"
    code, _, err = run(["score", toy_model_file, "--bed", files["bed"], "--genome", files["genome"],
                        "--task", "CTCF", "-o", out, "-q"], capsys)
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == ["r.bedGraph"]
    lines = out.read_text().splitlines()
    assert lines[0] == 'track type=bedGraph name="CTCF"'
    table = tmp_path / "r.tsv"
    run(["score", toy_model_file, "--bed", files["bed"], "--genome", files["genome"], "-o", table, "-q"],
        capsys)
    expected = pd.read_csv(table, sep="\t").sort_values("chrom", ascending=False)  # genome order: chr2, chr1
    assert [line.split("\t")[:3] for line in lines[1:]] == [["chr2", "20", "45"], ["chr1", "10", "30"]]
    got = [float(line.split("\t")[3]) for line in lines[1:]]
    np.testing.assert_allclose(got, expected["CTCF"], rtol=1e-6)


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "NOPE"], "; tasks: CTCF, GATA1"),
    (["--task", "CTCFF"], "did you mean CTCF?; tasks: CTCF, GATA1"),
    (["--echo"], "--echo cannot be used with a track output"),
], ids=["unknown-task", "misspelt-task", "echo"])
def test_bad_track_arguments_exit_2_without_output(run, capsys, toy_model_file, files, tmp_path, args,
                                                   message) -> None:
    code, _, err = run(["score", toy_model_file, files["genome"], "--window", 30, "-o", tmp_path / "x.bw",
                        *args], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_track_needs_coordinates(run, capsys, toy_model_file, tmp_path) -> None:
    code, _, err = run(["score", toy_model_file, "-", "--window", 30, "-o", tmp_path / "x.bw"], capsys)
    assert code == 2 and "a track needs coordinates" in err
    assert list(tmp_path.iterdir()) == []


def test_per_position_model_writes_a_row_per_base(run, capsys, files, tmp_path) -> None:
    fasta = tmp_path / "x.fa"
    seqs = {"a": "ACGTTGCA" * 9, "b": "GATTACA"}  # 72 bases: three tiles of 32; 7 bases: one
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))
    code, out, err = run(["score", files["positions"], fasta, "-q"], capsys)
    assert code == 0, err
    table = pd.read_csv(pd.io.common.StringIO(out), sep="\t")
    assert list(table.columns) == ["id", "start", "end", *CLASSES]
    assert table["id"].tolist() == ["a"] * 72 + ["b"] * 7
    assert table["start"].tolist() == [*range(72), *range(7)] and (table["end"] == table["start"] + 1).all()
    expected = predict_positions(load_model(files["positions"]), list(seqs.values()))
    np.testing.assert_allclose(table[CLASSES].to_numpy(), np.concatenate(expected), atol=1e-6)
    np.testing.assert_allclose(table[CLASSES].sum(axis=1), 1, atol=1e-5)  # softmax over classes per base
    code, _, err = run(["score", files["positions"], fasta, "--step", 5], capsys)
    assert code == 2 and "--step cannot be used with a per-position model" in err


def test_per_position_bigwig_over_bed_intervals(run, capsys, files, tmp_path) -> None:
    out = tmp_path / "p.bw"
    code, _, err = run(["score", files["positions"], "--bed", files["bed"], "--genome", files["genome"],
                        "--task", "donor", "-o", out, "-q"], capsys)
    assert code == 0, err
    got = _values(out, "chr2")
    assert np.isnan(got[:20]).all() and np.isnan(got[45:]).all() and not np.isnan(got[20:45]).any()
    table = tmp_path / "p.tsv"
    run(["score", files["positions"], "--bed", files["bed"], "--genome", files["genome"], "--task", "donor",
         "-o", table, "-q"], capsys)
    rows = pd.read_csv(table, sep="\t")
    minus = rows[rows["name"] == "peak1"]
    assert minus["start"].tolist() == list(range(10, 30)) and set(minus["strand"]) == {"-"}
    np.testing.assert_allclose(_values(out, "chr1")[10:30], minus["donor"], atol=1e-6)


def test_ism_and_explain_tracks_of_bed_intervals(run, capsys, toy_model_file, files, tmp_path) -> None:
    code, _, err = run(["ism", toy_model_file, "--bed", files["bed"], "--genome", files["genome"], "--task",
                        "CTCF", "-o", tmp_path / "i.bw", "-q"], capsys)
    assert code == 0, err
    seq = files["genome"].read_text().split("\n")[1][20:45]  # chr2 peak2 (+): the interval itself
    result = ism(load_model(toy_model_file), seq, target="CTCF")
    np.testing.assert_allclose(_values(tmp_path / "i.bw", "chr2")[20:45], importance(result)[0], atol=1e-6)
    code, _, err = run(["explain", toy_model_file, "--bed", files["bed"], "--genome", files["genome"],
                        "--method", "saliency", "--target", "GATA1", "-o", tmp_path / "e.bedgraph", "-q"],
                       capsys)
    assert code == 0, err
    assert (tmp_path / "e.bedgraph").read_text().startswith('track type=bedGraph name="saliency"\nchr2\t20\t')
    code, _, err = run(["ism", toy_model_file, "--bed", files["bed"], "--genome", files["genome"], "-o",
                        tmp_path / "i.npz"], capsys)
    assert code == 2 and "written as a track" in err and not (tmp_path / "i.npz").exists()
