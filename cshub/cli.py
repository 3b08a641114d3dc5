"""The `cshub` console script: one subcommand per job.

Each subcommand lives in `cshub/commands/<name>.py` with `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Only the chosen subcommand's module is imported, so `cshub publish` does not
pay for importing Faust. This package is the composition root: the one place allowed to import
both `streams` and `connectors`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, str] = {
    "run": "the whole hub on this machine: broker, topics, worker, web dashboard, demo feed",
    "broker": "the local Apache Kafka broker (start | stop | status)",
    "topics": "create the hub's topics (idempotent)",
    "worker": "the faust-streaming worker: validation, national tables, notifications, web views",
    "publish": "publish a province's reports from CSV, JSON Lines or Excel",
    "subscribe": "read national tables and notifications (ministries)",
    "audit": "replay the input topics and check the published tables (auditors)",
    "demo": "a seeded, realistic feed of the 31 provinces reporting month by month",
    "security": "the hub's identities: passwords, SCRAM users and ACLs (init | apply | add-province | rotate | revoke)",
}


def _load(name: str):
    return importlib.import_module(f"cshub.commands.{name}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cshub", description="Community service exchange hub.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            _load(name).add_arguments(sp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    only = chosen if chosen in COMMANDS else None
    args = build_parser(only).parse_args(args_list)
    return int(_load(args.command).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
