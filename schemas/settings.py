"""The hub's one settings object: every `cshub` subcommand and library entry point reads it.

Precedence: a command-line flag (passed to the constructor) > a `CSHUB_<FIELD>` environment variable >
the default below. Read once, at start-up, never at import. `cshub` builds its flags from these fields
(`cshub/options.py`), so each `--help` names the variable and the default written here, and a child
process (`cshub run` starts the worker and the feed) gets the same values through `as_env()`.

Why in `schemas/`: the settings name the topics (root, partitions) and the broker every client talks
to, and both `streams/` and `connectors/` read them; neither may import the other.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import reference
from schemas.errors import CshubError
from schemas.kafka_config import KafkaConnection
from schemas.topics import TopicNames, TopicPlan

ENV_PREFIX = "CSHUB_"
PUBLIC_KEYS_NAME = "public-keys.json"
"""The public-keys reference file's name in the secrets folder (`cshub security init` writes it)."""
SIGNING_KEY_SUFFIX = ".key"
"""A principal's signing key in the secrets folder: `<principal>.key` (next to `<principal>.password`)."""


class Settings(BaseSettings):
    """Where the broker is, how to reach it, what the topics are called, where state lives."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    # ---- the Kafka cluster and how to log in to it -------------------------------------------------
    bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    principal: str | None = Field(default=None, description="who this process logs in as (schemas/data/"
                                  "principals.csv, e.g. province-320000); none: an unauthenticated client")
    password_file: Path | None = Field(default=None, description="the principal's owner-only password file"
                                       " (default <home>/secrets/<principal>.password); never the password itself")

    # ---- topics ------------------------------------------------------------------------------------
    topic_root: str = Field(default="cshub", description="root of every topic name (a second hub uses its own)")
    partitions: int = Field(default=4, ge=1, description="partitions of cshub.validated.<kind> and of the worker's"
                                                 " state changelog (they must be equal)")
    inbound_partitions: int = Field(default=1, ge=1, description="partitions of each cshub.in.<province>.<kind>")
    replication: int = Field(default=1, ge=1, description="replication factor of every topic the hub creates")

    # ---- this machine ------------------------------------------------------------------------------
    home: Path = Field(default=Path(".cshub"), description="folder of `cshub run`: broker data, worker state, logs")
    broker_home: Path = Field(default_factory=lambda data: Path(data["home"]) / "broker",
                              description="folder of the local broker: data, config, logs, pid files")
    broker_port: int = Field(default=9092, ge=1, le=65535, description="client port of the local broker (its"
                                                                " controller uses the next one)")
    broker_nodes: int = Field(default=1, ge=1, description="nodes of the local broker; node i listens on port+2i")
    gateway_host: str = Field(default="127.0.0.1", description="address the dashboard listens on")
    gateway_port: int = Field(default=8080, ge=1, le=65535, description="port of the dashboard")

    # ---- reference data ----------------------------------------------------------------------------
    provinces_file: Path | None = Field(default=None, description="provinces CSV instead of schemas/data/provinces.csv")
    obligations_file: Path | None = Field(default=None, description="reporting obligations CSV instead of"
                                                            " schemas/data/obligations.csv")

    # ---- evidence: submission signatures (docs/evidence.md) -------------------------------------------
    require_signatures: bool = Field(default=True, description="the worker and the audit replay reject an inbound"
                                     " record without a valid submission signature of the topic's province (off"
                                     " only while provinces adopt signing)")
    signing_key_file: Path | None = Field(default=None, description="the publisher's Ed25519 signing key (owner-only"
                                          " PKCS#8 PEM); default <secrets>/province-<code>.key")

    # ---- the worker --------------------------------------------------------------------------------
    app_id: str = Field(default="cshub-worker", description="Faust app id: consumer group and changelog topic prefix")
    data_dir: Path = Field(default_factory=lambda data: Path(data["home"]) / "worker",
                           description="the worker's RocksDB state")
    store: Literal["rocksdb", "memory"] = Field(default="rocksdb", description="the worker's table store")
    web_host: str = Field(default="127.0.0.1", description="address of the worker's web views")
    web_port: int = Field(default=6066, ge=1, le=65535, description="port of the worker's web views")
    instance_id: str = Field(default_factory=socket.gethostname,
                             description="static consumer-group membership id; unique per worker process "
                             "(default: the host name, unique per pod of a Deployment). "
                             "A restarted worker with the same id takes its partitions back at once, "
                             "instead of waiting for the dead member's session to time out")
    batch_max: int = Field(default=2000, ge=1, description="most events one batch of an agent takes")
    batch_within_s: float = Field(default=0.005, gt=0, description="longest wait of the national stage for more"
                                  " parts records, s (they come batched, one per aggregation batch; at 0.05 the stage's"
                                  " hop took 60-77 ms p50 at 200/s, at 0.005 33-42: docs/performance.md)")
    publish_interval_s: float = Field(default=0.02, gt=0, description="changed rows are published at most this often,"
                                      " s (and never more than a fifth of the time: the interval grows with the cost)")
    fetch_wait_ms: int = Field(default=20, ge=1, le=1500, description="longest wait of a worker fetch for new"
                               " records, ms (Faust's own is 1500: the tail latency at a trickle)")
    ingress_fetch_wait_ms: int = Field(default=100, ge=1, le=1500, description="longest wait of the ingress's fetch"
                                       " of the inbound topics, ms: an idle fetch of all 93 partitions costs the worker"
                                       " and the broker about 5 ms of CPU, so this is how often idle costs that")
    deadline_interval_s: float = Field(default=5.0, gt=0, description="how often deadlines are re-evaluated, s")
    commit_interval_s: float = Field(default=1.0, gt=0, description="how often the worker commits offsets, s")
    session_timeout_s: float = Field(default=10.0, ge=6.0, description="consumer-group session timeout, s")
    log_level: str = Field(default="warning", description="log level of the worker")
    profile: Path | None = Field(default=None, description="write a cProfile of the worker here when it stops (bench)")

    # ---- the log service (`cshub notary`, docs/evidence.md §5) --------------------------------------
    notary_key_file: Path | None = Field(default=None, description="the hub's owner-only Ed25519 key that signs"
                                         " checkpoints and receipts (default <home>/secrets/hub-notary.key)")
    public_keys_file: Path | None = Field(default=None, description="the public-keys file (kid, owner, validity;"
                                          " default <home>/secrets/public-keys.json): checks receipts")
    log_origin: str = Field(default="cshub.local/log", description="the log's name in its checkpoints (and its"
                            " key's name)")
    checkpoint_interval_s: float = Field(default=5.0, gt=0, description="a signed checkpoint at most this often, s,"
                                         " when the log grew")
    notary_batch_max: int = Field(default=2000, ge=1, description="most records the log service takes into one"
                                  " transaction")

    @property
    def notary_key_path(self) -> Path:
        """The notary's signing key: `notary_key_file`, else <secrets>/hub-notary.key."""
        return self.notary_key_file or self.secrets_dir / "hub-notary.key"

    @property
    def public_keys_path(self) -> Path:
        """The public-keys file: `public_keys_file`, else <secrets>/public-keys.json."""
        return self.public_keys_file or self.secrets_dir / "public-keys.json"

    @property
    def kafka(self) -> KafkaConnection:
        """What every Kafka client needs to reach and log in to the cluster (`schemas.kafka_config`)."""
        if not self.principal:
            return KafkaConnection(bootstrap=self.bootstrap)
        return KafkaConnection(bootstrap=self.bootstrap, principal=self.principal,
                               password_file=self.password_file or self.secrets_dir / f"{self.principal}.password")

    @property
    def secrets_dir(self) -> Path:
        """The hub's secrets folder: $CSHUB_SECRETS_DIR, else <home>/secrets (`cshub security init` fills it)."""
        from schemas.credentials import SECRETS_DIR_ENV

        folder = os.environ.get(SECRETS_DIR_ENV)
        return Path(folder) if folder else self.home / "secrets"

    def signing_key_path(self, province: str) -> Path:
        """The key a publisher of `province` signs with: `signing_key_file`, else <secrets>/province-<code>.key."""
        from schemas.principals import province_principal

        return self.signing_key_file or self.secrets_dir / f"{province_principal(province)}{SIGNING_KEY_SUFFIX}"

    @property
    def names(self) -> TopicNames:
        """The topic names under `topic_root`."""
        return TopicNames(self.topic_root)

    def topic_plan(self) -> TopicPlan:
        """Every topic these settings call for: root, provinces, partitions, replication, the worker's app id."""
        return TopicPlan(self.names, tuple(reference.provinces(self.provinces_file)), partitions=self.partitions,
                         inbound_partitions=self.inbound_partitions, replication=self.replication,
                         app_id=self.app_id)

    @property
    def local_bootstrap(self) -> str:
        """The local broker's address (`cshub broker`, `cshub run` without --bootstrap)."""
        return f"127.0.0.1:{self.broker_port}"

    def bootstrap_given(self) -> bool:
        """True when a flag or CSHUB_BOOTSTRAP named the cluster (else `cshub run` starts its own broker)."""
        return "bootstrap" in self.model_fields_set

    def as_env(self) -> dict[str, str]:
        """These settings as CSHUB_* variables, for a child process (`cshub run` starts the worker so)."""
        out: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is not None:
                out[env_name(name)] = str(value)
        return out


def env_name(field: str) -> str:
    """The environment variable of a settings field: `topic_root` -> `CSHUB_TOPIC_ROOT`."""
    return f"{ENV_PREFIX}{field.upper()}"


class SettingsError(CshubError):
    """A setting (flag or CSHUB_* variable) has a value the hub cannot use."""


def load_settings(**given: Any) -> Settings:
    """The settings from `given` (flags) over CSHUB_* variables over defaults; a bad value is a SettingsError."""
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            source = f"--{name.replace('_', '-')}" if name in given else env_name(name)
            problems.append(f"{source}={err.get('input')!r}: {err['msg']}")
        raise SettingsError("bad setting: " + "; ".join(problems),
                            "fix the flag or the environment variable (`cshub COMMAND --help` lists them)") from None
