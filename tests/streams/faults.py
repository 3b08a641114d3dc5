"""Helpers of the fault tests (test_faults*.py): the feeder, the witnesses, the kill patterns.

The tests are split over three files so that pytest-xdist (a file per process) runs them side by side.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from conftest import ROOT
from kafka import KafkaProducer
from test_worker import ITEMS, PROVINCES
from truth import expected

from schemas.kafka_config import kafka_python_config
from schemas.topics import TopicNames
from streams.loadgen import generate

RUNS = range(int(os.environ.get("CSHUB_FAULT_RUNS", "1")))
N_REPORTS = int(os.environ.get("CSHUB_FAULT_REPORTS", "20000"))


class Feeder:
    """Publishes the stream in chunks from a thread, so that faults land while records keep arriving."""

    def __init__(self, bootstrap: str, encoded: list[tuple[str, bytes, bytes]], chunk: int = 1000,
                 pause_s: float = 0.3) -> None:
        self.bootstrap = bootstrap
        self.chunks = [encoded[i:i + chunk] for i in range(0, len(encoded), chunk)]
        self.pause_s = pause_s
        self.sent_chunks = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            producer = KafkaProducer(**kafka_python_config(self.bootstrap, client_id="cshub-test"),
                                     linger_ms=5, batch_size=1024 * 1024,
                                     acks="all", retries=10, request_timeout_ms=30_000)
            try:
                for chunk in self.chunks:
                    futures = [producer.send(t, key=k, value=v) for t, k, v in chunk]
                    producer.flush(120)
                    for f in futures:
                        f.get(60)  # acknowledged, or the test fails: the truth assumes every record landed
                    self.sent_chunks += 1
                    time.sleep(self.pause_s)
            finally:
                producer.close(10)
        except BaseException as exc:  # surfaced by join()
            self.error = exc

    def start(self) -> Feeder:
        self.thread.start()
        return self

    def done(self) -> bool:
        return not self.thread.is_alive()

    def join(self, timeout_s: float = 300) -> None:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "the feed did not finish"
        if self.error is not None:
            raise AssertionError(f"the feed failed: {self.error!r}")


def free_ports(count: int, first: int = 19300, last: int = 19990) -> int:
    """The first of `count` consecutive loopback ports nobody listens on (a three-node cluster needs six)."""
    for base in range(first, last, count):
        if not any(port_answers(p) for p in range(base, base + count)):
            return base
    raise AssertionError(f"no {count} free ports in {first}..{last}")


def port_answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def audit_agrees(bootstrap: str, names: TopicNames, env: dict[str, str] | None = None) -> None:
    """`cshub audit replay` on this topic root exits 0 (no difference between its replay and the tables)."""
    proc = subprocess.run(
        [sys.executable, "-m", "cshub.cli", "audit", "replay", "--bootstrap", bootstrap, "--topic-root", names.root],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, f"audit replay exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def stream(seed: int, n: int = N_REPORTS) -> tuple[list[tuple[str, dict[str, Any]]], dict]:
    records = generate(n, tuple(PROVINCES), tuple(ITEMS), seed=seed)
    return records, expected(records, PROVINCES, ITEMS)


def wait_started(worker: Any, timeout_s: float = 30) -> None:
    """Until the worker's web server answers (it may still be recovering: not ready)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.health() is not None:
            return
        assert worker.alive(), f"worker exited: {worker.log_tail()}"
        time.sleep(0.1)
    raise AssertionError(f"worker web server not up in {timeout_s} s: {worker.log_tail()}")


def wait_status(worker: Any, wanted: set[str], timeout_s: float = 60) -> str:
    """Until /health says one of `wanted` (starting -> recovering -> ok); that status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = (worker.health() or {}).get("status")
        if status in wanted:
            return status
        assert worker.alive(), f"worker exited: {worker.log_tail()}"
        time.sleep(0.02)
    raise AssertionError(f"worker not {wanted} in {timeout_s} s: {worker.health()}")


def kill_often(worker: Any, feeder: Feeder, kills: int, rng: random.Random, log: Callable[[str], None]) -> None:
    """SIGKILL `kills` times, 1-4 s apart, every other kill within a second of the restart."""
    for n in range(1, kills + 1):
        if n % 2 == 0:
            time.sleep(rng.uniform(0.2, 1.0))  # just after the restart: often while still recovering
        else:
            time.sleep(rng.uniform(1.0, 4.0))
        worker.kill()
        log(f"kill {n} (feed at chunk {feeder.sent_chunks}/{len(feeder.chunks)})")
        worker.start()
        wait_started(worker)
