"""Training under torchrun: two CPU processes (gloo) end with identical weights; rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seqcnn.train.distributed import DistInfo, gather_rows, interleave

CONFIG = """\
data: {kind: images, images: digits, task_type: multiclass, batch_size: 32, limit: 301,
       augment: {crop: 1}}
model: {name: lenet5, kwargs: {small_input: true}}
train: {epochs: 2, lr: 0.005, threads: 1, device: cpu}
output: {plots: false}
"""

DRIVER = """\
import json, os, sys
import torch
from seqcnn.config import load_config
from seqcnn.train.loop import fit

result = fit(load_config(sys.argv[1]), out_dir=sys.argv[2], resume=len(sys.argv) > 4)
rank = os.environ["RANK"]
torch.save(result.model.state_dict(), os.path.join(sys.argv[3], f"rank{rank}.pt"))
with open(os.path.join(sys.argv[3], f"rank{rank}.json"), "w") as handle:
    json.dump({"test": result.test_metrics, "best": result.best_metric}, handle)
"""


@pytest.mark.slow
def test_two_cpu_ranks_identical_weights(tmp_path: Path) -> None:
    config, driver = tmp_path / "c.yaml", tmp_path / "driver.py"
    config.write_text(CONFIG)
    driver.write_text(DRIVER)
    run, dumps = tmp_path / "run", tmp_path / "dumps"
    dumps.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(driver),
        str(config),
        str(run),
        str(dumps),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0, w1 = (torch.load(dumps / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    m0, m1 = (json.loads((dumps / f"rank{r}.json").read_text()) for r in (0, 1))
    assert m0 == m1  # metrics gathered over both ranks' shards: the same on each rank
    # the gathered test metrics cover the whole test split (301 images -> 301 rows, not 2 x 151)
    table = pd.read_csv(run / "test_metrics.tsv", sep="\t", index_col=0)
    assert table.loc["macro", "n"] == 301
    assert pd.read_csv(run / "metrics.tsv", sep="\t")["epoch"].tolist() == [1, 2]
    log = (run / "log.txt").read_text()
    assert log.count("epoch 1/2") == 1 and "world size 2" in log  # one writer
    # resume both ranks for a third epoch: each continues its own streams, weights stay identical
    config.write_text(CONFIG.replace("epochs: 2", "epochs: 3"))
    proc = subprocess.run([*command, "resume"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0, w1 = (torch.load(dumps / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert pd.read_csv(run / "metrics.tsv", sep="\t")["epoch"].tolist() == [1, 2, 3]
    ranks = torch.load(run / "checkpoint.pt", weights_only=True)["ranks"]
    assert ranks["data"].shape[0] == 2 and not torch.equal(ranks["data"][0], ranks["data"][1])


def test_gather_helpers_single_process() -> None:
    info = DistInfo()
    array = np.arange(6).reshape(3, 2)
    assert gather_rows(array, info) is array and interleave(array, info) is array
    two = DistInfo(rank=0, world_size=2, active=True)
    # rank 0 held rows 0, 2, 4 and rank 1 rows 1, 3: concatenated [0, 2, 4, 1, 3] -> original order
    assert interleave(np.array([0, 2, 4, 1, 3]), two).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torchrun_one_gpu_nccl(tmp_path: Path) -> None:
    config, driver = tmp_path / "c.yaml", tmp_path / "driver.py"
    config.write_text(CONFIG.replace("device: cpu", "device: cuda"))
    driver.write_text(DRIVER)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=1",
        str(driver),
        str(config),
        str(tmp_path / "run"),
        str(dumps),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "on cuda:0 (world size 1)" in log
