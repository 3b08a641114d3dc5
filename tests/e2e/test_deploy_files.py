"""Static checks of deploy/compose, deploy/k8s and deploy/Dockerfile (Docker does not run here).

What can be checked without an engine: the YAML parses; the three KRaft brokers agree on their
voters, ids, listeners and replication settings; every hub container runs a real `cshub` command
whose flags the CLI accepts; ports, env and labels are consistent between services.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from cshub.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text(encoding="utf-8"))


def _k8s_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def _check_cshub_args(argv: list[str], where: str) -> None:
    """The command exists and its flags parse exactly as the CLI would parse them."""
    assert argv, f"{where}: empty command"
    assert argv[0] in COMMANDS, f"{where}: '{argv[0]}' is not a cshub command ({sorted(COMMANDS)})"
    try:
        build_parser(only=argv[0]).parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"{where}: `cshub {shlex.join(argv)}` is rejected by the CLI") from exc


def test_compose_has_three_kraft_brokers_with_replication_3_and_min_isr_2() -> None:
    services = _compose()["services"]
    brokers = {name: svc for name, svc in services.items() if str(svc.get("image", "")).startswith("apache/kafka")}
    assert sorted(brokers) == ["kafka-1", "kafka-2", "kafka-3"]
    ids, external_ports, cluster_ids = set(), set(), set()
    for name, svc in brokers.items():
        assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", svc["image"]), f"{name}: pin a 4.x image, got {svc['image']}"
        env = {k: str(v) for k, v in svc["environment"].items()}
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
        voters = dict(v.split("@") for v in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))
        assert voters == {"1": "kafka-1:9093", "2": "kafka-2:9093", "3": "kafka-3:9093"}
        assert voters[env["KAFKA_NODE_ID"]].split(":")[0] == name == svc["hostname"]
        ids.add(env["KAFKA_NODE_ID"])
        cluster_ids.add(env["CLUSTER_ID"])
        assert f"CLIENT://{name}:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
        external = re.search(r"EXTERNAL://127\.0\.0\.1:(\d+)", env["KAFKA_ADVERTISED_LISTENERS"])
        assert external, f"{name}: no EXTERNAL listener for the host"
        assert f"EXTERNAL://:{external.group(1)}" in env["KAFKA_LISTENERS"]
        assert svc["ports"] == [f"127.0.0.1:{external.group(1)}:{external.group(1)}"]
        external_ports.add(external.group(1))
    assert ids == {"1", "2", "3"} and len(external_ports) == 3
    (cluster_id,) = cluster_ids
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id), "CLUSTER_ID must be a 22-character base64 Kafka uuid"


def test_compose_hub_services_run_real_cshub_commands_against_the_brokers() -> None:
    compose = _compose()
    services = compose["services"]
    hub = {name: svc for name, svc in services.items()
           if str(svc.get("image", "")).startswith("cshub:") and "entrypoint" not in svc}  # `secrets` runs sh
    assert {"topics", "worker-1", "worker-2", "gateway", "demo"} <= set(hub)
    workers = [svc for svc in hub.values() if svc["command"] == ["worker"]]
    ids = [svc["environment"].get("CSHUB_INSTANCE_ID") for svc in workers]
    assert len(workers) >= 2 and None not in ids and len(set(ids)) == len(ids), "each worker needs its own member id"
    assert services["topics"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / "compose" / services["topics"]["build"]["context"] / "pyproject.toml").resolve().exists()
    for name, svc in hub.items():
        _check_cshub_args(svc["command"], f"compose service {name}")
        env = svc.get("environment", {})
        bootstrap = env.get("CSHUB_BOOTSTRAP") or svc["command"][svc["command"].index("--bootstrap") + 1]
        for addr in bootstrap.split(","):
            host, port = addr.split(":")
            assert host in services and port == "9092", f"{name}: bootstrap {addr} is not a broker's client port"
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
    topics = services["topics"]  # the topic plan comes from the same settings as the workers'
    assert topics["command"] == ["topics", "create"] and topics["environment"]["CSHUB_REPLICATION"] == "3"
    for key in ("CSHUB_PARTITIONS", "CSHUB_TOPIC_ROOT", "CSHUB_BOOTSTRAP"):
        assert services["worker-1"]["environment"][key] == topics["environment"][key], key
    gateway = services["gateway"]
    port = gateway["command"][gateway["command"].index("--port") + 1]
    assert gateway["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert "--host" in gateway["command"] and "0.0.0.0" in gateway["command"], "the gateway must listen beyond loopback"
    assert services["demo"].get("profiles") == ["demo"], "the demo feed runs only on request"


def test_dockerfile_entrypoint_is_the_cshub_script_and_copies_every_package() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "cshub" in pyproject["project"]["scripts"]
    assert re.search(r'^ENTRYPOINT \["cshub"\]$', text, re.M)
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert cmd, "the Dockerfile needs a default CMD"
    _check_cshub_args(yaml.safe_load(cmd.group(1)), "Dockerfile CMD")
    assert re.search(r"^FROM python:3\.11", text, re.M), "the image's Python must match requires-python"
    copied = set(re.findall(r"^COPY (\S+) ", text, re.M))
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"packages not copied into the image: {sorted(packages - copied)}"
    for path in copied:
        assert (ROOT / path).exists(), f"COPY {path}: no such path in the repository"


def test_k8s_manifests_are_consistent() -> None:
    docs = _k8s_docs()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {("ConfigMap", "cshub-config"), ("Deployment", "cshub-worker"), ("Deployment", "cshub-gateway"),
            ("Service", "cshub-gateway"), ("Job", "cshub-topics")} <= kinds
    assert not any(d["kind"] == "StatefulSet" for d in docs)
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert config["CSHUB_REPLICATION"] == "3"
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        pod = doc["spec"]["template"]
        if doc["kind"] == "Deployment":
            assert doc["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        for container in pod["spec"]["containers"]:
            where = f"{doc['kind']} {doc['metadata']['name']}"
            for ref in container.get("envFrom", []):
                assert ref["configMapRef"]["name"] == "cshub-config"
            args = [re.sub(r"\$\((\w+)\)", lambda m: config[m.group(1)], a) for a in container["args"]]
            _check_cshub_args(args, where)
            port_names = {p["name"] for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                if probe in container:
                    assert container[probe]["httpGet"]["port"] in port_names
                    assert container[probe]["httpGet"]["path"] == "/health"
    service = next(d for d in docs if d["kind"] == "Service")
    gateway = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "cshub-gateway")
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    assert service["spec"]["selector"].items() <= gateway["spec"]["template"]["metadata"]["labels"].items()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in ports
    assert str(ports["http"]) == container["args"][container["args"].index("--port") + 1]


@pytest.mark.parametrize("name", ["worker", "notary", "gateway", "topics-job", "configmap"])
def test_each_k8s_file_parses(name: str) -> None:
    assert list(yaml.safe_load_all((DEPLOY / "k8s" / f"{name}.yaml").read_text(encoding="utf-8")))
