"""`cshub feedback --province 320000 [--verify] [--follow]`: what the hub answered to every record a province sent.

One line per record, from the province's hub-signed receipts (`<root>.receipts.<province>`, written by the log
service): when the hub received it (Beijing time), the report id and revision, the verdict (accepted,
duplicate, superseded, rejected with its reason; late), the record's place in the transparency log and, with
--verify, whether the hub's signature on it verified (with the public-keys file alone). Run it as the province's
own principal: the broker lets no other province read these receipts.

Exit status: 0 listed (and, with --verify, every signature verified); 1 some receipt failed verification;
2 could not run; 77 the broker refused (another province's receipts).
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata

from cshub.options import add_settings, settings_from
from schemas.errors import CshubError

COLUMNS = (("received (Beijing)", 19), ("report id", 20), ("rev", 4), ("verdict", 14), ("log #", 7))
SIGNATURE = ("signature", 9)
REASON = ("reason", 0)  # last: free text, as long as it is


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--province", required=True, help="the province whose receipts to list (6-digit code)")
    parser.add_argument("--verify", action="store_true", help="check the hub's signature on every receipt")
    parser.add_argument("--follow", action="store_true", help="keep listing new receipts as they come (Ctrl-C)")
    parser.add_argument("--since", help="only receipts issued from this time (ISO 8601, no zone: Beijing time)")
    parser.add_argument("--format", choices=["table", "jsonl"], default="table",
                        help="a table for people (default), or one JSON object per receipt for programs")
    add_settings(parser, "bootstrap", "principal", "password_file", "topic_root", "public_keys_file",
                 "provinces_file")


def _fit(text: str, width: int) -> str:
    """`text` padded (or cut with …) to `width` terminal columns; CJK characters take two."""
    if width <= 0:
        return text
    out, used = "", 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if used + w > width - (1 if len(text) > len(out) + 1 else 0):
            return out + "…" + " " * (width - used - 1)
        out, used = out + ch, used + w
    return out + " " * (width - used)


def line(cells: list[str], columns: tuple[tuple[str, int], ...]) -> str:
    return "  ".join(_fit(cell, width) for cell, (_, width) in zip(cells, columns, strict=True)).rstrip()


def run(args: argparse.Namespace) -> int:
    from connectors.receipts import read_receipts
    from core.signing import read_public_keys
    from schemas.beijing import parse_ms, show_ms
    from schemas.reference import provinces

    settings = settings_from(args)
    if args.province not in provinces(settings.provinces_file):
        raise CshubError(f"--province {args.province} is not a known province code",
                         "schemas/data/provinces.csv lists them, e.g. 320000 for 江苏省")
    keys = None
    if args.verify:
        if not settings.public_keys_path.exists():
            raise CshubError(f"no public-keys file at {settings.public_keys_path}: --verify needs the hub's public key",
                             "get the hub's public-keys file and pass --public-keys-file (CSHUB_PUBLIC_KEYS_FILE)")
        keys = read_public_keys(settings.public_keys_path)
    try:
        since = parse_ms(args.since) if args.since else None
    except ValueError as exc:
        raise CshubError(f"--since: {exc}") from None
    columns = (*COLUMNS, SIGNATURE, REASON) if args.verify else (*COLUMNS, REASON)
    shown = bad = 0
    header = False
    for receipt in read_receipts(settings.kafka, args.province, names=settings.names, public_keys=keys,
                                 since_ms=since, follow=args.follow):
        if args.format == "jsonl":
            print(json.dumps(receipt.as_json(), ensure_ascii=False), flush=True)
            shown += 1
            bad += receipt.verified is False
            continue
        if not header:  # once the broker let us read: a refusal is one line, no table
            print(line([c for c, _ in columns], columns), flush=True)
            header = True
        e = receipt.entry
        if e.index < 0:  # a record of the topic that holds no batch at all
            print(f"receipts record at offset {receipt.record_offset}: {receipt.problem}", flush=True)
            bad += 1
            continue
        reason = f"{e.reason}: {e.message}" if e.verdict == "rejected" else ("late" if e.late else "")
        verdict = f"{e.verdict}, late" if e.late and e.verdict != "rejected" else e.verdict
        cells = [show_ms(e.timestamp_ms)[:19], e.report_id or e.key or "(undecodable)",
                 "" if e.revision is None else str(e.revision), verdict, str(e.index)]
        if args.verify:
            cells.append("ok" if receipt.verified else "FAILED")
            reason = reason if receipt.verified else f"{receipt.problem}; {reason}"
        print(line([*cells, reason], columns), flush=True)
        shown += 1
        bad += receipt.verified is False
    summary = f"{shown} receipts of {args.province}"
    if args.verify:
        summary += ", every hub signature verified" if bad == 0 else f", {bad} FAILED verification"
    print(summary, file=sys.stderr if args.format == "jsonl" else sys.stdout)
    return 1 if bad else 0
