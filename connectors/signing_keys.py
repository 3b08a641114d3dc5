"""The hub's signing keys: one Ed25519 key per province and one for the notary, and the public-keys file.

Private keys live next to the passwords in the secrets folder, `<secrets>/<principal>.key` (PKCS#8 PEM, 0600,
folder 0700: `core.signing.SigningKey.save`); the public half of each, with its owner, key id and validity
period, goes to the public-keys reference file (`<secrets>/public-keys.json` by default, the `public_keys_file`
setting), which the worker and the auditor check signatures against. Everything here is idempotent and
additive: a new province in the provinces file gets a key on the next `init` or `add-province`, and a rotation
closes the old entry (a `valid_until`) and adds a new one, never deleting an entry, so records signed before
still verify years later.

Why a province's first key is valid from `FIRST_KEY_VALID_FROM` and not from the moment it was made: the check
uses the broker timestamp of a record, and provinces (and the demo) send reports with the moment they were
produced in the reporting period; with no earlier key of the same owner there is nothing a back-dated record
could pretend to be signed by instead. A rotated key is valid from the rotation on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.signing import PublicKey, SigningKey, public_key_of, public_keys_json, read_public_keys
from schemas.beijing import parse_ms
from schemas.errors import CshubError
from schemas.principals import PROVINCE_TEMPLATE, Principal
from schemas.settings import PUBLIC_KEYS_NAME, SIGNING_KEY_SUFFIX

NOTARY = "hub-notary"
"""The hub's own signer (checkpoints and receipts of the transparency log)."""
FIRST_KEY_VALID_FROM = "2021-01-01T00:00:00+08:00"
"""Start of the 14th Five-Year Plan's reporting: where an owner's first key begins (see the module docstring)."""
_PROVINCE_PREFIX = PROVINCE_TEMPLATE.split("{", 1)[0]  # "province-"


class SigningKeysError(CshubError):
    """A signing key or the public-keys file cannot be created or changed; the message says which."""


def key_path(folder: Path, principal: str) -> Path:
    """Where `principal`'s private signing key lives in the secrets folder."""
    return folder / f"{principal}{SIGNING_KEY_SUFFIX}"


def default_public_keys(folder: Path) -> Path:
    return folder / PUBLIC_KEYS_NAME


def owner_of(principal: str) -> str:
    """The owner named in the public-keys file: a province's code (`province-320000` -> `320000`), else the
    principal itself (`hub-notary`)."""
    return principal.removeprefix(_PROVINCE_PREFIX) if principal.startswith(_PROVINCE_PREFIX) else principal


def signers(everyone: dict[str, Principal]) -> list[str]:
    """Who signs: every province principal, and the notary."""
    return [*sorted(p.name for p in everyone.values() if p.role == "province"), NOTARY]


def read_entries(public_keys: Path) -> list[PublicKey]:
    """The entries of the public-keys file, oldest first per owner; [] when there is no file yet."""
    if not public_keys.exists():
        return []
    return read_public_keys(public_keys).entries()


def write_entries(public_keys: Path, entries: Iterable[PublicKey]) -> None:
    """Write the public-keys file whole and atomically (write, then rename: readers never see half a file)."""
    public_keys.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = public_keys.with_name(f".{public_keys.name}.{os.getpid()}")
    tmp.write_text(public_keys_json(entries), encoding="utf-8")
    os.chmod(tmp, 0o644)  # public: anyone may read it, only the admin (the folder's owner) may change it
    tmp.replace(public_keys)


@dataclass
class KeysReport:
    """What `ensure_signing_keys` did."""

    created: list[str] = field(default_factory=list)
    entries_added: list[str] = field(default_factory=list)


def ensure_signing_keys(folder: Path, principals: Iterable[str], public_keys: Path, now_ms: int) -> KeysReport:
    """A signing key for each of `principals` that has none, and its entry in the public-keys file (idempotent).

    A key file whose public key is missing from the file (a new file, or one restored from elsewhere) gets its
    entry back; an entry is never changed or removed here.
    """
    report = KeysReport()
    entries = read_entries(public_keys)
    known = {e.kid for e in entries}
    for principal in principals:
        path = key_path(folder, principal)
        if not path.exists():
            SigningKey.generate().save(path)
            report.created.append(principal)
        key = SigningKey.load(path)
        if key.kid in known:
            continue
        owner = owner_of(principal)
        first = not any(e.owner == owner for e in entries)
        entries.append(public_key_of(key, owner, parse_ms(FIRST_KEY_VALID_FROM) if first else now_ms))
        known.add(key.kid)
        report.entries_added.append(principal)
    if report.entries_added or not public_keys.exists():
        write_entries(public_keys, entries)
    return report


def rotate_signing_key(folder: Path, principal: str, public_keys: Path, now_ms: int,
                       overlap_ms: int = 0) -> tuple[str | None, str]:
    """A new signing key for `principal`: its entry valid from now, the old entries closed at now + `overlap_ms`.

    Order, so that a crash leaves nothing unusable: the new key is saved beside the old one, the public-keys file
    is rewritten (old entries closed, new one added), then the new key replaces the old file. The old private key
    is destroyed (it could only forge now); its public entry stays, so what it signed still verifies. A worker
    re-reads the public-keys file within a second of a change; `overlap_ms` gives publishers still running with
    the old key that long to finish. Returns (old kid or None, new kid).
    """
    path = key_path(folder, principal)
    old_kid = SigningKey.load(path).kid if path.exists() else None
    staged = path.with_name(f".{path.name}.new")
    staged.unlink(missing_ok=True)
    new = SigningKey.generate()
    new.save(staged)
    owner = owner_of(principal)
    closes = now_ms + overlap_ms
    entries = [replace(e, valid_until_ms=closes)
               if e.owner == owner and (e.valid_until_ms is None or e.valid_until_ms > closes) else e
               for e in read_entries(public_keys)]
    if any(e.owner == owner and e.valid_from_ms >= closes for e in entries):
        staged.unlink()
        raise SigningKeysError(f"{public_keys}: a key of {owner} starts at or after the rotation moment",
                               "fix the file's valid_from dates, or rotate later")
    entries.append(public_key_of(new, owner, now_ms))
    write_entries(public_keys, entries)
    staged.replace(path)
    return old_kid, new.kid
