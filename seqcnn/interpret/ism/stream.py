"""ISM over a FASTA file, streamed in chunks of records, resumable, into one ``.npz``.

Each chunk of ``chunk`` records is computed and written as ``part-NNNNNN.npz`` (atomically) into a
hidden work directory beside the output, ``.<output name>.ism-work/``, together with a
``manifest.json`` naming the model, the FASTA and the settings. An interrupted run started again
with the same inputs and settings skips the chunks whose part files exist (and hold the same record
ids); anything else found there is discarded, and so is the work directory of a run stopped by bad
input (an error, not an interruption). When every chunk is done, the parts are streamed into
the output ``.npz`` table (one part at a time, so memory stays at one chunk; written under a
temporary name and renamed into place), and the work directory is removed. Reading from stdin
(``-``) cannot resume.

Output arrays (see docs/formats.md): ``ids`` (N,), ``delta`` (N, 4, P, T) float32,
``reference`` (N, T), ``bases`` (N, P) int8, ``tasks`` (T,), ``start``, ``end``.

The progress bar counts records against the number of records in the file (counted first; not for
stdin or pipes).
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqcnn._common import Target, resolve_rc
from seqcnn.errors import ConfigError, InputError, SeqcnnError
from seqcnn.interpret.ism.mutagenesis import ism
from seqcnn.interpret.ism.result import ISMResult
from seqcnn.io.atomic import atomic_path
from seqcnn.io.tables import open_table
from seqcnn.progress import progress_bar
from seqcnn.seq.fasta import iter_fasta_batches, read_fasta_blocks

ARRAYS = ("ids", "delta", "reference", "bases")
MANIFEST_VERSION = 2


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
    fasta: str | os.PathLike,
    output: str | os.PathLike,
    *,
    model_id: dict[str, Any],
    start: int | None = None,
    end: int | None = None,
    target: Target = None,
    rc: str | None = None,
    chunk: int = 256,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    on_chunk: Callable[[list[str], list[str], ISMResult], None] | None = None,
    method: str = "auto",
) -> StreamStats:
    """ISM of every record of ``fasta`` into ``output`` (.npz), resumably (see the module docstring).

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was.
    fasta
        FASTA file (plain, .gz, or ``-`` for stdin); records must share one length.
    output
        The ``.npz`` file to write.
    model_id
        Identifies the model in the manifest (e.g. ``fingerprint(model_path)``).
    start, end, target, rc, batch_size, device
        As in :func:`seqcnn.interpret.ism.ism` (``rc`` None: the model file's ``rc_mode``).
    chunk
        Records per part file (the unit of resuming).
    progress
        Show a progress bar (records) on stderr.
    on_chunk
        Called as ``on_chunk(ids, seqs, result)`` for every chunk computed in this run (e.g. to plot).
    method
        As in :func:`seqcnn.interpret.ism.ism`: ``auto``, ``fast`` or ``naive``.

    Returns
    -------
    StreamStats
        Records seen, chunks computed and chunks reused.

    Raises
    ------
    ConfigError
        An output that is not ``.npz``, an unknown target or rc mode.
    InputError
        A missing output directory, no records, or records of different lengths.
    """
    out = Path(output)
    if out.suffix.lower() != ".npz":
        raise ConfigError(f"ISM maps are written as .npz, not {out.suffix or '(no extension)'!r}")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise InputError(f"output directory does not exist: {out.parent}", file=str(out))
    rc = resolve_rc(rc, model)
    manifest = {"version": MANIFEST_VERSION, "model": model_id, "fasta": fingerprint(fasta), "start": start,
                "end": end, "target": _json_target(target), "rc": rc, "chunk": chunk}
    work = work_dir(out)
    reuse = _prepare_work(work, manifest)
    options = dict(target=target, start=start, end=end, rc=rc, batch_size=batch_size, device=device,
                   method=method)
    try:
        parts, stats = _run_chunks(model, str(fasta), work, reuse, chunk, on_chunk, progress, options)
    except SeqcnnError:
        shutil.rmtree(work, ignore_errors=True)  # bad input: nothing worth resuming
        raise
    _assemble(parts, out)
    shutil.rmtree(work)
    return stats


def _json_target(target: Target) -> list[int | str] | None:
    """``target`` as a JSON list for the manifest (None: all outputs)."""
    if target is None:
        return None
    items = [target] if isinstance(target, (int, str, np.integer)) else list(target)
    return [t if isinstance(t, str) else int(t) for t in items]


def count_records(fasta: str | os.PathLike) -> int | None:
    """The number of records of ``fasta`` (one streaming pass), or None when it is not a regular file
    (stdin, a pipe: those can be read only once)."""
    if str(fasta) == "-" or not Path(fasta).is_file():
        return None
    return sum(len(block.ids) for block in read_fasta_blocks(fasta))


def _run_chunks(model: torch.nn.Module, fasta: str, work: Path, reuse: bool, chunk: int,
                on_chunk: Callable[[list[str], list[str], ISMResult], None] | None, progress: bool,
                options: dict[str, Any]) -> tuple[list[Path], StreamStats]:
    """Compute (or reuse) one part file per chunk of records; the part paths in order."""
    from seqcnn.seq.encode import one_hot

    stats = StreamStats()
    length = getattr(model, "input_length", None)
    length = length if isinstance(length, int) else None
    parts: list[Path] = []
    total = count_records(fasta) if progress else None
    with progress_bar(total=total, enabled=progress, desc="ISM", unit="seq") as bar:
        for i, records in enumerate(iter_fasta_batches(fasta, chunk)):
            length = _check_lengths(records, length, fasta)
            ids = [r[0] for r in records]
            part = work / f"part-{i:06d}.npz"
            parts.append(part)
            stats.records += len(records)
            if reuse and part.is_file() and _part_ids(part) == ids:
                stats.reused += 1
                bar.update(len(records))
                continue
            x = one_hot([r[1] for r in records], ids=ids, file=fasta)
            result = ism(model, x, **options)
            with atomic_path(part) as tmp, open(tmp, "wb") as handle:
                np.savez(handle, ids=np.array(ids), delta=result.delta.astype(np.float32),
                         reference=result.reference.astype(np.float32), bases=result.bases,
                         tasks=np.array(result.tasks), start=result.start, end=result.end)
            stats.computed += 1
            bar.update(len(records))
            if on_chunk is not None:
                on_chunk(ids, [r[1] for r in records], result)
    if not parts:
        raise InputError("no FASTA records", file=fasta)
    return parts, stats


def _assemble(parts: list[Path], out: Path) -> None:
    """Stream the part files into ``out`` (.npz), one part at a time."""
    with open_table(out) as table:
        for part in parts:
            with np.load(part, allow_pickle=False) as npz:
                table.write({name: npz[name] for name in ARRAYS})
                if part == parts[0]:
                    for name in ("tasks", "start", "end"):
                        table.put(name, npz[name] if name == "tasks" else np.int64(npz[name]))
