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
    parser.add_argument("--months", type=int, default=24,
                        help="simulated months, ending with last month on today's clock (default 24)")
    parser.add_argument("--end-period", help="last simulated period YYYY-MM (default: the month before this one)")
    parser.add_argument("--speed", type=float, default=20.0,
                        help="simulated months per minute of wall time (default 20: a month every 3 s)")
    parser.add_argument("--fast", action="store_true", help="no pauses between months")
    parser.add_argument("--quiet", action="store_true", help="no line per month")


def run(args: argparse.Namespace) -> int:
    import datetime as dt

    from connectors.demo import DemoFeed, FeedStats, PublisherSink, month_before, run_feed

    settings = settings_from(args)
    if args.speed <= 0:
        raise CshubError(f"--speed {args.speed:g} is not positive", "give months per minute, or --fast for no pauses")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    now = dt.datetime.now(dt.UTC)
    end_period = args.end_period or month_before(now)
    if len(end_period) != 7 or end_period[4] != "-" or not end_period.replace("-", "").isdigit():
        raise CshubError(f"--end-period {end_period!r} is not a period", "give it as YYYY-MM, e.g. 2026-11")
    feed = DemoFeed(seed=args.seed, months=args.months, end_period=end_period)
    names = settings.names
    print(f"demo feed: seed {args.seed}, {args.months} months, {len(feed.plans)} provinces,"
          f" {sum(len(p.facilities) for p in feed.plans)} facilities; behind target: {', '.join(sorted(feed.behind))};"
          f" always a month late: {feed.late_province};"
          f" skipping a month: {', '.join(f'{c} {feed.period(m)}' for c, m in sorted(feed.skipped.items()))};"
          f" periods {feed.period(0)} to {end_period}", flush=True)
    started = time.monotonic()

    def on_month(period: str, stats: FeedStats) -> None:
        if not args.quiet:
            print(f"  {period}: {stats.reports} reports sent so far, {stats.bad} bad records", flush=True)

    sink = PublisherSink(settings.kafka, names, keys_dir=settings.secrets_dir)  # each province signs with its key
    try:
        stats = run_feed(feed, sink, names, month_seconds=0.0 if args.fast else 60.0 / args.speed,
                         stop=stop, on_month=on_month, now_ms=int(now.timestamp() * 1000))
    finally:
        sink.close()
    print(f"demo feed {'stopped' if stop.is_set() else 'done'}: {stats.months} months, {stats.reports} reports"
          f" acknowledged, {sink.rejected_locally} refused by the publisher's checks,"
          f" {stats.bad} bad records sent raw, {stats.not_yet} not due to be sent yet,"
          f" in {time.monotonic() - started:.1f} s", flush=True)
    return 0
