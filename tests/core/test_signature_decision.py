"""`core.decide` with the hub's public keys: a record must carry its province's valid submission signature.

The same decision is the worker's (streams/validation.py) and the audit replay's, so each failure reason here is
what both send to `cshub.rejected` and the province's feedback.
"""

from __future__ import annotations

import pytest

from core import Accepted, Rejected, Source, decide
from core.signing import HEADER_KID, PublicKeys, SigningKey, public_key_of
from schemas import codec, reference, samples
from schemas.beijing import parse_ms
from schemas.topics import TopicNames

NAMES = TopicNames("t")
PROVINCES = frozenset(reference.provinces())
TOPIC = NAMES.inbound("320000", "facility")
KEY = b"JS-FAC-320102-0001"
VALUE = codec.encode("cshub.FacilityReport", samples.facility())
NOW = parse_ms("2026-12-01T10:00:00+08:00")
JIANGSU, BEIJING, RETIRED, STRANGER = (SigningKey.generate() for _ in range(4))
KEYS = PublicKeys([
    public_key_of(JIANGSU, "320000", parse_ms("2021-01-01T00:00:00+08:00")),
    public_key_of(BEIJING, "110000", parse_ms("2021-01-01T00:00:00+08:00")),
    public_key_of(RETIRED, "320000", parse_ms("2021-01-01T00:00:00+08:00"), parse_ms("2026-06-01T00:00:00+08:00")),
])


def decided(headers: list[tuple[str, bytes]] | None, *, value: bytes = VALUE, at_ms: int = NOW,
            keys: PublicKeys | None = KEYS, topic: str = TOPIC) -> Accepted | Rejected:
    return decide(Source(topic, 0, 3, KEY, at_ms), value, NAMES, PROVINCES, headers, keys)


def test_a_record_signed_by_its_province_is_accepted() -> None:
    decision = decided(JIANGSU.sign(TOPIC, KEY, VALUE))
    assert isinstance(decision, Accepted) and decision.province == "320000"


@pytest.mark.parametrize("case, reason", [
    ("unsigned", "unsigned"),
    ("unknown key", "unknown_key"),
    ("expired key", "expired_key"),
    ("altered value", "bad_signature"),
    ("another province's key", "wrong_signer"),
    ("signed for another topic", "bad_signature"),
    ("kid not hex", "malformed_signature"),
])
def test_each_signature_failure_is_a_rejection_with_its_reason_and_the_report_id(case: str, reason: str) -> None:
    value = VALUE
    headers: list[tuple[str, bytes]] | None = None
    if case == "unknown key":
        headers = STRANGER.sign(TOPIC, KEY, VALUE)
    elif case == "expired key":
        headers = RETIRED.sign(TOPIC, KEY, VALUE)
    elif case == "altered value":
        headers = JIANGSU.sign(TOPIC, KEY, VALUE)
        value = codec.encode("cshub.FacilityReport", samples.facility(households=9999))
    elif case == "another province's key":
        headers = BEIJING.sign(TOPIC, KEY, VALUE)
    elif case == "signed for another topic":
        headers = JIANGSU.sign(NAMES.inbound("320000", "funding"), KEY, VALUE)
    elif case == "kid not hex":
        headers = [(n, b"NOT-A-KID" if n == HEADER_KID else v) for n, v in JIANGSU.sign(TOPIC, KEY, VALUE)]
    decision = decided(headers, value=value)
    assert isinstance(decision, Rejected)
    assert (decision.reason, decision.province, decision.report_id) == (reason, "320000", KEY.decode())
    assert decision.message and not decision.unexpected


def test_a_key_is_checked_at_the_broker_timestamp_not_at_the_audit() -> None:
    headers = RETIRED.sign(TOPIC, KEY, VALUE)
    assert isinstance(decided(headers, at_ms=parse_ms("2026-05-31T23:59:59+08:00")), Accepted)
    assert decided(headers, at_ms=parse_ms("2026-06-01T00:00:00+08:00")).reason == "expired_key"  # type: ignore[union-attr]


def test_without_keys_signatures_are_not_checked_and_other_rules_still_hold() -> None:
    assert isinstance(decided(None, keys=None), Accepted)
    signed_garbage = JIANGSU.sign(TOPIC, KEY, b"\x00garbage")
    decision = decided(signed_garbage, value=b"\x00garbage")
    assert isinstance(decision, Rejected) and decision.reason == "bad_magic"  # the signature is fine, the body not


def test_a_remembered_signature_does_not_vouch_for_it_under_another_key_id() -> None:
    """The verification cache: a record signed by a retired key is verified (then refused as expired) and
    remembered; the same signature sent again under the id of the province's current key must not pass."""
    keys = PublicKeys(KEYS.entries())
    retired = RETIRED.sign(TOPIC, KEY, VALUE)
    assert decided(retired, keys=keys).reason == "expired_key"  # type: ignore[union-attr]
    assert decided(retired, keys=keys).reason == "expired_key"  # type: ignore[union-attr]  # from the cache
    relabelled = [(n, JIANGSU.kid.encode() if n == HEADER_KID else v) for n, v in retired]
    assert decided(relabelled, keys=keys).reason == "bad_signature"  # type: ignore[union-attr]
    assert isinstance(decided(JIANGSU.sign(TOPIC, KEY, VALUE), keys=keys), Accepted)
