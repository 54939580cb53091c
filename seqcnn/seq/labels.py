"""Label tables: a TSV with an ``id`` column plus one numeric column per task."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from seqcnn.errors import InputError

_SHOWN = 5  # ids named in an error before "and N more"


def _named(ids: Sequence[str]) -> str:
    shown = ", ".join(map(str, ids[:_SHOWN]))
    return shown + (f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else "")


def read_labels(path: str | os.PathLike) -> pd.DataFrame:
    """Read a labels TSV: the first column holds record ids, every other column one task.

    Returns a float32 DataFrame indexed by id. Duplicate ids, no task column, and values that
    are not numbers (empty cells included) raise :class:`InputError` naming id and column.
    """
    file = str(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError("no such file", file=file) from None
    except pd.errors.EmptyDataError:
        raise InputError("empty labels file", file=file) from None
    if df.shape[1] < 2:
        raise InputError("labels need an id column and at least one task column", file=file)
    df = df.set_index(df.columns[0])
    df.index = df.index.astype(str)
    dup = df.index[df.index.duplicated()].unique().tolist()
    if dup:
        raise InputError(f"duplicate ids: {_named(dup)}", file=file, record=dup[0])
    values = df.apply(pd.to_numeric, errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise InputError(f"column {df.columns[col]!r}: not a number: {df.iat[row, col]!r}", file=file,
                         record=df.index[row])
    return values.astype(np.float32)


def align_labels(labels: pd.DataFrame, ids: Sequence[str], *, file: str | None = None,
                 allow_extra: bool = True) -> np.ndarray:
    """Label rows in the order of ``ids`` as float32 ``(N, T)``.

    Ids without labels raise :class:`InputError` naming them. Labelled ids not in ``ids`` are
    fine by default (one labels file may serve train/valid/test FASTA files); with
    ``allow_extra=False`` they are reported by name too.
    """
    index = labels.index
    missing = [i for i in ids if i not in index]
    if missing:
        raise InputError(f"{len(missing)} id(s) have no labels: {_named(missing)}", file=file,
                         record=str(missing[0]))
    if not allow_extra:
        wanted = set(ids)
        extra = [i for i in index if i not in wanted]
        if extra:
            raise InputError(f"{len(extra)} labelled id(s) are not among the sequences: {_named(extra)}",
                             file=file, record=str(extra[0]))
    return labels.loc[list(ids)].to_numpy(dtype=np.float32)
