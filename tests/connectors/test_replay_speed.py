"""The auditor's fast read path: the bulk reader against a real broker, exact repeats, the progress line.

Speed itself is measured by bench/audit_bench.py; these tests pin what speed must not change: every record
read once to the end offsets in offset order, the same fold as one `decide` + `Hub.apply` per record, and a
progress line on a terminal only.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from kafka import KafkaProducer

from connectors import auditor, progress
from connectors.admin import ensure_topics
from connectors.bulk_read import read_partitions
from core import Rejected, Source, decide
from schemas import codec, samples
from schemas.kafka_config import kafka_python_config
from schemas.topics import TopicNames, TopicPlan

ROOT = Path(__file__).resolve().parents[2]
PROVINCES = ("320000", "440000")


def _facility(province: str, n: int, revision: int = 1) -> bytes:
    county = province[:2] + "0102"
    return codec.encode("FacilityReport", samples.facility(
        report_id=f"F-{province}-{n % 50:04d}", province=province, revision=revision, county_code=county,
        community_code=f"{county}{n % 50:06d}", households=300 + n, floor_area_m2=Decimal(100 + n % 700)))


def _stream(names: TopicNames, per_province: int) -> list[tuple[str, bytes]]:
    """Facility reports with corrections and runs of exact repeats (what a resending province produces)."""
    out: list[tuple[str, bytes]] = []
    for province in PROVINCES:
        topic = names.inbound(province, "facility")
        for n in range(per_province):
            value = _facility(province, n, revision=n // 50 + 1)
            out += [(topic, value)] * (1 + n % 3)  # 1, 2 or 3 copies in a row
        out.append((topic, b"\xc3\x01not avro"))  # a rejection, repeated too
        out.append((topic, b"\xc3\x01not avro"))
    return out


def _send(bootstrap: str, records: list[tuple[str, bytes]]) -> None:
    producer = KafkaProducer(**kafka_python_config(bootstrap, client_id="cshub-test", acks="all", linger_ms=20))
    try:
        for topic, value in records:
            producer.send(topic, value=value)
        producer.flush(timeout=60)
    finally:
        producer.close()


@pytest.fixture
def inbound(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> tuple[TopicNames, list[tuple[str, bytes]]]:
    names = TopicNames(unique_name("fast"))
    ensure_topics(kafka_bootstrap, TopicPlan(names, PROVINCES, partitions=1).hub_specs())
    records = _stream(names, 1500)
    _send(kafka_bootstrap, records)
    return names, records


@pytest.mark.integration
def test_bulk_reader_reads_every_record_once_in_offset_order_and_stops_at_the_end(
        kafka_bootstrap: str, inbound: tuple[TopicNames, list[tuple[str, bytes]]]) -> None:
    names, records = inbound
    empty = (names.inbound("320000", "funding"), 0)
    tps = [(names.inbound(p, "facility"), 0) for p in PROVINCES] + [empty]
    batches: list[int] = []
    started = time.monotonic()
    got = list(read_partitions(kafka_bootstrap, tps, on_batch=batches.append, idle_timeout_s=30))
    assert time.monotonic() - started < 60
    assert len(got) == len(records) == sum(batches)
    for topic, _ in tps:
        offsets = [offset for t, _p, offset, _ts, _v in got if t == topic]
        assert offsets == list(range(len(offsets)))
        assert [v for t, _p, _o, _ts, v in got if t == topic] == [v for t, v in records if t == topic]
    assert list(read_partitions(kafka_bootstrap, [empty])) == []


def test_exact_repeats_fold_exactly_as_one_decision_per_record() -> None:
    """Reusing the decision of an exact repeat must leave the very state `decide` + `apply` per record gives."""
    names = TopicNames("unit")
    raw: list[auditor.Raw] = []
    for i, (topic, value) in enumerate(_stream(names, 300)):
        raw.append((topic, 0, i, 1_700_000_000_000 + i * 1000, value))
    fast = auditor.Replayer(auditor.AuditSetup.default(), names)
    fast.feed(raw)
    reference = auditor.AuditSetup.default().hub()
    rejected = 0
    provinces = frozenset(auditor.AuditSetup.default().provinces)
    for topic, partition, offset, ts, value in raw:
        decision = decide(Source(topic, partition, offset, None, ts), value, names, provinces)
        if isinstance(decision, Rejected):
            rejected += 1
            continue
        reference.apply(decision.kind, decision.record, ts, topic, partition, offset)
    assert fast.stats.records == len(raw)
    assert sum(fast.stats.rejected.values()) == rejected == 2 * len(PROVINCES)
    assert fast.hub.entries == reference.entries
    assert fast.hub.received == reference.received
    assert fast.hub.positions == reference.positions  # the repeats' offsets count too
    assert fast.hub.rows() == reference.rows()


def test_progress_line_says_records_rate_and_time_left() -> None:
    assert progress.line(1_200_000, 4_000_000, 12.0) == (
        "replay: 1,200,000 of 4,000,000 records (30 %), 100,000/s, about 28 s left")
    assert progress.line(4_000_000, 4_000_000, 40.0) == "replay: 4,000,000 of 4,000,000 records (100 %), 100,000/s"
    assert progress.line(0, 36_000_000, 1.0) == "replay: 0 of 36,000,000 records (0 %), 0/s"
    assert "about 1 h 00 min left" in progress.line(10_000, 36_010_000, 1.0)


def _replay_cli(bootstrap: str, root: str, stderr: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "cshub.cli", "audit", "replay", "--bootstrap", bootstrap, "--topic-root", root,
           "--workers", "2"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT)


@pytest.mark.integration
def test_progress_line_on_a_terminal_and_not_in_a_pipe(
        kafka_bootstrap: str, inbound: tuple[TopicNames, list[tuple[str, bytes]]]) -> None:
    names, records = inbound
    master, slave = pty.openpty()
    try:
        proc = _replay_cli(kafka_bootstrap, names.root, slave)
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        proc.wait(timeout=60)
    finally:
        os.close(master)
    text = seen.decode("utf-8", errors="replace")
    total = len(records)
    assert f"replay: {total:,} of {total:,} records (100 %)" in text, text
    assert "/s" in text

    piped = _replay_cli(kafka_bootstrap, names.root, subprocess.PIPE)
    _, err = piped.communicate(timeout=120)
    assert b"replay:" not in err, err
