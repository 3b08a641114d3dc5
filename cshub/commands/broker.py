"""`cshub broker start|stop|status`: the local Kafka broker (KRaft) from the Apache jars.

Secured (issue 10): `start` formats a new broker with the broker's and the admin's SCRAM users, then, as
the admin, gives every principal of the principals file its password (<home>/secrets, `cshub security
init`), its user and its ACLs for the topic root (`cshub security apply`).
"""

from __future__ import annotations

import argparse
import time

from cshub.options import add_settings, settings_from
from deploy.local.broker import KAFKA_VERSION, LocalCluster


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["start", "stop", "status"])
    add_settings(parser, "topic_root", "app_id", home="broker_home", port="broker_port", nodes="broker_nodes")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    cluster = LocalCluster(settings.broker_home, size=settings.broker_nodes, base_port=settings.broker_port,
                           secrets_dir=settings.secrets_dir)
    if args.action == "start":
        from connectors.security import secure_local_hub

        started = time.monotonic()
        bootstrap = cluster.start()
        report = secure_local_hub(bootstrap, cluster.secrets, settings.names, settings.app_id)
        print(f"Kafka {KAFKA_VERSION} up at {bootstrap} in {time.monotonic() - started:.1f} s"
              f" (data in {cluster.home}); {len(report.users)} SCRAM users and the ACLs of '{settings.topic_root}',"
              f" passwords in {cluster.secrets.folder}")
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
