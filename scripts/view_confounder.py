"""View position (AP/PA) of cxr3's NIH films and what the models do with it (issue 9).

    pip download --no-deps torchxrayvision -d /tmp/txv   # the wheel ships NIH's metadata CSV
    python -m scripts.view_confounder --nih-csv /tmp/txv/Data_Entry_2017_v2020.csv.gz \
        --oof reports/recipes/baseline/oof.csv [--oof ...]

NIH's own metadata gives each ChestX-ray8 film its view position. cxr3's NIH files keep the
NIH image index as their name. For every out-of-fold table given, the NIH films' accuracy and the
share called pneumonia are reported per class and view: if a model reads "AP" as "sick", the
AP normals are called pneumonia more often than the PA normals. torchxrayvision itself is not
a dependency: only its CSV is read.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from inference.constants import CLASSES

ROOT = Path(__file__).resolve().parent.parent


def read_views(path: Path) -> dict[str, str]:
    with gzip.open(path, "rt", newline="") as fh:
        return {Path(r["Image Index"]).stem: r["View Position"] for r in csv.DictReader(fh)}


def by_view(oof: Path, views: dict[str, str]) -> dict:
    cells: dict[tuple[str, str], list[int]] = defaultdict(list)
    with oof.open(newline="") as fh:
        for r in csv.DictReader(fh):
            if r["source"] != "nih" or int(r["fold"]) < 0:
                continue
            view = views.get(Path(r["path"]).stem)
            if view is None:
                continue
            pred = int(np.argmax([float(r[f"logit_{c}"]) for c in CLASSES]))
            cells[(r["label"], view)].append(pred)
    out = {}
    for (label, view), preds in sorted(cells.items()):
        p = np.array(preds)
        out[f"{label} {view}"] = {
            "n": len(p),
            "recall": float((p == CLASSES.index(label)).mean()),
            "called_pneumonia": float((p == CLASSES.index("pneumonia")).mean()),
            "called_covid": float((p == CLASSES.index("covid")).mean()),
        }
    return out


def counts(views: dict[str, str], manifest: Path) -> dict:
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with manifest.open(newline="") as fh:
        for r in csv.DictReader(fh):
            view = views.get(Path(r["path"]).stem)
            if view:
                table[r["label"]][view] += 1
    return {k: dict(v) for k, v in table.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.view_confounder")
    p.add_argument("--nih-csv", type=Path, required=True)
    p.add_argument(
        "--manifest", type=Path, default=ROOT.parent / "shared/datasets/cxr3/manifest.csv"
    )
    p.add_argument("--oof", type=Path, action="append", default=[])
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "view-position")
    args = p.parse_args(argv)
    views = read_views(args.nih_csv)
    report = {"nih_views_in_cxr3": counts(views, args.manifest)}
    report["out_of_fold"] = {str(o.parent.name): by_view(o, views) for o in args.oof}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    lines = ["# View position of cxr3's NIH films (NIH metadata)", ""]
    for label, v in report["nih_views_in_cxr3"].items():
        lines.append(f"- {label}: " + ", ".join(f"{k} {n}" for k, n in sorted(v.items())))
    for name, cells in report["out_of_fold"].items():
        lines += [
            "",
            f"## {name} (out-of-fold, arg-max)",
            "",
            "| class, view | n | own-class recall | called pneumonia | called COVID-19 |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {k} | {c['n']} | {100 * c['recall']:.1f} | {100 * c['called_pneumonia']:.1f} | "
            f"{100 * c['called_covid']:.1f} |"
            for k, c in cells.items()
        ]
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
