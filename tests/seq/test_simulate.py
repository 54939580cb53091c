"""Simulated planted-motif data: determinism, file layout, and sites that match the sequences."""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from seqcnn.cli import cli, main
from seqcnn.errors import ConfigError
from seqcnn.seq.encode import reverse_complement
from seqcnn.seq.fasta import read_fasta
from seqcnn.seq.jaspar import DEFAULT_MOTIFS, jaspar_motifs
from seqcnn.seq.meme import Motif, read_meme
from seqcnn.seq.simulate import simulate_dataset

FILES = ("train.fa", "valid.fa", "test.fa", "labels.tsv", "motifs.meme", "sites.tsv")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    paths = simulate_dataset(out, n_sequences=400, seed=11)
    seqs = {}
    for part in ("train", "valid", "test"):
        seqs.update(read_fasta(paths[part]))
    return out, paths, seqs


def test_files_and_split(dataset):
    out, paths, seqs = dataset
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert set(paths) == {"train", "valid", "test", "labels", "motifs", "sites"}
    sizes = [len(list(read_fasta(paths[p]))) for p in ("train", "valid", "test")]
    assert sizes == [280, 40, 80]
    assert all(len(s) == 200 and set(s) <= set("ACGT") for s in seqs.values())


def test_default_motifs_are_a_dozen_distinct_jaspar_matrices(dataset):
    _, paths, _ = dataset
    motifs = read_meme(paths["motifs"])
    assert [m.id for m in motifs] == list(DEFAULT_MOTIFS) and len(motifs) == 12
    assert len({m.name for m in motifs}) == 12
    for got, want in zip(motifs, jaspar_motifs(DEFAULT_MOTIFS), strict=True):
        np.testing.assert_allclose(got.pwm, want.pwm, atol=1e-6)


def test_sites_match_sequences_exactly(dataset):
    _, paths, seqs = dataset
    sites = pd.read_csv(paths["sites"], sep="\t")
    assert list(sites.columns) == ["id", "start", "end", "strand", "motif"]
    motifs = {m.name: m for m in read_meme(paths["motifs"])}
    for rid, group in sites.groupby("id"):
        assert 1 <= len(group) <= 5
        spans = sorted(zip(group.start, group.end, strict=True))
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False)), rid
        for row in group.itertuples():
            motif = motifs[row.motif]
            assert 0 <= row.start and row.end == row.start + motif.length <= 200
            site = seqs[rid][row.start:row.end]
            oriented = reverse_complement(site) if row.strand == "-" else site
            # every planted base has nonzero probability under the motif at its position
            probs = motif.pwm[np.arange(motif.length), ["ACGT".index(b) for b in oriented]]
            assert (probs > 0).all(), (rid, row.motif, oriented)


def test_planted_bases_follow_the_pwm(dataset):
    # on the informative CTCF core the sampled bases should mostly be the consensus
    _, paths, seqs = dataset
    sites = pd.read_csv(paths["sites"], sep="\t")
    motif = {m.name: m for m in read_meme(paths["motifs"])}["CTCF"]
    rows = sites[sites.motif == "CTCF"]
    windows = [(seqs[r.id][r.start:r.end], r.strand) for r in rows.itertuples()]
    oriented = [reverse_complement(w) if strand == "-" else w for w, strand in windows]
    counts = np.array([[sum(s[j] == b for s in oriented) for b in "ACGT"] for j in range(motif.length)])
    freq = counts / counts.sum(axis=1, keepdims=True)
    assert len(oriented) > 20
    assert np.abs(freq - motif.pwm).max() < 0.35
    assert (freq.argmax(axis=1) == motif.pwm.argmax(axis=1)).mean() > 0.8
    assert {"+", "-"} == set(rows.strand)


def test_labels_are_multi_hot_of_sites_with_negatives(dataset):
    _, paths, seqs = dataset
    labels = pd.read_csv(paths["labels"], sep="\t", index_col="id")
    sites = pd.read_csv(paths["sites"], sep="\t")
    assert list(labels.index) == sorted(seqs)
    assert set(np.unique(labels.values)) == {0, 1}
    expected = pd.crosstab(sites.id, sites.motif).clip(upper=1).reindex(
        index=labels.index, columns=labels.columns, fill_value=0)
    pd.testing.assert_frame_equal(labels, expected, check_names=False, check_dtype=False)
    negatives = (labels.sum(axis=1) == 0).sum()
    assert negatives == 80  # round(0.2 * 400)


def test_deterministic_under_seed(tmp_path):
    a = simulate_dataset(tmp_path / "a", n_sequences=60, seed=5, motifs="CTCF,MAX")
    b = simulate_dataset(tmp_path / "b", n_sequences=60, seed=5, motifs="CTCF,MAX")
    c = simulate_dataset(tmp_path / "c", n_sequences=60, seed=6, motifs="CTCF,MAX")
    for key in a:
        assert filecmp.cmp(a[key], b[key], shallow=False)
    assert not filecmp.cmp(a["train"], c["train"], shallow=False)


def test_gc_content_and_custom_motifs(tmp_path):
    flat = Motif(name="polyA", pwm=np.tile([1.0, 0, 0, 0], (6, 1)))
    paths = simulate_dataset(tmp_path, motifs=[flat], n_sequences=300, length=100, gc=0.8,
                             negative_fraction=1.0, seed=0)
    text = "".join(s for _, s in read_fasta(paths["train"]))
    gc = (text.count("G") + text.count("C")) / len(text)
    assert abs(gc - 0.8) < 0.02
    assert pd.read_csv(paths["sites"], sep="\t").empty
    assert "A 0.100000 C 0.400000 G 0.400000 T 0.100000" in paths["motifs"].read_text()
    paths = simulate_dataset(tmp_path / "pos", motifs=[flat], n_sequences=50, length=40,
                             negative_fraction=0.0, min_instances=2, max_instances=2, gc=1.0, seed=1)
    for _, seq in read_fasta(paths["train"]):
        # only GC background, so every A/T comes from the two planted polyA/polyT sites
        assert seq.count("A") + seq.count("T") == 12


@pytest.mark.parametrize("kwargs, match", [
    ({"length": 20}, "cannot hold"),
    ({"min_instances": 3, "max_instances": 2}, "min_instances"),
    ({"gc": 1.5}, r"\[0, 1\]"),
    ({"split": (0.5, 0.5, 0.5)}, "split"),
    ({"motifs": "NOT_A_TF"}, "no JASPAR"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        simulate_dataset(tmp_path / "x", n_sequences=10, **kwargs)
    assert not (tmp_path / "x").exists()


def test_cli_simulate(tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(cli, ["simulate", "-o", str(out), "--n", "30", "--length", "120",
                                      "--motifs", "CTCF,MA0058.4", "--seed", "2", "--gc", "0.4", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    header = (out / "labels.tsv").read_text().splitlines()[0]
    assert header == "id\tCTCF\tMAX"


def test_cli_simulate_bad_motif_is_one_line_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "-o", str(tmp_path / "x"), "--n", "5", "--motifs", "CTFC"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("seqcnn: error:") and "CTCF" in err and err.count("\n") == 1


def test_random_draw_is_seeded_distinct_and_from_the_collection():
    from seqcnn.seq.jaspar import random_jaspar_motifs

    first = random_jaspar_motifs(12, seed=7)
    again = random_jaspar_motifs(12, seed=7)
    other = random_jaspar_motifs(12, seed=8)
    assert [m.id for m in first] == [m.id for m in again]
    assert [m.id for m in first] != [m.id for m in other]
    assert len({m.name.upper() for m in first}) == 12
    collection = {m.id for m in jaspar_motifs(None)}
    assert {m.id for m in first} <= collection
    assert all(len(m.pwm) <= 8 for m in random_jaspar_motifs(5, seed=1, max_width=8))
    with pytest.raises(ConfigError, match="cannot draw 100000 motifs"):
        random_jaspar_motifs(100000, seed=0)


def test_cli_random_plants_the_drawn_motifs(tmp_path):
    from seqcnn.seq.jaspar import random_jaspar_motifs

    out = tmp_path / "sim"
    result = CliRunner().invoke(cli, ["simulate", "-o", str(out), "--n", "50", "--random", "4",
                                      "--seed", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    planted = [m.id for m in read_meme(out / "motifs.meme")]
    assert planted == [m.id for m in random_jaspar_motifs(4, seed=3)]
    clash = CliRunner().invoke(cli, ["simulate", "-o", str(tmp_path / "x"), "--random", "4",
                                     "--motifs", "CTCF"])
    assert clash.exit_code == 2 and "not both" in clash.output
    assert not (tmp_path / "x").exists()
