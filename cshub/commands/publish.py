"""`cshub publish --province 320000 --kind facility FILE`: validate a province's file and send it.

Exit status: 0 every row sent and acknowledged; 1 some rows were rejected locally (each is listed by row,
column and rule; every valid row was acknowledged); 2 the file or the broker could not be used at all
(nothing sent); 3 the broker stopped answering mid-file: the acknowledged rows are listed as ranges and
re-running the whole file is safe (the hub keeps the latest revision per report id).

With --wait [SECONDS] (default 60) it then waits, at most that long, for the hub's signed receipt of every sent
row and prints per report: accepted, duplicate, superseded, late, or rejected with the reason, and which rows got
no answer in time; the exit status is then 1 also when the hub rejected a row or a row got no answer.

Every record is signed with the province's Ed25519 key (`--signing-key-file`, default
<secrets>/province-<code>.key; docs/evidence.md); without a key the records go unsigned, with a warning.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cshub.options import add_settings, settings_from
from schemas.errors import CshubError
from schemas.topics import KINDS

if TYPE_CHECKING:
    from core.signing import SigningKey
    from schemas.settings import Settings

MAX_PROBLEMS_SHOWN = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a .csv, .jsonl or .xlsx file (layout: connectors/readers.py)")
    parser.add_argument("--province", required=True, help="the publisher's own 6-digit province code")
    parser.add_argument("--kind", required=True, choices=KINDS)
    add_settings(parser, "bootstrap", "principal", "password_file", "topic_root", "provinces_file", "signing_key_file")
    parser.add_argument("--check", action="store_true", help="validate the file only; send nothing")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds a record may wait for the broker's acknowledgement (default 60)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    parser.add_argument("--wait", type=float, nargs="?", const=60.0, default=None, metavar="SECONDS",
                        help="then wait (default 60 s) for the hub's signed receipt of every row and print its"
                             " outcome (needs the notary: `cshub notary`, started by `cshub run`)")
    add_settings(parser, "public_keys_file")


def _progress(total: int | None, enabled: bool):
    """A rich progress bar on stderr when it is a terminal; else None."""
    if not enabled or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True), total


def run(args: argparse.Namespace) -> int:
    from connectors.publisher import Publisher, format_ranges, ranges
    from connectors.readers import count_rows, read_rows
    from schemas.reference import provinces

    settings = settings_from(args)
    known = provinces(settings.provinces_file)
    if args.province not in known:
        raise CshubError(f"--province {args.province} is not a known province code",
                         "schemas/data/provinces.csv lists them, e.g. 320000 for 江苏省")
    rows = read_rows(args.file, args.kind)
    if args.check:
        return _check(args, rows)
    publisher = Publisher(settings.kafka, args.province, names=settings.names,
                          delivery_timeout_ms=int(args.timeout * 1000),
                          signing_key=_signing_key(settings, args.province))
    bar = _progress(count_rows(args.file), not args.no_progress)
    started_ms = time.time_ns() // 1_000_000
    try:
        if bar is None:
            result = publisher.publish(args.kind, rows)
        else:
            progress, total = bar
            with progress:
                task = progress.add_task("rows", total=total)
                result = publisher.publish(args.kind, rows, on_row=lambda _row: progress.advance(task))
    finally:
        publisher.close()

    name = known[args.province].name_zh
    _show("rejected", result.rejected)
    _show("warning", result.warnings)
    warned = f", {len({w.row for w in result.warnings})} with a warning" if result.warnings else ""
    print(f"{args.file.name} -> {result.topic} ({args.province} {name}, {args.kind}): {result.rows} rows,"
          f" {result.sent} sent{warned}, {result.acknowledged} acknowledged, {result.rejected_rows} rejected locally")
    if result.complete:
        code = 0 if not result.rejected else 1
        if args.wait is not None:
            code = max(code, _wait(args, settings, result, started_ms))
        return code
    print(f"NOT COMPLETE: {result.error or 'the broker did not acknowledge every record'}")
    print(f"  acknowledged rows: {format_ranges(result.acknowledged_ranges())}")
    if result.failed:
        print(f"  sent but failed: rows {format_ranges(ranges(result.failed))}")
    unknown = result.sent - result.acknowledged - len(result.failed)
    if unknown > 0:
        print(f"  {unknown} sent rows got no answer before the timeout (they may or may not be in the log)")
    print("  re-running the same file is safe: acknowledged reports are only sent again as harmless duplicates")
    return 3


def _show(what: str, problems: list) -> None:
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        print(f"  {what} {problem}")
    if len(problems) > MAX_PROBLEMS_SHOWN:
        print(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more ({what})")


def _signing_key(settings: Settings, province: str) -> SigningKey | None:
    """The province's signing key; None (with a warning) when there is none at the default place.

    A key named with --signing-key-file / CSHUB_SIGNING_KEY_FILE must be there and owner-only. Without one, the
    records go unsigned: the hub decides (it rejects them unless it runs with CSHUB_REQUIRE_SIGNATURES=false).
    """
    from core.signing import SigningKey

    path = settings.signing_key_path(province)
    if settings.signing_key_file is None and not path.exists():
        print(f"warning: records not signed: no signing key at {path}. A hub that requires signatures (the"
              f" default) rejects them; ask the hub's administrator for province-{province}.key and name it with"
              " CSHUB_SIGNING_KEY_FILE", flush=True)
        return None
    return SigningKey.load(path)


def _check(args: argparse.Namespace, rows) -> int:
    """Exactly what a send does to each row (validate, encode, size), and nothing sent."""
    from connectors.publisher import check_rows

    bad = good = 0
    problems: list = []
    warnings: list = []
    for prepared in check_rows(args.kind, args.province, rows):
        if prepared.value is None:
            bad += 1
            problems += prepared.problems
        else:
            good += 1
        warnings += prepared.warnings
    _show("rejected", problems)
    _show("warning", warnings)
    warned = f" ({len({w.row for w in warnings})} with a warning)" if warnings else ""
    print(f"{args.file.name}: {good} good rows{warned}, {bad} bad rows (checked only, nothing sent)")
    return 0 if bad == 0 else 1


def _wait(args: argparse.Namespace, settings, result, started_ms: int) -> int:  # type: ignore[no-untyped-def]
    """Print the hub's answer to every sent row; 1 when it rejected one or one got no answer in time."""
    from connectors.outcomes import wait_for_rows
    from core.signing import read_public_keys

    keys = read_public_keys(settings.public_keys_path) if settings.public_keys_path.exists() else None
    print(f"waiting up to {args.wait:g} s for the hub's receipts of {len(result.coordinates)} rows ...", flush=True)
    outcomes, waited = wait_for_rows(settings.kafka, result, timeout_s=args.wait, since_ms=started_ms,
                                     names=settings.names, public_keys=keys)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        print(f"  {outcome.text(waited)}")
        verdict = "no answer" if outcome.receipt is None else outcome.receipt.entry.verdict
        counts[verdict] = counts.get(verdict, 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    checked = "" if keys is None else (", every receipt's hub signature verified" if all(
        o.receipt is None or o.receipt.verified for o in outcomes) else ", SOME RECEIPT SIGNATURES FAILED")
    print(f"hub's answers: {summary or 'none'}{checked}")
    bad = counts.get("rejected", 0) + counts.get("no answer", 0)
    failed = any(o.receipt is not None and o.receipt.verified is False for o in outcomes)
    return 1 if bad or failed else 0
