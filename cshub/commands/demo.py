"""`cshub demo`: a seeded, realistic feed of the 31 provinces reporting month by month."""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time

HELP = "a seeded, realistic feed of the 31 provinces reporting month by month"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", default=os.environ.get("CSHUB_BOOTSTRAP", "127.0.0.1:9092"),
                        help="Kafka bootstrap servers (env CSHUB_BOOTSTRAP; default 127.0.0.1:9092)")
    parser.add_argument("--topic-root", default=os.environ.get("CSHUB_TOPIC_ROOT", "cshub"),
                        help="root of every topic name (env CSHUB_TOPIC_ROOT; default cshub)")
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
    from connectors.errors import ConnectorError
    from schemas.topics import TopicNames

    if args.speed <= 0:
        print("cshub demo: --speed must be positive (months per minute); use --fast for no pauses")
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    now = dt.datetime.now(dt.UTC)
    end_period = args.end_period or month_before(now)
    if len(end_period) != 7 or end_period[4] != "-" or not end_period.replace("-", "").isdigit():
        print(f"cshub demo: --end-period must be YYYY-MM, got {end_period!r}")
        return 2
    feed = DemoFeed(seed=args.seed, months=args.months, end_period=end_period)
    names = TopicNames(args.topic_root)
    print(f"demo feed: seed {args.seed}, {args.months} months, {len(feed.plans)} provinces,"
          f" {sum(len(p.facilities) for p in feed.plans)} facilities; behind target: {', '.join(sorted(feed.behind))};"
          f" always a month late: {feed.late_province};"
          f" skipping a month: {', '.join(f'{c} {feed.period(m)}' for c, m in sorted(feed.skipped.items()))};"
          f" periods {feed.period(0)} to {end_period}", flush=True)
    started = time.monotonic()

    def on_month(period: str, stats: FeedStats) -> None:
        if not args.quiet:
            print(f"  {period}: {stats.reports} reports sent so far, {stats.bad} bad records", flush=True)

    try:
        sink = PublisherSink(args.bootstrap, names)
    except ConnectorError as exc:
        print(f"cshub demo: {exc}")
        return 1
    try:
        stats = run_feed(feed, sink, names, month_seconds=0.0 if args.fast else 60.0 / args.speed,
                         stop=stop, on_month=on_month, now_ms=int(now.timestamp() * 1000))
    except ConnectorError as exc:
        print(f"cshub demo: {exc}")
        return 1
    finally:
        sink.close()
    print(f"demo feed {'stopped' if stop.is_set() else 'done'}: {stats.months} months, {stats.reports} reports"
          f" acknowledged, {sink.rejected_locally} refused by the publisher's checks,"
          f" {stats.bad} bad records sent raw, {stats.not_yet} not due to be sent yet,"
          f" in {time.monotonic() - started:.1f} s", flush=True)
    return 0
