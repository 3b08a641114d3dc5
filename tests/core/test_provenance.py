"""Explain a number: the reports listed for a cell sum exactly to the cell, for every cell of a province."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.auditor import AuditSetup
from connectors.demo import DemoFeed
from core import KIND_OF_SCHEMA, problems
from core.provenance import TABLE_KINDS, Provenance, explain
from core.reconcile import additive_values
from schemas import codec, samples

SCHEMA = {"facility": "cshub.FacilityReport", "funding": "cshub.FundingReport", "policy": "cshub.PolicyReport"}


def _demo_fold(months: int = 10):
    feed = DemoFeed(seed=11, months=months, province_codes=["320000", "440000", "510000"], end_period="2026-10")
    hub = AuditSetup.default().hub()
    prov = Provenance()
    offsets: dict[str, int] = {}
    provinces = frozenset(hub.config.provinces)
    for _period, sends in feed.months():
        for send in sends:
            if send.raw is not None or send.record is None:
                continue
            topic = f"cshub.in.{send.province}.{send.kind}"
            offset = offsets[topic] = offsets.get(topic, -1) + 1
            decoded = codec.decode(codec.encode(SCHEMA[send.kind], send.record))
            if problems(send.province, send.kind, decoded.name, decoded.value, provinces):
                continue
            kind = KIND_OF_SCHEMA[decoded.name]
            prov.observe(kind, decoded.value, send.at_ms, topic, 0, offset)
            hub.apply(kind, decoded.value, send.at_ms, topic, 0, offset)
    return hub, prov


HUB, PROV = _demo_fold()


@pytest.mark.parametrize("table", sorted(TABLE_KINDS))
def test_the_reports_listed_for_every_cell_of_a_province_sum_exactly_to_it(table: str) -> None:
    for province in ("320000", "000000"):
        found = explain(HUB, PROV, table, province)
        row = HUB.rows([province] if province != "000000" else [], (table,))[(table, province)]
        cells = additive_values(table, row)
        assert found["cells"] and set(found["cells"]) <= set(cells)
        for name, value in found["cells"].items():
            assert value == cells[name]
            total = sum((r["shares"].get(name, 0) for r in found["reports"]), Decimal(0) if isinstance(
                value, Decimal) else 0)
            assert total == value, (table, province, name, total, value)
        for report in found["reports"]:
            assert report["coordinates"].startswith(f"cshub.in.{report['province']}.{report['kind']}[0]@")


def test_superseded_and_withdrawn_revisions_are_listed_with_their_coordinates() -> None:
    found = explain(HUB, PROV, "facilities", "320000", "operating")
    fates = {rev["fate"] for r in found["reports"] + found["not_counted"] for rev in r["revisions"]}
    assert any(f.startswith("superseded by revision") for f in fates)
    assert found["cells"] == {"operating": HUB.rows(["320000"], ("facilities",))[("facilities", "320000")][
        "operating"]}
    assert all(set(r["shares"]) == {"operating"} for r in found["reports"])


def test_a_withdrawal_and_a_duplicate_community_are_explained_not_counted() -> None:
    hub = AuditSetup.default().hub()
    prov = Provenance()
    a = samples.facility(report_id="F-1", status="OPERATING", community_code="320102000001")
    b = samples.facility(report_id="F-2", status="OPERATING", community_code="320102000001")
    c = samples.facility(report_id="F-3", status="OPERATING", community_code="320102000002")
    gone = dict(c, revision=c["revision"] + 1, withdrawn=True)
    for offset, rec in enumerate((a, b, c, gone, a)):
        prov.observe("facility", rec, 1000 + offset, "cshub.in.320000.facility", 0, offset)
        hub.apply("facility", rec, 1000 + offset, "cshub.in.320000.facility", 0, offset)
    found = explain(hub, prov, "coverage", "320000", "urban_covered")
    assert found["cells"] == {"urban_covered": 1}
    assert [(r["report_id"], r["shares"]["urban_covered"]) for r in found["reports"]] == [("F-1", 1)]
    notes = {r["report_id"]: r["note"] for r in found["not_counted"]}
    assert notes["F-3"] == "withdrawn" and "already counted as covered by F-1" in notes["F-2"]
    f1 = next(r for r in found["reports"] if r["report_id"] == "F-1")
    assert [rev["fate"] for rev in f1["revisions"]] == ["in force", "duplicate of the revision in force (no effect)"]


def test_an_unknown_field_says_which_ones_there_are() -> None:
    with pytest.raises(ValueError, match="choose one of urban_communities"):
        explain(HUB, PROV, "coverage", "320000", "urban_coverage")
