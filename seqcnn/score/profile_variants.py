"""Variant effects for profile models (BPNet, ChromBPNet): count fold change and profile shape change.

A profile model returns ``{"profile": (N, T, L'), "counts": (N, T)}``: per task, base-resolution
logits over ``L'`` positions and the log of the total count. For the windows of a variant (the
reference and the alternative allele, each centred as for scalar models,
:func:`seqcnn.seq.variants.variant_windows`) the columns follow ChromBPNet's variant scoring:

- ``log2fc_t = (logcounts_alt - logcounts_ref) / ln 2``, the count change in log2 units;
- ``jsd_t``: the Jensen-Shannon distance (base 2, in [0, 1]) between ``softmax(profile_ref)`` and
  ``softmax(profile_alt)`` over positions (:func:`scipy.spatial.distance.jensenshannon`), how much
  the shape of the profile changes whatever its total.

Strands (``rc``): ``mean`` averages the log counts of both strands and the profile probabilities,
the reverse strand's flipped back along positions (as ChromBPNet's scorer does; tasks are taken as
unstranded); ``max`` takes, per window and task, the strand with the higher log count; ``none`` the
given strand.

Columns per batch: ``chrom pos id ref alt ref_match`` then, per task ``t``, ``logcounts_ref_t
logcounts_alt_t log2fc_t jsd_t``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from seqcnn._common import is_profile_output, resolve_batch_size, resolve_targets
from seqcnn.errors import ConfigError
from seqcnn.score.scorer import Prepared, Scorer
from seqcnn.score.scoring import iter_scores
from seqcnn.score.stream import valid_codes
from seqcnn.score.variants import (
    AUTO_VARIANTS,
    _RefAlt,
    _variant_chunks,
    key_column_types,
    key_columns,
    variant_width,
)
from seqcnn.seq.codes import codes_to_onehot
from seqcnn.seq.variants import Variant, VcfStats, read_vcf

if TYPE_CHECKING:
    import pandas as pd

PROFILE_COLUMNS = ("logcounts_ref", "logcounts_alt", "log2fc", "jsd")
"""The columns of each task, in order (each followed by ``_<task>``)."""


def wants_profile_scores(architecture: str, asked: bool | None) -> bool:
    """Whether a model file's variants get profile scores.

    Parameters
    ----------
    architecture
        The model file's registered architecture.
    asked
        True (profile scores asked for), False (the scalar table of the counts head), None (profile
        scores for profile models).

    Returns
    -------
    bool
        True for profile scores.

    Raises
    ------
    ConfigError
        Profile scores asked of a model without a profile head.
    """
    from seqcnn.models.registry import get_spec

    has_profile = get_spec(architecture).output == "profile"
    if asked and not has_profile:
        raise ConfigError(f"profile scores need a profile model (BPNet); {architecture!r} has no profile "
                          "head")
    return has_profile if asked is None else asked


def profile_scores(out: Any, rc: str, n_variants: int) -> np.ndarray:
    """The profile-score columns of a batch's model output.

    Parameters
    ----------
    out
        The model's output on ``[ref windows (n), alt windows (n)]``, followed by the same windows
        reverse complemented when ``rc`` is not ``none``: ``{"profile": (rows, T, L'), "counts":
        (rows, T)}``.
    rc
        ``mean``, ``max`` or ``none`` (see the module docstring).
    n_variants
        ``n``.

    Returns
    -------
    np.ndarray
        ``(n, 4 T)`` float32: ``logcounts_ref`` (T columns), ``logcounts_alt``, ``log2fc``, ``jsd``.

    Raises
    ------
    ConfigError
        An output without ``profile`` and ``counts`` heads.
    """
    from scipy.spatial.distance import jensenshannon

    if not is_profile_output(out) or not {"profile", "counts"} <= set(out):
        raise ConfigError("profile scores need a model returning {'profile', 'counts'} (a BPNet); this one "
                          f"returns {sorted(out) if is_profile_output(out) else 'a tensor'}")
    counts = out["counts"].double().cpu()
    probs = torch.softmax(out["profile"].double(), dim=-1).cpu()
    if rc != "none":
        half = counts.shape[0] // 2
        rev_counts, rev_probs = counts[half:], probs[half:].flip(-1)
        counts, probs = counts[:half], probs[:half]
        if rc == "mean":
            counts, probs = (counts + rev_counts) / 2, (probs + rev_probs) / 2
        else:
            keep = counts >= rev_counts  # (2n, T): the strand with the higher count, per window and task
            counts = torch.where(keep, counts, rev_counts)
            probs = torch.where(keep[..., None], probs, rev_probs)
    ref_counts, alt_counts = counts[:n_variants].numpy(), counts[n_variants:].numpy()
    jsd = jensenshannon(probs[:n_variants].numpy(), probs[n_variants:].numpy(), base=2, axis=-1)
    log2fc = (alt_counts - ref_counts) / math.log(2)
    return np.concatenate([ref_counts, alt_counts, log2fc, jsd], axis=1).astype(np.float32)


class _ProfileRefAlt(_RefAlt):
    """Runs a ref+alt group through the model and returns its profile-score columns."""

    def run(self, prepared: Prepared) -> np.ndarray:
        onehot = prepared.onehot if prepared.onehot is not None else torch.from_numpy(
            codes_to_onehot(prepared.codes))
        with self.scorer.lent() as model, torch.inference_mode():
            out = model(onehot.to(self.scorer.device))
        rows = onehot.shape[0] // (1 if self.scorer.rc == "none" else 2)
        return profile_scores(out, self.scorer.rc, rows // 2)


def profile_scorer(model: nn.Module, *, device: str | torch.device | None = None, rc: str | None = None
                   ) -> Scorer:
    """A :class:`Scorer` for :func:`score_profile_variants`: the plain forward (no speed-ups, which
    are made for ``(N, T)`` outputs), strands as ``rc`` says (None: the model file's ``rc_mode``)."""
    return Scorer(model, device=device, rc=rc, fast=False)


def score_profile_variants(scorer: Scorer, variants: Iterable[Variant], genome: Any, *, width: int,
                           batch_size: int | None = None, file: str | None = None, progress: bool = False,
                           skip_invalid: bool = False, stats: VcfStats | None = None
                           ) -> Iterator[dict[str, Any]]:
    """Profile scores of the ref and alt windows of each variant, a batch of columns at a time.

    Parameters
    ----------
    scorer
        :func:`profile_scorer` of the model.
    variants, genome, width, batch_size, file, progress, skip_invalid, stats
        As :func:`seqcnn.score.variants.score_variants`.

    Yields
    ------
    dict[str, Any]
        One column mapping per batch (see the module docstring for the columns).

    Raises
    ------
    InputError
        As :func:`seqcnn.score.variants.score_variants`.
    ConfigError
        A model without profile and counts heads.
    """
    batch_size = resolve_batch_size(batch_size, AUTO_VARIANTS)
    if skip_invalid and stats is None:
        stats = VcfStats()
    chunks = _variant_chunks(scorer, variants, genome, width, batch_size, file,
                             stats if skip_invalid else None)
    for chunk, scores in iter_scores(_ProfileRefAlt(scorer), chunks, progress=progress, desc="variants"):
        cols = key_columns(chunk.keys)
        n_tasks = scores.shape[1] // len(PROFILE_COLUMNS)
        for i, task in enumerate(scorer.task_names(n_tasks)):
            for j, kind in enumerate(PROFILE_COLUMNS):
                cols[f"{kind}_{task}"] = scores[:, j * n_tasks + i]
        yield cols


def profile_variant_columns(scorer: Scorer, width: int) -> dict[str, np.dtype]:
    """The columns of a profile variant table and their types (an empty table's header).

    Parameters
    ----------
    scorer
        :func:`profile_scorer` of the model (one forward pass on an all-N window tells the tasks;
        their names come from the model file).
    width
        The window width.

    Returns
    -------
    dict[str, numpy.dtype]
        ``chrom pos id ref alt ref_match``, then ``logcounts_ref_t logcounts_alt_t log2fc_t jsd_t``
        per task ``t``.

    Raises
    ------
    ConfigError
        A model without profile and counts heads.
    """
    codes = valid_codes("N", "N" * width, None, None, False)[None]
    n_tasks = _ProfileRefAlt(scorer).run(scorer.prepare(np.concatenate([codes, codes]))).shape[1] // 4
    names = scorer.task_names(n_tasks)
    cols = key_column_types()
    for task in names:
        cols.update({f"{kind}_{task}": np.dtype(np.float32) for kind in PROFILE_COLUMNS})
    return cols


def profile_variant_effects(model: nn.Module, variants: str | os.PathLike | Iterable[Variant], genome: Any, *,
                            window: int | None = None, target: int | str | Sequence[int | str] | None = None,
                            rc: str | None = None, batch_size: int | None = None,
                            device: str | torch.device | None = None, progress: bool = False,
                            skip_invalid: bool = False, stats: VcfStats | None = None) -> pd.DataFrame:
    """Count log2 fold change and profile Jensen-Shannon distance of each variant, in one call.

    Parameters
    ----------
    model
        A profile model (``{"profile": (N, T, L'), "counts": (N, T)}``); left as it was found.
    variants
        A VCF file (plain or gzip) or :class:`~seqcnn.seq.variants.Variant` objects.
    genome
        An indexed FASTA path or a ``seqcnn.seq.genome.Genome``.
    window
        Window width (None: the model's input length; needed for models that take any length).
    target
        The tasks to report: None for all, or an index, a task name, or a list of them.
    rc
        Strands (see the module docstring; None: the model file's ``rc_mode``).
    batch_size, device, progress, skip_invalid, stats
        As :func:`seqcnn.score.variants.variant_effects` (``batch_size`` counts variants).

    Returns
    -------
    pandas.DataFrame
        One row per variant (ALT allele): ``chrom pos id ref alt ref_match``, then per selected
        task ``t``: ``logcounts_ref_t logcounts_alt_t log2fc_t jsd_t``.

    Raises
    ------
    ConfigError
        A model without profile and counts heads; a bad ``target``, ``rc``, ``batch_size`` or
        ``window``.
    InputError
        A bad VCF line, a chromosome missing from the genome or a position past its end (without
        ``skip_invalid``), or a window with invalid bases.
    """
    import pandas as pd

    from seqcnn.seq.genome import Genome

    resolve_batch_size(batch_size, AUTO_VARIANTS)
    is_file = isinstance(variants, (str, os.PathLike))
    stats = stats if stats is not None else VcfStats()
    records = read_vcf(variants, stats, skip_invalid=skip_invalid) if is_file else variants
    genome = Genome(genome) if isinstance(genome, (str, os.PathLike)) else genome
    scorer = profile_scorer(model, device=device, rc=rc)
    width = variant_width(scorer, window)
    with scorer:
        columns = profile_variant_columns(scorer, width)  # also: a model without a profile head fails here
        names = [c.removeprefix("jsd_") for c in columns if c.startswith("jsd_")]
        keep = names if target is None else [names[i] for i in resolve_targets(target, names)]
        stream = score_profile_variants(scorer, records, genome, width=width, batch_size=batch_size,
                                        file=os.fspath(variants) if is_file else None, progress=progress,
                                        skip_invalid=skip_invalid, stats=stats)
        parts = [pd.DataFrame(cols) for cols in stream]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {c: np.array([], d) for c, d in columns.items()})
    task_cols = [f"{kind}_{task}" for task in keep for kind in PROFILE_COLUMNS]
    return frame[[*frame.columns[:6], *task_cols]]
