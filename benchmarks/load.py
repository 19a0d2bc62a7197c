"""Load benchmark of the whole stack on this machine: gunicorn + Celery + Redis + PostgreSQL.

    python -m benchmarks.load --rates 1 2 4 8 --seconds 20
    python -m benchmarks.load --rates 2 --seconds 30 --web-workers 2 --worker-concurrency 2

Starts its own Redis (a free port, data in a temporary directory), its own PostgreSQL database
(``--db``, dropped at the end) on the shared server, gunicorn (``--web-workers``) and a Celery
worker (``--worker-concurrency``) on free loopback ports, all stopped at the end. Then, for each
offered rate, simulated patients upload a 512 px radiograph through ``POST /api/v1/screenings/``
on a fixed schedule (open loop: an upload is not delayed by a slow previous one) for
``--seconds``, while a clinician polls ``GET /api/v1/triage/`` every ``--poll`` seconds; the step
then waits for its screenings to finish (at most ``--drain`` seconds) before the next rate.

Where the time goes comes from the rows' own timestamps: web (the upload request), queue wait
(``queued_at`` -> ``processing_started_at``), processing (-> ``completed_at``; of which the
model's ``inference_ms``). Upload-to-result is ``completed_at`` minus the moment the client
started sending. Bounded: at most ``--max-uploads`` in all; loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "samples" / "normal.jpg"
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


# --------------------------------------------------------------------------- the stack
class Stack:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
        self.procs: list[subprocess.Popen] = []
        self.redis_port = free_port()
        self.web_port = free_port()
        self.db_url = f"{args.server.rstrip('/')}/{args.db}"
        self.env = {
            **os.environ,
            "DATABASE_URL": self.db_url,
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CACHE_URL": f"redis://127.0.0.1:{self.redis_port}/1",
            "MEDIA_ROOT": str(self.tmp / "media"),
            "DJANGO_SECRET_KEY": "load-benchmark-" + uuid.uuid4().hex,
            "DJANGO_DEBUG": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "API_SUBMISSION_RATE": "1000000/hour",
            "API_STATUS_RATE": "1000000/hour",
            "LOG_LEVEL": "WARNING",
            "DEMO_PASSWORD": "load-benchmark-password",
            "INFERENCE_PRELOAD": "true",
        }
        if args.omp_threads:
            # Threads per worker process: more threads than cores per process, times several
            # processes, makes OpenMP's barriers spin against each other (BENCHMARKS.md).
            self.env["OMP_NUM_THREADS"] = str(args.omp_threads)

    def _start(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def manage(self, *argv: str, stdin: str | None = None) -> str:
        out = subprocess.run(
            [PYTHON, "manage.py", *argv],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout

    def up(self) -> str:
        """Start everything; return a clinician's API token."""
        self._start(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.tmp),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        import psycopg2

        conn = psycopg2.connect(f"{self.args.server.rstrip('/')}/postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.args.db}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{self.args.db}"')
        conn.close()
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("seed_demo")
        token = self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model\n"
            "from portal.security.tokens import api_token_create\n"
            "u = get_user_model().objects.get(username='clinician.north01')\n"
            "print(api_token_create(user=u, name='load benchmark')[1])",
        ).strip()
        self._start(
            "web",
            [
                PYTHON,
                "-m",
                "gunicorn",
                "portal.wsgi:application",
                "-b",
                f"127.0.0.1:{self.web_port}",
                "-w",
                str(self.args.web_workers),
                "--access-logfile",
                "/dev/null",
            ],
        )
        # --worker-nice: the inference workers below the web tier in the CPU's queue, as a host
        # that runs both should (DEPLOYMENT.md): uploads first, results as the CPU allows.
        nice = ["nice", "-n", str(self.args.worker_nice)] if self.args.worker_nice else []
        self._start(
            "worker",
            [
                *nice,
                PYTHON,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-Q",
                "inference",
                "-c",
                str(self.args.worker_concurrency),
                "-l",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
        )
        deadline = time.time() + 180
        while time.time() < deadline:
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return token.splitlines()[-1]
            time.sleep(0.5)
        raise RuntimeError(f"gunicorn did not come up; see {self.tmp / 'web.log'}")

    def down(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        import psycopg2

        conn = psycopg2.connect(f"{self.args.server.rstrip('/')}/postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.args.db}" WITH (FORCE)')
        conn.close()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------- clients
def multipart(fields: dict[str, str], image: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="cxr.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass
class Upload:
    sent_at: float  # wall clock, same host as the database
    status: int = 0
    seconds: float = 0.0
    screening_id: str | None = None
    error: str = ""


@dataclass
class Step:
    rate: float
    uploads: list[Upload] = field(default_factory=list)
    triage_ms: list[float] = field(default_factory=list)
    triage_errors: int = 0


def upload_once(port: int, n: int, image: bytes) -> Upload:
    body, content_type = multipart(
        {
            "region": "NORTH-01",
            "national_id": f"LB{n:08d}",
            "full_name": "Load Benchmark",
            "date_of_birth": "1980-01-01",
            "sex": "F",
            "phone": "+2348012345678",
            "consent": "true",
        },
        image,
    )
    up = Upload(sent_at=time.time())
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request(
            "POST", "/api/v1/screenings/", body=body, headers={"Content-Type": content_type}
        )
        response = conn.getresponse()
        data = response.read()
        up.status = response.status
        if response.status == 201:
            up.screening_id = json.loads(data)["id"]
        else:
            up.error = data[:200].decode(errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        up.error = f"{type(exc).__name__}: {exc}"
    up.seconds = time.perf_counter() - started
    return up


def poll_triage(port: int, token: str, step: Step, stop: threading.Event, every: float) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/v1/triage/", headers={"Authorization": f"Token {token}"})
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                step.triage_ms.append((time.perf_counter() - started) * 1000)
            else:
                step.triage_errors += 1
        except (OSError, http.client.HTTPException):
            step.triage_errors += 1
        stop.wait(every)


def run_step(args, port: int, token: str, rate: float, first: int, image: bytes) -> Step:
    step = Step(rate=rate)
    n = min(int(rate * args.seconds), args.max_uploads - first)
    stop = threading.Event()
    poller = threading.Thread(target=poll_triage, args=(port, token, step, stop, args.poll))
    poller.start()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        futures = []
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(upload_once, port, first + i, image))
        step.uploads = [f.result() for f in futures]
    stop.set()
    poller.join()
    return step


def timings(db_url: str, ids: list[str], drain: float) -> dict[str, tuple]:
    """Wait until the screenings are finished (or ``drain`` s); their timestamps, as epochs."""
    import psycopg2

    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    deadline = time.time() + drain
    rows: dict[str, tuple] = {}
    with conn.cursor() as cur:
        while True:
            cur.execute(
                """SELECT s.id::text, s.status, extract(epoch FROM s.submitted_at),
                          extract(epoch FROM s.queued_at), extract(epoch FROM s.processing_started_at),
                          extract(epoch FROM s.completed_at), p.inference_ms
                   FROM screening_screening s LEFT JOIN screening_prediction p
                   ON p.screening_id = s.id WHERE s.id::text = ANY(%s)""",
                (ids,),
            )
            rows = {r[0]: r[1:] for r in cur.fetchall()}
            done = sum(1 for r in rows.values() if r[0] in ("completed", "failed", "rejected"))
            if done == len(ids) or time.time() > deadline:
                break
            time.sleep(0.5)
    conn.close()
    return rows


def summarise(step: Step, rows: dict[str, tuple], seconds: float) -> dict:
    ok = [u for u in step.uploads if u.status == 201]
    errors = [u for u in step.uploads if u.status != 201]
    by_id = {u.screening_id: u for u in ok}
    e2e, queue, processing, model, finished_at = [], [], [], [], []
    completed = failed = 0
    for sid, (status, _submitted, queued, started, done, inference_ms) in rows.items():
        if status == "completed":
            completed += 1
            e2e.append(float(done) - by_id[sid].sent_at)
            finished_at.append(float(done))
            if queued and started:
                queue.append(float(started) - float(queued))
            if started:
                processing.append(float(done) - float(started))
            if inference_ms is not None:
                model.append(inference_ms / 1000)
        elif status in ("failed", "rejected"):
            failed += 1
    first_sent = min((u.sent_at for u in step.uploads), default=0.0)
    span = (max(finished_at) - first_sent) if finished_at else float("nan")
    return {
        "offered_per_s": step.rate,
        "uploads": len(step.uploads),
        "accepted_per_s": len(ok) / seconds,
        "upload_errors": len(errors),
        "error_examples": sorted({u.error[:120] for u in errors})[:3],
        "upload_p50_ms": pct([u.seconds * 1000 for u in ok], 50),
        "upload_p95_ms": pct([u.seconds * 1000 for u in ok], 95),
        "completed": completed,
        "failed": failed,
        "unfinished": len(ok) - completed - failed,
        "results_per_s": completed / span if span == span and span > 0 else float("nan"),
        "e2e_p50_s": pct(e2e, 50),
        "e2e_p95_s": pct(e2e, 95),
        "e2e_p99_s": pct(e2e, 99),
        "queue_p50_s": pct(queue, 50),
        "queue_p95_s": pct(queue, 95),
        "processing_p50_s": pct(processing, 50),
        "model_p50_s": pct(model, 50),
        "triage_p95_ms": pct(step.triage_ms, 95),
        "triage_polls": len(step.triage_ms),
        "triage_errors": step.triage_errors,
    }


def markdown(results: list[dict], args) -> str:
    lines = [
        f"gunicorn {args.web_workers} workers, Celery concurrency {args.worker_concurrency}, "
        f"OMP_NUM_THREADS {args.omp_threads or 'unset'}, worker nice {args.worker_nice}, "
        f"{args.seconds} s per rate, clinician polling every {args.poll} s; load average "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        "| offered /s | accepted /s | upload p50/p95 ms | errors | results /s | "
        "upload->result p50/p95/p99 s | queue wait p50/p95 s | processing p50 s | model p50 s | "
        "triage p95 ms | unfinished |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['offered_per_s']:g} | {r['accepted_per_s']:.1f} | "
            f"{r['upload_p50_ms']:.0f} / {r['upload_p95_ms']:.0f} | "
            f"{r['upload_errors'] + r['failed'] + r['triage_errors']} | {r['results_per_s']:.2f} | "
            f"{r['e2e_p50_s']:.2f} / {r['e2e_p95_s']:.2f} / {r['e2e_p99_s']:.2f} | "
            f"{r['queue_p50_s']:.2f} / {r['queue_p95_s']:.2f} | {r['processing_p50_s']:.3f} | "
            f"{r['model_p50_s']:.3f} | {r['triage_p95_ms']:.0f} | {r['unfinished']} |"
        )
    for r in results:
        for example in r["error_examples"]:
            lines.append(f"\nat {r['offered_per_s']:g}/s: {example}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", nargs="+", type=float, default=[1, 2, 4, 8])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each rate step")
    parser.add_argument("--drain", type=float, default=120.0, help="wait for results, at most")
    parser.add_argument("--max-uploads", type=int, default=600)
    parser.add_argument("--clients", type=int, default=16, help="concurrent upload connections")
    parser.add_argument("--poll", type=float, default=1.0, help="triage poll interval (s)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--omp-threads", type=int, default=0, help="OMP_NUM_THREADS (0: unset)")
    parser.add_argument("--worker-nice", type=int, default=0, help="run the workers at this nice")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="portal_load")
    parser.add_argument("--keep", action="store_true", help="keep the logs and media")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    image = SAMPLE.read_bytes()
    stack = Stack(args)
    results = []
    try:
        token = stack.up()
        # One screening first: the worker has loaded the model before anything is timed.
        warm = upload_once(stack.web_port, 99_999_999, image)
        if warm.status != 201:
            raise RuntimeError(f"warm-up upload failed: {warm.status} {warm.error}")
        timings(stack.db_url, [warm.screening_id], drain=180)
        sent = 0
        for rate in args.rates:
            if sent >= args.max_uploads:
                break
            step = run_step(args, stack.web_port, token, rate, sent, image)
            sent += len(step.uploads)
            ids = [u.screening_id for u in step.uploads if u.screening_id]
            rows = timings(stack.db_url, ids, drain=args.drain)
            results.append(summarise(step, rows, args.seconds))
            print(f"  {rate:g}/s: {json.dumps(results[-1])}", file=sys.stderr)
    finally:
        stack.down()
    print(markdown(results, args))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
