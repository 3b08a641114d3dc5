"""The one factory of Kafka client configuration, for kafka-python, aiokafka and Faust alike.

Every client the hub opens (publisher, subscriber, auditor, admin, gateway, demo, worker, tests) gets
its connection settings from here, so that security (SASL/SCRAM, TLS: issue 10) is added in one place:
a field on `KafkaConnection` and one line in each function below. The three libraries spell the same
settings alike (`bootstrap_servers`, `security_protocol`, `sasl_*`, `ssl_*`) except Faust, which takes
a URL and a credentials object.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.credentials import (
    PASSWORD_FILE_ENV,
    PRINCIPAL_ENV,
    Credentials,
    SecretStore,
    check_login,
    default_secrets_dir,
    read_password_file,
)

# kafka-python warns on every SCRAM login over SASL_PLAINTEXT; SCRAM never sends the password, and the
# hub uses SASL_PLAINTEXT only on loopback and private cluster networks (README, "Identity and access").
logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)


@dataclass(frozen=True)
class KafkaConnection:
    """Where the cluster is and who logs in to it: a principal and its password file (issue 10).

    The password is read from the owner-only file each time a client is built; it is never stored
    here, in argv, in the environment or in a log. No principal: an unauthenticated client (only an
    open broker, `LocalCluster(secure=False)`, takes it).
    """

    bootstrap: str
    principal: str | None = None
    password_file: Path | None = None

    def __str__(self) -> str:  # what error messages show: never a secret
        return f"{self.bootstrap} as {self.principal}" if self.principal else self.bootstrap

    def credentials(self) -> Credentials | None:
        """The principal and its password (read now), or None without a principal."""
        if not self.principal:
            return None
        path = self.password_file or SecretStore(default_secrets_dir()).path(self.principal)
        return Credentials(self.principal, read_password_file(path))


Target = KafkaConnection | str
"""What library entry points accept: a connection, or bootstrap servers (which log in as the environment's
principal, `CSHUB_PRINCIPAL` with `CSHUB_PASSWORD_FILE`, when one is set)."""


def connection(target: Target) -> KafkaConnection:
    """A `KafkaConnection` from either form."""
    if isinstance(target, KafkaConnection):
        return target
    password_file = os.environ.get(PASSWORD_FILE_ENV)
    return KafkaConnection(bootstrap=target, principal=os.environ.get(PRINCIPAL_ENV) or None,
                           password_file=Path(password_file) if password_file else None)


_LOGGED_IN: set[tuple[str, str]] = set()


def _sasl(conn: KafkaConnection, *, probe: bool) -> dict[str, Any]:
    creds = conn.credentials()
    if creds is None:
        return {}
    if probe and (conn.bootstrap, creds.principal) not in _LOGGED_IN:
        check_login(conn.bootstrap, creds)  # a refused login in well under a second, not after 30 s
        _LOGGED_IN.add((conn.bootstrap, creds.principal))
    return creds.kafka_python()


def kafka_python_config(target: Target, *, client_id: str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient.

    The first client of a process for a principal checks its login first (`check_login`): kafka-python
    itself retries a refused login for 30 s and then reports only "Unable to bootstrap".
    """
    conn = connection(target)
    return {"bootstrap_servers": conn.bootstrap, "client_id": client_id, **_sasl(conn, probe=True), **overrides}


def aiokafka_config(target: Target, *, client_id: str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for aiokafka's AIOKafkaProducer and AIOKafkaConsumer (same SASL names)."""
    conn = connection(target)
    return {"bootstrap_servers": conn.bootstrap, "client_id": client_id, **_sasl(conn, probe=False), **overrides}


def faust_broker_config(target: Target) -> dict[str, Any]:
    """Keyword arguments for `faust.App(...)` that say where the broker is and how to log in.

    `faust.App(app_id, **faust_broker_config(settings.kafka), ...)`; Faust hands the credentials to
    its producer, consumer and topic creation alike.
    """
    conn = connection(target)
    brokers = ";".join(f"kafka://{host.strip()}" for host in conn.bootstrap.split(",") if host.strip())
    creds = conn.credentials()
    return {"broker": brokers, "broker_credentials": creds.faust() if creds else None}
