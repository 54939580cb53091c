"""Fused first block (seqcnn.score.accel.fused): equal to the plain block on codes, or refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import seqcnn.score.accel.fused as pb
from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.heads import GlobalPool
from seqcnn.models.registry import build_model
from seqcnn.score.accel.fused import FusedFirstBlock, fusable_first_block
from seqcnn.score.accel.table import FastPathBypassed
from seqcnn.score.scorer import Scorer
from seqcnn.score.scoring import score_fasta, score_records
from seqcnn.seq.codes import codes_to_onehot


def _randomise_norms(module: nn.Module, seed: int = 0) -> None:
    """Batch-norm statistics and affine parameters away from the identity (negative scales too)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.normal_(generator=gen)
                m.running_var.uniform_(0.3, 3.0, generator=gen)
                m.weight.normal_(generator=gen)
                m.bias.normal_(generator=gen)


def _codes(n: int, length: int, seed: int, top: int = 6) -> np.ndarray:
    """Codes 0..top-1 (A C G T N pad); the first row is all bases, the second has N and padding."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length), dtype=np.uint8)
    if top > 4 and n > 1:
        codes[1] = rng.integers(0, top, size=length)
    return codes


def _compare(block: nn.Sequential, pool: GlobalPool | None, codes: np.ndarray, threads: int = 2) -> None:
    block.eval()
    fused = FusedFirstBlock(block, pool)
    fused.threads = threads
    x = torch.from_numpy(codes_to_onehot(codes))
    token = torch.zeros(()).expand(*x.shape)
    with torch.no_grad():
        want = pool(block(x)) if pool is not None else block(x)
        fused.arm(token, codes)
        got = fused(token)
        fused.disarm()
        unarmed = fused(x)
    assert got.shape == want.shape
    scale = max(1.0, float(want.abs().max()))
    assert float((got - want).abs().max()) < 2e-5 * scale
    assert torch.equal(unarmed, want)  # unarmed it is the plain block


@pytest.mark.parametrize(("out_ch", "kernel", "padding", "act", "norm", "pool_size", "pool_stride"), [
    (16, 24, "valid", "relu", None, 3, None),
    (300, 19, "valid", "relu", "batch", 3, None),    # Basset's first block
    (30, 19, "same", "exp", "batch", 4, None),       # koo_cnn-like: padding reads the pad code
    (5, 6, "valid", "sigmoid", None, 4, 2),          # overlapping windows, fewer than 16 channels
    (20, 7, "causal", "elu", "batch", 2, None),      # an explicit left pad module
    (33, 8, "same", "identity", None, 5, 3),         # even kernel, channels across 3 blocks
])
def test_local_max_pool_block_equals_plain(out_ch: int, kernel: int, padding: str, act: str, norm: str | None,
                                           pool_size: int, pool_stride: int | None) -> None:
    torch.manual_seed(out_ch)
    block = ConvBlock(4, out_ch, kernel, padding=padding, activation=act, norm=norm, pool="max",
                      pool_size=pool_size, pool_stride=pool_stride, dropout=0.2)
    _randomise_norms(block, out_ch)
    for top in (4, 6):  # ACGT only (radix-4 tables where there is no padding) and with N / padding
        _compare(block, None, _codes(37, 90, seed=kernel, top=top))


@pytest.mark.parametrize("kind", ["max", "avg", "maxavg"])
@pytest.mark.parametrize("act", ["relu", "exp", "identity"])
def test_global_pool_block_equals_plain(kind: str, act: str) -> None:
    torch.manual_seed(1)
    block = ConvBlock(4, 16, 24, padding="valid", activation=act)
    with torch.no_grad():
        block.conv.weight.mul_(0.3)  # keeps exp() in range
    for top in (4, 6):
        _compare(block, GlobalPool(kind), _codes(70, 120, seed=2, top=top))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_and_row_slices_cover_every_row(threads: int) -> None:
    torch.manual_seed(2)
    block = ConvBlock(4, 24, 9, padding="valid", activation="relu")
    for n in (1, pb.SLICE_ROWS - 1, pb.SLICE_ROWS * 3 + 5):
        _compare(block, GlobalPool("max"), _codes(n, 50, seed=n), threads=threads)


def test_stride_and_short_inputs() -> None:
    torch.manual_seed(3)
    block = ConvBlock(4, 16, 5, stride=2, padding="valid", activation="relu", pool="max", pool_size=2)
    _compare(block, None, _codes(9, 41, seed=5))
    fused = FusedFirstBlock(block.eval())
    codes = _codes(2, 6, seed=1)
    fused.arm(torch.zeros(()).expand(2, 4, 6), codes)
    with pytest.raises(ValueError, match="too short"):
        fused(fused._token)


@pytest.mark.parametrize("block", [
    ConvBlock(4, 8, 5, activation="gelu", pool="max"),            # not monotone
    ConvBlock(4, 8, 5, activation=nn.LeakyReLU(-0.5), pool="max"),  # decreasing part
    ConvBlock(4, 8, 5, activation="relu", pool="avg"),            # local average pool
    ConvBlock(4, 8, 5, activation="relu", dilation=2, pool="max"),  # dilated
    ConvBlock(8, 8, 5, activation="relu", pool="max"),            # not one-hot input
    ConvBlock(4, 8, 5, activation="relu"),                        # no pooling at all
])
def test_blocks_it_cannot_reproduce_are_refused(block: nn.Sequential) -> None:
    assert not FusedFirstBlock.supports(block.eval())


def test_training_mode_norm_and_avg_pool_of_other_activations_are_refused() -> None:
    block = ConvBlock(4, 8, 5, activation="relu", norm="batch", pool="max")
    assert not FusedFirstBlock.supports(block.train())
    assert FusedFirstBlock.supports(block.eval())
    sig = ConvBlock(4, 8, 5, activation="sigmoid").eval()
    assert FusedFirstBlock.supports(sig, GlobalPool("max"))
    assert not FusedFirstBlock.supports(sig, GlobalPool("avg"))  # the kernel cannot average sigmoid


def test_armed_block_refuses_other_inputs() -> None:
    fused = FusedFirstBlock(ConvBlock(4, 8, 5, activation="relu", pool="max").eval())
    fused.arm(torch.zeros(()).expand(1, 4, 20), _codes(1, 20, seed=0))
    with pytest.raises(FastPathBypassed):
        fused(torch.zeros(1, 4, 20))


@pytest.mark.parametrize(("name", "kwargs", "global_pool"), [
    ("deepbind", {}, True),
    ("deepbind", {"pool": "maxavg", "n_filters": 20}, True),
    ("basset", {"input_length": 300, "n_tasks": 3}, False),
    ("koo_cnn", {}, False),
])
def test_registered_models_get_the_fused_block(name: str, kwargs: dict, global_pool: bool) -> None:
    torch.manual_seed(4)
    model = build_model(name, **kwargs).eval()
    _randomise_norms(model, 4)
    found = fusable_first_block(model)
    assert found is not None and (found[2] is not None) == global_pool
    scorer, plain = Scorer(model, rc="none"), Scorer(model, rc="none", fast=False)
    assert isinstance(scorer.table, FusedFirstBlock)
    length = model.input_length or 500
    rng = np.random.default_rng(5)
    seqs = ["".join(rng.choice(list("ACGTN" if i % 3 == 0 else "ACGT"), size=length)) for i in range(40)]
    records = [(f"r{i}", s) for i, s in enumerate(seqs)]
    fast = np.concatenate([s for _, s in score_records(scorer, records, batch_size=None)])
    dense = np.concatenate([s for _, s in score_records(plain, records, batch_size=16)])
    np.testing.assert_allclose(fast, dense, rtol=1e-5, atol=1e-6)


def test_score_fasta_block_path_equals_record_path(tmp_path) -> None:
    """Equal-length valid blocks skip the per-record path; mixed blocks take it; same scores."""
    torch.manual_seed(6)
    model = build_model("deepbind", n_tasks=2).eval()
    rng = np.random.default_rng(6)
    uniform = [(f"u{i}", "".join(rng.choice(list("ACGTN"), size=100))) for i in range(50)]
    mixed = [(f"m{i}", "".join(rng.choice(list("acgtRY"), size=int(rng.integers(30, 90)))))
             for i in range(20)]
    for records in (uniform, mixed, uniform + mixed):
        path = tmp_path / "x.fa"
        path.write_text("".join(f">{rid} desc\n{seq[:40]}\n{seq[40:]}\n" for rid, seq in records))
        scorer = Scorer(model, rc="mean")
        by_block = [(c.keys, s) for c, s in score_fasta(scorer, str(path), batch_size=None)]
        by_record = [(c.keys, s) for c, s in score_records(scorer, records, batch_size=7)]
        assert sum((k for k, _ in by_block), []) == [rid for rid, _ in records]
        np.testing.assert_allclose(np.concatenate([s for _, s in by_block]),
                                   np.concatenate([s for _, s in by_record]), rtol=1e-5, atol=1e-6)
