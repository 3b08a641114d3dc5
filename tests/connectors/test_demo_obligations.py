"""The demo's reporting discipline on today's clock: everyone on time but the late province, two months missing.

Pure: the feed's records go through the worker's own validation and fold (core) with the Kafka timestamps the
demo sends them with, and the deadline ledger is read at a fixed "now".
"""

from __future__ import annotations

import datetime as dt

from connectors.auditor import AuditSetup
from connectors.demo import DemoFeed, month_before
from core import KIND_OF_SCHEMA, obligation_counts, problems
from schemas import codec

NOW = dt.datetime(2026, 12, 1, 6, 14, tzinfo=dt.UTC)  # 14:14 Beijing time
NOW_MS = int(NOW.timestamp() * 1000)
SCHEMA = {"facility": "cshub.FacilityReport", "funding": "cshub.FundingReport", "policy": "cshub.PolicyReport"}


def _fold(feed: DemoFeed):
    hub = AuditSetup.default().hub()
    provinces = frozenset(hub.config.provinces)
    offsets: dict[str, int] = {}
    for _period, sends in feed.months():
        for send in sends:
            if send.raw is not None or send.record is None or send.at_ms > NOW_MS:
                continue
            decoded = codec.decode(codec.encode(SCHEMA[send.kind], send.record))
            assert not problems(send.province, send.kind, decoded.name, decoded.value, provinces)
            topic = f"cshub.in.{send.province}.{send.kind}"
            offset = offsets[topic] = offsets.get(topic, -1) + 1
            hub.apply(KIND_OF_SCHEMA[decoded.name], decoded.value, send.at_ms, topic, 0, offset)
    return hub


def test_the_demo_ends_last_month_and_no_record_comes_from_the_future() -> None:
    assert month_before(NOW) == "2026-11"
    feed = DemoFeed(seed=2025, months=24, end_period="2026-11")
    assert feed.period(0) == "2024-12" and feed.period(23) == "2026-11"
    future = [s for _p, sends in feed.months() for s in sends if s.at_ms > NOW_MS]
    assert future and {s.province for s in future} == {feed.late_province}  # its November is not sent yet


def test_obligations_on_todays_clock_the_late_province_late_the_skippers_missing_the_rest_on_time() -> None:
    feed = DemoFeed(seed=2025, months=24, end_period="2026-11")
    hub = _fold(feed)
    per, statuses = obligation_counts(hub, NOW_MS)
    late = feed.late_province
    assert len(feed.skipped) == 2 and late not in feed.skipped
    # 2026-01 .. 2026-11 for three kinds: 33 owed; November is due on 10 December.
    assert {counts["owed"] for counts in per.values()} == {33}
    for province, counts in per.items():
        if province == late:  # October and before late; November not sent yet, and not due: pending
            assert counts["late"] == 30 and counts["pending"] == 3 and counts["on_time"] == 0, counts
        elif province in feed.skipped:
            skipped = feed.period(feed.skipped[province])
            missing = {k for k, s in statuses.items() if k[0] == province and s == "missing"}
            assert missing == {(province, kind, skipped) for kind in ("facility", "funding", "policy")}
            assert counts["on_time"] == 30, counts
        else:
            assert counts["on_time"] == 33 and counts["late"] == counts["missing"] == 0, (province, counts)
