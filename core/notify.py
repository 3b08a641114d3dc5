"""Notifications as pure functions: a diff of old and new rows, or a fact about one record.

"On the change, not on every event": a target notification comes only when a met flag flips,
a policy item only when it becomes COMPLETED. Each notification is a dict matching
`cshub.Notification` with a deterministic `notification_id`, so a consumer can drop the
duplicates an at-least-once redelivery may bring.
"""

from __future__ import annotations

from typing import Any

from core.reconcile import breach_changes
from core.rows import MET_FLAGS, Row
from schemas.topics import NATIONAL_CODE

Notification = dict[str, Any]

TYPES: tuple[str, ...] = (
    "TARGET_MET", "TARGET_AT_RISK", "POLICY_ITEM_COMPLETED", "ANOMALY_DISBURSED_EXCEEDS_ALLOCATED",
    "ANOMALY_AREA_BELOW_STANDARD", "OBLIGATION_MISSED", "OBLIGATION_MET_LATE", "REJECTION_BURST",
    "RECONCILIATION_BREACH",
)


def notification(kind: str, province: str, subject: str, message: str, event_ms: int, *,
                 table: str | None = None, value: str | None = None, target: str | None = None,
                 id_suffix: str = "") -> Notification:
    """One notification record; the id is a function of its content, so redeliveries share it."""
    return {
        "notification_id": f"{kind}:{province}:{subject}:{id_suffix or event_ms}",
        "type": kind, "province": province, "table": table, "subject": subject, "message": message,
        "value": value, "target": target, "event_time": event_ms,
    }


_FLAG_VALUE = {  # met flag -> (value field, target field)
    "urban_met": ("urban_coverage", "urban_target"), "rural_met": ("rural_coverage", "rural_target"),
    "floor_area_met": ("floor_area_per_100_households", "floor_area_target"),
    "consistent": ("disbursed_exceeds_allocated", None),
    "solution_met": ("solution_units", "solution_target"),
    "big_city_care_met": ("big_city_care_coverage", "big_city_care_target"),
    "visit_met": ("visit_rate", "visit_target"), "met": ("missing", None),
}


_KNOWN = {  # met flag -> whether the row has the data to judge it (a province that has not reported: no)
    "urban_met": lambda r: r.get("urban_coverage") is not None,
    "rural_met": lambda r: r.get("rural_coverage") is not None,
    "floor_area_met": lambda r: r.get("floor_area_per_100_households") is not None,
    "consistent": lambda r: any(s.get("reports") for s in r.get("sources", ())),
    "solution_met": lambda r: bool(r.get("reporting_units")),
    "big_city_care_met": lambda r: r.get("big_city_care_coverage") is not None,
    "visit_met": lambda r: r.get("visit_rate") is not None,
    "met": lambda r: bool(r.get("owed")),
}


def row_changes(table: str, old: Row | None, new: Row, event_ms: int) -> list[Notification]:
    """Targets newly met / newly at risk, and policy items newly completed, between two rows.

    A target is news when its flag flips, and also on first sight: the first row that has the data to
    judge it (a coverage with a denominator, a policy report, an obligation owed) says "met" or "at risk"
    either way, so the provinces behind target appear at once. A row without that data (a province that
    has not reported yet) says nothing, so a start with empty tables is not news.
    """
    out: list[Notification] = []
    province = new["province"]
    for flag in MET_FLAGS[table]:
        known = _KNOWN[flag]
        was = bool(old and old[flag])
        was_known = old is not None and known(old)
        now = bool(new[flag])
        if now == was and (now or was_known or not known(new)):
            continue
        value_field, target_field = _FLAG_VALUE[flag]
        value = new.get(value_field)
        target = new.get(target_field) if target_field else None
        kind = "TARGET_MET" if now else "TARGET_AT_RISK"
        out.append(notification(
            kind, province, f"{table}.{flag}",
            f"{table}: {flag} is {'now met' if now else 'no longer met'} for {province} "
            f"({value_field}={value}, target {target})",
            event_ms, table=table, value=None if value is None else str(value),
            target=None if target is None else str(target)))
    out.extend(breach_changes(table, old, new, event_ms))
    if table == "policy" and province != NATIONAL_CODE:
        before = {i["code"]: i["completed"] for i in (old or {}).get("items", ())}
        for item in new["items"]:
            if item["completed"] and not before.get(item["code"]):
                out.append(notification(
                    "POLICY_ITEM_COMPLETED", province, item["code"],
                    f"{province} completed policy item {item['code']}", event_ms, table="policy"))
    return out


def anomaly_of(kind: str, contribution: list[Any] | None, standard_centi: int) -> str | None:
    """The anomaly type a report's contribution shows (more disbursed than allocated; an in-service facility below
    the area standard), or None: the rule alone, so the publisher warns a clerk without building a notification."""
    if contribution is None:
        return None
    if kind == "funding":
        _source, allocated, disbursed = contribution
        return "ANOMALY_DISBURSED_EXCEEDS_ALLOCATED" if disbursed > allocated else None
    if kind == "facility":
        _area, status, households, area_centi, _community = contribution
        if status in ("COMPLETED", "OPERATING") and area_centi * 100 < standard_centi * households:
            return "ANOMALY_AREA_BELOW_STANDARD"
    return None


def record_anomalies(kind: str, province: str, report_id: str, revision: int, contribution: list[Any] | None,
                     standard_centi: int, event_ms: int) -> list[Notification]:
    """Anomalies one applied revision shows: more disbursed than allocated; an in-service facility
    below the area standard (30 m² per 100 households by default)."""
    anomaly = anomaly_of(kind, contribution, standard_centi)
    if anomaly is None or contribution is None:
        return []
    suffix = "report"  # one notification per report and anomaly: its later revisions repeat it, same id
    if anomaly == "ANOMALY_DISBURSED_EXCEEDS_ALLOCATED":
        _source, allocated, disbursed = contribution
        return [notification(
            anomaly, province, report_id,
            f"funding report {report_id} rev {revision}: disbursed {disbursed / 100:.2f} yuan exceeds "
            f"allocated {allocated / 100:.2f} yuan", event_ms, table="funding",
            value=str(disbursed), target=str(allocated), id_suffix=suffix)]
    _area, status, households, area_centi, _community = contribution
    return [notification(
        anomaly, province, report_id,
        f"facility {report_id} rev {revision} is {status} with {area_centi / 100:.2f} m² for "
        f"{households} households, below {standard_centi / 100:.2f} m² per 100 households",
        event_ms, table="facilities", id_suffix=suffix)]


class BurstDetector:
    """REJECTION_BURST once a province's rejections in one fixed window reach the threshold.

    Windows are `window_ms` slices of the record timestamps (not the wall clock), so a replay
    finds the same bursts.
    """

    def __init__(self, threshold: int, window_ms: int) -> None:
        self.threshold = threshold
        self.window_ms = window_ms
        self._counts: dict[str, tuple[int, int]] = {}  # province -> (window start, count)

    def observe(self, province: str, event_ms: int) -> Notification | None:
        start = event_ms - event_ms % self.window_ms
        window, count = self._counts.get(province, (start, 0))
        count = count + 1 if window == start else 1
        self._counts[province] = (start, count)
        if count != self.threshold:
            return None
        return notification(
            "REJECTION_BURST", province, "rejected",
            f"{province}: {count} rejected records within {self.window_ms // 1000} s", event_ms,
            value=str(count), target=str(self.threshold), id_suffix=str(start))
