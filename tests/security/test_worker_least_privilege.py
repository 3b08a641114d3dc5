"""The whole hub with least privilege, on the secured broker: the admin creates the topics, the worker runs as
`hub-worker` (Faust and its raw ingress, with nothing but its role's ACLs), a province publishes as itself and a
ministry reads the national table it produced."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from connectors.security import apply_security
from schemas.topics import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "connectors" / "samples" / "facility_320000.csv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_of(hub, principal: str, names: TopicNames, app_id: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSHUB_")}
    env.update(CSHUB_BOOTSTRAP=hub.bootstrap, CSHUB_TOPIC_ROOT=names.root, CSHUB_APP_ID=app_id,
               CSHUB_PRINCIPAL=principal, CSHUB_PASSWORD_FILE=str(hub.store.path(principal)),
               # signatures required (the default): the worker checks each record against the public keys, a
               # province signs with its own key (tests/conftest.py made them beside the passwords)
               CSHUB_PUBLIC_KEYS_FILE=str(hub.store.folder / "public-keys.json"),
               CSHUB_SIGNING_KEY_FILE=str(hub.store.folder / f"{principal}.key"), **extra)
    return env


def cshub(env: dict[str, str], *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cshub.cli", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_worker_as_hub_worker_turns_a_provinces_reports_into_a_ministrys_table(secure_hub, tmp_path: Path) -> None:
    names = TopicNames(f"w{uuid.uuid4().hex[:8]}")
    app_id = f"{names.root}-worker"
    admin = secure_hub.cluster.admin_credentials()
    assert admin is not None
    apply_security(secure_hub.bootstrap, admin, secure_hub.store, secure_hub.everyone, names, app_id)

    created = cshub(env_of(secure_hub, "cshub-admin", names, app_id), "topics", "create")
    assert created.returncode == 0, created.stdout + created.stderr

    web = free_port()
    log = tmp_path / "worker.log"
    worker_env = env_of(secure_hub, "hub-worker", names, app_id, CSHUB_DATA_DIR=str(tmp_path / "state"),
                        CSHUB_WEB_PORT=str(web), CSHUB_INSTANCE_ID="w1")
    with log.open("wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "cshub.cli", "worker"], cwd=ROOT, env=worker_env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        published = cshub(env_of(secure_hub, "province-320000", names, app_id), "publish", "--province", "320000",
                          "--kind", "facility", str(SAMPLE), "--no-progress")
        assert published.returncode == 0, published.stdout + published.stderr

        ministry = env_of(secure_hub, "ministry-mca", names, app_id)
        deadline = time.monotonic() + 240
        rows: list[dict] = []
        while time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
            read = cshub(ministry, "subscribe", "national", "--table", "facilities", "--format", "jsonl")
            assert read.returncode == 0, read.stdout + read.stderr
            rows = [json.loads(line) for line in read.stdout.splitlines() if line.strip()]
            if any(r.get("province") == "320000" for r in rows):
                break
            time.sleep(2)
        assert any(r.get("province") == "320000" for r in rows), log.read_text(errors="replace")[-3000:]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
    text = log.read_text(errors="replace")
    assert "AuthorizationFailed" not in text and "Traceback" not in text, text[-3000:]
