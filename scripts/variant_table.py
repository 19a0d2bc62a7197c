"""Collect the source-robustness variants (issue 5) into one table.

    python -m scripts.variant_table            # reads reports/variants/, writes table.md/json

Each folder under ``reports/variants`` is one training recipe:

* ``multi-<name>/loso-<source>.json``: trained on cxr3 + cxr-multi without ``source``, tested on
  it (``python -m inference.train ... --holdout-source S``);
* ``<dir>/report.json`` + ``oof.csv``: a grouped CV; its accuracy on the cxr3 images
  (pooled out-of-fold) is the number the ship rule compares;
* ``<dir>/external-cxr-multi.json``: a cxr3-only model evaluated on cxr-multi
  (``python -m inference.evaluate --manifest``). Such a model never saw any cxr-multi source,
  so every cxr-multi source is "left out" for it.

A single-class source's balanced accuracy is the recall of its class.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from inference.constants import CLASSES

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ROOT / "reports" / "variants"
LOSO_SOURCES = {"hannover": "covid", "openist": "normal", "radiography-db": "pneumonia"}
CXR3_SOURCES = ("ieee8023-figures", "nih")


def cxr3_oof(folder: Path) -> dict | None:
    """Pooled out-of-fold accuracy and COVID-19 sensitivity on the cxr3 images of a CV."""
    path = folder / "oof.csv"
    if not path.exists():
        return None
    y, pred = [], []
    with path.open() as fh:
        for row in csv.DictReader(fh):
            if row["source"] not in CXR3_SOURCES:
                continue
            logits = [float(row[f"logit_{c}"]) for c in CLASSES]
            y.append(CLASSES.index(row["label"]))
            pred.append(int(np.argmax(logits)))
    y_arr, p_arr = np.array(y), np.array(pred)
    covid = CLASSES.index("covid")
    recalls = [float((p_arr[y_arr == k] == k).mean()) for k in range(len(CLASSES))]
    return {
        "n": len(y),
        "accuracy": float((y_arr == p_arr).mean()),
        "balanced_accuracy": float(np.mean(recalls)),
        "covid_sensitivity": recalls[covid],
    }


def cv_summary(folder: Path) -> dict | None:
    report = folder / "report.json"
    if not report.exists():
        return None
    r = json.loads(report.read_text())
    out = {"cxr3": cxr3_oof(folder), "per_source": {}}
    for source, rep in r["per_source_out_of_fold"].items():
        out["per_source"][source] = {"n": rep["n"], "accuracy": rep["accuracy"]}
    return out


def loso_cells(folder: Path, *, fallback: Path | None = None, borrow: str | None = None) -> dict:
    """LOSO cells of one recipe; only the ``borrow`` source may come from ``fallback``."""
    cells = {}
    for source, label in LOSO_SOURCES.items():
        bases = ((folder, False), (fallback, True)) if source == borrow else ((folder, False),)
        for base, borrowed in bases:
            # inference.train names a run with --exclude-source "loso-S-without-X.json".
            found = (
                sorted(base.glob(f"loso-{source}*.json"), key=lambda f: "without" in f.name)
                if base
                else []
            )
            path = found[0] if found else None
            if path:
                r = json.loads(path.read_text())
                cells[source] = {
                    "recall": r["called"][label],
                    "called_covid": r["called"]["covid"],
                    "borrowed_from": base.name if borrowed else None,
                }
                break
    return cells


def external_cells(path: Path) -> dict:
    if not path.exists():
        return {}
    per_source = json.loads(path.read_text())["per_source"]
    cells = {}
    for source, label in LOSO_SOURCES.items():
        m = per_source[source]["confusion_matrix"]["matrix"]
        row = m[CLASSES.index(label)]
        cells[source] = {
            "recall": row[CLASSES.index(label)] / sum(row),
            "called_covid": row[CLASSES.index("covid")] / sum(row),
            "borrowed_from": None,
        }
    return cells


def row(name: str, trained_on: str, loso: dict, cv: dict | None, options: dict | None) -> dict:
    recalls = [loso[s]["recall"] for s in LOSO_SOURCES if s in loso]
    complete = len(recalls) == len(LOSO_SOURCES)
    return {
        "variant": name,
        "trained_on": trained_on,
        "loso": loso,
        "mean_loso_balanced_accuracy": float(np.mean(recalls)) if complete else None,
        "cv": cv,
        "options": options,
    }


def reference_rows() -> list[dict]:
    """The shipped 256 px cxr3-only model and the 256 px multi-source LOSO runs before this table."""
    reports = ROOT / "reports"
    return [
        row(
            "shipped (256 px)",
            "cxr3 only",
            external_cells(reports / "external-cxr-multi" / "metrics.json"),
            cv_summary(reports / "cv-cxr3"),
            None,
        ),
        row("multi-base (256 px)", "cxr3 + cxr-multi", loso_cells(reports / "loso"), None, None),
    ]


def collect() -> list[dict]:
    rows = reference_rows()
    for folder in sorted(p for p in VARIANTS.iterdir() if p.is_dir()):
        name = folder.name
        if name.startswith("multi-"):
            # Without the paediatric set, holding the paediatric set out trains the same model
            # as the base recipe does, so that cell is the base recipe's.
            fallback = VARIANTS / "multi-base" if name == "multi-nopaed" else None
            loso = loso_cells(folder, fallback=fallback, borrow="radiography-db")
            trained_on = "cxr3 + cxr-multi"
        else:
            loso = external_cells(folder / "external-cxr-multi.json")
            trained_on = "cxr3 only"
        rows.append(row(name, trained_on, loso, cv_summary(folder), variant_options(folder)))
    return rows


def variant_options(folder: Path) -> dict | None:
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        prov = data.get("provenance") if isinstance(data, dict) else None
        if prov:
            return {
                "input_size": prov["input_size"],
                "epochs": prov["epochs"],
                **prov.get("variant", {}),
            }
    return None


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def render(rows: list[dict]) -> str:
    head = (
        "| variant | trained on | Hannover COVID-19 recall | OpenIST normal recall "
        "(called COVID-19) | paediatric pneumonia recall (called COVID-19) | mean LOSO "
        "balanced acc. | cxr3 CV accuracy (pooled OOF) | cxr3 CV COVID-19 sens. |"
    )
    lines = [head, "| " + " | ".join(["---"] * 8) + " |"]
    for r in rows:
        loso, cv = r["loso"], (r["cv"] or {}).get("cxr3") or {}

        def cell(source: str, *, with_covid: bool, loso: dict = loso) -> str:
            c = loso.get(source)
            if not c:
                return "not run"
            text = pct(c["recall"])
            if with_covid:
                text += f" ({pct(c['called_covid'])})"
            if c["borrowed_from"]:
                text += f" [= {c['borrowed_from']}]"
            return text

        lines.append(
            f"| {r['variant']} | {r['trained_on']} | {cell('hannover', with_covid=False)} | "
            f"{cell('openist', with_covid=True)} | {cell('radiography-db', with_covid=True)} | "
            f"{pct(r['mean_loso_balanced_accuracy'])} | {pct(cv.get('accuracy'))} | "
            f"{pct(cv.get('covid_sensitivity'))} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    rows = collect()
    (VARIANTS / "table.json").write_text(json.dumps(rows, indent=2) + "\n")
    text = render(rows)
    (VARIANTS / "table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
