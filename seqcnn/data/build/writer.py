"""The dataset directory: sequences, targets, windows, manifest and config skeletons, written atomically.

Layout (``seqcnn train`` reads it through ``data.kind: fasta`` with no editing)::

    train.fa valid.fa test.fa   the window sequences, one line each, soft-masking kept as case
    labels.tsv                  id + one 0/1 column per peak task            (binary tasks)
    targets.tsv                 id + one column per bigWig track             (regression, --signal)
    profiles.npz                id (N,), profile (N, T, L) float32, tasks (T,); with --control also
                                control (N, C, L) and control_tracks (C,)   (profile, --profile)
    windows.bed                 chrom start end id 0 + split kind (positive, negative, shuffle)
    manifest.json               inputs with sha256, options, counts per split and task, GC histograms
    config.<model>.yaml         a training config per model family that fits the targets

Everything is written into a hidden temporary directory beside the output, renamed onto it only when
the build succeeds (:func:`building_directory`), so a failed build leaves no partial dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from seqcnn.errors import ConfigError
from seqcnn.io.tables import TableWriter, open_table
from seqcnn.progress import progress_bar

SPLITS = ("train", "valid", "test")
KINDS = ("positive", "negative", "shuffle")
_UMASK = os.umask(0)
os.umask(_UMASK)
_DIR_MODE = 0o777 & ~_UMASK
_BATCH = 4096  # table rows written at a time
# letters kept as they are in the sequences written (case = soft-masking); anything else becomes N
_CLEAN = bytes(c if bytes([c]) in b"ACGTNacgtn" else ord("N") for c in range(256))


@contextlib.contextmanager
def building_directory(out: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """A temporary directory beside ``out``, renamed onto it when the block succeeds, removed when not.

    Parameters
    ----------
    out
        The dataset directory to make (its parent directories are created).
    overwrite
        Replace an existing non-empty ``out`` (only once the new one is complete).

    Yields
    ------
    Path
        The directory to write into.

    Raises
    ------
    ConfigError
        ``out`` exists and is a file, or a non-empty directory without ``overwrite``.
    """
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise ConfigError("output exists and is not a directory", file=str(target))
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise ConfigError("output directory exists and is not empty; pass --overwrite to replace it",
                          file=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    tmp.chmod(_DIR_MODE)  # mkdtemp makes it private; a dataset directory gets ordinary permissions
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old / "dataset")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_of(path: str | os.PathLike, *, progress: bool = False) -> str:
    """The SHA-256 of a file, read 1 MiB at a time.

    Parameters
    ----------
    path
        The file.
    progress
        Show a progress bar over its bytes.

    Returns
    -------
    str
        Hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle, progress_bar(total=os.path.getsize(path), enabled=progress, unit="B",
                                                  unit_scale=True, desc=f"sha256 {Path(path).name}") as bar:
        while block := handle.read(1 << 20):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def clean_sequence(seq: str) -> str:
    """``seq`` with every letter other than A, C, G, T, N (either case) turned into N.

    IUPAC codes (R, Y, ...) occur in some assemblies; the int8 one-hot training data hold exact bases
    and N only.
    """
    return seq.encode("latin-1", errors="replace").translate(_CLEAN).decode("latin-1")


class DatasetWriter:
    """Streams windows into the dataset files and counts them.

    Parameters
    ----------
    root
        The (temporary) dataset directory.
    tasks
        Binary peak task names (empty: no ``labels.tsv``).
    tracks
        bigWig track names (empty: no signal).
    profile
        Write the tracks as base-resolution ``profiles.npz`` instead of ``targets.tsv``.
    control_tracks
        Control track names (profiles only).
    """

    def __init__(self, root: Path, tasks: list[str], tracks: list[str], *, profile: bool = False,
                 control_tracks: list[str] | None = None) -> None:
        self.root, self.tasks, self.tracks, self.profile = root, tasks, tracks, profile
        self.control_tracks = control_tracks or []
        self._stack = contextlib.ExitStack()
        self._fasta = {s: self._stack.enter_context(open(root / f"{s}.fa", "w", encoding="latin-1"))
                       for s in SPLITS}
        self._bed = self._stack.enter_context(open(root / "windows.bed", "w", encoding="utf-8"))
        self._tables: dict[str, TableWriter] = {}
        if tasks:
            self._tables["labels"] = self._stack.enter_context(open_table(root / "labels.tsv"))
        if tracks:
            name, file = ("profiles", "profiles.npz") if profile else ("targets", "targets.tsv")
            self._tables[name] = self._stack.enter_context(open_table(root / file))
        self._rows: dict[str, list[Any]] = {name: [] for name in self._tables}
        self.counts = {s: {"windows": 0, "negatives": 0, "positives": dict.fromkeys(tasks, 0)}
                       for s in SPLITS}
        self.n_by_kind = dict.fromkeys(KINDS, 0)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # discard the partial tables (the directory itself is removed by building_directory)
            self._stack.__exit__(exc_type, exc, tb)

    def add(self, rid: str, seq: str, split: str, kind: str, bed: tuple[str, int, int], *,
            labels: np.ndarray | None = None, signal: np.ndarray | None = None,
            control: np.ndarray | None = None) -> None:
        """Write one window.

        Parameters
        ----------
        rid
            Record id (unique).
        seq
            Its sequence.
        split
            ``train``, ``valid`` or ``test``.
        kind
            ``positive``, ``negative`` or ``shuffle``.
        bed
            ``(chrom, start, end)`` of the window (of the shuffled window for a shuffle).
        labels
            ``(T,)`` 0/1 per task (None: all 0).
        signal
            ``(B,)`` targets per track, or ``(B, L)`` profiles.
        control
            ``(C, L)`` control profiles.
        """
        self._fasta[split].write(f">{rid}\n{clean_sequence(seq)}\n")
        self._bed.write(f"{bed[0]}\t{bed[1]}\t{bed[2]}\t{rid}\t0\t+\t{split}\t{kind}\n")
        count = self.counts[split]
        count["windows"] += 1
        self.n_by_kind[kind] += 1
        if self.tasks:
            row = np.zeros(len(self.tasks), dtype=np.int8) if labels is None else labels.astype(np.int8)
            for task, value in zip(self.tasks, row, strict=True):
                count["positives"][task] += int(value)
            count["negatives"] += int(not row.any())
            self._rows["labels"].append((rid, row))
        if self.tracks:
            self._rows["profiles" if self.profile else "targets"].append((rid, signal, control))
        if len(next(iter(self._rows.values()), [])) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the buffered table rows."""
        for name, rows in self._rows.items():
            if not rows:
                continue
            ids = np.asarray([r[0] for r in rows])
            table = self._tables[name]
            if name == "labels":
                matrix = np.stack([r[1] for r in rows])
                table.write({"id": ids, **{t: matrix[:, j] for j, t in enumerate(self.tasks)}})
            elif name == "targets":
                matrix = np.stack([r[1] for r in rows])
                table.write({"id": ids, **{t: matrix[:, j] for j, t in enumerate(self.tracks)}})
            else:
                columns = {"id": ids, "profile": np.stack([r[1] for r in rows])}
                if self.control_tracks:
                    columns["control"] = np.stack([r[2] for r in rows])
                table.write(columns)
            rows.clear()

    def close(self) -> None:
        """Flush and close every file (profiles.npz gets its ``tasks`` array)."""
        self.flush()
        if "profiles" in self._tables:
            self._tables["profiles"].put("tasks", np.asarray(self.tracks))
            if self.control_tracks:
                self._tables["profiles"].put("control_tracks", np.asarray(self.control_tracks))
        self._stack.close()


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON (keys in insertion order)."""
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


__all__ = ["DatasetWriter", "building_directory", "clean_sequence", "sha256_of", "write_json"]
