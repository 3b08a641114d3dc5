"""Writer schemas by fingerprint: every `schemas/avro/cshub.<Name>.v<N>.avsc` plus any learned at run time.

The fingerprint is the Avro spec's CRC-64-AVRO (Rabin) of the schema's Parsing Canonical Form,
as the 8 little-endian bytes that single-object encoding puts after 0xC3 0x01. It is computed
with fastavro, whose canonical form matches the Java reference implementation
(`SchemaNormalization.build`: in parsing form a logical type's primitive is written as `"long"`);
the Python `avro` 1.12 library writes `{"type":"long"}` there and so gives other fingerprints for
our schemas. tests/schemas/test_registry.py pins the Avro spec's test vectors and this choice.

Because the canonical form drops logical types, two versions that differ only in, say, a decimal's
scale would share a fingerprint: loading refuses that, and tests/schemas/test_evolution.py refuses
any change of a logical type between versions.

Files are parsed once, on first use. Every version stays loadable forever: a replay years later
still finds the writer schema of an old record.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

AVRO_DIR = Path(__file__).resolve().parent / "avro"
NAMESPACE = "cshub"
_FILE_NAME = re.compile(r"^cshub\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.avsc$")

LEARNED_VERSION = 0
"""Version of a writer schema learned at run time that matches no file in the repo."""


@dataclass(frozen=True, eq=False)
class SchemaVersion:
    """One version of one named schema.

    `parsed` is fastavro's parsed form (private to each version, so v1 and v2 of the same
    name never share named types).
    """

    name: str
    version: int
    fingerprint: bytes
    canonical_form: str
    schema_json: str
    parsed: Any = field(repr=False)

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()


def full_name(name: str) -> str:
    """`FacilityReport` -> `cshub.FacilityReport`; full names pass through."""
    return name if "." in name else f"{NAMESPACE}.{name}"


def compute_fingerprint(schema: dict[str, Any] | str) -> bytes:
    """CRC-64-AVRO of the Parsing Canonical Form, 8 bytes little-endian (Avro single-object encoding)."""
    obj = json.loads(schema) if isinstance(schema, str) else schema
    return bytes.fromhex(_fastavro_fingerprint(to_parsing_canonical_form(obj), "CRC-64-AVRO"))


def _build(schema_obj: dict[str, Any], schema_json: str, version: int, where: str) -> SchemaVersion:
    if not isinstance(schema_obj, dict) or schema_obj.get("type") not in ("record", "enum", "fixed"):
        raise ValueError(f"{where}: the top level must be one named type (record, enum or fixed)")
    try:
        parsed: Any = fastavro.parse_schema(schema_obj, named_schemas={})
        canonical = to_parsing_canonical_form(schema_obj)
    except (fastavro.schema.SchemaParseException, fastavro.schema.UnknownType, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{where}: not a valid Avro schema: {exc}") from exc
    name = str(parsed["name"])
    fp = bytes.fromhex(_fastavro_fingerprint(canonical, "CRC-64-AVRO"))
    return SchemaVersion(name, version, fp, canonical, schema_json, parsed)


class Registry:
    """Schema versions by fingerprint and by name. Thread-safe for `register`."""

    def __init__(self, versions: list[SchemaVersion] | None = None) -> None:
        self._lock = threading.Lock()
        self._by_fp: dict[bytes, SchemaVersion] = {}
        self._by_name: dict[str, list[SchemaVersion]] = {}
        for sv in versions or []:
            self._add(sv)

    @classmethod
    def from_directory(cls, directory: Path = AVRO_DIR) -> Registry:
        """Load every `cshub.<Name>.v<N>.avsc` in `directory`; refuse a misnamed or duplicate file."""
        versions: list[SchemaVersion] = []
        for path in sorted(directory.glob("*.avsc")):
            match = _FILE_NAME.match(path.name)
            if not match:
                raise ValueError(f"{path}: schema files must be named cshub.<Name>.v<N>.avsc")
            text = path.read_text(encoding="utf-8")
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: not JSON: {exc}") from exc
            sv = _build(obj, text, int(match["version"]), str(path))
            if sv.name != f"{NAMESPACE}.{match['name']}":
                raise ValueError(f"{path}: file name says {NAMESPACE}.{match['name']} but the schema is {sv.name}")
            versions.append(sv)
        registry = cls()
        for sv in versions:
            registry._add(sv)
        return registry

    def _add(self, sv: SchemaVersion) -> None:
        known = self._by_fp.get(sv.fingerprint)
        if known is not None:
            if known.version != sv.version or known.name != sv.name:
                raise ValueError(
                    f"{sv.name} v{sv.version} has the same canonical form as {known.name} v{known.version}; "
                    "a new version must change the schema"
                )
            return
        same_name = self._by_name.setdefault(sv.name, [])
        if sv.version != LEARNED_VERSION and any(v.version == sv.version for v in same_name):
            raise ValueError(f"{sv.name} v{sv.version} is defined twice with different schemas")
        self._by_fp[sv.fingerprint] = sv
        same_name.append(sv)
        same_name.sort(key=lambda v: v.version)

    def by_fingerprint(self, fp: bytes) -> SchemaVersion | None:
        """The version with this 8-byte fingerprint, or None."""
        return self._by_fp.get(fp)

    def versions(self, name: str) -> list[SchemaVersion]:
        """Every known version of `name`, oldest first (learned ones, version 0, first)."""
        return list(self._by_name.get(full_name(name), ()))

    def latest(self, name: str) -> SchemaVersion:
        """The highest numbered version of `name` in the repo; KeyError naming the known ones if absent."""
        numbered = [v for v in self._by_name.get(full_name(name), ()) if v.version != LEARNED_VERSION]
        if not numbered:
            raise KeyError(f"no schema named {full_name(name)!r}; known: {', '.join(self.names()) or 'none'}")
        return numbered[-1]

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def all(self) -> list[SchemaVersion]:
        return [sv for name in self.names() for sv in self._by_name[name]]

    def register(self, schema_json: str | dict[str, Any]) -> SchemaVersion:
        """Learn a writer schema at run time (e.g. read from the cshub.schemas topic).

        Returns the known version when the canonical form matches one; else adds it as version 0.
        Raises ValueError when the text is not a valid named Avro schema.
        """
        if isinstance(schema_json, str):
            try:
                obj = json.loads(schema_json)
            except json.JSONDecodeError as exc:
                raise ValueError(f"registered schema is not JSON: {exc}") from exc
            text = schema_json
        else:
            obj, text = schema_json, json.dumps(schema_json, ensure_ascii=False)
        sv = _build(obj, text, LEARNED_VERSION, "registered schema")
        with self._lock:
            known = self._by_fp.get(sv.fingerprint)
            if known is not None:
                return known
            self._add(sv)
        return sv


@cache
def default_registry() -> Registry:
    """The registry of the repo's .avsc files (loaded on first use), shared by the process."""
    return Registry.from_directory(AVRO_DIR)


def by_fingerprint(fp: bytes) -> SchemaVersion | None:
    return default_registry().by_fingerprint(fp)


def latest(name: str) -> SchemaVersion:
    return default_registry().latest(name)


def versions(name: str) -> list[SchemaVersion]:
    return default_registry().versions(name)


def register(schema_json: str | dict[str, Any]) -> SchemaVersion:
    return default_registry().register(schema_json)
