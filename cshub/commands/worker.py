"""`cshub worker`: the faust-streaming worker (validation, national tables, notifications, web views).

Before the Faust app starts, the topic plan is put on the broker (missing topics created) and checked:
a topic whose partitions or compaction differ from the plan stops the worker here, with what to do,
instead of an agent that dies inside a process that looks healthy (issue 9, bug 2).
"""

from __future__ import annotations

import argparse

from cshub.options import add_settings, settings_from
from schemas.settings import Settings

SETTINGS = ("bootstrap", "principal", "password_file", "topic_root", "app_id",
            "data_dir", "store", "web_host", "web_port", "partitions",
            "inbound_partitions", "replication", "instance_id", "provinces_file", "obligations_file", "log_level",
            "require_signatures", "public_keys_file")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, *SETTINGS)


def run(args: argparse.Namespace) -> int:
    from connectors.admin import ensure_plan

    settings = settings_from(args)
    ensure_plan(settings.kafka, settings.topic_plan().specs())
    check_public_keys(settings)
    from streams.worker import run_worker

    print(f"cshub worker: broker {settings.kafka}, topics {settings.topic_root}.*, state {settings.data_dir}, "
          f"web http://{settings.web_host}:{settings.web_port}/health", flush=True)
    return run_worker(settings)


def check_public_keys(settings: Settings) -> None:
    """When signatures are required, the public-keys file must be there and sound before anything starts."""
    if not settings.require_signatures:
        return
    from core.signing import PublicKeysError, read_public_keys

    path = settings.public_keys_path
    if not path.exists():
        raise PublicKeysError(f"the worker requires submission signatures, and there is no public-keys file at {path}",
                              "create it with `cshub security init` (or name yours with CSHUB_PUBLIC_KEYS_FILE); while"
                              " provinces adopt signing, CSHUB_REQUIRE_SIGNATURES=false turns the check off")
    read_public_keys(path)
