"""Held-out sources: what a fold model that never saw a source does with it.

In a source-grouped CV (``--split sources``) every source outside cxr3 is held out whole in one
fold. Its numbers come from that fold's model only. Temperature and the "high"/"medium" COVID-19
thresholds used on a source are fitted on the other out-of-fold films of the recipe's own data
(never on the source itself, never on ``--eval-data``), so a band's share on a source is what a
new hospital would see with thresholds set elsewhere. The shipped thresholds are fitted on all
out-of-fold films of the recipe's own data.
"""

from __future__ import annotations

import numpy as np

from inference import metrics as M
from inference.constants import CLASSES

COVID = CLASSES.index("covid")


def band_shares(p_covid: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    """Share of COVID-19 films at or above ``threshold``, and of the other films (flagged)."""
    is_covid = y == COVID
    flagged = p_covid >= threshold
    return {
        "threshold": float(threshold),
        "covid_in_band": float(flagged[is_covid].mean()) if is_covid.any() else None,
        "non_covid_flagged": float(flagged[~is_covid].mean()) if (~is_covid).any() else None,
    }


def source_metrics(y: np.ndarray, logits: np.ndarray, calib: dict) -> dict:
    """One held-out source: recall of each class it has, balanced accuracy, COVID-19 AUC (when
    it has COVID-19 and other films), and the bands under ``calib``'s temperature/thresholds."""
    report = M.classification_report(y, M.softmax(logits))
    p_covid = M.softmax(logits, calib["temperature"])[:, COVID]
    return {
        "n": int(len(y)),
        "classes": {c: int((y == k).sum()) for k, c in enumerate(CLASSES) if (y == k).any()},
        "recall": {
            c: report["per_class"][c]["recall"] for k, c in enumerate(CLASSES) if (y == k).any()
        },
        "balanced_accuracy": report["balanced_accuracy"],
        "covid_auc": report["roc_auc"]["covid"],
        "called": {c: float((logits.argmax(1) == k).mean()) for k, c in enumerate(CLASSES)},
        "high": band_shares(p_covid, y, calib["thresholds"]["covid_high"]),
        "medium": band_shares(p_covid, y, calib["thresholds"]["covid_medium"]),
        "calibration_fitted_without_this_source": {
            "temperature": calib["temperature"],
            **calib["thresholds"],
        },
    }


def tempered_source_tables(sources, y: np.ndarray, logits: np.ndarray, calib: dict) -> dict:
    """Per source (sorted), ``source_metrics`` of logits already divided by the temperature
    (an ensemble of tempered members): banded with ``calib``'s thresholds at temperature 1."""
    src = np.asarray(sources)
    cal1 = calib | {"temperature": 1.0}
    return {s: source_metrics(y[src == s], logits[src == s], cal1) for s in sorted(set(src))}


def held_out_sources(
    sources: list[str],
    y: np.ndarray,
    logits: np.ndarray,
    in_oof: np.ndarray,
    *,
    fit_pool: np.ndarray | None = None,
    fit_calibration,
    fold_of_source: dict[str, int],
) -> dict:
    """Per held-out source (``sources[i]`` is film i's source; ``in_oof`` marks the films with
    out-of-fold logits; ``fit_pool`` those calibration may be fitted on, default all of them).
    ``fit_calibration(logits, y)`` -> {"temperature", "thresholds"}."""
    src = np.asarray(sources)
    fit_pool = in_oof if fit_pool is None else fit_pool & in_oof
    per_source = {}
    for s in sorted(fold_of_source):
        idx = np.flatnonzero(in_oof & (src == s))
        if not len(idx):
            continue
        rest = np.flatnonzero(fit_pool & (src != s))
        calib = fit_calibration(logits[rest], y[rest])
        per_source[s] = {"fold": fold_of_source[s]} | source_metrics(y[idx], logits[idx], calib)
    return {"per_source": per_source, "summary": summarise_sources(per_source)}


def summarise_sources(per_source: dict) -> dict:
    """The ship rule's number (``class_balanced_accuracy``), the plain mean of the sources'
    balanced accuracies, and the issue's targets read on every source."""
    bal = [r["balanced_accuracy"] for r in per_source.values()]
    own = [v for r in per_source.values() for v in r["recall"].values() if v is not None]
    aucs = [r["covid_auc"] for r in per_source.values() if r["covid_auc"] is not None]
    covid_high = [
        r["high"]["covid_in_band"]
        for r in per_source.values()
        if r["high"]["covid_in_band"] is not None
    ]
    flagged = [
        r["high"]["non_covid_flagged"]
        for r in per_source.values()
        if r["high"]["non_covid_flagged"] is not None
    ]
    return {
        "n_sources": len(per_source),
        "class_balanced_accuracy": class_balanced_accuracy(per_source),
        "mean_balanced_accuracy": float(np.mean(bal)) if bal else None,
        "min_balanced_accuracy": float(np.min(bal)) if bal else None,
        "min_class_recall": float(np.min(own)) if own else None,
        "min_covid_auc": float(np.min(aucs)) if aucs else None,
        "mean_covid_in_high": float(np.mean(covid_high)) if covid_high else None,
        "min_covid_in_high": float(np.min(covid_high)) if covid_high else None,
        "max_non_covid_flagged_high": float(np.max(flagged)) if flagged else None,
    }


MIN_CLASS_FILMS = 5


def class_balanced_accuracy(per_source: dict, *, min_films: int = MIN_CLASS_FILMS) -> float | None:
    """The ship rule's number: per class, the mean of its recall over the held-out sources with
    at least ``min_films`` films of it; then the mean over classes. A model that calls every film
    COVID-19 gets 1/3 here, however many COVID-19-only sources there are."""
    by_class: dict[str, list[float]] = {}
    for r in per_source.values():
        for c, recall in r["recall"].items():
            if recall is not None and r["classes"][c] >= min_films:
                by_class.setdefault(c, []).append(recall)
    means = [float(np.mean(v)) for v in by_class.values()]
    return float(np.mean(means)) if means else None


def ensemble_logits(member_logits: list[np.ndarray]) -> np.ndarray:
    """Log of the mean of the members' probabilities: softmax of it is the averaged ensemble."""
    probs = np.mean([M.softmax(z) for z in member_logits], axis=0)
    return np.log(np.clip(probs, 1e-12, None))
