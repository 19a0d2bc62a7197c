"""Measure the chest-radiograph gate: training radiographs vs generated non-radiographs.

    python -m inference.training.gate_eval [--data ../shared/datasets] [--fit] [--per-kind 40]

* Radiographs: every image of ``cxr3`` and ``cxr-multi`` (read-only; the gate must accept them:
  rejection rate < 1%). Also reported per source and with the layout model fitted on one
  dataset and tested on the other (``--fit`` only), which is the honest held-out number.
* Non-radiographs: a corpus generated here, never downloaded: synthetic colour photos (and their
  grey versions), rendered text pages, gradients, noise, blank/near-uniform images, screenshot-like
  UI images, and scikit-image's bundled sample images when scikit-image is installed (rejection
  rate must be > 95%).

``--fit`` refits the layout model (``inference/gate_layout.npz``) on both datasets first.
Writes ``reports/gate.json`` and ``reports/gate.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

# The generated corpus; re-exported for the gate's tests.
from inference.training.non_radiographs import (  # noqa: F401
    GENERATORS,
    blank,
    colour_photo,
    gradient,
    noise,
    non_radiographs,
    screenshot,
    text_page,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
DATASETS = ("cxr3", "cxr-multi")


def radiograph_paths(data: Path) -> list[tuple[str, Path]]:
    out = []
    for dataset in DATASETS:
        folder = data / dataset
        for path in sorted(folder.glob("*/*.jpg")) + sorted(folder.glob("*/*.png")):
            out.append((f"{dataset}/{path.parent.name}", path))
    return out


def load_radiographs(data: Path) -> list[tuple[str, str, Image.Image]]:
    from inference.decode import decode_image

    out = []
    for source, path in radiograph_paths(data):
        out.append((source, path.name, decode_image(path.read_bytes())))
    return out


# --------------------------------------------------------------------------- evaluation
def fit_held_out(radiographs) -> dict:
    """Refit the layout model on each dataset, test on the other, then fit and save on both."""
    from inference import gate

    held_out: dict[str, dict] = {}
    for train_ds, test_ds in (("cxr3", "cxr-multi"), ("cxr-multi", "cxr3")):
        layout = gate.fit_layout(
            [img for src, _, img in radiographs if src.startswith(train_ds + "/")]
        )
        test = [img for src, _, img in radiographs if src.startswith(test_ds + "/")]
        rejected = sum(not gate.assess_image(img, layout=layout).accepted for img in test)
        held_out[f"fit {train_ds} -> test {test_ds}"] = {
            "n": len(test),
            "rejected": rejected,
            "rate": rejected / len(test),
        }
    gate.save_layout(gate.fit_layout([img for _, _, img in radiographs]))
    gate.reload_layout()
    return held_out


def score_radiographs(radiographs) -> dict:
    from inference import gate

    by_source: dict[str, Counter] = defaultdict(Counter)
    signal_values: dict[str, list[float]] = defaultdict(list)
    reasons: Counter = Counter()
    flags: Counter = Counter()
    rejected_cxr: list[dict] = []
    for source, name, img in radiographs:
        result = gate.assess_image(img)
        for key, value in result.scores.items():
            signal_values[key].append(value)
        by_source[source]["n"] += 1
        by_source[source]["rejected"] += int(not result.accepted)
        for flag in result.quality_flags:
            flags[flag] += 1
        if not result.accepted:
            reasons[result.code] += 1
            rejected_cxr.append({"source": source, "file": name, "reason": result.code})
    n_cxr = sum(c["n"] for c in by_source.values())
    rej_cxr = sum(c["rejected"] for c in by_source.values())
    return {
        "n": n_cxr,
        "rejected": rej_cxr,
        "rejection_rate": rej_cxr / n_cxr,
        "by_source": {k: dict(v) for k, v in sorted(by_source.items())},
        "rejection_reasons": dict(reasons),
        "quality_flags": dict(flags),
        "rejected_files": rejected_cxr,
        "signal_ranges": {
            key: {
                "min": float(np.min(v)),
                "p0.5": float(np.percentile(v, 0.5)),
                "median": float(np.median(v)),
                "p99.5": float(np.percentile(v, 99.5)),
                "max": float(np.max(v)),
            }
            for key, v in signal_values.items()
        },
    }


def score_non_radiographs(per_kind: int) -> dict:
    from inference import gate

    by_kind: dict[str, Counter] = defaultdict(Counter)
    accepted_other: list[dict] = []
    for kind, name, img in non_radiographs(per_kind):
        result = gate.assess_image(img)
        by_kind[kind]["n"] += 1
        by_kind[kind]["rejected"] += int(not result.accepted)
        if not result.accepted:
            by_kind[kind][result.code] += 1
        else:
            accepted_other.append({"kind": kind, "name": name, "scores": result.scores})
    n_other = sum(c["n"] for c in by_kind.values())
    rej_other = sum(c["rejected"] for c in by_kind.values())
    return {
        "n": n_other,
        "rejected": rej_other,
        "rejection_rate": rej_other / n_other,
        "by_kind": {k: dict(v) for k, v in by_kind.items()},
        "accepted": accepted_other,
    }


def evaluate(data: Path, *, per_kind: int, fit: bool) -> dict:
    from inference import gate

    t0 = time.time()
    radiographs = load_radiographs(data)
    if not radiographs:
        raise SystemExit(f"no radiographs under {data}/{{{','.join(DATASETS)}}}")
    held_out = fit_held_out(radiographs) if fit else {}
    return {
        "radiographs": score_radiographs(radiographs) | {"held_out_layout": held_out},
        "non_radiographs": score_non_radiographs(per_kind),
        "gate_version": gate.GATE_VERSION,
        "seconds": round(time.time() - t0, 1),
    }


def markdown(report: dict) -> str:
    cxr, other = report["radiographs"], report["non_radiographs"]
    lines = [
        "# Chest-radiograph gate: measured rejection rates",
        "",
        f"Gate version {report['gate_version']}; produced by `python -m inference.training.gate_eval`.",
        "",
        "| set | images | rejected | rate | target |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| training radiographs (cxr3 + cxr-multi) | {cxr['n']} | {cxr['rejected']} | "
        f"{cxr['rejection_rate']:.2%} | < 1% |",
        f"| generated non-radiographs | {other['n']} | {other['rejected']} | "
        f"{other['rejection_rate']:.2%} | > 95% |",
        "",
        "## Radiographs by source",
        "",
        "| source | images | rejected |",
        "| --- | ---: | ---: |",
    ]
    for source, c in cxr["by_source"].items():
        lines.append(f"| {source} | {c['n']} | {c.get('rejected', 0)} |")
    if cxr["held_out_layout"]:
        lines += [
            "",
            "Layout model fitted on one dataset only, tested on the other (held-out sources):",
            "",
            "| fit -> test | images | rejected | rate |",
            "| --- | ---: | ---: | ---: |",
        ]
        for key, v in cxr["held_out_layout"].items():
            lines.append(f"| {key} | {v['n']} | {v['rejected']} | {v['rate']:.2%} |")
    lines += [
        "",
        f"Quality flags raised on training radiographs: {cxr['quality_flags'] or 'none'}.",
        "",
        "## Non-radiographs by kind",
        "",
        "| kind | images | rejected | rate |",
        "| --- | ---: | ---: | ---: |",
    ]
    for kind, c in other["by_kind"].items():
        lines.append(
            f"| {kind} | {c['n']} | {c.get('rejected', 0)} | {c.get('rejected', 0) / c['n']:.0%} |"
        )
    if other["accepted"]:
        lines += [
            "",
            "Accepted non-radiographs: " + ", ".join(a["name"] for a in other["accepted"]),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-kind", type=int, default=40)
    parser.add_argument("--fit", action="store_true", help="refit the layout model first")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args(argv)
    report = evaluate(args.data, per_kind=args.per_kind, fit=args.fit)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gate.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    (args.out / "gate.md").write_text(markdown(report))
    cxr, other = report["radiographs"], report["non_radiographs"]
    print(f"{'set':44s} {'n':>6s} {'rejected':>9s} {'rate':>8s}")
    print(
        f"{'training radiographs (target < 1%)':44s} {cxr['n']:6d} {cxr['rejected']:9d} "
        f"{cxr['rejection_rate']:8.2%}"
    )
    print(
        f"{'generated non-radiographs (target > 95%)':44s} {other['n']:6d} "
        f"{other['rejected']:9d} {other['rejection_rate']:8.2%}"
    )
    for key, v in cxr["held_out_layout"].items():
        print(f"  held-out layout, {key:34s} {v['n']:6d} {v['rejected']:9d} {v['rate']:8.2%}")
    for kind, c in other["by_kind"].items():
        print(f"  {kind:42s} {c['n']:6d} {c.get('rejected', 0):9d}")
    print(f"wrote {args.out / 'gate.json'} and {args.out / 'gate.md'}")
    ok = cxr["rejection_rate"] < 0.01 and other["rejection_rate"] > 0.95
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
