"""The provincial publisher against a real broker: bad rows stay home, good rows land once, broker loss is told."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from openpyxl import Workbook

from connectors.admin import ensure_topics
from connectors.fixtures import facility_rows, write_facility_csv
from connectors.kafka_io import make_consumer, partitions_of, read_to_end
from connectors.publisher import Publisher, ranges
from connectors.readers import COLUMNS, read_rows
from deploy.local.broker import LocalCluster, free_port_pair
from schemas import codec
from schemas.kafka_config import KafkaConnection, Target, kafka_python_config
from schemas.topics import TopicNames, TopicPlan

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
HEADER = ",".join(COLUMNS["funding"])
GOOD = ("{id},1,false,320000,2025-03,2025-03-31T10:00:00+08:00,CENTRAL_BUDGET,,社区养老服务骨干网,南京市{id}项目,"
        "100.00,50.00")


def _records(bootstrap: Target, topic: str) -> list[dict]:
    consumer = make_consumer(bootstrap)
    try:
        return [codec.decode(r.value).value for r in read_to_end(consumer, partitions_of(consumer, topic))]
    finally:
        consumer.close()


def _topics(bootstrap: Target, names: TopicNames, kinds=("facility", "funding")) -> None:
    ensure_topics(bootstrap, TopicPlan(names, ("320000",), partitions=1).hub_specs(kinds, tables=()))


def test_good_rows_are_sent_and_each_bad_row_is_reported(kafka_bootstrap: str, unique_name: Callable[[str], str],
                                                         tmp_path: Path) -> None:
    names = TopicNames(unique_name("pub"))
    _topics(kafka_bootstrap, names)
    lines = [
        HEADER,
        GOOD.format(id="JS-1"),                                                                     # row 2
        "JS-2,1,false,320000,2025-03,2025-03-31T10:00:00+08:00,CENTRAL_BUDGET,,养老,项目,-5.00,0",     # row 3
        "JS-3,1,false,320000,2025-13,2025-03-31T10:00:00+08:00,CENTRAL_BUDGET,,养老,项目,5.00,0",      # row 4
        "JS-4,1,false,440000,2025-03,2025-03-31T10:00:00+08:00,CENTRAL_BUDGET,,养老,广州项目,5.00,0",   # row 5
        "JS-5,1,false,999999,2025-03,2025-03-31T10:00:00+08:00,CENTRAL_BUDGET,,养老,项目,5.00,0",      # row 6
        "JS-6,1,false,320000,2025-03,2025-02-30T10:00:00+08:00,CENTRAL_BUDGET,,养老,项目,5.00,0",      # row 7
        GOOD.format(id="JS-7"),                                                                     # row 8
    ]
    path = tmp_path / "funding.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with Publisher(kafka_bootstrap, "320000", names=names) as publisher:
        result = publisher.publish("funding", read_rows(path, "funding"))

    assert result.complete
    assert (result.rows, result.sent, result.acknowledged, result.rejected_rows) == (7, 2, 2, 5)
    by_row = {p.row: p for p in result.rejected}
    assert by_row[3].column == "allocated_yuan" and by_row[3].reason == "negative_money"
    assert by_row[4].column == "period" and by_row[4].reason == "bad_period"
    assert by_row[5].column == "province" and by_row[5].reason == "not_own_province"
    assert by_row[6].column == "province" and by_row[6].reason == "bad_province_code"
    assert by_row[7].column == "produced_at"
    sent = _records(kafka_bootstrap, names.inbound("320000", "funding"))
    assert [(r["report_id"], r["project_name"]) for r in sent] == [("JS-1", "南京市JS-1项目"),
                                                                   ("JS-7", "南京市JS-7项目")]
    # the writer schema is on the compacted schemas topic, keyed by fingerprint
    consumer = make_consumer(kafka_bootstrap)
    try:
        schema_records = list(read_to_end(consumer, partitions_of(consumer, names.schemas)))
    finally:
        consumer.close()
    fp = codec.fingerprint_of(codec.encode("FundingReport", sent[0]))
    assert [r.key for r in schema_records] == [fp]


def test_cli_prints_rows_and_reasons_in_chinese_friendly_utf8(kafka_bootstrap: str,
                                                              unique_name: Callable[[str], str],
                                                              tmp_path: Path) -> None:
    root = unique_name("pubcli")
    _topics(kafka_bootstrap, TopicNames(root))
    path = tmp_path / "funding.csv"
    path.write_text("\n".join([HEADER, GOOD.format(id="甲-1"),
                               "乙-2,1,false,320000,2025-03,2025-03-31T10:00:00+08:00,SPECIAL_BOND,,养老,项目,1,0"])
                    + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "cshub.cli", "publish", "--province", "320000", "--kind", "funding",
                          str(path), "--bootstrap", kafka_bootstrap, "--topic-root", root],
                         capture_output=True, text=True, encoding="utf-8", cwd=ROOT, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "row 3, bond_code" in out.stdout and "专项债" in out.stdout
    assert "2 rows, 1 sent, 1 acknowledged, 1 rejected locally" in out.stdout
    assert "江苏省" in out.stdout


def test_excel_file_is_published(kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path) -> None:
    import datetime as dt

    names = TopicNames(unique_name("xlsx"))
    _topics(kafka_bootstrap, names)
    wb = Workbook()
    ws = wb.active
    ws.append(list(COLUMNS["facility"]))
    for n in range(3):
        ws.append([f"JS-X-{n}", 1, False, "320000", "2025-03", dt.datetime(2025, 3, 31, 10, 0), "320102",
                   f"320102001{n:03d}", f"玄武区第{n}社区", "URBAN", 1000 + n, 320.5, "OPERATING",
                   "ELDERLY_CARE;CHILDCARE", "否", "GOVERNMENT"])
    ws.append(["JS-X-bad", 1, False, "320000", "2025-03", dt.datetime(2025, 3, 31), "320102", "320102001999",
               "坏社区", "URBAN", -1, 10, "OPERATING", "", False, "GOVERNMENT"])
    path = tmp_path / "facilities.xlsx"
    wb.save(path)

    with Publisher(kafka_bootstrap, "320000", names=names) as publisher:
        result = publisher.publish("facility", read_rows(path, "facility"))

    assert (result.sent, result.acknowledged, result.rejected_rows) == (3, 3, 1)
    assert result.rejected[0].row == 5 and result.rejected[0].column == "households"
    sent = _records(kafka_bootstrap, names.inbound("320000", "facility"))
    assert [r["community_name"] for r in sent] == ["玄武区第0社区", "玄武区第1社区", "玄武区第2社区"]
    assert str(sent[0]["floor_area_m2"]) == "320.50"
    assert sent[0]["produced_at"].isoformat() == "2025-03-31T02:00:00+00:00"  # Beijing time, stored as UTC




def _end_offset(bootstrap: Target, topic: str) -> int:
    consumer = KafkaConsumer(**kafka_python_config(bootstrap, client_id="cshub-test"), request_timeout_ms=3000)
    try:
        return consumer.end_offsets([TopicPartition(topic, 0)])[TopicPartition(topic, 0)]
    finally:
        consumer.close()


def test_broker_killed_mid_file_reports_acknowledged_rows_and_rerun_is_exact(tmp_path: Path) -> None:
    own = int(os.environ.get("CSHUB_TEST_BROKER_PORT", "19092")) + 20  # own ports +20..+24 (test_local_broker: +8..+19)
    cluster = LocalCluster(tmp_path / "broker", base_port=free_port_pair(own, own + 4))
    cluster.start()
    admin = cluster.admin_credentials()  # this broker's own admin (formatted with its own secrets)
    assert admin is not None
    bootstrap = KafkaConnection(cluster.bootstrap, admin.principal, cluster.secrets.path(admin.principal))
    try:
        names = TopicNames("kill")
        _topics(bootstrap, names, kinds=("facility",))
        topic = names.inbound("320000", "facility")
        rows = 60_000
        path = write_facility_csv(tmp_path / "big.csv", facility_rows("320000", rows, revisions=2))
        cmd = [sys.executable, "-m", "cshub.cli", "publish", "--province", "320000", "--kind", "facility", str(path),
               "--bootstrap", cluster.bootstrap, "--topic-root", names.root, "--timeout", "6"]
        env = {**os.environ, "PYTHONIOENCODING": "utf-8", "CSHUB_PRINCIPAL": admin.principal,
               "CSHUB_PASSWORD_FILE": str(bootstrap.password_file)}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while _end_offset(bootstrap, topic) < 5_000:
            assert proc.poll() is None, "".join(output)
            assert time.monotonic() < deadline, "publisher made no progress"
            time.sleep(0.05)
        cluster.stop_node(cluster.nodes[0], kill=True)
        assert proc.wait(timeout=120) == 3
        reader.join(timeout=10)
        text = "".join(output)
        assert "NOT COMPLETE" in text and "acknowledged rows: 2-" in text, text
        acked_line = next(line for line in text.splitlines() if "acknowledged rows:" in line)

        cluster.start()
        in_log = _records(bootstrap, topic)
        acked = _parse_ranges(acked_line.split(":", 1)[1])
        # every acknowledged row is in the log (the report told the truth)
        in_log_keys = {(r["report_id"], r["revision"]) for r in in_log}
        all_rows = list(facility_rows("320000", rows, revisions=2))
        assert {(all_rows[n - 2]["report_id"], all_rows[n - 2]["revision"]) for n in acked} <= in_log_keys
        assert 0 < len(acked) < rows

        rerun = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        final = _records(bootstrap, topic)
        latest: dict[str, int] = {}
        for r in final:
            latest[r["report_id"]] = max(latest.get(r["report_id"], 0), r["revision"])
        expected = {row["report_id"]: row["revision"] for row in all_rows}  # revision 2 is the later row
        assert latest == expected
        # exactly one copy per report per run: the log holds the first run's prefix plus the full re-run
        assert len(final) == len(in_log) + rows
    finally:
        cluster.stop()


def _parse_ranges(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            out.update(range(int(a), int(b) + 1))
        elif part:
            out.add(int(part))
    return out


def test_ranges() -> None:
    assert ranges([7, 2, 3, 4, 4]) == [(2, 4), (7, 7)]
