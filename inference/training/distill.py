"""Distillation from a teacher's fold units (``--distill DIR``; issue 9 and 14, thirteenth session).

The shipped model is ten DarkCovidNets at 224 px read in three views (30 passes a film): it holds
the held-out sources best of every row but costs 3-4x the fast profile. A student of one
DarkCovidNet per fold at 128 px learns fold K from the teacher's unit K (which never saw fold K):
on cxr3's training films from both the true label and the teacher's probabilities, and on the
films of the sources that the **other** folds hold out, which no cxr3-only model trains on, from
the teacher's probabilities alone. Their own labels are never read: the student sees other
hospitals' films labelled only by a model that never saw those hospitals either. Fold K's own
held-out sources stay unseen by teacher and student alike, so the held-out tables mean what they
mean for every row.

Fixed before any student was trained (reports/recipes/SHIP_RULE.md, thirteenth session): the
temperature ``TAU`` and the teacher's share ``ALPHA`` are Hinton et al.'s usual values, and half
of the draws go to the unlabelled films.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from inference.constants import CLASSES

TAU = 2.0  # softens both distributions in the teacher's term
ALPHA = 0.5  # the teacher's share of a labelled film's loss (an unlabelled film: all of it)
UNLABELLED_SHARE = 0.5  # of the training draws


def teacher_version(teacher_dir: Path | str) -> str:
    """The teacher's model version and the folder's name (``teacher.json``), for signatures."""
    import json

    meta = json.loads((Path(teacher_dir) / "teacher.json").read_text())
    return f"{meta['model_version']}:{Path(teacher_dir).name}"


def teacher_probabilities(teacher_dir: Path, k: int, records) -> np.ndarray:
    """Unit k's probabilities for ``records`` (``fold-K.npz`` of ``scripts.teacher_targets``,
    matched by resolved path); a film the teacher file lacks is an error."""
    saved = np.load(Path(teacher_dir) / f"fold-{k}.npz")
    where = {str(p): n for n, p in enumerate(saved["paths"])}
    paths = [os.path.realpath(r.path) for r in records]
    missing = [p for p in paths if p not in where]
    if missing:
        raise SystemExit(f"{teacher_dir}/fold-{k}.npz has no probabilities for {missing[0]}")
    probs = saved["probs"][[where[p] for p in paths]]
    return np.asarray(probs, dtype=np.float64)


def student_records(records, probs: np.ndarray, labelled: np.ndarray) -> list:
    """The records the student's loaders see: an unlabelled film carries the teacher's arg-max as
    its label (the category block needs one; the loss ignores it), never its own."""
    return [
        r if labelled[i] else replace(r, label=CLASSES[int(np.argmax(probs[i]))])
        for i, r in enumerate(records)
    ]


def student_targets(probs: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """The second target of every film: the teacher's probabilities, then 1 if labelled."""
    return np.concatenate([probs, labelled[:, None].astype(np.float64)], axis=1)


def student_weights(records, labelled: np.ndarray, train: np.ndarray, sampler=None) -> np.ndarray:
    """Sampling weights: the labelled films as ``sampler`` weighs them (uniform without one), the
    unlabelled ones by source alone (a source's share grows with the square root of its size;
    their classes are unknown to the student), each side ``UNLABELLED_SHARE`` of the training
    draws. ``train`` marks the training positions (the shares are of those)."""
    w = np.zeros(len(records), dtype=np.float64)
    lab = np.flatnonzero(labelled)
    if len(lab):
        w[lab] = sampler([records[i] for i in lab]) if sampler else 1.0
    unl = np.flatnonzero(~labelled)
    counts: dict[str, int] = {}
    for i in unl:
        if train[i]:
            counts[records[i].source] = counts.get(records[i].source, 0) + 1
    for i in unl:
        w[i] = counts.get(records[i].source, 1) ** -0.5
    for side, share in ((labelled, 1.0 - UNLABELLED_SHARE), (~labelled, UNLABELLED_SHARE)):
        total = w[side & train].sum()
        if total > 0:
            w[side] *= share / total
    return w


def student_inputs(records, probs, labelled, *, valid_idx, sampler=None):
    """(records, second targets, sampling weights) of a student's fit; ``valid_idx``: the
    positions fastai validates on (labelled films; not drawn)."""
    labelled = np.asarray(labelled, dtype=bool)
    train = np.isin(np.arange(len(records)), valid_idx, invert=True)
    weights = student_weights(records, labelled, train, sampler)
    return student_records(records, probs, labelled), student_targets(probs, labelled), weights


class DistillationLoss:
    """Per film: ``ALPHA`` x TAU^2 x KL(teacher_TAU || student_TAU) + (1 - ALPHA) x cross-entropy
    on a labelled film, the KL term alone on an unlabelled one; the mean over the batch. Called by
    fastai as ``loss(pred, labels, targets)`` with ``targets`` from ``student_targets``."""

    def __call__(self, pred, labels, targets):
        import torch
        from torch.nn import functional as F

        pred = pred.float()
        teacher = targets[:, : len(CLASSES)].float()
        labelled = targets[:, len(CLASSES)].float()
        log_student = F.log_softmax(pred / TAU, dim=1)
        log_teacher = F.log_softmax(torch.log(teacher.clamp_min(1e-8)) / TAU, dim=1)
        kd = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=1) * TAU**2
        ce = F.cross_entropy(pred, labels.long(), reduction="none")
        alpha = torch.where(labelled > 0.5, torch.full_like(kd, ALPHA), torch.ones_like(kd))
        return (alpha * kd + (1.0 - alpha) * ce).mean()
