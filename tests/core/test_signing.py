"""Submission signatures: each failure reason, cross-topic replay, the public-keys file and owner-only keys."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from core.signing import (
    HEADER_ALG,
    HEADER_KID,
    HEADER_SIG,
    MESSAGE_DOMAIN,
    SIGNATURE_REASONS,
    PublicKeys,
    PublicKeysError,
    SignatureCheck,
    SigningKey,
    SigningKeyError,
    key_id,
    parse_public_keys,
    public_key_of,
    public_keys_json,
    read_public_keys,
    sign_record,
    signed_message,
)
from schemas.beijing import parse_ms

JIANGSU, ZHEJIANG = "320000", "330000"
TOPIC = "cshub.in.320000.facility"
KEY = b"JS-2026-0001"
VALUE = b"\xc3\x01" + bytes(range(40))  # stands for an Avro single-object record: signing never looks inside
FROM = parse_ms("2026-01-01T00:00:00+08:00")
UNTIL = parse_ms("2027-01-01T00:00:00+08:00")
NOW = parse_ms("2026-12-01T10:00:00+08:00")

JS_KEY, ZJ_KEY, OLD_JS_KEY = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
RING = PublicKeys([
    public_key_of(JS_KEY, JIANGSU, FROM, UNTIL),
    public_key_of(ZJ_KEY, ZHEJIANG, FROM),
    public_key_of(OLD_JS_KEY, JIANGSU, parse_ms("2025-01-01T00:00:00+08:00"), FROM),
])


def check(headers: object, topic: str = TOPIC, key: bytes | None = KEY, value: bytes = VALUE,
          owner: str = JIANGSU, at: int = NOW) -> SignatureCheck:
    return RING.check(topic, key, value, headers, owner, at)  # type: ignore[arg-type]


def test_a_signed_record_verifies_and_says_by_whom() -> None:
    result = check(JS_KEY.sign(TOPIC, KEY, VALUE))
    assert result.ok and result.reason is None
    assert result.owner == JIANGSU and result.kid == JS_KEY.kid
    assert check(dict(JS_KEY.sign(TOPIC, KEY, VALUE))).ok  # headers as a mapping, as some clients give them


def test_headers_are_the_documented_ones() -> None:
    headers = dict(JS_KEY.sign(TOPIC, KEY, VALUE))
    assert headers[HEADER_ALG] == b"ed25519"
    assert headers[HEADER_KID] == JS_KEY.kid.encode() and len(JS_KEY.kid) == 16
    assert len(headers[HEADER_SIG]) == 64
    assert JS_KEY.kid == key_id(JS_KEY.public_key)


def test_the_message_binds_topic_key_and_value_hash() -> None:
    import hashlib
    message = signed_message(TOPIC, KEY, VALUE)
    assert message == (MESSAGE_DOMAIN + len(TOPIC).to_bytes(2, "big") + TOPIC.encode() + len(KEY).to_bytes(4, "big")
                       + KEY + hashlib.sha256(VALUE).digest())
    assert signed_message(TOPIC, None, VALUE) != signed_message(TOPIC, b"", VALUE)
    # lengths prevent sliding bytes between topic and key
    assert signed_message("cshub.in.a", b"b", VALUE) != signed_message("cshub.in.ab", b"", VALUE)


def test_unsigned() -> None:
    for headers in (None, [], [("traceparent", b"00-abc")]):
        result = check(headers)
        assert not result.ok and result.reason == "unsigned"
        assert TOPIC in result.message


def test_malformed_headers() -> None:
    good = JS_KEY.sign(TOPIC, KEY, VALUE)
    cases = {
        "missing: cshub-kid": [h for h in good if h[0] != HEADER_KID],
        "more than once": [*good, good[2]],
        "only 'ed25519'": [(HEADER_ALG, b"rsa"), *good[1:]],
        "not 16 lowercase hex": [good[0], (HEADER_KID, b"ABC"), good[2]],
        "has 63 bytes": [*good[:2], (HEADER_SIG, good[2][1][:63])],
    }
    for words, headers in cases.items():
        result = check(headers)
        assert result.reason == "malformed_signature" and words in result.message, (words, result)


def test_unknown_key_id() -> None:
    stranger = SigningKey.generate()
    result = check(stranger.sign(TOPIC, KEY, VALUE))
    assert result.reason == "unknown_key" and stranger.kid in result.message


def test_bad_signature_when_the_value_or_key_is_altered() -> None:
    headers = JS_KEY.sign(TOPIC, KEY, VALUE)
    altered = VALUE[:-1] + bytes([VALUE[-1] ^ 1])
    assert check(headers, value=altered).reason == "bad_signature"
    assert check(headers, key=b"JS-2026-0002").reason == "bad_signature"
    assert check(headers, key=None).reason == "bad_signature"
    forged = [*headers[:2], (HEADER_SIG, bytes(64))]
    assert check(forged).reason == "bad_signature"


def test_cross_topic_replay_fails() -> None:
    """A signed Jiangsu facility report copied, headers and all, onto another kind or another province's topic."""
    headers = JS_KEY.sign(TOPIC, KEY, VALUE)
    other_kind = check(headers, topic="cshub.in.320000.funding")
    assert other_kind.reason == "bad_signature" and "another topic" in other_kind.message
    other_province = check(headers, topic="cshub.in.330000.facility", owner=ZHEJIANG)
    assert other_province.reason == "bad_signature"


def test_signed_by_another_province() -> None:
    """Zhejiang's key, a correct signature, but on Jiangsu's topic."""
    result = check(ZJ_KEY.sign(TOPIC, KEY, VALUE))
    assert result.reason == "wrong_signer" and result.owner == ZHEJIANG
    assert "signed by 330000" in result.message and "belongs to 320000" in result.message


def test_expired_and_not_yet_valid_keys() -> None:
    headers = JS_KEY.sign(TOPIC, KEY, VALUE)
    assert check(headers, at=UNTIL - 1).ok
    expired = check(headers, at=UNTIL)
    assert expired.reason == "expired_key" and "2027-01-01 00:00:00 (+08:00)" in expired.message
    assert check(headers, at=FROM - 1).reason == "key_not_yet_valid"
    retired = check(OLD_JS_KEY.sign(TOPIC, KEY, VALUE))
    assert retired.reason == "expired_key"
    assert check(OLD_JS_KEY.sign(TOPIC, KEY, VALUE), at=FROM - 1000).ok  # a record from before the rotation


def test_every_reason_is_tested() -> None:
    assert set(SIGNATURE_REASONS) == {"unsigned", "malformed_signature", "unknown_key", "bad_signature",
                                      "wrong_signer", "expired_key", "key_not_yet_valid"}


def test_private_key_file_is_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "signing" / "province-320000.key"
    key = SigningKey.generate()
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert SigningKey.load(path).kid == key.kid
    with pytest.raises(SigningKeyError, match="never overwritten"):
        SigningKey.generate().save(path)
    assert "PRIVATE" not in repr(key) and repr(key) == f"SigningKey(kid={key.kid!r})"
    path.chmod(0o640)
    with pytest.raises(SigningKeyError, match="readable by others") as caught:
        SigningKey.load(path)
    assert "BEGIN" not in caught.value.line()


def test_bad_private_key_files_say_what(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="cannot read the signing key"):
        SigningKey.load(tmp_path / "nope.key")
    junk = tmp_path / "junk.key"
    junk.write_text("hello")
    junk.chmod(0o600)
    with pytest.raises(SigningKeyError, match="not an unencrypted PKCS#8 PEM"):
        SigningKey.load(junk)


def test_sign_record_is_the_library_call_for_other_systems(tmp_path: Path) -> None:
    path = JS_KEY.save(tmp_path / "js.key")
    headers = sign_record(path, TOPIC, KEY, VALUE)
    assert check(headers).ok


def test_public_keys_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "public-keys.json"
    path.write_text(public_keys_json([public_key_of(JS_KEY, JIANGSU, FROM, UNTIL), public_key_of(ZJ_KEY, ZHEJIANG,
                                                                                                  FROM)]),
                    encoding="utf-8")
    keys = read_public_keys(path)
    assert len(keys) == 2
    entry = keys.get(JS_KEY.kid)
    assert entry is not None and entry.valid_until_ms == UNTIL and entry.owner == JIANGSU
    assert json.loads(path.read_text())["keys"][0]["valid_from"] == "2026-01-01T00:00:00+08:00"
    assert keys.check(TOPIC, KEY, VALUE, JS_KEY.sign(TOPIC, KEY, VALUE), JIANGSU, NOW).ok
    assert [k.kid for k in RING.of_owner(JIANGSU)] == [OLD_JS_KEY.kid, JS_KEY.kid]


def _keys_text(**changes: object) -> str:
    row = public_key_of(JS_KEY, JIANGSU, FROM, UNTIL).as_json()
    row.update(changes)
    return json.dumps({"format": "cshub-public-keys-v1", "keys": [row]})


@pytest.mark.parametrize(("text", "words"), [
    ("{", "is not JSON"),
    ('{"keys": []}', 'does not say "format"'),
    ('{"format": "cshub-public-keys-v1"}', 'no "keys" list'),
    (_keys_text(kid="0011223344556677"), "is not the id of its public key"),
    (_keys_text(public_key="%%%"), "keys[0].public_key is not base64"),
    (_keys_text(public_key="AAAA"), "public_key has 3 bytes, not 32"),
    (_keys_text(alg="rsa"), "keys[0].alg is 'rsa'"),
    (_keys_text(owner=""), "keys[0].owner is missing"),
    (_keys_text(owner="Jiangsu Province"), "is not a province code or principal"),
    (_keys_text(valid_from="yesterday"), "keys[0].valid_from: 'yesterday' is not a time"),
    (_keys_text(valid_until="2025-01-01T00:00:00+08:00"), "valid_until is not after valid_from"),
])
def test_bad_public_keys_files_say_where(text: str, words: str) -> None:
    with pytest.raises(PublicKeysError) as caught:
        parse_public_keys(text, "keys.json")
    assert words in str(caught.value) and "keys.json" in str(caught.value)
    assert caught.value.advice


def test_a_key_listed_twice_is_refused() -> None:
    row = public_key_of(JS_KEY, JIANGSU, FROM).as_json()
    with pytest.raises(PublicKeysError, match="listed twice"):
        parse_public_keys(json.dumps({"format": "cshub-public-keys-v1", "keys": [row, row]}))


def test_unreadable_public_keys_file(tmp_path: Path) -> None:
    with pytest.raises(PublicKeysError, match="cannot read the public-keys file"):
        read_public_keys(tmp_path / "missing.json")
    bad = tmp_path / "gbk.json"
    bad.write_bytes("江苏".encode("gbk"))
    with pytest.raises(PublicKeysError, match="cannot read"):
        read_public_keys(bad)


def test_a_valid_until_without_zone_is_beijing_time() -> None:
    keys = parse_public_keys(_keys_text(valid_until="2027-01-01T00:00:00"))
    entry = keys.get(JS_KEY.kid)
    assert entry is not None and entry.valid_until_ms == UNTIL
