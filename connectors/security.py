"""The admin's side of identity: SCRAM users and ACLs on the broker, from the principals file.

`apply_security` makes the broker match `schemas.principals`: it upserts a SCRAM-SHA-512 user for every
principal that has a password in the secrets folder (the controller excepted: it is a PLAIN user of
its own listener), creates the ACLs of every role that are not there yet, checks kafka-python's
`create_acls` result (it reports failures without raising), and polls every node's ACL cache until the
ACLs are visible there (they reach each node by metadata replay, a moment later). Revoking deletes the
user's SCRAM credential and every ACL naming it; rotating upserts a new password.

Sessions opened before a revocation stay open until they close (the broker does not re-authenticate
them unless `connections.max.reauth.ms` is set, which aiokafka cannot follow); new connections are refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka.errors import KafkaError, NoError
from kafka.protocol.admin import DescribeAclsRequest

from connectors.errors import ConnectorError
from schemas.credentials import Credentials, SecretStore
from schemas.principals import Grant, Principal, grants
from schemas.topics import TopicNames

SCRAM_ITERATIONS = 8192
PROPAGATION_TIMEOUT_S = 30.0
_RESOURCE = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP,
             "transactional_id": ResourceType.TRANSACTIONAL_ID}
_PATTERN = {"literal": ACLResourcePatternType.LITERAL, "prefixed": ACLResourcePatternType.PREFIXED}


class SecurityError(ConnectorError):
    """The broker did not take a user or an ACL; the message says which and why."""


@dataclass
class ApplyReport:
    """What `apply_security` did."""

    users: list[str] = field(default_factory=list)
    acls_created: int = 0
    acls_present: int = 0


def to_acl(principal: str, grant: Grant) -> ACL:
    return ACL(f"User:{principal}", "*", ACLOperation[grant.operation], ACLPermissionType.ALLOW,
               ResourcePattern(_RESOURCE[grant.resource], grant.name, _PATTERN[grant.pattern]))


def _key(acl: ACL) -> tuple[Any, ...]:
    rp = acl.resource_pattern
    return (acl.principal, acl.host, int(acl.operation), int(acl.permission_type),
            int(rp.resource_type), rp.resource_name, int(rp.pattern_type))


def admin_client(bootstrap: str, admin: Credentials, *, timeout_ms: int = 15_000) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cshub-security",
                                request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms, **admin.kafka_python())
    except (KafkaError, OSError) as exc:
        raise SecurityError(f"cannot reach Kafka at {bootstrap} as {admin.principal}: {exc}; is the broker running"
                            " (`cshub broker status`), and is this the admin's password file?") from exc


def desired_acls(everyone: Iterable[Principal], names: TopicNames, app_id: str) -> list[ACL]:
    """Every ACL the hub under `names.root` needs, for these principals."""
    return [to_acl(p.name, g) for p in everyone for g in grants(p, names, app_id)]


def _all_acls(admin: KafkaAdminClient, node_id: int | None = None) -> set[tuple[Any, ...]]:
    """Every ACL one node knows (its local cache answers DescribeAcls), as comparable keys."""
    if node_id is None:
        acls, _ = admin.describe_acls(_ANY)
        return {_key(a) for a in acls}
    rp = _ANY.resource_pattern
    request = DescribeAclsRequest(resource_type_filter=rp.resource_type, resource_name_filter=rp.resource_name,
                                  pattern_type_filter=rp.pattern_type, principal_filter=None, host_filter=None,
                                  operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY)
    # kafka-python 3.0.12 has no public per-node DescribeAcls; its own describe_log_dirs sends per node like this.
    response = admin._manager.run(admin._manager.send, request, node_id)
    acls, _ = admin._convert_describe_acls_response_to_acls(response)
    return {_key(a) for a in acls}


_ANY = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                 ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))


def upsert_users(admin: KafkaAdminClient, store: SecretStore, users: Iterable[str]) -> list[str]:
    """Create or update the SCRAM-SHA-512 user of each name from its password file; return the names."""
    names = sorted(set(users))
    if not names:
        return []
    upserts = [UserScramCredentialUpsertion(u, ScramMechanism.SCRAM_SHA_512, store.credentials(u).password,
                                            iterations=SCRAM_ITERATIONS) for u in names]
    result = admin.alter_user_scram_credentials(upserts)
    failed = {u: msg for u, msg in result.items() if msg}
    if failed:
        raise SecurityError(f"the broker refused SCRAM users: {failed}")
    return names


def create_acls(admin: KafkaAdminClient, acls: list[ACL]) -> int:
    """Create the ACLs not yet present; raise when the broker refuses any. Returns how many were created."""
    present = _all_acls(admin)
    missing = [a for a in acls if _key(a) not in present]
    for start in range(0, len(missing), 200):
        result = admin.create_acls(missing[start:start + 200])
        if result["failed"]:  # kafka-python returns failures, it does not raise them
            raise SecurityError(f"the broker refused {len(result['failed'])} ACL(s): {result['failed'][:3]}")
    return len(missing)


def wait_for_acls(admin: KafkaAdminClient, acls: list[ACL], *, present: bool = True,
                  timeout_s: float = PROPAGATION_TIMEOUT_S) -> None:
    """Until every node's ACL cache has (or, with `present=False`, has none of) `acls`, bounded."""
    wanted = {_key(a) for a in acls}
    deadline = time.monotonic() + timeout_s
    nodes = [b.node_id for b in admin._manager.cluster.brokers()]
    while True:
        lagging = []
        for node in nodes:
            known = _all_acls(admin, node)
            if (present and not wanted <= known) or (not present and wanted & known):
                lagging.append(node)
        if not lagging:
            return
        if time.monotonic() > deadline:
            raise SecurityError(f"ACLs did not reach node(s) {lagging} within {timeout_s:.0f} s")
        time.sleep(0.1)


def apply_security(bootstrap: str, admin: Credentials, store: SecretStore, everyone: dict[str, Principal],
                   names: TopicNames, app_id: str) -> ApplyReport:
    """Make the broker's users and ACLs match the principals file for one hub root (idempotent)."""
    report = ApplyReport()
    client = admin_client(bootstrap, admin)
    try:
        scram_users = [p.name for p in everyone.values() if p.role != "controller" and store.has(p.name)]
        report.users = upsert_users(client, store, scram_users)
        acls = desired_acls((everyone[u] for u in scram_users), names, app_id)
        report.acls_created = create_acls(client, acls)
        report.acls_present = len(acls) - report.acls_created
        wait_for_acls(client, acls)
        wait_for_users(client, report.users)
    except KafkaError as exc:
        raise SecurityError(f"applying users and ACLs on {bootstrap} failed: {exc}") from exc
    finally:
        client.close()
    return report


def wait_for_users(admin: KafkaAdminClient, users: list[str], timeout_s: float = PROPAGATION_TIMEOUT_S) -> None:
    """Until the broker describes a SCRAM-SHA-512 credential for every user (new users can lag a moment)."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = admin.describe_user_scram_credentials(users) if users else {}
        missing = [u for u in users if not (described.get(u) or {}).get("credential_infos")]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise SecurityError(f"SCRAM users {missing[:5]} not visible within {timeout_s:.0f} s")
        time.sleep(0.1)


def revoke(bootstrap: str, admin: Credentials, principal: str) -> int:
    """Delete the principal's SCRAM credential and every ACL naming it; return how many ACLs went."""
    client = admin_client(bootstrap, admin)
    try:
        result = client.alter_user_scram_credentials([UserScramCredentialDeletion(principal,
                                                                                  ScramMechanism.SCRAM_SHA_512)])
        message = result.get(principal)
        if message and "not found" not in message.lower() and "resource_not_found" not in message.lower():
            raise SecurityError(f"the broker did not delete user {principal}: {message}")
        flt = ACLFilter(f"User:{principal}", None, ACLOperation.ANY, ACLPermissionType.ANY,
                        ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
        results = client.delete_acls([flt])
        for _, _, error in results:
            if error is not NoError:
                raise SecurityError(f"the broker did not delete the ACLs of {principal}: {error}")
        deleted = [acl for _, matched, _ in results for acl in matched]
        wait_for_acls(client, deleted, present=False)
        return len(deleted)
    except KafkaError as exc:
        raise SecurityError(f"revoking {principal} on {bootstrap} failed: {exc}") from exc
    finally:
        client.close()


def rotate(bootstrap: str, admin: Credentials, store: SecretStore, principal: str) -> None:
    """A new random password for `principal`, in its file and on the broker (old sessions stay open)."""
    store.rotate(principal)
    client = admin_client(bootstrap, admin)
    try:
        upsert_users(client, store, [principal])
    except KafkaError as exc:
        raise SecurityError(f"rotating the password of {principal} on {bootstrap} failed: {exc}") from exc
    finally:
        client.close()


def secure_local_hub(bootstrap: str, store: SecretStore, names: TopicNames, app_id: str,
                     everyone: dict[str, Principal] | None = None) -> ApplyReport:
    """`cshub security init` + `apply` in one step, for a hub on this machine (`cshub run`, tests, benches):
    every principal's password in `store` (and the signing keys with the public-keys file beside them), then its
    user and ACLs on the broker, as the admin."""
    from connectors.signing_keys import default_public_keys, ensure_signing_keys, signers
    from schemas.principals import one_of_role, principals

    everyone = everyone or principals()
    for name in everyone:
        store.ensure(name)
    ensure_signing_keys(store.folder, signers(everyone), default_public_keys(store.folder), int(time.time() * 1000))
    admin = store.credentials(one_of_role(everyone, "admin").name)
    return apply_security(bootstrap, admin, store, everyone, names, app_id)
