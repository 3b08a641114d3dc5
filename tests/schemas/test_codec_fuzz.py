"""Fuzz the decoder: random and mutated bytes must raise CodecError (with a known reason) or decode; nothing else.

Seeded, so a failure reproduces; a few thousand cases per test, well under a second.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest

from schemas import codec, registry, samples
from schemas.errors import CODEC_REASONS, CodecError

ADDRESS = "南京市玄武区长江路292号"
VALID = [
    codec.encode("cshub.FacilityReport", samples.facility(address=ADDRESS)),
    codec.encode("cshub.FacilityReport", samples.facility(), version=1),
    codec.encode("cshub.FundingReport", samples.funding()),
    codec.encode("cshub.FundingReport", samples.funding(source="CENTRAL_BUDGET", bond_code=None)),
    codec.encode("cshub.PolicyReport", samples.policy()),
]


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
