"""Label tables: a TSV with an ``id`` column plus one numeric column per task.

Bad tables raise :class:`~seqcnn.errors.InputError` naming the file, the record id and the column.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from seqcnn.errors import InputError

if TYPE_CHECKING:  # pandas is imported on use: importing seqcnn.seq stays cheap
    import pandas as pd

_SHOWN = 5  # ids named in an error before "and N more"


def _named(ids: Sequence[str]) -> str:
    shown = ", ".join(map(str, ids[:_SHOWN]))
    return shown + (f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else "")


def read_labels(path: str | os.PathLike) -> pd.DataFrame:
    """Read a labels TSV: the first column holds record ids, every other column one task.

    Parameters
    ----------
    path
        The tab-separated file, with a header line (the task names).

    Returns
    -------
    pandas.DataFrame
        float32 ``(N, T)`` values indexed by id (str), one column per task.

    Raises
    ------
    InputError
        A missing or empty file, no task column, duplicate ids, or a value that is not a finite
        number (empty cells included), naming the id and column.
    """
    import pandas as pd

    file = str(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError("no such file", file=file) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a labels file", file=file) from None
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
    """The label rows of some records, in their order.

    Parameters
    ----------
    labels
        A table from :func:`read_labels`.
    ids
        Record ids (e.g. of a FASTA file), in the order wanted.
    file
        The labels file, named in errors.
    allow_extra
        Whether labelled ids that are not in ``ids`` are fine (the default: one labels file may
        serve the train, valid and test FASTA files).

    Returns
    -------
    np.ndarray
        float32 ``(N, T)``, row i for ``ids[i]``.

    Raises
    ------
    InputError
        Ids without labels, or (``allow_extra=False``) labelled ids not among ``ids``, naming the
        first few.
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
