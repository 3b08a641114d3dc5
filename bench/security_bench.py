"""What authentication costs: the same work through a secured and an open local broker, in one run.

Starts two brokers side by side (LocalCluster, data in a /tmp folder): one secured as `make run` is
(SCRAM-SHA-512 over SASL_PLAINTEXT, StandardAuthorizer, ACLs from the principals file), one open (the
old PLAINTEXT broker). Rounds alternate between them, so both see the same machine load. Each round:

- login: a fresh producer's first acknowledged record (connect, SASL handshake and SCRAM proof on the
  secured one, metadata, producer id);
- produce: --records inbound reports (~300 bytes, acks=all, idempotent) as a province (its own ACLs);
- consume: the same records read back by the auditor (manual assignment, READ ACL on the prefix);
- worker: --worker-reports loadgen reports (all 31 provinces) published first, then `cshub worker` starts
  (as `hub-worker` with its role's ACLs on the secured broker, unauthenticated on the open one);
  reports/s from its first applied record to its last (/health), i.e. the worker alone on a backlog.

Prints medians per broker and the ratio secured / open, with the load average (other engineers share
this machine).

Usage: .venv/bin/python bench/security_bench.py [--records 200000] [--rounds 3] [--worker-reports 30000]
       [--port 39096]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, cast

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from connectors.admin import ensure_topics
from connectors.security import apply_security
from deploy.local.broker import LocalCluster
from schemas import codec, reference
from schemas.kafka_config import KafkaConnection, kafka_python_config
from schemas.kinds import SCHEMA_OF_KIND
from schemas.principals import principals
from schemas.topics import Kind, TopicNames, TopicPlan
from streams.loadgen import generate

ROOT = Path(__file__).resolve().parents[1]

PROVINCE = "320000"


def connection(cluster: LocalCluster, principal: str) -> KafkaConnection:
    if not cluster.secure:
        return KafkaConnection(cluster.bootstrap)
    return KafkaConnection(cluster.bootstrap, principal, cluster.secrets.path(principal))


def client_config(cluster: LocalCluster, principal: str) -> dict[str, Any]:
    return kafka_python_config(connection(cluster, principal), client_id=f"bench-{principal}")


def prepare(cluster: LocalCluster, names: TopicNames) -> str:
    topic = names.inbound(PROVINCE, "facility")
    admin_auth = client_config(cluster, "cshub-admin")
    if cluster.secure:
        everyone = principals()
        for name in everyone:
            cluster.secrets.ensure(name)
        admin = cluster.admin_credentials()
        assert admin is not None
        apply_security(cluster.bootstrap, admin, cluster.secrets, everyone, names, f"{names.root}-worker")
    client = KafkaAdminClient(**admin_auth)
    client.create_topics([NewTopic(topic, 1, 1)])
    client.close()
    return topic


def login_s(cluster: LocalCluster, topic: str) -> float:
    t0 = time.perf_counter()
    producer = KafkaProducer(**client_config(cluster, f"province-{PROVINCE}"), acks="all")
    producer.send(topic, key=b"login", value=b"x").get(timeout=30)
    elapsed = time.perf_counter() - t0
    producer.close(5)
    return elapsed


def produce_s(cluster: LocalCluster, topic: str, n: int) -> float:
    producer = KafkaProducer(**client_config(cluster, f"province-{PROVINCE}"), acks="all", enable_idempotence=True,
                             linger_ms=20, batch_size=256 * 1024)
    producer.send(topic, key=b"warm", value=b"x").get(timeout=30)  # connection and producer id outside the timing
    value = os.urandom(300)
    t0 = time.perf_counter()
    for i in range(n):
        producer.send(topic, key=f"r{i}".encode(), value=value)
    producer.flush(120)
    elapsed = time.perf_counter() - t0
    producer.close(5)
    return elapsed


def consume_s(cluster: LocalCluster, topic: str) -> tuple[float, int]:
    consumer = KafkaConsumer(**client_config(cluster, "auditor-cnao"), group_id=None, enable_auto_commit=False,
                             max_poll_records=10_000, fetch_max_bytes=64 * 1024 * 1024,
                             max_partition_fetch_bytes=8 * 1024 * 1024)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    end = consumer.end_offsets([tp])[tp]
    consumer.seek_to_beginning(tp)
    got = 0
    t0 = time.perf_counter()
    while consumer.position(tp) < end:
        for batch in consumer.poll(timeout_ms=1000).values():
            got += len(batch)
    elapsed = time.perf_counter() - t0
    consumer.close()
    return elapsed, got


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return dict(json.loads(r.read()))
    except (OSError, ValueError):
        return {}


def worker_rps(cluster: LocalCluster, tmp: Path, label: str, n_reports: int) -> float:
    """A backlog of loadgen reports, then `cshub worker`: reports/s from its first applied record to its last."""
    names = TopicNames(f"w{label}{int(time.time() * 1000) % 100000}")
    app_id = f"{names.root}-worker"
    provinces = tuple(reference.provinces())
    if cluster.secure:
        admin = cluster.admin_credentials()
        assert admin is not None
        apply_security(cluster.bootstrap, admin, cluster.secrets, principals(), names, app_id)
    ensure_topics(connection(cluster, "cshub-admin"), TopicPlan(names, provinces, app_id=app_id).specs())
    records = generate(n_reports, provinces, tuple(reference.policy_items()), seed=7)
    producer = KafkaProducer(**client_config(cluster, "cshub-admin"), linger_ms=5, batch_size=1024 * 1024, acks=1)
    for k, r in records:
        kind = cast(Kind, k)
        producer.send(names.inbound(r["province"], kind), key=r["report_id"].encode(),
                      value=codec.encode(SCHEMA_OF_KIND[kind], r))
    producer.flush(120)
    producer.close(5)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("CSHUB_PRINCIPAL", "CSHUB_PASSWORD_FILE")}
    env.update(CSHUB_BOOTSTRAP=cluster.bootstrap, CSHUB_TOPIC_ROOT=names.root, CSHUB_APP_ID=app_id,
               CSHUB_DATA_DIR=str(tmp / f"{names.root}-state"), CSHUB_WEB_PORT=str(port), CSHUB_LOG_LEVEL="error",
               CSHUB_INSTANCE_ID=names.root)
    if cluster.secure:
        env.update(CSHUB_PRINCIPAL="hub-worker", CSHUB_PASSWORD_FILE=str(cluster.secrets.path("hub-worker")))
    with (tmp / f"{names.root}.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cshub.cli", "worker"], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        first = last = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            applied = health(port).get("applied", 0)
            if applied and first is None:
                first = (time.monotonic(), applied)
            if applied >= len(records):
                last = time.monotonic()
                break
            time.sleep(0.05)
        if first is None or last is None:
            raise RuntimeError(f"the worker on the {label} broker did not finish; see {tmp / (names.root + '.log')}")
        return (len(records) - first[1]) / max(last - first[0], 1e-6)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker-reports", type=int, default=30_000, help="0: no worker phase")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CSHUB_BENCH_PORT", "39096")),
                        help="client port of the secured broker; the open one uses port+2 (each takes two ports)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cshub-security-bench-"))
    clusters = {"secured": LocalCluster(tmp / "secured", base_port=args.port),
                "open": LocalCluster(tmp / "open", base_port=args.port + 2, secure=False)}
    results: dict[str, dict[str, list[float]]] = {k: {"login_ms": [], "produce_rps": [], "consume_rps": [],
                                                      "worker_rps": []} for k in clusters}
    try:
        topics = {}
        for label, cluster in clusters.items():
            cluster.start()
            topics[label] = prepare(cluster, TopicNames(f"bench{label}"))
        for _ in range(args.rounds):
            for label, cluster in clusters.items():
                r = results[label]
                r["login_ms"].append(login_s(cluster, topics[label]) * 1000)
                r["produce_rps"].append(args.records / produce_s(cluster, topics[label], args.records))
                seconds, got = consume_s(cluster, topics[label])
                r["consume_rps"].append(got / seconds)
        report(args, results)  # produce/consume first: a failing worker phase must not lose them
        if args.worker_reports:
            for label, cluster in clusters.items():
                results[label]["worker_rps"].append(worker_rps(cluster, tmp, label, args.worker_reports))
            report(args, results)
        shutil.rmtree(tmp, ignore_errors=True)  # kept (with the worker logs) when something failed
    finally:
        for cluster in clusters.values():
            cluster.stop()


def report(args: argparse.Namespace, results: dict[str, dict[str, list[float]]]) -> None:
    load = os.getloadavg()
    print(f"{args.records} records x {args.rounds} rounds per broker; load average {load[0]:.2f} {load[1]:.2f}"
          f" {load[2]:.2f} on {os.cpu_count()} cores")
    print(f"{'':14}{'secured':>12}{'open':>12}{'secured/open':>14}")
    for metric in ("login_ms", "produce_rps", "consume_rps", "worker_rps"):
        if not results["open"][metric]:
            continue
        sec, opn = (statistics.median(results[k][metric]) for k in ("secured", "open"))
        print(f"{metric:14}{sec:12.1f}{opn:12.1f}{sec / opn:14.3f}")


if __name__ == "__main__":
    main()
