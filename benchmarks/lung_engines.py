"""The lung U-Net through torch and through ONNX Runtime: the same masks, and the time of each.

    python -m benchmarks.lung_engines [--data ../shared/datasets/cxr3] [--every 3] [--limit 300]

Every ``--every``-th film of ``--data`` (sorted paths), up to ``--limit``: the U-Net's mask
(probability > the model's threshold) from torch and from the ONNX Runtime session the worker
and the predictor use, compared pixel by pixel, and each engine's median time (one thread).
BENCHMARKS.md, section 2, fifth session.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    import torch

    from inference.lungs import LungFinder, lung_input
    from inference.preprocessing import load_grayscale

    p = argparse.ArgumentParser(prog="python -m benchmarks.lung_engines")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "cxr3")
    p.add_argument("--every", type=int, default=3)
    p.add_argument("--limit", type=int, default=300)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    eager, onnx = LungFinder.load(), LungFinder.load()
    onnx.use_onnxruntime(threads=1)
    threshold = float(eager.metadata.get("threshold", 0.5))
    files = sorted(f for f in args.data.rglob("*") if f.suffix.lower() in (".png", ".jpg", ".jpeg"))
    files = files[:: args.every][: args.limit]
    films = pixels = 0
    times: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
    for path in files:
        gray = np.asarray(load_grayscale(path.read_bytes()), dtype=np.uint8)
        x = lung_input(gray, size=eager.input_size).unsqueeze(0)
        masks = []
        for name, finder in (("torch", eager), ("onnxruntime", onnx)):
            t0 = time.perf_counter()
            masks.append(torch.sigmoid(finder.logits(x))[0, 0].numpy() > threshold)
            times[name].append(time.perf_counter() - t0)
        differ = int((masks[0] != masks[1]).sum())
        films, pixels = films + (differ > 0), pixels + differ
    print(f"{len(files)} films of {args.data}: {films} with any mask pixel different ({pixels} px)")
    for name, values in times.items():
        print(f"{name}: {1000 * np.median(values):.1f} ms per film (median, one thread)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
