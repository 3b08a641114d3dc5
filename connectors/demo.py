"""A seeded, realistic feed of the 31 provinces reporting month by month (the demo behind `cshub run`).

Why: a newcomer and a ministry official should see the hub move the way it would in production —
facilities going from planned to operating, bond and central-budget money allocated then disbursed,
policy items completed — with the texture of real reporting: rural coverage lagging urban, a few
provinces behind target, corrections, withdrawals of double entries, one province always a month
late and two others each skipping one month, and a few bad records sent raw (past the publisher's
validation) so they land in `cshub.rejected`.

Time: the feed simulates the `months` months ending at `end_period` (the CLI passes the month before
today's, so the demo's periods meet the reporting obligations of today's clock), and every record
carries, as its Kafka timestamp, the moment a province would have sent it (`Send.at_ms`: the 28th of
the period, or of the next month for the late province). The deadline ledger reads those timestamps,
so the late province is really late (after the 10th of the next month), the skipped months are
really missing, and everyone else is on time. A record whose moment is still in the future (the late
province's latest month) is not sent (`run_feed(now_ms=...)`): it is pending, as it would be.

The generator (`DemoFeed.months()`) is pure and deterministic for a seed: no clock, no Kafka. Volumes
are modest on purpose (community counts scaled 1:100 from the real ~110,000 urban and ~490,000 rural
communities, so a few thousand facilities) and the policy indicators carry the same scaled counts,
so the coverage percentages come out realistic. `run_feed` sends each month through a `DemoSink`;
`PublisherSink` is the real provincial publisher path.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from core.signing import SigningKey
from schemas.kafka_config import Target, kafka_python_config
from schemas.kinds import SCHEMA_OF_KIND
from schemas.reference import policy_items, provinces
from schemas.topics import Kind, TopicNames

SCALE = 100
"""Community counts are the real ones divided by this (about 1,100 urban and 4,900 rural in all)."""

START_PERIOD = "2024-01"
STATUSES = ("PLANNED", "UNDER_CONSTRUCTION", "COMPLETED", "OPERATING")
FUNCTIONS = ("ELDERLY_CARE", "CHILDCARE", "FITNESS", "HEALTH", "CULTURE", "CONVENIENCE", "EMPLOYMENT", "LEGAL_AID")
MODES = ("GOVERNMENT", "SITE_FOR_SERVICE", "SOCIAL_ORGANISATION", "ENTERPRISE_CHAIN")
NAME_PARTS = ("幸福", "和平", "新华", "人民", "东风", "光明", "建设", "友谊", "团结", "振兴", "兴隆", "永安",
              "长青", "朝阳", "红星", "文化", "花园", "滨江", "翠湖", "安居", "富民", "桃源", "金桥", "云溪")

# Rough population (millions) and urbanisation (%) of each province, to size the scaled communities.
PROFILE: dict[str, tuple[float, int]] = {
    "110000": (21.8, 88), "120000": (13.6, 85), "130000": (74.2, 62), "140000": (34.7, 64),
    "150000": (24.0, 69), "210000": (42.0, 73), "220000": (23.4, 64), "230000": (30.9, 67),
    "310000": (24.8, 89), "320000": (85.3, 75), "330000": (66.3, 74), "340000": (61.3, 61),
    "350000": (41.9, 71), "360000": (45.2, 63), "370000": (101.6, 65), "410000": (98.7, 58),
    "420000": (58.4, 65), "430000": (65.7, 61), "440000": (127.1, 75), "450000": (50.5, 56),
    "460000": (10.3, 62), "500000": (32.1, 71), "510000": (83.7, 59), "520000": (38.6, 55),
    "530000": (46.7, 52), "540000": (3.7, 38), "610000": (39.6, 65), "620000": (24.9, 55),
    "630000": (5.9, 62), "640000": (7.3, 67), "650000": (26.0, 59),
}
TOTAL_URBAN = 110_000 // SCALE
TOTAL_RURAL = 490_000 // SCALE


def period_of(index: int, start: str = START_PERIOD) -> str:
    """The YYYY-MM period `index` months after `start`."""
    year, month = int(start[:4]), int(start[5:7])
    total = year * 12 + (month - 1) + index
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def produced_at(period: str, day: int, hour: int) -> dt.datetime:
    """A deterministic production time inside a period (UTC, tz-aware, as Avro timestamp-millis wants)."""
    return dt.datetime(int(period[:4]), int(period[5:7]), day, hour, 0, tzinfo=dt.UTC)


def sent_at_ms(period: str) -> int:
    """When a province on time sends its reports of `period`: the 28th, 20:00 UTC, after every production time
    (25th to 28th) and before the due date (the 10th of the next month, Beijing time)."""
    return int(produced_at(period, 28, 20).timestamp() * 1000)


def month_before(moment: dt.datetime) -> str:
    """The period before the Beijing-time month of `moment`: the latest a province can have reported."""
    local = moment.astimezone(dt.timezone(dt.timedelta(hours=8)))
    return period_of(-1, f"{local.year:04d}-{local.month:02d}")


@dataclass
class Send:
    """One record to send: a report through the publisher (`raw` None), or past it: `raw` bytes as they are,
    or, with `raw == b""`, the `record` Avro-encoded without the publisher's checks (a careless system)."""

    province: str
    kind: Kind
    record: dict[str, Any] | None = None
    raw: bytes | None = None
    note: str = ""
    at_ms: int = 0
    """The Kafka timestamp to send it with (the simulated moment of sending, epoch ms)."""


@dataclass
class Facility:
    report_id: str
    province: str
    county_code: str
    community_code: str
    community_name: str
    area_type: str
    households: int
    floor_area_m2: Decimal
    functions: list[str]
    renovation: bool
    mode: str
    schedule: dict[int, str]  # month index -> status reached that month
    revision: int = 0
    status: str | None = None
    withdraw_at: int | None = None

    def record(self, period: str, *, withdrawn: bool = False) -> dict[str, Any]:
        self.revision += 1
        return {
            "report_id": self.report_id, "revision": self.revision, "withdrawn": withdrawn,
            "province": self.province, "period": period, "produced_at": produced_at(period, 25, 9),
            "county_code": self.county_code, "community_code": self.community_code,
            "community_name": self.community_name, "area_type": self.area_type, "households": self.households,
            "floor_area_m2": self.floor_area_m2, "status": self.status or "PLANNED",
            "functions": list(self.functions), "old_community_renovation": self.renovation,
            "operating_mode": self.mode,
        }


@dataclass
class Funding:
    report_id: str
    province: str
    source: str
    bond_code: str | None
    purpose: str
    project_name: str
    start: int
    allocated: Decimal
    monthly_rate: float
    disbursed: Decimal = Decimal("0.00")
    revision: int = 0

    def record(self, period: str, disbursed: Decimal | None = None) -> dict[str, Any]:
        self.revision += 1
        return {
            "report_id": self.report_id, "revision": self.revision, "withdrawn": False, "province": self.province,
            "period": period, "produced_at": produced_at(period, 26, 10), "source": self.source,
            "bond_code": self.bond_code, "purpose": self.purpose, "project_name": self.project_name,
            "allocated_yuan": self.allocated, "disbursed_yuan": self.disbursed if disbursed is None else disbursed,
        }


@dataclass
class ProvincePlan:
    code: str
    name_zh: str
    urban: int
    rural: int
    pace: float  # 1.0 on track; < 1 behind
    facilities: list[Facility] = field(default_factory=list)
    funding: list[Funding] = field(default_factory=list)
    item_done: dict[str, int | None] = field(default_factory=dict)  # item -> month completed (<0: before start)
    big_city: int = 0
    care_start: float = 0.5
    elderly: int = 0
    visit_rate: float = 0.98


class DemoFeed:
    """The whole simulated country for `months` months ending at `end_period` (default: from `START_PERIOD`),
    reproducible for a seed and an end period."""

    def __init__(self, seed: int = 2025, months: int = 24, *, province_codes: Sequence[str] | None = None,
                 end_period: str | None = None) -> None:
        if months < 1:
            raise ValueError(f"months must be at least 1, got {months}")
        self.seed = seed
        self.months_total = months
        self.start = START_PERIOD if end_period is None else period_of(1 - months, end_period)
        self.rng = random.Random(seed)
        refs = provinces()
        codes = list(province_codes or refs)
        unknown = [c for c in codes if c not in refs]
        if unknown:
            raise ValueError(f"unknown province codes {unknown}; see schemas/data/provinces.csv")
        self.items = list(policy_items())
        rng = self.rng
        self.behind = set(rng.sample(codes, k=min(4, len(codes))))
        rest = [c for c in codes if c not in self.behind]
        self.late_province = rng.choice(rest) if rest else codes[0]
        others = [c for c in rest if c != self.late_province]
        skippers = rng.sample(others, k=min(2, len(others)))
        self.skipped = {c: rng.randint(max(1, months - 8), max(1, months - 2)) for c in skippers}
        """Provinces that send nothing for one month (index): their obligations of that period are missing."""
        self.no_solution = rng.choice(sorted(self.behind))  # the one province without a 一老一小 solution
        self.plans = [self._plan(code, refs[code].name_zh, len(codes)) for code in codes]

    # --- building the plan ---------------------------------------------------------------------------------
    def _plan(self, code: str, name_zh: str, n_provinces: int) -> ProvincePlan:
        rng = self.rng
        pop, urb = PROFILE.get(code, (40.0, 60))
        total_pop = sum(p for p, _ in PROFILE.values()) if n_provinces > 1 else pop
        urban = max(4, round(TOTAL_URBAN * pop / total_pop * urb / 64))
        rural = max(4, round(TOTAL_RURAL * pop / total_pop * (100 - urb) / 36))
        behind = code in self.behind
        pace = rng.uniform(0.55, 0.75) if behind else rng.uniform(0.9, 1.1)
        plan = ProvincePlan(code, name_zh, urban, rural, pace=pace)
        self._facilities(plan)
        self._funding(plan, pop)
        for i, item in enumerate(self.items):
            if item == "ONE_OLD_ONE_SMALL_SOLUTION" and code == self.no_solution:
                plan.item_done[item] = None
            elif i < 2:
                plan.item_done[item] = -rng.randint(1, 24)
            else:
                late = rng.random() < (0.6 if behind else 0.25)
                plan.item_done[item] = rng.randint(1, self.months_total + 6) if late else -rng.randint(1, 12)
        plan.big_city = round(urban * rng.uniform(0.2, 0.7))
        plan.care_start = rng.uniform(0.45, 0.7)
        plan.elderly = round(pop * rng.uniform(25, 45))
        plan.visit_rate = rng.uniform(0.9, 0.97) if behind else rng.uniform(0.97, 1.0)
        return plan

    def _facilities(self, plan: ProvincePlan) -> None:
        rng, months = self.rng, self.months_total
        for area, count, start_cov, end_cov in (
            ("URBAN", plan.urban, rng.uniform(0.72, 0.88), min(1.0, rng.uniform(0.97, 1.05) * plan.pace ** 0.3)),
            ("RURAL", plan.rural, rng.uniform(0.38, 0.55), min(0.95, rng.uniform(0.8, 0.9) * plan.pace ** 0.6)),
        ):
            for n in range(count):
                county = f"{plan.code[:2]}{rng.randint(1, 12):02d}{rng.randint(1, 30):02d}"
                community = f"{county}{rng.randint(1, 999):03d}{n % 1000:03d}"
                suffix = "社区" if area == "URBAN" else "村"
                name = rng.choice(NAME_PARTS) + rng.choice(NAME_PARTS) + suffix
                households = rng.randint(400, 3000) if area == "URBAN" else rng.randint(120, 900)
                per_100 = rng.gauss(45 if plan.pace > 0.8 else 38, 6)  # a few below 30 m2, more where behind
                area_m2 = Decimal(max(8000, round(households * per_100))) / 100  # exact to 0.01 m2
                funcs = sorted(rng.sample(FUNCTIONS, k=rng.randint(2, 5)))
                draw = rng.random()
                if draw < start_cov:  # already operating before the feed starts
                    schedule = {0: "OPERATING"}
                elif draw < end_cov:  # becomes operating within the horizon
                    op = rng.randint(2, months)
                    schedule = _lifecycle(op, rng)
                elif draw < end_cov + (1 - end_cov) * 0.6:  # started, will operate after the horizon
                    schedule = _lifecycle(rng.randint(months + 1, months + 10), rng)
                else:
                    continue  # no facility yet: the coverage gap
                fid = f"F{plan.code}-{len(plan.facilities) + 1:05d}"
                plan.facilities.append(Facility(fid, plan.code, county, community, name, area, households,
                                                area_m2, funcs, rng.random() < 0.3, rng.choice(MODES), schedule))
        # A few double entries (same community reported twice), withdrawn a month or two later.
        for _ in range(rng.randint(0, 2)):
            if not plan.facilities:
                break
            orig = rng.choice(plan.facilities)
            first = min(orig.schedule)
            dup = Facility(f"F{plan.code}-D{len(plan.facilities):04d}", plan.code, orig.county_code,
                           orig.community_code, orig.community_name, orig.area_type, orig.households,
                           orig.floor_area_m2, list(orig.functions), orig.renovation, orig.mode,
                           dict(orig.schedule), withdraw_at=min(months - 1, max(first, 0) + rng.randint(1, 3)))
            plan.facilities.append(dup)

    def _funding(self, plan: ProvincePlan, pop: float) -> None:
        rng, months = self.rng, self.months_total
        n = 0
        for source, purpose, weight in (
            ("SPECIAL_BOND", "城乡社区综合服务设施建设", 0.45),
            ("CENTRAL_BUDGET", "社区养老服务骨干网", 0.25),
            ("PROVINCIAL_FISCAL", "社区服务设施补短板", 0.2),
            ("SOCIAL_CAPITAL", "社区嵌入式服务设施", 0.1),
        ):
            for _ in range(rng.randint(1, 3)):
                n += 1
                fen = int(pop * weight * rng.uniform(0.4, 1.2) * 10_000_000 * 100)  # ~ tens of millions of yuan
                bond = (f"{plan.code[:2]}{2024 + rng.randint(0, 1)}{rng.randint(1, 999):03d}ZX"
                        if source == "SPECIAL_BOND" else None)
                plan.funding.append(Funding(
                    report_id=f"M{plan.code}-{n:03d}", province=plan.code, source=source, bond_code=bond,
                    purpose=purpose, project_name=f"{plan.name_zh}{purpose}项目（第{n}批）",
                    start=rng.randint(0, max(0, months - 6)), allocated=Decimal(fen) / 100,
                    monthly_rate=rng.uniform(0.03, 0.09) * (plan.pace if source != "SOCIAL_CAPITAL" else 0.8)))

    # --- the months ----------------------------------------------------------------------------------------
    def period(self, m: int) -> str:
        """The period of month index `m` of this feed."""
        return period_of(m, self.start)

    def months(self) -> Iterator[tuple[str, list[Send]]]:
        """(period, sends) for each simulated month, in order; the late province's month comes a month later."""
        held: list[Send] = []
        for m in range(self.months_total + 1):
            sends: list[Send] = held
            held = []
            if m < self.months_total:
                period = self.period(m)
                at = sent_at_ms(period)
                late_at = sent_at_ms(self.period(m + 1))
                for plan in self.plans:
                    if self.skipped.get(plan.code) == m:
                        continue
                    batch = self._province_month(plan, m, period)
                    for send in batch:
                        send.at_ms = late_at if plan.code == self.late_province else at
                    if plan.code == self.late_province:
                        held.extend(batch)
                    else:
                        sends.extend(batch)
                for send in self._bad_records(m, period):
                    send.at_ms = at
                    sends.append(send)
                yield period, sends
            elif sends:
                yield self.period(m), sends

    def _province_month(self, plan: ProvincePlan, m: int, period: str) -> list[Send]:
        rng = random.Random(f"{self.seed}:{plan.code}:{m}")  # each month reproducible on its own
        out: list[Send] = []
        for fac in plan.facilities:
            status = _status_at(fac.schedule, m)
            if fac.withdraw_at is not None and m == fac.withdraw_at and fac.revision > 0:
                out.append(Send(plan.code, "facility", fac.record(period, withdrawn=True), note="withdrawal"))
                fac.withdraw_at = -1
                continue
            if fac.withdraw_at == -1:
                continue
            if status is not None and status != fac.status:  # a new stage (or caught up after a skipped month)
                fac.status = status
                out.append(Send(plan.code, "facility", fac.record(period)))
            elif fac.revision > 0 and rng.random() < 0.001:  # a correction of the floor area
                fac.floor_area_m2 = (fac.floor_area_m2 * Decimal(rng.choice(("0.9", "1.1")))).quantize(Decimal("0.01"))
                out.append(Send(plan.code, "facility", fac.record(period), note="correction"))
        for fund in plan.funding:
            if m < fund.start:
                continue
            before = fund.disbursed
            if m > fund.start:
                step = fund.allocated * Decimal(str(round(fund.monthly_rate * rng.uniform(0.5, 1.5), 4)))
                fund.disbursed = min(fund.allocated, (fund.disbursed + step).quantize(Decimal("0.01")))
            if m == fund.start or fund.disbursed != before:
                out.append(Send(plan.code, "funding", fund.record(period)))
        if m == 5 and plan.code == self.no_solution and plan.funding:  # more disbursed than allocated, then fixed
            fund = plan.funding[0]
            out.append(Send(plan.code, "funding", fund.record(period, disbursed=fund.allocated + Decimal("1250000.00")),
                            note="anomaly: disbursed > allocated"))
            out.append(Send(plan.code, "funding", fund.record(period), note="correction"))
        self._monthly_confirmations(plan, m, period, out)
        out.append(Send(plan.code, "policy", self._policy(plan, m, period)))
        return out

    @staticmethod
    def _monthly_confirmations(plan: ProvincePlan, m: int, period: str, out: list[Send]) -> None:
        """Every month a province reports each kind at least once (the obligation): when nothing changed, it
        confirms one report as it stands (a new revision with the same values, which changes no total)."""
        kinds = {send.kind for send in out}
        if "facility" not in kinds:
            reported = [f for f in plan.facilities if f.revision > 0 and f.withdraw_at != -1]
            if reported:
                out.append(Send(plan.code, "facility", reported[0].record(period), note="monthly confirmation"))
        if "funding" not in kinds and plan.funding:
            fund = min(plan.funding, key=lambda f: (f.revision == 0, f.start))
            fund.start = min(fund.start, m)
            out.append(Send(plan.code, "funding", fund.record(period), note="monthly confirmation"))

    def _policy(self, plan: ProvincePlan, m: int, period: str) -> dict[str, Any]:
        items = []
        for code in self.items:
            done = plan.item_done[code]
            if done is not None and done <= m:
                when = self.period(done)
                year, month = int(when[:4]), int(when[5:7])
                items.append({"code": code, "status": "COMPLETED", "status_date": dt.date(year, month, 15),
                              "evidence_ref": f"{plan.name_zh}人民政府办公厅〔{year}〕{10 + self.items.index(code)}号"})
            elif (done is not None and done <= m + 6) or (done is None and m > 3):
                items.append({"code": code, "status": "IN_PROGRESS", "status_date": None, "evidence_ref": ""})
            else:
                items.append({"code": code, "status": "NOT_STARTED", "status_date": None, "evidence_ref": ""})
        progress = m / max(1, self.months_total - 1)
        care = min(0.95, plan.care_start + (0.88 - plan.care_start) * progress * plan.pace)
        visited = min(plan.elderly, round(plan.elderly * min(1.0, plan.visit_rate + 0.02 * progress)))
        return {
            "report_id": f"P{plan.code}-{period}", "revision": 1, "withdrawn": False, "province": plan.code,
            "period": period, "produced_at": produced_at(period, 28, 16), "items": items,
            "indicators": {
                "urban_communities": plan.urban, "rural_communities": plan.rural,
                "big_city_communities": plan.big_city,
                "big_city_communities_with_care": round(plan.big_city * care),
                "special_difficulty_elderly": plan.elderly, "special_difficulty_elderly_visited": visited,
            },
        }

    def _bad_records(self, m: int, period: str) -> list[Send]:
        """A few records that no good publisher would send, so the dead-letter topic has something to show."""
        codes = [p.code for p in self.plans]
        out: list[Send] = []
        if m == 2:
            out.append(Send(codes[0], "facility", raw=b"\x00not avro at all: a truncated upload\xff", note="garbage"))
        if m == 4 and len(codes) > 1:  # a province reporting about another one
            plan = self.plans[1]
            fac = Facility(f"F{codes[0]}-X0001", codes[0], f"{codes[0][:2]}0101", f"{codes[0][:2]}0101001001",
                           "错报社区", "URBAN", 800, Decimal("300.00"), ["CULTURE"], False, "GOVERNMENT",
                           {}, status="PLANNED")
            out.append(Send(plan.code, "facility", fac.record(period), raw=b"", note="wrong province"))
        if m == 6:
            plan = self.plans[min(2, len(self.plans) - 1)]
            fund = Funding(f"M{plan.code}-X01", plan.code, "CENTRAL_BUDGET", None, "社区养老服务骨干网",
                           "负数金额测试", 0, Decimal("1000000.00"), 0.0, disbursed=Decimal("-5000.00"))
            out.append(Send(plan.code, "funding", fund.record(period), raw=b"", note="negative money"))
        return out


def _status_at(schedule: dict[int, str], m: int) -> str | None:
    """The status a facility has reached by month `m` (None before its first stage)."""
    reached = [month for month in schedule if month <= m]
    return schedule[max(reached)] if reached else None


def _lifecycle(op_month: int, rng: random.Random) -> dict[int, str]:
    """Months at which a facility reaches each status, ending OPERATING at `op_month`.

    Stages before month 0 collapse onto month 0 (the status it had when the feed started).
    """
    completed = op_month - rng.randint(1, 2)
    construction = completed - rng.randint(2, 5)
    planned = construction - rng.randint(1, 4)
    schedule: dict[int, str] = {}
    for month, status in zip((planned, construction, completed, op_month), STATUSES, strict=True):
        schedule[max(0, month)] = status
    return schedule


class DemoSink(Protocol):
    """Where the feed's records go: reports through a publisher, raw bytes straight to a topic."""

    def send_reports(self, province: str, kind: Kind, records: list[dict[str, Any]],
                     timestamp_ms: int | None = None) -> int: ...

    def send_raw(self, topic: str, key: bytes | None, value: bytes, timestamp_ms: int | None = None) -> None: ...

    def flush(self) -> None: ...


@dataclass
class FeedStats:
    months: int = 0
    reports: int = 0
    bad: int = 0
    not_yet: int = 0


def run_feed(feed: DemoFeed, sink: DemoSink, names: TopicNames, *, month_seconds: float = 0.0,
             stop: Any = None, on_month: Any = None, now_ms: int | None = None) -> FeedStats:
    """Send every month of `feed` to `sink`, pausing `month_seconds` between months.

    Each record goes with its `Send.at_ms` as Kafka timestamp; one whose moment is after `now_ms` (if given)
    is not sent yet (counted in `not_yet`): a report is never sent from the future.

    `stop` is anything with `is_set()` and `wait(seconds)` (a threading.Event): when set, the feed ends after
    the current month. `on_month(period, stats)` is called after each month (the CLI prints progress).
    """
    from schemas import codec

    stats = FeedStats()
    for period, sends in feed.months():
        grouped: dict[tuple[str, Kind, int], list[dict[str, Any]]] = {}
        for send in sends:
            if now_ms is not None and send.at_ms > now_ms:
                stats.not_yet += 1
            elif send.raw is not None:  # past the publisher: raw bytes, or a record encoded without validation
                value = send.raw or codec.encode(SCHEMA_OF_KIND[send.kind], send.record or {})
                key = str((send.record or {}).get("report_id", "garbage")).encode()
                sink.send_raw(names.inbound(send.province, send.kind), key, value, send.at_ms or None)
                stats.bad += 1
            elif send.record is not None:
                grouped.setdefault((send.province, send.kind, send.at_ms), []).append(send.record)
        for (province, kind, at_ms), records in grouped.items():
            stats.reports += sink.send_reports(province, kind, records, at_ms or None)
        sink.flush()
        stats.months += 1
        if on_month is not None:
            on_month(period, stats)
        if stop is not None and (stop.is_set() or (month_seconds > 0 and stop.wait(month_seconds))):
            break
    return stats


class PublisherSink:
    """The real provincial publisher path: one `Publisher` per province over one shared idempotent producer.

    Raw (bad) records go through the same producer straight to the inbound topic, as a careless
    provincial system that skips our publisher would send them.
    """

    def __init__(self, bootstrap: Target, names: TopicNames, keys_dir: Path | None = None) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        from connectors.errors import BrokerUnreachable
        from connectors.publisher import Publisher

        self.names = names
        try:
            self._producer = KafkaProducer(**kafka_python_config(bootstrap, client_id="cshub-demo"), acks="all",
                                           enable_idempotence=True, linger_ms=20, batch_size=256 * 1024)
        except (KafkaError, OSError) as exc:
            raise BrokerUnreachable(bootstrap, exc) from exc
        self._publishers: dict[str, Publisher] = {}
        self._publisher_cls = Publisher
        self.rejected_locally = 0
        self._keys_dir = keys_dir
        self._keys: dict[str, SigningKey | None] = {}

    def signing_key(self, province: str) -> SigningKey | None:
        """The province's key from `keys_dir` (`<secrets>/province-<code>.key`), None when it has none there."""
        if province not in self._keys:
            from connectors.signing_keys import key_path
            from schemas.principals import province_principal

            path = None if self._keys_dir is None else key_path(self._keys_dir, province_principal(province))
            self._keys[province] = SigningKey.load(path) if path is not None and path.exists() else None
        return self._keys[province]

    def send_reports(self, province: str, kind: Kind, records: list[dict[str, Any]],
                     timestamp_ms: int | None = None) -> int:
        from connectors.errors import ConnectorError

        pub = self._publishers.get(province)
        if pub is None:
            pub = self._publisher_cls("", province, names=self.names, producer=self._producer,
                                      signing_key=self.signing_key(province))
            self._publishers[province] = pub
        result = pub.publish(kind, enumerate(records, start=1), timestamp_ms=timestamp_ms)
        self.rejected_locally += result.rejected_rows
        if result.error or result.failed:
            raise ConnectorError(f"demo feed: publishing {kind} reports of {province} failed:"
                                 f" {result.error or result.failed}")
        return result.acknowledged

    def send_raw(self, topic: str, key: bytes | None, value: bytes, timestamp_ms: int | None = None) -> None:
        """Signed too, when the province has a key: the hub then rejects it for what is wrong with its content."""
        where = self.names.parse_inbound(topic)
        signer = self.signing_key(where[0]) if where is not None else None
        headers = signer.sign(topic, key, value) if signer is not None else None
        self._producer.send(topic, key=key, value=value, timestamp_ms=timestamp_ms, headers=headers)

    def flush(self) -> None:
        self._producer.flush()

    def close(self) -> None:
        self._producer.close(timeout=5)
