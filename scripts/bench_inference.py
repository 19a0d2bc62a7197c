"""Per-screening model time of one worker process, for capacity planning (DEPLOYMENT.md).

    .venv/bin/python -m scripts.bench_inference [--repeat 20] [--device cpu] [--threads N]

Times what the worker does per screening after the claim: decode the stored PNG, preprocess,
forward pass, and (with heatmaps, the default deployment) Grad-CAM for the predicted class and
COVID-19 mapped back onto the image. Prints a table: median and 95th percentile milliseconds and
the screenings per hour one worker process sustains at the median. The database and broker
round trips (a few ms) are not included.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "samples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()

    import torch
    from PIL import Image

    from inference.decode import decode_image
    from inference.predictor import Predictor

    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = Predictor.load(device=args.device)
    stored = []
    for name in ("covid", "normal", "pneumonia"):
        buffer = io.BytesIO()
        with Image.open(SAMPLES / f"{name}.jpg") as image:
            image.convert("L").save(buffer, format="PNG")
        stored.append(buffer.getvalue())

    modes = {"prediction only": (), "prediction + 2 heatmaps": ("predicted", "covid")}
    print(f"device={args.device} torch_threads={torch.get_num_threads()} repeat={args.repeat}")
    print("| mode | median ms | p95 ms | screenings/hour/process |")
    print("| --- | ---: | ---: | ---: |")
    for mode, explain in modes.items():
        predictor.analyse(decode_image(stored[0]), explain=explain)  # warm-up
        times = []
        for i in range(args.repeat):
            started = time.perf_counter()
            predictor.analyse(decode_image(stored[i % len(stored)]), explain=explain)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        median = statistics.median(times)
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(f"| {mode} | {median:.0f} | {p95:.0f} | {3_600_000 / median:,.0f} |")


if __name__ == "__main__":
    main()
