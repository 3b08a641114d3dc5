"""Submission signatures: a province signs what it sends (Ed25519, in Kafka headers), the hub checks who sent it.

The signature covers a domain-separated message that binds the topic, the key and the SHA-256 of the value,
so a signed record copied onto another topic (another province's, another kind) no longer verifies, and the
Avro value is left exactly as it was (the contract is unchanged)::

    b"cshub-report-v1\\x00" || len16(topic) || topic (UTF-8) || len32(key) || key || SHA-256(value)

(big-endian lengths; a null Kafka key is written as length 0xFFFFFFFF and no bytes). It travels in three
headers: `cshub-alg` = ``ed25519``, `cshub-kid` = the key id (16 hex digits: the first 8 bytes of SHA-256 of
the raw 32-byte public key), `cshub-sig` = the 64-byte signature. The formats are in docs/evidence.md.

- A provincial system that does not use our publisher signs with `sign_record(key_file, topic, key, value)`
  and adds the returned headers to its Kafka record.
- The hub checks with `PublicKeys.check(...)`: a `SignatureCheck` that says why a record fails (`reason` is one
  of `SIGNATURE_REASONS`), with the public keys, their owners and validity periods read from a reference file
  (`read_public_keys`), so a rotation or a new province is a new line there, not code.
- Private keys are PKCS#8 PEM files, owner-only (0600, created in 0700 folders); they are never logged, and
  `SigningKey` does not print them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from schemas.beijing import BEIJING, parse_ms, show_ms
from schemas.errors import CshubError, ReferenceDataError

ALG_ED25519 = "ed25519"
HEADER_ALG = "cshub-alg"
HEADER_KID = "cshub-kid"
HEADER_SIG = "cshub-sig"
SIGNATURE_HEADERS = (HEADER_ALG, HEADER_KID, HEADER_SIG)
MESSAGE_DOMAIN = b"cshub-report-v1\x00"
"""Domain separation: a submission signature can never be taken for any other signed thing of the hub."""
NULL_KEY_LENGTH = 0xFFFFFFFF
SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32
KEY_ID_BYTES = 8
KEYS_FORMAT = "cshub-public-keys-v1"
VERIFIED_CACHE_SIZE = 50_000
"""Verified signatures remembered at most (about 10 MB); then the memory starts again empty."""
_KID = re.compile(r"[0-9a-f]{16}")
_OWNER = re.compile(r"[a-z0-9][a-z0-9-]*")

SignatureReason = Literal[
    "unsigned", "malformed_signature", "unknown_key", "bad_signature", "wrong_signer", "expired_key",
    "key_not_yet_valid",
]
SIGNATURE_REASONS: tuple[SignatureReason, ...] = (
    "unsigned", "malformed_signature", "unknown_key", "bad_signature", "wrong_signer", "expired_key",
    "key_not_yet_valid",
)
Headers = Iterable[tuple[str, bytes | None]] | Mapping[str, bytes | None]


class SigningKeyError(CshubError):
    """A private signing key cannot be created, read or used (missing, not owner-only, not an Ed25519 key)."""


class PublicKeysError(ReferenceDataError):
    """The public-keys reference file cannot be used; the message says which entry and field."""


def signed_message(topic: str, key: bytes | None, value: bytes) -> bytes:
    """The exact bytes a submission signature covers (see the module docstring)."""
    topic_bytes = topic.encode("utf-8")
    if len(topic_bytes) > 0xFFFF:
        raise ValueError(f"a topic name of {len(topic_bytes)} bytes is longer than Kafka allows")
    if key is None:
        key_part = NULL_KEY_LENGTH.to_bytes(4, "big")
    else:
        if len(key) >= NULL_KEY_LENGTH:
            raise ValueError(f"a record key of {len(key)} bytes cannot be signed")
        key_part = len(key).to_bytes(4, "big") + key
    return (MESSAGE_DOMAIN + len(topic_bytes).to_bytes(2, "big") + topic_bytes + key_part
            + hashlib.sha256(value).digest())


def key_id(public_key: bytes) -> str:
    """The key id of a raw 32-byte Ed25519 public key: the first 8 bytes of its SHA-256, as 16 hex digits."""
    return hashlib.sha256(public_key).digest()[:KEY_ID_BYTES].hex()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class SigningKey:
    """A province's (or the hub's) Ed25519 private key and its key id; never printed, never logged."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = _raw_public(private_key.public_key())
        self.kid = key_id(self.public_key)

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"

    @classmethod
    def generate(cls) -> SigningKey:
        """A new random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: str | Path) -> SigningKey:
        """The key in a PKCS#8 PEM file, which must be owner-only (no group or other permission bits)."""
        where = Path(path)
        advice = "create the key with SigningKey.generate().save(path), or chmod 600 it if it is yours"
        try:
            mode = where.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise SigningKeyError(f"the signing key {where} is readable by others (mode {stat.S_IMODE(mode):04o},"
                                      " it must be 0600)", advice)
            pem = where.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"cannot read the signing key {where}: {exc.strerror}", advice) from None
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise SigningKeyError(f"{where} is not an unencrypted PKCS#8 PEM private key", advice) from None
        if not isinstance(private, Ed25519PrivateKey):
            raise SigningKeyError(f"{where} holds a {type(private).__name__}, not an Ed25519 key", advice)
        return cls(private)

    def save(self, path: str | Path) -> Path:
        """Write the key as PKCS#8 PEM, owner-only (0600; missing folders are created 0700); never overwrites."""
        where = Path(path)
        where.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = self._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
        try:
            fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise SigningKeyError(f"{where} exists already; a signing key is never overwritten",
                                  "rotate to a new file and add its public key to the public-keys file") from None
        except OSError as exc:
            raise SigningKeyError(f"cannot write the signing key {where}: {exc.strerror}",
                                  "choose a folder you own") from None
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return where

    def sign(self, topic: str, key: bytes | None, value: bytes) -> list[tuple[str, bytes]]:
        """The three headers that sign this record for this topic."""
        signature = self._private.sign(signed_message(topic, key, value))
        return [(HEADER_ALG, ALG_ED25519.encode()), (HEADER_KID, self.kid.encode()), (HEADER_SIG, signature)]

    def sign_bytes(self, message: bytes) -> bytes:
        """A raw Ed25519 signature over `message` (for formats with their own domain separation: checkpoints)."""
        return self._private.sign(message)


def sign_record(key_file: str | Path, topic: str, key: bytes | None, value: bytes) -> list[tuple[str, bytes]]:
    """For a provincial system that does not use our publisher: the headers to add to its Kafka record.

    `key_file` is the province's PKCS#8 PEM private key (owner-only). Example with kafka-python::

        headers = sign_record("secrets/province-320000.key", topic, key, value)
        producer.send(topic, key=key, value=value, headers=headers)

    It reads the key file on every call; to sign many records, load once with `SigningKey.load(path)` and call
    its `sign(topic, key, value)`.
    """
    return SigningKey.load(key_file).sign(topic, key, value)


@dataclass(frozen=True, slots=True)
class PublicKey:
    """One row of the public-keys reference file: a key, whose it is, and when it may sign."""

    kid: str
    owner: str
    public_key: bytes
    valid_from_ms: int
    valid_until_ms: int | None = None

    def as_json(self) -> dict[str, object]:
        """The entry as written in the public-keys file (times in Beijing time)."""
        return {"kid": self.kid, "owner": self.owner, "alg": ALG_ED25519,
                "public_key": base64.b64encode(self.public_key).decode(),
                "valid_from": _iso(self.valid_from_ms),
                "valid_until": None if self.valid_until_ms is None else _iso(self.valid_until_ms)}


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, BEIJING).isoformat(timespec="seconds")


def public_key_of(signing_key: SigningKey, owner: str, valid_from_ms: int,
                  valid_until_ms: int | None = None) -> PublicKey:
    """The reference-file entry for a new signing key (what `cshub security` adds on creation or rotation)."""
    return PublicKey(signing_key.kid, owner, signing_key.public_key, valid_from_ms, valid_until_ms)


def public_keys_json(keys: Iterable[PublicKey]) -> str:
    """The text of a public-keys file holding `keys` (UTF-8 JSON, one entry per key)."""
    return json.dumps({"format": KEYS_FORMAT, "keys": [k.as_json() for k in keys]}, ensure_ascii=False,
                      indent=2) + "\n"


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The outcome of checking one record: `ok`, or a `reason` (one of SIGNATURE_REASONS) and a message."""

    ok: bool
    reason: SignatureReason | None
    message: str
    kid: str | None = None
    owner: str | None = None


def _fail(reason: SignatureReason, message: str, kid: str | None = None, owner: str | None = None) -> SignatureCheck:
    return SignatureCheck(False, reason, message, kid, owner)


def _signature_headers(headers: Headers | None) -> tuple[dict[str, bytes], str | None]:
    """The cshub-* headers by name, or what is wrong with them."""
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    found: dict[str, bytes] = {}
    for name, value in items:
        if name not in SIGNATURE_HEADERS:
            continue
        if name in found:
            return found, f"header {name} appears more than once"
        found[name] = value or b""
    return found, None


class PublicKeys:
    """The hub's view of who may sign: public keys by key id, with owners and validity periods."""

    def __init__(self, keys: Iterable[PublicKey]) -> None:
        self._keys: dict[str, tuple[PublicKey, Ed25519PublicKey]] = {}
        self._verified: set[tuple[str, bytes, bytes]] = set()
        """(kid, signature, signed message) triples that verified: a repeat of a record (a resend, a redelivery
        after a rebalance) costs a set lookup instead of an Ed25519 verification (~50-200 µs). The kid is part of
        it: the same signature presented under another key id must be verified against that key."""
        for k in keys:
            if k.kid in self._keys:
                raise PublicKeysError(f"key id {k.kid} is listed twice", "list each key once")
            self._keys[k.kid] = (k, Ed25519PublicKey.from_public_bytes(k.public_key))

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, kid: str) -> PublicKey | None:
        """The entry for `kid`, if any."""
        found = self._keys.get(kid)
        return found[0] if found else None

    def entries(self) -> list[PublicKey]:
        """Every entry, by owner and then oldest first (the order `public_keys_json` writes them in)."""
        return sorted((k for k, _ in self._keys.values()), key=lambda k: (k.owner, k.valid_from_ms, k.kid))

    def of_owner(self, owner: str) -> list[PublicKey]:
        """Every key `owner` has (current and retired), oldest first."""
        return sorted((k for k, _ in self._keys.values() if k.owner == owner), key=lambda k: k.valid_from_ms)

    def _verifies(self, kid: str, verifier: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
        seen = (kid, signature, message)
        if seen in self._verified:
            return True
        try:
            verifier.verify(signature, message)
        except InvalidSignature:
            return False
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified.add(seen)
        return True

    def check(self, topic: str, key: bytes | None, value: bytes, headers: Headers | None, expected_owner: str,
              at_ms: int) -> SignatureCheck:
        """Whether this record, read from `topic`, was signed by a key of `expected_owner` valid at `at_ms`.

        `at_ms` is when the hub received it (the broker's timestamp), not a time the sender chose. Checks, in
        order: signed at all, well-formed headers, known key id, the signature itself, the signer is the
        expected owner (a province signs only for its own topics), the key was valid then.
        """
        found, problem = _signature_headers(headers)
        if not found:
            return _fail("unsigned", f"the record on {topic} carries no {HEADER_SIG} header: it is not signed")
        if problem:
            return _fail("malformed_signature", problem)
        missing = [h for h in SIGNATURE_HEADERS if h not in found]
        if missing:
            return _fail("malformed_signature", f"signature headers missing: {', '.join(missing)}")
        alg = found[HEADER_ALG].decode("ascii", "replace")
        if alg != ALG_ED25519:
            return _fail("malformed_signature", f"{HEADER_ALG} is {alg!r}; only {ALG_ED25519!r} is accepted")
        kid = found[HEADER_KID].decode("ascii", "replace")
        if not _KID.fullmatch(kid):
            return _fail("malformed_signature", f"{HEADER_KID} {kid!r} is not 16 lowercase hex digits")
        signature = found[HEADER_SIG]
        if len(signature) != SIGNATURE_SIZE:
            return _fail("malformed_signature", f"{HEADER_SIG} has {len(signature)} bytes, not {SIGNATURE_SIZE}", kid)
        entry = self._keys.get(kid)
        if entry is None:
            return _fail("unknown_key", f"key id {kid} is not in the public-keys file", kid)
        public, verifier = entry
        message = signed_message(topic, key, value)
        if not self._verifies(kid, verifier, signature, message):
            return _fail("bad_signature", f"the signature by key {kid} ({public.owner}) does not match this record"
                         f" on {topic}: altered, or signed for another topic or key", kid, public.owner)
        if public.owner != expected_owner:
            return _fail("wrong_signer", f"signed by {public.owner} (key {kid}), but {topic} belongs to"
                         f" {expected_owner}", kid, public.owner)
        if at_ms < public.valid_from_ms:
            return _fail("key_not_yet_valid", f"key {kid} of {public.owner} is valid from"
                         f" {show_ms(public.valid_from_ms)}; the record came at {show_ms(at_ms)}", kid, public.owner)
        if public.valid_until_ms is not None and at_ms >= public.valid_until_ms:
            return _fail("expired_key", f"key {kid} of {public.owner} expired at {show_ms(public.valid_until_ms)};"
                         f" the record came at {show_ms(at_ms)}", kid, public.owner)
        return SignatureCheck(True, None, f"signed by {public.owner} with key {kid}", kid, public.owner)


_KEYS_ADVICE = ('fix the file: UTF-8 JSON {"format": "cshub-public-keys-v1", "keys": [{"kid", "owner", "alg":'
                ' "ed25519", "public_key" (base64 of 32 bytes), "valid_from", "valid_until" (ISO 8601 or null)}]}')


def parse_public_keys(text: str, where: str = "the public-keys file") -> PublicKeys:
    """The keys in a public-keys file's text; `PublicKeysError` names the entry and field that are wrong."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PublicKeysError(f"{where} is not JSON: {exc.msg} at line {exc.lineno}", _KEYS_ADVICE) from None
    if not isinstance(document, dict) or document.get("format") != KEYS_FORMAT:
        raise PublicKeysError(f'{where} does not say "format": "{KEYS_FORMAT}"', _KEYS_ADVICE)
    rows = document.get("keys")
    if not isinstance(rows, list):
        raise PublicKeysError(f'{where} has no "keys" list', _KEYS_ADVICE)
    keys = [_public_key(row, f"{where}, keys[{i}]") for i, row in enumerate(rows)]
    try:
        return PublicKeys(keys)
    except PublicKeysError as exc:
        raise PublicKeysError(f"{where}: {exc}", exc.advice) from None


def _public_key(row: object, where: str) -> PublicKey:
    if not isinstance(row, dict):
        raise PublicKeysError(f"{where} is not an object", _KEYS_ADVICE)

    def text(field: str) -> str:
        value = row.get(field)
        if not isinstance(value, str) or not value:
            raise PublicKeysError(f"{where}.{field} is missing or not a string", _KEYS_ADVICE)
        return value

    def moment(field: str) -> int:
        try:
            return parse_ms(text(field))
        except ValueError as exc:
            raise PublicKeysError(f"{where}.{field}: {exc}", _KEYS_ADVICE) from None

    if text("alg") != ALG_ED25519:
        raise PublicKeysError(f"{where}.alg is {row['alg']!r}; only {ALG_ED25519!r} is supported", _KEYS_ADVICE)
    owner = text("owner")
    if not _OWNER.fullmatch(owner):
        raise PublicKeysError(f"{where}.owner {owner!r} is not a province code or principal ([a-z0-9-])",
                              _KEYS_ADVICE)
    try:
        raw = base64.b64decode(text("public_key"), validate=True)
    except binascii.Error:
        raise PublicKeysError(f"{where}.public_key is not base64", _KEYS_ADVICE) from None
    if len(raw) != PUBLIC_KEY_SIZE:
        raise PublicKeysError(f"{where}.public_key has {len(raw)} bytes, not {PUBLIC_KEY_SIZE}", _KEYS_ADVICE)
    kid = text("kid")
    if kid != key_id(raw):
        raise PublicKeysError(f"{where}.kid {kid!r} is not the id of its public key ({key_id(raw)})",
                              "copy the kid that goes with the key (first 8 bytes of SHA-256 of it, in hex)")
    valid_from = moment("valid_from")
    valid_until = None if row.get("valid_until") is None else moment("valid_until")
    if valid_until is not None and valid_until <= valid_from:
        raise PublicKeysError(f"{where}: valid_until is not after valid_from", _KEYS_ADVICE)
    return PublicKey(kid, owner, raw, valid_from, valid_until)


def read_public_keys(path: str | Path) -> PublicKeys:
    """The public-keys reference file at `path` (UTF-8 JSON; see docs/evidence.md)."""
    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PublicKeysError(f"cannot read the public-keys file {where}: {exc}", _KEYS_ADVICE) from None
    return parse_public_keys(text, str(where))


class SignatureChecker(Protocol):
    """What validation needs of the public keys: `PublicKeys`, or a `PublicKeysFile` that follows its file."""

    def check(self, topic: str, key: bytes | None, value: bytes, headers: Headers | None, expected_owner: str,
              at_ms: int) -> SignatureCheck: ...


class PublicKeysFile:
    """The public-keys file, read again when it changes (a rotation or a new province), at most once a second.

    For a long-running checker (the worker): a key added by `cshub security rotate-key` is known within a
    second, with no restart. A file that turns unreadable keeps the last good keys (and says so once per
    change of the file), so a half-edited file never stops the worker. `clock` is injectable for tests.
    """

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.monotonic,
                 on_error: Callable[[PublicKeysError], None] | None = None) -> None:
        self.path = Path(path)
        self.clock = clock
        self.on_error = on_error
        self._stamp = self._stat()
        self.keys = read_public_keys(self.path)  # the first read must succeed: a clear error at start-up
        self._checked = clock()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size, info.st_ino

    def refresh(self) -> None:
        """Re-read the file if it changed since the last read."""
        self._checked = self.clock()
        stamp = self._stat()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self.keys = read_public_keys(self.path)
        except PublicKeysError as exc:
            if self.on_error is not None:
                self.on_error(exc)

    def check(self, topic: str, key: bytes | None, value: bytes, headers: Headers | None, expected_owner: str,
              at_ms: int) -> SignatureCheck:
        """`PublicKeys.check` against the file as it is now (checked for changes at most once a second)."""
        if self.clock() - self._checked >= 1.0:
            self.refresh()
        return self.keys.check(topic, key, value, headers, expected_owner, at_ms)
