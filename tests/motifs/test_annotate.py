"""TomTom annotation: a JASPAR matrix finds itself, q-values, the numba cache and its notice."""

from __future__ import annotations

import os

import numpy as np
import pytest

from seqcnn.errors import InputError
from seqcnn.motifs import annotate as ann
from seqcnn.motifs.pwm import reverse_complement
from seqcnn.seq.meme import Motif


@pytest.fixture(scope="module")
def jaspar_vertebrates() -> list[tuple[str, str, np.ndarray]]:
    """(id, name, (L, 4) probabilities) of JASPAR2026 CORE vertebrates, read with pyjaspar directly."""
    from pyjaspar import jaspardb

    rows = []
    for m in jaspardb(release="JASPAR2026").fetch_motifs(collection="CORE", tax_group=["vertebrates"]):
        counts = np.array([m.counts[b] for b in "ACGT"], dtype=np.float64).T
        rows.append((m.matrix_id, m.name, counts / counts.sum(axis=1, keepdims=True)))
    return rows


def table_against_jaspar(queries, names, targets):
    return ann.tomtom_table(queries, [t[2] for t in targets], query_names=names,
                            target_ids=[t[0] for t in targets], target_names=[t[1] for t in targets],
                            n_best=3)


def test_jaspar_matrix_is_its_own_top_match(jaspar_vertebrates):
    by_name: dict[str, tuple[str, np.ndarray]] = {}
    for mid, name, pwm in jaspar_vertebrates:
        by_name.setdefault(name, (mid, pwm))  # the first matrix of each name
    picks = ["CTCF", "GATA1", "Spi1"]
    queries = [by_name[n][1] for n in picks]
    queries.append(reverse_complement(by_name["CTCF"][1])[2:15])  # a reverse-complemented core of CTCF
    table = table_against_jaspar(queries, picks + ["CTCF_rc_core"], jaspar_vertebrates)
    best = ann.best_matches(table)
    for name in picks:
        row = best.loc[name]
        assert (row.target_id, row.target_name) == (by_name[name][0], name)
        assert row.orientation == "+" and row.offset == 0
        assert row.q_value < 1e-3 and row.e_value == pytest.approx(row.p_value * len(jaspar_vertebrates))
    rc = best.loc["CTCF_rc_core"]
    assert rc.target_name == "CTCF" and rc.orientation == "-" and rc.q_value < 0.05
    assert rc.offset == 2  # in the reverse-complemented target's coordinates, where the core starts
    assert list(table.columns) == ann.MATCH_COLUMNS
    assert (table.groupby("query")["p_value"].apply(lambda p: p.is_monotonic_increasing)).all()


def test_annotate_trims_and_skips_flat_queries(jaspar_vertebrates):
    flat = np.full((10, 4), 0.25)
    raw = table_against_jaspar([flat], ["flat"], jaspar_vertebrates)
    assert raw["q_value"].min() < 0.05  # why annotate() skips it: flat columns "match" gapped spacers
    mid, name, pwm = next(t for t in jaspar_vertebrates if t[1] == "GATA1")
    padded = np.vstack([flat[:4], pwm, flat[:3]])
    targets = [Motif(name=n, pwm=p, id=i) for i, n, p in jaspar_vertebrates]
    table = ann.annotate([Motif("flat", flat), Motif("gata_padded", padded)], targets, n_best=2)
    assert set(table["query"]) == {"gata_padded"}
    top = ann.best_matches(table).loc["gata_padded"]
    assert (top.target_id, top.target_name, top.orientation) == (mid, "GATA1", "+")
    assert top.offset == -4  # relative to the untrimmed query: JASPAR's first column is its 5th row
    assert ann.annotate([Motif("flat", flat)], targets).empty


def naive_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg by the textbook: q_(i) = min_{j >= i} p_(j) m / j."""
    order = np.argsort(p)
    m = len(p)
    q_sorted = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def test_q_values_are_benjamini_hochberg_per_query():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=(3, 50)) ** 3
    q = ann.q_values(p)
    for i in range(3):
        assert np.allclose(q[i], naive_bh(p[i]))


def test_compare_rejects_empty_inputs():
    with pytest.raises(InputError):
        ann.compare([], [np.full((5, 4), 0.25)])


def test_numba_cache_dir_used_when_memelite_is_read_only(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(ann.os, "access", lambda path, mode: False)
    ann._configure_numba_cache()
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "seqcnn" / "numba")
    assert (tmp_path / "seqcnn" / "numba").is_dir()


def test_compile_notice_printed_once_only_when_uncached(monkeypatch, capsys):
    monkeypatch.setattr(ann, "_notice_shown", False)
    monkeypatch.setattr(ann, "_tomtom_is_cached", lambda kernel: True)
    ann._tomtom()
    assert "compiling" not in capsys.readouterr().err
    monkeypatch.setattr(ann, "_tomtom_is_cached", lambda kernel: False)
    ann._tomtom()
    ann._tomtom()
    assert capsys.readouterr().err.count("compiling TomTom") == 1


def test_tomtom_cache_probe_sees_numba_index():
    import sys

    ann._tomtom()
    kernel = sys.modules["memelite.tomtom"]._tomtom
    assert ann._tomtom_is_cached(kernel)  # compiled by the tests above (or earlier runs)


def test_annotate_takes_filter_motifs_straight_from_extraction(jaspar_vertebrates):
    import torch
    from torch import nn

    from seqcnn.motifs.extract import extract_filter_motifs
    from seqcnn.workflows.motif_pipeline import as_meme_motifs

    mid, _name, gata = next(t for t in jaspar_vertebrates if t[1] == "GATA1")
    conv = nn.Conv1d(4, 2, len(gata))
    with torch.no_grad():  # filter 0 is GATA1's log-odds, filter 1 flat
        conv.weight.zero_()
        conv.weight[0] = torch.tensor(np.log2(gata / 0.25 + 1e-3).T, dtype=torch.float32)
        conv.bias.zero_()
    motifs = extract_filter_motifs(nn.Sequential(conv), np.zeros((1, 4, 30), np.float32), method="kernel",
                                   influence=False, device="cpu")
    assert motifs[0].id == "filter0"
    targets = [Motif(name=n, pwm=p, id=i) for i, n, p in jaspar_vertebrates]
    direct = ann.annotate(motifs, targets, n_best=2)  # FilterMotif reads like a Motif: no conversion
    assert direct.equals(ann.annotate(as_meme_motifs(motifs), targets, n_best=2))
    assert ann.best_matches(direct).loc["filter0"].target_id == mid


def test_best_match_columns_one_row_per_query_in_order():
    import pandas as pd

    table = pd.DataFrame([("b", 1, "MA1", "GATA1", -2, "-", 6, 1e-6, 1e-3, 1e-4),
                          ("b", 2, "MA2", "TAL1", 0, "+", 5, 1e-2, 10.0, 0.5)], columns=ann.MATCH_COLUMNS)
    rows = ann.best_match_columns(table, ["a", "b"])
    assert rows[0]["match_id"] is None and rows[0]["match_offset"] is None
    assert np.isnan(rows[0]["match_q_value"])
    assert rows[1] == {"match_id": "MA1", "match_name": "GATA1", "match_orientation": "-", "match_offset": -2,
                       "match_p_value": 1e-6, "match_e_value": 1e-3, "match_q_value": 1e-4}
    assert list(ann.best_match_columns(table, ["b"], ("id", "q_value"))[0]) == ["match_id", "match_q_value"]
    from seqcnn.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown match field"):
        ann.best_match_columns(table, ["b"], ("score",))
