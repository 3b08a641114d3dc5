"""What `cshub publish --wait` prints per row, from a receipt (pure: no broker)."""

from __future__ import annotations

from connectors.outcomes import RowOutcome
from connectors.receipts import Receipt
from core.log_entries import FIRST_PREV, InboundEntry

COORDINATE = ("cshub.in.320000.funding", 0, 41)


def receipt(verdict: str, *, late: bool = False, reason: str = "", message: str = "",
            verified: bool | None = True) -> Receipt:
    entry = InboundEntry(index=4182, prev=FIRST_PREV, topic=COORDINATE[0], partition=0, offset=41,
                         timestamp_ms=1764600000000, value_sha256="ab" * 32, key="JS-Z-7", kid=None,
                         province="320000", kind="funding", report_id="JS-Z-7", revision=2,
                         verdict=verdict, late=late, reason=reason, message=message)  # type: ignore[arg-type]
    return Receipt(entry, 1764600001000, 9, "3f2a9c0d11e4b7a8", verified, "" if verified else "bad_signature: x")


def test_each_verdict_reads_as_a_clerk_expects() -> None:
    assert RowOutcome(7, COORDINATE, receipt("accepted", late=True)).text(3) == \
        "row 7  JS-Z-7 rev 2: accepted, late [log #4182]"
    assert RowOutcome(7, COORDINATE, receipt("rejected", reason="unsigned", message="未签名")).text(3) == \
        "row 7  JS-Z-7 rev 2: rejected: unsigned (未签名) [log #4182]"
    assert "superseded" in RowOutcome(7, COORDINATE, receipt("superseded")).text(3)
    assert RowOutcome(7, COORDINATE, receipt("duplicate", verified=False)).text(3).endswith(
        "SIGNATURE FAILED: bad_signature: x")


def test_a_row_without_an_answer_says_where_it_is_and_what_to_do() -> None:
    text = RowOutcome(9, COORDINATE, None).text(30.4)
    assert text.startswith("row 9: no answer from the hub within 30 s (cshub.in.320000.funding partition 0 offset 41)")
    assert "cshub feedback" in text


def test_the_json_form_for_the_upload_page_is_plain_data_in_beijing_time() -> None:
    import json

    shown = RowOutcome(7, COORDINATE, receipt("rejected", reason="unsigned", message="未签名")).as_json()
    assert json.loads(json.dumps(shown, ensure_ascii=False)) == shown
    assert shown["receipt"]["outcome"] == "rejected: unsigned"  # type: ignore[index]
    assert shown["receipt"]["received"] == "2025-12-01 22:40:00 (+08:00)"  # type: ignore[index]
    assert RowOutcome(9, COORDINATE, None).as_json()["receipt"] is None
