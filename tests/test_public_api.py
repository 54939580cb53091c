"""The public API: every name in ``seqcnn.__all__`` works, twice, after every submodule is imported.

Names are checked in a fresh interpreter, because the failure this guards against (importing a
submodule rebinds a package attribute of the same name, so ``seqcnn.predict`` became a module on
second use) depends on what was imported before. Task names are accepted wherever a task index is,
and an unknown name or an out-of-range index is a one-line ConfigError.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import seqcnn
from seqcnn.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "data" / "example" / "model.safetensors"
SEQS = ["ACGT" * 50, "GGCA" * 50]

# In a fresh interpreter: import every submodule, resolve every public name, call the main functions
# twice on the example model; print a JSON summary for the test to check.
SCRIPT = r"""
import importlib, json, pkgutil, sys, tempfile, warnings
import numpy as np
import seqcnn as s

skipped = {"seqcnn.cli.__main__"}  # runs the CLI when imported
for info in pkgutil.walk_packages(s.__path__, "seqcnn."):
    if info.name not in skipped:
        importlib.import_module(info.name)

kinds = {}
for name in s.__all__:
    first, second = getattr(s, name), getattr(s, name)
    kinds[name] = [type(first).__name__, first is second]

model = s.load_model(sys.argv[1], device="cpu")
seqs = ["ACGT" * 50, "GGCA" * 50]
calls = {}
for _ in range(2):
    calls["predict"] = s.predict(model, seqs, logits=True).shape
    calls["Scorer"] = type(s.Scorer(model)).__name__
    calls["ism"] = s.ism(model, seqs).delta.shape
    calls["naive_ism"] = s.naive_ism(model, seqs[:1], start=0, end=4).delta.shape
    calls["attribute"] = np.shape(s.attribute(model, seqs, "input_x_grad", target=0).actual)
    calls["saliency"] = np.shape(s.saliency(model, seqs, target="CTCF").actual)
    calls["integrated_gradients"] = np.shape(s.integrated_gradients(model, seqs, steps=4, target=0).actual)
    calls["deeplift_shap"] = np.shape(s.deeplift_shap(model, seqs, n_shuffles=2, target=0).actual)
    calls["grad_cam"] = np.shape(s.grad_cam(model, seqs, target=0))
    calls["occlusion"] = np.shape(s.occlusion(model, seqs, window=20, target=0))
    calls["explain"] = np.shape(s.explain(model, s.one_hot(seqs), "saliency").map)
    motifs = s.extract_filter_motifs(model, seqs, method="kernel", influence=False)
    calls["extract_filter_motifs"] = len(motifs)
    calls["one_hot"] = s.one_hot(seqs).shape
    calls["decode"] = s.decode(s.one_hot(seqs)) == seqs
    calls["reverse_complement"] = s.reverse_complement("AACG")
    calls["build_model"] = type(s.build_model("deepbind", n_tasks=2)).__name__
    calls["list_models"] = "koo_cnn" in s.list_models()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calls["export_model"] = s.export_model(model, f"{tmp}/m.pt").name
print(json.dumps({"kinds": kinds, "calls": {k: str(v) for k, v in calls.items()}}))
"""


@pytest.fixture(scope="module")
def fresh() -> dict:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(MODEL)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_public_name_resolves_twice_to_the_same_non_module(fresh: dict) -> None:
    assert set(fresh["kinds"]) == set(seqcnn.__all__)
    for name, (kind, same) in fresh["kinds"].items():
        assert kind != "module", f"seqcnn.{name} is a module after importing every submodule"
        assert same, f"seqcnn.{name} changed between two look-ups"


def test_main_functions_work_twice_after_every_submodule_is_imported(fresh: dict) -> None:
    calls = fresh["calls"]
    assert calls["predict"] == "(2, 12)"
    assert calls["ism"] == "(2, 4, 200, 12)"
    assert calls["naive_ism"] == "(1, 4, 4, 12)"
    for name in ("attribute", "saliency", "integrated_gradients", "deeplift_shap"):
        assert calls[name] == "(2, 4, 200)", name
    assert calls["grad_cam"].startswith("(2,") and calls["occlusion"].startswith("(2,")
    assert calls["explain"] == "(2, 200, 12)"  # target None: every output
    assert calls["extract_filter_motifs"] == "48"
    assert calls["decode"] == "True" and calls["reverse_complement"] == "CGTT"
    assert calls["list_models"] == "True" and calls["export_model"] == "m.pt"


def test_all_is_complete_and_no_public_name_is_a_submodule() -> None:
    tree = ast.parse((ROOT / "seqcnn" / "__init__.py").read_text())
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seqcnn")
        for alias in node.names
    }
    assert imported - {"__version__"} <= set(seqcnn.__all__), imported - set(seqcnn.__all__)
    assert set(seqcnn.__all__) - {"__version__"} <= imported, "names IDEs cannot see"
    submodules = {info.name for info in pkgutil.iter_modules(seqcnn.__path__)}
    assert not submodules & set(seqcnn.__all__), submodules & set(seqcnn.__all__)
    assert len(seqcnn.__all__) == len(set(seqcnn.__all__))
    for area in ("predict", "Scorer", "score_variants", "ism", "ISMResult", "attribute", "grad_cam",
                 "occlusion", "explain", "extract_filter_motifs", "annotate", "motif_report", "fit",
                 "RunConfig", "load_config", "load_model", "save_model", "ModelMetadata", "export_model",
                 "build_model", "read_fasta", "SeqcnnError"):
        assert area in seqcnn.__all__, area
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        seqcnn.nonexistent  # noqa: B018


def test_import_is_cheap() -> None:
    code = "import sys, seqcnn; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr


@pytest.fixture(scope="module")
def model():
    return seqcnn.load_model(MODEL, device="cpu")


def _target_calls(model):
    """Every public function that takes ``target``, as ``target -> (N, T') or per-target array``."""
    return {
        "predict": lambda t: seqcnn.predict(model, SEQS, target=t, logits=True),
        "ism": lambda t: seqcnn.ism(model, SEQS, target=t, start=0, end=3).delta,
        "naive_ism": lambda t: seqcnn.naive_ism(model, SEQS, target=t, start=0, end=3).delta,
        "attribute": lambda t: seqcnn.attribute(model, SEQS, "saliency", target=t).actual,
        "grad_cam": lambda t: seqcnn.grad_cam(model, SEQS, target=t),
        "occlusion": lambda t: seqcnn.occlusion(model, SEQS, window=50, target=t),
    }


@pytest.mark.parametrize("function", list(_target_calls(None)))
def test_task_names_are_accepted_wherever_task_indices_are(model, function: str) -> None:
    call = _target_calls(model)[function]
    tasks = model.metadata.tasks
    by_index = np.asarray(call(2))
    by_name = np.asarray(call(tasks[2]))
    np.testing.assert_array_equal(by_name, by_index)
    for bad in ("NOT_A_TASK", len(tasks), -len(tasks) - 1):
        with pytest.raises(ConfigError) as info:
            call(bad)
        message = str(info.value)
        assert "\n" not in message.strip(), f"{function}({bad!r}): {message!r}"


def _model_calls(model):
    """Every public function that takes a model, called once on two short sequences."""
    return {
        "predict": lambda: seqcnn.predict(model, SEQS, device="cpu"),
        "Scorer": lambda: next(seqcnn.score_records(seqcnn.Scorer(model, device="cpu"), enumerate(SEQS))),
        "ism": lambda: seqcnn.ism(model, SEQS, start=0, end=3, device="cpu"),
        "naive_ism": lambda: seqcnn.naive_ism(model, SEQS, start=0, end=3, device="cpu"),
        "attribute": lambda: seqcnn.attribute(model, SEQS, "input_x_grad", target=0, device="cpu"),
        "integrated_gradients": lambda: seqcnn.integrated_gradients(model, SEQS, steps=3, target=0),
        "deeplift_shap": lambda: seqcnn.deeplift_shap(model, SEQS, n_shuffles=2, target=0),
        "grad_cam": lambda: seqcnn.grad_cam(model, SEQS, target=0, device="cpu"),
        "occlusion": lambda: seqcnn.occlusion(model, SEQS, window=50, target=0, device="cpu"),
        "explain": lambda: seqcnn.explain(model, seqcnn.one_hot(SEQS), "saliency", target=0, device="cpu"),
        "extract_filter_motifs": lambda: seqcnn.extract_filter_motifs(model, SEQS, device="cpu",
                                                                      max_influence_sequences=2),
    }


@pytest.mark.parametrize("function", list(_model_calls(None)))
def test_public_functions_give_the_model_back_as_they_found_it(function: str) -> None:
    model = seqcnn.load_model(MODEL, device="cpu").train()
    frozen = next(model.parameters())
    frozen.requires_grad_(False)
    modes = [m.training for m in model.modules()]
    grads = [p.requires_grad for p in model.parameters()]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _model_calls(model)[function]()
    assert [m.training for m in model.modules()] == modes and model.training
    assert [p.requires_grad for p in model.parameters()] == grads
    assert all(p.device.type == "cpu" for p in model.parameters())
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name
