"""Fast ISM's dense head (folded batch norm, fused ReLU, zero-column skipping, row order) and its
spectral convolution, against naive ISM and direct arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from seqcnn.interpret.ism import ism, naive_ism
from seqcnn.interpret.ism.engine.conv import Spectral
from seqcnn.interpret.ism.engine.head import DenseLinear, output_columns
from seqcnn.interpret.ism.engine.plan import plan
from seqcnn.interpret.ism.engine.reduce import Dense, FlatLinear, PendingFlat, sparse_product
from seqcnn.interpret.ism.engine.trace import record


class SkipDense(nn.Module):
    """``relu(bn(lin(x))) + lin(x)``: the linear output is read twice, so nothing may fold into it."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.lin, self.norm = nn.Linear(n, n), nn.BatchNorm1d(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lin(x)
        return torch.relu(self.norm(y)) + y


def folded_head() -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(4, 32, 5), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(), nn.LazyLinear(96),
        nn.BatchNorm1d(96), nn.ReLU(), nn.Dropout(0.2), nn.Linear(96, 80), nn.BatchNorm1d(80), nn.ReLU(),
        nn.Linear(80, 3))


def unfoldable_head() -> nn.Module:
    return nn.Sequential(nn.Conv1d(4, 6, 5), nn.ReLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten(),
                         nn.Linear(6, 70), SkipDense(70), nn.Linear(70, 2))


@pytest.fixture
def built(randomize_norms):
    """``built(make, length=40)``: the model ``make()`` seeded, materialised, in double precision and eval
    mode with random batch-norm statistics."""

    def build(make, length: int = 40) -> nn.Module:
        torch.manual_seed(2)
        model = make()
        model(torch.zeros(2, 4, length))  # materialise lazy layers
        return randomize_norms(model.double()).eval()

    return build


@pytest.mark.parametrize("make", [folded_head, unfoldable_head])
def test_head_rewrites_match_naive(make, random_one_hot, assert_matches_naive, built) -> None:
    model = built(make)
    assert_matches_naive(model, random_one_hot(3, 40, seed=5, n_columns=2))


def test_batch_norms_and_relus_fold_into_the_linears_before_them(random_one_hot, built) -> None:
    model = built(folded_head)
    the_plan = plan(record(model, random_one_hot(1, 40)), 0, 40)
    head = the_plan.steps[the_plan.boundary:]
    assert not [s for s in head if isinstance(s, Dense)]  # batch norms, ReLUs and dropout all gone
    assert [s.relu for s in head if isinstance(s, DenseLinear)] == [True, False]
    flat = the_plan.steps[the_plan.boundary - 1]
    assert isinstance(flat, FlatLinear) and flat.relu and flat.reference != flat.out


def test_targets_keep_only_their_columns_of_the_last_linear(random_one_hot, built) -> None:
    model = built(folded_head)
    the_plan = plan(record(model, random_one_hot(1, 40)), 0, 40)
    head = the_plan.steps[the_plan.boundary:]
    kept, pick = output_columns(head, the_plan.output, [2, 0])
    assert pick is None and kept[:-1] == head[:-1]
    assert kept[-1].weight_t.shape == (80, 2) and torch.equal(kept[-1].bias, head[-1].bias[[2, 0]])
    assert output_columns(head, the_plan.output, None) == (head, None)
    x = random_one_hot(2, 40, seed=3)
    np.testing.assert_allclose(ism(model, x, target=[2, 0]).delta, naive_ism(model, x).delta[..., [2, 0]],
                               rtol=1e-9, atol=1e-14)


def test_targets_of_a_model_not_ending_in_a_linear_are_picked_after(random_one_hot, built) -> None:
    model = nn.Sequential(built(folded_head), nn.Sigmoid()).eval()
    the_plan = plan(record(model, random_one_hot(1, 40)), 0, 40)
    head = the_plan.steps[the_plan.boundary:]
    assert output_columns(head, the_plan.output, [1]) == (head, [1])
    x = random_one_hot(2, 40, seed=4)
    np.testing.assert_allclose(ism(model, x, target=1).delta, naive_ism(model, x).delta[..., [1]],
                               rtol=1e-9, atol=1e-14)


def test_a_linear_read_twice_keeps_its_batch_norm(random_one_hot, built) -> None:
    model = built(unfoldable_head)
    the_plan = plan(record(model, random_one_hot(1, 40)), 0, 40)
    names = [s.op.name for s in the_plan.steps[the_plan.boundary:] if isinstance(s, Dense)]
    assert "batch_norm" in names and "relu" in names


def test_sparse_product_leaves_out_columns_that_are_zero_in_every_row() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(50, 100, generator=g, dtype=torch.float64)
    x[:, ::2] = 0  # half the columns off in every row
    weight_t = torch.rand(100, 7, generator=g, dtype=torch.float64)
    bias = torch.rand(7, generator=g, dtype=torch.float64)
    expected = x @ weight_t + bias
    weight_t[::2] = torch.nan  # rows that meet only zero columns: read them and the result is NaN
    np.testing.assert_allclose(sparse_product(x, weight_t, bias), expected, rtol=1e-13)
    x[0, 0] = 1.0  # one nonzero entry puts that column back in: its NaN weights now count
    assert torch.isnan(sparse_product(x, weight_t, None)[0]).all()
    x[0, 0] = 0.0
    np.testing.assert_allclose(sparse_product(x, weight_t, bias), expected, rtol=1e-13)
    x[3, 2] = -1.0  # a lone negative entry counts as nonzero too (its column's NaN weights reach every row)
    assert torch.isnan(sparse_product(x, weight_t, None)).all()
    assert sparse_product(x[:0], weight_t, bias).shape == (0, 7)  # no rows: no column scan


def test_flat_linear_rows_in_any_order(random_one_hot, built) -> None:
    model = built(folded_head)
    the_plan = plan(record(model, random_one_hot(2, 40)), 0, 40)
    flat = the_plan.steps[the_plan.boundary - 1]
    g = torch.Generator().manual_seed(1)
    rows = 30
    width = flat.geo.width
    delta = torch.rand(rows, width * flat.geo.channels, generator=g, dtype=torch.float64)
    lo = torch.randint(0, flat.geo.length - width + 1, (rows,), generator=g)
    seq = torch.randint(0, 2, (rows,), generator=g)
    reference = torch.rand(2, flat.weight.shape[-1], generator=g, dtype=torch.float64)
    channels = flat.geo.channels
    delta.view(rows, width, channels)[:, :, ::2] = 0  # even channels unchanged in every row
    expected = torch.stack([reference[seq[r]] + delta[r] @ flat.slab(int(lo[r]), width) for r in range(rows)])
    flat.weight[:, ::2] = torch.nan  # their weights are never read: the zero columns are left out
    out = flat.finish(PendingFlat(delta, lo, seq), reference)
    torch.testing.assert_close(out, expected.clamp_min(0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("width,kernel,dilation", [(7, 11, 1), (5, 7, 1), (6, 7, 1), (4, 3, 3), (1, 5, 1)])
def test_spectral_full_convolution_equals_the_direct_sum(width: int, kernel: int, dilation: int) -> None:
    g = torch.Generator().manual_seed(width * kernel)
    weight = torch.randn(5, 3, kernel, generator=g, dtype=torch.float64)
    delta = torch.randn(3, 2, 2, 3, width, generator=g, dtype=torch.float64)
    spectral = Spectral.build(weight, width, dilation)
    span = (kernel - 1) * dilation
    assert spectral.forward.shape[0] == Spectral.bands(width, span)
    rows = delta.movedim(0, 3).reshape(-1, 3, width)
    direct = nn.functional.conv1d(rows, weight, padding=span, dilation=dilation)  # (R, 5, w + span)
    got = spectral.full(delta).movedim(0, 3).reshape(-1, 5, width + span)
    torch.testing.assert_close(got, direct, rtol=1e-11, atol=1e-11)
