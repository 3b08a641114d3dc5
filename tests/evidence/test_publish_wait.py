"""End to end: `cshub publish --wait` as a province prints the hub's signed answer to each row it sent, from the
real worker's verdicts through the real log service (secured broker, every process with its own principal)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.evidence.conftest import ROOT, Notaries, make_hub

pytestmark = pytest.mark.integration

HEADER = ("report_id,revision,withdrawn,province,period,produced_at,county_code,community_code,community_name,"
          "area_type,households,floor_area_m2,status,functions,old_community_renovation,operating_mode\n")


def row(report_id: str, revision: int, area: str = "860.50") -> str:
    return (f"{report_id},{revision},false,320000,2025-03,2025-03-31T10:00:00+08:00,320102,320102001001,"
            f"玄武区梅园新村社区,URBAN,2400,{area},OPERATING,ELDERLY_CARE;FITNESS,true,GOVERNMENT\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the worker exited with {proc.returncode}: {log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                if json.loads(resp.read()).get("ready"):
                    return
        except (OSError, ValueError, urllib.error.HTTPError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"the worker was not ready in {timeout_s} s: {log.read_text()[-3000:]}")


def test_publish_wait_prints_the_hubs_answer_to_every_row(kafka_bootstrap: str, tmp_path: Path) -> None:
    hub = make_hub(kafka_bootstrap, tmp_path)
    names = hub.names
    port = free_port()
    worker_log = tmp_path / "worker.log"
    worker_env = {**os.environ, "CSHUB_BOOTSTRAP": hub.bootstrap, "CSHUB_TOPIC_ROOT": names.root,
                  "CSHUB_APP_ID": f"{names.root}-worker", "CSHUB_DATA_DIR": str(tmp_path / "worker"),
                  "CSHUB_STORE": "memory", "CSHUB_WEB_PORT": str(port), "CSHUB_PARTITIONS": "1",
                  "CSHUB_REQUIRE_SIGNATURES": "true"}  # against the session's public-keys file (tests/conftest.py)
    with worker_log.open("wb") as out:  # the worker as the admin: it may create Faust's own topics
        worker = subprocess.Popen([sys.executable, "-m", "cshub.cli", "worker"], env=worker_env, cwd=ROOT,
                                  stdout=out, stderr=subprocess.STDOUT)
    notaries = Notaries(hub)
    try:
        notaries.wait_ready(notaries.start("notary"))
        wait_healthy(port, worker, worker_log)
        first = tmp_path / "first.csv"
        first.write_text(HEADER + row("JS-W-1", 1) + row("JS-W-2", 2), encoding="utf-8")
        again = tmp_path / "again.csv"  # the same revision again, and an older revision of JS-W-2
        again.write_text(HEADER + row("JS-W-1", 1) + row("JS-W-2", 1) + row("JS-W-3", 1), encoding="utf-8")
        secrets = hub.cluster.secrets.folder
        env = {**os.environ, "CSHUB_PRINCIPAL": "province-320000",
               "CSHUB_PASSWORD_FILE": str(hub.cluster.secrets.path("province-320000")),
               "CSHUB_SIGNING_KEY_FILE": str(secrets / "province-320000.key")}

        def publish(path: Path) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "cshub.cli", "publish", "--province", "320000", "--kind",
                                   "facility", str(path), "--wait", "60", "--bootstrap", hub.bootstrap,
                                   "--topic-root", names.root, "--public-keys-file", str(hub.keys_file),
                                   "--no-progress"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
                                  check=False)

        shown = publish(first)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "row 2  JS-W-1 rev 1: accepted" in shown.stdout and "row 3  JS-W-2 rev 2: accepted" in shown.stdout
        shown = publish(again)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "row 2  JS-W-1 rev 1: duplicate" in shown.stdout
        assert "row 3  JS-W-2 rev 1: superseded" in shown.stdout
        assert "row 4  JS-W-3 rev 1: accepted" in shown.stdout
        assert "every receipt's hub signature verified" in shown.stdout
        # a file that passes every local check, signed with another province's key (a system set up with the
        # wrong key file): the worker's signature rule rejects it, and the clerk is told which rule
        env["CSHUB_SIGNING_KEY_FILE"] = str(secrets / "province-110000.key")
        forged = tmp_path / "forged.csv"
        forged.write_text(HEADER + row("JS-W-4", 1), encoding="utf-8")
        shown = publish(forged)
        assert shown.returncode == 1, shown.stdout + shown.stderr  # the hub rejected a row
        assert "row 2  JS-W-4: rejected: wrong_signer (signed by 110000" in shown.stdout, shown.stdout
    finally:
        notaries.stop_all()
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
