"""Excel templates a provincial clerk fills in: `cshub template --kind funding --province 320000`.

Everything in a template is derived from the contract, so it cannot drift from what the publisher accepts:
the columns and their order from the reader's layout (`connectors.readers`), the Chinese labels from its
Chinese headers, types, ranges and drop-down values from the pydantic models (`schemas.models`), the
descriptions from the Avro schemas' docs, the policy items from the reference data, the example row from
`schemas.samples`. The reader accepts exactly what a template holds: each header cell is the Chinese label
over the English column name, and the example row (report id `TEMPLATE_EXAMPLE_ID`) is refused by name, so
it can never be sent by mistake.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import typing
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.readers import COLUMNS, ITEM_SUFFIXES, TEMPLATE_EXAMPLE_ID, ZH_HEADERS
from schemas import models, reference, registry, samples
from schemas.beijing import BEIJING
from schemas.display import UNITS
from schemas.kinds import SCHEMA_OF_KIND
from schemas.topics import Kind

ZH_OF = {column: zh for zh, column in ZH_HEADERS.items()}
ITEM_ZH = {"status": "状态", "date": "日期", "evidence": "依据"}
ROWS = 1_048_576
"""Validation applies to every row Excel has."""
MONEY_FORMAT = "#,##0.00"
MOMENT_FORMAT = "yyyy-mm-dd hh:mm:ss"


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a template: its name, label, whether it is required, its type, its values, its doc."""

    name: str
    zh: str
    required: bool
    type: str  # text, code, whole, amount, area, moment, date, period, bool, choice, choices
    choices: tuple[str, ...]
    minimum: int
    doc: str

    @property
    def header(self) -> str:
        return f"{self.zh}\n{self.name}"


def _literals(annotation: Any) -> tuple[str, ...]:
    """The values of a Literal (or of a tuple or an Optional of one)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(str(a) for a in args)
    for arg in args:
        if found := _literals(arg):
            return found
    return ()


def _docs(kind: Kind) -> dict[str, str]:
    """Each field's doc in the kind's Avro schema, nested records' fields too (by their own names)."""
    out: dict[str, str] = {}

    def walk(schema: Any) -> None:
        if isinstance(schema, dict):
            for field in schema.get("fields", ()):
                if field.get("doc"):
                    out.setdefault(field["name"], field["doc"])
                walk(field["type"])
            walk(schema.get("items"))
        elif isinstance(schema, list):
            for branch in schema:
                walk(branch)

    walk(json.loads(registry.latest(SCHEMA_OF_KIND[kind]).schema_json))
    return out


_TYPE_WORDS = {
    "text": "text 文本", "code": "code (digits kept as text) 代码", "whole": "whole number 整数",
    "amount": "yuan, at most 2 decimals, 0 or more 金额（元，精确到分）",
    "area": "square metres, at most 2 decimals, 0 or more 面积（平方米）",
    "moment": "date and time, Beijing time 日期时间",
    "date": "date YYYY-MM-DD 日期", "period": "month YYYY-MM 报告期", "bool": "true / false 是否",
    "choice": "one of the values 单选", "choices": "one or more of the values, separated by ; 多选（分号分隔）",
}
_CODES = frozenset({"report_id", "province", "county_code", "community_code", "bond_code"})


def _column(kind: Kind, name: str, docs: dict[str, str]) -> Column:
    model: Any = models.KIND_MODELS[kind]
    fields = dict(model.model_fields)
    fields.update(models.ProvinceIndicators.model_fields)
    info = fields[name]
    annotation = info.annotation
    choices = _literals(annotation)
    metadata = " ".join(type(m).__name__ for m in info.metadata)
    if name == "period":
        kind_of = "period"
    elif choices:
        kind_of = "choices" if typing.get_origin(annotation) is tuple else "choice"
    elif annotation is bool:
        kind_of = "bool"
    elif annotation is int:
        kind_of = "whole"
    elif annotation is Decimal:
        kind_of = "area" if UNITS.get(name) == "m²" else "amount"
    elif annotation is dt.datetime or "datetime" in f"{annotation} {metadata}".lower():
        kind_of = "moment"
    else:
        kind_of = "code" if name in _CODES else "text"
    doc = docs.get(name, "")
    if name == "bond_code":
        doc += " Required when source is SPECIAL_BOND (专项债)."
    return Column(name, ZH_OF.get(name, name), info.is_required(), kind_of, choices, 1 if name == "revision" else 0,
                  doc)


def columns(kind: Kind) -> list[Column]:
    """The template's columns of `kind`, in the reader's order, then the model's other optional fields."""
    docs = _docs(kind)
    names = list(COLUMNS[kind])
    if kind != "policy":
        names += [n for n in models.KIND_MODELS[kind].model_fields if n not in names]
    out = [_column(kind, n, docs) for n in names]
    if kind == "policy":
        item_fields = models.PolicyItemStatus.model_fields
        statuses = _literals(item_fields["status"].annotation)
        for item in reference.policy_items().values():
            for suffix, field in ITEM_SUFFIXES.items():
                zh = f"{item.name_zh}·{ITEM_ZH[suffix]}"
                name = f"{item.code}.{suffix}"
                doc = f"{item.name_en}: {docs.get(field, '')}"
                if suffix == "status":
                    out.append(Column(name, zh, False, "choice", statuses, 0, doc + " Empty: not reported."))
                elif suffix == "date":
                    out.append(Column(name, zh, False, "date", (), 0, doc))
                else:
                    out.append(Column(name, zh, False, "text", (), 0, doc))
    return out


def example(kind: Kind, province: str) -> dict[str, Any]:
    """The example row: a sample report (schemas.samples) moved into `province`, with the example id."""
    record = {"facility": samples.facility, "funding": samples.funding, "policy": samples.policy}[kind]()
    record["report_id"] = TEMPLATE_EXAMPLE_ID
    record["province"] = province
    if kind == "facility":
        record["county_code"] = province[:2] + record["county_code"][2:]
        record["community_code"] = record["county_code"] + record["community_code"][6:]
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "indicators":
            flat.update(value)
        elif key == "items":
            for item in value:
                flat[f"{item['code']}.status"] = item["status"]
                flat[f"{item['code']}.date"] = item["status_date"]
                flat[f"{item['code']}.evidence"] = item["evidence_ref"] or None
        elif key == "functions":
            flat[key] = ";".join(value)
        elif isinstance(value, dt.datetime):  # Excel has no zones: Beijing time, as the reader takes it
            flat[key] = value.astimezone(BEIJING).replace(tzinfo=None, microsecond=0)
        else:
            flat[key] = value
    return flat


def workbook(kind: Kind, province: str | None = None) -> Any:
    """The template of `kind` as an openpyxl Workbook: the reports sheet (header, one example row, validation
    on every row) and a sheet explaining each column."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    known = reference.provinces()
    code = province or next(iter(known))
    codes = (province,) if province else tuple(known)
    cols = [replace(c, type="choice", choices=codes) if c.name == "province" and len(",".join(codes)) <= 255 else c
            for c in columns(kind)]  # a province's template takes its own code only; Excel's lists stop at 255
    sample = example(kind, code)
    wb = Workbook()
    ws = wb.active
    ws.title = "报表 reports"
    ws.freeze_panes = "A2"
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    for index, col in enumerate(cols, start=1):
        letter = get_column_letter(index)
        cell = ws.cell(row=1, column=index, value=col.header)
        cell.font = Font(bold=True, color="C00000" if col.required else "000000")
        cell.fill = head_fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[letter].width = max(14, min(40, len(col.name) + 4))
        value = sample.get(col.name)
        cell = ws.cell(row=2, column=index, value=value)
        cell.font = Font(italic=True, color="808080")
        fmt = _number_format(col)
        if fmt:
            cell.number_format = fmt
            ws.column_dimensions[letter].number_format = fmt
        for validation in _validations(col, letter, DataValidation):
            ws.add_data_validation(validation)
            validation.add(f"{letter}2:{letter}{ROWS}")
    ws.row_dimensions[1].height = 48
    _explain_sheet(wb, kind, cols, sample, known.get(code), Font, Alignment)
    wb.active = 0
    return wb


def _number_format(col: Column) -> str | None:
    return {"amount": MONEY_FORMAT, "area": MONEY_FORMAT, "moment": MOMENT_FORMAT, "date": "yyyy-mm-dd", "period": "@",
            "code": "@"}.get(col.type)


def _validations(col: Column, letter: str, validation: Any) -> Iterator[Any]:
    first = f"{letter}2"
    words = f"{col.zh} {col.name}: {_TYPE_WORDS[col.type]}"
    common = {"allow_blank": not col.required, "showErrorMessage": True, "showInputMessage": True,
              "promptTitle": col.name[:32], "errorTitle": col.name[:32]}
    if col.type == "choice":
        v = validation(type="list", formula1='"' + ",".join(col.choices) + '"', **common)
        v.error, v.prompt = f"{words}: {', '.join(col.choices)}"[:255], ", ".join(col.choices)[:255]
    elif col.type == "bool":
        v = validation(type="list", formula1='"true,false"', **common)
        v.error, v.prompt = f"{words}"[:255], "true / false"
    elif col.type == "whole":
        top = models.AVRO_INT_MAX
        v = validation(type="whole", operator="between", formula1=str(col.minimum), formula2=str(top), **common)
        v.error, v.prompt = f"{words}, {col.minimum} to {top:,}"[:255], f"{col.minimum} .. {top:,}"
    elif col.type in ("amount", "area"):
        v = validation(type="custom", formula1=f"AND(ISNUMBER({first}),{first}>=0,ROUND({first},2)={first})",
                       **common)
        v.error, v.prompt = f"{words}: a number of 0 or more, at most 2 decimals", "0.00"
    elif col.type in ("moment", "date"):
        v = validation(type="date", operator="greaterThanOrEqual", formula1="DATE(2000,1,1)", **common)
        v.error = f"{words}: a date, e.g. 2026-03-05" + (" 08:30" if col.type == "moment" else "")
        v.prompt = "YYYY-MM-DD" + (" hh:mm (Beijing time)" if col.type == "moment" else "")
    elif col.type == "period":
        v = validation(type="custom", formula1=f'AND(LEN({first})=7,MID({first},5,1)="-")', **common)
        v.error, v.prompt = f"{words}, e.g. 2026-03", "YYYY-MM"
    else:
        return
    yield v


def _explain_sheet(wb: Any, kind: Kind, cols: list[Column], sample: dict[str, Any],
                   province: reference.Province | None, font: Any, alignment: Any) -> None:
    ws = wb.create_sheet("说明 columns")
    who = f"{province.code} {province.name_zh}" if province else ""
    ws.append([f"{kind} report template 报表模板 {who}".strip()])
    ws.append(["Fill in one report per row on the first sheet. Row 2 is an example (report id"
               f" {TEMPLATE_EXAMPLE_ID}): replace it or delete it, it is never sent. Red headers are required."
               " Check before sending: cshub publish --check FILE, or the upload page."])
    ws.append(["列 column", "名称 name", "必填 required", "类型 type", "取值 values", "说明 description",
               "示例 example"])
    for cell in ws[3]:
        cell.font = font(bold=True)
    for col in cols:
        ws.append([col.zh, col.name, "是 yes" if col.required else "否 no", _TYPE_WORDS[col.type],
                   ", ".join(col.choices), col.doc, _shown(sample.get(col.name))])
    for letter, width in zip("ABCDEFG", (28, 34, 10, 30, 40, 70, 30), strict=True):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=4):
        for cell in row:
            cell.alignment = alignment(wrap_text=True, vertical="top")


def _shown(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, dt.date | Decimal):
        return str(value)
    return value


def template_bytes(kind: Kind, province: str | None = None) -> bytes:
    """The template as the bytes of an .xlsx file (the upload page serves these)."""
    buffer = io.BytesIO()
    workbook(kind, province).save(buffer)
    return buffer.getvalue()


def write_template(kind: Kind, province: str | None, out: Path) -> Path:
    """Write the template to `out` (an .xlsx path)."""
    out.write_bytes(template_bytes(kind, province))
    return out
