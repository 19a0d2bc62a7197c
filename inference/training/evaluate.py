"""Evaluate a trained model on a labelled folder, through the portal's own Predictor.

    python -m inference.evaluate --data DIR [--weights PATH] [--json OUT] [--plots DIR]
                                 [--manifest CSV] [--device auto|cpu|cuda]

DIR holds sub-folders named by class (covid/, normal/, pneumonia/; any subset). ``--manifest``
(a CSV with ``path`` relative to DIR and ``source``) adds a per-source breakdown.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from inference.constants import CLASSES, DISPLAY_NAMES
from inference.decode import ImageDecodeError
from inference.metrics import classification_report
from inference.training.data import IMAGE_SUFFIXES


class EvaluationError(Exception):
    pass


def list_images(root: Path) -> list[tuple[Path, str]]:
    if not root.is_dir():
        raise EvaluationError(f"--data {root}: no such folder")
    items = [
        (path, label)
        for label in CLASSES
        if (root / label).is_dir()
        for path in sorted((root / label).iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not items:
        raise EvaluationError(
            f"--data {root}: no .jpg/.jpeg/.png images in sub-folders named "
            f"{', '.join(c + '/' for c in CLASSES)}"
        )
    return items


def read_sources(manifest: Path, root: Path) -> dict[Path, str]:
    if not manifest.is_file():
        raise EvaluationError(f"--manifest {manifest}: no such file")
    with manifest.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"path", "source"} <= set(reader.fieldnames):
            raise EvaluationError(f"--manifest {manifest}: needs 'path' and 'source' columns")
        return {(root / row["path"]).resolve(): row["source"] for row in reader}


def format_table(report: dict, title: str) -> str:
    def pct(v):
        return "   n/a" if v is None else f"{100 * v:6.2f}"

    lines = [
        title,
        f"  images {report['n']}   accuracy {pct(report['accuracy'])}%   balanced accuracy "
        f"{pct(report['balanced_accuracy'])}%   macro-F1 {pct(report['macro_f1'])}%",
        f"  {'class':<12}{'precision':>10}{'recall':>10}{'F1':>10}{'ROC AUC':>10}{'support':>9}",
    ]
    for c in CLASSES:
        pc = report["per_class"][c]
        lines.append(
            f"  {DISPLAY_NAMES[c]:<12}{pct(pc['precision']):>10}{pct(pc['recall']):>10}"
            f"{pct(pc['f1']):>10}{pct(report['roc_auc'][c]):>10}{pc['support']:>9}"
        )
    cm = report["confusion_matrix"]["matrix"]
    lines.append("  confusion (rows actual, columns predicted: " + ", ".join(CLASSES) + ")")
    lines += [
        "    " + " ".join(f"{v:6d}" for v in row) + f"   {CLASSES[i]}" for i, row in enumerate(cm)
    ]
    cv = report["covid"]
    lines.append(
        f"  COVID-19 sensitivity {pct(cv['sensitivity'])}%   specificity {pct(cv['specificity'])}%"
    )
    return "\n".join(lines)


def evaluate(
    data: Path, *, weights: Path | None, device: str, manifest: Path | None
) -> tuple[dict, np.ndarray, np.ndarray, list[tuple[Path, str]]]:
    from inference.predictor import Predictor

    items = list_images(data)
    sources = read_sources(manifest, data) if manifest else None
    predictor = Predictor.load(weights, device=device)
    probs, kept, unreadable = [], [], []
    batch: list[tuple[Path, str, bytes]] = []

    def flush():
        results = predictor.predict_many([b for _, _, b in batch])
        probs.extend([[r["probabilities"][c] for c in CLASSES] for r in results])
        kept.extend((p, lab) for p, lab, _ in batch)
        batch.clear()

    for path, label in items:
        data_bytes = path.read_bytes()
        try:
            predictor.preprocess(data_bytes)  # decode errors surface per file, not per batch
        except ImageDecodeError as exc:
            unreadable.append({"path": str(path), "error": str(exc)})
            continue
        batch.append((path, label, data_bytes))
        if len(batch) == 32:
            flush()
    if batch:
        flush()
    if not kept:
        raise EvaluationError(f"--data {data}: none of the {len(items)} images could be read")
    y = np.array([CLASSES.index(lab) for _, lab in kept])
    p = np.array(probs)
    report = classification_report(y, p)
    report["model_version"] = predictor.model_version
    if unreadable:
        report["unreadable"] = unreadable
    if sources is not None:
        src = np.array([sources.get(path.resolve(), "unknown") for path, _ in kept])
        report["per_source"] = {
            s: classification_report(y[src == s], p[src == s]) for s in sorted(set(src))
        }
    return report, y, p, kept


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m inference.evaluate", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--data", type=Path, required=True, help="folder with covid/ normal/ pneumonia/"
    )
    ap.add_argument("--weights", type=Path, help="weights .safetensors (default: shipped)")
    ap.add_argument("--json", type=Path, help="write the metrics as JSON here")
    ap.add_argument("--plots", type=Path, help="write confusion matrix and ROC PNGs here")
    ap.add_argument("--manifest", type=Path, help="CSV with path,source for a per-source breakdown")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args(argv)
    try:
        report, y, p, _ = evaluate(
            args.data, weights=args.weights, device=args.device, manifest=args.manifest
        )
    except EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(report, f"{args.data} ({report['model_version']})"))
    for source, sub in report.get("per_source", {}).items():
        print()
        print(format_table(sub, f"source: {source}"))
    if report.get("unreadable"):
        print(f"\n{len(report['unreadable'])} unreadable images skipped (listed in the JSON)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.plots:
        from inference.training.plots import plot_confusion, plot_roc

        args.plots.mkdir(parents=True, exist_ok=True)
        plot_confusion(
            report["confusion_matrix"]["matrix"],
            args.plots / "confusion_matrix.png",
            title=f"{args.data.name}: confusion matrix",
        )
        plot_roc(y, p, args.plots / "roc_curves.png", title=f"{args.data.name}: one-vs-rest ROC")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
