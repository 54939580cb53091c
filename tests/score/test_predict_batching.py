"""Automatic batch sizes of the scorer (``batch_size=None``, the ``seqcnn score`` default)."""

from __future__ import annotations

import numpy as np
import torch

from seqcnn.models.registry import build_model
from seqcnn.score.accel.fft import FFTConv1d
from seqcnn.score.accel.fused import FusedFirstBlock
from seqcnn.score.scorer import AUTO_BATCH, FUSED_BATCH, FUSED_BATCH_BASES, Scorer
from seqcnn.score.scoring import score_records, score_windows
from seqcnn.score.stream import rows_per_batch


def _seqs(n: int, lengths: list[int], seed: int = 0) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    return [(f"s{i}", "".join(rng.choice(list("ACGTN"), size=lengths[i % len(lengths)]))) for i in range(n)]


def test_rows_per_batch() -> None:
    assert rows_per_batch(256, 1000, None) == 256
    assert rows_per_batch(1024, 1000, 1 << 20) == 1024
    assert rows_per_batch(1024, 100_000, 1 << 20) == 10
    assert rows_per_batch(1024, 10**7, 1 << 20) == 1


def test_batch_plan_depends_on_first_layer_width() -> None:
    torch.manual_seed(0)
    narrow = Scorer(build_model("deepbind", n_tasks=1), rc="none", fast=False)  # plain forward
    wide = Scorer(build_model("basset", n_tasks=3, input_length=1000), rc="none", fast=False)
    assert narrow.batch_plan(64) == (64, None)
    size, bases = narrow.batch_plan(None)
    assert size == AUTO_BATCH and 200 <= bases // 1000 < AUTO_BATCH  # ~256 of 1,000 bp
    assert bases // 200 >= AUTO_BATCH  # short inputs: full batches
    size, bases = wide.batch_plan(None)
    assert bases // 1000 < AUTO_BATCH and bases // 1000 >= 200


def test_batch_plan_of_the_fast_paths() -> None:
    torch.manual_seed(0)
    pooled = Scorer(build_model("deepbind", n_tasks=1), rc="none")  # fused first block + global max
    assert isinstance(pooled.table, FusedFirstBlock)
    assert pooled.batch_plan(None) == (FUSED_BATCH, FUSED_BATCH_BASES)  # only codes in memory
    assert pooled.batch_plan(64) == (64, None)
    fft = Scorer(build_model("basset", n_tasks=3, input_length=1000), rc="none")
    assert any(isinstance(m, FFTConv1d) for m in fft.model.modules())
    size, bases = fft.batch_plan(None)  # FFT spectra: half the bases of the plain plan
    assert size == AUTO_BATCH and 100 <= bases // 1000 < 200


def test_auto_batches_give_the_same_scores() -> None:
    torch.manual_seed(0)
    scorer = Scorer(build_model("deepbind", n_tasks=2), rc="mean")
    records = _seqs(300, [50, 3000, 120, 51])
    fixed = np.concatenate([s for _, s in score_records(scorer, records, batch_size=7)])
    auto = np.concatenate([s for _, s in score_records(scorer, records, batch_size=None)])
    np.testing.assert_allclose(auto, fixed, rtol=1e-5, atol=1e-6)
    win_fixed = np.concatenate([s for _, s in score_windows(scorer, records[:20], window=40, step=13,
                                                            batch_size=5)])
    win_auto = np.concatenate([s for _, s in score_windows(scorer, records[:20], window=40, step=13,
                                                           batch_size=None)])
    np.testing.assert_allclose(win_auto, win_fixed, rtol=1e-5, atol=1e-6)
