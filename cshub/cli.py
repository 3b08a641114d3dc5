"""The `cshub` console script: one subcommand per job.

Each subcommand lives in `cshub/commands/<name>.py` with `add_arguments(parser)` and `run(args) -> int`.
Only the chosen subcommand's module is imported, so `cshub publish` does not pay for importing Faust.
This package is the composition root: the one place allowed to import both `streams` and `connectors`.

Exit codes (every subcommand):
  0    done
  1    done, and it found problems: rows rejected (publish), differences (audit), a child exited (run)
  2    could not run: bad input, a bad setting, the broker unreachable, topics that differ from the plan
       (any `CshubError`; one line says what and what to do) or a usage error (argparse)
  3    publish: the broker stopped answering mid-file (the acknowledged rows are listed);
       broker status: not every node is running; notary: another notary took over (one writer)
  70   an unexpected error (a bug): one line, and the traceback in a file it names
  77   refused by the broker: a wrong password or unknown user, or an operation the principal's role does not
       allow (one line says who, what and what to do; `cshub security list` shows each role's rights)
  130  interrupted (Ctrl-C)
A reader that stops reading (`cshub topics list | head`) ends the command quietly with 0.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from importlib import metadata
from types import ModuleType

from schemas.errors import CshubError

COMMANDS: dict[str, str] = {
    "run": "the whole hub on this machine: broker, topics, worker, web dashboard, demo feed",
    "broker": "the local Apache Kafka broker (start | stop | status)",
    "topics": "the hub's topics: create them (idempotent), or list the broker's against the plan",
    "worker": "the faust-streaming worker: validation, national tables, notifications, web views",
    "notary": "the transparency log, its signed checkpoints and the provinces' signed receipts",
    "publish": "publish a province's reports from CSV, JSON Lines or Excel",
    "subscribe": "read national tables and notifications (ministries)",
    "feedback": "a province's receipts: the hub's signed verdict on every record it sent (--verify, --follow)",
    "audit": "replay the input topics and check the published tables (auditors)",
    "demo": "a seeded, realistic feed of the 31 provinces reporting month by month",
    "security": "the hub's identities: passwords, SCRAM users and ACLs (init | apply | add-province | rotate | revoke)",
}
INTERNAL_ERROR = 70
INTERRUPTED = 130


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"cshub.commands.{name}")


def version() -> str:
    """`cshub 0.1.0 (Kafka 4.4.0)`: the installed distribution and the broker it is built and tested for."""
    from deploy.local.broker import KAFKA_VERSION

    try:
        mine = metadata.version("cshub")
    except metadata.PackageNotFoundError:
        mine = "unknown (not installed)"
    return f"cshub {mine} (Kafka {KAFKA_VERSION})"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cshub", description="Community service exchange hub.",
                                     epilog="Exit codes: 0 done, 1 problems found, 2 could not run (the message"
                                            " says what to do), 3 publish incomplete, 70 a bug, 77 refused by the"
                                            " broker, 130 interrupted.")
    parser.add_argument("--version", action="version", version=version())
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
    where = f"cshub {only}" if only else "cshub"
    # The clients' own log lines (aiokafka's retries, its "Unexpected error during InitProducerIdRequest" before
    # a refusal) are not for a person at a terminal: each command says what happened in one line. The worker
    # configures its own logging.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        args = build_parser(only).parse_args(args_list)
        code = int(_load(args.command).run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except CshubError as exc:
        print(f"{where}: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        _stdout_to_devnull()
        return 0
    except Exception as exc:  # the process boundary: a bug, not a user's error; one line, the rest in a file
        return _internal_error(where, exc)


def _stdout_to_devnull() -> None:
    """The reader went away: send what is left (Python's own flush at exit) nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _internal_error(where: str, exc: Exception) -> int:
    fd, path = tempfile.mkstemp(prefix="cshub-error-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"{version()}\nargv: {sys.argv}\n\n")
        traceback.print_exception(exc, file=fh)
    print(f"{where}: unexpected error {type(exc).__name__}: {exc}; this is a bug in cshub: please report it with"
          f" the details in {path}", file=sys.stderr)
    return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
