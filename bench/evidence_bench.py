"""What evidence costs per record: Ed25519 signing and checking, log appends, and proofs over a large log.

Prints the median of N runs: µs per submission signature (`SigningKey.sign`) and per full check
(`PublicKeys.check`: headers, key lookup, SHA-256 of the value, Ed25519 verify, owner and validity), leaves per
second appended to a `CompactTree`, and the time of inclusion and consistency proofs over a log of `--leaves`
stored leaf hashes (the first proof hashes the whole tree once and fills the cache; later ones are O(log n)).

    .venv/bin/python bench/evidence_bench.py [--runs 5] [--records 5000] [--leaves 1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.merkle import CompactTree, LeafHashes, leaf_hash, verify_inclusion
from core.signing import PublicKeys, SigningKey, public_key_of, signed_message

TOPIC = "cshub.in.320000.facility"
VALUE = bytes(400)  # about the size of an encoded facility report


def per_call_us(work: Callable[[], object], calls: int, runs: int) -> tuple[float, float]:
    """Median µs per call over `runs` runs of `calls` calls: wall clock, and CPU time of this process.

    On a shared machine the CPU figure is the cost of the work itself; the wall figure includes waiting for a core.
    """
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            work()
        wall.append((time.perf_counter() - started) / calls * 1e6)
        cpu.append((time.process_time() - started_cpu) / calls * 1e6)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    args = parser.parse_args()

    key = SigningKey.generate()
    ring = PublicKeys([public_key_of(key, "320000", 0)])
    headers = key.sign(TOPIC, b"JS-2026-0001", VALUE)
    sign_us = per_call_us(lambda: key.sign(TOPIC, b"JS-2026-0001", VALUE), args.records, args.runs)
    check_us = per_call_us(lambda: ring.check(TOPIC, b"JS-2026-0001", VALUE, headers, "320000", 1), args.records,
                           args.runs)
    assert ring.check(TOPIC, b"JS-2026-0001", VALUE, headers, "320000", 1).ok
    for name, (wall, cpu) in (("sign", sign_us), ("check", check_us)):
        print(f"{name:6} {wall:8.1f} µs/record wall, {cpu:6.1f} µs CPU  ({1e6 / cpu:9,.0f}/s per core)")

    raw = Ed25519PublicKey.from_public_bytes(key.public_key)
    signature = dict(headers)["cshub-sig"]
    message = signed_message(TOPIC, b"JS-2026-0001", VALUE)
    wall, cpu = per_call_us(lambda: raw.verify(signature, message), args.records, args.runs)
    print(f"{'verify':6} {wall:8.1f} µs/record wall, {cpu:6.1f} µs CPU  (bare Ed25519 verify, for comparison)")

    hashes = [leaf_hash(i.to_bytes(8, "big")) for i in range(args.leaves)]
    tree = CompactTree()
    started = time.perf_counter()
    for h in hashes:
        tree.append_leaf_hash(h)
    append_s = time.perf_counter() - started
    print(f"append {args.leaves / append_s:11,.0f} leaves/s  (CompactTree, {len(tree.state().peaks)} peaks kept)")

    stored = LeafHashes(hashes)
    started = time.perf_counter()
    assert stored.root() == tree.root()
    print(f"first root over {args.leaves:,} stored leaves: {time.perf_counter() - started:.2f} s (fills the cache)")
    n = len(hashes)
    probes = [(i * 7919) % n for i in range(1, 201)]
    started = time.perf_counter()
    for i in probes:
        proof = stored.inclusion_proof(i, n)
    inclusion_ms = (time.perf_counter() - started) / len(probes) * 1e3
    assert verify_inclusion(hashes[probes[-1]], probes[-1], n, proof, tree.root())
    started = time.perf_counter()
    for i in probes:
        stored.consistency_proof(i + 1, n)
    consistency_ms = (time.perf_counter() - started) / len(probes) * 1e3
    print(f"inclusion proof   {inclusion_ms:6.2f} ms  (warm cache, {len(proof)} hashes)")
    print(f"consistency proof {consistency_ms:6.2f} ms  (warm cache)")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
