"""A training process killed with SIGKILL resumes from its last checkpoint and loses no epoch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seqcnn.config import RunConfig, config_from_dict
from seqcnn.modelfile import read_metadata
from seqcnn.train.checkpoint import load_checkpoint, restore_rng_states, rng_states, save_checkpoint
from seqcnn.train.loop import fit

CONFIG = """\
data: {kind: images, images: digits, task_type: multiclass, batch_size: 16}
model: {name: lenet5, kwargs: {small_input: true}}
train: {epochs: 4, lr: 0.005, checkpoint_every: 10, threads: 1, scheduler: cosine}
output: {plots: false}
"""


def _train(config: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "seqcnn.cli", "train", str(config), "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for_checkpoint_in_epoch_2(path: Path, proc: subprocess.Popen, timeout: float = 120) -> dict:
    """Poll until the resume state is a mid-epoch checkpoint after at least one completed epoch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"training ended before it could be killed: {proc.communicate()}"
        if path.is_file():
            state = load_checkpoint(path)  # atomic writes: never a half-written file
            if state["epoch"] >= 1 and state["step"] > 0:
                return state
        time.sleep(0.02)
    raise AssertionError("no mid-epoch checkpoint in time")


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path: Path) -> None:
    config = tmp_path / "digits.yaml"
    config.write_text(CONFIG)
    run = tmp_path / "run"
    proc = _train(config, "--out", str(run))
    state = _wait_for_checkpoint_in_epoch_2(run / "checkpoint.pt", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed = load_checkpoint(run / "checkpoint.pt")
    done_before = killed["history"]
    assert killed["epoch"] >= state["epoch"] >= 1 and len(done_before) == killed["epoch"]
    # the kill may land inside an atomic write (a temporary .part beside checkpoint.pt, never a
    # half-written checkpoint.pt); the resumed run sweeps such leftovers away
    (run / ".checkpoint.pt.stale.part").write_bytes(b"half")
    resumed = _train(config, "--resume", str(run))
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert not list(run.glob(".*.part"))
    history = pd.read_csv(run / "metrics.tsv", sep="\t")
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    for row in done_before:  # the epochs finished before the kill are kept as they were
        kept = history.loc[history["epoch"] == row["epoch"]].iloc[0]
        assert kept["train_loss"] == pytest.approx(row["train_loss"], rel=1e-5)
        assert kept["valid_accuracy"] == pytest.approx(row["valid_accuracy"], rel=1e-5)
    assert (
        f"resumed from {run / 'checkpoint.pt'} at epoch {killed['epoch'] + 1}"
        in (run / "log.txt").read_text()
    )
    assert read_metadata(run / "model.safetensors").training["epochs_run"] == 4
    assert history["valid_accuracy"].iloc[-1] > 0.5


def test_checkpoint_round_trip_is_weights_only(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(7)
    torch.manual_seed(3)
    states = rng_states(generator)
    expected = (torch.rand(3), torch.rand(3, generator=generator))
    path = save_checkpoint(
        tmp_path / "c.pt", {"epoch": 2, "rng": states, "history": [{"epoch": 1, "x": 0.5}]}
    )
    torch.manual_seed(99)
    generator.manual_seed(99)
    state = load_checkpoint(path)
    restore_rng_states(state["rng"], generator)
    assert torch.equal(torch.rand(3), expected[0]) and torch.equal(
        torch.rand(3, generator=generator), expected[1]
    )
    assert state["epoch"] == 2 and state["history"] == [{"epoch": 1, "x": 0.5}]
    # a pickle with code in it is refused rather than run
    evil = tmp_path / "evil.pt"
    torch.save({"checkpoint_version": 1, "f": os.system}, evil)
    with pytest.raises(Exception, match="cannot read checkpoint"):
        load_checkpoint(evil)
    (tmp_path / "cut.pt").write_bytes(path.read_bytes()[:100])
    with pytest.raises(Exception, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")


def _short_run(epochs: int, scheduler: str) -> RunConfig:
    """LeNet-5 on 200 digits per split: seconds per epoch, one thread."""
    return config_from_dict(
        {
            "data": {"kind": "images", "images": "digits", "task_type": "multiclass", "batch_size": 50,
                     "limit": 200},
            "model": {"name": "lenet5", "kwargs": {"small_input": True}},
            "train": {"epochs": epochs, "lr": 0.01, "optimizer": "adam", "seed": 1, "threads": 1,
                      "scheduler": scheduler},
            "output": {"plots": False},
        }
    )


@pytest.mark.parametrize("scheduler", ["cosine", "onecycle"])
def test_resume_finished_run_with_more_epochs_follows_the_longer_schedule(
    tmp_path: Path, scheduler: str
) -> None:
    """A finished 2-epoch run resumed for 4 epochs trains epochs 3-4 at the learning rates of a run
    configured for 4 epochs from the start (not at the ended schedule's rate, 0 for cosine)."""
    fit(_short_run(2, scheduler), out_dir=tmp_path / "run")
    fit(_short_run(4, scheduler), out_dir=tmp_path / "run", resume=True)
    fresh = fit(_short_run(4, scheduler), out_dir=tmp_path / "fresh")
    resumed = pd.read_csv(tmp_path / "run" / "metrics.tsv", sep="\t")
    planned = pd.read_csv(fresh.metrics_path, sep="\t")
    assert resumed["epoch"].tolist() == [1, 2, 3, 4]
    later = resumed["epoch"] > 2
    assert resumed.loc[resumed["epoch"] == 3, "lr"].item() > 1e-3, resumed["lr"].tolist()
    np.testing.assert_allclose(resumed.loc[later, "lr"], planned.loc[later, "lr"], rtol=1e-6)
    assert read_metadata(tmp_path / "run" / "model.safetensors").training["epochs_run"] == 4
    # the same epoch count resumes the saved schedule unchanged (nothing left to train)
    again = fit(_short_run(4, scheduler), out_dir=tmp_path / "run", resume=True)
    assert pd.read_csv(again.metrics_path, sep="\t")["lr"].tolist() == resumed["lr"].tolist()
