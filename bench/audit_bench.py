"""Auditor replay throughput, CPU per record and peak memory at two sizes (memory must stay flat).

Starts its own Kafka broker (LocalCluster on a free port from --port, data in a /tmp folder) and stops it
at the end. It produces facility/funding/policy reports of all 31 provinces (a fixed set of report ids,
each reported again and again as corrections, with 10 % exact duplicates and some withdrawals) to the 93
inbound topics up to the first size, measures, then produces more up to the next size, and so on. For
each size, from the same topics in the same run:

- the load generator's own rate (2 processes; it runs before the replays, never during them);
- raw consumption of every inbound partition by the replay's own reader (`connectors.bulk_read`, one
  process, nothing decoded): the broker/client ceiling the replay can approach;
- `auditor.replay_kafka` with 1 and with 2 worker processes: decode, validate (`core.decide`) and fold
  (`core.Hub.apply`), merge, rows. Reports/s = input records / wall time of the whole replay; CPU µs per
  record = user + system CPU of the replay's processes / records; peak RSS per process (ru_maxrss).

Then the growth of peak RSS from the first size to the last (flat: <= 10 %). The load average is printed
before and after each figure, with a warning when the machine is busy (compare ratios within one run).

Usage: .venv/bin/python -m bench.audit_bench [--sizes 1000000 4000000] [--keys 100000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.machine import busy_warning, cpu_seconds, load_line
from connectors import auditor
from connectors.admin import ensure_topics
from connectors.bulk_read import read_partitions
from deploy.local.broker import LocalCluster, free_port_pair
from schemas import codec, reference, samples
from schemas.kafka_config import aiokafka_config
from schemas.topics import KINDS, TopicNames, TopicPlan


class _BatchSink:
    """The generator's send path: aiokafka record batches per topic (about 1 µs a record, so the generator's
    cost is the Avro encoding it shares with the hub, not the client)."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self.open: dict[str, Any] = {}
        self.deliveries: list[Any] = []

    async def send(self, topic: str, value: bytes) -> None:
        batch = self.open.get(topic)
        if batch is None:
            batch = self.open[topic] = self.producer.create_batch()
        if batch.append(key=None, value=value, timestamp=None) is None:
            await self.flush_topic(topic)
            batch = self.open[topic] = self.producer.create_batch()
            batch.append(key=None, value=value, timestamp=None)

    async def flush_topic(self, topic: str) -> None:
        batch = self.open.pop(topic, None)
        if batch is not None and batch.record_count():
            self.deliveries.append(await self.producer.send_batch(batch, topic, partition=0))

    async def close(self) -> None:
        for topic in list(self.open):
            await self.flush_topic(topic)
        await asyncio.gather(*self.deliveries)


def _produce_one(args: tuple[str, str, list[str], int, int, int, int]) -> int:
    """One producer process: report numbers [start, stop) of each of its provinces over `keys` report ids."""
    return asyncio.run(_produce(*args))


async def _produce(bootstrap: str, root: str, provinces: list[str], start: int, stop: int, keys: int,
                   seed: int) -> int:
    from aiokafka import AIOKafkaProducer

    names = TopicNames(root)
    rng = random.Random(seed * 1_000_003 + start)
    producer = AIOKafkaProducer(**aiokafka_config(bootstrap, client_id="cshub-bench"), acks=1,
                                max_batch_size=1024 * 1024,
                                max_request_size=8 * 1024 * 1024)
    await producer.start()
    sink = _BatchSink(producer)
    per_province_keys = max(1, keys // len(reference.provinces()))
    sent = 0
    for province in provinces:
        county = province[:2] + "0102"
        ftopic, mtopic, ptopic = (names.inbound(province, k) for k in ("facility", "funding", "policy"))
        last = b""
        for n in range(start, stop):
            key_no = n % per_province_keys
            revision = n // per_province_keys + 1
            roll = rng.random()
            if roll < 0.10 and last:
                await sink.send(ftopic, last)  # a duplicate of the previous record
            elif roll < 0.80:
                rec = samples.facility(report_id=f"F{province}{key_no:06d}", province=province, revision=revision,
                                       county_code=county, community_code=f"{county}{key_no:06d}",
                                       households=300 + key_no % 3000, floor_area_m2=Decimal(100 + key_no % 900),
                                       status=("PLANNED", "COMPLETED", "OPERATING")[revision % 3],
                                       withdrawn=(key_no % 50 == 0 and revision % 4 == 0),
                                       area_type="URBAN" if key_no % 3 else "RURAL")
                last = codec.encode("FacilityReport", rec)
                await sink.send(ftopic, last)
            elif roll < 0.98:
                rec = samples.funding(report_id=f"M{province}{key_no:06d}", province=province, revision=revision,
                                      allocated_yuan=Decimal(f"{key_no * 1000}.{revision % 100:02d}"),
                                      disbursed_yuan=Decimal(f"{key_no * 500}.00"))
                await sink.send(mtopic, codec.encode("FundingReport", rec))
            else:
                rec = samples.policy(report_id=f"P{province}", province=province, revision=n + 1)
                await sink.send(ptopic, codec.encode("PolicyReport", rec))
            sent += 1
    try:
        await asyncio.wait_for(sink.close(), 600)
    finally:
        await producer.stop()
    return sent


def produce(bootstrap: str, names: TopicNames, start: int, stop: int, keys: int) -> int:
    """Records `start` to `stop` (of all provinces together) from 2 processes; how many were sent."""
    provinces = sorted(reference.provinces())
    per = len(provinces)
    groups = [provinces[i::2] for i in range(2)]
    jobs = [(bootstrap, names.root, g, start // per, stop // per, keys, i) for i, g in enumerate(groups)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        return sum(pool.map(_produce_one, jobs))


def inbound_partitions(names: TopicNames) -> list[tuple[str, int]]:
    return [(names.inbound(p, k), 0) for p in sorted(reference.provinces()) for k in KINDS]


def raw_consume(bootstrap: str, names: TopicNames) -> tuple[int, float, float]:
    """(records, wall s, CPU s) of reading every inbound partition with the replay's reader, no decoding."""
    cpu, started = cpu_seconds(), time.perf_counter()
    count = sum(1 for _ in read_partitions(bootstrap, inbound_partitions(names), client_id="cshub-bench-raw"))
    return count, time.perf_counter() - started, cpu_seconds() - cpu


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _replay_in_child(conn: Any, bootstrap: str, root: str, workers: int) -> None:
    """Run one replay in a fresh process so its peak RSS and CPU are its own and its workers'."""
    started = time.perf_counter()
    _hub, stats = auditor.replay_kafka(bootstrap, TopicNames(root), workers=workers, show_progress=False)
    elapsed = time.perf_counter() - started
    peak = max(_maxrss_mb(resource.RUSAGE_SELF), _maxrss_mb(resource.RUSAGE_CHILDREN))
    cpu = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)
    conn.send((stats.records, elapsed, peak, cpu))


def replay(bootstrap: str, names: TopicNames, workers: int) -> tuple[int, float, float, float]:
    """(records, wall s, peak RSS MB per process, CPU s of all its processes) of one replay."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_replay_in_child, args=(child, bootstrap, names.root, workers))
    proc.start()
    if not parent.poll(3600):
        proc.kill()
        raise SystemExit("replay did not finish within an hour")
    result: tuple[int, float, float, float] = parent.recv()
    proc.join(timeout=60)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--keys", type=int, default=100_000, help="distinct report ids (the fold's state)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--port", type=int, default=25092, help="first port to try for the broker (and the next)")
    args = parser.parse_args()

    print(load_line("before"), flush=True)
    print(busy_warning() or "the machine is quiet enough", flush=True)
    home = Path(tempfile.mkdtemp(prefix="cshub-audit-bench-"))
    cluster = LocalCluster(home, base_port=free_port_pair(args.port, args.port + 18), heap="1g", secure=False)
    bootstrap = cluster.start()
    print(f"broker {bootstrap} (data in {home})", flush=True)
    names = TopicNames("auditbench")
    ensure_topics(bootstrap, TopicPlan(names, tuple(sorted(reference.provinces())), partitions=1).hub_specs(tables=()))
    peaks: dict[int, dict[int, float]] = {}
    produced = 0
    try:
        for size in sorted(args.sizes):
            started = time.perf_counter()
            step = produce(bootstrap, names, produced, size, args.keys)
            gen_s = time.perf_counter() - started
            produced += step
            print(f"\n== {produced:,} reports over {args.keys:,} report ids, 93 inbound topics", flush=True)
            print(f"load generator (2 processes; runs before the replays, never during them): {step:,} records"
                  f" in {gen_s:.0f} s = {step / gen_s:,.0f} records/s", flush=True)
            raw = [raw_consume(bootstrap, names) for _ in range(args.repeat)]
            raw_rate = statistics.median(n / s for n, s, _ in raw)
            raw_cpu = statistics.median(c / n * 1e6 for n, _, c in raw)
            print(f"raw read (bulk_read, 1 process, no decoding): {raw_rate:,.0f} records/s,"
                  f" {raw_cpu:.1f} µs CPU/record; {load_line('after it')}", flush=True)
            for workers in args.workers:
                runs = [replay(bootstrap, names, workers) for _ in range(args.repeat)]
                rate = statistics.median(n / s for n, s, _, _ in runs)
                peak = statistics.median(p for _, _, p, _ in runs)
                cpu_us = statistics.median(c / n * 1e6 for n, _, _, c in runs)
                peaks.setdefault(workers, {})[size] = peak
                print(f"audit replay, {workers} process(es): {rate:,.0f} reports/s ({rate / raw_rate:.2f}x raw read),"
                      f" {cpu_us:.1f} µs CPU/record, peak RSS {peak:,.0f} MB per process"
                      f" [runs: {', '.join(f'{n / s:,.0f}' for n, s, _, _ in runs)}]; {load_line('after it')}",
                      flush=True)
        if len(args.sizes) > 1:
            first, last = min(args.sizes), max(args.sizes)
            print()
            for workers, by_size in peaks.items():
                growth = (by_size[last] / by_size[first] - 1) * 100
                print(f"peak RSS growth {first:,} -> {last:,} reports, {workers} process(es): {by_size[first]:,.0f}"
                      f" -> {by_size[last]:,.0f} MB ({growth:+.1f} %; flat means <= 10 %)", flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
        print(load_line("after"), flush=True)
        print(busy_warning() or "the machine was quiet enough at the end", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
