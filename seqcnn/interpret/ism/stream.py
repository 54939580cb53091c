"""ISM over a FASTA file, streamed in chunks of records, resumable, into one ``.npz``.

Each chunk of ``chunk`` records is computed and written as ``part-NNNNNN.npz`` (atomically) into a
hidden work directory beside the output, ``.<output name>.ism-work/``, together with a
``manifest.json`` naming the model, the FASTA and the settings. An interrupted run started again
with the same inputs and settings skips the chunks whose part files exist (and hold the same record
ids); anything else found there is discarded, and so is the work directory of a run stopped by bad
input (an error, not an interruption). When every chunk is done, the parts are streamed into
the output (one array member at a time, so memory stays at one chunk) under a temporary name,
renamed into place, and the work directory is removed. Reading from stdin (``-``) cannot resume.

Output arrays (see docs/formats.md): ``ids`` (N,), ``delta`` (N, 4, P, T) float32,
``reference`` (N, T), ``bases`` (N, P) int8, ``tasks`` (T,), ``start``, ``end``.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqcnn.errors import ConfigError, InputError, SeqcnnError
from seqcnn.interpret.ism.mutagenesis import ISMResult, ism
from seqcnn.io.atomic import atomic_path
from seqcnn.progress import progress_bar

ARRAYS = ("ids", "delta", "reference", "bases")
MANIFEST_VERSION = 1


@dataclass
class StreamStats:
    """What a run did: records seen, chunks computed and chunks reused from an earlier run."""

    records: int = 0
    computed: int = 0
    reused: int = 0


def work_dir(output: str | os.PathLike) -> Path:
    """The hidden work directory of ``output``."""
    out = Path(output)
    return out.parent / f".{out.name}.ism-work"


def fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """Identity of an input file for the manifest: absolute path, size and modification time."""
    if str(path) == "-":
        return {"path": "-"}
    stat = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _prepare_work(work: Path, manifest: dict[str, Any]) -> bool:
    """Create or validate the work directory; True when earlier parts may be reused."""
    text = json.dumps(manifest, sort_keys=True)
    resumable = manifest["fasta"].get("path") != "-"
    if work.is_dir():
        old = work / "manifest.json"
        if resumable and old.is_file() and old.read_text() == text:
            return True
        shutil.rmtree(work)
    work.mkdir()
    with atomic_path(work / "manifest.json") as tmp:
        tmp.write_text(text)
    return False


def _chunks(records: Iterator[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_lengths(records: list[tuple[str, str]], length: int | None, file: str) -> int:
    for record_id, seq in records:
        if length is None:
            length = len(seq)
        elif len(seq) != length:
            raise InputError(f"length {len(seq)} differs from {length} (ISM maps of one file share a length)",
                             file=file, record=record_id)
    assert length is not None
    return length


def _part_ids(part: Path) -> list[str] | None:
    try:
        with np.load(part, allow_pickle=False) as npz:
            return [str(i) for i in npz["ids"]]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def ism_fasta(
    model: torch.nn.Module,
    fasta: str,
    output: str | os.PathLike,
    *,
    model_id: dict[str, Any],
    start: int | None = None,
    end: int | None = None,
    target: Sequence[int] | None = None,
    rc: str = "none",
    task_names: Sequence[str] | None = None,
    chunk: int = 256,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    on_chunk: Callable[[list[str], list[str], ISMResult], None] | None = None,
) -> StreamStats:
    """ISM of every record of ``fasta`` into ``output`` (.npz), resumably (see the module docstring).

    ``model_id`` identifies the model in the manifest (e.g. ``fingerprint(model_path)``);
    ``on_chunk(ids, seqs, result)`` is called for every chunk computed in this run (e.g. to plot).
    """
    out = Path(output)
    if out.suffix.lower() != ".npz":
        raise ConfigError(f"ISM maps are written as .npz, not {out.suffix or '(no extension)'!r}")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise InputError(f"output directory does not exist: {out.parent}", file=str(out))
    manifest = {"version": MANIFEST_VERSION, "model": model_id, "fasta": fingerprint(fasta), "start": start,
                "end": end, "target": None if target is None else list(target), "rc": rc, "chunk": chunk}
    work = work_dir(out)
    reuse = _prepare_work(work, manifest)
    try:
        parts, stats = _run_chunks(model, fasta, work, reuse, chunk, on_chunk, progress,
                                   dict(target=target, start=start, end=end, rc=rc, batch_size=batch_size,
                                        device=device))
    except SeqcnnError:
        shutil.rmtree(work, ignore_errors=True)  # bad input: nothing worth resuming
        raise
    _assemble(parts, out, task_names)
    shutil.rmtree(work)
    return stats


def _run_chunks(model: torch.nn.Module, fasta: str, work: Path, reuse: bool, chunk: int,
                on_chunk: Callable[[list[str], list[str], ISMResult], None] | None, progress: bool,
                options: dict[str, Any]) -> tuple[list[Path], StreamStats]:
    """Compute (or reuse) one part file per chunk of records; the part paths in order."""
    from seqcnn.seq.encode import one_hot
    from seqcnn.seq.fasta import read_fasta

    stats = StreamStats()
    length = getattr(model, "input_length", None)
    length = length if isinstance(length, int) else None
    parts: list[Path] = []
    bar = progress_bar(enabled=progress, desc="ISM records", unit="seq")
    for i, records in enumerate(_chunks(read_fasta(fasta), chunk)):
        length = _check_lengths(records, length, fasta)
        ids = [r[0] for r in records]
        part = work / f"part-{i:06d}.npz"
        parts.append(part)
        stats.records += len(records)
        bar.update(len(records))
        if reuse and part.is_file() and _part_ids(part) == ids:
            stats.reused += 1
            continue
        x = one_hot([r[1] for r in records], ids=ids, file=fasta)
        result = ism(model, x, **options)
        with atomic_path(part) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, ids=np.array(ids), delta=result.delta.astype(np.float32),
                     reference=result.reference.astype(np.float32), bases=result.bases,
                     targets=np.array(result.targets), start=result.start, end=result.end)
        stats.computed += 1
        if on_chunk is not None:
            on_chunk(ids, [r[1] for r in records], result)
    bar.close()
    if not parts:
        raise InputError("no FASTA records", file=fasta)
    return parts, stats


def _assemble(parts: list[Path], out: Path, task_names: Sequence[str] | None) -> None:
    """Stream the part files into ``out`` (.npz), one array at a time."""
    with np.load(parts[0], allow_pickle=False) as first:
        shapes = {name: first[name].shape[1:] for name in ARRAYS}
        targets = first["targets"]
        start, end = int(first["start"]), int(first["end"])
    counts, width = 0, 1
    for part in parts:
        with np.load(part, allow_pickle=False) as npz:
            ids = npz["ids"]
            counts += len(ids)
            width = max(width, max((len(str(i)) for i in ids), default=1))
    dtypes = {"ids": np.dtype(f"<U{width}"), "delta": np.dtype(np.float32), "reference": np.dtype(np.float32),
              "bases": np.dtype(np.int8)}
    names = [task_names[t] if task_names is not None and t < len(task_names) else f"task{t}" for t in targets]
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in ARRAYS:
            header = {"descr": np.lib.format.dtype_to_descr(dtypes[name]), "fortran_order": False,
                      "shape": (counts, *shapes[name])}
            with zf.open(f"{name}.npy", "w", force_zip64=True) as handle:
                np.lib.format.write_array_header_2_0(handle, header)
                for part in parts:
                    with np.load(part, allow_pickle=False) as npz:
                        handle.write(np.ascontiguousarray(npz[name], dtype=dtypes[name]).tobytes())
        for name, value in (("tasks", np.array(names)), ("start", np.int64(start)), ("end", np.int64(end))):
            with zf.open(f"{name}.npy", "w") as handle:
                np.lib.format.write_array(handle, np.asarray(value), allow_pickle=False)
