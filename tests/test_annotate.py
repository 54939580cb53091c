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
