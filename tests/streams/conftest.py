"""Helpers for the worker tests: run `cshub worker` as a real subprocess, publish, read tables back."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from schemas import codec
from schemas.kafka_config import kafka_python_config

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerProcess:
    """`cshub worker` in a subprocess with CSHUB_* settings; SIGKILL is a real SIGKILL."""

    def __init__(self, bootstrap: str, root: str, data_dir: Path, log_path: Path, **extra: str) -> None:
        self.port = free_port()
        self.env = dict(os.environ, CSHUB_BOOTSTRAP=bootstrap, CSHUB_TOPIC_ROOT=root, CSHUB_APP_ID=f"{root}-worker",
                        CSHUB_DATA_DIR=str(data_dir), CSHUB_WEB_PORT=str(self.port), CSHUB_LOG_LEVEL="warning",
                        CSHUB_DEADLINE_INTERVAL_S="1")
        self.env.update(extra)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "cshub.cli", "worker"], env=self.env, cwd=ROOT,
                                     stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def health(self) -> dict[str, Any] | None:
        """The /health body (it answers 503 while not ready: still a body); None while nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 503 while not ready: still a JSON body (anything else: None)
            try:
                return json.loads(exc.read())
            except ValueError:
                return None
        except (OSError, ValueError):
            return None

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
            return json.loads(resp.read())

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            h = self.health()
            if h and h.get("ready"):
                return
            if not self.alive():
                raise AssertionError(f"worker exited with {self.proc.returncode}: {self.log_tail()}")
            time.sleep(0.3)
        raise AssertionError(f"worker not ready in {timeout_s} s: {self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    made: list[WorkerProcess] = []

    def make(bootstrap: str, root: str, **extra: str) -> WorkerProcess:
        w = WorkerProcess(bootstrap, root, tmp_path / f"data-{len(made)}", tmp_path / f"worker-{len(made)}.log",
                          **extra)
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()


def produce(bootstrap: str, records: list[tuple[str, bytes | None, bytes]]) -> list[tuple[str, int, int]]:
    """Send (topic, key, value) records; return (topic, partition, offset) of each, in order."""
    producer = KafkaProducer(**kafka_python_config(bootstrap, client_id="cshub-test"),
                             linger_ms=5, batch_size=1024 * 1024, acks="all")
    try:
        futures = [producer.send(t, key=k, value=v) for t, k, v in records]
        producer.flush(60)
        out = []
        for f in futures:
            md = f.get(30)
            out.append((md.topic, md.partition, md.offset))
        return out
    finally:
        producer.close(10)


def read_all(bootstrap: str, topic: str, timeout_s: float = 20) -> list[Any]:
    """Every record of a topic from the beginning to its current end."""
    return read_topics(bootstrap, [topic], timeout_s)


def read_topics(bootstrap: str, topics: list[str], timeout_s: float = 20, committed: bool = False) -> list[Any]:
    """Every record of these topics from the beginning to their current ends, through one consumer (`committed`:
    only what transactions committed, as for the log service's topics)."""
    consumer = KafkaConsumer(**kafka_python_config(bootstrap, client_id="cshub-test"),
                             enable_auto_commit=False, consumer_timeout_ms=2000, max_poll_records=10_000,
                             isolation_level="read_committed" if committed else "read_uncommitted")
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                out.extend(batch)
        return out
    finally:
        consumer.close()


def read_table(bootstrap: str, topic: str) -> dict[str, dict[str, Any]]:
    """A compacted table topic as {province: latest decoded row}."""
    rows: dict[str, dict[str, Any]] = {}
    for rec in read_all(bootstrap, topic):
        rows[rec.key.decode()] = codec.decode(rec.value).value
    return rows
