"""Output tables: every format round-trips, batches stream, failures leave no file."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from seqcnn.errors import InputError
from seqcnn.io.tables import open_table, table_format, write_table


def _batches(n_batches: int = 3, rows: int = 4) -> list[dict]:
    rng = np.random.default_rng(0)
    return [{"id": [f"r{b}_{i}" for i in range(rows)], "pos": np.arange(rows) + b * rows,
             "score": rng.random(rows).astype(np.float32)} for b in range(n_batches)]


def _expected(batches: list[dict]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame(b) for b in batches], ignore_index=True)


@pytest.mark.parametrize(("name", "fmt"), [("a.tsv", "tsv"), ("a.TXT", "tsv"), ("a.tsv.gz", "tsv.gz"),
                                           ("a.parquet", "parquet"), ("a.npz", "npz"), ("-", "tsv")])
def test_format_follows_extension(name: str, fmt: str) -> None:
    assert table_format(name) == fmt


def test_unknown_extension_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown output extension"):
        table_format("scores.xlsx")


@pytest.mark.parametrize("suffix", [".tsv", ".tsv.gz", ".parquet", ".npz"])
def test_streamed_batches_round_trip(tmp_path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    batches = _batches()
    with open_table(path) as table:
        for batch in batches:
            table.write(batch)
    assert table.n_rows == 12
    expected = _expected(batches)
    if suffix == ".npz":
        with np.load(path) as data:  # allow_pickle is False: strings must be stored as unicode
            got = pd.DataFrame({k: data[k] for k in ("id", "pos", "score")})
    elif suffix == ".parquet":
        got = pd.read_parquet(path)
    else:
        got = pd.read_csv(path, sep="\t")
    assert list(got.columns) == ["id", "pos", "score"]
    assert got["id"].tolist() == expected["id"].tolist()
    assert got["pos"].tolist() == expected["pos"].tolist()
    np.testing.assert_allclose(got["score"].to_numpy(), expected["score"].to_numpy(), rtol=1e-6)


def test_tsv_text_is_exact(tmp_path) -> None:
    path = tmp_path / "t.tsv"
    write_table({"id": ["a", "b"], "x": np.array([0.5, 1 / 3], dtype=np.float32), "n": [1, 2]}, path)
    assert path.read_text() == "id\tx\tn\na\t0.5\t1\nb\t0.3333333\t2\n"


def test_no_header_and_stdout(capsys) -> None:
    write_table({"id": ["a"], "x": [2.0]}, "-", header=False)
    assert capsys.readouterr().out == "a\t2\n"


def test_gzip_is_really_gzip(tmp_path) -> None:
    path = tmp_path / "t.tsv.gz"
    write_table(pd.DataFrame({"id": ["a"], "x": [1.5]}), path)
    with gzip.open(path, "rt") as handle:
        assert handle.read() == "id\tx\na\t1.5\n"


@pytest.mark.parametrize("suffix", [".tsv", ".tsv.gz", ".parquet", ".npz"])
def test_error_inside_block_leaves_no_file(tmp_path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    with pytest.raises(RuntimeError), open_table(path) as table:
        table.write(_batches(1)[0])
        raise RuntimeError("scoring failed half way")
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="output directory does not exist"), \
            open_table(tmp_path / "nope" / "out.tsv"):
        pass


def test_changed_columns_are_rejected(tmp_path) -> None:
    with pytest.raises(ValueError, match="differ"), open_table(tmp_path / "t.tsv") as table:
        table.write({"a": [1]})
        table.write({"b": [1]})


def test_npz_many_batches_and_long_strings(tmp_path) -> None:
    path = tmp_path / "t.npz"
    with open_table(path) as table:
        for b in range(50):
            table.write({"id": ["x" * (b + 1)], "v": np.array([b], dtype=np.float32)})
    with np.load(path) as data:
        assert data["id"].dtype == np.dtype("<U50")
        assert data["id"][49] == "x" * 50
        np.testing.assert_array_equal(data["v"], np.arange(50, dtype=np.float32))


def test_empty_parquet_keeps_columns(tmp_path) -> None:
    path = tmp_path / "t.parquet"
    with open_table(path):
        pass
    assert len(pd.read_parquet(path)) == 0


def test_npz_takes_array_columns_and_whole_arrays(tmp_path) -> None:
    path = tmp_path / "maps.npz"
    rng = np.random.default_rng(1)
    parts = [rng.random((n, 4, 6, 2)).astype(np.float32) for n in (3, 0, 5)]
    with open_table(path) as table:
        for k, part in enumerate(parts):
            table.write({"ids": [f"s{k}_{i}" for i in range(len(part))], "delta": part,
                         "bases": np.zeros((len(part), 6), dtype=np.int8)})
        table.put("tasks", np.array(["CTCF", "GATA1"]))
        table.put("start", np.int64(7))
    with np.load(path, allow_pickle=False) as npz:
        assert list(npz.keys()) == ["ids", "delta", "bases", "tasks", "start"]
        np.testing.assert_array_equal(npz["delta"], np.concatenate(parts))
        assert npz["delta"].dtype == np.float32
        assert npz["bases"].shape == (8, 6) and npz["bases"].dtype == np.int8
        assert npz["ids"].tolist() == [f"s0_{i}" for i in range(3)] + [f"s2_{i}" for i in range(5)]
        assert npz["tasks"].tolist() == ["CTCF", "GATA1"] and int(npz["start"]) == 7


def test_array_columns_are_refused_where_they_cannot_go(tmp_path) -> None:
    with pytest.raises(ValueError, match="1-D columns"), open_table(tmp_path / "a.tsv") as table:
        table.write({"x": np.zeros((2, 3))})
    assert not (tmp_path / "a.tsv").exists()
    with pytest.raises(ValueError, match="whole arrays"), open_table(tmp_path / "a.parquet") as table:
        table.put("x", np.zeros(3))
    with pytest.raises(ValueError, match="rows of shape"), open_table(tmp_path / "b.npz") as table:
        table.write({"x": np.zeros((2, 3))})
        table.write({"x": np.zeros((2, 4))})
    assert not (tmp_path / "b.npz").exists()


@pytest.mark.parametrize("suffix", [".tsv", ".tsv.gz"])
def test_declared_columns_give_a_header_with_no_row(tmp_path, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    with open_table(path) as table:
        table.declare(["chrom", "pos", "score"])
    assert table.n_rows == 0
    opener = gzip.open if suffix.endswith(".gz") else open
    with opener(path, "rt") as handle:
        assert handle.read() == "chrom\tpos\tscore\n"


def test_declared_columns_then_rows_keep_one_header(tmp_path) -> None:
    path = tmp_path / "t.tsv"
    with open_table(path) as table:
        table.declare({"id": np.dtype(str), "x": np.dtype(np.float32)})
        table.write({"id": ["a"], "x": np.array([0.5], dtype=np.float32)})
        table.declare(["id", "x"])  # the same columns again: accepted
    assert path.read_text() == "id\tx\na\t0.5\n"


def test_declared_columns_must_match_the_rows(tmp_path) -> None:
    with pytest.raises(ValueError, match="differ"), open_table(tmp_path / "t.tsv") as table:
        table.declare(["id", "x"])
        table.write({"id": ["a"], "y": [1.0]})
    with pytest.raises(ValueError, match="declared columns"), open_table(tmp_path / "u.tsv") as table:
        table.write({"id": ["a"]})
        table.declare(["id", "x"])
    assert list(tmp_path.iterdir()) == []


def test_a_zero_row_batch_still_gives_the_header(tmp_path) -> None:
    path = tmp_path / "t.tsv"
    write_table(pd.DataFrame({"id": [], "x": []}), path)
    assert path.read_text() == "id\tx\n"


@pytest.mark.parametrize("suffix", [".parquet", ".npz"])
def test_declared_columns_with_no_row_are_typed_empty_columns(tmp_path, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    with open_table(path) as table:
        table.declare({"id": np.dtype(str), "pos": np.dtype(np.int64), "ok": np.dtype(bool),
                       "score": np.dtype(np.float32)})
    if suffix == ".npz":
        with np.load(path) as data:
            got = {k: data[k] for k in data.files}
    else:
        got = {k: v.to_numpy() for k, v in pd.read_parquet(path).items()}
    assert list(got) == ["id", "pos", "ok", "score"]
    assert all(v.shape == (0,) for v in got.values())
    assert (got["pos"].dtype, got["ok"].dtype, got["score"].dtype) == (np.int64, bool, np.float32)


@pytest.mark.parametrize("suffix", [".parquet", ".npz"])
def test_declared_names_alone_give_empty_string_columns(tmp_path, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    with open_table(path) as table:
        table.declare(["a", "b"])
    if suffix == ".npz":
        with np.load(path) as data:
            assert data.files == ["a", "b"] and data["a"].dtype.kind == "U" and len(data["b"]) == 0
    else:
        frame = pd.read_parquet(path)
        assert list(frame.columns) == ["a", "b"] and len(frame) == 0
