"""`core.decide`: the one decision the worker's validator and the auditor's replay make about an inbound record."""

from __future__ import annotations

import pytest

from core import Accepted, Rejected, Source, decide
from schemas import codec, reference, rules, samples
from schemas.topics import TopicNames

NAMES = TopicNames("t")
PROVINCES = frozenset(reference.provinces())


def at(topic: str) -> Source:
    return Source(topic=topic, partition=0, offset=7, key=b"k", timestamp_ms=1_700_000_000_000)


def test_a_good_report_is_accepted_with_its_kind_and_province() -> None:
    value = codec.encode("cshub.FacilityReport", samples.facility())
    decision = decide(at(NAMES.inbound("320000", "facility")), value, NAMES, PROVINCES)
    assert isinstance(decision, Accepted)
    assert (decision.kind, decision.province, decision.record["report_id"]) == ("facility", "320000",
                                                                               "JS-FAC-320102-0001")


@pytest.mark.parametrize("topic, value, reason, province", [
    ("t.in.999999.facility", b"", "unknown_topic", None),
    ("other.in.320000.facility", b"", "unknown_topic", None),
    ("t.in.320000.facility", b"\x00\x01garbage", "bad_magic", "320000"),
    ("t.in.320000.facility", b"", "truncated", "320000"),
    ("t.in.320000.funding", None, "wrong_kind", "320000"),
    ("t.in.110000.facility", None, "wrong_province", "110000"),
])
def test_rejections_carry_a_reason_and_whose_record_it_was(topic: str, value: bytes | None, reason: str,
                                                           province: str | None) -> None:
    data = codec.encode("cshub.FacilityReport", samples.facility()) if value is None else value
    decision = decide(at(topic), data, NAMES, PROVINCES)
    assert isinstance(decision, Rejected)
    assert (decision.reason, decision.province, decision.unexpected) == (reason, province, False)
    assert decision.message


def test_a_broken_rule_names_the_report() -> None:
    value = codec.encode("cshub.FacilityReport", samples.facility(county_code="110101"))
    decision = decide(at(NAMES.inbound("320000", "facility")), value, NAMES, PROVINCES)
    assert isinstance(decision, Rejected) and decision.report_id == "JS-FAC-320102-0001"


def test_an_unexpected_error_is_a_rejection_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> list[object]:
        raise ZeroDivisionError("a bug in a rule")

    monkeypatch.setattr(rules, "check", broken)
    value = codec.encode("cshub.FacilityReport", samples.facility())
    decision = decide(at(NAMES.inbound("320000", "facility")), value, NAMES, PROVINCES)
    assert isinstance(decision, Rejected)
    assert (decision.reason, decision.unexpected, decision.province) == ("internal_error", True, "320000")
    assert "a bug in a rule" in decision.message
