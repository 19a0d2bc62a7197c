"""Triage, search and dashboard queries on a national-scale database (generated with COPY).

    python -m benchmarks.national generate --rows 10000000      # creates portal_national
    python -m benchmarks.national measure --repeat 30 --explain var/bench/plans.md
    python -m benchmarks.national drop

``generate`` creates its own database (``--db``, default ``portal_national``, on the server of
``--server``), builds the schema with the portal's migrations, drops the secondary indexes and
constraints, streams the rows in with ``COPY FROM STDIN`` (no ORM), rebuilds the indexes and
constraints, then ``VACUUM ANALYZE``. The distributions:

- 50 provinces x 10 districts; district sizes log-normal (the largest ~15x the median).
- screenings over two years, three epidemic waves; 96.8 % completed, 1 % failed, 0.2 % rejected,
  the newest ~2 % of the last day still received/queued/processing.
- COVID-19 probability: a mixture (72 % near 0, 18 % in between, 10 % near 1); the other two
  classes share the rest; priority from the shipped model's thresholds.
- reviews: 99.5 % of completed screenings older than 3 days, fewer for recent ones (the
  backlog), 6 % with an earlier, superseded decision; one clinician per district.
- patients screened 1-4 times (shared national IDs), references unique.

``measure`` points Django at that database and runs the portal's own selectors (the SQL the
pages and the API run) as a district clinician, a province clinician and a superuser: triage
first page and page 100 (offset and keyset), each filter, the detail page's queries, search by
reference and national ID, and dashboard aggregations; p50/p95 over ``--repeat`` runs, and
``EXPLAIN (ANALYZE, BUFFERS)`` of each query with ``--explain``.

``rollup`` migrates the dashboard's tables into that database, times the rollup's backfill
(``--no-backfill``: skip it) and its periodic refresh after N changed screenings (rolled back).
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from inference.metadata import priority_band

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
TABLES = ("screening_screening", "screening_prediction", "screening_review")
PROVINCES, DISTRICTS_PER_PROVINCE = 50, 10
CHUNK = 100_000
NOW = datetime.datetime(2026, 12, 1, 6, 0, tzinfo=datetime.UTC)
SPAN_DAYS = 730
FIRST = ["Amina", "Jonas", "Maria", "Chen", "Olu", "Sofia", "Ivan", "Lea", "Noah", "Zara"]
LAST = ["Okafor", "Schmidt", "Garcia", "Wang", "Mensah", "Rossi", "Petrov", "Dubois", "Khan"]


def db_url(server: str, db: str) -> str:
    return f"{server.rstrip('/')}/{db}"


def connect(url: str):
    import psycopg2

    return psycopg2.connect(url)


# --------------------------------------------------------------------------- schema
def create_database(server: str, db: str) -> None:
    conn = connect(db_url(server, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
        if cur.fetchone():
            raise SystemExit(f"database {db} exists; run `drop` first")
        cur.execute(f'CREATE DATABASE "{db}"')
    conn.close()


def drop_database(server: str, db: str) -> None:
    conn = connect(db_url(server, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    conn.close()


def migrate(url: str) -> None:
    import subprocess

    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def drop_secondary(cur) -> tuple[list[str], list[str]]:
    """Drop the tables' constraints and indexes; return the SQL that recreates them, in order."""
    cur.execute(
        """SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
           FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s)""",
        (list(TABLES),),
    )
    constraints = cur.fetchall()
    order = {"p": 0, "u": 1, "c": 2, "f": 3}
    recreate_constraints = [
        f'ALTER TABLE {t} ADD CONSTRAINT "{name}" {definition}'
        for t, name, _kind, definition in sorted(constraints, key=lambda c: order.get(c[2], 9))
    ]
    names = {c[1] for c in constraints}
    cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", (list(TABLES),)
    )
    indexes = [(n, d) for n, d in cur.fetchall() if n not in names]
    for t, name, _kind, _ in sorted(constraints, key=lambda c: -order.get(c[2], 9)):
        cur.execute(f'ALTER TABLE {t} DROP CONSTRAINT IF EXISTS "{name}" CASCADE')
    for name, _ in indexes:
        cur.execute(f'DROP INDEX IF EXISTS "{name}"')
    return recreate_constraints, [d.replace(" CONCURRENTLY", "") for _, d in indexes]


def columns(cur, table: str) -> list[tuple[str, str, bool]]:
    cur.execute(
        """SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns
           WHERE table_name = %s ORDER BY ordinal_position""",
        (table,),
    )
    return cur.fetchall()


# --------------------------------------------------------------------------- data
def reference(n: np.ndarray) -> list[str]:
    """Unique CXR-XXXX-XXXX references: an invertible scramble of the row number in base 30."""
    space = len(REFERENCE_ALPHABET) ** 8
    scrambled = (n.astype(np.int64) * 48_271_007 + 12_345) % space
    digits = []
    for _ in range(8):
        digits.append(scrambled % 30)
        scrambled //= 30
    chars = np.array(list(REFERENCE_ALPHABET))
    cols = [chars[d] for d in digits]
    return [f"CXR-{a}{b}{c}{d}-{e}{f}{g}{h}" for a, b, c, d, e, f, g, h in zip(*cols, strict=True)]


def wave_times(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds before NOW: three epidemic waves plus a floor, newest densest."""
    days = np.concatenate(
        [
            rng.normal(600, 40, n // 4),
            rng.normal(380, 30, n // 4),
            rng.normal(120, 35, n // 3),
            rng.uniform(0, SPAN_DAYS, n - n // 4 - n // 4 - n // 3),
        ]
    )
    rng.shuffle(days)
    days = np.clip(days, 0.0004, SPAN_DAYS)
    return days * 86_400.0


def ts(seconds_before_now: float) -> str:
    return (NOW - datetime.timedelta(seconds=float(seconds_before_now))).isoformat()


class Generator:
    """Row text for COPY, chunk by chunk (so memory stays flat at any --rows)."""

    def __init__(self, rows: int, seed: int, thresholds: tuple[float, float]) -> None:
        self.rows = rows
        self.rng = np.random.default_rng(seed)
        weights = self.rng.lognormal(0.0, 0.9, PROVINCES * DISTRICTS_PER_PROVINCE)
        self.district_p = weights / weights.sum()
        self.high, self.medium = thresholds

    def screenings(
        self, district_ids: list[int], clinicians: list[int], cols: list[tuple[str, str, bool]]
    ) -> Iterator[tuple[str, str, str]]:
        """Yield (screening line, prediction line or "", review lines) per row."""
        rng = self.rng
        for start in range(0, self.rows, CHUNK):
            n = min(CHUNK, self.rows - start)
            idx = np.arange(start, start + n)
            district = rng.choice(len(district_ids), size=n, p=self.district_p)
            age = wave_times(rng, n)
            status = np.where(
                rng.random(n) < 0.01,
                "failed",
                np.where(rng.random(n) < 0.002, "rejected", "completed"),
            ).astype(object)
            recent = age < 3_600 * 2
            pending = recent & (rng.random(n) < 0.5)
            status[pending] = rng.choice(["received", "queued", "processing"], size=pending.sum())
            mix = rng.random(n)
            covid = np.where(
                mix < 0.72,
                rng.beta(0.3, 40, n),
                np.where(mix < 0.90, rng.beta(2, 5, n), rng.beta(20, 1.5, n)),
            )
            share = rng.beta(2, 2, n)
            normal = (1 - covid) * share
            pneumonia = 1 - covid - normal
            review_p = np.where(age > 3 * 86_400, 0.995, np.clip(age / (3 * 86_400), 0.05, 0.9))
            reviewed = (status == "completed") & (rng.random(n) < review_p)
            reviewed |= (status == "failed") & (rng.random(n) < 0.8)
            twice = reviewed & (rng.random(n) < 0.06)
            refs = reference(idx)
            patient = (idx * 2_654_435_761) % max(1, int(self.rows / 2.2))
            ids = [uuid.UUID(bytes=b) for b in _uuid_bytes(rng, n)]
            birth = rng.integers(0, 80 * 365, n)
            for i in range(n):
                sid = str(ids[i])
                st = status[i]
                submitted = age[i]
                done = st in ("completed", "failed", "rejected")
                values = {
                    "id": sid,
                    "reference": refs[i],
                    "region_id": str(district_ids[district[i]]),
                    "national_id": f"N{patient[i]:010d}",
                    "full_name": f"{FIRST[patient[i] % 10]} {LAST[(patient[i] // 10) % 9]}",
                    "date_of_birth": (
                        datetime.date(1940, 1, 1) + datetime.timedelta(int(birth[i]))
                    ).isoformat(),
                    "sex": "FMX"[patient[i] % 3],
                    "phone": f"+4420{patient[i] % 10_000_000:08d}",
                    "symptoms": "",
                    "consent_at": ts(submitted),
                    "image": f"radiographs/{sid.replace('-', '')}.png",
                    "image_width": "2048",
                    "image_height": "2048",
                    "source_format": "png",
                    "dicom_file": "",
                    "quality_flags": "[]",
                    "intake_notes": "[]",
                    "status": st,
                    "status_reason": "The image could not be read." if st == "failed" else "",
                    "attempts": "0" if st in ("received", "queued") else "1",
                    "claimed_by": "",
                    "access_token_hash": "0" * 64,
                    "submitted_at": ts(submitted),
                    "queued_at": ts(submitted - 0.2),
                    "processing_started_at": "\\N"
                    if st in ("received", "queued")
                    else ts(submitted - 1),
                    "completed_at": ts(submitted - 2) if done else "\\N",
                    "updated_at": ts(max(0.0, submitted - 3)),
                    "triage_score": f"{covid[i]:.6f}" if st == "completed" else "\\N",
                    "is_reviewed": "t" if reviewed[i] else "f",
                }
                line = "\t".join(values.get(c) or _default(t, nullable) for c, t, nullable in cols)
                pred = ""
                if st == "completed":
                    c, nm = float(f"{covid[i]:.6f}"), float(f"{normal[i]:.6f}")
                    p = pneumonia[i]
                    label = (
                        "covid" if c >= nm and c >= p else ("normal" if nm >= p else "pneumonia")
                    )
                    band = priority_band(c, high=self.high, medium=self.medium)
                    pred = (
                        f"{sid}\t{c:.6f}\t{nm:.6f}\t{max(0.0, 1 - c - nm):.6f}\t"
                        f"{label}\tdarkcovidnet@1f4c59277808\t{'f' * 64}\t{band}\t9\t{ts(submitted - 2)}"
                    )
                reviews = ""
                if reviewed[i]:
                    who = clinicians[district[i]]
                    when = max(0.0, submitted - 3_600 * rng.random() * 30)
                    decision = "covid_suspected" if covid[i] > 0.5 else "no_finding"
                    if twice[i]:
                        reviews += f"{who}\t{sid}\tunusable\t\tf\t{ts(when)}\n"
                        when = max(0.0, when - 600)
                    reviews += f"{who}\t{sid}\t{decision}\t\tt\t{ts(when)}\n"
                yield line, pred, reviews


def _uuid_bytes(rng: np.random.Generator, n: int) -> list[bytes]:
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return [bytes(r) for r in raw]


def _default(data_type: str, nullable: bool) -> str:
    """A value for a column this generator does not know (another change added it)."""
    if nullable:
        return "\\N"
    if data_type in ("integer", "smallint", "bigint", "double precision", "real", "numeric"):
        return "0"
    if data_type == "boolean":
        return "f"
    if data_type in ("jsonb", "json"):
        return "[]"
    if "timestamp" in data_type:
        return NOW.isoformat()
    return ""


class Pipe(io.RawIOBase):
    """A file-like object that COPY reads from, filled from an iterator of text lines."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while len(self.buffer) < len(b):
            try:
                self.buffer += next(self.lines).encode()
            except StopIteration:
                break
        n = min(len(b), len(self.buffer))
        b[:n] = self.buffer[:n]
        self.buffer = self.buffer[n:]
        return n


def generate(args: argparse.Namespace) -> None:
    url = db_url(args.server, args.db)
    started = time.perf_counter()
    create_database(args.server, args.db)
    migrate(url)
    print(f"schema ready ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    conn = connect(url)
    cur = conn.cursor()
    regions, districts = [], []
    for p in range(PROVINCES):
        regions.append(f"{p + 1}\tP{p + 1:02d}\tProvince {p + 1}\t\\N\tt")
        for d in range(DISTRICTS_PER_PROVINCE):
            rid = PROVINCES + 1 + p * DISTRICTS_PER_PROVINCE + d
            districts.append(rid)
            regions.append(f"{rid}\tP{p + 1:02d}-{d + 1:02d}\tDistrict {p + 1}.{d + 1}\t{p + 1}\tt")
    cur.copy_expert(
        "COPY screening_region (id, code, name, parent_id, is_active) FROM STDIN",
        io.StringIO("\n".join(regions) + "\n"),
    )
    users = [
        f"{i + 1}\t!\tf\tclinician{i + 1:03d}\t\t\t\tf\tt\t{NOW.isoformat()}"
        for i in range(len(districts))
    ]
    cur.copy_expert(
        "COPY auth_user (id, password, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined) FROM STDIN",
        io.StringIO("\n".join(users) + "\n"),
    )
    cur.execute("SELECT setval('screening_region_id_seq', 1000), setval('auth_user_id_seq', 1000)")
    conn.commit()
    recreate_constraints, recreate_indexes = drop_secondary(cur)
    conn.commit()
    cols = columns(cur, "screening_screening")
    pred_cols = "screening_id, prob_covid, prob_normal, prob_pneumonia, label, model_version, "
    pred_cols += "weights_sha256, priority, inference_ms, created_at"
    review_cols = "clinician_id, screening_id, decision, note, is_current, created_at"
    gen = Generator(args.rows, args.seed, thresholds=(0.023662518358725435, 0.0013856226386217833))
    # Predictions and reviews go to spool files while screenings stream (one pass of the RNG).
    spool = Path(args.spool)
    spool.mkdir(parents=True, exist_ok=True)
    pred_path, review_path = spool / "prediction.tsv", spool / "review.tsv"
    with pred_path.open("w") as pf, review_path.open("w") as rf:

        def screening_lines() -> Iterator[str]:
            for i, (line, pred, reviews) in enumerate(
                gen.screenings(districts, list(range(1, len(districts) + 1)), cols)
            ):
                if pred:
                    pf.write(pred + "\n")
                if reviews:
                    rf.write(reviews)
                if i % 1_000_000 == 0 and i:
                    print(
                        f"  {i:,} screenings ({time.perf_counter() - started:.0f} s)",
                        file=sys.stderr,
                    )
                yield line + "\n"

        names = ", ".join(c for c, _, _ in cols)
        cur.copy_expert(f"COPY screening_screening ({names}) FROM STDIN", Pipe(screening_lines()))
    conn.commit()
    print(f"screenings loaded ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    with pred_path.open() as fh:
        cur.copy_expert(f"COPY screening_prediction ({pred_cols}) FROM STDIN", fh)
    with review_path.open() as fh:
        cur.copy_expert(f"COPY screening_review ({review_cols}) FROM STDIN", fh)
    conn.commit()
    pred_path.unlink()
    review_path.unlink()
    print(
        f"predictions and reviews loaded ({time.perf_counter() - started:.0f} s)", file=sys.stderr
    )
    cur.execute("SET maintenance_work_mem = '1GB'")
    for sql in recreate_constraints + recreate_indexes:
        t = time.perf_counter()
        cur.execute(sql)
        conn.commit()
        print(f"  {time.perf_counter() - t:6.1f} s  {sql[:110]}", file=sys.stderr)
    cur.execute("SELECT setval('screening_review_id_seq', (SELECT max(id) FROM screening_review))")
    conn.commit()
    conn.autocommit = True
    cur.execute("VACUUM ANALYZE")
    cur.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
    size = cur.fetchone()[0]
    conn.close()
    print(
        f"generated {args.rows:,} screenings into {args.db} in {time.perf_counter() - started:.0f} s"
        f" ({size})"
    )


# --------------------------------------------------------------------------- measuring
def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def bench_regions():
    """(the district with the most screenings, the first province): the benchmark clinicians'
    regions (``queries`` here, ``benchmarks.dashboard_before``)."""
    from django.db.models import Count

    from screening.models import Region

    busiest = (
        Region.objects.filter(parent__isnull=False)
        .annotate(n=Count("screenings"))
        .order_by("-n")
        .first()
    )
    province = Region.objects.filter(parent__isnull=True).order_by("id").first()
    return busiest, province


def queries() -> list[tuple[str, Callable[[], object], Callable[[], object] | None]]:
    """(name, run, queryset-for-EXPLAIN) for everything measured."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count, Q

    from screening import selectors
    from screening.models import ClinicianProfile, Region, Screening

    User = get_user_model()
    district = Region.objects.filter(parent__isnull=False).order_by("id").first()
    busiest, province = bench_regions()

    def clinician(username: str, region: Region):
        user, _ = User.objects.get_or_create(username=username)
        profile, _ = ClinicianProfile.objects.get_or_create(user=user)
        profile.regions.set([region])
        return user

    d_user = clinician("bench.district", busiest)
    p_user = clinician("bench.province", province)
    admin, _ = User.objects.get_or_create(username="bench.admin", defaults={"is_superuser": True})
    page = 25
    F = selectors.TriageFilters
    today = datetime.date(2026, 11, 30)
    in_busiest = Screening.objects.filter(region=busiest).order_by("submitted_at")
    sample = in_busiest.values("id", "reference", "national_id", "full_name")[
        in_busiest.count() // 2
    ]
    out: list = []

    def cursor_at(user, filters: F, pages: int) -> str | None:
        """The "Next" link's cursor after ``pages`` pages, walked once (untimed)."""
        token = None
        for _ in range(pages):
            found = selectors.triage_page_from_tokens(
                user=user, filters=filters, after=token, before=None, size=page
            )
            if found.next_cursor is None:
                return None
            token = found.next_cursor
        return token

    # What the triage page and GET /api/v1/triage/ run per request (selectors.TriagePage: the
    # user's regions, the page by keyset, the count capped at 1,000), first page and page 101
    # reached by the "Next" cursors, and back one page by "Previous"; plus the page's pending list.
    for who, user in (("district", d_user), ("province", p_user), ("national", admin)):
        for fname, filters in (
            ("default (completed)", F(status="completed")),
            ("unreviewed", F(status="completed", reviewed=False)),
            ("reviewed", F(status="completed", reviewed=True)),
            ("failed", F(status="failed")),
            ("last 7 days", F(status="completed", date_from=today - datetime.timedelta(days=7))),
            ("one district", F(status="completed", region=busiest.code)),
        ):
            if who == "district" and fname == "one district":
                continue
            out.append(
                (
                    f"triage {who}: {fname}, page 1",
                    lambda u=user, f=filters: selectors.triage_page_from_tokens(
                        user=u, filters=f, after=None, before=None, size=page
                    ),
                    None,
                )
            )
            token = cursor_at(user, filters, 100)
            if token is None:
                continue
            out.append(
                (
                    f"triage {who}: {fname}, page 101 by cursor",
                    lambda u=user, f=filters, t=token: selectors.triage_page_from_tokens(
                        user=u, filters=f, after=t, before=None, size=page
                    ),
                    None,
                )
            )
            back = selectors.triage_page_from_tokens(
                user=user, filters=filters, after=token, before=None, size=page
            ).previous_cursor
            out.append(
                (
                    f"triage {who}: {fname}, page 100 by previous",
                    lambda u=user, f=filters, t=back: selectors.triage_page_from_tokens(
                        user=u, filters=f, after=None, before=t, size=page
                    ),
                    None,
                )
            )
        out.append(
            (
                f"triage {who}: pending list (same page)",
                lambda u=user: list(selectors.pending_list_for_user(user=u)),
                None,
            )
        )
    sid = sample["id"]
    out.append(
        (
            "detail: screening_get_for_user",
            lambda: selectors.screening_get_for_user(user=d_user, screening_id=sid),
            None,
        )
    )
    detail = selectors.screening_get_for_user(user=d_user, screening_id=sid)
    out.append(
        ("detail: review history", lambda: list(selectors.review_history(screening=detail)), None)
    )
    from screening import people

    # people.screening_search as the search page and GET /api/v1/search/ call it: a reference
    # (whole, its first 4 characters, lower case without dashes), a whole national ID (in lower
    # case: the upper-case index), a name. Names here come from 10 x 9 first/last names, so a
    # last name matches 1 screening in 9: far less selective than real names.
    reference = sample["reference"]
    # A clinician of three provinces (33 regions): where one query over them walked the national
    # time index for a name nobody has (a province's read the region + name index instead).
    p3_user = clinician("bench.provinces3", province)
    p3_user.clinician_profile.regions.set(
        Region.objects.filter(parent__isnull=True).order_by("id")[:3]
    )
    for label, text in (
        ("search: reference", reference),
        ("search: reference prefix CXR-XXXX", reference[:8]),
        ("search: reference typed 'xxxxxxxx'", reference[4:].replace("-", "").lower()),
        ("search: national ID", sample["national_id"].lower()),
        ("search: name (last name, 1 in 9 rows)", sample["full_name"].split()[-1].lower()),
        ("search: name (first and last)", sample["full_name"]),
        # Names nobody has: the rare-name end, where a walk newest first would read everything;
        # the second of common trigrams (two first names), as a real rare name mostly is.
        ("search: name (no match)", "Zyxwvut"),
        ("search: name (no match, common trigrams)", "Amina Chen"),
    ):
        for who, user in (
            ("district", d_user),
            ("province", p_user),
            ("three provinces", p3_user),
            ("national", admin),
        ):
            out.append(
                (
                    f"{label} ({who})",
                    lambda u=user, t=text: people.screening_search(user=u, query=t),
                    None,
                )
            )
    # Dashboard-like aggregations on the screenings, written for this benchmark (the dashboard
    # app itself reads its rollup: the "dashboard app" entries below).
    week = NOW - datetime.timedelta(days=7)
    dash = {
        "dashboard: status counts, last 7 days": lambda: list(
            Screening.objects.filter(submitted_at__gte=week)
            .values("status")
            .annotate(n=Count("id"))
        ),
        "dashboard: unreviewed backlog per district": lambda: list(
            Screening.objects.filter(is_reviewed=False, status="completed")
            .values("region_id")
            .annotate(n=Count("id"), high=Count("id", filter=Q(triage_score__gte=0.5)))
        ),
        "dashboard: priority per province, last 7 days": lambda: list(
            Screening.objects.filter(submitted_at__gte=week, status="completed")
            .values("region__parent_id", "prediction__priority")
            .annotate(n=Count("id"))
        ),
        "dashboard: district's daily positives, 30 days": lambda: list(
            Screening.objects.filter(
                region=busiest, submitted_at__gte=NOW - datetime.timedelta(days=30)
            )
            .extra(select={"day": "date(submitted_at)"})
            .values("day")
            .annotate(n=Count("id"), pos=Count("id", filter=Q(triage_score__gte=0.5)))
        ),
    }
    out += [(k, v, None) for k, v in dash.items()]
    try:  # the dashboard app's own selectors, where it is installed
        from dashboard import selectors as board
    except ImportError:
        board = None
    if board is not None:
        # A clinician of two districts of one province: the national view combines their rows
        # (medians from the merged histograms), the one path without a ready-made row.
        pair = Region.objects.filter(parent_id=busiest.parent_id).exclude(pk=busiest.pk).first()
        two_user = clinician("bench.two-districts", busiest)
        two_user.clinician_profile.regions.add(pair)
        for who, user, code in (
            ("national", admin, None),
            ("province", p_user, province.code),
            ("district", d_user, busiest.code),
            ("two districts", two_user, None),
        ):
            for months in (1, 12):
                scope = board.scope_build(region_code=code, months=months, user=user)
                out.append(
                    (
                        f"dashboard app: overview {who}, {months} month(s)",
                        lambda u=user, sc=scope: board.dashboard_overview(user=u, scope=sc),
                        None,
                    )
                )
                out.append(
                    (
                        f"dashboard app: model watch {who}, {months} month(s)",
                        lambda u=user, sc=scope: board.model_watch(user=u, scope=sc),
                        None,
                    )
                )
    _ = district
    return out


def measure(args: argparse.Namespace) -> None:
    django_setup(db_url(args.server, args.db))
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    items = queries()
    rows = []
    plans: list[str] = []
    for name, run, explain in items:
        if args.only and not any(s in name for s in args.only):
            continue
        if args.skip and any(s in name for s in args.skip):
            continue
        run()  # warm the cache once: the numbers are for a warm server
        times = []
        with CaptureQueriesContext(connection) as ctx:
            run()
        captured = list(ctx.captured_queries)  # read now: reset_queries() below empties it
        n_queries = len(captured)
        for _ in range(args.repeat):
            t = time.perf_counter()
            run()
            times.append((time.perf_counter() - t) * 1000)
        reset_queries()
        rows.append((name, statistics.median(times), percentile(times, 95), n_queries))
        print(f"  {name}: p95 {rows[-1][2]:.1f} ms", file=sys.stderr)
        if args.explain and explain is not None:
            plan = explain().explain(analyze=True, buffers=True)
            plans.append(f"### {name}\n\n```\n{plan}\n```\n")
        elif args.explain and name.startswith(("search", "dashboard", "detail", "triage")):
            # The triage page's queries after the region lookups (the page, the capped count);
            # for the others the last query.
            last = captured[-2:] if name.startswith("triage") else captured[-1:]
            for n, query in enumerate(last, 1):
                sql = query["sql"]
                if not sql.lstrip().upper().startswith("SELECT"):
                    continue
                with connection.cursor() as cur:
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                    plan = "\n".join(r[0] for r in cur.fetchall())
                which = f"query {n} of the last {len(last)}" if len(last) > 1 else "last query"
                plans.append(f"### {name} ({which})\n\n```\n{plan}\n```\n")
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM screening_screening")
        total = cur.fetchone()[0]
        cur.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cur.fetchone()[0]
    print(
        f"{total:,} screenings, database {size}, {args.repeat} runs each, warm cache; "
        f"1-min load average {os.getloadavg()[0]:.2f}\n"
    )
    print("| query | p50 ms | p95 ms | SQL queries |\n| --- | ---: | ---: | ---: |")
    for name, p50, p95, nq in rows:
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {nq} |")
    if args.explain:
        Path(args.explain).parent.mkdir(parents=True, exist_ok=True)
        Path(args.explain).write_text("\n".join(plans))


def rollup(args: argparse.Namespace) -> None:
    """The dashboard's rollup at this scale: its tables migrated, the backfill timed, then the
    periodic refresh with nothing changed and after N changed screenings (each change and its
    refresh rolled back, so the database is left as generated plus the backfilled rollup)."""
    django_setup(db_url(args.server, args.db))
    from django.core.management import call_command
    from django.db import connection, transaction

    from dashboard import rollups
    from dashboard.models import RegionMonthRollup

    t = time.perf_counter()
    call_command("migrate", "dashboard", verbosity=0)  # its tables and watermark indexes
    print(
        f"migrate dashboard (tables, 2 indexes built CONCURRENTLY): {time.perf_counter() - t:.1f} s"
    )
    if not args.no_backfill:
        months: list = []
        result = rollups.rollup_backfill(progress=months.append)
        print(
            f"backfill: {len(months)} months, {RegionMonthRollup.objects.count():,} rows in "
            f"{result.seconds:.1f} s; 1-min load average {os.getloadavg()[0]:.2f}\n"
        )
    print(
        "| refresh | changed screenings | pairs rebuilt | p50 s | max s |\n| --- | ---: | ---: | ---: | ---: |"
    )
    # (where, order) of the screenings marked changed: the newest (new uploads, results), or
    # spread over the last 30 days (reviews of older cases: every province's month rebuilt).
    changes = {
        "nothing changed": None,
        "the newest": ("TRUE", "submitted_at DESC"),
        "random, last 30 days": ("submitted_at >= %(month_ago)s", "random()"),
    }
    for label, change in changes.items():
        for n in (0,) if change is None else (100, 1_000, 10_000):
            times, pairs = [], 0
            for _ in range(max(1, args.repeat)):
                with transaction.atomic():
                    if change is not None:
                        with connection.cursor() as cur:
                            cur.execute(
                                "UPDATE screening_screening SET updated_at = now() WHERE id IN "
                                f"(SELECT id FROM screening_screening WHERE {change[0]} "
                                f"ORDER BY {change[1]} LIMIT %(n)s)",
                                {"n": n, "month_ago": NOW - datetime.timedelta(days=30)},
                            )
                    r = rollups.rollup_refresh()
                    times.append(r.seconds)
                    pairs = r.pairs
                    transaction.set_rollback(True)
            print(
                f"| {label} | {n:,} | {pairs} | {statistics.median(times):.2f} | {max(times):.2f} |"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("generate", "measure", "rollup", "drop"))
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL, no db")
    parser.add_argument("--db", default="portal_national")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=20201)
    parser.add_argument("--spool", default="/tmp/national-spool", help="temporary TSV files")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--only", nargs="*", default=None, help="substrings of query names")
    parser.add_argument("--skip", nargs="*", default=None, help="substrings of names to skip")
    parser.add_argument("--explain", default=None, help="write EXPLAIN (ANALYZE, BUFFERS) here")
    parser.add_argument(
        "--no-backfill", action="store_true", help="rollup: refreshes only (already backfilled)"
    )
    args = parser.parse_args(argv)
    if args.command == "generate":
        generate(args)
    elif args.command == "measure":
        measure(args)
    elif args.command == "rollup":
        rollup(args)
    else:
        drop_database(args.server, args.db)
        print(f"dropped {args.db}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
