"""Check one file row with the contract's pydantic models and turn failures into per-column problems.

Why a module: the publisher (and its `--check` mode) must explain a bad row to a provincial clerk by row
number, column and rule, whatever layer found it (pydantic types, the models' business rules).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from schemas import models
from schemas.display import show_value
from schemas.errors import ValidationFailed
from schemas.topics import Kind


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One reason a row was not sent: where (row, column), the value, a stable reason code and the rule."""

    row: int
    column: str
    value: object
    reason: str
    rule: str

    def __str__(self) -> str:
        shown = "" if self.value in ("", None) else f" = {show_value(self.column, self.value)}"
        return f"row {self.row}, {self.column}{shown}: {self.rule} [{self.reason}]"


def _loc_from_field(path: str) -> tuple[Any, ...]:
    """'items[2].status_date' -> ('items', 2, 'status_date')."""
    loc: list[Any] = []
    for part in path.replace("]", "").split("."):
        name, _, index = part.partition("[")
        if name:
            loc.append(name)
        if index.isdigit():
            loc.append(int(index))
    return tuple(loc)


def validate_record(kind: Kind, record: dict[str, Any], row: int, column: Callable[[tuple[Any, ...]], str], *,
                    provinces: Collection[str] | None = None) -> tuple[dict[str, Any] | None, list[RowProblem]]:
    """(Avro-ready dict, []) for a good row, else (None, problems); `column` maps a field path to a column.

    `provinces`: the reference list the rules check against (default: `schemas.reference.provinces()`)."""
    try:
        return models.avro_report(kind, record, provinces=provinces), []
    except ValidationFailed as exc:
        return None, [RowProblem(row, column(_loc_from_field(p.field)), _shown(p.value), p.reason, p.rule)
                      for p in exc.problems]


def _shown(value: object) -> object:
    """The offending cell as the clerk typed it; whole records are not repeated."""
    return "" if isinstance(value, dict | list | tuple) else value
