"""Atomic output: all or nothing under the final name, ordinary permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from seqcnn.errors import InputError
from seqcnn.io.atomic import atomic_open, atomic_path, remove_stale_parts


def test_success_replaces_target_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.tsv"
    target.write_text("old")
    with atomic_open(target) as handle:
        handle.write("new")
        assert target.read_text() == "old"  # nothing visible before the block ends
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.tsv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]


def test_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"), atomic_open(tmp_path / "nope" / "out.tsv"):
        pass


def test_stale_parts_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    keep = [tmp_path / "model.safetensors", tmp_path / "notes.part", tmp_path / ".hidden"]
    stale = [tmp_path / ".checkpoint.pt.x1y2.part", tmp_path / ".metrics.tsv.abc.part"]
    for path in keep + stale:
        path.write_text("x")
    assert sorted(remove_stale_parts(tmp_path)) == sorted(stale)
    assert sorted(p for p in tmp_path.iterdir()) == sorted(keep)
