"""Tables that fit the terminal: columns measured first, then cut into as many tables as the width needs.

A national row has up to twenty columns; rich, given them all in 100 columns, squeezes some to nothing.
Here every column keeps the width of its widest value (headers wrap at their words instead), and the
columns that do not fit go to a next table that repeats the key columns (province code and name). Yuan
are shown in 万元 with thousands separators, counts with separators, ratios as percentages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text

from schemas.errors import CshubError

BORDER = 3
"""Cells a column costs beyond its text in rich's default box: a space each side and a rule."""
WAN = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Shown:
    """One column as shown: its name (what --columns picks), its header and its cells, as text."""

    name: str
    header: str
    cells: list[str]
    right: bool = True

    @property
    def width(self) -> int:
        words = max((cell_len(w) for w in self.header.split()), default=0)
        return max([words, *(Text.from_markup(cell or " ").cell_len for cell in self.cells)])


def amount(name: str, value: Any) -> str:
    """A cell as a person reads it: 万元 for yuan (header says so), 12,345 for counts, 87.50% for ratios."""
    if isinstance(value, bool):
        return "[green]✓ met[/]" if value else "[red]✗ at risk[/]"
    if value is None:
        return "—"
    if isinstance(value, Decimal):
        if name.endswith("_yuan") or name.endswith(("allocated", "disbursed")):
            return f"{value / WAN:,.2f}"
        if value.as_tuple().exponent == -4:  # ratios have scale 4
            return f"{value * 100:.2f}%"
        return f"{value:,}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def header_of(name: str) -> str:
    """`allocated_yuan` -> `allocated 万元`; `SPECIAL_BOND allocated` -> `SPECIAL BOND allocated 万元`."""
    words = name.replace("_yuan", " 万元").replace("_", " ")
    return f"{words} 万元" if name.endswith((" allocated", " disbursed")) else words


def pick(columns: list[Shown], wanted: Sequence[str] | None) -> list[Shown]:
    """The columns named in `wanted` (in that order), or all; a name that is not a column is an error."""
    if not wanted:
        return columns
    by_name = {c.name: c for c in columns}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        raise CshubError(f"--columns: no column {', '.join(unknown)} in this table",
                         f"choose from {', '.join(by_name)}")
    return [by_name[w] for w in wanted]


def fit(title: str, keys: list[Shown], columns: list[Shown], width: int, caption: str = "",
        styles: Sequence[str | None] = ()) -> Group:
    """`keys` then `columns` as one table, or as several that each fit `width` (the keys repeated in each)."""
    base = sum(c.width + BORDER for c in keys) + 1
    groups: list[list[Shown]] = [[]]
    used = base
    for column in columns:
        need = column.width + BORDER
        if groups[-1] and used + need > width:
            groups.append([])
            used = base
        groups[-1].append(column)
        used += need
    tables = []
    for number, group in enumerate(groups, start=1):
        part = f" ({number}/{len(groups)})" if len(groups) > 1 else ""
        table = Table(title=f"{title}{part}", caption=caption if number == len(groups) else None,
                      header_style="bold")
        for column in (*keys, *group):
            table.add_column(column.header, justify="right" if column.right else "left", min_width=column.width,
                             max_width=column.width, overflow="fold")
        rows = len(keys[0].cells) if keys else 0
        for index in range(rows):
            style = styles[index] if index < len(styles) else None
            table.add_row(*(c.cells[index] for c in (*keys, *group)), style=style)
        tables.append(table)
    return Group(*tables)
