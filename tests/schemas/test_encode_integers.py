"""codec.encode refuses what fastavro's writer would write silently: integers out of their Avro range, and
floats or bools where an int or long belongs, at the top level, in a nullable union and inside arrays."""

from __future__ import annotations

from datetime import date

import pytest

from schemas import codec
from schemas.errors import CodecError
from schemas.samples import facility, policy


@pytest.mark.parametrize(
    ("name", "record", "match"),
    [
        ("FacilityReport", facility(households=2**31), "households"),
        ("FacilityReport", facility(households=-(2**31) - 1), "households"),
        ("FacilityReport", facility(households=12.0), "households"),
        ("FacilityReport", facility(revision=True), "revision"),
        ("FacilityReport", facility(produced_at=1.5), "produced_at"),
        ("PolicyReport", policy(items=[{"code": "PROVINCIAL_PLAN_ISSUED", "status": "COMPLETED", "status_date": 2**40,
                                       "evidence_ref": "x"}]), "status_date"),
    ],
)
def test_integers_out_of_range_or_not_integers_are_refused(name: str, record: dict[str, object], match: str) -> None:
    with pytest.raises(CodecError, match=match) as info:
        codec.encode(name, record)
    assert info.value.reason == "encode_failed"


def test_integers_at_their_limits_and_logical_values_encode() -> None:
    for value in (2**31 - 1, -(2**31), 0):
        assert codec.decode(codec.encode("FacilityReport", facility(households=value))).value["households"] == value
    item = {"code": "PROVINCIAL_PLAN_ISSUED", "status": "COMPLETED", "status_date": date(2026, 3, 1),
            "evidence_ref": "x"}
    record = policy(items=[item])
    assert codec.decode(codec.encode("PolicyReport", record)).value["items"][0]["status_date"] == date(2026, 3, 1)
