"""Local broker start-up time: from cold (jars cached, fresh data folder) and from scratch.

"From scratch" fetches the Kafka jars with Maven into an empty cache and an empty Maven local
repository, so every artifact comes from Maven Central. Prints the median of N runs of each.

    .venv/bin/python bench/broker_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from deploy.local.broker import DEFAULT_CACHE, KAFKA_VERSION, LocalCluster, ensure_jars


def time_cold_start(port: int) -> float:
    with tempfile.TemporaryDirectory() as home:
        cluster = LocalCluster(Path(home), base_port=port)
        started = time.perf_counter()
        cluster.start()
        elapsed = time.perf_counter() - started
        cluster.stop()
    return elapsed


def time_fetch_from_scratch() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ensure_jars(Path(tmp) / "cache", maven_repo=Path(tmp) / "m2")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=25092)
    args = parser.parse_args()
    ensure_jars(DEFAULT_CACHE)
    cold = [time_cold_start(args.port) for _ in range(args.runs)]
    fetch = [time_fetch_from_scratch() for _ in range(args.runs)]
    cold_median, fetch_median = statistics.median(cold), statistics.median(fetch)
    print(f"Kafka {KAFKA_VERSION}, {args.runs} runs each")
    print(f"cold start (jars cached, new data folder): median {cold_median:.2f} s {[round(x, 2) for x in cold]}")
    print(f"jar fetch from scratch (empty Maven repo): median {fetch_median:.2f} s {[round(x, 2) for x in fetch]}")
    print(f"start from scratch (fetch + cold start):   median {fetch_median + cold_median:.2f} s")
    print(f"ratio from scratch / cold: {(fetch_median + cold_median) / cold_median:.1f}x")


if __name__ == "__main__":
    main()
