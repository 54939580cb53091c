"""FASTA reading and writing: layouts, compression, stdin and every malformed-file case."""

from __future__ import annotations

import gzip
import io
import random
import subprocess
import sys

import numpy as np
import pytest
from Bio.SeqIO.FastaIO import SimpleFastaParser

from seqcnn.errors import ConfigError, InputError
from seqcnn.seq import fasta
from seqcnn.seq.encode import one_hot
from seqcnn.seq.fasta import iter_fasta_batches, read_fasta, read_fasta_one_hot, write_fasta


def random_records(n: int, seed: int = 0, max_len: int = 150) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(f"r{i}", "".join(rng.choice("ACGTNacgt") for _ in range(rng.randint(1, max_len))))
            for i in range(n)]


def as_text(records, width: int, newline: str = "\n") -> str:
    parts = []
    for rid, seq in records:
        parts.append(f">{rid} some description{newline}")
        parts.extend(seq[i:i + width] + newline for i in range(0, len(seq), width))
    return "".join(parts)


@pytest.mark.parametrize("width", [1, 7, 60, 1000])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_multiline_and_crlf_match_biopython(tmp_path, width, newline):
    records = random_records(60)
    path = tmp_path / "x.fa"
    path.write_bytes(as_text(records, width, newline).encode())
    got = list(read_fasta(path))
    assert got == records
    with open(path) as handle:
        peer = [(title.split()[0], seq) for title, seq in SimpleFastaParser(handle)]
    assert got == peer


@pytest.mark.parametrize("block", [1, 2, 3, 5, 64])
def test_tiny_read_blocks_split_records_anywhere(tmp_path, monkeypatch, block):
    records = random_records(40, seed=block)
    path = tmp_path / "x.fa"
    path.write_text("\n\n" + as_text(records, 13))
    monkeypatch.setattr(fasta, "BLOCK_SIZE", block)
    assert list(read_fasta(path)) == records


def test_gzip_and_batches(tmp_path):
    records = random_records(25)
    path = tmp_path / "x.fa.gz"
    path.write_bytes(gzip.compress(as_text(records, 60).encode()))
    assert list(read_fasta(path)) == records
    batches = list(iter_fasta_batches(path, 10))
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [r for b in batches for r in b] == records
    with pytest.raises(ConfigError, match="batch_size"):  # a bad argument, at the call
        iter_fasta_batches(path, 0)


def test_gzip_detected_by_content_not_name(tmp_path):
    path = tmp_path / "x.fa"
    path.write_bytes(gzip.compress(b">a\nACGT\n"))
    assert list(read_fasta(path)) == [("a", "ACGT")]


def test_stdin(tmp_path):
    text = as_text(random_records(5), 10)
    code = ("import sys; from seqcnn.seq.fasta import read_fasta; "
            "print(sum(len(s) for _, s in read_fasta('-')))")
    out = subprocess.run([sys.executable, "-c", code], input=text.encode(), capture_output=True, check=True)
    assert int(out.stdout) == sum(len(s) for _, s in random_records(5))


def test_stdin_gz(monkeypatch):
    fake = io.TextIOWrapper(io.BufferedReader(io.BytesIO(gzip.compress(b">a\nAC\n>b\nGT\n"))))
    monkeypatch.setattr(sys, "stdin", fake)
    assert list(read_fasta("-")) == [("a", "AC"), ("b", "GT")]


@pytest.mark.parametrize("text, match, record", [
    ("", "empty FASTA file", None),
    ("\n\n  \n", "empty FASTA file", None),
    ("ACGT\n>a\nAC\n", "expected a '>' header", None),
    ("\n\nACGT\n", "line 3: expected a '>' header", None),
    (">a\n>b\nAC\n", "no sequence", "a"),
    (">a\nAC\n>b\n", "no sequence", "b"),
    (">a\nAC\n>b\r\n\r\n", "no sequence", "b"),
    (">a\rACGT\r>b\rCC\r", "bare carriage return", "a"),  # classic Mac line ends
    (">a\nAC\n>a desc\nGG\n", "duplicate record id", "a"),
    (">\nAC\n", "empty header", None),
])
def test_malformed_files(tmp_path, text, match, record):
    path = tmp_path / "bad.fa"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as info:
        list(read_fasta(path))
    assert info.value.file == str(path)
    assert info.value.record == record


def test_allow_empty_keeps_empty_records_for_a_skipping_caller(tmp_path):
    path = tmp_path / "e.fa"
    path.write_text(">a\nAC\n>empty\n\n>b\r\nGT\r\n>last\n")
    assert list(read_fasta(path, allow_empty=True)) == [("a", "AC"), ("empty", ""), ("b", "GT"), ("last", "")]
    blocks = list(fasta.read_fasta_blocks(path, allow_empty=True))
    assert sum((b.ids for b in blocks), []) == ["a", "empty", "b", "last"]
    assert np.concatenate([np.diff(b.offsets) for b in blocks]).tolist() == [2, 0, 2, 0]
    with pytest.raises(InputError, match="empty: record has no sequence"):
        list(read_fasta(path))  # the default is unchanged


def test_allow_empty_still_refuses_bare_carriage_returns(tmp_path):
    path = tmp_path / "mac.fa"
    path.write_bytes(b">a\rACGT\r>b\rCC\r")
    with pytest.raises(InputError, match="bare carriage return"):
        list(read_fasta(path, allow_empty=True))


def test_a_fasta_path_given_as_a_string_says_no_such_file(tmp_path, monkeypatch):
    from pathlib import Path

    from seqcnn._common import as_onehot

    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as info:
        as_onehot(Path("missing.fa"))
    assert str(info.value) == "missing.fa: no such file"
    with pytest.raises(InputError, match=r"^data/missing\.fa: no such file \(a string is read as a sequence"):
        as_onehot("data/missing.fa")  # a string is a sequence, but this one is a mistyped path
    with pytest.raises(InputError, match=r"^x\.fasta\.gz: no such file"):
        as_onehot(["ACGT", "x.fasta.gz"])
    (tmp_path / "real.fa").write_text(">a\nACGT\n")
    with pytest.raises(InputError, match=r"give a FASTA file as pathlib.Path\('real.fa'\)"):
        as_onehot("real.fa")
    with pytest.raises(InputError, match="invalid character '!'"):
        as_onehot("AC!T")  # not path-like: the ordinary message
    assert as_onehot(Path("real.fa")).shape == (1, 4, 4)


def test_truncated_and_corrupt_gzip(tmp_path):
    data = gzip.compress(as_text(random_records(200), 60).encode())
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated gzip"):
        list(read_fasta(path))
    path.write_bytes(data[:20] + b"\x00" * 50 + data[70:])
    with pytest.raises(InputError, match="gzip"):
        list(read_fasta(path))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(read_fasta(tmp_path / "nope.fa"))
    with pytest.raises(InputError, match="directory"):
        list(read_fasta(tmp_path))


def test_write_round_trip_plain_gz_and_wrapped(tmp_path):
    records = random_records(30)
    for name, width in (("a.fa", None), ("b.fa.gz", 7)):
        path = tmp_path / name
        assert write_fasta(records, path, width=width) == path
        assert list(read_fasta(path)) == records
    text = (tmp_path / "a.fa").read_text()
    assert text.startswith(f">r0\n{records[0][1]}\n>r1\n")


def test_write_is_atomic_on_bad_id(tmp_path):
    path = tmp_path / "out.fa"
    with pytest.raises(InputError, match="whitespace"):
        write_fasta([("ok", "ACGT"), ("bad id", "AC")], path)
    assert not path.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="does not exist"):
        write_fasta([("a", "AC")], tmp_path / "missing" / "x.fa")


def test_streaming_is_lazy(tmp_path):
    # an error late in the file is raised only after the good records are yielded
    path = tmp_path / "x.fa"
    path.write_text(">a\nAC\n>b\nGG\n>a\nTT\n")
    it = read_fasta(path)
    assert next(it) == ("a", "AC") and next(it) == ("b", "GG")
    with pytest.raises(InputError, match="duplicate"):
        next(it)


def test_read_fasta_one_hot_matches_string_path(tmp_path, monkeypatch):
    rng = random.Random(3)
    records = [(f"s{i}", "".join(rng.choice("ACGTNacgt") for _ in range(37))) for i in range(300)]
    path = tmp_path / "x.fa"
    path.write_text(as_text(records, 10, "\r\n"))
    monkeypatch.setattr(fasta, "BLOCK_SIZE", 997)  # records straddle blocks
    ids, x = read_fasta_one_hot(path, dtype=np.int8)
    assert ids == [r for r, _ in records]
    np.testing.assert_array_equal(x, one_hot([s for _, s in records], dtype=np.int8))
    _, xf = read_fasta_one_hot(path)
    np.testing.assert_array_equal(xf, one_hot([s for _, s in records]))


def test_read_fasta_one_hot_errors_name_record(tmp_path):
    path = tmp_path / "x.fa"
    path.write_text(">a\nACGT\n>b\nACG\n")
    with pytest.raises(InputError, match="length 3 differs") as info:
        read_fasta_one_hot(path)
    assert info.value.record == "b"
    path.write_text(">a\nACGT\n>b\nAC\nG-\n")
    with pytest.raises(InputError, match="invalid character '-'") as info:
        read_fasta_one_hot(path)
    assert (info.value.file, info.value.record, info.value.position) == (str(path), "b", 4)


def test_duplicate_found_after_ids_were_compacted_to_hashes(monkeypatch) -> None:
    monkeypatch.setattr(fasta.SeenIds, "RECENT", 4)
    seen = fasta.SeenIds()
    for start in range(0, 40, 5):  # blocks of 5 ids: older ones end up as hashes only
        seen.add([f"r{i}" for i in range(start, start + 5)], "x.fa")
    assert len(seen._recent) < 4 and seen._hashes.size >= 36
    with pytest.raises(InputError, match="duplicate") as info:
        seen.add(["new1", "r3", "new2"], "x.fa")
    assert info.value.record == "r3" and info.value.file == "x.fa"
    seen.add(["new1", "new2"], "x.fa")  # unseen ids still pass
