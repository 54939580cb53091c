"""TF-MoDISco patterns (modisco-lite) from a model's hypothetical contributions.

1. Hypothetical contributions of each sequence to the sum of the ``target`` outputs (None: all):
   DeepLIFT/SHAP (``seqcnn.interpret.attribution.deeplift``, 20 dinucleotide-shuffled references) or
   in-silico mutagenesis, whose hypothetical contribution of base ``b`` at a position is the effect of
   substituting ``b`` there minus the mean effect of the four bases (so the observed base gets the mean
   loss of score its substitutions cause). Contributions are linear in the explained output, so the
   sum's are the sum of each output's.
2. ``modiscolite.tfmodisco.TFMoDISco`` with the settings of modisco-lite's own ``modisco motifs``
   command (seqlet cores of 20, flanks of 5, 2 Leiden runs, seqlet FDR 0.05).
3. Each pattern's probability matrix (``ppm``), contribution-weight matrix (``cwm``) and hypothetical
   CWM (``hcwm``), all ``(W, 4)``, and its seqlets. The core TomTom compares is modisco's trim: the
   positions from the first to the last whose summed absolute CWM reaches 0.3 of the largest.

``ModiscoResult.save`` writes modisco-lite's own HDF5 file (``modiscolite.io.save_hdf5``), which
``modisco report`` and ``modisco meme`` read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqcnn._common import Target, as_onehot, resolve_rc, resolve_targets, task_names, task_output
from seqcnn.errors import ConfigError, InputError
from seqcnn.io.atomic import atomic_path
from seqcnn.motifs.pwm import consensus, information_content
from seqcnn.seq.meme import Motif

ATTRIBUTIONS = ("deeplift", "ism")
"""Sources of hypothetical contributions: DeepLIFT/SHAP (the default) or in-silico mutagenesis."""
TRIM_FRACTION = 0.3
"""Core of a pattern: positions whose summed absolute CWM reaches this fraction of the largest (modisco's)."""
MODISCO_SETTINGS = {"sliding_window_size": 20, "flank_size": 5, "target_seqlet_fdr": 0.05,
                    "n_leiden_runs": 2, "trim_to_window_size": 30, "initial_flank_to_add": 10,
                    "final_flank_to_add": 0}
"""``TFMoDISco`` arguments of modisco-lite's ``modisco motifs`` command, used unless overridden."""


class _SummedOutputs(nn.Module):
    """The sum of some outputs of a model as one ``(N, 1)`` output: one DeepLIFT pass instead of one
    per output (contributions are linear in the output, so they are the sum of each output's)."""

    def __init__(self, model: nn.Module, outputs: list[int]) -> None:
        super().__init__()
        self.model = model
        self.outputs = outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return task_output(self.model(x))[:, self.outputs].sum(dim=1, keepdim=True)


def _output_indices(model: nn.Module, x: np.ndarray, target: Target) -> list[int]:
    """The model output indices ``target`` names (one forward pass of one sequence to count them)."""
    from seqcnn._common import model_device, model_dtype, preserved

    with preserved(model, model_device(model)) as m, torch.no_grad():
        probe = torch.as_tensor(x[:1], dtype=model_dtype(m), device=model_device(m))
        n_outputs = task_output(m(probe)).shape[1]
    return resolve_targets(target, task_names(model, n_outputs))


def hypothetical_contributions(
    model: nn.Module, x: Any, *, attribution: str = "deeplift", target: Target = None, n_shuffles: int = 20,
    seed: int = 0, rc: str | None = None, batch_size: int | None = None,
    device: str | torch.device | None = None, progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One-hot sequences and their hypothetical contributions to the sum of the ``target`` outputs.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs (profile models: their ``counts`` head); given back as it was.
    x
        Equal-length sequences: strings, a FASTA ``pathlib.Path`` or one-hot ``(N, 4, L)``.
    attribution
        ``deeplift`` (DeepLIFT/SHAP, ``n_shuffles`` dinucleotide-shuffled references per sequence)
        or ``ism`` (mean-centred substitution effects; see the module docstring).
    target
        The outputs explained together (None: all): an index, a task name or a list of them.
    n_shuffles, seed
        DeepLIFT/SHAP references per sequence and their seed.
    rc, batch_size, device, progress
        The shared keyword tail (``rc`` None: the model file's ``rc_mode``).

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        One-hot ``(N, 4, L)`` and hypothetical contributions ``(N, 4, L)``, both float32.

    Raises
    ------
    ConfigError
        An unknown attribution, target or ``rc``.
    """
    if attribution not in ATTRIBUTIONS:
        raise ConfigError(f"unknown attribution {attribution!r}; use {' or '.join(ATTRIBUTIONS)}")
    onehot = as_onehot(x).numpy()
    strands = resolve_rc(rc, model)
    outputs = _output_indices(model, onehot, target)
    if attribution == "ism":
        from seqcnn.interpret.ism import ism

        delta = ism(model, onehot, target=outputs, rc=strands, batch_size=batch_size, device=device,
                    progress=progress).delta.sum(axis=-1)  # (N, 4, L)
        hypothetical = delta - delta.mean(axis=1, keepdims=True)
    else:
        from seqcnn.interpret.attribution.deeplift import deep_lift_shap

        hypothetical = deep_lift_shap(_SummedOutputs(model, outputs), onehot, target=0, n_shuffles=n_shuffles,
                                      hypothetical=True, seed=seed, rc=strands, batch_size=batch_size,
                                      device=device, progress=progress)
    return onehot.astype(np.float32), np.asarray(hypothetical, dtype=np.float32)


@dataclass
class Pattern:
    """A TF-MoDISco pattern.

    Attributes
    ----------
    name
        modisco-lite's name: ``pos_patterns.pattern_K`` (positive contributions) or
        ``neg_patterns.pattern_K``.
    ppm, cwm, hcwm
        ``(W, 4)`` base probabilities, contribution-weight matrix and hypothetical CWM of the aligned
        seqlets.
    example, start, end, revcomp
        ``(S,)`` per seqlet: sequence index, half-open bounds in it (0-based), reverse strand.
    """

    name: str
    ppm: np.ndarray
    cwm: np.ndarray
    hcwm: np.ndarray
    example: np.ndarray
    start: np.ndarray
    end: np.ndarray
    revcomp: np.ndarray

    @property
    def n_seqlets(self) -> int:
        """Number of seqlets."""
        return len(self.example)

    @property
    def core(self) -> tuple[int, int]:
        """Half-open bounds of the positions from the first to the last whose summed absolute CWM
        reaches ``TRIM_FRACTION`` of the largest (modisco-lite's trim for TomTom)."""
        score = np.abs(self.cwm).sum(axis=1)
        keep = np.flatnonzero(score >= TRIM_FRACTION * score.max())
        return int(keep[0]), int(keep[-1]) + 1

    def pwm(self) -> np.ndarray:
        """The probability matrix of the core, rows normalised: ``(K, 4)``."""
        start, end = self.core
        core = np.clip(self.ppm[start:end], 0, None) + 1e-9
        return core / core.sum(axis=1, keepdims=True)

    @property
    def contribution(self) -> float:
        """Summed contribution of the core (mean over seqlets; negative for ``neg_patterns``)."""
        start, end = self.core
        return float(self.cwm[start:end].sum())


@dataclass
class ModiscoResult:
    """TF-MoDISco's patterns and what they came from.

    Attributes
    ----------
    patterns
        Positive patterns first, then negative ones, each by decreasing number of seqlets.
    onehot, hypothetical
        The ``(N, 4, L)`` inputs of the run.
    raw
        modisco-lite's positive and negative ``SeqletSet`` lists (or None), for its HDF5 writer.
    """

    patterns: list[Pattern]
    onehot: np.ndarray
    hypothetical: np.ndarray
    raw: tuple[Any, Any] = field(default=(None, None), repr=False)

    def save(self, path: str | Path) -> Path:
        """Write modisco-lite's HDF5 results file (``modiscolite.io.save_hdf5``), atomically.

        Parameters
        ----------
        path
            The ``.h5`` file.

        Returns
        -------
        Path
            ``path``.
        """
        from modiscolite.io import save_hdf5

        with atomic_path(path) as tmp:
            save_hdf5(str(tmp), self.raw[0], self.raw[1], window_size=int(self.onehot.shape[-1]))
        return Path(path)


def _as_pattern(name: str, pattern: Any) -> Pattern:
    seqlets = pattern.seqlets
    return Pattern(name=name, ppm=np.asarray(pattern.sequence, dtype=np.float64),
                   cwm=np.asarray(pattern.contrib_scores, dtype=np.float64),
                   hcwm=np.asarray(pattern.hypothetical_contribs, dtype=np.float64),
                   example=np.array([s.example_idx for s in seqlets], dtype=np.int64),
                   start=np.array([s.start for s in seqlets], dtype=np.int64),
                   end=np.array([s.end for s in seqlets], dtype=np.int64),
                   revcomp=np.array([bool(s.is_revcomp) for s in seqlets], dtype=bool))


def start_compiling() -> None:
    """Let modisco-lite compile its numba kernels in forked children, cached on disk for later runs.

    ``modiscolite.precompile.start`` does so only while this process runs no Python thread but the main
    one and no numba threading layer that is unsafe to fork (OpenMP, which memelite's TomTom starts);
    otherwise it turns no caching on and every process compiles the kernels again (20-40 s on 2 cores).
    tqdm's monitor thread, which any progress bar starts (disabled ones too) and which bars do not need,
    is stopped first; when forking is still refused, caching is turned on for the same kernels, so the
    compilation here is the last. Called before the contributions are computed, so that forked children
    compile meanwhile; later calls do nothing more.
    """
    import threading

    import modiscolite.precompile as precompile
    from tqdm._monitor import TMonitor

    for thread in threading.enumerate():
        if isinstance(thread, TMonitor):  # tqdm starts a new one with the next bar
            thread.exit()
    if getattr(precompile, "_started", False):
        return
    precompile.start()
    if not getattr(precompile, "_children", True):  # no child forked (private names, read defensively)
        _cache_kernels(precompile)


def _cache_kernels(precompile: Any) -> None:
    """Turn numba's on-disk cache on for the kernels modisco-lite precompiles (its private list, so any
    failure leaves them compiled as before, uncached)."""
    try:
        for group in precompile._kernels():
            for dispatcher, _ in group:
                dispatcher.enable_caching()
    except Exception:  # noqa: BLE001 - a changed private API or a read-only cache: compile as before
        pass


def run_tfmodisco(onehot: np.ndarray, hypothetical: np.ndarray, *, max_seqlets: int = 2000,
                  **settings: Any) -> ModiscoResult:
    """TF-MoDISco (``modiscolite.tfmodisco.TFMoDISco``) on hypothetical contributions.

    Parameters
    ----------
    onehot, hypothetical
        ``(N, 4, L)`` one-hot sequences and their hypothetical contributions.
    max_seqlets
        Most seqlets clustered per sign (modisco's ``max_seqlets_per_metacluster``).
    **settings
        Other ``TFMoDISco`` arguments (e.g. ``n_leiden_runs``, ``nearest_neighbors_to_compute``),
        over ``MODISCO_SETTINGS``.

    Returns
    -------
    ModiscoResult
        The patterns (none when too few seqlets stand out).

    Raises
    ------
    InputError
        Arrays that differ in shape or are not ``(N, 4, L)``, or sequences shorter than a seqlet.
    """
    from modiscolite.tfmodisco import TFMoDISco

    x = np.asarray(onehot, dtype=np.float32)
    hyp = np.asarray(hypothetical, dtype=np.float32)
    if x.shape != hyp.shape or x.ndim != 3 or x.shape[1] != 4:
        raise InputError(f"one-hot {x.shape} and contributions {hyp.shape} must both be (N, 4, L)")
    options = {**MODISCO_SETTINGS, **settings}
    shortest = options["sliding_window_size"] + 2 * options["flank_size"]
    if x.shape[2] < shortest:
        raise InputError(f"sequences of {x.shape[2]} bases are shorter than a seqlet ({shortest} bases)")
    pos, neg = TFMoDISco(np.ascontiguousarray(x.transpose(0, 2, 1)),
                         np.ascontiguousarray(hyp.transpose(0, 2, 1)),
                         max_seqlets_per_metacluster=max_seqlets, **options)
    patterns = [_as_pattern(f"{sign}_patterns.pattern_{k}", p)
                for sign, found in (("pos", pos), ("neg", neg)) for k, p in enumerate(found or [])]
    return ModiscoResult(patterns, x, hyp, raw=(pos, neg))


def modisco_patterns(model: nn.Module, x: Any, *, attribution: str = "deeplift", max_seqlets: int = 2000,
                     n_shuffles: int = 20, seed: int = 0, target: Target = None, rc: str | None = None,
                     batch_size: int | None = None, device: str | torch.device | None = None,
                     progress: bool = False, **settings: Any) -> ModiscoResult:
    """TF-MoDISco patterns of a model over sequences: :func:`hypothetical_contributions`, then
    :func:`run_tfmodisco`.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was.
    x
        Equal-length sequences (strings, a FASTA ``pathlib.Path``, one-hot ``(N, 4, L)``).
    attribution, n_shuffles, seed, target, rc, batch_size, device, progress
        As for :func:`hypothetical_contributions`.
    max_seqlets, **settings
        As for :func:`run_tfmodisco`.

    Returns
    -------
    ModiscoResult
        The patterns and the contributions they came from.
    """
    start_compiling()
    onehot, hyp = hypothetical_contributions(model, x, attribution=attribution, target=target,
                                             n_shuffles=n_shuffles, seed=seed, rc=rc, batch_size=batch_size,
                                             device=device, progress=progress)
    return run_tfmodisco(onehot, hyp, max_seqlets=max_seqlets, **settings)


def pattern_motifs(patterns: Sequence[Pattern]) -> list[Motif]:
    """The patterns' cores as MEME motifs: id = pattern name, name = consensus, nsites = seqlets."""
    return [Motif(name=consensus(p.pwm()), id=p.name, pwm=p.pwm(), nsites=p.n_seqlets) for p in patterns]


def pattern_table(patterns: Sequence[Pattern], matches: pd.DataFrame) -> pd.DataFrame:
    """One row per pattern: its seqlets, core, consensus, information, contribution and best match.

    Parameters
    ----------
    patterns
        The patterns.
    matches
        Their TomTom matches (``seqcnn.motifs.annotate.MATCH_COLUMNS``, queries named by pattern).

    Returns
    -------
    pd.DataFrame
        ``pattern, sign, seqlets, core_start, core_end, consensus, information_content, contribution,
        match_id, match_name, match_orientation, match_q_value``.
    """
    from seqcnn.motifs.annotate import best_match_columns

    best = best_match_columns(matches, [p.name for p in patterns], ("id", "name", "orientation", "q_value"))
    rows = []
    for p, hit in zip(patterns, best, strict=True):
        start, end = p.core
        rows.append({"pattern": p.name, "sign": p.name.split("_", 1)[0], "seqlets": p.n_seqlets,
                     "core_start": start, "core_end": end, "consensus": consensus(p.pwm()),
                     "information_content": round(float(information_content(p.pwm()).sum()), 4),
                     "contribution": p.contribution, **hit})
    columns = ["pattern", "sign", "seqlets", "core_start", "core_end", "consensus", "information_content",
               "contribution", "match_id", "match_name", "match_orientation", "match_q_value"]
    return pd.DataFrame(rows, columns=columns)


def seqlet_table(patterns: Sequence[Pattern], ids: Sequence[str]) -> pd.DataFrame:
    """Every seqlet of every pattern: ``pattern, id, start, end, strand`` (0-based, half-open).

    Parameters
    ----------
    patterns
        The patterns.
    ids
        The record id of each sequence the patterns were found in.

    Returns
    -------
    pd.DataFrame
        One row per seqlet, by pattern then position.
    """
    frames = [pd.DataFrame({"pattern": p.name, "id": np.asarray(ids, dtype=object)[p.example],
                            "start": p.start, "end": p.end, "strand": np.where(p.revcomp, "-", "+")})
              .sort_values(["id", "start"], kind="stable") for p in patterns]
    columns = ["pattern", "id", "start", "end", "strand"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
