"""The worker against the real broker: exact tables, bad input routed, never down (faults: test_faults.py).

Each test has its own topic root and app id, runs `cshub worker` as a subprocess (so SIGKILL is
real) and compares the compacted national tables, read back from Kafka, with a ground truth
computed in the test (tests/streams/truth.py), to the fen.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from typing import Any

import pytest
from conftest import produce, read_all, read_table
from truth import NATIONAL, expected, published_values
from verdicts import assert_verdicts_match_replay

from core import SCHEMA_OF_KIND
from schemas import codec, reference, samples
from schemas.topics import TopicNames
from streams.loadgen import generate

pytestmark = pytest.mark.integration

PROVINCES = list(reference.provinces())
ITEMS = list(reference.policy_items())
REPORT_TABLES = ("coverage", "facilities", "funding", "policy", "services")
N_REPORTS = int(os.environ.get("CSHUB_TEST_REPORTS", "50000"))


def encode_stream(names: TopicNames, records: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, bytes, bytes]]:
    return [(names.inbound(rec["province"], kind), rec["report_id"].encode(), codec.encode(SCHEMA_OF_KIND[kind], rec))
            for kind, rec in records]


def mismatches(bootstrap: str, names: TopicNames, truth: dict) -> list[str]:
    out = []
    for table in REPORT_TABLES:
        rows = read_table(bootstrap, names.national(table))
        for p in [*PROVINCES, NATIONAL]:
            want = truth[(table, p)]
            row = rows.get(p)
            got = published_values(table, row) if row else None
            if got != want:
                diff = {k: (got.get(k) if got else None, v) for k, v in want.items() if not got or got.get(k) != v}
                out.append(f"{table}/{p}: (published, truth) {dict(list(diff.items())[:4])}")
    return out


def wait_for_tables(bootstrap: str, names: TopicNames, truth: dict, workers: list[Any], timeout_s: float) -> None:
    """Until the published tables equal `truth` (checking every 2 s that the workers are alive)."""
    deadline = time.monotonic() + timeout_s
    bad: list[str] = []
    while time.monotonic() < deadline:
        bad = mismatches(bootstrap, names, truth)
        if not bad:
            return
        for worker in workers:
            assert worker.alive(), f"worker died: {worker.log_tail()}"
        time.sleep(2)
    shown = ("status", "applied", "source_partitions", "ingress")
    healths = [{k: h.get(k) for k in shown} for h in (w.health() for w in workers) if h]
    raise AssertionError(f"{len(bad)} rows differ from the truth after {timeout_s} s: {bad[:8]}; "
                         f"the workers' /health: {healths}")


def stream_stats(records: list[tuple[str, dict[str, Any]]]) -> dict[str, float]:
    seen: Counter[tuple] = Counter((k, r["province"], r["report_id"], r["revision"]) for k, r in records)
    n = len(records)
    return {"records": n, "reports": len({(k, r["province"], r["report_id"]) for k, r in records}),
            "duplicates": sum(c - 1 for c in seen.values()) / n,
            "corrections": sum(1 for _k, r in records if r["revision"] > 1 and not r["withdrawn"]) / n,
            "withdrawals": sum(1 for _k, r in records if r["withdrawn"]),
            "provinces": len({r["province"] for _k, r in records})}


def test_tables_equal_the_ground_truth_to_the_fen(kafka_bootstrap: str, unique_name, worker_factory) -> None:
    names = TopicNames(unique_name("w3a"))
    records = generate(N_REPORTS, tuple(PROVINCES), tuple(ITEMS), seed=20261129)
    stats = stream_stats(records)
    assert stats["reports"] >= N_REPORTS * 0.99 and stats["provinces"] == 31
    assert stats["duplicates"] >= 0.10 and stats["corrections"] >= 0.10 and stats["withdrawals"] > 0, stats
    truth = expected(records, PROVINCES, ITEMS)
    worker = worker_factory(kafka_bootstrap, names.root)
    worker.start()
    worker.wait_ready()
    produce(kafka_bootstrap, encode_stream(names, records))
    wait_for_tables(kafka_bootstrap, names, truth, [worker], timeout_s=150)
    national = worker.get("/national/funding/000000")
    assert national["allocated_yuan"] == str(truth[("funding", NATIONAL)]["allocated_yuan"])
    assert len(worker.get("/national/coverage")) == 32
    assert worker.get("/health")["rejected"] == 0
    obligations = read_table(kafka_bootstrap, names.national("obligations"))
    assert set(obligations) == {*PROVINCES, NATIONAL}
    assert obligations[NATIONAL]["late"] > 0  # 2026 periods published now, in November, are late
    notes = [codec.decode(r.value).value for r in read_all(kafka_bootstrap, names.notifications)]
    types = Counter(n["type"] for n in notes)
    assert types["ANOMALY_DISBURSED_EXCEEDS_ALLOCATED"] > 0 and types["ANOMALY_AREA_BELOW_STANDARD"] > 0, types
    assert types["OBLIGATION_MET_LATE"] > 0 and types["POLICY_ITEM_COMPLETED"] > 0, types
    assert worker.get("/notifications?limit=5") and len(worker.get("/notifications?limit=5")) == 5


def test_bad_input_is_rejected_with_its_reason_and_the_rest_counted(kafka_bootstrap: str, unique_name,
                                                                     worker_factory) -> None:
    names = TopicNames(unique_name("w3c"))
    valid = generate(3000, tuple(PROVINCES), tuple(ITEMS), seed=5)
    rng = random.Random(11)
    good = encode_stream(names, valid)
    bad: list[tuple[tuple[str, bytes, bytes], str]] = []
    for i in range(60):
        province = PROVINCES[i % len(PROVINCES)]
        topic = names.inbound(province, "facility")
        choice = i % 5
        if choice == 0:
            bad.append(((topic, b"g", bytes(rng.randrange(256) for _ in range(rng.randint(0, 80)))), "garbage"))
        elif choice == 1:
            body = codec.encode("cshub.FacilityReport", samples.facility())[10:]
            bad.append(((topic, b"u", codec.MAGIC + rng.randbytes(8) + body), "unknown_fingerprint"))
        elif choice == 2:
            other = PROVINCES[(i + 1) % len(PROVINCES)]
            rec = samples.facility(province=other, county_code=f"{other[:2]}0102",
                                   community_code=f"{other[:2]}0102001001", report_id=f"X-{i}")
            bad.append(((topic, b"w", codec.encode("cshub.FacilityReport", rec)), "wrong_province"))
        elif choice == 3:
            rec = samples.facility(province=province, county_code=f"{province[:2]}0102",
                                   community_code=f"{province[:2]}0102001001", households=-5, report_id=f"N-{i}")
            bad.append(((topic, b"r", codec.encode("cshub.FacilityReport", rec)), "negative_households"))
        else:
            rec = samples.funding(province=province, report_id=f"K-{i}")
            bad.append(((topic, b"k", codec.encode("cshub.FundingReport", rec)), "wrong_kind"))
    mixed: list[tuple[tuple[str, bytes, bytes], str | None]] = [(g, None) for g in good] + bad
    rng.shuffle(mixed)
    worker = worker_factory(kafka_bootstrap, names.root)
    worker.start()
    worker.wait_ready()
    positions = produce(kafka_bootstrap, [m for m, _ in mixed])
    want = {(t, o): why for (t, _p, o), (_m, why) in zip(positions, mixed, strict=True) if why is not None}
    wait_for_tables(kafka_bootstrap, names, expected(valid, PROVINCES, ITEMS), [worker], timeout_s=90)
    deadline = time.monotonic() + 30
    while True:
        got = {}
        for rec in read_all(kafka_bootstrap, names.rejected):
            rej = codec.decode(rec.value).value
            got[(rej["source_topic"], rej["offset"])] = rej
        if len(got) >= len(want) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert set(got) == set(want)
    for key, why in want.items():
        reason = got[key]["reason"]
        if why == "garbage":
            assert reason in ("bad_magic", "truncated", "unknown_fingerprint", "bad_body"), reason
        else:
            assert reason == why, (key, reason, got[key]["message"])
    originals = {(t, o): v for (t, _p, o), ((_t, _k, v), why) in zip(positions, mixed, strict=True) if why}
    assert all(got[k]["original"] == originals[k] for k in want)
    feedback = [codec.decode(r.value).value for r in read_all(kafka_bootstrap, names.feedback(PROVINCES[3]))]
    rejected_here = [f for f in feedback if f["type"] == "REJECTED"]
    assert len(rejected_here) == sum(1 for (t, _o) in want if t.startswith(names.inbound(PROVINCES[3], "facility")))
    assert {f["type"] for f in feedback} == {"REJECTED", "LATE"}  # 2026 periods reported in November are late
    assert worker.alive()
    health = worker.get("/health")
    assert health["rejected"] == len(want)
    assert health["validated"] == len(good)
    counts = assert_verdicts_match_replay(kafka_bootstrap, names)
    assert counts["rejected"] == len(want) and counts["duplicate"] > 0 and counts["superseded"] > 0, counts

