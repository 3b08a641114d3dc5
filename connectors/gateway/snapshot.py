"""The gateway's in-memory picture of the hub: every national table row and the latest notifications.

Why a class of its own: the Kafka reader thread writes it and the web handlers read it, so it is the
one place that holds a lock; and it is pure (no Kafka, no aiohttp), so it is unit-testable alone.
Values are kept JSON-ready (see `jsonable`), so a handler can serialise a copy without surprises.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.jsonable import jsonable


@dataclass
class Change:
    """What one applied record changed, as pushed to server-sent-event clients."""

    kind: str  # "row" | "delete" | "notification"
    table: str | None = None
    key: str | None = None
    value: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.table is not None:
            out["table"] = self.table
        if self.key is not None:
            out["key"] = self.key
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass
class Snapshot:
    """Latest row per (table, key) and the last `notifications_limit` notifications, thread-safe."""

    notifications_limit: int = 200
    drop_fields: tuple[str, ...] = ("offsets",)
    """Row fields the dashboard does not need: `offsets` lists every input partition (kilobytes per row)."""
    tables: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    version: int = 0
    rejected_records: int = 0
    _notifications: deque[dict[str, Any]] = field(init=False)
    _ids: set[Any] = field(default_factory=set, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._notifications = deque(maxlen=self.notifications_limit)

    def put_row(self, table: str, key: str, value: Mapping[str, Any] | None) -> Change:
        """Set (or, for a tombstone `None`, delete) a table row; return the change."""
        with self._lock:
            self.version += 1
            rows = self.tables.setdefault(table, {})
            if value is None:
                rows.pop(key, None)
                return Change("delete", table, key)
            row = jsonable({k: v for k, v in value.items() if k not in self.drop_fields})
            rows[key] = row
            return Change("row", table, key, row)

    def add_notification(self, key: str | None, value: Mapping[str, Any]) -> Change | None:
        """Keep a notification once per `notification_id` (restarts and redeliveries repeat ids); None if a repeat."""
        with self._lock:
            note = jsonable(value)
            note_id = note.get("notification_id")
            if note_id is not None and note_id in self._ids:
                return None
            self.version += 1
            if key is not None:
                note.setdefault("province", key)
            if len(self._notifications) == self._notifications.maxlen:
                self._ids.discard(self._notifications[0].get("notification_id"))
            self._notifications.append(note)
            if note_id is not None:
                self._ids.add(note_id)
            return Change("notification", None, key, note)

    def count_undecodable(self) -> None:
        with self._lock:
            self.rejected_records += 1

    def tables_copy(self) -> dict[str, dict[str, dict[str, Any]]]:
        with self._lock:
            return {t: dict(rows) for t, rows in self.tables.items()}

    def notifications(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Newest first, by `event_time` (partitions are read in parallel, so arrival order is not time order)."""
        with self._lock:
            notes = list(self._notifications)
        notes.reverse()
        notes.sort(key=lambda n: str(n.get("event_time", "")), reverse=True)  # stable: ties keep arrival order
        return notes if limit is None else notes[:max(0, limit)]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"version": self.version, "rows": sum(len(r) for r in self.tables.values()),
                    "notifications": len(self._notifications), "undecodable": self.rejected_records}
