"""`cshub audit replay --until` at three moments of a demo run: exit 0, the tables as they stood, and the rows
that cannot be compared counted and explained, never as differences. Plus the compaction rule, offline.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

from connectors import auditor
from connectors.admin import ensure_topics
from connectors.demo import DemoFeed, PublisherSink, run_feed
from core import KIND_OF_SCHEMA, REPORT_TABLES, encode_row, obligation_rows, problems, row_values
from cshub.commands.audit import parse_time
from schemas import codec
from schemas.kafka_config import kafka_python_config
from schemas.topics import TopicNames, TopicPlan

ROOT = Path(__file__).resolve().parents[2]
PROVINCES = ["320000", "510000", "650000"]
SCHEMA = {"facility": "cshub.FacilityReport", "funding": "cshub.FundingReport", "policy": "cshub.PolicyReport"}


def _core_hub(feed: DemoFeed, names: TopicNames, until_ms: int):
    """The tables straight from the core over the feed's records sent at or before `until_ms`."""
    hub = auditor.AuditSetup.default().hub()
    offsets: dict[str, int] = {}
    provinces = frozenset(hub.config.provinces)
    for _period, sends in feed.months():
        for send in sends:
            topic = names.inbound(send.province, send.kind)
            if send.at_ms > NOW_MS:
                continue
            offset = offsets[topic] = offsets.get(topic, -1) + 1
            if send.at_ms > until_ms or send.raw is not None or send.record is None:
                continue
            decoded = codec.decode(codec.encode(SCHEMA[send.kind], send.record))
            if not problems(send.province, send.kind, decoded.name, decoded.value, provinces):
                hub.apply(KIND_OF_SCHEMA[decoded.name], decoded.value, send.at_ms, topic, 0, offset)
    return hub


NOW_MS = int(time.time() * 1000)


def _cli(bootstrap: str, root: str, *extra: str, action: str = "replay") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cshub.cli", "audit", action, *extra, "--bootstrap", bootstrap,
                           "--topic-root", root], capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def demo_run(kafka_bootstrap: str) -> tuple[TopicNames, dict, int]:
    """A demo feed of three provinces on the broker, and the rows the worker would publish now (published)."""
    names = TopicNames(f"until-{uuid.uuid4().hex[:12]}")
    ensure_topics(kafka_bootstrap, TopicPlan(names, tuple(PROVINCES), partitions=1).hub_specs())
    end = f"{dt.date.today():%Y-%m}"
    feed = DemoFeed(seed=7, months=24, province_codes=PROVINCES, end_period=auditor_end(end))
    sink = PublisherSink(kafka_bootstrap, names)
    try:
        run_feed(feed, sink, names, now_ms=NOW_MS)
    finally:
        sink.close()
    # The published tables, as the worker would publish them now (from the core, real timestamps).
    hub_now = _core_hub(DemoFeed(seed=7, months=24, province_codes=PROVINCES, end_period=auditor_end(end)), names,
                        NOW_MS)
    rows = {**hub_now.rows(tables=REPORT_TABLES), **obligation_rows(hub_now, NOW_MS)[0]}
    producer = KafkaProducer(**kafka_python_config(kafka_bootstrap, client_id="cshub-test", acks="all"))
    try:
        for (table, province), row in rows.items():
            producer.send(names.national(table), key=province.encode(), value=encode_row(table, row))
        producer.flush(timeout=60)
    finally:
        producer.close()
    published_at = int(time.time() * 1000)
    return names, rows, published_at


@pytest.mark.integration
def test_replay_until_three_moments_of_a_demo_run(kafka_bootstrap: str, demo_run: tuple[TopicNames, dict, int]) -> None:
    names, rows, published_at = demo_run
    end = f"{dt.date.today():%Y-%m}"

    # 1. The README's own example: before the feed's first period ends; nothing published then.
    readme = _cli(kafka_bootstrap, names.root, "--until", "2025-07-01T00:00+08:00")
    assert readme.returncode == 0, readme.stdout + readme.stderr
    assert "has the worker run?" not in readme.stdout
    assert "not comparable" in readme.stdout and "not yet published then" in readme.stdout
    assert "DIFFERENCE" not in readme.stdout

    # 2. Inside the run: the tables as they stood (equal to the core over the inputs up to then), none comparable.
    middle = parse_time("2026-03-15T12:00")  # no zone: Beijing time
    run = _cli(kafka_bootstrap, names.root, "--until", "2026-03-15T12:00", "--tables", "coverage", "funding")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "national table: coverage" in run.stdout and "national table: funding" in run.stdout
    assert "as of 2026-03-15 12:00:00 (+08:00)" in run.stdout
    replayed, stats = auditor.replay_kafka(kafka_bootstrap, names, until_ms=middle)
    assert stats.after_until > 0
    fresh = DemoFeed(seed=7, months=24, province_codes=PROVINCES, end_period=auditor_end(end))
    expected = _core_hub(fresh, names, middle).rows(tables=("coverage", "funding"))
    got = replayed.rows(tables=("coverage", "funding"))
    assert {k: row_values(v) for k, v in got.items()} == {k: row_values(v) for k, v in expected.items()}
    national = got[("coverage", "000000")]
    assert national["urban_covered"] > 0 and str(national["urban_covered"]) in run.stdout
    assert national != rows[("coverage", "000000")]  # it really is an earlier picture
    assert "audit passed: 0 published rows" in run.stdout

    # 3. After the rows were published: everything comparable and equal.
    after = _cli(kafka_bootstrap, names.root, "--until", str(published_at + 1000))
    assert after.returncode == 0, after.stdout + after.stderr
    assert "not comparable" not in after.stdout
    assert f"audit passed: {len(rows)} published rows" in after.stdout


@pytest.mark.integration
def test_explain_lists_the_reports_whose_shares_sum_to_each_cell(kafka_bootstrap: str,
                                                                 demo_run: tuple[TopicNames, dict, int]) -> None:
    names, rows, _published_at = demo_run
    run = _cli(kafka_bootstrap, names.root, "--table", "coverage", "--province", "320000", "--format", "json",
               action="explain")
    assert run.returncode == 0, run.stdout + run.stderr
    found = json.loads(run.stdout)
    row = rows[("coverage", "320000")]
    assert found["cells"]["urban_covered"] == row["urban_covered"] > 0
    for cell, value in found["cells"].items():
        assert sum(int(r["shares"].get(cell, 0)) for r in found["reports"]) == row[cell] == value
    text = _cli(kafka_bootstrap, names.root, "--table", "funding", "--province", "320000", "--field",
                "allocated_yuan", action="explain")
    assert text.returncode == 0, text.stdout + text.stderr
    assert f"allocated_yuan = {rows[('funding', '320000')]['allocated_yuan']}" in text.stdout
    assert f"{names.inbound('320000', 'funding')}[0]@" in text.stdout and "superseded by revision" in text.stdout
    bad = _cli(kafka_bootstrap, names.root, "--table", "funding", "--province", "320000", "--field", "rate",
               action="explain")
    assert bad.returncode == 2 and "choose one of allocated_yuan" in bad.stderr and "Traceback" not in bad.stderr


def auditor_end(this_month: str) -> str:
    from connectors.demo import period_of

    return period_of(-1, this_month)


def test_a_row_compaction_may_have_replaced_is_unknown_not_a_difference() -> None:
    names = TopicNames("t")
    topic = names.national("funding")

    def rec(offset: int, province: str, ts: int) -> tuple:
        row = {"province": province}
        return (topic, 0, offset, province.encode(), _encoded(row), ts)

    # offsets 0..5; 2 and 3 compacted away (superseded by later records of their keys)
    records = [rec(0, "110000", 10), rec(1, "120000", 20), rec(4, "130000", 50), rec(5, "110000", 60)]
    at_30 = auditor._latest_rows(iter(records), names, 30)
    assert ("funding", "110000") in at_30.unknown and ("funding", "120000") in at_30.unknown  # gap after them
    assert at_30.unknown[("funding", "130000")] == "superseded since and removed by compaction"
    at_55 = auditor._latest_rows(iter(records), names, 55)
    assert set(at_55) == {("funding", "130000")}  # in force at 55 for certain: nothing missing after it
    assert at_55.unknown[("funding", "110000")].startswith("the row in force then")
    everything = auditor._latest_rows(iter(records), names, None)  # no moment: the latest rows are all there
    assert set(everything) == {("funding", p) for p in ("110000", "120000", "130000")} and not everything.unknown


def _encoded(row: dict) -> bytes:
    from core import HubConfig, build_row

    return encode_row("funding", build_row("funding", row["province"], {}, HubConfig.from_reference(), {}))
