"""ISM under the shared conventions: ``rc`` defaults to the model file's ``rc_mode`` (so the reference
is the score), targets by index or task name, one-line errors, and the caller's model given back as
it was (device, train/eval mode, parameters, ``requires_grad``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from seqcnn.errors import ConfigError
from seqcnn.interpret.ism import ism, naive_ism
from seqcnn.score.scoring import predict

ISM_FUNCTIONS = {"ism": ism, "naive_ism": naive_ism}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def sequences(n: int = 3, length: int = 30, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


@pytest.mark.parametrize("rc", ["none", "mean", "max"])
@pytest.mark.parametrize("name", sorted(ISM_FUNCTIONS))
def test_reference_is_the_logit_score_for_every_strand_mode(toy_model, name: str, rc: str) -> None:
    x = sequences()
    toy_model.metadata = dataclasses.replace(toy_model.metadata, rc_mode=rc)
    result = ISM_FUNCTIONS[name](toy_model, x, device="cpu")  # rc=None: the model file's rc_mode
    scores = np.asarray(predict(toy_model, x, logits=True, device="cpu"))
    assert result.reference.shape == scores.shape == (3, 2)
    np.testing.assert_allclose(result.reference, scores, rtol=0, atol=1e-5)
    explicit = ISM_FUNCTIONS[name](toy_model, x, rc=rc, device="cpu")
    np.testing.assert_allclose(explicit.delta, result.delta, rtol=0, atol=1e-6)
    if rc != "none":  # the mode really changed the answer
        plain = ISM_FUNCTIONS[name](toy_model, x, rc="none", device="cpu")
        assert np.abs(plain.reference - result.reference).max() > 1e-6


@pytest.mark.parametrize("name", sorted(ISM_FUNCTIONS))
def test_targets_by_task_name_or_index(toy_model, name: str) -> None:
    run = ISM_FUNCTIONS[name]
    x = sequences()
    full = run(toy_model, x, device="cpu")
    assert full.targets == [0, 1] and full.tasks == ["CTCF", "GATA1"]
    by_name = run(toy_model, x, target="GATA1", device="cpu")
    assert by_name.targets == [1] and by_name.tasks == ["GATA1"]
    np.testing.assert_allclose(by_name.delta[..., 0], full.delta[..., 1], rtol=0, atol=1e-6)
    mixed = run(toy_model, x, target=["GATA1", 0], device="cpu")
    assert mixed.targets == [1, 0] and mixed.tasks == ["GATA1", "CTCF"]
    np.testing.assert_allclose(mixed.reference, full.reference[:, [1, 0]], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ISM_FUNCTIONS))
@pytest.mark.parametrize("bad", [{"target": "REST"}, {"target": 2}, {"target": ["CTCF", -3]}, {"target": []},
                                 {"rc": "both"}, {"batch_size": 0}])
def test_bad_arguments_are_one_line_config_errors(toy_model, name: str, bad: dict) -> None:
    with pytest.raises(ConfigError) as caught:
        ISM_FUNCTIONS[name](toy_model, sequences(1), device="cpu", **bad)
    assert "\n" not in str(caught.value)
    if bad.get("target") == "REST":
        assert "CTCF" in str(caught.value)  # the known names are listed


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(ISM_FUNCTIONS))
def test_the_callers_model_comes_back_as_it_was(toy_model, name: str, device: str) -> None:
    model = toy_model.train()
    leaves = [m for m in model.modules() if not list(m.children())]
    leaves[0].eval()  # one submodule in eval mode inside a model in train mode
    frozen = next(model.parameters())
    frozen.requires_grad_(False)
    modes = {n: m.training for n, m in model.named_modules()}
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert len(set(modes.values())) == 2 and len(set(grads.values())) == 2  # mixed, so a reset shows
    result = ISM_FUNCTIONS[name](model, sequences(2), device=device)
    assert np.abs(result.delta).max() > 0
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert {n: p.requires_grad for n, p in model.named_parameters()} == grads
    assert all(v.device.type == "cpu" for v in model.state_dict().values())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_a_string_is_a_sequence_even_when_a_file_has_its_name(toy_model, tmp_path, monkeypatch) -> None:
    seq = sequences(1)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / seq).write_text(">other\nAAAAAAAAAA\n")
    result = ism(toy_model, seq, device="cpu")
    assert result.delta.shape == (1, 4, 30, 2)
    np.testing.assert_array_equal(result.bases[0], ["ACGT".index(c) for c in seq])
