"""Schema evolution: every version readable by every later one, old and new writers meet, bytes pinned."""

from __future__ import annotations

import io
import json

import avro.compatibility
import avro.schema
import pytest
from fastavro import schemaless_reader

from schemas import codec, registry, samples
from schemas.models import KIND_SCHEMAS
from schemas.registry import SchemaVersion

ADDRESS = "南京市玄武区长江路292号"


def _pairs() -> list[tuple[SchemaVersion, SchemaVersion]]:
    """(older writer, newer reader) for every name with more than one version: transitive, not just adjacent."""
    out = []
    for name in registry.default_registry().names():
        versions = registry.versions(name)
        out += [(w, r) for i, w in enumerate(versions) for r in versions[i + 1 :]]
    return out


def test_there_is_something_to_check() -> None:
    assert any(w.name == "cshub.FacilityReport" and r.version == 2 for w, r in _pairs())


@pytest.mark.parametrize(("writer", "reader"), _pairs(), ids=lambda sv: f"{sv.name}.v{sv.version}")
def test_every_version_reads_all_earlier_versions(writer: SchemaVersion, reader: SchemaVersion) -> None:
    """Backward compatibility, transitively, by the Apache `avro` library's own checker."""
    result = avro.compatibility.ReaderWriterCompatibilityChecker().get_compatibility(
        avro.schema.parse(reader.schema_json), avro.schema.parse(writer.schema_json)
    )
    assert result.compatibility is avro.compatibility.SchemaCompatibilityType.compatible, (
        f"{reader.name} v{reader.version} cannot read v{writer.version}: {result.messages} at {result.locations}"
    )


def test_the_checker_would_catch_a_breaking_change() -> None:
    v1 = registry.versions("FacilityReport")[0]
    broken = v1.schema_json.replace('"name": "households", "type": "int"', '"name": "households", "type": "string"')
    assert broken != v1.schema_json
    result = avro.compatibility.ReaderWriterCompatibilityChecker().get_compatibility(
        avro.schema.parse(broken), avro.schema.parse(v1.schema_json)
    )
    assert result.compatibility is avro.compatibility.SchemaCompatibilityType.incompatible


def test_v1_record_read_with_v2_gets_the_default_address() -> None:
    data = codec.encode("cshub.FacilityReport", samples.facility(), version=1)
    decoded = codec.decode(data)
    assert decoded.version == 1
    assert decoded.fingerprint == registry.versions("FacilityReport")[0].fingerprint
    assert decoded.value["address"] == ""
    assert {k: v for k, v in decoded.value.items() if k != "address"} == samples.facility()


def test_v2_record_read_with_a_v1_reader_drops_the_address() -> None:
    """A consumer still on v1 (old code, no redeploy) reads what v2 producers write."""
    v1 = registry.versions("FacilityReport")[0]
    data = codec.encode("cshub.FacilityReport", samples.facility(address=ADDRESS))
    reg = registry.Registry([v1])  # a process that only knows v1 as latest...
    v2 = registry.latest("FacilityReport")
    reg.register(v2.schema_json)  # ...learns the v2 writer schema from the cshub.schemas topic

    value = schemaless_reader(io.BytesIO(data[10:]), reg.by_fingerprint(data[2:10]).parsed, v1.parsed)
    assert "address" not in value
    assert value == samples.facility()


def test_v2_round_trip_keeps_the_chinese_address() -> None:
    decoded = codec.decode(codec.encode("cshub.FacilityReport", samples.facility(address=ADDRESS)))
    assert decoded.version == 2
    assert decoded.value["address"] == ADDRESS


def test_encode_refuses_an_unknown_version() -> None:
    with pytest.raises(codec.CodecError, match="no version 9") as info:
        codec.encode("cshub.FacilityReport", samples.facility(), version=9)
    assert info.value.reason == "encode_failed"


# Golden payloads: any change to a schema or to the encoder shows up here, byte for byte.
GOLDEN = {
    ("cshub.FacilityReport", 2): (
        lambda: samples.facility(address=ADDRESS),
        "c3014ff196dbb2d5472a244a532d4641432d3332303130322d3030303102000c3332303030300e323032362d3033a6c9f3d197670c33"
        "32303130321833323031303230303130303154e78e84e6ada6e58cbae6a285e59bade696b0e69d91e8a197e98193e995bfe6b19fe8b7"
        "afe7a4bee58cba00d22406013d62060600020600010242e58d97e4baace5b882e78e84e6ada6e58cbae995bfe6b19fe8b7af323932e5"
        "8fb7",
    ),
    ("cshub.FacilityReport", 1): (
        samples.facility,
        "c301321f3b77ddc48006244a532d4641432d3332303130322d3030303102000c3332303030300e323032362d3033a6c9f3d197670c33"
        "32303130321833323031303230303130303154e78e84e6ada6e58cbae6a285e59bade696b0e69d91e8a197e98193e995bfe6b19fe8b7"
        "afe7a4bee58cba00d22406013d620606000206000102",
    ),
    ("cshub.FundingReport", 1): (
        samples.funding,
        "c30178b3672a997ea4812053432d46554e442d323032362d30313704000c3531303030300e323032362d3032a6c9f3d1976700022032"
        "3032362d53432d5a585a2d3030343236e7a4bee58cbae585bbe88081e69c8de58aa1e9aaa8e5b9b2e7bd9172e68890e983bde5b882e9"
        "94a6e6b19fe58cbae7a4bee58cbae7bbbce59088e69c8de58aa1e8aebee696bde8a1a5e79fade69dbfe9a1b9e79bae0e0462d53c8aba"
        "c00c00e5f4c8f369",
    ),
    ("cshub.PolicyReport", 1): (
        samples.policy,
        "c301171bf8c49849a0b71c47442d504f4c2d323032362d303302000c3434303030300e323032362d3033a6c9f3d19767042c50524f56"
        "494e4349414c5f504c414e5f495353554544040290ab0230e7b2a4e6b091e58f91e3809432303232e380953135e58fb72a534d415254"
        "5f434f4d4d554e4954595f50494c4f5402000000f85da4b402b830e026c4a006b68d06",
    ),
}


def test_every_report_schema_version_has_a_golden_payload() -> None:
    reports = {sv.name: registry.versions(sv.name) for sv in map(registry.latest, KIND_SCHEMAS.values())}
    assert set(GOLDEN) == {(name, sv.version) for name, versions in reports.items() for sv in versions}


@pytest.mark.parametrize("key", sorted(GOLDEN), ids=lambda k: f"{k[0]}.v{k[1]}")
def test_golden_payload(key: tuple[str, int]) -> None:
    name, version = key
    make, hex_payload = GOLDEN[key]
    payload = bytes.fromhex(hex_payload)
    assert codec.encode(name, make(), version=version) == payload
    decoded = codec.decode(payload)
    assert (decoded.name, decoded.version) == key
    expected = make()
    assert {k: decoded.value[k] for k in expected} == expected


def _logical_types(node: object, path: str, out: dict[str, tuple[object, ...]]) -> dict[str, tuple[object, ...]]:
    """Path -> (logicalType, precision, scale) of every logical type in a schema's JSON."""
    if isinstance(node, dict):
        if "logicalType" in node:
            out[path] = (node["logicalType"], node.get("precision"), node.get("scale", 0))
        for key, child in node.items():
            if key == "fields" and isinstance(child, list):
                for f in child:
                    _logical_types(f["type"], f"{path}.{f['name']}", out)
            elif key in ("type", "items", "values"):
                _logical_types(child, f"{path}/{key}", out)
    elif isinstance(node, list):
        for i, branch in enumerate(node):
            _logical_types(branch, f"{path}|{i}", out)
    return out


@pytest.mark.parametrize(("writer", "reader"), _pairs(), ids=lambda sv: f"{sv.name}.v{sv.version}")
def test_logical_types_never_change_between_versions(writer: SchemaVersion, reader: SchemaVersion) -> None:
    """The canonical form and the avro checker both ignore logical types: a money scale changed from 2 to 4
    would pass them and silently read every old amount 100 times too small. So this test pins them."""
    old = _logical_types(json.loads(writer.schema_json), "", {})
    new = _logical_types(json.loads(reader.schema_json), "", {})
    changed = {path: (old[path], new[path]) for path in old.keys() & new.keys() if old[path] != new[path]}
    assert not changed, f"{reader.name} v{reader.version} changes logical types of v{writer.version}: {changed}"


def test_the_logical_type_walk_sees_money_and_timestamps() -> None:
    found = _logical_types(json.loads(registry.latest("FundingReport").schema_json), "", {})
    assert found[".allocated_yuan"] == ("decimal", 18, 2)
    assert found[".produced_at"] == ("timestamp-millis", None, 0)
