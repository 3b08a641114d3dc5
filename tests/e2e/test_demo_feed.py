"""The demo feed: reproducible for a seed, valid through the real publisher path, realistic in shape."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from connectors.demo import DemoFeed, PublisherSink, run_feed
from schemas.kafka_config import kafka_python_config


def _flatten(feed: DemoFeed) -> list[tuple[str, str, str, object]]:
    return [(period, s.province, s.kind, s.record if s.record is not None else s.raw)
            for period, sends in feed.months() for s in sends]


def test_the_same_seed_gives_the_same_feed_and_another_seed_another() -> None:
    assert _flatten(DemoFeed(seed=11, months=4)) == _flatten(DemoFeed(seed=11, months=4))
    assert _flatten(DemoFeed(seed=11, months=4)) != _flatten(DemoFeed(seed=12, months=4))


def test_every_good_record_passes_the_publishers_checks_and_the_bad_ones_are_bad() -> None:
    from connectors.publisher import validate_row
    from schemas import codec
    from schemas.errors import CodecError
    from schemas.models import parse_report

    feed = DemoFeed(seed=5, months=8)
    bad: list[str] = []
    for _period, sends in feed.months():
        for n, send in enumerate(sends):
            if send.raw is not None:
                bad.append(send.note)
                if send.raw:
                    with pytest.raises(CodecError):
                        codec.decode(send.raw)
                continue
            avro, problems = validate_row(send.kind, send.province, n, send.record)
            assert avro is not None, (send.note, problems)
    assert sorted(bad) == ["garbage", "negative money", "wrong province"]
    del parse_report  # imported only to make sure the models the publisher relies on exist


def test_the_picture_is_realistic_rural_lags_urban_some_behind_one_late() -> None:
    feed = DemoFeed(seed=2025, months=24)
    periods_by_tick: list[tuple[str, Counter[tuple[str, str]]]] = []
    for period, sends in feed.months():
        periods_by_tick.append((period, Counter((s.province, (s.record or {}).get("period", "")) for s in sends)))
    urban = sum(p.urban for p in feed.plans)
    rural = sum(p.rural for p in feed.plans)
    assert 900 <= urban <= 1300 and 4000 <= rural <= 5500, (urban, rural)  # 1:100 of 110k / 490k
    facilities = sum(len(p.facilities) for p in feed.plans)
    assert 3000 <= facilities <= 8000

    def coverage(plan, area: str) -> float:
        operating = {f.community_code for f in plan.facilities
                     if f.area_type == area and f.status == "OPERATING" and f.withdraw_at is None}
        return len(operating) / (plan.urban if area == "URBAN" else plan.rural)

    urban_cov = {p.code: coverage(p, "URBAN") for p in feed.plans}
    rural_cov = {p.code: coverage(p, "RURAL") for p in feed.plans}
    assert sum(rural_cov.values()) < sum(urban_cov.values())
    assert 2 <= sum(v <= 0.8 for v in rural_cov.values()) <= 15, rural_cov  # some provinces behind the rural target
    assert sum(v >= 0.999 for v in urban_cov.values()) >= 15  # most reach full urban coverage
    # The late province's reports for a period go out one tick later than everyone else's.
    late = feed.late_province
    for tick, (period, counts) in enumerate(periods_by_tick[1:], start=1):
        assert counts[(late, period)] == 0
        previous = periods_by_tick[tick - 1][0]
        assert counts[(late, previous)] > 0
    # Policy: exactly one province without a 一老一小 solution at the end (30 of 31, as in the briefing).
    final_policy = {p.code: p.item_done["ONE_OLD_ONE_SMALL_SOLUTION"] for p in feed.plans}
    assert sum(v is None or v >= 24 for v in final_policy.values()) >= 1


@pytest.mark.integration
def test_run_feed_publishes_through_the_real_publisher(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> None:
    from kafka import KafkaConsumer, TopicPartition

    from schemas.topics import TopicNames

    names = TopicNames(unique_name("demo"))
    feed = DemoFeed(seed=3, months=2, province_codes=["110000", "310000", "540000"])
    expected = Counter((s.province, s.kind) for _p, sends in DemoFeed(seed=3, months=2, province_codes=[
        "110000", "310000", "540000"]).months() for s in sends)
    sink = PublisherSink(kafka_bootstrap, names)
    try:
        stats = run_feed(feed, sink, names)
    finally:
        sink.close()
    assert stats.reports + stats.bad == sum(expected.values())
    consumer = KafkaConsumer(**kafka_python_config(kafka_bootstrap, client_id="cshub-test"))
    try:
        for (province, kind), count in expected.items():
            tp = TopicPartition(names.inbound(province, kind), 0)
            assert consumer.end_offsets([tp])[tp] >= count, (province, kind)
    finally:
        consumer.close()
