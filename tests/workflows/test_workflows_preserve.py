"""Every library function of interpretation, motifs and the motif report that takes a model gives it
back as it was: same device, every submodule in the mode it was in (train here), every parameter and
buffer bitwise unchanged, every ``requires_grad`` flag as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from seqcnn.interpret.attribution import attribute, deeplift_shap, integrated_gradients, saliency
from seqcnn.interpret.cam import activation_maps, grad_cam, occlusion
from seqcnn.interpret.embed import layer_features, layer_projections
from seqcnn.interpret.explain import explain, predicted_targets
from seqcnn.modelfile import ModelMetadata
from seqcnn.motifs.extract import extract_filter_motifs
from seqcnn.motifs.influence import filter_influence
from seqcnn.motifs.seqlets import ism_contributions
from seqcnn.motifs.sites import activating_sites
from seqcnn.seq.meme import Motif, write_meme
from seqcnn.workflows.motif_pipeline import ReportOptions, example_maps, motif_report

LENGTH = 24
DEVICE = "cpu"


class Toy(nn.Module):
    """conv -> batch norm -> ReLU -> pool -> conv -> dropout -> linear: train mode changes its output
    (dropout) and its buffers (batch-norm statistics), so a function that forgot eval mode shows."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 5)
        self.norm = nn.BatchNorm1d(6)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(6, 4, 3)
        self.act2 = nn.ReLU()
        self.flat = nn.Flatten()
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(4 * 8, 2)
        self.metadata = ModelMetadata("toy", tasks=["CTCF", "GATA1"], input_length=LENGTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.norm(self.conv(x))))
        return self.head(self.drop(self.flat(self.act2(self.conv2(x)))))


def sequences(n: int = 10, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), LENGTH)) for _ in range(n)]


def one_hot(seqs: list[str]) -> np.ndarray:
    from seqcnn.seq.encode import one_hot as encode

    return encode(seqs)


def state(model: nn.Module) -> dict[str, Any]:
    return {
        "tensors": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "modes": [(name, m.training) for name, m in model.named_modules()],
        "grads": [(name, p.requires_grad) for name, p in model.named_parameters()],
        "devices": {p.device for p in model.parameters()},
    }


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert after["devices"] == before["devices"]
    assert after["modes"] == before["modes"]
    assert after["grads"] == before["grads"]
    assert after["tensors"].keys() == before["tensors"].keys()
    for key, value in before["tensors"].items():
        assert torch.equal(after["tensors"][key], value), f"{key} changed"


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    toy = Toy().train()
    toy.conv2.weight.requires_grad_(False)  # a mixed pattern of flags, to see it restored as it was
    return toy


@pytest.fixture(scope="module")
def user_targets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pwm = np.array([[0.9, 0.03, 0.03, 0.04], [0.03, 0.03, 0.9, 0.04], [0.9, 0.03, 0.03, 0.04],
                    [0.03, 0.03, 0.04, 0.9], [0.9, 0.03, 0.03, 0.04], [0.9, 0.03, 0.03, 0.04]])
    path = tmp_path_factory.mktemp("preserve") / "targets.meme"
    write_meme([Motif(name="AGATAA", id="user1", pwm=pwm, nsites=10)], path)
    return path


SEQS = sequences()
X = one_hot(SEQS)

CALLS: dict[str, Callable[[nn.Module, str], object]] = {
    "attribute_saliency": lambda m, d: attribute(m, X, "saliency", device=d),
    "attribute_input_x_grad": lambda m, d: attribute(m, X, "input_x_grad", target=1, device=d),
    "saliency": lambda m, d: saliency(m, SEQS, target="GATA1", device=d),
    "integrated_gradients": lambda m, d: integrated_gradients(m, X, steps=4, device=d),
    "deeplift_shap": lambda m, d: deeplift_shap(m, X[:3], n_shuffles=2, target=0, device=d),
    "grad_cam": lambda m, d: grad_cam(m, X, layer="conv2", device=d),
    "occlusion": lambda m, d: occlusion(m, X, window=4, device=d),
    "activation_maps": lambda m, d: activation_maps(m, X, "act", device=d),
    "layer_features": lambda m, d: layer_features(m, X, "act2", device=d),
    "layer_projections": lambda m, d: layer_projections(m, X, np.repeat([0, 1], 5), ["act"], device=d),
    "explain_top": lambda m, d: explain(m, X, "saliency", target="top", device=d),
    "explain_all": lambda m, d: explain(m, X, "occlusion", window=4, device=d),
    "predicted_targets": lambda m, d: predicted_targets(m, X, device=d),
    "activating_sites": lambda m, d: activating_sites(m, SEQS, device=d),
    "filter_influence": lambda m, d: filter_influence(m, X, device=d),
    "extract_filter_motifs": lambda m, d: extract_filter_motifs(m, SEQS, device=d),
    "example_maps": lambda m, d: example_maps(m, list(zip(map(str, range(10)), SEQS, strict=True)), 1,
                                           batch_size=None, device=d),
    "ism_contributions": lambda m, d: ism_contributions(m, SEQS[:3], device=d),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_library_call_gives_the_model_back_as_it_was(model: nn.Module, name: str) -> None:
    before = state(model)
    CALLS[name](model, DEVICE)
    assert_same(before, state(model))
    assert model.training and model.norm.training and not model.conv2.weight.requires_grad


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_call_on_the_gpu_gives_a_cpu_model_back_on_the_cpu(model: nn.Module, name: str) -> None:
    before = state(model)
    CALLS[name](model, "cuda")
    after = state(model)
    assert after["devices"] == {torch.device("cpu")}
    assert_same(before, after)


@pytest.mark.filterwarnings("ignore:tomtom was given")
def test_motif_report_gives_the_model_back_as_it_was(model: nn.Module, user_targets: Path,
                                                     tmp_path: Path) -> None:
    before = state(model)
    records = [(f"s{i}", s) for i, s in enumerate(sequences(30, seed=1))]
    report = motif_report(model, records, tmp_path / "report",
                          ReportOptions(targets=user_targets, n_examples=1, attribution_sequences=5,
                                        device=DEVICE))
    assert_same(before, state(model))
    assert report.files["html"].exists() and len(report.motifs) == 6


def test_a_call_that_fails_still_gives_the_model_back(model: nn.Module) -> None:
    from seqcnn.errors import ConfigError

    before = state(model)
    with pytest.raises(ConfigError):
        grad_cam(model, X, layer="no_such_layer", device=DEVICE)
    assert_same(before, state(model))
