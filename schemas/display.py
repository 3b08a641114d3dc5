"""Values as a person reads and writes them: money as 12,000,000.00 元, times in Beijing time, dates that say
what is wrong with them ("month 13 does not exist"), never a Python repr such as `Decimal('-12000000.00')`.

Used by every message a provincial clerk reads: the publisher's row problems and warnings, the rules'
messages, the upload page.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from decimal import Decimal

from schemas.beijing import BEIJING

UNITS = {"allocated_yuan": "元", "disbursed_yuan": "元", "floor_area_m2": "m²"}
"""The unit shown after an amount, by field name (the last part of a path such as `items[0].status_date`)."""

_MOMENT = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})"
    r"(?:[T ](?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{1,2})(?::(?P<second>[0-9]{1,2})(?:[.,][0-9]+)?)?)?"
    r"\s*(?P<zone>Z|[+-][0-9]{2}:?[0-9]{2})?\Z"
)


def show_value(field: str, value: object) -> str:
    """`value` of `field` as a clerk typed or would type it: '甲-1', 12,000,000.00 元, 2026-03-05 08:30:00."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        unit = UNITS.get(field.rsplit(".", 1)[-1])
        if not value.is_finite():
            return str(value)
        text = f"{value:,.2f}" if value == value.quantize(Decimal("0.01")) else f"{value:,}"
        return f"{text} {unit}" if unit else text
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 100_000 else str(value)
    if isinstance(value, dt.datetime):
        return show_moment(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return f"'{printable(value)}'"
    return printable(str(value))


def printable(text: str) -> str:
    """`text` as UTF-8 can carry it: a lone surrogate (which JSON allows, UTF-8 does not) shown as `\\ud800`,
    so the message that names the bad value can still be printed, logged and sent."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def show_moment(moment: dt.datetime) -> str:
    """`2026-03-05 08:30:00 (Beijing time)`: an aware moment on the 24-hour clock of UTC+8; naive = Beijing."""
    local = moment.astimezone(BEIJING) if moment.tzinfo else moment
    return f"{local:%Y-%m-%d %H:%M:%S} (Beijing time)"


def calendar_mistake(text: str) -> str | None:
    """What makes `text` (a date, or a date and time, as typed) not exist on the calendar or the clock, in
    words: "month 13 does not exist", "2025-02 has 28 days, not 30", "hour 24 does not exist (24-hour clock:
    00 to 23)"; None when the text is not of that shape or is a real date and time."""
    found = _MOMENT.match(text.strip())
    if found is None:
        return None
    year, month, day = (int(found[name]) for name in ("year", "month", "day"))
    if not 1 <= month <= 12:
        return f"month {month} does not exist (months are 01 to 12)"
    if year < 1:
        return f"year {year} does not exist"
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return f"{year:04d}-{month:02d} has {days} days, so day {day} does not exist"
    limits = (("hour", 23, "24-hour clock: 00 to 23"), ("minute", 59, "00 to 59"), ("second", 59, "00 to 59"))
    for name, top, words in limits:
        if found[name] is not None and int(found[name]) > top:
            return f"{name} {int(found[name])} does not exist ({words})"
    zone = found["zone"]
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        if int(digits[:2]) > 14 or int(digits[2:]) > 59:
            return f"time zone {zone} does not exist (Beijing time is +08:00)"
    return None
