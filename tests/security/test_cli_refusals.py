"""Bad input at the command line: each refusal is the broker's, reported by `cshub` in one line (who, what was
refused, what to do) with exit code 77, no traceback and no 30-second hang; the right principal still works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas.credentials import ACCESS_REFUSED_EXIT

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "connectors" / "samples" / "facility_320000.csv"


def cshub(hub, principal: str, *argv: str, password_file: Path | None = None) -> tuple[subprocess.CompletedProcess[str],
                                                                                      float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSHUB_")}
    env.update(CSHUB_BOOTSTRAP=hub.bootstrap, CSHUB_TOPIC_ROOT=hub.names.root, CSHUB_APP_ID=hub.app_id,
               CSHUB_PRINCIPAL=principal,
               CSHUB_PASSWORD_FILE=str(password_file or hub.store.path(principal)))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "cshub.cli", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    return done, time.monotonic() - started


def assert_one_line_refusal(done: subprocess.CompletedProcess[str], seconds: float, *words: str) -> None:
    assert done.returncode == ACCESS_REFUSED_EXIT, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert seconds < 20, f"a refusal took {seconds:.0f} s"  # the process start included; kafka-python alone: 30 s


def beijing_file(tmp_path: Path) -> Path:
    """The Jiangsu sample rewritten as Beijing's reports (valid rows for province 110000)."""
    text = re.sub(r",32(\d{4})", r",11\1", SAMPLE.read_text(encoding="utf-8"))
    path = tmp_path / "facility_110000.csv"
    path.write_text(text, encoding="utf-8")
    return path


def publish(hub, principal: str, province: str, path: Path, **kw):
    return cshub(hub, principal, "publish", "--province", province, "--kind", "facility", str(path),
                 "--no-progress", "--timeout", "15", **kw)


def test_a_province_publishes_its_own_reports(secure_hub) -> None:
    done, _ = publish(secure_hub, "province-320000", "320000", SAMPLE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "acknowledged" in done.stdout


def test_a_province_publishing_another_provinces_reports_is_refused(secure_hub, tmp_path: Path) -> None:
    done, seconds = publish(secure_hub, "province-320000", "110000", beijing_file(tmp_path))
    assert_one_line_refusal(done, seconds, "province-320000", f"{secure_hub.names.root}.in.110000.facility",
                            "cshub security list")


@pytest.mark.parametrize("principal", ["ministry-mca", "gateway", "auditor-cnao"])
def test_readers_publishing_anything_are_refused(secure_hub, principal: str) -> None:
    done, seconds = publish(secure_hub, principal, "320000", SAMPLE)
    assert_one_line_refusal(done, seconds, principal, "refused")


def test_a_wrong_password_is_refused_at_once(secure_hub, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("0" * 64)
    wrong.chmod(0o600)
    done, seconds = publish(secure_hub, "province-320000", "320000", SAMPLE, password_file=wrong)
    assert_one_line_refusal(done, seconds, "province-320000 could not log in", "wrong password or unknown user")
    assert "0" * 64 not in done.stderr + done.stdout, "a password must never be printed"


def test_an_unknown_user_is_refused_at_once(secure_hub, tmp_path: Path) -> None:
    path = tmp_path / "nobody.password"
    path.write_text("f" * 64)
    path.chmod(0o600)
    done, seconds = cshub(secure_hub, "province-999999", "subscribe", "national", "--table", "coverage",
                          password_file=path)
    assert_one_line_refusal(done, seconds, "province-999999 could not log in")


def test_a_password_file_others_can_read_is_refused(secure_hub, tmp_path: Path) -> None:
    path = tmp_path / "open.password"
    path.write_text(secure_hub.creds("province-320000").password)
    path.chmod(0o644)
    done, _ = publish(secure_hub, "province-320000", "320000", SAMPLE, password_file=path)
    assert done.returncode == 2 and "chmod 600" in done.stderr and "Traceback" not in done.stderr


def test_only_the_admin_creates_topics(secure_hub) -> None:
    done, seconds = cshub(secure_hub, "province-320000", "topics", "create")
    assert_one_line_refusal(done, seconds, "province-320000", "only the hub's admin creates topics")
