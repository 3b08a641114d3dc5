"""End-to-end throughput and latency of one `cshub worker`, against raw kafka-python consumption.

Starts its own Kafka broker (LocalCluster on a free port, data in a /tmp folder; or --bootstrap),
and for each phase a fresh topic root and a `cshub worker` subprocess (RocksDB store):

A. end to end: the worker is up; the bench publishes the whole stream (loadgen: all 31 provinces,
   duplicates, corrections, withdrawals) as fast as kafka-python can; throughput = input records /
   (first publish -> the worker has applied the last record). The stream is published by two forked
   aiokafka processes (record batches, ~1 µs a record) so the generator outruns the worker; its own
   rate is printed beside. Then raw kafka-python consumption of the same inbound topics, same run.
B. backlog: the stream is published first, then the worker starts (under cProfile with --profile);
   throughput = records / (first record applied -> last record applied): the worker alone.
C. latency at a steady offered load (--rate records/s for --seconds): for each record, publish time
   (its Kafka timestamp, kept on cshub.validated) -> the broker appended the first national row whose
   `offsets` cover it (the bench's national topics stamp LogAppendTime, and the rows are read after the
   run: no bench consumer competes with the worker while it is measured). p50 / p99. Run at --rate
   (2,000/s) and at --trickle (200/s). The load comes from a forked aiokafka process, paced in 5 ms ticks
   (its CPU per record is printed beside the worker's), and each record's way is split into hops by the
   timestamps of its envelope and its verdict: publish -> envelope sent (ingress), -> verdict sent
   (aggregation), -> national row appended (rows, national stage). --latency-profile cProfiles the
   worker at --rate.
D. overload: twice the stream offered at once; the worker's RSS sampled while it works off the lag.
S. signatures (--phases S, or --signatures): the stream signed by each province's Ed25519 key (headers, as
   `cshub publish` sends it), and the backlog phase run twice in this one run: the worker with
   CSHUB_REQUIRE_SIGNATURES=false (the check skipped), then =true (every record verified): records/s and CPU
   µs/record beside each other.
The load average is printed before and after, with a warning when the machine was busy.
Before the phases, a broker the bench started itself is warmed up (the stream published and read back
twice): a cold broker's JIT takes CPU the worker would lack.

Usage: .venv/bin/python -m bench.worker_bench [--reports 60000] [--rate 2000] [--seconds 20] [--profile]
       [--phases ABCDS] [--signatures] [--latency-profile FILE]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from kafka import KafkaConsumer, TopicPartition

from bench.machine import busy_warning, cpu_seconds, load_line
from connectors.admin import ensure_plan
from core import SCHEMA_OF_KIND
from deploy.local.broker import LocalCluster
from schemas import codec, reference
from schemas.settings import load_settings
from schemas.topics import KINDS, TABLES, Kind, TopicNames
from streams.loadgen import generate

ROOT = Path(__file__).resolve().parents[1]
PROVINCES = list(reference.provinces())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Worker:
    def __init__(self, bootstrap: str, root: str, tmp: Path, profile: Path | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        env = dict(os.environ, CSHUB_BOOTSTRAP=bootstrap, CSHUB_TOPIC_ROOT=root, CSHUB_APP_ID=f"{root}-w",
                   CSHUB_DATA_DIR=str(tmp / f"{root}-data"), CSHUB_WEB_PORT=str(self.port),
                   CSHUB_LOG_LEVEL=os.environ.get("BENCH_WORKER_LOG_LEVEL", "error"),
                   CSHUB_REQUIRE_SIGNATURES="false")  # phases A-D: an unsigned stream; S turns it on
        env.update(extra_env or {})
        if profile is not None:
            env["CSHUB_PROFILE"] = str(profile)
        self.log = (tmp / f"{root}.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "cshub.cli", "worker"], env=env, cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            return {}

    def wait(self, pred: Any, timeout_s: float, poll_s: float = 0.05) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if pred(self.health()):
                return time.monotonic()
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.proc.returncode}")
            time.sleep(poll_s)
        raise TimeoutError(f"worker did not get there in {timeout_s} s: {self.health()}")

    def cpu_s(self) -> float:
        """User + system CPU seconds the worker process has used so far (from /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def encoded(names: TopicNames, n_reports: int, seed: int) -> list[tuple[str, bytes, bytes]]:
    records = generate(n_reports, tuple(PROVINCES), tuple(reference.policy_items()), seed=seed)
    return [(names.inbound(r["province"], cast(Kind, k)), r["report_id"].encode(),
             codec.encode(SCHEMA_OF_KIND[cast(Kind, k)], r)) for k, r in records]


_BLAST: list[tuple[Any, ...]] = []  # what a forked generator process sends: (topic, key, value[, headers])


def _blast_part(bootstrap: str, start: int, step: int) -> None:
    """One generator process: every `step`-th record from `start`, as aiokafka record batches (~1 µs a record,
    against ~40 µs for kafka-python's batch build), so the generator outruns the worker it measures."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_batch_size=1024 * 1024)
        await producer.start()
        try:
            by_topic: dict[str, list[tuple[bytes, bytes, Any]]] = {}
            for topic, key, value, *headers in _BLAST[start::step]:
                by_topic.setdefault(topic, []).append((key, value, headers[0] if headers else []))
            futures = []
            for topic, items in by_topic.items():
                batch = producer.create_batch()
                for key, value, extra in items:
                    if batch.append(key=key, value=value, timestamp=None, headers=extra) is None:
                        futures.append(await producer.send_batch(batch, topic, partition=0))
                        batch = producer.create_batch()
                        batch.append(key=key, value=value, timestamp=None, headers=extra)
                futures.append(await producer.send_batch(batch, topic, partition=0))
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(run())


def _paced_part(bootstrap: str, rate: int, tick_s: float, cpu_out: Any) -> None:
    """The latency phase's generator, in its own process: `_BLAST` at `rate` records/s, the records due at each
    tick (5 ms) appended to one aiokafka record batch per topic, as a province system sending a steady stream
    would. Each record's CreateTime is the moment it was appended (latency starts there). Sending them one by
    one through kafka-python cost the harness most of a core at 2,000/s, which the worker then lacked."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
        await producer.start()
        try:
            for topic in {r[0] for r in _BLAST}:  # metadata first: no stall at the first send to each topic
                await producer.partitions_for(topic)
            futures: list[Any] = []
            t0, sent = time.monotonic(), 0
            while sent < len(_BLAST):
                due = min(len(_BLAST), int((time.monotonic() - t0) * rate) + 1)
                batches: dict[str, Any] = {}
                for topic, key, value, *_ in _BLAST[sent:due]:
                    batch = batches.get(topic) or batches.setdefault(topic, producer.create_batch())
                    batch.append(key=key, value=value, timestamp=None)
                for topic, batch in batches.items():
                    futures.append(await producer.send_batch(batch, topic, partition=0))
                sent = due
                if len(futures) > 1000:
                    await asyncio.gather(*futures)
                    futures = []
                await asyncio.sleep(max(0.0, t0 + sent / rate - time.monotonic(), tick_s / 2))
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(run())
    cpu_out.value = cpu_seconds()


def publish_paced(bootstrap: str, records: list[tuple[Any, ...]], rate: int, tick_s: float = 0.005) -> tuple[float,
                                                                                                               float]:
    """(seconds, generator CPU seconds) to publish `records` at `rate` from a forked paced generator."""
    import multiprocessing

    _BLAST[:] = records
    ctx = multiprocessing.get_context("fork")
    cpu = ctx.Value("d", 0.0)
    t0 = time.monotonic()
    proc = ctx.Process(target=_paced_part, args=(bootstrap, rate, tick_s, cpu))
    proc.start()
    proc.join(len(records) / rate + 120)
    if proc.exitcode != 0:
        raise RuntimeError(f"the paced generator failed: exit {proc.exitcode}")
    return time.monotonic() - t0, cpu.value


def publish(bootstrap: str, records: list[tuple[Any, ...]], processes: int = 2) -> float:
    """Seconds to publish every record (acknowledged) from `processes` forked generator processes."""
    import multiprocessing

    _BLAST[:] = records
    ctx = multiprocessing.get_context("fork")
    t0 = time.monotonic()
    procs = [ctx.Process(target=_blast_part, args=(bootstrap, i, processes)) for i in range(processes)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(300)
        if proc.exitcode != 0:
            raise RuntimeError(f"a generator process failed: exit {proc.exitcode}")
    return time.monotonic() - t0


def raw_consume(bootstrap: str, names: TopicNames, expected: int) -> float:
    """Seconds for kafka-python to read every inbound record (one consumer, all partitions)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=10_000,
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024)
    tps = [TopicPartition(names.inbound(p, k), 0) for p in PROVINCES for k in KINDS]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got = 0
    t0 = time.monotonic()
    while got < expected:
        for batch in consumer.poll(timeout_ms=1000).values():
            got += len(batch)
    elapsed = time.monotonic() - t0
    consumer.close()
    return elapsed


def warm_up(bootstrap: str, records: list[tuple[str, bytes, bytes]]) -> float:
    """Publish the stream to a throwaway root and read it back, twice, before any phase: a broker just started
    compiles its produce and fetch paths first (its JIT took 13 s of CPU in the first 50 s of a latency phase on
    a cold broker), which the worker measured then would lack. A long-running broker has done that long ago."""
    t0 = time.monotonic()
    for i in range(2):
        names = TopicNames(f"warm{i}{int(time.time())}")
        setup(bootstrap, names)
        publish(bootstrap, [(_retopic(t, names.root), k, v) for t, k, v in records])
        raw_consume(bootstrap, names, len(records))
    return time.monotonic() - t0


def setup(bootstrap: str, names: TopicNames, append_time: bool = False) -> None:
    """The phase's topics, from the plan the worker checks (its app id is `<root>-w`, see Worker).

    `append_time`: the national tables stamp each record with the broker's append time (LogAppendTime), the
    moment a row is there for every subscriber: the latency phase reads the rows after the run, no consumer
    of its own competing with the worker for the 2 cores while it measures."""
    settings = load_settings(bootstrap=bootstrap, topic_root=names.root, app_id=f"{names.root}-w")
    national = {names.national(t) for t in TABLES}
    specs = [replace(s, configs={**s.configs, "message.timestamp.type": "LogAppendTime"})
             if append_time and s.name in national else s for s in settings.topic_plan().specs()]
    ensure_plan(settings.kafka, specs)


def phase_end_to_end(bootstrap: str, tmp: Path, names: TopicNames,
                     records: list[tuple[str, bytes, bytes]]) -> dict[str, float]:
    setup(bootstrap, names)
    worker = Worker(bootstrap, names.root, tmp)
    try:
        worker.wait(lambda h: h.get("ready"), 90, 0.2)
        cpu0 = worker.cpu_s()
        t0 = time.monotonic()
        publish_s = publish(bootstrap, records)
        t1 = worker.wait(lambda h: h.get("applied", 0) >= len(records), 600)
        cpu1 = worker.cpu_s()
    finally:
        worker.stop()
    raw_s = raw_consume(bootstrap, names, len(records))
    return {"records": len(records), "e2e_s": t1 - t0, "publish_s": publish_s, "raw_s": raw_s, "cpu_s": cpu1 - cpu0}


def phase_backlog(bootstrap: str, tmp: Path, names: TopicNames, records: list[tuple[Any, ...]],
                  profile: Path | None, extra_env: dict[str, str] | None = None) -> dict[str, float]:
    setup(bootstrap, names)
    publish(bootstrap, records)
    worker = Worker(bootstrap, names.root, tmp, profile, extra_env)
    try:
        t0 = worker.wait(lambda h: h.get("validated", 0) + h.get("rejected", 0) > 0, 120, 0.01)
        cpu0 = worker.cpu_s()
        t1 = worker.wait(lambda h: h.get("applied", 0) >= len(records), 600, 0.05)
        cpu1 = worker.cpu_s()
        validated_at = worker.health().get("validated", 0)
    finally:
        worker.stop()
    return {"records": len(records), "backlog_s": t1 - t0, "validated": validated_at, "cpu_s": cpu1 - cpu0}


def phase_latency(bootstrap: str, tmp: Path, rate: int, seconds: float, seed: int,
                  profile: Path | None = None) -> dict[str, Any]:
    names = TopicNames(f"benchC{int(time.time())}")
    setup(bootstrap, names, append_time=True)
    records = encoded(names, int(rate * seconds / 1.6) + 1000, seed)[: int(rate * seconds)]
    worker = Worker(bootstrap, names.root, tmp, profile)
    try:
        worker.wait(lambda h: h.get("ready"), 90, 0.2)
        worker_cpu0 = worker.cpu_s()
        offered_s, generator_cpu_s = publish_paced(bootstrap, records, rate)
        worker_cpu_s = worker.cpu_s() - worker_cpu0
        worker.wait(lambda h: h.get("applied", 0) >= len(records), 120)
        time.sleep(1.0)
    finally:
        worker.stop()
    arrivals = national_rows(bootstrap, names)
    published = validated_publish_times(bootstrap, names)  # validated (topic, partition, offset, publish ms)
    by_tp: dict[tuple[str, int], tuple[list[int], list[float]]] = {}
    for arrival_ms, offsets in sorted(arrivals, key=lambda a: a[0]):
        for tp, pos in offsets.items():
            positions, times = by_tp.setdefault(tp, ([], []))
            if not positions or pos > positions[-1]:
                positions.append(pos)
                times.append(arrival_ms)
    latencies = []
    arrival_of: dict[tuple[str, int, int], float] = {}
    for topic, partition, offset, ts in published:
        positions, times = by_tp.get((topic, partition), ([], []))
        i = bisect.bisect_right(positions, offset)  # first position > offset covers the record
        if i < len(positions):
            latencies.append(times[i] - ts)
            arrival_of[(topic, partition, offset)] = times[i]
    latencies.sort()
    return {"offered_rate": len(records) / offered_s, "measured": len(latencies), "records": len(records),
            "generator_cpu_us": generator_cpu_s / len(records) * 1e6,
            "worker_cpu_us": worker_cpu_s / len(records) * 1e6,
            "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 0.99),
            "max_ms": latencies[-1], "hops": hop_latencies(bootstrap, names, arrival_of)}


def read_back(bootstrap: str, tps: list[TopicPartition]) -> Iterator[Any]:
    """Every record of `tps` from the start, until none came for 3 s (what a phase left on its topics)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000,
                             auto_offset_reset="earliest", max_poll_records=10_000)
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    try:
        yield from consumer
    finally:
        consumer.close()


def national_rows(bootstrap: str, names: TopicNames) -> list[tuple[float, dict[tuple[str, int], int]]]:
    """(broker append ms, offsets covered) of every national row (province code 000000) of the run, read after it:
    reading them live cost the harness a third of a core the worker then lacked."""
    tps = [TopicPartition(names.national(t), 0) for t in TABLES if t != "obligations"]
    out = []
    for rec in read_back(bootstrap, tps):
        if rec.key == b"000000":
            offsets = codec.decode(rec.value).value["offsets"]
            out.append((float(rec.timestamp), {(o["topic"], o["partition"]): o["offset"] for o in offsets}))
    return out


def percentile(values: list[float], q: float) -> float:
    """The q-quantile of sorted values (nearest rank)."""
    return values[max(0, int(len(values) * q) - 1)]


def hop_latencies(bootstrap: str, names: TopicNames,
                  arrival_of: dict[tuple[str, int, int], float]) -> dict[str, tuple[float, float]]:
    """(p50, p99) ms of each hop of a record's way, from the timestamps the records themselves carry: publish ->
    the ingress sent its envelope (the envelope's CreateTime) -> the aggregation sent its verdict (the verdict's
    CreateTime) -> the broker appended the national row that covers it. One clock: everything runs here."""
    from streams.ingress import decode_envelope

    tps = [TopicPartition(names.validated_batches, p) for p in range(4)] + [TopicPartition(names.verdicts, 0)]
    enveloped: dict[tuple[str, int, int], tuple[int, int, tuple[str, int, int]]] = {}
    verdict_ms: dict[tuple[str, int, int], int] = {}
    for rec in read_back(bootstrap, tps):
        if rec.topic == names.verdicts:
            v = json.loads(rec.value)
            verdict_ms[(v["topic"], v["partition"], v["offset"])] = rec.timestamp
            continue
        for entry in decode_envelope(rec.value):
            if entry[0] is not None:  # accepted: (publish ms, envelope ms, validated coordinates)
                enveloped[(entry[10], entry[11], entry[12])] = (entry[6], rec.timestamp, (entry[7], entry[8], entry[9]))
    hops: dict[str, list[float]] = {"publish -> envelope sent": [], "envelope -> verdict sent": [],
                                    "verdict -> national row appended": []}
    for source, (published_ms, envelope_ms, validated) in enveloped.items():
        verdict = verdict_ms.get(source)
        arrival = arrival_of.get(validated)
        if verdict is None or arrival is None:
            continue
        hops["publish -> envelope sent"].append(envelope_ms - published_ms)
        hops["envelope -> verdict sent"].append(verdict - envelope_ms)
        hops["verdict -> national row appended"].append(arrival - verdict)
    return {name: (statistics.median(v), percentile(sorted(v), 0.99)) for name, v in hops.items() if v}


def validated_publish_times(bootstrap: str, names: TopicNames) -> list[tuple[str, int, int, int]]:
    """(topic, partition, offset, publish ms) of every validated record: the worker keeps the inbound timestamp."""
    tps = [TopicPartition(names.validated(k), p) for k in KINDS for p in range(4)]
    return [(rec.topic, rec.partition, rec.offset, rec.timestamp) for rec in read_back(bootstrap, tps)]


def phase_signatures(bootstrap: str, tmp: Path, records: list[tuple[str, bytes, bytes]]) -> dict[str, Any]:
    """The backlog phase with signature checks off, then on, over the same signed stream (one key per province)."""
    from connectors.signing_keys import ensure_signing_keys, key_path
    from core.signing import SigningKey

    folder = tmp / "keys"
    public = folder / "public-keys.json"
    ensure_signing_keys(folder, [f"province-{p}" for p in PROVINCES], public, int(time.time() * 1000))
    signers = {p: SigningKey.load(key_path(folder, f"province-{p}")) for p in PROVINCES}
    started = time.process_time()
    stamp = int(time.time())
    out: dict[str, Any] = {}
    for label, required in (("off", "false"), ("on", "true")):
        names = TopicNames(f"benchS{label}{stamp}")
        signed = []
        for topic, key, value in records:
            moved = _retopic(topic, names.root)
            signed.append((moved, key, value, signers[moved.split(".")[2]].sign(moved, key, value)))
        out.setdefault("sign_us", (time.process_time() - started) / len(records) * 1e6)
        out[label] = phase_backlog(bootstrap, tmp, names, signed, None,
                                   {"CSHUB_REQUIRE_SIGNATURES": required, "CSHUB_PUBLIC_KEYS_FILE": str(public)})
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def phase_overload(bootstrap: str, tmp: Path, records: list[tuple[str, bytes, bytes]]) -> dict[str, Any]:
    """Offer more than the worker can take (the whole stream at once, twice): the lag grows, memory must not.

    Samples the worker's RSS every 0.5 s while it works through the backlog; compares the peak of the
    first and the second half of the run."""
    names = TopicNames(f"benchD{int(time.time())}")
    setup(bootstrap, names)
    worker = Worker(bootstrap, names.root, tmp)
    samples: list[tuple[float, float, int]] = []
    try:
        worker.wait(lambda h: h.get("ready"), 90, 0.2)
        moved = [(_retopic(t, names.root), k, v) for t, k, v in records]
        publish(bootstrap, moved + moved)
        t0 = time.monotonic()
        while True:
            h = worker.health()
            samples.append((time.monotonic() - t0, rss_mb(worker.proc.pid), h.get("applied", 0)))
            if h.get("applied", 0) >= 2 * len(records) or time.monotonic() - t0 > 600:
                break
            time.sleep(0.5)
    finally:
        worker.stop()
    half = len(samples) // 2
    return {"records": 2 * len(records), "seconds": samples[-1][0],
            "rss_first_half_mb": max(s[1] for s in samples[:half] or samples),
            "rss_second_half_mb": max(s[1] for s in samples[half:]), "samples": len(samples)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--reports", type=int, default=60_000, help="distinct reports per phase (records ~1.6x)")
    parser.add_argument("--rate", type=int, default=2000, help="offered records/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--profile", type=Path, help="cProfile the worker in the backlog phase into this file")
    parser.add_argument("--latency-profile", type=Path, help="cProfile the worker at --rate into this file")
    parser.add_argument("--trickle", type=int, default=200, help="offered records/s in the trickle latency phase")
    parser.add_argument("--phases", default="ABCD", help="which phases to run (default ABCD: D is the overload;"
                        " S: signatures off beside on)")
    parser.add_argument("--signatures", action="store_true", help="also run phase S (signatures off beside on)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cshub-worker-bench-"))
    print(load_line("before"))
    print(busy_warning() or "the machine is quiet enough")
    cluster = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        cluster = LocalCluster(tmp / "broker", size=1, base_port=free_port(), secure=False)
        bootstrap = cluster.start()
    try:
        records = encoded(TopicNames("x"), args.reports, 1)
        print(f"stream: {len(records)} records ({args.reports} reports, 31 provinces, dups/corrections/withdrawals)")
        stamp = int(time.time())
        a_names, b_names = TopicNames(f"benchA{stamp}"), TopicNames(f"benchB{stamp}")
        if cluster is not None:
            print(f"broker warm-up: {warm_up(bootstrap, records):.1f} s")
        if "A" in args.phases:
            a = phase_end_to_end(bootstrap, tmp, a_names, [(_retopic(t, a_names.root), k, v) for t, k, v in records])
            print(f"A end to end: {a['records'] / a['e2e_s']:,.0f} records/s through one worker "
                  f"({a['records']} in {a['e2e_s']:.2f} s); worker CPU {a['cpu_s'] / a['records'] * 1e6:.1f} us/record")
            print(f"  the load generator alone: {a['records'] / a['publish_s']:,.0f} records/s "
                  f"({a['publish_s']:.2f} s, 2 aiokafka processes): it is not the bottleneck when this is higher")
            print(f"  raw kafka-python consume of the same topics: {a['records'] / a['raw_s']:,.0f} records/s; "
                  f"worker/raw = {a['raw_s'] / a['e2e_s']:.2f}")
        profile = args.profile.resolve() if args.profile else None
        if "B" in args.phases:
            b = phase_backlog(bootstrap, tmp, b_names, [(_retopic(t, b_names.root), k, v) for t, k, v in records],
                              profile)
            print(f"B backlog (worker alone): {b['records'] / b['backlog_s']:,.0f} records/s "
                  f"({b['records']} in {b['backlog_s']:.2f} s); worker CPU {b['cpu_s']:.1f} s = "
                  f"{b['cpu_s'] / b['records'] * 1e6:.0f} us/record -> {b['records'] / b['cpu_s']:,.0f} records/s "
                  f"per fully available core")
        if "C" in args.phases:
            for rate in (args.rate, args.trickle):
                c = phase_latency(bootstrap, tmp, rate, args.seconds, 2, args.latency_profile if rate == args.rate
                                  else None)
                print(f"C latency at {c['offered_rate']:,.0f} records/s offered ({c['records']} records, "
                      f"{c['measured']} measured): publish -> national row p50 {c['p50_ms']:.0f} ms, "
                      f"p99 {c['p99_ms']:.0f} ms, max {c['max_ms']:.0f} ms")
                print(f"  CPU per record: worker {c['worker_cpu_us']:.0f} us (while offered), "
                      f"the paced generator {c['generator_cpu_us']:.0f} us")
                print("  by hop (p50 / p99 ms): " + "; ".join(f"{hop} {p50:.0f} / {p99:.0f}"
                                                             for hop, (p50, p99) in c["hops"].items()))
        if "D" in args.phases:
            d = phase_overload(bootstrap, tmp, records)
            print(f"D overload: {d['records']} records offered at once, worked off in {d['seconds']:.1f} s; worker RSS "
                  f"peak {d['rss_first_half_mb']:.0f} MB in the first half, {d['rss_second_half_mb']:.0f} MB in the "
                  f"second ({d['samples']} samples): the lag grows, memory "
                  f"{'does not' if d['rss_second_half_mb'] <= d['rss_first_half_mb'] * 1.1 else 'DOES'}")
        if "S" in args.phases or args.signatures:
            s = phase_signatures(bootstrap, tmp, records)
            off, on = s["off"], s["on"]
            off_us, on_us = off["cpu_s"] / off["records"] * 1e6, on["cpu_s"] / on["records"] * 1e6
            print(f"S signatures (backlog, same signed stream; signing it here took {s['sign_us']:.0f} us/record):"
                  f" check off {off['records'] / off['backlog_s']:,.0f} records/s ({off_us:.0f} us CPU/record);"
                  f" check on {on['records'] / on['backlog_s']:,.0f} records/s ({on_us:.0f} us CPU/record):"
                  f" verification costs {on_us - off_us:.0f} us/record, on/off throughput"
                  f" {(on['records'] / on['backlog_s']) / (off['records'] / off['backlog_s']):.2f}")
        if profile is not None and profile.exists():
            stats = pstats.Stats(str(profile))
            stats.sort_stats("tottime").print_stats(25)
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        print(load_line("after"))  # this bench's own broker, worker and generator load the machine too
        print(busy_warning() or "the machine was quiet enough at the end")
    return 0


def _retopic(topic: str, root: str) -> str:
    """Move an inbound topic name from the placeholder root to a phase's root (same stream in every phase)."""
    return topic.replace("x.in.", f"{root}.in.", 1)


if __name__ == "__main__":
    sys.exit(main())
