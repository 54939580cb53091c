"""TF-MoDISco patterns from models that know their motifs (conftest ``motif_model``).

Hypothetical contributions are checked against hand computation (ISM: substitution effects counted by
string search) and against per-output DeepLIFT/SHAP; patterns against the planted sites; the HDF5 file
against modisco-lite's own reader. The slow test runs the whole path on the 12-motif planted set.
"""

from __future__ import annotations

import re

import h5py
import numpy as np
import pandas as pd
import pytest

from seqcnn.errors import ConfigError, InputError
from seqcnn.interpret.attribution.deeplift import deep_lift_shap
from seqcnn.motifs.annotate import annotate, load_targets
from seqcnn.motifs.modisco import (
    hypothetical_contributions,
    modisco_patterns,
    pattern_motifs,
    pattern_table,
    run_tfmodisco,
    seqlet_table,
)
from seqcnn.motifs.recovery import recovered_motifs
from seqcnn.seq.jaspar import jaspar_motifs
from seqcnn.seq.meme import read_meme

COMPLEMENT = str.maketrans("ACGT", "TGCA")


def count(seq: str, motif: str) -> int:
    """Exact matches of ``motif`` on both strands, overlapping ones included."""
    return sum(len(re.findall(f"(?={m})", seq)) for m in (motif, motif[::-1].translate(COMPLEMENT)))


def test_ism_contributions_are_mean_centred_substitution_effects(motif_model):
    motifs = ["AGATAAGA", "CCACGTGG"]
    model = motif_model(motifs, length=40)
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(2)]
    seqs = [seqs[0][:5] + motifs[0] + seqs[0][13:], seqs[1][:20] + motifs[1] + seqs[1][28:]]
    x, hyp = hypothetical_contributions(model, seqs, attribution="ism")
    for i, seq in enumerate(seqs):
        delta = np.zeros((4, 40))
        for pos in range(40):
            for b, base in enumerate("ACGT"):
                mutant = seq[:pos] + base + seq[pos + 1:]
                delta[b, pos] = sum(count(mutant, m) - count(seq, m) for m in motifs)
        np.testing.assert_allclose(hyp[i], delta - delta.mean(axis=0), atol=1e-4)
    site = (x * hyp).sum(axis=1)[0, 5:13]
    np.testing.assert_allclose(site, 0.75, atol=1e-4)  # each substitution loses the one match


def test_deeplift_contributions_are_the_sum_over_the_targets(motif_model):
    model = motif_model([np.eye(4)[[0, 2, 0, 3, 0]] * 4 - 1, np.eye(4)[[1, 0, 1, 2, 3]] * 4 - 1], length=30,
                        thresholds=[8.0, 8.0], activation="softplus")
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(3)]
    _, together = hypothetical_contributions(model, seqs, attribution="deeplift", n_shuffles=5, seed=3)
    each = deep_lift_shap(model, seqs, hypothetical=True, n_shuffles=5, seed=3)  # (N, 4, L, T)
    np.testing.assert_allclose(together, each.sum(axis=-1), atol=1e-5)
    _, one = hypothetical_contributions(model, seqs, attribution="deeplift", target="motif1", n_shuffles=5,
                                        seed=3)
    np.testing.assert_allclose(one, each[..., 1], atol=1e-5)


GATA, EBOX = "MA0037.5", "MA0058.4"


def planted_set(motifs: list, n: int, length: int = 200, seed: int = 0) -> tuple[list[str], list[tuple]]:
    """``n`` random sequences, sequence i holding one instance of motifs[i % K] (sampled from its PWM,
    random strand) at a random position; the sequences and their (motif index, start, end)."""
    rng = np.random.default_rng(seed)
    seqs, sites = [], []
    for i in range(n):
        k = i % len(motifs)
        pwm = motifs[k].pwm
        start = int(rng.integers(0, length - len(pwm)))
        site = "".join("ACGT"[rng.choice(4, p=row / row.sum())] for row in pwm)
        if rng.random() < 0.5:
            site = site[::-1].translate(COMPLEMENT)
        background = "".join(rng.choice(list("ACGT"), length))
        seqs.append(background[:start] + site + background[start + len(pwm):])
        sites.append((k, start, start + len(pwm)))
    return seqs, sites


def scanner(motif_model, motifs: list, length: int, scale: float, threshold: float, activation: str):
    """Each task scores its motif's log-odds, scaled so the consensus scores ``scale``."""
    matrices = []
    for m in motifs:
        log_odds = np.log2((m.pwm + 0.01) / 1.04 / 0.25)
        matrices.append(scale * log_odds / log_odds.max(axis=1).sum())
    return motif_model(matrices, length=length, tasks=[m.name for m in motifs],
                       thresholds=[scale * threshold] * len(motifs), activation=activation)


@pytest.fixture(scope="module")
def two_motif_run(motif_model):
    """TF-MoDISco on ISM contributions of 400 sequences, each with a GATA3 or MAX site."""
    motifs = jaspar_motifs([GATA, EBOX])
    seqs, sites = planted_set(motifs, 400)
    model = scanner(motif_model, motifs, 200, scale=6.0, threshold=0.6, activation="softplus")
    return modisco_patterns(model, seqs, attribution="ism"), sites


def test_patterns_are_the_planted_motifs_at_their_sites(two_motif_run):
    result, sites = two_motif_run
    positive = [p for p in result.patterns if p.name.startswith("pos_")]
    assert [p.name for p in positive[:2]] == ["pos_patterns.pattern_0", "pos_patterns.pattern_1"]
    found = {}
    for p in positive:
        kinds = np.array([sites[i][0] for i in p.example])
        k = int(np.bincount(kinds, minlength=2).argmax())
        bounds = zip(p.example, p.start, p.end, strict=True)
        inside = [sites[i][1] >= s and sites[i][2] <= e for i, s, e in bounds]
        if p.n_seqlets >= 30 and (kinds == k).mean() >= 0.75 and np.mean(inside) >= 0.6:
            found.setdefault(k, p)
    assert set(found) == {0, 1}, [(p.name, p.n_seqlets) for p in positive]
    consensus = {k: "".join("ACGT"[j] for j in p.pwm().argmax(axis=1)) for k, p in found.items()}
    assert "GATAA" in consensus[0] or "TTATC" in consensus[0]
    assert "CACGTG" in consensus[1]
    matches = annotate(pattern_motifs([found[0], found[1]]), load_targets(None), n_best=10, trim_motifs=False)
    assert recovered_motifs(matches, jaspar_motifs([GATA, EBOX])) == ["Gata3", "MAX"], matches


def test_tables_and_modisco_lite_reads_the_h5_file(two_motif_run, tmp_path):
    result, _ = two_motif_run
    table = pattern_table(result.patterns, annotate(pattern_motifs(result.patterns), load_targets(None)))
    assert list(table.pattern) == [p.name for p in result.patterns]
    assert list(table.seqlets) == [p.n_seqlets for p in result.patterns]
    ids = [f"seq{i}" for i in range(400)]
    seqlets = seqlet_table(result.patterns, ids)
    assert list(seqlets.columns) == ["pattern", "id", "start", "end", "strand"]
    assert len(seqlets) == sum(p.n_seqlets for p in result.patterns)
    first = result.patterns[0]
    rows = seqlets[seqlets.pattern == first.name]
    expected = [(ids[i], s) for i, s in zip(first.example, first.start, strict=True)]
    assert sorted(zip(rows.id, rows.start, strict=True)) == sorted(expected)
    path = result.save(tmp_path / "patterns.h5")
    with h5py.File(path, "r") as h5:
        assert h5.attrs["window_size"] == 200
        group = h5["pos_patterns"]["pattern_0"]
        np.testing.assert_allclose(group["sequence"][:], first.ppm)
        np.testing.assert_allclose(group["contrib_scores"][:], first.cwm)
        np.testing.assert_array_equal(group["seqlets"]["start"][:], first.start)
        assert int(group["seqlets"]["n_seqlets"][0]) == first.n_seqlets
    from modiscolite.io import write_meme_from_h5
    from modiscolite.util import MemeDataType

    write_meme_from_h5(path, MemeDataType.PFM, tmp_path / "modisco.meme", True)  # modisco-lite's own reader
    # modisco-lite's MEMEWriter has a mutable default list of motifs, so an earlier call in the same process
    # leaves its motifs at the head of the file: ours are the last len(patterns).
    theirs = read_meme(tmp_path / "modisco.meme")[-len(result.patterns):]
    assert [m.name for m in theirs] == [p.name for p in result.patterns]
    np.testing.assert_allclose(theirs[0].pwm, first.ppm / first.ppm.sum(axis=1, keepdims=True), atol=1e-5)


def test_bad_arguments(motif_model):
    model = motif_model(["AGATAAGA"], length=40)
    with pytest.raises(ConfigError, match="unknown attribution 'saliency'"):
        hypothetical_contributions(model, ["A" * 40], attribution="saliency")
    with pytest.raises(InputError, match="shorter than a seqlet"):
        run_tfmodisco(np.zeros((5, 4, 20)), np.zeros((5, 4, 20)))
    with pytest.raises(InputError, match="must both be"):
        run_tfmodisco(np.zeros((5, 4, 40)), np.zeros((5, 4, 41)))


@pytest.mark.slow
def test_planted_motif_set_is_recovered(motif_model, tmp_path):
    """>= 11 of the 12 planted JASPAR motifs are recovered by some pattern (``recovered_motifs``: TomTom
    against JASPAR2026 CORE vertebrates, q < 0.05 among a pattern's top 5, planted, same-TF or equivalent
    matrix): DeepLIFT/SHAP contributions of 1,000 planted-set sequences to a model whose tasks score the
    planted motifs (docs/benchmarks.md)."""
    from seqcnn.seq.fasta import read_fasta
    from seqcnn.seq.simulate import simulate_dataset

    data = simulate_dataset(tmp_path, n_sequences=1600, seed=1, negative_fraction=0.0)
    planted = read_meme(data["motifs"])
    seqs = [seq for _, seq in read_fasta(data["train"])][:1000]
    model = scanner(motif_model, planted, 200, scale=1.0, threshold=0.65, activation="relu")
    result = modisco_patterns(model, seqs, nearest_neighbors_to_compute=150)
    matches = annotate(pattern_motifs(result.patterns), load_targets(None), n_best=10, trim_motifs=False)
    recovered = recovered_motifs(matches, planted)
    assert len(recovered) >= 11, (recovered, pd.DataFrame(pattern_table(result.patterns, matches)))
