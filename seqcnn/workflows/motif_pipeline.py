"""The motif report of a trained model: filters as motifs, annotated against JASPAR, written as
``filters.meme``, ``table.tsv``, ``matches.tsv``, ``logos/`` and a self-contained ``report.html``.

Everything is computed before anything is written, so bad input leaves no partial report behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqcnn._common import is_profile_output, metadata_of, model_device, preserved, task_names
from seqcnn.errors import InputError
from seqcnn.io.atomic import atomic_open
from seqcnn.motifs.annotate import MATCH_COLUMNS, annotate, best_match_columns, load_targets
from seqcnn.motifs.extract import FilterMotif, extract_filter_motifs
from seqcnn.motifs.pwm import consensus, information_content
from seqcnn.report.charts import figure_png, influence_figure
from seqcnn.report.html import attribution_section, render_motif_report
from seqcnn.report.logos import motif_logo_pngs
from seqcnn.report.maps import mutation_map_figure
from seqcnn.score.scoring import predict
from seqcnn.seq.meme import Motif, write_meme

if TYPE_CHECKING:
    from seqcnn.workflows.modisco_report import ModiscoOptions, ModiscoPart

Q_THRESHOLD = 0.05


@dataclass
class MotifReport:
    """What :func:`motif_report` found and wrote.

    Attributes
    ----------
    motifs
        One motif per first-layer filter.
    matches
        Their TomTom matches (``MATCH_COLUMNS``).
    table
        The summary table (:func:`summary_table`).
    files
        Paths written, by name (``html``, ``logos``, ``filters.meme``, ``table.tsv``, ...).
    """

    motifs: list[FilterMotif]
    matches: pd.DataFrame
    table: pd.DataFrame
    files: dict[str, Path]

    @property
    def fraction_matched(self) -> float:
        """Fraction of filters whose best match has q < 0.05."""
        return float((self.table["match_q_value"] < Q_THRESHOLD).mean()) if len(self.table) else 0.0


def as_meme_motifs(motifs: Sequence[FilterMotif]) -> list[Motif]:
    """Filter motifs as MEME motifs, for writing a MEME file.

    Parameters
    ----------
    motifs
        Filter motifs.

    Returns
    -------
    list[Motif]
        Identifier ``filterK``, the consensus as name, the matrix and site count.
    """
    return [Motif(name=m.consensus, id=m.name, pwm=m.pwm, nsites=m.nsites) for m in motifs]


def summary_table(motifs: Sequence[FilterMotif], matches: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """One row per filter: consensus, information, sites, influence (mean and per task), best match.

    Parameters
    ----------
    motifs
        The filter motifs.
    matches
        Their TomTom matches (``MATCH_COLUMNS``).
    tasks
        Task names, one per influence value.

    Returns
    -------
    pd.DataFrame
        ``filter``, ``consensus``, ``core_consensus``, ``information_content``, ``sites``, ``influence``,
        ``top_task``, ``top_task_influence``, ``influence_<task>`` ..., ``match_id`` ... ``match_q_value``.
    """
    best = best_match_columns(matches, [m.name for m in motifs])
    rows = []
    for m, hit in zip(motifs, best, strict=True):
        row = {"filter": m.name, "consensus": m.consensus, "core_consensus": m.consensus[slice(*m.core)],
               "information_content": round(m.information, 4), "sites": m.nsites,
               "influence": m.mean_influence}
        top = int(np.argmax(m.influence)) if m.influence.size else None
        row["top_task"] = None if top is None else tasks[top]
        row["top_task_influence"] = np.nan if top is None else float(m.influence[top])
        for task, value in zip(tasks, m.influence, strict=False):
            row[f"influence_{task}"] = float(value)
        row.update(hit)
        rows.append(row)
    return pd.DataFrame(rows)


def influence_png(motifs: Sequence[FilterMotif], *, top: int = 30) -> bytes | None:
    """Bar chart (PNG) of the ``top`` filters by mean influence, or None without influence values.

    Parameters
    ----------
    motifs
        The filter motifs.
    top
        How many filters to show.

    Returns
    -------
    bytes | None
        The PNG, or None.
    """
    ranked = sorted((m for m in motifs if m.influence.size), key=lambda m: -m.mean_influence)[:top]
    if not ranked:
        return None
    return figure_png(influence_figure([m.name for m in ranked], [m.mean_influence for m in ranked]))


def sample_equal_length(records: Sequence[tuple[str, str]], n: int) -> list[int]:
    """Indices of at most ``n`` records (seeded random, in input order) of the most common length."""
    lengths = np.array([len(seq) for _, seq in records])
    values, counts = np.unique(lengths, return_counts=True)
    pool = np.flatnonzero(lengths == values[np.argmax(counts)])
    rng = np.random.default_rng(0)
    return sorted(int(i) for i in rng.choice(pool, min(n, len(pool)), replace=False))


def _top_records(model: nn.Module, records: Sequence[tuple[str, str]], n: int, *, pool: int = 500,
                 batch_size: int | None, device: torch.device | str | None,
                 ) -> list[tuple[str, str, str, int, float]]:
    """The ``n`` records (of a seeded random ``pool`` of equal length) with the highest score of any task,
    as ``seqcnn.score.scoring.predict`` scores them: ``(id, seq, task name, task, score)``."""
    chosen = sample_equal_length(records, pool)
    best = predict(model, [records[i][1] for i in chosen], batch_size=batch_size, device=device)
    names = task_names(model, best.shape[1])
    top = best.argmax(axis=1)
    order = np.argsort(-best.max(axis=1), kind="stable")[:n]
    return [(records[chosen[i]][0], records[chosen[i]][1], names[top[i]], int(top[i]), float(best[i].max()))
            for i in order]


def example_maps(model: nn.Module, records: Sequence[tuple[str, str]], n: int, *, batch_size: int | None,
                 device: torch.device | str | None) -> tuple[list[tuple[str, bytes]], str | None]:
    """DeepBind-style mutation maps of the ``n`` records scored highest, for their top task.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs or a profile model (maps of its ``counts`` head); given back
        as it was.
    records
        ``(id, sequence)`` pairs.
    n
        How many maps.
    batch_size, device
        As for ``seqcnn.score.scoring.predict`` and ``seqcnn.interpret.ism.ism``.

    Returns
    -------
    tuple[list[tuple[str, bytes]], str | None]
        ``(label, PNG)`` per map, and a note instead when there are none.
    """
    if n <= 0:
        return [], "no example sequences requested (--examples 0)"
    from seqcnn.interpret.ism import ism

    with preserved(model, device) as m:
        length = len(records[sample_equal_length(records, 1)[0]][1])
        with torch.no_grad():
            is_profile = is_profile_output(m(torch.zeros(1, 4, length, device=model_device(m))))
        scalar = m
        if is_profile:  # a profile model (BPNet): maps of its counts head
            from seqcnn.models.bpnet import BPNetScalar

            scalar = BPNetScalar(m, output="counts").eval()
        pngs = []
        for rec_id, seq, name, task, score in _top_records(m, records, n, batch_size=batch_size,
                                                           device=device):
            delta = ism(scalar, [seq], target=task, batch_size=batch_size, device=device).delta[0, :, :, 0]
            fig = mutation_map_figure(delta, seq, title=f"{rec_id}: {name} (score {score:.3g})")
            pngs.append((f"{rec_id} ({name})", figure_png(fig)))
    return pngs, None


def attribution_motifs(
    model: nn.Module, records: Sequence[tuple[str, str]], n: int, targets: Sequence[Motif], *,
    n_matches: int, batch_size: int | None, device: torch.device | str | None, progress: bool,
) -> tuple[list[Motif], pd.DataFrame]:
    """Seqlet motifs of the ISM maps of ``n`` records (a seeded random subset), annotated by TomTom.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was.
    records
        ``(id, sequence)`` pairs (the most common length is used).
    n
        Sequences to run ISM on.
    targets
        Motifs to match against.
    n_matches
        Matches kept per motif.
    batch_size, device, progress
        As for ``seqcnn.interpret.ism.ism``.

    Returns
    -------
    tuple[list[Motif], pd.DataFrame]
        Motifs ``seqletK`` (consensus as name) and their matches (``MATCH_COLUMNS``).
    """
    from seqcnn.motifs.seqlets import ism_contributions, seqlet_motifs

    chosen = sample_equal_length(records, n)
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
    """One row per seqlet motif: consensus, seqlets, information, best match.

    Parameters
    ----------
    motifs
        Seqlet motifs (``id`` ``seqletK``, consensus as ``name``).
    matches
        Their TomTom matches (``MATCH_COLUMNS``).

    Returns
    -------
    pd.DataFrame
        ``motif``, ``consensus``, ``seqlets``, ``information_content``, ``match_id``, ``match_name``,
        ``match_orientation``, ``match_q_value``.
    """
    best = best_match_columns(matches, [m.id for m in motifs], ("id", "name", "orientation", "q_value"))
    rows = [{"motif": m.id, "consensus": m.name, "seqlets": m.nsites,
             "information_content": round(float(information_content(m.pwm).sum()), 4), **hit}
            for m, hit in zip(motifs, best, strict=True)]
    return pd.DataFrame(rows, columns=["motif", "consensus", "seqlets", "information_content", "match_id",
                                       "match_name", "match_orientation", "match_q_value"])


@dataclass
class ReportOptions:
    """Settings of :func:`motif_report` (see ``seqcnn motifs --help``).

    Attributes
    ----------
    method, fraction
        How filter motifs are made (``seqcnn.motifs.extract.extract_filter_motifs``).
    targets
        None for pyjaspar's ``release``/``collection``/``tax_group`` matrices, else a MEME file.
    collection, tax_group, release
        Which JASPAR matrices.
    n_matches
        TomTom matches kept per motif.
    n_examples
        Mutation maps of this many top-scoring sequences.
    attribution_sequences
        ISM seqlet motifs from this many sequences (0: none; ISM is slow on CPU); with ``attribution``,
        TF-MoDISco's sequences (0: 2000).
    attribution
        ``deeplift`` or ``ism``: TF-MoDISco patterns of these contributions instead of ISM seqlet
        motifs (``seqcnn.workflows.modisco_report``), written into ``modisco/``; None: none.
    max_influence_sequences
        Sequences used for filter influence.
    batch_size, device, progress
        The keyword tail every library call shares (None: automatic).
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
    attribution: str | None = None
    max_influence_sequences: int | None = 1000
    batch_size: int | None = None
    device: torch.device | str | None = None
    progress: bool = False

    @property
    def target_label(self) -> str:
        """The targets as the report names them."""
        return target_label(self)


def target_label(options: ReportOptions | ModiscoOptions) -> str:
    """Targets as a report names them: the MEME file, or the JASPAR release, collection and taxon."""
    if options.targets:
        return str(options.targets)
    return f"{options.release} {options.collection} {options.tax_group or 'all taxa'}"


def motif_report(model: nn.Module, records: Sequence[tuple[str, str]], out_dir: str | Path,
                 options: ReportOptions | None = None) -> MotifReport:
    """Extract, annotate and write the motif report of ``model`` over ``records``.

    Everything is computed before anything is written, so bad input leaves no partial report.

    Parameters
    ----------
    model
        A model whose first convolution takes one-hot DNA; given back as it was (device, mode,
        ``requires_grad``).
    records
        ``(id, sequence)`` pairs.
    out_dir
        The report's folder (created).
    options
        Settings (:class:`ReportOptions`; default: its defaults).

    Returns
    -------
    MotifReport
        The motifs, matches, summary table and the files written.

    Raises
    ------
    InputError
        No sequences, sequences too short for the filters, or a model without a 4-channel first
        convolution.
    """
    opt = options or ReportOptions()
    if len(records) == 0:
        raise InputError("no sequences to find motifs in")
    if opt.attribution:  # before TomTom starts numba's OpenMP threads, after which modisco cannot fork
        from seqcnn.motifs.modisco import start_compiling

        start_compiling()
    with preserved(model, opt.device) as m:
        motifs = extract_filter_motifs(
            m, [r[1] for r in records], ids=[r[0] for r in records], method=opt.method, fraction=opt.fraction,
            max_influence_sequences=opt.max_influence_sequences, batch_size=opt.batch_size, device=opt.device,
            progress=opt.progress)
        targets = load_targets(opt.targets, collection=opt.collection, tax_group=opt.tax_group,
                               release=opt.release)
        matches = annotate(motifs, targets, n_best=opt.n_matches)
        table = summary_table(motifs, matches, task_names(m, motifs[0].influence.size))
        logos, matched = motif_logo_pngs([(f.name, f.pwm) for f in motifs], matches, targets,
                                         progress=opt.progress)
        extra: list[str] = []
        outputs = {"filters.meme": as_meme_motifs(motifs), "table.tsv": table, "matches.tsv": matches}
        modisco = _modisco_part(m, records, targets, opt) if opt.attribution else None
        if modisco is not None:
            extra.append(modisco.section())
        elif opt.attribution_sequences > 0:
            extra.append(_attribution_part(m, records, targets, opt, logos, outputs))
        maps, maps_note = example_maps(m, records, opt.n_examples, batch_size=opt.batch_size,
                                       device=opt.device)
    meta = metadata_of(model)
    info = {"model": meta.architecture if meta is not None else type(model).__name__,
            "sequences": len(records), "method": opt.method, "fraction": opt.fraction,
            "targets": f"{opt.target_label} ({len(targets)} motifs)"}
    document = render_motif_report(table, logos, matched, influence_png(motifs), maps,
                                   maps_note=maps_note, info=info, extra_sections=extra)
    modisco_files = modisco.write(Path(out_dir) / "modisco") if modisco is not None else {}
    files = _write(Path(out_dir), outputs, logos, document)
    files.update({f"modisco/{name}": path for name, path in modisco_files.items()})
    return MotifReport(motifs, matches, table, files)


def _modisco_part(model: nn.Module, records: Sequence[tuple[str, str]], targets: Sequence[Motif],
                  opt: ReportOptions) -> ModiscoPart:
    """TF-MoDISco patterns of ``opt.attribution`` contributions, annotated against the same targets."""
    from seqcnn.workflows.modisco_report import ModiscoOptions, modisco_part

    options = ModiscoOptions(attribution=opt.attribution, n_sequences=opt.attribution_sequences or 2000,
                             targets=opt.targets, collection=opt.collection, tax_group=opt.tax_group,
                             release=opt.release, n_matches=opt.n_matches, batch_size=opt.batch_size,
                             device=opt.device, progress=opt.progress)
    return modisco_part(model, records, targets, options)


def _attribution_part(model: nn.Module, records: Sequence[tuple[str, str]], targets: Sequence[Motif],
                      opt: ReportOptions, logos: dict[str, bytes], outputs: dict[str, object]) -> str:
    """ISM seqlet motifs: adds their logos and output files; returns the HTML section."""
    motifs, matches = attribution_motifs(model, records, opt.attribution_sequences, targets,
                                         n_matches=opt.n_matches, batch_size=opt.batch_size,
                                         device=opt.device, progress=opt.progress)
    table = attribution_table(motifs, matches)
    own, matched = motif_logo_pngs([(m.id, m.pwm) for m in motifs], matches, targets)
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
