"""Signed checkpoints of the transparency log: C2SP signed notes over (origin, tree size, root), and fork checks.

A checkpoint (C2SP tlog-checkpoint) is the text::

    <origin>\\n<tree size, decimal>\\n<root hash, base64>\\n[extension lines\\n]

signed as a C2SP signed note: the text, a blank line, then one line per signature,
``— <key name> <base64(4-byte key hash || 64-byte Ed25519 signature)>\\n``. The key hash is the first 4 bytes of
``SHA-256(<key name> || "\\n" || 0x01 || <32-byte public key>)`` (0x01: Ed25519), and a verifier key is written
``<name>+<key hash, 8 hex digits>+<base64(0x01 || public key)>``, as Go's golang.org/x/mod/sumdb/note and every
C2SP tool read it. The hub adds one extension line, ``cshub-time <epoch ms>``: when it signed.

`check_chain` takes checkpoints in the order they were published and the consistency proofs between them, and
reports every fork (two heads of one history that cannot both be true) and every rollback, with where;
`check_against_log` reports every checkpoint that the log's own entries, as an auditor rebuilt them, do not match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.merkle import HASH_SIZE, LeafHashes, verify_consistency
from core.signing import SigningKey
from schemas.errors import CshubError

ED25519_NOTE_ALG = 0x01
SIGNATURE_DASH = "\u2014 "  # "— ": an em dash and a space start each signature line
TIME_EXTENSION = "cshub-time "
MAX_SIGNATURES = 100
_ADVICE = "use the checkpoint exactly as the log published it (C2SP signed note), and the log's verifier key"


class CheckpointError(CshubError, ValueError):
    """A signed note or checkpoint that cannot be read or whose signature does not verify."""


def _key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519_NOTE_ALG]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise CheckpointError(f"note key name {name!r} is empty or has a '+' or a space", _ADVICE)


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """A public key that signs notes, under its name (for a log: its origin)."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise CheckpointError(f"note key {self.name} has a {len(self.public_key)}-byte public key, not 32", _ADVICE)

    @property
    def key_hash(self) -> bytes:
        """The 4 bytes that name this key in a signature line."""
        return _key_hash(self.name, self.public_key)

    def __str__(self) -> str:
        """The verifier key as C2SP tools write it: name+hash+base64(0x01 || key)."""
        encoded = base64.b64encode(bytes([ED25519_NOTE_ALG]) + self.public_key).decode()
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        """A verifier key from `name+hash+base64`; the hash must match."""
        parts = text.strip().split("+", 2)  # the base64 key may itself hold a '+'
        if len(parts) != 3:
            raise CheckpointError(f"verifier key {text!r} is not name+hash+key", _ADVICE)
        name, hash_hex, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
            key_hash = bytes.fromhex(hash_hex)
        except (binascii.Error, ValueError):
            raise CheckpointError(f"verifier key {text!r} has a bad hash or base64 key", _ADVICE) from None
        if len(raw) != 33 or raw[0] != ED25519_NOTE_ALG:
            raise CheckpointError(f"verifier key {name} is not an Ed25519 note key", _ADVICE)
        verifier = cls(name, raw[1:])
        if verifier.key_hash != key_hash:
            raise CheckpointError(f"verifier key {name}: hash {hash_hex} does not match the key", _ADVICE)
        return verifier

    def verifies(self, text: str, signature: bytes) -> bool:
        """Whether `signature` is this key's Ed25519 signature over the note text."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text.encode("utf-8"))
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class NoteSigner:
    """A `SigningKey` that signs notes under a name (the log's origin)."""

    name: str
    key: SigningKey

    def __post_init__(self) -> None:
        _check_name(self.name)

    @property
    def verifier(self) -> NoteVerifier:
        """What auditors are given to check this signer's notes."""
        return NoteVerifier(self.name, self.key.public_key)

    def signature_line(self, text: str) -> str:
        """`— <name> <base64(key hash || signature)>` over `text`."""
        signature = self.key.sign_bytes(text.encode("utf-8"))
        return f"{SIGNATURE_DASH}{self.name} {base64.b64encode(self.verifier.key_hash + signature).decode()}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise CheckpointError("a note's text must end with a newline", _ADVICE)
    if any(c < " " and c != "\n" for c in text):
        raise CheckpointError("a note's text has a control character other than newline", _ADVICE)


def sign_note(text: str, signers: Iterable[NoteSigner]) -> str:
    """The signed note: `text`, a blank line, one signature line per signer."""
    _check_text(text)
    lines = [s.signature_line(text) for s in signers]
    if not lines:
        raise CheckpointError("a signed note needs at least one signer", _ADVICE)
    return text + "\n" + "".join(lines)


@dataclass(frozen=True, slots=True)
class OpenedNote:
    """A note whose signatures were checked: its text, who verifiably signed it, and signatures not ours to check."""

    text: str
    signed_by: tuple[str, ...]
    unverified: tuple[str, ...]


def open_note(note: str, verifiers: Iterable[NoteVerifier]) -> OpenedNote:
    """Check a signed note against known keys: at least one must have signed it, and none may have signed wrongly.

    Signatures by keys we do not know (a witness we do not follow, say) are kept in `unverified`, not trusted.
    """
    known = {(v.name, v.key_hash): v for v in verifiers}
    cut = note.rfind("\n\n")
    if cut < 0:
        raise CheckpointError("not a signed note: no blank line before the signatures", _ADVICE)
    text, block = note[:cut + 1], note[cut + 2:]
    _check_text(text)
    if not block.endswith("\n"):
        raise CheckpointError("a signed note's last signature line must end with a newline", _ADVICE)
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"a signed note has {len(lines)} signatures, more than {MAX_SIGNATURES}", _ADVICE)
    signed_by: list[str] = []
    unverified: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith(SIGNATURE_DASH):
            raise CheckpointError(f"signature line {number} does not start with '— '", _ADVICE)
        name, _, encoded = line[len(SIGNATURE_DASH):].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise CheckpointError(f"signature line {number} ({name}) is not base64", _ADVICE) from None
        if not name or len(raw) < 5:
            raise CheckpointError(f"signature line {number} is too short to be a signature", _ADVICE)
        verifier = known.get((name, raw[:4]))
        if verifier is None:
            unverified.append(name)
            continue
        if not verifier.verifies(text, raw[4:]):
            raise CheckpointError(f"the signature of {name} on this note does not verify: the note was altered"
                                  " or not signed by that key", _ADVICE)
        signed_by.append(name)
    if not signed_by:
        raise CheckpointError(f"no known key signed this note (signed by: {', '.join(unverified) or 'nobody'})",
                              "check that you have the log's verifier key")
    return OpenedNote(text, tuple(signed_by), tuple(unverified))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head the log commits to: the log's origin, the tree size, the root, and extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError(f"checkpoint origin {self.origin!r} is empty or has a newline", _ADVICE)
        if self.size < 0:
            raise CheckpointError(f"checkpoint tree size {self.size} is negative", _ADVICE)
        if len(self.root) != HASH_SIZE:
            raise CheckpointError(f"checkpoint root has {len(self.root)} bytes, not {HASH_SIZE}", _ADVICE)
        if any(not line or "\n" in line for line in self.extensions):
            raise CheckpointError("checkpoint extension lines must be non-empty single lines", _ADVICE)

    @classmethod
    def at(cls, origin: str, size: int, root: bytes, time_ms: int) -> Checkpoint:
        """The hub's checkpoint: with the `cshub-time` extension saying when it was signed."""
        return cls(origin, size, root, (f"{TIME_EXTENSION}{time_ms}",))

    @property
    def time_ms(self) -> int | None:
        """When the hub signed it (its `cshub-time` line), if it says."""
        for line in self.extensions:
            if line.startswith(TIME_EXTENSION) and line[len(TIME_EXTENSION):].isdigit():
                return int(line[len(TIME_EXTENSION):])
        return None

    def text(self) -> str:
        """The checkpoint body, the text the signatures cover."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """A checkpoint from its body text (already verified: use `open_checkpoint` for a signed one)."""
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise CheckpointError("a checkpoint has an origin, a size and a root hash, one per line", _ADVICE)
        origin, size_text, root_text, *extensions = lines[:-1]
        if not size_text.isdigit() or (size_text.startswith("0") and size_text != "0") or not size_text.isascii():
            raise CheckpointError(f"checkpoint tree size {size_text!r} is not a decimal number", _ADVICE)
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error:
            raise CheckpointError("checkpoint root hash is not base64", _ADVICE) from None
        return cls(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The signed note of `checkpoint`; the signer's name must be the log's origin."""
    if signer.name != checkpoint.origin:
        raise CheckpointError(f"checkpoint of {checkpoint.origin} signed by key {signer.name}: the key name must be"
                              " the origin", "sign with the log's own key")
    return sign_note(checkpoint.text(), [signer])


def open_checkpoint(note: str, log_key: NoteVerifier) -> Checkpoint:
    """The checkpoint in a signed note, after checking the log's signature on it (witnesses' are ignored)."""
    opened = open_note(note, [log_key])
    checkpoint = Checkpoint.parse(opened.text)
    if checkpoint.origin != log_key.name:
        raise CheckpointError(f"checkpoint of {checkpoint.origin!r}, but the key is {log_key.name!r}'s", _ADVICE)
    return checkpoint


ChainReason = Literal["other_log", "fork", "rollback", "missing_proof", "missing_entries", "root_mismatch"]


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """What is wrong at position `index` of a published sequence of checkpoints."""

    index: int
    reason: ChainReason
    message: str


ConsistencyProofs = Callable[[int, int], Sequence[bytes] | None]
"""(old size, new size) -> the log's consistency proof between them, or None if it has none to give."""


def check_chain(checkpoints: Sequence[Checkpoint], proofs: ConsistencyProofs) -> list[ChainProblem]:
    """Every problem in `checkpoints` (in publication order): each must extend the largest one before it.

    Same size with another root, or a larger tree that the log cannot prove consistent with the last trusted
    head, is a fork; a smaller tree after a larger one is a rollback. The last trusted head stays the one before
    a problem, so one bad checkpoint is reported once and later good ones still check against the truth.
    """
    problems: list[ChainProblem] = []
    if not checkpoints:
        return problems
    trusted = checkpoints[0]
    for index, current in enumerate(checkpoints[1:], start=1):
        where = f"checkpoint {index} (size {current.size})"
        if current.origin != trusted.origin:
            problems.append(ChainProblem(index, "other_log", f"{where} is of log {current.origin!r}, not"
                                                              f" {trusted.origin!r}"))
        elif current.size < trusted.size:
            problems.append(ChainProblem(index, "rollback", f"{where} is smaller than checkpoint size"
                                                             f" {trusted.size} published before it"))
        elif current.size == trusted.size:
            if current.root != trusted.root:
                problems.append(ChainProblem(index, "fork", f"{where} has root {current.root.hex()}, but the same"
                                                             f" size was signed with root {trusted.root.hex()}"))
        else:
            proof = proofs(trusted.size, current.size)
            if proof is None:
                problems.append(ChainProblem(index, "missing_proof", f"no consistency proof from size {trusted.size}"
                                                                      f" to {current.size}"))
            elif not verify_consistency(trusted.size, current.size, proof, trusted.root, current.root):
                problems.append(ChainProblem(index, "fork", f"{where} (root {current.root.hex()}) is not an extension"
                                                             f" of size {trusted.size} (root {trusted.root.hex()}):"
                                                             " the consistency proof fails"))
            else:
                trusted = current
    return problems


def check_against_log(checkpoints: Sequence[Checkpoint], leaves: LeafHashes) -> list[ChainProblem]:
    """Every signed checkpoint that the log's entries (as an auditor rebuilt them) do not match.

    A checkpoint larger than the log means entries were removed after it was signed (`missing_entries`); a root
    that the first `size` leaves do not give means an entry before it was altered or dropped (`root_mismatch`).
    """
    problems: list[ChainProblem] = []
    for index, checkpoint in enumerate(checkpoints):
        where = f"checkpoint {index} (size {checkpoint.size})"
        if checkpoint.size > len(leaves):
            problems.append(ChainProblem(index, "missing_entries", f"{where} was signed over {checkpoint.size}"
                                         f" entries, but the log has only {len(leaves)}"))
        elif leaves.root(checkpoint.size) != checkpoint.root:
            problems.append(ChainProblem(index, "root_mismatch", f"{where}: the first {checkpoint.size} entries of"
                                         " the log do not give its root: an entry was altered, dropped or reordered"))
    return problems
