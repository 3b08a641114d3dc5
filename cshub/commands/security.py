"""`cshub security ...`: the hub's identities (principals, passwords, SCRAM users, ACLs).

    init                 a password for every principal of the principals file, in <home>/secrets, and an Ed25519
                         signing key for every province and the notary, with the public-keys file (idempotent)
    apply                the broker's SCRAM users and ACLs made to match the principals file (as the admin)
    add-province CODE    a reporting unit added to the provinces file gets its password, user, ACLs and signing key
    rotate PRINCIPAL     a new password, in its file and on the broker
    rotate-key PRINCIPAL a new signing key; the old public key stays in the public-keys file, closed (no broker)
    revoke PRINCIPAL     its user and ACLs deleted, its password file removed: it cannot reconnect
    list                 every principal, its role and what its role may do
    strimzi --out DIR    Strimzi Kafka, KafkaNodePool and one KafkaUser per principal, as YAML

Passwords and private keys are never printed, passed in argv or logged; the files are owner-only (0600, folder
0700). The public-keys file (default <secrets>/public-keys.json) is public: the worker and auditors read it.
Exit codes: 0 done, 1 failed (the message says why), 77 refused by the broker.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schemas.credentials import SecretStore
    from schemas.principals import Principal
    from schemas.topics import TopicNames

HELP = ("the hub's identities: passwords, signing keys, SCRAM users and ACLs (init | apply | add-province | rotate |"
        " rotate-key | revoke | list)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["init", "apply", "add-province", "rotate", "rotate-key", "revoke", "list",
                                           "strimzi"])
    parser.add_argument("name", nargs="?", help="the province code (add-province) or the principal (rotate,"
                                                " rotate-key, revoke)")
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("CSHUB_HOME", ".cshub")),
                        help="the hub's folder; secrets live in <home>/secrets (env CSHUB_HOME; default .cshub)")
    parser.add_argument("--secrets", type=Path, default=None,
                        help="the secrets folder (env CSHUB_SECRETS_DIR; default <home>/secrets)")
    parser.add_argument("--bootstrap", default=os.environ.get("CSHUB_BOOTSTRAP", "127.0.0.1:9092"),
                        help="Kafka bootstrap servers (env CSHUB_BOOTSTRAP)")
    parser.add_argument("--topic-root", default=os.environ.get("CSHUB_TOPIC_ROOT", "cshub"),
                        help="root of the topic names the ACLs cover (env CSHUB_TOPIC_ROOT; default cshub)")
    parser.add_argument("--app-id", default=os.environ.get("CSHUB_APP_ID", "cshub-worker"),
                        help="the workers' Faust app id: their group and internal topics (env CSHUB_APP_ID)")
    parser.add_argument("--out", type=Path, help="folder for the strimzi YAML files")
    parser.add_argument("--public-keys-file", type=Path, default=None,
                        help="the public-keys file (env CSHUB_PUBLIC_KEYS_FILE; default <secrets>/public-keys.json)")
    parser.add_argument("--overlap", type=float, default=0.0,
                        help="rotate-key: seconds the old key stays valid after the rotation (default 0)")


def _store(args: argparse.Namespace) -> SecretStore:
    from schemas.credentials import SECRETS_DIR_ENV, SecretStore

    folder = args.secrets or (Path(os.environ[SECRETS_DIR_ENV]) if os.environ.get(SECRETS_DIR_ENV) else None)
    return SecretStore(folder or args.home / "secrets")


def run(args: argparse.Namespace) -> int:
    from connectors.errors import ConnectorError
    from connectors.signing_keys import ensure_signing_keys, key_path, signers
    from schemas.credentials import AccessRefused, CredentialsError, check_login
    from schemas.errors import CshubError
    from schemas.principals import PrincipalsError, one_of_role, principals, province_principal
    from schemas.topics import TopicNames

    names = TopicNames(args.topic_root)
    store = _store(args)
    try:
        everyone = principals()
        admin_name = one_of_role(everyone, "admin").name
        if args.action == "init":
            created = [p for p in everyone if store.ensure(p)]
            keys = ensure_signing_keys(store.folder, signers(everyone), _public_keys(args, store), _now_ms())
            print(f"{len(everyone)} principals, {len(created)} new password(s) in {store.folder} (owner-only);"
                  f" {len(keys.created)} new signing key(s), {len(keys.entries_added)} new entr(ies) in"
                  f" {_public_keys(args, store)}; next: `cshub security apply` once the broker runs")
            return 0
        if args.action == "rotate-key":
            return _rotate_key(args, store, everyone)
        if args.action == "list":
            return _list(everyone, names, args.app_id)
        if args.action == "strimzi":
            return _strimzi(everyone, names, args.app_id, args.out)
        admin = store.credentials(admin_name)
        check_login(args.bootstrap, admin)
        if args.action == "apply":
            from connectors.security import apply_security

            report = apply_security(args.bootstrap, admin, store, everyone, names, args.app_id)
            print(f"{len(report.users)} SCRAM user(s) upserted; ACLs for '{args.topic_root}': {report.acls_created}"
                  f" created, {report.acls_present} already there; visible on every node")
            return 0
        if not args.name:
            what = "province code" if args.action == "add-province" else "principal"
            print(f"cshub security {args.action}: name the {what}")
            return 1
        if args.action == "add-province":
            principal = province_principal(args.name)
            if principal not in everyone:
                print(f"cshub security add-province: {args.name} is not in the provinces file; add a row"
                      f" code,name_zh,name_en to it (or to the file $CSHUB_PROVINCES_FILE names) and run this again")
                return 1
            from connectors.security import apply_security

            store.ensure(principal)
            ensure_signing_keys(store.folder, [principal], _public_keys(args, store), _now_ms())
            apply_security(args.bootstrap, admin, store, {principal: everyone[principal]}, names, args.app_id)
            print(f"{principal}: password in {store.path(principal)}, signing key in"
                  f" {key_path(store.folder, principal)} (its public key in {_public_keys(args, store)}), SCRAM user"
                  " and ACLs on the broker; hand the password and key files to the province over a secure channel,"
                  " and create its topics with `cshub topics create`")
            return 0
        if args.name not in everyone and not store.has(args.name):
            print(f"cshub security {args.action}: no principal {args.name}; `cshub security list` shows them")
            return 1
        if args.action == "rotate":
            from connectors.security import rotate

            rotate(args.bootstrap, admin, store, args.name)
            print(f"{args.name}: new password in {store.path(args.name)} and on the broker; sessions already open"
                  " keep running until they reconnect")
            return 0
        from connectors.security import revoke

        if args.name == admin_name:
            print("cshub security revoke: the admin cannot revoke itself (rotate its password instead)")
            return 1
        gone = revoke(args.bootstrap, admin, args.name)
        store.remove(args.name)
        print(f"{args.name}: SCRAM user and {gone} ACL(s) deleted, password file removed; it cannot reconnect"
              " (sessions already open end when they close)")
        return 0
    except AccessRefused as exc:
        print(f"cshub security {args.action}: {exc}")
        return exc.exit_code
    except (CredentialsError, PrincipalsError, ConnectorError, CshubError) as exc:
        print(f"cshub security {args.action}: {exc}")
        return 1


def _now_ms() -> int:
    return int(time.time() * 1000)


def _public_keys(args: argparse.Namespace, store: SecretStore) -> Path:
    from connectors.signing_keys import default_public_keys

    given = args.public_keys_file or os.environ.get("CSHUB_PUBLIC_KEYS_FILE")
    return Path(given) if given else default_public_keys(store.folder)


def _rotate_key(args: argparse.Namespace, store: SecretStore, everyone: dict[str, Principal]) -> int:
    """A new signing key for a province principal or the notary; the old entry closed, kept (no broker needed)."""
    from connectors.signing_keys import key_path, rotate_signing_key, signers
    from schemas.beijing import show_ms

    if not args.name or args.name not in signers(everyone):
        print(f"cshub security rotate-key: name a principal that signs ({', '.join(signers(everyone)[:2])}, ...,"
              f" hub-notary); `cshub security list` shows them")
        return 1
    if args.overlap < 0:
        print("cshub security rotate-key: --overlap is seconds, not negative")
        return 1
    now = _now_ms()
    old, new = rotate_signing_key(store.folder, args.name, _public_keys(args, store), now, int(args.overlap * 1000))
    closed = f"; key {old} valid until {show_ms(now + int(args.overlap * 1000))}" if old else ""
    print(f"{args.name}: new signing key {new} in {key_path(store.folder, args.name)}, valid from {show_ms(now)}"
          f"{closed} (kept in {_public_keys(args, store)}, so what it signed still verifies); hand the new key file"
          " to its owner over a secure channel")
    return 0


def _list(everyone: dict[str, Principal], names: TopicNames, app_id: str) -> int:
    from schemas.principals import grants

    for p in everyone.values():
        rights = "super user (every operation)" if p.is_super else ", ".join(
            f"{g.operation.lower()} {g.resource} {g.name}{'*' if g.pattern == 'prefixed' else ''}"
            for g in grants(p, names, app_id))
        print(f"{p.name:20} {p.role:10} {p.name_zh}: {rights}")
    return 0


def _strimzi(everyone: dict[str, Principal], names: TopicNames, app_id: str, out: Path | None) -> int:
    import yaml

    from deploy.strimzi import kafka_cluster, kafka_users

    if out is None:
        print("cshub security strimzi: say where with --out DIR (e.g. deploy/k8s/strimzi)")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    header = "# Generated by `cshub security strimzi --out {}` from schemas/data/principals.csv; do not edit.\n"
    files = {"kafka.yaml": kafka_cluster(everyone), "users.yaml": kafka_users(everyone, names, app_id)}
    for name, docs in files.items():
        text = header.format(out) + yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)
        (out / name).write_text(text, encoding="utf-8")
    print(f"wrote {', '.join(str(out / n) for n in files)}: {len(files['users.yaml'])} KafkaUsers")
    return 0
