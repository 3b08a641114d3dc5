"""Provincial publisher throughput from a 100,000-row file: where the time goes, and reports/s end to end.

Starts its own Kafka broker (LocalCluster on a free port, data in a /tmp folder) and stops it at the end.
Writes a 100,000-row facility CSV (and an .xlsx of the same rows), then times, median of `--repeat` runs:

- read only (CSV reader + row shaping): the load generator's own rate (the file is written beforehand, so
  reading it is all the "generator" costs, and it is far above the publish rate);
- read + validate (pydantic models + business rules + own-province check);
- read + validate + Avro encode;
- full publish: the above + the aiokafka batch send with acks=all, idempotence, and every acknowledgement
  tracked (what `cshub publish` does), to a fresh topic each run;
- the same full publish from the .xlsx file (openpyxl read-only, streaming);
- with `--signing both` (the default) the CSV publish again with every record signed (Ed25519 over topic, key
  and SHA-256 of the value, in headers: what `cshub publish` does with the province's key), beside the unsigned
  one in the same run; `--signing on|off` runs only one of them.

Each stage gives rows/s (wall) and CPU µs per row of this process (the broker's CPU is not in it; on a busy
machine CPU per row is the steadier figure). The load average is printed before and after each stage.

Usage: .venv/bin/python -m bench.publisher_bench [--rows 100000] [--repeat 1] [--signing both|on|off]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.machine import busy_warning, cpu_seconds, load_line
from connectors.admin import ensure_topics
from connectors.fixtures import facility_rows, write_facility_csv
from connectors.publisher import Publisher, check_rows, validate_row
from connectors.readers import COLUMNS, read_rows
from core.signing import SigningKey
from deploy.local.broker import LocalCluster, free_port_pair
from schemas.topics import TopicNames, TopicPlan

PROVINCE = "320000"




def timed(fn: Callable[[], int], repeat: int) -> tuple[float, float, list[float]]:
    """(median rows/s, median CPU µs per row of this process, every run's rows/s)."""
    rates, cpu = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), cpu_seconds()
        n = fn()
        rates.append(n / (time.perf_counter() - started))
        cpu.append((cpu_seconds() - cpu_started) / n * 1e6)
    return statistics.median(rates), statistics.median(cpu), rates


def write_xlsx(path: Path, rows: int) -> Path:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(list(COLUMNS["facility"]))
    for row in facility_rows(PROVINCE, rows):
        ws.append([row[c] for c in COLUMNS["facility"]])
    wb.save(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--port", type=int, default=26092, help="first port to try for the broker (and the next)")
    parser.add_argument("--signing", choices=["both", "on", "off"], default="both",
                        help="publish unsigned, signed, or both in one run (default both)")
    args = parser.parse_args()
    print(load_line("before"), flush=True)
    print(busy_warning() or "the machine is quiet enough", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="cshub-pub-bench-"))
    csv_path = write_facility_csv(tmp / "facility.csv", facility_rows(PROVINCE, args.rows))
    xlsx_path = write_xlsx(tmp / "facility.xlsx", args.rows)
    cluster = LocalCluster(tmp / "broker", base_port=free_port_pair(args.port, args.port + 18), heap="1g", secure=False)
    bootstrap = cluster.start()
    print(f"broker {bootstrap}; {args.rows:,} rows, CSV {csv_path.stat().st_size / 1e6:.1f} MB,"
          f" XLSX {xlsx_path.stat().st_size / 1e6:.1f} MB; medians of {args.repeat} runs", flush=True)
    try:
        def read_only() -> int:
            return sum(1 for _ in read_rows(csv_path, "facility"))

        def validate() -> int:
            return sum(1 for row, record in read_rows(csv_path, "facility")
                       if validate_row("facility", PROVINCE, row, record)[0])

        def encode() -> int:
            return sum(1 for prepared in check_rows("facility", PROVINCE, read_rows(csv_path, "facility"))
                       if prepared.value)  # validate + encode + size + warnings: what --check and a send do

        run_no = [0]

        province_key = SigningKey.generate()

        def publish(path: Path, signed: bool = False) -> Callable[[], int]:
            def go() -> int:
                run_no[0] += 1
                names = TopicNames(f"pubbench{run_no[0]}")
                ensure_topics(bootstrap, TopicPlan(names, (PROVINCE,)).hub_specs(("facility",), tables=()))
                with Publisher(bootstrap, PROVINCE, names=names,
                               signing_key=province_key if signed else None) as publisher:
                    result = publisher.publish("facility", read_rows(path, "facility"))
                if not result.complete or result.acknowledged != args.rows:
                    raise SystemExit(f"publish incomplete: {result.acknowledged} of {args.rows} acknowledged")
                return result.acknowledged
            return go

        stages = [("read CSV", read_only), ("read + validate", validate), ("read + validate + encode", encode)]
        if args.signing in ("both", "off"):
            stages.append(("publish CSV (acks=all, idempotent, acks tracked)", publish(csv_path)))
        if args.signing in ("both", "on"):
            stages.append(("publish CSV, every record signed (Ed25519)", publish(csv_path, signed=True)))
        stages.append(("publish XLSX (acks=all, idempotent, acks tracked)", publish(xlsx_path)))
        for name, fn in stages:
            median, cpu_us, rates = timed(fn, args.repeat)
            print(f"{name:<52} {median:>9,.0f} rows/s  ({median and 1e6 / median:5.1f} µs wall,"
                  f" {cpu_us:5.1f} µs CPU/row)  [runs: {', '.join(f'{r:,.0f}' for r in rates)}];"
                  f" {load_line('after it')}", flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        print(load_line("after"), flush=True)
        print(busy_warning() or "the machine was quiet enough at the end", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
