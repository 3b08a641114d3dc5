"""`cshub broker start|stop|status`: the local Kafka broker (KRaft) from the Apache jars."""

from __future__ import annotations

import argparse
import time

from cshub.options import add_settings, settings_from
from deploy.local.broker import KAFKA_VERSION, LocalCluster


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["start", "stop", "status"])
    add_settings(parser, home="broker_home", port="broker_port", nodes="broker_nodes")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    cluster = LocalCluster(settings.broker_home, size=settings.broker_nodes, base_port=settings.broker_port)
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
    return 0
