"""The worker's batch logic without Faust or a broker: same rows as a plain replay of the core."""

from __future__ import annotations

from core import NATIONAL, REPORT_TABLES, Hub, HubConfig, decode_parts, encode_row, row_values
from core.verdicts import decode_verdict
from schemas import codec
from schemas.topics import TopicNames
from streams.aggregation import Aggregator
from streams.loadgen import generate
from streams.national import NationalStage
from streams.validation import Validator

CONFIG = HubConfig.from_reference()


def test_batches_through_validator_and_aggregator_give_the_replayed_rows() -> None:
    names = TopicNames("unit")
    provinces = list(CONFIG.provinces)
    records = generate(800, CONFIG.provinces, CONFIG.policy_items, seed=4)
    validator = Validator(names, provinces, 4, CONFIG)
    aggregator = Aggregator(CONFIG, (), names, publish_interval_s=0.0)
    aggregator.assign(None)  # one worker holding every province
    initial = aggregator.rebuild([])
    replay = Hub(CONFIG)
    entries: list[list] = []
    offsets: dict[tuple[str, int], int] = {}
    expected_verdicts: list[tuple[str, int, str]] = []
    for i, (kind, rec) in enumerate(records):
        data = codec.encode({"facility": "cshub.FacilityReport", "funding": "cshub.FundingReport",
                             "policy": "cshub.PolicyReport"}[kind], rec)
        if i % 50 == 7:
            data = data[:-3]  # a truncated record: rejected, and its verdict comes in order with the others
        inbound = names.inbound(rec["province"], kind)
        routed = validator.route(inbound, 0, i, rec["report_id"].encode(), data, 1_000 + i,
                                 [("cshub-kid", b"00112233aabbccdd")])
        if routed.rejected is not None:
            entries.append(routed.rejected)
            expected_verdicts.append((inbound, i, "rejected"))
        for topic, _key, value, partition in routed.records:
            if topic.startswith(names.validated("")[:-1]):
                offset = offsets.get((topic, partition), 0)
                offsets[(topic, partition)] = offset + 1
                assert routed.accepted is not None
                entry = routed.accepted.entry()
                entry[7:10] = [topic, partition, offset]
                entries.append(entry)
                replay.apply(kind, codec.decode(value).value, 1_000 + i, topic, partition, offset)
                expected_verdicts.append((inbound, i, replay.verdict))
    published: dict = {}
    out = list(initial)
    state: dict[int, dict[bytes, bytes]] = {}
    verdicts: list[dict] = []
    for start in range(0, len(entries), 97):
        result = aggregator.fold_entries(entries[start:start + 97], start)
        out += result.records
        verdicts += [decode_verdict(value) for _key, value in result.verdicts]
        for partition, writes in result.writes.items():
            state.setdefault(partition, {}).update(writes)
    province_partition = validator.partition_of
    for partition, writes in state.items():  # each write lands in the state partition of its province
        assert {key.decode().split("|")[2 if key.startswith(b"r|") else 1] for key in writes} <= {
            p for p, n in province_partition.items() if n == partition}
    rebuilt = Aggregator(CONFIG, (), names)
    rebuilt.assign(None)
    rebuilt.rebuild((k.decode(), v) for writes in state.values() for k, v in writes.items())
    assert {k: row_values(v) for k, v in rebuilt.hub.rows().items()} == {
        k: row_values(v) for k, v in aggregator.hub.rows().items()}  # the writes are the whole state
    stage = NationalStage(CONFIG, names, aggregator.note_records)
    parts = [value for topic, _key, value, _partition in out if topic == names.national_parts]
    stage_writes, stage_out = stage.fold(parts, 0)
    stored = dict(stage_writes)
    out += stage_out
    for topic, key, value, _partition in out:
        if ".national." in topic:
            published[(topic.rsplit(".", 1)[1], key.decode())] = codec.decode(value).value
    expected = replay.rows(None, REPORT_TABLES)
    assert {k: row_values(v) for k, v in expected.items()} == {k: row_values(published[k]) for k in expected}
    national = {k: v for k, v in expected.items() if k[1] == NATIONAL}
    assert {k: encode_row(k[0], v) for k, v in national.items()} == {
        k: encode_row(k[0], stage.published.rows[k]) for k in national}  # byte for byte, offsets included
    assert len(stored) == len(REPORT_TABLES) * len(CONFIG.provinces)
    restarted = NationalStage(CONFIG, names, aggregator.note_records)
    again = {(t.rsplit(".", 1)[1], k.decode()): v for t, k, v, _p in restarted.rebuild(list(stored.items()))}
    assert again == {k: encode_row(k[0], v) for k, v in national.items()}
    assert validator.counts["validated"] + validator.counts["rejected"] == len(records)
    # one verdict per inbound record, in inbound order, the same as the replay's fold decides
    assert [(v["topic"], v["offset"], v["verdict"]) for v in verdicts] == expected_verdicts
    assert {v["verdict"] for v in verdicts} == {"accepted", "duplicate", "superseded", "rejected"}
    truncated = next(v for v in verdicts if v["verdict"] == "rejected")
    assert truncated["reason"] == "truncated" and truncated["message"] and truncated["kid"] == "00112233aabbccdd"
    assert all(len(v["value_sha256"]) == 64 and v["key"] for v in verdicts)


def test_a_worker_publishes_only_the_provinces_of_its_partitions() -> None:
    names = TopicNames("unit")
    provinces = list(CONFIG.provinces)
    validator = Validator(names, provinces, 4, CONFIG)
    aggregator = Aggregator(CONFIG, (), names, publish_interval_s=0.0, partition_of=validator.partition_of)
    aggregator.assign({1, 3})
    held = {p for p in provinces if validator.partition_of[p] in (1, 3)}
    out = aggregator.rebuild([]) + aggregator.deadlines(1_800_000_000_000)
    rows = {key.decode() for topic, key, _v, _p in out if ".national." in topic}
    bundles = [value for topic, _k, value, _p in out if topic == names.national_parts]
    parts = {province for value in bundles for _table, province, _part in decode_parts(value)}
    assert rows == held == parts and NATIONAL not in rows
    assert len(bundles) == 2  # one parts record per publish (the rebuild's, the deadlines'), not one per row
