"""Who a Kafka client is: a principal and its password, kept in owner-only files, never in argv, env or logs.

A hub's secrets live in one folder (`<CSHUB_HOME>/secrets`, 0700), one `<principal>.password` file per
principal (0600, 64 hex characters from `secrets.token_hex(32)`). A client names its principal with
`CSHUB_PRINCIPAL` and its password file with `CSHUB_PASSWORD_FILE` (or takes `<secrets>/<principal>.password`);
the password itself is never an environment variable or a flag. A file anyone else can read is refused.

`Credentials` turns into the keyword arguments of kafka-python, aiokafka and Faust (SCRAM-SHA-512 over
SASL_PLAINTEXT: loopback and private cluster networks; TLS off them is the deployment's listener's job).
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.errors import CshubError

MECHANISM = "SCRAM-SHA-512"
SECURITY_PROTOCOL = "SASL_PLAINTEXT"
PRINCIPAL_ENV = "CSHUB_PRINCIPAL"
PASSWORD_FILE_ENV = "CSHUB_PASSWORD_FILE"
SECRETS_DIR_ENV = "CSHUB_SECRETS_DIR"
PASSWORD_SUFFIX = ".password"


class CredentialsError(CshubError):
    """A password file is missing, readable by others, or empty; the message says which and what to do."""


@dataclass(frozen=True)
class Credentials:
    """A SCRAM-SHA-512 identity. The password never appears in repr (logs, tracebacks)."""

    principal: str
    password: str = field(repr=False)

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
        return {"security_protocol": SECURITY_PROTOCOL, "sasl_mechanism": MECHANISM,
                "sasl_plain_username": self.principal, "sasl_plain_password": self.password}

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client (the same names)."""
        return self.kafka_python()

    def faust(self) -> Any:
        """`broker_credentials` for faust.App (used by its producer, consumer and topic creation)."""
        import faust  # only the worker pays for importing Faust

        return faust.SASLCredentials(username=self.principal, password=self.password, mechanism=MECHANISM)


def _check_owner_only(path: Path) -> None:
    """Our own password files must be owner-only. A file someone else owns (a Kubernetes Secret mounted by
    the kubelet as root, readable to the pod through its fsGroup) must at least not be world-readable."""
    info = path.stat()
    ours = info.st_uid == os.geteuid()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO if ours else stat.S_IRWXO):
        raise CredentialsError(f"{path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}); a password file"
                               f" must be owner-only: chmod 600 {path}")


def read_password_file(path: Path) -> str:
    """The password in `path` (one line), after checking that only its owner can read it."""
    try:
        _check_owner_only(path)
        password = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        raise CredentialsError(f"password file {path} does not exist; create the hub's secrets with"
                               " `cshub security init`, or ask the hub's administrator for yours") from exc
    except OSError as exc:
        raise CredentialsError(f"cannot read password file {path}: {exc.strerror}") from exc
    if not password:
        raise CredentialsError(f"password file {path} is empty; rotate it with `cshub security rotate PRINCIPAL`")
    return password


class SecretStore:
    """The hub's secrets folder: one owner-only password file per principal."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, principal: str) -> Path:
        return self.folder / f"{principal}{PASSWORD_SUFFIX}"

    def _ensure_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)

    def has(self, principal: str) -> bool:
        return self.path(principal).exists()

    def ensure(self, principal: str) -> bool:
        """Create the principal's password unless it exists; True when created (idempotent)."""
        self._ensure_folder()
        try:
            fd = os.open(self.path(principal), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_hex(32))  # no newline: Kafka's DirectoryConfigProvider reads files verbatim
        return True

    def rotate(self, principal: str) -> None:
        """Replace the principal's password with a new random one (write, then rename: never half a file)."""
        self._ensure_folder()
        tmp = self.folder / f".{principal}{PASSWORD_SUFFIX}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_hex(32))  # no newline: Kafka's DirectoryConfigProvider reads files verbatim
        tmp.replace(self.path(principal))

    def remove(self, principal: str) -> bool:
        try:
            self.path(principal).unlink()
        except FileNotFoundError:
            return False
        return True

    def credentials(self, principal: str) -> Credentials:
        return Credentials(principal, read_password_file(self.path(principal)))

    def principals(self) -> list[str]:
        """The principals that have a password file here, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(p.name.removesuffix(PASSWORD_SUFFIX) for p in self.folder.glob(f"*{PASSWORD_SUFFIX}")
                      if not p.name.startswith("."))


def default_secrets_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """$CSHUB_SECRETS_DIR, else <CSHUB_HOME or .cshub>/secrets."""
    if folder := environ.get(SECRETS_DIR_ENV):
        return Path(folder)
    return Path(environ.get("CSHUB_HOME", ".cshub")) / "secrets"


def from_environment(environ: Mapping[str, str] = os.environ, *, principal: str | None = None,
                     password_file: Path | None = None) -> Credentials | None:
    """The client's credentials from flags (`principal`, `password_file`) or $CSHUB_PRINCIPAL and
    $CSHUB_PASSWORD_FILE (default: <secrets dir>/<principal>.password); None when no principal is named."""
    name = principal or environ.get(PRINCIPAL_ENV)
    if not name:
        return None
    chosen = password_file or (Path(f) if (f := environ.get(PASSWORD_FILE_ENV)) else None)
    path = chosen or SecretStore(default_secrets_dir(environ)).path(name)
    return Credentials(name, read_password_file(path))


ACCESS_REFUSED_EXIT = 77
"""Exit code of a command the broker refused (authentication or authorization): sysexits' EX_NOPERM."""
_SASL_FAILED, _TOPIC_DENIED, _GROUP_DENIED, _CLUSTER_DENIED = 58, 29, 30, 31


class AccessRefused(CshubError):
    """The broker refused who we are, or what we asked: one line saying who, what was refused, what to do."""

    exit_code = ACCESS_REFUSED_EXIT


def login_refused(principal: str, bootstrap: str) -> AccessRefused:
    return AccessRefused(f"{principal} could not log in to {bootstrap}: wrong password or unknown user."
                         f" Check CSHUB_PRINCIPAL and its password file (CSHUB_PASSWORD_FILE), or ask the hub's"
                         f" administrator for new credentials (`cshub security rotate {principal}`)")


def refused(exc: BaseException, principal: str | None, bootstrap: str, action: str) -> AccessRefused | None:
    """An AccessRefused for a kafka-python or aiokafka authentication/authorization error, else None.

    `action` says what was attempted in words, e.g. "write to cshub.in.110000.facility".
    """
    who = principal or "an anonymous client"
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == _SASL_FAILED or "SaslAuthenticationFailed" in text:
        return login_refused(who, bootstrap)
    if code in (_TOPIC_DENIED, _GROUP_DENIED, _CLUSTER_DENIED) or "AuthorizationFailed" in text:
        return AccessRefused(f"the broker refused {who} to {action}: its role does not allow it."
                             f" Use the principal whose role does (`cshub security list` shows each role's rights),"
                             f" or ask the hub's administrator")
    return None


def check_login(bootstrap: str, credentials: Credentials | None, timeout_s: float = 10.0) -> None:
    """Raise AccessRefused at once when the broker refuses this login.

    kafka-python retries a refused login for its whole bootstrap timeout (30 s) and then reports only
    "Unable to bootstrap"; one aiokafka connection to a bootstrap server answers in well under a second
    with the broker's real verdict. An unreachable broker is left to the caller's own error path.
    """
    if credentials is None:
        return
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no loop in this thread: probe
    else:
        return  # inside an event loop (a web handler): the client's own error path answers

    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError, SaslAuthenticationFailed, UnsupportedSaslMechanismError

    async def probe(host: str, port: int) -> bool:
        conn = await asyncio.wait_for(create_conn(host, port, request_timeout_ms=int(timeout_s * 1000),
                                                  **credentials.aiokafka()), timeout_s)
        conn.close()
        return True

    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            if asyncio.run(probe(host.strip("[]") or "127.0.0.1", int(port))):
                return
        except SaslAuthenticationFailed:
            raise login_refused(credentials.principal, bootstrap) from None
        except UnsupportedSaslMechanismError:
            raise AccessRefused(f"{server} does not take {MECHANISM} logins: it is not a client port of the hub's"
                                " brokers; check CSHUB_BOOTSTRAP") from None
        except (OSError, TimeoutError, KafkaError, ValueError):
            continue
