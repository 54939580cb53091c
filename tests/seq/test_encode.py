"""One-hot encoding, decoding, reverse complement and pad/crop against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqcnn.errors import InputError
from seqcnn.seq.alphabet import DNA, IUPAC, RNA, complement, iupac_letter
from seqcnn.seq.encode import (
    decode,
    one_hot,
    one_hot_mask,
    pad_or_crop,
    reverse_complement,
    upcast,
)

T = 1.0 / 3.0
# every IUPAC letter, written out by hand as (A, C, G, T)
HAND = {
    "A": (1, 0, 0, 0), "C": (0, 1, 0, 0), "G": (0, 0, 1, 0), "T": (0, 0, 0, 1), "U": (0, 0, 0, 1),
    "R": (.5, 0, .5, 0), "Y": (0, .5, 0, .5), "S": (0, .5, .5, 0), "W": (.5, 0, 0, .5),
    "K": (0, 0, .5, .5), "M": (.5, .5, 0, 0),
    "B": (0, T, T, T), "D": (T, 0, T, T), "H": (T, T, 0, T), "V": (T, T, T, 0),
    "N": (.25, .25, .25, .25),
}


def test_alphabets():
    assert DNA == "ACGT" and RNA == "ACGU"
    assert set(IUPAC) == set(HAND)


@pytest.mark.parametrize("letter", sorted(HAND))
def test_every_iupac_letter_upper_and_lower(letter):
    expected = np.array(HAND[letter], dtype=np.float32)
    for text in (letter, letter.lower()):
        got = one_hot(text)
        assert got.shape == (4, 1) and got.dtype == np.float32
        np.testing.assert_allclose(got[:, 0], expected, rtol=0, atol=1e-7)


def test_hand_computed_string_and_columns_sum_to_one():
    got = one_hot("ACGTN")
    want = np.array([[1, 0, 0, 0, .25], [0, 1, 0, 0, .25], [0, 0, 1, 0, .25], [0, 0, 0, 1, .25]],
                    dtype=np.float32)
    np.testing.assert_array_equal(got, want)
    mixed = one_hot("RYSWKMBDHVN")
    np.testing.assert_allclose(mixed.sum(axis=0), 1.0, atol=1e-6)


def test_n_value_zero_and_int8():
    np.testing.assert_array_equal(one_hot("N", n_value=0.0)[:, 0], [0, 0, 0, 0])
    x = one_hot(["ACGTN", "acgun"], dtype=np.int8)
    assert x.dtype == np.int8 and x.shape == (2, 4, 5)
    want = np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]], dtype=np.int8)
    np.testing.assert_array_equal(x[0], want)
    np.testing.assert_array_equal(x[1], want)


def test_rna_equals_dna_and_lowercase_equals_uppercase():
    np.testing.assert_array_equal(one_hot("ACGUUN"), one_hot("ACGTTN"))
    np.testing.assert_array_equal(one_hot("acgtrykmn"), one_hot("ACGTRYKMN"))


def test_float_table_path_mixed_with_exact():
    # an R forces the table path; the rest must match the fast path
    got = one_hot(["ACGTNR", "acgtnA"], n_value=0.0)
    np.testing.assert_array_equal(got[1, :, :5], one_hot("ACGTN", n_value=0.0))
    np.testing.assert_array_equal(got[0, :, 5], [.5, 0, .5, 0])
    np.testing.assert_array_equal(got[0, :, 4], [0, 0, 0, 0])


def test_other_dtypes_and_empty():
    assert one_hot("ACGT", dtype=np.float64).dtype == np.float64
    assert one_hot("").shape == (4, 0)
    assert one_hot([]).shape == (0, 4, 0)


def test_mask_reports_lowercase():
    np.testing.assert_array_equal(one_hot_mask("ACgtN"), [False, False, True, True, False])
    np.testing.assert_array_equal(one_hot_mask(["aC", "Gt"]), [[True, False], [False, True]])


@pytest.mark.parametrize("bad, pos", [("AC-T", 3), ("ACGT5", 5), ("*", 1), ("AC T", 3), ("ACG\tA", 4),
                                      ("ACGé", 4), ("ACGX", 4)])
def test_invalid_character_names_record_position_and_char(bad, pos):
    with pytest.raises(InputError) as info:
        one_hot(["A" * len(bad), bad], ids=["first", "second"], file="in.fa")
    err = info.value
    assert err.record == "second" and err.position == pos and err.file == "in.fa"
    assert repr(bad[pos - 1]) in err.message
    assert str(err).startswith(f"in.fa:second:{pos}: ")


def test_invalid_without_ids_uses_one_based_index():
    with pytest.raises(InputError) as info:
        one_hot(["AAA", "AAA", "AZA"])
    assert info.value.record == "#3" and info.value.position == 2


def test_int8_rejects_ambiguity_codes():
    with pytest.raises(InputError, match="needs a float dtype") as info:
        one_hot(["ACGTA", "ACGTR"], dtype=np.int8, ids=["a", "b"])
    assert info.value.record == "b" and info.value.position == 5


def test_unequal_lengths_and_non_strings():
    with pytest.raises(InputError, match="length 3 differs") as info:
        one_hot(["ACGT", "ACG"], ids=["a", "b"])
    assert info.value.record == "b"
    for bad in (["ACGT", 5], ["ACGT", list("ACGT")], [b"ACGT"]):
        with pytest.raises(InputError, match="expected a string"):
            one_hot(bad)
        with pytest.raises(InputError, match="expected a string"):
            one_hot_mask(bad)


def test_long_rows_cross_chunk_boundaries():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGTN"), 70_001)) for _ in range(20)]
    x = one_hot(seqs, dtype=np.int8)
    assert decode(x) == seqs
    bad = list(seqs)
    bad[17] = bad[17][:65_000] + "!" + bad[17][65_001:]
    with pytest.raises(InputError) as info:
        one_hot(bad)
    assert info.value.record == "#18" and info.value.position == 65_001


def test_decode_ambiguous_columns_and_rna():
    letters = "ACGTRYSWKMBDHVN"
    assert decode(one_hot(letters)) == letters
    assert decode(one_hot(letters.lower())) == letters
    assert decode(one_hot("ACGT", dtype=np.int8), rna=True) == "ACGU"
    assert decode(np.zeros((4, 2))) == "NN"
    assert decode(torch.tensor(one_hot(["AC", "GT"]))) == ["AC", "GT"]
    assert iupac_letter(frozenset({0, 2})) == "R"
    with pytest.raises(InputError):
        decode(np.zeros((3, 5)))


def test_reverse_complement_strings_and_arrays():
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("acgRYKM") == "KMRYcgt"
    assert reverse_complement("ACGU") == "ACGT"  # U complements to A; output written as DNA
    assert complement("ACGTacgt") == "TGCAtgca"
    x = one_hot(["AACGR", "TTTGC"])
    rc = reverse_complement(x)
    assert decode(rc) == ["YCGTT", "GCAAA"]
    assert rc.flags.c_contiguous
    t = torch.tensor(x)
    assert torch.equal(reverse_complement(reverse_complement(t)), t)
    assert reverse_complement(["AC", "GG"]) == ["GT", "CC"]


def test_upcast_from_int8():
    x = one_hot(["ACN"], dtype=np.int8)
    got = upcast(x)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), one_hot(["ACN"]))
    np.testing.assert_allclose(upcast(torch.tensor(x), n_value=0).numpy(), one_hot(["ACN"], n_value=0))


@pytest.mark.parametrize("how, length, want", [
    ("center", 3, "CGT"), ("left", 3, "ACG"), ("right", 3, "GTA"),
    ("center", 8, "NACGTANN"), ("left", 7, "ACGTANN"), ("right", 7, "NNACGTA"), ("center", 5, "ACGTA"),
    ("center", 0, ""),
])
def test_pad_or_crop(how, length, want):
    assert pad_or_crop("ACGTA", length, how) == want


def test_pad_or_crop_rejects_bad_arguments():
    with pytest.raises(InputError):
        pad_or_crop("ACGT", 3, how="middle")
    with pytest.raises(InputError):
        pad_or_crop("ACGT", -1)


VALID = st.text(alphabet="ACGTNacgtnRYSWKMBDHV", max_size=300)


@settings(max_examples=150, deadline=None)
@given(VALID)
def test_property_valid_strings_round_trip(seq):
    assert decode(one_hot(seq)) == seq.upper()
    assert reverse_complement(reverse_complement(seq)) == seq
    x = one_hot(seq)
    np.testing.assert_array_equal(reverse_complement(reverse_complement(x)), x)
    np.testing.assert_array_equal(reverse_complement(x), one_hot(reverse_complement(seq)))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ACGTN", min_size=1, max_size=200))
def test_property_exact_int8_round_trip(seq):
    assert decode(one_hot(seq, dtype=np.int8)) == seq


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ACGTacgtN", max_size=100), st.characters().filter(lambda c: c not in set(
    "ACGTUNRYSWKMBDHVacgtunryswkmbdhv")), st.integers(min_value=0))
def test_property_invalid_char_raises_at_its_position(seq, bad, where):
    pos = where % (len(seq) + 1)
    text = seq[:pos] + bad + seq[pos:]
    with pytest.raises(InputError) as info:
        one_hot([text], ids=["r"])
    assert info.value.position == pos + 1 and info.value.record == "r"


def test_bytes_path_matches_str_kernel(monkeypatch):
    from seqcnn.seq import encode

    seqs = ["ACGTNacgtnUu" * 50, "TTGCAAnnCGUA" * 50]
    fast_int8, fast_float = one_hot(seqs, dtype=np.int8), one_hot(seqs)
    assert encode._STR_KERNEL_OK  # the str kernels compiled and ran
    monkeypatch.setattr(encode, "_STR_KERNEL_OK", False)
    np.testing.assert_array_equal(one_hot(seqs, dtype=np.int8), fast_int8)
    np.testing.assert_array_equal(one_hot(seqs), fast_float)
    np.testing.assert_array_equal(fast_float[0, :, :12], one_hot("ACGTNACGTNTT"))
