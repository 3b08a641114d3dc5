"""The one Kafka client factory: every library gets the same connection from one `KafkaConnection`."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.credentials import SecretStore
from schemas.kafka_config import KafkaConnection, aiokafka_config, faust_broker_config, kafka_python_config
from schemas.settings import load_settings


@pytest.fixture(autouse=True)
def no_login_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's broker fixture logs the test process in as its admin; these tests are about the factory."""
    monkeypatch.delenv("CSHUB_PRINCIPAL", raising=False)
    monkeypatch.delenv("CSHUB_PASSWORD_FILE", raising=False)


def test_one_connection_configures_kafka_python_aiokafka_and_faust() -> None:
    conn = load_settings(bootstrap="a:1,b:2").kafka
    assert conn == KafkaConnection(bootstrap="a:1,b:2")
    assert kafka_python_config(conn, client_id="x", acks="all") == {"bootstrap_servers": "a:1,b:2", "client_id": "x",
                                                                     "acks": "all"}
    assert aiokafka_config(conn, client_id="y") == {"bootstrap_servers": "a:1,b:2", "client_id": "y"}
    assert faust_broker_config(conn) == {"broker": "kafka://a:1;kafka://b:2", "broker_credentials": None}


def test_a_bare_bootstrap_string_is_a_connection_without_security() -> None:
    assert kafka_python_config("h:9", client_id="t")["bootstrap_servers"] == "h:9"
    assert str(KafkaConnection("h:9")) == "h:9"


def test_faust_reads_the_broker_list() -> None:
    import faust

    app = faust.App("cshub-test-config", **faust_broker_config("a:1,b:2"), autodiscover=False)
    assert [str(url) for url in app.conf.broker] == ["kafka://a:1", "kafka://b:2"]


def test_a_principal_and_its_password_file_reach_every_library(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    store = SecretStore(tmp_path / "secrets")
    store.ensure("province-320000")
    password = store.credentials("province-320000").password
    monkeypatch.setenv("CSHUB_SECRETS_DIR", str(store.folder))
    conn = load_settings(bootstrap="127.0.0.1:1", principal="province-320000").kafka
    assert conn.password_file == store.path("province-320000") and password not in repr(conn) + str(conn)
    sasl = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": "province-320000", "sasl_plain_password": password}
    assert kafka_python_config(conn, client_id="x").items() >= sasl.items()  # nothing on port 1: no probe verdict
    assert aiokafka_config(conn, client_id="y").items() >= sasl.items()
    creds = faust_broker_config(conn)["broker_credentials"]
    assert (creds.username, creds.password, creds.mechanism.value) == ("province-320000", password, "SCRAM-SHA-512")


def test_a_bare_bootstrap_string_logs_in_as_the_environments_principal(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = SecretStore(tmp_path)
    store.ensure("gateway")
    monkeypatch.setenv("CSHUB_PRINCIPAL", "gateway")
    monkeypatch.setenv("CSHUB_PASSWORD_FILE", str(store.path("gateway")))
    assert kafka_python_config("127.0.0.1:1", client_id="t")["sasl_plain_username"] == "gateway"
