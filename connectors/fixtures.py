"""Generated report files for tests and benchmarks: realistic flat rows of one province, Chinese names.

Deterministic (seeded), so a failing test or a benchmark figure can be reproduced.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connectors.readers import COLUMNS

STATUSES = ("PLANNED", "UNDER_CONSTRUCTION", "COMPLETED", "OPERATING")
FUNCTIONS = ("ELDERLY_CARE", "CHILDCARE", "FITNESS", "HEALTH", "CULTURE", "CONVENIENCE")
MODES = ("GOVERNMENT", "SITE_FOR_SERVICE", "SOCIAL_ORGANISATION", "ENTERPRISE_CHAIN")
STREETS = ("梅园新村", "夫子庙", "长江路", "新街口", "汤山", "孟墓", "湖滨", "东山")


def facility_rows(province: str, count: int, *, seed: int = 7, revisions: int = 1,
                  prefix: str = "F") -> Iterator[dict[str, Any]]:
    """`count` facility rows: `count // revisions` facilities, each reported `revisions` times (corrections)."""
    rng = random.Random(seed)
    facilities = max(1, count // revisions)
    county = f"{province[:2]}0102"
    for n in range(count):
        fid = n % facilities
        revision = n // facilities + 1
        households = rng.randint(300, 4000)
        yield {
            "report_id": f"{prefix}-{province}-{fid:07d}", "revision": revision, "withdrawn": "false",
            "province": province, "period": "2025-03", "produced_at": "2025-03-31T10:00:00+08:00",
            "county_code": county, "community_code": f"{county}{fid % 1000:03d}{fid // 1000 % 1000:03d}",
            "community_name": f"{STREETS[fid % len(STREETS)]}街道第{fid}社区",
            "area_type": "URBAN" if fid % 3 else "RURAL", "households": households,
            "floor_area_m2": f"{households * rng.randint(20, 45) / 100:.2f}",
            "status": STATUSES[rng.randrange(4)], "functions": ";".join(rng.sample(FUNCTIONS, 3)),
            "old_community_renovation": "true" if fid % 5 == 0 else "false", "operating_mode": MODES[fid % 4],
        }


def write_facility_csv(path: Path, rows: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS["facility"]))
        writer.writeheader()
        writer.writerows(rows)
    return path
