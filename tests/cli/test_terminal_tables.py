"""Issue 14: the tables `cshub subscribe` and `cshub audit replay --until` print fit a 100-column terminal."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from connectors.subscriber import TableRow, sort_rows
from core import HubConfig
from core.hub import Hub
from cshub.commands.subscribe import render_table
from schemas import samples
from schemas.errors import CshubError
from schemas.topics import TABLES


def _rows() -> dict[str, list[TableRow]]:
    """Every national table folded by the core from the samples (Jiangsu's facility, Sichuan's 1.2 trillion
    yuan of special bonds, Guangdong's policy report), as a subscriber reads them."""
    hub = Hub(HubConfig.from_reference())
    for offset, (kind, record) in enumerate([("facility", samples.facility()), ("funding", samples.funding()),
                                             ("policy", samples.policy())]):
        hub.apply(kind, record, 1_770_000_000_000, f"cshub.in.{record['province']}.{kind}", 0, offset)
    out: dict[str, list[TableRow]] = {}
    for (table, province), row in hub.rows().items():
        if province in ("000000", "320000", "510000", "440000"):
            out.setdefault(table, []).append(TableRow(table, province, dict(row), -1, 0))
    return {t: sort_rows(r) for t, r in out.items()}


def _printed(renderable: Any, width: int = 100) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    console.print(renderable)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return str(text).splitlines()


@pytest.mark.parametrize("table", [t for t in TABLES if t != "obligations"])
def test_every_table_fits_100_columns_and_keeps_every_value(table: str) -> None:
    rows = _rows()[table]
    lines = _printed(render_table(table, rows, 100))
    assert max(len(line) for line in lines) <= 100, "\n".join(lines)
    text = "\n".join(lines)
    assert "…" not in text  # nothing cut to an ellipsis or to zero width
    for row in rows:
        assert row.province in text and row.province_name in text


def test_yuan_are_shown_in_wan_yuan_with_separators() -> None:
    text = "\n".join(_printed(render_table("funding", _rows()["funding"], 100)))
    assert "万元" in text
    assert "1,234,567,890.12" in text  # 12,345,678,901,234.56 yuan allocated, in 万元
    assert "Decimal" not in text


def test_columns_picks_and_orders_and_unknown_names_are_listed() -> None:
    rows = _rows()["coverage"]
    lines = _printed(render_table("coverage", rows, 100, ["rural_coverage", "urban_coverage"]))
    header = next(line for line in lines if "rural" in line and "urban" in line)
    assert header.index("rural") < header.index("urban")
    assert "communities" not in "\n".join(lines)
    with pytest.raises(CshubError) as info:
        render_table("coverage", rows, 100, ["urban_coverge"])
    assert "no column urban_coverge" in info.value.line() and "urban_coverage" in info.value.line()
