"""Bug 2 of issue 9: one topic plan, so `cshub topics create` and `cshub worker` agree, and a worker refuses
topics that differ from the plan instead of starting an agent that dies (Faust's PartitionsMismatch).

On main, `topics create` made 6 validated partitions and the worker planned 4: the worker started, its
agent died, /health said ok, and every row stayed 0.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from schemas import reference
from schemas.settings import load_settings
from schemas.topics import TopicNames, TopicPlan, TopicSpec, TopicState, differences

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def only_env(**values: str) -> dict[str, str]:
    """Only these CSHUB_* settings, plus the session's login (the secured test broker's admin)."""
    login = {k: os.environ[k] for k in ("CSHUB_PRINCIPAL", "CSHUB_PASSWORD_FILE") if k in os.environ}
    return {**{k: v for k, v in os.environ.items() if not k.startswith("CSHUB_")}, **login, **values}


def test_the_plan_has_every_topic_once_and_faust_topics_match_their_tables() -> None:
    plan = load_settings(topic_root="r", app_id="app", partitions=5).topic_plan()
    specs = {s.name: s for s in plan.specs()}
    assert len(specs) == len(plan.specs())
    provinces = reference.provinces()
    notary = 1 + 2 + len(provinces)  # the verdicts; the log and its checkpoints; a receipts topic per province
    assert len(specs) == len(provinces) * 3 + 3 + 1 + 6 + 1 + 1 + 1 + len(provinces) + 1 + 3 + notary
    assert specs["r.validated.funding"].partitions == specs["app-hub-state-changelog"].partitions == 5
    assert specs["r.validated-batches"].partitions == 5  # the envelopes are co-partitioned with the state
    assert specs["app-hub-state-changelog"].compacted and specs["r.national.coverage"].compacted
    assert specs["app-national-parts-changelog"].partitions == specs["r.national-parts"].partitions == 1
    assert specs["r.in.320000.policy"].configs["retention.ms"] == "-1"
    assert not specs["app-__assignor-__leader"].compacted


def test_differences_say_what_blocks_and_what_to_do() -> None:
    spec = TopicSpec("r.validated.facility", 4, 1, {"cleanup.policy": "delete"}, setting="partitions")
    found = differences(spec, TopicState(spec.name, 6, 3, {"cleanup.policy": "compact"}))
    by_what = {d.what: d for d in found}
    assert by_what["partitions"].blocking and "CSHUB_PARTITIONS=6" in by_what["partitions"].advice
    assert by_what["cleanup.policy"].blocking
    assert not by_what["replication"].blocking
    assert differences(spec, TopicState(spec.name, 4, 1, {"cleanup.policy": "delete"})) == []


def test_topics_create_and_the_worker_share_one_plan() -> None:
    names = TopicNames("r")
    plan = TopicPlan(names, tuple(reference.provinces()))
    assert plan.specs() == load_settings(topic_root="r").topic_plan().specs()


@pytest.mark.integration
def test_a_worker_refuses_topics_with_other_partitions_and_says_what_to_do(
        kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path) -> None:
    root = unique_name("plan")
    env = only_env(CSHUB_BOOTSTRAP=kafka_bootstrap, CSHUB_TOPIC_ROOT=root, CSHUB_APP_ID=f"{root}-worker",
                   CSHUB_DATA_DIR=str(tmp_path / "state"), CSHUB_WEB_PORT=str(free_port()))
    created = subprocess.run([sys.executable, "-m", "cshub.cli", "topics", "create", "--partitions", "6"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stdout + created.stderr

    listed = subprocess.run([sys.executable, "-m", "cshub.cli", "topics", "list"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 1
    assert f"{root}.validated.facility  partitions=6 replication=1 cleanup.policy=delete  DIFFERS" in listed.stdout

    started = time.monotonic()
    worker = subprocess.run([sys.executable, "-m", "cshub.cli", "worker"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=90)
    assert time.monotonic() - started < 60
    assert worker.returncode == 2, worker.stdout + worker.stderr
    assert "Traceback" not in worker.stderr and worker.stderr.count("\n") == 1, worker.stderr
    assert f"{root}.validated.facility: partitions is 6, the plan says 4" in worker.stderr
    assert "CSHUB_PARTITIONS=6" in worker.stderr
    assert not (tmp_path / "state").exists()  # refused before the Faust app was built


@pytest.mark.integration
def test_topics_list_into_a_closed_pipe_is_quiet(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> None:
    env = only_env(CSHUB_BOOTSTRAP=kafka_bootstrap, CSHUB_TOPIC_ROOT=unique_name("pipe"))
    out = subprocess.run(f"'{sys.executable}' -m cshub.cli topics list | head -1", shell=True, cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.count("\n") == 1 and "MISSING" in out.stdout
    assert out.stderr == "", out.stderr
