"""SpliceAI: the architecture by hand, the ensemble, and the released weights on real hg19 sequence.

The real-data tests read the released models (GPL-3.0, fetched by the ``spliceai_release`` fixture) and
the first 40 kb of hg19 chr17 (``data/genomes``, from pyfaidx), where the DOC2B gene (minus strand) has
six exons; its exon boundaries come from the spliceai package's own ``grch37.txt``.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from seqcnn.errors import ConfigError, InputError
from seqcnn.interpret.ism import naive_ism
from seqcnn.layers.receptive import input_span
from seqcnn.models.convert import import_spliceai, spliceai_from_keras
from seqcnn.models.ensemble import Ensemble
from seqcnn.models.registry import build_model, get_spec, list_models
from seqcnn.models.spliceai import SPLICEAI_UNITS, PositionTarget
from seqcnn.score.splice_variants import read_gene_annotation, splice_probabilities
from seqcnn.seq.encode import one_hot, reverse_complement
from seqcnn.seq.fasta import read_fasta

GENOME = Path(__file__).resolve().parents[2] / "data" / "genomes" / "chr17.hg19.part.fa"
CONTEXT = 10000
ACCEPTOR, DONOR = 1, 2


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_by_hand() -> None:
    with torch.device("meta"):
        model = build_model("spliceai")
    units = [k for k, _ in SPLICEAI_UNITS[10000]]
    convs = sum(2 * (32 * 32 * k + 32) for k in units)  # two convolutions per residual unit
    norms = len(units) * 2 * 2 * 32  # two batch norms per unit, weight + bias
    stem, skip, dense, head = 4 * 32 + 32, 32 * 32 + 32, 4 * (32 * 32 + 32), 32 * 3 + 3
    assert n_params(model) == convs + norms + stem + skip + dense + head == 696_739


def test_parameter_count_matches_the_released_file(spliceai_release: dict) -> None:
    trainable = 0
    with h5py.File(spliceai_release["models"][0], "r") as f:
        def count(name: str, obj: object) -> None:
            nonlocal trainable
            if isinstance(obj, h5py.Dataset) and "moving_" not in name:
                trainable += obj.size
        f["model_weights"].visititems(count)
    with torch.device("meta"):
        assert n_params(build_model("spliceai")) == trainable


@pytest.mark.parametrize("context", sorted(SPLICEAI_UNITS))
def test_context_cropped_and_receptive_field(context: int) -> None:
    with torch.device("meta"):
        model = build_model("spliceai", context=context)
    assert model.receptive_field == context + 1 and model.input_length is None
    assert model.output_length(context + 37) == 37
    assert model(torch.zeros(2, 4, context + 37, device="meta")).shape == (2, 3, 37)
    assert model.body[1].groups[0][0].norm1.eps == 1e-3  # Keras' epsilon, not PyTorch's 1e-5


def test_output_centred_on_the_input() -> None:
    torch.manual_seed(0)
    model = build_model("spliceai", context=80, channels=4).eval()
    x = torch.randn(1, 4, 121)
    with torch.no_grad():
        base = model(x)
        y = x.clone()
        y[..., 40 + 7] += 3.0  # input 47 is seen by outputs 7 - 40 ... 7 + 40, i.e. all of 0..40
        changed = (model(y) - base).abs().amax(1)[0] > 0
        assert changed.all()
        y = x.clone()
        y[..., 100] += 3.0  # seen by outputs 20 ... 40 only
        changed = (model(y) - base).abs().amax(1)[0] > 0
    assert not changed[:20].any() and changed[25:].all()
    assert [input_span(model, 121, j) for j in (0, 40)] == [(0, 81), (40, 121)]


def test_short_input_and_bad_arguments() -> None:
    model = build_model("spliceai", context=80, channels=4)
    with pytest.raises(InputError, match="longer than its context"):
        model(torch.zeros(1, 4, 80))
    with pytest.raises(ConfigError, match="context must be one of"):
        build_model("spliceai", context=100)
    with pytest.raises(ConfigError, match="n_models"):
        build_model("spliceai", n_models=0)


def test_ensemble_is_the_mean_of_member_probabilities(randomize_norms) -> None:
    torch.manual_seed(1)
    model = build_model("spliceai", context=80, channels=4, n_models=3).eval()
    assert isinstance(model, Ensemble) and len(model.members) == 3
    for i, member in enumerate(model.members):
        randomize_norms(member, seed=i)
    x = torch.randn(2, 4, 100)
    with torch.no_grad():
        mean = torch.stack([m(x).softmax(1) for m in model.members]).mean(0)
        out = model(x)
    assert torch.allclose(out.softmax(1), mean, atol=1e-6)
    assert torch.allclose(out.exp().sum(1), torch.ones(2, 20), atol=1e-6)  # log-probabilities already
    assert model.receptive_field == 81 and model.output_length(100) == 20


def test_unknown_bases_enter_as_zeros_like_spliceai(randomize_norms) -> None:
    torch.manual_seed(3)
    model = build_model("spliceai", context=80, channels=4).eval()
    randomize_norms(model)
    seq = "ACGT" * 20 + "NNNN" + "TTGCA" * 12
    ours = torch.from_numpy(one_hot([seq])).float()  # N = 0.25 in each channel
    zeros = torch.from_numpy(one_hot([seq], n_value=0.0)).float()  # SpliceAI's own encoding
    assert not torch.equal(ours, zeros)
    with torch.no_grad():
        torch.testing.assert_close(model(ours), model(zeros), rtol=0, atol=0)
        halves = ours.clone()
        halves[:, :, 80:84] = 0.5  # not an N column: passed through unchanged
        assert not torch.allclose(model(halves), model(zeros))


def test_position_target_selects_one_probability() -> None:
    torch.manual_seed(2)
    model = build_model("spliceai", context=80, channels=4).eval()
    x = torch.randn(3, 4, 90)
    with torch.no_grad():
        probs = model(x).softmax(1)
        assert torch.allclose(PositionTarget(model, 4, DONOR)(x), probs[:, DONOR, 4:5], atol=1e-7)
        assert torch.allclose(PositionTarget(model, -1, ACCEPTOR)(x), probs[:, ACCEPTOR, 9:10], atol=1e-7)
    with pytest.raises(InputError, match="outside the output"):
        PositionTarget(model, 10, DONOR)(x)


# -- the released weights on real sequence ---------------------------------------------------------
def chr17() -> str:
    (_, seq), = read_fasta(GENOME)
    return seq.upper()


@pytest.fixture(scope="module")
def doc2b(spliceai_release: dict) -> dict:
    """The five-model ensemble's probabilities over DOC2B's transcript (minus strand), once."""
    (gene,) = read_gene_annotation(spliceai_release["annotation"]).at("chr17", 20000)
    assert gene.name == "DOC2B" and gene.strand == "-"
    ensemble = import_spliceai([spliceai_release["wheel"]]).model
    region = chr17()[gene.tx_start - 1 - CONTEXT // 2: gene.tx_end + CONTEXT // 2]  # 1-based, + strand
    probs = splice_probabilities(ensemble, reverse_complement(region))[0][:, ::-1]  # back to + order
    return {"gene": gene, "probs": probs, "first": gene.tx_start}  # probs[:, i] is position first + i


def ranks(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    out = np.empty(len(scores), dtype=np.int64)
    out[order] = np.arange(1, len(scores) + 1)
    return out


@pytest.mark.slow
def test_doc2b_internal_exons_are_top_predictions(doc2b: dict, record_property) -> None:
    gene, probs, first = doc2b["gene"], doc2b["probs"], doc2b["first"]
    assert probs.shape == (3, gene.tx_end - gene.tx_start + 1)
    rank = {ACCEPTOR: ranks(probs[ACCEPTOR]), DONOR: ranks(probs[DONOR])}
    # minus strand: an exon [s, e] is read from e to s, so its acceptor is e and its donor is s
    exons = sorted(zip(gene.exon_starts, gene.exon_ends, strict=True), reverse=True)
    internal = exons[1:-1]
    assert len(internal) == 4
    sites = [(e, ACCEPTOR, "internal") for _, e in internal] + [(s, DONOR, "internal") for s, _ in internal]
    sites += [(exons[0][0], DONOR, "first exon"), (exons[-1][1], ACCEPTOR, "last exon")]
    sites += [(gene.tx_end, ACCEPTOR, "transcript start"), (gene.tx_start, DONOR, "transcript end")]
    lines = []
    for pos, cls, kind in sites:
        i = pos - first
        lines.append(f"{pos}\t{'acceptor' if cls == ACCEPTOR else 'donor'}\t{kind}\trank {rank[cls][i]}\t"
                     f"p {probs[cls, i]:.3f}")
        if kind == "internal":
            assert rank[cls][i] <= 8 and probs[cls, i] >= 0.8, lines[-1]
    report = "\n".join(lines)
    print(f"DOC2B annotated boundaries (ensemble, chr17 hg19):\n{report}")
    record_property("doc2b_sites", report)


@pytest.mark.slow
def test_ism_over_a_donor_finds_gt_and_the_exon_end(spliceai_release: dict) -> None:
    donor = 13921  # DOC2B exon 13921-13995 (minus strand): its last base; the intron's GT is 13920-13919
    model = spliceai_from_keras(spliceai_release["models"][0])
    window = reverse_complement(chr17()[donor - 1 - CONTEXT // 2: donor + CONTEXT // 2])
    centre = CONTEXT // 2  # the donor, in the transcript's orientation; GT at centre + 1, centre + 2
    assert window[centre - 1: centre + 3] == "AGGT"
    x = torch.from_numpy(one_hot(window, n_value=0.0))
    span = (centre - 4, centre + 6)  # the exon's last 5 bases, then GT and 3 intron bases
    result = naive_ism(PositionTarget(model, 0, DONOR), x, start=span[0], end=span[1], batch_size=30,
                       device="cpu")
    assert result.reference[0, 0] > 0.9
    effect = -result.delta[0, :, :, 0].min(axis=0)  # the largest loss of each position
    top = [span[0] + int(i) for i in np.argsort(-effect)[:4]]
    assert set(top[:2]) == {centre + 1, centre + 2}  # G and T of GT: the donor is gone
    assert effect[centre + 1 - span[0]] > 0.9 and effect[centre + 2 - span[0]] > 0.9
    assert set(top[2:]) == {centre, centre - 1}  # then the exon's last two bases


def test_models_page_lists_every_registered_family() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| (\d) \| (\w+) \| ([^|]+) \|", page, flags=re.MULTILINE)
    assert sorted(name for name, *_ in rows) == list_models()
    for name, dims, output, source in rows:
        spec = get_spec(name)
        assert (int(dims), output) == (spec.dims, spec.output) and source.strip(), name
