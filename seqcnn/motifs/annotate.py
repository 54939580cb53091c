"""Annotate motifs with TomTom (memelite, pure Python + numba) against JASPAR or a user MEME file.

memelite's kernels are compiled by numba on first use (about a minute) and cached on disk: in memelite's
``__pycache__`` when site-packages is writable, else in ``$XDG_CACHE_HOME/seqcnn/numba``
(via ``NUMBA_CACHE_DIR``).
A one-line notice is printed only when no compiled copy is cached yet.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from seqcnn.errors import ConfigError, InputError
from seqcnn.motifs.pwm import information_content, trim_bounds

if TYPE_CHECKING:
    from seqcnn.motifs.extract import FilterMotif
    from seqcnn.seq.meme import Motif

MATCH_COLUMNS = ["query", "rank", "target_id", "target_name", "offset", "orientation", "overlap",
                 "p_value", "e_value", "q_value"]
_notice_shown = False


def numba_cache_dir() -> Path:
    """Where numba's compiled memelite kernels live when memelite's own folder is read-only.

    Returns
    -------
    Path
        ``$XDG_CACHE_HOME/seqcnn/numba`` (``~/.cache`` when unset).
    """
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seqcnn" / "numba"


def _configure_numba_cache() -> None:
    """Point numba at a user cache dir when memelite's ``__pycache__`` cannot be written."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    spec = importlib.util.find_spec("memelite")
    if spec is None or spec.origin is None:
        raise InputError("memelite is not installed: `pip install memelite` (TomTom annotation needs it)")
    pkg = Path(spec.origin).parent
    target = pkg / "__pycache__" if (pkg / "__pycache__").exists() else pkg
    if os.access(target, os.W_OK):
        return
    cache = numba_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(cache)
    if "numba" in sys.modules:  # numba read the environment at import: set its config too
        sys.modules["numba"].config.CACHE_DIR = str(cache)


def _tomtom_is_cached(dispatcher) -> bool:
    """Whether numba has a cached compilation index for memelite's TomTom kernel (True if unknowable)."""
    try:
        cache = dispatcher._cache
        return Path(cache._cache_path, cache._cache_file._index_name).exists()
    except AttributeError:
        return True


def _tomtom():
    """memelite's ``tomtom`` function, with the numba cache configured and a first-compile notice."""
    global _notice_shown
    _configure_numba_cache()
    from memelite import tomtom

    kernel = getattr(sys.modules["memelite.tomtom"], "_tomtom", None)
    if not _notice_shown and kernel is not None and not _tomtom_is_cached(kernel):
        print("seqcnn: compiling TomTom (numba) for first use; about a minute, cached for later runs",
              file=sys.stderr)
        _notice_shown = True
    return tomtom


def compare(queries: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """TomTom every query against every target, both strands.

    Parameters
    ----------
    queries
        ``(L, 4)`` probability matrices.
    targets
        ``(L', 4)`` probability matrices.

    Returns
    -------
    dict[str, np.ndarray]
        ``(Q, T)`` arrays: ``p_value``, ``offset`` (target position facing the query's first
        position, in the target's matched orientation), ``overlap``, ``strand`` (1 where the query
        matches the target's reverse complement).

    Raises
    ------
    InputError
        No queries or no targets, or memelite missing.
    """
    if len(queries) == 0 or len(targets) == 0:
        raise InputError("TomTom needs at least one query and one target motif")
    tomtom = _tomtom()
    qs = [np.ascontiguousarray(np.asarray(q, dtype=np.float64).T) for q in queries]
    ts = [np.ascontiguousarray(np.asarray(t, dtype=np.float64).T) for t in targets]
    p, _scores, offsets, overlaps, strands = tomtom(qs, ts)
    return {"p_value": p, "offset": offsets.astype(np.int64), "overlap": overlaps.astype(np.int64),
            "strand": strands.astype(np.int64)}


def q_values(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of each query's p-values over its targets.

    Parameters
    ----------
    p_values
        ``(Q, T)``; NaN counts as 1.

    Returns
    -------
    np.ndarray
        ``(Q, T)`` q-values.
    """
    p = np.clip(np.nan_to_num(np.asarray(p_values, dtype=np.float64), nan=1.0), 0.0, 1.0)
    return np.vstack([false_discovery_control(row, method="bh") for row in p]) if p.size else p


def tomtom_table(
    queries: Sequence[np.ndarray], targets: Sequence[np.ndarray], *, query_names: Sequence[str],
    target_ids: Sequence[str], target_names: Sequence[str], n_best: int = 5,
) -> pd.DataFrame:
    """The best matches of each query by p-value, as a table.

    E-value = p-value x number of targets (as MEME's Tomtom); q-value by Benjamini-Hochberg over targets.

    Parameters
    ----------
    queries, targets
        ``(L, 4)`` probability matrices.
    query_names
        One name per query.
    target_ids, target_names
        One identifier and name per target.
    n_best
        Matches kept per query.

    Returns
    -------
    pd.DataFrame
        ``MATCH_COLUMNS``, ``n_best`` rows per query by rank.
    """
    res = compare(queries, targets)
    p = res["p_value"]
    q = q_values(p)
    n_targets = p.shape[1]
    rows = []
    for i, name in enumerate(query_names):
        order = np.argsort(p[i], kind="stable")[:n_best]
        for rank, j in enumerate(order, start=1):
            rows.append((name, rank, target_ids[j], target_names[j], int(res["offset"][i, j]),
                         "-" if res["strand"][i, j] else "+", int(res["overlap"][i, j]), float(p[i, j]),
                         float(p[i, j] * n_targets), float(q[i, j])))
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def annotate(motifs: Sequence[Motif | FilterMotif], targets: Sequence[Motif], *, n_best: int = 5,
             trim_motifs: bool = True, min_informative: int = 3) -> pd.DataFrame:
    """TomTom ``motifs`` against ``targets`` (e.g. :func:`load_targets`).

    Each query is first trimmed to its informative core (``pwm.trim``); a query with fewer than
    ``min_informative`` positions over 0.5 bits gets no rows, because TomTom's column distance lets a flat
    matrix "match" the flat spacers of gapped motifs with tiny p-values. Offsets are reported relative to
    the untrimmed query.

    Parameters
    ----------
    motifs
        Query motifs: anything with ``id``, ``name`` and an ``(L, 4)`` ``pwm``, e.g. ``Motif`` from a
        MEME file or the ``FilterMotif`` list of ``extract_filter_motifs`` (named by ``id``, else
        ``name``).
    targets
        Target motifs (``Motif``).
    n_best
        Matches kept per query, by p-value.
    trim_motifs
        Trim each query to its informative core first.
    min_informative
        Queries with fewer positions over 0.5 bits get no rows.

    Returns
    -------
    pd.DataFrame
        ``MATCH_COLUMNS`` rows (:func:`tomtom_table`).

    Raises
    ------
    InputError
        No target motifs, or memelite missing.
    """
    kept, cores, starts = [], [], []
    for m in motifs:
        if int((information_content(m.pwm) > 0.5).sum()) < min_informative:
            continue
        start, end = trim_bounds(m.pwm) if trim_motifs else (0, len(m.pwm))
        kept.append(_motif_id(m))
        cores.append(np.asarray(m.pwm)[start:end])
        starts.append(start)
    if not kept:
        return pd.DataFrame(columns=MATCH_COLUMNS)
    table = tomtom_table(cores, [t.pwm for t in targets], query_names=kept,
                         target_ids=[_motif_id(t) for t in targets],
                         target_names=[t.name for t in targets], n_best=n_best)
    table["offset"] -= table["query"].map(dict(zip(kept, starts, strict=True)))
    return table


def _motif_id(motif: Motif | FilterMotif) -> str:
    """A motif's identifier (a JASPAR matrix id, ``filterK``), or its name when it has none."""
    return str(getattr(motif, "id", None) or motif.name)


@functools.lru_cache(maxsize=8)
def jaspar_targets(collection: str = "CORE", tax_group: str | None = "vertebrates",
                   release: str = "JASPAR2026") -> tuple[Motif, ...]:
    """JASPAR matrices from pyjaspar's bundled database (offline), cached per process.

    Parameters
    ----------
    collection
        JASPAR collection (``CORE``, ``UNVALIDATED``, ...).
    tax_group
        Taxonomic group (None: all).
    release
        Release bundled with pyjaspar.

    Returns
    -------
    tuple[Motif, ...]
        The matrices.
    """
    from seqcnn.seq.jaspar import jaspar_motifs

    return tuple(jaspar_motifs(None, collection=collection, tax_group=tax_group, release=release))


def load_targets(source: str | Path | None = None, *, collection: str = "CORE",
                 tax_group: str | None = "vertebrates", release: str = "JASPAR2026") -> list[Motif]:
    """Target motifs to annotate against.

    Parameters
    ----------
    source
        None or ``"jaspar"`` for JASPAR, else a MEME file.
    collection, tax_group, release
        Which JASPAR matrices (:func:`jaspar_targets`).

    Returns
    -------
    list[Motif]
        The motifs.

    Raises
    ------
    InputError
        No motifs, or an unreadable MEME file.
    """
    if source is None or str(source).lower() == "jaspar":
        targets = list(jaspar_targets(collection, tax_group, release))
    else:
        from seqcnn.seq.meme import read_meme

        targets = read_meme(source)
    if not targets:
        raise InputError("no target motifs to compare against", file=None if source is None else str(source))
    return targets


def best_matches(table: pd.DataFrame) -> pd.DataFrame:
    """The rank-1 row of each query in a match table.

    Parameters
    ----------
    table
        A :func:`tomtom_table` or :func:`annotate` result (``MATCH_COLUMNS``).

    Returns
    -------
    pd.DataFrame
        The rank-1 rows, indexed by query.
    """
    return table[table["rank"] == 1].set_index("query")


BEST_MATCH_FIELDS = ("id", "name", "orientation", "offset", "p_value", "e_value", "q_value")
"""The ``match_*`` columns :func:`best_match_columns` can give, in their usual order."""
_TEXT_FIELDS = {"id": "target_id", "name": "target_name", "orientation": "orientation"}


def best_match_columns(matches: pd.DataFrame, queries: Sequence[str],
                       fields: Sequence[str] = BEST_MATCH_FIELDS) -> list[dict[str, object]]:
    """The ``match_*`` columns of each query's best match, for a summary table.

    Parameters
    ----------
    matches
        A match table (``MATCH_COLUMNS``).
    queries
        Query names, one row each, in this order.
    fields
        Which of ``BEST_MATCH_FIELDS`` to give, as columns ``match_<field>``.

    Returns
    -------
    list[dict[str, object]]
        One dict per query: ``match_<field>`` values of its rank-1 match; None (text and offset) or
        NaN (p-, e- and q-values) for a query without matches.

    Raises
    ------
    ConfigError
        An unknown field.
    """
    unknown = sorted(set(fields) - set(BEST_MATCH_FIELDS))
    if unknown:
        raise ConfigError(f"unknown match field(s) {', '.join(unknown)}; use {', '.join(BEST_MATCH_FIELDS)}")
    best = best_matches(matches)
    rows = []
    for query in queries:
        hit = best.loc[query] if query in best.index else None
        rows.append({f"match_{field}": _match_value(hit, field) for field in fields})
    return rows


def _match_value(hit: pd.Series | None, field: str) -> object:
    if field in _TEXT_FIELDS:
        return None if hit is None else hit[_TEXT_FIELDS[field]]
    if field == "offset":
        return None if hit is None else int(hit["offset"])
    return np.nan if hit is None else float(hit[field])
