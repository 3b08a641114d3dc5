"""The fold: latest revision wins, duplicates and reorderings change nothing, national = sum of provinces."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from core import REPORT_TABLES, Hub, HubConfig, PublishedTables, row_values
from schemas import reference, samples
from schemas.tables import TABLES_OF_KIND
from streams.loadgen import generate

CONFIG = HubConfig.from_reference()
PROVINCES = tuple(reference.provinces())
ITEMS = tuple(reference.policy_items())


def fold(records, stored: dict[str, bytes] | None = None) -> Hub:
    hub = Hub(CONFIG, keep_writes=stored is not None)
    for offset, (kind, record) in enumerate(records):
        hub.apply(kind, record, 1_000 + offset, f"v.{kind}", 0, offset)
        if stored is not None:
            stored.update(hub.take_writes())
    return hub


def values(hub: Hub) -> dict:
    return {key: row_values(row) for key, row in hub.rows().items()}


def test_duplicate_and_older_revision_change_nothing() -> None:
    r1 = samples.funding(revision=1, allocated_yuan=Decimal("100.00"), disbursed_yuan=Decimal("40.00"))
    r3 = samples.funding(revision=3, allocated_yuan=Decimal("300.00"), disbursed_yuan=Decimal("10.01"))
    hub = fold([("funding", r3), ("funding", r1), ("funding", r3)])
    row = hub.rows(["510000"], ("funding",))[("funding", "510000")]
    assert row["allocated_yuan"] == Decimal("300.00")
    assert row["disbursed_yuan"] == Decimal("10.01")
    assert row["sources"][0]["reports"] == 1


def test_correction_replaces_and_withdrawal_removes_for_good() -> None:
    base = samples.facility(revision=1, status="OPERATING")
    fix = samples.facility(revision=2, status="PLANNED", floor_area_m2=Decimal("1.00"))
    gone = samples.facility(revision=3, withdrawn=True)
    hub = fold([("facility", base), ("facility", fix)])
    row = hub.rows(["320000"], ("facilities",))[("facilities", "320000")]
    assert (row["planned"], row["operating"], row["total"]) == (1, 0, 1)
    hub.apply("facility", gone, 5, "v.facility", 0, 10)
    hub.apply("facility", base, 6, "v.facility", 0, 11)  # a late old revision must not resurrect it
    row = hub.rows(["320000"], ("facilities",))[("facilities", "320000")]
    assert row["total"] == 0
    assert row["in_service_floor_area_m2"] == Decimal("0.00")


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_any_permutation_and_duplication_gives_the_same_tables(seed: int) -> None:
    records = generate(600, PROVINCES, ITEMS, seed=seed)
    expected = values(fold(records))
    rng = random.Random(seed * 7919)
    shuffled = list(records)
    rng.shuffle(shuffled)
    shuffled += rng.sample(records, k=len(records) // 3)  # redeliveries
    rng.shuffle(shuffled)
    assert values(fold(shuffled)) == expected
    by_key: dict[tuple, list] = {}
    for kind, rec in records:  # revisions of each report in reverse order
        by_key.setdefault((kind, rec["province"], rec["report_id"]), []).append((kind, rec))
    reverse = [kr for group in by_key.values() for kr in sorted(group, key=lambda kr: -kr[1]["revision"])]
    assert values(fold(reverse)) == expected


def test_rebuild_from_stored_entries_gives_the_same_rows_and_positions() -> None:
    stored: dict[str, bytes] = {}
    live = fold(generate(400, PROVINCES, ITEMS, seed=9), stored)
    rebuilt = Hub(CONFIG)
    rebuilt.load(sorted(stored.items(), reverse=True))
    assert values(rebuilt) == values(live)
    assert rebuilt.received == live.received
    # positions come from the applied entries: at most the live ones (no-op records leave no entry),
    # and the state at those positions is the same state (what came after was a no-op)
    assert all(rebuilt.positions[tp] <= live.positions[tp] for tp in rebuilt.positions)


def test_national_row_is_the_sum_of_province_rows() -> None:
    hub = fold(generate(500, PROVINCES, ITEMS, seed=11))
    rows = hub.rows()
    for field in ("urban_covered", "rural_communities"):
        assert rows[("coverage", "000000")][field] == sum(rows[("coverage", p)][field] for p in PROVINCES)
    assert rows[("funding", "000000")]["allocated_yuan"] == sum(
        (rows[("funding", p)]["allocated_yuan"] for p in PROVINCES), Decimal(0))
    assert rows[("policy", "000000")]["units"] == len(PROVINCES)


def test_rows_carry_sorted_input_offsets() -> None:
    hub = Hub(CONFIG)
    hub.apply("funding", samples.funding(), 1, "v.funding", 2, 40)
    hub.apply("facility", samples.facility(), 1, "v.facility", 0, 7)
    row = hub.rows(["510000"], ("funding",))[("funding", "510000")]
    assert row["offsets"] == [{"topic": "v.facility", "partition": 0, "offset": 8},
                              {"topic": "v.funding", "partition": 2, "offset": 41}]


def test_published_tables_publish_only_changed_values() -> None:
    hub = fold(generate(200, PROVINCES, ITEMS, seed=3))
    published = PublishedTables()
    first, _ = published.changes(hub.rows(), 1)
    assert len(first) == len(REPORT_TABLES) * (len(PROVINCES) + 1)
    hub.apply("funding", samples.funding(revision=99), 2, "v.funding", 0, 10_000)
    again, _ = published.changes(hub.rows(), 2)
    assert {k[1] for k in again} == {"510000", "000000"}
    assert {k[0] for k in again} == {"funding"}


def test_a_report_marks_dirty_exactly_the_tables_whose_totals_it_changed() -> None:
    """`TABLES_OF_KIND` (which rows a worker rebuilds after a report) is what the totals say: every report
    of the stream changes no table's totals outside its kind's tables, and the dirty pairs name each change."""
    hub = Hub(CONFIG)
    hub.take_dirty()
    for offset, (kind, record) in enumerate(generate(400, PROVINCES, ITEMS, seed=11)):
        province = record["province"]
        before = {t: hub.province_totals(t, province) for t in REPORT_TABLES}
        hub.apply(kind, record, 1_000 + offset, f"v.{kind}", 0, offset)
        changed = {t for t in REPORT_TABLES if hub.province_totals(t, province) != before[t]}
        dirty = hub.take_dirty()
        assert changed <= {t for t, p in dirty}, (kind, changed, dirty)
        assert all(p == province for _t, p in dirty)
        assert {t for t, _p in dirty} <= set(TABLES_OF_KIND[kind])
