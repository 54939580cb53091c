"""Property-based fuzzing of the FASTA, BED and VCF readers and of the encoder (hypothesis).

Every input either parses, and then a real property holds (FASTA round-trips through
``write_fasta``, BED rows satisfy ``0 <= start <= end``, VCF alleles are bases, encoded ACGT
columns sum to 1), or raises :class:`seqcnn.errors.InputError`: never another exception.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqcnn.errors import InputError
from seqcnn.seq.encode import decode, one_hot
from seqcnn.seq.fasta import read_fasta, write_fasta
from seqcnn.seq.genome import read_bed
from seqcnn.seq.variants import read_vcf

# SEQCNN_FUZZ_SCALE=20 for a longer hunt (20x the examples); the default keeps the file under ~20 s
_SCALE = float(os.environ.get("SEQCNN_FUZZ_SCALE", "1"))
FUZZ = settings(max_examples=int(150 * _SCALE), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=int(60 * _SCALE), deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow])

# near-valid pieces: mostly right, with the characters that tend to break parsers mixed in
_ID_CHARS = "abcXYZ019_-.:|>; \t\ré\x00"
_SEQ_CHARS = "ACGTNacgtnRYKMU -*\r\t>é\x00"


def _chars(alphabet: str, min_size: int = 0, max_size: int = 10) -> st.SearchStrategy[str]:
    """Strings over ``alphabet`` (drawn as list items: works around a hypothesis shrinker crash
    with ``st.text(alphabet)`` inside composite strategies)."""
    return st.lists(st.sampled_from(alphabet), min_size=min_size, max_size=max_size).map("".join)
_ANY_LINE = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)


@contextmanager
def _file(data: bytes, suffix: str) -> Iterator[Path]:
    """``data`` written to a fresh temporary file (hypothesis examples cannot share tmp_path)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data)
        yield path


def _parse_or_input_error(reader: Callable[[Path], Any], data: bytes, suffix: str) -> Any:
    """``reader(path)`` on ``data``; None when it raised InputError (any other exception fails)."""
    with _file(data, suffix) as path:
        try:
            return reader(path)
        except InputError as exc:
            assert str(exc), "InputError without a message"
            return None


# ---------------------------------------------------------------- FASTA

def _fasta_records(path: Path) -> list[tuple[str, str]]:
    return list(read_fasta(path))


@st.composite
def _near_fasta(draw: st.DrawFn) -> str:
    """Text that is FASTA-like: headers, wrapped lines, blank lines, CRLF, stray junk."""
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["header", "header", "seq", "seq", "seq", "blank", "junk"]))
        if kind == "header":
            lines.append(">" + draw(_chars(_ID_CHARS, max_size=8)))
        elif kind == "seq":
            lines.append(draw(_chars(_SEQ_CHARS, max_size=25)))
        elif kind == "blank":
            lines.append("")
        else:
            lines.append(draw(_ANY_LINE))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines) + draw(st.sampled_from(["", newline]))


def _check_fasta(records: list[tuple[str, str]] | None) -> None:
    """Parsed records are non-empty, ids unique and whitespace-free, and round-trip through write_fasta."""
    if records is None:
        return
    assert records, "read_fasta returned no records without raising"
    ids = [rid for rid, _ in records]
    assert len(set(ids)) == len(ids)
    for rid, seq in records:
        assert rid and not any(c.isspace() for c in rid)
        assert seq and "\n" not in seq and "\r" not in seq
    if any(">" in seq for _, seq in records):
        # a line like "\r>x" reads as sequence ">x": not representable by write_fasta, but the
        # encoder refuses it, so such a record can never be scored
        with pytest.raises(InputError):
            one_hot([seq for _, seq in records if ">" in seq][:1])
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "again.fa"
        write_fasta(records, path, width=7)
        assert list(read_fasta(path)) == records


@FUZZ
@given(st.binary(max_size=300))
def test_fasta_arbitrary_bytes(data: bytes) -> None:
    _check_fasta(_parse_or_input_error(_fasta_records, data, ".fa"))


@FUZZ
@given(_near_fasta())
def test_fasta_near_valid_text(text: str) -> None:
    records = _parse_or_input_error(_fasta_records, text.encode("utf-8"), ".fa")
    _check_fasta(records)


def _fast_path(path: Path) -> tuple[list[str], np.ndarray]:
    from seqcnn.seq.fasta import read_fasta_one_hot

    return read_fasta_one_hot(path)


@st.composite
def _equal_length_fasta(draw: st.DrawFn) -> str:
    """Mostly valid FASTA whose records share a length: wrapped lines, CRLF, blank lines, rare junk."""
    length = draw(st.integers(1, 30))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    parts = []
    for i in range(draw(st.integers(1, 5))):
        junk = draw(st.sampled_from(["", "", "X", "é", " "]))
        seq = draw(_chars("ACGTNacgtnACGTRY" + junk, length, length))
        width = draw(st.integers(1, length))
        lines = [seq[j:j + width] for j in range(0, length, width)]
        header = f">s{i}" + draw(st.sampled_from(["", " desc", "\tx"]))
        parts.append(header + newline + newline.join(lines))
    return draw(st.sampled_from(["", newline])) + newline.join(parts) + newline


@FUZZ
@given(st.one_of(_near_fasta(), _equal_length_fasta()))
def test_fasta_fast_one_hot_path_agrees(text: str) -> None:
    """The numba block path (``read_fasta_one_hot``) agrees with ``read_fasta`` + ``one_hot``."""
    data = text.encode("utf-8")
    fast = _parse_or_input_error(_fast_path, data, ".fa")
    records = _parse_or_input_error(_fasta_records, data, ".fa")
    expected = None if records is None else _encode([seq for _, seq in records],
                                                     ids=[rid for rid, _ in records])
    if expected is None:
        assert fast is None, "fast path accepted what read_fasta + one_hot refuse"
        return
    assert fast is not None, "fast path refused records that read_fasta + one_hot accept"
    assert fast[0] == [rid for rid, _ in records]
    assert np.array_equal(fast[1], expected)


@FEW
@given(_near_fasta(), st.integers(0, 40))
def test_fasta_gzip_whole_or_truncated(text: str, cut: int) -> None:
    """Gzipped FASTA reads like the plain text; a truncated gzip stream raises InputError."""
    packed = gzip.compress(text.encode("utf-8"))
    plain = _parse_or_input_error(_fasta_records, text.encode("utf-8"), ".fa")
    assert _parse_or_input_error(_fasta_records, packed, ".fa.gz") == plain
    if cut:
        _check_fasta(_parse_or_input_error(_fasta_records, packed[:-cut], ".fa.gz"))


@FEW
@given(st.lists(st.tuples(st.from_regex(r"[A-Za-z0-9_.:|-]{1,12}", fullmatch=True),
                          st.text("ACGTNacgtn", min_size=1, max_size=80)), min_size=1, max_size=8,
                unique_by=lambda r: r[0]),
       st.sampled_from([None, 1, 5, 60]))
def test_fasta_valid_round_trip(records: list[tuple[str, str]], width: int | None) -> None:
    """Well-formed records always parse back exactly, whatever the line width."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.fa"
        write_fasta(records, path, width=width)
        assert list(read_fasta(path)) == records


# ---------------------------------------------------------------- BED

@st.composite
def _near_bed(draw: st.DrawFn) -> str:
    number = st.one_of(st.integers(-5, 10**12).map(str), st.sampled_from(["", "1e3", "0x10", " 5", "٣", "."]))
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["row", "row", "row", "header", "blank", "junk"]))
        if kind == "row":
            fields = [draw(st.sampled_from(["chr1", "chrX", "", "chr 1"])), draw(number), draw(number)]
            extra = draw(st.integers(0, 4))
            pool = [draw(_chars(_ID_CHARS, max_size=5)), draw(number),
                    draw(st.sampled_from(["+", "-", ".", "x", ""])), draw(_ANY_LINE)]
            lines.append("\t".join(fields + pool[:extra]))
        elif kind == "header":
            lines.append(draw(st.sampled_from(["#chrom", "track name=x", "browser position"])))
        elif kind == "blank":
            lines.append(draw(st.sampled_from(["", "  ", "\t"])))
        else:
            lines.append(draw(_ANY_LINE))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines)


def _check_bed(df: Any) -> None:
    if df is None:
        return
    assert len(df) > 0
    assert list(df.columns) == ["chrom", "start", "end", "name", "score", "strand"]
    assert (df["start"] >= 0).all() and (df["end"] >= df["start"]).all()
    assert set(df["strand"]) <= {"+", "-"}


@FUZZ
@given(st.binary(max_size=200))
def test_bed_arbitrary_bytes(data: bytes) -> None:
    _check_bed(_parse_or_input_error(read_bed, data, ".bed"))


@FUZZ
@given(_near_bed())
def test_bed_near_valid_text(text: str) -> None:
    _check_bed(_parse_or_input_error(read_bed, text.encode("utf-8"), ".bed"))


# ---------------------------------------------------------------- VCF

def _vcf_variants(path: Path) -> list[Any]:
    return list(read_vcf(path))


@st.composite
def _near_vcf(draw: st.DrawFn) -> str:
    allele = st.one_of(_chars("ACGTNacgtn", 1, 4),
                       st.sampled_from([".", "*", "<DEL>", "A[chr1:5[", "", "R", "A,C", "A,,C", "é"]))
    lines = ["##fileformat=VCFv4.2"] if draw(st.booleans()) else []
    if draw(st.integers(0, 4)):
        lines.append("#CHROM\tPOS\tID\tREF\tALT")
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(_ANY_LINE))
            continue
        pos = draw(st.one_of(st.integers(-3, 10**20).map(str), st.sampled_from(["", "1.5", "²", "٣", "+4"])))
        fields = [draw(st.sampled_from(["chr1", "", "1"])), pos, draw(st.sampled_from([".", "rs1", "a b"])),
                  draw(allele), draw(allele), ".", "PASS", "."]
        lines.append("\t".join(fields[:draw(st.integers(3, 8))]))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines) + "\n"


def _check_vcf(variants: list[Any] | None) -> None:
    if variants is None:
        return
    for v in variants:
        assert v.pos >= 1
        assert set(v.ref.upper()) <= set("ACGTN") and v.ref
        assert set(v.alt.upper()) <= set("ACGTN") and v.alt


@FUZZ
@given(st.binary(max_size=200))
def test_vcf_arbitrary_bytes(data: bytes) -> None:
    _check_vcf(_parse_or_input_error(_vcf_variants, data, ".vcf"))


@FUZZ
@given(_near_vcf())
def test_vcf_near_valid_text(text: str) -> None:
    _check_vcf(_parse_or_input_error(_vcf_variants, text.encode("utf-8"), ".vcf"))


@FEW
@given(_near_vcf(), st.integers(1, 30))
def test_vcf_truncated_gzip(text: str, cut: int) -> None:
    _check_vcf(_parse_or_input_error(_vcf_variants, gzip.compress(text.encode())[:-cut], ".vcf.gz"))


# ---------------------------------------------------------------- encoder

def _encode(seqs: Any, **kw: Any) -> np.ndarray | None:
    try:
        return one_hot(seqs, **kw)
    except InputError as exc:
        assert str(exc)
        return None


@FUZZ
@given(st.text(max_size=60), st.sampled_from([np.float32, np.int8]))
def test_one_hot_arbitrary_text(text: str, dtype: Any) -> None:
    x = _encode(text, dtype=dtype)
    if x is None:
        return
    assert x.shape == (4, len(text)) and x.dtype == np.dtype(dtype)
    exact = np.array([c in "ACGTUacgtu" for c in text], dtype=bool)
    assert np.allclose(x[:, exact].sum(axis=0), 1.0)
    if dtype is np.float32:  # every accepted character is a probability distribution over ACGT
        assert np.all(x >= 0) and np.allclose(x.sum(axis=0), 1.0)
    else:  # int8 takes exact bases and N only; N is all zeros
        assert np.all(x[:, ~exact] == 0)


@FUZZ
@given(st.text("ACGTacgt", max_size=60))
def test_one_hot_acgt_is_exact(text: str) -> None:
    """Pure ACGT always encodes: one 1 per column, and decode inverts it (upper case)."""
    x = one_hot(text)
    assert x.shape == (4, len(text))
    assert np.array_equal(x.sum(axis=0), np.ones(len(text), dtype=np.float32))
    assert set(np.unique(x)) <= {0.0, 1.0}
    if text:
        assert decode(x) == text.upper()


@FEW
@given(st.lists(st.text("ACGTNRYacgt!é \x00", max_size=12), max_size=5))
def test_one_hot_batches(seqs: list[str]) -> None:
    """Lists: equal lengths encode to (N, 4, L); unequal lengths or bad characters raise InputError."""
    x = _encode(seqs)
    if x is None:
        return
    assert len({len(s) for s in seqs}) <= 1
    length = len(seqs[0]) if seqs else 0
    assert x.shape == (len(seqs), 4, length)
    assert np.allclose(x.sum(axis=1), 1.0)


def test_fuzz_catches_a_wrong_exception() -> None:
    """The harness itself: an exception that is not InputError fails the property."""
    def broken(path: Path) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        _parse_or_input_error(broken, b">a\nA\n", ".fa")
