"""``seqcnn models`` and ``seqcnn summary`` through click's runner and the console entry point."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from seqcnn.cli import cli, main
from seqcnn.models.registry import list_models


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_models_lists_every_model_with_counts() -> None:
    out = run("models")
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert names == list_models()
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["deepsea"][1:4] == ["1", "tasks", "52,843,119"]
    assert rows["basset"][3] == "4,134,364"
    assert rows["bpnet"][2] == "profile"
    two_d = [line.split()[0] for line in run("models", "--dims", "2").splitlines()[1:]]
    assert two_d == list_models(dims=2)


def test_summary_deepsea_table() -> None:
    out = run("summary", "deepsea")
    assert "input (N, 4, 1000)" in out
    assert re.search(r"body\.0 \(ConvBlock\)\s+\(N, 320, 248\)\s+10,560", out)
    assert re.search(r"body\.2 \(ConvBlock\)\s+\(N, 960, 53\)\s+3,687,360", out)
    assert "Total params: 52,843,119" in out
    assert "Receptive field: 163" in out and "positions 0..994 of 1000" in out


def test_summary_length_and_set() -> None:
    out = run("summary", "deepsea", "--length", "500", "--set", "n_tasks=7", "--set", "channels=[8, 8, 8]")
    assert "input (N, 4, 500)" in out and "(N, 8, 22)" in out  # 500 -> 493 -> 123 -> 116 -> 29 -> 22
    assert "Output: (N, 7)" in out
    out = run("summary", "bpnet", "--length", "2114", "--depth", "1")
    assert "profile: (N, 1, 1000), counts: (N, 1)" in out and "Receptive field: 1115" in out


def test_summary_2d_size() -> None:
    out = run("summary", "resnet", "--size", "64x64", "--depth", "1")
    assert "input (N, 3, 64, 64)" in out and "Total params: 11,689,512" in out


@pytest.mark.parametrize("args", [
    ["summary", "no_such_model"],
    ["summary", "deepbind", "--set", "no_such_arg=1"],
    ["summary", "deepbind", "--set", "activation=swishy"],
    ["summary", "deepsea", "--length", "20"],
    ["summary", "deepsea", "--size", "8x8"],
    ["summary", "resnet", "--size", "eight"],
])
def test_bad_arguments_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert captured.err.startswith("seqcnn: error:") and "Traceback" not in captured.err
    assert captured.out == ""


def test_console_entry_point_exit_status() -> None:
    proc = subprocess.run([sys.executable, "-m", "seqcnn.cli", "summary", "deepbind", "--set", "bogus=1"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "bogus" in proc.stderr and "valid arguments" in proc.stderr
