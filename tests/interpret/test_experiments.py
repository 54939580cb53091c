"""In-silico experiments on a model that counts exact motif matches, against counts made by hand.

The model (``motif_model`` in conftest) has three outputs: exact matches of GATA = AGATAAG, of
EBOX = CCACGTG, and of the composite GATA-3 bases-EBOX, each on both strands. So an inserted motif must
raise its own output by one and leave the others alone, a masked site must lower its output by one,
and the spacing curve must be 1 at distance 3 for the composite and 0 everywhere else.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from seqcnn.errors import ConfigError
from seqcnn.interpret.experiments import (
    ablated,
    ablation,
    marginalize,
    motif_sequence,
    shuffled_backgrounds,
    spacing,
)
from seqcnn.seq.encode import decode, one_hot
from seqcnn.seq.meme import Motif

GATA, EBOX, GAP = "AGATAAG", "CCACGTG", 3
COMPOSITE = GATA + "N" * GAP + EBOX
LENGTH = 60


@pytest.fixture
def model(motif_model):
    return motif_model([GATA, EBOX, COMPOSITE], length=LENGTH, tasks=["gata", "ebox", "pair"])


def count(seq: str, motif: str) -> int:
    """Exact matches of ``motif`` (N = any base) on both strands, overlapping ones included."""
    rc = motif[::-1].translate(str.maketrans("ACGTN", "TGCAN"))
    return sum(len(re.findall(f"(?={m.replace('N', '.')})", seq)) for m in (motif, rc))


def counts(seq: str) -> list[int]:
    return [count(seq, m) for m in (GATA, EBOX, COMPOSITE)]


def put(seq: str, motif: str, start: int) -> str:
    window = seq[start:start + len(motif)]
    return seq[:start] + "".join(b if m == "N" else m for b, m in zip(window, motif, strict=True)) \
        + seq[start + len(motif):]


def test_motif_letters_are_checked_and_matrices_give_their_consensus():
    assert motif_sequence("acgun") == "ACGTN"
    with pytest.raises(ConfigError, match=r"invalid letter 'X' at position 3 of motif 'ACXT'"):
        motif_sequence("ACXT")
    with pytest.raises(ConfigError, match="invalid letter 'R' at position 1"):
        motif_sequence("RAT")
    pwm = np.array([[0.1, 0.7, 0.1, 0.1], [0.6, 0.2, 0.1, 0.1], [0.0, 0.0, 0.2, 0.8]])
    assert motif_sequence(pwm) == "CAT" == motif_sequence(Motif("m", pwm))


def test_inserted_motif_raises_its_task_and_no_other(model):
    result = marginalize(model, GATA, n=40, seed=1)
    assert result.start == (LENGTH - len(GATA)) // 2 and result.tasks == ["gata", "ebox", "pair"]
    backgrounds = decode(shuffled_backgrounds(None, n=40, length=LENGTH, seed=1))
    expected = np.array([np.subtract(counts(put(s, GATA, result.start)), counts(s)) for s in backgrounds])
    np.testing.assert_allclose(result.change, expected, atol=1e-4)
    assert (result.change[:, 0] > 0.99).all()
    np.testing.assert_allclose(result.change[:, 1:], 0, atol=1e-4)
    summary = result.summary()
    assert list(summary["task"]) == result.tasks and summary.loc[0, "mean"] == pytest.approx(1, abs=1e-4)
    assert list(result.table().columns) == ["background", "gata", "ebox", "pair"]


def test_backgrounds_are_dinucleotide_shuffles_of_the_given_sequences(model):
    rng = np.random.default_rng(0)
    sources = ["".join(rng.choice(list("ACGT"), LENGTH, p=[0.4, 0.1, 0.1, 0.4])) for _ in range(3)]
    shuffled = decode(shuffled_backgrounds(sources, n=7, seed=2))
    for i, seq in enumerate(shuffled):
        source = sources[i % 3]
        pairs = Counter(zip(seq[:-1], seq[1:], strict=True))
        assert pairs == Counter(zip(source[:-1], source[1:], strict=True))
    result = marginalize(model, EBOX, sources, n=7, seed=2, position=5, target="ebox")
    expected = [count(put(s, EBOX, 5), EBOX) - count(s, EBOX) for s in shuffled]
    np.testing.assert_allclose(result.change[:, 0], expected, atol=1e-4)
    assert result.tasks == ["ebox"]


def test_spacing_curve_is_one_only_at_the_composite_gap(model):
    result = spacing(model, GATA, EBOX, distances=8, n=20, length=LENGTH, seed=3)
    assert list(result.distances) == list(range(9))
    widths = len(GATA) + len(EBOX) + np.arange(9)
    np.testing.assert_array_equal(result.starts[:, 0], (LENGTH - widths) // 2)
    np.testing.assert_array_equal(result.starts[:, 1] - result.starts[:, 0], len(GATA) + np.arange(9))
    mean, sd = result.curve()
    np.testing.assert_allclose(mean[:, 2], (np.arange(9) == GAP).astype(float), atol=1e-4)
    np.testing.assert_allclose(mean[:, :2], 0, atol=1e-4)  # gata and ebox simply add
    np.testing.assert_allclose(sd, 0, atol=1e-4)
    table = result.table()
    assert list(table.columns) == ["distance", "measure", "gata", "ebox", "pair"]
    both = table[(table.measure == "both") & (table.distance == GAP)].iloc[0]
    assert (both.gata, both.pair) == pytest.approx((1, 1), abs=1e-4)
    # CCACGTG followed by G also reads CACGTGG, EBOX's reverse complement: two matches, as counted
    backgrounds = decode(shuffled_backgrounds(None, n=20, length=LENGTH, seed=3))
    start_b = int(result.starts[GAP, 1])
    expected = np.mean([count(put(s, EBOX, start_b), EBOX) - count(s, EBOX) for s in backgrounds])
    assert both.ebox == pytest.approx(expected, abs=1e-4) and expected > 1


def planted(n: int = 12, start: int = 20, seed: int = 4) -> list[str]:
    rng = np.random.default_rng(seed)
    return [put("".join(rng.choice(list("ACGT"), LENGTH)), GATA, start) for _ in range(n)]


def test_masked_site_lowers_its_task(model):
    seqs = planted()
    result = ablation(model, seqs, (20, 20 + len(GATA)), "mask")
    masked = [s[:20] + "N" * len(GATA) + s[27:] for s in seqs]  # N never completes a match
    expected = np.array([np.subtract(counts(s), counts(m)) for s, m in zip(seqs, masked, strict=True)])
    np.testing.assert_allclose(result.loss, expected, atol=1e-4)
    assert (result.loss[:, 0] > 0.99).all()
    assert list(result.table(["a"] * 12).columns) == ["id", "gata", "ebox", "pair"]


def test_shuffled_span_keeps_its_dinucleotides_and_scores_as_counted(model):
    seqs = planted(n=5)
    copies = ablated(one_hot(seqs), (15, 35), "shuffle", n_shuffles=6, seed=9)
    result = ablation(model, seqs, (15, 35), n_shuffles=6, seed=9)
    for i, seq in enumerate(seqs):
        after = []
        for copy in decode(copies[i]):
            assert copy[:15] == seq[:15] and copy[35:] == seq[35:]
            pairs = Counter(zip(copy[15:34], copy[16:35], strict=True))
            assert pairs == Counter(zip(seq[15:34], seq[16:35], strict=True))
            after.append(counts(copy))
        expected = np.subtract(counts(seq), np.mean(after, axis=0))
        np.testing.assert_allclose(result.loss[i], expected, atol=1e-4)


def test_bad_arguments_are_one_line_config_errors(model):
    with pytest.raises(ConfigError, match="is 7 bases, longer than the input"):
        marginalize(model, GATA, n=2, length=5)
    with pytest.raises(ConfigError, match="lies past the input"):
        marginalize(model, GATA, n=2, position=LENGTH - 3)
    with pytest.raises(ConfigError, match="distance 47.*longer than the input"):
        spacing(model, GATA, EBOX, distances=50, n=2)
    with pytest.raises(ConfigError, match="past the input length"):
        ablation(model, planted(2), (50, 70))
    with pytest.raises(ConfigError, match="unknown ablation mode"):
        ablation(model, planted(2), (5, 10), "zero")
    with pytest.raises(ConfigError, match="non-negative"):
        spacing(model, GATA, EBOX, distances=[2, -1], n=2)
    with pytest.raises(ConfigError, match="unknown target"):
        marginalize(model, GATA, n=2, target="nope")
