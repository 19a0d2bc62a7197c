"""Numbers of a CV run: over folds, pooled, per source, calibration and bands; Markdown; export."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

from inference import metrics as M
from inference.constants import CLASSES
from inference.preprocessing import PREPROCESSING_VERSION
from inference.training.data import manifest_sha256
from inference.training.options import variant_options

COVID_HIGH_SENSITIVITY = 0.95

COVID_MEDIUM_SENSITIVITY = 0.99


def provenance(args, data_roots) -> dict:
    import fastai
    import torch

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--", "."],  # the inference package
                capture_output=True,
                text=True,
                cwd=Path(__file__).resolve().parents[1],
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {
        "seed": args.seed,
        "epochs": args.epochs,
        "input_size": args.size,
        "batch_size": args.bs,
        "lr_max": args.lr,
        "augment": not args.no_augment,
        "variant": variant_options(args),
        "schedule": "fastai fit_one_cycle",
        "loss": {
            "class-weights": "cross-entropy, inverse-frequency class weights",
            "source-balanced": "cross-entropy, source-balanced sampling",
            "source-sqrt": "cross-entropy, class-balanced sampling, sources by sqrt(size)",
            "none": "cross-entropy, unweighted",
        }[args.sampling],
        "preprocessing_version": PREPROCESSING_VERSION,
        "data": [str(d) for d in data_roots],
        "data_manifest_sha256": manifest_sha256(data_roots),
        "git_commit": commit,
        "git_inference_dirty": dirty,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "fastai": fastai.__version__,
            "numpy": np.__version__,
        },
        "command": " ".join(sys.argv),
    }


def summarise_folds(fold_reports: list[dict]) -> dict:
    def stat(values):
        vals = [v for v in values if v is not None]
        if not vals:
            return {"mean": None, "std": None}
        return {
            "mean": float(np.mean(vals)),
            "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
        }

    summary = {
        key: stat([r[key] for r in fold_reports])
        for key in ("accuracy", "balanced_accuracy", "macro_f1")
    }
    summary["covid_sensitivity"] = stat([r["covid"]["sensitivity"] for r in fold_reports])
    summary["covid_specificity"] = stat([r["covid"]["specificity"] for r in fold_reports])
    for c in CLASSES:
        summary[f"{c}_precision"] = stat([r["per_class"][c]["precision"] for r in fold_reports])
        summary[f"{c}_recall"] = stat([r["per_class"][c]["recall"] for r in fold_reports])
        summary[f"{c}_roc_auc"] = stat([r["roc_auc"][c] for r in fold_reports])
    return summary


def calibration_and_thresholds(logits: np.ndarray, y: np.ndarray) -> dict:
    temperature = M.fit_temperature(logits, y)
    raw, cal = M.softmax(logits), M.softmax(logits, temperature)
    covid = CLASSES.index("covid")
    is_covid = y == covid
    high = M.sensitivity_threshold(cal[:, covid], is_covid, target=COVID_HIGH_SENSITIVITY)
    medium = M.sensitivity_threshold(cal[:, covid], is_covid, target=COVID_MEDIUM_SENSITIVITY)
    return {
        "temperature": temperature,
        "ece_before": M.expected_calibration_error(raw, y),
        "ece_after": M.expected_calibration_error(cal, y),
        "nll_before": M.nll(logits, y, 1.0),
        "nll_after": M.nll(logits, y, temperature),
        "thresholds": {"covid_high": high, "covid_medium": min(medium, high)},
        "operating_points": {
            "high": M.operating_point(cal[:, covid], is_covid, high),
            "medium": M.operating_point(cal[:, covid], is_covid, min(medium, high)),
        },
    }


def per_source_reports(records, y, probs) -> dict:
    sources = sorted({r.source for r in records})
    out = {}
    for s in sources:
        idx = np.array([i for i, r in enumerate(records) if r.source == s])
        out[s] = M.classification_report(y[idx], probs[idx])
    return out


def fmt(stat: dict) -> str:
    if stat["mean"] is None:
        return "n/a"
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def render_markdown(report: dict) -> str:
    s, prov = report["summary"], report["provenance"]
    pooled = report["pooled_out_of_fold"]
    by_images = prov.get("variant", {}).get("split") == "images"
    split_words = "image-level (patients leak across folds)" if by_images else "grouped"
    if report.get("kind") == "source-grouped-cv":
        split_words = "source-grouped (cxr3 by patient group, every other source held out whole)"
    lines = [
        f"# DarkCovidNet {split_words} {report['folds']}-fold cross-validation",
        "",
        f"Data: {', '.join(prov['data'])}; {pooled['n']} images; seed {prov['seed']}; "
        f"{prov['epochs']} epochs at {prov['input_size']} px; git {prov['git_commit']}.",
        "",
        "| metric (mean ± sd over folds, %) | value |",
        "| --- | --- |",
        f"| accuracy | {fmt(s['accuracy'])} |",
        f"| balanced accuracy | {fmt(s['balanced_accuracy'])} |",
        f"| macro-F1 | {fmt(s['macro_f1'])} |",
        f"| COVID-19 sensitivity | {fmt(s['covid_sensitivity'])} |",
        f"| COVID-19 specificity | {fmt(s['covid_specificity'])} |",
    ]
    for cls in CLASSES:
        lines.append(
            f"| {cls}: precision / recall / ROC AUC | {fmt(s[cls + '_precision'])} / "
            f"{fmt(s[cls + '_recall'])} / {fmt(s[cls + '_roc_auc'])} |"
        )
    lines += calibration_markdown(report)
    if "held_out_sources" in report:
        lines += held_out_markdown(report)
    lines += [
        "",
        "![loss curves](plots/loss_curves.png) ![confusion](plots/confusion_matrix.png) ![ROC](plots/roc_curves.png)",
        "",
    ]
    return "\n".join(lines)


def calibration_markdown(report: dict) -> list[str]:
    """Confusion matrix, calibration, bands (on all out-of-fold films) and per-source accuracy."""
    c, pooled = report["calibration"], report["pooled_out_of_fold"]
    m = pooled["confusion_matrix"]["matrix"]
    lines = [
        "",
        "Summed confusion matrix (rows actual, columns predicted: " + ", ".join(CLASSES) + "):",
        "",
    ]
    lines += ["| actual \\ predicted | " + " | ".join(CLASSES) + " |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {CLASSES[i]} | " + " | ".join(str(v) for v in row) + " |" for i, row in enumerate(m)
    ]
    lines += [
        "",
        f"Calibration: temperature {c['temperature']:.3f}; ECE {100 * c['ece_before']:.2f}% -> "
        f"{100 * c['ece_after']:.2f}%; NLL {c['nll_before']:.4f} -> {c['nll_after']:.4f}.",
        "",
        "Triage bands on the out-of-fold films of the recipe's own data (--data; with held-out "
        "sources: those too; never --eval-data):",
        "",
        "| triage band | COVID-19 probability >= | sensitivity | specificity | flagged |",
        "| --- | --- | --- | --- | --- |",
    ]
    for band in ("high", "medium"):
        op = c["operating_points"][band]
        lines.append(
            f"| {band} | {op['threshold']:.4f} | {100 * op['sensitivity']:.1f}% | "
            f"{100 * op['specificity']:.1f}% | {100 * op['flagged_fraction']:.1f}% |"
        )
    lines += [
        "",
        "Per source (out-of-fold):",
        "",
        "| source | n | accuracy | balanced accuracy |",
        "| --- | --- | --- | --- |",
    ]
    for src, r in report["per_source_out_of_fold"].items():
        lines.append(
            f"| {src} | {r['n']} | {100 * r['accuracy']:.2f} | {100 * r['balanced_accuracy']:.2f} |"
        )
    return lines


def pct(v) -> str:
    return "" if v is None else f"{100 * v:.1f}"


def auc(v) -> str:
    return "" if v is None else f"{v:.3f}"


def source_rows(per_source: dict) -> list[str]:
    lines = [
        "| source | fold | n (covid/normal/pneumonia) | recall per class | balanced accuracy | "
        "COVID-19 AUC | COVID-19 in high | non-COVID flagged high |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s, r in per_source.items():
        counts = "/".join(str(r["classes"].get(c, 0)) for c in CLASSES)
        recalls = ", ".join(f"{c} {pct(v)}" for c, v in r["recall"].items())
        lines.append(
            f"| {s} | {r.get('fold', '')} | {counts} | {recalls} | {pct(r['balanced_accuracy'])} | "
            f"{auc(r['covid_auc'])} | "
            f"{pct(r['high']['covid_in_band'])} | {pct(r['high']['non_covid_flagged'])} |"
        )
    return lines


def held_out_markdown(report: dict) -> list[str]:
    held = report["held_out_sources"]
    sm = held["summary"]
    b = report["cxr3_bands"]
    lines = [
        "",
        "## Held-out sources (each read on the one fold model that never saw it)",
        "",
        f"Held-out balanced accuracy (per class, mean recall over the held-out sources with >= 5 "
        f"films of it; then the mean over classes): **{pct(sm['class_balanced_accuracy'])}%**. "
        f"Mean of the {sm['n_sources']} sources' balanced accuracies: "
        f"{pct(sm['mean_balanced_accuracy'])}% (min {pct(sm['min_balanced_accuracy'])}%; "
        f"lowest class recall {pct(sm['min_class_recall'])}%; lowest COVID-19 AUC "
        f"{auc(sm['min_covid_auc'])}). Bands use a "
        "temperature and thresholds fitted on the other out-of-fold films of the recipe's own "
        "data (for a cxr3-only recipe: cxr3).",
        "",
        *source_rows(held["per_source"]),
        "",
        f"cxr3 out-of-fold bands (the shipped temperature and thresholds): COVID-19 in high "
        f"{pct(b['high']['covid_in_band'])}%, non-COVID flagged high "
        f"{pct(b['high']['non_covid_flagged'])}%.",
    ]
    if "ensemble_unseen_sources" in report:
        lines += [
            "",
            "### The five fold models averaged, on sources none of them saw",
            "",
            *source_rows(report["ensemble_unseen_sources"]),
        ]
    return lines


def lungs_metadata(path: Path | None, mode: str = "crop") -> dict | None:
    """What a classifier's metadata says about the lung model its preprocessing crops (or masks,
    ``mode``) with."""
    if path is None:
        return None
    from inference.lungs import LungFinder

    finder = LungFinder.load(path)
    return {
        "weights_file": Path(path).name,
        "model_version": finder.version,
        "weights_sha256": finder.metadata["weights_sha256"],
        **({"mode": mode} if mode != "crop" else {}),
    }


def export_final(
    model,
    args,
    *,
    cv_report: dict,
    data_roots,
    ensemble: int = 0,
    tta_views: tuple = (),
    mix: list[dict] | None = None,
    final_fit: bool = False,
) -> Path:
    """Export the final model, or (``ensemble`` > 0) the fold models' ensemble, with the CV's
    temperature and thresholds and its held-out-source summary in the metadata; ``tta_views``:
    the test-time views the CV was measured with, which serving then applies; ``mix``: the
    rows of a mixed row (inference.training.mix), whose members read the film or its lung cut;
    ``final_fit``: the members are the mixed rows' final fits (one unit), not fold models."""
    from inference.export import export_model
    from inference.lungs import LUNG_WEIGHTS
    from inference.training.loop import NORMALIZATIONS
    from inference.training.mix import mix_lungs_metadata

    lungs = lungs_metadata(args.lungs, getattr(args, "lungs_mode", "crop"))
    if mix:
        lungs = mix_lungs_metadata(mix, args.lungs or LUNG_WEIGHTS)

    calib = cv_report["calibration"]
    held = cv_report.get("held_out_sources")
    return export_model(
        model,
        weights_dir=args.weights_dir,
        name=args.name,
        input_size=args.size,
        margin=args.margin,
        equalize=args.equalize,
        temperature=calib["temperature"],
        thresholds=calib["thresholds"],
        normalization=NORMALIZATIONS[args.norm],
        lungs=lungs,
        ensemble=ensemble,
        inputs=("film", "lungs") if mix else (),
        member_inputs=getattr(model, "member_inputs", None),
        units=getattr(model, "units", None),
        member_weights=getattr(model, "member_weights", None),
        final_fit=final_fit,
        tta_views=tta_views,
        width=getattr(args, "width", 1),
        extra={
            "cv_metrics": cv_report["summary"],
            "cv_operating_points": calib["operating_points"],
            "calibration": {
                k: calib[k] for k in ("ece_before", "ece_after", "nll_before", "nll_after")
            },
            **({"held_out_sources": held["summary"]} if held else {}),
            **members_metadata(args, ensemble=ensemble, mix=mix, final_fit=final_fit),
            "training": provenance(args, data_roots),
        },
    )


def members_metadata(args, *, ensemble: int, mix: list[dict] | None, final_fit: bool) -> dict:
    """Where an ensemble's members come from: the CV's folds (``ensemble_of_folds``, which
    ``scripts.unpack_ensemble`` reads), or the mixed rows' final fits; and the mixed rows."""
    if final_fit:
        origin = {"final_fit": True}
    elif ensemble:
        origin = {"ensemble_of_folds": list(args.ensemble_folds or range(args.folds))}
    else:
        origin = {}
    return origin | (
        {
            "mixed_rows": [m["row"] for m in mix],
            # what each row trained on ("training" is the first row's alone)
            "mixed_signatures": [m["signature"] for m in mix],
        }
        if mix
        else {}
    )
