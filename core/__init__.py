"""The pure core of the hub: how reports change the national tables, and what that is worth telling.

No Faust, no Kafka, no clock, no I/O: the live worker (streams/) and the auditor's offline replay
(connectors/auditor) call exactly these functions, over the same records in offset order, and get
the same tables byte for byte.

How to replay (what the auditor does)::

    hub = Hub(HubConfig.from_reference(), rules=obligation_rules(text_of("schemas/data/obligations.csv")))
    for rec in records_of_validated_topics_in_offset_order:          # or inbound, after `problems`
        decoded = codec.decode(rec.value)
        hub.apply(KIND_OF_SCHEMA[decoded.name], decoded.value, rec.timestamp, rec.topic, rec.partition, rec.offset)
    rows = hub.rows()                          # {(table, province): row}, national row under 000000
    ob_rows, statuses = obligation_rows(hub, now_ms)
    encode_row(table, row)                     # Avro bytes of cshub.<Table>Row

A published row carries `offsets` (next offset per input partition it reflects). To compare one,
replay each partition up to its offset and compare `row_values(published)` to `row_values(yours)`,
or build your row with the published offsets and compare bytes. Tables are order-independent
across reports (sums, a max and a min) and idempotent per report (latest revision wins), so any
interleaving of the partitions gives the same values.

API:
- `Hub(config, rules=(), keep_writes=False)`: `.apply(kind, record, ts_ms, topic, partition, offset) -> notes`,
  `.take_writes()` (the state writes to persist),
  `.rows(provinces=None, tables=REPORT_TABLES)`, `.province_rows(pairs)`, `.load(stored_items)`,
  `.take_dirty()` ((table, province) pairs), `.positions`.
- `HubConfig`, `Targets`, `Target`: provinces, policy items, targets (docs/domain.md defaults).
- `build_row`, `encode_row`, `row_values`, `ROW_SCHEMAS`, `REPORT_TABLES`, `MET_FLAGS`.
- National stage: `Part` (a province's totals, offsets, as_of), `national_row(table, parts, config)` (the
  000000 row; `Hub.rows` and `obligation_rows` use it too), `encode_part(s)`/`decode_part(s)`/`part_key`.
- `PublishedTables`: changed rows + target/policy notifications between publishes.
- Deadlines: `ObligationRule`, `obligation_rules(csv_text)`, `obligation_status(due_ms, received_ms, now_ms)`,
  `ledger`, `obligation_rows(hub, now_ms)`, `obligation_counts(hub, now_ms, provinces)`,
  `newly_missing(...)`.
- Validation: `decide(Source(topic, partition, offset, key, timestamp_ms), value, names, provinces)` ->
  `Accepted(decoded, kind, province)` | `Rejected(reason, message, province, report_id, unexpected)`: the one
  decision the worker and the auditor make about an inbound record; `problems`, `rejection`, `feedback`,
  `describe`, `KIND_OF_SCHEMA`.
- Notifications: `row_changes`, `record_anomalies`, `BurstDetector`.
- Evidence (docs/evidence.md), in their own modules: `core.merkle` (RFC 9162 tree: `CompactTree`, `LeafHashes`,
  `verify_inclusion`, `verify_consistency`), `core.signing` (submission signatures: `SigningKey`, `sign_record`,
  `PublicKeys.check`, `read_public_keys`), `core.checkpoint` (C2SP signed checkpoints: `Checkpoint`,
  `sign_checkpoint`, `open_checkpoint`, `check_chain`, `check_against_log`).
"""

from core.checkpoint import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    check_against_log,
    check_chain,
    open_checkpoint,
    sign_checkpoint,
)
from core.config import HubConfig, Target, Targets
from core.contributions import contribution, hundredths
from core.hub import NATIONAL, Hub, received_key, report_key
from core.merkle import CompactTree, LeafHashes, leaf_hash, verify_consistency, verify_inclusion
from core.national import (
    Part,
    decode_part,
    decode_parts,
    encode_part,
    encode_parts,
    merged_offsets,
    national_row,
    part_key,
)
from core.notify import BurstDetector, notification, record_anomalies, row_changes
from core.obligations import ObligationRule, ledger, obligation_status, owed_periods
from core.obligations import parse_rules as obligation_rules
from core.rows import MET_FLAGS, ROW_SCHEMAS, build_row, encode_row, row_values
from core.signing import PublicKeys, SignatureCheck, SigningKey, read_public_keys, sign_record
from core.tables import PublishedTables, newly_missing, obligation_counts, obligation_rows
from core.validation import (
    KIND_OF_SCHEMA,
    SCHEMA_OF_KIND,
    Accepted,
    Decision,
    Rejected,
    Source,
    decide,
    describe,
    feedback,
    problems,
    rejection,
)
from schemas.topics import REPORT_TABLES

__all__ = [
    "KIND_OF_SCHEMA",
    "MET_FLAGS",
    "NATIONAL",
    "REPORT_TABLES",
    "ROW_SCHEMAS",
    "SCHEMA_OF_KIND",
    "Accepted",
    "BurstDetector",
    "Checkpoint",
    "CompactTree",
    "Decision",
    "Hub",
    "HubConfig",
    "LeafHashes",
    "NoteSigner",
    "NoteVerifier",
    "ObligationRule",
    "Part",
    "PublicKeys",
    "PublishedTables",
    "Rejected",
    "SignatureCheck",
    "SigningKey",
    "Source",
    "Target",
    "Targets",
    "build_row",
    "check_against_log",
    "check_chain",
    "contribution",
    "decide",
    "decode_part",
    "decode_parts",
    "describe",
    "encode_part",
    "encode_parts",
    "encode_row",
    "feedback",
    "hundredths",
    "leaf_hash",
    "ledger",
    "merged_offsets",
    "national_row",
    "newly_missing",
    "notification",
    "obligation_counts",
    "obligation_rows",
    "obligation_rules",
    "obligation_status",
    "open_checkpoint",
    "owed_periods",
    "part_key",
    "problems",
    "read_public_keys",
    "received_key",
    "record_anomalies",
    "rejection",
    "report_key",
    "row_changes",
    "row_values",
    "sign_checkpoint",
    "sign_record",
    "verify_consistency",
    "verify_inclusion",
]
