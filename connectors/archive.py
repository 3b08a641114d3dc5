"""Audit archives: topics written to Avro container files, with a manifest of offsets and SHA-256 digests.

Layout of an archive folder::

    manifest.json                          what was exported, offsets, record counts, digests
    topics/<topic>/p<partition>-<first offset>.avro

Each container file holds the records of one partition in offset order, wrapped in the envelope
schema `cshub.audit.ArchivedRecord` (offset, timestamp ms, key, value, headers): the value is the record's
original bytes (Avro single-object encoding), so the digests cover exactly what Kafka held and a
replay from files runs the same decoder as a replay from Kafka. Every writer schema the values were
written with is embedded in the file header (metadata `cshub.writer_schemas`: fingerprint -> schema
JSON), so each file decodes on its own, without Kafka and without this repository.

Two digests per file: `sha256` of the file's bytes (is this the file we wrote?) and `content_sha256`
over its records (offset, timestamp, key, value; independent of Avro's random sync markers, so two
exports of the same partition range agree).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import fastavro

from connectors.errors import ArchiveError
from schemas import registry

ENVELOPE: dict[str, Any] = {
    "type": "record", "name": "ArchivedRecord", "namespace": "cshub.audit",
    "doc": "One Kafka record as it was in its topic: the value is the original single-object-encoded bytes.",
    "fields": [
        {"name": "offset", "type": "long"},
        {"name": "timestamp", "type": "long", "doc": "Kafka record timestamp, epoch ms."},
        {"name": "key", "type": ["null", "bytes"], "default": None},
        {"name": "value", "type": ["null", "bytes"], "default": None},
        {"name": "headers", "default": [], "doc": "Kafka record headers in order (the submission signature).",
         "type": {"type": "array", "items": {"type": "record", "name": "Header", "fields": [
             {"name": "key", "type": "string"}, {"name": "value", "type": ["null", "bytes"], "default": None}]}}},
    ],
}
MANIFEST = "manifest.json"
PUBLIC_KEYS = "public-keys.json"
"""The hub's public-keys file as it was at the export: the submission and notary keys the archive verifies with."""
PROOFS = "proofs.json"
"""Consistency proofs between the published checkpoints (`connectors.evidence.write_proofs`)."""
FORMAT = "cshub-audit-archive/1"
_PARSED = fastavro.parse_schema(ENVELOPE)


@dataclass
class FileEntry:
    """One container file of one partition."""

    topic: str
    partition: int
    path: str
    first_offset: int
    last_offset: int
    records: int
    sha256: str
    content_sha256: str


@dataclass
class PartitionEntry:
    """What was exported of one partition: [start_offset, end_offset) as the broker had it."""

    topic: str
    partition: int
    start_offset: int
    end_offset: int
    records: int = 0
    files: list[FileEntry] = field(default_factory=list)


@dataclass
class Manifest:
    root: str
    created_at: str
    bootstrap: str
    partitions: list[PartitionEntry]
    format: str = FORMAT
    evidence: dict[str, str] = field(default_factory=dict)
    """Files beside the topics (public-keys.json, proofs.json) and their SHA-256."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ArchiveError(f"{path}: cannot read the archive manifest: {exc}") from exc
        if data.get("format") != FORMAT:
            raise ArchiveError(f"{path}: format {data.get('format')!r} is not {FORMAT!r}")
        parts = [PartitionEntry(**{**p, "files": [FileEntry(**f) for f in p["files"]]}) for p in data["partitions"]]
        return cls(data["root"], data["created_at"], data["bootstrap"], parts, data["format"],
                   dict(data.get("evidence") or {}))


Header = tuple[str, bytes | None]


def content_digest_update(h: Any, offset: int, timestamp: int, key: bytes | None, value: bytes | None,
                          headers: Sequence[Header] = ()) -> None:
    """Feed one record into a content digest: fixed-width offset and timestamp, length-prefixed key and value,
    then, only when there are any (so archives of records without headers keep their digests), the headers."""
    h.update(struct.pack(">qq", offset, timestamp))
    parts: list[bytes | None] = [key, value]
    if headers:
        parts.append(struct.pack(">I", len(headers)))
        for name, data in headers:
            parts += [name.encode("utf-8"), data]
    for part in parts:
        if part is None:
            h.update(b"\xff\xff\xff\xff")
        else:
            h.update(struct.pack(">I", len(part)))
            h.update(part)


def _writer_schemas() -> dict[str, str]:
    return {sv.fingerprint_hex: sv.schema_json for sv in registry.default_registry().all()}


def write_partition(folder: Path, topic: str, partition: int, records: Iterator[Any],
                    max_records_per_file: int) -> Iterator[FileEntry]:
    """Write `records` (kafka-python ConsumerRecords of one partition, in offset order) to container files.

    Streams: at most one record is held at a time; a new file starts every `max_records_per_file`.
    """
    target = folder / "topics" / topic
    target.mkdir(parents=True, exist_ok=True)
    metadata = {"cshub.topic": topic, "cshub.partition": str(partition),
                "cshub.writer_schemas": json.dumps(_writer_schemas(), ensure_ascii=False)}
    head = next(records, None)
    while head is not None:
        first = head.offset
        rel = Path("topics") / topic / f"p{partition}-{first:020d}.avro"
        state: dict[str, Any] = {"records": 0, "last": first, "next": None, "digest": hashlib.sha256()}
        with (folder / rel).open("wb") as fh:
            fastavro.writer(fh, _PARSED, _envelopes(head, records, max_records_per_file, state), codec="deflate",
                            metadata=metadata, sync_interval=256 * 1024)
        yield FileEntry(topic, partition, str(rel), first, state["last"], state["records"],
                        file_sha256(folder / rel), state["digest"].hexdigest())
        head = state["next"]


def _envelopes(head: Any, records: Iterator[Any], limit: int, state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Envelopes from `head` on, at most `limit`; the first record left over goes to state["next"]."""
    rec = head
    while rec is not None:
        headers = [(name, data) for name, data in (rec.headers or ())]
        content_digest_update(state["digest"], rec.offset, rec.timestamp, rec.key, rec.value, headers)
        state["records"] += 1
        state["last"] = rec.offset
        yield {"offset": rec.offset, "timestamp": rec.timestamp, "key": rec.key, "value": rec.value,
               "headers": [{"key": name, "value": data} for name, data in headers]}
        rec = next(records, None)
        if rec is not None and state["records"] >= limit:
            state["next"] = rec
            return


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_file(path: Path) -> Iterator[tuple[int, int, bytes | None, bytes | None, list[Header]]]:
    """(offset, timestamp, key, value, headers) of every record of one container file, streaming (files written
    before headers were archived give no headers)."""
    try:
        with path.open("rb") as fh:
            for env in fastavro.reader(fh):
                rec: dict[str, Any] = env  # type: ignore[assignment]  # the envelope schema is a record
                headers = [(h["key"], h["value"]) for h in rec.get("headers") or ()]
                yield rec["offset"], rec["timestamp"], rec["key"], rec["value"], headers
    except (OSError, ValueError, EOFError) as exc:
        raise ArchiveError(f"{path}: not a readable archive file: {exc}") from exc


def embedded_schemas(path: Path) -> dict[str, str]:
    """The writer schemas embedded in a container file's header (fingerprint hex -> schema JSON)."""
    with path.open("rb") as fh:
        meta = fastavro.reader(fh).metadata
    return json.loads(meta.get("cshub.writer_schemas", "{}"))


def verify_integrity(folder: Path, manifest: Manifest) -> list[str]:
    """Every problem with the files against the manifest: missing files, digests, offsets, counts."""
    problems: list[str] = []
    for name, digest in manifest.evidence.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif file_sha256(path) != digest:
            problems.append(f"{name}: SHA-256 {file_sha256(path)} differs from the manifest's {digest}")
    for part in manifest.partitions:
        expected_next: int | None = None
        total = 0
        for entry in part.files:
            path = folder / entry.path
            if not path.is_file():
                problems.append(f"{entry.path}: missing")
                continue
            digest = file_sha256(path)
            if digest != entry.sha256:
                problems.append(f"{entry.path}: SHA-256 {digest} differs from the manifest's {entry.sha256}")
            content = hashlib.sha256()
            count = 0
            first = last = None
            try:
                for offset, ts, key, value, headers in read_file(path):
                    if last is not None and offset <= last:
                        problems.append(f"{entry.path}: offset {offset} after {last} (out of order)")
                    content_digest_update(content, offset, ts, key, value, headers)
                    first = offset if first is None else first
                    last = offset
                    count += 1
            except ArchiveError as exc:
                problems.append(str(exc))
                continue
            if content.hexdigest() != entry.content_sha256:
                problems.append(f"{entry.path}: record content digest differs from the manifest")
            if (count, first, last) != (entry.records, entry.first_offset, entry.last_offset):
                problems.append(f"{entry.path}: holds {count} records, offsets {first}..{last}; manifest says"
                                f" {entry.records} records, offsets {entry.first_offset}..{entry.last_offset}")
            if expected_next is not None and first is not None and first < expected_next:
                problems.append(f"{entry.path}: starts at offset {first}, overlapping the previous file")
            expected_next = None if last is None else last + 1
            total += count
        if total != part.records:
            problems.append(f"{part.topic}[{part.partition}]: {total} records in files, manifest says {part.records}")
    return problems


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
