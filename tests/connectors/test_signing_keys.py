"""Signing keys of `cshub security`: one per province and for the notary, the public-keys file, rotation."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from connectors.signing_keys import (
    FIRST_KEY_VALID_FROM,
    NOTARY,
    ensure_signing_keys,
    key_path,
    rotate_signing_key,
    signers,
)
from core.signing import PublicKeysFile, SigningKey, read_public_keys
from schemas.beijing import parse_ms
from schemas.principals import principals

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "cshub.in.320000.facility"
NOW = parse_ms("2026-12-02T09:00:00+08:00")


def test_init_makes_one_owner_only_key_per_signer_and_the_public_keys_file_idempotently(tmp_path: Path) -> None:
    folder, public = tmp_path / "secrets", tmp_path / "secrets" / "public-keys.json"
    who = signers(principals())
    assert "province-320000" in who and NOTARY in who and "hub-worker" not in who
    first = ensure_signing_keys(folder, who, public, NOW)
    assert sorted(first.created) == sorted(who) == sorted(first.entries_added)
    for name in ("province-320000", NOTARY):
        assert stat.S_IMODE(key_path(folder, name).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    keys = read_public_keys(public)
    assert len(keys) == len(who)
    jiangsu = keys.of_owner("320000")
    assert [k.kid for k in jiangsu] == [SigningKey.load(key_path(folder, "province-320000")).kid]
    assert jiangsu[0].valid_from_ms == parse_ms(FIRST_KEY_VALID_FROM) and jiangsu[0].valid_until_ms is None
    assert keys.of_owner(NOTARY)  # the hub's own key: checkpoints and receipts
    before = public.read_bytes()
    again = ensure_signing_keys(folder, who, public, NOW + 1000)
    assert again.created == [] and again.entries_added == [] and public.read_bytes() == before


def test_a_new_province_gets_a_key_without_code(tmp_path: Path) -> None:
    folder, public = tmp_path / "s", tmp_path / "s" / "public-keys.json"
    ensure_signing_keys(folder, ["province-320000"], public, NOW)
    report = ensure_signing_keys(folder, ["province-320000", "province-660000"], public, NOW)
    assert report.created == ["province-660000"]
    assert [k.owner for k in read_public_keys(public).of_owner("660000")] == ["660000"]


def test_rotation_closes_the_old_key_keeps_its_entry_and_what_it_signed_still_verifies(tmp_path: Path) -> None:
    folder, public = tmp_path / "s", tmp_path / "s" / "public-keys.json"
    ensure_signing_keys(folder, ["province-320000"], public, NOW)
    old = SigningKey.load(key_path(folder, "province-320000"))
    signed_before = old.sign(TOPIC, b"r1", b"v1")
    ticks = [0.0]
    watching = PublicKeysFile(public, clock=lambda: ticks[0])
    rotated_at = NOW + 3_600_000
    old_kid, new_kid = rotate_signing_key(folder, "province-320000", public, rotated_at, overlap_ms=60_000)
    assert old_kid == old.kid != new_kid
    new = SigningKey.load(key_path(folder, "province-320000"))
    assert new.kid == new_kid and stat.S_IMODE(key_path(folder, "province-320000").stat().st_mode) == 0o600
    entries = read_public_keys(public).of_owner("320000")
    assert [(k.kid, k.valid_until_ms) for k in entries] == [(old.kid, rotated_at + 60_000), (new_kid, None)]
    keys = read_public_keys(public)
    assert keys.check(TOPIC, b"r1", b"v1", signed_before, "320000", NOW).ok  # before the rotation: still good
    late = keys.check(TOPIC, b"r1", b"v1", signed_before, "320000", rotated_at + 60_000)
    assert late.reason == "expired_key"
    signed_after = new.sign(TOPIC, b"r2", b"v2")
    assert keys.check(TOPIC, b"r2", b"v2", signed_after, "320000", rotated_at).ok
    # a running worker learns the new key within a second, with no restart
    assert watching.check(TOPIC, b"r2", b"v2", signed_after, "320000", rotated_at).reason == "unknown_key"
    ticks[0] = 1.5
    assert watching.check(TOPIC, b"r2", b"v2", signed_after, "320000", rotated_at).ok


def test_cshub_security_init_and_rotate_key_on_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "CSHUB_HOME": str(tmp_path)}
    env.pop("CSHUB_SECRETS_DIR", None)
    env.pop("CSHUB_PUBLIC_KEYS_FILE", None)

    def cshub(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cshub.cli", "security", *argv], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    init = cshub("init")
    assert init.returncode == 0, init.stdout + init.stderr
    public = tmp_path / "secrets" / "public-keys.json"
    assert "new signing key(s)" in init.stdout and public.exists()
    before = read_public_keys(public).of_owner("320000")
    rotated = cshub("rotate-key", "province-320000", "--overlap", "30")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    after = read_public_keys(public).of_owner("320000")
    assert len(after) == 2 and after[0].kid == before[0].kid and after[0].valid_until_ms is not None
    assert "-----BEGIN" not in init.stdout + rotated.stdout  # never a private key on the terminal
    refused = cshub("rotate-key", "hub-worker")
    assert refused.returncode == 1 and "name a principal that signs" in refused.stdout
