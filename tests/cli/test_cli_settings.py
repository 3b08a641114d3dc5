"""The one settings object: flag > CSHUB_* variable > default, and every --help names the variable."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cshub import cli
from cshub.options import settings_from
from schemas.settings import Settings, SettingsError, env_name, load_settings

ROOT = Path(__file__).resolve().parents[2]
KAFKA_COMMANDS = ("run", "topics", "worker", "notary", "publish", "feedback", "subscribe", "audit", "demo")


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any CSHUB_* variable, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSHUB_")}
    return {**env, **values}


def parser_of(command: str) -> argparse.ArgumentParser:
    root = cli.build_parser(command)
    sub = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def test_flag_beats_variable_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("CSHUB_")]:
        monkeypatch.delenv(name)
    assert Settings().bootstrap == "127.0.0.1:9092" and Settings().partitions == 4
    monkeypatch.setenv("CSHUB_BOOTSTRAP", "env-host:1")
    monkeypatch.setenv("CSHUB_PARTITIONS", "6")
    monkeypatch.setenv("CSHUB_HOME", "/srv/hub")
    args = parser_of("topics").parse_args(["list", "--bootstrap", "flag-host:2"])
    settings = settings_from(args)
    assert settings.bootstrap == "flag-host:2"  # flag
    assert settings.partitions == 6  # variable
    assert settings.topic_root == "cshub"  # default
    assert settings.data_dir == Path("/srv/hub/worker") and settings.broker_home == Path("/srv/hub/broker")
    assert settings.bootstrap_given()


def test_every_settings_flag_names_its_variable_in_help() -> None:
    for command in cli.COMMANDS:
        parser = parser_of(command)
        flags = [a for a in parser._actions if a.dest in Settings.model_fields]
        if command in KAFKA_COMMANDS:
            assert "bootstrap" in {a.dest for a in flags}, command
            assert "topic_root" in {a.dest for a in flags}, command
        text = parser.format_help().replace("\n", " ")
        for action in flags:
            assert env_name(action.dest) in " ".join(text.split()), (command, action.dest)


def test_child_processes_get_the_same_settings() -> None:
    settings = load_settings(bootstrap="h:1", topic_root="other", partitions=3, home=Path("/x"))
    env = settings.as_env()
    assert env["CSHUB_BOOTSTRAP"] == "h:1" and env["CSHUB_TOPIC_ROOT"] == "other" and env["CSHUB_PARTITIONS"] == "3"
    again = Settings(**{k: v for k, v in settings.model_dump().items() if v is not None})
    assert again == settings


def test_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSHUB_PARTITIONS", "many")
    with pytest.raises(SettingsError, match="CSHUB_PARTITIONS='many'"):
        load_settings()
    with pytest.raises(SettingsError, match="--web-port=0"):
        load_settings(web_port=0)


def test_a_bad_setting_ends_in_one_line_and_exit_2() -> None:
    out = subprocess.run([sys.executable, "-m", "cshub.cli", "topics", "list"], cwd=ROOT, capture_output=True,
                         text=True, env=clean_env(CSHUB_PARTITIONS="0"), timeout=60)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("cshub topics: bad setting: CSHUB_PARTITIONS=")


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "cshub.cli", "--version"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("cshub 0.1.0 (Kafka 4.4.0)"), out


def test_an_unexpected_error_is_one_line_and_a_report_file(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from cshub.commands import topics

    def broken(_args: argparse.Namespace) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(topics, "run", broken)
    assert cli.main(["topics", "list"]) == cli.INTERNAL_ERROR
    err = capsys.readouterr().err
    assert err.startswith("cshub topics: unexpected error RuntimeError: boom; this is a bug") and err.count("\n") == 1
    report = Path(err.rsplit(" ", 1)[-1].strip())
    try:
        assert "Traceback" in report.read_text(encoding="utf-8")
        assert oct(report.stat().st_mode & 0o777) == "0o600"
    finally:
        report.unlink()
