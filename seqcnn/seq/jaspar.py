"""Offline access to the JASPAR matrices shipped inside pyjaspar (no network).

Motifs come back as :class:`seqcnn.seq.meme.Motif` with ``id`` = JASPAR matrix id and
``name`` = TF name; ``pwm`` is the count matrix normalised per position (no pseudocounts).
An unknown release, matrix id or TF name is a bad argument (:class:`~seqcnn.errors.ConfigError`,
with close matches for names).
"""

from __future__ import annotations

import difflib
import functools
import re
import warnings
from collections.abc import Sequence

import numpy as np

from seqcnn.errors import ConfigError
from seqcnn.seq.meme import Motif

# A dozen well-known vertebrate TFs with distinct, informative motifs (pinned versions, so
# simulated data sets do not change with the database). GATA3's matrix is the canonical
# WGATAR site (JASPAR2026's GATA1 matrix MA0035.5 is not).
DEFAULT_MOTIFS: tuple[str, ...] = (
    "MA0139.2",  # CTCF
    "MA0037.5",  # GATA3
    "MA0080.7",  # Spi1 (PU.1)
    "MA0466.4",  # CEBPB
    "MA0148.5",  # FOXA1
    "MA0114.5",  # HNF4A
    "MA0138.3",  # REST
    "MA0506.3",  # Nrf1
    "MA0095.4",  # Yy1
    "MA0106.3",  # TP53
    "MA0058.4",  # MAX
    "MA0079.5",  # SP1
)
"""Pinned JASPAR matrix ids planted by :func:`seqcnn.seq.simulate.simulate_dataset` by default."""

_MATRIX_ID = re.compile(r"^[A-Z]{2}\d{4}(\.\d+)?$")


@functools.lru_cache(maxsize=4)
def _database(release: str):
    import pyjaspar  # imported on use: it opens a bundled SQLite file

    known = list(getattr(pyjaspar, "jaspar_releases", ()))
    if known and release not in known:  # pyjaspar only prints a message and has no connection
        raise ConfigError(f"JASPAR release {release!r} is not available in pyjaspar; "
                          f"choose from {', '.join(known)}")
    try:
        return pyjaspar.jaspardb(release=release)
    except Exception as exc:  # pyjaspar raises plain Exceptions for unknown releases
        raise ConfigError(f"JASPAR release {release!r} is not available in pyjaspar: {exc}") from None


def _to_motif(jaspar_motif) -> Motif:
    counts = np.array([jaspar_motif.counts[b] for b in "ACGT"], dtype=np.float64).T  # (L, 4)
    nsites = int(round(counts[0].sum()))
    return Motif(name=jaspar_motif.name, id=jaspar_motif.matrix_id,
                 pwm=counts / counts.sum(axis=1, keepdims=True), nsites=nsites)


def _by_name(db, name: str, collection: str, tax_group: str | None, release: str):
    """The motif for a TF name: exact (case-insensitive) name in the collection and group.

    Several matrices for one TF (e.g. CTCF MA0139, MA1929, MA1930): the lowest matrix id, which
    is the original, canonical one.
    """
    with warnings.catch_warnings():  # pyjaspar warns when a name has no match
        warnings.simplefilter("ignore")
        candidates = db.fetch_motifs_by_name(name)
    hits = [m for m in candidates
            if m.name.upper() == name.upper() and m.collection == collection
            and (tax_group is None or m.tax_group == tax_group)]
    if not hits:
        names = _names(db, collection, tax_group)
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        close += [n for n in names if n.upper() == name.upper()][:1]
        hint = f"; did you mean {', '.join(dict.fromkeys(close))}?" if close else ""
        group = f" {tax_group}" if tax_group else ""
        raise ConfigError(f"no JASPAR {collection}{group} motif named {name!r}{hint}")
    return min(hits, key=lambda m: m.matrix_id)


def _names(db, collection: str, tax_group: str | None) -> list[str]:
    """TF names of a collection, straight from pyjaspar's SQLite file (building motifs is slow)."""
    if tax_group is None:
        query, args = "SELECT DISTINCT NAME FROM MATRIX WHERE COLLECTION = ?", (collection,)
    else:
        query = ("SELECT DISTINCT m.NAME FROM MATRIX m JOIN MATRIX_ANNOTATION a ON a.ID = m.ID "
                 "WHERE m.COLLECTION = ? AND a.TAG = 'tax_group' AND a.VAL = ?")
        args = (collection, tax_group)
    try:
        return sorted(row[0] for row in db.conn.execute(query, args))
    except Exception:  # another pyjaspar schema: fall back to the (slow) public API
        return sorted({m.name for m in _collection(db.release, collection, tax_group)})


@functools.lru_cache(maxsize=4)
def _collection(release: str, collection: str, tax_group: str | None) -> tuple[Motif, ...]:
    """Every latest-version motif of a collection (cached: reading ~1000 matrices takes seconds)."""
    found = _database(release).fetch_motifs(collection=collection, tax_group=tax_group,
                                            all_versions=False)
    return tuple(_to_motif(m) for m in sorted(found, key=lambda m: m.matrix_id))


def jaspar_motifs(
    ids_or_names: Sequence[str] | str | None = None,
    *,
    collection: str = "CORE",
    tax_group: str | None = "vertebrates",
    release: str = "JASPAR2026",
) -> list[Motif]:
    """JASPAR motifs by matrix id or TF name, from the database bundled with pyjaspar (offline).

    Parameters
    ----------
    ids_or_names
        Matrix ids (``MA0139.2``; without a version: the latest) or TF names (``CTCF``, any case;
        a TF with several matrices gives the lowest matrix id), as a list or a comma-separated
        string. None: every motif of the collection (latest versions).
    collection
        JASPAR collection searched for names and listed for None (``CORE``, ``UNVALIDATED``, ...).
    tax_group
        Taxonomic group searched for names and listed for None (``vertebrates``, ``plants``, ...);
        None for every group.
    release
        The JASPAR release (pyjaspar's name, e.g. ``JASPAR2026``).

    Returns
    -------
    list[Motif]
        One motif per id or name, in the order asked; ``pwm`` ``(L, 4)`` is the count matrix
        normalised per position, ``nsites`` its number of sites.

    Raises
    ------
    ConfigError
        An unknown release, matrix id or name (naming close matches).
    """
    if ids_or_names is None:
        return [Motif(name=m.name, id=m.id, pwm=m.pwm.copy(), nsites=m.nsites)
                for m in _collection(release, collection, tax_group)]
    db = _database(release)
    if isinstance(ids_or_names, str):
        ids_or_names = [s for s in (p.strip() for p in ids_or_names.split(",")) if s]
    motifs = []
    for key in ids_or_names:
        if _MATRIX_ID.match(key):
            with warnings.catch_warnings():  # pyjaspar warns before returning None
                warnings.simplefilter("ignore")
                found = db.fetch_motif_by_id(key)
            if found is None:
                raise ConfigError(f"no JASPAR matrix with id {key!r} in {release}")
        else:
            found = _by_name(db, key, collection, tax_group, release)
        motifs.append(_to_motif(found))
    return motifs


def random_jaspar_motifs(
    k: int,
    *,
    seed: int = 0,
    max_width: int | None = None,
    collection: str = "CORE",
    tax_group: str | None = "vertebrates",
    release: str = "JASPAR2026",
) -> list[Motif]:
    """A seeded random draw of ``k`` motifs with distinct TF names from a JASPAR collection.

    Every latest-version matrix of the collection is equally likely (short, low-information
    motifs included), so a draw is the kind of motif set a new user brings, not a hand-picked
    one. The draw is a function of ``seed``, ``release`` and the other filters only.

    Parameters
    ----------
    k
        Number of motifs (at least 1).
    seed
        Seed of the draw.
    max_width
        Leave out matrices wider than this (None: no limit).
    collection, tax_group, release
        As for :func:`jaspar_motifs`.

    Returns
    -------
    list[Motif]
        ``k`` motifs in matrix-id order, no two with the same TF name (case-insensitive).

    Raises
    ------
    ConfigError
        ``k`` below 1 or more than the collection holds with distinct names.
    """
    pool = [m for m in _collection(release, collection, tax_group)
            if max_width is None or len(m.pwm) <= max_width]
    by_name: dict[str, Motif] = {}
    for motif in pool:  # matrix-id order: the first matrix of each TF name
        by_name.setdefault(motif.name.upper(), motif)
    distinct = list(by_name.values())
    if not 1 <= k <= len(distinct):
        raise ConfigError(f"cannot draw {k} motifs: the {collection} {tax_group or 'all'} collection "
                          f"holds {len(distinct)} distinct TF names (within the width limit)")
    chosen = np.random.default_rng(seed).choice(len(distinct), size=k, replace=False)
    return [Motif(name=m.name, id=m.id, pwm=m.pwm.copy(), nsites=m.nsites)
            for m in (distinct[i] for i in sorted(chosen))]
