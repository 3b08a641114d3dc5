"""Measure `cshub run` from a fresh data folder: start to dashboard answering, to hub up, to every province
shown, and Ctrl-C to nothing left. Prints each run and the medians. Not a test (not collected by pytest).

    .venv/bin/python tests/e2e/measure_startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_hub_e2e import _free_port, _processes_mentioning

ROOT = Path(__file__).resolve().parents[2]


def _answers(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def one_run() -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="cshub-measure-"))
    port, broker, worker = _free_port(), _free_port(pair=True), _free_port()
    log = home / "run.out"
    cmd = [sys.executable, "-m", "cshub.cli", "run", "--home", str(home), "--port", str(port),
           "--broker-port", str(broker), "--worker-port", str(worker), "--demo-speed", "600", "--demo-months", "6"]
    t0 = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    out_: dict[str, float] = {}
    base = f"http://127.0.0.1:{port}"
    deadline = t0 + 180
    while time.monotonic() < deadline and proc.poll() is None:
        now = time.monotonic() - t0
        if "dashboard" not in out_:
            with_page = _answers(base + "/health")
            if with_page is not None:
                out_["dashboard"] = now
        if "hub_up" not in out_ and "The hub is up" in log.read_text():
            out_["hub_up"] = now
        if "dashboard" in out_ and "all_provinces" not in out_:
            tables = _answers(base + "/api/tables")
            if tables and len(tables["tables"].get("coverage", {})) >= 32:
                out_["all_provinces"] = now
                break
        time.sleep(0.05)
    t1 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(90)
    out_["stop"] = time.monotonic() - t1
    out_["left_behind"] = float(len(_processes_mentioning(str(home))))
    return out_


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = [one_run() for _ in range(parser.parse_args().runs)]
    for i, r in enumerate(runs, 1):
        print(f"run {i}: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()))
    for key in ("dashboard", "hub_up", "all_provinces", "stop"):
        values = [r[key] for r in runs if key in r]
        if values:
            print(f"median {key}: {statistics.median(values):.2f} s over {len(values)} runs")


if __name__ == "__main__":
    main()
