"""Beijing time, once: people read and type China Standard Time (UTC+8, no daylight saving), 24-hour clock.

Kafka and the records keep epoch milliseconds and aware datetimes; what a person reads or types goes
through here: a time without a zone is Beijing time, a time shown is `2026-03-10 18:00:00 (+08:00)`.
"""

from __future__ import annotations

import datetime as dt

BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
"""China Standard Time (中国标准时间), UTC+8 all year."""


def in_beijing(moment: dt.datetime) -> dt.datetime:
    """`moment` with Beijing as its zone when it has none (what a clerk or an auditor means)."""
    return moment.replace(tzinfo=BEIJING) if moment.tzinfo is None else moment


def parse_ms(text: str) -> int:
    """Epoch ms from ISO 8601 (no zone = Beijing time) or from epoch milliseconds; ValueError says how to write it."""
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a time: use ISO 8601, e.g. 2026-03-10T18:00+08:00 (no zone: Beijing"
                         " time), or epoch milliseconds") from exc
    return int(in_beijing(moment).timestamp() * 1000)


def show_ms(ms: int) -> str:
    """`2026-03-10 18:00:00 (+08:00)`: epoch ms as a person in China reads it."""
    return f"{dt.datetime.fromtimestamp(ms / 1000, BEIJING):%Y-%m-%d %H:%M:%S} (+08:00)"


def show_minute(ms: int) -> str:
    """`2026-03-10 18:00`: epoch ms in Beijing time to the minute, for messages and tables."""
    return f"{dt.datetime.fromtimestamp(ms / 1000, BEIJING):%Y-%m-%d %H:%M}"
