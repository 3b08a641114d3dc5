"""Two workers in one consumer group: each publishes only its provinces, one national stage sums them.

Same app id, different CSHUB_INSTANCE_ID, 4 validated partitions. The second worker joins while the
first has already published every province, so provinces move between workers mid-stream; the
compacted tables (national row included) must still equal the ground truth to the fen, and the
auditor's one-process replay. Then the
worker running the national stage stops: the other takes over every province and the stage, and
the tables follow the rest of the stream exactly.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import produce, read_table
from test_worker import ITEMS, PROVINCES, REPORT_TABLES, encode_stream, wait_for_tables
from truth import NATIONAL, expected

from connectors import auditor
from schemas.topics import TopicNames
from streams.loadgen import generate

pytestmark = pytest.mark.integration


def wait_split(workers: list[Any], timeout_s: float = 90) -> list[dict[str, Any]]:
    """Until both workers are ready and hold disjoint province sets covering all 31, one with the stage."""
    deadline = time.monotonic() + timeout_s
    healths: list[Any] = []
    while time.monotonic() < deadline:
        healths = [w.health() for w in workers]
        if all(h and h["ready"] for h in healths):
            held = [set(h["provinces"]) for h in healths]
            stages = [h["national_stage"] for h in healths]
            if all(held) and not held[0] & held[1] and held[0] | held[1] == set(PROVINCES) and sum(stages) == 1:
                return healths
        for w in workers:
            assert w.alive(), f"worker died: {w.log_tail()}"
        time.sleep(0.5)
    raise AssertionError(f"no clean split of the provinces in {timeout_s} s: {healths}")


def test_two_workers_publish_exact_tables_and_one_national_row(kafka_bootstrap: str, unique_name,
                                                               worker_factory) -> None:
    names = TopicNames(unique_name("w2n"))
    records = generate(5000, tuple(PROVINCES), tuple(ITEMS), seed=2222)
    assert len({r["province"] for _k, r in records}) == 31
    truth = expected(records[:4000], PROVINCES, ITEMS)
    encoded = encode_stream(names, records)
    first = worker_factory(kafka_bootstrap, names.root, CSHUB_INSTANCE_ID="a")
    second = worker_factory(kafka_bootstrap, names.root, CSHUB_INSTANCE_ID="b")
    first.start()
    first.wait_ready()
    produce(kafka_bootstrap, encoded[:2000])
    time.sleep(2)  # the first worker publishes every province and the national rows alone
    second.start()
    produce(kafka_bootstrap, encoded[2000:4000])
    healths = wait_split([first, second])
    wait_for_tables(kafka_bootstrap, names, truth, [first, second], timeout_s=120)
    hub, _stats = auditor.replay_kafka(kafka_bootstrap, names, workers=1)  # one process, every province
    published = auditor.published_from_kafka(kafka_bootstrap, names, REPORT_TABLES)
    assert auditor.compare(hub, published, REPORT_TABLES) == []
    assert [set(h["provinces"]) for h in [first.health(), second.health()]] == [set(h["provinces"]) for h in healths]
    obligations = read_table(kafka_bootstrap, names.national("obligations"))
    assert set(obligations) == {*PROVINCES, NATIONAL}
    for field in ("owed", "on_time", "late", "missing", "pending"):
        assert obligations[NATIONAL][field] == sum(obligations[p][field] for p in PROVINCES), field
    stage, other = (first, second) if first.health()["national_stage"] else (second, first)
    assert stage.get(f"/national/funding/{NATIONAL}")["allocated_yuan"] == str(
        truth[("funding", NATIONAL)]["allocated_yuan"])
    assert set(other.get("/national/coverage")) == set(other.health()["provinces"])  # its own rows only
    for table in REPORT_TABLES:
        assert set(read_table(kafka_bootstrap, names.national(table))) == {*PROVINCES, NATIONAL}

    stage.stop()  # the stage's worker leaves: the other one takes every province and the stage
    produce(kafka_bootstrap, encoded[4000:])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        h = other.health()
        if h and h["ready"] and h["national_stage"] and set(h["provinces"]) == set(PROVINCES):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the remaining worker did not take over: {other.health()}")
    # both groups use static membership: a clean stop sends no LeaveGroup, so the ingress partitions of the worker
    # that left move only after its session times out (then a rebalance): under load that exceeds a minute
    wait_for_tables(kafka_bootstrap, names, expected(records, PROVINCES, ITEMS), [other], timeout_s=180)
