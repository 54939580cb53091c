"""Which planted motifs a model's motifs recovered: the one definition ``seqcnn demo`` and the benchmarks use.

A planted motif is *recovered* when some query motif (a first-layer filter, a TF-MoDISco pattern) has,
among its ``top`` best TomTom matches (5: what ``seqcnn motifs`` shows by default), a match with
q < 0.05 that is

1. the planted matrix itself, or
2. another matrix of the same TF (JASPAR often holds several per factor), or
3. a matrix TomTom cannot tell from the planted one: the planted matrix, queried against the same
   targets, matches it with E-value < 0.01 (p-value x number of targets, as MEME's Tomtom).

Rule 3 exists because JASPAR holds dozens of near-identical matrices of some families (homeobox TAAT,
forkhead, AP-1, T-box): a filter that learnt a planted HOXB2 site (TAATKR) may rank HOXA5, PDX1, HOXB8,
... above HOXB2 itself, each of which HOXB2 matches with p < 1e-5. The threshold was chosen on all
pairs of the 1,019 JASPAR2026 CORE vertebrate matrices (docs/benchmarks.md, "Training on motif sets it
was not tuned on"): at E < 0.01 (p < 9.8e-6), 94.8% of the pairs of different TFs that pass share their
structural class, 3.5e-4 of the pairs of different classes pass, and 0.21% of the pairs of unrelated
KZFP-type zinc fingers ("more than 3 adjacent zinc fingers") do; HOXB2 queried against HOXA2 gives
p = 5.3e-6 (E = 5.4e-3).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from seqcnn.errors import ConfigError
from seqcnn.motifs.annotate import compare, load_targets
from seqcnn.seq.meme import Motif

RECOVERY_Q = 0.05
"""A match counts only with TomTom q-value below this."""
RECOVERY_TOP = 5
"""A match counts only among a query's best this many (``seqcnn motifs --matches`` default)."""
EQUIVALENCE_E = 0.01
"""A target is equivalent to a planted motif when the planted motif matches it with E-value below this."""
RULES = ("exact", "same_tf", "equivalent")
"""``exact``: the planted matrix; ``same_tf``: or one of its TF; ``equivalent``: or one TomTom cannot tell."""


def equivalent_matrices(planted: Sequence[Motif], targets: Sequence[Motif], *,
                        e_value: float = EQUIVALENCE_E) -> list[set[str]]:
    """The target matrices TomTom cannot tell from each planted motif.

    The planted ``(L, 4)`` matrix is the query and ``targets`` are both the candidates and TomTom's
    background (memelite builds each query column's null from every target column, so the p-values
    are those of a search of the planted motif against the whole target database).

    Parameters
    ----------
    planted
        The planted motifs.
    targets
        The target matrices the matches were made against (e.g. JASPAR, ``load_targets``).
    e_value
        Equivalent when p-value x ``len(targets)`` is below this.

    Returns
    -------
    list[set[str]]
        For each planted motif, the ids of its equivalent targets (its own matrix among them when
        ``targets`` holds it).
    """
    if not planted:
        return []
    p = compare([m.pwm for m in planted], [t.pwm for t in targets])["p_value"]  # (P, T)
    e = np.nan_to_num(p, nan=1.0) * len(targets)
    return [{str(targets[j].id or targets[j].name) for j in np.flatnonzero(row < e_value)} for row in e]


def recovered_motifs(matches: pd.DataFrame, planted: Sequence[Motif], targets: Sequence[Motif] | None = None,
                     *, rule: str = "equivalent", q: float = RECOVERY_Q, top: int | None = RECOVERY_TOP,
                     e_value: float = EQUIVALENCE_E) -> list[str]:
    """Names of the planted motifs some query recovered (module docstring).

    Parameters
    ----------
    matches
        Query matches (``MATCH_COLUMNS``, e.g. ``motif_report(...).matches``), ranked per query.
    planted
        The planted motifs (their ``id`` is the JASPAR matrix id).
    targets
        The targets ``matches`` were made against; None: JASPAR2026 CORE vertebrates (``load_targets``,
        the default of ``seqcnn motifs``). Read only by the ``equivalent`` rule.
    rule
        ``exact`` (the planted matrix), ``same_tf`` (or a matrix of the same TF), ``equivalent``
        (or a matrix TomTom cannot tell from the planted one; the default and the documented figure).
    q
        A match counts with q-value below this.
    top
        A match counts among its query's best ``top`` (None: at any rank).
    e_value
        Equivalence threshold (:func:`equivalent_matrices`).

    Returns
    -------
    list[str]
        Names of the recovered planted motifs, in ``planted`` order.

    Raises
    ------
    ConfigError
        An unknown rule.
    """
    if rule not in RULES:
        raise ConfigError(f"unknown recovery rule {rule!r}; use {', '.join(RULES)}")
    hits = matches.loc[matches["q_value"] < q]
    if top is not None:
        hits = hits.loc[hits["rank"] <= top]
    ids = set(hits["target_id"].astype(str))
    names = set(hits["target_name"].astype(str).str.upper())
    found = [m.id in ids or (rule != "exact" and m.name.upper() in names) for m in planted]
    if rule == "equivalent" and not all(found) and not hits.empty:
        targets = load_targets(None) if targets is None else targets
        missing = [i for i, f in enumerate(found) if not f]
        for i, equivalent in zip(missing, equivalent_matrices([planted[i] for i in missing], targets,
                                                              e_value=e_value), strict=True):
            found[i] = bool(equivalent & ids)
    return [m.name for m, f in zip(planted, found, strict=True) if f]
