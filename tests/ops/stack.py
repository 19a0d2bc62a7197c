"""The processes of a deployment, started for real on free ports (used by conftest.py's
fixtures and the fault tests): a PostgreSQL cluster, redis-server, gunicorn, celery worker and
beat, with helpers to upload and to read the database."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_BIN = (
    Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1])
    if Path("/usr/lib/postgresql").is_dir()
    else None
)
TEMPLATE_DB = "ops_template"

# The fault tests' clock: short deadlines so that recovery happens within seconds. They keep the
# relations the system checks demand (visibility > hard limit + wait; processing deadline > hard
# limit), like a real deployment.
FAST_TIMINGS = {
    "CELERY_TASK_SOFT_TIME_LIMIT": "8",
    "CELERY_TASK_TIME_LIMIT": "10",
    "EXPECTED_QUEUE_WAIT_SECONDS": "5",
    "CELERY_VISIBILITY_TIMEOUT": "20",
    "SWEEP_INTERVAL_SECONDS": "2",
    "SWEEP_PENDING_AFTER_SECONDS": "30",
    "SWEEP_PROCESSING_AFTER_SECONDS": "12",
    "WORKER_HEARTBEAT_SECONDS": "1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], object], *, timeout: float, what: str, on_fail=None):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = on_fail() if on_fail else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{detail}")
        time.sleep(0.3)


# --- PostgreSQL -------------------------------------------------------------------------------------
def _as_postgres_user() -> list[str]:
    """initdb/postgres refuse to run as root: run them as the ``postgres`` system user then."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PostgresCluster:
    root: Path
    port: int
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "postgres.log"

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*_as_postgres_user(), *args], check=check, capture_output=True, text=True, timeout=120
        )

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.root, pg.pw_uid, pg.pw_gid)
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.datadir), "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.log), "-w",
            "-t", "60", "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=60",
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop", check=False
        )

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres"):
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname)
        conn.autocommit = True
        return conn

    def sql(self, dbname: str, query: str, params=()) -> list[tuple]:
        with contextlib.closing(self.connect(dbname)) as conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []


# --- processes --------------------------------------------------------------------------------------
@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"({self.name}: no log)"
        return f"--- {self.name} ---\n" + "\n".join(text)

    def kill(self) -> None:
        """SIGKILL the whole process group (a container being killed: no clean shutdown)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


def spawn(name: str, command: list[str], *, env: dict, log_dir: Path) -> Proc:
    log = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: kill() takes the children too
        )
    return Proc(name=name, popen=popen, log=log)


@dataclass
class RedisServer:
    root: Path
    port: int
    appendonly: bool
    proc: Proc | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.root), "--save", "", "--daemonize", "no",
            "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
            "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        self.proc = spawn(f"redis-{self.port}", command, env=dict(os.environ), log_dir=self.root)
        client = self.client()
        wait_until(lambda: _pings(client), timeout=20, what="redis", on_fail=self.proc.tail)

    def client(self):
        import redis

        return redis.Redis(port=self.port, socket_timeout=2)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False


@dataclass
class Deployment:
    """One test's portal: database, Redis, uploads folder and the processes it started."""

    pg: PostgresCluster
    dbname: str
    redis: RedisServer
    media_root: Path
    log_dir: Path
    extra_env: dict = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    web_port: int | None = None

    # environment of every portal process, as docker-compose would set it
    def env(self, **overrides: str) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "CELERY_", "PYTEST", "PROMETHEUS_"))
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "portal.settings",
                "DATABASE_URL": self.pg.url(self.dbname),
                "CELERY_BROKER_URL": self.redis.url,
                "MEDIA_ROOT": str(self.media_root),
                "DJANGO_SECRET_KEY": "ops-test-" + "x" * 40,
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "API_SUBMISSION_RATE": "100000/hour",
                "INFERENCE_DEVICE": "cpu",
                "INFERENCE_HEATMAPS": "false",
                "LOG_FORMAT": "json",
                "PYTHONUNBUFFERED": "1",
                **FAST_TIMINGS,
                **self.extra_env,
                **overrides,
            }
        )
        return env

    def start_worker(self, name: str = "worker", **env: str) -> Proc:
        command = [
            sys.executable, "-m", "celery", "-A", "portal", "worker",
            "-Q", "inference,maintenance", "--pool", "prefork", "--concurrency", "1",
            "--loglevel", "INFO", "--without-gossip", "--without-mingle",
            "--hostname", f"{name}-{uuid.uuid4().hex[:6]}@%h",
        ]  # fmt: skip
        proc = spawn(name, command, env=self.env(**env), log_dir=self.log_dir)
        self.procs.append(proc)
        wait_until(
            lambda: "ready." in proc.log.read_text(errors="replace") or not proc.alive(),
            timeout=150,
            what=f"{name} to start",
            on_fail=proc.tail,
        )
        assert proc.alive(), proc.tail()
        return proc

    def start_beat(self, **env: str) -> Proc:
        schedule = self.log_dir / f"beat-{uuid.uuid4().hex[:6]}"
        command = [
            sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO",
            "--schedule", str(schedule),
        ]  # fmt: skip
        proc = spawn("beat", command, env=self.env(**env), log_dir=self.log_dir)
        self.procs.append(proc)
        return proc

    def start_web(self, **env: str) -> Proc:
        self.web_port = free_port()
        command = [
            sys.executable, "-m", "gunicorn", "portal.wsgi:application",
            "--bind", f"127.0.0.1:{self.web_port}", "--workers", "2", "--timeout", "60",
        ]  # fmt: skip
        proc = spawn("web", command, env=self.env(**env), log_dir=self.log_dir)
        self.procs.append(proc)
        wait_until(
            lambda: _answers(f"{self.base_url}/healthz") or not proc.alive(),
            timeout=90,
            what="gunicorn",
            on_fail=proc.tail,
        )
        assert proc.alive(), proc.tail()
        return proc

    def manage(self, *args: str, **env: str) -> str:
        """``manage.py ARGS`` in this deployment's environment; returns its stdout."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    # --- patient actions ------------------------------------------------------------------------
    def upload(self, image: bytes, **fields: str) -> requests.Response:
        data = {
            "region": "NORTH-01",
            "national_id": fields.pop("national_id", f"OPS{uuid.uuid4().hex[:10].upper()}"),
            "full_name": fields.pop("full_name", "Ops Test Patient"),
            "date_of_birth": "1980-01-01",
            "sex": "F",
            "phone": "+441234567890",
            "consent": "true",
            **fields,
        }
        return requests.post(
            f"{self.base_url}/api/v1/screenings/",
            data=data,
            files={"image": ("xray.png", image, "image/png")},
            timeout=60,
        )

    def upload_many(self, image: bytes, count: int) -> list[str]:
        """``count`` accepted uploads, sent a few at a time (gunicorn runs two workers)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=4) as pool:
            responses = list(pool.map(lambda _: self.upload(image), range(count)))
        for response in responses:
            assert response.status_code == 201, response.text
        return [r.json()["id"] for r in responses]

    # --- what is in the database ----------------------------------------------------------------
    def sql(self, query: str, params=()) -> list[tuple]:
        return self.pg.sql(self.dbname, query, params)

    def statuses(self) -> dict[str, int]:
        return dict(self.sql("SELECT status, count(*) FROM screening_screening GROUP BY status"))

    def predictions_per_screening(self) -> dict[str, int]:
        rows = self.sql(
            "SELECT s.id::text, count(p.screening_id) FROM screening_screening s "
            "LEFT JOIN screening_prediction p ON p.screening_id = s.id GROUP BY s.id"
        )
        return dict(rows)

    def wait_all_completed(self, expected: int, *, timeout: float) -> None:
        wait_until(
            lambda: self.statuses().get("completed", 0) == expected,
            timeout=timeout,
            what=f"{expected} completed screenings (now {self.statuses()})",
            on_fail=self.logs_tail,
        )

    def logs_tail(self) -> str:
        return "\n".join(p.tail() for p in self.procs)

    def no_500_in_web_log(self) -> None:
        for proc in self.procs:
            if proc.name == "web":
                assert not re.search(
                    r'"status_code":\s*500|Internal Server Error', proc.log.read_text()
                ), proc.tail()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
