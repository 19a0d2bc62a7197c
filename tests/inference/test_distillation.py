"""Distillation from a teacher's fold units (``--distill``): the loss, what the student draws, and
a tiny fold run that learns from other folds' held-out sources without reading their labels."""

import json
import os

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from inference import train
from inference.constants import CLASSES
from inference.training.data import Record, read_folders, source_grouped_folds
from inference.training.distill import (
    ALPHA,
    TAU,
    UNLABELLED_SHARE,
    DistillationLoss,
    student_inputs,
)
from tests.inference.tiny_data import tiny_dataset_write


def _kd(pred: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """TAU^2 x KL(teacher_TAU || student_TAU), written out once more for the check."""
    t = torch.softmax(torch.log(teacher) / TAU, dim=1)
    return (t * (torch.log(t) - torch.log_softmax(pred / TAU, dim=1))).sum(1) * TAU**2


def test_an_unlabelled_film_is_taught_by_the_teacher_alone_and_a_labelled_one_by_both():
    torch.manual_seed(0)
    pred = torch.randn(4, 3)
    teacher = torch.softmax(torch.randn(4, 3), dim=1)
    labels = torch.tensor([0, 1, 2, 0])
    flag = torch.tensor([1.0, 1.0, 0.0, 0.0])
    targets = torch.cat([teacher, flag[:, None]], dim=1)
    loss = DistillationLoss()(pred, labels, targets)
    ce = F.cross_entropy(pred, labels, reduction="none")
    per_film = torch.where(
        flag > 0, ALPHA * _kd(pred, teacher) + (1 - ALPHA) * ce, _kd(pred, teacher)
    )
    assert loss.item() == pytest.approx(per_film.mean().item(), rel=1e-5)
    # The label an unlabelled film carries (the teacher's arg-max) does not enter its loss.
    other = labels.clone()
    other[2:] = torch.tensor([1, 2])
    assert DistillationLoss()(pred, other, targets).item() == pytest.approx(loss.item(), rel=1e-6)


def test_a_student_agreeing_with_its_teacher_owes_nothing_on_unlabelled_films():
    teacher = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    targets = torch.cat([teacher, torch.zeros(2, 1)], dim=1)
    loss = DistillationLoss()(torch.log(teacher), torch.tensor([0, 2]), targets)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def _record(label: str, source: str, i: int) -> Record:
    return Record(path=f"/x/{source}-{i}.png", label=label, group=f"g{i}", source=source)


def test_the_student_draws_half_labelled_half_unlabelled_and_never_reads_an_unlabelled_label():
    records = [_record("covid", "ieee8023-figures", 0), _record("normal", "nih", 1)]
    records += [_record("normal", "nih", 2)]  # fastai's validation film
    records += [_record("covid", "site-a", 3 + i) for i in range(4)]
    records += [_record("pneumonia", "site-b", 7)]
    labelled = np.array([True] * 3 + [False] * 5)
    probs = np.tile([0.2, 0.3, 0.5], (len(records), 1))
    out, targets, w = student_inputs(records, probs, labelled, valid_idx=np.array([2]))
    train = np.arange(len(records)) != 2
    assert w[labelled & train].sum() == pytest.approx(1 - UNLABELLED_SHARE)
    assert w[~labelled].sum() == pytest.approx(UNLABELLED_SHARE)
    # By source alone: a site of 4 films draws twice what a site of 1 does, not 4x.
    assert w[3:7].sum() / w[7] == pytest.approx(2.0)
    assert [r.label for r in out[3:]] == ["pneumonia"] * 5  # the teacher's arg-max
    assert [r.label for r in out[:3]] == ["covid", "normal", "normal"]
    assert targets.shape == (len(records), len(CLASSES) + 1)
    assert targets[:, -1].tolist() == labelled.astype(float).tolist()
    # The unlabelled films' own classes do not move their weights.
    relabelled = records[:3] + [_record("normal", "site-a", 3 + i) for i in range(4)] + records[7:]
    assert np.allclose(student_inputs(relabelled, probs, labelled, valid_idx=np.array([2]))[2], w)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """A cxr3-like set (sources by class) and a three-site set standing for other hospitals."""
    base = tmp_path_factory.mktemp("distill")
    (base / "core").mkdir()
    (base / "other").mkdir()
    core = tiny_dataset_write(base / "core", per_class=6, seed=4)
    other = tiny_dataset_write(base / "other", per_class=4, seed=5, sources=3, group_size=1)
    return core, other


def _teacher(tmp_path, records, folds: int):
    rng = np.random.default_rng(0)
    paths = np.array([os.path.realpath(r.path) for r in records])
    for k in range(folds):
        probs = rng.dirichlet(np.ones(3), size=len(paths)).astype(np.float32)
        np.savez(tmp_path / f"fold-{k}.npz", paths=paths, probs=probs)
    (tmp_path / "teacher.json").write_text(json.dumps({"model_version": "teacher@test"}))
    return tmp_path


def test_a_student_fold_learns_from_the_other_folds_sources_and_never_sees_its_own(sets, tmp_path):
    core, other = sets
    records = read_folders([core, other])
    folds, assignment = source_grouped_folds(records, n_folds=2, seed=42)
    teacher = _teacher(tmp_path, records, 2)
    common = ["--data", str(core), "--eval-data", str(other), "--split", "sources"]
    common += ["--size", "64", "--epochs", "1", "--bs", "4", "--folds", "2", "--only-fold", "0"]
    assert train.main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert train.main([*common, "--distill", str(teacher), "--out", str(tmp_path / "kd")]) == 0
    plain = json.loads((tmp_path / "plain" / "folds" / "fold-0.json").read_text())
    kd = json.loads((tmp_path / "kd" / "folds" / "fold-0.json").read_text())
    source = lambda i: records[i].source  # noqa: E731
    other_sites = {s for s, f in assignment.items() if f == 1}
    held_here = {s for s, f in assignment.items() if f == 0}
    assert other_sites and held_here
    assert not {source(i) for i in plain["train_idx"]} & (other_sites | held_here)
    assert {source(i) for i in kd["train_idx"]} >= other_sites
    assert not {source(i) for i in kd["train_idx"]} & held_here
    assert set(kd["valid_idx"]) == set(folds[0].tolist())
    assert kd["signature"]["distill"] == f"teacher@test:{teacher.name}"
    assert "distill" not in plain["signature"]


def test_distillation_refuses_a_split_that_holds_no_source_out(sets, tmp_path):
    core, _ = sets
    with pytest.raises(SystemExit):
        train.main(["--data", str(core), "--distill", str(tmp_path), "--folds", "2"])
