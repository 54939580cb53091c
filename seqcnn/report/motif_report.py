"""The motif report of a trained model: filters as motifs, annotated against JASPAR, written as
``filters.meme``, ``table.tsv``, ``matches.tsv``, ``logos/`` and a self-contained ``report.html``.

Everything is computed before anything is written, so bad input leaves no partial report behind.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn

from seqcnn.atomic import atomic_open
from seqcnn.errors import InputError
from seqcnn.motifs.annotate import annotate, best_matches, load_targets
from seqcnn.motifs.extract import FilterMotif, extract_filter_motifs
from seqcnn.motifs.pwm import reverse_complement
from seqcnn.progress import progress_bar
from seqcnn.report.html import render_motif_report
from seqcnn.report.logos import logo_png
from seqcnn.seq.meme import Motif, write_meme

Q_THRESHOLD = 0.05


@dataclass
class MotifReport:
    """What ``motif_report`` found and wrote: filter motifs, TomTom matches, the summary table, paths."""

    motifs: list[FilterMotif]
    matches: pd.DataFrame
    table: pd.DataFrame
    files: dict[str, Path]

    @property
    def fraction_matched(self) -> float:
        """Fraction of filters whose best JASPAR match has q < 0.05."""
        return float((self.table["match_q_value"] < Q_THRESHOLD).mean()) if len(self.table) else 0.0


def as_meme_motifs(motifs: Sequence[FilterMotif]) -> list[Motif]:
    """``FilterMotif`` -> ``seqcnn.seq.meme.Motif`` (identifier ``filterK``, consensus as its name)."""
    return [Motif(name=m.consensus, id=m.name, pwm=m.pwm, nsites=m.nsites) for m in motifs]


def summary_table(motifs: Sequence[FilterMotif], matches: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """One row per filter: consensus, information, sites, influence (mean and per task), best match."""
    best = best_matches(matches)
    rows = []
    for m in motifs:
        row = {"filter": m.name, "consensus": m.consensus, "core_consensus": m.consensus[slice(*m.core)],
               "information_content": round(m.information, 4), "sites": m.nsites,
               "influence": m.mean_influence}
        for task, value in zip(tasks, m.influence, strict=False):
            row[f"influence_{task}"] = float(value)
        hit = best.loc[m.name] if m.name in best.index else None
        row.update({
            "match_id": None if hit is None else hit.target_id,
            "match_name": None if hit is None else hit.target_name,
            "match_orientation": None if hit is None else hit.orientation,
            "match_offset": None if hit is None else int(hit.offset),
            "match_p_value": np.nan if hit is None else float(hit.p_value),
            "match_e_value": np.nan if hit is None else float(hit.e_value),
            "match_q_value": np.nan if hit is None else float(hit.q_value),
        })
        rows.append(row)
    return pd.DataFrame(rows)


def _task_names(model: nn.Module, n_tasks: int) -> list[str]:
    tasks = list(getattr(getattr(model, "metadata", None), "tasks", None) or [])
    return tasks if len(tasks) == n_tasks else [f"task{t}" for t in range(n_tasks)]


def influence_png(motifs: Sequence[FilterMotif], *, top: int = 30) -> bytes | None:
    """Bar chart of the ``top`` filters by mean influence (PNG), or None without influence values."""
    ranked = sorted((m for m in motifs if m.influence.size), key=lambda m: -m.mean_influence)[:top]
    if not ranked:
        return None
    fig = Figure(figsize=(max(4.0, 0.28 * len(ranked) + 1.2), 2.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(range(len(ranked)), [m.mean_influence for m in ranked], color="#4477aa")
    labels = [m.name.removeprefix("filter") for m in ranked]
    ax.set_xticks(range(len(ranked)), labels, fontsize=7, rotation=90)
    ax.set_xlabel("filter", fontsize=8)
    ax.set_ylabel("mean prediction drop", fontsize=8)
    ax.axhline(0, color="black", linewidth=0.5)
    fig.tight_layout(pad=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _logos(motifs: Sequence[FilterMotif], matches: pd.DataFrame, targets: Sequence[Motif],
           progress: bool) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """PNG logos: ``filterK`` and ``filterK_rc`` of every filter, and each best match in its matched
    orientation (keyed by filter name)."""
    by_id = {str(t.id or t.name): t for t in targets}
    own: dict[str, bytes] = {}
    for m in progress_bar(motifs, enabled=progress, desc="logos"):
        own[m.name] = logo_png(m.pwm, title=m.name)
        own[f"{m.name}_rc"] = logo_png(reverse_complement(m.pwm), title=f"{m.name} (reverse complement)")
    best, cache, matched = best_matches(matches), {}, {}
    for name, hit in best.iterrows():
        key = (hit.target_id, hit.orientation)
        if key not in cache and hit.target_id in by_id:
            pwm = by_id[hit.target_id].pwm
            cache[key] = logo_png(reverse_complement(pwm) if hit.orientation == "-" else pwm,
                                  title=f"{hit.target_id} {hit.target_name} ({hit.orientation})")
        if key in cache:
            matched[name] = cache[key]
    return own, matched


def example_maps(model: nn.Module, records: Sequence[tuple[str, str]], n: int, *, batch_size: int,
                 device: torch.device | str | None) -> tuple[list[tuple[str, bytes]], str | None]:
    """Mutation maps (ISM) of the ``n`` records the model scores highest, as PNGs; with a note when
    they cannot be made (no interpret/report.maps modules, or ``n`` is 0)."""
    if n <= 0:
        return [], "no example sequences requested"
    try:
        from seqcnn.interpret.ism import ism  # noqa: F401
        from seqcnn.report import maps  # noqa: F401
    except ImportError:
        return [], "mutation maps need seqcnn.interpret.ism and seqcnn.report.maps (not installed)"
    return [], "mutation maps: not wired yet"


def motif_report(
    model: nn.Module, records: Sequence[tuple[str, str]], out_dir: str | Path, *, method: str = "sites",
    fraction: float = 0.5, targets: str | Path | None = None, collection: str = "CORE",
    tax_group: str | None = "vertebrates", release: str = "JASPAR2026", n_matches: int = 5,
    n_examples: int = 3, max_influence_sequences: int | None = 1000, batch_size: int = 256,
    device: torch.device | str | None = None, progress: bool = False,
) -> MotifReport:
    """Extract, annotate and write the motif report of ``model`` over ``records`` ``[(id, seq)]``.

    ``targets``: None for pyjaspar's ``release``/``collection``/``tax_group`` matrices, else a MEME file.
    """
    if len(records) == 0:
        raise InputError("no sequences to find motifs in")
    ids, seqs = [r[0] for r in records], [r[1] for r in records]
    motifs = extract_filter_motifs(model, seqs, ids=ids, method=method, fraction=fraction,
                                   max_influence_sequences=max_influence_sequences, batch_size=batch_size,
                                   device=device, progress=progress)
    target_motifs = load_targets(targets, collection=collection, tax_group=tax_group, release=release)
    matches = annotate(as_meme_motifs(motifs), target_motifs, n_best=n_matches)
    table = summary_table(motifs, matches, _task_names(model, motifs[0].influence.size))
    own_logos, match_logos = _logos(motifs, matches, target_motifs, progress)
    maps, maps_note = example_maps(model, records, n_examples, batch_size=batch_size, device=device)
    source = str(targets) if targets else f"{release} {collection} {tax_group or 'all taxa'}"
    info = {"model": getattr(getattr(model, "metadata", None), "architecture", type(model).__name__),
            "sequences": len(records), "method": method, "fraction": fraction,
            "targets": f"{source} ({len(target_motifs)} motifs)"}
    document = render_motif_report(table, own_logos, match_logos, influence_png(motifs), maps,
                                   maps_note=maps_note, info=info)
    files = _write(Path(out_dir), motifs, matches, table, own_logos, document)
    return MotifReport(motifs, matches, table, files)


def _write(out: Path, motifs: Sequence[FilterMotif], matches: pd.DataFrame, table: pd.DataFrame,
           logos: dict[str, bytes], document: str) -> dict[str, Path]:
    """Write every output file atomically into ``out`` (created, parents too)."""
    (out / "logos").mkdir(parents=True, exist_ok=True)
    files = {"meme": out / "filters.meme", "table": out / "table.tsv", "matches": out / "matches.tsv",
             "html": out / "report.html", "logos": out / "logos"}
    write_meme(as_meme_motifs(motifs), files["meme"])
    for key, frame in (("table", table), ("matches", matches)):
        with atomic_open(files[key], "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, sep="\t", index=False, float_format="%.6g")
    for name, png in logos.items():
        with atomic_open(out / "logos" / f"{name}.png", "wb") as handle:
            handle.write(png)
    with atomic_open(files["html"], "w", encoding="utf-8") as handle:
        handle.write(document)
    return files
