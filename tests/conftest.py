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


# -- a synthetic genome with planted peaks (seqcnn dataset) ----------------------------------
def _peak_genome(root: Path, *, n_contigs: int = 4, length: int = 200_000, n_peaks: int = 100,
                 seed: int = 0) -> dict:
    """chr1..chrK with GC varying by 2 kb segment (0.3-0.65), a 3 kb N gap and soft-masked stretches per
    contig; narrowPeak peaks (200-400 bp, random summits) planted in segments with GC > 0.5 outside the gap,
    so the positives are GC-rich against the genome. Returns the paths and the peaks (chrom, start, end,
    summit)."""
    rng = np.random.default_rng(seed)
    contigs, peaks = {}, []
    for k in range(1, n_contigs + 1):
        gc = rng.uniform(0.3, 0.65, length // 2000).repeat(2000)
        draw = rng.random(length)
        seq = np.where(draw < gc, np.where(draw < gc / 2, 67, 71), np.where(draw < (1 + gc) / 2, 65, 84))
        seq = seq.astype(np.uint8)
        seq[50_000:53_000] = ord("N")
        for s in range(10_000, length, 20_000):
            seq[s:s + 1000] += 32  # lower case: soft-masked repeats
        contigs[f"chr{k}"] = seq.tobytes().decode()
        rich = np.flatnonzero(gc[::2000] > 0.5) * 2000
        rich = rich[(rich + 2000 <= 50_000) | (rich >= 53_000)]  # no peak in the N gap
        for seg in rng.choice(rich, size=min(n_peaks, len(rich)), replace=False):
            width = int(rng.integers(200, 400))
            start = int(seg + rng.integers(0, 2000 - width))
            peaks.append((f"chr{k}", start, start + width, int(rng.integers(0, width))))
    genome = root / "genome.fa"
    genome.write_text("".join(f">{c}\n" + "\n".join(s[i:i + 60] for i in range(0, len(s), 60)) + "\n"
                              for c, s in contigs.items()))
    narrow = root / "peaks.narrowPeak"
    narrow.write_text("track type=narrowPeak\n" + "".join(
        f"{c}\t{s}\t{e}\tpeak{i}\t100\t.\t5.0\t10.0\t8.0\t{m}\n" for i, (c, s, e, m) in enumerate(peaks)))
    return {"genome": genome, "peaks": narrow, "truth": peaks, "contigs": contigs}


@pytest.fixture
def peak_genome() -> Callable[..., dict]:
    """``peak_genome(root, n_contigs=4, length=200_000, n_peaks=100, seed=0)``: write a synthetic genome
    FASTA and narrowPeak file with planted GC-rich peaks (see ``_peak_genome``)."""
    return _peak_genome


# -- SpliceAI's released weights: GPL-3.0, never committed, fetched from the package registry ----
SPLICEAI_WHEEL_SHA256 = "63c633b8de6803d4ffb613e6ef62f1a896fec9fc13245c0f000ff7adea279776"


def _spliceai_wheel() -> Path:
    """spliceai-1.3.1's wheel in the test cache ($SEQCNN_TEST_CACHE or ~/.cache/seqcnn-tests), downloaded
    with pip on first use; a failed download or a wrong checksum fails the test (never a skip)."""
    import hashlib
    import os
    import sys

    cache = Path(os.environ.get("SEQCNN_TEST_CACHE") or Path.home() / ".cache" / "seqcnn-tests")
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / "spliceai-1.3.1-py2.py3-none-any.whl"

    def intact() -> bool:
        return wheel.is_file() and hashlib.sha256(wheel.read_bytes()).hexdigest() == SPLICEAI_WHEEL_SHA256

    if not intact():
        wheel.unlink(missing_ok=True)  # a partial or foreign file: fetch it again
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                               "spliceai==1.3.1", "-d", str(cache)], capture_output=True, text=True)
        if proc.returncode or not wheel.is_file():
            pytest.fail(f"cannot download spliceai==1.3.1 from the package registry: {proc.stderr[-1500:]}")
        if not intact():
            pytest.fail(f"{wheel} is not the released spliceai 1.3.1 wheel (its sha256 differs)")
    return wheel


@pytest.fixture(scope="session")
def spliceai_release(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The released SpliceAI 1.3.1, unpacked once: ``{"wheel": Path, "models": [spliceai1.h5 ...
    spliceai5.h5], "annotation": Path}``, the annotation holding the header and the DOC2B line of the
    wheel's ``grch37.txt``."""
    import zipfile

    wheel = _spliceai_wheel()
    folder = tmp_path_factory.mktemp("spliceai")
    with zipfile.ZipFile(wheel) as archive:
        models = []
        for i in range(1, 6):
            models.append(folder / f"spliceai{i}.h5")
            models[-1].write_bytes(archive.read(f"spliceai/models/spliceai{i}.h5"))
        lines = archive.read("spliceai/annotations/grch37.txt").decode().splitlines()
    doc2b = sorted({line for line in lines if line.startswith("DOC2B\t")})
    (folder / "doc2b.txt").write_text("\n".join([lines[0], *doc2b]) + "\n")
    return {"wheel": wheel, "models": models, "annotation": folder / "doc2b.txt"}


# -- a model that knows its motifs, for experiments and TF-MoDISco ---------------------------
def _motif_model(motifs: list, *, length: int, tasks: list[str] | None = None,
                 thresholds: list[float] | None = None, activation: str = "relu") -> nn.Module:
    """A DeepBind model (same padding, ReLU, global average pool, no hidden layer) built by hand:
    output k is the sum over positions and both strands of relu(score_k - threshold_k), score_k the
    match to motifs[k]. A string motif scores +1 per matching base, -1 per mismatch and 0 at N, with
    threshold (letters other than N) - 1, so output k counts its exact matches (a palindrome twice); a
    (K, 4) array is a score matrix (thresholds needed). Sums hold for sequences of ``length``.
    ``activation="softplus"`` replaces the ReLU by its smooth version (contributions everywhere)."""
    from seqcnn.modelfile import ModelMetadata
    from seqcnn.models.registry import build_model

    scores = [np.array([[0.0] * 4 if c == "N" else 2 * np.eye(4)["ACGT".index(c)] - 1 for c in m])
              if isinstance(m, str) else np.asarray(m, float) for m in motifs]
    if thresholds is None:
        thresholds = [len(m.replace("N", "")) - 1.0 for m in motifs]
    width = max(len(s) for s in scores)
    kwargs = {"n_tasks": len(scores), "n_filters": 2 * len(scores), "filter_width": width,
              "padding": "same", "activation": activation, "pool": "avg", "hidden": 0, "dropout": 0.0}
    model = build_model("deepbind", **kwargs).eval()
    conv, dense = model.body[0].conv, model.head[1][0]
    with torch.no_grad():
        conv.weight.zero_()
        dense.weight.zero_()
        dense.bias.zero_()
        for k, (s, t) in enumerate(zip(scores, thresholds, strict=True)):
            offset = (width - len(s)) // 2  # centred: 'same' padding then sees every full-length site
            for f, matrix in ((2 * k, s), (2 * k + 1, s[::-1, ::-1])):
                conv.weight[f, :, offset:offset + len(s)] = torch.tensor(matrix.T.copy())
                conv.bias[f] = -t
                dense.weight[k, f] = length  # average pool x length = sum over positions
    names = tasks or [m if isinstance(m, str) else f"motif{k}" for k, m in enumerate(motifs)]
    model.metadata = ModelMetadata("deepbind", kwargs, tasks=names, task_type="regression",
                                   input_length=length, input_shape=[4, length], rc_mode="none")
    return model


@pytest.fixture(scope="session")
def motif_model() -> Callable[..., nn.Module]:
    """``motif_model(motifs, length=L, tasks=None, thresholds=None, activation="relu")``: a DeepBind
    model whose outputs count motif matches on both strands (strings: exact matches), with ``metadata``
    for save_model."""
    return _motif_model
