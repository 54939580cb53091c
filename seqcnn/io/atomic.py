"""Atomic file output: write to a temporary file beside the target, then rename.

A killed process therefore never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from seqcnn.errors import InputError


def _default_mode() -> int:
    """Permissions an ordinary ``open(path, "w")`` would give (mkstemp makes files private)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_mode()


def _check_parent(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output directory does not exist: {parent}", file=str(path))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it only if the block succeeds.

    Parameters
    ----------
    path
        The final path; its directory must exist.

    Yields
    ------
    Path
        The temporary file (created empty, with ordinary permissions); removed on error.

    Raises
    ------
    InputError
        The output directory does not exist.
    """
    target = Path(path)
    _check_parent(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent or ".")
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(_FILE_MODE)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def remove_stale_parts(directory: str | os.PathLike) -> list[Path]:
    """Delete what :func:`atomic_path` left behind when its process was killed mid-write.

    SIGKILL cannot be caught, so a killed writer leaves its ``.<name>.<random>.part`` file.

    Parameters
    ----------
    directory
        Where to look.

    Returns
    -------
    list[Path]
        The paths removed.
    """
    removed = []
    for part in Path(directory).glob(".*.part"):
        if part.is_file():
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
                removed.append(part)
    return removed


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator:
    """Open a temporary file for writing; it replaces ``path`` when the block succeeds.

    Parameters
    ----------
    path
        The final path.
    mode
        ``open`` mode (``w``, ``wb``, ...).
    **kwargs
        Passed to ``open`` (``encoding``, ``newline``, ...).

    Yields
    ------
    IO
        The open file.

    Raises
    ------
    InputError
        The output directory does not exist.
    """
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle
