"""``seqcnn motifs``: a tiny koo_cnn with hand-set GATA1 and MAX filters, end to end, and its errors."""

from __future__ import annotations

import base64
import functools
import re

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from seqcnn.cli import cli, main
from seqcnn.modelfile import ModelMetadata, save_model
from seqcnn.models.registry import build_model, get_spec
from seqcnn.motifs.pwm import consensus
from seqcnn.motifs.sites import first_layer
from seqcnn.seq.encode import one_hot
from seqcnn.seq.fasta import write_fasta

KWARGS = {"n_tasks": 2, "input_length": 60, "filters": (4, 8), "kernel_sizes": (11, 3), "hidden": 8,
          "norm": None, "first_activation": "relu"}


@functools.lru_cache(maxsize=1)
def jaspar_vertebrates() -> tuple:
    from pyjaspar import jaspardb

    return tuple(jaspardb(release="JASPAR2026").fetch_motifs(collection="CORE", tax_group=["vertebrates"]))


def jaspar_pwm(name: str) -> np.ndarray:
    """(L, 4) probabilities (+0.5 pseudocounts) of the first JASPAR2026 CORE vertebrate matrix ``name``."""
    motif = next(m for m in jaspar_vertebrates() if m.name == name)
    counts = np.array([motif.counts[b] for b in "ACGT"], dtype=np.float64).T + 0.5
    return counts / counts.sum(axis=1, keepdims=True)


def set_filter(conv: torch.nn.Conv1d, f: int, pwm: np.ndarray) -> None:
    """Log-odds weights of ``pwm`` (centred in the kernel); bias so only strong matches fire."""
    k = conv.kernel_size[0]
    core = pwm[:k]
    offset = (k - len(core)) // 2
    weight = np.zeros((4, k))
    weight[:, offset:offset + len(core)] = np.log2(core / 0.25).T
    best = weight.max(axis=0).sum()
    with torch.no_grad():
        conv.weight[f] = torch.tensor(weight, dtype=torch.float32)
        conv.bias[f] = -0.6 * best


@pytest.fixture(scope="module")
def model_and_fasta(tmp_path_factory):
    """A model file whose filter 0 is GATA1, filter 1 MAX, filters 2-3 dead; a FASTA with planted sites."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model("koo_cnn", **KWARGS).eval()
    conv = model.body[0].conv
    pwms = {"GATA1": jaspar_pwm("GATA1"), "MAX": jaspar_pwm("MAX")}
    set_filter(conv, 0, pwms["GATA1"])
    set_filter(conv, 1, pwms["MAX"])
    with torch.no_grad():
        conv.weight[2:] = 0.0
        conv.bias[2:] = -1.0
        for layer in (model.body[1].conv, model.head[1], model.head[4]):  # monotone: more site, more score
            layer.weight.abs_()
            layer.bias.zero_()
    records = []
    for i in range(200):
        bases = rng.choice(list("ACGT"), 60)
        pwm = pwms["GATA1" if i % 2 else "MAX"]
        start = int(rng.integers(0, 60 - len(pwm)))
        bases[start:start + len(pwm)] = ["ACGT"[rng.choice(4, p=row)] for row in pwm]
        records.append((f"seq{i}", "".join(bases)))
    folder = tmp_path_factory.mktemp("motifs_cli")
    path = save_model(model, folder / "model.safetensors", ModelMetadata(
        architecture="koo_cnn", model_kwargs=KWARGS, tasks=["a", "b"], task_type="binary", input_length=60))
    write_fasta(records, folder / "seqs.fa")
    return path, folder / "seqs.fa", folder


def run_error(args: list[str], capsys) -> str:
    """Run the console entry point expecting exit status 2; its one-line stderr."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("seqcnn: error:") and "Traceback" not in err
    return err


def test_motifs_command_writes_annotated_report(model_and_fasta):
    model_path, fasta, folder = model_and_fasta
    out = folder / "report"
    result = CliRunner().invoke(cli, ["motifs", str(model_path), str(fasta), "-o", str(out), "--quiet",
                                      "--examples", "1"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "table.tsv", sep="\t")
    assert list(table["filter"]) == ["filter0", "filter1", "filter2", "filter3"]
    gata, ebox = table.iloc[0], table.iloc[1]
    assert gata.match_name.upper().startswith("GATA") and gata.match_q_value < 0.05
    assert "CACGTG" in ebox.consensus and ebox.match_q_value < 0.05
    assert 30 <= gata.sites <= 110 and 30 <= ebox.sites <= 110  # 100 sampled instances each
    assert (table.loc[2:, "sites"] == 0).all() and table.loc[2:, "match_id"].isna().all()
    assert gata.influence > 0 and {"influence_a", "influence_b"} <= set(table.columns)
    matches = pd.read_csv(out / "matches.tsv", sep="\t")
    assert set(matches["query"]) == {"filter0", "filter1"} and matches["rank"].max() == 5
    assert sorted(p.name for p in (out / "logos").iterdir()) == sorted(
        [f"filter{i}.png" for i in range(4)] + [f"filter{i}_rc.png" for i in range(4)])
    from seqcnn.seq.meme import read_meme

    motifs = read_meme(out / "filters.meme")
    assert [m.id for m in motifs] == list(table["filter"])
    assert consensus(motifs[1].pwm) == ebox.consensus
    html = (out / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) >= 4 + 2 + 1  # filter logos, match logos, influence chart
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(base64.b64decode(s.split(",", 1)[1])[:4] == b"\x89PNG" for s in sources)
    assert "<link" not in html and "src=\"http" not in html
    assert html.count('alt="mutation map of') == 1  # --examples 1


def test_attribution_seqlet_motifs(model_and_fasta, tmp_path):
    model_path, fasta, _ = model_and_fasta
    out = tmp_path / "attribution"
    result = CliRunner().invoke(cli, ["motifs", str(model_path), str(fasta), "-o", str(out), "--quiet",
                                      "--examples", "0", "--attribution-sequences", "120"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "attribution.tsv", sep="\t")
    names = {str(n).upper() for n in table.loc[table["match_q_value"] < 0.05, "match_name"]}
    assert any(n.startswith("GATA") for n in names), table
    assert any("CACGTG" in c for c in table["consensus"]), table
    assert (table["seqlets"] >= 10).all() and table["seqlets"].sum() <= 120 * 5
    assert 'id="attribution"' in (out / "report.html").read_text()
    assert (out / "logos" / "seqlet0.png").exists()


def test_kernel_method_and_user_meme_targets(model_and_fasta, tmp_path):
    model_path, fasta, _ = model_and_fasta
    from seqcnn.seq.meme import Motif, write_meme

    targets = tmp_path / "targets.meme"
    rng = np.random.default_rng(1)
    decoys = [Motif(name=f"decoy{i}", pwm=rng.dirichlet(np.ones(4), size=10)) for i in range(40)]
    write_meme([Motif(name="GATA_user", pwm=jaspar_pwm("GATA1")), *decoys], targets)
    out = tmp_path / "kernel"
    result = CliRunner().invoke(cli, ["motifs", str(model_path), str(fasta), "-o", str(out), "--quiet",
                                      "--method", "kernel", "--targets", str(targets), "--examples", "0"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "table.tsv", sep="\t")
    assert table.loc[0, "match_id"] == "GATA_user" and table.loc[0, "sites"] == 0


def test_errors_are_one_line_and_leave_no_output(model_and_fasta, tmp_path, capsys):
    model_path, _, _ = model_and_fasta
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    out = tmp_path / "out"
    err = run_error(["motifs", str(model_path), str(empty), "-o", str(out)], capsys)
    assert "empty.fa" in err and ("empty" in err.split("empty.fa")[1] or "no sequences" in err)
    short = tmp_path / "short.fa"
    short.write_text(">s1\nACGTACGT\n")
    err = run_error(["motifs", str(model_path), str(short), "-o", str(out)], capsys)
    assert "s1" in err and "shorter than the filters" in err
    spec = get_spec("lenet5")
    image_model = tmp_path / "lenet.safetensors"
    save_model(build_model("lenet5", **spec.small), image_model,
               ModelMetadata(architecture="lenet5", model_kwargs=spec.small, task_type="multiclass"))
    fasta = tmp_path / "ok.fa"
    fasta.write_text(">s1\n" + "ACGT" * 20 + "\n")
    assert "no 1D convolution" in run_error(["motifs", str(image_model), str(fasta), "-o", str(out)], capsys)
    assert not out.exists()


@pytest.mark.slow
def test_real_report_opens_in_headless_chromium(model_and_fasta, tmp_path, open_in_chromium):
    model_path, fasta, folder = model_and_fasta
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["motifs", str(model_path), str(fasta), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    marker, console = open_in_chromium(out / "report.html", tmp_path, column=5)  # sites
    assert console == ""
    images, n, order = marker.split(";")
    assert images == "images=true" and int(n.split("=")[1]) >= 7
    sites = [int(v) for v in order.removeprefix("order=").split(",")]
    assert sites == sorted(sites, reverse=True) and len(sites) == 4


@pytest.mark.parametrize("name", ["basset", "bpnet", "deepbind", "deepsea", "koo_cnn", "wavenet"])
def test_every_1d_model_gives_filter_motifs_and_a_mutation_map(name):
    from seqcnn.motifs.extract import extract_filter_motifs
    from seqcnn.workflows.motif_pipeline import example_maps

    spec = get_spec(name)
    torch.manual_seed(0)
    model = build_model(name, **spec.small).eval()
    length = spec.small.get("input_length") or 64
    rng = np.random.default_rng(0)
    records = [(f"s{i}", "".join(rng.choice(list("ACGT"), length))) for i in range(12)]
    motifs = extract_filter_motifs(model, [s for _, s in records], device="cpu")
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv1d))
    assert len(motifs) == conv.out_channels and motifs[0].pwm.shape == (conv.kernel_size[0], 4)
    assert all(m.influence.size >= 1 and np.isfinite(m.influence).all() for m in motifs)
    maps, note = example_maps(model, records, 1, batch_size=64, device="cpu")
    assert note is None and len(maps) == 1 and maps[0][1][:4] == b"\x89PNG"


def test_mixed_lengths_for_a_model_without_fixed_length():
    from seqcnn.motifs.extract import extract_filter_motifs
    from seqcnn.workflows.motif_pipeline import example_maps

    torch.manual_seed(0)
    model = build_model("wavenet", **get_spec("wavenet").small).eval()
    assert getattr(model, "input_length", None) is None
    rng = np.random.default_rng(1)
    records = [(f"s{i}", "".join(rng.choice(list("ACGT"), 40 if i % 3 else 55))) for i in range(12)]
    motifs = extract_filter_motifs(model, [s for _, s in records], device="cpu", influence=False)
    layer = first_layer(model)
    with torch.no_grad():  # reference: one sequence at a time, threshold from the global maximum
        acts = [layer(torch.from_numpy(one_hot(s))[None])[0].numpy() for _, s in records]  # (F, L')
    top = np.max([a.max(axis=1) for a in acts], axis=0)
    expected = sum((a > 0.5 * top[:, None]).sum(axis=1) for a in acts)
    assert [m.nsites for m in motifs] == [int(e) if t > 0 else 0 for e, t in zip(expected, top, strict=True)]
    maps, note = example_maps(model, records, 2, batch_size=64, device="cpu")
    assert note is None and len(maps) == 2
