"""A hub root of its own on the session's secured broker for the log service: ACLs of the principals these tests
log in as, the topic plan pre-created by the admin, the hub's notary key, and helpers to run `cshub notary`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from connectors.admin import ensure_topics
from connectors.kafka_io import make_consumer, read_to_end
from connectors.notary import ensure_notary_key
from connectors.security import apply_security
from core.signing import SigningKey
from deploy.local.broker import LocalCluster
from schemas.kafka_config import KafkaConnection, kafka_python_config
from schemas.principals import principals
from schemas.topics import TopicNames, TopicPlan

ROOT = Path(__file__).resolve().parents[2]
TEST_BROKER_HOME = ROOT / ".cshub" / "test-broker"  # tests/conftest.py's
PROVINCES = ("320000", "110000")
ORIGIN = "cshub.test/log"
VALUE_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def verdict(topic: str, offset: int, *, verdict: str = "accepted", report_id: str | None = None,
            revision: int | None = 1, reason: str = "", message: str = "", late: bool = False,
            partition: int = 0) -> bytes:
    """A verdict record as the worker writes it (docs/evidence.md §4)."""
    _, _, province, kind = topic.rsplit(".", 3)
    rid = report_id or f"R-{offset}"
    return orjson.dumps({"v": 1, "topic": topic, "partition": partition, "offset": offset,
                         "timestamp_ms": 1764600000000 + offset, "value_sha256": VALUE_HASH, "key": rid,
                         "kid": None, "province": province, "kind": kind, "report_id": rid, "revision": revision,
                         "verdict": verdict, "late": late, "reason": reason, "message": message})


@dataclass
class Notaries:
    """The `cshub notary` processes a test started; all killed at its end."""

    hub: EvidenceHub
    started: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def start(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        log = self.hub.home / f"{name}.log"
        out = open(log, "wb")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen([sys.executable, "-m", "cshub.cli", "notary"], env={**self.hub.notary_env(), **env},
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        out.close()
        self.started.append((proc, log))
        return proc

    def log_of(self, proc: subprocess.Popen[bytes]) -> str:
        return next(p for q, p in self.started if q is proc).read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while "notary ready" not in self.log_of(proc):
            assert proc.poll() is None, f"the notary exited with {proc.returncode}:\n{self.log_of(proc)}"
            assert time.monotonic() < deadline, f"the notary was not ready in {timeout_s} s:\n{self.log_of(proc)}"
            time.sleep(0.1)

    def stop_all(self) -> None:
        for proc, _ in self.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


@dataclass
class EvidenceHub:
    """A topic root with the notary's and two provinces' ACLs, its topics, the hub's key and public-keys file."""

    cluster: LocalCluster
    names: TopicNames
    home: Path

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    @property
    def key_file(self) -> Path:
        return self.home / "secrets" / "hub-notary.key"

    @property
    def keys_file(self) -> Path:
        return self.home / "secrets" / "public-keys.json"

    @property
    def key(self) -> SigningKey:
        return SigningKey.load(self.key_file)

    def conn(self, principal: str) -> KafkaConnection:
        return KafkaConnection(self.bootstrap, principal, self.cluster.secrets.path(principal))

    def notary_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSHUB_")}
        return {**env, "CSHUB_BOOTSTRAP": self.bootstrap, "CSHUB_PRINCIPAL": "hub-notary",
                "CSHUB_PASSWORD_FILE": str(self.cluster.secrets.path("hub-notary")),
                "CSHUB_TOPIC_ROOT": self.names.root, "CSHUB_NOTARY_KEY_FILE": str(self.key_file),
                "CSHUB_PUBLIC_KEYS_FILE": str(self.keys_file),
                "CSHUB_LOG_ORIGIN": ORIGIN, "CSHUB_CHECKPOINT_INTERVAL_S": "0.3", "CSHUB_NOTARY_BATCH_MAX": "50",
                "PYTHONUNBUFFERED": "1"}

    def producer(self) -> KafkaProducer:
        """The admin's producer (a super user: it stands in for the worker writing verdicts)."""
        return KafkaProducer(**kafka_python_config(self.bootstrap, client_id="evidence-test", acks="all",
                                                   request_timeout_ms=10_000, max_block_ms=10_000))

    def read(self, topic: str) -> list[Any]:
        """Every committed record of a one-partition topic, as the admin (an auditor would see the same)."""
        consumer = make_consumer(self.bootstrap, client_id="evidence-reader", isolation_level="read_committed")
        try:
            from kafka import TopicPartition

            return list(read_to_end(consumer, [TopicPartition(topic, 0)], idle_timeout_s=20))
        finally:
            consumer.close()


def make_hub(kafka_bootstrap: str, home: Path) -> EvidenceHub:
    """A new topic root on the session broker with the ACLs of the notary and the two provinces, its topics
    (created by the admin, as in production) and the hub's notary key with its public-keys file."""
    port = int(os.environ.get("CSHUB_TEST_BROKER_PORT", "19092"))
    cluster = LocalCluster(TEST_BROKER_HOME, base_port=port)  # a handle on the running session broker
    if cluster.bootstrap != kafka_bootstrap or cluster.pid(cluster.nodes[0]) is None:
        pytest.skip("the evidence tests need the project's own secured local broker")
    everyone = principals()
    wanted = {n: everyone[n] for n in ("hub-notary", *(f"province-{p}" for p in PROVINCES))}
    for name in wanted:
        cluster.secrets.ensure(name)
    names = TopicNames(f"e{uuid.uuid4().hex[:8]}")
    admin = cluster.admin_credentials()
    assert admin is not None
    apply_security(cluster.bootstrap, admin, cluster.secrets, wanted, names, f"{names.root}-worker")
    ensure_topics(cluster.bootstrap, TopicPlan(names, PROVINCES, partitions=1).hub_specs())
    hub = EvidenceHub(cluster, names, home)
    ensure_notary_key(hub.key_file, hub.keys_file, 0)
    return hub


@pytest.fixture(scope="module")
def evidence_hub(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> EvidenceHub:
    """One root for the tests of a module (each test uses its own inbound partition number in its verdicts)."""
    return make_hub(kafka_bootstrap, tmp_path_factory.mktemp("evidence"))


@pytest.fixture
def notaries(evidence_hub: EvidenceHub) -> Iterator[Notaries]:
    """`cshub notary` processes of the module's hub, killed at the end of the test."""
    found = Notaries(evidence_hub)
    try:
        yield found
    finally:
        found.stop_all()
