"""The faust-streaming app: wiring of validation, aggregation, the national stage, timers and views.

Built by `build_app(settings)`: nothing happens at import (faust itself is imported inside). The
jobs live in their own modules (streams/validation.py, aggregation.py, national.py, state.py,
views.py); this module only connects them to Faust. Why the tables stay exact under SIGKILLs,
restarts on an empty data folder, rebalances and produce failures is written down, window by
window, in docs/exactness.md. In short:

* at-least-once delivery with idempotent state (latest revision wins per report), not Faust's
  `exactly_once` (open upstream bugs);
* state is written changelog-first: the local store only ever holds what the broker has
  acknowledged (streams/state.py), so a rebuild from the changelog and a local restart agree;
* Faust commits input offsets only after flushing the aiokafka producer, and every record the
  worker produces goes straight to that producer (no Faust ProducerBuffer, whose flush gives up
  after 0.1 s), so a committed offset covers only inputs whose effects the broker holds;
* a send that fails for good ends the process (exit 70) before any later commit;
* on revocation nothing more is published for the old assignment: the running batch finishes
  (Faust waits for it), timers are held off by `publishing`, the producer is flushed, and the
  totals are rebuilt from the recovered table after the next assignment;
* the worker is not ready (`/health` 503) until Faust has recovered the state of its current
  assignment and the totals were rebuilt from it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from typing import Any

from core import HubConfig, obligation_rules
from core.signing import PublicKeysFile
from schemas import reference
from schemas.kafka_config import aiokafka_config, faust_broker_config
from schemas.topics import KINDS, TopicNames
from streams.aggregation import Aggregator
from streams.ingress import Ingress, decode_envelope
from streams.national import NationalStage
from streams.positions import IDLE_S, InputPositions, split_stored
from streams.records import Record
from streams.settings import WorkerSettings
from streams.state import ChangelogState
from streams.validation import Validator
from streams.views import add_views

log = logging.getLogger(__name__)
EXIT_PRODUCE_FAILED = 70
EXIT_AGENT_CRASHED = 71
ENVELOPES_PER_BATCH = 64  # one envelope holds up to batch_max reports: Faust's cost is paid per envelope
ENVELOPE_WAIT_S = 0.005  # envelopes come already batched: wait little for more
STREAM_BUFFER_ENVELOPES = 2 * ENVELOPES_PER_BATCH
STALL_S = 10.0  # a held partition with unread data out of Faust's active set this long is put back
INGRESS_FETCH_MAX_BYTES = 8 * 1024 * 1024  # what the ingress may hold fetched at once over 93 inbound partitions:
# under a backlog aiokafka fills every partition up to max_partition_fetch_bytes (1 MiB): memory bounded, not lag-sized


def shorten_fetch_wait(app: Any, wait_ms: int) -> None:
    """Faust hard-codes `fetch_max_wait_ms=1500` for its consumer (faust transport/drivers/aiokafka.py).

    A partition with unread data is left out of the fetch already in flight, so at a trickle an
    envelope could wait up to 1.5 s. aiokafka's fetcher reads the attribute per request: set it.
    """
    try:
        fetcher = app.consumer._thread._ensure_consumer()._fetcher
    except AttributeError:  # not started yet, or another Faust version: say so, keep Faust's wait
        log.warning("could not shorten the Faust consumer's fetch wait (Faust internals changed?)")
        return
    fetcher._fetch_max_wait_ms = wait_ms


def signature_checker(settings: WorkerSettings) -> PublicKeysFile | None:
    """The public-keys file the validator checks submission signatures against (re-read when it changes), or
    None when signatures are not required. A missing or broken file stops the worker here, with what to do."""
    if not settings.require_signatures:
        return None
    return PublicKeysFile(settings.public_keys_path, on_error=lambda exc: log.error("%s; keeping the keys read"
                                                                                     " before", exc))


def build_app(settings: WorkerSettings) -> Any:
    """The Faust app with its agents, timers and web views. Importing faust happens here, not at import."""
    import faust
    from faust.exceptions import ConsumerNotStarted, NotReady

    names = TopicNames(settings.topic_root)
    provinces = list(reference.provinces(settings.provinces_file))
    config = HubConfig(provinces=tuple(provinces), policy_items=tuple(reference.policy_items()))
    rules = obligation_rules(reference.obligations_csv(settings.obligations_file))

    # Any: we reach into Faust internals on purpose (its aiokafka producer and consumer state, each with a
    # reason where it is used); Faust's own types do not declare them.
    app: Any = faust.App(
        settings.app_id,
        **faust_broker_config(settings.kafka),
        store="rocksdb://" if settings.store == "rocksdb" else "memory://",
        datadir=str(settings.data_dir),
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_enabled=True,
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval_s,
        broker_commit_every=settings.batch_max * 4,
        stream_recovery_delay=0.2,
        stream_buffer_maxsize=STREAM_BUFFER_ENVELOPES,  # envelopes, each up to batch_max reports: bounded memory
        broker_max_poll_records=settings.batch_max,
        producer_acks=-1,  # every produced record on all in-sync replicas (min ISR 2 in a cluster)
        producer_linger_ms=1,  # envelopes and rows: validated records and state go as explicit batches
        producer_max_batch_size=256 * 1024,
        consumer_max_fetch_size=4 * 1024 * 1024,
        # A topic missing from the metadata at a rebalance (just created, broker just started) is left
        # out of the assignment until the next metadata refresh rebalances: 30 s, not aiokafka's 5 min.
        consumer_metadata_max_age_ms=30_000,
        consumer_group_instance_id=f"{settings.app_id}-{settings.instance_id}",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=1.0,
    )
    validator = Validator(names, provinces, settings.partitions, config, signature_checker(settings))
    aggregator = Aggregator(config, rules, names, settings.publish_interval_s, validator.partition_of)
    stage = NationalStage(config, names, aggregator.note_records)
    crashed: list[str] = []

    raw: Any = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    state_table = app.Table("hub-state", partitions=settings.partitions, schema=raw, key_type=bytes,
                            value_type=bytes, recovery_buffer_size=10_000)
    parts_table = app.Table("national-parts", partitions=1, schema=raw, key_type=bytes, value_type=bytes)
    inbound_topics = [names.inbound(p, k) for p in provinces for k in KINDS]
    envelopes = app.topic(names.validated_batches, key_type=bytes, value_type=bytes, key_serializer="raw",
                          value_serializer="raw", partitions=settings.partitions)
    parts_topic = app.topic(names.national_parts, key_type=bytes, value_type=bytes, key_serializer="raw",
                            value_serializer="raw", partitions=1)

    def producer() -> Any:
        """aiokafka's producer inside Faust: the one Faust flushes before every commit of input offsets."""
        return app.producer._ensure_producer()

    def produce_failed(exc: BaseException) -> None:
        """A produced record failed even after aiokafka's retries: stop hard, commit nothing more.

        Exiting here, before the next commit, means the failed record's input is consumed again
        after the restart; the record itself is re-derived from it.
        """
        log.critical("producing failed: %r; exiting so that no offset past it is committed", exc)
        os._exit(EXIT_PRODUCE_FAILED)

    def holds(tp: Any) -> bool:
        return tp in app.assignor.assigned_actives()

    state = ChangelogState(state_table, producer, holds, produce_failed)
    parts_state = ChangelogState(parts_table, producer, holds, produce_failed)
    envelope_positions = InputPositions("envelope")  # validated-batches offsets the state has folded
    parts_positions = InputPositions("parts record")  # national-parts offsets the stage's table has folded
    publishing = asyncio.Lock()  # one writer at a time: agents' batches, timers, and revocation
    assignment = {"current": False, "recovered": False}  # since the last revocation: assigned; recovered

    def on_sent(future: Any) -> None:
        if not future.cancelled() and future.exception() is not None:
            produce_failed(future.exception())

    async def send_all(records: list[Record], ts_ms: int | None = None) -> None:
        """Hand records to aiokafka without waiting for the broker: Faust flushes before it commits offsets."""
        p = producer()
        for topic, key, value, partition in records:
            future = await p.send(topic, value, key=key, partition=partition, timestamp_ms=ts_ms)
            future.add_done_callback(on_sent)

    async def send_acknowledged(topic: str, partition: int, items: list[tuple[bytes, bytes]]) -> None:
        """Send (key, value) records to one partition as record batches and wait until the broker has them all."""
        if not items:
            return
        p = producer()
        futures = []
        batch = p.create_batch()
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                futures.append(await p.send_batch(batch, topic, partition=partition))
                batch = p.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        futures.append(await p.send_batch(batch, topic, partition=partition))
        try:
            await asyncio.gather(*futures)
        except Exception as exc:
            produce_failed(exc)
            raise

    def recovered() -> bool:
        """Faust has recovered the tables of the current assignment (latched until the next rebalance).

        Seen either as flow control active outside recovery (it resumes only at the end of the current
        generation's recovery, faust tables/recovery.py `_resume_streams`; `recovery.completed` is set
        once and never cleared, so it says nothing about the current assignment), or as a batch
        delivered since the assignment (see `batch_delivered`). Latched because Faust suspends the
        flow at the very start of a revocation, before it waits for the running batch to finish:
        that batch must not wait for the flow, or the rebalance would wait for it forever.
        """
        if assignment["current"] and not assignment["recovered"] and app.flow_control.is_active() \
                and not app.in_recovery:
            assignment["recovered"] = True
        return assignment["current"] and assignment["recovered"]

    def batch_delivered() -> None:
        """A batch reached an agent: the conductor delivers only while the flow is active, and every
        event delivered before the last revocation was processed before our revocation handler ran
        (Faust waits for it), so a batch seen while an assignment is current proves its recovery."""
        if assignment["current"]:
            assignment["recovered"] = True

    async def until_recovered() -> None:
        waited = 0
        while not recovered():
            await asyncio.sleep(0.05)
            waited += 1
            if waited % 600 == 0:
                log.warning("still waiting for the state of the current assignment to be recovered (%d s)",
                            waited // 20)

    async def reset_positions(positions: InputPositions, stored: dict[tuple[str, int], int], topic: str) -> None:
        """The input positions of the held partitions of `topic` from the rebuilt state; a partition the state
        never folded from starts at the first offset still in its log."""
        held = [tp for tp in app.consumer.assignment() if tp.topic == topic]
        fresh = positions.reset(stored, held)
        if fresh:
            for tp, offset in (await app.consumer.earliest_offsets(*fresh)).items():
                positions.start_at(tp, offset)

    async def rebuild_if_needed() -> None:
        """Called holding `publishing`, only when `recovered()`: totals, parts and input positions from the
        recovered tables."""
        if aggregator.needs_rebuild:
            stored, entries = split_stored(state_table.items())
            await reset_positions(envelope_positions, stored, names.validated_batches)
            await send_all(aggregator.rebuild((k.decode(), v) for k, v in entries))
            gc.freeze()  # the rebuilt state lives as long as the assignment: keep it out of every collection
        if stage.active and stage.needs_rebuild:
            stored, entries = split_stored(parts_table.items())
            await reset_positions(parts_positions, stored, names.national_parts)
            await send_all(stage.rebuild(entries))

    async def admit(positions: InputPositions, events: list[Any]) -> list[Any]:
        """The events of a batch to fold: held, at their partition's input position (streams/positions.py).
        Where Faust delivered an event above the position, the consumer goes back to the position."""
        held = app.consumer.assignment()
        admitted, gaps = positions.admit((e.message.tp, e.message.offset, e) for e in events
                                         if e.message.tp in held)  # taken before a revocation: skip
        for e in events:
            seen[e.message.tp] = e.message.offset + 1
        for tp, (offset, came) in gaps.items():
            if positions.should_seek(tp, offset):
                await seek_back(positions, tp, offset, f"Faust delivered {positions.what} {came} of {tp[0]}:{tp[1]}, "
                                f"but the next to fold is {offset} (Faust skipped the ones between)")
        return admitted

    async def seek_back(positions: InputPositions, tp: Any, offset: int, why: str) -> None:
        """The consumer reads `tp` again from `offset`, the position of the state (or from the log's start,
        loudly, if retention deleted what was not folded yet)."""
        earliest = (await app.consumer.earliest_offsets(tp)).get(tp, 0)
        if earliest > offset:
            log.error("%ss %d..%d of %s:%d were deleted by retention before they were folded; going on from %d",
                      positions.what, offset, earliest - 1, tp[0], tp[1], earliest)
            positions.skip_to(tp, earliest)
            offset = earliest
        log.warning("%s: seeking back to %d", why, offset)
        try:
            await app.consumer.seek(tp, offset)
        except Exception as exc:  # not assigned any more (a rebalance began): the next assignment seeks anyway
            log.warning("could not seek %s back to %d: %r", tp, offset, exc)

    async def under_lock_when_recovered() -> None:
        """Acquire `publishing` at a moment the state is recovered (never wait for recovery holding it)."""
        while True:
            await until_recovered()
            await publishing.acquire()
            if recovered():
                return
            publishing.release()

    def crash(agent: str, exc: BaseException) -> None:
        """An agent died: say so on /health, then exit non-zero (restart policies and tests see it)."""
        log.critical("agent %s crashed: %r; exiting", agent, exc, exc_info=exc)
        crashed.append(f"{agent}: {exc!r}")
        asyncio.get_running_loop().call_later(1.0, os._exit, EXIT_AGENT_CRASHED)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        """Publish nothing more for the old assignment; what was sent reaches the broker before it moves."""
        async with publishing:
            assignment["current"] = assignment["recovered"] = False
            aggregator.revoke()
            stage.active = False
            await producer().flush()

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        aggregator.assign({tp.partition for tp in assigned if tp.topic == names.validated_batches})
        shorten_fetch_wait(app, settings.fetch_wait_ms)
        stage.active = any(tp.topic == names.national_parts for tp in assigned)
        stage.needs_rebuild = stage.active
        assignment["recovered"] = False
        assignment["current"] = True

    ingress = Ingress(None, inbound_topics, names.validated_batches, validator, producer, produce_failed,
                      max_records=settings.batch_max, commit_interval_s=settings.commit_interval_s)

    @app.task
    async def run_ingress() -> None:
        """Validation off Faust's per-message path (streams/ingress.py), in its own consumer group."""
        from aiokafka import AIOKafkaConsumer
        from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

        ingress.consumer = AIOKafkaConsumer(**aiokafka_config(
            settings.kafka, client_id=f"{settings.app_id}-ingress", group_id=f"{settings.app_id}-ingress",
            group_instance_id=f"{settings.app_id}-ingress-{settings.instance_id}", enable_auto_commit=False,
            auto_offset_reset="earliest", max_poll_records=settings.batch_max,
            fetch_max_wait_ms=settings.ingress_fetch_wait_ms,
            max_partition_fetch_bytes=1024 * 1024, fetch_max_bytes=INGRESS_FETCH_MAX_BYTES,
            partition_assignment_strategy=(RoundRobinPartitionAssignor,),
            session_timeout_ms=int(settings.session_timeout_s * 1000), heartbeat_interval_ms=1000,
            metadata_max_age_ms=30_000))
        try:
            await ingress.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            crash("ingress", exc)
            raise

    @app.agent(envelopes, name="aggregate")
    async def aggregate(stream: Any) -> None:
        try:
            async for events in stream.take_events(ENVELOPES_PER_BATCH, ENVELOPE_WAIT_S):
                batch_delivered()
                await under_lock_when_recovered()
                try:
                    await rebuild_if_needed()
                    admitted = await admit(envelope_positions, events)
                    entries = [entry for e in admitted for entry in decode_envelope(e.message.value)]
                    result = aggregator.fold_entries(entries, time.monotonic())
                    for partition, key, value in envelope_positions.writes({e.message.tp for e in admitted}):
                        result.writes.setdefault(partition, []).append((key, value))  # last: after the state
                    await send_acknowledged(names.verdicts, 0, result.verdicts)  # invariant V: before the state
                    for partition, writes in result.writes.items():
                        await state.write(partition, writes)
                    await send_all(result.records)
                finally:
                    publishing.release()
        except Exception as exc:
            crash("aggregate", exc)
            raise

    @app.agent(parts_topic, name="national")
    async def national(stream: Any) -> None:
        try:
            async for events in stream.take_events(settings.batch_max, settings.batch_within_s):
                batch_delivered()
                await under_lock_when_recovered()
                try:
                    await rebuild_if_needed()
                    messages = [e.message for e in await admit(parts_positions, events)]
                    if not messages:
                        continue
                    event_ms = max(round(m.timestamp * 1000) for m in messages)
                    writes, records = stage.fold([m.value for m in messages], event_ms)
                    writes += [(key, value) for _p, key, value in parts_positions.writes({m.tp for m in messages})]
                    await parts_state.write(0, writes)
                    await send_all(records)
                finally:
                    publishing.release()
        except Exception as exc:
            crash("national", exc)
            raise

    @app.timer(settings.deadline_interval_s)
    async def deadlines() -> None:
        if not recovered():
            return
        async with publishing:
            if recovered():
                try:
                    await rebuild_if_needed()
                    await send_all(aggregator.deadlines(int(time.time() * 1000)))
                except NotReady:  # the producer is stopping (shutdown): the next start republishes everything
                    return

    @app.task
    async def publish_pending_rows() -> None:
        """Rows changed since the last publish, every `publish_interval_s` once due (a task, not a timer:
        waiting for a batch to finish is normal here, not an overlapping timer worth a warning)."""
        while True:
            await asyncio.sleep(settings.publish_interval_s)
            if not recovered():
                continue
            async with publishing:
                now_s = time.monotonic()
                if recovered() and aggregator.publish_due(now_s):
                    try:
                        await rebuild_if_needed()
                        await send_all(aggregator.publish_rows(now_s))
                    except NotReady:  # the producer is not running (stopping): the next start republishes everything
                        continue

    seen: dict[Any, int] = {}  # source partition (envelopes, parts) -> next offset its agent has taken
    sources = (names.validated_batches, names.national_parts)

    def source_partitions() -> dict[str, dict[str, Any]]:
        """Per source partition held (envelopes, parts): what its agent took, the high water, and Faust's view of it.

        A partition whose data is not fetched (not in Faust's active set, or paused or buffered after
        a rebalance: faust-streaming issue 629) shows here as `behind` with `active: false`.
        """
        consumer = app.consumer
        try:
            assigned = consumer.assignment()
            active = consumer._get_active_partitions()
            paused, buffered = consumer._paused_partitions, consumer._buffered_partitions
        except (AttributeError, ConsumerNotStarted):  # starting: nothing assigned yet
            return {}
        out = {}
        for tp in sorted(assigned):
            if tp.topic not in sources:
                continue
            highwater = consumer.highwater(tp)
            out[f"{tp.topic}:{tp.partition}"] = {"taken": seen.get(tp), "highwater": highwater,
                                      "active": tp in active, "paused": tp in paused, "buffered": tp in buffered}
        return out

    inactive_since: dict[Any, float] = {}

    @app.timer(2.0)
    async def watch_partitions() -> None:
        """Put back a held partition Faust left out of its fetches while it has data to read.

        Faust drops a partition from its active set when the stream buffer is under pressure and adds
        it back from a pressure-drop callback of the buffer; seen here once under heavy load after
        SIGKILLs, two of four partitions then stayed unread for good (like faust-streaming issue 629).
        Only when ready (not during a rebalance or recovery, when Faust pauses partitions on purpose).
        """
        if not recovered() or app.rebalancing:
            inactive_since.clear()
            return
        consumer = app.consumer
        try:
            assigned = consumer.assignment()
            active = consumer._get_active_partitions()
        except (AttributeError, ConsumerNotStarted):
            return
        now = time.monotonic()
        async with publishing:  # no batch half-way: its events are either folded or not taken yet
            rebuilt = {names.validated_batches: (envelope_positions, not aggregator.needs_rebuild),
                       names.national_parts: (parts_positions, stage.active and not stage.needs_rebuild)}
            for tp in assigned:
                positions, current = rebuilt.get(tp.topic, (None, False))
                if positions is None or not current:  # not a source, or its positions are of an old assignment
                    continue
                highwater = consumer.highwater(tp)
                offset = positions.idle_behind(tp, highwater, now)
                if offset is not None and positions.should_seek(tp, offset, now):
                    await seek_back(positions, tp, offset, f"{tp.topic}:{tp.partition} has data up to {highwater} and "
                                    f"the state is at {offset}, but nothing moved it (Faust skipped the last ones, "
                                    f"no event for {IDLE_S:.0f} s, or undid the last seek)")
        for tp in assigned:
            if tp.topic not in sources or tp in active:
                inactive_since.pop(tp, None)
                continue
            highwater = consumer.highwater(tp)
            if highwater is None or seen.get(tp, 0) >= highwater:
                continue
            since = inactive_since.setdefault(tp, now)
            if now - since >= STALL_S:
                log.warning("partition %s has unread data (taken %s, high water %s) but Faust has not fetched it "
                            "for %.0f s: resuming it (%s)", tp, seen.get(tp), highwater, now - since,
                            source_partitions().get(f"{tp.topic}:{tp.partition}"))
                consumer.resume_partitions({tp})
                inactive_since.pop(tp, None)

    def shown_rows() -> dict[tuple[str, str], dict[str, Any]]:
        """What this worker publishes: its provinces' rows, and the national rows while it runs the stage."""
        return {**aggregator.published.rows, **(stage.published.rows if stage.active else {})}

    def health() -> dict[str, Any]:
        ready = recovered() and aggregator.ready and not (stage.active and stage.needs_rebuild) and ingress.running
        status = "crashed" if crashed else "ok" if ready else "recovering" if assignment["current"] else "starting"
        return {
            "status": status, "ready": status == "ok", "crashed": crashed,
            "validated": validator.counts["validated"], "rejected": validator.counts["rejected"],
            "applied": aggregator.counts["applied"], "skipped": aggregator.counts["skipped"],
            "rebuilds": aggregator.counts["rebuilds"], "provinces": list(aggregator.held),
            "input_gaps": envelope_positions.gaps + parts_positions.gaps,  # times Faust skipped inputs (positions.py)
            "national_stage": stage.active, "parts": stage.counts["parts"],
            "state_writes_in_flight": state.in_flight + parts_state.in_flight,
            "source_partitions": source_partitions(),
            "ingress": {"running": ingress.running, "records": ingress.counts["records"],
                        "envelopes": ingress.counts["envelopes"]},
            "positions": {f"{t}:{p}": o for (t, p), o in sorted(aggregator.hub.positions.items())},
        }

    add_views(app, shown_rows, lambda: list(aggregator.recent), health)
    del run_ingress, aggregate, national, watch_partitions, deadlines, publish_pending_rows, on_assigned, on_revoked
    return app
