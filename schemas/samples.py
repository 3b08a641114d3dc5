"""Realistic sample reports as Avro dicts (Chinese names, money to the fen): for tests, benchmarks and demos.

Each function returns a fresh dict that passes every business rule; keyword arguments replace fields.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

PRODUCED_AT = datetime(2026, 3, 5, 8, 30, 15, 123000, tzinfo=UTC)


def facility(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "report_id": "JS-FAC-320102-0001",
        "revision": 1,
        "withdrawn": False,
        "province": "320000",
        "period": "2026-03",
        "produced_at": PRODUCED_AT,
        "county_code": "320102",
        "community_code": "320102001001",
        "community_name": "玄武区梅园新村街道长江路社区",
        "area_type": "URBAN",
        "households": 2345,
        "floor_area_m2": Decimal("812.50"),
        "status": "OPERATING",
        "functions": ["ELDERLY_CARE", "CHILDCARE", "HEALTH"],
        "old_community_renovation": True,
        "operating_mode": "SITE_FOR_SERVICE",
    }
    record.update(changes)
    return record


def funding(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "report_id": "SC-FUND-2026-017",
        "revision": 2,
        "withdrawn": False,
        "province": "510000",
        "period": "2026-02",
        "produced_at": PRODUCED_AT,
        "source": "SPECIAL_BOND",
        "bond_code": "2026-SC-ZXZ-0042",
        "purpose": "社区养老服务骨干网",
        "project_name": "成都市锦江区社区综合服务设施补短板项目",
        "allocated_yuan": Decimal("12345678901234.56"),
        "disbursed_yuan": Decimal("9876543210.01"),
    }
    record.update(changes)
    return record


def policy(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "report_id": "GD-POL-2026-03",
        "revision": 1,
        "withdrawn": False,
        "province": "440000",
        "period": "2026-03",
        "produced_at": PRODUCED_AT,
        "items": [
            {
                "code": "PROVINCIAL_PLAN_ISSUED",
                "status": "COMPLETED",
                "status_date": date(2022, 6, 1),
                "evidence_ref": "粤民发〔2022〕15号",
            },
            {"code": "SMART_COMMUNITY_PILOT", "status": "IN_PROGRESS", "status_date": None, "evidence_ref": ""},
        ],
        "indicators": {
            "urban_communities": 6012,
            "rural_communities": 19730,
            "big_city_communities": 3100,
            "big_city_communities_with_care": 2480,
            "special_difficulty_elderly": 51234,
            "special_difficulty_elderly_visited": 50011,
        },
    }
    record.update(changes)
    return record


SAMPLES = {"cshub.FacilityReport": facility, "cshub.FundingReport": funding, "cshub.PolicyReport": policy}
