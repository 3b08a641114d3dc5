"""Kubernetes (Strimzi) and compose security, checked by parsing the files (no cluster, no Docker here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from schemas.principals import grants, principals
from schemas.topics import TopicNames

ROOT = Path(__file__).resolve().parents[2]
STRIMZI = ROOT / "deploy" / "k8s" / "strimzi"
OPS = {"Read": "READ", "Write": "WRITE", "Create": "CREATE", "Describe": "DESCRIBE",
       "DescribeConfigs": "DESCRIBE_CONFIGS"}


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _generate(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cshub.cli", "security", "strimzi", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=False)


STRIMZI_RESOURCE = {"transactional_id": "transactionalId"}


def test_the_command_writes_one_kafka_user_per_principal_with_its_roles_acls(tmp_path: Path) -> None:
    result = _generate(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    users = {d["metadata"]["name"]: d for d in _docs(tmp_path / "users.yaml")}
    everyone = principals()
    assert set(users) == {p.name for p in everyone.values() if p.role not in ("broker", "controller")}
    for name, doc in users.items():
        assert doc["kind"] == "KafkaUser" and doc["metadata"]["labels"]["strimzi.io/cluster"] == "cshub"
        assert doc["spec"]["authentication"] == {"type": "scram-sha-512"}
        expected = {(STRIMZI_RESOURCE.get(g.resource, g.resource), g.name,
                     "prefix" if g.pattern == "prefixed" else "literal", g.operation)
                    for g in grants(everyone[name], TopicNames("cshub"), "cshub-worker")}
        got = {(a["resource"]["type"], a["resource"]["name"], a["resource"]["patternType"], OPS[op])
               for a in doc["spec"].get("authorization", {}).get("acls", []) for op in a["operations"]}
        assert got == expected, name
    assert "authorization" not in users["cshub-admin"]["spec"]  # a super user
    assert any(a["resource"]["name"] == "cshub.in.320000." and a["operations"] == ["Write"]
               for a in users["province-320000"]["spec"]["authorization"]["acls"])


def test_the_kafka_resource_has_scram_listeners_and_simple_authorisation(tmp_path: Path) -> None:
    assert _generate(tmp_path).returncode == 0
    kinds = {d["kind"]: d for d in _docs(tmp_path / "kafka.yaml")}
    kafka = kinds["Kafka"]["spec"]["kafka"]
    assert all(listener["authentication"] == {"type": "scram-sha-512"} for listener in kafka["listeners"])
    assert kafka["authorization"] == {"type": "simple", "superUsers": ["cshub-admin"]}
    assert kafka["config"]["allow.everyone.if.no.acl.found"] is False
    assert kafka["config"]["auto.create.topics.enable"] is False
    assert kinds["KafkaNodePool"]["spec"]["roles"] == ["controller", "broker"]
    assert kinds["Kafka"]["spec"]["entityOperator"]["userOperator"]["watchedNamespace"] == "cshub"


def test_the_committed_strimzi_files_are_what_the_command_writes_now(tmp_path: Path) -> None:
    """A new province in the provinces file must reach Kubernetes: regenerate, or this fails."""
    assert _generate(tmp_path).returncode == 0
    for name in ("kafka.yaml", "users.yaml"):
        assert _docs(STRIMZI / name) == _docs(tmp_path / name), (
            f"deploy/k8s/strimzi/{name} is stale: run `cshub security strimzi --out deploy/k8s/strimzi`")


def test_every_hub_pod_names_a_principal_and_mounts_its_own_secret() -> None:
    users = {d["metadata"]["name"] for d in _docs(STRIMZI / "users.yaml")}
    pods = 0
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        for doc in _docs(path):
            if doc["kind"] not in ("Deployment", "Job"):
                continue
            spec = doc["spec"]["template"]["spec"]
            for container in spec["containers"]:
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                principal = env["CSHUB_PRINCIPAL"]
                assert principal in users, f"{path.name}: {principal} has no KafkaUser"
                mounts = {m["name"]: m for m in container["volumeMounts"]}
                secret = next(v["secret"] for v in spec["volumes"] if v["name"] == "credentials")
                assert secret["secretName"] == principal and secret["defaultMode"] == 0o400
                assert mounts["credentials"]["readOnly"] is True
                assert env["CSHUB_PASSWORD_FILE"].startswith(mounts["credentials"]["mountPath"])
                pods += 1
    assert pods == 4  # worker, notary, gateway, topics job


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "deploy" / "compose" / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_brokers_speak_only_sasl_and_deny_by_default() -> None:
    services = _compose()["services"]
    for name in ("kafka-1", "kafka-2", "kafka-3"):
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        protocols = dict(x.split(":") for x in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        assert set(protocols.values()) == {"SASL_PLAINTEXT"}, f"{name}: an unauthenticated listener"
        assert env["KAFKA_LISTENER_NAME_CONTROLLER_SASL_ENABLED_MECHANISMS"] == "PLAIN"
        assert env["KAFKA_LISTENER_NAME_CLIENT_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
        assert env["KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL"] == "PLAIN"  # the default would be GSSAPI
        assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
        assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
        assert "ANONYMOUS" not in env["KAFKA_SUPER_USERS"]
        assert set(env["KAFKA_SUPER_USERS"].split(";")) == {"User:cshub-admin", "User:cshub-broker",
                                                             "User:cshub-controller"}
        for key, value in env.items():
            if "JAAS" in key and "password=" in value:
                # compose writes $ as $$
                assert all(p.startswith('"$${dir:') for p in value.split("password=")[1:]), f"{key}: inline password"
        mounts = {m["target"]: m for m in services[name]["volumes"] if isinstance(m, dict)}
        assert mounts["/run/cshub-secrets"]["volume"] == {"subpath": "kafka"}
        assert services[name]["entrypoint"][-1] == "/opt/cshub/kafka-start.sh"
    assert (ROOT / "deploy" / "compose" / "kafka-start.sh").exists()


def test_compose_hub_services_each_log_in_as_their_own_principal() -> None:
    services = _compose()["services"]
    everyone = principals()
    expected = {"topics": "cshub-admin", "worker-1": "hub-worker", "worker-2": "hub-worker", "gateway": "gateway",
                "demo": "cshub-admin"}
    for name, principal in expected.items():
        svc = services[name]
        assert svc["environment"]["CSHUB_PRINCIPAL"] == principal and principal in everyone
        (mount,) = [m for m in svc["volumes"] if isinstance(m, dict) and m["source"] == "secrets"]
        assert mount["read_only"] is True and mount["volume"]["subpath"] == f"by-principal/{principal}", name
        assert svc["environment"]["CSHUB_PASSWORD_FILE"].startswith(mount["target"])
    assert services["security"]["command"][:2] == ["security", "apply"]
    assert "security init" in services["secrets"]["command"][0]


def test_the_start_script_keeps_passwords_out_of_argv() -> None:
    script = (ROOT / "deploy" / "compose" / "kafka-start.sh").read_text(encoding="utf-8")
    assert "java @/tmp/format.args" in script and "umask 077" in script
    assert "--add-scram" in script and "rm -f /tmp/format.args" in script
