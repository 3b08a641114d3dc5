"""`cshub worker`: the faust-streaming worker (validation, national tables, notifications, web views).

Settings come from CSHUB_* environment variables (streams/settings.py); flags override them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "the faust-streaming worker: validation, national tables, notifications, web views"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (env CSHUB_BOOTSTRAP, default 127.0.0.1:9092)")
    parser.add_argument("--topic-root", help="topic name root (env CSHUB_TOPIC_ROOT, default cshub)")
    parser.add_argument("--data-dir", type=Path, help="RocksDB state folder (env CSHUB_DATA_DIR)")
    parser.add_argument("--web-port", type=int, help="port of the web views (env CSHUB_WEB_PORT, default 6066)")
    parser.add_argument("--app-id", help="Faust app id / consumer group (env CSHUB_APP_ID)")


def run(args: argparse.Namespace) -> int:
    from streams.settings import WorkerSettings
    from streams.worker import run_worker

    overrides = {k: v for k, v in {"bootstrap": args.bootstrap, "topic_root": args.topic_root,
                                   "data_dir": args.data_dir, "web_port": args.web_port,
                                   "app_id": args.app_id}.items() if v is not None}
    settings = WorkerSettings(**overrides)
    print(f"cshub worker: broker {settings.bootstrap}, topics {settings.topic_root}.*, state {settings.data_dir}, "
          f"web http://{settings.web_host}:{settings.web_port}/health", flush=True)
    return run_worker(settings)
