"""Shared test fixtures: seeded toy sequences and models, and the ISM oracle comparison.

Fixtures hand out plain functions (``random_one_hot``, ``randomize_norms``, ``assert_matches_naive``)
so that no test module imports another.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from seqcnn.interpret.ism import ISMResult, ism, naive_ism

TOY_KW = {"n_tasks": 2, "n_filters": 4, "filter_width": 5, "hidden": 4}
TOY_TASKS = ["CTCF", "GATA1"]


def _random_one_hot(n: int, length: int, seed: int = 0, n_columns: int = 0) -> torch.Tensor:
    """(n, 4, length) float64 one-hot; the first ``n_columns`` of sequence 0 set to N (0.25)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 4, length, dtype=torch.float64)
    x[torch.arange(n)[:, None], torch.randint(4, (n, length), generator=g), torch.arange(length)] = 1
    x[0, :, :n_columns] = 0.25
    return x


def _randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial batch-norm statistics so the eval-mode affine map is exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
    return model


def _assert_matches_naive(model: nn.Module, x: torch.Tensor, **kw) -> ISMResult:
    """The fast engine's result equals the reference's (double precision: to ~1e-10 of the scale)."""
    fast = ism(model, x, method="fast", device="cpu", **kw)
    slow = naive_ism(model, x, device="cpu", **kw)
    scale = max(np.abs(slow.delta).max(), np.abs(slow.reference).max())
    np.testing.assert_allclose(fast.reference, slow.reference, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(fast.delta, slow.delta, rtol=0, atol=1e-5 * scale)
    assert np.abs(fast.delta - slow.delta).max() <= 1e-10 * scale  # double precision: far tighter
    return fast


@pytest.fixture
def random_one_hot() -> Callable[..., torch.Tensor]:
    """``random_one_hot(n, length, seed=0, n_columns=0)``: seeded float64 one-hot ``(n, 4, length)``."""
    return _random_one_hot


@pytest.fixture
def randomize_norms() -> Callable[..., nn.Module]:
    """``randomize_norms(model, seed=0)``: seeded non-trivial batch-norm statistics, in place."""
    return _randomize_norms


@pytest.fixture
def assert_matches_naive() -> Callable[..., ISMResult]:
    """``assert_matches_naive(model, x, **ism_kwargs)``: fast ISM equals naive ISM; the fast result."""
    return _assert_matches_naive


@pytest.fixture(scope="session")
def toy_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded two-task DeepBind model file (tasks CTCF, GATA1; ``rc_mode`` none)."""
    from seqcnn.modelfile import ModelMetadata, save_model
    from seqcnn.models.registry import build_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("toy") / "deepbind.safetensors"
    save_model(build_model("deepbind", **TOY_KW), path, ModelMetadata("deepbind", TOY_KW, tasks=TOY_TASKS))
    return path


@pytest.fixture
def toy_model(toy_model_file: Path) -> nn.Module:
    """A fresh copy of the toy model file's model (with ``metadata``), on the CPU."""
    from seqcnn.modelfile import load_model

    return load_model(toy_model_file, device="cpu")


# -- the HTML report in a real browser ------------------------------------------------------
CHECK_JS = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.length > 0 && imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });
  var th = document.querySelectorAll("#motifs thead th")[COLUMN];
  th.click(); th.click();  /* twice: descending */
  var keys = Array.prototype.slice.call(document.querySelectorAll("#motifs tbody tr")).map(function (r) {
    return r.cells[COLUMN].textContent.trim(); });
  var d = document.createElement("div");
  d.id = "seqcnn-check";
  d.textContent = "images=" + ok + ";n=" + imgs.length + ";order=" + keys.join(",");
  document.body.appendChild(d);
});
</script>"""


def _open_in_chromium(path: Path, tmp_path: Path, column: int) -> tuple[str, str]:
    """Load ``path`` (with CHECK_JS appended) in headless Chromium: (check marker text, console lines)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    checked = tmp_path / "checked.html"
    text = path.read_text(encoding="utf-8")
    checked.write_text(text.replace("</body>", CHECK_JS.replace("COLUMN", str(column)) + "</body>"),
                       encoding="utf-8")
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=10000", "--dump-dom", checked.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    found = "seqcnn-check" in done.stdout
    marker = done.stdout.split('id="seqcnn-check">', 1)[-1].split("<", 1)[0] if found else ""
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return marker, "\n".join(console)


@pytest.fixture
def open_in_chromium() -> Callable[[Path, Path, int], tuple[str, str]]:
    """``open_in_chromium(path, tmp_path, column)``: load a report in headless Chromium (skips when
    Chromium is missing) and return (check marker text, console lines)."""
    return _open_in_chromium


# -- the command line, in-process ------------------------------------------------------------
def _run_cli(args: list, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    from seqcnn.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def run() -> Callable[[list, pytest.CaptureFixture], tuple[int, str, str]]:
    """``run(args, capsys)``: run ``seqcnn ARGS`` in-process; returns (exit status, stdout, stderr)."""
    return _run_cli
