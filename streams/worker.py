"""Run the worker: create topics, build the app, hand it to a Faust Worker until it is stopped."""

from __future__ import annotations

import logging

from streams.admin import wait_for_metadata
from streams.settings import WorkerSettings


def run_worker(settings: WorkerSettings) -> int:
    """Blocks until SIGTERM/SIGINT; returns the process exit code."""
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
