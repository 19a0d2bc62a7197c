"""Pure statistics of the dashboard (no Django): proportions with Wilson intervals, medians,
the agreement of the model's "high" band with clinicians' decisions, and threshold proposals."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95 %


@dataclass(frozen=True)
class Proportion:
    """``successes`` out of ``total`` with its Wilson score interval (95 %)."""

    successes: int
    total: int

    @property
    def value(self) -> float | None:
        return self.successes / self.total if self.total else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.successes, self.total)

    @property
    def low(self) -> float | None:
        return self.interval[0] if self.total else None

    @property
    def high(self) -> float | None:
        return self.interval[1] if self.total else None


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval: sound for small counts and for 0 % or 100 % (unlike p ± z·se)."""
    if total <= 0:
        return None
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def median(values: list[float]) -> float | None:
    """The median (mean of the two middle values for an even count), as PostgreSQL's
    ``percentile_cont(0.5)`` computes it."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2.0


@dataclass(frozen=True)
class Agreement:
    """The "high" band against "COVID-19 suspected" decisions (the clinician is the reference)."""

    true_positive: int  # high, and the clinician suspected COVID-19
    false_negative: int  # not high, clinician suspected COVID-19
    true_negative: int  # not high, another decision
    false_positive: int  # high, another decision

    @property
    def sensitivity(self) -> Proportion:
        return Proportion(self.true_positive, self.true_positive + self.false_negative)

    @property
    def specificity(self) -> Proportion:
        return Proportion(self.true_negative, self.true_negative + self.false_positive)

    @property
    def total(self) -> int:
        return self.true_positive + self.false_negative + self.true_negative + self.false_positive


def agreement_sum(agreements) -> Agreement:
    """Pooled counts of several agreements (months, or districts)."""
    agreements = list(agreements)
    return Agreement(
        true_positive=sum(a.true_positive for a in agreements),
        false_negative=sum(a.false_negative for a in agreements),
        true_negative=sum(a.true_negative for a in agreements),
        false_positive=sum(a.false_positive for a in agreements),
    )


def below_reference(proportion: Proportion, reference: float | None) -> bool:
    """True when the model card's figure lies above the whole 95 % interval: the region's
    agreement is measurably worse than what the model was validated at (not just noise)."""
    return bool(reference is not None and proportion.total and proportion.high < reference)


def agreement_from_pairs(pairs: list[tuple[float, bool]], *, high: float) -> Agreement:
    """Agreement of a ``high`` threshold over (COVID-19 probability, clinician suspected) pairs."""
    tp = sum(1 for p, pos in pairs if pos and p >= high)
    fn = sum(1 for p, pos in pairs if pos and p < high)
    fp = sum(1 for p, pos in pairs if not pos and p >= high)
    tn = sum(1 for p, pos in pairs if not pos and p < high)
    return Agreement(true_positive=tp, false_negative=fn, true_negative=tn, false_positive=fp)


def threshold_for_sensitivity(positive_probabilities: list[float], target: float) -> float:
    """The highest threshold that still flags at least ``target`` of the positives.

    With ``k = ceil(target · n)`` positives to flag, it is the k-th highest positive
    probability (flagging is ``probability >= threshold``).
    """
    if not positive_probabilities:
        raise ValueError("no positives")
    ordered = sorted(positive_probabilities, reverse=True)
    k = max(1, min(len(ordered), math.ceil(target * len(ordered) - 1e-9)))
    return ordered[k - 1]


# Durations (upload to result, upload to review) are kept per rollup row as counts in log-spaced
# buckets: bucket b holds the durations nearest (in log scale) to BUCKET_BASE * BUCKET_RATIO**b.
# A median read from them is within half a step (about 2.5 %) of the exact one. The SQL of
# dashboard/rollups.py computes the same bucket (keep the two in step).
BUCKET_BASE = 0.01  # seconds
BUCKET_RATIO = 1.05
BUCKET_MAX = 420  # ~ 90 days; longer durations share the last bucket
BUCKET_HALF_STEP = math.sqrt(BUCKET_RATIO) - 1


def duration_bucket(seconds: float) -> int:
    position = math.log(max(seconds, BUCKET_BASE) / BUCKET_BASE) / math.log(BUCKET_RATIO)
    return max(0, min(BUCKET_MAX, math.floor(position + 0.5)))


def bucket_seconds(bucket: int) -> float:
    return BUCKET_BASE * BUCKET_RATIO**bucket


def histogram_merge(histograms) -> dict[int, int]:
    merged: dict[int, int] = {}
    for histogram in histograms:
        for bucket, n in histogram.items():
            merged[int(bucket)] = merged.get(int(bucket), 0) + int(n)
    return merged


def histogram_median(histogram: dict[int, int]) -> float | None:
    """The median of bucketed durations, as ``median`` would compute it on the buckets' values
    (the mean of the two middle ones for an even count)."""
    total = sum(histogram.values())
    if not total:
        return None
    wanted = [(total - 1) // 2, total // 2]  # 0-based ranks of the middle value(s)
    values: list[float] = []
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        while wanted and wanted[0] < seen:
            values.append(bucket_seconds(bucket))
            wanted.pop(0)
    return sum(values) / len(values)
