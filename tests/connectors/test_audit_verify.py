"""Signed submissions through the real worker, and `cshub audit verify` from Kafka and from an archive.

One worker run (signatures required, the secured session broker) serves every check here: it must reject the
unsigned, unknown-key, expired-key, bad-signature and other-province records with their reasons, and accept the
province's signed file; the log service (`cshub notary`) logs the worker's verdicts and the national rows, signs
checkpoints and Jiangsu's receipts. Then the evidence must pass clean, from Kafka and from an export, and each
tampering must be reported with what and where: a record altered in an archive, a forged national row, a receipt whose
signature does not match, a checkpoint that forks, a record deleted from an input topic.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import pytest
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition

from connectors import auditor, evidence
from connectors.admin import ensure_topics
from connectors.archive import Manifest, content_digest_update, file_sha256, read_file, verify_integrity
from connectors.publisher import Publisher
from connectors.readers import read_rows
from connectors.signing_keys import ensure_signing_keys, key_path, read_entries, write_entries
from core import encode_row
from core.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from core.log_entries import decode_entry
from core.signing import SigningKey, parse_public_keys, public_key_of
from schemas import codec, reference, samples
from schemas.beijing import parse_ms
from schemas.kafka_config import kafka_python_config
from schemas.topics import TABLES, TopicNames, TopicPlan
from tests.streams.conftest import read_topics

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "connectors" / "samples" / "facility_320000.csv"
ORIGIN = "cshub.test/log"
PROVINCES = ["110000", "320000"]
"""The hub's reporting units here (a provinces file of two: fewer topics to create and read, same code paths)."""
BAD = {"unsigned": b"BAD-U", "unknown_key": b"BAD-K", "expired_key": b"BAD-E", "bad_signature": b"BAD-S",
       "wrong_signer": b"BAD-W"}


@dataclass
class SignedHub:
    bootstrap: str
    names: TopicNames
    home: Path
    public_keys: Path
    notary: SigningKey
    archive: Path
    log_size: int = 0
    accepted: int = 0

    @property
    def keys_text(self) -> str:
        return self.public_keys.read_text(encoding="utf-8")

    @property
    def provinces_file(self) -> Path:
        return self.home / "provinces.csv"

    def check(self) -> evidence.EvidenceCheck:
        return evidence.EvidenceCheck(self.names, frozenset(PROVINCES), parse_public_keys(self.keys_text), True)

    def env(self) -> dict[str, str]:
        return {**os.environ, "CSHUB_BOOTSTRAP": self.bootstrap, "CSHUB_TOPIC_ROOT": self.names.root,
                "CSHUB_REQUIRE_SIGNATURES": "true", "CSHUB_PUBLIC_KEYS_FILE": str(self.public_keys),
                "CSHUB_PARTITIONS": "1", "CSHUB_PROVINCES_FILE": str(self.provinces_file)}

    def cshub(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cshub.cli", *argv], cwd=ROOT, env=self.env(),
                              capture_output=True, text=True, timeout=180, check=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read(bootstrap: str, topic: str, committed: bool = False) -> list[Any]:
    """Every record of `topic` in (partition, offset) order (read committed for the log service's topics)."""
    return sorted(read_topics(bootstrap, [topic], 30, committed), key=lambda r: (r.partition, r.offset))


def _send(bootstrap: str, records: list[tuple[str, bytes | None, bytes, list[Any] | None]]) -> None:
    producer = KafkaProducer(**kafka_python_config(bootstrap, client_id="cshub-test"), acks="all")
    try:
        for topic, key, value, headers in records:
            producer.send(topic, key=key, value=value, headers=headers).get(timeout=30)
    finally:
        producer.close(10)


def _bad_records(names: TopicNames, folder: Path, public: Path) -> list[tuple[str, bytes | None, bytes, Any]]:
    """One record per signature failure, each a valid report of Jiangsu otherwise."""
    topic = names.inbound("320000", "facility")
    beijing = SigningKey.load(key_path(folder, "province-110000"))
    jiangsu = SigningKey.load(key_path(folder, "province-320000"))
    stranger, retired = SigningKey.generate(), SigningKey.generate()
    write_entries(public, [*read_entries(public), public_key_of(retired, "320000", parse_ms("2021-01-01T00:00"),
                                                                parse_ms("2026-01-01T00:00"))])

    def value(key: bytes) -> bytes:
        return codec.encode("cshub.FacilityReport", samples.facility(report_id=key.decode()))

    altered = samples.facility(report_id="BAD-S", households=1)
    return [
        (topic, BAD["unsigned"], value(BAD["unsigned"]), None),
        (topic, BAD["unknown_key"], value(BAD["unknown_key"]), stranger.sign(topic, BAD["unknown_key"],
                                                                             value(BAD["unknown_key"]))),
        (topic, BAD["expired_key"], value(BAD["expired_key"]), retired.sign(topic, BAD["expired_key"],
                                                                           value(BAD["expired_key"]))),
        (topic, BAD["bad_signature"], codec.encode("cshub.FacilityReport", altered),
         jiangsu.sign(topic, BAD["bad_signature"], value(BAD["bad_signature"]))),
        (topic, BAD["wrong_signer"], value(BAD["wrong_signer"]), beijing.sign(topic, BAD["wrong_signer"],
                                                                             value(BAD["wrong_signer"]))),
    ]


def _run_worker(hub: SignedHub, until: Any) -> str:
    """`cshub worker` (signatures required) until `until()` holds; its log."""
    port = _free_port()
    log = hub.home / "worker.log"
    env = {**hub.env(), "CSHUB_APP_ID": f"{hub.names.root}-worker", "CSHUB_DATA_DIR": str(hub.home / "state"),
           "CSHUB_WEB_PORT": str(port), "CSHUB_LOG_LEVEL": "warning", "CSHUB_INSTANCE_ID": "w1",
           "CSHUB_DEADLINE_INTERVAL_S": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cshub.cli", "worker"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            if until():
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
                    assert json.loads(resp.read())["status"] == "ok"
                return log.read_text(errors="replace")
            time.sleep(1)
        names = hub.names
        counts = {t: len(_read(hub.bootstrap, t)) for t in (names.inbound("320000", "facility"),
                                                             names.validated("facility"), names.rejected,
                                                             names.national("facilities"))}
        raise AssertionError(f"the worker did not finish in time: {counts}; {log.read_text(errors='replace')[-3000:]}")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class _Notary:
    """`cshub notary` (the log service) on the hub's root, signing with the hub's notary key."""

    def __init__(self, hub: SignedHub) -> None:
        self.log = hub.home / "notary.log"
        env = {**hub.env(), "CSHUB_NOTARY_KEY_FILE": str(hub.home / "secrets" / "hub-notary.key"),
               "CSHUB_LOG_ORIGIN": ORIGIN, "CSHUB_CHECKPOINT_INTERVAL_S": "0.3", "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "cshub.cli", "notary"], cwd=ROOT, env=env,
                                         stdout=out, stderr=subprocess.STDOUT)
        self.wait(lambda: "notary ready" in self.text(), 90, "ready")

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, until: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not until():
            assert self.proc.poll() is None, f"the notary exited: {self.text()[-3000:]}"
            assert time.monotonic() < deadline, f"the notary was not {what} in {timeout_s} s: {self.text()[-3000:]}"
            time.sleep(0.5)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _logged_everything(hub: SignedHub) -> bool:
    """The log has an entry for every inbound record and every national row, under a signed checkpoint."""
    names = hub.names
    entries = [decode_entry(r.value) for r in _read(hub.bootstrap, names.log, committed=True)]
    inbound = len(_read(hub.bootstrap, names.inbound("320000", "facility")))
    national = sum(len(_read(hub.bootstrap, names.national(t))) for t in TABLES)
    kinds = Counter(e.type for e in entries)
    checkpoints = _read(hub.bootstrap, names.checkpoints, committed=True)
    size = int(checkpoints[-1].value.split(b"\n")[1]) if checkpoints else -1
    return kinds["inbound"] == inbound and kinds["national"] == national and size == len(entries)


@pytest.fixture(scope="module")
def hub(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedHub]:
    home = tmp_path_factory.mktemp("signed")
    names = TopicNames(f"sv{uuid.uuid4().hex[:8]}")
    folder, public = home / "secrets", home / "secrets" / "public-keys.json"
    ensure_signing_keys(folder, ["province-320000", "province-110000", "hub-notary"], public, int(time.time() * 1000))
    ensure_topics(kafka_bootstrap, TopicPlan(names, tuple(PROVINCES), partitions=1,
                                             app_id=f"{names.root}-worker").specs())
    signed = SignedHub(kafka_bootstrap, names, home, public, SigningKey.load(key_path(folder, "hub-notary")),
                       home / "archive")
    shipped = reference.provinces()
    signed.provinces_file.write_text("code,name_zh,name_en\n" + "".join(
        f"{code},{shipped[code].name_zh},{shipped[code].name_en}\n" for code in PROVINCES), encoding="utf-8")
    with Publisher(kafka_bootstrap, "320000", names=names,
                   signing_key=SigningKey.load(key_path(folder, "province-320000"))) as publisher:
        result = publisher.publish("facility", read_rows(SAMPLE, "facility"))
    assert result.complete and result.acknowledged > 0, result
    _send(kafka_bootstrap, _bad_records(names, folder, public))
    signed.accepted = result.acknowledged

    def done() -> bool:
        """Every record decided (validated or rejected), and the rows of Jiangsu and the nation reflect every
        validated one (a row's `offsets` are those of the validated records it folds)."""
        validated = len(_read(kafka_bootstrap, names.validated("facility")))
        if validated + len(_read(kafka_bootstrap, names.rejected)) < result.acknowledged + len(BAD):
            return False
        folded = {"topic": names.validated("facility"), "partition": 0, "offset": validated}
        for table in ("coverage", "facilities"):
            latest = {r.key: codec.decode(r.value).value for r in _read(kafka_bootstrap, names.national(table))}
            if any(folded not in (latest.get(k) or {}).get("offsets", []) for k in (b"320000", b"000000")):
                return False
        time.sleep(3)  # the last publish of the other tables (every 20 ms) and a deadline tick (every 1 s)
        return True

    notary = _Notary(signed)
    try:
        _run_worker(signed, done)
        notary.wait(lambda: _logged_everything(signed), 90, "done with the worker's verdicts")
    finally:
        notary.stop()
    signed.log_size = len(_read(kafka_bootstrap, names.log, committed=True))
    auditor.export(kafka_bootstrap, names, signed.archive, public_keys=public)
    yield signed
    shutil.rmtree(home, ignore_errors=True)


def test_the_worker_rejects_each_bad_signature_with_its_reason_and_tells_the_province(hub: SignedHub) -> None:
    rejected = [codec.decode(r.value).value for r in _read(hub.bootstrap, hub.names.rejected)]
    by_key = {r["key"]: r["reason"] for r in rejected}
    assert {k: by_key.get(v) for k, v in BAD.items()} == {k: k for k in BAD}, rejected
    feedback = {codec.decode(r.value).value["reason"] for r in _read(hub.bootstrap, hub.names.feedback("320000"))}
    assert set(BAD) <= feedback
    accepted = len(_read(hub.bootstrap, hub.names.validated("facility")))
    assert accepted == hub.accepted  # every signed row, none of the bad ones


def test_the_clean_history_verifies_from_kafka_and_from_the_archive(hub: SignedHub) -> None:
    from_kafka = evidence.verify_kafka(hub.bootstrap, hub.check())
    assert from_kafka.ok, [str(p) for p in from_kafka.problems]
    assert from_kafka.counts["inputs_logged"] == from_kafka.counts["inputs"] > len(BAD)
    assert from_kafka.counts["inputs_without_valid_signature"] == len(BAD)
    assert from_kafka.counts["checkpoints"] >= 1 and from_kafka.counts["receipts"] == from_kafka.counts["inputs"]
    manifest = Manifest.load(hub.archive)
    assert verify_integrity(hub.archive, manifest) == [] and {"public-keys.json", "proofs.json"} <= set(
        manifest.evidence)
    from_archive = evidence.verify_archive(hub.archive, hub.check())
    assert from_archive.ok, [str(p) for p in from_archive.problems]
    sizes = {int(r.value.split(b"\n")[1]) for r in _read(hub.bootstrap, hub.names.checkpoints, committed=True)}
    assert from_archive.counts == Counter({**from_kafka.counts, "proofs": len(sizes) - 1})

    run = hub.cshub("audit", "verify", "--workers", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "evidence passed" in run.stdout and "audit passed" in run.stdout, run.stdout
    offline = hub.cshub("audit", "verify", str(hub.archive), "--workers", "1")
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "evidence passed" in offline.stdout and "audit passed" in offline.stdout, offline.stdout


def _copy_archive(hub: SignedHub, name: str) -> Path:
    target = hub.home / name
    shutil.copytree(hub.archive, target)
    return target


def _rewrite(folder: Path, topic: str, change: Any) -> None:
    """Rewrite an archived topic's file with `change(record) -> record`, and the manifest's digests with it: a
    careful forger, so that only the evidence can tell."""
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for part in manifest["partitions"]:
        if part["topic"] != topic:
            continue
        for entry in part["files"]:
            path = folder / entry["path"]
            with path.open("rb") as fh:
                reader = fastavro.reader(fh)
                schema, meta = reader.writer_schema, dict(reader.metadata)
                records = [change(dict(r)) for r in reader]  # type: ignore[arg-type]
            meta.pop("avro.schema", None)
            meta.pop("avro.codec", None)
            with path.open("wb") as fh:
                fastavro.writer(fh, schema, records, codec="deflate", metadata=meta)
            digest = hashlib.sha256()
            for offset, ts, key, value, headers in read_file(path):
                content_digest_update(digest, offset, ts, key, value, headers)
            entry["sha256"], entry["content_sha256"] = file_sha256(path), digest.hexdigest()
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


def test_a_record_altered_in_the_archive_is_caught(hub: SignedHub) -> None:
    folder = _copy_archive(hub, "altered")
    topic = hub.names.inbound("320000", "facility")

    def alter(rec: dict[str, Any]) -> dict[str, Any]:
        if rec["offset"] == 0:
            report = codec.decode(rec["value"]).value
            rec["value"] = codec.encode("cshub.FacilityReport", {**report, "households": report["households"] + 1000})
        return rec

    _rewrite(folder, topic, alter)
    assert verify_integrity(folder, Manifest.load(folder)) == []  # the digests were forged too
    report = evidence.verify_archive(folder, hub.check())
    assert {"altered_input", "unsigned_accepted"} == set(report.problem_counts)
    assert {f.where for f in report.problems} == {f"{topic}[0]@0"}
    run = hub.cshub("audit", "verify", str(folder), "--workers", "1")
    assert run.returncode == 1 and f"PROBLEM altered_input: {topic}[0]@0" in run.stdout, run.stdout


def test_tampering_on_kafka_is_caught_from_kafka_and_from_an_archive(hub: SignedHub) -> None:
    """Last in this file: it changes the topics. Each tampering, then the evidence from Kafka; then one export
    that carries all of them, whose verification names each again."""
    names = hub.names
    receipts_topic = names.receipts("320000")
    batch = _read(hub.bootstrap, receipts_topic, committed=True)[0]
    forged_receipt = batch.value.replace(b'"accepted"', b'"rejected"', 1)
    _send(hub.bootstrap, [(receipts_topic, batch.key, forged_receipt, list(batch.headers))])
    assert set(evidence.verify_kafka(hub.bootstrap, hub.check()).problem_counts) == {"receipt_signature"}

    fork = sign_checkpoint(Checkpoint.at(ORIGIN, hub.log_size, hashlib.sha256(b"another").digest(),
                                         int(time.time() * 1000)), NoteSigner(ORIGIN, hub.notary))
    _send(hub.bootstrap, [(names.checkpoints, None, fork.encode(), None)])

    rows = {r.key: r for r in _read(hub.bootstrap, names.national("coverage"))}
    row = codec.decode(rows[b"320000"].value).value
    forged = encode_row("coverage", {**row, "urban_covered": row["urban_covered"] + 500})
    _send(hub.bootstrap, [(names.national("coverage"), b"320000", forged, None)])

    inbound = TopicPartition(names.inbound("320000", "facility"), 0)
    admin = KafkaAdminClient(**kafka_python_config(hub.bootstrap, client_id="cshub-test"))
    try:
        admin.delete_records({inbound: 2})
    finally:
        admin.close()
    from_kafka = evidence.verify_kafka(hub.bootstrap, hub.check())
    assert set(from_kafka.problem_counts) == {"receipt_signature", "checkpoint_fork", "checkpoint_root_mismatch",
                                              "missing_input"}, [str(p) for p in from_kafka.problems]
    missing = [f for f in from_kafka.problems if f.check == "missing_input"]
    assert [f.where for f in missing] == [f"{inbound.topic}[0]@0"] and "offsets 0..1" in missing[0].message
    assert "the log recorded 2 of them" in missing[0].message

    run = hub.cshub("audit", "verify", "--workers", "1")
    assert run.returncode == 1, run.stdout + run.stderr
    for check in ("receipt_signature", "checkpoint_fork", "missing_input"):
        assert f"PROBLEM {check}" in run.stdout, run.stdout
    assert "DIFFERENCE coverage" in run.stdout and "urban_covered" in run.stdout, run.stdout

    folder = hub.home / "tampered"
    auditor.export(hub.bootstrap, names, folder, public_keys=hub.public_keys)
    offline = hub.cshub("audit", "verify", str(folder), "--workers", "1")
    assert offline.returncode == 1, offline.stdout + offline.stderr
    for check in ("receipt_signature", "checkpoint_fork", "missing_input"):
        assert f"PROBLEM {check}" in offline.stdout, offline.stdout
    assert "DIFFERENCE coverage" in offline.stdout and "urban_covered" in offline.stdout, offline.stdout
