"""`cshub topics create|list`: put the topic plan on the broker, or show the broker's topics against it.

The plan (`schemas.topics.TopicPlan`) comes from the settings: topic root, provinces, partitions,
replication and the worker's app id (its Faust changelog topics are part of the plan).
"""

from __future__ import annotations

import argparse

from cshub.options import add_settings, settings_from

SETTINGS = ("bootstrap", "principal", "password_file", "topic_root", "partitions",
            "inbound_partitions", "replication", "app_id", "provinces_file")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["create", "list"],
                        help="create the missing topics, or list the broker's topics against the plan")
    add_settings(parser, *SETTINGS)


def run(args: argparse.Namespace) -> int:
    from connectors import admin

    settings = settings_from(args)
    specs = settings.topic_plan().specs()
    if args.action == "create":
        created = admin.ensure_topics(settings.kafka, specs)
        found = admin.check(settings.kafka, specs)
        print(f"{len(specs)} hub topics under '{settings.topic_root}': {len(created)} created,"
              f" {len(specs) - len(created)} already there")
        for difference in found.differences:
            print(f"  DIFFERS {difference}; {difference.advice}")
        return 1 if found.blocking else 0
    found = admin.check(settings.kafka, specs)
    by_topic: dict[str, list[str]] = {}
    for difference in found.differences:
        by_topic.setdefault(difference.topic, []).append(f"{difference}; {difference.advice}")
    for spec in specs:
        planned = f"partitions={spec.partitions} replication={spec.replication}" + (" compacted" if spec.compacted
                                                                                     else "")
        state = found.states.get(spec.name)
        if state is None:
            print(f"{spec.name}  MISSING (plan: {planned})")
            continue
        mark = "DIFFERS" if spec.name in by_topic else "ok"
        print(f"{spec.name}  partitions={state.partitions} replication={state.replication}"
              f" cleanup.policy={state.configs.get('cleanup.policy', '?')}  {mark}")
        for line in by_topic.get(spec.name, []):
            print(f"    {line}")
    print(f"{len(specs)} planned topics under '{settings.topic_root}' on {settings.kafka}: {len(found.missing)}"
          f" missing, {len(by_topic)} differ ({len(found.blocking)} difference(s) the worker refuses)")
    return 1 if found.missing or found.blocking else 0
