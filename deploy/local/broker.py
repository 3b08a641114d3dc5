"""A real Apache Kafka broker (KRaft, combined broker+controller) from the Maven jars, no Docker.

Why this exists: these machines have Java and Maven but no Docker engine, and the hub's tests
must run against a real broker. `ensure_jars` fetches the pinned Kafka server jars once into a
cache folder outside git; `LocalCluster` formats KRaft storage and runs one or more broker
processes on loopback, each with its data, config, log and pid file in one known folder, so
data survives a restart and `stop` only ever signals the process this module started.

Secured by default (issue 10): the client listener speaks SASL_PLAINTEXT with SCRAM-SHA-512 (loopback
only), the controller listener PLAIN with its own secret (never an anonymous super user), the
StandardAuthorizer denies what no ACL allows, and the super users are the broker, the controller and
the admin of `schemas/data/principals.csv`. The broker's and the admin's SCRAM users are written at
format time (`kafka-storage format --add-scram`, through an owner-only java @argfile: no secret in
argv); every other user and the ACLs are the admin's job after start (`connectors.security`). Passwords
come from the hub's secrets folder (`schemas.credentials.SecretStore`); `server.properties` holds the
broker's own and is owner-only. `secure=False` gives the old open broker, for benchmarks that measure
what authentication costs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from schemas.credentials import MECHANISM, Credentials, SecretStore
from schemas.errors import CshubError
from schemas.principals import BOOTSTRAP_ROLES, one_of_role, principals, super_users

KAFKA_VERSION = "4.4.0"
POM = Path(__file__).with_name("pom.xml")
DEFAULT_CACHE = Path(os.environ.get("CSHUB_CACHE", Path.home() / ".cache" / "cshub"))
DEFAULT_HOME = Path(os.environ.get("CSHUB_BROKER_HOME", Path.cwd() / ".cshub" / "broker"))
SECURED_MARKER = "secured"
"""Written into a node's folder when its storage was formatted with the bootstrap SCRAM users."""
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0


class BrokerError(CshubError, RuntimeError):
    """The local broker could not be fetched, started or stopped; the message says why."""


def jars_dir(cache: Path = DEFAULT_CACHE) -> Path:
    return cache / f"kafka-{KAFKA_VERSION}" / "libs"


def ensure_jars(cache: Path = DEFAULT_CACHE, *, maven_repo: Path | None = None) -> Path:
    """Fetch the pinned Kafka jars with Maven unless they are already cached; return the folder.

    `maven_repo` overrides Maven's local repository (~/.m2/repository), e.g. to time a fetch
    from nothing.
    """
    libs = jars_dir(cache)
    done = libs / ".complete"
    if done.exists():
        return libs
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is not on PATH; install it (apt-get install maven) to fetch Kafka")
    tmp = libs.with_name(f"libs.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [
        "mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
        f"-DoutputDirectory={tmp}", "-DincludeScope=runtime", f"-Dkafka.version={KAFKA_VERSION}",
    ]
    if maven_repo is not None:
        cmd.append(f"-Dmaven.repo.local={maven_repo}")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BrokerError(f"mvn could not fetch Kafka {KAFKA_VERSION}:\n{result.stdout}\n{result.stderr}")
    (tmp / ".complete").write_text(KAFKA_VERSION)
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    return libs


@dataclass(frozen=True)
class Node:
    """One broker+controller process of a local cluster."""

    node_id: int
    port: int
    controller_port: int
    home: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"


def _port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port_pair(first: int = 24092, last: int = 29990) -> int:
    """A loopback port in [first, last] that is free together with the next one (a node's client and
    controller ports), for a broker started next to others (tests, benchmarks)."""
    for port in range(first, last, 2):
        if not _port_answers(port) and not _port_answers(port + 1):
            return port
    raise BrokerError(f"no free port pair in {first}..{last}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
    return state != "Z"


def _is_our_broker(pid: int, node: Node) -> bool:
    """True when `pid` is a Kafka process started with this node's config (never signal strangers)."""
    cmdline = ""
    for _ in range(100):  # right after Popen, /proc/<pid>/cmdline can read empty for a moment (seen here)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        if cmdline:
            break
        time.sleep(0.01)
    return "kafka.Kafka" in cmdline and str(node.home / "server.properties") in cmdline


class LocalCluster:
    """One or more local KRaft nodes sharing a cluster id; every node is a broker and a controller."""

    def __init__(self, home: Path = DEFAULT_HOME, *, size: int = 1, base_port: int = 9092,
                 cache: Path = DEFAULT_CACHE, heap: str = "512m", secure: bool = True,
                 secrets_dir: Path | None = None) -> None:
        if size < 1:
            raise BrokerError(f"cluster size must be at least 1, got {size}")
        self.home = home.resolve()
        self.secure = secure
        self.secrets = SecretStore((secrets_dir or self.home / "secrets").resolve())
        self.cache = cache
        self.heap = heap
        self.nodes = [
            Node(node_id=i + 1, port=base_port + 2 * i, controller_port=base_port + 2 * i + 1,
                 home=self.home / f"node-{i + 1}")
            for i in range(size)
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    def _voters(self) -> str:
        return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)

    def _principal(self, role: str) -> str:
        return one_of_role(principals(), role).name  # type: ignore[arg-type]

    def admin_credentials(self) -> Credentials | None:
        """The admin's credentials (None for an open broker): what the readiness probe and the admin use."""
        if not self.secure:
            return None
        admin = self._principal("admin")
        self.secrets.ensure(admin)
        return self.secrets.credentials(admin)

    def _secret(self, role: str) -> tuple[str, str]:
        name = self._principal(role)
        self.secrets.ensure(name)
        return name, self.secrets.credentials(name).password

    def _security_properties(self) -> list[str]:
        if not self.secure:
            return [
                "inter.broker.listener.name=CLIENT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,CLIENT:PLAINTEXT",
            ]
        broker, broker_pw = self._secret("broker")
        controller, controller_pw = self._secret("controller")
        supers = ";".join(f"User:{name}" for name in super_users(principals()))
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
        plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
        return [
            "inter.broker.listener.name=CLIENT",
            "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT",
            f"listener.name.client.sasl.enabled.mechanisms={MECHANISM}",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
            "sasl.mechanism.controller.protocol=PLAIN",  # Kafka's default here is GSSAPI
            f'listener.name.client.scram-sha-512.sasl.jaas.config={scram} required'
            f' username="{broker}" password="{broker_pw}";',
            f'listener.name.controller.plain.sasl.jaas.config={plain} required'
            f' username="{controller}" password="{controller_pw}" user_{controller}="{controller_pw}";',
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users={supers}",
            "allow.everyone.if.no.acl.found=false",
        ]

    def _properties(self, node: Node) -> str:
        replication = min(3, len(self.nodes))
        return "\n".join([
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={self._voters()}",
            f"listeners=CLIENT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
            f"advertised.listeners=CLIENT://127.0.0.1:{node.port}",
            "controller.listener.names=CONTROLLER",
            *self._security_properties(),
            f"log.dirs={node.home / 'data'}",
            "num.partitions=1",
            f"default.replication.factor={replication}",
            f"min.insync.replicas={max(1, replication - 1)}",
            f"offsets.topic.replication.factor={replication}",
            f"transaction.state.log.replication.factor={replication}",
            f"transaction.state.log.min.isr={max(1, replication - 1)}",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "log.segment.bytes=67108864",
            "log.cleaner.min.compaction.lag.ms=0",
            "",
        ])

    def _log4j(self, node: Node) -> str:
        return "\n".join([
            "status = warn",
            "appender.file.type = File",
            "appender.file.name = file",
            f"appender.file.fileName = {node.home / 'server.log'}",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d] %p %m (%c)%n",
            "rootLogger.level = info",
            "rootLogger.appenderRef.file.ref = file",
            "logger.kafka.name = kafka",
            "logger.kafka.level = warn",
            "logger.apache.name = org.apache.kafka",
            "logger.apache.level = warn",
            "",
        ])

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        java = Path(java_home) / "bin" / "java" if java_home else shutil.which("java")
        if not java:
            raise BrokerError("java is not on PATH (Kafka needs Java 17 or newer)")
        return str(java)

    def _classpath(self) -> str:
        return str(ensure_jars(self.cache)) + "/*"

    def _format(self, node: Node) -> None:
        """Format KRaft storage once; a formatted folder keeps its data across restarts.

        A secured cluster's storage gets the bootstrap SCRAM users (broker, admin) at format time. The
        arguments go through a java @argfile (owner-only, removed at once), so no password is in argv.
        """
        marker = node.home / SECURED_MARKER
        if (node.home / "data" / "meta.properties").exists():
            if self.secure and not marker.exists():
                raise BrokerError(f"{node.home} was formatted without security (before issue 10), so it has no SCRAM"
                                  f" users; stop it and remove the folder {self.home} (its data is lost), then start"
                                  " again")
            return
        cluster_id_file = self.home / "cluster.id"
        if not cluster_id_file.exists():  # write-then-rename: a concurrent reader never sees it empty
            tmp = cluster_id_file.with_name(f"cluster.id.{os.getpid()}")
            tmp.write_text(_new_cluster_id())
            tmp.rename(cluster_id_file)
        args = ["-cp", self._classpath(), "kafka.tools.StorageTool", "format",
                "--config", str(node.home / "server.properties"),
                f"--cluster-id={cluster_id_file.read_text().strip()}", "--ignore-formatted"]
        if self.secure:
            for role in sorted(BOOTSTRAP_ROLES):
                name, password = self._secret(role)
                args += ["--add-scram", f"{MECHANISM}=[name={name},password={password}]"]
        argfile = node.home / f".format-args.{os.getpid()}"
        fd = os.open(argfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(f'"{a}"' for a in args) + "\n")
        try:
            result = subprocess.run([self._java(), f"@{argfile}"], capture_output=True, text=True, check=False)
        finally:
            argfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise BrokerError(f"formatting KRaft storage in {node.home} failed:\n{result.stdout}{result.stderr}")
        if self.secure:
            marker.write_text(MECHANISM + "\n")

    def pid(self, node: Node) -> int | None:
        """The pid of the node's broker when it is running and is ours, else None."""
        try:
            pid = int(node.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) and _is_our_broker(pid, node) else None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> str:
        """Start every node that is not running, wait until all answer; return the bootstrap list.

        Idempotent: a node that already runs from this folder is left alone.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        for node in self.nodes:
            self.start_node(node, wait=False)
        self.wait_ready(timeout_s)
        return self.bootstrap

    def start_node(self, node: Node, *, wait: bool = True, timeout_s: float = START_TIMEOUT_S) -> None:
        if self.pid(node) is not None:
            return
        if _port_answers(node.port):
            raise BrokerError(f"port {node.port} is taken by another process; choose another base port")
        node.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(node.home, 0o700)  # its server.properties holds the broker's own passwords
        _write_owner_only(node.home / "server.properties", self._properties(node))
        (node.home / "log4j2.properties").write_text(self._log4j(node))
        self._format(node)
        cmd = [
            self._java(), f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1" if os.environ.get("CSHUB_BROKER_FAST_JIT") else "-XX:+UseStringDeduplication",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node.home / 'log4j2.properties'}",
            "-cp", self._classpath(), "kafka.Kafka", str(node.home / "server.properties"),
        ]
        with open(node.log_file, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        node.pid_file.write_text(str(proc.pid))
        if wait:
            self._wait_node(node, timeout_s)

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        for node in self.nodes:
            self._wait_node(node, timeout_s)

    def _wait_node(self, node: Node, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pid(node) is None:
                tail = node.log_file.read_text(errors="replace")[-3000:] if node.log_file.exists() else ""
                raise BrokerError(f"broker node {node.node_id} exited during start-up; log tail:\n{tail}")
            if _port_answers(node.port) and _api_answers(node.bootstrap, self.admin_credentials()):
                return
            time.sleep(0.2)
        raise BrokerError(f"broker node {node.node_id} did not answer on {node.bootstrap} within {timeout_s:.0f} s;"
                          f" see {node.log_file}")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop every node this folder started (SIGTERM, then SIGKILL after the timeout)."""
        for node in self.nodes:
            self.stop_node(node, timeout_s=timeout_s)

    def stop_node(self, node: Node, *, timeout_s: float = STOP_TIMEOUT_S, kill: bool = False) -> None:
        pid = self.pid(node)
        if pid is None:
            node.pid_file.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _pid_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                _reap(pid)
                time.sleep(0.05)
        _reap(pid)
        node.pid_file.unlink(missing_ok=True)

    def status(self) -> list[tuple[Node, int | None, bool]]:
        """(node, pid or None, answers) for each node."""
        return [(n, self.pid(n), _port_answers(n.port)) for n in self.nodes]


def _reap(pid: int) -> None:
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _write_owner_only(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file may have been world-readable
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _api_answers(bootstrap: str, credentials: Credentials | None = None) -> bool:
    """True when the broker answers a metadata request (not just an open port), logged in as the admin
    when the broker is secured (SCRAM users exist only once the bootstrap metadata is replayed)."""
    from kafka import KafkaAdminClient  # local import: the broker module stays usable without it
    from kafka.errors import KafkaError

    auth = credentials.kafka_python() if credentials else {}
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **auth)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 characters)."""
    import base64

    while True:  # as Kafka's own Uuid.randomUuid(): never one starting with "-", which a CLI takes for an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


@contextmanager
def running_cluster(home: Path, *, size: int = 1, base_port: int = 19092, secure: bool = True,
                    secrets_dir: Path | None = None) -> Iterator[LocalCluster]:
    """Start a cluster for the duration of a block (tests), then stop it; data stays in `home`."""
    cluster = LocalCluster(home, size=size, base_port=base_port, secure=secure, secrets_dir=secrets_dir)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
