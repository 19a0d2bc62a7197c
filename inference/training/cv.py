"""Cross-validation: folds, one fold job (reusable across parallel processes), the whole CV run,
the final fit, and leave-one-source-out."""

from __future__ import annotations

import json
import logging
import time

import numpy as np

from inference import metrics as M
from inference.constants import CLASSES
from inference.training.data import (
    GROUP_SPLIT_SOURCES,
    Record,
    grouped_folds,
    image_folds,
    source_grouped_folds,
)
from inference.training.loop import oof_logits, predict_arrays, train_one
from inference.training.options import new_model, run_signature
from inference.training.report import (
    calibration_and_thresholds,
    per_source_reports,
    provenance,
    render_markdown,
    summarise_folds,
)

log = logging.getLogger("inference.train")


def make_folds(records: list[Record], args) -> list[np.ndarray]:
    if args.split == "sources":
        return source_grouped_folds(records, n_folds=args.folds, seed=args.seed)[0]
    split = image_folds if args.split == "images" else grouped_folds
    return split(records, n_folds=args.folds, seed=args.seed)


def train_indices(
    records: list[Record], valid_idx: np.ndarray, trainable: np.ndarray, *, hold_out_sources: bool
) -> np.ndarray:
    """What fold ``valid_idx``'s model trains on: trainable films outside the fold, minus any film
    of a group in the fold and, with ``hold_out_sources``, of a source held out in the fold (so
    neither a patient nor a held-out source ever straddles training and validation)."""

    in_valid = np.zeros(len(records), dtype=bool)
    in_valid[valid_idx] = True
    valid_groups = {records[i].group for i in valid_idx}
    held = (
        {records[i].source for i in valid_idx} - GROUP_SPLIT_SOURCES if hold_out_sources else set()
    )
    return np.array(
        [
            i
            for i, r in enumerate(records)
            if trainable[i]
            and not in_valid[i]
            and r.group not in valid_groups
            and r.source not in held
        ],
        dtype=int,
    )


def fold_result(records, arrays, valid_idx, k, args, *, device, trainable=None):
    """Train fold k, or reuse its saved out-of-fold logits (folds may run as parallel jobs).

    Besides the fold's own validation films, the fold model predicts every film it did not
    train on (``other_idx``/``other_logits`` in the saved JSON): for a cxr3-only recipe those
    are the other sources, which the report reads per held-out source.
    """

    path = args.out / "folds" / f"fold-{k}.json"
    if path.exists():
        saved = json.loads(path.read_text())
        if saved["signature"] == run_signature(args) and saved["valid_idx"] == valid_idx.tolist():
            log.info("fold %d: reusing %s", k + 1, path)
            return np.array(saved["logits"]), saved["history"], saved["seconds"]
    t0 = time.time()
    trainable = np.ones(len(records), dtype=bool) if trainable is None else trainable
    train_idx, watched = _fold_films(records, valid_idx, trainable, args)
    sub = np.concatenate([train_idx, watched])
    learn, dls, history = train_one(
        [records[i] for i in sub],
        arrays[sub],
        np.arange(len(train_idx), len(sub)),
        args,
        device=device,
        teacher=_fold_teacher(getattr(args, "distill", None), k, records, sub, trainable),
    )
    watched_logits, targets = oof_logits(learn, dls)
    if not np.array_equal(targets, [CLASSES.index(records[i].label) for i in watched]):
        raise RuntimeError("validation order does not match the fold's indices")
    other_idx = np.setdiff1d(np.arange(len(records)), sub)
    other_logits = (
        predict_arrays(learn.model, arrays[other_idx], device=device, norm=args.norm)
        if len(other_idx)
        else np.zeros((0, len(CLASSES)))
    )
    by_index = dict(zip(watched.tolist(), watched_logits.tolist(), strict=True))
    by_index |= dict(zip(other_idx.tolist(), other_logits.tolist(), strict=True))
    fold_logits = np.array([by_index[i] for i in valid_idx.tolist()])
    seconds = round(time.time() - t0, 1)
    save_fold(
        path,
        learn.model,
        args,
        {
            "valid_idx": valid_idx.tolist(),
            "logits": fold_logits.tolist(),
            "train_idx": train_idx.tolist(),
            "other_idx": other_idx.tolist(),
            "other_logits": other_logits.tolist(),
            "paths": [str(r.path) for r in records],
            "history": history,
            "seconds": seconds,
        },
    )
    return fold_logits, history, seconds


def _fold_films(records, valid_idx, trainable, args) -> tuple[np.ndarray, np.ndarray]:
    """(what fold ``valid_idx``'s model trains on, which of its films fastai validates on)."""
    sources = args.split == "sources"
    # A student also draws the --eval-data films of the sources other folds hold out, unlabelled.
    drawn = np.ones(len(records), dtype=bool) if getattr(args, "distill", None) else trainable
    train_idx = train_indices(records, valid_idx, drawn, hold_out_sources=sources)
    # fastai validates every epoch (loss curves) on the fold's group-split films only; the
    # held-out sources are predicted once after training, which costs a fraction of the time.
    watched = np.array(
        [i for i in valid_idx if not sources or records[i].source in GROUP_SPLIT_SOURCES], dtype=int
    )
    return train_idx, watched


def _fold_teacher(distill, k: int, records, sub: np.ndarray, trainable: np.ndarray):
    """(unit k's probabilities, labelled) for the fold's films ``sub``; None without a teacher."""
    if not distill:
        return None
    from inference.training.distill import teacher_probabilities

    return teacher_probabilities(distill, k, [records[i] for i in sub]), trainable[sub]


def save_fold(path, model, args, result: dict) -> None:
    """The fold's JSON (logits, indices, signature) and the fold model itself, from which an
    ensemble can ship without a final fit."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {n: v.detach().cpu().contiguous() for n, v in model.state_dict().items()}
    save_file(state, str(path.with_suffix(".safetensors")))
    path.write_text(json.dumps({"signature": run_signature(args), **result}))


def final_model(records, arrays, args, *, device):
    """Train on every image, or reuse the model saved by an earlier ``--only-final`` job."""
    from safetensors.torch import load_file, save_file

    weights = args.out / "final" / "model.safetensors"
    meta = weights.with_suffix(".json")
    if weights.exists() and meta.exists() and json.loads(meta.read_text()) == run_signature(args):
        log.info("final model: reusing %s", weights)
        model = new_model(args)
        model.load_state_dict(load_file(str(weights)))
        return model
    learn, _, _ = train_one(records, arrays, np.array([], dtype=int), args, device=device)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in learn.model.state_dict().items()}
    save_file(state, str(weights))
    meta.write_text(json.dumps(run_signature(args)))
    return learn.model


def run_cv(records, arrays, args, *, device, trainable=None) -> dict:
    """Every fold (trained, or reused from its job's JSON), then the report in ``args.out``.

    With ``--split sources`` the cxr3 numbers are read on the group-split films only, and every
    other source on the one fold model that held it out (``heldout``).
    """
    folds = make_folds(records, args)
    by_sources = args.split == "sources"
    y = np.array([CLASSES.index(r.label) for r in records])
    logits = np.zeros((len(records), len(CLASSES)), dtype=np.float64)
    fold_of = np.full(len(records), -1)
    core = np.array([not by_sources or r.source in GROUP_SPLIT_SOURCES for r in records])
    fold_reports, histories = [], []
    for k, valid_idx in enumerate(folds):
        if args.split == "groups":
            train_groups = {
                records[i].group for i in np.setdiff1d(np.arange(len(records)), valid_idx)
            }
            assert not train_groups & {records[i].group for i in valid_idx}, "group leak"
        log.info("fold %d/%d: %d valid", k + 1, args.folds, len(valid_idx))
        fold_logits, history, seconds = fold_result(
            records, arrays, valid_idx, k, args, device=device, trainable=trainable
        )
        logits[valid_idx], fold_of[valid_idx] = fold_logits, k
        mine = valid_idx[core[valid_idx]]
        report = M.classification_report(y[mine], M.softmax(logits[mine])) | {"seconds": seconds}
        fold_reports.append(report)
        histories.append(history)
        log.info("fold %d: accuracy %.4f (%.0fs)", k + 1, report["accuracy"], seconds)
    in_oof = fold_of >= 0
    cxr3 = in_oof & core
    # Temperature and bands from the out-of-fold films of the recipe's own data (--data; with
    # held-out sources: those too). --eval-data films are external: nothing is fitted on them.
    fit_pool = in_oof & (np.ones(len(records), dtype=bool) if trainable is None else trainable)
    calib = calibration_and_thresholds(logits[fit_pool], y[fit_pool])
    pooled = M.classification_report(y[cxr3], M.softmax(logits[cxr3]))
    report = {
        "kind": "source-grouped-cv" if by_sources else "grouped-cv",
        "folds": args.folds,
        "summary": summarise_folds(fold_reports),
        "pooled_out_of_fold": pooled,
        "per_fold": fold_reports,
        "per_source_out_of_fold": per_source_reports(
            [records[i] for i in np.flatnonzero(cxr3)], y[cxr3], M.softmax(logits[cxr3])
        ),
        "calibration": calib,
        "provenance": provenance(args, args.data),
    }
    if by_sources:
        report |= source_grouped_sections(records, y, logits, in_oof, fit_pool, calib, args)
    write_cv_outputs(report, records, y, logits, fold_of, histories, args)
    return report


def source_grouped_sections(records, y, logits, in_oof, fit_pool, calib, args) -> dict:
    """Held-out sources (one fold model each), the cxr3 bands, and for a recipe that trains on
    cxr3 only, the five fold models' ensemble on the films none of them saw."""
    from inference.training.heldout import (
        ensemble_logits,
        held_out_sources,
        source_metrics,
        tempered_source_tables,
    )

    _, assignment = source_grouped_folds(records, n_folds=args.folds, seed=args.seed)
    sources = [r.source for r in records]
    held = held_out_sources(
        sources,
        y,
        logits,
        in_oof,
        fit_pool=fit_pool,
        fit_calibration=calibration_and_thresholds,
        fold_of_source=assignment,
    )
    cxr3 = np.flatnonzero(in_oof & np.isin(sources, list(GROUP_SPLIT_SOURCES)))
    out = {
        "source_folds": assignment,
        "held_out_sources": held,
        "cxr3_bands": source_metrics(y[cxr3], logits[cxr3], calib),
    }
    members = [
        json.loads((args.out / "folds" / f"fold-{k}.json").read_text()) for k in range(args.folds)
    ]
    trained = set().union(*(m["train_idx"] for m in members))
    unseen = [i for i in np.flatnonzero(in_oof) if i not in trained]
    if unseen and all(set(unseen) <= set(m["other_idx"]) | set(m["valid_idx"]) for m in members):
        per_member = []
        for m in members:
            seen = dict(zip(m["other_idx"], m["other_logits"], strict=True))
            seen |= dict(zip(m["valid_idx"], m["logits"], strict=True))
            per_member.append(np.array([seen[i] for i in unseen]) / calib["temperature"])
        unseen = np.array(unseen)
        # Every unseen film is of a held-out source: cxr3's films are trained on by four folds.
        out["ensemble_unseen_sources"] = tempered_source_tables(
            np.asarray(sources)[unseen], y[unseen], ensemble_logits(per_member), calib
        )
    return out


def write_cv_outputs(report, records, y, logits, fold_of, histories, args) -> None:
    from inference.training.plots import plot_confusion, plot_losses, plot_roc

    out = args.out
    (out / "plots").mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    with (out / "oof.csv").open("w") as fh:
        fh.write("path,label,source,group,fold," + ",".join(f"logit_{c}" for c in CLASSES) + "\n")
        for i, r in enumerate(records):
            fh.write(
                f"{r.path},{r.label},{r.source},{r.group},{fold_of[i]},"
                + ",".join(f"{v:.6f}" for v in logits[i])
                + "\n"
            )
    core = fold_of >= 0
    if report["kind"] == "source-grouped-cv":
        core &= np.isin([r.source for r in records], list(GROUP_SPLIT_SOURCES))
    plot_losses(histories, out / "plots" / "loss_curves.png")
    plot_confusion(
        report["pooled_out_of_fold"]["confusion_matrix"]["matrix"],
        out / "plots" / "confusion_matrix.png",
        title=f"Grouped {args.folds}-fold CV (out-of-fold, summed)",
    )
    plot_roc(
        y[core],
        M.softmax(logits[core], report["calibration"]["temperature"]),
        out / "plots" / "roc_curves.png",
        title=f"Grouped {args.folds}-fold CV, one-vs-rest ROC",
    )
    (out / "report.md").write_text(render_markdown(report))


def run_holdout(records, arrays, args, *, device) -> dict:
    """Train without one source and measure on it: what a new hospital would see."""
    held = np.array([i for i, r in enumerate(records) if r.source == args.holdout_source])
    if not len(held):
        raise SystemExit(f"no images of source {args.holdout_source!r} in {args.data}")
    kept = np.setdiff1d(np.arange(len(records)), held)
    train_records = [records[i] for i in kept]
    t0 = time.time()
    learn, _, _ = train_one(
        train_records, arrays[kept], np.array([], dtype=int), args, device=device
    )
    logits = predict_arrays(learn.model, arrays[held], device=device, norm=args.norm)
    y = np.array([CLASSES.index(records[i].label) for i in held])
    report = {
        "kind": "leave-one-source-out",
        "held_out_source": args.holdout_source,
        "excluded_sources": args.exclude_source,
        "trained_on": {
            s: sum(r.source == s for r in train_records)
            for s in sorted({r.source for r in train_records})
        },
        "held_out": M.classification_report(y, M.softmax(logits)),
        "called": {
            c: float((M.softmax(logits).argmax(1) == k).mean()) for k, c in enumerate(CLASSES)
        },
        "seconds": round(time.time() - t0, 1),
        "provenance": provenance(args, args.data),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "".join(f"-without-{s}" for s in args.exclude_source)
    (args.out / f"loso-{args.holdout_source}{suffix}.json").write_text(json.dumps(report, indent=2))
    return report
