"""RabbitMQ as the broker (quorum queues), on the machine's rabbitmq-server, in a vhost of its
own that the test creates and deletes (nothing else on the broker is touched)."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from .stack import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def rabbit_vhost():
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmq-server is needed (see .ci/run)")
    vhost = f"portal-ops-{uuid.uuid4().hex[:8]}"
    assert _rabbitmqctl("add_vhost", vhost).returncode == 0
    assert _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*").returncode == 0
    yield vhost
    _rabbitmqctl("delete_vhost", vhost)


def test_with_rabbitmq_quorum_queues_a_killed_worker_loses_nothing(
    deployment, xray_png, rabbit_vhost
):
    d = deployment()
    broker = {
        "CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{rabbit_vhost}",
        "HEALTH_REDIS_URL": d.redis.url,  # heartbeats stay in Redis
    }
    d.extra_env.update(broker)
    d.start_web()
    ids = d.upload_many(xray_png, 20)  # publishing declares the queues

    def listing() -> str:
        args = ("list_queues", "-p", rabbit_vhost, "name", "type", "durable", "messages")
        return _rabbitmqctl(*args).stdout

    # the broker's message counts are refreshed every few seconds
    wait_until(
        lambda: "inference\tquorum\ttrue\t20" in listing(),
        timeout=30,
        what="20 messages",
        on_fail=listing,
    )

    worker = d.start_worker()
    queues = _rabbitmqctl("list_queues", "-p", rabbit_vhost, "name", "type").stdout
    assert "maintenance\tquorum" in queues, queues
    d.start_beat()
    wait_until(
        lambda: d.statuses().get("completed", 0) >= 2,
        timeout=150,
        what="first completions",
        on_fail=d.logs_tail,
    )
    worker.kill()  # SIGKILL: RabbitMQ hands its unacknowledged message back at once
    assert d.statuses().get("completed", 0) < 20
    d.start_worker(name="worker2")
    d.wait_all_completed(20, timeout=240)
    per = d.predictions_per_screening()
    assert {sid: per[sid] for sid in ids} == dict.fromkeys(ids, 1)
    d.no_500_in_web_log()
