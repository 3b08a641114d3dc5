"""The national row from parts: two hubs holding disjoint provinces give the single hub's 000000 rows."""

from __future__ import annotations

import pytest

from core import (
    NATIONAL,
    REPORT_TABLES,
    Hub,
    HubConfig,
    Part,
    decode_part,
    decode_parts,
    encode_part,
    encode_parts,
    encode_row,
    merged_offsets,
    national_row,
    obligation_counts,
    obligation_rows,
    obligation_rules,
    row_values,
)
from schemas import reference
from streams.loadgen import generate

CONFIG = HubConfig.from_reference()
RULES = obligation_rules((reference.DATA_DIR / "obligations.csv").read_text(encoding="utf-8"))
NOW = 1_795_000_000_000


def test_parts_of_two_hubs_give_the_single_hubs_national_rows() -> None:
    records = generate(1500, CONFIG.provinces, CONFIG.policy_items, seed=9)
    whole = Hub(CONFIG, RULES)
    halves = [Hub(CONFIG, RULES), Hub(CONFIG, RULES)]
    held = [set(CONFIG.provinces[0::2]), set(CONFIG.provinces[1::2])]
    for offset, (kind, rec) in enumerate(records):
        whole.apply(kind, rec, 1_000 + offset, f"v.{kind}", 0, offset)
        i = 0 if rec["province"] in held[0] else 1
        halves[i].apply(kind, rec, 1_000 + offset, f"v.{kind}", i, offset)
    single = whole.rows()
    for table in REPORT_TABLES:
        parts = [Part(h.province_totals(table, p), dict(h.positions)) for h, own in zip(halves, held, strict=True)
                 for p in sorted(own)]
        assert row_values(national_row(table, parts, CONFIG)) == row_values(single[(table, NATIONAL)])
    ob_single, _ = obligation_rows(whole, NOW)
    ob_parts = [Part(c, h.positions, NOW) for h, own in zip(halves, held, strict=True)
                for c in obligation_counts(h, NOW, sorted(own))[0].values()]
    assert row_values(national_row("obligations", ob_parts, CONFIG)) == row_values(ob_single[("obligations", NATIONAL)])


def test_one_hubs_parts_give_its_national_row_byte_for_byte() -> None:
    hub = Hub(CONFIG, RULES)
    for offset, (kind, rec) in enumerate(generate(300, CONFIG.provinces, CONFIG.policy_items, seed=1)):
        hub.apply(kind, rec, 1_000 + offset, f"v.{kind}", offset % 4, offset)
    rows = hub.rows()
    for table in REPORT_TABLES:
        parts = [decode_part(encode_part(table, p, Part(hub.province_totals(table, p), hub.positions)))[2]
                 for p in CONFIG.provinces]
        assert encode_row(table, national_row(table, parts, CONFIG)) == encode_row(table, rows[(table, NATIONAL)])


def test_parts_round_trip_and_offsets_merge_by_maximum() -> None:
    part = Part({"a": 1, "b": -2}, {("v.facility", 1): 7, ("v.policy", 0): 3}, 42)
    assert decode_part(encode_part("coverage", "110000", part)) == ("coverage", "110000", part)
    assert merged_offsets([{("t", 0): 5}, {("t", 0): 3, ("t", 1): 9}]) == {("t", 0): 5, ("t", 1): 9}
    with pytest.raises(ValueError, match="national part"):
        decode_part(b"{}")


def test_many_parts_travel_in_one_record_and_a_lone_part_still_reads() -> None:
    parts = [("coverage", "110000", Part({"a": 1}, {("t", 0): 5}, 7)), ("funding", "120000", Part({"b": -2}))]
    assert decode_parts(encode_parts(parts)) == parts  # order kept: the latest part of a key is the last
    assert decode_parts(encode_part("coverage", "110000", parts[0][2])) == parts[:1]  # written before batching
    with pytest.raises(ValueError, match="not a national parts record"):
        decode_parts(b'[{"table": "coverage"}]')
