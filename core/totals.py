"""Per-province running totals, updated by delta: the old contribution out, the new one in, O(1).

Every table row is a function of a flat dict of integers (`table_totals`), and a national row is
the same function of the element-wise sum of the province dicts. So a national row is derived
from province rows, never from a second pass over reports, and order of records cannot matter:
totals are sums (and a max for the policy report), which commute.
"""

from __future__ import annotations

from core.contributions import FACILITY_STATUSES, FUNDING_SOURCES, IN_SERVICE, POLICY_STATUSES, Contribution


class ProvinceTotals:
    """The live totals of one province. Mutable on purpose: the fold runs per record."""

    __slots__ = (
        "area_centi",
        "covered",
        "exceeding",
        "facility_status",
        "funding",
        "households",
        "meeting",
        "policy_reports",
    )

    def __init__(self) -> None:
        self.facility_status: dict[str, int] = dict.fromkeys(FACILITY_STATUSES, 0)
        # community code -> how many in-service facilities it has, per area type ("U", "R")
        self.covered: dict[str, dict[str, int]] = {"U": {}, "R": {}}
        self.households = 0  # of in-service facilities
        self.area_centi = 0  # of in-service facilities
        self.meeting = 0  # in-service facilities meeting the area standard
        self.funding: dict[str, list[int]] = {s: [0, 0, 0] for s in FUNDING_SOURCES}  # reports, alloc, disb
        self.exceeding = 0  # funding reports with more disbursed than allocated
        self.policy_reports: dict[str, Contribution] = {}  # report id -> policy contribution

    def apply(self, kind: str, report_id: str, c: Contribution, sign: int, standard_centi: int) -> None:
        """Add (sign=1) or remove (sign=-1) one report's contribution.

        `standard_centi` is the area target in centi-m² per 100 households (3000 for 30 m²).
        """
        if kind == "facility":
            area, status, households, area_centi, community = c
            self.facility_status[status] = self.facility_status.get(status, 0) + sign
            if status in IN_SERVICE:
                self.households += sign * households
                self.area_centi += sign * area_centi
                if area_centi * 100 >= standard_centi * households:
                    self.meeting += sign
                counts = self.covered[area]
                n = counts.get(community, 0) + sign
                if n:
                    counts[community] = n
                else:
                    del counts[community]
        elif kind == "funding":
            source, allocated, disbursed = c
            row = self.funding.setdefault(source, [0, 0, 0])
            row[0] += sign
            row[1] += sign * allocated
            row[2] += sign * disbursed
            if disbursed > allocated:
                self.exceeding += sign
        elif kind == "policy":
            if sign > 0:
                self.policy_reports[report_id] = c
            else:
                self.policy_reports.pop(report_id, None)
        else:
            raise ValueError(f"unknown report kind {kind!r}")

    def current_policy(self) -> Contribution | None:
        """The province's current policy state: its latest period's report (ties: highest report id)."""
        if not self.policy_reports:
            return None
        report_id = max(self.policy_reports, key=lambda rid: (self.policy_reports[rid][0], rid))
        return self.policy_reports[report_id]

    def table_totals(self, table: str, policy_items: tuple[str, ...]) -> dict[str, int]:
        """The integers a table row is computed from (see `core.rows`)."""
        if table == "coverage":
            # Capped per province (core.reconcile: covered <= communities), so one province's surplus
            # can neither show as more than 100 % nor inflate the national row; the surplus is kept apart.
            ind = self._indicators()
            urban, rural = len(self.covered["U"]), len(self.covered["R"])
            return {"urban_communities": ind[0], "urban_covered": urban, "urban_capped": min(urban, ind[0]),
                    "rural_communities": ind[1], "rural_covered": rural, "rural_capped": min(rural, ind[1]),
                    "facilities": sum(self.facility_status.values())}
        if table == "facilities":
            out = {s.lower(): n for s, n in self.facility_status.items()}
            out.update(in_service_households=self.households, in_service_area_centi=self.area_centi,
                       meeting_standard=self.meeting)
            return out
        if table == "funding":
            out = {"exceeding": self.exceeding}
            for source in FUNDING_SOURCES:
                reports, allocated, disbursed = self.funding[source]
                out[f"{source}:reports"] = reports
                out[f"{source}:allocated_fen"] = allocated
                out[f"{source}:disbursed_fen"] = disbursed
            return out
        if table == "policy":
            current = self.current_policy()
            status = dict(current[1]) if current is not None else {}
            out = {"units": 1, "reporting_units": int(current is not None)}
            for code in policy_items:
                got = status.get(code)
                for s in POLICY_STATUSES:
                    out[f"{code}:{s}"] = int(got == s)
            return out
        if table == "services":
            ind = self._indicators()
            return {"big_city_communities": ind[2], "big_city_communities_with_care": ind[3],
                    "special_difficulty_elderly": ind[4], "special_difficulty_elderly_visited": ind[5]}
        raise ValueError(f"no report totals for table {table!r}")

    def _indicators(self) -> list[int]:
        current = self.current_policy()
        return list(current[2]) if current is not None else [0, 0, 0, 0, 0, 0]


def sum_totals(parts: list[dict[str, int]]) -> dict[str, int]:
    """Element-wise sum of province totals: the national totals."""
    out: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            out[key] = out.get(key, 0) + value
    return out
