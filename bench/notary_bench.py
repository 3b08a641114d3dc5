"""What the log service costs per inbound record, without the broker: its pure work in one process.

Per verdict: parse it (orjson, every field checked), make and encode the log entry, hash the leaf, append it to
the tree (`Notary._entries`, the code the service runs); per transaction: one signed receipt batch per province
(31 Ed25519 signatures at most) and the resume state. Prints µs per record (wall and CPU of this process; on a
shared machine the CPU figure is the work itself) and what that leaves of one core at 20,000 reports/s.

    .venv/bin/python bench/notary_bench.py [--runs 5] [--batch 2000] [--provinces 31]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import orjson
from aiokafka import TopicPartition

from connectors.notary import Notary
from core.log_entries import encode_positions, encode_tree_state
from core.receipts import ReceiptBatch, sign_receipts
from core.signing import SigningKey
from schemas.reference import provinces
from schemas.topics import TopicNames

NAMES = TopicNames("cshub")


class Record:
    __slots__ = ("headers", "key", "offset", "timestamp", "value")

    def __init__(self, offset: int, value: bytes) -> None:
        self.offset, self.value, self.key, self.timestamp, self.headers = offset, value, None, 0, ()


def verdicts(count: int, codes: list[str], start: int) -> list[Record]:
    out = []
    for n in range(start, start + count):
        province = codes[n % len(codes)]
        out.append(Record(n, orjson.dumps({
            "v": 1, "topic": NAMES.inbound(province, "facility"), "partition": 0, "offset": n // len(codes),
            "timestamp_ms": 1764600000000 + n, "value_sha256": "ab" * 32, "key": f"JS-F-{n:07d}",
            "kid": "3f2a9c0d11e4b7a8", "province": province, "kind": "facility", "report_id": f"JS-F-{n:07d}",
            "revision": 1, "verdict": "accepted" if n % 10 else "rejected", "late": False,
            "reason": "" if n % 10 else "bad_area", "message": "" if n % 10 else "建筑面积必须大于 0"})))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2000, help="verdicts per transaction (notary_batch_max)")
    parser.add_argument("--provinces", type=int, default=31)
    args = parser.parse_args()
    codes = sorted(provinces())[: args.provinces]
    key = SigningKey.generate()
    notary = Notary("127.0.0.1:1", NAMES, key, origin="cshub.bench/log")
    tp = TopicPartition(NAMES.verdicts, 0)
    wall, cpu = [], []
    for run in range(args.runs):
        batch = {tp: verdicts(args.batch, codes, run * args.batch)}
        started, started_cpu = time.perf_counter(), time.process_time()
        entries, receipts, _ = notary._entries(batch)
        tree = notary.state.tree
        for province, found in receipts.items():
            sign_receipts(ReceiptBatch("cshub.bench/log", province, 0, tree.size, tree.root(), tuple(found)),
                          NAMES.receipts(province), key)
        encode_tree_state(tree.state()), encode_positions(notary.state.positions)
        wall.append((time.perf_counter() - started) / args.batch * 1e6)
        cpu.append((time.process_time() - started_cpu) / args.batch * 1e6)
        assert len(entries) == args.batch
    w, c = statistics.median(wall), statistics.median(cpu)
    print(f"notary, pure work per verdict ({args.batch} per transaction, {len(codes)} provinces, median of"
          f" {args.runs}): {w:.1f} µs wall, {c:.1f} µs CPU")
    print(f"  at 20,000 reports/s that is {20000 * c / 1e6:.0%} of one core (CPU); load average"
          f" {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
