"""File readers: CSV (UTF-8, BOM, GB18030), JSON Lines and Excel give the same Avro-shaped rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from connectors.errors import ReaderError
from connectors.readers import COLUMNS, ROW_ERROR, column_of, read_rows, shape

SAMPLES = Path(__file__).resolve().parents[2] / "connectors" / "samples"


def test_csv_sample_rows_have_chinese_names_and_line_numbers() -> None:
    rows = list(read_rows(SAMPLES / "facility_320000.csv", "facility"))
    assert [n for n, _ in rows] == [2, 3, 4, 5, 6]
    first = rows[0][1]
    assert first["community_name"] == "玄武区梅园新村社区"
    assert first["functions"] == ["ELDERLY_CARE", "CHILDCARE", "FITNESS", "CULTURE"]
    assert first["floor_area_m2"] == Decimal("860.50")


def test_policy_item_columns_become_items_and_indicators() -> None:
    [(row, record)] = list(read_rows(SAMPLES / "policy_320000.csv", "policy"))
    assert row == 2
    assert record["indicators"]["urban_communities"] == 7100
    codes = {i["code"]: i for i in record["items"]}
    assert codes["PROVINCIAL_PLAN_ISSUED"] == {"code": "PROVINCIAL_PLAN_ISSUED", "status": "COMPLETED",
                                               "status_date": dt.date(2022, 4, 15),
                                               "evidence_ref": "苏政办发〔2022〕31号"}
    assert codes["SMART_COMMUNITY_PILOT"]["status"] == "NOT_STARTED"
    assert column_of("policy", ("items", 0, "status_date"), record) == "PROVINCIAL_PLAN_ISSUED.date"
    assert column_of("policy", ("indicators", "rural_communities"), record) == "rural_communities"
    # a JSON Lines row may hold anything where an item belongs: the column is named by position, never a crash
    assert column_of("policy", ("items", 1, "status"), {"items": ["not an object", 7]}) == "item 2.status"
    assert column_of("policy", ("items", 0), {"items": "text"}) == "item 1"


def test_gb18030_csv_with_chinese_headers(tmp_path: Path) -> None:
    text = ("报告编号,修订号,省份代码,报告期,生成时间,县级代码,社区代码,社区名称,城乡类型,服务户数,建筑面积,状态,"
            "运营方式,功能\n"
            "A-1,1,320000,2025-03,2025-03-31 10:00,320102,320102001001,梅园新村社区,城市,10,1.5,OPERATING,GOVERNMENT,"
            "ELDERLY_CARE、FITNESS\n")
    path = tmp_path / "gbk.csv"
    path.write_bytes(text.encode("gb18030"))
    [(_, record)] = list(read_rows(path, "facility"))
    assert {k: record[k] for k in ("report_id", "revision", "province", "community_name", "area_type", "functions")} \
        == {"report_id": "A-1", "revision": 1, "province": "320000", "community_name": "梅园新村社区",
            "area_type": "URBAN", "functions": ["ELDERLY_CARE", "FITNESS"]}


def test_the_templates_two_line_headers_are_read(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append([f"中文\n{c}" if c != "report_id" else "报告编号\nreport_id" for c in COLUMNS["funding"]])
    ws.append(["JS-M-1", 1, False, "320000", "2025-03", dt.datetime(2025, 3, 31, 10, 0), "CENTRAL_BUDGET", None,
               "社区养老服务骨干网", "南京市项目", 1234.56, 1000])
    path = tmp_path / "two-lines.xlsx"
    wb.save(path)
    [(_, record)] = list(read_rows(path, "funding"))
    assert record["report_id"] == "JS-M-1" and record["allocated_yuan"] == Decimal("1234.56")


def test_excel_cells_are_normalised(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(list(COLUMNS["funding"]))
    ws.append(["JS-M-1", 1, False, "320000", dt.datetime(2025, 3, 1), dt.datetime(2025, 3, 31, 10, 0),
               "SPECIAL_BOND", "2025JS01", "社区养老服务骨干网", "南京市项目", 1234.56, 1000])
    ws.append([None] * len(COLUMNS["funding"]))
    path = tmp_path / "funding.xlsx"
    wb.save(path)
    [(row, record)] = list(read_rows(path, "funding"))
    assert row == 2
    assert record["period"] == "2025-03"
    assert record["allocated_yuan"] == Decimal("1234.56")
    assert record["disbursed_yuan"] == Decimal("1000")
    assert record["revision"] == 1
    assert record["produced_at"].tzinfo is not None


def test_bad_json_line_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"report_id": "a"}\nnot json\n', encoding="utf-8")
    rows = list(read_rows(path, "facility"))
    assert rows[0] == (1, {"report_id": "a"})
    assert rows[1][0] == 2 and ROW_ERROR in rows[1][1]


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="unknown file type"):
        read_rows(tmp_path / "x.xls", "facility")
    with pytest.raises(ReaderError, match="no such file"):
        read_rows(tmp_path / "x.csv", "facility")


def test_empty_cells_are_left_out() -> None:
    assert shape("funding", {"report_id": "a", "bond_code": "", "x": None}) == {"report_id": "a"}


def test_a_short_row_leaves_its_missing_cells_out(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text(",".join(COLUMNS["facility"]) + "\n a ,2,是,320000,2025-03\n", encoding="utf-8")
    assert [record for _, record in read_rows(path, "facility")] == [
        {"report_id": "a", "revision": 2, "withdrawn": True, "province": "320000", "period": "2025-03"}]


@pytest.mark.parametrize("text", ["812.50", "12.", ".5", "0", "007.10", "1,234.50", "+1.5", "-2", ".", "1..2",
                                  "1.2.3", "1e5", "NaN", "１２.5", "²", "٣.٥", "12.5元", "1,23.5"])
def test_a_decimal_cell_is_typed_only_when_plainly_a_number(text: str) -> None:
    """Digits with at most one point (and a sign, or thousands separators) become Decimal; anything else stays
    text for the model to report in its words (the common case is checked without a regular expression)."""
    import re

    typed = shape("facility", {"floor_area_m2": text})["floor_area_m2"]
    plain = text.replace(",", "") if re.fullmatch(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?", text) else text
    if re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", plain):
        assert type(typed) is Decimal and str(typed) == str(Decimal(plain))
    else:
        assert typed == text


def test_functions_are_split_for_each_row_anew() -> None:
    cell = {"functions": "health；culture、 fitness"}
    first = shape("facility", cell)["functions"]
    assert first == ["HEALTH", "CULTURE", "FITNESS"]
    first.append("OTHER")  # one row's list is its own: the next row with the same cell is not changed
    assert shape("facility", cell)["functions"] == ["HEALTH", "CULTURE", "FITNESS"]
