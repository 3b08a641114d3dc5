"""Issue 14: `cshub template` writes what a clerk fills in, and the publisher reads exactly that back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from openpyxl import load_workbook

from connectors.admin import ensure_topics
from connectors.kafka_io import make_consumer, partitions_of, read_to_end
from connectors.publisher import check_rows
from connectors.readers import TEMPLATE_EXAMPLE_ID, read_rows, required_columns
from connectors.templates import columns, workbook
from cshub.cli import main
from schemas import codec, reference
from schemas.kinds import KINDS
from schemas.topics import TopicNames, TopicPlan


def _fill(path: Path, rows: list[dict[str, object]]) -> None:
    """What a clerk does in Excel: write reports over the example row and below it, by the English names."""
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    names = [str(c.value).splitlines()[-1] for c in ws[1]]
    for number, values in enumerate(rows, start=2):
        for index, name in enumerate(names, start=1):
            ws.cell(row=number, column=index, value=values.get(name))
    wb.save(path)


def _funding_row(n: int) -> dict[str, object]:
    return {"report_id": f"JS-T-{n}", "revision": 1, "withdrawn": "false", "province": "320000", "period": "2026-03",
            "produced_at": dt.datetime(2026, 3, 31, 10, 0), "source": "SPECIAL_BOND", "bond_code": f"2026JS{n:02d}",
            "purpose": "社区养老服务骨干网", "project_name": f"南京市第{n}社区项目", "allocated_yuan": 1234567.89,
            "disbursed_yuan": 1000000}


@pytest.mark.parametrize("kind", KINDS)
def test_template_has_both_headers_validation_an_example_and_an_explanation(kind: str, tmp_path: Path) -> None:
    wb = workbook(kind, "440000")  # type: ignore[arg-type]
    reports, explained = wb.worksheets
    headers = [c.value for c in reports[1]]
    cols = [replace(c, type="choice") if c.name == "province" else c for c in columns(kind)]  # type: ignore[arg-type]
    assert headers == [f"{c.zh}\n{c.name}" for c in cols]
    assert set(required_columns(kind)) <= {c.name for c in cols}  # type: ignore[arg-type]
    assert "报告编号\nreport_id" in headers
    example = {c.name: cell.value for c, cell in zip(cols, reports[2], strict=True)}
    assert example["report_id"] == TEMPLATE_EXAMPLE_ID and example["province"] == "440000"
    validated = {str(r).split(":")[0] for v in reports.data_validations.dataValidation for r in v.sqref.ranges}
    by_type = {c.type for c in cols}
    checked = ("choice", "bool", "whole", "amount", "area", "moment", "date", "period")
    assert len(validated) == sum(1 for c in cols if c.type in checked)
    assert by_type & {"choice"}
    described = [row[1] for row in explained.iter_rows(min_row=4, values_only=True)]
    assert described == [c.name for c in cols]
    path = tmp_path / "t.xlsx"
    wb.save(path)
    # left as written, the template's only row is the example: refused by name, never sent
    [prepared] = list(check_rows(kind, "440000", read_rows(path, kind)))  # type: ignore[arg-type]
    assert prepared.value is None and "example row" in prepared.problems[0].rule


def test_drop_downs_are_the_models_values() -> None:
    wb = workbook("facility", "320000")
    formulas = {v.formula1 for v in wb.worksheets[0].data_validations.dataValidation if v.type == "list"}
    assert '"URBAN,RURAL"' in formulas
    assert '"320000"' in formulas  # a province's template takes its own code only
    assert '"PLANNED,UNDER_CONSTRUCTION,COMPLETED,OPERATING"' in formulas
    money = [v for v in workbook("funding").worksheets[0].data_validations.dataValidation if v.type == "custom"]
    assert any("ROUND(" in v.formula1 and ">=0" in v.formula1 for v in money)  # non-negative, to the fen


def test_policy_template_has_every_policy_item() -> None:
    names = {c.name for c in columns("policy")}
    for code in reference.policy_items():
        assert {f"{code}.status", f"{code}.date", f"{code}.evidence"} <= names


@pytest.mark.integration
def test_template_filled_checked_and_sent(kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's round trip: `cshub template` -> fill with openpyxl -> `cshub publish --check` passes -> sent."""
    path = tmp_path / "报表.xlsx"
    assert main(["template", "--kind", "funding", "--province", "320000", "--out", str(path)]) == 0
    _fill(path, [_funding_row(1), _funding_row(2)])
    capsys.readouterr()
    assert main(["publish", "--province", "320000", "--kind", "funding", str(path), "--check"]) == 0
    assert capsys.readouterr().out.splitlines() == ["报表.xlsx: 2 good rows, 0 bad rows (checked only, nothing sent)"]

    names = TopicNames(unique_name("tpl"))
    ensure_topics(kafka_bootstrap, TopicPlan(names, ("320000",), partitions=1).hub_specs(("funding",), tables=()))
    assert main(["publish", "--province", "320000", "--kind", "funding", str(path), "--no-progress",
                 "--bootstrap", kafka_bootstrap, "--topic-root", names.root]) == 0
    assert "2 rows, 2 sent, 2 acknowledged, 0 rejected locally" in capsys.readouterr().out
    consumer = make_consumer(kafka_bootstrap)
    try:
        sent = [codec.decode(r.value).value
                for r in read_to_end(consumer, partitions_of(consumer, names.inbound("320000", "funding")))]
    finally:
        consumer.close()
    assert [(r["report_id"], str(r["allocated_yuan"]), r["bond_code"]) for r in sent] == [
        ("JS-T-1", "1234567.89", "2026JS01"), ("JS-T-2", "1234567.89", "2026JS02")]
    assert sent[0]["produced_at"] == dt.datetime(2026, 3, 31, 2, 0, tzinfo=dt.UTC)  # Beijing 10:00


def test_the_template_saved_as_csv_from_excel_is_read_too(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" writes what the cells show: the two-line headers quoted, money as 1,234,567.89 (the
    template's format), date-times as 2026-03-31 10:00:00 (Beijing time): the reader takes all of it."""
    import csv

    headers = [c.header for c in columns("funding")]
    shown = {"report_id": "JS-C-1", "revision": "1", "withdrawn": "false", "province": "320000", "period": "2026-03",
             "produced_at": "2026-03-31 10:00:00", "source": "SPECIAL_BOND", "bond_code": "2026JS01",
             "purpose": "社区养老服务骨干网", "project_name": "南京市项目", "allocated_yuan": "12,000,000.00",
             "disbursed_yuan": "8,500,000.50"}
    path = tmp_path / "saved.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(headers)
        writer.writerow([shown.get(c.name, "") for c in columns("funding")])
    [prepared] = list(check_rows("funding", "320000", read_rows(path, "funding")))
    assert prepared.problems == [] and prepared.report is not None
    assert str(prepared.report["allocated_yuan"]) == "12000000.00"
    assert prepared.report["produced_at"] == dt.datetime(2026, 3, 31, 2, 0, tzinfo=dt.UTC)
