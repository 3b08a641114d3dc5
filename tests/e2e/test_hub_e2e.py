"""End to end, as the README says: `cshub run` up, the dashboard in real headless Chromium, Ctrl-C.

One hub per test module, on its own free ports and its own data folder (so it never collides with a
developer's hub on 9092/8080), with the real local broker, the real worker subprocess and the demo
feed. The test then publishes one more report through the provincial publisher and watches the page
change, takes a screenshot (.cshub/e2e/dashboard.png) and finally sends Ctrl-C (SIGINT to the process
group, as a terminal does) and checks that no process of the hub is left and the data is kept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from cdp_browser import Browser, chromium_path

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".cshub" / "e2e"
PROVINCE_ROWS = "document.querySelectorAll('#provinces tbody tr[data-province]').length"


def _free_port(pair: bool = False) -> int:
    """A free loopback port (and, with `pair`, the next one free too: the broker's controller port)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not pair or port >= 65535:
            return port
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


def _get_json(url: str, timeout: float = 2.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line or environment mention `text` (our data folder)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (proc / "environ").read_bytes().decode(errors="replace")
            state = (proc / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and (text in cmdline or text in environ):
            found.append((int(proc.name), cmdline[:4000]))
    return found


@dataclass
class Hub:
    proc: subprocess.Popen[str]
    home: Path
    url: str
    bootstrap: str
    log: Path
    answered_s: float


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    if chromium_path() is None:
        pytest.fail("chromium is not installed: run `bash deploy/local/system-deps.sh` (apt-get install chromium)")
    home = tmp_path_factory.mktemp("hub")
    broker_port, port, worker_port = _free_port(pair=True), _free_port(), _free_port()
    log = home / "run.out"
    cmd = [sys.executable, "-m", "cshub.cli", "run", "--home", str(home), "--port", str(port),
           "--broker-port", str(broker_port), "--worker-port", str(worker_port),
           "--demo-months", "8", "--demo-speed", "600"]
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                cwd=ROOT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    answered = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            _get_json(url + "health")
            answered = time.monotonic() - started
            break
        except OSError:
            time.sleep(0.1)
    try:
        assert answered is not None, f"the dashboard never answered; output:\n{log.read_text()}"
        yield Hub(proc, home, url, f"127.0.0.1:{broker_port}", log, answered)
    finally:
        if proc.poll() is None:  # the test did not get to its own Ctrl-C
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_hub_quiet(hub: Hub, quiet_s: float = 3.0, timeout_s: float = 180.0) -> dict:
    """Wait until the demo feed is done and the gateway's snapshot stopped changing; return /health."""
    deadline = time.monotonic() + timeout_s
    last_version, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        health = _get_json(hub.url + "health")
        demo_done = "demo feed: finished" in hub.log.read_text()
        if health["version"] != last_version:
            last_version, since = health["version"], time.monotonic()
        elif demo_done and time.monotonic() - since >= quiet_s:
            return health
        time.sleep(0.5)
    raise TimeoutError(f"the hub did not settle within {timeout_s:.0f} s; output:\n{hub.log.read_text()}")


def _new_facility(province: str) -> dict:
    return {
        "report_id": f"E2E-{province}-{time.time_ns()}", "revision": 1, "withdrawn": False, "province": province,
        "period": "2024-09", "produced_at": dt.datetime.now(dt.UTC), "county_code": f"{province[:2]}0102",
        "community_code": f"{province[:2]}0102999{time.time_ns() % 1000:03d}", "community_name": "端到端测试社区",
        "area_type": "URBAN", "households": 1000, "floor_area_m2": Decimal("450.00"), "status": "OPERATING",
        "functions": ["ELDERLY_CARE", "CHILDCARE"], "old_community_renovation": False, "operating_mode": "GOVERNMENT",
    }


def test_dashboard_shows_the_country_live_in_chromium(hub: Hub) -> None:
    from connectors.publisher import Publisher
    from schemas.kafka_config import KafkaConnection
    from schemas.topics import TopicNames

    print(f"\ndashboard answered {hub.answered_s:.2f} s after `cshub run` started")
    _wait_hub_quiet(hub)

    async def browse() -> None:
        async with Browser(width=1440, height=900) as browser:
            t0 = time.monotonic()
            await browser.goto(hub.url)
            rows = await browser.wait_for(f"{PROVINCE_ROWS} === 32 && document.body.dataset.state === 'live'"
                                          f" && {PROVINCE_ROWS}", timeout_s=30)
            assert rows == 32
            codes = await browser.evaluate(
                "[...document.querySelectorAll('#provinces tbody tr[data-province]')].map(r => r.dataset.province)")
            assert codes[0] == "000000", "the national row comes first"
            assert len(set(codes[1:])) == 31
            names = await browser.evaluate(
                "[...document.querySelectorAll('#provinces tbody tr[data-province]')].map(r => r.cells[1].textContent)")
            assert "江苏省" in names and "新疆维吾尔自治区" in names, names
            national = await browser.evaluate("document.querySelector('#national-row').textContent")
            assert "全国" in national and "%" in national, national
            # Every province shows coverage figures (the demo feed reported for all 31).
            await browser.wait_for("[...document.querySelectorAll('#provinces tbody tr[data-province]')]"
                                   ".every(r => /\\d+\\.\\d%/.test(r.cells[2].textContent))", timeout_s=30)
            notes = await browser.wait_for("document.querySelectorAll('#notifications li[data-type]').length",
                                           timeout_s=30)
            assert notes >= 1
            print(f"page complete {time.monotonic() - t0:.2f} s after navigation; {notes} notifications shown")
            await browser.screenshot(SHOTS / "dashboard.png", full_page=False)
            await browser.screenshot(SHOTS / "dashboard-full.png")

            # A new report through the provincial publisher changes the page, live (SSE, no reload).
            # A province still short of full urban coverage, so one more covered community shows as +1.
            coverage = _get_json(hub.url + "api/tables")["tables"]["coverage"]
            province = next(code for code, row in sorted(coverage.items())
                            if code != "000000" and row["urban_covered"] < row["urban_communities"])
            before = await browser.evaluate("document.querySelector('#kpi-urban .foot').textContent")
            covered_before = int(re.match(r"(\d+) of", before).group(1))
            version_before = int(await browser.evaluate("document.body.dataset.version"))
            login = KafkaConnection(hub.bootstrap, f"province-{province}",  # as that province, from the hub's secrets
                                    hub.home / "secrets" / f"province-{province}.password")
            with Publisher(login, province, names=TopicNames("cshub")) as pub:
                result = pub.publish("facility", [(1, _new_facility(province))])
            assert result.complete and result.acknowledged == 1, result
            expected = f"{covered_before + 1} of"
            after = await browser.wait_for(
                f"(t => t.startsWith({expected!r}) && t)(document.querySelector('#kpi-urban .foot').textContent)",
                timeout_s=60)
            assert after.startswith(expected), (before, after)
            assert int(await browser.evaluate("document.body.dataset.version")) > version_before
            await browser.screenshot(SHOTS / "dashboard-after-report.png", full_page=False)

    asyncio.run(browse())


def test_the_first_command_gives_each_province_its_signed_receipts(hub: Hub) -> None:
    """`cshub run` starts the log service: a province lists its receipts as itself and checks the hub's
    signature on each with the public-keys file alone (README, "What the hub answered")."""
    secrets = hub.home / "secrets"
    env = {**os.environ, "CSHUB_PRINCIPAL": "province-110000",
           "CSHUB_PASSWORD_FILE": str(secrets / "province-110000.password")}
    deadline = time.monotonic() + 60
    while True:
        shown = subprocess.run([sys.executable, "-m", "cshub.cli", "feedback", "--province", "110000", "--verify",
                                "--bootstrap", hub.bootstrap, "--public-keys-file", str(secrets / "public-keys.json")],
                               capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        found = re.search(r"^(\d+) receipts of 110000, every hub signature verified$", shown.stdout, re.MULTILINE)
        if (found and int(found.group(1)) > 0) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert found and int(found.group(1)) > 0, shown.stdout


def test_ctrl_c_stops_everything_and_keeps_the_data(hub: Hub) -> None:
    """Runs after the dashboard test on the same hub (file order): Ctrl-C, then nothing is left."""
    assert hub.proc.poll() is None, "the hub should still be running"
    # Ctrl-C: SIGINT to the foreground process group, as a terminal sends it.
    os.killpg(hub.proc.pid, signal.SIGINT)
    hub.proc.wait(90)
    output = hub.log.read_text()
    assert hub.proc.returncode in (0, 1), output
    assert "stopped; data kept" in output, output
    time.sleep(0.5)
    left = _processes_mentioning(str(hub.home))
    assert not left, f"processes left behind after Ctrl-C: {left}"
    for pid in map(int, re.findall(r"pid (\d+)", output)):
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    assert (hub.home / "broker" / "node-1" / "data" / "meta.properties").exists(), "the broker's data is kept"
    assert (hub.home / "worker").exists(), "the worker's state folder is kept"


def _start_run(home: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    log = home / f"run-{time.time_ns()}.out"
    cmd = [sys.executable, "-m", "cshub.cli", "run", "--home", str(home), *extra]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                cwd=ROOT, start_new_session=True)
    return proc, log


def _wait_text(log: Path, text: str, proc: subprocess.Popen[str], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not printed by cshub run; output:\n{log.read_text()}")


def test_a_killed_run_leaves_only_the_broker_and_the_next_run_takes_it_over(tmp_path: Path) -> None:
    """SIGKILL on `cshub run` itself: its children die with it (PR_SET_PDEATHSIG); the broker, a daemon of
    its data folder, survives; the next `cshub run` reuses it and Ctrl-C then stops everything."""
    ports = ["--port", str(_free_port()), "--broker-port", str(_free_port(pair=True)),
             "--worker-port", str(_free_port()), "--no-demo"]
    proc, log = _start_run(tmp_path, *ports)
    try:
        _wait_text(log, "worker:    ready", proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            left = _processes_mentioning(str(tmp_path))
            if all("kafka.Kafka" in cmd for _pid, cmd in left):
                break
            time.sleep(0.2)
        assert left and all("kafka.Kafka" in cmd for _pid, cmd in left), left
        proc, log = _start_run(tmp_path, *ports)
        _wait_text(log, "already running", proc)
        _wait_text(log, "worker:    ready", proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(90)
    assert "stopped; data kept" in log.read_text()
    time.sleep(0.5)
    assert not _processes_mentioning(str(tmp_path))
