"""The worker's settings: one pydantic-settings class, read from CSHUB_* environment variables.

Read once, in `cshub worker` (never at import). Unknown CSHUB_ keys passed to the constructor are
refused (`extra="forbid"`).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    """Where the broker is, what the topics are called, where state lives, how big a batch is."""

    model_config = SettingsConfigDict(env_prefix="CSHUB_", extra="ignore")

    bootstrap: str = "127.0.0.1:9092"
    topic_root: str = "cshub"
    app_id: str = Field("cshub-worker", description="Faust app id: consumer group and changelog topic prefix")
    data_dir: Path = Path(".cshub/worker")
    store: Literal["rocksdb", "memory"] = "rocksdb"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    partitions: int = Field(4, ge=1, description="partitions of cshub.validated.<kind> and of the state table")
    inbound_partitions: int = Field(1, ge=1, description="partitions of each cshub.in.<province>.<kind>")
    replication: int = Field(1, ge=1)
    batch_max: int = Field(2000, ge=1, description="most events one batch of an agent takes")
    batch_within_s: float = Field(0.05, gt=0, description="longest wait for a batch to fill, seconds")
    publish_interval_s: float = Field(0.2, gt=0, description="changed rows are published at most this often, s")
    deadline_interval_s: float = Field(5.0, gt=0, description="how often the deadline ledger is re-evaluated")
    commit_interval_s: float = Field(1.0, gt=0)
    obligations_file: Path | None = None
    provinces_file: Path | None = None
    instance_id: str = Field(default_factory=socket.gethostname,
                             description="static consumer-group membership id; unique per worker process "
                             "(default: the host name, unique per pod of a Deployment). "
                             "A restarted worker with the same id takes its partitions back at once, "
                             "instead of waiting for the dead member's session to time out")
    session_timeout_s: float = Field(10.0, ge=6.0)
    log_level: str = "warning"
    profile: Path | None = Field(None, description="write a cProfile of the worker here when it stops (bench)")
