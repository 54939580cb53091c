"""Motif files (MEME v4, JASPAR) and offline JASPAR access, checked against memelite and Biopython."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from Bio import motifs as bio_motifs
from memelite.io import read_meme as memelite_read_meme

from seqcnn.errors import ConfigError, InputError
from seqcnn.seq.jaspar import DEFAULT_MOTIFS, jaspar_motifs
from seqcnn.seq.meme import Motif, read_meme, write_jaspar, write_meme

CTCF_FIRST_COLUMN = [281, 49, 449, 134]  # JASPAR MA0139.2 counts of A, C, G, T at position 1
EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "example"


def test_jaspar_by_id_and_name_normalised_without_pseudocounts():
    by_id, by_name = jaspar_motifs(["MA0139.2", "ctcf"])
    assert by_id.id == by_name.id == "MA0139.2" and by_id.name == "CTCF"
    np.testing.assert_allclose(by_id.pwm.sum(axis=1), 1.0)
    np.testing.assert_allclose(by_id.pwm[0], np.array(CTCF_FIRST_COLUMN) / 913)
    assert by_id.pwm[7, 1] == 0.0  # zero count stays exactly zero (no pseudocount)
    assert jaspar_motifs("MA0058")[0].id.startswith("MA0058.")  # no version: latest


def test_default_motifs_distinct():
    motifs = jaspar_motifs(DEFAULT_MOTIFS)
    assert len(motifs) == 12 and len({m.name.upper() for m in motifs}) == 12
    assert len({m.consensus for m in motifs}) == 12
    assert all(m.length >= 6 for m in motifs)


def test_jaspar_unknown_name_suggests():
    # unknown ids and names are bad arguments, as an unknown model name is
    with pytest.raises(ConfigError, match="did you mean.*CTCF"):
        jaspar_motifs(["CTFC"])
    with pytest.raises(ConfigError, match="MA9999.1"):
        jaspar_motifs(["MA9999.1"])
    with pytest.raises(ConfigError, match="no JASPAR CORE motif named 'CTFC'; did you mean.*CTCF"):
        jaspar_motifs("CTFC", tax_group=None)
    with pytest.raises(ConfigError, match="JASPAR1999"):
        jaspar_motifs("CTCF", release="JASPAR1999")


def test_jaspar_whole_collection():
    everything = jaspar_motifs()
    assert len(everything) > 500
    assert {"MA0139.2", "MA0058.4"} <= {m.id for m in everything}


def test_meme_round_trip_and_memelite_agrees(tmp_path):
    motifs = jaspar_motifs(["CTCF", "MAX"]) + [Motif(name="plain", pwm=np.full((3, 4), 0.25), evalue=1e-5)]
    path = write_meme(motifs, tmp_path / "m.meme")
    back = read_meme(path)
    assert [(m.id, m.name, m.nsites) for m in back] == [("MA0139.2", "CTCF", motifs[0].nsites),
                                                        ("MA0058.4", "MAX", motifs[1].nsites),
                                                        (None, "plain", 20)]
    assert back[2].evalue == pytest.approx(1e-5)
    for a, b in zip(motifs, back, strict=True):
        np.testing.assert_allclose(a.pwm, b.pwm, atol=1e-6)
    peer = memelite_read_meme(str(path))
    assert list(peer) == ["MA0139.2 CTCF", "MA0058.4 MAX", "plain"]
    np.testing.assert_allclose(peer["MA0139.2 CTCF"].T, motifs[0].pwm, atol=1e-6)
    text = path.read_text()
    assert text.startswith("MEME version 4\n\nALPHABET= ACGT\n")
    assert "letter-probability matrix: alength= 4 w= 15 nsites=" in text


def test_read_meme_without_w_and_extra_lines(tmp_path):
    path = tmp_path / "x.meme"
    path.write_text("MEME version 4\n\nALPHABET= ACGT\n\nMOTIF one\n\nletter-probability matrix: "
                    "alength= 4 nsites= 7 E= 0.5\n 0.1 0.2 0.3 0.4\n1 0 0 0\n\nURL http://x\n")
    (motif,) = read_meme(path)
    assert motif.name == "one" and motif.id is None and motif.nsites == 7 and motif.length == 2
    np.testing.assert_allclose(motif.pwm, [[0.1, 0.2, 0.3, 0.4], [1, 0, 0, 0]])


@pytest.mark.parametrize("body, match", [
    ("", "no MOTIF"),
    ("ALPHABET= ACDEFGHIKLMNPQRSTVWY\nMOTIF p\n", "alphabet"),
    ("MOTIF a\n", "no letter-probability matrix"),
    ("MOTIF a\nletter-probability matrix: alength= 4 w= 3\n0.25 0.25 0.25 0.25\n", "ends after 1 of 3"),
    ("MOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 0.5 0.5\n", "sum to 1"),
    ("MOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5\n", "expected 4"),
    ("MOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.5 x 0 0.5\n", "not a row of numbers"),
    ("MOTIF a\nletter-probability matrix: alength= 4 w= x\n1 0 0 0\n", "line 4: w= must be a number"),
    ("MOTIF a\nletter-probability matrix: alength= 4 w= 1.5\n0.25 0.25 0.25 0.25\n", "whole number"),
    ("MOTIF a\nletter-probability matrix: alength= 4 w= 0\n0.25 0.25 0.25 0.25\n", "no rows"),
    ("MOTIF a\nletter-probability matrix: alength= 4\nURL x\n", "no rows"),
    ("MOTIF a\nletter-probability matrix: alength= four w= 1\n1 0 0 0\n", "alength= must be a number"),
    ("MOTIF a\nletter-probability matrix: alength= 4 w= 1 nsites= many\n1 0 0 0\n", "nsites="),
])
def test_read_meme_errors(tmp_path, body, match):
    path = tmp_path / "bad.meme"
    path.write_text("MEME version 4\n\n" + body)
    with pytest.raises(InputError, match=match) as info:
        read_meme(path)
    assert info.value.file == str(path)


def test_write_meme_checks_background(tmp_path):
    motif = Motif(name="m", pwm=np.full((2, 4), 0.25))
    for bad in ([0.5, 0.5], [0.25, 0.25, 0.75, -0.25], [np.nan, 0.25, 0.25, 0.25]):
        with pytest.raises(ConfigError, match="background must be 4"):
            write_meme([motif], tmp_path / "m.meme", background=bad)
    assert not (tmp_path / "m.meme").exists()


def test_read_meme_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_meme(tmp_path / "none.meme")
    with pytest.raises(InputError, match="is a directory"):
        read_meme(tmp_path)


def test_write_jaspar_parsed_by_biopython(tmp_path):
    motifs = jaspar_motifs(["CTCF", "MAX"])
    path = write_jaspar(motifs, tmp_path / "m.jaspar")
    with open(path) as handle:
        parsed = list(bio_motifs.parse(handle, "jaspar"))
    assert [(m.matrix_id, m.name) for m in parsed] == [("MA0139.2", "CTCF"), ("MA0058.4", "MAX")]
    counts = np.array([parsed[0].counts[b] for b in "ACGT"]).T
    np.testing.assert_allclose(counts / counts.sum(axis=1, keepdims=True), motifs[0].pwm, atol=1e-5)


def test_motif_validates_shape():
    with pytest.raises(InputError):
        Motif(name="bad", pwm=np.ones((3, 5)))
    assert Motif(name="m", pwm=[[0, 1, 0, 0], [0, 0, 0, 1]]).consensus == "CT"


def _parse_minimal(path) -> list:
    """Biopython's reading of a MEME minimal file."""
    with open(path) as handle:
        return list(bio_motifs.parse(handle, "minimal"))


def _counts(motif) -> np.ndarray:
    return np.array([motif.counts[b] for b in "ACGT"]).T


def test_write_meme_parsed_by_biopython_minimal(tmp_path):
    motifs = jaspar_motifs(["CTCF", "MAX"]) + [Motif(name="plain", pwm=np.full((3, 4), 0.25), evalue=1e-5)]
    background = [0.3, 0.2, 0.2, 0.3]
    parsed = _parse_minimal(write_meme(motifs, tmp_path / "m.meme", background=background))
    assert [m.name for m in parsed] == ["MA0139.2", "MA0058.4", "plain"]  # Biopython keeps the first word
    assert [len(m) for m in parsed] == [m.length for m in motifs]
    assert [m.num_occurrences for m in parsed] == [motifs[0].nsites, motifs[1].nsites, 20]
    assert parsed[2].evalue == pytest.approx(1e-5)
    assert parsed[0].background == pytest.approx(dict(zip("ACGT", background, strict=True)))
    assert _counts(parsed[0])[0].tolist() == CTCF_FIRST_COLUMN  # counts = probability x nsites
    for ours, theirs in zip(motifs, parsed, strict=True):
        np.testing.assert_array_equal(_counts(theirs), np.round(ours.pwm * theirs.num_occurrences))


@pytest.fixture(scope="module")
def example_model_and_sequences():
    from seqcnn.modelfile import load_model
    from seqcnn.seq.fasta import read_fasta

    model = load_model(EXAMPLE / "model.safetensors", device="cpu")
    return model, [s for _, s in itertools.islice(read_fasta(EXAMPLE / "sequences.fa"), 60)]


def _filters_meme(model, seqs, method: str, path) -> tuple[list, list]:
    """``seqcnn motifs``'s filters.meme, made as motif_report makes it (without the report)."""
    from seqcnn.motifs.extract import extract_filter_motifs
    from seqcnn.workflows.motif_pipeline import as_meme_motifs

    filters = extract_filter_motifs(model, seqs, method=method, influence=False, device="cpu")
    return filters, _parse_minimal(write_meme(as_meme_motifs(filters), path))


def test_filters_meme_parsed_by_biopython_minimal(tmp_path, example_model_and_sequences):
    filters, parsed = _filters_meme(*example_model_and_sequences, "sites", tmp_path / "filters.meme")
    assert [m.name for m in parsed] == [f"filter{k}" for k in range(48)]  # 48 first-layer filters
    assert {len(m) for m in parsed} == {19}
    assert [m.num_occurrences for m in parsed] == [f.nsites for f in filters]
    assert sum(f.nsites > 0 for f in filters) > 40
    for ours, theirs in zip(filters, parsed, strict=True):
        np.testing.assert_array_equal(_counts(theirs), np.round(ours.pwm * ours.nsites))


def test_kernel_filters_meme_gives_biopython_a_matrix(tmp_path, example_model_and_sequences):
    filters, parsed = _filters_meme(*example_model_and_sequences, "kernel", tmp_path / "filters.meme")
    for ours, theirs in zip(filters, parsed, strict=True):
        pwm = np.array([theirs.pwm[b] for b in "ACGT"]).T  # today: ZeroDivisionError (no counts)
        np.testing.assert_allclose(pwm.sum(axis=1), 1.0)
        np.testing.assert_array_equal(_counts(theirs), np.round(ours.pwm * theirs.num_occurrences))
    assert all(m.num_occurrences > 0 for m in parsed)
