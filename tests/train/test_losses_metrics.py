"""Losses and metrics against hand-computed values and peer implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqcnn.errors import ConfigError
from seqcnn.train.losses import (
    center_crop,
    dice_loss,
    link,
    make_loss,
    multinomial_nll,
    pos_weight_from_labels,
    profile_loss,
    resolve_loss_name,
)
from seqcnn.train.metrics import compute_metrics, metric_mode, metric_table


def test_bce_matches_hand_value_and_pos_weight() -> None:
    logits, y = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    # -log(sigmoid(0)) = log 2; -log(1 - sigmoid(2)) = log(1 + e^2)
    expected = (math.log(2) + math.log(1 + math.e**2)) / 2
    assert float(make_loss("bce", "binary")(logits, y)) == pytest.approx(expected)
    weighted = make_loss("auto", "binary", pos_weight=torch.tensor([3.0, 1.0]))
    assert float(weighted(logits, y)) == pytest.approx((3 * math.log(2) + math.log(1 + math.e**2)) / 2)


def test_pos_weight_from_label_frequencies() -> None:
    y = torch.tensor([[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1]], dtype=torch.float32)
    assert pos_weight_from_labels(y).tolist() == [3.0, 1.0, pytest.approx(1 / 3)]


def test_simple_losses_match_torch() -> None:
    out, y = torch.tensor([[0.5, -1.0]]), torch.tensor([[1.5, 1.0]])
    assert float(make_loss("mse", "regression")(out, y)) == pytest.approx((1 + 4) / 2)
    assert float(make_loss("mae", "regression")(out, y)) == pytest.approx((1 + 2) / 2)
    # Poisson NLL with log-rate o: exp(o) - y * o
    poisson = (math.exp(0.5) - 1.5 * 0.5 + math.exp(-1.0) + 1.0) / 2
    assert float(make_loss("poisson", "regression")(out, y)) == pytest.approx(poisson)
    logits = torch.tensor([[2.0, 0.0, 0.0]])
    ce = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert float(make_loss("auto", "multiclass")(logits, torch.tensor([0]))) == pytest.approx(ce)


def test_multinomial_nll_matches_torch_distribution() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 2, 10)
    counts = torch.randint(0, 5, (3, 2, 10)).float()
    total = counts.sum(-1)
    log_prob = torch.stack(
        [
            torch.distributions.Multinomial(int(total[i, t]), logits=logits[i, t]).log_prob(counts[i, t])
            for i in range(3)
            for t in range(2)
        ]
    ).view(3, 2)
    # our loss leaves out the model-free term log(n! / prod k!)
    constant = torch.lgamma(total + 1) - torch.lgamma(counts + 1).sum(-1)
    assert float(multinomial_nll(logits, counts)) == pytest.approx(
        float((-(log_prob - constant)).mean()), rel=1e-5
    )


def test_profile_loss_crops_target_and_adds_counts_term() -> None:
    counts = torch.zeros(1, 1, 6)
    counts[0, 0, 2] = 3.0  # inside the central 4 positions
    output = {"profile": torch.zeros(1, 1, 4), "counts": torch.zeros(1, 1)}
    nll = 3 * math.log(4)  # uniform over 4 positions
    counts_term = math.log1p(3) ** 2
    assert float(profile_loss(output, counts, counts_weight=2.0)) == pytest.approx(nll + 2 * counts_term)
    assert center_crop(torch.arange(6), 4).tolist() == [1, 2, 3, 4]


def test_dice_loss_perfect_and_wrong() -> None:
    target = torch.tensor([[[0, 1], [1, 1]]])
    perfect = F.one_hot(target, 2).permute(0, 3, 1, 2).float() * 50
    assert float(dice_loss(perfect, target, eps=0.0)) == pytest.approx(0.0, abs=1e-6)
    wrong = F.one_hot(1 - target, 2).permute(0, 3, 1, 2).float() * 50
    assert float(dice_loss(wrong, target, eps=0.0)) == pytest.approx(1.0, abs=1e-6)
    both = make_loss("ce_dice", "segmentation")(perfect, target)
    assert float(both) == pytest.approx(0.0, abs=1e-6)


def test_loss_names_are_checked() -> None:
    assert resolve_loss_name("auto", "profile") == "multinomial"
    with pytest.raises(ConfigError, match="does not fit task type 'binary'"):
        resolve_loss_name("ce", "binary")
    with pytest.raises(ConfigError, match="unknown task type"):
        resolve_loss_name("auto", "clustering")


def test_link_functions() -> None:
    out = torch.tensor([[0.0, 1.0]])
    assert link(out, "bce")[0].tolist() == pytest.approx([0.5, 1 / (1 + math.exp(-1))])
    assert link(out, "ce").sum().item() == pytest.approx(1.0)
    assert link(out, "poisson")[0].tolist() == pytest.approx([1.0, math.e])


def test_binary_metrics_hand_computed() -> None:
    y = np.array([[0, 1], [0, 0], [1, 1], [1, 0]])
    p = np.array([[0.1, 0.8], [0.4, 0.3], [0.35, 0.9], [0.8, 0.2]])
    table = metric_table(y, p, "binary", ["a", "b"])
    # task a: positives {0.35, 0.8} vs negatives {0.1, 0.4}: 3 of 4 pairs ranked right
    assert table.loc["a", "auroc"] == pytest.approx(0.75)
    # ranking 0.8(+) 0.4(-) 0.35(+) 0.1(-): AP = (1/1 + 2/3) / 2
    assert table.loc["a", "aupr"] == pytest.approx((1 + 2 / 3) / 2)
    assert table.loc["a", "accuracy"] == pytest.approx(0.75)
    assert table.loc["b", "auroc"] == 1.0
    assert table.loc["macro", "auroc"] == pytest.approx(0.875)
    assert compute_metrics(y, p, "binary")["auroc"] == pytest.approx(0.875)


def test_undefined_auroc_is_nan_and_skipped_in_macro() -> None:
    y = np.array([[0, 1], [0, 0], [0, 1]])
    p = np.array([[0.2, 0.9], [0.1, 0.1], [0.3, 0.8]])
    table = metric_table(y, p, "binary", ["none", "some"])
    assert math.isnan(table.loc["none", "auroc"])
    assert table.loc["macro", "auroc"] == 1.0


def test_multiclass_metrics() -> None:
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    table = metric_table(y, p, "multiclass", ["x", "y", "z"])
    assert table.loc["macro", "accuracy"] == pytest.approx(0.75)
    assert table.loc["z", "accuracy"] == pytest.approx(0.5)  # recall of class z
    assert table.loc["x", "auroc"] == 1.0


def test_regression_metrics_match_numpy_and_scipy() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(50, 2))
    p = y + rng.normal(scale=0.5, size=(50, 2))
    m = compute_metrics(y, p, "regression")
    r = [np.corrcoef(y[:, t], p[:, t])[0, 1] for t in range(2)]
    assert m["pearson"] == pytest.approx(np.mean(r))
    ranks = [
        np.corrcoef(np.argsort(np.argsort(y[:, t])), np.argsort(np.argsort(p[:, t])))[0, 1] for t in range(2)
    ]
    assert m["spearman"] == pytest.approx(np.mean(ranks))
    assert m["mse"] == pytest.approx(np.mean((y - p) ** 2))


def test_profile_and_segmentation_metrics() -> None:
    counts = np.array([[[0, 2, 4, 0]], [[1, 1, 1, 1]], [[0, 0, 8, 0]]], dtype=float)
    pred = {"profile": counts / counts.sum(-1, keepdims=True), "counts": np.log1p(counts.sum(-1))}
    m = compute_metrics(counts, pred, "profile")
    assert m["pearson"] == pytest.approx(1.0) and m["mse"] == pytest.approx(0.0)
    assert m["profile_pearson"] == pytest.approx(1.0)  # the constant row is left out
    mask = np.array([[[0, 1], [1, 1]]])
    probs = np.eye(2)[np.array([[[0, 1], [0, 1]]])].transpose(0, 3, 1, 2)
    seg = metric_table(mask, probs, "segmentation")
    assert seg.loc["1", "dice"] == pytest.approx(2 * 2 / (3 + 2))
    assert seg.loc["1", "iou"] == pytest.approx(2 / 3)
    assert seg.loc["macro", "accuracy"] == pytest.approx(0.75)


def test_metric_mode() -> None:
    assert metric_mode("loss") == "min" and metric_mode("valid_mse") == "min"
    assert metric_mode("auroc") == "max"
