"""The ministry subscriber against a real broker: the current table, typed rows, CLI output and --follow."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaProducer

from connectors.admin import ensure_topics
from connectors.subscriber import Subscriber
from core import HubConfig, build_row, encode_row, notification
from schemas import codec
from schemas.kafka_config import kafka_python_config
from schemas.topics import NATIONAL_CODE, TopicNames, TopicPlan

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CONFIG = HubConfig.from_reference()


def _coverage(province: str, covered: int, communities: int = 100) -> dict:
    totals = {"urban_communities": communities, "urban_covered": covered, "rural_communities": 50,
              "rural_covered": 45}
    return build_row("coverage", province, totals, CONFIG, {})


def _send(bootstrap: str, topic: str, key: str, value: bytes | None) -> None:
    producer = KafkaProducer(**kafka_python_config(bootstrap, client_id="cshub-test"), acks="all")
    try:
        producer.send(topic, key=key.encode(), value=value).get(timeout=30)
    finally:
        producer.close()


@pytest.fixture
def names(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> TopicNames:
    names = TopicNames(unique_name("sub"))
    ensure_topics(kafka_bootstrap, TopicPlan(names, ()).hub_specs(kinds=()))
    return names


def test_table_is_the_latest_row_per_province_national_first(kafka_bootstrap: str, names: TopicNames) -> None:
    topic = names.national("coverage")
    _send(kafka_bootstrap, topic, "440000", encode_row("coverage", _coverage("440000", 10)))
    _send(kafka_bootstrap, topic, "320000", encode_row("coverage", _coverage("320000", 100)))
    _send(kafka_bootstrap, topic, NATIONAL_CODE, encode_row("coverage", _coverage(NATIONAL_CODE, 55, 200)))
    _send(kafka_bootstrap, topic, "440000", encode_row("coverage", _coverage("440000", 20)))  # newer row wins
    _send(kafka_bootstrap, topic, "510000", encode_row("coverage", _coverage("510000", 1)))
    _send(kafka_bootstrap, topic, "510000", None)  # tombstone: the row is gone

    rows = Subscriber(kafka_bootstrap, names=names).table("coverage")

    assert [r.province for r in rows] == [NATIONAL_CODE, "320000", "440000"]
    assert rows[0].province_name == "全国" and rows[1].province_name == "江苏省"
    assert rows[2].values["urban_covered"] == 20
    assert rows[1].targets == {"urban": True, "rural": True} and rows[2].targets["urban"] is False


def test_cli_prints_the_table_csv_and_jsonl(kafka_bootstrap: str, names: TopicNames) -> None:
    topic = names.national("coverage")
    _send(kafka_bootstrap, topic, "320000", encode_row("coverage", _coverage("320000", 100)))
    _send(kafka_bootstrap, topic, "440000", encode_row("coverage", _coverage("440000", 10)))
    base = [sys.executable, "-m", "cshub.cli", "subscribe", "national", "--table", "coverage", "--bootstrap",
            kafka_bootstrap, "--topic-root", names.root]
    table = subprocess.run(base, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert table.returncode == 0, table.stderr
    assert "江苏省" in table.stdout and "广东省" in table.stdout and "✓ met" in table.stdout
    assert "✗ at risk" in table.stdout and "100.00%" in table.stdout
    assert table.stdout.index("320000") < table.stdout.index("440000")

    csv_out = subprocess.run([*base, "--format", "csv"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    lines = csv_out.stdout.splitlines()
    assert lines[0].startswith("province,province_name,urban_communities")
    assert lines[1].startswith("320000,江苏省,100,100,1.0000")

    jsonl = subprocess.run([*base, "--format", "jsonl"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    first = json.loads(jsonl.stdout.splitlines()[0])
    assert first["province"] == "320000" and first["urban_coverage"] == "1.0000" and first["urban_met"] is True


def test_follow_prints_a_new_row(kafka_bootstrap: str, names: TopicNames) -> None:
    topic = names.national("coverage")
    _send(kafka_bootstrap, topic, "320000", encode_row("coverage", _coverage("320000", 40)))
    cmd = [sys.executable, "-m", "cshub.cli", "subscribe", "national", "--table", "coverage", "--follow",
           "--format", "jsonl", "--bootstrap", kafka_bootstrap, "--topic-root", names.root]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True).start()
    try:
        first = json.loads(lines.get(timeout=60))
        assert (first["province"], first["urban_covered"]) == ("320000", 40)
        time.sleep(0.5)
        _send(kafka_bootstrap, topic, "320000", encode_row("coverage", _coverage("320000", 41)))
        _send(kafka_bootstrap, topic, "330000", encode_row("coverage", _coverage("330000", 7)))
        seen = [json.loads(lines.get(timeout=60)) for _ in range(2)]
        assert [(r["province"], r["urban_covered"]) for r in seen] == [("320000", 41), ("330000", 7)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_notifications_are_typed(kafka_bootstrap: str, names: TopicNames) -> None:
    note = notification("TARGET_MET", "320000", "coverage.urban_met", "江苏省城市社区综合服务设施覆盖率达标",
                        1_760_000_000_000, table="coverage", value="1.0000", target="1.0000")
    _send(kafka_bootstrap, names.notifications, "320000", codec.encode("cshub.Notification", note))
    found = list(Subscriber(kafka_bootstrap, names=names).notifications())
    assert len(found) == 1
    assert found[0].kind == "TARGET_MET" and found[0].province_name == "江苏省"
    assert found[0].values["message"] == "江苏省城市社区综合服务设施覆盖率达标"
    cli = subprocess.run([sys.executable, "-m", "cshub.cli", "subscribe", "notifications", "--format", "csv",
                          "--bootstrap", kafka_bootstrap, "--topic-root", names.root],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert cli.returncode == 0, cli.stderr
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(cli.stdout)))  # real CSV: a header and one row per notification
    assert [(r["type"], r["province_name"], r["event_time"]) for r in rows] == [
        ("TARGET_MET", "江苏省", "2025-10-09 16:53:20")]
    assert rows[0]["message"] == "江苏省城市社区综合服务设施覆盖率达标"
