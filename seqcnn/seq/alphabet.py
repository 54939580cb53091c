"""DNA/RNA alphabets, the IUPAC ambiguity table and base complements.

Channel order everywhere in seqcnn is ``A, C, G, T`` (``U`` shares the ``T`` channel).
"""

from __future__ import annotations

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

# Exact bases plus N: the letters an int8 encoding can hold.
EXACT = frozenset("ACGTUN")

# Base-wise complement of every IUPAC letter (both cases); U complements to A.
_COMPLEMENT_PAIRS = "AT CG GC TA UA RY YR SS WW KM MK BV VB DH HD NN"
COMPLEMENT: dict[str, str] = {}
for _pair in _COMPLEMENT_PAIRS.split():
    COMPLEMENT[_pair[0]] = _pair[1]
    COMPLEMENT[_pair[0].lower()] = _pair[1].lower()

_TRANSLATION = str.maketrans(COMPLEMENT)


def complement(seq: str) -> str:
    """Base-wise complement of ``seq`` (not reversed; case kept; U -> A).

    The reverse complement is :func:`seqcnn.seq.encode.reverse_complement`. Characters
    outside the IUPAC alphabet are left as they are (the encoder rejects them).
    """
    return seq.translate(_TRANSLATION)


def iupac_letter(channels: frozenset[int]) -> str:
    """The IUPAC letter whose support is exactly ``channels`` (indices into ``ACGT``); empty -> N."""
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
