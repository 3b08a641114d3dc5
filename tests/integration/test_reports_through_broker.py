"""Reports of every kind cross the real broker and come back equal, money to the fen (issue 2)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from kafka import KafkaConsumer, KafkaProducer

from schemas import codec
from schemas.kafka_config import kafka_python_config
from schemas.models import KIND_MODELS, FacilityReport, FundingReport, PolicyReport, Report
from schemas.topics import TopicNames

pytestmark = pytest.mark.integration

PRODUCED = datetime(2025, 6, 30, 16, 0, 0, 123000, tzinfo=UTC)


def _reports() -> list[Report]:
    facility = FacilityReport(
        report_id="JS-F-320102-001", revision=1, province="320000", period="2025-06", produced_at=PRODUCED,
        county_code="320102", community_code="320102001001", community_name="玄武区梅园新村街道社区",
        area_type="URBAN", households=1250, floor_area_m2=Decimal("412.35"), status="OPERATING",
        functions=("ELDERLY_CARE", "CHILDCARE", "CULTURE"), old_community_renovation=True,
        operating_mode="SITE_FOR_SERVICE", address="南京市玄武区长江路292号",
    )
    funding = FundingReport(
        report_id="JS-B-2025-0007", revision=3, province="320000", period="2025-06", produced_at=PRODUCED,
        source="SPECIAL_BOND", bond_code="2025-JS-ZXZ-0117", purpose="社区养老服务骨干网",
        project_name="南京市社区综合服务设施补短板工程", allocated_yuan=Decimal("123456789012.34"),
        disbursed_yuan=Decimal("98765432.01"),
    )
    policy = PolicyReport(
        report_id="JS-P-2025-06", revision=1, province="320000", period="2025-06", produced_at=PRODUCED,
        items=({"code": "ONE_OLD_ONE_SMALL_SOLUTION", "status": "COMPLETED", "status_date": date(2023, 3, 1),
                "evidence_ref": "苏政办发〔2023〕12号"},
               {"code": "SMART_COMMUNITY_PILOT", "status": "IN_PROGRESS"}),
        indicators={"urban_communities": 7400, "rural_communities": 14200, "big_city_communities": 3100,
                    "big_city_communities_with_care": 2600, "special_difficulty_elderly": 52000,
                    "special_difficulty_elderly_visited": 52000},
    )
    return [facility, funding, policy]


def test_each_kind_round_trips_through_kafka(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> None:
    topics = TopicNames(root=unique_name("t"))
    reports = _reports()
    producer = KafkaProducer(**kafka_python_config(kafka_bootstrap, client_id="cshub-test"), acks="all",
                             enable_idempotence=True)
    for report in reports:
        payload = codec.encode(report.SCHEMA, report.to_avro())
        producer.send(topics.inbound(report.province, report.KIND), key=report.report_id.encode(), value=payload)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(*(topics.inbound("320000", r.KIND) for r in reports),
                             **kafka_python_config(kafka_bootstrap, client_id="cshub-test"),
                             group_id=unique_name("ministry"), auto_offset_reset="earliest",
                             consumer_timeout_ms=15_000)
    received: dict[str, Report] = {}
    for message in consumer:
        _, kind = topics.parse_inbound(message.topic) or ("", "")
        decoded = codec.decode(message.value)
        received[message.key.decode()] = KIND_MODELS[kind].model_validate(decoded.value)  # type: ignore[index]
        if len(received) == len(reports):
            break
    consumer.close()

    assert received == {r.report_id: r for r in reports}
    funding = received["JS-B-2025-0007"]
    assert isinstance(funding, FundingReport)
    assert funding.allocated_yuan == Decimal("123456789012.34")
    assert str(funding.disbursed_yuan) == "98765432.01"
    facility = received["JS-F-320102-001"]
    assert isinstance(facility, FacilityReport) and facility.community_name == "玄武区梅园新村街道社区"
