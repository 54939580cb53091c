"""``build_dataset``: peaks (or peak sequences), a genome and bigWig signal in; a training dataset out.

Two ways in:

* ``genome`` + ``peaks`` (BED3+, narrowPeak, broadPeak; one task per file): windows centred on the
  peaks, read from the genome through pyfaidx by index (never whole); negatives ``gc-matched`` (genome
  windows away from the peaks, see :mod:`~seqcnn.data.build.negatives`), ``shuffle`` or ``none``;
  targets from ``signal`` bigWigs as sums/means or base-resolution profiles.
* ``positives_fasta``: sequences already cut around the peaks (ids ``chrom:start-end``), with
  dinucleotide-shuffled negatives (``shuffle``, the default here) or ``none``.

The result is a directory ``seqcnn train`` reads as it is (:mod:`~seqcnn.data.build.writer`), built in
a temporary directory and renamed into place, so a failed build leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqcnn._version import __version__
from seqcnn.data.build.intervals import IntervalSet
from seqcnn.data.build.negatives import gc_bin, gc_fraction, gc_matched, shuffled_copies, shuffles
from seqcnn.data.build.peaks import (
    FastaPositives,
    check_path,
    parse_source,
    read_fasta_positives,
    unique_names,
)
from seqcnn.data.build.signal import SignalReader, TrackSpec, parse_track, scalar_targets
from seqcnn.data.build.skeletons import write_skeletons
from seqcnn.data.build.windows import (
    DEFAULT_TEST_CHROMS,
    DEFAULT_VALID_CHROMS,
    PositiveWindows,
    exclusion_set,
    positive_windows,
    split_of,
)
from seqcnn.data.build.writer import DatasetWriter, building_directory, sha256_of, write_json
from seqcnn.errors import ConfigError, InputError
from seqcnn.progress import progress_bar
from seqcnn.seq.genome import Genome

NEGATIVE_METHODS = ("gc-matched", "shuffle", "none")
FORMAT_VERSION = 1


@dataclass
class DatasetOptions:
    """What to build a dataset from, and how (the options of ``seqcnn dataset``).

    Attributes
    ----------
    genome
        Genome FASTA (plain or bgzip; a ``.fai`` is made when missing).
    peaks
        Peak files ``FILE[:NAME]``, one task each.
    positives_fasta
        Instead of genome + peaks: FASTA files ``FILE[:NAME]`` of peak sequences (ids ``chrom:start-end``).
    length
        Window length (required with a genome; default for FASTA positives: their length).
    single_task
        One task, positive for a peak in any file.
    label_width
        Central bases a peak must overlap for a window to be positive for its task.
    negatives
        ``gc-matched``, ``shuffle`` or ``none`` (None: gc-matched with a genome, shuffle with FASTA).
    ratio
        Negatives per positive.
    flank
        Bases around each peak kept free of gc-matched negatives (None: ``length``).
    blacklist
        BED of regions no window may touch.
    max_n
        Largest fraction of non-ACGT bases in a gc-matched negative.
    gc_bins
        Equal GC bins on [0, 1] for matching.
    shuffle_k
        k-mer size the shuffles keep (2: dinucleotides).
    signal
        bigWig tracks ``FILE.bw[:NAME]`` or ``PLUS.bw,MINUS.bw[:NAME]``.
    stat
        ``sum`` or ``mean`` of the signal over a window (regression targets).
    log1p
        ``log(1 + x)`` of those targets.
    profile
        Base-resolution profiles (BPNet) instead of per-window targets.
    control
        A control bigWig (or stranded pair) stored beside the profiles.
    valid_chroms, test_chroms
        Chromosomes of the validation and test splits.
    seed
        Seed of the negatives.
    """

    genome: str | None = None
    peaks: list[str] = field(default_factory=list)
    positives_fasta: list[str] = field(default_factory=list)
    length: int | None = None
    single_task: bool = False
    label_width: int = 200
    negatives: str | None = None
    ratio: float = 1.0
    flank: int | None = None
    blacklist: str | None = None
    max_n: float = 0.05
    gc_bins: int = 50
    shuffle_k: int = 2
    signal: list[str] = field(default_factory=list)
    stat: str = "sum"
    log1p: bool = False
    profile: bool = False
    control: str | None = None
    valid_chroms: list[str] = field(default_factory=lambda: list(DEFAULT_VALID_CHROMS))
    test_chroms: list[str] = field(default_factory=lambda: list(DEFAULT_TEST_CHROMS))
    seed: int = 0


@dataclass
class DatasetResult:
    """A built dataset: its directory and manifest (also in ``manifest.json``)."""

    path: Path
    manifest: dict[str, Any]


def checked_options(options: DatasetOptions) -> DatasetOptions:
    """The options with defaults filled in, refused when they do not fit together.

    Raises
    ------
    ConfigError
        A missing or contradictory option, naming it.
    """
    o = dataclasses.replace(options)
    if bool(o.positives_fasta) == bool(o.peaks):
        raise ConfigError("give --peaks (with --genome) or --positives-fasta, one of the two")
    if o.peaks and (o.genome is None or o.length is None):
        raise ConfigError("--peaks needs --genome and --length")
    o.negatives = o.negatives or ("gc-matched" if o.peaks else "shuffle")
    if o.negatives not in NEGATIVE_METHODS:
        raise ConfigError(f"--negatives must be one of {', '.join(NEGATIVE_METHODS)}, got {o.negatives!r}")
    if o.positives_fasta and (o.negatives == "gc-matched" or o.signal):
        raise ConfigError("--positives-fasta takes --negatives shuffle or none, and no --signal (both need "
                          "--genome with --peaks)")
    if o.signal and o.negatives == "shuffle":
        raise ConfigError("--signal needs genome windows: shuffled negatives have no signal; use "
                          "--negatives gc-matched or none")
    if (o.profile or o.control) and not o.signal:
        raise ConfigError("--profile and --control need --signal")
    if o.control and not o.profile:
        raise ConfigError("--control is stored with --profile targets only")
    bounds = (("--length", o.length, 1), ("--label-width", o.label_width, 1), ("--gc-bins", o.gc_bins, 1),
              ("--shuffle-k", o.shuffle_k, 1), ("--flank", o.flank, 0))
    for name, value, low in bounds:
        if value is not None and value < low:
            raise ConfigError(f"{name} must be >= {low}, got {value}")
    if not 0 <= o.max_n <= 1 or o.ratio <= 0:
        raise ConfigError(f"--max-n must be in [0, 1] and --ratio > 0, got {o.max_n} and {o.ratio}")
    if o.stat not in ("sum", "mean"):
        raise ConfigError(f"--stat must be sum or mean, got {o.stat!r}")
    o.flank = o.length if o.flank is None else o.flank
    return o


def build_dataset(out: str | Path, options: DatasetOptions, *, overwrite: bool = False,
                  progress: bool = False) -> DatasetResult:
    """Build a training dataset directory.

    Parameters
    ----------
    out
        The directory to make (see :mod:`~seqcnn.data.build.writer` for its files).
    options
        Inputs and settings.
    overwrite
        Replace an existing non-empty ``out``.
    progress
        Show progress bars.

    Returns
    -------
    DatasetResult
        The directory and its manifest.

    Raises
    ------
    ConfigError
        Options that do not fit together, or an output directory that exists.
    InputError
        A bad input file, naming the file, line and value; more negatives than the genome can give.
    """
    opts = checked_options(options)
    for spec in opts.peaks + opts.positives_fasta:
        check_path(parse_source(spec, "input").path, "input")
    with building_directory(out, overwrite=overwrite) as root:
        build = _genome_build if opts.peaks else _fasta_build
        manifest = build(root, opts, progress)
        task_types = [t for t, n in manifest["outputs"].items() if n]
        configs, skipped = write_skeletons(root, task_types, dataset=str(out), length=manifest["length"],
                                           n_tasks=manifest["outputs"])
        manifest.update(configs=configs, configs_skipped=skipped,
                        inputs=_inputs(opts, progress), options=dataclasses.asdict(opts))
        write_json(root / "manifest.json", _ordered(manifest))
    return DatasetResult(Path(out), manifest)


def _inputs(opts: DatasetOptions, progress: bool) -> list[dict[str, Any]]:
    """Every input file with its size and sha256."""
    files = [("genome", opts.genome, None), ("blacklist", opts.blacklist, None)]
    files += [("peaks", s.path, s.name) for s in map(lambda p: parse_source(p, "--peaks"), opts.peaks)]
    files += [("positives", s.path, s.name)
              for s in map(lambda p: parse_source(p, "--positives-fasta"), opts.positives_fasta)]
    for role, specs in (("signal", opts.signal), ("control", [opts.control] if opts.control else [])):
        for track in (parse_track(s, f"--{role}") for s in specs):
            files += [(role, path, name) for path, name in zip(track.paths, track.track_names, strict=True)]
    return [{"role": role, "name": name, "path": path, "bytes": Path(path).stat().st_size,
             "sha256": sha256_of(path, progress=progress)} for role, path, name in files if path]


def _tracks(specs: list[str], what: str) -> list[TrackSpec]:
    tracks = [parse_track(s, what) for s in specs]
    names = [n for t in tracks for n in t.track_names]
    if len(set(names)) != len(names):
        raise ConfigError(f"{what}: two tracks share a name ({', '.join(names)}); give names as FILE:NAME")
    return tracks


def _genome_build(root: Path, opts: DatasetOptions, progress: bool) -> dict[str, Any]:
    sources = [parse_source(s, "--peaks") for s in opts.peaks]
    unique_names(sources, "--peaks")
    with Genome(opts.genome) as genome:
        blacklist = IntervalSet.from_bed(opts.blacklist) if opts.blacklist else None
        positives = positive_windows(sources, genome, length=opts.length, label_width=opts.label_width,
                                     blacklist=blacklist, single_task=opts.single_task)
        signal = SignalReader(_tracks(opts.signal, "--signal")) if opts.signal else None
        control = SignalReader(_tracks([opts.control], "--control")) if opts.control else None
        for reader in (r for r in (signal, control) if r is not None):
            reader.check_chroms(genome.chroms, positives.first_use)
        split = split_of(positives.chrom, opts.valid_chroms, opts.test_chroms)
        with DatasetWriter(root, positives.tasks, signal.names if signal else [], profile=opts.profile,
                           control_tracks=control.names if control else []) as writer:
            copies = (shuffled_copies(len(positives), opts.ratio, opts.seed) if opts.negatives == "shuffle"
                      else np.zeros(len(positives), dtype=np.int64))
            readers = (signal, control)
            pos_gc = _write_genome_positives(writer, positives, split, genome, readers, copies, opts,
                                             progress)
            neg_gc, negatives = np.repeat(pos_gc, copies), {"method": opts.negatives}
            if opts.negatives == "shuffle":
                negatives.update(ratio=opts.ratio, k=opts.shuffle_k, seed=opts.seed)
            if opts.negatives == "gc-matched":
                exclude = exclusion_set(positives, opts.length, opts.flank)
                neg_gc, negatives = _write_matched(writer, pos_gc, exclude, blacklist, genome, readers, opts,
                                                   progress)
        for reader in (r for r in (signal, control) if r is not None):
            reader.close()
        manifest = _summary(writer, opts, pos_gc, neg_gc, negatives)
        manifest["peaks"] = positives.peaks
        manifest["signal"] = _signal_summary(opts, signal, control)
    return manifest


def _targets(reader: SignalReader | None, chrom: str, start: int,
             opts: DatasetOptions) -> np.ndarray | None:
    if reader is None:
        return None
    values = reader.window(chrom, start, start + opts.length)
    if opts.profile:
        return values
    targets = scalar_targets(values, opts.stat, opts.log1p)
    if opts.log1p and not np.isfinite(targets).all():  # log1p of -1 or less: a signed track
        where = f"window {chrom}:{start}-{start + opts.length}"
        raise InputError(f"{where}: its signal {opts.stat} is -1 or less, which has no log1p; leave --log1p "
                         "out for signed tracks")
    return targets


def _write_genome_positives(writer: DatasetWriter, positives: PositiveWindows, split: np.ndarray,
                            genome: Genome, readers: tuple[SignalReader | None, ...], copies: np.ndarray,
                            opts: DatasetOptions, progress: bool) -> np.ndarray:
    """Write the positive windows and ``copies[i]`` shuffles of window i; the windows' GC fractions."""
    length, (signal, control) = opts.length, readers
    gc = np.empty(len(positives))
    rng = np.random.default_rng(opts.seed)
    for i in progress_bar(range(len(positives)), enabled=progress, desc="positives", unit="window"):
        chrom, start = str(positives.chrom[i]), int(positives.start[i])
        seq = genome.fetch(chrom, start, start + length)
        rid, bed = f"{chrom}:{start}-{start + length}", (chrom, start, start + length)
        gc[i] = gc_fraction(seq)
        writer.add(rid, seq, split[i], "positive", bed, labels=positives.labels[i],
                   signal=_targets(signal, chrom, start, opts), control=_targets(control, chrom, start, opts))
        for k, shuffled in enumerate(shuffles(seq, int(copies[i]), opts.shuffle_k, rng), start=1):
            writer.add(f"{rid}_shuf{k}", shuffled, split[i], "shuffle", bed)
    return gc


def _write_matched(writer: DatasetWriter, positive_gc: np.ndarray, exclude: IntervalSet,
                   blacklist: IntervalSet | None, genome: Genome, readers: tuple[SignalReader | None, ...],
                   opts: DatasetOptions, progress: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """Draw and write GC-matched negatives; their GC fractions and a summary."""
    signal, control = readers
    everywhere = set(genome.chroms)
    for reader in (r for r in readers if r is not None):
        everywhere &= reader.usable_chroms(genome.chroms)
    lacking = {c: (np.zeros(1, np.int64), np.full(1, n, np.int64)) for c, n in genome.chroms.items()
               if c not in everywhere}  # negatives only on contigs every bigWig has, at the genome's length
    exclude = exclude.union([IntervalSet(lacking)] + ([blacklist] if blacklist is not None else []))
    drawn = gc_matched(genome, positive_gc, length=opts.length, ratio=opts.ratio, exclude=exclude,
                       max_n=opts.max_n, n_bins=opts.gc_bins, seed=opts.seed, progress=progress)
    split = split_of(drawn.chrom, opts.valid_chroms, opts.test_chroms, check=False)
    gc = np.empty(len(drawn.start))
    for i in progress_bar(range(len(drawn.start)), enabled=progress, desc="negatives", unit="window"):
        chrom, start = str(drawn.chrom[i]), int(drawn.start[i])
        end = start + opts.length
        seq = genome.fetch(chrom, start, end)
        gc[i] = gc_fraction(seq)
        writer.add(f"{chrom}:{start}-{end}", seq, split[i], "negative", (chrom, start, end),
                   signal=_targets(signal, chrom, start, opts), control=_targets(control, chrom, start, opts))
    summary = {"method": "gc-matched", "requested": int(round(opts.ratio * np.isfinite(positive_gc).sum())),
               "made": len(gc), "candidates": drawn.candidates,
               "borrowed_from_neighbouring_gc_bins": drawn.borrowed, "flank": opts.flank, "max_n": opts.max_n,
               "gc_bins": opts.gc_bins, "ratio": opts.ratio, "seed": opts.seed}
    return gc, summary


def _fasta_build(root: Path, opts: DatasetOptions, progress: bool) -> dict[str, Any]:
    sources = [parse_source(s, "--positives-fasta") for s in opts.positives_fasta]
    unique_names(sources, "--positives-fasta")
    files = [read_fasta_positives(s, opts.length) for s in sources]
    ids, seqs, chrom, bed, labels = _merge_fasta(files, opts.single_task)
    stats = {f.source.name: {"peaks": len(f.ids), "blacklisted": 0, "kept": len(f.ids)} for f in files}
    if opts.blacklist:
        keep = _outside_blacklist(bed, IntervalSet.from_bed(opts.blacklist), files, stats)
        ids, seqs, chrom, labels = [ids[i] for i in keep], [seqs[i] for i in keep], chrom[keep], labels[keep]
        bed = [bed[i] for i in keep]
    split = split_of(chrom, opts.valid_chroms, opts.test_chroms)
    tasks = (["peak" if len(files) > 1 else files[0].source.name] if opts.single_task
             else [f.source.name for f in files])
    gc = np.asarray([gc_fraction(s) for s in seqs])
    copies = shuffled_copies(len(ids), opts.ratio, opts.seed) if opts.negatives == "shuffle" else None
    rng = np.random.default_rng(opts.seed)
    with DatasetWriter(root, tasks, []) as writer:
        for i in progress_bar(range(len(ids)), enabled=progress, desc="positives", unit="record"):
            writer.add(ids[i], seqs[i], split[i], "positive", bed[i], labels=labels[i])
            if copies is not None:
                for k, shuffled in enumerate(shuffles(seqs[i], int(copies[i]), opts.shuffle_k, rng), start=1):
                    writer.add(f"{ids[i]}_shuf{k}", shuffled, split[i], "shuffle", bed[i])
    neg_gc = np.repeat(gc, copies) if copies is not None else np.zeros(0)
    manifest = _summary(writer, opts, gc, neg_gc, {"method": opts.negatives, "ratio": opts.ratio,
                                                   "k": opts.shuffle_k, "seed": opts.seed})
    manifest["length"] = len(seqs[0])
    manifest["peaks"] = stats
    return manifest


Bed = tuple[str, int, int]


def _merge_fasta(files: list[FastaPositives],
                 single_task: bool) -> tuple[list[str], list[str], np.ndarray, list[Bed], np.ndarray]:
    """Records of every file once (a record in several files is positive for each), in file order."""
    index: dict[str, int] = {}
    ids, seqs, chroms, bed, rows = [], [], [], [], []
    for t, f in enumerate(files):
        for j, rid in enumerate(f.ids):
            if rid not in index:
                index[rid] = len(ids)
                ids.append(rid)
                seqs.append(f.sequences[j])
                chroms.append(str(f.chrom[j]))
                bed.append((str(f.chrom[j]), int(f.start[j]), int(f.end[j])))
                rows.append(np.zeros(len(files), dtype=np.int8))
            rows[index[rid]][t] = 1
    lengths = {len(s) for s in seqs}
    if len(lengths) > 1:
        raise ConfigError(f"the FASTA files hold records of {sorted(lengths)} bp; pass --length to crop or "
                          "pad them")
    labels = np.stack(rows)
    if single_task:
        labels = labels.max(1, keepdims=True)
    return ids, seqs, np.asarray(chroms, dtype=object), bed, labels


def _outside_blacklist(bed: list[Bed], blacklist: IntervalSet, files: list[FastaPositives],
                       stats: dict[str, dict[str, int]]) -> np.ndarray:
    """Indices of records not touching the blacklist; counts the dropped per file."""
    hit = np.asarray([bool(blacklist.overlaps(c, np.asarray([s]), np.asarray([e]))[0]) for c, s, e in bed])
    dropped = {b for b, h in zip(bed, hit, strict=True) if h}
    for f in files:
        n = sum((str(c), int(s), int(e)) in dropped for c, s, e in zip(f.chrom, f.start, f.end, strict=True))
        stats[f.source.name].update(blacklisted=n, kept=len(f.ids) - n)
        if n == len(f.ids):
            raise InputError(f"all {n} records overlap the blacklist; nothing is left to learn from",
                             file=f.source.path)
    return np.flatnonzero(~hit)


def _summary(writer: DatasetWriter, opts: DatasetOptions, pos_gc: np.ndarray, neg_gc: np.ndarray,
             negatives: dict[str, Any]) -> dict[str, Any]:
    """Counts per split and task, GC histograms, files: the manifest's core."""
    from scipy.stats import ks_2samp

    edges = np.linspace(0.0, 1.0, opts.gc_bins + 1)
    pos, neg = pos_gc[np.isfinite(pos_gc)], neg_gc[np.isfinite(neg_gc)]
    ks = float(ks_2samp(pos, neg).statistic) if len(pos) and len(neg) else None
    tracks = writer.tracks
    outputs = {"binary": len(writer.tasks), "regression": 0 if opts.profile else len(tracks),
               "profile": len(tracks) if opts.profile else 0}
    files = {s: f"{s}.fa" for s in ("train", "valid", "test")}
    files.update({"windows": "windows.bed", "binary": "labels.tsv" if writer.tasks else None,
                  "regression": "targets.tsv" if outputs["regression"] else None,
                  "profile": "profiles.npz" if outputs["profile"] else None})
    return {"format": "seqcnn-dataset", "format_version": FORMAT_VERSION, "seqcnn_version": __version__,
            "length": opts.length, "tasks": writer.tasks, "tracks": tracks,
            "control_tracks": writer.control_tracks,
            "outputs": outputs, "files": {k: v for k, v in files.items() if v},
            "split_chromosomes": {"valid": opts.valid_chroms, "test": opts.test_chroms,
                                  "train": "all others"},
            "splits": writer.counts, "windows": writer.n_by_kind, "negatives": negatives,
            "gc": {"bin_edges": edges.round(6).tolist(),
                   "positives": np.bincount(gc_bin(pos, opts.gc_bins), minlength=opts.gc_bins).tolist(),
                   "negatives": np.bincount(gc_bin(neg, opts.gc_bins), minlength=opts.gc_bins).tolist(),
                   "positives_mean": float(pos.mean()) if len(pos) else None,
                   "negatives_mean": float(neg.mean()) if len(neg) else None, "ks_statistic": ks}}


def _signal_summary(opts: DatasetOptions, signal: SignalReader | None,
                    control: SignalReader | None) -> dict[str, Any] | None:
    if signal is None:
        return None
    out = {"tracks": signal.names, "targets": "profile" if opts.profile else opts.stat, "log1p": opts.log1p,
           "nan_bases_counted_as_zero": dict(signal.nan_bases)}
    if control is not None:
        out["control_tracks"] = control.names
        out["control_nan_bases_counted_as_zero"] = dict(control.nan_bases)
    return out


_ORDER = ("format", "format_version", "seqcnn_version", "inputs", "options", "length", "tasks", "tracks",
          "control_tracks", "outputs", "files", "configs", "configs_skipped", "split_chromosomes", "splits",
          "windows", "peaks", "negatives", "gc", "signal")


def _ordered(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its keys in reading order."""
    return {k: manifest[k] for k in _ORDER if k in manifest} | manifest
