"""The one factory of Kafka client configuration, for kafka-python, aiokafka and Faust alike.

Every client the hub opens (publisher, subscriber, auditor, admin, gateway, demo, worker, tests) gets
its connection settings from here, so that security (SASL/SCRAM, TLS: issue 10) is added in one place:
a field on `KafkaConnection` and one line in each function below. The three libraries spell the same
settings alike (`bootstrap_servers`, `security_protocol`, `sasl_*`, `ssl_*`) except Faust, which takes
a URL and a credentials object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KafkaConnection:
    """Where the cluster is and how to log in to it.

    Security goes here (issue 10), e.g. `security_protocol`, `sasl_mechanism`, `username`, `password_file`
    (read when a client is built, never stored in argv or logs), `ca_file`.
    """

    bootstrap: str

    def __str__(self) -> str:  # what error messages show: never a secret
        return self.bootstrap


Target = KafkaConnection | str
"""What library entry points accept: a connection, or a bare bootstrap string (no security)."""


def connection(target: Target) -> KafkaConnection:
    """A `KafkaConnection` from either form."""
    return target if isinstance(target, KafkaConnection) else KafkaConnection(bootstrap=target)


def kafka_python_config(target: Target, *, client_id: str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
    conn = connection(target)
    return {"bootstrap_servers": conn.bootstrap, "client_id": client_id, **overrides}


def aiokafka_config(target: Target, *, client_id: str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for aiokafka's AIOKafkaProducer and AIOKafkaConsumer."""
    conn = connection(target)
    return {"bootstrap_servers": conn.bootstrap, "client_id": client_id, **overrides}


def faust_broker_config(target: Target) -> dict[str, Any]:
    """Keyword arguments for `faust.App(...)` that say where the broker is and how to log in.

    `faust.App(app_id, **faust_broker_config(settings.kafka), ...)`; Faust hands the credentials to
    its producer, consumer and topic creation alike.
    """
    conn = connection(target)
    brokers = ";".join(f"kafka://{host.strip()}" for host in conn.bootstrap.split(",") if host.strip())
    return {"broker": brokers, "broker_credentials": None}
