"""``seqcnn marginalize``, ``spacing`` and ``ablate``: tables and plots from a model that counts motif
matches (conftest ``motif_model``), and bad input refused in one line with nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqcnn.modelfile import save_model
from seqcnn.seq.fasta import write_fasta
from seqcnn.seq.meme import Motif, write_meme

GATA, EBOX = "AGATAAG", "CCACGTG"
COMPOSITE = GATA + "NNN" + EBOX
MAGIC = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}


@pytest.fixture
def files(motif_model, tmp_path: Path) -> dict[str, Path]:
    model = motif_model([GATA, EBOX, COMPOSITE], length=60, tasks=["gata", "ebox", "pair"])
    rng = np.random.default_rng(0)
    records = []
    for i in range(6):
        seq = "".join(rng.choice(list("ACGT"), 60))
        records.append((f"r{i}", seq[:20] + GATA + seq[27:]))
    write_fasta(records, tmp_path / "seqs.fa")
    write_meme([Motif("Gata-like", np.eye(4)[["ACGT".index(c) for c in GATA]] * 0.9 + 0.025, id="M1")],
               tmp_path / "motifs.meme")
    return {"model": save_model(model, tmp_path / "model.safetensors", model.metadata),
            "fasta": tmp_path / "seqs.fa", "meme": tmp_path / "motifs.meme", "dir": tmp_path}


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_marginalize_writes_table_and_plot(files, run, capsys, suffix):
    out, plot = files["dir"] / "m.tsv", files["dir"] / f"m{suffix}"
    code, _, err = run(["marginalize", files["model"], GATA, "-n", 30, "-o", out, "--plot", plot], capsys)
    assert code == 0, err
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == ["background", "gata", "ebox", "pair"] and len(table) == 30
    assert (table["gata"] > 0.99).all() and np.allclose(table[["ebox", "pair"]], 0, atol=1e-4)
    assert plot.read_bytes().startswith(MAGIC[suffix])
    assert "mean change over 30 backgrounds: gata +1" in err


def test_marginalize_reads_a_motif_by_name_from_a_meme_file(files, run, capsys):
    out = files["dir"] / "m.tsv"
    code, _, err = run(["marginalize", files["model"], "Gata-like", "--meme", files["meme"], "-n", 10,
                        "--task", "gata", "--backgrounds", files["fasta"], "-o", out, "-q"], capsys)
    assert code == 0, err
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == ["background", "gata"] and (table["gata"] > 0.99).all()


def test_spacing_writes_the_cooperativity_curve(files, run, capsys):
    out, plot = files["dir"] / "s.tsv", files["dir"] / "s.png"
    code, _, err = run(["spacing", files["model"], GATA, EBOX, "--max-distance", 6, "-n", 10, "-o", out,
                        "--plot", plot, "-q"], capsys)
    assert code == 0, err
    table = pd.read_csv(out, sep="\t")
    coop = table[table.measure == "cooperativity"].set_index("distance")
    np.testing.assert_allclose(coop["pair"], [0, 0, 0, 1, 0, 0, 0], atol=1e-4)
    np.testing.assert_allclose(coop[["gata", "ebox"]], 0, atol=1e-4)
    assert set(table.measure) == {"a", "b", "both", "cooperativity", "cooperativity_sd"}
    assert plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("mode", ["mask", "shuffle"])
def test_ablate_reports_the_loss_of_each_record(files, run, capsys, mode):
    out, plot = files["dir"] / "a.tsv", files["dir"] / "a.svg"
    code, _, err = run(["ablate", files["model"], files["fasta"], "--span", "20:27", "--mode", mode,
                        "-o", out, "--plot", plot, "-q"], capsys)
    assert code == 0, err
    table = pd.read_csv(out, sep="\t")
    assert list(table["id"]) == [f"r{i}" for i in range(6)]
    assert (table["gata"] > 0.5).all()  # the planted site is gone (a shuffle rarely rebuilds it)
    assert plot.read_bytes().startswith(b"<?xml")


@pytest.mark.parametrize("args, message", [
    (["marginalize", "{model}", "ACXTG", "-o", "{out}"], "invalid letter 'X' at position 3"),
    (["marginalize", "{model}", "A" * 61, "-o", "{out}"], "longer than the input"),
    (["marginalize", "{model}", GATA, "--position", "58", "-o", "{out}"], "lies past the input"),
    (["spacing", "{model}", GATA, "CCZ", "-o", "{out}"], "invalid letter 'Z' at position 3"),
    (["spacing", "{model}", GATA, EBOX, "--max-distance", "50", "-o", "{out}"], "distance 47"),
    (["ablate", "{model}", "{fasta}", "--span", "50:70", "-o", "{out}"], "past the input length"),
    (["ablate", "{model}", "{fasta}", "--span", "x", "-o", "{out}"], "expected START:END"),
    (["marginalize", "{model}", "nope", "--meme", "{meme}", "-o", "{out}"], "no motif 'nope'"),
    (["marginalize", "{model}", GATA, "-o", "{out}", "--plot", "{dir}/p.gif"], ".png, .svg or .pdf"),
    (["marginalize", "{model}", GATA, "-o", "{out}", "--plot", "{dir}/missing/p.png"], "does not exist"),
])
def test_bad_input_is_one_line_and_writes_nothing(files, run, capsys, args, message):
    out = files["dir"] / "bad.tsv"
    names = {"model": files["model"], "fasta": files["fasta"], "meme": files["meme"], "out": out,
             "dir": files["dir"]}
    code, stdout, err = run([a.format(**names) for a in args], capsys)
    assert code == 2 and message in err
    assert err.startswith("seqcnn: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not list(files["dir"].glob("p.*")) and not list(files["dir"].glob(".*part"))
