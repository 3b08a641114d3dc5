"""The log service against the real secured broker: one writer, no fork after SIGKILL, receipts a province can
verify alone. Verdicts are written by hand in the worker's format (docs/evidence.md §4), each test on its own
inbound partition number so that the tests of this module share one log and still know what to expect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.kafka_io import make_consumer
from connectors.notary import HEADER_LOG_OFFSET, ensure_notary_key
from connectors.receipts import read_receipts, wait_for_receipts
from core.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteSigner,
    check_against_log,
    check_chain,
    open_checkpoint,
    sign_checkpoint,
)
from core.log_entries import InboundEntry, NationalEntry, chain_problems, decode_entry, encode_entry
from core.merkle import LeafHashes, leaf_hash
from core.signing import read_public_keys
from schemas.credentials import AccessRefused
from tests.evidence.conftest import ORIGIN, ROOT, EvidenceHub, Notaries, make_hub, verdict

pytestmark = pytest.mark.integration


def until(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.2)


def inbound_offsets(hub: EvidenceHub, partition: int) -> list[int]:
    """Offsets of the inbound entries of partition number `partition` in the committed log, in log order."""
    out = []
    for record in hub.read(hub.names.log):
        entry = decode_entry(record.value)
        if isinstance(entry, InboundEntry) and entry.partition == partition:
            out.append(entry.offset)
    return out


def checkpoints(hub: EvidenceHub) -> list[Checkpoint]:
    verifier = NoteSigner(ORIGIN, hub.key).verifier
    return [open_checkpoint(r.value.decode(), verifier) for r in hub.read(hub.names.checkpoints)]


def assert_log_is_one_tree(hub: EvidenceHub) -> LeafHashes:
    """The committed log is a hash chain, its tree has the root of the last checkpoint, and every checkpoint
    extends the ones before it (what an auditor checks)."""
    records = hub.read(hub.names.log)
    assert chain_problems(r.value for r in records) == []
    assert [int(r.key) for r in records] == list(range(len(records)))
    leaves = LeafHashes([leaf_hash(r.value) for r in records])
    signed = checkpoints(hub)
    assert signed, "no checkpoint was published"
    assert check_chain(signed, leaves.consistency_proof) == []
    assert check_against_log(signed, leaves) == []
    return leaves


def kill_inside_a_transaction(hub: EvidenceHub, proc: subprocess.Popen[bytes], attempts: int = 100) -> bool:
    """Freeze the notary until it is caught with entries written but not committed (the log's high watermark
    above its last stable offset), then SIGKILL it there; True when it was caught so."""
    from kafka import TopicPartition

    tp = TopicPartition(hub.names.log, 0)
    committed = make_consumer(hub.bootstrap, client_id="lso", isolation_level="read_committed")
    everything = make_consumer(hub.bootstrap, client_id="hw")
    try:
        for _ in range(attempts):
            os.killpg(proc.pid, signal.SIGSTOP)
            caught = everything.end_offsets([tp])[tp] > committed.end_offsets([tp])[tp]
            if caught:
                break
            os.killpg(proc.pid, signal.SIGCONT)
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        return caught
    finally:
        committed.close()
        everything.close()


def send_verdicts(hub: EvidenceHub, topic: str, offsets: range, partition: int, pause_s: float = 0.0) -> None:
    producer = hub.producer()
    try:
        for offset in offsets:
            producer.send(hub.names.verdicts, key=topic.encode(), value=verdict(topic, offset, partition=partition))
            if pause_s and offset % 10 == 0:
                producer.flush(10)
                time.sleep(pause_s)
        producer.flush(10)
    finally:
        producer.close(5)


def test_the_tree_resumes_after_sigkill_without_forking_or_repeating(evidence_hub: EvidenceHub,
                                                                     notaries: Notaries) -> None:
    hub, names, part = evidence_hub, evidence_hub.names, 7
    topic = names.inbound("320000", "facility")
    first = notaries.start("kill-first")
    notaries.wait_ready(first)
    send_verdicts(hub, topic, range(0, 100), part)
    until(lambda: len(inbound_offsets(hub, part)) >= 30, 30, "the first notary logs verdicts")
    writer = threading.Thread(target=send_verdicts, args=(hub, topic, range(100, 300), part, 0.05))
    writer.start()  # the kill lands while verdicts keep coming, inside a transaction (checked below)
    time.sleep(0.3)
    assert kill_inside_a_transaction(hub, first), "never caught the notary with a transaction open"
    first.wait(10)
    writer.join(60)
    send_verdicts(hub, topic, range(150, 220), part)  # the worker repeats some after its own crash (§4)
    producer = hub.producer()
    for n in range(5):
        producer.send(names.national("coverage"), key=b"320000", value=b"row %d" % n)
    producer.flush(10)
    producer.close(5)

    second = notaries.start("kill-second")
    notaries.wait_ready(second)
    assert "at size 0 " not in notaries.log_of(second)  # it resumed the tree, it did not start a new one
    until(lambda: len(inbound_offsets(hub, part)) >= 300, 60, "the second notary logs every verdict")
    size = len(hub.read(names.log))
    until(lambda: checkpoints(hub)[-1].size == size, 30, "a checkpoint covers the whole log")

    assert inbound_offsets(hub, part) == list(range(300))  # each verdict once, in order: none lost, none repeated
    leaves = assert_log_is_one_tree(hub)
    assert checkpoints(hub)[-1].root == leaves.root()
    rows = [e for e in (decode_entry(r.value) for r in hub.read(names.log)) if isinstance(e, NationalEntry)]
    assert [(e.topic, e.key) for e in rows][-5:] == [(names.national("coverage"), "320000")] * 5


def test_a_second_notary_fences_the_first_and_the_log_stays_one(evidence_hub: EvidenceHub,
                                                               notaries: Notaries) -> None:
    hub, names, part = evidence_hub, evidence_hub.names, 8
    topic = names.inbound("110000", "funding")
    first = notaries.start("fence-first")
    notaries.wait_ready(first)
    second = notaries.start("fence-second")
    notaries.wait_ready(second)
    send_verdicts(hub, topic, range(0, 60), part)
    assert first.wait(30) == 3, notaries.log_of(first)  # fenced at its next transaction
    assert "another notary took over" in notaries.log_of(first)
    assert second.poll() is None, notaries.log_of(second)
    until(lambda: len(inbound_offsets(hub, part)) >= 60, 30, "the second notary logs every verdict")
    assert inbound_offsets(hub, part) == list(range(60))
    assert_log_is_one_tree(hub)


def test_a_province_verifies_its_receipts_with_its_topic_and_the_hub_key_alone(evidence_hub: EvidenceHub,
                                                                               notaries: Notaries) -> None:
    hub, names, part = evidence_hub, evidence_hub.names, 9
    topic = names.inbound("320000", "funding")
    notary = notaries.start("receipts")
    notaries.wait_ready(notary)
    started_ms = time.time_ns() // 1_000_000
    producer = hub.producer()
    outcomes = [("accepted", ""), ("duplicate", ""), ("superseded", ""), ("rejected", "bad_amount")]
    for offset, (name, reason) in enumerate(outcomes):
        producer.send(names.verdicts, key=topic.encode(),
                      value=verdict(topic, offset, verdict=name, reason=reason, partition=part, late=offset == 0,
                                    message="拨付金额不能大于下达金额" if reason else ""))
    producer.flush(10)
    producer.close(5)
    province = hub.conn("province-320000")
    keys = read_public_keys(hub.keys_file)  # public: all a province needs besides its own topic
    wanted = [(topic, part, offset) for offset in range(len(outcomes))]
    waited = wait_for_receipts(province, "320000", wanted, timeout_s=30, since_ms=started_ms, names=names,
                               public_keys=keys)
    assert waited.missing == []
    got = [waited.found[c] for c in wanted]
    assert [r.entry.verdict for r in got] == [name for name, _ in outcomes]
    assert got[0].outcome == "accepted, late" and got[3].outcome == "rejected: bad_amount"
    assert got[3].entry.message == "拨付金额不能大于下达金额"
    assert all(r.verified for r in got)
    log = hub.read(names.log)
    for receipt in got:  # each receipt is its log entry, byte for byte
        assert log[receipt.entry.index].value == encode_entry(receipt.entry)

    other = hub.conn("province-110000")  # the broker refuses another province
    with pytest.raises(AccessRefused, match="province-110000"):
        list(read_receipts(other, "320000", names=names, timeout_s=10))

    env = {**os.environ, "CSHUB_PRINCIPAL": "province-320000",
           "CSHUB_PASSWORD_FILE": str(hub.cluster.secrets.path("province-320000"))}
    shown = subprocess.run([sys.executable, "-m", "cshub.cli", "feedback", "--province", "320000", "--verify",
                            "--bootstrap", hub.bootstrap, "--topic-root", names.root,
                            "--public-keys-file", str(hub.keys_file)],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "rejected     " in shown.stdout and "bad_amount: 拨付金额不能大于下达金额" in shown.stdout
    assert "every hub signature verified" in shown.stdout
    listed = subprocess.run([sys.executable, "-m", "cshub.cli", "feedback", "--province", "320000", "--verify",
                             "--format", "jsonl", "--bootstrap", hub.bootstrap, "--topic-root", names.root,
                             "--public-keys-file", str(hub.keys_file)],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    mine = [r for r in map(json.loads, listed.stdout.splitlines()) if r["partition"] == part]
    assert [(r["offset"], r["outcome"], r["verified"]) for r in mine] == [
        (0, "accepted, late", True), (1, "duplicate", True), (2, "superseded", True), (3, "rejected: bad_amount", True)]


def test_the_notary_refuses_to_extend_a_log_whose_checkpoint_it_cannot_reproduce(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """A signed checkpoint whose root the log does not give (the log was rewritten, or forked) stops the notary."""
    hub = make_hub(kafka_bootstrap, tmp_path)
    names, topic = hub.names, hub.names.inbound("320000", "policy")
    runs = Notaries(hub)
    try:
        first = runs.start("before")
        runs.wait_ready(first)
        send_verdicts(hub, topic, range(10), 0)
        until(lambda: [c.size for c in checkpoints(hub)][-1:] == [10], 30, "a checkpoint over the 10 entries")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        last_entry = hub.read(names.log)[-1].offset
        forged = sign_checkpoint(Checkpoint.at(ORIGIN, 10, b"\x01" * 32, time.time_ns() // 1_000_000),
                                 NoteSigner(ORIGIN, hub.key))  # the right key, a root the log does not have
        producer = hub.producer()
        producer.send(names.checkpoints, key=b"10", value=forged.encode(),
                      headers=[(HEADER_LOG_OFFSET, str(last_entry).encode())])
        producer.flush(10)
        producer.close(5)
        second = runs.start("after")
        assert second.wait(60) == 2, runs.log_of(second)
        assert "does not match its last signed checkpoint" in runs.log_of(second)
        assert "a fork" in runs.log_of(second)
    finally:
        runs.stop_all()


def test_after_a_key_rotation_the_notary_extends_the_log_its_old_key_signed(kafka_bootstrap: str,
                                                                            tmp_path: Path) -> None:
    hub = make_hub(kafka_bootstrap, tmp_path)
    topic = hub.names.inbound("110000", "policy")
    runs = Notaries(hub)
    try:
        old = runs.start("old-key")
        runs.wait_ready(old)
        send_verdicts(hub, topic, range(5), 0)
        until(lambda: [c.size for c in checkpoints(hub)][-1:] == [5], 30, "a checkpoint over the 5 entries")
        os.killpg(old.pid, signal.SIGKILL)
        old.wait(10)
        new_key = tmp_path / "secrets" / "hub-notary-2.key"
        rotated = ensure_notary_key(new_key, hub.keys_file, time.time_ns() // 1_000_000)  # its public entry added
        new = runs.start("new-key", CSHUB_NOTARY_KEY_FILE=str(new_key))
        runs.wait_ready(new)
        send_verdicts(hub, topic, range(5, 10), 0)
        new_verifier, old_verifier = NoteSigner(ORIGIN, rotated).verifier, NoteSigner(ORIGIN, hub.key).verifier

        def newest_size() -> int:
            try:
                return open_checkpoint(hub.read(hub.names.checkpoints)[-1].value.decode(), new_verifier).size
            except CheckpointError:  # still the old key's
                return 0

        until(lambda: newest_size() == 10, 30, "a checkpoint over the 10 entries, signed by the new key")
        signed = [r.value.decode() for r in hub.read(hub.names.checkpoints)]

        def signer_and_size(note: str) -> tuple[str, int]:
            try:
                return "old", open_checkpoint(note, old_verifier).size
            except CheckpointError:
                return "new", open_checkpoint(note, new_verifier).size  # raises if neither key signed it

        opened = [signer_and_size(note) for note in signed]
        old_sizes = [size for who, size in opened if who == "old"]
        assert old_sizes and old_sizes[-1] == 5, opened  # the old key's last checkpoint: all 5 entries before it
        assert [who for who, _ in opened] == ["old"] * len(old_sizes) + ["new"] * (len(opened) - len(old_sizes))
        assert chain_problems(r.value for r in hub.read(hub.names.log)) == []
    finally:
        runs.stop_all()
