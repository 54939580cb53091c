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

from seqcnn.errors import InputError
from seqcnn.io.atomic import atomic_open
from seqcnn.motifs.annotate import MATCH_COLUMNS, annotate, best_matches, load_targets
from seqcnn.motifs.extract import FilterMotif, extract_filter_motifs
from seqcnn.motifs.pwm import consensus, information_content, reverse_complement
from seqcnn.report.html import attribution_section, render_motif_report
from seqcnn.report.logos import logo_pngs
from seqcnn.seq.encode import one_hot
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
        top = int(np.argmax(m.influence)) if m.influence.size else None
        row["top_task"] = None if top is None else tasks[top]
        row["top_task_influence"] = np.nan if top is None else float(m.influence[top])
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


def motif_logos(named_pwms: Sequence[tuple[str, np.ndarray]], matches: pd.DataFrame,
                targets: Sequence[Motif], *, progress: bool = False
                ) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """PNG logos, all drawn in one ``logo_pngs`` call: ``NAME`` and ``NAME_rc`` (reverse complement) of
    every ``(name, pwm)``, and, keyed by query, the logo of each query's best match in ``matches``
    (in the orientation it matched)."""
    jobs, own_keys = [], []
    for name, pwm in named_pwms:
        jobs += [(pwm, name), (reverse_complement(pwm), f"{name} (reverse complement)")]
        own_keys += [name, f"{name}_rc"]
    by_id = {str(t.id or t.name): t for t in targets}
    best = best_matches(matches)
    match_keys: dict[tuple[str, str], int] = {}  # (target, orientation) -> index into jobs
    for _, hit in best.iterrows():
        key = (hit.target_id, hit.orientation)
        if key not in match_keys and hit.target_id in by_id:
            pwm = by_id[hit.target_id].pwm
            match_keys[key] = len(jobs)
            jobs.append((reverse_complement(pwm) if hit.orientation == "-" else pwm,
                         f"{hit.target_id} {hit.target_name} ({hit.orientation})"))
    pngs = logo_pngs(jobs, progress=progress)
    own = dict(zip(own_keys, pngs[:len(own_keys)], strict=True))
    by_query = {name: pngs[match_keys[(hit.target_id, hit.orientation)]] for name, hit in best.iterrows()
                if (hit.target_id, hit.orientation) in match_keys}
    return own, by_query


def _sample_equal_length(records: Sequence[tuple[str, str]], n: int) -> list[int]:
    """Indices of at most ``n`` records (seeded random, in input order) of the most common length."""
    lengths = np.array([len(seq) for _, seq in records])
    values, counts = np.unique(lengths, return_counts=True)
    pool = np.flatnonzero(lengths == values[np.argmax(counts)])
    rng = np.random.default_rng(0)
    return sorted(int(i) for i in rng.choice(pool, min(n, len(pool)), replace=False))


@torch.no_grad()
def _top_records(model: nn.Module, records: Sequence[tuple[str, str]], n: int, *, pool: int = 500,
                 batch_size: int, device: torch.device | str | None) -> list[tuple[str, str, int, float]]:
    """The ``n`` records (of a seeded random ``pool`` of equal length) with the highest score of any task:
    ``(id, seq, task, score)``, scores as ``filter_influence`` reads them."""
    from seqcnn.device import resolve_device
    from seqcnn.motifs.influence import prediction_scale

    chosen = _sample_equal_length(records, pool)
    dev = resolve_device(device)
    model.to(dev).eval()
    scores = []
    for start in range(0, len(chosen), batch_size):
        batch = [records[i][1] for i in chosen[start:start + batch_size]]
        scores.append(prediction_scale(model, model(torch.from_numpy(one_hot(batch)).to(dev))).cpu().numpy())
    best = np.concatenate(scores)
    order = np.argsort(-best.max(axis=1), kind="stable")[:n]
    return [(records[chosen[i]][0], records[chosen[i]][1], int(best[i].argmax()), float(best[i].max()))
            for i in order]


def example_maps(model: nn.Module, records: Sequence[tuple[str, str]], n: int, *, batch_size: int,
                 device: torch.device | str | None) -> tuple[list[tuple[str, bytes]], str | None]:
    """DeepBind-style mutation maps (``seqcnn.interpret.ism`` + ``seqcnn.report.maps``) of the ``n``
    records scored highest, for their top task, as PNGs; a note instead when there are none."""
    if n <= 0:
        return [], "no example sequences requested (--examples 0)"
    from seqcnn.interpret.ism.mutagenesis import ism
    from seqcnn.report.maps import mutation_map_figure

    tasks = list(getattr(getattr(model, "metadata", None), "tasks", None) or [])
    length = len(records[_sample_equal_length(records, 1)[0]][1])
    probe = torch.zeros(1, 4, length, device=next(model.parameters()).device)
    with torch.no_grad():
        is_profile = isinstance(model(probe), dict)
    if is_profile:  # a profile model (BPNet): maps of its counts head
        from seqcnn.models.bpnet import BPNetScalar

        model = BPNetScalar(model, output="counts").eval()
    pngs = []
    for rec_id, seq, task, score in _top_records(model, records, n, batch_size=batch_size, device=device):
        delta = ism(model, [seq], target=task, batch_size=batch_size, device=device).delta[0, :, :, 0]
        name = tasks[task] if task < len(tasks) else f"task{task}"
        fig = mutation_map_figure(delta, seq, title=f"{rec_id}: {name} (score {score:.3g})")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        pngs.append((f"{rec_id} ({name})", buffer.getvalue()))
    return pngs, None


def attribution_motifs(
    model: nn.Module, records: Sequence[tuple[str, str]], n: int, targets: Sequence[Motif], *,
    n_matches: int, batch_size: int, device: torch.device | str | None, progress: bool,
) -> tuple[list[Motif], pd.DataFrame]:
    """Seqlet motifs of the ISM maps of ``n`` records (a seeded random subset), annotated by TomTom."""
    from seqcnn.motifs.seqlets import ism_contributions, seqlet_motifs

    chosen = _sample_equal_length(records, n)
    x, contributions = ism_contributions(model, [records[i][1] for i in chosen], batch_size=batch_size,
                                         device=device, progress=progress)
    clusters = seqlet_motifs(contributions, x)
    motifs = []
    for k, cluster in enumerate(clusters):
        pwm = cluster.pwm()
        motifs.append(Motif(name=consensus(pwm), id=f"seqlet{k}", pwm=pwm, nsites=cluster.n_seqlets))
    matches = annotate(motifs, targets, n_best=n_matches) if motifs else pd.DataFrame(columns=MATCH_COLUMNS)
    return motifs, matches


def attribution_table(motifs: Sequence[Motif], matches: pd.DataFrame) -> pd.DataFrame:
    """One row per seqlet motif: consensus, seqlets, information, best match."""
    best = best_matches(matches)
    rows = []
    for m in motifs:
        hit = best.loc[m.id] if m.id in best.index else None
        rows.append({"motif": m.id, "consensus": m.name, "seqlets": m.nsites,
                     "information_content": round(float(information_content(m.pwm).sum()), 4),
                     "match_id": None if hit is None else hit.target_id,
                     "match_name": None if hit is None else hit.target_name,
                     "match_orientation": None if hit is None else hit.orientation,
                     "match_q_value": np.nan if hit is None else float(hit.q_value)})
    return pd.DataFrame(rows, columns=["motif", "consensus", "seqlets", "information_content", "match_id",
                                       "match_name", "match_orientation", "match_q_value"])


@dataclass
class ReportOptions:
    """Settings of ``motif_report`` (see ``seqcnn motifs --help``).

    ``targets``: None for pyjaspar's ``release``/``collection``/``tax_group`` matrices, else a MEME file.
    ``attribution_sequences``: ISM seqlet motifs from this many sequences (0: none; ISM is slow on CPU).
    """

    method: str = "sites"
    fraction: float = 0.5
    targets: str | Path | None = None
    collection: str = "CORE"
    tax_group: str | None = "vertebrates"
    release: str = "JASPAR2026"
    n_matches: int = 5
    n_examples: int = 3
    attribution_sequences: int = 0
    max_influence_sequences: int | None = 1000
    batch_size: int = 256
    device: torch.device | str | None = None
    progress: bool = False

    @property
    def target_label(self) -> str:
        if self.targets:
            return str(self.targets)
        return f"{self.release} {self.collection} {self.tax_group or 'all taxa'}"


def motif_report(model: nn.Module, records: Sequence[tuple[str, str]], out_dir: str | Path,
                 options: ReportOptions | None = None) -> MotifReport:
    """Extract, annotate and write the motif report of ``model`` over ``records`` ``[(id, seq)]``."""
    opt = options or ReportOptions()
    if len(records) == 0:
        raise InputError("no sequences to find motifs in")
    motifs = extract_filter_motifs(
        model, [r[1] for r in records], ids=[r[0] for r in records], method=opt.method, fraction=opt.fraction,
        max_influence_sequences=opt.max_influence_sequences, batch_size=opt.batch_size, device=opt.device,
        progress=opt.progress)
    targets = load_targets(opt.targets, collection=opt.collection, tax_group=opt.tax_group,
                           release=opt.release)
    matches = annotate(as_meme_motifs(motifs), targets, n_best=opt.n_matches)
    table = summary_table(motifs, matches, _task_names(model, motifs[0].influence.size))
    logos, matched = motif_logos([(m.name, m.pwm) for m in motifs], matches, targets, progress=opt.progress)
    extra, outputs = [], {"filters.meme": as_meme_motifs(motifs), "table.tsv": table, "matches.tsv": matches}
    if opt.attribution_sequences > 0:
        extra.append(_attribution_part(model, records, targets, opt, logos, outputs))
    maps, maps_note = example_maps(model, records, opt.n_examples, batch_size=opt.batch_size,
                                   device=opt.device)
    info = {"model": getattr(getattr(model, "metadata", None), "architecture", type(model).__name__),
            "sequences": len(records), "method": opt.method, "fraction": opt.fraction,
            "targets": f"{opt.target_label} ({len(targets)} motifs)"}
    document = render_motif_report(table, logos, matched, influence_png(motifs), maps,
                                   maps_note=maps_note, info=info, extra_sections=extra)
    files = _write(Path(out_dir), outputs, logos, document)
    return MotifReport(motifs, matches, table, files)


def _attribution_part(model: nn.Module, records: Sequence[tuple[str, str]], targets: Sequence[Motif],
                      opt: ReportOptions, logos: dict[str, bytes], outputs: dict[str, object]) -> str:
    """ISM seqlet motifs: adds their logos and output files; returns the HTML section."""
    motifs, matches = attribution_motifs(model, records, opt.attribution_sequences, targets,
                                         n_matches=opt.n_matches, batch_size=opt.batch_size,
                                         device=opt.device, progress=opt.progress)
    table = attribution_table(motifs, matches)
    own, matched = motif_logos([(m.id, m.pwm) for m in motifs], matches, targets)
    logos.update(own)
    outputs.update({"attribution.meme": motifs, "attribution.tsv": table})
    return attribution_section(table, own, matched,
                               n_sequences=min(opt.attribution_sequences, len(records)))


def _write(out: Path, outputs: dict[str, object], logos: dict[str, bytes], document: str) -> dict[str, Path]:
    """Write every output (MEME motif lists, TSV tables, logos, the page) atomically into ``out``."""
    (out / "logos").mkdir(parents=True, exist_ok=True)
    files = {"html": out / "report.html", "logos": out / "logos"}
    for name, value in outputs.items():
        files[name] = out / name
        if name.endswith(".meme"):
            write_meme(value, files[name])
            continue
        with atomic_open(files[name], "w", encoding="utf-8", newline="") as handle:
            value.to_csv(handle, sep="\t", index=False, float_format="%.6g")
    for name, png in logos.items():
        with atomic_open(out / "logos" / f"{name}.png", "wb") as handle:
            handle.write(png)
    with atomic_open(files["html"], "w", encoding="utf-8") as handle:
        handle.write(document)
    return files
