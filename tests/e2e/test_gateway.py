"""The dashboard gateway: its snapshot (pure) and its server against the real broker.

The server test writes national rows and notifications straight to a unique topic root (as the
worker does: Avro single-object encoding, keyed by province, tombstone = delete), and reads them back
through /api/tables, /api/notifications and the /api/events stream, across several partitions.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web

from connectors.gateway import Gateway, GatewayConfig
from connectors.gateway.snapshot import Snapshot, jsonable
from schemas.kafka_config import kafka_python_config


def _coverage_row(province: str, covered: int) -> dict:
    return {"province": province, "urban_communities": 100, "urban_covered": covered,
            "urban_coverage": Decimal(covered) / 100, "urban_target": Decimal("1.0000"), "urban_met": covered >= 100,
            "rural_communities": 10, "rural_covered": 9, "rural_coverage": Decimal("0.9000"),
            "rural_target": Decimal("0.8000"), "rural_met": True,
            "offsets": [{"topic": "x.in.110000.facility", "partition": 0, "offset": covered}]}


def _notification(province: str, n: int) -> dict:
    return {"notification_id": f"TARGET_MET:{province}:coverage.urban_met:{n}", "type": "TARGET_MET",
            "province": province, "table": "coverage", "subject": "coverage.urban_met",
            "message": f"urban coverage met ({n})", "value": "1.0000", "target": "1.0000",
            "event_time": 1_700_000_000_000 + n}


def test_snapshot_keeps_latest_rows_exact_money_and_newest_notifications_first() -> None:
    snap = Snapshot(notifications_limit=3)
    snap.put_row("funding", "110000", {"province": "110000", "allocated_yuan": Decimal("12345678.91"),
                                       "offsets": [{"topic": "t", "partition": 0, "offset": 1}]})
    change = snap.put_row("funding", "110000", {"province": "110000", "allocated_yuan": Decimal("0.10")})
    assert change.kind == "row"
    assert snap.tables_copy() == {"funding": {"110000": {"province": "110000", "allocated_yuan": "0.10"}}}
    assert snap.put_row("funding", "110000", None).kind == "delete"
    assert snap.tables_copy() == {"funding": {}}
    for n in range(5):
        snap.add_notification("120000", {"n": n})
    assert [x["n"] for x in snap.notifications()] == [4, 3, 2]
    assert snap.notifications(1) == [{"n": 4, "province": "120000"}]
    assert jsonable({"a": Decimal("1.50"), "b": [b"\x01"]}) == {"a": "1.50", "b": ["AQ=="]}


@pytest.mark.integration
def test_gateway_serves_every_partition_and_pushes_changes(kafka_bootstrap: str,
                                                           unique_name: Callable[[str], str]) -> None:
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    from schemas import codec
    from schemas.topics import TopicNames

    names = TopicNames(unique_name("gw"))
    admin = KafkaAdminClient(**kafka_python_config(kafka_bootstrap, client_id="cshub-test"))
    admin.create_topics([NewTopic(names.national("coverage"), 3, 1, topic_configs={"cleanup.policy": "compact"}),
                         NewTopic(names.notifications, 2, 1)])
    admin.close()
    producer = KafkaProducer(**kafka_python_config(kafka_bootstrap, client_id="cshub-test"), acks="all")
    provinces = ["000000", "110000", "120000", "130000", "140000", "150000"]
    for i, p in enumerate(provinces):  # spread over all three partitions explicitly
        producer.send(names.national("coverage"), key=p.encode(), partition=i % 3,
                      value=codec.encode("cshub.CoverageRow", _coverage_row(p, 50)))
    producer.send(names.notifications, key=b"110000", partition=1,
                  value=codec.encode("cshub.Notification", _notification("110000", 1)))
    producer.send(names.notifications, key=b"000000", partition=0, value=b"\x00garbage")
    producer.flush()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def scenario() -> None:
        gateway = Gateway(GatewayConfig(bootstrap=kafka_bootstrap, topic_root=names.root, port=port))
        runner = web.AppRunner(gateway.app(), handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(100):
                    tables = await (await http.get(f"{base}/api/tables")).json()
                    if len(tables["tables"].get("coverage", {})) == len(provinces):
                        break
                    await asyncio.sleep(0.1)
                coverage = tables["tables"]["coverage"]
                assert sorted(coverage) == provinces
                assert coverage["130000"]["urban_coverage"] == "0.5000" and "offsets" not in coverage["130000"]
                notes = await (await http.get(f"{base}/api/notifications?limit=5")).json()
                ids = [n["notification_id"] for n in notes["notifications"]]
                assert ids == [_notification("110000", 1)["notification_id"]]
                assert (await http.get(f"{base}/api/notifications?limit=x")).status == 400
                health = await (await http.get(f"{base}/health")).json()
                assert health["status"] == "ok" and health["undecodable"] == 1
                page = await (await http.get(f"{base}/")).text()
                assert "全国进展" in page and "/static/vendor/chart-4.5.1.umd.min.js" in page
                assert (await http.get(f"{base}/static/vendor/chart-4.5.1.umd.min.js")).status == 200
                reference = await (await http.get(f"{base}/api/reference")).json()
                assert len(reference["provinces"]) == 31 and reference["national_code"] == "000000"

                # Live: a new row, a tombstone and a notification arrive as one SSE `update`.
                async with http.get(f"{base}/api/events") as events:
                    hello = await _next_event(events)
                    assert hello[0] == "hello"
                    producer.send(names.national("coverage"), key=b"120000", partition=1,
                                  value=codec.encode("cshub.CoverageRow", _coverage_row("120000", 100)))
                    producer.send(names.national("coverage"), key=b"150000", partition=2, value=None)
                    producer.send(names.notifications, key=b"120000", partition=0,
                                  value=codec.encode("cshub.Notification", _notification("120000", 2)))
                    producer.flush()
                    seen: list[dict] = []
                    while len(seen) < 3:
                        name, data = await asyncio.wait_for(_next_event(events), 30)
                        assert name == "update"
                        seen += data["changes"]
                by_kind = {(c["kind"], c.get("key")): c for c in seen}
                assert by_kind[("row", "120000")]["value"]["urban_met"] is True
                assert ("delete", "150000") in by_kind
                assert by_kind[("notification", "120000")]["value"]["type"] == "TARGET_MET"
                tables = await (await http.get(f"{base}/api/tables")).json()
                assert "150000" not in tables["tables"]["coverage"]
        finally:
            await runner.cleanup()
        assert not gateway.reader.alive

    try:
        asyncio.run(scenario())
    finally:
        producer.close()


async def _next_event(resp: aiohttp.ClientResponse) -> tuple[str, dict]:
    """Read one server-sent event (skipping keep-alive comments)."""
    name, data = "", ""
    while True:
        line = (await resp.content.readline()).decode("utf-8").rstrip("\n")
        if line.startswith(":"):
            continue
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data += line[6:]
        elif line == "" and name:
            return name, json.loads(data) if data else {}
