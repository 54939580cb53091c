"""Label tables joined to sequence ids; problems reported by id and column."""

from __future__ import annotations

import numpy as np
import pytest

from seqcnn.errors import InputError
from seqcnn.seq.labels import align_labels, read_labels


def write(tmp_path, text):
    path = tmp_path / "labels.tsv"
    path.write_text(text)
    return path


def test_read_and_align_in_fasta_order(tmp_path):
    path = write(tmp_path, "id\tCTCF\tMAX\ns1\t1\t0\ns2\t0\t1\ns3\t0.5\t0\n")
    labels = read_labels(path)
    assert list(labels.columns) == ["CTCF", "MAX"] and list(labels.index) == ["s1", "s2", "s3"]
    y = align_labels(labels, ["s3", "s1"])
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[0.5, 0], [1, 0]])


def test_numeric_looking_ids_stay_strings(tmp_path):
    labels = read_labels(write(tmp_path, "name\ttask\n001\t1\n2\t0\n"))
    assert list(labels.index) == ["001", "2"]


def test_missing_ids_named(tmp_path):
    labels = read_labels(write(tmp_path, "id\tt\na\t1\nb\t0\n"))
    with pytest.raises(InputError, match=r"2 id\(s\) have no labels: x, y") as info:
        align_labels(labels, ["a", "x", "y"], file="seqs.fa")
    assert info.value.record == "x" and info.value.file == "seqs.fa"


def test_extra_ids_allowed_or_named(tmp_path):
    labels = read_labels(write(tmp_path, "id\tt\na\t1\nb\t0\nc\t1\n"))
    np.testing.assert_array_equal(align_labels(labels, ["b"]), [[0]])
    with pytest.raises(InputError, match=r"2 labelled id\(s\) are not among the sequences: a, c"):
        align_labels(labels, ["b"], allow_extra=False)


def test_many_missing_ids_are_abbreviated(tmp_path):
    labels = read_labels(write(tmp_path, "id\tt\na\t1\n"))
    with pytest.raises(InputError, match="and 5 more"):
        align_labels(labels, [f"m{i}" for i in range(10)])


@pytest.mark.parametrize("text, match, record", [
    ("id\tt\na\t1\na\t0\n", "duplicate ids: a", "a"),
    ("id\n a\n", "at least one task", None),
    ("id\tt\tu\na\t1\tyes\n", "column 'u': not a number: 'yes'", "a"),
    ("id\tt\na\t1\nb\t\n", "column 't': not a number: ''", "b"),
    ("id\tt\na\tinf\n", "not a number", "a"),
    ("", "empty labels file", None),
])
def test_bad_tables(tmp_path, text, match, record):
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=match) as info:
        read_labels(path)
    assert info.value.record == record and info.value.file == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_labels(tmp_path / "none.tsv")
    with pytest.raises(InputError, match="is a directory"):
        read_labels(tmp_path)
