"""Signed checkpoints: the C2SP signed-note format (Go's reference vector), parse and verify, and fork detection."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteSigner,
    NoteVerifier,
    check_against_log,
    check_chain,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
)
from core.merkle import LeafHashes, leaf_hash
from core.signing import SigningKey

# golang.org/x/mod/sumdb/note's documented example: a key, a text and the note Go signs with it.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (GO_TEXT + "\n— PeterNeumann "
           "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")

ORIGIN = "cshub.example.cn/audit-log"
LOG = NoteSigner(ORIGIN, SigningKey.generate())
WITNESS = NoteSigner("witness.example.cn", SigningKey.generate())
TIME = 1_764_600_000_000


def go_signer() -> NoteSigner:
    _, _, name, _, encoded = GO_SIGNER.split("+", 4)  # the base64 itself has a '+'
    seed = base64.b64decode(encoded)[1:]
    return NoteSigner(name, SigningKey(Ed25519PrivateKey.from_private_bytes(seed)))


def test_go_reference_note_byte_for_byte() -> None:
    signer = go_signer()
    assert str(signer.verifier) == GO_VERIFIER
    assert sign_note(GO_TEXT, [signer]) == GO_NOTE
    opened = open_note(GO_NOTE, [NoteVerifier.parse(GO_VERIFIER)])
    assert opened.text == GO_TEXT and opened.signed_by == ("PeterNeumann",)


def test_an_altered_note_fails() -> None:
    verifier = NoteVerifier.parse(GO_VERIFIER)
    with pytest.raises(CheckpointError, match="does not verify"):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), [verifier])
    with pytest.raises(CheckpointError, match="no known key signed this note"):
        open_note(GO_NOTE, [LOG.verifier])


def test_verifier_keys_are_checked() -> None:
    assert NoteVerifier.parse(str(LOG.verifier)) == LOG.verifier
    plus = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"  # transparency-dev/formats: a '+' in the key
    assert str(NoteVerifier.parse(plus)) == plus
    with pytest.raises(CheckpointError, match="does not match the key"):
        NoteVerifier.parse(GO_VERIFIER.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(CheckpointError, match="not name\\+hash\\+key"):
        NoteVerifier.parse("PeterNeumann+c74f20a3")
    with pytest.raises(CheckpointError, match="'\\+' or a space"):
        NoteSigner("two words", SigningKey.generate())


def test_checkpoint_round_trip_with_time() -> None:
    root = LeafHashes([leaf_hash(b"a"), leaf_hash(b"b")]).root()
    checkpoint = Checkpoint.at(ORIGIN, 2, root, TIME)
    note = sign_checkpoint(checkpoint, LOG)
    lines = note.split("\n")
    assert lines[:4] == [ORIGIN, "2", base64.b64encode(root).decode(), f"cshub-time {TIME}"]
    assert lines[4] == "" and lines[5].startswith(f"— {ORIGIN} ")
    opened = open_checkpoint(note, LOG.verifier)
    assert opened == checkpoint and opened.time_ms == TIME and opened.root == root


def test_witness_cosignatures_are_kept_apart_and_do_not_count() -> None:
    text = Checkpoint(ORIGIN, 0, LeafHashes([]).root()).text()
    note = sign_note(text, [LOG, WITNESS])
    opened = open_note(note, [LOG.verifier])
    assert opened.signed_by == (ORIGIN,) and opened.unverified == ("witness.example.cn",)
    with pytest.raises(CheckpointError, match=r"no known key signed this note \(signed by: witness.example.cn\)"):
        open_checkpoint(sign_note(text, [WITNESS]), LOG.verifier)
    both = open_note(note, [LOG.verifier, WITNESS.verifier])
    assert both.signed_by == (ORIGIN, "witness.example.cn")


def test_a_changed_size_or_root_fails_the_signature() -> None:
    root = leaf_hash(b"x")
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, root), LOG)
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(note.replace(f"{ORIGIN}\n1\n", f"{ORIGIN}\n2\n"), LOG.verifier)
    other_root = base64.b64encode(leaf_hash(b"y")).decode()
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(note.replace(base64.b64encode(root).decode(), other_root), LOG.verifier)


@pytest.mark.parametrize(("note", "words"), [
    ("cshub\n1\nAAAA\n", "no blank line"),
    ("cshub\n1\n\nsignature\n", "does not start with '— '"),
    ("cshub\n1\n\n— cshub %%%\n", "is not base64"),
    ("cshub\n1\n\n— cshub AAAA\n", "too short"),
    ("cshub\n1\n\n— cshub AAAAAAAA", "must end with a newline"),
    ("cshub\x07\n1\n\n— cshub AAAAAAAA\n", "control character"),
])
def test_malformed_notes_say_what(note: str, words: str) -> None:
    with pytest.raises(CheckpointError, match=words):
        open_note(note, [LOG.verifier])


@pytest.mark.parametrize(("text", "words"), [
    ("cshub\n1\n", "an origin, a size and a root hash"),
    ("cshub\n01\n" + base64.b64encode(bytes(32)).decode() + "\n", "not a decimal number"),
    ("cshub\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n", "not a decimal number"),
    ("cshub\n1\n@@@\n", "not base64"),
    ("cshub\n1\nAAAA\n", "root has 3 bytes"),
    ("\n1\n" + base64.b64encode(bytes(32)).decode() + "\n", "origin '' is empty"),
])
def test_malformed_checkpoints_say_what(text: str, words: str) -> None:
    with pytest.raises(CheckpointError, match=words):
        Checkpoint.parse(text)


def test_a_checkpoint_must_be_signed_by_its_own_log() -> None:
    checkpoint = Checkpoint("another.log", 0, LeafHashes([]).root())
    with pytest.raises(CheckpointError, match="the key name must be the origin"):
        sign_checkpoint(checkpoint, LOG)
    impostor = NoteSigner("another.log", LOG.key)  # same key material under another name: the key hash differs
    with pytest.raises(CheckpointError, match="no known key"):
        open_checkpoint(sign_checkpoint(checkpoint, impostor), LOG.verifier)


# A log of 60 entries and a fork of it that rewrote entry 17 and went its own way after.
HONEST = [leaf_hash(f"entry {i}".encode()) for i in range(60)]
FORKED = [*HONEST[:17], leaf_hash(b"entry 17, rewritten"), *(leaf_hash(f"fork {i}".encode()) for i in range(18, 60))]
HONEST_TREE, FORKED_TREE = LeafHashes(HONEST), LeafHashes(FORKED)


def honest(size: int) -> Checkpoint:
    return Checkpoint(ORIGIN, size, HONEST_TREE.root(size))


def forked(size: int) -> Checkpoint:
    return Checkpoint(ORIGIN, size, FORKED_TREE.root(size))


def test_an_honest_chain_has_no_problems() -> None:
    chain = [honest(n) for n in (0, 1, 5, 8, 8, 17, 18, 32, 40, 60)]
    assert check_chain(chain, HONEST_TREE.consistency_proof) == []
    assert check_chain([], HONEST_TREE.consistency_proof) == []


def test_a_fork_is_caught_whatever_proofs_the_forker_gives() -> None:
    """The forked log shows checkpoints of its own tree and its own proofs: they cannot link to the honest past."""
    chain = [honest(10), honest(20), forked(30), honest(40)]
    problems = check_chain(chain, HONEST_TREE.consistency_proof)
    assert [(p.index, p.reason) for p in problems] == [(2, "fork")]
    assert "not an extension of size 20" in problems[0].message
    # the forker's proofs link its own tree to the shared prefix (size 10), so the honest heads are what fail
    problems = check_chain(chain, FORKED_TREE.consistency_proof)
    assert [(p.index, p.reason) for p in problems] == [(1, "fork"), (3, "fork")]
    # a fork shows only once checkpoints of both branches cover the rewritten entry (index 17)
    assert check_chain([honest(10), forked(18)], FORKED_TREE.consistency_proof) == []
    assert [p.reason for p in check_chain([honest(18), forked(19)], FORKED_TREE.consistency_proof)] == ["fork"]
    assert check_chain([honest(17), forked(19)], FORKED_TREE.consistency_proof) == []


def test_two_roots_for_one_size_is_a_fork() -> None:
    problems = check_chain([honest(30), forked(30)], HONEST_TREE.consistency_proof)
    assert [(p.index, p.reason) for p in problems] == [(1, "fork")]
    assert "same size was signed with root" in problems[0].message


def test_rollback_other_log_and_missing_proofs() -> None:
    problems = check_chain([honest(30), honest(20), Checkpoint("other.log", 40, HONEST_TREE.root(40)), honest(40)],
                           lambda old, new: None)
    assert [(p.index, p.reason) for p in problems] == [(1, "rollback"), (2, "other_log"), (3, "missing_proof")]


def test_signed_forked_checkpoints_verify_alone_but_not_together() -> None:
    """Each forked checkpoint carries a good signature: only the consistency check exposes the fork."""
    notes = [sign_checkpoint(c, LOG) for c in (honest(20), forked(25))]
    chain = [open_checkpoint(n, LOG.verifier) for n in notes]
    assert [p.reason for p in check_chain(chain, FORKED_TREE.consistency_proof)] == ["fork"]


def test_checkpoints_against_the_log_catch_deleted_and_altered_entries() -> None:
    chain = [honest(n) for n in (5, 20, 40)]
    assert check_against_log(chain, HONEST_TREE) == []
    truncated = LeafHashes(HONEST[:30])  # entries 30.. removed (say, by a lowered retention)
    problems = check_against_log(chain, truncated)
    assert [(p.index, p.reason) for p in problems] == [(2, "missing_entries")]
    assert "signed over 40 entries, but the log has only 30" in problems[0].message
    altered = list(HONEST)
    altered[12] = leaf_hash(b"entry 12, altered in the archive")
    problems = check_against_log(chain, LeafHashes(altered))
    assert [(p.index, p.reason) for p in problems] == [(1, "root_mismatch"), (2, "root_mismatch")]
    dropped = HONEST[:12] + HONEST[13:]  # one entry taken out, the rest shifted down
    assert [p.reason for p in check_against_log(chain, LeafHashes(dropped))] == ["root_mismatch", "root_mismatch"]
