"""Fuzz the decoder: random and mutated bytes must raise CodecError (with a known reason) or decode; nothing else.
And decode exactly as fastavro alone decodes them (`codec._fastavro_decode`): the same value, of the same types,
or the same CodecError, whether the compiled reader (`schemas.avro_reader`) or fastavro read them.

Seeded, so a failure reproduces; a few thousand cases per test, well under a second.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Callable

import pytest

from schemas import codec, registry, samples
from schemas.errors import CODEC_REASONS, CodecError
from tests.schemas.avro_values import assert_same, value

ADDRESS = "南京市玄武区长江路292号"
VALID = [
    codec.encode("cshub.FacilityReport", samples.facility(address=ADDRESS)),
    codec.encode("cshub.FacilityReport", samples.facility(), version=1),
    codec.encode("cshub.FundingReport", samples.funding()),
    codec.encode("cshub.FundingReport", samples.funding(source="CENTRAL_BUDGET", bond_code=None)),
    codec.encode("cshub.PolicyReport", samples.policy()),
]


OTHERS = [
    codec.encode(sv.name, value(sv.parsed, random.Random(f"{sv.name}-{sv.version}-{i}"), {}), version=sv.version)
    for name in ("cshub.Notification", "cshub.CoverageRow", "cshub.PolicyRow", "cshub.Rejection")
    for sv in registry.versions(name) for i in range(3)
]
"""Records of the other schemas (old versions read as the latest: enum symbols added, fields added), random values."""


def _flip(rnd: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 6)):
        out[rnd.randrange(len(out))] = rnd.randrange(256)
    return bytes(out)


def _flip_body(rnd: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        out[rnd.randrange(codec.HEADER_SIZE, len(out))] = rnd.randrange(256)
    return bytes(out)


def _truncate(rnd: random.Random, data: bytes) -> bytes:
    return data[: rnd.randrange(len(data))]


def _garbage_body(rnd: random.Random, data: bytes) -> bytes:
    return data[: codec.HEADER_SIZE] + rnd.randbytes(rnd.randrange(200))


def _trailing(rnd: random.Random, data: bytes) -> bytes:
    return data + rnd.randbytes(rnd.randint(1, 8))


def _insert(rnd: random.Random, data: bytes) -> bytes:
    at = rnd.randrange(codec.HEADER_SIZE, len(data))
    return data[:at] + rnd.randbytes(rnd.randint(1, 5)) + data[at:]


def _delete(rnd: random.Random, data: bytes) -> bytes:
    at = rnd.randrange(codec.HEADER_SIZE, len(data))
    return data[:at] + data[at + rnd.randint(1, 5) :]


def _huge_varint(rnd: random.Random, data: bytes) -> bytes:
    """A length or count prefix claiming up to 2**63 bytes or items."""
    at = rnd.randrange(codec.HEADER_SIZE, len(data))
    return data[:at] + b"\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01" + data[at:]


def _random(rnd: random.Random, _: bytes) -> bytes:
    return rnd.randbytes(rnd.randrange(64))


def _random_with_magic(rnd: random.Random, _: bytes) -> bytes:
    return codec.MAGIC + rnd.randbytes(rnd.randrange(64))


MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    _flip,
    _flip_body,
    _truncate,
    _garbage_body,
    _trailing,
    _insert,
    _delete,
    _huge_varint,
    _random,
    _random_with_magic,
]


def _outcome(data: bytes, reader: str | None = None) -> str:
    try:
        decoded = codec.decode(data, reader)
    except CodecError as exc:
        assert exc.reason in CODEC_REASONS
        assert str(exc)
        return exc.reason
    assert isinstance(decoded.value, dict)
    assert registry.by_fingerprint(decoded.fingerprint) is not None
    return "ok"


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.__name__.strip("_"))
def test_mutated_payloads_raise_only_codec_error(mutation: Callable[[random.Random, bytes], bytes]) -> None:
    rnd = random.Random(f"cshub-{mutation.__name__}")
    outcomes: Counter[str] = Counter()
    for i in range(600):
        outcomes[_outcome(mutation(rnd, VALID[i % len(VALID)]))] += 1
    assert sum(outcomes.values()) == 600
    if mutation in (_truncate, _garbage_body, _trailing, _huge_varint, _random, _random_with_magic):
        assert outcomes["ok"] < 600, outcomes  # these can never all decode


def test_every_reason_is_reachable_by_fuzzing() -> None:
    rnd = random.Random(2026)
    outcomes: Counter[str] = Counter()
    for i in range(3000):
        outcomes[_outcome(MUTATIONS[i % len(MUTATIONS)](rnd, VALID[i % len(VALID)]))] += 1
    assert {"bad_magic", "truncated", "unknown_fingerprint", "bad_body"} <= set(outcomes), outcomes


def test_mutated_payloads_with_an_explicit_reader() -> None:
    rnd = random.Random(7)
    for i in range(1000):
        _outcome(_flip_body(rnd, VALID[i % 2]), reader="cshub.FacilityReport")


def test_every_prefix_of_every_valid_payload() -> None:
    for data in VALID:
        for end in range(len(data)):
            assert _outcome(data[:end]) in ("truncated", "bad_magic"), end


@pytest.mark.parametrize("sv", registry.default_registry().all(), ids=lambda sv: f"{sv.name}.v{sv.version}")
def test_random_bodies_behind_every_known_header(sv: registry.SchemaVersion) -> None:
    """Every schema in schemas/avro (tables, rejections, ...), not only the reports: valid header, garbage body."""
    rnd = random.Random(f"body-{sv.name}-{sv.version}")
    header = codec.MAGIC + sv.fingerprint
    for _ in range(300):
        _outcome(header + rnd.randbytes(rnd.randrange(120)))


def _decoded(decode: Callable[[bytes], codec.Decoded], data: bytes) -> codec.Decoded | tuple[str, str]:
    try:
        return decode(data)
    except CodecError as exc:
        return (exc.reason, str(exc))


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.__name__.strip("_"))
def test_mutated_payloads_decode_as_fastavro_alone_decodes_them(
    mutation: Callable[[random.Random, bytes], bytes],
) -> None:
    """Most mutated records that decode at all are read by the compiled reader (a changed character, count or
    number); every one gives what fastavro alone gives."""
    pool = VALID + OTHERS
    for data in pool:
        codec.decode(data)  # each schema's plan made, so that the compiled reader reads the mutations
    rnd = random.Random(f"same-{mutation.__name__}")
    for i in range(600):
        data = mutation(rnd, pool[i % len(pool)])
        got, expected = _decoded(codec.decode, data), _decoded(codec._fastavro_decode, data)
        if isinstance(expected, tuple):
            assert got == expected, data.hex()
        else:
            assert isinstance(got, codec.Decoded), (got, data.hex())
            assert (got.name, got.version, got.fingerprint) == (expected.name, expected.version, expected.fingerprint)
            assert_same(got.value, expected.value)


def test_the_compiled_reader_reads_most_mutated_records_that_decode() -> None:
    """Not a vacuous comparison: of the body mutations that fastavro decodes, the compiled reader takes most."""
    pool = VALID + OTHERS
    for data in pool:
        codec.decode(data)
    rnd = random.Random("taken")
    decoded = taken = 0
    for i in range(3000):
        data = _flip_body(rnd, pool[i % len(pool)])
        plan = codec._plans[None].get(data[: codec.HEADER_SIZE])
        if plan is None or isinstance(_decoded(codec._fastavro_decode, data), tuple):
            continue
        decoded += 1
        read = plan[3]
        assert read is not None
        with contextlib.suppress(Exception):  # any: declined, fastavro reads it
            taken += read(data, codec.HEADER_SIZE)[1] == len(data)
    assert decoded > 300
    assert taken > decoded * 0.8, (taken, decoded)
