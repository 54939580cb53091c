"""Motif matrices: information content, trimming, consensus, kernels, activating sites, filter influence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from seqcnn.errors import ConfigError, InputError
from seqcnn.motifs.extract import effective_kernels, extract_filter_motifs
from seqcnn.motifs.influence import filter_influence
from seqcnn.motifs.pwm import (
    as_pwm,
    consensus,
    counts_to_pwm,
    information_content,
    kernel_pwm,
    kernel_pwms,
    reverse_complement,
    total_information,
    trim,
    trim_bounds,
)
from seqcnn.motifs.seqlets import find_seqlets, position_importance, seqlet_motifs
from seqcnn.motifs.sites import activating_sites, first_layer

BASES = "ACGT"


def one_hot_np(seqs: list[str]) -> np.ndarray:
    """(N, 4, L) float32 one-hot of ACGT strings (a test-local reference encoder)."""
    idx = np.array([[BASES.index(c) for c in s] for s in seqs])
    return np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy()


def pwm_of(seq: str) -> np.ndarray:
    return one_hot_np([seq])[0].T.astype(np.float64)


def random_seqs(n: int, length: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list(BASES), length)) for _ in range(n)]


def test_information_content_known_values():
    uniform = np.full((3, 4), 0.25)
    assert np.allclose(information_content(uniform), 0.0)
    assert np.allclose(information_content(pwm_of("ACGT")), 2.0)
    half = np.array([[0.5, 0.5, 0.0, 0.0]])  # two equally likely bases: 1 bit
    assert information_content(half)[0] == pytest.approx(1.0)
    assert total_information(np.vstack([pwm_of("AC"), uniform])) == pytest.approx(4.0)


def test_trim_keeps_core_plus_padding():
    pwm = np.vstack([np.full((3, 4), 0.25), pwm_of("GATA"), np.full((4, 4), 0.25)])
    assert trim_bounds(pwm, pad=1) == (2, 8)
    assert trim_bounds(pwm, pad=0) == (3, 7)
    assert trim_bounds(pwm, pad=10) == (0, 11)
    assert np.array_equal(trim(pwm, pad=0), pwm_of("GATA"))
    assert trim_bounds(np.full((5, 4), 0.25)) == (0, 5)  # nothing informative: kept whole


def test_consensus_and_reverse_complement_known_answers():
    rows = np.array([
        [0.9, 0.05, 0.03, 0.02],   # A
        [0.45, 0.0, 0.45, 0.1],    # A/G -> R
        [0.1, 0.4, 0.1, 0.4],      # C/T -> Y
        [0.25, 0.25, 0.25, 0.25],  # N
        [0.6, 0.35, 0.05, 0.0],    # 0.6 is not twice 0.35 -> A/C -> M
    ])
    assert consensus(rows) == "ARYNM"
    assert consensus(pwm_of("GATTACA")) == "GATTACA"
    assert consensus(reverse_complement(pwm_of("GATTACA"))) == "TGTAATC"
    assert np.array_equal(reverse_complement(reverse_complement(rows)), rows)


def test_as_pwm_validates_and_normalises():
    assert np.allclose(as_pwm([[1, 1, 2, 0]]), [[0.25, 0.25, 0.5, 0.0]])
    assert np.allclose(counts_to_pwm(np.array([[3, 0, 0, 0]]), pseudocount=1), [[4 / 7, 1 / 7, 1 / 7, 1 / 7]])
    for bad in ([[1, 2, 3]], [[-1, 1, 1, 1]], [[0, 0, 0, 0]], [[np.nan, 1, 1, 1]]):
        with pytest.raises(InputError):
            as_pwm(bad)


def test_kernel_pwm_is_softmax_of_hand_set_kernel():
    w = np.zeros((4, 3))
    w[0, 0] = np.log(5.0)  # A five times as likely as each other base at position 0
    w[:, 1] = np.log([1.0, 2.0, 3.0, 4.0])
    got = kernel_pwm(torch.tensor(w, dtype=torch.float32))
    assert got.shape == (3, 4)
    assert np.allclose(got[0], [5 / 8, 1 / 8, 1 / 8, 1 / 8], atol=1e-6)
    assert np.allclose(got[1], [0.1, 0.2, 0.3, 0.4], atol=1e-6)
    assert np.allclose(got[2], 0.25)
    assert np.allclose(kernel_pwm(w, beta=2.0)[0], np.array([25, 1, 1, 1]) / 28)
    assert len(kernel_pwms(torch.randn(5, 4, 7))) == 5
    with pytest.raises(InputError):
        kernel_pwms(torch.randn(5, 3, 7))


def exact_match_filter(motif: str) -> tuple[torch.Tensor, float]:
    """Weights +1 on the motif's bases, -1 elsewhere; the bias makes ReLU fire (2) on exact matches only."""
    w = torch.tensor(pwm_of(motif).T * 2 - 1, dtype=torch.float32)
    return w, -(len(motif) - 2.0)


class TinyBlock(nn.Module):
    """A ConvBlock-like module: conv, norm, activation, pool registered in forward order."""

    def __init__(self, n_filters: int, k: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, n_filters, k, padding=k // 2)
        self.norm = nn.BatchNorm1d(n_filters)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool1d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.norm(self.conv(x))))


def test_first_layer_finds_block_norm_and_activation():
    model = nn.Sequential(TinyBlock(3, 5), nn.Flatten(), nn.LazyLinear(2))
    layer = first_layer(model)
    assert [type(m) for m in layer.post] == [nn.BatchNorm1d, nn.ReLU]
    assert layer.output_module is model[0].act
    seq_model = nn.Sequential(nn.Conv1d(4, 2, 3), nn.ReLU(), nn.Dropout(0.1), nn.ReLU())
    assert [type(m) for m in first_layer(seq_model).post] == [nn.ReLU]
    assert first_layer(nn.Conv1d(4, 2, 3)).post == []
    with pytest.raises(InputError, match="no 1D convolution"):
        first_layer(nn.Sequential(nn.Flatten(), nn.Linear(8, 1)))
    with pytest.raises(InputError, match="channels"):
        first_layer(nn.Sequential(nn.Conv1d(5, 2, 3)))


def planted_set(motif: str, n: int = 120, length: int = 60, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    seqs = random_seqs(n, length, seed)
    for i in range(0, n, 2):  # every other sequence gets one planted copy
        start = int(rng.integers(0, length - len(motif)))
        seqs[i] = seqs[i][:start] + motif + seqs[i][start + len(motif):]
    return seqs


def test_activating_sites_recover_planted_motif():
    motif = "TGACTCA"
    seqs = planted_set(motif)
    conv = nn.Conv1d(4, 1, len(motif), padding="same")
    w, b = exact_match_filter(motif)
    with torch.no_grad():
        conv.weight[0] = w
        conv.bias[0] = b
    model = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten())
    sites = activating_sites(model, one_hot_np(seqs), batch_size=32, device="cpu")
    expected = sum(s.count(motif) for s in seqs)  # naive reference: exact occurrences (TGACTCA is no overlap)
    assert sites.nsites[0] == expected >= 60
    assert sites.max_activation[0] == pytest.approx(2.0)
    pwm = sites.pwms(pseudocount=0.0)[0]
    assert consensus(pwm) == motif
    assert np.allclose(pwm, pwm_of(motif))


def naive_site_counts(model: nn.Module, x: np.ndarray, fraction: float) -> np.ndarray:
    """Loop reference for ``activating_sites``: (F, K, 4) counts from explicit windows."""
    layer = first_layer(model)
    with torch.no_grad():
        act = layer(torch.tensor(x)).numpy()
    k = layer.kernel_size
    counts = np.zeros((act.shape[1], k, 4))
    for f in range(act.shape[1]):
        thr = fraction * act[:, f].max()
        for n, pos in zip(*np.nonzero(act[:, f] > thr), strict=True):
            counts[f] += x[n, :, pos:pos + k].T
    return counts


def test_activating_sites_match_naive_loop():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(4, 6, 5), nn.ELU(), nn.MaxPool1d(2))
    x = one_hot_np(random_seqs(40, 30, seed=3))
    sites = activating_sites(model, x, fraction=0.6, batch_size=7, device="cpu")
    assert np.allclose(sites.counts, naive_site_counts(model, x, 0.6))
    assert np.array_equal(sites.nsites, np.rint(sites.counts[:, 0].sum(axis=1)).astype(int))


def test_activating_sites_errors():
    model = nn.Sequential(nn.Conv1d(4, 2, 8), nn.ReLU())
    with pytest.raises(InputError, match="shorter than the filters"):
        activating_sites(model, one_hot_np(random_seqs(3, 5, 0)), device="cpu")
    with pytest.raises(InputError, match="no sequences"):
        activating_sites(model, [], device="cpu")
    with pytest.raises(ConfigError, match="fraction"):
        activating_sites(model, one_hot_np(random_seqs(3, 20, 0)), fraction=1.5, device="cpu")


class MaxThenLinear(nn.Module):
    """conv -> ReLU -> global max -> linear: each filter's influence is ``W[t, f] * mean max activation``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 4)
        self.act = nn.ReLU()
        self.head = nn.Linear(3, 2)
        self.input_length = 25

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.conv(x)).amax(dim=2))


def test_filter_influence_matches_hand_computation():
    torch.manual_seed(1)
    model = MaxThenLinear()
    x = one_hot_np(random_seqs(30, 25, seed=4))
    got = filter_influence(model, x, batch_size=16, device="cpu")
    with torch.no_grad():
        mean_max = model.act(model.conv(torch.tensor(x))).amax(dim=2).mean(dim=0).numpy()  # (F,)
    expected = (model.head.weight.detach().numpy() * mean_max[None, :]).T  # (F, T)
    assert got.shape == (3, 2)
    assert np.allclose(got, expected, atol=1e-5)
    with pytest.raises(InputError, match="input length"):
        filter_influence(model, one_hot_np(random_seqs(4, 30, seed=4)), device="cpu")


def planted_attributions(n: int = 240, length: int = 80, seed: int = 0):
    """One-hot (N, 4, L) with GATAAG or CCAATCA planted (30% reverse-complemented) in every sequence and
    attributions of 1 on planted bases plus N(0, 0.1) noise. Returns (x, attributions, planted count)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 4, (n, length))
    weight = rng.normal(0, 0.1, (n, length))
    counts = {"GATAAG": 0, "CCAATCA": 0}
    for i in range(n):
        motif = "GATAAG" if i % 2 else "CCAATCA"
        counts[motif] += 1
        planted = consensus(reverse_complement(pwm_of(motif))) if rng.random() < 0.3 else motif
        start = int(rng.integers(0, length - len(motif)))
        idx[i, start:start + len(motif)] = [BASES.index(c) for c in planted]
        weight[i, start:start + len(motif)] += 1.0
    x = np.eye(4)[idx].transpose(0, 2, 1)
    return x, x * weight[:, None, :], counts


def test_seqlet_motifs_recover_planted_motifs_on_either_strand():
    x, attributions, counts = planted_attributions()
    assert np.allclose(position_importance(attributions, x), (attributions * x).sum(axis=1))
    motifs = seqlet_motifs(attributions, x, width=8, flank=2)
    assert len(motifs) == 2
    found = {}
    for m in motifs:
        core = consensus(m.pwm()).strip("N")
        rc = consensus(reverse_complement(m.pwm())).strip("N")
        name = "GATAAG" if "GATAAG" in (core, rc) else "CCAATCA" if "CCAATCA" in (core, rc) else core
        found[name] = m.n_seqlets
    assert set(found) == {"GATAAG", "CCAATCA"}
    for name, n in found.items():
        assert 0.9 * counts[name] <= n <= counts[name]


def test_find_seqlets_greedy_non_overlapping():
    importance = np.zeros((2, 40))  # mostly background, so median and MAD of window sums are 0
    importance[0, 5:10] = 1.0
    importance[0, 25:30] = 2.0
    importance[1, 38:] = 0.5  # at the end: the flanked window is shifted inward
    seqlets = find_seqlets(importance, width=5, flank=1, threshold=1.0)
    got = [(s.index, s.start, s.end, s.importance) for s in seqlets]
    assert got == [(0, 24, 31, 10.0), (0, 4, 11, 5.0), (1, 33, 40, 1.0)]
    with pytest.raises(InputError):
        find_seqlets(np.zeros((2, 3)), width=5)


def test_kernel_method_folds_batch_norm_scale():
    conv = nn.Conv1d(4, 2, 3)
    norm = nn.BatchNorm1d(2).eval()
    with torch.no_grad():
        norm.running_var.copy_(torch.tensor([3.0, 0.25]))
        norm.weight.copy_(torch.tensor([2.0, 1.0]))
    model = nn.Sequential(conv, norm, nn.ReLU())
    scale = torch.tensor([2.0 / np.sqrt(3.0 + norm.eps), 1.0 / np.sqrt(0.25 + norm.eps)], dtype=torch.float32)
    expected = conv.weight.detach() * scale[:, None, None]
    assert torch.allclose(effective_kernels(first_layer(model)), expected)
    motifs = extract_filter_motifs(model, one_hot_np(random_seqs(4, 10, 0)), method="kernel", device="cpu")
    assert np.allclose(motifs[1].pwm, kernel_pwm(expected[1]))
    assert motifs[1].nsites == 0 and motifs[0].influence.shape == (2 * 8,)  # (N, C, L) output flattened
    with pytest.raises(ConfigError, match="method"):
        extract_filter_motifs(model, one_hot_np(random_seqs(4, 10, 0)), method="magic")
