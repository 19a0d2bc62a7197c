"""Classification metrics, calibration and operating points: pure functions on numpy arrays."""

from __future__ import annotations

import math

import numpy as np

from inference.constants import CLASSES
from inference.metadata import priority_band  # noqa: F401  (one implementation, with serving)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def classification_report(
    y_true: np.ndarray, probs: np.ndarray, *, classes: tuple[str, ...] = CLASSES
) -> dict:
    """All the numbers the CV report and the evaluate CLI share.

    ``y_true`` holds class indices into ``classes``; ``probs`` is [n, len(classes)].
    Classes absent from ``y_true`` get recall/AUC ``None`` rather than a made-up number.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

    y_true = np.asarray(y_true)
    probs = np.asarray(probs)
    y_pred = probs.argmax(axis=1)
    labels = list(range(len(classes)))
    present = [i for i in labels if (y_true == i).any()]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    per_class = {}
    for i, name in enumerate(classes):
        has = i in present
        per_class[name] = {
            "precision": float(precision[i]) if (y_pred == i).any() else None,
            "recall": float(recall[i]) if has else None,
            "f1": float(f1[i]) if has else None,
            "support": int(support[i]),
        }
    roc_auc: dict[str, float | None] = {}
    for i, name in enumerate(classes):
        positives = y_true == i
        if positives.all() or not positives.any():
            roc_auc[name] = None
        else:
            roc_auc[name] = float(roc_auc_score(positives, probs[:, i]))
    covid = classes.index("covid")
    is_covid, called_covid = y_true == covid, y_pred == covid
    sens = float(called_covid[is_covid].mean()) if is_covid.any() else None
    spec = float((~called_covid[~is_covid]).mean()) if (~is_covid).any() else None
    recalls = [per_class[classes[i]]["recall"] for i in present]
    f1s = [per_class[classes[i]]["f1"] for i in present]
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else None,
        "balanced_accuracy": float(np.mean(recalls)) if recalls else None,
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "per_class": per_class,
        "confusion_matrix": {
            "labels": list(classes),
            "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
        "roc_auc": roc_auc,
        "covid": {"sensitivity": sens, "specificity": spec},
    }


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, *, bins: int = 15) -> float:
    """Top-label ECE with equal-width confidence bins."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return float(ece)


def nll(logits: np.ndarray, y_true: np.ndarray, temperature: float) -> float:
    p = softmax(logits, temperature)
    return float(-np.log(np.clip(p[np.arange(len(y_true)), y_true], 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, y_true: np.ndarray) -> float:
    """Temperature minimising the NLL of held-out logits (Guo et al., 2017)."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(
        lambda log_t: nll(logits, y_true, math.exp(log_t)), bounds=(-3.0, 3.0), method="bounded"
    )
    return float(math.exp(res.x))


def sensitivity_threshold(scores: np.ndarray, positives: np.ndarray, *, target: float) -> float:
    """Highest threshold t such that the fraction of positives with score >= t is >= target."""
    pos = np.sort(np.asarray(scores)[np.asarray(positives, dtype=bool)])
    if not len(pos):
        raise ValueError("no positive cases to set a threshold on")
    allowed_misses = int(math.floor((1.0 - target) * len(pos) + 1e-9))
    return float(pos[allowed_misses])


def operating_point(scores: np.ndarray, positives: np.ndarray, threshold: float) -> dict:
    positives = np.asarray(positives, dtype=bool)
    flagged = np.asarray(scores) >= threshold
    return {
        "threshold": float(threshold),
        "sensitivity": float(flagged[positives].mean()),
        "specificity": float((~flagged[~positives]).mean()),
        "flagged_fraction": float(flagged.mean()),
    }
