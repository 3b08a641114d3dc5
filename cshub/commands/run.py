"""`cshub run`: the whole hub on this machine in one command (what `make run` calls).

Brings up, in order: the dashboard gateway (it answers at once and fills in as data arrives), the
local Kafka broker (deploy.local, data under <home>/broker), the hub's topics (the topic plan), a
worker subprocess (`cshub worker`), the log service (`cshub notary`: the transparency log and the
provinces' signed receipts; its key is created in the secrets folder on first run) and the demo feed
subprocess (`cshub demo`). Ctrl-C (SIGINT) or
SIGTERM stops them in the reverse order — feed, worker, gateway, broker — each with SIGTERM and, after
a grace period, SIGKILL, so no process is left behind; the data stays in <home> for the next run. If
`cshub run` itself is killed, its subprocesses get SIGTERM from the kernel (PR_SET_PDEATHSIG); the
broker, a daemon of the data folder, survives and the next `cshub run` with the same --home takes it
over. With --bootstrap (or CSHUB_BOOTSTRAP) no local broker is started: that cluster is used.
`cshub run --only gateway --bootstrap HOST:PORT` runs the dashboard alone against any cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import IO, Any, TypeVar

from cshub.options import add_settings, settings_from
from schemas.settings import Settings

_PR_SET_PDEATHSIG = 1
MAX_WORKER_RESTARTS = 5
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, "home", "bootstrap", "topic_root", "partitions", "broker_port",
                 host="gateway_host", port="gateway_port", worker_port="web_port")
    parser.add_argument("--no-worker", action="store_true", help="do not start a worker")
    parser.add_argument("--no-notary", action="store_true", help="do not start the log service (no receipts)")
    parser.add_argument("--no-demo", action="store_true", help="do not start the demo feed")
    parser.add_argument("--demo-seed", type=int, default=2025, help="seed of the demo feed (default 2025)")
    parser.add_argument("--demo-months", type=int, default=24, help="months the demo feed simulates (default 24)")
    parser.add_argument("--demo-speed", type=float, default=20.0,
                        help="demo months per minute (default 20: a month every 3 s)")
    parser.add_argument("--only", choices=["gateway"], help="run only this part (gateway: the dashboard server)")


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: the kernel sends SIGTERM if `cshub run` itself dies."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """A subprocess of the hub with its log file; stops with SIGTERM then SIGKILL."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.restarts = 0
        self.restart_at: float | None = None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)

    def restart(self) -> None:
        """Start the process again after it exited (the worker rebuilds its state from Kafka)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.restarts += 1
        self.restart_at = None
        self.proc = self._spawn()

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace_s: float) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything the child itself left in its group
        self._log.close()


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(LocalHub(settings_from(args), args).main())
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


def say(text: str) -> None:
    print(text, flush=True)


class LocalHub:
    """The parts of a hub on this machine, started in order and stopped in reverse."""

    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.args = args
        self.home = settings.home.resolve()
        self.external = settings.bootstrap_given()
        bootstrap = settings.bootstrap if self.external else settings.local_bootstrap
        self.settings = settings.model_copy(update={"bootstrap": bootstrap, "home": self.home,
                                                    "data_dir": self.home / "worker",
                                                    "broker_home": self.home / "broker"})
        self.started = time.monotonic()
        self.stop = asyncio.Event()
        self.children: list[Child] = []
        self.cluster: Any = None
        self.gateway_runner: Any = None

    def since(self) -> str:
        return f"{time.monotonic() - self.started:.1f} s"

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        gateway = await self.start_gateway()
        if self.args.only == "gateway":
            say(f"gateway reading {self.settings.topic_root}.national.* from {self.settings.kafka}; Ctrl-C to stop")
            await self.stop.wait()
            await self.gateway_runner.cleanup()
            return 0
        try:
            if not self.external and not await self.start_broker():
                return 0
            if not await self.create_topics():
                return 0
            gateway.reader.start()
            self.start_children()
            say(f"\nThe hub is up after {self.since()}. Open {self.url} — Ctrl-C stops everything (data is kept).")
            return await self.supervise()
        finally:
            await self.stop_all()

    @property
    def url(self) -> str:
        host = self.settings.gateway_host
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{self.settings.gateway_port}/"

    async def start_gateway(self) -> Any:
        """The page answers at once; its Kafka reader starts once the broker is up (no reconnect noise before)."""
        from connectors.gateway import Gateway, GatewayConfig, listen

        s = self.settings
        gateway = Gateway(GatewayConfig(bootstrap=self.connection("gateway"), topic_root=s.topic_root,
                                        host=s.gateway_host, port=s.gateway_port, signing_keys_dir=s.secrets_dir,
                                        start_reader=self.args.only == "gateway" or self.external))
        self.gateway_runner = await listen(gateway)
        say(f"dashboard: {self.url}  (answering after {self.since()})")
        return gateway

    async def start_broker(self) -> bool:
        """The local broker; False when Ctrl-C came first. A broker left running from this folder is reused."""
        from connectors.security import secure_local_hub
        from deploy.local.broker import LocalCluster

        s = self.settings
        self.cluster = LocalCluster(s.broker_home, base_port=s.broker_port, secrets_dir=s.secrets_dir)
        already_running = self.cluster.pid(self.cluster.nodes[0]) is not None
        await self.until(asyncio.to_thread(self.cluster.start))
        if self.stop.is_set():
            return False
        report = await self.until(asyncio.to_thread(secure_local_hub, self.cluster.bootstrap, self.cluster.secrets,
                                                    s.names, s.app_id))
        if self.stop.is_set() or report is None:
            return False
        say(f"broker:    {s.bootstrap}  (data in {self.cluster.home};"
            f" {'already running' if already_running else 'up'} after {self.since()}; {len(report.users)} SCRAM users,"
            f" passwords in {s.secrets_dir})")
        return True

    def as_principal(self, role: str) -> dict[str, str]:
        """CSHUB_PRINCIPAL and CSHUB_PASSWORD_FILE of the principal with `role`, on the local broker; a cluster
        of someone else's (--bootstrap) keeps the principal the settings name."""
        if self.external:
            return {}
        from schemas.principals import one_of_role, principals

        name = one_of_role(principals(), role).name  # type: ignore[arg-type]  # a singleton role
        return {"CSHUB_PRINCIPAL": name, "CSHUB_PASSWORD_FILE": str(self.settings.secrets_dir / f"{name}.password")}

    def connection(self, role: str) -> Any:
        """The KafkaConnection of `role`'s principal (see `as_principal`)."""
        from schemas.kafka_config import KafkaConnection

        env = self.as_principal(role)
        if not env:
            return self.settings.kafka
        return KafkaConnection(self.settings.bootstrap, env["CSHUB_PRINCIPAL"], Path(env["CSHUB_PASSWORD_FILE"]))

    async def create_topics(self) -> bool:
        """The topic plan on the broker (the worker checks it again before it starts); False on Ctrl-C."""
        from connectors.admin import ensure_topics

        specs = self.settings.topic_plan().specs()
        created = await self.until(asyncio.to_thread(ensure_topics, self.connection("admin"), specs))
        if self.stop.is_set():
            return False
        say(f"topics:    {len(specs)} under '{self.settings.topic_root}' ({len(created or [])} created)")
        return True

    def start_children(self) -> None:
        env = {**os.environ, **self.settings.as_env(), "PYTHONUNBUFFERED": "1"}
        worker_env = {**env, **self.as_principal("worker")}
        notary_env = {**env, **self.as_principal("notary")}
        demo_env = {**env, **self.as_principal("admin")}  # the demo stands in for all 31 provinces at once
        cli = [sys.executable, "-m", "cshub.cli"]
        logs = self.home / "logs"
        if not self.args.no_worker:
            self.children.append(Child("worker", [*cli, "worker"], worker_env, logs / "worker.log"))
            say(f"worker:    pid {self.children[-1].proc.pid}, web http://127.0.0.1:{self.settings.web_port}/,"
                f" log {logs / 'worker.log'}")
        if not self.args.no_notary:
            from connectors.notary import ensure_notary_key

            key = ensure_notary_key(self.settings.notary_key_path, self.settings.public_keys_path,
                                    time.time_ns() // 1_000_000)
            self.children.append(Child("notary", [*cli, "notary"], notary_env, logs / "notary.log"))
            say(f"notary:    pid {self.children[-1].proc.pid}, key {key.kid} (public key in"
                f" {self.settings.public_keys_path}), log {logs / 'notary.log'}")
        if not self.args.no_demo:
            a = self.args
            demo = [*cli, "demo", "--seed", str(a.demo_seed), "--months", str(a.demo_months), "--speed",
                    str(a.demo_speed)]
            self.children.append(Child("demo", demo, demo_env, logs / "demo.log"))
            say(f"demo feed: pid {self.children[-1].proc.pid}, {a.demo_months} months at {a.demo_speed:g}/min,"
                f" log {logs / 'demo.log'}")

    async def supervise(self) -> int:
        """Until Ctrl-C: say when the worker is ready, restart a crashed worker (a few times), report exits."""
        code = 0
        reported: set[str] = set()
        worker_ready = self.args.no_worker
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 1.0)
            if self.stop.is_set():
                break
            if not worker_ready and await asyncio.to_thread(_answers, self.settings.web_port):
                worker_ready = True
                say(f"worker:    ready after {self.since()}")
            for child in self.children:
                if child.running() or child.name in reported:
                    continue
                if child.name in ("worker", "notary") and child.restarts < MAX_WORKER_RESTARTS:
                    self.restart_later(child)
                    continue
                reported.add(child.name)
                rc = child.proc.returncode
                if child.name == "demo" and rc == 0:
                    say("demo feed: finished; the dashboard keeps the final picture")
                else:
                    say(f"{child.name}: exited with code {rc}; see {child.log_path}")
                    code = 1 if child.name in ("worker", "notary") else code
        return code

    @staticmethod
    def restart_later(child: Child) -> None:
        """A dev hub keeps going: a crashed worker restarts after a back-off and resumes from its committed state."""
        if child.restart_at is None:
            delay = min(30.0, 2.0 * 2 ** child.restarts)
            child.restart_at = time.monotonic() + delay
            say(f"{child.name}: exited with code {child.proc.returncode}; restarting in {delay:.0f} s"
                f" (see {child.log_path})")
        elif time.monotonic() >= child.restart_at:
            child.restart()
            say(f"{child.name}: restarted, pid {child.proc.pid}")

    async def stop_all(self) -> None:
        say("\nstopping: demo feed, notary, worker, gateway, broker ...")
        for child in reversed(self.children):
            await asyncio.to_thread(child.stop, 5.0 if child.name == "demo" else 20.0)
        if self.gateway_runner is not None:
            await self.gateway_runner.cleanup()
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.stop)
        say(f"stopped; data kept in {self.home}")

    async def until(self, step: Awaitable[T]) -> T | None:
        """Wait for a blocking step run in a thread; return early (None) when Ctrl-C comes first.

        The step itself finishes in its thread; `stop_all` then cleans up what it started.
        """
        fut = asyncio.ensure_future(step)
        waiter = asyncio.ensure_future(self.stop.wait())
        done, _ = await asyncio.wait({fut, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if fut in done:
            return fut.result()
        with contextlib.suppress(Exception):  # the step's own error no longer matters: we are stopping
            await fut
        return None


def _answers(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:port (the worker's web server is up)."""
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0
