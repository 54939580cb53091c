"""Output tables written row batch by row batch; the format follows the file extension.

``.tsv``/``.txt`` (tab-separated, header line), ``.tsv.gz``/``.txt.gz`` (the same, gzip), ``.parquet``
(pyarrow, one row group per ~64k rows), ``.npz`` (one array per column) and ``-`` (TSV on stdout).
An ``.npz`` table also takes columns of arrays (``(n, ...)``: rows along the first axis, the same
trailing shape in every batch) and whole arrays beside the columns (:meth:`TableWriter.put`), so it
doubles as the streaming writer of large array archives (e.g. ISM maps).
Files are written to a temporary name and renamed when the writer closes without error
(``seqcnn.io.atomic``), so a failed run never leaves a partial table. Memory stays flat: TSV rows are
formatted and written per batch, parquet buffers one row group, npz spools columns to temporary
files and assembles the archive at the end.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from seqcnn.errors import InputError
from seqcnn.io.atomic import atomic_path

FORMATS = {".tsv": "tsv", ".txt": "tsv", ".tsv.gz": "tsv.gz", ".txt.gz": "tsv.gz",
           ".parquet": "parquet", ".npz": "npz"}
FLOAT_FORMAT = "%.7g"  # float32 keeps ~7 significant digits
_PARQUET_ROWS = 65536

Columns = Mapping[str, Any]  # column name -> 1-D array or list (a pandas DataFrame works too)


def table_format(path: str | os.PathLike) -> str:
    """The table format an output path asks for.

    Parameters
    ----------
    path
        Output path; ``-`` is stdout.

    Returns
    -------
    str
        ``tsv``, ``tsv.gz``, ``parquet`` or ``npz`` (``-`` is ``tsv``), from the extension (any case).

    Raises
    ------
    InputError
        An unknown extension.
    """
    name = str(path).lower()
    if name == "-":
        return "tsv"
    for ext in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return FORMATS[ext]
    known = ", ".join(FORMATS)
    raise InputError(f"unknown output extension (use {known}, or - for stdout)", file=str(path))


def _as_columns(batch: Columns) -> dict[str, np.ndarray]:
    """Turn a mapping or DataFrame into equal-length 1-D numpy columns."""
    cols = {str(k): np.asarray(batch[k]) for k in batch}
    lengths = {len(v) for v in cols.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of unequal length: { {k: len(v) for k, v in cols.items()} }")
    return cols


def _format_rows(cols: dict[str, np.ndarray]) -> str:
    """Tab-separated lines for one batch; floats as %.7g, everything else as str."""
    if not cols:
        return ""
    fmts = [FLOAT_FORMAT if v.dtype.kind == "f" else "%s" for v in cols.values()]
    line = "\t".join(fmts)
    rows = zip(*(v.tolist() for v in cols.values()), strict=True)
    return "".join(line % row + "\n" for row in rows)


class TableWriter:
    """Streams batches of rows (:meth:`write`) to ``path``; use as a context manager.

    Parameters
    ----------
    path
        Output path; the extension picks the format (:func:`table_format`); ``-`` is TSV on stdout.
    header
        Write a header line (TSV formats).

    Notes
    -----
    The columns and their order are fixed by :meth:`declare` or else by the first batch; each later
    batch must have the same names. A table closed with no row still has its columns when they are
    known (declared, or from a batch of zero rows): a TSV its header line, a parquet or npz table
    empty columns. Leaving the ``with`` block through an exception discards the file; leaving it
    normally renames the finished file into place. ``n_rows`` counts the rows written so far.
    """

    def __init__(self, path: str | os.PathLike, *, header: bool = True) -> None:
        self.path = str(path)
        self.format = table_format(path)
        self.header = header
        self.columns: list[str] | None = None
        self.dtypes: dict[str, np.dtype] = {}
        self.n_rows = 0
        self._stack = contextlib.ExitStack()
        self._sink: Any = None

    def __enter__(self) -> TableWriter:
        if self.path == "-":
            self._sink = _TextSink(sys.stdout, flush=True)
        else:
            tmp = self._stack.enter_context(atomic_path(self.path))
            self._sink = self._open_sink(tmp)
        return self

    def _open_sink(self, tmp: Path) -> Any:
        if self.format == "tsv":
            return _TextSink(self._stack.enter_context(open(tmp, "w", encoding="utf-8", newline="")))
        if self.format == "tsv.gz":
            handle = self._stack.enter_context(gzip.open(tmp, "wt", encoding="utf-8", newline="",
                                                         compresslevel=6))
            return _TextSink(handle)
        if self.format == "parquet":
            return _ParquetSink(tmp)
        return _NpzSink(tmp)

    def declare(self, columns: Sequence[str] | Mapping[str, Any]) -> None:
        """Fix the columns before any row, so that a table left with no row still has them.

        Parameters
        ----------
        columns
            Column names in order, or a mapping of names to numpy dtypes (the types of the empty
            columns of a parquet or npz table with no row; names alone give strings).

        Raises
        ------
        ValueError
            Columns already fixed (declared, or by a batch) that differ from ``columns``.
        """
        names = [str(c) for c in columns]
        if self.columns is not None:
            if names != self.columns:
                raise ValueError(f"declared columns {names} differ from the table's {self.columns}")
            return
        if isinstance(columns, Mapping):
            self.dtypes = {str(k): np.dtype(v) for k, v in columns.items()}
        self._fix(names)

    def _fix(self, names: list[str]) -> None:
        self.columns = names
        if self.header and self.format in ("tsv", "tsv.gz"):
            self._sink.write_text("\t".join(names) + "\n")

    def write(self, batch: Columns) -> None:
        """Append the rows of ``batch``.

        Parameters
        ----------
        batch
            Column name -> values (1-D, equal lengths; a DataFrame works too). For ``.npz``, a
            column may be an array ``(n, ...)`` whose trailing shape stays the same in every batch.

        Raises
        ------
        ValueError
            Columns of unequal length, other names than the first batch's, or arrays of more than
            one dimension in a text or parquet table.
        """
        cols = _as_columns(batch)
        if self.format != "npz" and any(v.ndim != 1 for v in cols.values()):
            raise ValueError(f"{self.format} tables take 1-D columns; arrays (n, ...) need .npz")
        if self.columns is None:
            self._fix(list(cols))
        elif list(cols) != self.columns:
            raise ValueError(f"batch columns {list(cols)} differ from the first batch's {self.columns}")
        self._sink.write(cols)
        self.n_rows += len(next(iter(cols.values()), []))

    def put(self, name: str, value: Any) -> None:
        """Store a whole array beside the columns (``.npz`` only), written on closing.

        Parameters
        ----------
        name
            Array name in the archive.
        value
            Any array (strings as fixed-width unicode; no object arrays).

        Raises
        ------
        ValueError
            Not an ``.npz`` table, or ``name`` is already a column or array.
        """
        if self.format != "npz":
            raise ValueError(f"put() stores whole arrays in .npz tables, not {self.format}")
        self._sink.put(name, value)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                if self.format in ("parquet", "npz") and self.n_rows == 0:
                    self._sink.empty(self.columns or [], self.dtypes)
                self._sink.close(self.columns or [])
            else:
                self._sink.abort()
        finally:
            self._stack.__exit__(exc_type, exc, tb)


def open_table(path: str | os.PathLike, *, header: bool = True) -> TableWriter:
    """A :class:`TableWriter` for ``path``; enter it with ``with``.

    Parameters
    ----------
    path
        Output path (``.tsv``, ``.txt``, ``.tsv.gz``, ``.txt.gz``, ``.parquet``, ``.npz``) or ``-``.
    header
        Write a header line (TSV formats).

    Returns
    -------
    TableWriter
        Not yet open: ``with open_table(path) as table: table.write(columns)``.

    Raises
    ------
    InputError
        An unknown extension.
    """
    return TableWriter(path, header=header)


def write_table(frame: Columns, path: str | os.PathLike, *, header: bool = True) -> None:
    """Write a whole table at once.

    Parameters
    ----------
    frame
        A DataFrame or a column mapping.
    path
        Output path, as :func:`open_table`.
    header
        Write a header line (TSV formats).
    """
    with open_table(path, header=header) as writer:
        writer.write(frame)


class _TextSink:
    """TSV rows to a text handle; ``flush`` after each batch for pipes."""

    def empty(self, columns: list[str], dtypes: dict[str, np.dtype]) -> None:
        """Nothing to add: the header went out when the columns were fixed."""

    def __init__(self, handle: TextIO, *, flush: bool = False) -> None:
        self.handle = handle
        self.flush = flush

    def write_text(self, text: str) -> None:
        self.handle.write(text)

    def write(self, cols: dict[str, np.ndarray]) -> None:
        self.handle.write(_format_rows(cols))
        if self.flush:
            self.handle.flush()

    def close(self, columns: list[str]) -> None:
        self.handle.flush()

    def abort(self) -> None:
        """Nothing to undo: the temporary file is removed by ``atomic_path``."""


class _ParquetSink:
    """Buffers up to ~64k rows, then writes them as one parquet row group."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.buffer: list[dict[str, np.ndarray]] = []
        self.buffered = 0
        self.writer: Any = None

    def write(self, cols: dict[str, np.ndarray]) -> None:
        self.buffer.append(cols)
        self.buffered += len(next(iter(cols.values()), []))
        if self.buffered >= _PARQUET_ROWS:
            self._flush()

    def empty(self, columns: list[str], dtypes: dict[str, np.dtype]) -> None:
        """No row came: the columns, typed as declared (strings where not), as the one batch."""
        self.buffer = [{c: np.zeros(0, dtypes.get(c, np.dtype(str))) for c in columns}] if columns else []
        self.buffered = 0

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.buffer:
            return
        names = list(self.buffer[0])
        arrays = {n: np.concatenate([b[n] for b in self.buffer]) for n in names}
        table = pa.table({n: _parquet_array(a) for n, a in arrays.items()})
        if self.writer is None:
            self.writer = pq.ParquetWriter(str(self.path), table.schema)
        self.writer.write_table(table)
        self.buffer, self.buffered = [], 0

    def close(self, columns: list[str]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._flush()
        if self.writer is None:  # no rows: an empty table with the known column names
            pq.write_table(pa.table({c: pa.array([], pa.string()) for c in columns}), str(self.path))
        else:
            self.writer.close()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _parquet_array(array: np.ndarray) -> Any:
    import pyarrow as pa

    if array.dtype.kind in "OUS":
        return pa.array(array.astype(str), pa.string())  # typed even with no row
    return pa.array(array)


class _NpzSink:
    """Spools each column to a temporary file; ``close`` streams them into an ``.npz`` archive.

    Strings are stored as fixed-width unicode (``<U{max length}``) so that ``np.load`` needs no pickle;
    numeric columns may be arrays ``(n, ...)`` (one trailing shape per column); whole arrays given to
    ``put`` follow the columns.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dir = tempfile.TemporaryDirectory(prefix=".npz-", dir=path.parent)
        self.spools: dict[str, io.BufferedRandom] = {}
        self.dtypes: dict[str, np.dtype] = {}
        self.widths: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.trailing: dict[str, tuple[int, ...]] = {}
        self.whole: dict[str, np.ndarray] = {}

    def empty(self, columns: list[str], dtypes: dict[str, np.dtype]) -> None:
        """No row came: the columns, typed as declared (strings where not), with no row."""
        self.write({c: np.zeros(0, dtypes.get(c, np.dtype(str))) for c in columns if c not in self.spools})

    def put(self, name: str, value: Any) -> None:
        if name in self.whole or name in self.spools:
            raise ValueError(f"{name!r} is already in this archive")
        self.whole[name] = np.asarray(value)

    def write(self, cols: dict[str, np.ndarray]) -> None:
        for name, values in cols.items():
            if name in self.whole:
                raise ValueError(f"{name!r} is already in this archive")
            if name not in self.spools:
                self.spools[name] = open(Path(self.dir.name) / f"{len(self.spools)}.bin", "w+b")  # noqa: SIM115
                self.counts[name] = 0
                self.widths[name] = 1
                self.trailing[name] = values.shape[1:]
            if values.shape[1:] != self.trailing[name]:
                raise ValueError(f"column {name!r}: rows of shape {values.shape[1:]} after "
                                 f"{self.trailing[name]}")
            spool = self.spools[name]
            if values.dtype.kind in "OUS" and values.ndim > 1:
                raise ValueError(f"column {name!r}: string columns must be 1-D")
            if values.dtype.kind in "OUS":
                strings = [str(s) for s in values.tolist()]
                self.widths[name] = max([self.widths[name], *map(len, strings)])
                spool.write("".join(s + "\n" for s in strings).encode("utf-8"))
                self.dtypes[name] = np.dtype("U")
            else:
                self.dtypes.setdefault(name, values.dtype)
                spool.write(np.ascontiguousarray(values, dtype=self.dtypes[name]).tobytes())
            self.counts[name] += len(values)

    def close(self, columns: list[str]) -> None:
        with zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name in columns:
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    self._write_member(name, member)
            for name, value in self.whole.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, value, allow_pickle=False)
        self.abort()

    def _write_member(self, name: str, member: Any) -> None:
        spool, n = self.spools[name], self.counts[name]
        spool.seek(0)
        if self.dtypes[name].kind == "U":
            dtype = np.dtype(f"<U{self.widths[name]}")
            np.lib.format.write_array_header_2_0(
                member, {"descr": dtype.str, "fortran_order": False, "shape": (n,)})
            for chunk in _line_chunks(spool):
                member.write(np.asarray(chunk, dtype=dtype).tobytes())
        else:
            dtype = self.dtypes[name]
            shape = (n, *self.trailing[name])
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_2_0(member, header)
            while block := spool.read(1 << 20):
                member.write(block)

    def abort(self) -> None:
        for spool in self.spools.values():
            spool.close()
        self.dir.cleanup()


def _line_chunks(handle: io.BufferedRandom, size: int = 65536) -> Iterator[Sequence[str]]:
    chunk: list[str] = []
    for line in handle:
        chunk.append(line.decode("utf-8")[:-1])
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
