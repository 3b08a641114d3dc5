"""`cshub broker start|stop|status`: the local Kafka broker (KRaft) from the Apache jars."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from deploy.local.broker import DEFAULT_HOME, KAFKA_VERSION, BrokerError, LocalCluster

HELP = "the local Apache Kafka broker (start | stop | status)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME,
                        help=f"folder for data, config, logs and pid files (default {DEFAULT_HOME})")
    parser.add_argument("--port", type=int, default=9092, help="client port of the first node (default 9092)")
    parser.add_argument("--nodes", type=int, default=1, help="cluster size; node i listens on port+2i (default 1)")


def run(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.home, size=args.nodes, base_port=args.port)
    try:
        if args.action == "start":
            started = time.monotonic()
            bootstrap = cluster.start()
            print(f"Kafka {KAFKA_VERSION} up at {bootstrap} in {time.monotonic() - started:.1f} s"
                  f" (data in {cluster.home})")
        elif args.action == "stop":
            cluster.stop()
            print(f"stopped the broker(s) of {cluster.home}")
        else:
            up = 0
            for node, pid, answers in cluster.status():
                state = "running" if pid and answers else ("starting" if pid else "stopped")
                up += state == "running"
                print(f"node {node.node_id} {node.bootstrap} {state}" + (f" pid {pid}" if pid else ""))
            return 0 if up == len(cluster.nodes) else 3
    except BrokerError as exc:
        print(f"cshub broker {args.action}: {exc}")
        return 1
    return 0
