"""The ministry's dashboard in a real Chromium (Playwright, Debian's /usr/bin/chromium): the obligations panel
with the demo's late province flagged, a trend chart of at least 12 periods, a per-province page, and a cell
explained down to its reports, all in Beijing time.

The hub's topics are filled as the worker fills them, from the core (no Faust here, to spare the shared
cores): the demo feed's reports, validated by `core.problems`, go to `<root>.validated.*` with the provinces'
own timestamps (bad ones to `<root>.rejected`), and the core's rows and notifications to the national topics.
The gateway under test is the real one, reading the real broker.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from kafka import KafkaProducer

from connectors.admin import ensure_topics
from connectors.auditor import AuditSetup
from connectors.demo import DemoFeed, month_before
from connectors.gateway import GatewayConfig
from core import (
    KIND_OF_SCHEMA,
    REPORT_TABLES,
    PublishedTables,
    describe,
    encode_row,
    newly_missing,
    obligation_rows,
    problems,
    rejection,
)
from schemas import codec
from schemas.kafka_config import kafka_python_config
from schemas.topics import TopicNames, TopicPlan
from tests.e2e.gateway import free_port, serving

pytestmark = pytest.mark.integration
PROVINCES = ["110000", "320000", "370000", "440000", "510000", "540000", "620000", "650000"]
SCHEMA = {"facility": "cshub.FacilityReport", "funding": "cshub.FundingReport", "policy": "cshub.PolicyReport"}
CHROMIUM = "/usr/bin/chromium"


def _fill_topics(bootstrap: str, names: TopicNames, feed: DemoFeed, now_ms: int) -> int:
    """What the worker would publish for the feed: validated records, rejections, rows, notifications."""
    ensure_topics(bootstrap, TopicPlan(names, tuple(PROVINCES), partitions=2).hub_specs())
    hub = AuditSetup.default().hub()
    provinces = frozenset(hub.config.provinces)
    # one request in flight: a partition's records land in send order, so each one's offset is known when it is sent
    # (fresh topics) and checked against the broker's at the end, instead of a round trip per record
    producer = KafkaProducer(**kafka_python_config(bootstrap, client_id="cshub-test", acks="all", linger_ms=20,
                                                   max_in_flight_requests_per_connection=1))
    notes: list[dict[str, Any]] = []
    validated = 0
    inbound: dict[str, int] = {}
    next_offset: dict[tuple[str, int], int] = {}
    sent: list[tuple[Any, tuple[str, int, int]]] = []
    try:
        for _period, sends in feed.months():
            for send in sends:
                if send.at_ms > now_ms:
                    continue
                topic = names.inbound(send.province, send.kind)
                offset = inbound[topic] = inbound.get(topic, -1) + 1
                value = send.raw if send.raw else codec.encode(SCHEMA[send.kind], send.record or {})
                key = str((send.record or {}).get("report_id", "garbage")).encode()
                try:
                    decoded = codec.decode(value)
                    found = problems(send.province, send.kind, decoded.name, decoded.value, provinces)
                    reason, message = describe(found) if found else ("", "")
                except ValueError as exc:
                    found, reason, message = [exc], "undecodable", str(exc)
                if found:
                    producer.send(names.rejected, key=key, timestamp_ms=send.at_ms, value=codec.encode(
                        "cshub.Rejection", rejection(value, topic, 0, offset, key, reason, message, send.province,
                                                     send.at_ms)))
                    continue
                kind = KIND_OF_SCHEMA[decoded.name]
                where = (names.validated(kind), PROVINCES.index(send.province) % 2)
                at = next_offset[where] = next_offset.get(where, -1) + 1
                sent.append((producer.send(where[0], key=f"{send.province}|".encode() + key, value=value,
                                           partition=where[1], timestamp_ms=send.at_ms), (*where, at)))
                notes += hub.apply(kind, decoded.value, send.at_ms, where[0], where[1], at)
                validated += 1
        producer.flush(timeout=60)
        for future, expected in sent:
            meta = future.get(timeout=60)
            assert (meta.topic, meta.partition, meta.offset) == expected, "a validated record landed elsewhere"
        rows = {**hub.rows(tables=REPORT_TABLES)}
        ob_rows, statuses = obligation_rows(hub, now_ms)
        rows.update(ob_rows)
        _changed, row_notes = PublishedTables().changes(rows, now_ms)
        notes += row_notes + newly_missing(None, statuses, hub, now_ms)
        for (table, province), row in rows.items():
            producer.send(names.national(table), key=province.encode(), value=encode_row(table, row))
        for note in notes:
            producer.send(names.notifications, key=note["province"].encode(),
                          value=codec.encode("cshub.Notification", note))
        producer.flush(timeout=60)
    finally:
        producer.close()
    return validated


@pytest.fixture(scope="module")
def dashboard(kafka_bootstrap: str) -> Iterator[tuple[str, DemoFeed]]:
    now = dt.datetime.now(dt.UTC)
    now_ms = int(now.timestamp() * 1000)
    names = TopicNames(f"dash-{uuid.uuid4().hex[:10]}")
    feed = DemoFeed(seed=2025, months=24, province_codes=PROVINCES, end_period=month_before(now))
    validated = _fill_topics(kafka_bootstrap, names, feed, now_ms)
    config = GatewayConfig(bootstrap=kafka_bootstrap, topic_root=names.root, port=free_port())
    with serving(config) as base:
        deadline = time.monotonic() + 120
        while True:  # bounded: the gateway has read every validated record
            with urllib.request.urlopen(f"{base}/api/history/coverage?province=000000", timeout=30) as resp:
                if json.load(resp)["inputs"] >= validated:
                    break
            assert time.monotonic() < deadline, "the gateway did not read the validated topics in 120 s"
            time.sleep(1)
        yield base, feed


def test_the_dashboard_shows_obligations_trend_province_page_and_explains_a_cell(
        dashboard: tuple[str, DemoFeed]) -> None:
    from playwright.sync_api import sync_playwright

    base, feed = dashboard
    late = feed.late_province
    skipper = sorted(feed.skipped)[0]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, timezone_id="Europe/London")
            page.set_default_timeout(60_000)
            page.goto(base)
            page.wait_for_selector('body[data-state="live"]')
            assert page.inner_text("#conn-text") == "live"

            # Obligations: the late province flagged late for every kind, the skippers missing; worst first.
            page.wait_for_selector(f'#obligations tr[data-province="{late}"][data-status="late"]')
            statuses = page.eval_on_selector_all("#obligations tbody tr", "rows => rows.map(r => [r.dataset.province,"
                                                 " r.dataset.kind, r.dataset.status])")
            assert {(p, s) for p, _k, s in statuses if p == late} == {(late, "late")}
            assert (skipper, "missing") in {(p, s) for p, _k, s in statuses}
            assert [s for _p, _k, s in statuses[:6]].count("ok") == 0  # the worst come first
            assert "迟" in page.inner_text(f'#obligations tr[data-province="{late}"]')

            # The trend: at least 12 periods, national and a chosen province, against the target line.
            page.wait_for_function("Number(document.querySelector('#trend-chart').dataset.periods) >= 12")
            page.select_option("#trend-province", "320000")
            page.wait_for_function("window.Chart && Chart.getChart('trend-chart').data.datasets.length === 3")
            labels = page.evaluate("Chart.getChart('trend-chart').data.labels")
            assert labels[0] == "2021-01" and len(labels) >= 12
            national = page.evaluate("Chart.getChart('trend-chart').data.datasets[0].data")
            assert any(v for v in national[-12:]) and len({round(v or 0, 2) for v in national[-24:]}) >= 6

            # Beijing time, 24-hour clock, on the notifications.
            times = page.eval_on_selector_all("#notifications li .when", "els => els.map(e => e.textContent)")
            assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\d [0-2]\d:[0-5]\d", t) for t in times)

            # The per-province page: rows, trend, obligations, recent rejections.
            page.click('#provinces tr[data-province="320000"] td.name a')
            page.wait_for_selector("#province-view:not([hidden]) #province-rows .card dl")
            assert "江苏" in page.inner_text("#province-title")
            page.wait_for_function("Number(document.querySelector('#province-trend').dataset.periods) >= 12")
            page.wait_for_selector('#province-obligations tbody tr[data-province="320000"]')
            assert page.locator("#province-rejections li").count() >= 1

            # Explain a cell: the reports listed sum exactly to it.
            cell = page.locator('a[data-explain="facilities.operating"]')
            value = int(cell.inner_text())
            cell.click()
            page.wait_for_selector("#explain[open] #explain-reports tbody tr")
            shares = page.eval_on_selector_all("#explain-reports td.share", "els => els.map(e => e.textContent)")
            assert sum(int(x) for x in shares) == value > 0
            where = page.eval_on_selector_all("#explain-reports tbody tr td:nth-child(5)", "els => els.map(e =>"
                                              " e.textContent)")
            assert all(re.fullmatch(r".+\.validated\.facility\[\d\]@\d+", w) for w in where)  # Kafka coordinates
            assert "superseded by revision" in page.inner_text("#explain")  # older revisions shown, not counted
            page.keyboard.press("Escape")
            money = page.locator('a[data-explain="funding.allocated_yuan"]')
            total = Decimal(money.inner_text())
            money.click()
            page.wait_for_function("document.querySelector('#explain-title').textContent.includes('allocated')")
            page.wait_for_selector("#explain[open] #explain-reports tbody tr")
            shares = page.eval_on_selector_all("#explain-reports td.share", "els => els.map(e => e.textContent)")
            assert sum(Decimal(x) for x in shares) == total
        finally:
            browser.close()


def test_the_page_says_loading_before_the_first_snapshot(dashboard: tuple[str, DemoFeed]) -> None:
    from playwright.sync_api import sync_playwright

    base, _feed = dashboard
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page()
            page.route("**/api/tables", lambda route: None)  # hold the snapshot back
            page.goto(base)
            page.wait_for_selector("#loading", state="visible", timeout=30_000)
            assert "no data" not in page.inner_text("#provinces")
            assert page.inner_text("#conn-text") != "live"
        finally:
            browser.close()


def test_exports_open_as_excel_files(dashboard: tuple[str, DemoFeed]) -> None:
    import io

    from openpyxl import load_workbook

    base, _feed = dashboard
    with urllib.request.urlopen(f"{base}/api/export/table/funding.csv", timeout=30) as resp:
        data = resp.read()
        assert resp.headers["Content-Type"].startswith("text/csv")
    assert data.startswith(b"\xef\xbb\xbf") and "province_name" in data.decode("utf-8-sig").splitlines()[0]
    assert "allocated (亿元)" in data.decode("utf-8-sig").splitlines()[0]
    with urllib.request.urlopen(f"{base}/api/export/history/coverage.xlsx?province=320000", timeout=30) as resp:
        book = load_workbook(io.BytesIO(resp.read()))
    ws = book.active
    header = [c.value for c in ws[1]]
    assert header[:3] == ["period", "province", "province_name"] and ws.max_row - 1 >= 12
    assert ws.cell(2, 1).value == "2021-01"
    with urllib.request.urlopen(f"{base}/api/export/notifications.csv", timeout=30) as resp:
        lines = resp.read().decode("utf-8-sig").splitlines()
    assert lines[0].startswith("event_time,type,province") and len(lines) > 10


def test_tables_as_of_a_period_and_a_moment_and_clear_errors(dashboard: tuple[str, DemoFeed]) -> None:
    import urllib.error

    base, _feed = dashboard

    def get(path: str) -> dict:
        with urllib.request.urlopen(f"{base}{path}", timeout=60) as resp:
            return json.load(resp)

    latest = get("/api/tables")["tables"]["coverage"]["000000"]
    then = get("/api/as-of?period=2025-12")
    assert then["as_of"] == "as of period 2025-12"
    early = then["tables"]["coverage"]["000000"]
    assert 0 < early["urban_covered"] < latest["urban_covered"]
    now = get(f"/api/as-of?moment={int(time.time() * 1000)}")["tables"]
    assert now["coverage"]["000000"]["urban_covered"] == latest["urban_covered"]  # the same fold, the same row
    owed_months = int(month_before(dt.datetime.now(dt.UTC))[5:])  # 2026-01 .. last month, every unit owes
    assert now["obligations"]["000000"]["owed"] == 3 * len(AuditSetup.default().provinces) * owed_months
    moment = get("/api/as-of?moment=2026-03-15T12:00")
    assert moment["as_of"] == "as of 2026-03-15 12:00 Beijing time"
    for bad, says in (("/api/as-of?period=1999-01", "period must be YYYY-MM"), ("/api/as-of?moment=soon", "not a time"),
                      ("/api/explain/coverage?province=999999", "unknown province"),
                      ("/api/explain/coverage?province=320000&field=urban_coverage", "choose one of")):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}{bad}", timeout=30)
        assert err.value.code == 400 and says in err.value.read().decode()
