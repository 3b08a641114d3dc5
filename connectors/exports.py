"""Exports analysts open in Excel: flat columns, CSV with a BOM (Excel then reads UTF-8 Chinese right) and .xlsx.

One flattening for every export (tables, history, notifications): nested fields become dotted columns
(`sources.SPECIAL_BOND.allocated_yuan`), lists of plain values are joined with "; ", ratios become
percentages, money gets a 亿元 column beside the exact yuan (as on the dashboard), times are Beijing time
on a 24-hour clock. Values stay exact: Decimal in, Decimal (or its string) out; never a float.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

BEIJING = dt.timezone(dt.timedelta(hours=8))
HIDDEN = frozenset({"offsets"})
YI = Decimal(100_000_000)
RATIO_FIELDS = ("coverage", "rate", "share")
"""A field whose name ends with one of these is a ratio (scale 4): exported as a percentage."""


def beijing(value: Any) -> str:
    """An instant (aware datetime, ISO text or epoch ms) as Beijing time, 24-hour clock."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    elif isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return f"{value.astimezone(BEIJING):%Y-%m-%d %H:%M:%S}"


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return None
    return None


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """One row as flat columns (see the module docstring)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not prefix and key in HIDDEN:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for item in value:
                label = item.get("source") or item.get("code") or str(value.index(item))
                out.update(flatten({k: v for k, v in item.items() if k not in ("source", "code")},
                                   f"{name}.{label}."))
        elif isinstance(value, list):
            out[name] = "; ".join(str(v) for v in value)
        elif key.endswith(RATIO_FIELDS) and _decimal(value) is not None:
            out[f"{name} (%)"] = (_decimal(value) or Decimal(0)) * 100
        elif key.endswith("_yuan") and _decimal(value) is not None:
            out[name] = _decimal(value)
            out[f"{name[:-len('_yuan')]} (亿元)"] = (_decimal(value) or Decimal(0)) / YI
        elif key in ("event_time", "as_of", "arrived_ms") or isinstance(value, dt.datetime):
            out[name] = beijing(value) if value not in (None, 0) else ""
        else:
            out[name] = value
    return out


def table_records(rows: Iterable[Mapping[str, Any]], province_names: Mapping[str, str],
                  leading: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Flat records of table rows, each starting with `leading` columns, the province and its name."""
    out = []
    for row in rows:
        code = str(row.get("province", ""))
        out.append({**(leading or {}), "province": code, "province_name": province_names.get(code, ""),
                    **{k: v for k, v in flatten(row).items() if k != "province"}})
    return out


def notification_records(notes: Iterable[Mapping[str, Any]], province_names: Mapping[str, str]) -> list[dict]:
    """Flat records of notifications: time (Beijing), type, province and name, subject, message, value, target."""
    out = []
    for note in notes:
        code = str(note.get("province", ""))
        out.append({"event_time": beijing(note.get("event_time", "")), "type": note.get("type", ""),
                    "province": code, "province_name": province_names.get(code, ""),
                    "table": note.get("table") or "", "subject": note.get("subject", ""),
                    "message": note.get("message", ""), "value": note.get("value") or "",
                    "target": note.get("target") or "", "notification_id": note.get("notification_id", "")})
    return out


def _columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    columns: list[str] = []
    seen: set[str] = set()
    for record in records:
        for name in record:
            if name not in seen:
                seen.add(name)
                columns.append(name)
    return columns


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return value


def to_csv(records: Sequence[Mapping[str, Any]], *, bom: bool = True) -> bytes:
    """CSV bytes (UTF-8, with a BOM unless `bom=False`), one column per field of any record."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=_columns(records), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: _cell(v) for k, v in record.items()})
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8")


def to_xlsx(records: Sequence[Mapping[str, Any]], sheet: str) -> bytes:
    """An .xlsx workbook of one sheet: a bold header row, frozen, numbers as numbers (exact Decimals)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    ws = book.active
    ws.title = sheet[:31]  # Excel's limit
    columns = _columns(records)
    ws.append(columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for record in records:
        ws.append([_xlsx_value(record.get(c)) for c in columns])
    for i, name in enumerate(columns, start=1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = min(40, max(10, len(name) + 2))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal | int | float | bool):
        return value
    return str(value)
