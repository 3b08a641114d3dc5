"""`--nodes 3` secured: bootstrap users on every node's storage, ACLs applied once and visible on every node."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError

from connectors.security import secure_local_hub
from deploy.local.broker import LocalCluster
from schemas.topics import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_three_node_cluster_enforces_the_same_acls_on_every_node(tmp_path: Path) -> None:
    port = int(os.environ.get("CSHUB_TEST_BROKER_PORT", "19092")) + 2  # 6 ports: +2 .. +7 (test_local_broker: +8..)
    cluster = LocalCluster(tmp_path / "three", size=3, base_port=port, heap="384m")
    cluster.start()
    try:
        names = TopicNames("three")
        report = secure_local_hub(cluster.bootstrap, cluster.secrets, names, "three-worker")  # polls every node
        assert "province-320000" in report.users
        admin = cluster.admin_credentials()
        assert admin is not None
        client = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, **admin.kafka_python())
        client.create_topics([NewTopic(names.inbound(p, "facility"), 1, 3) for p in ("320000", "110000")])
        client.close()
        province = cluster.secrets.credentials("province-320000").kafka_python()
        for node in cluster.nodes:  # each node on its own: its own ACL cache and credential cache
            producer = KafkaProducer(bootstrap_servers=node.bootstrap, acks="all", max_block_ms=15_000,
                                     request_timeout_ms=15_000, **province)
            try:
                assert producer.send(names.inbound("320000", "facility"), value=b"ok").get(timeout=30).offset >= 0
                with pytest.raises(KafkaError, match="AuthorizationFailed"):
                    producer.send(names.inbound("110000", "facility"), value=b"forged").get(timeout=30)
            finally:
                producer.close(5)
    finally:
        cluster.stop()
