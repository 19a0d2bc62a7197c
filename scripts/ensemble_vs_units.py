"""Does averaging the five fold models help on sources none of them saw? (issue 9, rule 6)

    python -m scripts.ensemble_vs_units            # every row with an "ensemble_unseen_sources" table

A cxr3-only row's fold models never see the other sources, so on those sources the merge reads
both each source's one held-out fold model (``held_out_sources``, what the rule ranks) and the
five fold models averaged (``ensemble_unseen_sources``, the shipped form). This prints both by
the rule's metric (``class_balanced_accuracy``) and by the mean of the sources' balanced
accuracies, on the same sources.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from inference.training.heldout import class_balanced_accuracy

RECIPES = Path(__file__).resolve().parent.parent / "reports" / "recipes"


def scores(per_source: dict) -> tuple[float, float]:
    mean = statistics.mean(v["balanced_accuracy"] for v in per_source.values())
    return class_balanced_accuracy(per_source), mean


def comparison(report: dict) -> dict | None:
    """The row's single fold models and its averaged ensemble on the sources the ensemble read."""
    ensemble = report.get("ensemble_unseen_sources")
    if not ensemble:
        return None
    single = {s: report["held_out_sources"]["per_source"][s] for s in ensemble}
    return {"sources": len(ensemble), "single": scores(single), "ensemble": scores(ensemble)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.ensemble_vs_units", description=__doc__)
    p.add_argument("--recipes", type=Path, default=RECIPES)
    args = p.parse_args(argv)
    print(
        "| row | sources | single fold models (rule) | five averaged (rule) | difference |"
        " single: mean of sources | averaged: mean of sources |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    diffs = []
    for path in sorted(args.recipes.glob("*/report.json")):
        c = comparison(json.loads(path.read_text()))
        if c is None:
            continue
        (s_rule, s_mean), (e_rule, e_mean) = c["single"], c["ensemble"]
        diffs.append(e_rule - s_rule)
        print(
            f"| {path.parent.name} | {c['sources']} | {100 * s_rule:.1f} | {100 * e_rule:.1f} |"
            f" {100 * (e_rule - s_rule):+.1f} | {100 * s_mean:.1f} | {100 * e_mean:.1f} |"
        )
    if diffs:
        better = sum(d > 0 for d in diffs)
        print(
            f"\n{len(diffs)} rows; averaged minus single, rule's metric: mean "
            f"{100 * statistics.mean(diffs):+.2f} points, the averaged form better in {better}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
