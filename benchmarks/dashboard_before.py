"""The dashboard's selectors before the rollup, on a generated national database: how long they
took and whether the rollup gives the same figures (BENCHMARKS.md, section 4, dashboard part).

    python -m benchmarks.dashboard_before time --db national --repeat 2
    python -m benchmarks.dashboard_before compare --db national --months 12 [--skip-national]

The old selectors are taken from git (commit ``--commit``, the last one before the rollup) into
a temporary package ``dashboard_before``; their relative imports of ``dashboard.stats`` and
``dashboard.models`` are made absolute (what they use there did not change). Needs ``benchmarks.national generate`` and
``benchmarks.national rollup`` (or ``manage.py dashboard_rollup --full``) on that database.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import national

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "6fe0648"
FILES = ("__init__.py", "common.py", "overview.py", "watch.py")


def old_selectors(commit: str):
    target = Path(tempfile.mkdtemp(prefix="dashboard-before-")) / "dashboard_before"
    (target / "selectors").mkdir(parents=True)
    (target / "__init__.py").write_text("")
    for name in FILES:
        text = subprocess.run(
            ["git", "show", f"{commit}:dashboard/selectors/{name}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (target / "selectors" / name).write_text(
            text.replace("from .. import", "from dashboard import").replace(
                "from ..models", "from dashboard.models"
            )
        )
    sys.path.insert(0, str(target.parent))
    from dashboard_before import selectors

    return selectors


def bench_users():
    from django.contrib.auth import get_user_model

    from benchmarks.national import bench_regions

    busiest, province = bench_regions()
    return busiest, province, get_user_model().objects


def run_time(old, repeat: int) -> None:
    busiest, province, users = bench_users()
    cases = (
        ("national", users.get(username="bench.admin"), None),
        ("province", users.get(username="bench.province"), province.code),
        ("district", users.get(username="bench.district"), busiest.code),
    )
    print("| query (before the rollup) | p50 ms | p95 ms |\n| --- | ---: | ---: |")
    for who, user, code in cases:
        for months in (1, 12):
            scope = old.scope_build(region_code=code, months=months, user=user)
            for name, fn in (
                ("overview", old.dashboard_overview),
                ("model watch", old.model_watch),
            ):
                fn(user=user, scope=scope)  # warm-up
                times = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    fn(user=user, scope=scope)
                    times.append((time.perf_counter() - t) * 1000)
                p50, p95 = statistics.median(times), national.percentile(times, 95)
                print(f"| {name} {who}, {months} month(s) | {p50:.0f} | {p95:.0f} |", flush=True)


def run_compare(old, months: int, skip_national: bool) -> None:
    from dashboard import selectors as new

    busiest, province, users = bench_users()
    admin = users.get(username="bench.admin")
    cases = [] if skip_national else [("national", admin, None)]
    cases += [
        ("province", users.get(username="bench.province"), province.code),
        ("drill-down", admin, province.code),
        ("district", users.get(username="bench.district"), None),
        ("two districts", users.get(username="bench.two-districts"), None),
    ]
    worst = 0.0
    for who, user, code in cases:
        rows = []
        for lib in (old, new):
            scope = lib.scope_build(region_code=code, months=months, user=user)
            rows.append(
                {
                    (s.region.code, r.month): (r, s.backlog_high_unreviewed)
                    for s in lib.dashboard_overview(user=user, scope=scope)
                    for r in s.rows
                }
            )
        a, b = rows
        assert a.keys() == b.keys(), (who, set(a) ^ set(b))
        for key, ((ra, ba), (rb, bb)) in ((k, (a[k], b[k])) for k in a):
            fields = ("submitted", "completed", "pending", "failed", "rejected", "predicted")
            assert [getattr(ra, f) for f in fields] + [ba] == [getattr(rb, f) for f in fields] + [
                bb
            ], (who, key)
            for f in ("median_result_seconds", "median_review_seconds"):
                x, y = getattr(ra, f), getattr(rb, f)
                assert (x is None) == (y is None), (who, key, f)
                if x:
                    worst = max(worst, abs(x - y) / x)
        print(f"{who}: {len(a)} rows identical (counts, shares, backlog)", flush=True)
    print(f"largest median difference: {100 * worst:.2f} %")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.dashboard_before")
    p.add_argument("command", choices=("time", "compare"))
    p.add_argument("--db", default="national")
    p.add_argument("--server", default=national.DEFAULT_SERVER)
    p.add_argument("--commit", default=BEFORE)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--skip-national", action="store_true")
    args = p.parse_args(argv)
    national.django_setup(national.db_url(args.server, args.db))
    old = old_selectors(args.commit)
    if args.command == "time":
        run_time(old, args.repeat)
    else:
        run_compare(old, args.months, args.skip_national)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
