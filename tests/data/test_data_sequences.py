"""Sequence data sets: sources, splits, targets, int8 storage and batch augmentations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seqcnn.config import DataConfig
from seqcnn.data.sequences import (
    SequenceAugment,
    load_sequence_splits,
    shift_sequences,
    split_fractions,
    synthetic_profiles,
)
from seqcnn.errors import ConfigError, InputError
from seqcnn.seq.encode import decode, one_hot, reverse_complement
from seqcnn.train.inputs import to_model_input

BASES = np.array(list("ACGT"))


def random_seqs(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(BASES, length)) for _ in range(n)]


def write_fasta(path: Path, ids: list[str], seqs: list[str]) -> Path:
    path.write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids, seqs, strict=True)))
    return path


def write_labels(path: Path, ids: list[str], columns: dict[str, list]) -> Path:
    pd.DataFrame({"id": ids, **columns}).to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture()
def fasta_labels(tmp_path: Path) -> tuple[Path, Path, list[str], np.ndarray]:
    ids = [f"r{i:03d}" for i in range(100)]
    seqs = random_seqs(100, 30)
    y = np.random.default_rng(1).integers(0, 2, size=(100, 2))
    fasta = write_fasta(tmp_path / "seqs.fa", ids, seqs)
    labels = write_labels(tmp_path / "labels.tsv", ids, {"a": y[:, 0], "b": y[:, 1]})
    return fasta, labels, seqs, y


def test_fasta_split_by_fractions(fasta_labels) -> None:
    fasta, labels, seqs, y = fasta_labels
    splits = load_sequence_splits(DataConfig(kind="fasta", fasta=str(fasta), labels=str(labels)), seed=3)
    sizes = [len(splits.train), len(splits.valid), len(splits.test)]
    assert sizes == [70, 10, 20]
    all_ids = splits.train.ids + splits.valid.ids + splits.test.ids
    assert sorted(all_ids) == [f"r{i:03d}" for i in range(100)]
    assert splits.tasks == ["a", "b"] and splits.input_length == 30
    ds = splits.valid
    assert ds.x.dtype == torch.int8 and ds.x.shape == (10, 4, 30)
    for row, rid in enumerate(ds.ids):
        k = int(rid[1:])
        assert decode(ds.x[row].numpy()) == seqs[k]
        assert ds.y[row].tolist() == y[k].tolist()
    again = load_sequence_splits(DataConfig(kind="fasta", fasta=str(fasta), labels=str(labels)), seed=3)
    assert again.test.ids == splits.test.ids


def test_split_fractions_sizes() -> None:
    parts = split_fractions(1000, [0.7, 0.1, 0.2], seed=0)
    assert [len(p) for p in parts] == [700, 100, 200]
    assert len(np.unique(np.concatenate(parts))) == 1000
    with pytest.raises(ConfigError, match="three non-negative"):
        split_fractions(10, [0.5, 0.5], seed=0)


def test_per_split_files_multiclass_words(tmp_path: Path) -> None:
    ids = [f"s{i}" for i in range(12)]
    seqs = random_seqs(12, 10)
    classes = ["enhancer", "promoter", "other"] * 4
    labels = write_labels(tmp_path / "classes.tsv", ids, {"kind": classes})
    files = {
        s: str(write_fasta(tmp_path / f"{s}.fa", ids[k::3], seqs[k::3]))
        for k, s in enumerate(("train", "valid", "test"))
    }
    cfg = DataConfig(kind="fasta", labels=str(labels), task_type="multiclass", **files)
    splits = load_sequence_splits(cfg)
    assert splits.tasks == ["enhancer", "other", "promoter"]  # sorted class names
    assert splits.train.y.dtype == torch.int64
    assert splits.train.y.tolist() == [0] * 4  # every third record is an enhancer


def test_label_and_length_errors(tmp_path: Path, fasta_labels) -> None:
    fasta, _, _, _ = fasta_labels
    ids = [f"r{i:03d}" for i in range(100)]
    bad = write_labels(tmp_path / "bad.tsv", ids, {"a": [0] * 99 + [2]})
    with pytest.raises(InputError, match="binary label must be 0 or 1, got 2.0 for task 'a'") as info:
        load_sequence_splits(DataConfig(kind="fasta", fasta=str(fasta), labels=str(bad)))
    assert info.value.record == "r099"
    short = write_labels(tmp_path / "short.tsv", ids[:-1], {"a": [0] * 99})
    with pytest.raises(InputError, match="have no labels"):
        load_sequence_splits(DataConfig(kind="fasta", fasta=str(fasta), labels=str(short)))
    with pytest.raises(ConfigError, match="data.labels is required"):
        load_sequence_splits(DataConfig(kind="fasta", fasta=str(fasta)))
    with pytest.raises(ConfigError, match="data.tasks"):
        load_sequence_splits(DataConfig(kind="fasta", fasta=str(fasta), labels=str(short), tasks=["zz"]))
    ragged = write_fasta(tmp_path / "ragged.fa", ["x", "y", "z"], ["ACGT", "ACGTAC", "AC"])
    lab = write_labels(tmp_path / "l.tsv", ["x", "y", "z"], {"a": [0, 1, 0]})
    cfg = DataConfig(kind="fasta", train=str(ragged), valid=str(ragged), test=str(ragged), labels=str(lab))
    with pytest.raises(InputError, match="set data.length"):
        load_sequence_splits(cfg)
    cfg.length = 4
    splits = load_sequence_splits(cfg)
    assert decode(splits.train.x.numpy()) == ["ACGT", "CGTA", "NACN"]  # centre crop / N padding


def test_simulate_folder_generated_and_read(tmp_path: Path) -> None:
    cfg = DataConfig(
        kind="simulate",
        path=str(tmp_path / "sim"),
        simulate={"n_sequences": 200, "length": 100, "max_instances": 2},
    )
    splits = load_sequence_splits(cfg, seed=0)
    assert (tmp_path / "sim" / "sites.tsv").is_file()
    assert len(splits.train) + len(splits.valid) + len(splits.test) == 200
    labels = pd.read_csv(tmp_path / "sim" / "labels.tsv", sep="\t", index_col=0)
    assert splits.tasks == list(labels.columns) and len(splits.tasks) == 12
    assert splits.test.y.numpy().tolist() == labels.loc[splits.test.ids].to_numpy().tolist()
    with pytest.raises(InputError, match="not a `seqcnn simulate` output folder"):
        load_sequence_splits(DataConfig(kind="simulate", path=str(tmp_path / "empty")))


def test_bed_genome_labels_with_chromosome_holdout(tmp_path: Path) -> None:
    genome = write_fasta(tmp_path / "genome.fa", ["chr1", "chr2", "chr3"], random_seqs(3, 400, seed=5))
    rows = [(c, s, s + 20, f"{c}_{s}") for c in ("chr1", "chr2", "chr3") for s in (10, 100, 200, 300)]
    bed = tmp_path / "peaks.bed"
    bed.write_text("".join(f"{c}\t{s}\t{e}\t{n}\n" for c, s, e, n in rows))
    labels = write_labels(tmp_path / "l.tsv", [r[3] for r in rows], {"bound": [1, 0] * 6})
    cfg = DataConfig(
        kind="bed",
        bed=str(bed),
        genome=str(genome),
        labels=str(labels),
        length=30,
        valid_chroms=["chr2"],
        test_chroms=["chr3"],
    )
    splits = load_sequence_splits(cfg)
    assert [i.split("_")[0] for i in splits.test.ids] == ["chr3"] * 4
    assert [i.split("_")[0] for i in splits.valid.ids] == ["chr2"] * 4
    assert splits.input_length == 30
    chrom1 = random_seqs(3, 400, seed=5)[0]
    assert decode(splits.train.x[0].numpy()) == chrom1[5:35]  # 30 bp centred on 10..30


def test_reverse_complement_augmentation() -> None:
    seqs = random_seqs(200, 12, seed=2)
    x = torch.from_numpy(one_hot(seqs, dtype=np.int8))
    y = torch.arange(200, dtype=torch.float32)[:, None]
    out, y_out = SequenceAugment(rc=True, generator=torch.Generator().manual_seed(0))(x, y)
    assert torch.equal(y_out, y)  # labels unchanged
    decoded = decode(out.numpy())
    flipped = [d != s for d, s in zip(decoded, seqs, strict=True)]
    for d, s, f in zip(decoded, seqs, flipped, strict=True):
        assert d == (reverse_complement(s) if f else s)
    assert 70 < sum(flipped) < 130  # p = 0.5


def test_shift_pads_with_n() -> None:
    x = torch.from_numpy(one_hot(["ACGTA", "ACGTA", "ACGTA"], dtype=np.int8))
    out = shift_sequences(x, torch.tensor([2, -1, 0]))
    assert decode(out.numpy()) == ["NNACG", "CGTAN", "ACGTA"]
    aug = SequenceAugment(shift=2, generator=torch.Generator().manual_seed(1))
    shifted, _ = aug(x.repeat(20, 1, 1), torch.zeros(60, 1))
    assert set(decode(shifted.numpy())) <= {"NNACG", "NACGT", "ACGTA", "CGTAN", "GTANN"}
    # N columns become 0.25 when upcast for the model
    model_input = to_model_input(out, "sequence", n_value=0.25, channels_last=False)
    assert model_input.dtype == torch.float32
    assert model_input[0, :, 0].tolist() == [0.25] * 4 and model_input[0, :, 2].tolist() == [1, 0, 0, 0]


def test_profile_targets_move_with_their_sequence() -> None:
    x = torch.from_numpy(one_hot(["AACCG"], dtype=np.int8))
    y = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    gen = torch.Generator().manual_seed(0)
    while True:  # draw until the sequence is flipped
        out, y_out = SequenceAugment(rc=True, generator=gen)(x, y)
        if decode(out[0].numpy()) != "AACCG":
            break
    assert decode(out[0].numpy()) == "CGGTT"
    assert y_out[0, 0].tolist() == [5.0, 4.0, 3.0, 2.0, 1.0]


def test_synthetic_profiles_peak_at_sites() -> None:
    sites = pd.DataFrame({"id": ["a", "b"], "start": [40, 10], "end": [50, 20], "motif": ["M1", "M2"]})
    counts = synthetic_profiles(sites, ["a", "b", "c"], ["M1", "M2"], 100, np.random.default_rng(0))
    assert counts.shape == (3, 2, 100)
    assert 35 <= counts[0, 0].argmax() <= 54 and 5 <= counts[1, 1].argmax() <= 24
    assert counts[0, 0].sum() > 5 * counts[2, 0].sum()  # peak reads vs background only
