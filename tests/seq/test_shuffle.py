"""k-mer preserving shuffles: exact k-mer counts, kept ends, seeding and uniform sampling."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from seqcnn.errors import ConfigError, InputError
from seqcnn.seq.encode import decode, one_hot
from seqcnn.seq.shuffle import kmer_shuffle, shuffle_one_hot


def kmers(seq: str, k: int) -> Counter:
    return Counter(seq[i:i + k] for i in range(len(seq) - k + 1))


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_kmer_counts_preserved_exactly(k):
    rng = np.random.default_rng(k)
    for length in (5, 30, 200, 1000):
        seq = "".join(rng.choice(list("ACGTN"), length))
        out = kmer_shuffle(seq, k, seed=int(rng.integers(1 << 30)))
        assert len(out) == len(seq)
        assert kmers(out, k) == kmers(seq, k)
        assert out[: k - 1] == seq[: k - 1] and (k == 1 or out[-(k - 1):] == seq[-(k - 1):])


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="ACGTacgtN", max_size=120), st.integers(2, 3), st.integers(0, 2**32 - 1))
def test_property_counts_preserved_for_k2_k3(seq, k, seed):
    out = kmer_shuffle(seq, k, seed=seed)
    assert kmers(out, k) == kmers(seq, k)
    assert Counter(out) == Counter(seq)


def test_seeded_and_actually_shuffles():
    seq = "ACGTACGGTTACCAGTAGCATGCATTTACGGACTAGCTAGCATCGATCGACGTAGCTA" * 4
    assert kmer_shuffle(seq, seed=7) == kmer_shuffle(seq, seed=7)
    outs = {kmer_shuffle(seq, seed=s) for s in range(10)}
    assert len(outs) > 5 and seq not in outs
    rng = np.random.default_rng(0)
    assert kmer_shuffle(seq, seed=rng) != kmer_shuffle(seq, seed=rng)  # a Generator advances


def test_short_sequences_unchanged():
    assert kmer_shuffle("", 2, seed=0) == ""
    assert kmer_shuffle("AC", 2, seed=0) == "AC"
    for bad in (0, -1, 1.5, True):  # bad arguments, not bad data
        with pytest.raises(ConfigError, match="k must be a positive integer"):
            kmer_shuffle("ACGT", bad)


def test_dinucleotide_shuffle_samples_uniformly():
    # enumerate every arrangement with the same dinucleotide counts, first and last letter
    seq = "AACGTACGTTA"
    target = kmers(seq, 2)
    middles = ("".join(p) for p in itertools.product("ACGT", repeat=len(seq) - 2))
    universe = {s for s in (seq[0] + m + seq[-1] for m in middles) if kmers(s, 2) == target}
    assert len(universe) > 5
    rng = np.random.default_rng(0)
    draws = Counter(kmer_shuffle(seq, 2, seed=rng) for _ in range(400 * len(universe)))
    assert set(draws) == universe
    assert chisquare(list(draws.values())).pvalue > 1e-3


def test_shuffle_one_hot_shapes_and_counts():
    seqs = ["ACGTNACGGTTRACGTAGCA", "TTTTGGGGCCCCAAAANNAC"]
    x = one_hot(seqs)
    out = shuffle_one_hot(x, k=2, n=3, seed=1)
    assert out.shape == (2, 3, 4, 20) and out.dtype == x.dtype
    for i, seq in enumerate(seqs):
        for j in range(3):
            assert kmers(decode(out[i, j]), 2) == kmers(seq, 2)
    single = shuffle_one_hot(one_hot(seqs[1], dtype=np.int8), k=3, n=2, seed=2)
    assert single.shape == (2, 4, 20) and single.dtype == np.int8
    assert kmers(decode(single[1]), 3) == kmers(seqs[1], 3)
    np.testing.assert_array_equal(shuffle_one_hot(x, seed=5), shuffle_one_hot(x, seed=5))
    with pytest.raises(ConfigError, match="n must be a positive integer, got 0"):
        shuffle_one_hot(x, n=0)
    with pytest.raises(ConfigError, match="k must be"):
        shuffle_one_hot(x, k=0)
    with pytest.raises(InputError, match=r"\(4, L\) or \(N, 4, L\)"):
        shuffle_one_hot(x[None], seed=0)
