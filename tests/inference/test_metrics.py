import numpy as np
import pytest

from inference import metrics as M


def test_the_high_threshold_keeps_at_least_95_percent_sensitivity():
    rng = np.random.default_rng(1)
    scores = rng.random(1000)
    positives = rng.random(1000) < 0.2
    t = M.sensitivity_threshold(scores, positives, target=0.95)
    op = M.operating_point(scores, positives, t)
    assert op["sensitivity"] >= 0.95
    # ...and is the highest such threshold: any higher one loses sensitivity.
    higher = np.sort(scores[positives])
    nxt = higher[higher > t][0]
    assert M.operating_point(scores, positives, nxt)["sensitivity"] < 0.95


def test_temperature_scaling_cools_overconfident_logits():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 600)
    logits = rng.normal(size=(600, 3))
    logits[np.arange(600), y] += 1.0
    hot = logits * 6  # same ranking, far too confident
    t = M.fit_temperature(hot, y)
    assert t > 2.0
    assert M.nll(hot, y, t) < M.nll(hot, y, 1.0)
    assert M.expected_calibration_error(M.softmax(hot, t), y) < M.expected_calibration_error(
        M.softmax(hot), y
    )


def test_the_report_counts_and_rates_are_consistent():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.1, 0.8],
            [0.6, 0.2, 0.2],
        ]
    )
    r = M.classification_report(y, p)
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["covid"]["sensitivity"] == pytest.approx(0.5)
    assert r["covid"]["specificity"] == pytest.approx(3 / 4)
    assert r["confusion_matrix"]["matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert r["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)


def test_priority_bands():
    assert M.priority_band(0.9, high=0.5, medium=0.2) == "high"
    assert M.priority_band(0.3, high=0.5, medium=0.2) == "medium"
    assert M.priority_band(0.1, high=0.5, medium=0.2) == "low"
