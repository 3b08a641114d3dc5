"""`cshub topics create`: create every hub topic under a root, idempotently."""

from __future__ import annotations

import argparse

HELP = "create the hub's topics (idempotent)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["create", "list"], help="create the topics, or list their names")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    parser.add_argument("--topic-root", default="cshub", help="root of every topic name (default cshub)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the validated.* topics")
    parser.add_argument("--inbound-partitions", type=int, default=1, help="partitions of each in.* topic")
    parser.add_argument("--replication", type=int, default=1, help="replication factor of every topic")


def run(args: argparse.Namespace) -> int:
    from connectors.admin import TopicPlan, all_provinces, ensure_topics
    from connectors.errors import ConnectorError
    from schemas.topics import TopicNames

    plan = TopicPlan(inbound_partitions=args.inbound_partitions, validated_partitions=args.partitions,
                     replication=args.replication)
    specs = plan.specs(TopicNames(args.topic_root), all_provinces())
    if args.action == "list":
        for spec in specs:
            extra = " compacted" if spec.configs.get("cleanup.policy") == "compact" else ""
            print(f"{spec.name}  partitions={spec.partitions} replication={spec.replication}{extra}")
        return 0
    try:
        created = ensure_topics(args.bootstrap, specs)
    except ConnectorError as exc:
        print(f"cshub topics: {exc}")
        return 1
    print(f"{len(specs)} hub topics under '{args.topic_root}': {len(created)} created,"
          f" {len(specs) - len(created)} already there")
    return 0
