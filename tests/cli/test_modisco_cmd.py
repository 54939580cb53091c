"""``seqcnn modisco`` and ``seqcnn motifs --attribution``: TF-MoDISco reports from a model whose tasks
score GATA3 and MAX sites (conftest ``motif_model``), files read back by modisco-lite's own commands, and
bad input refused in one line with nothing written."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from seqcnn.modelfile import save_model
from seqcnn.seq.fasta import write_fasta
from seqcnn.seq.jaspar import jaspar_motifs
from seqcnn.seq.meme import read_meme

COMPLEMENT = str.maketrans("ACGT", "TGCA")


@pytest.fixture(scope="module")
def files(motif_model, tmp_path_factory) -> dict[str, Path]:
    """A model file scoring GATA3 (task gata) and MAX (task max) sites; 400 sequences of 200 bases, one
    sampled site each (alternating motifs, random strand)."""
    motifs = jaspar_motifs(["MA0037.5", "MA0058.4"])
    matrices = []
    for m in motifs:
        log_odds = np.log2((m.pwm + 0.01) / 1.04 / 0.25)
        matrices.append(6 * log_odds / log_odds.max(axis=1).sum())
    model = motif_model(matrices, length=200, tasks=["gata", "max"], thresholds=[3.6, 3.6],
                        activation="softplus")
    rng = np.random.default_rng(0)
    records = []
    for i in range(400):
        pwm = motifs[i % 2].pwm
        start = int(rng.integers(0, 200 - len(pwm)))
        site = "".join("ACGT"[rng.choice(4, p=row / row.sum())] for row in pwm)
        site = site[::-1].translate(COMPLEMENT) if rng.random() < 0.5 else site
        background = "".join(rng.choice(list("ACGT"), 200))
        records.append((f"s{i}", background[:start] + site + background[start + len(pwm):]))
    folder = tmp_path_factory.mktemp("modisco_cli")
    write_fasta(records, folder / "seqs.fa")
    write_fasta([(f"short{i}", seq[:25]) for i, (_, seq) in enumerate(records[:50])], folder / "short.fa")
    (folder / "empty.fa").write_text("")
    return {"model": save_model(model, folder / "model.safetensors", model.metadata),
            "fasta": folder / "seqs.fa", "short": folder / "short.fa", "empty": folder / "empty.fa",
            "dir": folder}


@pytest.fixture(scope="module")
def report(files) -> Path:
    from seqcnn.cli import main

    out = files["dir"] / "report"
    with pytest.raises(SystemExit) as exc:
        main(["modisco", str(files["model"]), str(files["fasta"]), "-o", str(out), "--attribution", "ism",
              "--sequences", "400", "-q"])
    assert exc.value.code == 0
    return out


def test_modisco_writes_patterns_matches_seqlets_and_logos(report):
    table = pd.read_csv(report / "patterns.tsv", sep="\t")
    assert list(table.columns) == ["pattern", "sign", "seqlets", "core_start", "core_end", "consensus",
                                   "information_content", "contribution", "match_id", "match_name",
                                   "match_orientation", "match_q_value"]
    matched = table[table.match_q_value < 0.05]
    names = {str(n).upper() for n in matched.match_name}
    assert any(n.startswith("GATA") or n == "TRPS1" for n in names), table
    assert any("CACGTG" in c for c in matched.consensus), table
    seqlets = pd.read_csv(report / "seqlets.tsv", sep="\t")
    assert seqlets.groupby("pattern").size().reindex(table.pattern).tolist() == table.seqlets.tolist()
    assert seqlets.id.str.fullmatch(r"s\d+").all() and set(seqlets.strand) <= {"+", "-"}
    matches = pd.read_csv(report / "matches.tsv", sep="\t")
    assert set(matches["query"]) <= set(table.pattern) and matches["rank"].max() == 5
    motifs = read_meme(report / "patterns.meme")
    assert [m.id for m in motifs] == list(table.pattern) and [m.nsites for m in motifs] == list(table.seqlets)
    for name in table.pattern:
        for suffix in ("", "_rc", "_cwm"):
            assert (report / "logos" / f"{name}{suffix}.png").read_bytes()[:4] == b"\x89PNG"
    html = (report / "report.html").read_text()
    assert 'id="modisco"' in html and "<link" not in html and 'src="http' not in html
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) >= 3 * len(matched)
    assert all(base64.b64decode(s.split(",", 1)[1])[:4] == b"\x89PNG" for s in sources)


def test_modisco_lite_reads_the_patterns_file(report, tmp_path):
    from modiscolite.cli import cli as modisco_cli

    table = pd.read_csv(report / "patterns.tsv", sep="\t")
    with h5py.File(report / "patterns.h5", "r") as h5:
        stored = [f"{sign}.{name}" for sign in ("pos_patterns", "neg_patterns") if sign in h5
                  for name in h5[sign]]
        assert h5.attrs["window_size"] == 200
    assert sorted(stored) == sorted(table.pattern)
    result = CliRunner().invoke(modisco_cli, ["meme", "-i", str(report / "patterns.h5"), "-t", "PFM",
                                              "-o", str(tmp_path / "pfm.meme"), "-q"])
    assert result.exit_code == 0, result.output
    theirs = {m.name: m.pwm for m in read_meme(tmp_path / "pfm.meme")}
    assert sorted(theirs) == sorted(table.pattern)
    ours = {m.id: m.pwm for m in read_meme(report / "patterns.meme")}  # the cores of the same matrices
    for row in table.itertuples():
        np.testing.assert_allclose(theirs[row.pattern][row.core_start:row.core_end], ours[row.pattern],
                                   atol=2e-3)


def test_motifs_command_adds_a_modisco_section(files, run, capsys):
    out = files["dir"] / "motifs"
    code, _, err = run(["motifs", files["model"], files["fasta"], "-o", out, "--attribution", "ism",
                        "--attribution-sequences", 200, "--influence-sequences", 50, "--examples", 0, "-q"],
                       capsys)
    assert code == 0, err
    assert 'id="modisco"' in (out / "report.html").read_text()
    for name in ("patterns.h5", "patterns.meme", "patterns.tsv", "matches.tsv", "seqlets.tsv"):
        assert (out / "modisco" / name).is_file()
    assert not (out / "attribution.tsv").exists()


@pytest.mark.parametrize("args, message", [
    (["{empty}"], "empty FASTA file"),
    (["{short}"], "shorter than a seqlet"),
    (["{fasta}", "--task", "nope"], "unknown target 'nope'"),
    (["{fasta}", "--targets", "{fasta}"], "MEME"),
])
def test_bad_input_is_one_line_and_writes_nothing(files, run, capsys, args, message):
    out = files["dir"] / "bad"
    code, _, err = run(["modisco", files["model"], *[a.format(**files) for a in args], "-o", out,
                        "--attribution", "ism", "-q"], capsys)
    assert code == 2 and message in err, err
    assert err.startswith("seqcnn: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
