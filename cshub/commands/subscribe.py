"""`cshub subscribe national --table coverage` and `cshub subscribe notifications`: what ministries read."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from typing import Any

from cshub.options import add_settings, settings_from
from schemas.jsonable import jsonable

HIDDEN_FIELDS = ("source_offsets", "offsets", "input_offsets", "applied_offsets")
"""Bookkeeping fields of a row (which input offsets it reflects): kept in jsonl, left out of the table."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from schemas.topics import TABLES

    parser.add_argument("what", choices=["national", "notifications"])
    parser.add_argument("--table", choices=TABLES, default="coverage", help="national table (default coverage)")
    parser.add_argument("--follow", action="store_true", help="keep printing changes until Ctrl-C")
    parser.add_argument("--format", choices=["table", "csv", "jsonl"], default="table")
    parser.add_argument("--columns", type=lambda text: [c.strip() for c in text.split(",") if c.strip()],
                        help="table format: the columns to show, comma-separated (e.g. urban_coverage,rural_coverage);"
                             " default all, in as many tables as the terminal's width needs")
    add_settings(parser, "bootstrap", "principal", "password_file", "topic_root")


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested records become dotted columns (funding.SPECIAL_BOND.allocated); lists stay JSON."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not prefix and key in HIDDEN_FIELDS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = json.dumps(jsonable(value), ensure_ascii=False)
        else:
            out[name] = jsonable(value)
    return out


def _display_values(values: dict[str, Any]) -> dict[str, Any]:
    """What the terminal shows of a row: targets go to the caption, lists become short columns per item."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in HIDDEN_FIELDS or key in ("province", "as_of") or key.endswith("_target"):
            continue
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            for item in value:
                name = item.get("source") or item.get("code") or "?"
                if "completed" in item:  # policy items: completed / in progress / not started units
                    out[name] = f"{item.get('completed', 0)}/{item.get('in_progress', 0)}/{item.get('not_started', 0)}"
                else:
                    out[f"{name} allocated"] = item.get("allocated_yuan")
                    out[f"{name} disbursed"] = item.get("disbursed_yuan")
            continue
        out[key] = value
    return out


def _targets(rows: list[Any]) -> str:
    from cshub.terminal import amount

    for row in rows:
        found = {k[: -len("_target")]: v for k, v in row.values.items() if k.endswith("_target")}
        if found:
            return "targets: " + ", ".join(f"{k} {amount('', v)}" for k, v in found.items())
    return ""


def render_table(table: str, rows: list[Any], width: int = 100, columns: list[str] | None = None) -> Any:
    """The table as one or more rich Tables that fit `width`: national row on top (bold), provinces by code,
    target columns marked met / at risk, yuan in 万元; `columns` picks and orders the value columns."""
    from cshub.terminal import Shown, amount, fit, header_of, pick

    shown = [_display_values(r.values) for r in rows]
    names: list[str] = []
    for values in shown:
        names += [c for c in values if c not in names]
    keys = [Shown("province", "province", [r.province for r in rows], right=False),
            Shown("name", "name", [r.province_name for r in rows], right=False)]
    cols = pick([Shown(n, header_of(n), [amount(n, v.get(n)) for v in shown]) for n in names], columns)
    note = _targets(rows) + ("; policy items: completed/in progress/not started" if table == "policy" else "")
    return fit(f"national table: {table}", keys, cols, width, note,
               ["bold" if r.is_national else None for r in rows])


def _write_rows(fmt: str, rows: list[Any], header_done: list[bool]) -> None:
    if fmt == "jsonl":
        for row in rows:
            print(json.dumps({"table": row.table, "province": row.province, "offset": row.offset,
                              **jsonable(row.values)}, ensure_ascii=False), flush=True)
        return
    flat = [{"province": r.province, "province_name": r.province_name, **flatten(r.values)} for r in rows]
    if not flat:
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=list(flat[0]), extrasaction="ignore")
    if not header_done[0]:
        writer.writeheader()
        header_done[0] = True
    writer.writerows(flat)
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    from connectors.subscriber import Subscriber

    settings = settings_from(args)
    sub = Subscriber(settings.kafka, names=settings.names)
    try:
        if args.what == "national":
            return _national(args, sub)
        return _notifications(args, sub)
    except KeyboardInterrupt:  # --follow ends so
        return 0


def _national(args: argparse.Namespace, sub: Any) -> int:
    from rich.console import Console

    from connectors.subscriber import sort_rows

    console = Console(width=None if sys.stdout.isatty() else 100)  # a pipe or a file: 100 columns, as a terminal
    header_done = [False]
    if not args.follow:
        rows = sub.table(args.table)
        if args.format == "table":
            console.print(render_table(args.table, rows, console.width, args.columns))
        else:
            _write_rows(args.format, rows, header_done)
        return 0
    current: dict[str, Any] = {}

    def show() -> None:
        console.print(render_table(args.table, sort_rows(list(current.values())), console.width, args.columns))

    def snapshot(rows: list[Any]) -> None:
        current.update((r.province, r) for r in rows)
        if args.format == "table":
            show()
        else:
            _write_rows(args.format, rows, header_done)

    for row in sub.follow_table(args.table, on_snapshot=snapshot):
        current[row.province] = row
        if args.format != "table":
            _write_rows(args.format, [row], header_done)
            continue
        show()
        console.print(f"[dim]{dt.datetime.now():%H:%M:%S} updated {row.province} {row.province_name}[/]")
    return 0


def _notifications(args: argparse.Namespace, sub: Any) -> int:
    from connectors.exports import notification_records

    writer: csv.DictWriter[str] | None = None
    for note in sub.notifications(follow=args.follow):
        if args.format == "csv":  # flat columns, Beijing time, one header
            record = notification_records([{"province": note.province, **note.values}],
                                          {note.province: note.province_name})[0]
            if writer is None:
                writer = csv.DictWriter(sys.stdout, fieldnames=list(record), lineterminator="\n")
                writer.writeheader()
            writer.writerow(record)
            sys.stdout.flush()
        elif args.format == "jsonl":
            print(json.dumps({"province": note.province, "offset": note.offset, **jsonable(note.values)},
                             ensure_ascii=False), flush=True)
        else:  # one line a notification, as a person reads it: Beijing time, type, who, the message
            record = notification_records([{"province": note.province, **note.values}],
                                          {note.province: note.province_name})[0]
            print(f"{record['event_time']}  {record['type']}  {note.province} {note.province_name}:"
                  f" {record['message']}", flush=True)
    return 0
