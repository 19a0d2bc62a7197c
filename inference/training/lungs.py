"""Train the lung-field U-Net on ``cxr-cases/lung-masks`` and export it as safetensors.

    python -m inference.training.lungs --epochs 40 --threads 1 --out reports/lungs

Only the V7 Labs masks (drawn by annotators) are trained on; the lungVAE masks are model output
with another lung definition (the data README) and are scored separately. 20% of the patient
groups are held out; Dice on them is in ``--out``/report.json and the exported metadata.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from inference.lungs import (
    LUNG_INPUT_SIZE,
    LUNG_MARGIN,
    LUNG_WEIGHTS,
    MIN_LUNG_AREA,
    LungUNet,
    lung_input,
)

log = logging.getLogger("inference.training.lungs")
DEFAULT_DATA = (
    Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cxr-cases" / "lung-masks"
)
TRAIN_ORIGIN = "v7labs"


def read_masks(root: Path) -> list[dict]:
    with (root / "manifest.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def load_pair(root: Path, row: dict, size: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    from inference.decode import decode_image

    gray = np.asarray(decode_image((root / row["image"]).read_bytes()), dtype=np.uint8)
    mask = (
        Image.open(root / row["mask"]).convert("L").resize((size, size), Image.Resampling.NEAREST)
    )
    return lung_input(gray, size=size).numpy()[0], (np.asarray(mask) > 127).astype(np.float32)


def split_groups(rows: list[dict], *, holdout: float, seed: int) -> tuple[list[int], list[int]]:
    from sklearn.model_selection import GroupShuffleSplit

    split = GroupShuffleSplit(n_splits=1, test_size=holdout, random_state=seed)
    train, held = next(split.split(np.zeros(len(rows)), groups=[r["group"] for r in rows]))
    return sorted(train.tolist()), sorted(held.tolist())


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    inter = float((pred & truth).sum())
    total = float(pred.sum() + truth.sum())
    return 1.0 if total == 0 else 2 * inter / total


def augment(x, y, generator):
    """Joint random affine (rotate 10 deg, scale 0.9-1.1, shift 6%) and exposure (gain, gamma-
    like offset) on a batch of z-scored images and their masks."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * np.deg2rad(10)
    scale = 0.9 + torch.rand(n, generator=generator) * 0.2
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * 0.06
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    y = F.grid_sample(y, grid, mode="nearest", align_corners=False)
    gain = 0.7 + torch.rand(n, 1, 1, 1, generator=generator) * 0.6
    offset = (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * 0.3
    return x * gain + offset, y


def fit(model, x, y, args) -> list[float]:
    """AdamW with a one-cycle schedule on BCE + soft Dice; the mean loss of every epoch."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * int(np.ceil(len(x) / args.bs))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(args.seed)
    history, t0 = [], time.time()
    for epoch in range(args.epochs):
        model.train()
        order, total = torch.randperm(len(x), generator=gen), 0.0
        for b in range(0, len(order), args.bs):
            xb, yb = augment(x[order[b : b + args.bs]], y[order[b : b + args.bs]], gen)
            logits = model(xb)
            p = torch.sigmoid(logits)
            soft_dice = 1 - (2 * (p * yb).sum((1, 2, 3)) + 1) / (
                p.sum((1, 2, 3)) + yb.sum((1, 2, 3)) + 1
            )
            loss = F.binary_cross_entropy_with_logits(logits, yb) + soft_dice.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(xb)
        history.append(total / len(x))
        log.info(
            "epoch %d/%d loss %.4f (%.0fs)", epoch + 1, args.epochs, history[-1], time.time() - t0
        )
    return history


def train(args) -> dict:
    import torch

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = read_masks(args.data)
    train_idx, held_idx = split_groups(rows, holdout=args.holdout, seed=args.seed)
    fit_idx = [i for i in train_idx if rows[i]["origin"] == TRAIN_ORIGIN]
    if args.limit:
        fit_idx, held_idx = fit_idx[: args.limit], held_idx[: args.limit]
    pairs = {i: load_pair(args.data, rows[i], args.size) for i in sorted({*fit_idx, *held_idx})}
    x = torch.from_numpy(np.stack([pairs[i][0] for i in fit_idx])).unsqueeze(1)
    y = torch.from_numpy(np.stack([pairs[i][1] for i in fit_idx])).unsqueeze(1)
    model, t0 = LungUNet(), time.time()
    history = fit(model, x, y, args)
    model.eval()
    scores: dict[str, list[float]] = {}
    with torch.inference_mode():
        for i in held_idx:
            xi, yi = pairs[i]
            pred = torch.sigmoid(model(torch.from_numpy(xi)[None, None]))[0, 0].numpy() > 0.5
            scores.setdefault(rows[i]["origin"], []).append(dice(pred, yi > 0.5))
    return {
        "model": model,
        "report": {
            "kind": "lung-unet",
            "n_train": len(fit_idx),
            "held_out_groups_fraction": args.holdout,
            "dice_held_out": {
                o: {
                    "n": len(v),
                    "mean": float(np.mean(v)),
                    "median": float(np.median(v)),
                    "p10": float(np.percentile(v, 10)),
                }
                for o, v in scores.items()
            },
            "held_out_ids": [rows[i]["id"] for i in held_idx],
            "loss": history,
            "seconds": round(time.time() - t0, 1),
            "args": {k: str(v) for k, v in vars(args).items()},
        },
    }


def export(model, report: dict, weights: Path) -> Path:
    from inference.metadata import safetensors_write
    from inference.model import count_parameters

    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    digest = safetensors_write(state, weights, metadata={"format": "pt", "name": "lungs"})
    meta = {
        "name": "lungs",
        "model_version": f"lungs@{digest[:12]}",
        "architecture": "U-Net, widths 8-128, 5 levels",
        "architecture_args": {"base": 8, "levels": 5},
        "parameters": count_parameters(model),
        "input_size": int(report["args"]["size"]),
        "threshold": 0.5,
        "margin": LUNG_MARGIN,
        "min_area": MIN_LUNG_AREA,
        "dice_held_out": report["dice_held_out"],
        "trained_on": f"cxr-cases/lung-masks, {TRAIN_ORIGIN} masks, {report['n_train']} films",
        "weights_sha256": digest,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    weights.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return weights


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    p = argparse.ArgumentParser(
        prog="python -m inference.training.lungs", description=__doc__.split("\n")[0]
    )
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--size", type=int, default=LUNG_INPUT_SIZE)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--bs", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--holdout", type=float, default=0.2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--limit", type=int, default=0, help="first N films only (smoke runs)")
    p.add_argument("--out", type=Path, default=Path("runs/lungs"))
    p.add_argument("--weights", type=Path, default=LUNG_WEIGHTS)
    args = p.parse_args(argv)
    result = train(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(result["report"], indent=2))
    path = export(result["model"], result["report"], args.weights)
    log.info("Dice %s; exported %s", json.dumps(result["report"]["dice_held_out"]), path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
