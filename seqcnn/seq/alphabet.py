"""DNA/RNA alphabets, the IUPAC ambiguity table, base complements and the one base-code table.

Channel order everywhere in seqcnn is ``A, C, G, T`` (``U`` shares the ``T`` channel).

Base codes (``uint8``, one per base) are how sequences travel between parsing, encoding and
scoring: 0-3 = A, C, G, T (U = T), 4 = N, 5 = padding (an all-zero column, never read from
text), 6-15 = the other IUPAC ambiguity letters R Y S W K M B D H V, 255 = not a base.
"""

from __future__ import annotations

import numpy as np

DNA = "ACGT"
RNA = "ACGU"

_THIRD = 1.0 / 3.0

# IUPAC code -> fractions of (A, C, G, T). N is listed as 0.25 each; the encoder can
# replace it by all zeros (``n_value=0``).
IUPAC: dict[str, tuple[float, float, float, float]] = {
    "A": (1.0, 0.0, 0.0, 0.0),
    "C": (0.0, 1.0, 0.0, 0.0),
    "G": (0.0, 0.0, 1.0, 0.0),
    "T": (0.0, 0.0, 0.0, 1.0),
    "U": (0.0, 0.0, 0.0, 1.0),
    "R": (0.5, 0.0, 0.5, 0.0),  # purine A/G
    "Y": (0.0, 0.5, 0.0, 0.5),  # pyrimidine C/T
    "S": (0.0, 0.5, 0.5, 0.0),  # strong C/G
    "W": (0.5, 0.0, 0.0, 0.5),  # weak A/T
    "K": (0.0, 0.0, 0.5, 0.5),  # keto G/T
    "M": (0.5, 0.5, 0.0, 0.0),  # amino A/C
    "B": (0.0, _THIRD, _THIRD, _THIRD),  # not A
    "D": (_THIRD, 0.0, _THIRD, _THIRD),  # not C
    "H": (_THIRD, _THIRD, 0.0, _THIRD),  # not G
    "V": (_THIRD, _THIRD, _THIRD, 0.0),  # not T
    "N": (0.25, 0.25, 0.25, 0.25),
}

# Base-wise complement of every IUPAC letter (both cases); U complements to A.
_COMPLEMENT_PAIRS = "AT CG GC TA UA RY YR SS WW KM MK BV VB DH HD NN"
COMPLEMENT: dict[str, str] = {}
for _pair in _COMPLEMENT_PAIRS.split():
    COMPLEMENT[_pair[0]] = _pair[1]
    COMPLEMENT[_pair[0].lower()] = _pair[1].lower()

_TRANSLATION = str.maketrans(COMPLEMENT)


def complement(seq: str) -> str:
    """Base-wise complement of a sequence (not reversed).

    The reverse complement is :func:`seqcnn.seq.encode.reverse_complement`.

    Parameters
    ----------
    seq
        Sequence text.

    Returns
    -------
    str
        The complement letter by letter (case kept; U -> A); characters outside the IUPAC
        alphabet are left as they are (the encoder rejects them).
    """
    return seq.translate(_TRANSLATION)


def iupac_letter(channels: frozenset[int]) -> str:
    """The IUPAC letter of a set of bases.

    Parameters
    ----------
    channels
        Indices into ``ACGT``.

    Returns
    -------
    str
        The letter whose support is exactly ``channels`` (empty: N).
    """
    return _LETTER_BY_SUPPORT[sum(1 << c for c in channels)]


def _letter_by_support() -> list[str]:
    """Letters indexed by a 4-bit mask of their nonzero channels (bit c = channel c)."""
    table = ["N"] * 16
    for letter, fractions in IUPAC.items():
        if letter == "U":
            continue
        mask = sum(1 << c for c, f in enumerate(fractions) if f > 0)
        table[mask] = letter
    table[0] = "N"
    return table


_LETTER_BY_SUPPORT = _letter_by_support()


# -- base codes: the one table ----------------------------------------------------------------
CODE_N = 4
"""Code of N."""
CODE_PAD = 5
"""Code of padding: an all-zero one-hot column (never read from text)."""
CODE_INVALID = 255
"""Code of a byte that is not an IUPAC letter (the only code with the high bit set)."""
N_EXACT_CODES = 5
"""Codes below this (A, C, G, T, N) are what an int8 one-hot encoding can hold."""
CODE_LETTERS = "ACGTN" + "." + "RYSWKMBDHV"
"""Letter of each code 0-15 (``.`` marks the padding code 5)."""


def _code_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte -> code, code -> complement code, and code -> (A, C, G, T) fractions."""
    byte_to_code = np.full(256, CODE_INVALID, dtype=np.uint8)
    onehot = np.zeros((256, 4), dtype=np.float32)
    complement_code = np.arange(256, dtype=np.uint8)
    code_of = {letter: code for code, letter in enumerate(CODE_LETTERS) if letter != "."}
    code_of["U"] = code_of["T"]
    for letter, code in code_of.items():
        byte_to_code[ord(letter)] = byte_to_code[ord(letter.lower())] = code
        onehot[code] = IUPAC[letter]
        complement_code[code] = code_of[COMPLEMENT[letter]]
    return byte_to_code, complement_code, onehot


BYTE_TO_CODE, COMPLEMENT_CODE, CODE_ONEHOT = _code_tables()
"""``BYTE_TO_CODE`` (256,): the code of each byte (both cases; 255 = not a base).
``COMPLEMENT_CODE`` (256,): the code of each code's complement (padding stays padding).
``CODE_ONEHOT`` (256, 4) float32: the (A, C, G, T) fractions of each code (N = 0.25 each, padding 0)."""
