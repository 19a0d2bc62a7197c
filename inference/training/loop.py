"""One fastai fit of DarkCovidNet: sampling, augmentation presets, data loaders, prediction."""

from __future__ import annotations

import numpy as np

from inference.constants import CLASSES
from inference.preprocessing import MEAN, STD
from inference.training.data import Record
from inference.training.distill import DistillationLoss


def class_weights(labels: list[str]) -> list[float]:
    """Inverse-frequency weights (n / (k * n_c)): COVID-19 is 11% of cxr3."""
    counts = np.array([max(1, labels.count(c)) for c in CLASSES], dtype=np.float64)
    return (counts.sum() / (len(CLASSES) * counts)).tolist()


def source_sqrt_weights(records: list[Record]) -> np.ndarray:
    """Sampling weight per image: every class equally likely; within a class a source's share
    grows with the square root of its size. Full balance would draw one film of a one-film
    source (cxr-cases has several) as often as all of a 400-film archive."""
    strata: dict[tuple[str, str], int] = {}
    for r in records:
        strata[(r.label, r.source)] = strata.get((r.label, r.source), 0) + 1
    root = {c: sum(n**0.5 for (label, _), n in strata.items() if label == c) for c in CLASSES}
    return np.array(
        [strata[(r.label, r.source)] ** -0.5 / root[r.label] for r in records], dtype=np.float64
    )


def view_balanced(sampler):
    """Wrap a sampler so that within every (class, source) the films of each known view (AP, PA)
    share the stratum's weight equally: in cxr3, 69% of the NIH normals are AP and 54% of the
    NIH pneumonias PA, so view position would otherwise predict the class."""

    def weights(records: list[Record]) -> np.ndarray:
        w = sampler(records).astype(np.float64)
        strata: dict[tuple[str, str], dict[str, list[int]]] = {}
        for i, r in enumerate(records):
            if r.view:
                strata.setdefault((r.label, r.source), {}).setdefault(r.view, []).append(i)
        for by_view in strata.values():
            total = sum(w[idx].sum() for idx in by_view.values())
            for idx in by_view.values():
                w[idx] *= total / (len(by_view) * w[idx].sum())
        return w

    return weights


def source_balanced_weights(records: list[Record]) -> np.ndarray:
    """Sampling weight per image: every class equally likely, and within a class every source.

    With one source per class (cxr3) this is plain class balancing; with cxr-multi it stops the
    larger archive of a class from defining what that class looks like.
    """
    strata: dict[tuple[str, str], int] = {}
    for r in records:
        strata[(r.label, r.source)] = strata.get((r.label, r.source), 0) + 1
    per_class = {c: sum(1 for (label, _) in strata if label == c) for c in CLASSES}
    return np.array(
        [1.0 / (per_class[r.label] * strata[(r.label, r.source)]) for r in records],
        dtype=np.float64,
    )


# (mean, sd) of the single grey input channel. ImageNet's: the mean of its RGB statistics, what
# the paper's grey-replicated-to-RGB input with imagenet_stats amounts to after the first conv.
NORMALIZATIONS = {
    "project": (MEAN, STD),
    "imagenet": (float(np.mean([0.485, 0.456, 0.406])), float(np.mean([0.229, 0.224, 0.225]))),
}

# fastai affine/lighting arguments, then our extra transforms, per augmentation strength.
# Standard: exposure/contrast strongly (sources differ most there), geometry mildly, no flips
# (the heart's side is anatomy, not noise). Strong: harder on all of it, plus a gamma curve.
AUGMENT_PRESETS: dict[str, tuple[dict, list[tuple[str, dict]]]] = {
    # The published recipe: fastai's defaults without flips (rotate 10, zoom 1.1, lighting 0.2,
    # warp 0.2, p 0.75 each), as the DarkCovidNet notebook's get_transforms(do_flip=False).
    "published": ({}, []),
    "standard": (
        {
            "max_rotate": 10.0,
            "max_zoom": 1.15,
            "max_warp": 0.1,
            "max_lighting": 0.4,
            "p_lighting": 0.9,
            "p_affine": 0.75,
        },
        [("noise_blur", {})],
    ),
    "strong": (
        {
            "max_rotate": 15.0,
            "max_zoom": 1.3,
            "max_warp": 0.15,
            "max_lighting": 0.6,
            "p_lighting": 1.0,
            "p_affine": 0.9,
        },
        [("gamma", {}), ("noise_blur", {"p": 0.7, "max_sigma": 0.08})],
    ),
}


def build_dataloaders(
    records,
    arrays,
    valid_idx,
    *,
    bs: int,
    seed: int,
    augment: bool,
    strength: str = "standard",
    sample_weights: np.ndarray | None = None,
    norm: str = "project",
    sources: list[str] | None = None,
    soft_targets: np.ndarray | None = None,
):
    """fastai loaders of the films ``records``/``arrays``; with ``sources`` (the adversary's
    vocabulary) every item also yields its source as a second target, with ``soft_targets``
    (distillation: ``inference.training.distill.student_targets``) that row of floats."""
    from fastai.vision.all import (
        CategoryBlock,
        DataBlock,
        ImageBlock,
        IndexSplitter,
        Normalize,
        PILImageBW,
        RegressionBlock,
        aug_transforms,
    )

    from inference.training.augment import RandomGamma, RandomNoiseBlur

    batch_tfms = []
    if augment:
        affine_lighting, extra = AUGMENT_PRESETS[strength]
        batch_tfms += aug_transforms(do_flip=False, **affine_lighting)
        transforms = {"gamma": RandomGamma, "noise_blur": RandomNoiseBlur}
        batch_tfms += [transforms[name](**kwargs) for name, kwargs in extra]
    mean, std = NORMALIZATIONS[norm]
    batch_tfms.append(Normalize.from_stats([mean], [std], cuda=False))
    blocks = (ImageBlock(cls=PILImageBW), CategoryBlock(vocab=list(CLASSES)))
    get_y = lambda i: records[i].label  # noqa: E731
    if sources is not None:
        blocks += (CategoryBlock(vocab=list(sources)),)
        get_y = [get_y, lambda i: records[i].source]
    elif soft_targets is not None:
        blocks += (RegressionBlock(n_out=soft_targets.shape[1]),)
        get_y = [get_y, lambda i: soft_targets[i].astype(np.float32)]
    block = DataBlock(
        blocks=blocks,
        n_inp=1,
        get_x=lambda i: PILImageBW.create(arrays[i]),
        get_y=get_y,
        splitter=IndexSplitter(list(valid_idx)),
        batch_tfms=batch_tfms,
    )
    items = list(range(len(records)))
    if sample_weights is not None:
        return block.weighted_dataloaders(
            items, wgts=sample_weights, bs=bs, num_workers=0, seed=seed
        )
    return block.dataloaders(items, bs=bs, num_workers=0, seed=seed)


def train_one(records, arrays, valid_idx, args, *, device, teacher=None):
    """One fit; ``teacher``: (probabilities, labelled) per film of ``records`` (distillation)."""
    import torch
    from fastai.callback.channelslast import ChannelsLast
    from fastai.callback.mixup import MixUp
    from fastai.vision.all import (
        BalancedAccuracy,
        CrossEntropyLossFlat,
        Learner,
        accuracy,
        set_seed,
    )

    from inference.training.adversary import with_adversary
    from inference.training.options import new_model

    set_seed(args.seed, reproducible=True)
    train_idx = np.setdiff1d(np.arange(len(records)), valid_idx)
    adversary = getattr(args, "adversary", 0.0)
    # Every source of the fold's films, in a fixed order (held-out ones included: unused rows).
    sources = sorted({r.source for r in records}) if adversary else None
    records, soft, sample_weights = _sampling(records, valid_idx, args, teacher)
    dls = build_dataloaders(
        records,
        arrays,
        valid_idx,
        sources=sources,
        soft_targets=soft,
        bs=args.bs,
        seed=args.seed,
        augment=not args.no_augment,
        strength=args.aug,
        sample_weights=sample_weights,
        norm=args.norm,
    )
    dls.to(device)
    # Balanced sampling already evens out the classes; weighting the loss too would overcorrect.
    weights = (
        None
        if sample_weights is not None or args.sampling == "none"
        else torch.tensor(class_weights([records[i].label for i in train_idx]), device=device)
    )
    # oneDNN's channels-last convolutions are ~3x faster on CPU than NCHW for this network.
    cbs = [ChannelsLast()] + ([MixUp(args.mixup)] if args.mixup else [])
    model = new_model(args)
    loss_func = CrossEntropyLossFlat(weight=weights, label_smoothing=args.label_smoothing)
    metrics = [accuracy, BalancedAccuracy()] if len(valid_idx) and teacher is None else []
    if teacher is not None:  # (fastai's metrics take one target; the history keeps the losses)
        loss_func = DistillationLoss()
    if adversary:
        model, loss_func, callback = with_adversary(
            model, loss_func, n_classes=len(CLASSES), n_sources=len(sources), weight=adversary
        )
        metrics = []  # fastai's metrics take one target; the history keeps the losses
        cbs.append(callback)
    learn = Learner(dls, model.to(device), loss_func=loss_func, metrics=metrics, cbs=cbs)
    learn.fit_one_cycle(args.epochs, lr_max=args.lr)
    if adversary:  # only the classifier is kept, predicted with and saved
        learn.model = learn.model.net
    return learn, dls, _history(learn, validated=len(valid_idx) > 0)


def _sampling(records, valid_idx, args, teacher):
    """(records, second targets or None, sampling weights or None) of one fit: the recipe's
    sampler, and for a student (``teacher``) its unlabelled films, targets and shares."""
    from inference.training.distill import student_inputs

    balanced = args.sampling in ("source-balanced", "source-sqrt")
    sampler = source_sqrt_weights if args.sampling == "source-sqrt" else source_balanced_weights
    if getattr(args, "views", None):
        sampler = view_balanced(sampler)
    if teacher is None:
        return records, None, sampler(records) if balanced else None
    return student_inputs(
        records, *teacher, valid_idx=valid_idx, sampler=sampler if balanced else None
    )


def _history(learn, *, validated: bool) -> dict[str, list[float]]:
    """Per-epoch training (and validation) losses, as fastai's recorder kept them."""
    history = {"train_loss": [], "valid_loss": []}
    for row in learn.recorder.values:
        history["train_loss"].append(float(row[0]))
        if validated and len(row) > 1:
            history["valid_loss"].append(float(row[1]))
    return history


def oof_logits(learn, dls) -> tuple[np.ndarray, np.ndarray]:
    from fastai.vision.all import noop

    logits, targets = learn.get_preds(dl=dls.valid, act=noop)
    if isinstance(targets, (list, tuple)):  # with the adversary: (class, source)
        targets = targets[0]
    return logits.float().cpu().numpy(), targets.cpu().numpy()


def predict_arrays(
    model, arrays: np.ndarray, *, device, bs: int = 64, norm: str = "project"
) -> np.ndarray:
    """Logits for preprocessed uint8 arrays, normalised exactly as at serving time."""
    import torch

    mean, std = NORMALIZATIONS[norm]
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(arrays), bs):
            batch = torch.from_numpy(arrays[i : i + bs]).unsqueeze(1).float().div_(255.0)
            batch = ((batch - mean) / std).to(device)
            out.append(model(batch).float().cpu().numpy())
    return np.concatenate(out)
