"""Who may talk to the hub's brokers, and what each role may do: reference data plus one pure function.

The principals come from one file (`schemas/data/principals.csv`: principal,role,name_zh,name_en). Its
`province-{code}` row is a template expanded once per row of the provinces file, so a new reporting unit
added there gets an identity (and its ACLs) without a code change. `grants(principal, names, app_id)` maps
a role to Kafka ACLs over the topic names of `schemas.topics`, prefixed where the naming allows, so a
new report kind or table needs no new ACL. The broker enforces them (deny by default); the admin
applies them (`connectors.security`), Strimzi gets them as `KafkaUser`s (`deploy.k8s.strimzi`).

Principal names are `[a-z0-9-]` only: safe in SCRAM user names, JAAS configs, Kubernetes names and
certificate CNs.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from schemas.reference import DATA_DIR, provinces
from schemas.topics import TopicNames

PRINCIPALS_FILE = DATA_DIR / "principals.csv"
PRINCIPALS_ENV = "CSHUB_PRINCIPALS_FILE"
PROVINCE_TEMPLATE = "province-{code}"
NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

Role = Literal["province", "worker", "notary", "ministry", "gateway", "auditor", "admin", "broker", "controller"]
ROLES: tuple[Role, ...] = ("province", "worker", "notary", "ministry", "gateway", "auditor", "admin", "broker",
                           "controller")
SUPER_ROLES: frozenset[Role] = frozenset({"admin", "broker", "controller"})
"""Super users of the broker: they bypass ACLs. Only the admin is a person's (or a job's) identity."""
BOOTSTRAP_ROLES: frozenset[Role] = frozenset({"admin", "broker"})
"""SCRAM users written into the KRaft storage at format time; everyone else is added by the admin after start."""

Operation = Literal["READ", "WRITE", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"]
ResourceKind = Literal["topic", "group", "transactional_id"]
PatternKind = Literal["literal", "prefixed"]


class PrincipalsError(ValueError):
    """The principals file is malformed; the message names the file, the row and what to fix."""


@dataclass(frozen=True, slots=True)
class Principal:
    """One identity the broker knows: a SCRAM user (the controller: a PLAIN user on its own listener)."""

    name: str
    role: Role
    name_zh: str
    name_en: str
    province: str | None = None

    @property
    def is_super(self) -> bool:
        return self.role in SUPER_ROLES


@dataclass(frozen=True, slots=True, order=True)
class Grant:
    """One ALLOW ACL for a principal, any host. READ, WRITE and CREATE imply DESCRIBE (Kafka's rule)."""

    resource: ResourceKind
    pattern: PatternKind
    name: str
    operation: Operation


def notary_id(names: TopicNames) -> str:
    """The log service's transactional id and consumer group under one root (`cshub.notary`): fixed, so that a
    second notary fences the first (docs/evidence.md §5); per root, so that two hubs on one cluster do not."""
    return f"{names.root}.notary"


def province_principal(code: str) -> str:
    """The principal of a provincial system: `province-<GB/T 2260 code>`."""
    return PROVINCE_TEMPLATE.format(code=code)


def principals(path: str | Path | None = None, provinces_file: str | Path | None = None) -> dict[str, Principal]:
    """Every principal by name: from `path`, else $CSHUB_PRINCIPALS_FILE, else the shipped file; the province
    template expanded over the provinces file (its own default: $CSHUB_PROVINCES_FILE or the shipped one).

    Cached per pair of files; do not mutate the result.
    """
    chosen = path or os.environ.get(PRINCIPALS_ENV) or PRINCIPALS_FILE
    units = provinces(provinces_file)
    return _load(str(chosen), tuple((p.code, p.name_zh, p.name_en) for p in units.values()))


@cache
def _load(name: str, units: tuple[tuple[str, str, str], ...]) -> dict[str, Principal]:
    path = Path(name)
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise PrincipalsError(f"cannot read the principals file {path}: {exc}") from exc
    out: dict[str, Principal] = {}

    def add(number: int, principal: Principal) -> None:
        if not NAME_PATTERN.match(principal.name):
            raise PrincipalsError(f"{path}:{number}: principal {principal.name!r} must be lower-case letters, digits"
                                  " and '-' (at most 63), starting and ending with a letter or digit")
        if principal.name in out:
            raise PrincipalsError(f"{path}:{number}: principal {principal.name} appears twice")
        out[principal.name] = principal

    for number, row in enumerate(rows, start=2):
        name, role = (row.get("principal") or "").strip(), (row.get("role") or "").strip()
        if role not in ROLES:
            raise PrincipalsError(f"{path}:{number}: role {role!r} is not one of {', '.join(ROLES)}")
        zh, en = (row.get("name_zh") or "").strip(), (row.get("name_en") or "").strip()
        if role == "province":
            if name != PROVINCE_TEMPLATE:
                raise PrincipalsError(f"{path}:{number}: the province role has one row, principal"
                                      f" {PROVINCE_TEMPLATE!r}, expanded over the provinces file; got {name!r}")
            for code, unit_zh, unit_en in units:
                add(number, Principal(province_principal(code), "province",
                                      zh.format(name_zh=unit_zh), en.format(name_en=unit_en), code))
        else:
            add(number, Principal(name, role, zh, en))  # type: ignore[arg-type]  # role checked against ROLES
    for role in ("worker", "admin", "broker", "controller"):
        if sum(p.role == role for p in out.values()) != 1:
            raise PrincipalsError(f"{path}: there must be exactly one principal with role {role}")
    return out


def one_of_role(all_principals: dict[str, Principal], role: Role) -> Principal:
    """The principal of a role that has exactly one (worker, admin, broker, controller)."""
    return next(p for p in all_principals.values() if p.role == role)


def grants(principal: Principal, names: TopicNames, app_id: str) -> list[Grant]:
    """The ACLs of one principal for the hub under `names.root` whose workers use Faust app id `app_id`.

    Super users get none (the broker lets them do anything). Nobody but a super user may create topics
    under the root, users or ACLs; the worker may create only Faust's own internal topics (`<app_id>-*`:
    table changelogs, the assignor's leader topic), which Faust declares itself at start-up.
    """
    def topic(pattern: PatternKind, name: str, *ops: Operation) -> list[Grant]:
        return [Grant("topic", pattern, name, op) for op in ops]

    role = principal.role
    if role == "province":
        code = principal.province
        assert code is not None
        out = topic("prefixed", names.inbound_prefix(code), "WRITE")
        out += topic("literal", names.feedback(code), "READ")
        out += topic("literal", names.schemas, "READ")
        out += topic("literal", names.receipts(code), "READ")  # the hub's signed answer to each of its records
        out.append(Grant("group", "prefixed", f"{principal.name}.", "READ"))  # its own systems' consumer groups
    elif role == "worker":
        out = topic("prefixed", names.inbound_prefix(), "READ")
        out += topic("prefixed", names.validated_prefix, "READ", "WRITE")
        out += topic("literal", names.national_parts, "READ", "WRITE")
        out += topic("literal", names.validated_batches, "READ", "WRITE")  # the ingress's envelopes to Faust
        out += topic("prefixed", names.national_prefix, "WRITE")
        out += topic("prefixed", names.feedback_prefix, "WRITE")
        out += topic("literal", names.notifications, "WRITE")
        out += topic("literal", names.rejected, "WRITE")
        out += topic("literal", names.verdicts, "WRITE")
        out += topic("literal", names.schemas, "WRITE")
        out += topic("prefixed", f"{app_id}-", "CREATE", "READ", "WRITE")  # measured: all Faust asks for
        # `cshub worker` checks the topic plan (partitions, compaction) before Faust starts: DescribeConfigs
        out += topic("prefixed", names.every_prefix, "DESCRIBE_CONFIGS")
        out += topic("prefixed", names.every_prefix, "DESCRIBE")  # also the notary's topics (metadata only)
        out += topic("prefixed", f"{app_id}-", "DESCRIBE_CONFIGS")
        out.append(Grant("group", "literal", app_id, "READ"))  # Faust's group
        out.append(Grant("group", "prefixed", f"{app_id}-", "READ"))  # the raw ingress group `<app_id>-ingress`
    elif role == "notary":  # the single writer of the transparency log (docs/evidence.md §5)
        out = topic("literal", names.verdicts, "READ")
        out += topic("prefixed", names.national_prefix, "READ")
        out += topic("literal", names.log, "READ", "WRITE")  # READ: it resumes from its own log after a crash
        out += topic("literal", names.checkpoints, "READ", "WRITE")
        out += topic("prefixed", names.receipts_prefix, "WRITE")
        out.append(Grant("group", "literal", notary_id(names), "READ"))  # offsets committed in its transactions
        out.append(Grant("transactional_id", "literal", notary_id(names), "WRITE"))  # one writer: fencing
    elif role in ("ministry", "gateway"):
        out = topic("prefixed", names.national_prefix, "READ")
        out += topic("literal", names.notifications, "READ")
        out += topic("literal", names.schemas, "READ")
        if role == "gateway":  # the dashboard's history, as-of tables and explanations (connectors/gateway/inputs.py)
            out += topic("prefixed", names.validated_prefix, "READ")
            out += topic("literal", names.rejected, "READ")
    elif role == "auditor":
        out = topic("prefixed", names.every_prefix, "READ")
    else:
        out = []
    return sorted(out)


def super_users(all_principals: dict[str, Principal]) -> list[str]:
    """The broker's `super.users` names, sorted."""
    return sorted(p.name for p in all_principals.values() if p.is_super)
