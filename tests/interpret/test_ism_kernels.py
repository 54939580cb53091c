"""Fast ISM's fused kernels give bitwise the result of the steps they replace, and the naive one."""

from __future__ import annotations

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
