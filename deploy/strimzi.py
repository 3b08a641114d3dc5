"""Strimzi resources for the hub's Kafka on Kubernetes, generated from the principals file.

One `Kafka` (KRaft, with a `KafkaNodePool` of three combined nodes; SCRAM-SHA-512 on the internal
listeners, `simple` authorisation, the admin the only super user) and one `KafkaUser` per principal
whose ACLs are exactly `schemas.principals.grants`: the same function the local broker's ACLs come from.
The broker and controller identities are Strimzi's own (mTLS among its nodes), so they get no KafkaUser.
The User Operator watches the hub's namespace, so each user's Secret (key `password`) lands where the
hub's pods mount it.
"""

from __future__ import annotations

from typing import Any

from schemas.principals import Grant, Principal, grants
from schemas.topics import TopicNames

API = "kafka.strimzi.io/v1beta2"
CLUSTER = "cshub"
KAFKA_NAMESPACE = "kafka"
HUB_NAMESPACE = "cshub"
_PATTERN = {"literal": "literal", "prefixed": "prefix"}
_RESOURCE = {"transactional_id": "transactionalId"}  # Strimzi's spelling; topic and group are the same
_OPERATION = {"READ": "Read", "WRITE": "Write", "CREATE": "Create", "DESCRIBE": "Describe",
              "DESCRIBE_CONFIGS": "DescribeConfigs", "ALTER_CONFIGS": "AlterConfigs"}


def _acls(found: list[Grant]) -> list[dict[str, Any]]:
    """Strimzi ACL rules, one per resource with its operations together."""
    by_resource: dict[tuple[str, str, str], list[str]] = {}
    for g in found:
        by_resource.setdefault((g.resource, g.name, g.pattern), []).append(_OPERATION[g.operation])
    return [{"resource": {"type": _RESOURCE.get(resource, resource), "name": name, "patternType": _PATTERN[pattern]},
             "operations": sorted(ops), "host": "*"}
            for (resource, name, pattern), ops in sorted(by_resource.items())]


def kafka_user(principal: Principal, names: TopicNames, app_id: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"authentication": {"type": "scram-sha-512"}}
    if not principal.is_super:
        spec["authorization"] = {"type": "simple", "acls": _acls(grants(principal, names, app_id))}
    return {"apiVersion": API, "kind": "KafkaUser",
            "metadata": {"name": principal.name, "namespace": HUB_NAMESPACE,
                         "labels": {"strimzi.io/cluster": CLUSTER, "app.kubernetes.io/part-of": "cshub",
                                    "cshub/role": principal.role}},
            "spec": spec}


def kafka_users(everyone: dict[str, Principal], names: TopicNames, app_id: str) -> list[dict[str, Any]]:
    """A KafkaUser for every principal but the broker's and the controller's own (Strimzi runs those)."""
    return [kafka_user(p, names, app_id) for p in everyone.values() if p.role not in ("broker", "controller")]


def kafka_cluster(everyone: dict[str, Principal], *, replicas: int = 3) -> list[dict[str, Any]]:
    """The node pool and the Kafka resource: SCRAM listeners, simple authorisation, deny by default."""
    supers = sorted(p.name for p in everyone.values() if p.role == "admin")
    pool = {"apiVersion": API, "kind": "KafkaNodePool",
            "metadata": {"name": "combined", "namespace": KAFKA_NAMESPACE, "labels": {"strimzi.io/cluster": CLUSTER}},
            "spec": {"replicas": replicas, "roles": ["controller", "broker"],
                     "storage": {"type": "jbod", "volumes": [{"id": 0, "type": "persistent-claim", "size": "50Gi",
                                                              "deleteClaim": False, "kraftMetadata": "shared"}]}}}
    kafka = {"apiVersion": API, "kind": "Kafka",
             "metadata": {"name": CLUSTER, "namespace": KAFKA_NAMESPACE,
                          "annotations": {"strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"}},
             "spec": {
                 "kafka": {
                     "listeners": [
                         {"name": "scram", "port": 9092, "type": "internal", "tls": False,
                          "authentication": {"type": "scram-sha-512"}},
                         {"name": "scramtls", "port": 9093, "type": "internal", "tls": True,
                          "authentication": {"type": "scram-sha-512"}},
                     ],
                     "authorization": {"type": "simple", "superUsers": supers},
                     "config": {"allow.everyone.if.no.acl.found": False, "auto.create.topics.enable": False,
                                "default.replication.factor": 3, "min.insync.replicas": 2,
                                "offsets.topic.replication.factor": 3, "transaction.state.log.replication.factor": 3,
                                "transaction.state.log.min.isr": 2},
                 },
                 "entityOperator": {"topicOperator": {}, "userOperator": {"watchedNamespace": HUB_NAMESPACE}},
             }}
    return [pool, kafka]
