"""Schema registry: fingerprints as the Avro spec defines them, lookup across versions, run-time registration."""

from __future__ import annotations

import json
from pathlib import Path

import avro.schema
import pytest
from fastavro.schema import to_parsing_canonical_form

from schemas import registry
from schemas.registry import Registry, compute_fingerprint

# Avro's own test vectors (share/test/data/schema-tests.txt): schema -> CRC-64-AVRO as Java's signed long.
SPEC_VECTORS = [
    ('"null"', 7195948357588979594),
    ('{"type": "null"}', 7195948357588979594),
    ('"boolean"', -6970731678124411036),
    ('"int"', 8247732601305521295),
    ('"long"', -3434872931120570953),
    ('{"type": "fixed", "name": "foo", "size": 15}', 1756455273707447556),
    ('{"type": "record", "name": "foo", "fields": [{"name": "f1", "type": "boolean"}]}', 7843277075252814651),
]


@pytest.mark.parametrize(("schema", "expected"), SPEC_VECTORS)
def test_fingerprint_matches_the_avro_spec_vectors_little_endian(schema: str, expected: int) -> None:
    assert compute_fingerprint(schema) == expected.to_bytes(8, "little", signed=True)


def test_fingerprint_agrees_with_the_apache_avro_rabin_implementation() -> None:
    """Same CRC as the `avro` library over the same canonical text, for every schema in the repo."""
    for sv in registry.default_registry().all():
        assert avro.schema._crc_64_fingerprint(sv.canonical_form.encode()) == sv.fingerprint


def test_canonical_form_strips_logical_types_like_java() -> None:
    """Java's SchemaNormalization writes a logical type's primitive as `"long"`; avro-python 1.12 keeps an object."""
    canonical = to_parsing_canonical_form({"type": "long", "logicalType": "timestamp-millis"})
    assert canonical == '"long"'
    assert compute_fingerprint({"type": "long", "logicalType": "timestamp-millis"}) == compute_fingerprint('"long"')
    for sv in registry.default_registry().all():
        assert "logicalType" not in sv.canonical_form
        assert '{"type":"long"}' not in sv.canonical_form


def test_every_schema_file_is_loaded_with_a_unique_fingerprint() -> None:
    reg = registry.default_registry()
    files = sorted(p.name for p in registry.AVRO_DIR.glob("*.avsc"))
    numbered = [sv for sv in reg.all() if sv.version != registry.LEARNED_VERSION]  # other tests may register
    loaded = sorted(f"{sv.name}.v{sv.version}.avsc" for sv in numbered)
    assert loaded == files
    assert len({sv.fingerprint for sv in numbered}) == len(files)
    assert {"cshub.FacilityReport", "cshub.FundingReport", "cshub.PolicyReport"} <= set(reg.names())


def test_latest_and_versions() -> None:
    versions = registry.versions("FacilityReport")
    assert [v.version for v in versions] == sorted(v.version for v in versions)
    assert registry.latest("cshub.FacilityReport") is versions[-1]
    for sv in versions:
        assert registry.by_fingerprint(sv.fingerprint) is sv
    with pytest.raises(KeyError, match=r"cshub\.NoSuch"):
        registry.latest("NoSuch")
    assert registry.by_fingerprint(b"\x00" * 8) is None


def _schema(name: str, extra_field: str | None = None) -> dict[str, object]:
    fields: list[dict[str, object]] = [{"name": "a", "type": "int"}]
    if extra_field:
        fields.append({"name": extra_field, "type": "string", "default": ""})
    return {"type": "record", "name": name, "namespace": "cshub", "fields": fields}


def test_register_learns_a_writer_schema_once() -> None:
    reg = Registry.from_directory()
    learned = reg.register(json.dumps(_schema("Learned")))
    assert learned.version == registry.LEARNED_VERSION
    assert reg.register(_schema("Learned")) is learned
    assert reg.by_fingerprint(learned.fingerprint) is learned
    known = registry.latest("FundingReport")
    assert reg.register(known.schema_json) is reg.by_fingerprint(known.fingerprint)
    with pytest.raises(KeyError):
        reg.latest("Learned")  # learned schemas are writers only: no numbered version to write with
    assert reg.versions("Learned") == [learned]


@pytest.mark.parametrize(
    "bad", ["not json", "[]", '"int"', '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "Nope"}]}']
)
def test_register_refuses_what_is_not_a_named_schema(bad: str) -> None:
    with pytest.raises(ValueError, match="registered schema"):
        Registry().register(bad)


def test_directory_rules(tmp_path: Path) -> None:
    (tmp_path / "cshub.Thing.v1.avsc").write_text(json.dumps(_schema("Thing")), encoding="utf-8")
    (tmp_path / "cshub.Thing.v2.avsc").write_text(json.dumps(_schema("Thing", "b")), encoding="utf-8")
    reg = Registry.from_directory(tmp_path)
    assert [v.version for v in reg.versions("Thing")] == [1, 2]

    (tmp_path / "cshub.Thing.v3.avsc").write_text(json.dumps(_schema("Thing", "b")) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="same canonical form"):
        Registry.from_directory(tmp_path)
    (tmp_path / "cshub.Thing.v3.avsc").unlink()

    (tmp_path / "cshub.Other.v1.avsc").write_text(json.dumps(_schema("Thing", "c")), encoding="utf-8")
    with pytest.raises(ValueError, match=r"file name says cshub\.Other"):
        Registry.from_directory(tmp_path)
    (tmp_path / "cshub.Other.v1.avsc").unlink()

    (tmp_path / "Thing.avsc").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match=r"cshub\.<Name>\.v<N>\.avsc"):
        Registry.from_directory(tmp_path)
