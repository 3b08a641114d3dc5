"""Fault tests: a worker joining and leaving mid-stream, a produce failure (see test_faults.py)."""

from __future__ import annotations

import random
import time

import pytest
from faults import N_REPORTS, RUNS, Feeder, audit_agrees, stream
from test_worker import encode_stream, wait_for_tables
from verdicts import assert_verdicts_match_replay

from schemas.kafka_config import kafka_python_config
from schemas.topics import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("run", RUNS)
def test_a_second_worker_joins_and_leaves_mid_stream(kafka_bootstrap: str, unique_name, worker_factory,
                                                      run: int) -> None:
    names = TopicNames(unique_name("f8j"))
    records, truth = stream(seed=8200 + run)
    first = worker_factory(kafka_bootstrap, names.root, CSHUB_INSTANCE_ID="a")
    second = worker_factory(kafka_bootstrap, names.root, CSHUB_INSTANCE_ID="b")
    first.start()
    first.wait_ready()
    feeder = Feeder(kafka_bootstrap, encode_stream(names, records), chunk=1000, pause_s=0.1).start()
    rng = random.Random(run)
    moves = 0
    while not feeder.done() or moves < 4:
        time.sleep(rng.uniform(1.0, 3.0))
        if second.alive():  # leave: a clean stop half of the time, a SIGKILL the other half
            second.kill() if moves % 2 else second.stop()
        else:
            second.start()  # join while the first worker is in the middle of its batches
        moves += 1
    feeder.join()
    if not second.alive():
        second.start()
    wait_for_tables(kafka_bootstrap, names, truth, [first, second], timeout_s=180)
    audit_agrees(kafka_bootstrap, names)
    assert_verdicts_match_replay(kafka_bootstrap, names)
    assert moves >= 4


@pytest.mark.parametrize("run", RUNS)
def test_a_produce_failure_stops_the_worker_and_its_restart_is_exact(kafka_bootstrap: str, unique_name,
                                                                       worker_factory, run: int) -> None:
    """A row the broker refuses for good (too large for its topic) ends the worker (exit 70) before any
    later commit; once the topic is fixed, the restarted worker's tables are exact."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    names = TopicNames(unique_name("f8p"))
    records, truth = stream(seed=8300 + run, n=N_REPORTS // 2)
    worker = worker_factory(kafka_bootstrap, names.root)
    worker.start()
    worker.wait_ready()
    admin = KafkaAdminClient(**kafka_python_config(kafka_bootstrap, client_id="cshub-test"))
    topic = names.national("coverage")

    def max_message_bytes(value: str) -> None:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": value})])

    try:
        feeder = Feeder(kafka_bootstrap, encode_stream(names, records)).start()
        time.sleep(2)
        max_message_bytes("64")  # every coverage row is larger: its send fails for good
        deadline = time.monotonic() + 60
        while worker.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not worker.alive(), "the worker went on although a row could not be produced"
        assert worker.proc is not None and worker.proc.returncode == 70, worker.log_tail()
        assert "producing failed" in worker.log_tail()
        max_message_bytes("1048588")
        worker.start()
        feeder.join()
        worker.wait_ready(120)
        wait_for_tables(kafka_bootstrap, names, truth, [worker], timeout_s=180)
        audit_agrees(kafka_bootstrap, names)
        assert_verdicts_match_replay(kafka_bootstrap, names)
    finally:
        admin.close()
