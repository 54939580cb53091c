"""``seqcnn ism`` and ``seqcnn explain`` through the console entry point: outputs equal the library's,
interrupted ISM runs resume without recomputing, bad input fails cleanly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seqcnn.cli import main
from seqcnn.interpret.attribution.gradients import attribute
from seqcnn.interpret.ism import ism
from seqcnn.interpret.ism.stream import ism_fasta, work_dir
from seqcnn.modelfile import ModelMetadata, load_model, save_model
from seqcnn.models.registry import build_model
from seqcnn.seq.encode import one_hot

SEQ_KW = {"n_tasks": 2, "n_filters": 4, "filter_width": 5, "hidden": 4}
IMG_KW = {"in_channels": 1, "num_classes": 3, "input_size": [8, 8], "small_input": True}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("interpret_cli")
    torch.manual_seed(0)
    save_model(build_model("deepbind", **SEQ_KW), root / "seq.safetensors",
               ModelMetadata("deepbind", SEQ_KW, tasks=["CTCF", "GATA1"]))
    save_model(build_model("lenet5", **IMG_KW), root / "img.safetensors",
               ModelMetadata("lenet5", IMG_KW, tasks=["a", "b", "c"], task_type="multiclass",
                             input_shape=[1, 8, 8]))
    bp_kw = {"n_filters": 4, "first_kernel": 3, "n_layers": 2, "profile_kernel": 3, "n_tasks": 2}
    save_model(build_model("bpnet", **bp_kw), root / "bpnet.safetensors",
               ModelMetadata("bpnet", bp_kw, tasks=["p1", "p2"], task_type="profile"))
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 24)) for _ in range(7)]
    (root / "x.fa").write_text("".join(f">r{i} note\n{s}\n" for i, s in enumerate(seqs)))
    (root / "one.fa").write_text(f">only\n{seqs[0]}\n")
    (root / "ragged.fa").write_text(f">a\n{seqs[0]}\n>b\n{seqs[1][:-2]}\n")
    from PIL import Image

    Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8), mode="L").save(root / "digit.png")
    np.savez(root / "images.npz", x=rng.random((3, 1, 8, 8)).astype(np.float32))
    return {"root": root, "seq": root / "seq.safetensors", "img": root / "img.safetensors",
            "bpnet": root / "bpnet.safetensors", "fasta": root / "x.fa", "one": root / "one.fa",
            "ragged": root / "ragged.fa", "png": root / "digit.png", "npz": root / "images.npz", "seqs": seqs}


def run(args: list, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_ism_writes_the_library_result(files, tmp_path, capsys) -> None:
    out = tmp_path / "maps.npz"
    code, err = run(["ism", files["seq"], files["fasta"], "-o", out, "--chunk", "3", "--task", "GATA1",
                     "--plot", tmp_path / "plots", "--max-plots", "2"], capsys)
    assert code == 0, err
    expected = ism(load_model(files["seq"]), one_hot(files["seqs"]), target=1)
    with np.load(out, allow_pickle=False) as npz:
        assert list(npz["ids"]) == [f"r{i}" for i in range(7)]
        np.testing.assert_allclose(npz["delta"], expected.delta, atol=1e-6)
        np.testing.assert_allclose(npz["reference"], expected.reference, atol=1e-6)
        np.testing.assert_array_equal(npz["bases"], expected.bases)
        assert list(npz["tasks"]) == ["GATA1"] and (int(npz["start"]), int(npz["end"])) == (0, 24)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["r0.png", "r1.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps.npz", "plots"]  # work dir removed


def test_interrupted_ism_resumes_without_recomputing(files, tmp_path, capsys) -> None:
    out = tmp_path / "maps.npz"
    model = load_model(files["seq"])
    model_id = {"path": str(files["seq"].resolve()), "size": files["seq"].stat().st_size,
                "mtime_ns": files["seq"].stat().st_mtime_ns}

    def stop_after_two(ids, seqs, result) -> None:
        if ids[0] == "r3":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ism_fasta(model, str(files["fasta"]), out, model_id=model_id, chunk=3, start=2, end=20,
                  on_chunk=stop_after_two)
    assert not out.exists()
    assert sorted(p.name for p in work_dir(out).glob("part-*")) == ["part-000000.npz", "part-000001.npz"]
    computed = []
    stats = ism_fasta(model, str(files["fasta"]), out, model_id=model_id, chunk=3, start=2, end=20,
                      on_chunk=lambda ids, seqs, result: computed.extend(ids))
    assert (stats.reused, stats.computed, stats.records) == (2, 1, 7)
    assert computed == ["r6"]  # only the chunk that was never finished
    fresh = ism(model, one_hot(files["seqs"]), start=2, end=20)
    with np.load(out, allow_pickle=False) as npz:
        np.testing.assert_allclose(npz["delta"], fresh.delta, atol=1e-6)
    assert not work_dir(out).exists()


def test_changed_settings_discard_old_parts(files, tmp_path, capsys) -> None:
    out = tmp_path / "maps.npz"
    work = work_dir(out)
    work.mkdir()
    (work / "manifest.json").write_text("{}")
    (work / "part-000000.npz").write_bytes(b"stale")
    code, err = run(["ism", files["seq"], files["fasta"], "-o", out, "--start", "4", "-q"], capsys)
    assert code == 0 and err == ""
    with np.load(out, allow_pickle=False) as npz:
        assert npz["delta"].shape == (7, 4, 20, 2)
    assert not work.exists()


def test_ism_bad_input_fails_cleanly(files, tmp_path, capsys) -> None:
    code, err = run(["ism", files["seq"], files["ragged"], "-o", tmp_path / "m.npz"], capsys)
    assert code == 2 and "ragged.fa:b:" in err and "length" in err
    code, err = run(["ism", files["seq"], files["fasta"], "-o", tmp_path / "m.tsv"], capsys)
    assert code == 2 and ".npz" in err
    code, err = run(["ism", files["seq"], files["fasta"], "-o", tmp_path / "m.npz", "--task", "REST"], capsys)
    assert code == 2 and "CTCF" in err
    assert list(tmp_path.iterdir()) == []


def test_ism_of_a_profile_model_uses_its_scalar_wrapper(files, tmp_path, capsys) -> None:
    out = tmp_path / "bp.npz"
    code, err = run(["ism", files["bpnet"], files["fasta"], "-o", out, "-q"], capsys)
    assert code == 0, err
    with np.load(out, allow_pickle=False) as npz:
        assert npz["delta"].shape == (7, 4, 24, 2) and list(npz["tasks"]) == ["p1", "p2"]


@pytest.mark.parametrize("method", ["saliency", "ig", "deepliftshap", "gradcam", "occlusion"])
def test_explain_sequences(files, tmp_path, capsys, method: str) -> None:
    out = tmp_path / "attr.npz"
    code, err = run(["explain", files["seq"], files["fasta"], "--method", method, "-o", out, "--target", "1",
                     "--window", "4", "--shuffles", "3", "--steps", "8"], capsys)
    assert code == 0, err
    with np.load(out, allow_pickle=False) as npz:
        assert npz["map"].shape == (7, 24) and list(npz["targets"]) == [1] * 7
        if method in ("saliency", "ig", "deepliftshap"):
            expected = attribute(load_model(files["seq"]), one_hot(files["seqs"]), method, target=1, steps=8,
                                 n_shuffles=3)
            np.testing.assert_allclose(npz["actual"], expected.actual, atol=1e-5)
            np.testing.assert_allclose(npz["map"], expected.actual.sum(1), atol=1e-5)
        else:
            assert "actual" not in npz.files


def test_explain_figures_for_one_input(files, tmp_path, capsys) -> None:
    code, err = run(["explain", files["seq"], files["one"], "-m", "input_x_grad", "-o", tmp_path / "a.svg"],
                    capsys)
    assert code == 0, err
    assert (tmp_path / "a.svg").read_bytes().startswith(b"<?xml")
    code, err = run(["explain", files["img"], files["png"], "-m", "gradcam", "-o", tmp_path / "cam.png"],
                    capsys)
    assert code == 0, err
    assert (tmp_path / "cam.png").read_bytes().startswith(b"\x89PNG")
    code, err = run(["explain", files["seq"], files["fasta"], "-m", "saliency", "-o", tmp_path / "b.png"],
                    capsys)
    assert code == 2 and "--plot" in err


def test_explain_image_npz_with_plots(files, tmp_path, capsys) -> None:
    out = tmp_path / "img.npz"
    code, err = run(["explain", files["img"], files["npz"], "-m", "occlusion", "--window", "3", "-o", out,
                     "--plot", tmp_path / "figs"], capsys)
    assert code == 0, err
    with np.load(out, allow_pickle=False) as npz:
        assert npz["map"].shape == (3, 8, 8) and npz["images"].shape == (3, 1, 8, 8)
        model = load_model(files["img"])
        with torch.no_grad():
            top = model(torch.as_tensor(npz["images"])).argmax(1).numpy()
        np.testing.assert_array_equal(npz["targets"], top)  # default: each input's top class
    assert len(list((tmp_path / "figs").iterdir())) == 3
