"""The worker's cost per screening, side by side with ``Predictor.predict`` on the same image.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_b python -m benchmarks.worker
    python -m benchmarks.worker --repeat 20 --sizes 512 2048 --json var/bench/worker.json
    python -m benchmarks.worker --no-task     # the library stages only, no database
    python -m benchmarks.worker --batches 1 4 8 16 --sizes 512   # batching (BENCHMARKS.md 3)
    python -m benchmarks.worker --weights runs/other/darkcovidnet.safetensors   # another model

For every film (a repository sample re-encoded at each ``--sizes`` longest side, as the portal
stores it), the rows are taken in turn in each repetition, so other load on the machine falls on
all of them alike:

- ``predict``: ``Predictor.predict(stored PNG bytes)``: decode, preprocess, one forward pass:
  the model's own cost, the baseline of the ratio; once with the library's default (torch
  eager) and once with the worker's engine (``INFERENCE_ENGINE``, ``INFERENCE_THREADS``).
- ``task``: the Celery task as the worker runs it (``process_screening.apply``: claim, read and
  decode the stored PNG, ``Predictor.analyse`` with Grad-CAM for the predicted class and
  COVID-19, the heatmap PNGs, their files, the Prediction and Heatmap rows in one transaction)
  on a fresh queued screening each time, against a real database (a throwaway test database
  made from ``DATABASE_URL``; SQLite in memory without it).
- the stages inside it (``decode``, ``analyse``: the maps laid on the film at the stored
  heatmap size, and ``analyse (before)``: at the film's full size, as before issue 14's fix,
  ``lungs``: the worker's lung check: the U-Net and mask components, or, for a model that
  reads the lung cut, only the flags of the check its analysis already carries,
  ``render``: the heatmap PNGs), and
  ``render (before)``: the same maps through the RGBA ``optimize=True`` encoder that
  ``heatmap_png`` replaced, for comparison.

With ``--batches``, per screening at each batch size N: ``analyse_batch`` + the batched lung
check on N copies of the film (the library), and the task with ``INFERENCE_BATCH_SIZE=N`` on N
queued screenings (one task claims, analyses and stores all N; its time over N); and what
batching costs a lone screening: the task alone at ``INFERENCE_BATCH_SIZE`` 1 and 8 side by side,
and the look for other waiting screenings plus the collection window timed on their own.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "samples"
HEATMAP_CLASSES = ("predicted", "covid")


def film_png(name: str, longest_side: int) -> bytes:
    """A repository sample at ``longest_side`` px, as the portal stores films (8-bit grey PNG)."""
    image = Image.open(SAMPLES / f"{name}.jpg").convert("L")
    scale = longest_side / max(image.size)
    image = image.resize(
        (round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def legacy_heatmap_png(heat: np.ndarray) -> bytes:
    """The encoder ``heatmap_png`` replaced (RGBA truecolour, ``optimize=True``), for comparison."""
    from inference.gradcam import jet

    heat = np.nan_to_num(np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0))
    rgba = np.dstack([jet(heat), np.round(np.sqrt(heat) * 255).astype(np.uint8)])
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


# --------------------------------------------------------------------------- the task
class TaskRunner:
    """Django with a throwaway database: queued screenings in, ``process_screening`` timed."""

    def __init__(self, media_root: Path) -> None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        import django

        django.setup()
        import logging

        from django.conf import settings
        from django.test.utils import setup_databases, setup_test_environment

        logging.disable(logging.INFO)  # the task's per-screening log lines
        settings.MEDIA_ROOT = str(media_root)
        settings.CELERY_TASK_ALWAYS_EAGER = True  # nothing is published; the task is applied
        settings.INFERENCE_HEATMAPS = True
        setup_test_environment()
        # Its own throwaway database, not the test suite's test_<name>.
        if "sqlite" not in settings.DATABASES["default"]["ENGINE"]:  # SQLite: in memory
            test_name = f"bench_worker_{os.getpid()}"
            settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = test_name
        self._databases = setup_databases(verbosity=0, interactive=False)
        from screening.models import Region

        province = Region.objects.create(code="BENCH", name="Bench province")
        self.region = Region.objects.create(code="BENCH-01", name="Bench", parent=province)
        self.vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        self.heatmap_max_side = int(settings.HEATMAP_MAX_SIDE)
        self._n = 0

    def queued(self, png: bytes) -> str:
        from django.utils import timezone

        from screening import storage
        from screening.models import Screening

        self._n += 1
        now = timezone.now()
        screening = Screening.objects.create(
            reference=f"CXR-BNCH-{self._n:04d}",
            region=self.region,
            national_id=f"BENCH{self._n:06d}",
            full_name="Bench Patient",
            date_of_birth="1970-01-01",
            sex="F",
            phone="+441234567890",
            consent_at=now,
            submitted_at=now,
            queued_at=now,
            status="queued",
            image=storage.store_png(png),
            access_token_hash="0" * 64,
        )
        return str(screening.pk)

    def run(self, screening_id: str) -> float:
        from screening.tasks import process_screening

        started = time.perf_counter()
        result = process_screening.apply(args=[screening_id]).get()
        elapsed = (time.perf_counter() - started) * 1000
        if result != "completed":
            raise RuntimeError(f"the task returned {result!r}, not 'completed'")
        return elapsed

    def run_batch(self, screening_ids: list[str], batch_size: int) -> float:
        """One task with INFERENCE_BATCH_SIZE=batch_size on the first of ``screening_ids``."""
        from django.conf import settings

        from screening.models import Screening

        settings.INFERENCE_BATCH_SIZE = batch_size
        try:
            elapsed = self.run(screening_ids[0])
        finally:
            settings.INFERENCE_BATCH_SIZE = 1
        done = Screening.objects.filter(pk__in=screening_ids, status="completed").count()
        if done != len(screening_ids):
            raise RuntimeError(f"the batch completed {done} of {len(screening_ids)}")
        return elapsed

    def look_for_more(self, batch_size: int) -> float:
        """What batching adds to a lone screening: the look for others waiting (none are),
        timed on its own (no window is waited when nothing is waiting)."""
        from screening.services.batching import screenings_claim_more

        none = str(uuid.uuid4())  # no screening of that id: nothing is excluded
        return timed(
            lambda: screenings_claim_more(owner="bench", exclude=none, limit=batch_size - 1)
        )

    def heatmaps_stored(self, screening_id: str) -> int:
        from screening.models import Heatmap

        return Heatmap.objects.filter(prediction__screening_id=screening_id).count()

    def close(self) -> None:
        from django.db import connections
        from django.test.utils import teardown_databases, teardown_test_environment

        connections.close_all()
        teardown_databases(self._databases, verbosity=0)
        teardown_test_environment()


# --------------------------------------------------------------------------- measuring
def measure(args: argparse.Namespace) -> dict:
    import torch

    from inference.pipeline import load_predictor

    torch.set_num_threads(args.threads)
    weights = os.environ.get("INFERENCE_WEIGHTS") or None  # --weights, or the shipped model
    # The baseline: Predictor.predict as the library gives it (torch eager) ...
    eager = load_predictor(weights, device="cpu")
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as media:
        runner = None if args.no_task else TaskRunner(Path(media))
        if runner is not None:  # ... and the worker's own (its engine and threads, settings)
            from screening.ml import get_predictor

            predictor = get_predictor()
        else:
            predictor = load_predictor(
                weights, device="cpu", engine=args.engine, threads=args.threads
            )
        results: dict = {
            "threads": args.threads,
            "engine": predictor.serving_version,
            "torch": torch.__version__,
            "database": runner.vendor if runner else None,
            "load_before": os.getloadavg()[0],
            "films": [],
        }
        try:
            for size in args.sizes:
                for name in args.samples:
                    if args.batches:
                        row = batch_film(args, predictor, runner, name, size)
                    else:
                        row = one_film(args, eager, predictor, runner, name, size)
                    results["films"].append(row)
                    print(f"  {name} @ {size}px done", file=sys.stderr)
        finally:
            if runner is not None:
                runner.close()
    results["load_after"] = os.getloadavg()[0]
    return results


def one_film(args, eager, predictor, runner, name: str, size: int) -> dict:
    from inference.pipeline import (
        decode_stored,
        lung_check_flags,
        lung_quality_flags,
        render_heatmap,
    )

    lungs = worker_lungs(args, runner)
    max_side = heatmap_side(runner)
    png = film_png(name, size)
    image = decode_stored(png)
    analysis = predictor.analyse(image, explain=HEATMAP_CLASSES, heat_max_side=max_side)
    maps = list(analysis.heatmaps.values())
    times: dict[str, list[float]] = {
        k: []
        for k in (
            "predict (eager)",
            "predict",
            "task",
            "decode",
            "analyse",
            "analyse (before)",
            "lungs",
            "render",
            "render (before)",
        )
    }
    sizes = {"render": 0, "render (before)": 0}
    for maps_item in maps:
        sizes["render"] += len(render_heatmap(maps_item, max_side=max_side).png_bytes)
    # The legacy encoder is slow (~1 s per large map): fewer repetitions of it.
    legacy_every = max(1, args.repeat // 3)
    for rep in range(args.repeat + 1):  # the first round warms every path up and is dropped
        row: dict[str, float] = {}
        row["predict (eager)"] = timed(lambda: eager.predict(png))
        row["predict"] = timed(lambda: predictor.predict(png))
        if runner is not None:
            sid = runner.queued(png)
            row["task"] = runner.run(sid)
            if rep == 0 and runner.heatmaps_stored(sid) != len(maps):
                raise RuntimeError("the task stored a different number of heatmaps")
        row["decode"] = timed(lambda: decode_stored(png))
        row["analyse"] = timed(
            lambda: predictor.analyse(image, explain=HEATMAP_CLASSES, heat_max_side=max_side)
        )
        # Before: the maps laid on the film at its full size, shrunk later by render_heatmap.
        row["analyse (before)"] = timed(lambda: predictor.analyse(image, explain=HEATMAP_CLASSES))
        row["lungs"] = timed(
            lambda: (
                lung_quality_flags(lungs, [image])
                if analysis.lung_check is None
                else lung_check_flags(analysis.lung_check)
            )
        )
        row["render"] = timed(lambda: [render_heatmap(m, max_side=max_side) for m in maps])
        if rep % legacy_every == 0:

            def legacy() -> None:
                sizes["render (before)"] = sum(
                    len(legacy_heatmap_png(render_shape(m, max_side))) for m in maps
                )

            row["render (before)"] = timed(legacy)
        if rep:
            for key, value in row.items():
                times[key].append(value)
    out = {
        "film": name,
        "size": f"{image.width}x{image.height}",
        "heatmaps": len(maps),
        "heatmap_bytes": sizes,
        "median_ms": {k: statistics.median(v) for k, v in times.items() if v},
        "p95_ms": {k: float(np.percentile(v, 95)) for k, v in times.items() if v},
        "n": {k: len(v) for k, v in times.items()},
    }
    if "task" in out["median_ms"]:
        out["task_over_predict"] = out["median_ms"]["task"] / out["median_ms"]["predict"]
        out["task_over_eager"] = out["median_ms"]["task"] / out["median_ms"]["predict (eager)"]
    return out


def worker_lungs(args, runner):
    """The lung finder as the worker runs it (its engine from settings), or from ``--engine``."""
    if runner is not None:
        from screening.ml import get_lung_finder

        return get_lung_finder()
    from inference.pipeline import load_lung_finder

    return load_lung_finder(engine=args.engine, threads=args.threads)


def batch_film(args, predictor, runner, name: str, size: int) -> dict:
    """Per-screening ms at each batch size (library and task), and a lone screening's extra."""
    from inference.pipeline import decode_stored, lung_quality_flags

    lungs = worker_lungs(args, runner)
    png = film_png(name, size)
    image = decode_stored(png)
    times: dict[str, list[float]] = {}
    for rep in range(args.repeat + 1):  # the first round warms up and is dropped
        row: dict[str, float] = {}
        for n in args.batches:
            images = [image] * n

            def library(images=images) -> None:
                predictor.analyse_batch(
                    images, explain=HEATMAP_CLASSES, heat_max_side=heatmap_side(runner)
                )
                lung_quality_flags(lungs, images)

            row[f"library {n}"] = timed(library) / n
            if runner is not None:
                ids = [runner.queued(png) for _ in range(n)]
                row[f"task {n}"] = runner.run_batch(ids, n) / n
        if runner is not None:
            row["lone at 1"] = runner.run_batch([runner.queued(png)], 1)
            row["lone at 8"] = runner.run_batch([runner.queued(png)], 8)
            row["lone extra"] = runner.look_for_more(8)
        if rep:
            for key, value in row.items():
                times.setdefault(key, []).append(value)
    median = {k: statistics.median(v) for k, v in times.items()}
    return {
        "film": name,
        "size": f"{image.width}x{image.height}",
        "median_ms": median,
        "p95_ms": {k: float(np.percentile(v, 95)) for k, v in times.items()},
        "n": {k: len(v) for k, v in times.items()},
    }


def render_shape(heat: np.ndarray, max_side: int) -> np.ndarray:
    from inference.geometry import fit_within
    from inference.gradcam import resize_heat

    _, shape = fit_within(heat.shape, max_side)
    return heat if shape == heat.shape else resize_heat(heat, shape)


def heatmap_side(runner) -> int:
    """The worker's ``HEATMAP_MAX_SIDE`` (its settings when a task runner is up)."""
    return runner.heatmap_max_side if runner else 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--sizes", nargs="+", type=int, default=[512, 2048])
    parser.add_argument("--samples", nargs="+", default=["covid", "normal"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a worker process)")
    parser.add_argument("--no-task", action="store_true", help="library stages only, no Django")
    parser.add_argument("--engine", default="auto", help="engine without --task's settings")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--batches", nargs="+", type=int, default=None, help="e.g. 1 4 8 16")
    parser.add_argument(
        "--weights", type=Path, default=None, help="another weights file (its .json beside it)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.weights:  # the worker's predictor (settings) and the baseline read the same file
        os.environ["INFERENCE_WEIGHTS"] = str(args.weights.resolve())
    from benchmarks.worker_tables import batch_markdown, markdown

    results = measure(args)
    print(batch_markdown(results, args.batches) if args.batches else markdown(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
