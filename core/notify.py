"""Notifications as pure functions: a diff of old and new rows, or a fact about one record.

"On the change, not on every event": a target notification comes only when a met flag flips,
a policy item only when it becomes COMPLETED. Each notification is a dict matching
`cshub.Notification` with a deterministic `notification_id`, so a consumer can drop the
duplicates an at-least-once redelivery may bring.
"""

from __future__ import annotations

from typing import Any

from core.rows import MET_FLAGS, Row
from schemas.topics import NATIONAL_CODE

Notification = dict[str, Any]

TYPES: tuple[str, ...] = (
    "TARGET_MET", "TARGET_AT_RISK", "POLICY_ITEM_COMPLETED", "ANOMALY_DISBURSED_EXCEEDS_ALLOCATED",
    "ANOMALY_AREA_BELOW_STANDARD", "OBLIGATION_MISSED", "OBLIGATION_MET_LATE", "REJECTION_BURST",
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


def row_changes(table: str, old: Row | None, new: Row, event_ms: int) -> list[Notification]:
    """Targets newly met / newly at risk, and policy items newly completed, between two rows.

    A first row (old None) counts as "nothing met yet": it notifies targets already met, never
    "at risk" (a province that has not reported is not news on every start).
    """
    out: list[Notification] = []
    province = new["province"]
    for flag in MET_FLAGS[table]:
        was = bool(old and old[flag])
        now = bool(new[flag])
        if was == now:
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
    if table == "policy" and province != NATIONAL_CODE:
        before = {i["code"]: i["completed"] for i in (old or {}).get("items", ())}
        for item in new["items"]:
            if item["completed"] and not before.get(item["code"]):
                out.append(notification(
                    "POLICY_ITEM_COMPLETED", province, item["code"],
                    f"{province} completed policy item {item['code']}", event_ms, table="policy"))
    return out


def record_anomalies(kind: str, province: str, report_id: str, revision: int, contribution: list[Any] | None,
                     standard_centi: int, event_ms: int) -> list[Notification]:
    """Anomalies one applied revision shows: more disbursed than allocated; an in-service facility
    below the area standard (30 m² per 100 households by default)."""
    if contribution is None:
        return []
    suffix = f"{report_id}@{revision}"
    if kind == "funding":
        _source, allocated, disbursed = contribution
        if disbursed > allocated:
            return [notification(
                "ANOMALY_DISBURSED_EXCEEDS_ALLOCATED", province, report_id,
                f"funding report {report_id} rev {revision}: disbursed {disbursed / 100:.2f} yuan exceeds "
                f"allocated {allocated / 100:.2f} yuan", event_ms, table="funding",
                value=str(disbursed), target=str(allocated), id_suffix=suffix)]
    elif kind == "facility":
        _area, status, households, area_centi, _community = contribution
        if status in ("COMPLETED", "OPERATING") and area_centi * 100 < standard_centi * households:
            return [notification(
                "ANOMALY_AREA_BELOW_STANDARD", province, report_id,
                f"facility {report_id} rev {revision} is {status} with {area_centi / 100:.2f} m² for "
                f"{households} households, below {standard_centi / 100:.2f} m² per 100 households",
                event_ms, table="facilities", id_suffix=suffix)]
    return []


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
