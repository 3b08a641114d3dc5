"""The report kinds, once: each kind's name and its Avro record (schemas/avro/cshub.<Name>.v<N>.avsc).

Everything that needs "which kinds are there" or "which schema is this kind" looks here: the topic plan
(`cshub.in.<province>.<kind>`, `cshub.validated.<kind>`), the publisher, the validation (a record's schema
must be its topic's kind), the demo feed, the CLI's `--kind` choices.
"""

from __future__ import annotations

from typing import Literal, get_args

Kind = Literal["facility", "funding", "policy"]
KINDS: tuple[Kind, ...] = get_args(Kind)

SCHEMA_OF_KIND: dict[Kind, str] = {
    "facility": "cshub.FacilityReport",
    "funding": "cshub.FundingReport",
    "policy": "cshub.PolicyReport",
}
"""The Avro record (full name) of each kind's reports."""

KIND_OF_SCHEMA: dict[str, Kind] = {name: kind for kind, name in SCHEMA_OF_KIND.items()}
"""Report kind of each report schema name."""
