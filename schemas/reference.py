"""Reference data shipped with the contract: the provincial units and the policy items.

Files are read on first use, never at import. A deployment that adds a unit (for example
a pilot zone with its own code) points CSHUB_PROVINCES_FILE at its own CSV with the same
columns (code,name_zh,name_en), or passes a path.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from schemas.errors import ReferenceDataError

DATA_DIR = Path(__file__).resolve().parent / "data"
PROVINCES_FILE = DATA_DIR / "provinces.csv"
POLICY_ITEMS_FILE = DATA_DIR / "policy_items.csv"
OBLIGATIONS_FILE = DATA_DIR / "obligations.csv"
PROVINCES_ENV = "CSHUB_PROVINCES_FILE"
_PROVINCES_FILE_NAME = str(PROVINCES_FILE)  # the default, as text once: provinces() runs for every report
_ADVICE = "fix the file (UTF-8 CSV with a code,name_zh,name_en header) or point --provinces-file elsewhere"


@dataclass(frozen=True, slots=True)
class Province:
    """A provincial-level unit: 6-digit GB/T 2260 code and its names."""

    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class PolicyItem:
    """A policy item every province reports on (schemas/data/policy_items.csv)."""

    code: str
    name_zh: str
    name_en: str


def provinces(path: str | Path | None = None) -> dict[str, Province]:
    """Provincial units by code: from `path`, else $CSHUB_PROVINCES_FILE, else the shipped file.

    The result is cached per file; do not mutate it.
    """
    chosen = path or os.environ.get(PROVINCES_ENV) or _PROVINCES_FILE_NAME
    return _load_provinces(str(chosen))  # keyed by the text: no file-system call per lookup


def obligations_csv(path: str | Path | None = None) -> str:
    """The reporting obligations (kind,due_day,first_period) as CSV text, for `core.obligations.parse_rules`."""
    chosen = Path(path or OBLIGATIONS_FILE)
    try:
        return chosen.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReferenceDataError(f"cannot read the obligations file {chosen}: {exc}",
                                 "fix the file (UTF-8 CSV with a kind,due_day,first_period header) or point"
                                 " --obligations-file elsewhere") from exc


def policy_items(path: str | Path | None = None) -> dict[str, PolicyItem]:
    """Policy items by code, in file order. Cached; do not mutate the result."""
    return _load_policy_items(str(path or POLICY_ITEMS_FILE))


def _rows(path: Path, what: str) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ReferenceDataError(f"cannot read {what} file {path}: {exc}", _ADVICE) from exc
    for number, row in enumerate(rows, start=2):
        if not row.get("code") or not row.get("name_zh") or row.get("name_en") is None:
            raise ReferenceDataError(f"{path}:{number}: {what} row needs code,name_zh,name_en; got {row}", _ADVICE)
    return rows


@cache
def _load_provinces(name: str) -> dict[str, Province]:
    path = Path(name)
    out: dict[str, Province] = {}
    for number, row in enumerate(_rows(path, "provinces"), start=2):
        code = row["code"].strip()
        if len(code) != 6 or not code.isdigit() or not code.isascii():
            raise ReferenceDataError(f"{path}:{number}: province code must be 6 digits, got {code!r}", _ADVICE)
        if code in out:
            raise ReferenceDataError(f"{path}:{number}: province code {code} appears twice", _ADVICE)
        out[code] = Province(code, row["name_zh"].strip(), row["name_en"].strip())
    return out


@cache
def _load_policy_items(name: str) -> dict[str, PolicyItem]:
    path = Path(name)
    out: dict[str, PolicyItem] = {}
    for number, row in enumerate(_rows(path, "policy items"), start=2):
        code = row["code"].strip()
        if code in out:
            raise ReferenceDataError(f"{path}:{number}: policy item code {code} appears twice", _ADVICE)
        out[code] = PolicyItem(code, row["name_zh"].strip(), row["name_en"].strip())
    return out
