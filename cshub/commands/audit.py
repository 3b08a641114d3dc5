"""`cshub audit replay|export|verify`: rebuild the national tables from the inputs and check the published ones.

`verify` (from Kafka, or from an exported archive alone) first checks the evidence (`connectors.evidence`:
submission signatures, the transparency log, its checkpoints, the receipts, the national rows against the log),
then replays; every problem is printed with what and where, and any problem exits 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from cshub.options import add_settings, settings_from
from schemas.beijing import parse_ms, show_minute, show_ms
from schemas.errors import CshubError


def parse_time(text: str) -> int:
    """Epoch ms from ISO 8601 (no zone = Beijing time) or from a number of epoch milliseconds."""
    try:
        return parse_ms(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from schemas.topics import TABLES

    parser.add_argument("action", choices=["replay", "export", "verify", "explain"],
                        help="replay: from Kafka and compare; export DIR: archive the topics; verify [DIR]: check"
                             " the evidence (signatures, log, checkpoints, receipts) and replay, from Kafka or from"
                             " an archive alone; explain --table T --province P [--field F]: the reports whose"
                             " contributions sum to each cell")
    parser.add_argument("dir", nargs="?", type=Path, help="archive folder (export; verify: without it, Kafka)")
    parser.add_argument("--until", type=parse_time, help="rebuild the tables as they stood at this moment")
    add_settings(parser, "bootstrap", "principal", "password_file", "topic_root", "require_signatures",
                 "public_keys_file")
    parser.add_argument("--workers", type=int, default=2, help="replay processes (default 2)")
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES), help="tables to compare")
    parser.add_argument("--max-differences", type=int, default=100, help="differences printed at most")
    parser.add_argument("--table", choices=[t for t in TABLES if t != "obligations"], help="explain: the table")
    parser.add_argument("--province", help="explain: the 6-digit province code (000000: the national row)")
    parser.add_argument("--field", help="explain: one field (default: every field that sums over reports)")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="explain: output format")


def run(args: argparse.Namespace) -> int:
    from connectors import auditor

    settings = settings_from(args)
    names = settings.names
    if args.action == "export" and args.dir is None:
        raise CshubError(f"audit {args.action} needs the archive folder",
                         f"give it, e.g. cshub audit {args.action} ./audit-2026-03")
    started = time.perf_counter()
    if args.action == "export":
        manifest = auditor.export(settings.kafka, names, args.dir, public_keys=settings.public_keys_path)
        records = sum(p.records for p in manifest.partitions)
        print(f"exported {records} records of {len(manifest.partitions)} partitions to {args.dir}"
              f" in {time.perf_counter() - started:.1f} s (manifest.json has offsets and SHA-256 digests)")
        return 0
    if args.action == "verify":
        return _verify(args, settings, started) if args.dir is not None else _verify_kafka(args, settings, started)
    if args.action == "explain":
        return _explain(args, names, settings.kafka, _required_keys(settings))
    hub, stats = auditor.replay_kafka(settings.kafka, names, until_ms=args.until, workers=args.workers,
                                      public_keys=_required_keys(settings))
    published = auditor.published_from_kafka(settings.kafka, names, args.tables, args.until)
    return _report(args, hub, stats, published, started, f"Kafka at {settings.kafka}")


def _required_keys(settings) -> str | None:
    """The public-keys file's text when the hub requires signatures (the replay then checks them), else None."""
    if not settings.require_signatures:
        return None
    path = settings.public_keys_path
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CshubError(f"the hub requires signatures and the public-keys file {path} cannot be read: {exc.strerror}",
                         "name the hub's file with --public-keys-file (or CSHUB_PUBLIC_KEYS_FILE), or give"
                         " --require-signatures false for a hub that does not require them") from None


def _keys(text: str | None, where: str):
    from core.signing import PublicKeys, parse_public_keys

    return PublicKeys([]) if text is None else parse_public_keys(text, where)


def _print_evidence(report, source: str) -> int:
    c = report.counts
    print(f"evidence from {source}: {c['inputs']} input records ({c['inputs_signed']} validly signed,"
          f" {c['inputs_without_valid_signature']} not), {c['log_entries']} log entries ({c['inputs_logged']} inputs"
          f" logged, {c['inputs_not_yet_logged']} not yet), {c['checkpoints']} checkpoints, {c['receipt_batches']}"
          f" receipt batches ({c['receipts']} receipts), {c['national_rows']} national rows")
    for note in report.notes:
        print(f"  note: {note}")
    for finding in report.problems:
        print(f"  PROBLEM {finding}")
    shown = len(report.problems)
    total = sum(report.problem_counts.values())
    if total > shown:
        print(f"  ... and {total - shown} more problems")
    if total:
        print(f"EVIDENCE FAILED: {total} problem(s): "
              + ", ".join(f"{n} {check}" for check, n in report.problem_counts.most_common()))
        return 1
    print("evidence passed: every input is accounted for; the log, its checkpoints and the receipts agree")
    return 0


def _verify_kafka(args: argparse.Namespace, settings, started: float) -> int:
    from connectors import auditor, evidence
    from schemas import reference

    names = settings.names
    path = settings.public_keys_path
    text = path.read_text(encoding="utf-8") if path.exists() else None
    if text is None and settings.require_signatures:
        _required_keys(settings)  # raises: says which file and what to do
    provinces = sorted(reference.provinces(settings.provinces_file))
    checks = evidence.EvidenceCheck(names, frozenset(provinces), _keys(text, str(path)), settings.require_signatures)
    report = evidence.verify_kafka(settings.kafka, checks)
    failed = _print_evidence(report, f"Kafka at {settings.kafka}")
    hub, stats = auditor.replay_kafka(settings.kafka, names, until_ms=args.until, workers=args.workers,
                                      public_keys=text if settings.require_signatures else None)
    published = auditor.published_from_kafka(settings.kafka, names, args.tables, args.until)
    return max(failed, _report(args, hub, stats, published, started, f"Kafka at {settings.kafka}"))


def _explain(args: argparse.Namespace, names, target, public_keys: str | None = None) -> int:
    import json

    from connectors import auditor
    from connectors.subscriber import TableRow

    if not args.table or not args.province:
        raise CshubError("audit explain needs --table and --province",
                         "e.g. cshub audit explain --table coverage --province 320000 --field urban_covered")
    found, stats = auditor.explain_kafka(target, names, args.table, args.province, field_name=args.field,
                                         until_ms=args.until, public_keys=public_keys)
    if args.format == "json":
        from schemas.jsonable import jsonable

        print(json.dumps(jsonable(found), ensure_ascii=False, indent=1))
        return 0
    name = TableRow(args.table, args.province, {}, -1, 0).province_name
    when = "" if args.until is None else f" as of {_beijing(args.until)}"
    print(f"{args.table} of {args.province} {name}{when}: replayed {stats.applied} valid input records")
    for cell, value in found["cells"].items():
        n = sum(1 for r in found["reports"] if r["shares"].get(cell))
        print(f"  {cell} = {value}   (the sum of {n} report(s) below)")
    print(f"reports that count ({len(found['reports'])}): id, revision, period, arrived (Beijing), where, shares")
    for report in found["reports"]:
        shares = ", ".join(f"{k} {v:+}" if not isinstance(v, bool) else f"{k} {v}"
                           for k, v in report["shares"].items() if v)
        print(f"  {report['report_id']:<16} rev {report['revision']:<3} {report['period']}"
              f"  {_beijing(report['arrived_ms'])}  {report['coordinates']}  {shares}"
              + (f"  ({report['note']})" if report["note"] else ""))
        for rev in report["revisions"]:
            if rev["fate"] != "in force":
                print(f"      rev {rev['revision']:<3} {rev['period']}  {_beijing(rev['arrived_ms'])}"
                      f"  {rev['coordinates']}  {rev['fate']}")
    print(f"reports that do not count ({len(found['not_counted'])}):")
    for report in found["not_counted"]:
        print(f"  {report['report_id']:<16} rev {report['revision']:<3} {report['period']}  {report['coordinates']}"
              f"  {report['note']}")
        for rev in report["revisions"]:
            print(f"      rev {rev['revision']:<3} {rev['period']}  {_beijing(rev['arrived_ms'])}"
                  f"  {rev['coordinates']}  {rev['fate']}")
    return 0


def _beijing(ms: int) -> str:
    return show_minute(ms)


def _verify(args: argparse.Namespace, settings, started: float) -> int:
    from connectors import auditor, evidence
    from connectors.archive import PUBLIC_KEYS, Manifest, verify_integrity
    from schemas import reference

    names = settings.names
    manifest = Manifest.load(args.dir)
    broken = verify_integrity(args.dir, manifest)
    for problem in broken:
        print(f"  archive: {problem}")
    if broken:
        print(f"archive {args.dir}: {len(broken)} integrity problem(s); not replayed")
        return 1
    print(f"archive {args.dir}: {len(manifest.partitions)} partitions, every file matches its SHA-256 and offsets")
    archived = args.dir / PUBLIC_KEYS
    keys_path = settings.public_keys_file or archived
    text = keys_path.read_text(encoding="utf-8") if keys_path.exists() else None
    if text is None and settings.require_signatures:
        raise CshubError(f"archive {args.dir} has no {PUBLIC_KEYS}: its signatures cannot be checked",
                         "give the hub's public-keys file with --public-keys-file, or --require-signatures false for"
                         " a hub that did not require them")
    provinces = sorted(reference.provinces(settings.provinces_file))
    checks = evidence.EvidenceCheck(names, frozenset(provinces), _keys(text, str(keys_path)),
                                    settings.require_signatures)
    report = evidence.verify_archive(args.dir, checks)
    failed = _print_evidence(report, f"archive {args.dir}")
    hub, stats = auditor.replay_archive(args.dir, names, until_ms=args.until, workers=args.workers,
                                        public_keys=text if settings.require_signatures else None)
    published = auditor.published_from_archive(args.dir, names, args.tables, args.until)
    return max(failed, _report(args, hub, stats, published, started, f"archive {args.dir}"))


def _report(args: argparse.Namespace, hub, stats, published, started: float, source: str) -> int:
    from connectors import auditor

    unknown = auditor.comparability(hub, published, stats, args.until, args.tables) if args.until is not None else {}
    diffs = auditor.compare(hub, published, args.tables, skip=unknown)
    elapsed = time.perf_counter() - started
    rate = stats.records / stats.seconds if stats.seconds else 0.0
    rejected = ", ".join(f"{k} {v}" for k, v in stats.rejected.most_common()) or "none"
    when = ""
    if args.until is not None:
        when = f" as of {show_ms(args.until)}"
    print(f"replayed {stats.records} input records from {source}{when}: {stats.applied} valid,"
          f" rejected: {rejected}; {rate:,.0f} records/s; {elapsed:.1f} s in all")
    if args.until is not None:
        _print_tables(hub, args.tables, args.until)
    compared = sum(1 for key in published if key[0] in args.tables and key not in unknown)
    if unknown:
        reasons = Counter(unknown.values())
        print(f"{len(unknown)} row(s) not comparable at that moment (not counted as differences): "
              + "; ".join(f"{n} {why}" for why, n in reasons.most_common()))
        if published.first_ms is not None and published.first_ms > args.until:
            print(f"  (the earliest published row is of {show_ms(published.first_ms)})")
    if not published and args.until is None:
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


def _print_tables(hub, tables: list[str], until_ms: int) -> None:
    """The replayed tables as they stood at `until_ms` (national row first), as `cshub subscribe` prints them."""
    from rich.console import Console

    from connectors.subscriber import TableRow, sort_rows
    from core import REPORT_TABLES, obligation_rows
    from cshub.commands.subscribe import render_table

    rows = dict(hub.rows(tables=tuple(t for t in tables if t in REPORT_TABLES)))
    if "obligations" in tables:
        rows.update(obligation_rows(hub, until_ms)[0])
    console = Console(width=None if sys.stdout.isatty() else 100)  # tables cut to fit, as `cshub subscribe`
    for table in tables:
        shown = sort_rows([TableRow(t, p, row, -1, until_ms) for (t, p), row in rows.items()
                           if t == table and (p == "000000" or _has_data(row))])
        console.print(render_table(table, shown, console.width))


def _has_data(row) -> bool:
    """A province row worth printing: something other than zeros and empty flags."""
    return any(v not in (0, None, False, [], "0", "0.00") and k not in ("province", "offsets", "as_of")
               and not k.endswith("_target") for k, v in row.items())
