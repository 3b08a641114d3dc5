"""The auditor's replay: rebuild the national tables from what the provinces sent, and compare.

What is replayed, and why: the inbound topics `cshub.in.<province>.<kind>` (what each province actually
sent), from the earliest offset, through the same validation the worker runs (`core.problems`: codec,
province-matches-topic, business rules) and then the same fold (`core.Hub.apply`). Replaying
`cshub.validated.*` instead would take the worker's own output on trust: a valid report the worker wrongly
rejected, or a bad one it let through, or a record lost between the two topics, would be invisible. From
the inbound topics, every step between a province's record and a published row is checked.

How: aiokafka with manual assignment and no consumer group (`connectors.bulk_read`: never commits,
never writes, bounded prefetch). Each
province's inbound partitions are read in offset order by one process; provinces are spread over worker
processes (a province's state never spans two), each process folds its share with its own `core.Hub`, and
the parent merges the per-province totals (disjoint) into one Hub whose `rows()` (core) computes the
province rows and the national row. Memory is bounded by the number of distinct reports (the fold's
state), never by the number of records: no topic is ever held. On a terminal, a progress line on stderr
says how many records are done, the rate and the time left (`connectors.progress`).

`--until T` keeps only records whose Kafka timestamp is at or before T (the tables as they stood then,
from the inputs, which are kept forever) and compares them with the published rows that were in force
at T, where that can be known. A row is *not comparable*, counted and explained but never a difference,
when (`comparability`): no published row at or before T is left (not yet published then, or superseded
since and removed by compaction); the retained row at or before T may not be the one in force (offsets
between it and the next later record were compacted away); or the province had inputs within
`SETTLE_MS` before T, which the worker may not have published yet. The `obligations` table depends on
time: each published obligations row is compared with the core's `obligation_rows` at that row's own
`as_of`, over the arrivals up to it.
"""

from __future__ import annotations

import copy
import datetime as dt
import gc
import multiprocessing
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors import progress
from connectors.archive import Manifest, embedded_schemas, read_file
from connectors.bulk_read import read_partitions
from connectors.errors import ConnectorError
from connectors.kafka_io import FAST_FETCH, load_schema_history, make_consumer, partitions_of, read_to_end
from core import (
    REPORT_TABLES,
    Decision,
    Hub,
    HubConfig,
    Rejected,
    Source,
    decide,
    encode_row,
    obligation_rows,
    obligation_rules,
    row_values,
)
from core.signing import SignatureChecker, parse_public_keys
from schemas import codec, reference, registry
from schemas.errors import CodecError
from schemas.kafka_config import Target
from schemas.topics import KINDS, NATIONAL_CODE, TABLES, TopicNames

RowKey = tuple[str, str]  # (table, province)
SETTLE_MS = 10_000
"""How long after an input the worker may take to publish its effect (ms): rows of a province with inputs in
the last SETTLE_MS before an `--until` moment are not comparable at that moment."""
Raw = tuple[str, int, int, int, bytes | None]  # topic, partition, offset, timestamp ms, value
SignedRaw = tuple[str, int, int, int, bytes | None, bytes | None, Sequence[tuple[str, bytes | None]]]
"""`Raw`, then the key and the headers: what the submission signature check needs."""


@dataclass(frozen=True)
class AuditSetup:
    """The reference data the replay measures against (the worker's defaults unless given)."""

    provinces: tuple[str, ...]
    policy_items: tuple[str, ...]
    obligations_csv: str

    @classmethod
    def default(cls) -> AuditSetup:
        return cls(tuple(reference.provinces()), tuple(reference.policy_items()),
                   reference.obligations_csv())

    def hub(self) -> Hub:
        config = HubConfig(provinces=self.provinces, policy_items=self.policy_items)
        return Hub(config, obligation_rules(self.obligations_csv))


@dataclass
class ReplayStats:
    records: int = 0
    applied: int = 0
    after_until: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    latest_ms: dict[str, int] = field(default_factory=dict)
    """Per province, the latest timestamp of an input it sent (at or before `until`)."""

    def add(self, other: ReplayStats) -> None:
        self.records += other.records
        self.applied += other.applied
        self.after_until += other.after_until
        self.rejected.update(other.rejected)
        for province, ms in other.latest_ms.items():
            self.latest_ms[province] = max(ms, self.latest_ms.get(province, ms))


@dataclass(frozen=True)
class Difference:
    """One disagreement between a published row and the replay."""

    table: str
    province: str
    field: str
    published: Any
    replayed: Any

    def __str__(self) -> str:
        return (f"{self.table:<12} {self.province}  {self.field}: published {self.published!r},"
                f" replayed {self.replayed!r}")


class Replayer:
    """Folds raw inbound records into a Hub exactly as the worker does (validate, then apply)."""

    def __init__(self, setup: AuditSetup, names: TopicNames, until_ms: int | None = None,
                 keys: SignatureChecker | None = None) -> None:
        self.hub = setup.hub()
        self.keys = keys
        """The public keys when the hub requires signatures (records then need their key and headers)."""
        self.names = names
        self.until_ms = until_ms
        self.province_set = frozenset(setup.provinces)
        self.stats = ReplayStats()
        self._where: dict[str, tuple[str, str] | None] = {}
        self.observer: Callable[[str, dict[str, Any], int, str, int, int], None] | None = None
        """Called with every valid record before it is applied (`core.Provenance.observe`, for explain)."""

    def feed(self, records: Iterable[Raw | SignedRaw]) -> None:
        """Validate and fold `records` (offset order within each partition; `SignedRaw` when signatures count).

        Without signatures, an exact repeat of the previous record of the same topic (a resent report: ~10 % of
        real inputs) reuses its decision instead of decoding again: `decide` then depends on the topic and the
        bytes only, and `Hub.apply` still runs with the repeat's own timestamp and offset, so the fold is
        unchanged. With signatures every record is decided (its key, headers and timestamp count); the public
        keys remember verified signatures, so a repeat costs a decode, not an Ed25519 verification.
        """
        hub, stats, until, keys = self.hub, self.stats, self.until_ms, self.keys
        names, provinces = self.names, self.province_set
        last_topic: str | None = None
        last_value: bytes | None = None
        decision: Decision | None = None
        for rec in records:
            topic, partition, offset, ts, value = rec[:5]
            stats.records += 1
            if until is not None and ts > until:
                stats.after_until += 1
                continue
            if keys is not None:
                key, headers = (rec[5], rec[6]) if len(rec) > 5 else (None, None)  # type: ignore[misc]
                decision = decide(Source(topic, partition, offset, key, ts), value, names, provinces, headers, keys)
            elif decision is None or value != last_value or topic != last_topic:
                decision = decide(Source(topic, partition, offset, None, ts), value, names, provinces)
                last_topic, last_value = topic, value
            if isinstance(decision, Rejected):
                stats.rejected[decision.reason] += 1
                continue
            if ts > stats.latest_ms.get(decision.province, -1):
                stats.latest_ms[decision.province] = ts
            if self.observer is not None:
                self.observer(decision.kind, decision.record, ts, topic, partition, offset)
            hub.apply(decision.kind, decision.record, ts, topic, partition, offset)
            stats.applied += 1


# ---- sources -------------------------------------------------------------------------------------


def kafka_records(bootstrap: Target, partitions: list[tuple[str, int]],
                  with_headers: bool = False) -> Iterator[Raw | SignedRaw]:
    """Every record of these partitions, from the earliest offset to the end offsets taken at the start.

    All partitions are assigned at once, so fetches overlap; the client's buffer is bounded by
    `connectors.bulk_read.BULK_FETCH` whatever the size of the topics (flat memory).
    """
    return read_partitions(bootstrap, partitions, client_id="cshub-auditor", on_batch=progress.advance,
                           with_headers=with_headers)


def archive_records(folder: Path, files: list[tuple[str, int, str]]) -> Iterator[SignedRaw]:
    """Records of archive files (topic, partition, relative path), in the given order."""
    for topic, partition, rel in files:
        for offset, ts, key, value, headers in read_file(folder / rel):
            yield topic, partition, offset, ts, value, key, headers


@dataclass(frozen=True)
class ReplayJob:
    """What one worker process replays: a set of provinces' partitions from Kafka or from an archive."""

    setup: AuditSetup
    root: str
    until_ms: int | None
    provinces: tuple[str, ...]
    schemas: tuple[str, ...]
    bootstrap: Target | None = None
    partitions: tuple[tuple[str, int], ...] = ()
    archive: str | None = None
    files: tuple[tuple[str, int, str], ...] = ()
    public_keys: str | None = None
    """The public-keys file's text when the hub requires signatures (the replay then checks them as it did)."""


@dataclass
class Partial:
    """A worker's result: the fold's state of its provinces (disjoint from other workers')."""

    provinces: tuple[str, ...]
    totals: dict[str, Any]
    received: dict[tuple[str, str, str], int]
    positions: dict[tuple[str, int], int]
    stats: ReplayStats


def run_job(job: ReplayJob) -> Partial:
    """Replay one job (in this process or a worker process)."""
    for text in job.schemas:
        registry.register(text)
    started = time.perf_counter()
    keys = None if job.public_keys is None else parse_public_keys(job.public_keys)
    replayer = Replayer(job.setup, TopicNames(job.root), job.until_ms, keys)
    # The fold's state is long-lived: freeze what exists and collect the old generation rarely, so the
    # collector does not walk millions of live entries again and again (about 10 % of the replay's CPU).
    gc.freeze()
    threshold = gc.get_threshold()
    gc.set_threshold(threshold[0], threshold[1], 1000)
    try:
        if job.archive is not None:
            replayer.feed(archive_records(Path(job.archive), list(job.files)))
        elif job.partitions:
            replayer.feed(kafka_records(job.bootstrap or "", list(job.partitions), with_headers=keys is not None))
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
    replayer.stats.seconds = time.perf_counter() - started
    hub = replayer.hub
    own = set(job.provinces)
    return Partial(job.provinces, {p: t for p, t in hub.totals.items() if p in own},
                   {k: v for k, v in hub.received.items() if k[0] in own}, dict(hub.positions), replayer.stats)


def merge(setup: AuditSetup, partials: list[Partial]) -> tuple[Hub, ReplayStats]:
    """One Hub holding every worker's provinces: rows and national rows then come from the core."""
    hub = setup.hub()
    stats = ReplayStats()
    for part in partials:
        hub.totals.update(part.totals)
        hub.received.update(part.received)
        hub.positions.update(part.positions)
        stats.add(part.stats)
        stats.seconds = max(stats.seconds, part.stats.seconds)
    hub.take_dirty()
    return hub, stats


def _spread(sizes: dict[str, int], workers: int) -> list[list[str]]:
    """Provinces over workers, largest first onto the least loaded, so the processes finish together."""
    loads = [0] * workers
    out: list[list[str]] = [[] for _ in range(workers)]
    for province in sorted(sizes, key=lambda p: (-sizes[p], p)):
        i = loads.index(min(loads))
        out[i].append(province)
        loads[i] += sizes[province]
    return [group for group in out if group]


def run_jobs(jobs: list[ReplayJob], counter: Any = None) -> list[Partial]:
    """Each job in its own process (one in this one); `counter` is a shared progress counter, or None."""
    if len(jobs) <= 1:
        return [run_job(job) for job in jobs]
    ctx = multiprocessing.get_context("spawn")  # no inherited Kafka sockets or threads
    with ctx.Pool(len(jobs), initializer=progress.attach, initargs=(counter,)) as pool:
        return pool.map(run_job, jobs)


def _learned_schemas() -> tuple[str, ...]:
    return tuple(sv.schema_json for sv in registry.default_registry().all() if sv.version == registry.LEARNED_VERSION)


def replay_kafka(bootstrap: Target, names: TopicNames, *, setup: AuditSetup | None = None, until_ms: int | None = None,
                 workers: int = 2, show_progress: bool | None = None,
                 public_keys: str | None = None) -> tuple[Hub, ReplayStats]:
    """Replay every inbound topic of the configured provinces from Kafka; (merged Hub, stats).

    `show_progress`: a progress line on stderr (None: only when stderr is a terminal). `public_keys`: the text of
    the public-keys file when the hub requires signatures (None: it does not; signatures are then not checked).
    """
    setup = setup or AuditSetup.default()
    load_schema_history(bootstrap, names.schemas)
    consumer = make_consumer(bootstrap, client_id="cshub-auditor-plan")
    try:
        existing = set(consumer.topics())
        by_province: dict[str, list[tuple[str, int]]] = {}
        sizes: dict[str, int] = {}
        for province in setup.provinces:
            tps = []
            for kind in KINDS:
                topic = names.inbound(province, kind)
                if topic in existing:
                    tps += partitions_of(consumer, topic)
            if not tps:
                continue
            ends = consumer.end_offsets(tps)
            begins = consumer.beginning_offsets(tps)
            by_province[province] = [(tp.topic, tp.partition) for tp in tps]
            sizes[province] = sum(ends[tp] - begins[tp] for tp in tps)
    finally:
        consumer.close()
    groups = _spread(sizes, max(1, workers))
    schemas = _learned_schemas()
    jobs = [ReplayJob(setup, names.root, until_ms, tuple(group), schemas, bootstrap=bootstrap,
                      partitions=tuple(tp for p in group for tp in by_province[p]), public_keys=public_keys)
            for group in groups]
    with progress.Progress(sum(sizes.values()), enabled=show_progress) as shown:
        return merge(setup, run_jobs(jobs, shown.counter))


def replay_archive(folder: Path, names: TopicNames, *, setup: AuditSetup | None = None,
                   until_ms: int | None = None, workers: int = 2,
                   public_keys: str | None = None) -> tuple[Hub, ReplayStats]:
    """Replay the inbound topics of an export folder alone (no Kafka); (merged Hub, stats). `public_keys` as in
    `replay_kafka` (the archive's own copy, `archived_public_keys`)."""
    setup = setup or AuditSetup.default()
    manifest = Manifest.load(folder)
    schemas: dict[str, str] = {}
    by_province: dict[str, list[tuple[str, int, str]]] = {}
    sizes: dict[str, int] = {}
    for part in manifest.partitions:
        where = names.parse_inbound(part.topic)
        if where is None or where[0] not in setup.provinces:
            continue
        for entry in part.files:
            schemas.update(embedded_schemas(folder / entry.path))
            by_province.setdefault(where[0], []).append((part.topic, part.partition, entry.path))
        sizes[where[0]] = sizes.get(where[0], 0) + part.records
    for text in schemas.values():
        registry.register(text)
    groups = _spread(sizes, max(1, workers))
    jobs = [ReplayJob(setup, names.root, until_ms, tuple(group), tuple(schemas.values()), archive=str(folder),
                      files=tuple(f for p in group for f in by_province.get(p, ())), public_keys=public_keys)
            for group in groups]
    return merge(setup, run_jobs(jobs))


def explain_kafka(bootstrap: Target, names: TopicNames, table: str, province: str, *, field_name: str | None = None,
                  until_ms: int | None = None, setup: AuditSetup | None = None,
                  public_keys: str | None = None) -> tuple[dict[str, Any], ReplayStats]:
    """The reports behind each cell of (table, province), replayed from the inbound topics (`core.explain`).

    One process reads the province's inbound topics of the kinds the table is computed from (every
    province's for the national row 000000), validates and folds them as the worker does, and keeps every
    revision with its coordinates. ConnectorError for an unknown table, province or field.
    """
    from core.provenance import TABLE_KINDS, Provenance, explain

    setup = setup or AuditSetup.default()
    if table not in TABLE_KINDS:
        raise ConnectorError(f"cannot explain table {table!r}: it is not computed from reports; choose one of"
                             f" {', '.join(sorted(TABLE_KINDS))}")
    if province != NATIONAL_CODE and province not in setup.provinces:
        raise ConnectorError(f"unknown province {province!r}: give a 6-digit code of schemas/data/provinces.csv"
                             f" or {NATIONAL_CODE} for the national row")
    load_schema_history(bootstrap, names.schemas)
    consumer = make_consumer(bootstrap, client_id="cshub-auditor-explain")
    try:
        existing = set(consumer.topics())
        wanted = setup.provinces if province == NATIONAL_CODE else (province,)
        tps = [(tp.topic, tp.partition) for p in wanted for kind in TABLE_KINDS[table]
               if names.inbound(p, kind) in existing for tp in partitions_of(consumer, names.inbound(p, kind))]
    finally:
        consumer.close()
    keys = None if public_keys is None else parse_public_keys(public_keys)
    replayer = Replayer(setup, names, until_ms, keys)
    provenance = Provenance()
    replayer.observer = provenance.observe
    if tps:
        replayer.feed(kafka_records(bootstrap, tps, with_headers=keys is not None))
    try:
        return explain(replayer.hub, provenance, table, province, field_name), replayer.stats
    except ValueError as exc:
        raise ConnectorError(str(exc)) from exc


# ---- published rows --------------------------------------------------------------------------------


PublishedRecord = tuple[str, int, int, bytes | None, bytes | None, int]  # topic, partition, offset, key, value, ts


class Published(dict[RowKey, dict[str, Any]]):
    """The published rows in force at a moment (table, province) -> row, and those that cannot be known.

    `unknown` maps a row key to why its row at that moment cannot be compared (compaction); `first_ms`
    is the timestamp of the earliest published row read (None: nothing published at all).
    """

    def __init__(self) -> None:
        super().__init__()
        self.unknown: dict[RowKey, str] = {}
        self.first_ms: int | None = None


def _latest_rows(records: Iterable[PublishedRecord], names: TopicNames, until_ms: int | None) -> Published:
    """The latest row per key at or before `until_ms` (records of each partition in offset order).

    A compacted topic keeps the latest record per key, and may have removed any superseded one. The row
    found at or before T is certainly the one in force at T only if no offset between it and the next
    record after T was removed; otherwise it is `unknown`. A key whose only rows are after T is `unknown`
    too when offsets before its first row are missing (a row at or before T may have been removed).
    """
    out = Published()
    prefix = f"{names.root}.national."
    previous: dict[tuple[str, int], int] = {}
    pending: dict[tuple[str, int], set[RowKey]] = {}  # rows at or before T whose successor is not yet seen
    gapped: dict[tuple[str, int], bool] = {}  # a gap seen in the partition so far
    later_only: dict[RowKey, bool] = {}  # key first seen after T: was there a gap before it?
    for topic, partition, offset, key, value, ts in records:
        tp = (topic, partition)
        row_key = (topic[len(prefix):], key.decode("utf-8") if key else "")
        if out.first_ms is None or ts < out.first_ms:
            out.first_ms = ts
        last = previous.get(tp)
        if until_ms is not None and ((last is None and offset > 0) or (last is not None and offset != last + 1)):
            gapped[tp] = True
            for waiting in pending.pop(tp, set()):
                out.unknown[waiting] = "the row in force then may have been removed by compaction"
        previous[tp] = offset
        if until_ms is not None and ts > until_ms:
            pending.pop(tp, None)  # rows before this one are settled: nothing between was removed
            if row_key not in out and row_key not in out.unknown and row_key not in later_only:
                later_only[row_key] = gapped.get(tp, False)
            continue
        out.unknown.pop(row_key, None)
        pending.setdefault(tp, set()).add(row_key)
        if value is None:
            out.pop(row_key, None)
            continue
        try:
            out[row_key] = codec.decode(value).value
        except CodecError as exc:
            raise ConnectorError(f"{topic} row of {row_key[1]}: cannot decode: {exc}") from exc
    for row_key, gap in later_only.items():
        if row_key not in out and row_key not in out.unknown:
            out.unknown[row_key] = ("superseded since and removed by compaction" if gap
                                    else "not yet published then")
    for row_key in out.unknown:
        out.pop(row_key, None)
    return out


def published_from_kafka(bootstrap: Target, names: TopicNames, tables: Iterable[str] = TABLES,
                         until_ms: int | None = None) -> Published:
    """The published national rows: latest per (table, province), at or before `until_ms` if given."""
    consumer = make_consumer(bootstrap, client_id="cshub-auditor-tables")
    try:
        def records() -> Iterator[PublishedRecord]:
            for table in tables:
                tps = partitions_of(consumer, names.national(table), wait_s=2.0, missing_ok=True)
                for tp in tps:  # one partition at a time: each in offset order
                    for rec in read_to_end(consumer, [tp]):
                        yield rec.topic, rec.partition, rec.offset, rec.key, rec.value, rec.timestamp
        return _latest_rows(records(), names, until_ms)
    finally:
        consumer.close()


def published_from_archive(folder: Path, names: TopicNames, tables: Iterable[str] = TABLES,
                           until_ms: int | None = None) -> Published:
    """The published national rows as archived in an export folder."""
    manifest = Manifest.load(folder)
    wanted = {names.national(t) for t in tables}

    def records() -> Iterator[PublishedRecord]:
        for part in manifest.partitions:
            if part.topic in wanted:
                for entry in part.files:
                    for offset, ts, key, value, _headers in read_file(folder / entry.path):
                        yield part.topic, part.partition, offset, key, value, ts
    return _latest_rows(records(), names, until_ms)


# ---- comparison --------------------------------------------------------------------------------------


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested row fields as dotted paths; list items named by their `source` or `code` when they have one."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            name = item.get("source") or item.get("code") if isinstance(item, dict) else None
            out.update(_flat(item, f"{prefix}[{name or i}]"))
        return out
    return {prefix: value}


def _normalised(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """A replayed row as a published one would decode: through the same Avro encoding (core.encode_row)."""
    return codec.decode(encode_row(table, row)).value


def compare_row(table: str, province: str, published: dict[str, Any] | None,
                replayed: dict[str, Any] | None) -> list[Difference]:
    if published is None:
        return [Difference(table, province, "(row)", None, "a row")]
    if replayed is None:
        return [Difference(table, province, "(row)", "a row", None)]
    pub = _flat(row_values(published))
    rep = _flat(row_values(_normalised(table, replayed)))
    return [Difference(table, province, name, pub.get(name), rep.get(name))
            for name in sorted(set(pub) | set(rep)) if pub.get(name) != rep.get(name)]


def comparability(hub: Hub, published: Published, stats: ReplayStats, until_ms: int,
                  tables: Iterable[str] = TABLES, settle_ms: int = SETTLE_MS) -> dict[RowKey, str]:
    """Rows that cannot be compared at `until_ms`, and why (see the module docstring); never differences."""
    tables = list(tables)
    out = {k: v for k, v in published.unknown.items() if k[0] in tables}
    replayed_keys = {k for k in hub.rows(tables=tuple(t for t in tables if t in REPORT_TABLES))}
    if "obligations" in tables:
        replayed_keys |= {("obligations", p) for p in (*hub.config.provinces, NATIONAL_CODE)}
    for key in replayed_keys:
        if key not in published and key not in out:
            out[key] = "not yet published then"
    settling = sorted(p for p, ms in stats.latest_ms.items() if until_ms - settle_ms < ms <= until_ms)
    for table in tables:
        for province in (*settling, NATIONAL_CODE) if settling else ():
            out.setdefault((table, province), f"inputs of the {settle_ms // 1000} s before then may not be"
                                              " published yet")
    return out


def compare(hub: Hub, published: dict[RowKey, dict[str, Any]], tables: Iterable[str] = TABLES,
            skip: Iterable[RowKey] = ()) -> list[Difference]:
    """Every difference between the published rows and the replay, national row first, then by province.

    Rows in `skip` (not comparable, see `comparability`) are left out."""
    tables = list(tables)
    skipped = set(skip)
    diffs: list[Difference] = []
    report_tables = tuple(t for t in tables if t in REPORT_TABLES)
    replayed = hub.rows(tables=report_tables) if report_tables else {}
    for key in sorted(set(replayed) | {k for k in published if k[0] in report_tables}, key=_order):
        if key not in skipped:
            diffs += compare_row(key[0], key[1], published.get(key), replayed.get(key))
    if "obligations" in tables:
        cache: dict[int, dict[RowKey, dict[str, Any]]] = {}
        for key in sorted((k for k in published if k[0] == "obligations" and k not in skipped), key=_order):
            as_of = _epoch_ms(published[key]["as_of"])
            if as_of not in cache:
                view = copy.copy(hub)
                view.received = {k: ts for k, ts in hub.received.items() if ts <= as_of}
                cache[as_of] = obligation_rows(view, as_of)[0]
            diffs += compare_row("obligations", key[1], published[key], cache[as_of].get(key))
    return diffs


def _epoch_ms(value: Any) -> int:
    """A timestamp-millis field as epoch ms (fastavro gives an aware datetime)."""
    if isinstance(value, dt.datetime):
        return round(value.timestamp() * 1000)
    return int(value)


def _order(key: RowKey) -> tuple[int, str, int, str]:
    table, province = key
    return (TABLES.index(table) if table in TABLES else len(TABLES), table, province != NATIONAL_CODE, province)


# ---- export ------------------------------------------------------------------------------------------


def export(bootstrap: Target, names: TopicNames, folder: Path, *, max_records_per_file: int = 500_000,
           public_keys: Path | None = None) -> Manifest:
    """Write every hub topic under the root to Avro container files plus `manifest.json` (streaming).

    Everything an auditor needs without Kafka: the inputs with their signature headers, the transparency log's
    entries, checkpoints and receipts (read committed: the log is written in transactions), the public-keys file
    (`public_keys`, copied as `public-keys.json`) and the consistency proofs between the published checkpoints
    (`proofs.json`, `connectors.evidence.checkpoint_proofs`).
    """
    from connectors.archive import MANIFEST, PROOFS, PUBLIC_KEYS, PartitionEntry, file_sha256, now_iso, write_partition
    from connectors.evidence import write_proofs

    folder.mkdir(parents=True, exist_ok=True)
    if (folder / MANIFEST).exists():
        raise ConnectorError(f"{folder} already holds an archive (manifest.json); export into an empty folder")
    load_schema_history(bootstrap, names.schemas)
    consumer = make_consumer(bootstrap, client_id="cshub-auditor-export", isolation_level="read_committed",
                             **FAST_FETCH)
    try:
        topics = sorted(t for t in consumer.topics() if t.startswith(f"{names.root}."))
        entries: list[PartitionEntry] = []
        for topic in topics:
            for tp in partitions_of(consumer, topic):
                begin = consumer.beginning_offsets([tp])[tp]
                end = consumer.end_offsets([tp])[tp]
                entry = PartitionEntry(topic, tp.partition, begin, end)
                entry.files = list(write_partition(folder, topic, tp.partition, read_to_end(consumer, [tp]),
                                                   max_records_per_file))
                entry.records = sum(f.records for f in entry.files)
                entries.append(entry)
    finally:
        consumer.close()
    manifest = Manifest(names.root, now_iso(), str(bootstrap), entries)
    if public_keys is not None and public_keys.exists():
        shutil.copyfile(public_keys, folder / PUBLIC_KEYS)
        manifest.evidence[PUBLIC_KEYS] = file_sha256(folder / PUBLIC_KEYS)
    if write_proofs(folder, names, entries):
        manifest.evidence[PROOFS] = file_sha256(folder / PROOFS)
    (folder / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    return manifest
