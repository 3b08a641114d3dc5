"""The verdicts a worker wrote, checked against a replay of its inbound topics (docs/evidence.md §4).

Read back from Kafka: every inbound record of the topic root, in offset order per partition, decided
(`core.decide`) and folded (`core.Hub`) as the auditor does; then `<root>.verdicts` must hold exactly one
verdict per inbound record (a repeat after a crash identical to the first, or skipped by offset), in
offset order per inbound partition, with the verdict, reason, value hash and key the replay gives.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from conftest import read_all, read_topics

from core import Hub, HubConfig, obligation_rules
from core.validation import Accepted, Source, decide
from core.verdicts import decode_verdict
from schemas import reference
from schemas.topics import KINDS, TopicNames


def replayed_verdicts(bootstrap: str, names: TopicNames) -> dict[tuple[str, int, int], dict[str, Any]]:
    """(topic, partition, offset) -> the fields of its verdict that a replay decides."""
    config = HubConfig.from_reference()
    provinces = frozenset(config.provinces)
    hub = Hub(config, obligation_rules(reference.obligations_csv()))
    out: dict[tuple[str, int, int], dict[str, Any]] = {}
    topics = [names.inbound(p, k) for p in config.provinces for k in KINDS]
    for rec in sorted(read_topics(bootstrap, topics, timeout_s=60), key=lambda r: (r.topic, r.partition, r.offset)):
        topic, kind = rec.topic, names.parse_inbound(rec.topic)[1]  # type: ignore[index]
        decision = decide(Source(topic, rec.partition, rec.offset, rec.key, rec.timestamp), rec.value,
                          names, provinces)
        want = {"value_sha256": hashlib.sha256(rec.value or b"").hexdigest(),
                "key": None if rec.key is None else rec.key.decode("utf-8", errors="replace")}
        if isinstance(decision, Accepted):
            hub.apply(kind, decision.record, rec.timestamp, topic, rec.partition, rec.offset)
            want |= {"verdict": hub.verdict, "late": hub.late, "reason": ""}
        else:
            want |= {"verdict": "rejected", "late": False, "reason": decision.reason}
        out[(topic, rec.partition, rec.offset)] = want
    return out


def assert_verdicts_match_replay(bootstrap: str, names: TopicNames, timeout_s: float = 60) -> dict[str, int]:
    """One verdict per inbound record, in order, as the replay decides; returns the count of each verdict."""
    want = replayed_verdicts(bootstrap, names)
    deadline = time.monotonic() + timeout_s
    while True:
        verdicts = [decode_verdict(r.value) for r in read_all(bootstrap, names.verdicts, timeout_s=60)]
        if len({(v["topic"], v["partition"], v["offset"]) for v in verdicts}) >= len(want) \
                or time.monotonic() > deadline:
            break
        time.sleep(1)
    first: dict[tuple[str, int, int], dict[str, Any]] = {}
    next_offset: dict[tuple[str, int], int] = {}
    repeats = 0
    for v in verdicts:
        where = (v["topic"], v["partition"], v["offset"])
        if v["offset"] < next_offset.get(where[:2], 0):  # a repeat after a crash: the reader skips it
            repeats += 1
            continue
        assert v["offset"] == next_offset.get(where[:2], v["offset"]), f"a verdict is missing before {where}"
        next_offset[where[:2]] = v["offset"] + 1
        first[where] = v
    missing = set(want) - set(first)
    assert not missing, f"{len(missing)} inbound records have no verdict, e.g. {sorted(missing)[:3]}"
    assert set(first) == set(want), f"verdicts of records that are not inbound: {sorted(set(first) - set(want))[:3]}"
    wrong = [(w, {k: first[w][k] for k in want[w]}, want[w]) for w in want
             if {k: first[w][k] for k in want[w]} != want[w]]
    assert not wrong, f"{len(wrong)} verdicts differ from the replay (where, written, replayed): {wrong[:3]}"
    counts: dict[str, int] = {"repeats": repeats}
    for v in first.values():
        counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
    return counts
