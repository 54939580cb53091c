"""Sequence data sets: one-hot int8 at rest, labels per task, batch augmentations.

Sources (all split into train/valid/test):

* ``seqcnn simulate`` output: ``train.fa valid.fa test.fa labels.tsv sites.tsv`` in one folder
  (made with :func:`seqcnn.seq.simulate.simulate_dataset` when missing and options are given);
* FASTA + labels TSV (one FASTA split by fractions, or one FASTA per split);
* BED + genome FASTA + labels TSV (split by held-out chromosomes or by fractions).

Sequences are held as int8 ``(N, 4, L)`` (N = all zeros) and upcast per batch with
:func:`seqcnn.seq.encode.upcast`. Targets: ``(N, T)`` float32 for binary and regression tasks,
``(N,)`` int64 class indices for multiclass, ``(N, T, L)`` float32 counts for profiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import Dataset

from seqcnn.config import DataConfig
from seqcnn.errors import ConfigError, InputError
from seqcnn.seq.encode import one_hot, pad_or_crop
from seqcnn.seq.fasta import read_fasta

SPLITS = ("train", "valid", "test")
SIMULATE_FILES = ("train.fa", "valid.fa", "test.fa", "labels.tsv")
# synthetic profile targets around planted sites: peak height (expected reads) and width (bp)
PROFILE_PEAK_COUNTS = 40.0
PROFILE_PEAK_SIGMA = 4.0
PROFILE_BACKGROUND = 0.02

Records = list[tuple[str, str]]


class SequenceDataset(Dataset):
    """One-hot sequences ``x`` int8 ``(N, 4, L)`` with targets ``y`` and record ids.

    ``dataset[i]`` gives ``(x_i, y_i)`` (int8); :meth:`batch` gathers many at once, which is how
    the trainer reads it (no per-item Python overhead).
    """

    def __init__(self, x: Tensor, y: Tensor, ids: Sequence[str]) -> None:
        if x.dtype != torch.int8 or x.ndim != 3:
            raise ValueError(f"x must be int8 (N, 4, L), got {x.dtype} {tuple(x.shape)}")
        if y.shape[0] != x.shape[0] or len(ids) != x.shape[0]:
            raise ValueError(f"{x.shape[0]} sequences but {y.shape[0]} targets and {len(ids)} ids")
        self.x = x.contiguous()
        self.y = y.contiguous()
        self.ids = list(ids)

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.x[index], self.y[index]

    def batch(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """Rows ``index`` (1D int64) as ``(x int8 (B, 4, L), y)``."""
        return self.x[index], self.y[index]


@dataclass
class SequenceSplits:
    """Train/valid/test data sets and what a model needs to know about them."""

    train: SequenceDataset
    valid: SequenceDataset
    test: SequenceDataset
    tasks: list[str]
    task_type: str
    input_length: int
    sources: dict[str, str] = field(default_factory=dict)


class SequenceAugment:
    """Batch augmentation on int8 one-hot ``x (N, 4, L)``.

    ``rc``: each sequence is reverse-complemented with probability 0.5 (labels unchanged; profile
    targets ``(N, T, L)`` are mirrored with their sequence). ``shift``: each sequence moves by a
    uniform ``s`` in ``[-shift, shift]``, the uncovered end filled with N (all-zero columns).
    Randomness comes from ``generator`` (CPU), so a saved generator state replays it exactly.
    """

    def __init__(self, *, rc: bool = False, shift: int = 0, generator: torch.Generator | None = None) -> None:
        if shift < 0:
            raise ValueError(f"shift must be >= 0, got {shift}")
        self.rc = rc
        self.shift = shift
        self.generator = generator

    @property
    def active(self) -> bool:
        return self.rc or self.shift > 0

    def __call__(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        profile = y.ndim == 3 and y.shape[-1] == x.shape[-1]
        if self.rc:
            flip = (torch.rand(x.shape[0], generator=self.generator) < 0.5).to(x.device)
            x = torch.where(flip[:, None, None], x.flip(1, 2), x)  # ACGT order: flipping A..T is complement
            if profile:
                y = torch.where(flip[:, None, None], y.flip(2), y)
        if self.shift:
            s = torch.randint(-self.shift, self.shift + 1, (x.shape[0],), generator=self.generator)
            x = shift_sequences(x, s.to(x.device))
            if profile:
                y = shift_sequences(y, s.to(y.device))
        return x, y


def shift_sequences(x: Tensor, shifts: Tensor) -> Tensor:
    """Shift each sequence along its length, zero-filling the gap (shift augmentation).

    Parameters
    ----------
    x
        ``(N, C, L)`` sequences (or profiles).
    shifts
        ``(N,)`` integer shifts: right when positive, left when negative.

    Returns
    -------
    torch.Tensor
        ``(N, C, L)``, the same dtype and device as ``x``.
    """
    length = x.shape[-1]
    source = torch.arange(length, device=x.device)[None, :] - shifts[:, None]  # (N, L)
    valid = (source >= 0) & (source < length)
    index = source.clamp(0, length - 1)[:, None, :].expand(-1, x.shape[1], -1)
    return torch.gather(x, 2, index) * valid[:, None, :].to(x.dtype)


# ---------------------------------------------------------------------------------------------
# loading


def load_sequence_splits(cfg: DataConfig, *, seed: int = 0) -> SequenceSplits:
    """Read, encode and split the sequences a data config names.

    Parameters
    ----------
    cfg
        The data section: ``kind`` ``simulate``, ``fasta`` or ``bed``, with its paths, labels, tasks,
        task type, length and split.
    seed
        Seed of the split (and of simulated data).

    Returns
    -------
    SequenceSplits
        Train, valid and test data sets (int8 one-hot ``(N, 4, L)`` and targets), task names, task
        type and input length.

    Raises
    ------
    ConfigError
        A kind that is not a sequence source, or a missing required key.
    InputError
        Missing or unreadable files, bad records or labels, or an empty split.
    """
    if cfg.kind == "simulate":
        records, labels_path, sites = _simulate_records(cfg, seed)
    elif cfg.kind == "fasta":
        records, labels_path, sites = _fasta_records(cfg, seed), _required(cfg, "labels"), None
    elif cfg.kind == "bed":
        records, labels_path, sites = _bed_records(cfg, seed), _required(cfg, "labels"), None
    else:
        raise ConfigError(f"data.kind {cfg.kind!r} is not a sequence source")
    if cfg.limit is not None:
        records = {k: v[: cfg.limit] for k, v in records.items()}
    tasks, targets = _targets(cfg, records, labels_path, sites, seed)
    datasets = {}
    for split in SPLITS:
        x = _encode(records[split], cfg.length, f"{split} split")
        datasets[split] = SequenceDataset(x, targets[split], [r[0] for r in records[split]])
    length = datasets["train"].x.shape[-1]
    for split in SPLITS:
        if len(datasets[split]) == 0:
            raise InputError(f"the {split} split is empty", file=labels_path)
        if datasets[split].x.shape[-1] != length:
            raise InputError(
                f"{split} sequences are {datasets[split].x.shape[-1]} bp, train are {length} bp; "
                "set data.length to pad/crop them"
            )
    return SequenceSplits(
        **datasets,
        tasks=tasks,
        task_type=cfg.task_type,
        input_length=length,
        sources={"labels": str(labels_path)},
    )


def _required(cfg: DataConfig, key: str) -> str:
    value = getattr(cfg, key)
    if value is None:
        raise ConfigError(f"data.{key} is required for data.kind {cfg.kind!r}")
    return value


def _read_records(path: str) -> Records:
    if not Path(path).is_file():
        raise InputError("FASTA file not found", file=path)
    return list(read_fasta(path))


def _encode(records: Records, length: int | None, where: str) -> Tensor:
    seqs = [s if length is None else pad_or_crop(s, length) for _, s in records]
    if not seqs:
        return torch.zeros((0, 4, length or 0), dtype=torch.int8)
    lengths = {len(s) for s in seqs}
    if len(lengths) > 1:
        raise InputError(
            f"{where}: sequences have lengths {sorted(lengths)[:5]}; set data.length to "
            "pad/crop them to one length"
        )
    return torch.from_numpy(np.ascontiguousarray(one_hot(seqs, dtype=np.int8, ids=[r[0] for r in records])))


def split_fractions(n: int, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Seeded random train/valid/test indices.

    Parameters
    ----------
    n
        Number of items.
    fractions
        Three non-negative weights (train, valid, test), normalised to sum to 1.
    seed
        Seed of the permutation.

    Returns
    -------
    list of numpy.ndarray
        Three sorted index arrays with sizes in proportion to ``fractions``.

    Raises
    ------
    ConfigError
        Not three non-negative fractions with a positive sum.
    """
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) <= 0:
        raise ConfigError(f"data.split must be three non-negative fractions, got {list(fractions)}")
    weights = np.asarray(fractions, dtype=float) / sum(fractions)
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.round(np.cumsum(weights)[:2] * n).astype(int)
    return [np.sort(part) for part in np.split(order, cuts)]


def _simulate_records(cfg: DataConfig, seed: int) -> tuple[dict[str, Records], str, str]:
    folder = Path(_required(cfg, "path"))
    if not all((folder / f).is_file() for f in SIMULATE_FILES):
        if not cfg.simulate:
            raise InputError(
                f"not a `seqcnn simulate` output folder (needs {', '.join(SIMULATE_FILES)}); "
                "add data.simulate options to generate it",
                file=str(folder),
            )
        from seqcnn.seq.simulate import simulate_dataset

        folder.mkdir(parents=True, exist_ok=True)
        options = {"seed": seed, **cfg.simulate}
        try:
            simulate_dataset(folder, **options)
        except TypeError as exc:
            raise ConfigError(f"data.simulate: {exc}") from exc
    records = {split: _read_records(str(folder / f"{split}.fa")) for split in SPLITS}
    return records, str(folder / "labels.tsv"), str(folder / "sites.tsv")


def _fasta_records(cfg: DataConfig, seed: int) -> dict[str, Records]:
    if cfg.fasta is not None:
        records = _read_records(cfg.fasta)
        parts = split_fractions(len(records), cfg.split, seed)
        return {split: [records[i] for i in idx] for split, idx in zip(SPLITS, parts, strict=True)}
    missing = [f"data.{s}" for s in SPLITS if getattr(cfg, s) is None]
    if missing:
        raise ConfigError(
            f"data.kind 'fasta' needs data.fasta or all of data.train/valid/test "
            f"(missing {', '.join(missing)})"
        )
    return {split: _read_records(getattr(cfg, split)) for split in SPLITS}


def _bed_records(cfg: DataConfig, seed: int) -> dict[str, Records]:
    from seqcnn.seq.genome import Genome, bed_sequences, read_bed

    bed = read_bed(_required(cfg, "bed"))
    genome = Genome(_required(cfg, "genome"))
    records = bed_sequences(bed, genome, width=cfg.length)
    names = bed["name"].astype(str).tolist() if "name" in bed else []
    if names and all(n not in ("", ".", "nan", "None") for n in names) and len(set(names)) == len(names):
        records = [(name, seq) for name, (_, seq) in zip(names, records, strict=True)]
    chroms = bed["chrom"].astype(str).to_numpy()
    if cfg.valid_chroms or cfg.test_chroms:
        is_test = np.isin(chroms, cfg.test_chroms)
        is_valid = np.isin(chroms, cfg.valid_chroms) & ~is_test
        masks = [~(is_test | is_valid), is_valid, is_test]
        return {
            split: [records[i] for i in np.flatnonzero(m)] for split, m in zip(SPLITS, masks, strict=True)
        }
    parts = split_fractions(len(records), cfg.split, seed)
    return {split: [records[i] for i in idx] for split, idx in zip(SPLITS, parts, strict=True)}


# ---------------------------------------------------------------------------------------------
# targets


def _targets(
    cfg: DataConfig, records: dict[str, Records], labels_path: str, sites: str | None, seed: int
) -> tuple[list[str], dict[str, Tensor]]:
    from seqcnn.seq.labels import align_labels, read_labels

    ids = {split: [r[0] for r in records[split]] for split in SPLITS}
    if cfg.task_type == "profile":
        return _profile_targets(cfg, records, labels_path, sites, seed)
    if cfg.task_type not in ("binary", "multiclass", "regression"):
        raise ConfigError(f"data.task_type {cfg.task_type!r} needs image data (data.kind: images)")
    labels = _read_class_labels(labels_path) if cfg.task_type == "multiclass" else read_labels(labels_path)
    tasks = list(cfg.tasks or labels.columns)
    unknown = [t for t in tasks if t not in labels.columns]
    if unknown:
        raise ConfigError(f"data.tasks: {unknown} not in {labels_path} (columns: {list(labels.columns)})")
    if cfg.task_type == "multiclass":
        return _multiclass_targets(labels, tasks, ids, labels_path)
    out = {s: torch.tensor(align_labels(labels[tasks], ids[s], file=labels_path)) for s in SPLITS}
    if cfg.task_type == "binary":
        for split, y in out.items():
            bad = ~((y == 0) | (y == 1))
            if bool(bad.any()):
                row, col = (int(v) for v in bad.nonzero()[0])
                raise InputError(
                    f"binary label must be 0 or 1, got {float(y[row, col])!r} for task {tasks[col]!r}",
                    file=labels_path,
                    record=ids[split][row],
                )
    return tasks, out


def _read_class_labels(path: str) -> pd.DataFrame:
    """A labels TSV read as text (class names may be words), indexed by its first column."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (FileNotFoundError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"cannot read labels ({type(exc).__name__})", file=path) from exc
    if table.shape[1] < 2:
        raise InputError("labels need an id column and a class column", file=path)
    return table.set_index(table.columns[0])


def _multiclass_targets(
    labels: pd.DataFrame, tasks: list[str], ids: dict[str, list[str]], file: str
) -> tuple[list[str], dict[str, Tensor]]:
    if len(tasks) != 1:
        raise ConfigError(f"multiclass data needs one label column (data.tasks), got {tasks}")
    column = labels[tasks[0]].astype(str)
    values = list(column.unique())
    numeric = all(v.lstrip("-").isdigit() for v in values)
    classes = sorted(values, key=int) if numeric else sorted(values)
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    for split, split_ids in ids.items():
        missing = [i for i in split_ids if i not in column.index]
        if missing:
            raise InputError(
                f"{len(missing)} {split} record(s) have no label, e.g. {missing[0]!r}", file=file
            )
        out[split] = torch.tensor([index[c] for c in column.loc[split_ids]], dtype=torch.int64)
    return classes, out


def _profile_targets(
    cfg: DataConfig, records: dict[str, Records], labels_path: str, sites: str | None, seed: int
) -> tuple[list[str], dict[str, Tensor]]:
    """Profiles from a ``.npz`` (``id`` (N,), ``profile`` (N, T, L), optional ``tasks``) or, for
    simulated data, synthetic read counts piled up around each planted site (see module constants)."""
    length = cfg.length or len(records["train"][0][1])
    if labels_path.endswith(".npz"):
        return _npz_profiles(labels_path, records, cfg.tasks)
    if sites is None or not Path(sites).is_file():
        raise ConfigError(
            "profile targets need data.labels as a .npz (id, profile) or simulated data with sites.tsv"
        )
    from seqcnn.seq.labels import read_labels

    table = pd.read_csv(sites, sep="\t", dtype={"id": str})
    tasks = list(cfg.tasks or read_labels(labels_path).columns)
    rng = np.random.default_rng(seed)
    out = {}
    for split in SPLITS:
        ids = [r[0] for r in records[split]]
        out[split] = torch.from_numpy(synthetic_profiles(table, ids, tasks, length, rng))
    return tasks, out


def synthetic_profiles(
    sites: pd.DataFrame, ids: list[str], tasks: list[str], length: int, rng: np.random.Generator
) -> np.ndarray:
    """Poisson read counts ``(N, T, L)``: a Gaussian peak at the centre of each site of each task's motif."""
    row = {rid: i for i, rid in enumerate(ids)}
    col = {t: j for j, t in enumerate(tasks)}
    rate = np.full((len(ids), len(tasks), length), PROFILE_BACKGROUND, dtype=np.float64)
    positions = np.arange(length)
    for rid, start, end, motif in sites[["id", "start", "end", "motif"]].itertuples(index=False):
        if rid in row and motif in col:
            centre = (start + end - 1) / 2
            peak = np.exp(-0.5 * ((positions - centre) / PROFILE_PEAK_SIGMA) ** 2)
            rate[row[rid], col[motif]] += PROFILE_PEAK_COUNTS * peak / peak.sum() * 4
    return rng.poisson(rate).astype(np.float32)


def _npz_profiles(
    path: str, records: dict[str, Records], tasks: list[str] | None
) -> tuple[list[str], dict[str, Tensor]]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            ids = [str(i) for i in npz["id"]]
            profiles = np.asarray(npz["profile"], dtype=np.float32)
            names = [str(t) for t in npz["tasks"]] if "tasks" in npz.files else None
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"cannot read profiles (need arrays id and profile): {exc}", file=path) from exc
    if profiles.ndim != 3 or profiles.shape[0] != len(ids):
        raise InputError(f"profile must be (N, T, L) with N = len(id), got {profiles.shape}", file=path)
    names = names or tasks or [f"task{i}" for i in range(profiles.shape[1])]
    where = {rid: i for i, rid in enumerate(ids)}
    out = {}
    for split in SPLITS:
        missing = [r[0] for r in records[split] if r[0] not in where]
        if missing:
            raise InputError(f"no profile for record {missing[0]!r}", file=path)
        out[split] = torch.from_numpy(profiles[[where[r[0]] for r in records[split]]])
    return names, out


def load_labelled_fasta(
    fasta: str, labels: str, *, tasks: list[str] | None, task_type: str, length: int | None = None
) -> tuple[SequenceDataset, list[str]]:
    """One FASTA file with its labels as one data set (no split).

    Parameters
    ----------
    fasta
        The FASTA file.
    labels
        A TSV with an ``id`` column and one column per task (or a class column for multiclass), or
        an ``.npz`` of counts for profile models.
    tasks
        Task columns to keep (None: all).
    task_type
        The task type of the labels.
    length
        Required sequence length (None: the records' common length).

    Returns
    -------
    tuple
        The :class:`SequenceDataset` and the task names (class names for multiclass).

    Raises
    ------
    InputError
        No records, bad records, or labels that do not fit them.
    """
    records = _read_records(fasta)
    if not records:
        raise InputError("no FASTA records", file=fasta)
    cfg = DataConfig(kind="fasta", labels=labels, tasks=tasks, task_type=task_type, length=length)  # type: ignore[arg-type]
    same = {split: records for split in SPLITS}
    names, targets = _targets(cfg, same, labels, None, seed=0)
    return SequenceDataset(_encode(records, length, fasta), targets["test"], [r[0] for r in records]), names
