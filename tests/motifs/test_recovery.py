"""The recovery rule of `seqcnn demo` and the training benchmark, on hand-made match tables (issue 19).

Known answers from JASPAR2026 CORE vertebrates: HOXB2 (MA0902.3, TAATKR) queried against every matrix
matches HOXA2 with p = 5.3e-6 (E = 5.4e-3 < 0.01: equivalent) and the zinc finger ZNF416 with p near 1
(not equivalent); Prdm14 and ZNF416 share no significant match.
"""

from __future__ import annotations

import pandas as pd
import pytest

from seqcnn.errors import ConfigError
from seqcnn.motifs.annotate import MATCH_COLUMNS, load_targets
from seqcnn.motifs.recovery import equivalent_matrices, recovered_motifs
from seqcnn.seq.jaspar import jaspar_motifs


@pytest.fixture(scope="module")
def jaspar():
    targets = load_targets(None)
    by_name = {t.name.upper(): t for t in targets}
    return targets, by_name


def _table(rows: list[tuple[str, int, str, str, float]]) -> pd.DataFrame:
    """Match rows (query, rank, target id, target name, q-value) as ``MATCH_COLUMNS``."""
    full = [(query, rank, tid, tname, 0, "+", 6, q / 10, q * 5, q) for query, rank, tid, tname, q in rows]
    return pd.DataFrame(full, columns=MATCH_COLUMNS)


def test_equivalent_matrices_known_pairs(jaspar):
    targets, by_name = jaspar
    hoxb2, prdm14 = jaspar_motifs(["HOXB2", "Prdm14"])
    hox_set, prdm_set = equivalent_matrices([hoxb2, prdm14], targets)
    assert {hoxb2.id, by_name["HOXA2"].id, by_name["HOXA5"].id} <= hox_set  # the TAAT family
    assert by_name["ZNF416"].id not in hox_set and by_name["CTCF"].id not in hox_set
    assert prdm_set == {prdm14.id}  # a zinc finger like no other JASPAR matrix
    assert equivalent_matrices([hoxb2], targets, e_value=1e-3)[0] & {by_name["HOXA2"].id} == set()


def test_rules_on_a_hand_made_table(jaspar):
    targets, by_name = jaspar
    hoxb2, prdm14, znf667 = jaspar_motifs(["HOXB2", "Prdm14", "ZNF667"])
    hoxa2, znf416 = by_name["HOXA2"], by_name["ZNF416"]
    table = _table([
        ("filter0", 1, hoxa2.id, hoxa2.name, 0.001),  # HOXA2 stands in for the planted HOXB2
        ("filter0", 6, hoxb2.id, hoxb2.name, 0.01),   # the planted matrix itself, below the top 5
        ("filter1", 1, znf416.id, znf416.name, 0.001),  # an unrelated zinc finger for Prdm14
        ("filter2", 1, prdm14.id, prdm14.name, 0.2),  # Prdm14 itself, but not significant
    ])
    planted = [hoxb2, prdm14]
    assert recovered_motifs(table, planted, targets) == ["HOXB2"]
    assert recovered_motifs(table, planted, targets, rule="same_tf") == []
    assert recovered_motifs(table, planted, targets, rule="exact") == []
    assert recovered_motifs(table, planted, targets, rule="exact", top=None) == ["HOXB2"]
    assert recovered_motifs(table, planted, targets, rule="exact", top=None, q=0.5) == ["HOXB2", "Prdm14"]
    assert recovered_motifs(table, planted, targets, e_value=1e-3) == []  # stricter: HOXA2 no longer counts
    # decoys (not planted, counted the same way) are not recovered by these filters
    assert recovered_motifs(table, [znf667, prdm14], targets) == []


def test_same_tf_and_exact(jaspar):
    targets, _ = jaspar
    (hoxb2,) = jaspar_motifs(["HOXB2"])
    other_version = _table([("filter0", 1, "MA9999.1", "HOXB2", 0.001)])
    assert recovered_motifs(other_version, [hoxb2], targets, rule="same_tf") == ["HOXB2"]
    assert recovered_motifs(other_version, [hoxb2], targets, rule="exact") == []
    assert recovered_motifs(_table([]), [hoxb2], targets) == []
    with pytest.raises(ConfigError, match="unknown recovery rule"):
        recovered_motifs(other_version, [hoxb2], targets, rule="any")
