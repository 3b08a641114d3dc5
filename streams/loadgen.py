"""Synthetic, rule-abiding report streams for tests and benchmarks: seeded, so reproducible.

`generate` returns (kind, record) pairs as Avro dicts: every report's revisions (first report,
corrections, a withdrawal now and then) plus exact duplicates, shuffled across keys and within
them. Nothing here knows Kafka; callers encode with `schemas.codec` and send.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

FACILITY_STATUSES = ("PLANNED", "UNDER_CONSTRUCTION", "COMPLETED", "OPERATING")
SOURCES = ("SPECIAL_BOND", "CENTRAL_BUDGET", "PROVINCIAL_FISCAL", "SOCIAL_CAPITAL")
POLICY_STATUSES = ("NOT_STARTED", "IN_PROGRESS", "COMPLETED")
BASE_TIME = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Mix:
    """Shares of the stream: duplicates and corrections per report, withdrawals."""

    duplicate: float = 0.12
    correction: float = 0.15
    withdrawal: float = 0.03
    funding: float = 0.17
    policy_per_province: int = 3


def _facility(rng: random.Random, province: str, report_id: str, revision: int, community: int) -> dict[str, Any]:
    county = f"{province[:2]}{community % 97 + 1:04d}"
    households = rng.randint(50, 4000)
    per_household = Decimal(rng.randint(15, 60)) / 100  # 0.15..0.60 m² per household, around the 0.30 standard
    area = (per_household * households + Decimal(rng.randint(0, 99)) / 100).quantize(Decimal("0.01"))
    return {
        "report_id": report_id, "revision": revision, "withdrawn": False, "province": province,
        "period": f"2026-{rng.randint(1, 10):02d}",
        "produced_at": BASE_TIME + timedelta(seconds=rng.randint(0, 9_000_000)),
        "county_code": county, "community_code": f"{county}{community:06d}",
        "community_name": f"第{community}社区", "area_type": rng.choice(("URBAN", "RURAL")),
        "households": households, "floor_area_m2": area, "status": rng.choice(FACILITY_STATUSES),
        "functions": rng.sample(["ELDERLY_CARE", "CHILDCARE", "FITNESS", "HEALTH", "CULTURE"], k=2),
        "old_community_renovation": rng.random() < 0.3,
        "operating_mode": rng.choice(("GOVERNMENT", "SITE_FOR_SERVICE", "SOCIAL_ORGANISATION", "ENTERPRISE_CHAIN")),
    }


def _funding(rng: random.Random, province: str, report_id: str, revision: int) -> dict[str, Any]:
    source = rng.choice(SOURCES)
    allocated = Decimal(rng.randint(100_000, 5_000_000_000)) / 100
    disbursed = (allocated * Decimal(rng.randint(0, 105)) / 100).quantize(Decimal("0.01"))  # a few exceed
    return {
        "report_id": report_id, "revision": revision, "withdrawn": False, "province": province,
        "period": f"2026-{rng.randint(1, 10):02d}",
        "produced_at": BASE_TIME + timedelta(seconds=rng.randint(0, 9_000_000)),
        "source": source,
        "bond_code": f"2026-{province}-ZXZ-{rng.randint(1, 999):04d}" if source == "SPECIAL_BOND" else None,
        "purpose": "社区养老服务骨干网", "project_name": f"{province}社区综合服务设施补短板项目",
        "allocated_yuan": allocated, "disbursed_yuan": disbursed,
    }


def _policy(rng: random.Random, province: str, report_id: str, revision: int, period: str,
            items: tuple[str, ...]) -> dict[str, Any]:
    produced = datetime(2026, int(period[5:]), 20, tzinfo=UTC)
    statuses = []
    for code in items:
        status = rng.choice(POLICY_STATUSES)
        done = status == "COMPLETED"
        statuses.append({"code": code, "status": status, "status_date": date(2025, 6, 1) if done else None,
                         "evidence_ref": f"{province}〔2025〕{rng.randint(1, 99)}号" if done else ""})
    big = rng.randint(100, 5000)
    elderly = rng.randint(1000, 90000)
    return {
        "report_id": report_id, "revision": revision, "withdrawn": False, "province": province, "period": period,
        "produced_at": produced, "items": statuses,
        "indicators": {
            "urban_communities": rng.randint(500, 9000), "rural_communities": rng.randint(1000, 30000),
            "big_city_communities": big, "big_city_communities_with_care": rng.randint(big // 2, big),
            "special_difficulty_elderly": elderly,
            "special_difficulty_elderly_visited": rng.randint(elderly * 9 // 10, elderly),
        },
    }


def generate(n_reports: int, provinces: tuple[str, ...], policy_items: tuple[str, ...], seed: int = 1,
             mix: Mix | None = None) -> list[tuple[str, dict[str, Any]]]:
    """About `n_reports` distinct reports and their revisions and duplicates, shuffled; (kind, record) pairs."""
    mix = mix or Mix()
    rng = random.Random(seed)
    out: list[tuple[str, dict[str, Any]]] = []

    def emit(kind: str, first: dict[str, Any], revise: Any) -> None:
        versions = [first]
        while rng.random() < mix.correction * 2 and len(versions) < 4:
            nxt = revise(versions[-1]["revision"] + rng.randint(1, 2))
            versions.append(nxt)
        if rng.random() < mix.withdrawal:
            gone = dict(versions[-1], revision=versions[-1]["revision"] + 1, withdrawn=True)
            versions.append(gone)
        for v in versions:
            out.append((kind, v))
            if rng.random() < mix.duplicate * 1.2:
                out.append((kind, dict(v)))

    for province in provinces:
        for m in range(mix.policy_per_province):
            period = f"2026-{m + 1:02d}"
            rid = f"{province}-POL-{period}"
            emit("policy", _policy(rng, province, rid, 1, period, policy_items),
                 lambda rev, p=province, r=rid, per=period: _policy(rng, p, r, rev, per, policy_items))
    n_funding = int(n_reports * mix.funding)
    for i in range(max(0, n_reports - n_funding - len(provinces) * mix.policy_per_province)):
        province = provinces[i % len(provinces)]
        rid = f"{province}-FAC-{i:07d}"
        community = i // len(provinces) % 3000 + 1  # some communities get two facilities
        emit("facility", _facility(rng, province, rid, 1, community),
             lambda rev, p=province, r=rid, c=community: _facility(rng, p, r, rev, c))
    for i in range(n_funding):
        province = provinces[rng.randrange(len(provinces))]
        rid = f"{province}-FUND-{i:07d}"
        emit("funding", _funding(rng, province, rid, 1), lambda rev, p=province, r=rid: _funding(rng, p, r, rev))
    rng.shuffle(out)
    return out
