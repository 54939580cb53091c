"""Faults: processes SIGKILLed mid-run lose nothing and leave no partial output under a final name.

- training killed at seeded random points, then ``--resume``: every epoch in ``metrics.tsv`` exactly
  once, epochs finished before a kill kept as they were, and ``model.safetensors`` never half-written
  (a watcher loads it with ``load_model`` whenever it exists, all through the run);
- ``score`` and ``vep`` killed while writing: no file under the output name;
- ``ism`` killed after some chunks: the re-run reuses them (part files untouched) and the final
  ``.npz`` equals an uninterrupted run.

- an infinite loss stops ``seqcnn train`` with one line naming the step, keeping the last good
  checkpoint (NaN is covered by ``tests/test_train.py::test_nan_loss_stops_with_step_and_keeps_checkpoint``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from seqcnn.cli import cli, main
from seqcnn.interpret.ism.stream import work_dir
from seqcnn.modelfile import ModelMetadata, load_model, save_model
from seqcnn.models import registry
from seqcnn.models.registry import build_model
from seqcnn.train.checkpoint import load_checkpoint

LENGTH = 200
TINY = {"filters": [4, 4], "kernel_sizes": [5, 3], "pool1": 4, "hidden": 8, "input_length": LENGTH,
        "n_tasks": 2}
TRAIN_CONFIG = """\
data: {kind: images, images: digits, task_type: multiclass, batch_size: 16}
model: {name: lenet5, kwargs: {small_input: true}}
train: {epochs: 4, lr: 0.005, checkpoint_every: 5, threads: 1}
output: {plots: false}
"""
KILL_SEEDS = (11, 22, 33)


def _seqcnn(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "seqcnn.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_until(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 120) -> bool:
    """Poll ``condition``; False when ``proc`` ended first (it finished before it could be killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"condition not met within {timeout} s")


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _random_bases(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, shape)]


def _write_fasta_fast(path: Path, n: int, seed: int) -> Path:
    """``n`` random 200 bp records written with numpy (fast; the reader is what is tested)."""
    seqs = _random_bases(np.random.default_rng(seed), (n, LENGTH))
    with open(path, "wb") as handle:
        for i in range(n):
            handle.write(b">r%d\n%s\n" % (i, seqs[i].tobytes()))
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded koo_cnn with a few hundred weights, 200 bp input, two tasks."""
    torch.manual_seed(0)
    model = build_model("koo_cnn", **TINY)
    meta = ModelMetadata(architecture="koo_cnn", model_kwargs=TINY, tasks=["a", "b"], task_type="binary",
                         input_length=LENGTH, input_shape=[4, LENGTH])
    return save_model(model, tmp_path_factory.mktemp("model") / "tiny.safetensors", meta)


# ---------------------------------------------------------------- training


class _ModelFileWatcher(threading.Thread):
    """Loads ``model.safetensors`` with ``load_model`` whenever it exists, recording any failure."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.loads, self.failures = path, 0, []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            if self.path.exists():
                try:
                    load_model(self.path)
                    self.loads += 1
                except FileNotFoundError:  # replaced between exists() and open(): not a partial file
                    pass
                except Exception as exc:  # noqa: BLE001 - any failure is what we look for
                    self.failures.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def _reached(path: Path, global_step: int) -> Callable[[], bool]:
    """True once the checkpoint at ``path`` is at or past ``global_step``."""
    def check() -> bool:
        if not path.is_file():
            return False
        time.sleep(0.04)
        return load_checkpoint(path)["global_step"] >= global_step  # atomic: always whole
    return check


def _kill_steps() -> list[int]:
    """One seeded random step in each third of the 312-step run (4 epochs of 78 steps)."""
    return [random.Random(seed).randint(10 + 104 * k, 100 + 104 * k) for k, seed in enumerate(KILL_SEEDS)]


@pytest.mark.slow
def test_training_killed_at_random_points_then_resumed(tmp_path: Path) -> None:
    config = tmp_path / "digits.yaml"
    config.write_text(TRAIN_CONFIG)
    run = tmp_path / "run"
    ckpt, model_file = run / "checkpoint.pt", run / "model.safetensors"
    watcher = _ModelFileWatcher(model_file)
    watcher.start()
    kept: dict[int, pd.Series] = {}  # epoch -> its metrics row as seen after a kill
    kills = 0
    proc = _seqcnn("train", str(config), "--quiet", "--out", str(run))
    for k, step in enumerate(_kill_steps()):  # each kill at a seeded random step, a random moment later
        if not _wait_until(_reached(ckpt, step), proc):
            break
        time.sleep(random.Random(KILL_SEEDS[k]).uniform(0.0, 0.1))
        if proc.poll() is not None:
            break
        _kill(proc)
        kills += 1
        state = load_checkpoint(ckpt)  # atomic: always a whole checkpoint
        assert len(state["history"]) == state["epoch"]
        if model_file.exists():
            assert load_model(model_file).metadata.architecture == "lenet5"
        if (run / "metrics.tsv").exists():
            for _, row in pd.read_csv(run / "metrics.tsv", sep="\t").iterrows():
                kept.setdefault(int(row["epoch"]), row)
        proc = _seqcnn("train", str(config), "--quiet", "--resume", str(run))
    out, err = proc.communicate(timeout=300)
    watcher.stop()
    assert proc.returncode == 0, err
    print(f"{kills} kills, model file loaded {watcher.loads} times while training")
    assert kills == len(KILL_SEEDS), "training finished before the kills landed"
    assert watcher.failures == [] and watcher.loads > 0
    history = pd.read_csv(run / "metrics.tsv", sep="\t")
    assert history["epoch"].tolist() == [1, 2, 3, 4]  # every epoch exactly once
    for epoch, row in kept.items():  # epochs finished before a kill are kept as they were
        final = history.loc[history["epoch"] == epoch].iloc[0]
        assert final["train_loss"] == pytest.approx(row["train_loss"], rel=1e-6)
        assert final["valid_accuracy"] == pytest.approx(row["valid_accuracy"], rel=1e-6)
    assert load_model(model_file).metadata.training["epochs_run"] == 4
    assert history["valid_accuracy"].iloc[-1] > 0.5


# ---------------------------------------------------------------- score and vep


def _write_genome_and_vcf(folder: Path, n_variants: int, seed: int) -> tuple[Path, Path]:
    """A two-chromosome random genome and ``n_variants`` SNVs on it (REF from the genome)."""
    rng = np.random.default_rng(seed)
    genome, chrom_len = folder / "genome.fa", 200_000
    chroms = {name: _random_bases(rng, (chrom_len,)) for name in ("chr1", "chr2")}
    with open(genome, "wb") as handle:
        for name, seq in chroms.items():
            handle.write(b">%s\n" % name.encode())
            for i in range(0, chrom_len, 60):
                handle.write(seq[i:i + 60].tobytes() + b"\n")
    vcf = folder / "variants.vcf"
    pos = np.sort(rng.integers(1, chrom_len + 1, n_variants))
    alt_shift = rng.integers(1, 4, n_variants)
    with open(vcf, "w") as handle:
        handle.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for i, p in enumerate(pos):
            chrom = "chr1" if i % 2 else "chr2"
            ref = chr(chroms[chrom][p - 1])
            alt = "ACGT"[("ACGT".index(ref) + alt_shift[i]) % 4]
            handle.write(f"{chrom}\t{p}\tv{i}\t{ref}\t{alt}\t.\tPASS\t.\n")
    return genome, vcf


def _writing(output: Path) -> Callable[[], bool]:
    """True once the hidden temporary file beside ``output`` holds some rows."""
    return lambda: any(p.stat().st_size > 0 for p in output.parent.glob(f".{output.name}.*.part"))


@pytest.mark.slow
def test_score_and_vep_killed_mid_run_leave_no_output(tmp_path: Path, tiny_model: Path) -> None:
    fasta = _write_fasta_fast(tmp_path / "many.fa", 150_000, seed=1)
    genome, vcf = _write_genome_and_vcf(tmp_path, 60_000, seed=2)
    scores, effects = tmp_path / "scores.tsv", tmp_path / "effects.tsv"
    procs = {  # both at once: their start-up (imports) overlaps
        scores: _seqcnn("score", str(tiny_model), str(fasta), "-o", str(scores), "--quiet"),
        effects: _seqcnn("vep", str(tiny_model), str(vcf), "--genome", str(genome), "-o", str(effects),
                         "--quiet"),
    }
    for output, proc in procs.items():
        assert _wait_until(_writing(output), proc), f"{output.name}: finished before it could be killed"
        _kill(proc)
        assert not output.exists(), f"partial output left under the final name {output}"
    # the same commands run to the end do write their outputs (the kill, not the input, is the cause)
    small = _write_fasta_fast(tmp_path / "few.fa", 50, seed=1)
    result = CliRunner().invoke(cli, ["score", str(tiny_model), str(small), "-o", str(scores), "--quiet"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(scores, sep="\t")) == 50


# ---------------------------------------------------------------- ism


def _ism(model: Path, fasta: Path, output: Path, *extra: str) -> list[str]:
    """Arguments of ``seqcnn ism``: 4 records per chunk, 40 mutated positions (keeps it quick)."""
    return [str(model), str(fasta), "-o", str(output), "--chunk", "4", "--start", "80", "--end", "120",
            *extra]


@pytest.mark.slow
def test_ism_killed_then_resumed_reuses_chunks_and_matches(tmp_path: Path, tiny_model: Path) -> None:
    fasta = _write_fasta_fast(tmp_path / "seqs.fa", 96, seed=3)
    maps = tmp_path / "maps.npz"
    work = work_dir(maps)
    proc = _seqcnn("ism", *_ism(tiny_model, fasta, maps, "--quiet"))
    assert _wait_until(lambda: len(list(work.glob("part-*.npz"))) >= 3, proc), "ISM finished too soon"
    _kill(proc)
    assert not maps.exists()
    done = {p.name: p.stat().st_mtime_ns for p in work.glob("part-*.npz")}
    assert 3 <= len(done) < 24
    resumed = CliRunner().invoke(cli, ["ism", *_ism(tiny_model, fasta, maps)])
    assert resumed.exit_code == 0, resumed.output
    assert f"{len(done)} chunk(s) reused from an earlier run" in resumed.output
    assert not work.exists()
    reference = tmp_path / "reference.npz"
    fresh = CliRunner().invoke(cli, ["ism", *_ism(tiny_model, fasta, reference)])
    assert fresh.exit_code == 0 and "reused" not in fresh.output
    with np.load(maps) as got, np.load(reference) as want:
        assert sorted(got.files) == sorted(want.files)
        assert got["delta"].shape == (96, 4, 40, 2)
        for name in want.files:
            assert np.array_equal(got[name], want[name]), name


def test_ism_resume_keeps_finished_part_files(tmp_path: Path, tiny_model: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast, in-process: chunks finished before an interruption are reused as they are, not recomputed."""
    from seqcnn.interpret.ism import stream as ism_stream

    fasta = _write_fasta_fast(tmp_path / "seqs.fa", 12, seed=4)
    maps, full = tmp_path / "maps.npz", tmp_path / "full.npz"
    assert CliRunner().invoke(cli, ["ism", *_ism(tiny_model, fasta, full), "--quiet"]).exit_code == 0
    real, calls = ism_stream.ism, []

    def interrupted(*args, **kwargs):  # the third chunk is "killed" (Ctrl-C)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ism_stream, "ism", interrupted)
    assert CliRunner().invoke(cli, ["ism", *_ism(tiny_model, fasta, maps), "--quiet"]).exit_code != 0
    monkeypatch.setattr(ism_stream, "ism", real)
    assert not maps.exists()
    parts = sorted(work_dir(maps).glob("part-*.npz"))
    assert [p.name for p in parts] == ["part-000000.npz", "part-000001.npz"]
    for part in parts:  # mark the finished chunks: recomputing them would overwrite the marker
        with np.load(part) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays["delta"] = np.full_like(arrays["delta"], 7.0)
        with open(part, "wb") as handle:
            np.savez(handle, **arrays)
    resumed = CliRunner().invoke(cli, ["ism", *_ism(tiny_model, fasta, maps)])
    assert resumed.exit_code == 0, resumed.output
    assert "2 chunk(s) reused from an earlier run" in resumed.output
    with np.load(maps) as got, np.load(full) as want:
        assert np.all(got["delta"][:8] == 7.0)
        assert np.array_equal(got["delta"][8:], want["delta"][8:])
        assert np.array_equal(got["ids"], want["ids"])


# ---------------------------------------------------------------- infinite loss


@pytest.fixture()
def inf_model():
    """A test-only architecture whose training logits blow up after 30 calls (float32 loss -> inf)."""

    class InfAfter(nn.Module):
        def __init__(self, num_classes: int, features: int) -> None:
            super().__init__()
            self.linear = nn.Linear(features, num_classes)
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.linear(x.flatten(1))
            if self.training:
                self.calls += 1
                if self.calls > 30:  # class 0 at 3e38: the batch's summed cross-entropy overflows
                    return out * 0 + torch.tensor([3e38] + [0.0] * (out.shape[1] - 1))
            return out

    def build(*, num_classes: int = 10, in_channels: int = 1, input_size: tuple = (8, 8)) -> nn.Module:
        return InfAfter(num_classes, in_channels * input_size[0] * input_size[1])

    registry.register_model("_test_inf", dims=2)(build)
    yield "_test_inf"
    del registry._REGISTRY["_test_inf"]


def test_infinite_loss_stops_with_step_and_keeps_checkpoint(tmp_path: Path, inf_model: str,
                                                            capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "inf.yaml"
    config.write_text(f"""\
data: {{kind: images, images: digits, task_type: multiclass, batch_size: 16, limit: 400}}
model: {{name: {inf_model}}}
train: {{epochs: 3, lr: 0.005, checkpoint_every: 4, threads: 1}}
output: {{plots: false}}
""")
    run = tmp_path / "run"
    with pytest.raises(SystemExit) as exited:
        main(["train", str(config), "--out", str(run), "--quiet"])  # the console entry point
    assert exited.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    # 400 images: 25 training steps per epoch here, so call 31 is step 6 of epoch 2
    assert "loss became inf at epoch 2, step 6 (global step 31)" in lines[0]
    assert f"the last good checkpoint is {run / 'checkpoint.pt'}" in lines[0]
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["global_step"] == 28 and all(np.isfinite(r["train_loss"]) for r in state["history"])
    if (run / "model.safetensors").exists():
        assert load_model(run / "model.safetensors").metadata.architecture == inf_model
