"""Auditor replay throughput and peak memory over >= 1,000,000 reports, at two sizes (memory must stay flat).

Starts its own Kafka broker (LocalCluster on a free port, data in a /tmp folder) and stops it at the end.
For each size it produces facility/funding/policy reports of all 31 provinces (a fixed set of report ids,
each reported again and again as corrections, with duplicates and withdrawals) to the inbound topics, then
times, from the same topics in the same run:

- raw kafka-python consumption of every inbound partition (one process): the broker/client ceiling;
- `auditor.replay_kafka` with 1 and with 2 worker processes: decode, validate (core.problems) and fold
  (core.Hub.apply), merge, rows; reports/s = input records / wall time of the replay;
- peak RSS of the replay processes (ru_maxrss of the children, and of this process for workers=1).

Usage: .venv/bin/python bench/audit_bench.py [--sizes 1000000 2000000] [--keys 100000] [--repeat 3]
Prints medians of `--repeat` runs.
"""

from __future__ import annotations

import argparse
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

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from connectors import auditor
from connectors.admin import ensure_topics
from connectors.kafka_io import FAST_FETCH
from deploy.local.broker import LocalCluster, free_port_pair
from schemas import codec, reference, samples
from schemas.kafka_config import kafka_python_config
from schemas.topics import TopicNames, TopicPlan


def _produce_one(args: tuple[str, str, list[str], int, int, int]) -> int:
    """One producer process: its provinces' share of `total` records over `keys` report ids."""
    bootstrap, root, provinces, total, keys, seed = args
    names = TopicNames(root)
    rng = random.Random(seed)
    producer = KafkaProducer(**kafka_python_config(bootstrap, client_id="cshub-bench"), acks=1, linger_ms=50,
                             batch_size=1024 * 1024,
                             max_request_size=8 * 1024 * 1024)
    all_provinces = sorted(reference.provinces())
    per_province_keys = max(1, keys // len(all_provinces))
    per_province = total // len(all_provinces)
    sent = 0
    for province in provinces:
        county = province[:2] + "0102"
        ftopic, mtopic, ptopic = (names.inbound(province, k) for k in ("facility", "funding", "policy"))
        last = b""
        for n in range(per_province):
            key_no = n % per_province_keys
            revision = n // per_province_keys + 1
            roll = rng.random()
            if roll < 0.10 and last:
                producer.send(ftopic, value=last)  # a duplicate of the previous record
            elif roll < 0.80:
                rec = samples.facility(report_id=f"F{province}{key_no:06d}", province=province, revision=revision,
                                       county_code=county, community_code=f"{county}{key_no:06d}",
                                       households=300 + key_no % 3000, floor_area_m2=Decimal(100 + key_no % 900),
                                       status=("PLANNED", "COMPLETED", "OPERATING")[revision % 3],
                                       withdrawn=(key_no % 50 == 0 and revision % 4 == 0),
                                       area_type="URBAN" if key_no % 3 else "RURAL")
                last = codec.encode("FacilityReport", rec)
                producer.send(ftopic, value=last)
            elif roll < 0.98:
                rec = samples.funding(report_id=f"M{province}{key_no:06d}", province=province, revision=revision,
                                      allocated_yuan=Decimal(f"{key_no * 1000}.{revision % 100:02d}"),
                                      disbursed_yuan=Decimal(f"{key_no * 500}.00"))
                producer.send(mtopic, value=codec.encode("FundingReport", rec))
            else:
                rec = samples.policy(report_id=f"P{province}", province=province, revision=n + 1)
                producer.send(ptopic, value=codec.encode("PolicyReport", rec))
            sent += 1
    producer.flush(timeout=600)
    producer.close()
    return sent


def produce(bootstrap: str, names: TopicNames, total: int, keys: int) -> int:
    provinces = sorted(reference.provinces())
    groups = [provinces[i::2] for i in range(2)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        return sum(pool.map(_produce_one, [(bootstrap, names.root, g, total, keys, i) for i, g in enumerate(groups)]))


def raw_consume(bootstrap: str, names: TopicNames) -> tuple[int, float]:
    consumer = KafkaConsumer(**kafka_python_config(bootstrap, client_id="cshub-bench"), group_id=None,
                             enable_auto_commit=False, **FAST_FETCH)
    tps = [TopicPartition(t, 0) for t in consumer.topics() if names.parse_inbound(t)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ends = consumer.end_offsets(tps)
    total = sum(ends.values())
    count = 0
    started = time.perf_counter()
    while count < total:
        for records in consumer.poll(timeout_ms=500).values():
            count += len(records)
    elapsed = time.perf_counter() - started
    consumer.close()
    return count, elapsed


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _replay_in_child(conn: object, bootstrap: str, root: str, workers: int) -> None:
    """Run one replay in a fresh process so its peak RSS is its own; sends (records, seconds, peak RSS MB)."""
    started = time.perf_counter()
    _hub, stats = auditor.replay_kafka(bootstrap, TopicNames(root), workers=workers)
    elapsed = time.perf_counter() - started
    peak = max(_maxrss_mb(resource.RUSAGE_SELF), _maxrss_mb(resource.RUSAGE_CHILDREN))
    conn.send((stats.records, elapsed, peak))  # type: ignore[attr-defined]  # a multiprocessing Connection


def replay(bootstrap: str, names: TopicNames, workers: int) -> tuple[int, float, float]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_replay_in_child, args=(child, bootstrap, names.root, workers))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 2_000_000])
    parser.add_argument("--keys", type=int, default=100_000, help="distinct report ids (the fold's state)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="cshub-audit-bench-"))
    cluster = LocalCluster(home, base_port=free_port_pair(25092), heap="1g")
    bootstrap = cluster.start()
    print(f"broker {bootstrap} (data in {home})", flush=True)
    try:
        for size in args.sizes:
            names = TopicNames(f"bench{size}")
            ensure_topics(bootstrap, TopicPlan(names, tuple(sorted(reference.provinces())), partitions=1)
                          .hub_specs(tables=()))
            started = time.perf_counter()
            produced = produce(bootstrap, names, size, args.keys)
            print(f"\n== {produced:,} reports over {args.keys:,} report ids, 93 inbound topics"
                  f" (produced in {time.perf_counter() - started:.0f} s)", flush=True)
            raw = [raw_consume(bootstrap, names) for _ in range(args.repeat)]
            raw_rate = statistics.median(n / s for n, s in raw)
            print(f"raw kafka-python consume, 1 process: median {raw_rate:,.0f} records/s", flush=True)
            for workers in args.workers:
                runs = [replay(bootstrap, names, workers) for _ in range(args.repeat)]
                rate = statistics.median(n / s for n, s, _ in runs)
                peak = statistics.median(p for _, _, p in runs)
                print(f"audit replay, {workers} process(es): median {rate:,.0f} reports/s"
                      f" ({rate / raw_rate:.2f}x raw 1-process consume), peak RSS {peak:,.0f} MB per process"
                      f" [runs: {', '.join(f'{n / s:,.0f}' for n, s, _ in runs)}]", flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
