"""Hub-signed receipts: what the hub received from a province, when, its verdict and its place in the log.

Pure: no Kafka, no clock. The log service writes, per transaction and per province, one record on
`cshub.receipts.<province>` whose value is a receipt batch: the log entries (`core.log_entries.InboundEntry`) of
that province's inbound records in the transaction, with the tree size and root after it, signed once by the
hub's notary key (one Ed25519 signature per province per transaction instead of ~57 µs per record). A receipt
is the log entry itself, byte for byte (`encode_entry`), so an auditor checks "the receipt matches the log" by
comparing the entry at its index with the receipt's bytes.

A province verifies its receipts with only its receipts topic and the hub's public key (`open_receipts`):

    b"cshub-receipts-v1\\x00" || len16(topic) || topic (UTF-8) || SHA-256(value)

is signed (big-endian length), the signature in the headers `cshub-alg` = ``ed25519``, `cshub-kid`, `cshub-sig`
(the same headers as submissions, docs/evidence.md §2; the domain prefix differs, so no receipt signature is
ever a valid submission signature or checkpoint signature). Binding the topic means a batch copied onto another
province's topic fails. The formats are in docs/evidence.md §5.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.log_entries import InboundEntry, LogFormatError, decode_entry
from core.merkle import HASH_SIZE
from core.signing import (
    ALG_ED25519,
    HEADER_ALG,
    HEADER_KID,
    HEADER_SIG,
    SIGNATURE_HEADERS,
    SIGNATURE_SIZE,
    PublicKeys,
    SigningKey,
)
from schemas.beijing import show_ms
from schemas.errors import CshubError

__all__ = ["NOTARY_OWNER", "RECEIPTS_DOMAIN", "RECEIPTS_FORMAT", "ReceiptBatch", "ReceiptError", "ReceiptReason",
           "encode_receipts", "open_receipts", "read_receipts", "receipts_message", "receipts_of",
           "sign_receipts"]

RECEIPTS_FORMAT = "cshub-receipts-v1"
RECEIPTS_DOMAIN = b"cshub-receipts-v1\x00"
NOTARY_OWNER = "hub-notary"
"""Owner of the hub's notary keys in the public-keys file (the principal of the log service)."""
ReceiptReason = Literal["unsigned", "malformed_signature", "unknown_key", "bad_signature", "wrong_signer",
                        "key_not_yet_valid", "expired_key", "malformed_receipts", "wrong_province"]
_FIELDS = {"format", "log", "province", "issued_ms", "tree_size", "root", "receipts"}
_ADVICE = "read the receipts exactly as the hub wrote them, and check them with the hub's public-keys file"


class ReceiptError(CshubError, ValueError):
    """A receipt batch that does not verify; `reason` says why (one of `ReceiptReason`)."""

    def __init__(self, reason: ReceiptReason, message: str) -> None:
        super().__init__(message, _ADVICE)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ReceiptBatch:
    """One signed record of a province's receipts topic: its receipts, and the tree they are in."""

    log: str
    """The log's origin (the name in its checkpoints)."""
    province: str
    issued_ms: int
    """When the hub signed the batch (epoch ms)."""
    tree_size: int
    """The log's size after these entries: every receipt's index is below it."""
    root: bytes
    """The log's root hash at `tree_size`."""
    receipts: tuple[InboundEntry, ...]
    kid: str = ""
    """The hub key that signed it (set by `open_receipts`)."""


def receipts_message(topic: str, value: bytes) -> bytes:
    """The bytes the hub signs for a receipt batch `value` written to `topic`."""
    name = topic.encode("utf-8")
    return RECEIPTS_DOMAIN + len(name).to_bytes(2, "big") + name + hashlib.sha256(value).digest()


def encode_receipts(batch: ReceiptBatch) -> bytes:
    """The canonical value of a batch (UTF-8 JSON, sorted keys, no whitespace; receipts in log order)."""
    body: dict[str, Any] = {
        "format": RECEIPTS_FORMAT, "log": batch.log, "province": batch.province, "issued_ms": batch.issued_ms,
        "tree_size": batch.tree_size, "root": batch.root.hex(),
        "receipts": list(batch.receipts)}  # dataclasses: orjson writes each as its canonical entry
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def sign_receipts(batch: ReceiptBatch, topic: str, key: SigningKey) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(value, headers) of the record that carries `batch` on `topic`, signed by the hub's notary `key`."""
    value = encode_receipts(batch)
    signature = key.sign_bytes(receipts_message(topic, value))
    return value, [(HEADER_ALG, ALG_ED25519.encode()), (HEADER_KID, key.kid.encode()), (HEADER_SIG, signature)]


Headers = Sequence[tuple[str, bytes | None]] | Mapping[str, bytes]


def _headers(headers: Headers | None) -> dict[str, bytes]:
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    found: dict[str, bytes] = {}
    for name, value in items:
        if name in SIGNATURE_HEADERS:
            if name in found:
                raise ReceiptError("malformed_signature", f"header {name} appears more than once")
            found[name] = value or b""
    return found


def _check_signature(topic: str, value: bytes, headers: Headers | None, keys: PublicKeys, owner: str) -> str:
    found = _headers(headers)
    if not found:
        raise ReceiptError("unsigned", f"a record on {topic} carries no {HEADER_SIG} header: it is not signed")
    missing = [h for h in SIGNATURE_HEADERS if h not in found]
    if missing:
        raise ReceiptError("malformed_signature", f"signature headers missing: {', '.join(missing)}")
    if found[HEADER_ALG] != ALG_ED25519.encode():
        raise ReceiptError("malformed_signature", f"{HEADER_ALG} is {found[HEADER_ALG]!r}, not {ALG_ED25519!r}")
    kid = found[HEADER_KID].decode("ascii", "replace")
    signature = found[HEADER_SIG]
    if len(signature) != SIGNATURE_SIZE:
        raise ReceiptError("malformed_signature", f"{HEADER_SIG} has {len(signature)} bytes, not {SIGNATURE_SIZE}")
    public = keys.get(kid)
    if public is None:
        raise ReceiptError("unknown_key", f"key id {kid} is not in the public-keys file")
    try:
        Ed25519PublicKey.from_public_bytes(public.public_key).verify(signature, receipts_message(topic, value))
    except InvalidSignature:
        raise ReceiptError("bad_signature", f"the signature by key {kid} does not match this record on {topic}:"
                           " altered, or copied from another topic") from None
    if public.owner != owner:
        raise ReceiptError("wrong_signer", f"signed by {public.owner} (key {kid}), not by the hub's {owner}")
    return kid


def read_receipts(topic: str, value: bytes, province: str, kid: str = "") -> ReceiptBatch:
    """The batch in one record of `province`'s receipts topic, WITHOUT checking its signature (`open_receipts`
    does); raises ReceiptError (`malformed_receipts`, `wrong_province`) when it is not a well-formed batch."""
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ReceiptError("malformed_receipts", f"a receipt batch on {topic} is not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict) or set(obj) != _FIELDS or obj.get("format") != RECEIPTS_FORMAT:
        raise ReceiptError("malformed_receipts", f"a record on {topic} is not a {RECEIPTS_FORMAT} batch")
    if obj["province"] != province:
        raise ReceiptError("wrong_province", f"receipts of province {obj['province']!r} on {topic}, the topic of"
                           f" {province}")
    try:
        root = bytes.fromhex(obj["root"])
        if len(root) != HASH_SIZE or type(obj["issued_ms"]) is not int or type(obj["tree_size"]) is not int:
            raise ValueError("root, issued_ms or tree_size")
        entries = tuple(decode_entry(orjson.dumps(item, option=orjson.OPT_SORT_KEYS), f"receipt {n} on {topic}")
                        for n, item in enumerate(obj["receipts"]))
    except (ValueError, TypeError, LogFormatError) as exc:
        raise ReceiptError("malformed_receipts", f"a receipt batch on {topic}: {exc}") from None
    if any(not isinstance(e, InboundEntry) or e.province != province or e.index >= obj["tree_size"]
           for e in entries):
        raise ReceiptError("malformed_receipts", f"a receipt batch on {topic} lists an entry that is not an inbound"
                           f" record of {province} below its tree size")
    return ReceiptBatch(obj["log"], province, obj["issued_ms"], obj["tree_size"], root,
                        entries, kid)  # type: ignore[arg-type]  # checked: every entry is an InboundEntry


def open_receipts(topic: str, value: bytes, headers: Headers | None, keys: PublicKeys, province: str,
                  owner: str = NOTARY_OWNER) -> ReceiptBatch:
    """The batch in one record of `province`'s receipts topic, after checking the hub's signature on it.

    Raises `ReceiptError` (with `reason`) when it is unsigned, signed by an unknown key or another owner, altered,
    copied from another topic, signed with a key not valid at its `issued_ms`, malformed, or for another province.
    """
    kid = _check_signature(topic, value, headers, keys, owner)
    batch = read_receipts(topic, value, province, kid)
    public = keys.get(kid)
    assert public is not None  # _check_signature found it
    issued = batch.issued_ms
    if issued < public.valid_from_ms:
        raise ReceiptError("key_not_yet_valid", f"hub key {kid} is valid from {show_ms(public.valid_from_ms)}; the"
                           f" batch says it was signed at {show_ms(issued)}")
    if public.valid_until_ms is not None and issued >= public.valid_until_ms:
        raise ReceiptError("expired_key", f"hub key {kid} expired at {show_ms(public.valid_until_ms)}; the batch"
                           f" says it was signed at {show_ms(issued)}")
    return batch


def receipts_of(batches: Iterable[ReceiptBatch]) -> list[InboundEntry]:
    """Every receipt of these batches, in order."""
    return [r for b in batches for r in b.receipts]
