"""Session-wide fixtures: a real Kafka broker, and per-test unique names.

The broker comes from, in order: CSHUB_TEST_BOOTSTRAP (a broker someone already runs); a
testcontainers Kafka when a Docker engine answers (CSHUB_TEST_DOCKER=0 skips that); else the project's own
local broker from the Apache Kafka jars (deploy/local), on ports 19092/19093 (CSHUB_TEST_BROKER_PORT
to move it) with its data under .cshub/test-broker.

The local broker is secured as `make run`'s is (SCRAM-SHA-512, ACLs, deny by default): its secrets are in
.cshub/test-broker/secrets, every principal gets its user and the ACLs of the `cshub` root, and the test
process (and every subprocess it starts) logs in as the admin through CSHUB_PRINCIPAL / CSHUB_PASSWORD_FILE,
so library code and `cshub` subcommands authenticate like any client. Raw test clients take their settings
from the one factory: `kafka_python_config(kafka_bootstrap, client_id=...)`. tests/security logs in as each
role instead. Signatures are not required in the test session unless a test asks for them (below).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from deploy.local.broker import SECURED_MARKER, LocalCluster
from schemas.topics import TopicNames

ROOT = Path(__file__).resolve().parents[1]

# The hub requires submission signatures by default (secure by default). Tests of everything else feed the worker
# and the audit hand-made records, unsigned, as a deployment does while its provinces adopt signing; the tests of
# signatures (tests/core/test_signature_decision.py, tests/connectors/test_audit_verify.py) turn it back on.
os.environ.setdefault("CSHUB_REQUIRE_SIGNATURES", "false")
TEST_BROKER_HOME = ROOT / ".cshub" / "test-broker"
KAFKA_IMAGE = "apache/kafka:4.4.0"


def docker_engine_answers() -> bool:
    try:
        import docker  # testcontainers' dependency
        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real broker for the whole test run."""
    if addr := os.environ.get("CSHUB_TEST_BOOTSTRAP"):
        yield addr
        return
    if os.environ.get("CSHUB_TEST_DOCKER", "1") != "0" and docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    port = int(os.environ.get("CSHUB_TEST_BROKER_PORT", "19092"))
    cluster = LocalCluster(TEST_BROKER_HOME, base_port=port)
    with _shared_use(TEST_BROKER_HOME) as users:
        if users == {os.getpid()} and not (cluster.nodes[0].home / SECURED_MARKER).exists():
            cluster.stop()  # a test broker from before issue 10 (open, no SCRAM users): its data is test data
            shutil.rmtree(cluster.nodes[0].home, ignore_errors=True)
        cluster.start()
        _secure(cluster)
    try:
        yield cluster.bootstrap
    finally:
        with _shared_use(TEST_BROKER_HOME) as users:
            users.discard(os.getpid())
            if not users:  # the last test run using it stops it; a concurrent run keeps it
                cluster.stop()


def _secure(cluster: LocalCluster) -> None:
    """Every principal's password, user and ACLs (root `cshub`); this process and its children log in as the admin."""
    from connectors.security import apply_security
    from connectors.signing_keys import default_public_keys, ensure_signing_keys, signers
    from schemas.credentials import PASSWORD_FILE_ENV, PRINCIPAL_ENV
    from schemas.principals import principals

    everyone = principals()
    for name in everyone:
        cluster.secrets.ensure(name)
    admin = cluster.admin_credentials()
    assert admin is not None
    apply_security(cluster.bootstrap, admin, cluster.secrets, everyone, TopicNames("cshub"), "cshub-worker")
    os.environ[PRINCIPAL_ENV] = admin.principal
    os.environ[PASSWORD_FILE_ENV] = str(cluster.secrets.path(admin.principal))
    # every province's and the notary's signing key beside the passwords, and the public-keys file the
    # subprocesses' workers and audits check against when a test requires signatures
    public_keys = default_public_keys(cluster.secrets.folder)
    ensure_signing_keys(cluster.secrets.folder, signers(everyone), public_keys, int(time.time() * 1000))
    os.environ["CSHUB_PUBLIC_KEYS_FILE"] = str(public_keys)


@contextmanager
def _shared_use(home: Path) -> Iterator[set[int]]:
    """Under a file lock, the live pids of test runs using the broker in `home` (this one added)."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "users.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        users_file = home / "users"
        recorded = {int(x) for x in users_file.read_text().split()} if users_file.exists() else set()
        users = {pid for pid in recorded if _alive(pid)} | {os.getpid()}
        yield users
        users_file.write_text(" ".join(str(p) for p in sorted(users)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Factory of names no other test uses (topics, groups, app ids)."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make
