"""The upload's CPU in the web process, and the border trim every stage shares, per film size.

    python -m benchmarks.intake                       # 512 and 2048 px, 15 repetitions
    python -m benchmarks.intake --sizes 512 1024 2048 --repeat 30

For every film (a repository sample re-encoded as PNG at each ``--sizes`` longest side; the
2048 px films are upscaled samples, smoother than real films, so PNG compresses them better),
the rows are timed in turn in each repetition, so other load on the machine falls on all alike:

- ``intake``: ``inference.pipeline.intake`` as the upload request runs it (decode, chest X-ray
  gate, re-encode for storage); ``decode``, ``gate``: its first two stages alone;
- ``PNG level N``: re-encoding the decoded film at zlib level N, and its size: 1 is what the
  portal stores (``STORED_PNG_COMPRESS_LEVEL``), 6 is PNG's default, used before;
- ``trim (std)``: the border trim's definition in float64 standard deviations (numpy, on a
  float64 copy of the film: ``trim_box``'s path for non-integer pixels), and
  ``trim``: ``inference.geometry.trim_box`` as shipped (the same box in integer arithmetic;
  checked equal here). Preprocessing and each heatmap compute it once per screening.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def trim_by_std(arr: np.ndarray) -> tuple[int, int, int, int]:
    """The border trim as it was: ``trim_box``'s float64 path (numpy ``std`` per row and
    column), the definition the integer arithmetic must match."""
    from inference.geometry import trim_box

    return trim_box(np.asarray(arr, dtype=np.float64))


def measure(args: argparse.Namespace) -> list[dict]:
    from benchmarks.worker import film_png, timed
    from inference.decode import decode_upload
    from inference.gate import assess_decoded
    from inference.geometry import trim_box
    from inference.pipeline import intake

    limit = 64 * 1024 * 1024
    films = []
    for size in args.sizes:
        for name in args.samples:
            data = film_png(name, size)
            decoded = decode_upload(data, max_bytes=limit)
            gray = np.asarray(decoded.image, dtype=np.uint8)
            if trim_box(gray) != trim_by_std(gray):
                raise RuntimeError(f"trim_box differs from its definition on {name} {size}")
            sizes = {}
            for level in args.levels:
                out = io.BytesIO()
                decoded.image.save(out, format="PNG", compress_level=level)
                sizes[level] = len(out.getvalue())
            films.append((f"{name} {gray.shape[1]}x{gray.shape[0]}", data, decoded, gray, sizes))

    def encode(image, level: int) -> None:
        image.save(io.BytesIO(), format="PNG", compress_level=level)

    results = []
    for label, data, decoded, gray, sizes in films:
        times: dict[str, list[float]] = {}
        for rep in range(args.repeat + 1):  # the first round warms up and is dropped
            row = {
                "intake": timed(lambda data=data: intake(data, max_bytes=limit)),
                "decode": timed(lambda data=data: decode_upload(data, max_bytes=limit)),
                "gate": timed(lambda d=decoded: assess_decoded(d)),
                "trim (std)": timed(lambda g=gray: trim_by_std(g)),
                "trim": timed(lambda g=gray: trim_box(g)),
            }
            for level in args.levels:
                row[f"PNG level {level}"] = timed(lambda i=decoded.image, lv=level: encode(i, lv))
            if rep:
                for key, value in row.items():
                    times.setdefault(key, []).append(value)
        results.append(
            {
                "film": label,
                "median_ms": {k: statistics.median(v) for k, v in times.items()},
                "png_bytes": sizes,
            }
        )
    return results


def markdown(results: list[dict], levels: list[int]) -> str:
    keys = ["intake", "decode", "gate", *(f"PNG level {lv}" for lv in levels), "trim (std)", "trim"]
    head = " | ".join(f"{k} ms" for k in keys)
    sizes = " | ".join(f"PNG bytes, level {lv}" for lv in levels)
    lines = [
        f"| film | {head} | {sizes} |",
        "| --- |" + " ---: |" * (len(keys) + len(levels)),
    ]
    for r in results:
        cells = " | ".join(f"{r['median_ms'][k]:.1f}" for k in keys)
        byte_cells = " | ".join(f"{r['png_bytes'][lv]:,}" for lv in levels)
        lines.append(f"| {r['film']} | {cells} | {byte_cells} |")
    lines.append("\nMedians over the repetitions, ms per film, one thread.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--sizes", nargs="+", type=int, default=[512, 2048])
    parser.add_argument("--samples", nargs="+", default=["covid", "normal"])
    parser.add_argument("--levels", nargs="+", type=int, default=[1, 6])
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(markdown(measure(args), args.levels))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
