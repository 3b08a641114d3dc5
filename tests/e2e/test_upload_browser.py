"""Issue 14: the clerk's upload page in a real Chromium (Playwright, Debian's /usr/bin/chromium), against the
real secured broker: log in as the province, download a template, upload a file with bad rows and see them,
upload the fixed file and send it, see each report's outcome arrive (the hub's signed receipt: accepted, late;
the same file again: duplicate); another province's feedback is not shown, and the broker refuses the clerk's
own credentials on another province's topics.

The receipts come from the real log service (`cshub notary`, its own principal). What it notarises, the worker's
verdicts on `<root>.verdicts` and its late flags on `<root>.feedback.320000`, is written as the worker writes it,
from the core (`core.Hub` decides accepted / duplicate / superseded and late, `core.verdicts` and `core.feedback`
build the records): no Faust here, to spare the shared cores, as in the dashboard's browser test.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, TopicAuthorizationFailedError
from openpyxl import load_workbook

from connectors.gateway import GatewayConfig
from connectors.gateway.upload import HeldConnection
from connectors.kafka_io import make_consumer, partitions_of, read_to_end
from core import HubConfig, feedback, obligation_rules
from core.hub import Hub
from core.verdicts import encode_verdict, key_text, kid_of, value_sha256, verdict_record
from schemas import codec, reference
from schemas.credentials import PASSWORD_FILE_ENV, Credentials, SecretStore
from schemas.kafka_config import kafka_python_config
from schemas.topics import TopicNames
from tests.e2e.gateway import free_port, serving
from tests.evidence.conftest import EvidenceHub, Notaries, make_hub

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
MINE, OTHER = "320000", "110000"  # the two provinces of tests/evidence's topic root


def _secrets() -> SecretStore:
    return SecretStore(Path(os.environ[PASSWORD_FILE_ENV]).parent)


@pytest.fixture(scope="module")
def desk(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, EvidenceHub]]:
    """A topic root with the provinces' and the notary's ACLs (`tests/evidence`), a running notary, and the
    gateway serving the upload page on it."""
    if PASSWORD_FILE_ENV not in os.environ:
        pytest.skip("needs the session's secured local broker (its secrets folder holds the provinces' passwords)")
    hub = make_hub(kafka_bootstrap, tmp_path_factory.mktemp("upload"))
    notaries = Notaries(hub)
    notaries.wait_ready(notaries.start("notary"))
    config = GatewayConfig(bootstrap=kafka_bootstrap, topic_root=hub.names.root, port=free_port(),
                           start_reader=False)  # the upload page needs no table readers
    try:
        with serving(config) as base:
            yield base, hub
    finally:
        notaries.stop_all()


def _write(path: Path, template: Path, rows: list[dict[str, Any]]) -> Path:
    """Fill the downloaded template as a clerk does in Excel: over the example row and below it."""
    wb = load_workbook(template)
    ws = wb.worksheets[0]
    names = [str(c.value).splitlines()[-1] for c in ws[1]]
    for number, values in enumerate(rows, start=2):
        for index, name in enumerate(names, start=1):
            ws.cell(row=number, column=index, value=values.get(name))
    wb.save(path)
    return path


def _row(n: int, period: str, allocated: float, disbursed: float) -> dict[str, Any]:
    return {"report_id": f"JS-UP-{n}", "revision": 1, "province": MINE, "period": period,
            "produced_at": dt.datetime(2026, 12, 1, 9, 30), "source": "CENTRAL_BUDGET",
            "purpose": "社区养老服务骨干网", "project_name": f"南京市第{n}社区项目", "allocated_yuan": allocated,
            "disbursed_yuan": disbursed}


class Worker:
    """The hub's word on what arrived, as the worker writes it: the core's fold decides each record's verdict
    (accepted, duplicate, superseded) and lateness; the verdicts go to `<root>.verdicts` for the notary, the late
    flags to the province's feedback. And, to prove the page shows only its own, a rejection of the same report
    id goes to the other province's feedback."""

    def __init__(self, bootstrap: str, names: TopicNames) -> None:
        self.bootstrap, self.names = bootstrap, names
        self.hub = Hub(HubConfig.from_reference(), rules=obligation_rules(reference.obligations_csv()))
        self.next_offset = 0

    def answer(self) -> list[str]:
        topic = self.names.inbound(MINE, "funding")
        consumer = make_consumer(self.bootstrap)
        try:
            start = {TopicPartition(topic, 0): self.next_offset}
            records = list(read_to_end(consumer, partitions_of(consumer, topic), start=start))
        finally:
            consumer.close()
        producer = KafkaProducer(**kafka_python_config(self.bootstrap, client_id="cshub-test", acks="all"))
        found = []
        try:
            for r in records:
                value = codec.decode(r.value).value
                notes = self.hub.apply("funding", value, r.timestamp, r.topic, r.partition, r.offset)
                found.append(self.hub.verdict + (", late" if self.hub.late else ""))
                producer.send(self.names.verdicts, key=topic.encode(), value=encode_verdict(verdict_record(
                    r.topic, r.partition, r.offset, r.timestamp, value_sha256(r.value), key_text(r.key),
                    kid_of(r.headers), MINE, "funding", value["report_id"], value["revision"], self.hub.verdict,
                    self.hub.late)))
                for note in notes:
                    if note["type"] == "OBLIGATION_MET_LATE":
                        fb = feedback(MINE, None, "LATE", "late", note["message"], "", -1, -1, note["event_time"])
                        producer.send(self.names.feedback(MINE), key=note["subject"].encode(),
                                      value=codec.encode("cshub.Feedback", fb))
                self.next_offset = r.offset + 1
            other = feedback(OTHER, "JS-UP-1", "REJECTED", "bad_county_code", "北京市的反馈 another province's",
                             self.names.inbound(OTHER, "funding"), 0, 0, records[0].timestamp)
            producer.send(self.names.feedback(OTHER), key=b"JS-UP-1", value=codec.encode("cshub.Feedback", other))
            producer.flush(timeout=30)
        finally:
            producer.close()
        return found


def _states(page: Any) -> list[list[str]]:
    return page.eval_on_selector_all("#outcomes tbody tr", "rows => rows.map(r => [r.dataset.row, r.dataset.state])")


def test_a_clerk_checks_fixes_sends_and_sees_the_outcomes(desk: tuple[str, EvidenceHub], kafka_bootstrap: str,
                                                          tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    base, evidence = desk
    names = evidence.names
    worker = Worker(kafka_bootstrap, names)
    password = _secrets().credentials(f"province-{MINE}").password
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            context = browser.new_context(accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{base}/upload")
            page.fill("#principal", f"province-{MINE}")
            page.fill("#password", "not-the-password")
            page.click("#login button")
            page.wait_for_function("document.querySelector('#login-error').textContent.length > 0")
            refused = f"province-{MINE} could not log in: wrong password or unknown user"
            assert page.inner_text("#login-error") == refused
            page.fill("#password", password)
            page.click("#login button")
            page.wait_for_selector('body[data-state="ready"]')
            assert "江苏省" in page.inner_text("#who")
            cookie = next(c for c in context.cookies() if c["name"] == "cshub_session")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and password not in cookie["value"]

            page.select_option("#kind", "funding")
            with page.expect_download() as download:
                page.click("#template-link")
            template = tmp_path / "template.xlsx"
            download.value.save_as(template)

            # A file with a bad row (negative money) and a warning: the rows are shown, nothing can be sent.
            bad = _write(tmp_path / "报表.xlsx", template, [
                _row(1, "2026-10", 12_000_000, 8_500_000.5), _row(2, "2026-10", -12_000_000, 0),
                _row(3, "2026-11", 800_000, 900_000)])
            page.set_input_files("#file", str(bad))
            page.click("#check button")
            page.wait_for_selector('#problems tbody tr[data-row="3"]')
            assert page.inner_text('#problems tbody tr[data-row="3"]').split("\t") == [
                "3", "allocated_yuan", "-12,000,000.00 元", "must be 0 or more", "negative_money"]
            assert "is more than allocated_yuan (800,000.00 元)" in page.inner_text('#warnings tbody tr[data-row="4"]')
            assert "1 bad rows" in page.inner_text("#check-summary") and page.is_disabled("#send")

            # The fixed file: checked clean, sent, every report acknowledged, then the hub's signed receipts arrive.
            fixed = _write(tmp_path / "报表.xlsx", template, [
                _row(1, "2026-10", 12_000_000, 8_500_000.5), _row(2, "2026-10", 12_000_000, 0),
                _row(3, "2026-11", 800_000, 900_000)])
            page.set_input_files("#file", str(fixed))
            page.click("#check button")
            page.wait_for_function("document.querySelector('#check-summary').textContent.includes('ready to send')")
            assert page.inner_text("#check-summary").startswith("报表.xlsx: 3 good rows, 0 bad rows, 1 warning(s)")
            page.click("#send")
            page.wait_for_selector('#outcomes tbody tr[data-state="acknowledged"][data-row="4"]')
            assert "3 sent, 3 acknowledged" in page.inner_text("#send-summary")

            assert worker.answer() == ["accepted, late", "accepted", "accepted"]
            page.wait_for_selector('#outcomes tbody tr[data-state="accepted"][data-row="4"]', timeout=30_000)
            page.wait_for_function("document.querySelectorAll('#outcomes tbody tr[data-receipt=\"true\"]')"
                                   ".length === 3", timeout=30_000)
            # late: the first report of 2026-10 (due 2026-11-10) came after its due time; the hub flags that one
            assert _states(page) == [["2", "accepted, late"], ["3", "accepted"], ["4", "accepted"]]
            assert "signed receipt, log entry #" in page.inner_text('#outcomes tbody tr[data-row="4"]')
            assert "北京市" not in page.inner_text("body")  # another province's feedback is never shown

            # The same file again: the hub keeps the latest revision, so each report is a harmless duplicate.
            page.click("#check button")
            page.wait_for_function("document.querySelector('#check-summary').textContent.includes('ready to send')")
            batch = page.get_attribute("#outcomes", "data-batch")
            page.click("#send")
            page.wait_for_function(f"document.querySelector('#outcomes').dataset.batch !== '{batch}'")
            assert worker.answer() == ["duplicate", "duplicate", "duplicate"]
            page.wait_for_function("document.querySelectorAll('#outcomes tbody tr[data-state=\"duplicate\"]')"
                                   ".length === 3", timeout=30_000)
        finally:
            browser.close()

    # Forced: the clerk's own credentials on another province's topics are refused by the broker itself.
    clerk = HeldConnection(kafka_bootstrap, f"province-{MINE}", held=Credentials(f"province-{MINE}", password))
    consumer = KafkaConsumer(**kafka_python_config(clerk, client_id="cshub-test", group_id=None,
                                                   enable_auto_commit=False))
    try:
        theirs = TopicPartition(names.feedback(OTHER), 0)
        consumer.assign([theirs])
        with pytest.raises(TopicAuthorizationFailedError):
            consumer.end_offsets([theirs])
    finally:
        consumer.close()
    producer = KafkaProducer(**kafka_python_config(clerk, client_id="cshub-test", acks="all"))
    try:
        with pytest.raises(KafkaError, match="AuthorizationFailed"):
            producer.send(names.inbound(OTHER, "funding"), key=b"JS-UP-1", value=b"forged").get(timeout=20)
    finally:
        producer.close(timeout=5)
