"""`cshub audit replay|export|verify`: rebuild the national tables from the inputs and check the published ones."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cshub.options import add_settings, settings_from
from schemas.beijing import parse_ms, show_ms
from schemas.errors import CshubError


def parse_time(text: str) -> int:
    """Epoch ms from ISO 8601 (no zone = Beijing time) or from a number of epoch milliseconds."""
    try:
        return parse_ms(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from schemas.topics import TABLES

    parser.add_argument("action", choices=["replay", "export", "verify"],
                        help="replay: from Kafka and compare; export DIR: archive the topics; verify DIR: check an"
                             " archive and replay it alone")
    parser.add_argument("dir", nargs="?", type=Path, help="archive folder (export, verify)")
    parser.add_argument("--until", type=parse_time, help="rebuild the tables as they stood at this moment")
    add_settings(parser, "bootstrap", "principal", "password_file", "topic_root")
    parser.add_argument("--workers", type=int, default=2, help="replay processes (default 2)")
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES), help="tables to compare")
    parser.add_argument("--max-differences", type=int, default=100, help="differences printed at most")


def run(args: argparse.Namespace) -> int:
    from connectors import auditor

    settings = settings_from(args)
    names = settings.names
    if args.action in ("export", "verify") and args.dir is None:
        raise CshubError(f"audit {args.action} needs the archive folder",
                         f"give it, e.g. cshub audit {args.action} ./audit-2026-03")
    started = time.perf_counter()
    if args.action == "export":
        manifest = auditor.export(settings.kafka, names, args.dir)
        records = sum(p.records for p in manifest.partitions)
        print(f"exported {records} records of {len(manifest.partitions)} partitions to {args.dir}"
              f" in {time.perf_counter() - started:.1f} s (manifest.json has offsets and SHA-256 digests)")
        return 0
    if args.action == "verify":
        return _verify(args, names, started)
    hub, stats = auditor.replay_kafka(settings.kafka, names, until_ms=args.until, workers=args.workers)
    published = auditor.published_from_kafka(settings.kafka, names, args.tables, args.until)
    return _report(args, hub, stats, published, started, f"Kafka at {settings.kafka}")


def _verify(args: argparse.Namespace, names, started: float) -> int:
    from connectors import auditor
    from connectors.archive import Manifest, verify_integrity

    manifest = Manifest.load(args.dir)
    broken = verify_integrity(args.dir, manifest)
    for problem in broken:
        print(f"  archive: {problem}")
    if broken:
        print(f"archive {args.dir}: {len(broken)} integrity problem(s); not replayed")
        return 1
    print(f"archive {args.dir}: {len(manifest.partitions)} partitions, every file matches its SHA-256 and offsets")
    hub, stats = auditor.replay_archive(args.dir, names, until_ms=args.until, workers=args.workers)
    published = auditor.published_from_archive(args.dir, names, args.tables, args.until)
    return _report(args, hub, stats, published, started, f"archive {args.dir}")


def _report(args: argparse.Namespace, hub, stats, published, started: float, source: str) -> int:
    from connectors import auditor

    diffs = auditor.compare(hub, published, args.tables)
    elapsed = time.perf_counter() - started
    rate = stats.records / stats.seconds if stats.seconds else 0.0
    rejected = ", ".join(f"{k} {v}" for k, v in stats.rejected.most_common()) or "none"
    when = ""
    if args.until is not None:
        when = f" as of {show_ms(args.until)}"
    print(f"replayed {stats.records} input records from {source}{when}: {stats.applied} valid,"
          f" rejected: {rejected}; {rate:,.0f} records/s; {elapsed:.1f} s in all")
    compared = sum(1 for key in published if key[0] in args.tables)
    if not published:
        print("no published rows found to compare with (has the worker run?)")
        return 1
    for diff in diffs[: args.max_differences]:
        print(f"  DIFFERENCE {diff}")
    if len(diffs) > args.max_differences:
        print(f"  ... and {len(diffs) - args.max_differences} more differences")
    if diffs:
        print(f"AUDIT FAILED: {len(diffs)} difference(s) between the published tables and the replay")
        return 1
    print(f"audit passed: {compared} published rows of {len(args.tables)} tables equal the replay")
    return 0
