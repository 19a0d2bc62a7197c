"""A whole deployment of real processes for fault-injection tests, on free ports.

Each test gets its own PostgreSQL database (cloned from a migrated template in a cluster this
session starts with ``initdb``/``pg_ctl`` in a temporary directory), its own ``redis-server``,
and starts the portal's processes (gunicorn, ``celery worker``, ``celery beat``) as the
deployment does. Nothing here touches the shared PostgreSQL, Redis or RabbitMQ.

The worker runs the real model with heatmaps off (the tests are about the plumbing).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .stack import (
    PG_BIN,
    REPO_ROOT,
    TEMPLATE_DB,
    Deployment,
    PostgresCluster,
    RedisServer,
    free_port,
)


# --- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ops_postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of our own (free port, temporary directory) with a migrated template."""
    if PG_BIN is None or shutil.which("redis-server") is None:
        pytest.fail("PostgreSQL server binaries and redis-server are needed (see .ci/run)")
    root = Path(tempfile.mkdtemp(prefix="portal-ops-pg-"))
    os.chmod(root, 0o755)
    cluster = PostgresCluster(root=root, port=free_port())
    cluster.init()
    cluster.start()
    try:
        cluster.sql("postgres", f"CREATE DATABASE {TEMPLATE_DB}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
        env.update(DATABASE_URL=cluster.url(TEMPLATE_DB), DJANGO_SETTINGS_MODULE="portal.settings")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=REPO_ROOT, env=env, check=True, timeout=300,
        )  # fmt: skip
        cluster.sql(
            TEMPLATE_DB,
            "INSERT INTO screening_region (code, name, is_active) VALUES ('NORTH', 'North', true)",
        )
        cluster.sql(
            TEMPLATE_DB,
            "INSERT INTO screening_region (code, name, is_active, parent_id) "
            "SELECT 'NORTH-01', 'Riverside', true, id FROM screening_region WHERE code = 'NORTH'",
        )
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def deployment(ops_postgres, tmp_path) -> Iterator[Callable[..., Deployment]]:
    """``deployment(appendonly=True, media_root=None)``: a fresh database and Redis per call."""
    made: list[Deployment] = []

    def make(*, appendonly: bool = True, media_root: Path | None = None, **extra_env) -> Deployment:
        dbname = f"ops_{uuid.uuid4().hex[:10]}"
        ops_postgres.sql("postgres", f"CREATE DATABASE {dbname} TEMPLATE {TEMPLATE_DB}")
        redis_server = RedisServer(
            root=tmp_path / f"redis-{dbname}", port=free_port(), appendonly=appendonly
        )
        redis_server.start()
        media = media_root or tmp_path / f"media-{dbname}"
        media.mkdir(parents=True, exist_ok=True)
        logs = tmp_path / f"logs-{dbname}"
        logs.mkdir()
        d = Deployment(
            pg=ops_postgres,
            dbname=dbname,
            redis=redis_server,
            media_root=media,
            log_dir=logs,
            extra_env={k: str(v) for k, v in extra_env.items()},
        )
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()
        d.redis.kill()
        with contextlib.suppress(Exception):
            ops_postgres.sql("postgres", f"DROP DATABASE IF EXISTS {d.dbname} WITH (FORCE)")


@pytest.fixture(scope="session")
def xray_png() -> bytes:
    """A small real radiograph that passes the chest X-ray gate (the normal sample as PNG)."""
    import io

    from PIL import Image

    with Image.open(REPO_ROOT / "tests" / "samples" / "normal.jpg") as image:
        gray = image.convert("L")
    gray.thumbnail((320, 320))
    buffer = io.BytesIO()
    gray.save(buffer, format="PNG")
    return buffer.getvalue()
