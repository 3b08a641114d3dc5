"""The national row (000000) from the provinces' parts, wherever those parts were computed.

A part is what one province contributes to a national row: the integer totals its row is built
from (`core.rows.build_row`), the input offsets they reflect, and (obligations) the time they were
evaluated at. Totals are sums, so the national row is `build_row` over the element-wise sum of
the parts, whether one process holds every province (`Hub.rows`, the auditor) or each of several
workers sends its provinces' parts to one national stage (streams/). Both call `national_row`, so
one worker's national row is byte for byte what a single process computes.

Parts travel between workers as compact, deterministic JSON, many in one record (`encode_parts` /
`decode_parts`: one record per publish of a worker, so the national stage pays Faust's per-message cost once
per publish, not once per changed row); the stage stores each part on its own (`encode_part` / `decode_part`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from core.config import HubConfig
from core.rows import Offsets, Row, build_row
from core.totals import sum_totals
from schemas.topics import NATIONAL_CODE

NATIONAL = NATIONAL_CODE


@dataclass(frozen=True, slots=True)
class Part:
    """One province's totals for one table, the input offsets they reflect, and when they were evaluated."""

    totals: dict[str, int]
    offsets: Offsets = field(default_factory=dict)
    as_of_ms: int = 0


def merged_offsets(parts: Iterable[Offsets]) -> Offsets:
    """The highest next-offset per input partition over several offset maps."""
    out: Offsets = {}
    for offsets in parts:
        for tp, offset in offsets.items():
            if offset > out.get(tp, -1):
                out[tp] = offset
    return out


def national_row(table: str, parts: Iterable[Part], config: HubConfig) -> Row:
    """The 000000 row of `table` from the provinces' parts: summed totals, merged offsets, latest `as_of`."""
    parts = list(parts)
    as_of = max((p.as_of_ms for p in parts), default=0)
    return build_row(table, NATIONAL, sum_totals([p.totals for p in parts]), config,
                     merged_offsets(p.offsets for p in parts), as_of)


def part_key(table: str, province: str) -> bytes:
    """Key of a part in the national stage's table (its changelog keeps the latest per (table, province))."""
    return f"{table}|{province}".encode()


def _part_value(table: str, province: str, part: Part) -> dict[str, object]:
    return {"table": table, "province": province, "as_of": part.as_of_ms,
            "totals": dict(sorted(part.totals.items())),
            "offsets": [[t, p, o] for (t, p), o in sorted(part.offsets.items())]}


def _part_of(value: dict) -> tuple[str, str, Part]:
    totals = {str(k): int(v) for k, v in value["totals"].items()}
    offsets = {(str(t), int(p)): int(o) for t, p, o in value["offsets"]}
    return str(value["table"]), str(value["province"]), Part(totals, offsets, int(value["as_of"]))


def encode_part(table: str, province: str, part: Part) -> bytes:
    """A part as deterministic, compact JSON bytes (sorted totals and offsets; orjson)."""
    return orjson.dumps(_part_value(table, province, part))


def decode_part(data: bytes) -> tuple[str, str, Part]:
    """(table, province, part) from `encode_part` bytes; ValueError (with what is wrong) on anything else."""
    try:
        return _part_of(orjson.loads(data))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a national part record ({exc!r}): expected core.encode_part JSON") from exc


def encode_parts(parts: Iterable[tuple[str, str, Part]]) -> bytes:
    """Parts (table, province, part) as one record's bytes: a JSON array of what `encode_part` writes, in order."""
    return orjson.dumps([_part_value(table, province, part) for table, province, part in parts])


def decode_parts(data: bytes) -> list[tuple[str, str, Part]]:
    """The parts of one parts record, in order; a lone part (one record per part, as written before parts were
    batched) is read as a list of one. ValueError (with what is wrong) on anything else."""
    try:
        value = orjson.loads(data)
        return [_part_of(v) for v in (value if isinstance(value, list) else [value])]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a national parts record ({exc!r}): expected core.encode_parts JSON") from exc
