"""The TF-MoDISco report of a trained model: contributions, patterns, TomTom matches, logos, files.

``modisco_report`` is what ``seqcnn modisco`` calls; ``modisco_part`` is the same work without the page,
which ``seqcnn motifs --attribution`` adds to its own report. Everything is computed before anything is
written, so bad input leaves no partial report.

Files (``docs/formats.md``): ``patterns.h5`` (modisco-lite's own format), ``patterns.meme`` (the
patterns' cores), ``patterns.tsv``, ``matches.tsv``, ``seqlets.tsv``, ``logos/`` and ``report.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from seqcnn._common import Target, metadata_of, preserved
from seqcnn.errors import InputError
from seqcnn.io.atomic import atomic_open
from seqcnn.motifs.annotate import MATCH_COLUMNS, annotate, load_targets
from seqcnn.motifs.modisco import (
    ModiscoResult,
    modisco_patterns,
    pattern_motifs,
    pattern_table,
    seqlet_table,
)
from seqcnn.report.html import modisco_section, page, section
from seqcnn.seq.meme import Motif, write_meme
from seqcnn.workflows.motif_pipeline import Q_THRESHOLD, sample_equal_length, target_label

CWM_FLANK = 4
"""Bases shown each side of a pattern's core in its CWM logo (as modisco-lite's report)."""


@dataclass
class ModiscoOptions:
    """Settings of :func:`modisco_report` (see ``seqcnn modisco --help``).

    Attributes
    ----------
    attribution
        ``deeplift`` or ``ism`` (``seqcnn.motifs.modisco.hypothetical_contributions``).
    n_sequences
        Sequences explained (a seeded random subset of those of the most common length).
    target
        Outputs explained together (None: all).
    max_seqlets
        Most seqlets clustered per sign.
    n_shuffles, seed
        DeepLIFT/SHAP references per sequence and their seed (also seeds the subset).
    settings
        Other ``modiscolite.tfmodisco.TFMoDISco`` arguments.
    targets, collection, tax_group, release
        Motifs to match: None for JASPAR (pyjaspar), else a MEME file.
    n_matches
        TomTom matches kept per pattern.
    rc, batch_size, device, progress
        The shared keyword tail.
    """

    attribution: str = "deeplift"
    n_sequences: int = 2000
    target: Target = None
    max_seqlets: int = 2000
    n_shuffles: int = 20
    seed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    targets: str | Path | None = None
    collection: str = "CORE"
    tax_group: str | None = "vertebrates"
    release: str = "JASPAR2026"
    n_matches: int = 5
    rc: str | None = None
    batch_size: int | None = None
    device: torch.device | str | None = None
    progress: bool = False

    @property
    def target_label(self) -> str:
        """The motifs matched against, as the report names them."""
        return target_label(self)


@dataclass
class ModiscoPart:
    """Everything a TF-MoDISco run found, computed and not yet written.

    Attributes
    ----------
    result
        The patterns and the contributions they came from.
    motifs
        The patterns' cores as MEME motifs.
    table, matches, seqlets
        ``patterns.tsv``, ``matches.tsv`` and ``seqlets.tsv``.
    logos
        PNGs keyed ``NAME``, ``NAME_rc`` (core PWM) and ``NAME_cwm`` (CWM) of every pattern.
    match_logos
        PNG of each pattern's best match, keyed by pattern name.
    note
        What the patterns were found in.
    """

    result: ModiscoResult
    motifs: list[Motif]
    table: pd.DataFrame
    matches: pd.DataFrame
    seqlets: pd.DataFrame
    logos: dict[str, bytes]
    match_logos: dict[str, bytes]
    note: str

    @property
    def n_matched(self) -> int:
        """Patterns whose best match has q < 0.05."""
        return int((self.table["match_q_value"] < Q_THRESHOLD).sum())

    def section(self) -> str:
        """The report section (HTML)."""
        cwm = {name.removesuffix("_cwm"): png for name, png in self.logos.items() if name.endswith("_cwm")}
        return modisco_section(self.table, self.logos, cwm, self.match_logos, note=self.note)

    def write(self, folder: Path) -> dict[str, Path]:
        """Write the HDF5, MEME and TSV files and the logos into ``folder`` (created), atomically each.

        Returns
        -------
        dict[str, Path]
            Paths by file name, and ``logos``.
        """
        (folder / "logos").mkdir(parents=True, exist_ok=True)
        files = {"patterns.h5": self.result.save(folder / "patterns.h5"),
                 "patterns.meme": write_meme(self.motifs, folder / "patterns.meme"),
                 "logos": folder / "logos"}
        for name, frame in (("patterns.tsv", self.table), ("matches.tsv", self.matches),
                            ("seqlets.tsv", self.seqlets)):
            with atomic_open(folder / name, "w", encoding="utf-8", newline="") as handle:
                frame.to_csv(handle, sep="\t", index=False, float_format="%.6g")
            files[name] = folder / name
        for name, png in self.logos.items():
            with atomic_open(folder / "logos" / f"{name}.png", "wb") as handle:
                handle.write(png)
        return files


def _cwm_logos(result: ModiscoResult) -> dict[str, bytes]:
    """The CWM logo of every pattern's core and ``CWM_FLANK`` bases each side, keyed ``NAME_cwm``."""
    from seqcnn.report.charts import figure_png
    from seqcnn.report.maps import attribution_logo_figure

    logos = {}
    for p in result.patterns:
        start, end = p.core
        start, end = max(0, start - CWM_FLANK), min(len(p.cwm), end + CWM_FLANK)
        fig = attribution_logo_figure(p.cwm[start:end].T, title=f"{p.name} ({p.n_seqlets} seqlets)",
                                      start=start)
        logos[f"{p.name}_cwm"] = figure_png(fig)
    return logos


def modisco_part(model: nn.Module, records: Sequence[tuple[str, str]], targets: Sequence[Motif],
                 options: ModiscoOptions) -> ModiscoPart:
    """Run TF-MoDISco on a seeded subset of ``records``, annotate its patterns and draw their logos.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was.
    records
        ``(id, sequence)`` pairs; the most common length is used.
    targets
        Motifs to match against.
    options
        Settings.

    Returns
    -------
    ModiscoPart
        The run, its tables and logos.
    """
    from seqcnn.report.logos import motif_logo_pngs

    chosen = sample_equal_length(records, options.n_sequences)
    ids = [records[i][0] for i in chosen]
    result = modisco_patterns(
        model, [records[i][1] for i in chosen], attribution=options.attribution,
        max_seqlets=options.max_seqlets, n_shuffles=options.n_shuffles, seed=options.seed,
        target=options.target, rc=options.rc, batch_size=options.batch_size, device=options.device,
        progress=options.progress, **options.settings)
    motifs = pattern_motifs(result.patterns)
    matches = (annotate(motifs, targets, n_best=options.n_matches, trim_motifs=False) if motifs
               else pd.DataFrame(columns=MATCH_COLUMNS))
    logos, match_logos = motif_logo_pngs([(m.id, m.pwm) for m in motifs], matches, targets,
                                         progress=options.progress)
    logos.update(_cwm_logos(result))
    note = (f"TF-MoDISco (modisco-lite) on {options.attribution} hypothetical contributions of {len(chosen)} "
            f"sequences; pattern cores (summed |CWM| at least 0.3 of its maximum) matched by TomTom against "
            f"{options.target_label}. Click a column header to sort.")
    return ModiscoPart(result, motifs, pattern_table(result.patterns, matches), matches,
                       seqlet_table(result.patterns, ids), logos, match_logos, note)


@dataclass
class ModiscoReport:
    """What :func:`modisco_report` found and wrote.

    Attributes
    ----------
    part
        The run, its tables and logos.
    files
        Paths written, by name (``html``, ``patterns.h5``, ``patterns.tsv``, ...).
    """

    part: ModiscoPart
    files: dict[str, Path]

    @property
    def table(self) -> pd.DataFrame:
        """One row per pattern (``patterns.tsv``)."""
        return self.part.table


def modisco_report(model: nn.Module, records: Sequence[tuple[str, str]], out_dir: str | Path,
                   options: ModiscoOptions | None = None) -> ModiscoReport:
    """TF-MoDISco patterns of ``model`` over ``records``, annotated and written as a report.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was (device, mode, ``requires_grad``).
    records
        ``(id, sequence)`` pairs.
    out_dir
        The report's folder (created).
    options
        Settings (:class:`ModiscoOptions`; default: its defaults).

    Returns
    -------
    ModiscoReport
        The patterns, their tables and the files written.

    Raises
    ------
    InputError
        No sequences, or sequences shorter than a seqlet.
    """
    opt = options or ModiscoOptions()
    if len(records) == 0:
        raise InputError("no sequences to find patterns in")
    targets = load_targets(opt.targets, collection=opt.collection, tax_group=opt.tax_group,
                           release=opt.release)
    with preserved(model, opt.device) as m:
        part = modisco_part(m, records, targets, opt)
    meta = metadata_of(model)
    facts = {"model": meta.architecture if meta is not None else type(model).__name__,
             "sequences": len(part.result.onehot), "attribution": opt.attribution,
             "targets": f"{opt.target_label} ({len(targets)} motifs)",
             "patterns": f"{len(part.table)}; matching a known motif at q < {Q_THRESHOLD}: {part.n_matched}"}
    summary = section("Summary", "<ul>" + "".join(f"<li>{k}: {v}</li>" for k, v in facts.items()) + "</ul>")
    document = page("seqcnn TF-MoDISco report", [summary, part.section()])
    out = Path(out_dir)
    files = part.write(out)
    with atomic_open(out / "report.html", "w", encoding="utf-8") as handle:
        handle.write(document)
    files["html"] = out / "report.html"
    return ModiscoReport(part, files)
