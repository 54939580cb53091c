"""ISM streamed over a FASTA file: the model file's strand mode and task names, and a progress bar
that knows how many records there are."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from seqcnn.interpret.ism import ism
from seqcnn.interpret.ism import stream as ism_stream
from seqcnn.seq.encode import one_hot


def write_fasta(path: Path, n: int, length: int = 24, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]
    path.write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(seqs)))
    return seqs


def test_rc_mode_and_task_names_come_from_the_model_file(toy_model, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seqs = write_fasta(tmp_path / "x.fa", 5)
    toy_model.metadata = dataclasses.replace(toy_model.metadata, rc_mode="max")
    manifests = []
    real = ism_stream._prepare_work
    monkeypatch.setattr(ism_stream, "_prepare_work", lambda work, manifest: manifests.append(manifest) or
                        real(work, manifest))
    out = tmp_path / "maps.npz"
    ism_stream.ism_fasta(toy_model, tmp_path / "x.fa", out, model_id={}, target="GATA1", chunk=2)
    expected = ism(toy_model, one_hot(seqs), target=1, rc="max")
    with np.load(out, allow_pickle=False) as npz:
        assert list(npz["tasks"]) == ["GATA1"]
        np.testing.assert_allclose(npz["reference"], expected.reference, atol=1e-6)
        np.testing.assert_allclose(npz["delta"], expected.delta, atol=1e-6)
    assert manifests[0]["rc"] == "max" and manifests[0]["target"] == ["GATA1"]
    json.dumps(manifests[0])  # the manifest stays JSON


def test_progress_bar_counts_records_against_the_total(toy_model, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write_fasta(tmp_path / "x.fa", 7)
    bars = []

    class Bar:
        def __init__(self, **kwargs) -> None:
            self.kwargs, self.n = kwargs, 0
            bars.append(self)

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exc) -> None:
            pass

        def update(self, k: int) -> None:
            self.n += k

    monkeypatch.setattr(ism_stream, "progress_bar", lambda **kw: Bar(**kw))
    ism_stream.ism_fasta(toy_model, tmp_path / "x.fa", tmp_path / "m.npz", model_id={}, chunk=3,
                         progress=True)
    assert [(b.kwargs["total"], b.n) for b in bars] == [(7, 7)]
    assert ism_stream.count_records("-") is None


def run_cli(args: list, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    from seqcnn.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_cli_tasks_by_name_or_index(toy_model_file: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture) -> None:
    write_fasta(tmp_path / "x.fa", 3)
    code, out = run_cli(["ism", toy_model_file, tmp_path / "x.fa", "-o", tmp_path / "a.npz",
                         "--task", "GATA1", "--task", "0", "-q"], capsys)
    assert code == 0, out
    with np.load(tmp_path / "a.npz", allow_pickle=False) as npz:
        assert list(npz["tasks"]) == ["GATA1", "CTCF"] and npz["delta"].shape == (3, 4, 24, 2)
    code, out = run_cli(["ism", toy_model_file, tmp_path / "x.fa", "-o", tmp_path / "b.npz", "--task", "5"],
                        capsys)
    assert code == 2 and "out of range" in out and "Traceback" not in out and out.count("\n") == 1
    assert not (tmp_path / "b.npz").exists()
