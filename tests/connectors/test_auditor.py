"""The auditor's replay against a real broker: equal tables, a tampered row caught, --until, archives.

The published tables come from the real worker (`cshub worker`, a subprocess) when it is installed, and
always also from a stand-in that folds the same records with the core and publishes its rows: the
auditor must agree with both, and must catch a single false row.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from connectors import auditor
from connectors.admin import ensure_topics
from connectors.archive import Manifest, verify_integrity
from connectors.subscriber import Subscriber
from core import KIND_OF_SCHEMA, REPORT_TABLES, Hub, encode_row, obligation_rows, problems
from schemas import codec, samples
from schemas.kafka_config import kafka_python_config
from schemas.topics import NATIONAL_CODE, TopicNames, TopicPlan

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PROVINCES = ("320000", "440000", "510000")
Send = tuple[str, bytes | None, bytes]  # topic, key, value


def _stream(names: TopicNames, seed: int, phase: int) -> list[Send]:
    """A province-realistic stream with duplicates, corrections, older revisions, withdrawals and bad records."""
    rng = random.Random(seed * 10 + phase)
    out: list[Send] = []
    for province in PROVINCES:
        county = province[:2] + "0102"
        facility_topic = names.inbound(province, "facility")
        for n in range(phase * 40, phase * 40 + 40):
            rid = f"F-{province}-{n:04d}"
            base = samples.facility(report_id=rid, province=province, county_code=county,
                                    community_code=f"{county}{n:06d}", area_type="URBAN" if n % 3 else "RURAL",
                                    households=rng.randint(300, 3000), floor_area_m2=Decimal(rng.randint(50, 1500)),
                                    status=rng.choice(["PLANNED", "COMPLETED", "OPERATING"]))
            first = codec.encode("FacilityReport", base)
            out.append((facility_topic, rid.encode(), first))
            if n % 5 == 0:  # duplicate
                out.append((facility_topic, rid.encode(), first))
            if n % 3 == 0:  # correction, then the older revision arrives again
                fixed = {**base, "revision": 2, "status": "OPERATING", "floor_area_m2": Decimal("900.00")}
                out.append((facility_topic, rid.encode(), codec.encode("FacilityReport", fixed)))
                out.append((facility_topic, rid.encode(), first))
            if n % 7 == 0:  # withdrawal
                gone = {**base, "revision": 3, "withdrawn": True}
                out.append((facility_topic, rid.encode(), codec.encode("FacilityReport", gone)))
        funding_topic = names.inbound(province, "funding")
        for n in range(phase * 8, phase * 8 + 8):
            rid = f"M-{province}-{n:03d}"
            money = samples.funding(report_id=rid, province=province, revision=1, source="CENTRAL_BUDGET",
                                    bond_code=None, allocated_yuan=Decimal(f"{rng.randint(1, 10**7)}.{n % 100:02d}"),
                                    disbursed_yuan=Decimal("1000.01"))
            out.append((funding_topic, rid.encode(), codec.encode("FundingReport", money)))
            if n % 2:
                more = {**money, "revision": 2, "disbursed_yuan": Decimal("2000.02")}
                out.append((funding_topic, rid.encode(), codec.encode("FundingReport", more)))
        policy = samples.policy(report_id=f"P-{province}", province=province, revision=phase + 1)
        out.append((names.inbound(province, "policy"), f"P-{province}".encode(), codec.encode("PolicyReport", policy)))
    # bad input: garbage, a record about another province, a broken business rule
    out.append((names.inbound("320000", "facility"), b"junk", b"\xc3\x01garbage"))
    other = samples.facility(report_id="X-1", province="440000", county_code="440102", community_code="440102000001")
    out.append((names.inbound("320000", "facility"), b"X-1", codec.encode("FacilityReport", other)))
    negative = samples.facility(report_id=f"N-{phase}", households=-5)
    out.append((names.inbound("320000", "facility"), b"N", codec.encode("FacilityReport", negative)))
    return out


def _send(bootstrap: str, records: list[Send]) -> None:
    producer = KafkaProducer(**kafka_python_config(bootstrap, client_id="cshub-test"), acks="all", linger_ms=5)
    try:
        for topic, key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=60)
    finally:
        producer.close()


def _publish_rows(bootstrap: str, names: TopicNames, rows: dict[tuple[str, str], dict[str, Any]]) -> None:
    producer = KafkaProducer(**kafka_python_config(bootstrap, client_id="cshub-test"), acks="all")
    try:
        for (table, province), row in rows.items():
            producer.send(names.national(table), key=province.encode(), value=encode_row(table, row))
        producer.flush(timeout=60)
    finally:
        producer.close()


class CoreStandIn:
    """Publishes what the worker would, straight from the core: validate, fold, rows (no Faust)."""

    def __init__(self, names: TopicNames) -> None:
        self.names = names
        self.hub: Hub = auditor.AuditSetup.default().hub()
        self.offsets: dict[str, int] = {}

    def fold(self, records: list[Send], ts_ms: int) -> None:
        provinces = frozenset(self.hub.config.provinces)
        for topic, _key, value in records:
            offset = self.offsets.get(topic, 0)
            self.offsets[topic] = offset + 1
            province, kind = self.names.parse_inbound(topic)  # type: ignore[misc]  # all inbound here
            try:
                decoded = codec.decode(value)
            except ValueError:
                continue
            if not problems(province, kind, decoded.name, decoded.value, provinces):
                self.hub.apply(KIND_OF_SCHEMA[decoded.name], decoded.value, ts_ms, topic, 0, offset)

    def rows(self, now_ms: int) -> dict[tuple[str, str], dict[str, Any]]:
        return {**self.hub.rows(tables=REPORT_TABLES), **obligation_rows(self.hub, now_ms)[0]}


def _topics(bootstrap: str, names: TopicNames) -> None:
    ensure_topics(bootstrap, TopicPlan(names, tuple(PROVINCES), partitions=1).hub_specs())


def _false_row(bootstrap: str, names: TopicNames, table: str, province: str) -> None:
    sub = Subscriber(bootstrap, names=names)
    row = next(r for r in sub.table(table) if r.province == province).values
    row = {**row, "urban_covered": row["urban_covered"] + 1}
    _publish_rows(bootstrap, names, {(table, province): row})


def _audit_cli(bootstrap: str, root: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cshub.cli", "audit", *extra, "--bootstrap", bootstrap,
                           "--topic-root", root], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_replay_equals_core_published_tables_then_catches_a_false_row(
        kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path) -> None:
    names = TopicNames(unique_name("aud"))
    _topics(kafka_bootstrap, names)
    stand_in = CoreStandIn(names)

    phase1 = _stream(names, 1, 0)
    _send(kafka_bootstrap, phase1)
    t1 = int(time.time() * 1000)
    stand_in.fold(phase1, t1)
    _publish_rows(kafka_bootstrap, names, stand_in.rows(t1))
    rows_at_t1 = {k: v for k, v in stand_in.rows(t1).items()}
    time.sleep(1.2)
    until = int(time.time() * 1000)
    time.sleep(1.2)
    phase2 = _stream(names, 1, 1)
    _send(kafka_bootstrap, phase2)
    t2 = int(time.time() * 1000)
    stand_in.fold(phase2, t2)
    _publish_rows(kafka_bootstrap, names, stand_in.rows(t2))

    # the whole stream: replay equals the published tables, in one process and in two
    for workers in (1, 2):
        hub, stats = auditor.replay_kafka(kafka_bootstrap, names, workers=workers)
        assert stats.records == len(phase1) + len(phase2)
        assert sum(stats.rejected.values()) == 6  # garbage, another province's record, a broken rule; twice
        published = auditor.published_from_kafka(kafka_bootstrap, names)
        assert auditor.compare(hub, published) == []
    # the national row is not trivial: corrections replaced, withdrawals removed
    national = published[("facilities", NATIONAL_CODE)]
    assert national["total"] == len(PROVINCES) * 80 - len(PROVINCES) * len([n for n in range(80) if n % 7 == 0])

    # --until: the tables as they stood between the phases
    hub_then, stats_then = auditor.replay_kafka(kafka_bootstrap, names, until_ms=until)
    assert stats_then.after_until == len(phase2)
    published_then = auditor.published_from_kafka(kafka_bootstrap, names, until_ms=until)
    assert published_then[("coverage", "320000")] != published[("coverage", "320000")]
    assert auditor.compare(hub_then, published_then) == []
    assert {k: codec.decode(encode_row(k[0], v)).value["urban_covered"] for k, v in rows_at_t1.items()
            if k[0] == "coverage"} == {k: v["urban_covered"] for k, v in published_then.items() if k[0] == "coverage"}
    cli = _audit_cli(kafka_bootstrap, names.root, "replay", "--until", str(until))
    assert cli.returncode == 0, cli.stdout + cli.stderr

    # export, then verify from the files alone: same tables, same verdict
    archive = tmp_path / "archive"
    manifest = auditor.export(kafka_bootstrap, names, archive, max_records_per_file=100)
    assert verify_integrity(archive, Manifest.load(archive)) == []
    assert any(len(p.files) > 1 for p in manifest.partitions)  # files roll over, offsets stay contiguous
    hub_files, stats_files = auditor.replay_archive(archive, names)
    assert stats_files.records == stats.records
    assert hub_files.rows() == hub.rows()
    assert auditor.compare(hub_files, auditor.published_from_archive(archive, names)) == []
    cli = subprocess.run([sys.executable, "-m", "cshub.cli", "audit", "verify", str(archive), "--topic-root",
                          names.root], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert cli.returncode == 0 and "audit passed" in cli.stdout, cli.stdout + cli.stderr

    # a false row: reported with table, province and field, and a non-zero exit
    _false_row(kafka_bootstrap, names, "coverage", "440000")
    cli = _audit_cli(kafka_bootstrap, names.root, "replay")
    assert cli.returncode == 1, cli.stdout + cli.stderr
    differences = [line for line in cli.stdout.splitlines() if "DIFFERENCE" in line]
    assert len(differences) == 1 and "coverage" in differences[0] and "440000" in differences[0]
    assert "urban_covered" in differences[0]

    # a damaged archive file is refused before any replay
    victim = archive / manifest.partitions[0].files[0].path if manifest.partitions[0].files else None
    victim = victim or next(archive.rglob("*.avro"))
    victim.write_bytes(victim.read_bytes()[:-7] + b"tamper!")
    assert verify_integrity(archive, Manifest.load(archive)) != []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture
def worker(kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path) -> Iterator[tuple[TopicNames, str]]:
    """`cshub worker` as a subprocess on a unique root; yields (names, web url)."""
    if importlib.util.find_spec("streams.app") is None:
        pytest.skip("the streams worker (streams/app.py) is not in this tree")
    names = TopicNames(unique_name("audw"))
    port = _free_port()
    env = {**os.environ, "CSHUB_STORE": "memory", "CSHUB_DATA_DIR": str(tmp_path / "worker")}
    proc = subprocess.Popen([sys.executable, "-m", "cshub.cli", "worker", "--bootstrap", kafka_bootstrap,
                             "--topic-root", names.root, "--web-port", str(port), "--app-id", unique_name("app")],
                            cwd=ROOT, env=env, stdout=(tmp_path / "worker.log").open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            try:
                return bool(_get(f"{url}/health").get("ready"))
            except OSError:
                return False
        _wait(ready, 120, "the worker to be ready")
        yield names, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_replay_equals_the_workers_tables_and_the_subscriber_equals_its_web_view(
        kafka_bootstrap: str, worker: tuple[TopicNames, str]) -> None:
    names, url = worker
    phase1 = _stream(names, 2, 0)
    _send(kafka_bootstrap, phase1)

    def caught_up() -> bool:
        hub, _ = auditor.replay_kafka(kafka_bootstrap, names, workers=1)
        return auditor.compare(hub, auditor.published_from_kafka(kafka_bootstrap, names, REPORT_TABLES),
                               REPORT_TABLES) == []
    _wait(caught_up, 120, "the worker's tables to equal the replay after phase 1")
    time.sleep(1.0)
    until = int(time.time() * 1000)
    time.sleep(1.0)
    _send(kafka_bootstrap, _stream(names, 2, 1))
    _wait(caught_up, 120, "the worker's tables to equal the replay after phase 2")

    hub, stats = auditor.replay_kafka(kafka_bootstrap, names)
    assert sum(stats.rejected.values()) == 6
    assert auditor.compare(hub, auditor.published_from_kafka(kafka_bootstrap, names, REPORT_TABLES),
                           REPORT_TABLES) == []
    hub_then, _ = auditor.replay_kafka(kafka_bootstrap, names, until_ms=until)
    then = auditor.published_from_kafka(kafka_bootstrap, names, REPORT_TABLES, until_ms=until)
    assert then and auditor.compare(hub_then, then, REPORT_TABLES) == []

    # the subscriber's table is the worker's web view (values; the web view has no Kafka offsets)
    web = _get(f"{url}/national/coverage")
    rows = Subscriber(kafka_bootstrap, names=names).table("coverage")
    assert rows[0].province == NATIONAL_CODE and [r.province for r in rows[1:]] == sorted(r.province for r in rows[1:])
    mine = {r.province: {k: str(v) if isinstance(v, Decimal) else v for k, v in r.values.items()
                         if k not in ("offsets", "as_of")} for r in rows}
    theirs = {p: {k: v for k, v in row.items() if k not in ("offsets", "as_of")} for p, row in web.items()}
    assert mine == theirs

    _false_row(kafka_bootstrap, names, "coverage", "510000")
    diffs = auditor.compare(hub, auditor.published_from_kafka(kafka_bootstrap, names, REPORT_TABLES), REPORT_TABLES)
    assert [(d.table, d.province, d.field) for d in diffs] == [("coverage", "510000", "urban_covered")]
