"""``seqcnn ism --position``: ISM of a per-position model (SpliceAI family) at one base, against the
one-forward-pass-per-mutant reference computed here by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seqcnn.modelfile import ModelMetadata, save_model
from seqcnn.models.registry import build_model
from seqcnn.models.spliceai import PositionOutputs
from seqcnn.seq.encode import one_hot

LENGTH = 130


@pytest.fixture
def splice_file(tmp_path: Path, randomize_norms) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(5)
    model = randomize_norms(build_model("spliceai", context=80, channels=4), seed=2).eval()
    meta = ModelMetadata("spliceai", model_kwargs={"context": 80, "channels": 4},
                         tasks=["neither", "acceptor", "donor"], task_type="multiclass")
    return save_model(model, tmp_path / "splice.safetensors", meta), model


def _reference(model: torch.nn.Module, seq: str, position: int) -> np.ndarray:
    """(L, 4, 3): class probabilities at ``position`` for every substitution minus the reference's."""
    wrapped = PositionOutputs(model, position)
    x = torch.from_numpy(one_hot([seq])).float()
    with torch.no_grad():
        ref = wrapped(x)[0]
        out = np.zeros((len(seq), 4, 3))
        for i in range(len(seq)):
            for b in range(4):
                mutant = x.clone()
                mutant[0, :, i] = 0
                mutant[0, b, i] = 1
                out[i, b] = (wrapped(mutant)[0] - ref).numpy()
    return out


def test_ism_at_one_position_equals_the_reference(splice_file, tmp_path: Path, run, capsys) -> None:
    path, model = splice_file
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), LENGTH))
    fasta = tmp_path / "r.fa"
    fasta.write_text(f">r\n{seq}\n")
    out = tmp_path / "maps.npz"
    code, _, err = run(["ism", str(path), str(fasta), "-o", str(out), "--position", "65", "--quiet"], capsys)
    assert code == 0, err
    maps = np.load(out)
    delta = maps["delta"][0].transpose(1, 0, 2)  # stored (4, L, T) -> (L, 4, T)
    np.testing.assert_allclose(delta, _reference(model, seq, 65), atol=1e-5)
    assert np.abs(delta[65]).max() > 0  # the base itself matters
    assert np.abs(delta[:20]).max() == 0  # beyond the 80 bp context: no effect


def test_per_position_model_needs_a_position(splice_file, tmp_path: Path, run, capsys) -> None:
    path, _ = splice_file
    fasta = tmp_path / "r.fa"
    fasta.write_text(">r\n" + "ACGT" * 30 + "\n")
    out = tmp_path / "maps.npz"
    code, _, err = run(["ism", str(path), str(fasta), "-o", str(out)], capsys)
    assert code == 2 and "give --position" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(["ism", str(path), str(fasta), "-o", str(out), "--position", "5"], capsys)
    assert code == 2 and "position 5 has no output" in err
    assert not out.exists()
