"""Scoring follows the shared conventions: inputs, target, rc, batch_size, the caller's model, one code
table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from seqcnn.errors import ConfigError, InputError
from seqcnn.score import Scorer, predict
from seqcnn.seq.alphabet import BYTE_TO_CODE, CODE_N, CODE_PAD, COMPLEMENT_CODE, IUPAC
from seqcnn.seq.codes import codes_to_onehot, encode_codes, reverse_complement_codes
from seqcnn.seq.encode import one_hot, reverse_complement


def _seqs(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGTN"), size=length)) for _ in range(n)]


def _state(model: nn.Module) -> tuple:
    """Everything a library call must give back: device, every train flag, grads and values."""
    return (next(model.parameters()).device, [m.training for m in model.modules()],
            [p.requires_grad for p in model.parameters()],
            [t.detach().clone() for t in model.state_dict().values()])


def _assert_same_state(before: tuple, model: nn.Module) -> None:
    after = _state(model)
    assert after[0] == before[0] and after[1] == before[1] and after[2] == before[2]
    assert all(torch.equal(a, b) for a, b in zip(before[3], after[3], strict=True))


def _mixed_mode(model: nn.Module) -> nn.Module:
    """Train mode with one submodule in eval mode and one frozen parameter."""
    model.train()
    next(m for m in model.modules() if isinstance(m, nn.Conv1d)).eval()
    next(model.parameters()).requires_grad_(False)
    return model


@pytest.mark.parametrize("fast", [False, None, True])
def test_predict_and_scorer_leave_the_model_as_found(toy_model: nn.Module, fast: bool | None) -> None:
    model = _mixed_mode(toy_model)
    seqs = _seqs(9, 60)
    before = _state(model)
    expected = predict(toy_model, seqs, device="cpu")
    _assert_same_state(before, model)
    scorer = Scorer(model, device="cpu", fast=fast)
    with scorer:
        np.testing.assert_allclose(scorer.run(scorer.prepare(np.stack([encode_codes(s) for s in seqs]))),
                                   expected, rtol=1e-5, atol=1e-6)
    _assert_same_state(before, model)
    if fast is False:
        assert scorer.model is model and not scorer.private and scorer.accelerated == []  # no copy
    else:
        assert scorer.model is not model and scorer.private and scorer.accelerated  # a fused first block


def test_the_plain_path_lends_the_model_per_call_without_copying(toy_model: nn.Module) -> None:
    model = _mixed_mode(toy_model)
    before = _state(model)
    scorer = Scorer(model, device="cpu", fast=False)
    scores = scorer.run(scorer.prepare(encode_codes("ACGTACGTAC" * 3)[None]))  # no ``with``: lent per call
    assert scores.shape == (1, 2)
    _assert_same_state(before, model)
    with scorer:
        with scorer:  # nested: lent until the outermost block ends
            assert not model.training
        assert not model.training
    _assert_same_state(before, model)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_predict_on_cuda_gives_the_model_back_on_the_cpu(toy_model: nn.Module) -> None:
    model = _mixed_mode(toy_model)
    before = _state(model)
    seqs = _seqs(5, 50)
    np.testing.assert_allclose(predict(model, seqs, device="cuda"), predict(model, seqs, device="cpu"),
                               rtol=1e-4, atol=1e-5)
    _assert_same_state(before, model)


def test_a_string_is_always_a_sequence(toy_model: nn.Module, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("ACGTACGTAC").write_text(">x\nTTTTTTTTTT\n")  # a file with the sequence's name
    np.testing.assert_array_equal(predict(toy_model, "ACGTACGTAC"), predict(toy_model, ["ACGTACGTAC"]))
    frame = predict(toy_model, Path("ACGTACGTAC"))  # a path object is a FASTA file
    assert isinstance(frame, pd.DataFrame) and frame["id"].tolist() == ["x"]
    np.testing.assert_allclose(frame[["CTCF", "GATA1"]].to_numpy(), predict(toy_model, "TTTTTTTTTT"),
                               rtol=1e-6)
    with pytest.raises(InputError, match="no such file"):
        predict(toy_model, Path("missing.fa"))
    with pytest.raises(InputError, match="invalid character '-'"):
        predict(toy_model, "-")  # stdin is for the CLI only


def test_target_selects_outputs_by_name_or_index(toy_model: nn.Module, tmp_path: Path) -> None:
    seqs = _seqs(4, 40, seed=3)
    full = predict(toy_model, seqs)
    np.testing.assert_array_equal(predict(toy_model, seqs, target="GATA1"), full[:, [1]])
    np.testing.assert_array_equal(predict(toy_model, seqs, target=["GATA1", 0]), full[:, [1, 0]])
    np.testing.assert_array_equal(predict(toy_model, seqs, target=-1), full[:, [1]])
    fasta = tmp_path / "x.fa"
    fasta.write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(seqs)))
    frame = predict(toy_model, fasta, target="GATA1")
    assert list(frame.columns) == ["id", "GATA1"]
    np.testing.assert_allclose(frame["GATA1"].to_numpy(), full[:, 1], rtol=1e-6)
    for bad, message in [("GATA", "unknown target 'GATA'; did you mean GATA1"), (2, "out of range"),
                         ([], "empty list")]:
        with pytest.raises(ConfigError, match=message) as info:
            predict(toy_model, seqs, target=bad)
        assert "\n" not in str(info.value)


def test_bad_arguments_are_config_errors(toy_model: nn.Module) -> None:
    for kwargs in ({"batch_size": 0}, {"batch_size": 2.5}, {"rc": "both"}):
        with pytest.raises(ConfigError):
            predict(toy_model, ["ACGTACGTAC"], **kwargs)
    with pytest.raises(InputError, match="inputs must be"):
        predict(toy_model, [1, 2, 3])


@pytest.mark.parametrize("batch_size", [None, 1, 3])
def test_batch_size_none_is_automatic_and_equal(toy_model: nn.Module, batch_size: int | None) -> None:
    seqs = _seqs(7, 30, seed=5)
    x = one_hot(seqs)
    np.testing.assert_allclose(predict(toy_model, seqs, batch_size=batch_size), predict(toy_model, seqs),
                               rtol=1e-6)
    np.testing.assert_allclose(predict(toy_model, x, batch_size=batch_size), predict(toy_model, seqs),
                               rtol=1e-5, atol=1e-6)


def test_one_code_table_for_encoding_and_scoring() -> None:
    letters = "".join(sorted(IUPAC)) + "".join(sorted(IUPAC)).lower()
    codes = encode_codes(letters)
    np.testing.assert_array_equal(codes, BYTE_TO_CODE[np.frombuffer(letters.encode(), np.uint8)])
    np.testing.assert_array_equal(codes_to_onehot(codes[None])[0], one_hot(letters))  # N = 0.25 in both
    assert codes[letters.index("N")] == CODE_N and COMPLEMENT_CODE[CODE_PAD] == CODE_PAD
    np.testing.assert_array_equal(codes_to_onehot(reverse_complement_codes(codes)[None])[0],
                                  one_hot(reverse_complement(letters)))
    x = one_hot(["ACGTN", "acgtu"], dtype=np.int8)  # int8: exact bases; N (code 4) all zeros
    assert x.dtype == np.int8 and x[0, :, 4].tolist() == [0, 0, 0, 0] and x[1, 3, 4] == 1
    with pytest.raises(InputError, match="needs a float dtype"):
        one_hot("ACGR", dtype=np.int8)


def test_score_package_names_stay_functions_after_importing_every_submodule(toy_model_file: Path) -> None:
    code = f"""
import importlib, pkgutil
import seqcnn.score as score
for info in pkgutil.walk_packages(score.__path__, "seqcnn.score."):
    importlib.import_module(info.name)
from seqcnn.modelfile import load_model
model = load_model({str(toy_model_file)!r}, device="cpu")
for name in score.__all__:
    assert not isinstance(getattr(score, name), type(score)), name
first = score.predict(model, ["ACGT" * 10])
assert (score.predict(model, ["ACGT" * 10]) == first).all()
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_model_in_train_mode_gets_the_same_speed_ups_as_in_eval_mode() -> None:
    from seqcnn.models.registry import build_model

    torch.manual_seed(0)
    model = build_model("deepbind", n_tasks=2)  # batch norm and dropout: fusable only in eval mode
    assert Scorer(model.eval(), device="cpu").accelerated == ["fused first block body.0"]
    assert Scorer(model.train(), device="cpu").accelerated == ["fused first block body.0"]
    assert model.training and all(m.training for m in model.modules())


def test_variant_effects_in_one_call(tmp_path: Path) -> None:
    from seqcnn.modelfile import load_model
    from seqcnn.score import variant_effects
    from seqcnn.seq.genome import Genome
    from seqcnn.seq.variants import read_vcf, variant_windows

    example = Path(__file__).resolve().parents[2] / "data" / "example"
    model = _mixed_mode(load_model(example / "model.safetensors", device="cpu"))
    before = _state(model)
    frame = variant_effects(model, example / "variants.vcf", example / "genome.fa", batch_size=3)
    _assert_same_state(before, model)
    genome = Genome(example / "genome.fa")
    variants = list(read_vcf(example / "variants.vcf"))
    width = model.metadata.input_length
    windows = [variant_windows(v, genome, width)[:2] for v in variants]
    tasks = model.metadata.tasks
    assert frame["id"].tolist() == [v.id for v in variants] and len(frame.columns) == 6 + 4 * len(tasks)
    ref, alt = predict(model, [w[0] for w in windows]), predict(model, [w[1] for w in windows])
    np.testing.assert_allclose(frame[[f"ref_{t}" for t in tasks]].to_numpy(), ref, rtol=1e-5, atol=1e-6)
    diff = frame[[f"diff_{t}" for t in tasks]].to_numpy()
    np.testing.assert_allclose(diff, alt - ref, rtol=1e-4, atol=1e-5)
    one = variant_effects(model, example / "variants.vcf", str(example / "genome.fa"), target=tasks[1])
    assert list(one.columns[6:]) == [f"{k}_{tasks[1]}" for k in ("ref", "alt", "diff", "log2fc")]
    np.testing.assert_allclose(one[f"alt_{tasks[1]}"], frame[f"alt_{tasks[1]}"], rtol=1e-6)
    with pytest.raises(ConfigError, match="unknown target"):
        variant_effects(model, example / "variants.vcf", example / "genome.fa", target="nope")


def test_codes_expand_to_the_same_one_hot_by_lookup_as_on_the_host() -> None:
    # the accelerator path (codes shipped, one table look-up on the device), run here on the CPU
    from seqcnn.score.scorer import onehot_by_lookup, onehot_on
    from seqcnn.seq.codes import codes_to_onehot

    codes = np.arange(256, dtype=np.uint8).reshape(2, 128)  # every code, N and padding included
    expected = codes_to_onehot(codes)
    assert expected[0, :, 4].tolist() == [0.25] * 4  # code 4 is N
    np.testing.assert_array_equal(onehot_by_lookup(codes, torch.device("cpu")).numpy(), expected)
    np.testing.assert_array_equal(onehot_on(codes, torch.device("cpu")).numpy(), expected)
