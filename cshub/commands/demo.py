"""`cshub demo`: a seeded, realistic feed of the 31 provinces reporting month by month."""

from __future__ import annotations

import argparse
import signal
import threading
import time

from cshub.options import add_settings, settings_from
from schemas.errors import CshubError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, "bootstrap", "principal", "password_file", "topic_root")
    parser.add_argument("--seed", type=int, default=2025, help="random seed: the same seed gives the same feed")
    parser.add_argument("--months", type=int, default=24, help="simulated months from 2024-01 (default 24)")
    parser.add_argument("--speed", type=float, default=20.0,
                        help="simulated months per minute of wall time (default 20: a month every 3 s)")
    parser.add_argument("--fast", action="store_true", help="no pauses between months")
    parser.add_argument("--quiet", action="store_true", help="no line per month")


def run(args: argparse.Namespace) -> int:
    from connectors.demo import DemoFeed, FeedStats, PublisherSink, run_feed

    settings = settings_from(args)
    if args.speed <= 0:
        raise CshubError(f"--speed {args.speed:g} is not positive", "give months per minute, or --fast for no pauses")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    feed = DemoFeed(seed=args.seed, months=args.months)
    names = settings.names
    print(f"demo feed: seed {args.seed}, {args.months} months, {len(feed.plans)} provinces,"
          f" {sum(len(p.facilities) for p in feed.plans)} facilities; behind target: {', '.join(sorted(feed.behind))};"
          f" always a month late: {feed.late_province}", flush=True)
    started = time.monotonic()

    def on_month(period: str, stats: FeedStats) -> None:
        if not args.quiet:
            print(f"  {period}: {stats.reports} reports sent so far, {stats.bad} bad records", flush=True)

    sink = PublisherSink(settings.kafka, names)
    try:
        stats = run_feed(feed, sink, names, month_seconds=0.0 if args.fast else 60.0 / args.speed,
                         stop=stop, on_month=on_month)
    finally:
        sink.close()
    print(f"demo feed {'stopped' if stop.is_set() else 'done'}: {stats.months} months, {stats.reports} reports"
          f" acknowledged, {sink.rejected_locally} refused by the publisher's checks,"
          f" {stats.bad} bad records sent raw, in {time.monotonic() - started:.1f} s", flush=True)
    return 0
