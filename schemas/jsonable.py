"""JSON conversion of decoded records and rows, once: money stays exact (a string, never a float).

The gateway's JSON APIs, `cshub subscribe --format jsonl` and the worker's web views all use it, so a row
reads the same wherever it is served.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of a decoded Avro value: Decimal as its exact string, datetimes ISO 8601, bytes base64."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value
