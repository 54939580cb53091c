"""Fast ISM: fused kernels give bitwise the result of the steps they replace; the cost model picks the
engine."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from seqcnn.interpret.ism import ism, naive_ism
from seqcnn.interpret.ism.engine.first_max import FirstConvMax
from seqcnn.interpret.ism.engine.plan import plan
from seqcnn.interpret.ism.engine.reduce import GlobalMax
from seqcnn.interpret.ism.engine.trace import record
from seqcnn.models.registry import build_model


def deepbind_like() -> nn.Module:
    torch.manual_seed(3)
    return build_model("deepbind").eval()


def test_first_convolution_and_global_max_are_planned_as_one_step(random_one_hot) -> None:
    the_plan = plan(record(deepbind_like(), random_one_hot(1, 60).float()), 0, 60)
    maxes = [s for s in the_plan.steps if isinstance(s, GlobalMax)]
    assert len(maxes) == 1 and maxes[0].first is not None
    assert not any(type(s).__name__ == "FirstConv" for s in the_plan.steps)  # it runs inside the max


def test_fused_kernel_equals_the_two_steps_bitwise(random_one_hot, monkeypatch: pytest.MonkeyPatch) -> None:
    model = deepbind_like()
    x = random_one_hot(3, 90, seed=4).float()  # windows of 24 reach past both ends at the edges
    calls = []
    kernel = FirstConvMax.run
    monkeypatch.setattr(FirstConvMax, "run", lambda self, *a: calls.append(1) or kernel(self, *a))
    fused = ism(model, x, method="fast").delta
    assert calls  # the kernel did run
    monkeypatch.setattr(FirstConvMax, "usable", lambda self, ctx: False)
    steps = ism(model, x, method="fast").delta
    assert np.array_equal(fused, steps)
    assert np.abs(fused).max() > 0  # substitutions do change the output


def test_fused_kernel_matches_naive_in_float64(random_one_hot) -> None:
    model = deepbind_like().double()
    x = random_one_hot(2, 70, seed=5)
    fused = ism(model, x, method="fast").delta
    np.testing.assert_allclose(fused, naive_ism(model, x).delta, rtol=1e-12, atol=1e-14)


def test_soft_columns_take_the_steps_and_still_match_naive(random_one_hot) -> None:
    model = deepbind_like().double()
    x = random_one_hot(2, 70, seed=6, n_columns=5)  # N columns: every base is a substitution there
    np.testing.assert_allclose(ism(model, x, method="fast").delta, naive_ism(model, x).delta,
                               rtol=1e-12, atol=1e-14)


def test_a_convolution_output_read_twice_is_not_fused(random_one_hot) -> None:
    class TwoReaders(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(4, 8, 5)
            self.head = nn.Linear(16, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.conv(x)
            return self.head(torch.cat([h.amax(-1), h.mean(-1)], 1))

    torch.manual_seed(0)
    model = TwoReaders().double().eval()
    x = random_one_hot(2, 40, seed=7)
    the_plan = plan(record(model, x), 0, 40)
    assert all(s.first is None for s in the_plan.steps if isinstance(s, GlobalMax))
    np.testing.assert_allclose(ism(model, x, method="fast").delta, naive_ism(model, x).delta,
                               rtol=1e-12, atol=1e-14)


class _Stack(nn.Module):
    """conv 4 -> 8 x 5, ReLU, conv 8 -> 6 x 3, global max, linear 6 -> 2; optionally SpliceAI's input mask
    (N columns enter as zeros) in front, an op the engine has no windowed rule for."""

    def __init__(self, masked: bool) -> None:
        super().__init__()
        self.masked = masked
        self.conv1, self.conv2, self.head = nn.Conv1d(4, 8, 5), nn.Conv1d(8, 6, 3), nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.masked:
            x = x.masked_fill((x == 0.25).all(1, keepdim=True), 0.0)
        return self.head(self.conv2(torch.relu(self.conv1(x))).amax(-1))


def test_multiply_adds_of_plan_and_reference_by_hand(random_one_hot) -> None:
    from seqcnn.interpret.ism.engine.cost import fast_multiply_adds, naive_multiply_adds

    torch.manual_seed(0)
    model, length = _Stack(masked=False).double().eval(), 40
    trace = record(model, random_one_hot(1, length))
    # a substitution changes 5 columns of conv1's output: conv2 multiplies those (3 taps x 6 x 8 each);
    # conv1 is a table look-up and the 6 -> 2 head is not counted
    assert fast_multiply_adds(plan(trace, 0, length), trace) == 3 * 6 * 8 * 5
    assert naive_multiply_adds(trace) == 8 * 4 * 5 * (length - 4) + 6 * 8 * 3 * (length - 6) + 2 * 6


def test_auto_runs_the_reference_where_the_plan_saves_nothing(random_one_hot, monkeypatch) -> None:
    from seqcnn.interpret.ism.engine import FastISM

    torch.manual_seed(0)
    x = random_one_hot(2, 40, seed=2)
    masked, plain = _Stack(masked=True).double().eval(), _Stack(masked=False).double().eval()
    plain.load_state_dict(masked.state_dict())
    assert not FastISM(masked, 0, 40).survey(x[:1]).saves_work
    assert FastISM(plain, 0, 40).survey(x[:1]).saves_work
    engines = []
    run = FastISM.run
    monkeypatch.setattr(FastISM, "run", lambda self, *a, **k: engines.append(1) or run(self, *a, **k))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the reference is chosen, not fallen back to
        got = ism(masked, x)
    assert not engines  # the fast engine never ran
    np.testing.assert_allclose(got.delta, naive_ism(masked, x).delta, rtol=1e-12, atol=1e-14)
    ism(plain, x)
    assert engines  # where it saves work, auto runs it
    np.testing.assert_allclose(ism(masked, x, method="fast").delta, got.delta, rtol=1e-10, atol=1e-12)
