"""Read a province's report files (CSV, JSON Lines, Excel .xlsx) row by row, without loading them whole.

Each reader yields `(row_number, record)`: the row number is what the clerk sees (the spreadsheet line, the
header being line 1; for JSON Lines the line number), and `record` is a dict shaped like the Avro report
(nested `items` and `indicators` for policy reports), still unvalidated: the pydantic models in
`schemas.models` decide what is right. Empty cells are left out so the model's defaults apply.

Column layout of CSV and Excel files (one report per row, header row first; UTF-8, with or without the BOM
Excel writes; a CSV that is not UTF-8 is read as GB18030, what Chinese Excel saves by default). The header
may use the English field names below or the Chinese labels in `ZH_HEADERS` (e.g. 报告编号 for report_id).

Every kind: `report_id, revision, withdrawn, province, period, produced_at`
  - revision: 1, 2, ...; withdrawn: true/false, 是/否, 1/0 (empty = false)
  - period: YYYY-MM; produced_at: ISO date-time (2025-03-31T10:00:00+08:00; no zone = Beijing time)
    or an Excel date cell.
Facility: `county_code, community_code, community_name, area_type, households, floor_area_m2, status,
  functions, old_community_renovation, operating_mode`
  - area_type URBAN/RURAL (or 城市/农村); status PLANNED/UNDER_CONSTRUCTION/COMPLETED/OPERATING;
  - functions: a ';'-separated list (also '；', '、' or ','), e.g. `ELDERLY_CARE;CHILDCARE;FITNESS`;
  - operating_mode GOVERNMENT/SITE_FOR_SERVICE/SOCIAL_ORGANISATION/ENTERPRISE_CHAIN.
Funding: `source, bond_code, purpose, project_name, allocated_yuan, disbursed_yuan`
  - amounts in yuan with at most 2 decimals (read as exact decimals, never floats).
Policy: the six indicator columns `urban_communities, rural_communities, big_city_communities,
  big_city_communities_with_care, special_difficulty_elderly, special_difficulty_elderly_visited`, then
  three columns per policy item code (codes from schemas/data/policy_items.csv):
  `<CODE>.status` (NOT_STARTED/IN_PROGRESS/COMPLETED), `<CODE>.date` (YYYY-MM-DD), `<CODE>.evidence`.
  An item whose status cell is empty is not reported. One row per province and period is what a clerk
  fills in: columns per item keep the sheet flat and filterable in Excel.
JSON Lines: one JSON object per line in the Avro shape (nested `items` list and `indicators` object).

Samples of each kind are in connectors/samples/.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from connectors.errors import ReaderError
from schemas import models
from schemas.beijing import BEIJING
from schemas.kinds import KINDS
from schemas.rules import INDICATORS
from schemas.topics import Kind

RowRecord = tuple[int, dict[str, Any]]
ROW_ERROR = "__row_error__"
"""Key of a record a reader could not even parse (bad JSON line, too many cells); its value says why."""

COMMON = ("report_id", "revision", "withdrawn", "province", "period", "produced_at")
COLUMNS: dict[str, tuple[str, ...]] = {
    "facility": (*COMMON, "county_code", "community_code", "community_name", "area_type", "households",
                 "floor_area_m2", "status", "functions", "old_community_renovation", "operating_mode"),
    "funding": (*COMMON, "source", "bond_code", "purpose", "project_name", "allocated_yuan", "disbursed_yuan"),
    "policy": (*COMMON, *INDICATORS),
}
ITEM_SUFFIXES = {"status": "status", "date": "status_date", "evidence": "evidence_ref"}
ITEM_SUFFIXES_ZH = {"状态": "status", "日期": "date", "依据": "evidence"}

ZH_HEADERS = {
    "报告编号": "report_id", "修订号": "revision", "撤回": "withdrawn", "省份代码": "province", "报告期": "period",
    "生成时间": "produced_at", "县级代码": "county_code", "社区代码": "community_code", "社区名称": "community_name",
    "城乡类型": "area_type", "服务户数": "households", "建筑面积": "floor_area_m2", "状态": "status",
    "功能": "functions", "老旧小区改造": "old_community_renovation", "运营方式": "operating_mode",
    "资金来源": "source", "债券代码": "bond_code", "用途": "purpose", "项目名称": "project_name",
    "下达金额": "allocated_yuan", "支付金额": "disbursed_yuan", "城市社区数": "urban_communities",
    "农村社区数": "rural_communities", "大城市社区数": "big_city_communities",
    "大城市有养老托育社区数": "big_city_communities_with_care", "特殊困难老年人数": "special_difficulty_elderly",
    "本月探访人数": "special_difficulty_elderly_visited", "地址": "address",
}
ZH_VALUES = {"城市": "URBAN", "农村": "RURAL", "是": "true", "否": "false"}
LIST_SEPARATORS = (";", "；", "、", ",", "，")


def column_of(kind: Kind, loc: tuple[Any, ...], record: dict[str, Any]) -> str:
    """The file column a pydantic error location points at (what the clerk should fix)."""
    if not loc:
        return "(row)"
    head = str(loc[0])
    if head == "indicators" and len(loc) > 1:
        return str(loc[1])
    if head == "items" and len(loc) > 1 and isinstance(loc[1], int):
        items = record.get("items")
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        code = item.get("code", f"item {loc[1] + 1}") if isinstance(item, dict) else f"item {loc[1] + 1}"
        if len(loc) > 2:
            suffix = {v: k for k, v in ITEM_SUFFIXES.items()}.get(str(loc[2]), str(loc[2]))
            return f"{code}.{suffix}"
        return str(code)
    return head


def _one_name(text: str) -> str:
    name = text.strip().lstrip("\ufeff").strip()
    if name in ZH_HEADERS:
        return ZH_HEADERS[name]
    if "." in name:
        code, suffix = name.rsplit(".", 1)
        return f"{code.strip().upper()}.{ITEM_SUFFIXES_ZH.get(suffix.strip(), suffix.strip().lower())}"
    return name


def _header_name(raw: Any) -> str:
    """A header cell as a column name: English, Chinese, or the template's two lines (中文 over English)."""
    whole = str(raw or "")
    name = _one_name(whole)
    if "\n" in whole and not _known_anywhere(name):
        for line in whole.splitlines():
            candidate = _one_name(line)
            if _known_anywhere(candidate):
                return candidate
    return name


def known_columns(kind: Kind) -> frozenset[str]:
    """The columns a file of `kind` may have (policy items' columns are `<CODE>.status|date|evidence`)."""
    return _KNOWN[kind]


def required_columns(kind: Kind) -> tuple[str, ...]:
    """The columns every file of `kind` must have: the report's fields without a default."""
    return _REQUIRED[kind]


def _model_columns(kind: Kind) -> tuple[tuple[str, ...], tuple[str, ...]]:
    model = models.KIND_MODELS[kind]
    known: list[str] = []
    required: list[str] = []
    for name, info in model.model_fields.items():
        columns = INDICATORS if name == "indicators" else () if name == "items" else (name,)
        known += columns
        if info.is_required():
            required += columns
    return tuple(known), tuple(required)


_KNOWN: dict[Kind, frozenset[str]] = {kind: frozenset(_model_columns(kind)[0]) for kind in KINDS}
_REQUIRED: dict[Kind, tuple[str, ...]] = {kind: _model_columns(kind)[1] for kind in KINDS}


def _item_column(name: str) -> str | None:
    """The policy item code of an item column (`PROVINCIAL_PLAN_ISSUED.status`), else None."""
    code, dot, suffix = name.rpartition(".")
    return code if dot and suffix in ITEM_SUFFIXES and re.fullmatch(r"[A-Z0-9_]+", code) else None


def _known_anywhere(name: str) -> bool:
    return any(name in known for known in _KNOWN.values()) or _item_column(name) is not None


def _specific(kind: Kind, names: Iterable[str]) -> list[str]:
    """The names that only a file of `kind` has (not the columns every kind shares)."""
    return [n for n in names if n not in COMMON and (n in _KNOWN[kind] or (kind == "policy" and _item_column(n)))]


def check_header(path: Path | str, kind: Kind, names: list[str]) -> None:
    """File-level problems of a header, said once (ReaderError): a file of another kind, missing columns,
    columns no file of this kind has, a column twice."""
    from schemas.reference import policy_items

    given = [n for n in names if n]
    mine = _specific(kind, given)
    others = {other: _specific(other, given) for other in _KNOWN if other != kind}
    best = max(others, key=lambda other: len(others[other]))
    if len(others[best]) > len(mine):
        shown = ", ".join(others[best][:3])
        raise ReaderError(f"{path}: this looks like a {best} file (its header has {shown}), not a {kind} file",
                          f"publish it with --kind {best}, or choose the {kind} file; nothing was sent")
    twice = sorted({n for n in given if given.count(n) > 1})
    if twice:
        raise ReaderError(f"{path}: the header has column {', '.join(twice)} twice",
                          "keep one of them; nothing was sent")
    missing = [c for c in _REQUIRED[kind] if c not in given]
    if missing:
        word = "column" if len(missing) == 1 else "columns"
        raise ReaderError(f"{path}: the header lacks {word} {', '.join(missing)}",
                          f"add {'it' if len(missing) == 1 else 'them'} to the first row (`cshub template --kind"
                          f" {kind}` writes a workbook with every column); nothing was sent")
    items = policy_items()
    unknown = [n for n in given if n not in _KNOWN[kind]
               and not (kind == "policy" and (_item_column(n) or "") in items)]
    if unknown:
        word = "column" if len(unknown) == 1 else "columns"
        raise ReaderError(f"{path}: the header has {word} {', '.join(unknown)}, which a {kind} file does not have",
                          f"check the spelling or delete {'it' if len(unknown) == 1 else 'them'} (`cshub template"
                          f" --kind {kind}` lists every column); nothing was sent")


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _cell(field: str, value: Any) -> Any:
    """Normalise one cell to what the model accepts; leave judgement to the model."""
    if isinstance(value, dt.datetime):
        if field == "period":
            return f"{value.year:04d}-{value.month:02d}"
        if field == "produced_at":
            return value if value.tzinfo else value.replace(tzinfo=BEIJING)
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return f"{value.year:04d}-{value.month:02d}" if field == "period" else value.isoformat()
    if isinstance(value, float):
        # Excel keeps numbers as doubles; repr gives the shortest decimal that round-trips (12.3 -> "12.3").
        return str(int(value)) if value.is_integer() else repr(value)
    text = _text(value)
    return ZH_VALUES.get(text, text)


@lru_cache(maxsize=1024)
def _beijing_if_naive(text: str) -> Any:
    """A date-time typed without a zone is Beijing time (what a provincial clerk means); text that is no
    date-time is left for the model to report. Cached (a datetime is immutable): the rows of one export
    mostly share their production time, and parsing it was a tenth of reading a row."""
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    return parsed.replace(tzinfo=BEIJING) if parsed.tzinfo is None else parsed


INT_COLUMNS = frozenset({"revision", "households", *INDICATORS})
DECIMAL_COLUMNS = frozenset({"floor_area_m2", "allocated_yuan", "disbursed_yuan"})
BOOL_COLUMNS = frozenset({"withdrawn", "old_community_renovation"})
BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?")
"""A number with thousands separators in groups of three, and nothing else: 1,234,567.89."""


_INT = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def _ungrouped(text: str) -> str:
    """12,000,000.00 as Excel shows money (and writes it to a CSV) without its separators: exact all the same."""
    return text.replace(",", "") if "," in text and _GROUPED.fullmatch(text) else text


def _as_int(text: str) -> Any:
    if text.isdigit() and text.isascii():  # the common case, without a regular expression
        return int(text)
    plain = _ungrouped(text)
    return int(plain) if _INT.fullmatch(plain) else text


def _as_decimal(text: str) -> Any:
    if text.replace(".", "", 1).isdigit() and text.isascii():  # the common case (812.50), no regular expression
        return Decimal(text)
    plain = _ungrouped(text)
    return Decimal(plain) if _DECIMAL.fullmatch(plain) else text


def _as_bool(text: str) -> Any:
    return BOOL_TEXT.get(text.lower(), text)


def _as_date(text: str) -> Any:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return text


def _as_text(text: str) -> Any:
    return text


def _typer(column: str) -> Callable[[str], Any]:
    """How the stripped text of a typed column becomes int, Decimal, bool or date (text that does not parse stays
    text, so the model reports it with its own words: a CSV has only text, a clerk types "1,200" or "是")."""
    if column in INT_COLUMNS:
        return _as_int
    if column in DECIMAL_COLUMNS:
        return _as_decimal
    if column in BOOL_COLUMNS:
        return _as_bool
    return _as_date if column == "status_date" else _as_text


def _typed(column: str, value: Any) -> Any:
    """A cell of `column` (after `_cell`) typed by `_typer`; a cell that is not text (Excel) as it is."""
    return _typer(column)(value.strip()) if isinstance(value, str) else value


def _functions(value: Any) -> list[str]:
    return list(_function_names(str(value)))  # a fresh list per row: the record is the caller's to change


@lru_cache(maxsize=1024)
def _function_names(text: str) -> tuple[str, ...]:
    """The names of a functions cell, split at any list separator. Cached: a file holds few distinct combinations,
    and splitting one cost a fifth of shaping its row."""
    for sep in LIST_SEPARATORS[1:]:
        text = text.replace(sep, ";")
    return tuple(part.strip().upper() for part in text.split(";") if part.strip())


def _produced_at(value: Any) -> Any:
    return _beijing_if_naive(value) if isinstance(value, str) else value


_FINISH: dict[str, Callable[[Any], Any]] = {"functions": _functions, "produced_at": _produced_at}


_RECORD, _INDICATOR, _ITEM, _RAW = range(4)


_Step = tuple[int, str, str, int, Callable[[str], Any] | None, Callable[[Any], Any] | None]
"""How one column is shaped: cell index, key, field of a policy item, where it goes, typer (None: text), finish."""


def _put(step: _Step, raw: Any, record: dict[str, Any], indicators: dict[str, Any],
         items: dict[str, dict[str, Any]]) -> None:
    """One cell of any kind (text, an Excel number or date, None) where its column says."""
    _index, key, field, where, typer, finish = step
    if where == _RAW:
        if raw is not None and (not isinstance(raw, str) or raw.strip()):
            record[key] = raw
        return
    if type(raw) is str:
        text = raw.strip()
        if not text:
            return
        value = ZH_VALUES.get(text, text)
        if typer is not None:
            value = typer(value)
    elif raw is None or (isinstance(raw, str) and not raw.strip()):
        return
    else:
        value = _typed(field, _cell(field, raw))
    if finish is not None:
        value = finish(value)
    if where == _RECORD:
        record[key] = value
    elif where == _INDICATOR:
        indicators[key] = value
    else:
        items.setdefault(key, {"code": key})[field] = value


def shaper(kind: Kind, names: list[str]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """The shaping of rows under the header `names` (column -> cell) into the Avro-shaped records the models
    validate. What to do with each column is decided here once, so a text cell costs a strip, a look-up of its
    Chinese value (是, 城市 in English) and at most one parse; an Excel cell that is not text goes through `_cell`.

    The row's shaping is generated as one function (a CSV row is 10-30 text cells, and a loop over the columns
    cost more than the cells): each text cell of a report field or indicator inline, anything else through
    `_put`, the one reference of what a cell becomes. The source names columns only by their `repr`."""
    plan: list[_Step] = []
    for index, column in enumerate(names):
        if not column:
            continue
        if "." in column:
            code, suffix = column.rsplit(".", 1)
            target = ITEM_SUFFIXES.get(suffix)
            if target is None:  # unknown column: the model (extra="forbid") names it
                plan.append((index, column, "", _RAW, None, None))
            else:
                plan.append((index, code, target, _ITEM, _typer(target), None))
        else:
            typer = _typer(column)
            plan.append((index, column, column, _INDICATOR if column in INDICATORS else _RECORD,
                         None if typer is _as_text else typer, _FINISH.get(column)))
    width = max((step[0] + 1 for step in plan), default=0)
    scope: dict[str, Any] = {"PUT": _put, "ZH": ZH_VALUES.get, "WIDTH": width, "PAD": (None,) * width}
    lines = ["def shape_row(values):",
             "    if len(values) < WIDTH:",  # a short row: its missing cells are empty
             "        values = (*values, *PAD[len(values):])",
             "    record = {}",
             "    indicators = {}",
             "    items = {}"]
    for n, step in enumerate(plan):
        index, key, _field, where, column_typer, finish = step
        scope[f"S{n}"] = step
        if where not in (_RECORD, _INDICATOR):
            lines.append(f"    PUT(S{n}, values[{index}], record, indicators, items)")
            continue
        value = "ZH(t, t)"
        if column_typer is not None:
            scope[f"T{n}"] = column_typer
            value = f"T{n}({value})"
        if finish is not None:
            scope[f"F{n}"] = finish
            value = f"F{n}({value})"
        lines += [f"    raw = values[{index}]",
                  "    if type(raw) is str:",
                  "        t = raw.strip()",
                  "        if t:",
                  f"            {'record' if where == _RECORD else 'indicators'}[{key!r}] = {value}",
                  "    elif raw is not None:",
                  f"        PUT(S{n}, raw, record, indicators, items)"]
    if kind == "policy":
        lines += ["    record['indicators'] = indicators",
                  "    record['items'] = [item for item in items.values() if 'status' in item]"]
    lines.append("    return record")
    exec(compile("\n".join(lines), f"<shaping of {kind} rows>", "exec"), scope)
    shape_row: Callable[[Sequence[Any]], dict[str, Any]] = scope["shape_row"]
    return shape_row


def shape(kind: Kind, flat: dict[str, Any]) -> dict[str, Any]:
    """Turn one flat row (column -> cell) into the Avro-shaped record the models validate."""
    return shaper(kind, list(flat))(list(flat.values()))


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    raise ReaderError(f"{path}: unknown file type {suffix!r}; use .csv, .jsonl or .xlsx (Excel 2007+; save .xls"
                      " files as .xlsx first)")


SAVE_AS_UTF8 = "save it from Excel as 'CSV UTF-8 (逗号分隔)' and publish it again; nothing was sent"


def _csv_encoding(path: Path) -> str:
    """The encoding of a CSV file, checked over the whole file before any row is read (so nothing is sent
    from a file that turns out unreadable half-way): UTF-8 (with or without BOM), UTF-16 with a BOM (Excel's
    "Unicode text"), or GB18030 (Chinese Excel's default for CSV). A file that is UTF-8 but for a few bytes
    (one stray Latin-1 byte) is refused, not decoded as GB18030 into wrong characters."""
    data = path.read_bytes()
    if data.startswith(b"PK\x03\x04"):
        raise ReaderError(f"{path}: this is an Excel workbook (a zip file), not CSV text",
                          "rename it to .xlsx, or save it from Excel as 'CSV UTF-8'")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in data:
        line = _line_of(data, data.index(b"\x00"))
        raise ReaderError(f"{path}, line {line}: NUL bytes, so neither UTF-8 nor GB18030 text (UTF-16 without a"
                          " byte-order mark, or not a text file)", SAVE_AS_UTF8)
    try:
        data.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        bad = exc.start
    replaced = data.decode("utf-8", errors="replace")
    invalid = replaced.count("\ufffd")
    has_utf8 = sum(1 for c in replaced if ord(c) > 0x7F) - invalid > 4 * invalid  # UTF-8 but for a stray byte
    if not has_utf8:
        try:
            data.decode("gb18030")
            return "gb18030"
        except UnicodeDecodeError:
            pass
    what = "not UTF-8 text, though the rest of the file is" if has_utf8 else "neither UTF-8 nor GB18030 text"
    raise ReaderError(f"{path}, line {_line_of(data, bad)}: byte 0x{data[bad]:02x} is {what}", SAVE_AS_UTF8)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _data_rows(path: Path | str, kind: Kind, header: Any, body: Iterator[tuple[int, Any]],
               close: Callable[[], None]) -> Iterator[RowRecord]:
    """Check the header, make sure there is at least one row of data (both before anything is yielded, so
    before anything is sent), then the rows; `body` yields (line number, raw cells), `close` ends the file."""
    try:
        names = [_header_name(h) for h in header]
        check_header(path, kind, names)
        first = next(body, None)
        if first is None:
            raise ReaderError(f"{path}: the file has a header but no rows of data",
                              "fill in at least one report below the header; nothing was sent")
    except BaseException:
        close()
        raise
    return _rows_of(names, kind, first, body, close)


def _rows_of(names: list[str], kind: Kind, first: tuple[int, Any], body: Iterator[tuple[int, Any]],
             close: Callable[[], None]) -> Iterator[RowRecord]:
    shape_row = shaper(kind, names)
    try:
        for number, values in itertools.chain((first,), body):
            if isinstance(values, str):  # the reader's own verdict on the line
                yield number, {ROW_ERROR: values}
                continue
            record = shape_row(values)
            if record.get("report_id") == TEMPLATE_EXAMPLE_ID:
                yield number, {ROW_ERROR: EXAMPLE_ROW}
                continue
            yield number, record
    finally:
        close()


TEMPLATE_EXAMPLE_ID = "示例-EXAMPLE"
"""The report id of the example row `cshub template` writes: a row with it is refused, never sent."""
EXAMPLE_ROW = "this is the template's example row: delete it, or write your own report over it"


def read_csv(path: Path, kind: Kind, encoding: str | None = None) -> Iterator[RowRecord]:
    fh = path.open(encoding=encoding or _csv_encoding(path), newline="")
    first = fh.readline()
    fh.seek(0)
    delimiter = "\t" if "\t" in first and "," not in first else ","  # Excel's "Unicode text" is tab-separated
    reader = csv.reader(fh, delimiter=delimiter)
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        fh.close()
        raise ReaderError(f"{path}: empty file; the first line must be the header ({', '.join(COLUMNS[kind])})")
    width = len(header)

    def body() -> Iterator[tuple[int, Any]]:
        for values in reader:
            if not "".join(values).strip():  # no cell with text (one join, not a generator per row)
                continue
            if len(values) > width and "".join(values[width:]).strip():
                yield reader.line_num, f"{len(values)} cells but the header has {width} columns"
                continue
            yield reader.line_num, values

    return _data_rows(path, kind, header, body(), fh.close)


def read_jsonl(path: Path, kind: Kind) -> Iterator[RowRecord]:
    with path.open(encoding="utf-8-sig") as fh:
        seen = False
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            seen = True
            try:
                obj = json.loads(line, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                yield number, {ROW_ERROR: f"not valid JSON: {exc.msg} at column {exc.colno}"}
                continue
            if not isinstance(obj, dict):
                yield number, {ROW_ERROR: f"expected a JSON object, got {type(obj).__name__}"}
                continue
            yield number, obj
        if not seen:
            raise ReaderError(f"{path}: the file has no reports (no JSON lines)",
                              "write one JSON object per line; nothing was sent")


def read_xlsx(path: Path, kind: Kind) -> Iterator[RowRecord]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise ReaderError(f"{path}: not a readable Excel .xlsx workbook: {exc}") from exc
    ws = wb.active  # the sheet the file opens on (a template opens on its reports; its other sheet explains)
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    if not header or not any(header):
        wb.close()
        raise ReaderError(f"{path}: the first sheet has no header row; expected {', '.join(COLUMNS[kind])}")

    def body() -> Iterator[tuple[int, Any]]:
        for number, values in enumerate(rows, start=2):
            if any(v is not None and str(v).strip() for v in values):
                yield number, values

    return _data_rows(path, kind, header, body(), wb.close)


def read_rows(path: Path, kind: Kind) -> Iterator[RowRecord]:
    """Stream `(row_number, record)` from a CSV, JSON Lines or Excel file (format from the suffix)."""
    fmt = detect_format(path)
    if not path.is_file():
        raise ReaderError(f"{path}: no such file")
    if fmt == "csv":
        return read_csv(path, kind, _csv_encoding(path))  # now: an unreadable file fails before any row
    if fmt == "jsonl":
        return read_jsonl(path, kind)
    return read_xlsx(path, kind)


def count_rows(path: Path) -> int | None:
    """Roughly how many data rows a file has (for the progress bar); None when it is costly to know."""
    fmt = detect_format(path)
    if fmt == "xlsx":
        return None
    lines = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            lines += block.count(b"\n")
    return max(0, lines - (1 if fmt == "csv" else 0))
