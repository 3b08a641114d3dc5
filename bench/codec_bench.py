"""Codec throughput on a realistic facility report (Chinese names, decimal area): encode, decode, raw fastavro.

Prints records/s, the median of N runs of M records each, and two ratios to bare fastavro: our `decode`
(header check, fingerprint lookup, cached resolution plan, trailing-byte check, error translation) to
`fastavro.schemaless_reader` on the body with an already parsed schema; our `encode` to
`fastavro.schemaless_writer`. `encode` also range-checks with fastavro's `validate` (the writer alone would
put an int beyond 32 bits on the wire), which roughly halves its rate. Also times decoding a v1-written
record with the v2 reader (schema resolution) and `schemas.rules.check` on a decoded dict.

    .venv/bin/python bench/codec_bench.py [--runs 5] [--records 20000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from io import BytesIO

from fastavro import schemaless_reader, schemaless_writer

from schemas import codec, registry, rules, samples

NAME = "cshub.FacilityReport"


def rate(work: Callable[[], object], records: int, runs: int) -> float:
    """Median records/s over `runs` runs of `records` calls."""
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(records):
            work()
        rates.append(records / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()

    record = samples.facility(address="南京市玄武区长江路292号")
    sv = registry.latest(NAME)
    data = codec.encode(NAME, record)
    body = data[codec.HEADER_SIZE :]
    old = codec.encode(NAME, samples.facility(), version=1)
    value = codec.decode(data).value
    codec.decode(old)  # warm the resolution plan, as a running worker would have

    def raw_write() -> None:
        schemaless_writer(BytesIO(), sv.parsed, record)

    figures = {
        "encode (codec.encode)": rate(lambda: codec.encode(NAME, record), args.records, args.runs),
        "encode (raw fastavro schemaless_writer)": rate(raw_write, args.records, args.runs),
        "decode (codec.decode)": rate(lambda: codec.decode(data), args.records, args.runs),
        "decode (raw fastavro schemaless_reader)": rate(
            lambda: schemaless_reader(BytesIO(body), sv.parsed, None), args.records, args.runs
        ),
        "decode v1 record with v2 reader": rate(lambda: codec.decode(old), args.records, args.runs),
        "rules.check on decoded dict": rate(lambda: rules.check("facility", value), args.records, args.runs),
    }
    print(f"{NAME} v{sv.version}, {len(data)} bytes per record; median of {args.runs} runs x {args.records:,} records")
    for label, per_s in figures.items():
        print(f"  {label:42s} {per_s:>12,.0f} records/s")
    print(
        "  ratio decode/raw fastavro reader        "
        f"{figures['decode (codec.decode)'] / figures['decode (raw fastavro schemaless_reader)']:>12.2f}"
    )
    print(
        "  ratio encode/raw fastavro writer        "
        f"{figures['encode (codec.encode)'] / figures['encode (raw fastavro schemaless_writer)']:>12.2f}"
    )


if __name__ == "__main__":
    main()
