"""Receipt batches: signed once per province and transaction, verified with only the hub's public key."""

from __future__ import annotations

import hashlib

import pytest

from core.log_entries import FIRST_PREV, InboundEntry, encode_entry, entry_leaf
from core.receipts import NOTARY_OWNER, ReceiptBatch, ReceiptError, encode_receipts, open_receipts, sign_receipts
from core.signing import PublicKeys, SigningKey, public_key_of

TOPIC = "cshub.receipts.320000"
HUB = SigningKey.generate()
KEYS = PublicKeys([public_key_of(HUB, NOTARY_OWNER, 0)])


def entry(index: int, prev: str, province: str = "320000", verdict: str = "accepted") -> InboundEntry:
    return InboundEntry(index=index, prev=prev, topic=f"cshub.in.{province}.funding", partition=0, offset=index,
                        timestamp_ms=1764600000000 + index, value_sha256=hashlib.sha256(b"%d" % index).hexdigest(),
                        key=f"R-{index}", kid=None, province=province, kind="funding", report_id=f"R-{index}",
                        revision=1, verdict=verdict, late=False,  # type: ignore[arg-type]
                        reason="", message="")


def batch(province: str = "320000", issued_ms: int = 1764600001000) -> ReceiptBatch:
    first = entry(0, FIRST_PREV, province)
    second = entry(1, entry_leaf(encode_entry(first)), province, "duplicate")
    return ReceiptBatch("cshub.local/log", province, issued_ms, 2, b"\x07" * 32, (first, second))


def test_a_province_verifies_its_batch_with_the_hub_key_alone() -> None:
    value, headers = sign_receipts(batch(), TOPIC, HUB)
    opened = open_receipts(TOPIC, value, headers, KEYS, "320000")
    assert opened.receipts == batch().receipts and opened.kid == HUB.kid and opened.tree_size == 2
    assert [r.verdict for r in opened.receipts] == ["accepted", "duplicate"]
    assert encode_entry(opened.receipts[0]) in value  # a receipt is the log entry, byte for byte


@pytest.mark.parametrize(("tamper", "reason"), [
    (lambda v, h: (v.replace(b'"duplicate"', b'"accepted"'), h), "bad_signature"),
    (lambda v, h: (v, [x for x in h if x[0] != "cshub-sig"]), "malformed_signature"),
    (lambda v, h: (v, []), "unsigned"),
    (lambda v, h: (v, [(n, b"0000000000000000" if n == "cshub-kid" else b) for n, b in h]), "unknown_key"),
])
def test_a_changed_batch_or_signature_fails(tamper, reason: str) -> None:  # type: ignore[no-untyped-def]
    value, headers = tamper(*sign_receipts(batch(), TOPIC, HUB))
    with pytest.raises(ReceiptError) as info:
        open_receipts(TOPIC, value, headers, KEYS, "320000")
    assert info.value.reason == reason


def test_a_batch_copied_to_another_provinces_topic_fails() -> None:
    value, headers = sign_receipts(batch(), TOPIC, HUB)
    with pytest.raises(ReceiptError) as info:
        open_receipts("cshub.receipts.110000", value, headers, KEYS, "110000")
    assert info.value.reason == "bad_signature"
    value, headers = sign_receipts(batch(), "cshub.receipts.110000", HUB)  # the hub itself misfiled it
    with pytest.raises(ReceiptError) as info:
        open_receipts("cshub.receipts.110000", value, headers, KEYS, "110000")
    assert info.value.reason == "wrong_province"


def test_a_batch_signed_by_a_province_key_or_an_expired_hub_key_fails() -> None:
    province_key = SigningKey.generate()
    keys = PublicKeys([public_key_of(HUB, NOTARY_OWNER, 0, 1764600000500), public_key_of(province_key, "320000", 0)])
    value, headers = sign_receipts(batch(), TOPIC, province_key)
    with pytest.raises(ReceiptError) as info:
        open_receipts(TOPIC, value, headers, keys, "320000")
    assert info.value.reason == "wrong_signer"
    value, headers = sign_receipts(batch(), TOPIC, HUB)
    with pytest.raises(ReceiptError) as info:
        open_receipts(TOPIC, value, headers, keys, "320000")
    assert info.value.reason == "expired_key"


def test_the_encoding_is_canonical() -> None:
    assert encode_receipts(batch()).startswith(b'{"format":"cshub-receipts-v1","issued_ms":1764600001000,'
                                               b'"log":"cshub.local/log","province":"320000","receipts":[{"index":0,')
