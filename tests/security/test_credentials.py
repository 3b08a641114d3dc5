"""The secrets folder: owner-only, idempotent, never a password in repr (no broker)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from schemas.credentials import CredentialsError, SecretStore, from_environment


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ensure_creates_owner_only_files_once(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    assert store.ensure("province-320000") is True
    first = store.credentials("province-320000").password
    assert store.ensure("province-320000") is False
    assert store.credentials("province-320000").password == first
    assert len(first) == 64 and int(first, 16) >= 0
    assert mode(store.folder) == 0o700
    assert mode(store.path("province-320000")) == 0o600


def test_rotate_replaces_the_password(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    store.ensure("gateway")
    before = store.credentials("gateway").password
    store.rotate("gateway")
    assert store.credentials("gateway").password != before
    assert mode(store.path("gateway")) == 0o600
    assert store.principals() == ["gateway"]


def test_a_password_file_others_can_read_is_refused(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    store.ensure("gateway")
    os.chmod(store.path("gateway"), 0o644)
    with pytest.raises(CredentialsError, match="chmod 600"):
        store.credentials("gateway")


def test_the_password_never_shows_in_repr(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    store.ensure("gateway")
    creds = store.credentials("gateway")
    assert creds.password not in repr(creds)
    assert creds.kafka_python()["sasl_mechanism"] == "SCRAM-SHA-512"


def test_credentials_from_environment(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    store.ensure("ministry-mca")
    env = {"CSHUB_PRINCIPAL": "ministry-mca", "CSHUB_SECRETS_DIR": str(store.folder)}
    assert from_environment(env).principal == "ministry-mca"  # type: ignore[union-attr]
    assert from_environment({}) is None
    missing = {"CSHUB_PRINCIPAL": "auditor-cnao", "CSHUB_PASSWORD_FILE": str(tmp_path / "nope")}
    with pytest.raises(CredentialsError, match="cshub security init"):
        from_environment(missing)
