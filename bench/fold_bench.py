"""The worker's own work per record, without Kafka: validation (`Validator.route`), the envelope's
encoding and decoding, and the fold with its verdicts (`Aggregator.fold_entries`), on the bench stream.

Why: `bench/worker_bench.py` measures the whole worker on a shared machine, where the broker, the load
generator and the worker take the same two cores; this one times only our code, in one process, so a change
to the pure path shows as µs per record whatever else the machine does (CPU time, median of N runs). The gap
between these µs and the worker's CPU per record in `worker_bench` is what Kafka clients and Faust cost.

    .venv/bin/python -m bench.fold_bench [--reports 20000] [--runs 5] [--batch 2000]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

from bench.machine import busy_warning, load_line
from bench.worker_bench import encoded
from core import HubConfig, obligation_rules
from schemas import reference
from schemas.topics import TopicNames
from streams.aggregation import Aggregator
from streams.ingress import decode_envelope, encode_envelope
from streams.validation import Validator
from streams.worker import GC_THRESHOLDS

PARTITIONS = 4


def stages(records: list[tuple[str, bytes, bytes]], batch: int) -> dict[str, float]:
    """CPU seconds of each stage over all records, in a fresh validator and aggregator."""
    names = TopicNames("cshub")
    provinces = list(reference.provinces())
    config = HubConfig(provinces=tuple(provinces), policy_items=tuple(reference.policy_items()))
    validator = Validator(names, provinces, PARTITIONS, config)
    aggregator = Aggregator(config, obligation_rules(reference.obligations_csv()), names, 0.02,
                            validator.partition_of)
    aggregator.assign(None)
    aggregator.rebuild([])
    spent = {"route": 0.0, "envelope": 0.0, "fold": 0.0}
    for start in range(0, len(records), batch):
        chunk = records[start:start + batch]
        t0 = time.process_time()
        envelopes: dict[int, list[list[Any]]] = {}
        for offset, (topic, key, value) in enumerate(chunk, start):
            routed = validator.route(topic, 0, offset, key, value, 1_770_000_000_000 + offset, ())
            if routed.accepted is not None:
                entry = routed.accepted.entry()  # its validated record's coordinates, as the ingress fills them in
                entry[7], entry[8], entry[9] = routed.records[-1][0], routed.partition, offset
            else:
                assert routed.rejected is not None
                entry = routed.rejected
            envelopes.setdefault(routed.partition, []).append(entry)
        t1 = time.process_time()
        entries = [e for items in envelopes.values() for e in decode_envelope(encode_envelope(items))]
        t2 = time.process_time()
        aggregator.fold_entries(entries, time.monotonic())
        t3 = time.process_time()
        spent["route"] += t1 - t0
        spent["envelope"] += t2 - t1
        spent["fold"] += t3 - t2
    return spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2000, help="records per poll (the worker's batch_max)")
    args = parser.parse_args()
    gc.set_threshold(*GC_THRESHOLDS)  # as the worker runs
    print(load_line("before"))
    records = encoded(TopicNames("cshub"), args.reports, seed=7)
    runs = [stages(records, args.batch) for _ in range(args.runs)]
    n = len(records)
    print(f"{n} records, median of {args.runs} runs, CPU µs per record:")
    total = []
    for stage in ("route", "envelope", "fold"):
        us = statistics.median(r[stage] for r in runs) / n * 1e6
        total.append(us)
        print(f"  {stage:<9} {us:7.1f}")
    print(f"  {'all':<9} {sum(total):7.1f}  (-> {1e6 / sum(total):,.0f} records/s a core for our code alone)")
    print(load_line("after"))
    warning = busy_warning()
    if warning:
        print(warning)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
