"""Run the worker: create topics, build the app, hand it to a Faust Worker until it is stopped."""

from __future__ import annotations

import gc
import logging
import time

from kafka import KafkaConsumer

from schemas.kafka_config import Target, kafka_python_config
from streams.settings import WorkerSettings

log = logging.getLogger(__name__)
GC_THRESHOLDS = (100_000, 50, 100)
"""The state is millions of small long-lived objects; CPython's default thresholds collect generation 0
every 700 allocations and walk that state often (seen as pauses attributed to whatever allocated)."""


def run_worker(settings: WorkerSettings) -> int:
    """Blocks until SIGTERM/SIGINT; returns the process exit code."""
    gc.set_threshold(*GC_THRESHOLDS)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # `cshub worker` has put the topic plan on the broker and checked it (connectors.admin.ensure_plan);
    # a just-created topic can still be missing from a broker's metadata: wait, or Faust leaves it out.
    wait_for_metadata(settings.kafka, [s.name for s in settings.topic_plan().hub_specs()])
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    import faust  # after the topics exist; faust's import has side effects, so keep it out of module import

    from streams.app import build_app

    app = build_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    # aiokafka logs at debug level per produced record; left at the default level those calls build
    # LogRecords (~3 per input record, measured with cProfile) that nobody prints.
    quiet = max(logging.getLevelName(settings.log_level.upper()), logging.INFO)
    for name in ("aiokafka", "kafka", "faust", "mode"):
        logging.getLogger(name).setLevel(quiet)
    if settings.profile is None:
        worker.execute_from_commandline()  # exits the process via sys.exit when stopped
        return 0
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        worker.execute_from_commandline()
    finally:
        profiler.disable()
        profiler.dump_stats(settings.profile)
    return 0


def wait_for_metadata(target: Target, topics: list[str], timeout_s: float = 30.0) -> None:
    """Until the broker's metadata lists every topic with its partitions (or `timeout_s`)."""
    consumer = KafkaConsumer(**kafka_python_config(target, client_id="cshub-worker-admin"))
    try:
        deadline = time.monotonic() + timeout_s
        missing = list(topics)
        while missing and time.monotonic() < deadline:
            known = consumer.topics()
            missing = [t for t in missing if t not in known or not consumer.partitions_for_topic(t)]
            time.sleep(0.2 if missing else 0)
        if missing:
            log.warning("%d topic(s) still missing from the metadata after %.0f s, e.g. %s", len(missing),
                        timeout_s, missing[:3])
    finally:
        consumer.close()
