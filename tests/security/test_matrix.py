"""The issue's test matrix: each row against the real secured broker (SCRAM-SHA-512, StandardAuthorizer,
deny by default). Every refusal is the broker's own, and every wait is bounded."""

from __future__ import annotations

import time
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic, UserScramCredentialUpsertion
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from connectors.security import apply_security, revoke, to_acl
from schemas.credentials import AccessRefused, Credentials, check_login
from schemas.principals import Grant, Principal

pytestmark = pytest.mark.integration

A, B = "320000", "110000"


def producer(hub, principal, closing, **extra) -> KafkaProducer:
    return closing(KafkaProducer(**hub.auth(principal), acks="all", max_block_ms=10_000, **extra))


def assert_refused_fast(hub, principal: str, password: str) -> None:
    started = time.monotonic()
    with pytest.raises(AccessRefused, match=f"{principal} could not log in .*wrong password or unknown user"):
        check_login(hub.bootstrap, Credentials(principal, password))
    assert time.monotonic() - started < 5, "a refused login must not hang for kafka-python's 30-s bootstrap"


def test_wrong_password_is_an_authentication_failure(secure_hub) -> None:
    assert_refused_fast(secure_hub, f"province-{A}", "0" * 64)


def test_unknown_user_is_an_authentication_failure(secure_hub) -> None:
    assert_refused_fast(secure_hub, "province-999999", "0" * 64)


def test_the_right_password_logs_in(secure_hub) -> None:
    check_login(secure_hub.bootstrap, secure_hub.creds(f"province-{A}"))  # no exception


def test_a_province_writes_its_own_topic_and_is_refused_another_provinces(secure_hub, closing) -> None:
    names = secure_hub.names
    own = producer(secure_hub, f"province-{A}", closing, enable_idempotence=True)  # no IDEMPOTENT_WRITE needed
    assert own.send(names.inbound(A, "facility"), key=b"r1", value=b"v").get(timeout=10).offset >= 0
    with pytest.raises(TopicAuthorizationFailedError):
        own.send(names.inbound(B, "facility"), key=b"r1", value=b"forged").get(timeout=10)
    with pytest.raises(TopicAuthorizationFailedError):
        own.send(names.validated("facility"), value=b"forged").get(timeout=10)


def test_a_province_reads_its_own_feedback_and_is_refused_another_provinces(secure_hub, closing) -> None:
    names = secure_hub.names
    consumer = closing(KafkaConsumer(**secure_hub.auth(f"province-{A}"), group_id=None, enable_auto_commit=False))
    own = TopicPartition(names.feedback(A), 0)
    assert consumer.end_offsets([own])[own] >= 0
    other = TopicPartition(names.feedback(B), 0)
    consumer.assign([other])
    with pytest.raises(TopicAuthorizationFailedError):
        consumer.end_offsets([other])
    assert names.feedback(B) not in consumer.topics(), "another province's feedback must not even be visible"


@pytest.mark.parametrize("principal", ["ministry-mca", "gateway"])
def test_ministry_and_gateway_write_nothing(secure_hub, closing, principal: str) -> None:
    names = secure_hub.names
    client = producer(secure_hub, principal, closing)
    for topic in (names.inbound(A, "funding"), names.national("coverage"), names.notifications, names.schemas):
        with pytest.raises(KafkaError, match="AuthorizationFailed"):  # kafka-python 3 producers ask for a producer id
            client.send(topic, value=b"forged").get(timeout=10)


@pytest.mark.parametrize("principal", ["ministry-mca", "gateway"])
def test_ministry_and_gateway_read_the_national_tables_only(secure_hub, closing, principal: str) -> None:
    names = secure_hub.names
    consumer = closing(KafkaConsumer(**secure_hub.auth(principal), group_id=None, enable_auto_commit=False))
    table = TopicPartition(names.national("coverage"), 0)
    assert consumer.end_offsets([table])[table] >= 0
    inbound = TopicPartition(names.inbound(A, "facility"), 0)
    consumer.assign([inbound])
    with pytest.raises(TopicAuthorizationFailedError):
        consumer.end_offsets([inbound])


def test_an_idempotent_ministry_producer_is_refused_at_init(secure_hub, closing) -> None:
    """With no WRITE on any topic, an idempotent producer cannot even get a producer id."""
    client = producer(secure_hub, "ministry-mca", closing, enable_idempotence=True)
    with pytest.raises(KafkaError, match="AuthorizationFailed"):
        client.send(secure_hub.names.national("coverage"), value=b"forged").get(timeout=10)


def test_the_auditor_reads_everything_and_writes_nothing(secure_hub, closing) -> None:
    names = secure_hub.names
    consumer = closing(KafkaConsumer(**secure_hub.auth("auditor-cnao"), group_id=None, enable_auto_commit=False))
    for topic in (names.inbound(A, "facility"), names.feedback(B), names.national("coverage")):
        tp = TopicPartition(topic, 0)
        assert consumer.end_offsets([tp])[tp] >= 0
    client = producer(secure_hub, "auditor-cnao", closing)
    with pytest.raises(KafkaError, match="AuthorizationFailed"):
        client.send(names.national("coverage"), value=b"forged").get(timeout=10)


def test_the_auditor_cannot_join_a_consumer_group(secure_hub, closing) -> None:
    consumer = closing(KafkaConsumer(secure_hub.names.national("coverage"), **secure_hub.auth("auditor-cnao"),
                                     group_id="auditors", enable_auto_commit=False))
    with pytest.raises(GroupAuthorizationFailedError):
        consumer.poll(timeout_ms=5000)


@pytest.mark.parametrize("principal", [f"province-{A}", "hub-worker", "ministry-mca", "auditor-cnao"])
def test_a_non_admin_creates_no_topic_user_or_acl(secure_hub, closing, principal: str) -> None:
    admin = closing(KafkaAdminClient(**secure_hub.auth(principal)))
    with pytest.raises(TopicAuthorizationFailedError):
        admin.create_topics([NewTopic(secure_hub.names.inbound(A, "facility") + "-x", 1, 1)])
    result = admin.alter_user_scram_credentials([UserScramCredentialUpsertion("intruder", "SCRAM-SHA-512", "pw")])
    assert "needs ALTER permission" in (result["intruder"] or ""), result
    created = admin.create_acls([to_acl(principal, Grant("topic", "prefixed", secure_hub.names.every_prefix, "WRITE"))])
    assert created["succeeded"] == [] and len(created["failed"]) == 1, created


def test_the_worker_may_create_only_faust_internal_topics(secure_hub, closing) -> None:
    admin = closing(KafkaAdminClient(**secure_hub.auth("hub-worker")))
    internal = f"{secure_hub.app_id}-probe-{uuid.uuid4().hex[:6]}-changelog"
    admin.create_topics([NewTopic(internal, 1, 1)])  # allowed: its own prefix
    with pytest.raises(TopicAuthorizationFailedError):
        admin.create_topics([NewTopic(f"{secure_hub.names.root}.national.forged", 1, 1)])


def test_a_revoked_principal_cannot_reconnect(secure_hub, closing) -> None:
    """A ministry of this test's own (the session's users are shared with concurrent tests)."""
    principal = Principal(f"ministry-t{uuid.uuid4().hex[:8]}", "ministry", "测试部", "test ministry")
    secure_hub.store.ensure(principal.name)
    admin = secure_hub.cluster.admin_credentials()
    assert admin is not None
    apply_security(secure_hub.bootstrap, admin, secure_hub.store, {principal.name: principal}, secure_hub.names,
                   secure_hub.app_id)
    creds = secure_hub.creds(principal.name)
    check_login(secure_hub.bootstrap, creds)
    deleted = revoke(secure_hub.bootstrap, admin, principal.name)
    assert deleted == 3  # its three ACLs
    deadline = time.monotonic() + 10
    while True:  # the deletion reaches the node's credential cache by metadata replay
        try:
            check_login(secure_hub.bootstrap, creds)
        except AccessRefused:
            break
        assert time.monotonic() < deadline, "a revoked user could still log in after 10 s"
        time.sleep(0.2)
    secure_hub.store.remove(principal.name)
    check_login(secure_hub.bootstrap, secure_hub.creds("ministry-mca"))  # the others are untouched


def test_the_controller_port_refuses_clients_without_credentials(secure_hub) -> None:
    node = secure_hub.cluster.nodes[0]
    controller = f"127.0.0.1:{node.controller_port}"
    started = time.monotonic()
    with pytest.raises(KafkaError):
        KafkaAdminClient(bootstrap_servers=controller, request_timeout_ms=3000, bootstrap_timeout_ms=3000).close()
    with pytest.raises(KafkaError):  # SASL PLAIN, but not the controller's password
        KafkaAdminClient(bootstrap_servers=controller, request_timeout_ms=3000, bootstrap_timeout_ms=3000,
                         security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                         sasl_plain_username="cshub-controller", sasl_plain_password="guess").close()
    assert time.monotonic() - started < 15


def test_the_controller_port_does_not_take_client_scram_logins(secure_hub) -> None:
    """Even the admin's SCRAM login is not accepted there: the controller listener speaks PLAIN only."""
    node = secure_hub.cluster.nodes[0]
    with pytest.raises(AccessRefused):
        check_login(f"127.0.0.1:{node.controller_port}", secure_hub.cluster.admin_credentials())
