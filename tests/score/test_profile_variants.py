"""Variant effects of profile models: counts log2 fold change and profile Jensen-Shannon distance,
against hand computations on tiny models, with indels centred as for scalar models, through the
library and ``seqcnn vep``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from seqcnn.errors import ConfigError
from seqcnn.modelfile import ModelMetadata, load_model, save_model
from seqcnn.models import build_model, get_spec
from seqcnn.score.profile_variants import profile_variant_effects
from seqcnn.score.variants import variant_effects
from seqcnn.seq.encode import one_hot
from seqcnn.seq.genome import Genome
from seqcnn.seq.variants import Variant, variant_windows

GENOME = Path(__file__).resolve().parents[2] / "data" / "example" / "genome.fa"
SNV_A = Variant("chr1", 1005, "snv_a", "C", "A")  # window AGTCA[C]CAGGT of chr1:1000-1010
SNV_G = Variant("chr1", 1005, "snv_g", "C", "G")
DELETION = Variant("chr2", 3000, "del", "ATC", "A")
INSERTION = Variant("chr1", 2005, "ins", "A", "AGGG")


class HandProfile(nn.Module):
    """One task: profile logit ``2 * [base is A]`` at every position, log counts ``0.5 * (number of G)``."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"profile": 2 * x[:, :1], "counts": 0.5 * x[:, 2].sum(-1, keepdim=True)}


def jsd_by_hand(logits_p: np.ndarray, logits_q: np.ndarray) -> float:
    """sqrt(KL(p || m) / 2 + KL(q || m) / 2) in bits, m = (p + q) / 2, of the softmax profiles."""
    p, q = np.exp(logits_p) / np.exp(logits_p).sum(), np.exp(logits_q) / np.exp(logits_q).sum()
    m = (p + q) / 2
    return math.sqrt(0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m)))


def test_hand_computed_snvs() -> None:
    table = profile_variant_effects(HandProfile(), [SNV_A, SNV_G], GENOME, window=11)
    assert list(table.columns) == ["chrom", "pos", "id", "ref", "alt", "ref_match", "logcounts_ref_task0",
                                   "logcounts_alt_task0", "log2fc_task0", "jsd_task0"]
    assert table["ref_match"].all()
    ref = np.array([2.0 * (b == "A") for b in "AGTCACCAGGT"])  # 3 A, 3 G
    # C -> A: one more A (the profile shifts towards the centre), no change of G
    a = table.iloc[0]
    assert a["logcounts_ref_task0"] == pytest.approx(1.5) and a["logcounts_alt_task0"] == pytest.approx(1.5)
    assert a["log2fc_task0"] == pytest.approx(0.0)
    alt = np.array([2.0 * (b == "A") for b in "AGTCAACAGGT"])
    assert a["jsd_task0"] == pytest.approx(jsd_by_hand(ref, alt), rel=1e-5)
    assert 0.05 < a["jsd_task0"] < 1
    # C -> G: one more G (log counts +0.5, log2 fold change 0.5 / ln 2), the same profile
    g = table.iloc[1]
    assert g["log2fc_task0"] == pytest.approx(0.5 / math.log(2), rel=1e-6)
    assert g["jsd_task0"] == pytest.approx(0.0, abs=1e-6)


def test_indels_centred_as_for_scalar_models() -> None:
    variants = [SNV_A, DELETION, INSERTION]
    table = profile_variant_effects(HandProfile(), variants, GENOME, window=11)
    genome = Genome(GENOME)
    for row, variant in zip(table.itertuples(), variants, strict=True):
        ref_window, alt_window, match = variant_windows(variant, genome, 11)
        assert match
        ref_x, alt_x = one_hot([ref_window, alt_window])
        assert row.logcounts_ref_task0 == pytest.approx(0.5 * ref_x[2].sum())
        assert row.logcounts_alt_task0 == pytest.approx(0.5 * alt_x[2].sum())
        assert row.jsd_task0 == pytest.approx(jsd_by_hand(2.0 * ref_x[0], 2.0 * alt_x[0]), rel=1e-5, abs=1e-7)
    # the same windows as the scalar table of the counts head
    scalar = variant_effects(HandProfile(), variants, GENOME, window=11)
    np.testing.assert_allclose(table["logcounts_ref_task0"], scalar["ref_task0"], rtol=1e-6)
    np.testing.assert_allclose(table["logcounts_alt_task0"], scalar["alt_task0"], rtol=1e-6)
    assert table["jsd_task0"].iloc[1:].gt(0.01).all()  # the indels move the A profile


def small_bpnet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("bpnet", **get_spec("bpnet").small).eval()


def test_strands_mean_of_counts_and_flipped_profiles() -> None:
    model, width = small_bpnet(), 24
    variants = [SNV_A, DELETION]
    table = profile_variant_effects(model, variants, GENOME, window=width, rc="mean")
    genome = Genome(GENOME)
    for row, variant in zip(table.itertuples(), variants, strict=True):
        x = torch.as_tensor(one_hot(list(variant_windows(variant, genome, width)[:2])))
        with torch.no_grad():
            fwd, rev = model(x), model(x.flip(1, 2))
        counts = ((fwd["counts"] + rev["counts"]) / 2).numpy()
        probs = ((fwd["profile"].softmax(-1) + rev["profile"].softmax(-1).flip(-1)) / 2).numpy()
        for t, task in enumerate(("task0", "task1")):
            log2fc = (counts[1, t] - counts[0, t]) / math.log(2)
            assert getattr(row, f"log2fc_{task}") == pytest.approx(log2fc, rel=1e-5, abs=1e-6)
            expected = jsd_by_hand(np.log(probs[0, t]), np.log(probs[1, t]))
            assert getattr(row, f"jsd_{task}") == pytest.approx(expected, rel=1e-4, abs=1e-6)
    none = profile_variant_effects(model, variants, GENOME, window=width, rc="none", target="task1")
    assert list(none.columns[6:]) == ["logcounts_ref_task1", "logcounts_alt_task1", "log2fc_task1",
                                      "jsd_task1"]
    assert not np.allclose(none["jsd_task1"], table["jsd_task1"])


def test_a_model_without_profile_head_is_a_config_error() -> None:
    torch.manual_seed(0)
    with pytest.raises(ConfigError, match="profile"):
        profile_variant_effects(build_model("deepbind", **get_spec("deepbind").small), [SNV_A], GENOME,
                                window=24)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("profile_vep")
    bpnet = root / "bpnet.safetensors"
    save_model(small_bpnet(), bpnet, ModelMetadata("bpnet", get_spec("bpnet").small, tasks=["p1", "p2"],
                                                   rc_mode="mean"))
    deepbind = root / "deepbind.safetensors"
    torch.manual_seed(0)
    save_model(build_model("deepbind", **get_spec("deepbind").small), deepbind,
               ModelMetadata("deepbind", get_spec("deepbind").small, tasks=["CTCF"]))
    vcf = root / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   + "".join(f"{v.chrom}\t{v.pos}\t{v.id}\t{v.ref}\t{v.alt}\t.\tPASS\t.\n"
                             for v in (SNV_A, SNV_G, DELETION, INSERTION)))
    return {"bpnet": bpnet, "deepbind": deepbind, "vcf": vcf}


def test_vep_writes_profile_scores_of_a_profile_model(files, tmp_path, capsys, run) -> None:
    out = tmp_path / "effects.tsv"
    code, _, err = run(["vep", files["bpnet"], files["vcf"], "--genome", GENOME, "--window", 24, "-o", out,
                        "-q"], capsys)
    assert code == 0, err
    table = pd.read_csv(out, sep="\t")
    expected = profile_variant_effects(load_model(files["bpnet"]), files["vcf"], GENOME, window=24)
    assert list(table.columns) == list(expected.columns)
    assert [c for c in table.columns if c.startswith("jsd_")] == ["jsd_p1", "jsd_p2"]
    np.testing.assert_allclose(table.iloc[:, 6:].to_numpy(), expected.iloc[:, 6:].to_numpy(), rtol=1e-5,
                               atol=1e-6)
    code, _, err = run(["vep", files["bpnet"], files["vcf"], "--genome", GENOME, "--window", 24, "-o", out,
                        "-q", "--no-profile-scores"], capsys)
    assert code == 0, err
    assert "diff_p1" in pd.read_csv(out, sep="\t").columns  # the counts head's scalar table


def test_profile_scores_of_a_model_without_profile_head(files, tmp_path, capsys, run) -> None:
    out = tmp_path / "never.tsv"
    code, _, err = run(["vep", files["deepbind"], files["vcf"], "--genome", GENOME, "--window", 24, "-o", out,
                        "--profile-scores"], capsys)
    assert code == 2 and err.count("\n") == 1 and "profile head" in err, err
    assert not out.exists()
