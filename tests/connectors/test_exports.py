"""Exports: flat columns, exact amounts with 亿元 beside yuan, Beijing time, CSV with a BOM, real .xlsx."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from openpyxl import load_workbook

from connectors.exports import flatten, notification_records, table_records, to_csv, to_xlsx
from core import HubConfig, build_row


def _funding_row() -> dict:
    totals = {"SPECIAL_BOND:reports": 2, "SPECIAL_BOND:allocated_fen": 123_456_789_01,
              "SPECIAL_BOND:disbursed_fen": 23_456_789_01}
    return build_row("funding", "320000", totals, HubConfig.from_reference(), {("t", 0): 5})


def test_a_row_flattens_to_exact_columns_with_yi_yuan_and_percentages() -> None:
    flat = flatten(_funding_row())
    assert "offsets" not in flat
    assert flat["sources.SPECIAL_BOND.allocated_yuan"] == Decimal("123456789.01")
    assert flat["sources.SPECIAL_BOND.allocated (亿元)"] == Decimal("1.2345678901")
    assert flat["disbursement_rate (%)"] == Decimal("19.0000")
    assert flat["breaches"] == ""


def test_csv_has_a_bom_a_header_and_opens_as_utf8_chinese() -> None:
    records = table_records([_funding_row()], {"320000": "江苏省"})
    data = to_csv(records)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0]["province_name"] == "江苏省" and rows[0]["allocated_yuan"] == "123456789.01"
    assert rows[0]["consistent"] == "TRUE"


def test_xlsx_keeps_numbers_as_numbers_and_the_header_frozen() -> None:
    records = table_records([_funding_row()], {"320000": "江苏省"}, {"period": "2026-10"})
    book = load_workbook(io.BytesIO(to_xlsx(records, "funding 2026-10")))
    ws = book.active
    header = [c.value for c in ws[1]]
    assert header[:3] == ["period", "province", "province_name"]
    values = dict(zip(header, [c.value for c in ws[2]], strict=True))
    assert values["allocated_yuan"] == 123456789.01 and values["province_name"] == "江苏省"
    assert ws.freeze_panes == "A2"


def test_notifications_export_in_beijing_time() -> None:
    note = {"notification_id": "X", "type": "OBLIGATION_MISSED", "province": "650000", "table": "obligations",
            "subject": "policy:2026-10", "message": "未报送", "value": None, "target": "1",
            "event_time": dt.datetime(2026, 11, 10, 16, 0, tzinfo=dt.UTC)}
    [record] = notification_records([note], {"650000": "新疆维吾尔自治区"})
    assert record["event_time"] == "2026-11-11 00:00:00" and record["province_name"] == "新疆维吾尔自治区"
    assert to_csv([record]).decode("utf-8-sig").splitlines()[0].startswith("event_time,type,province")
