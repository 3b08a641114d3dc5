"""The one Kafka client factory: every library gets the same connection from one `KafkaConnection`."""

from __future__ import annotations

from schemas.kafka_config import KafkaConnection, aiokafka_config, faust_broker_config, kafka_python_config
from schemas.settings import load_settings


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
