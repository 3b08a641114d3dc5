"""A secured hub on the session's real broker for the security tests: users and ACLs applied by the admin for
one test root, topics pre-created by the admin, a client factory per principal."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.security import admin_client, apply_security
from deploy.local.broker import LocalCluster
from schemas.credentials import Credentials, SecretStore
from schemas.principals import Principal, principals
from schemas.topics import KINDS, TopicNames

TEST_BROKER_HOME = Path(__file__).resolve().parents[2] / ".cshub" / "test-broker"  # tests/conftest.py's


@dataclass
class SecureHub:
    """A secured broker with the hub's users and ACLs for `names.root` (Faust app id `app_id`)."""

    cluster: LocalCluster
    store: SecretStore
    names: TopicNames
    app_id: str
    everyone: dict[str, Principal]

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    def creds(self, principal: str) -> Credentials:
        return self.store.credentials(principal)

    def auth(self, principal: str) -> dict[str, Any]:
        """kafka-python keyword arguments of `principal`, with short timeouts (bounded waits)."""
        return {"bootstrap_servers": self.bootstrap, "request_timeout_ms": 10_000,
                **self.creds(principal).kafka_python()}


@pytest.fixture(scope="session")
def secure_hub(kafka_bootstrap: str) -> Iterator[SecureHub]:
    """The session's secured local broker (tests/conftest.py) with the users and ACLs of a fresh topic root.

    Shared with concurrent test processes (pytest-xdist): nothing here stops it or changes a user another
    test relies on (the revocation test revokes a principal of its own).
    """
    port = int(os.environ.get("CSHUB_TEST_BROKER_PORT", "19092"))
    cluster = LocalCluster(TEST_BROKER_HOME, base_port=port)  # a handle on the running session broker
    if cluster.bootstrap != kafka_bootstrap or cluster.pid(cluster.nodes[0]) is None:
        pytest.skip("the security tests need the project's own secured local broker, not CSHUB_TEST_BOOTSTRAP"
                    " or a testcontainers Kafka")
    store = cluster.secrets
    everyone = principals()
    for name in everyone:
        store.ensure(name)
    names = TopicNames(f"s{uuid.uuid4().hex[:8]}")
    app_id = f"{names.root}-worker"
    admin = cluster.admin_credentials()
    assert admin is not None
    apply_security(cluster.bootstrap, admin, store, everyone, names, app_id)
    _create_topics(cluster.bootstrap, admin, names)
    yield SecureHub(cluster, store, names, app_id, everyone)


def _create_topics(bootstrap: str, admin: Credentials, names: TopicNames) -> None:
    from kafka.admin import NewTopic

    topics = [names.inbound(p, k) for p in ("320000", "110000") for k in KINDS]
    topics += [names.feedback("320000"), names.feedback("110000"), names.national("coverage"), names.notifications,
               names.rejected, names.schemas]
    client = admin_client(bootstrap, admin)
    try:
        client.create_topics([NewTopic(t, 1, 1) for t in topics])
    finally:
        client.close()


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """Register clients to close at the end of the test, whatever happens."""
    opened: list[Any] = []

    def register(client: Any) -> Any:
        opened.append(client)
        return client

    yield register
    for client in reversed(opened):
        with contextlib.suppress(Exception):  # a client that failed to start may not close cleanly
            client.close()
