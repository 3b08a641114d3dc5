"""Issue 14: what a provincial clerk sees from `cshub publish --check`, case by case, word for word.

Each case of the issue is a file a clerk could make; the test runs the real command (in this process, no
broker: `--check` sends nothing) and compares the exact lines printed: no traceback, no repr, Beijing time.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.publisher import MAX_RECORD_BYTES, check_rows, prepare_row
from connectors.readers import COLUMNS, read_rows
from cshub.cli import main
from schemas import models, registry
from schemas.display import calendar_mistake, show_moment, show_value
from schemas.errors import ValidationFailed
from schemas.kinds import KINDS, SCHEMA_OF_KIND

SAMPLES = Path(__file__).resolve().parents[2] / "connectors" / "samples"
FUNDING = ("JS-M-{n},1,false,320000,2025-03,2025-03-31T10:00:00+08:00,CENTRAL_BUDGET,,社区养老服务骨干网,"
           "南京市项目,{allocated},{disbursed}")


def _check(capsys: pytest.CaptureFixture[str], path: Path, kind: str) -> tuple[int, list[str], str]:
    code = main(["publish", "--province", "320000", "--kind", kind, str(path), "--check"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out.splitlines(), err.strip()


def _csv(tmp_path: Path, kind: str, *rows: str, header: str | None = None) -> Path:
    path = tmp_path / f"{kind}.csv"
    path.write_text("\n".join([header or ",".join(COLUMNS[kind]), *rows]) + "\n", encoding="utf-8")
    return path


def _sample_with(tmp_path: Path, kind: str, column: str, value: str) -> Path:
    """The shipped sample of `kind` with one cell of its first row replaced."""
    lines = (SAMPLES / f"{kind}_320000.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index(column)] = value
    return _csv(tmp_path, kind, ",".join(cells), header=lines[0])


def test_a_number_too_large_for_the_report_is_refused_by_check_as_by_a_send(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _sample_with(tmp_path, "facility", "households", "99999999999999999999999")
    code, out, _ = _check(capsys, path, "facility")
    assert code == 1
    assert out == ["  rejected row 2, households = 99,999,999,999,999,999,999,999: must be at most 2,147,483,647:"
                   " the report format carries no larger whole number [less_than_equal]",
                   "facility.csv: 0 good rows, 1 bad rows (checked only, nothing sent)"]


def test_every_avro_int_of_the_contract_is_bounded_in_the_models() -> None:
    """The models mirror the encoder: each Avro `int` field refuses 2**31 with the limit in words (a new int
    field without its bound fails here, before a clerk meets an OverflowError on send)."""
    from schemas import samples

    def int_fields(schema: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        found: list[tuple[str, ...]] = []
        for field in schema.get("fields", ()):
            kind = field["type"]
            if kind == "int":
                found.append((*path, field["name"]))
            elif isinstance(kind, dict) and kind.get("type") == "record":
                found += int_fields(kind, (*path, field["name"]))
        return found

    checked = 0
    for kind in KINDS:
        schema = json.loads(registry.latest(SCHEMA_OF_KIND[kind]).schema_json)
        for path in int_fields(schema):
            record = {"facility": samples.facility, "funding": samples.funding, "policy": samples.policy}[kind]()
            target = record
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = 2**31
            with pytest.raises(ValidationFailed) as info:
                models.parse_report(kind, record)
            assert [(p.field, p.reason) for p in info.value.problems] == [(".".join(path), "less_than_equal")]
            checked += 1
    assert checked == 10  # revision in each kind, households, the six indicators


def test_a_row_of_another_province_is_about_its_province_not_its_county(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _sample_with(tmp_path, "facility", "province", "440000")
    code, out, _ = _check(capsys, path, "facility")
    assert code == 1
    assert out == ["  rejected row 2, province = '440000': this row is about 440000 广东省, but this file is published"
                   " for 320000 江苏省, and a province reports about itself only: correct the province code, or leave"
                   " the row to 广东省 [not_own_province]",
                   "facility.csv: 0 good rows, 1 bad rows (checked only, nothing sent)"]


def test_a_facility_file_sent_as_funding_is_said_once(capsys: pytest.CaptureFixture[str]) -> None:
    path = SAMPLES / "facility_320000.csv"
    code, out, err = _check(capsys, path, "funding")
    assert (code, out) == (2, [])
    assert err == (f"cshub publish: {path}: this looks like a facility file (its header has county_code,"
                   " community_code, community_name), not a funding file; publish it with --kind facility, or choose"
                   " the funding file; nothing was sent")


def test_a_missing_column_is_said_once_for_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    lines = (SAMPLES / "facility_320000.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    drop = header.index("households")
    path = _csv(tmp_path, "facility", *(",".join(c for i, c in enumerate(line.split(",")) if i != drop)
                                        for line in lines[1:]),
                header=",".join(h for h in header if h != "households"))
    code, out, err = _check(capsys, path, "facility")
    assert (code, out) == (2, [])
    assert err == (f"cshub publish: {path}: the header lacks column households; add it to the first row (`cshub"
                   " template --kind facility` writes a workbook with every column); nothing was sent")


def test_a_misspelt_column_is_said_once(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    header = ",".join(COLUMNS["funding"]) + ",remarks"
    path = _csv(tmp_path, "funding", FUNDING.format(n=1, allocated="1.00", disbursed="1.00") + ",x", header=header)
    code, _out, err = _check(capsys, path, "funding")
    assert code == 2
    assert err == (f"cshub publish: {path}: the header has column remarks, which a funding file does not have;"
                   " check the spelling or delete it (`cshub template --kind funding` lists every column);"
                   " nothing was sent")


def test_a_header_only_file_is_an_error_not_success(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _csv(tmp_path, "funding")
    code, out, err = _check(capsys, path, "funding")
    assert (code, out) == (2, [])
    assert err == (f"cshub publish: {path}: the file has a header but no rows of data; fill in at least one report"
                   " below the header; nothing was sent")


def test_undecodable_text_names_its_line_and_says_save_as_csv_utf8(capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path) -> None:
    text = (SAMPLES / "funding_320000.csv").read_text(encoding="utf-8")
    path = tmp_path / "funding.csv"
    lines = text.encode("utf-8").split(b"\n")
    lines[3] = lines[3].replace("社区".encode(), b"\xff\xfe", 1)
    path.write_bytes(b"\n".join(lines))
    code, out, err = _check(capsys, path, "funding")
    assert (code, out) == (2, [])
    assert err == (f"cshub publish: {path}, line 4: byte 0xff is not UTF-8 text, though the rest of the file is;"
                   " save it from Excel as 'CSV UTF-8 (逗号分隔)' and publish it again; nothing was sent")


def test_a_month_that_does_not_exist_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _sample_with(tmp_path, "funding", "produced_at", "2025-13-01T10:00:00+08:00")
    code, out, _ = _check(capsys, path, "funding")
    assert code == 1
    assert out[0] == ("  rejected row 2, produced_at = '2025-13-01T10:00:00+08:00': month 13 does not exist"
                      " (months are 01 to 12); write it as 2026-03-05T08:30:00+08:00 [calendar]")


@pytest.mark.parametrize(("text", "says"), [
    ("2025-13-01T10:00:00+08:00", "month 13 does not exist (months are 01 to 12)"),
    ("2025-02-30", "2025-02 has 28 days, so day 30 does not exist"),
    ("2024-02-29T10:00", None),
    ("2025-03-31T24:00:00+08:00", "hour 24 does not exist (24-hour clock: 00 to 23)"),
    ("2025-03-31 10:61", "minute 61 does not exist (00 to 59)"),
    ("2025-03-31T10:00:00+25:00", "time zone +25:00 does not exist (Beijing time is +08:00)"),
    ("yesterday", None),
])
def test_calendar_mistakes_in_words(text: str, says: str | None) -> None:
    assert calendar_mistake(text) == says


def test_a_period_month_that_does_not_exist_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _sample_with(tmp_path, "funding", "period", "2025-13")
    _code, out, _ = _check(capsys, path, "funding")
    assert out[0] == ("  rejected row 2, period = '2025-13': month 13 does not exist (months are 01 to 12); the period"
                      " must be a month YYYY-MM between 2021-01 and 2030-12 [bad_period]")


def test_money_is_shown_as_yuan_with_separators_never_as_a_repr(capsys: pytest.CaptureFixture[str],
                                                                tmp_path: Path) -> None:
    path = _csv(tmp_path, "funding", FUNDING.format(n=1, allocated="-12000000.00", disbursed="0"))
    _code, out, _ = _check(capsys, path, "funding")
    assert out[0] == "  rejected row 2, allocated_yuan = -12,000,000.00 元: must be 0 or more [negative_money]"
    assert "Decimal(" not in "\n".join(out)


def test_disbursed_above_allocated_is_a_warning_shown_before_sending(capsys: pytest.CaptureFixture[str],
                                                                    tmp_path: Path) -> None:
    path = _csv(tmp_path, "funding", FUNDING.format(n=1, allocated="8000000.00", disbursed="9000000.50"),
                FUNDING.format(n=2, allocated="5.00", disbursed="5.00"))
    code, out, _ = _check(capsys, path, "funding")
    assert code == 0  # accepted: a warning is not a rejection
    assert out == ["  warning row 2, disbursed_yuan = 9,000,000.50 元: is more than allocated_yuan (8,000,000.00 元):"
                   " the hub accepts the report and notifies the ministries of an anomaly; check both amounts"
                   " [disbursed_exceeds_allocated]",
                   "funding.csv: 2 good rows (1 with a warning), 0 bad rows (checked only, nothing sent)"]


def test_a_text_too_long_for_a_report_is_refused_by_check(tmp_path: Path) -> None:
    long_name = "长" * (MAX_RECORD_BYTES // 3 + 1)  # 3 UTF-8 bytes a character
    path = _csv(tmp_path, "funding", FUNDING.format(n=1, allocated="1.00", disbursed="1.00").replace("南京市项目",
                                                                                                     long_name))
    [prepared] = list(check_rows("funding", "320000", read_rows(path, "funding")))
    assert prepared.value is None
    [problem] = prepared.problems
    assert (problem.column, problem.reason) == ("project_name", "too_large")
    assert f"this text is {len(long_name):,} characters long; shorten it" in problem.rule


def test_check_and_send_prepare_a_row_alike() -> None:
    """`--check` is `check_rows`, a send is `prepare_row` per row: the same object, the same bytes."""
    rows = list(read_rows(SAMPLES / "policy_320000.csv", "policy"))
    checked = [p.value for p in check_rows("policy", "320000", rows)]
    sent = [prepare_row("policy", "320000", n, r).value for n, r in rows]
    assert checked == sent and all(checked)


def test_values_as_a_person_writes_them() -> None:
    assert show_value("allocated_yuan", Decimal("-12000000.00")) == "-12,000,000.00 元"
    assert show_value("items[0].floor_area_m2", Decimal("860.5")) == "860.50 m²"
    assert show_value("households", 2400) == "2400"
    assert show_value("withdrawn", True) == "true"
    assert show_value("name", "\ud800甲") == "'\\ud800甲'"  # a lone surrogate (JSON allows it) prints, escaped
    moment = dt.datetime(2026, 12, 1, 16, 30, tzinfo=dt.UTC)
    assert show_moment(moment) == "2026-12-02 00:30:00 (Beijing time)"
    assert show_value("produced_at", moment) == "2026-12-02 00:30:00 (Beijing time)"


def test_a_status_date_after_the_report_is_judged_on_the_beijing_day() -> None:
    """Produced at 07:00 in Beijing on 5 March (4 March in UTC): an item completed on 5 March is not "in the
    future", and the message says the day in Beijing time."""
    from schemas import samples

    produced = dt.datetime(2026, 3, 4, 23, 0, tzinfo=dt.UTC)
    item = {"code": "SMART_COMMUNITY_PILOT", "status": "COMPLETED", "status_date": dt.date(2026, 3, 5),
            "evidence_ref": "x"}
    models.parse_report("policy", samples.policy(produced_at=produced, items=[item]))
    item["status_date"] = dt.date(2026, 3, 6)
    with pytest.raises(ValidationFailed) as info:
        models.parse_report("policy", samples.policy(produced_at=produced, items=[item]))
    [problem] = info.value.problems
    assert problem.rule == "must not be after the day the report was produced (2026-03-05, Beijing time)"


def test_a_late_flag_says_its_times_in_beijing_time_not_epoch_ms() -> None:
    """The issue's "due 1794326400000 ms, first report at 1796158932976 ms": now the clock a clerk reads."""
    from core import HubConfig, obligation_rules
    from core.hub import Hub
    from schemas import reference, samples

    hub = Hub(HubConfig.from_reference(), rules=obligation_rules(reference.obligations_csv()))
    [note] = hub.apply("funding", samples.funding(period="2026-10"), 1796158932976, "t", 0, 0)
    assert note["message"] == ("510000 reported funding for 2026-10 late: due 2026-11-11 00:00, first report at"
                               " 2026-12-02 05:02 (Beijing time)")
