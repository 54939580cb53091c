"""SpliceAI-style delta scores: against SpliceAI 1.3's own scoring code (transcribed here), and with the
released models on DOC2B (hg19 chr17, minus strand)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seqcnn.errors import ConfigError, InputError
from seqcnn.models.convert import import_spliceai
from seqcnn.models.registry import build_model
from seqcnn.score.splice_variants import read_gene_annotation, splice_deltas, splice_probabilities
from seqcnn.seq.encode import reverse_complement
from seqcnn.seq.genome import Genome
from seqcnn.seq.variants import Variant

GENOME = Path(__file__).resolve().parents[2] / "data" / "genomes" / "chr17.hg19.part.fa"
HEADER = "#NAME\tCHROM\tSTRAND\tTX_START\tTX_END\tEXON_START\tEXON_END"


def table(model: torch.nn.Module, variants: list[Variant], genome: Genome, **kw) -> pd.DataFrame:
    return pd.concat([pd.DataFrame(c) for c in splice_deltas(model, variants, genome, **kw)],
                     ignore_index=True)


# -- SpliceAI 1.3.1's get_delta_scores (spliceai/utils.py), transcribed for one variant and one gene -------
def one_hot_encode(seq: str) -> np.ndarray:
    table = np.asarray([[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    seq = seq.upper().replace("A", "\x01").replace("C", "\x02").replace("G", "\x03").replace("T", "\x04")
    return table[np.frombuffer(seq.replace("N", "\x00").encode(), np.int8) % 5]


def spliceai_reference(model, chrom_seq: str, pos: int, ref: str, alt: str, gene: dict, dist_var: int,
                       mask: int, context: int) -> list[float]:
    def predict(x: np.ndarray) -> np.ndarray:  # keras.Model.predict on (1, L, 4)
        with torch.no_grad():
            out = model(torch.from_numpy(x.transpose(0, 2, 1).copy()).float()).softmax(1)
        return out.numpy().transpose(0, 2, 1)

    cov = 2 * dist_var + 1
    wid = context + cov  # 10000 + cov in SpliceAI
    seq = chrom_seq[pos - wid // 2 - 1:pos + wid // 2]
    exon_bounds = np.union1d(np.asarray(gene["starts"]) + 1, gene["ends"])
    dist_ann = (gene["tx_start"] + 1 - pos, gene["tx_end"] - pos, min(exon_bounds - pos, key=abs))
    pad_size = [max(wid // 2 + dist_ann[0], 0), max(wid // 2 - dist_ann[1], 0)]
    ref_len, alt_len = len(ref), len(alt)
    del_len = max(ref_len - alt_len, 0)
    x_ref = "N" * pad_size[0] + seq[pad_size[0]:wid - pad_size[1]] + "N" * pad_size[1]
    x_alt = x_ref[:wid // 2] + str(alt) + x_ref[wid // 2 + ref_len:]
    x_ref, x_alt = one_hot_encode(x_ref)[None, :], one_hot_encode(x_alt)[None, :]
    if gene["strand"] == "-":
        x_ref, x_alt = x_ref[:, ::-1, ::-1], x_alt[:, ::-1, ::-1]
    y_ref, y_alt = predict(x_ref), predict(x_alt)
    if gene["strand"] == "-":
        y_ref, y_alt = y_ref[:, ::-1], y_alt[:, ::-1]
    if ref_len > 1 and alt_len == 1:
        y_alt = np.concatenate([y_alt[:, :cov // 2 + alt_len], np.zeros((1, del_len, 3)),
                                y_alt[:, cov // 2 + alt_len:]], axis=1)
    elif ref_len == 1 and alt_len > 1:
        y_alt = np.concatenate([y_alt[:, :cov // 2],
                                np.max(y_alt[:, cov // 2:cov // 2 + alt_len], axis=1)[:, None, :],
                                y_alt[:, cov // 2 + alt_len:]], axis=1)
    y = np.concatenate([y_ref, y_alt])
    idx_pa, idx_na = (y[1, :, 1] - y[0, :, 1]).argmax(), (y[0, :, 1] - y[1, :, 1]).argmax()
    idx_pd, idx_nd = (y[1, :, 2] - y[0, :, 2]).argmax(), (y[0, :, 2] - y[1, :, 2]).argmax()
    mask_pa = np.logical_and((idx_pa - cov // 2 == dist_ann[2]), mask)
    mask_na = np.logical_and((idx_na - cov // 2 != dist_ann[2]), mask)
    mask_pd = np.logical_and((idx_pd - cov // 2 == dist_ann[2]), mask)
    mask_nd = np.logical_and((idx_nd - cov // 2 != dist_ann[2]), mask)
    return [(y[1, idx_pa, 1] - y[0, idx_pa, 1]) * (1 - mask_pa),
            (y[0, idx_na, 1] - y[1, idx_na, 1]) * (1 - mask_na),
            (y[1, idx_pd, 2] - y[0, idx_pd, 2]) * (1 - mask_pd),
            (y[0, idx_nd, 2] - y[1, idx_nd, 2]) * (1 - mask_nd),
            idx_pa - cov // 2, idx_na - cov // 2, idx_pd - cov // 2, idx_nd - cov // 2]


GENES = [  # 0-based starts as in grch37.txt
    {"name": "PLUS", "strand": "+", "tx_start": 1000, "tx_end": 1500, "starts": [1000, 1200],
     "ends": [1100, 1500]},
    {"name": "MINUS", "strand": "-", "tx_start": 1150, "tx_end": 2200, "starts": [1150, 1900],
     "ends": [1400, 2200]},
]


@pytest.fixture
def synthetic(tmp_path: Path, randomize_norms) -> tuple:
    """A random 3 kb chromosome, two overlapping genes on opposite strands, a small random SpliceAI."""
    rng = np.random.default_rng(3)
    seq = "".join(rng.choice(list("ACGT"), 3000))
    (tmp_path / "g.fa").write_text(f">chrT\n{seq}\n")
    rows = [f"{g['name']}\tT\t{g['strand']}\t{g['tx_start']}\t{g['tx_end']}\t"
            + "".join(f"{s}," for s in g["starts"]) + "\t" + "".join(f"{e}," for e in g["ends"])
            for g in GENES]
    (tmp_path / "genes.txt").write_text("\n".join([HEADER, *rows]) + "\n")
    torch.manual_seed(0)
    model = randomize_norms(build_model("spliceai", context=80, channels=8), seed=1).eval()
    with torch.no_grad():
        model.head[0].conv.weight.mul_(8.0)  # sharper class probabilities than a fresh model's
    return seq, Genome(tmp_path / "g.fa"), read_gene_annotation(tmp_path / "genes.txt"), model


@pytest.mark.parametrize("mask", [0, 1])
def test_deltas_equal_spliceai_own_code(synthetic: tuple, mask: int) -> None:
    seq, genome, genes, model = synthetic
    variants = [Variant("chrT", 1050, "snv_near_tx_start", seq[1049], "G" if seq[1049] != "G" else "A"),
                Variant("chrT", 1300, "snv_both_strands", seq[1299], "T" if seq[1299] != "T" else "C"),
                Variant("chrT", 1205, "deletion", seq[1204:1208], seq[1204]),
                Variant("chrT", 1450, "insertion", seq[1449], seq[1449] + "GTAAG"),
                Variant("chrT", 2150, "minus_near_end", seq[2149], "C" if seq[2149] != "C" else "G")]
    got = table(model, variants, genome, annotation=genes, distance=20, mask=bool(mask))
    assert got["id"].tolist() == ["snv_near_tx_start", "snv_both_strands", "snv_both_strands", "deletion",
                                  "deletion", "insertion", "insertion", "minus_near_end"]
    assert got["strand"].tolist() == ["+", "+", "-", "+", "-", "+", "-", "-"]
    by_name = {g["name"]: g for g in GENES}
    for _, row in got.iterrows():
        expected = spliceai_reference(model, seq, row["pos"], row["ref"], row["alt"], by_name[row["gene"]],
                                      20, mask, 80)
        scores = row[["DS_AG", "DS_AL", "DS_DG", "DS_DL"]].to_numpy(float)
        np.testing.assert_allclose(scores, expected[:4], atol=1e-6, err_msg=row["id"])
        assert row[["DP_AG", "DP_AL", "DP_DG", "DP_DL"]].tolist() == expected[4:], row["id"]


def test_unscored_rows_strand_and_errors(synthetic: tuple) -> None:
    seq, genome, genes, model = synthetic
    variants = [Variant("chrT", 600, "intergenic", seq[599], "A" if seq[599] != "A" else "C"),
                Variant("chrT", 1300, "complex", seq[1299:1301], "GG" if seq[1299:1301] != "GG" else "CC")]
    got = table(model, variants, genome, annotation=genes)
    assert got["gene"].tolist() == [".", "PLUS", "MINUS"]
    assert got[["DS_AG", "DP_DL"]].isna().all().all()  # no gene / complex: NaN, as SpliceAI's '.'
    plus = table(model, variants[:1], genome, strand="+", distance=20)
    assert plus["strand"].tolist() == ["+"] and plus["DS_AG"].notna().all()
    with pytest.raises(ConfigError, match="one of a gene annotation"):
        table(model, variants, genome)
    with pytest.raises(ConfigError, match="strand must be"):
        table(model, variants, genome, strand=".")
    with pytest.raises(ConfigError, match="mask needs a gene annotation"):
        table(model, variants, genome, strand="+", mask=True)
    with pytest.raises(InputError, match="chr1"):
        table(model, [Variant("chr1", 5, ".", "A", "C")], genome, strand="+")
    assert list(splice_deltas(model, [Variant("chr1", 5, ".", "A", "C")], genome, strand="+",
                              skip_invalid=True)) == []


def test_annotation_reader(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(f"{HEADER}\nG\t17\t-\t99\t300\t99,199,\t150,300,\n")
    (gene,) = read_gene_annotation(path).at("chr17", 100)  # 0-based start 99: base 100 is the first
    assert (gene.tx_start, gene.tx_end) == (100, 300)
    assert (gene.exon_starts, gene.exon_ends) == ((100, 200), (150, 300))
    assert read_gene_annotation(path).at("17", 99) == [] and gene.nearest_boundary(190) == 10
    path.write_text("#NAME\tCHROM\tSTRAND\n")
    with pytest.raises(InputError, match="no column"):
        read_gene_annotation(path)
    path.write_text(f"{HEADER}\nG\t17\t*\t99\t300\t99,\t300,\n")
    with pytest.raises(InputError, match="line 2"):
        read_gene_annotation(path)


# -- the released models on DOC2B ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def released(spliceai_release: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    folder = tmp_path_factory.mktemp("genome")
    shutil.copy(GENOME, folder / GENOME.name)  # its .fai index is written beside it, not in data/
    return (import_spliceai([spliceai_release["wheel"]]).model, Genome(folder / GENOME.name),
            read_gene_annotation(spliceai_release["annotation"]))


@pytest.mark.slow
def test_doc2b_donor_loss_and_exonic_change(released: tuple) -> None:
    ensemble, genome, genes = released
    donor = 13921  # last base of DOC2B exon 13921-13995 (minus strand): the intron's GT is 13920, 13919
    assert reverse_complement(genome.fetch("chr17", donor - 3, donor)).upper() == "GGT"  # exon G, then GT
    exonic = 11926  # exon 11872-11981: 54 and 55 bp from its boundaries
    variants = [Variant("chr17", 13920, "donor_G", "C", "A"), Variant("chr17", exonic, "exonic", "T", "C")]
    got = table(ensemble, variants, genome, annotation=genes).set_index("id")
    assert (got["gene"] == "DOC2B").all() and (got["strand"] == "-").all() and got["ref_match"].all()
    loss = got.loc["donor_G"]
    assert loss["DS_DL"] >= 0.8 and loss["DP_DL"] == donor - 13920
    # the donor's probability in the reference window the delta used; with the substitution it is that
    # minus the loss
    half = (10000 + 101) // 2
    window = genome.fetch("chr17", 13920 - 1 - half, 13920 + half).upper()
    ref_p = splice_probabilities(ensemble, reverse_complement(window))[0, 2, ::-1][50 + 1]  # genome order
    assert ref_p > 0.9 and ref_p - loss["DS_DL"] < 0.05
    change = got.loc["exonic", ["DS_AG", "DS_AL", "DS_DG", "DS_DL"]].to_numpy(float)
    assert (change < 0.05).all(), change
    print(json.dumps({k: {c: float(v) for c, v in row.items() if re.match("D[SP]_", c)}
                      for k, row in got.iterrows()}))
