"""`cshub run`: the whole hub on this machine in one command (what `make run` calls).

Brings up, in order: the dashboard gateway (it answers at once and fills in as data arrives), the
local Kafka broker (deploy.local, data under <home>/broker), the hub's topics, a worker subprocess
(`cshub worker`) and the demo feed subprocess (`cshub demo`). Ctrl-C (SIGINT) or SIGTERM stops them
in the reverse order — feed, worker, gateway, broker — each with SIGTERM and, after a grace period,
SIGKILL, so no process is left behind; the data stays in <home> for the next run. If `cshub run` itself
is killed, its subprocesses get SIGTERM from the kernel (PR_SET_PDEATHSIG); the broker, a daemon of the
data folder, survives and the next `cshub run` with the same --home takes it over.
`cshub run --only gateway --bootstrap HOST:PORT` runs the dashboard alone against any cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

HELP = "the whole hub on this machine: broker, topics, worker, web dashboard, demo feed"

_PR_SET_PDEATHSIG = 1
MAX_WORKER_RESTARTS = 5
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", type=Path, default=Path(_env("CSHUB_HOME", ".cshub")),
                        help="folder for the broker's data, the worker's state and the logs (env CSHUB_HOME;"
                             " default .cshub)")
    parser.add_argument("--host", default=_env("CSHUB_GATEWAY_HOST", "127.0.0.1"),
                        help="address the dashboard listens on (env CSHUB_GATEWAY_HOST; default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(_env("CSHUB_GATEWAY_PORT", "8080")),
                        help="dashboard port (env CSHUB_GATEWAY_PORT; default 8080)")
    parser.add_argument("--broker-port", type=int, default=int(_env("CSHUB_BROKER_PORT", "9092")),
                        help="local broker port; its controller uses the next one (default 9092)")
    parser.add_argument("--bootstrap", default=os.environ.get("CSHUB_BOOTSTRAP"),
                        help="use this Kafka cluster instead of starting the local broker")
    parser.add_argument("--topic-root", default=_env("CSHUB_TOPIC_ROOT", "cshub"),
                        help="root of every topic name (env CSHUB_TOPIC_ROOT; default cshub)")
    parser.add_argument("--worker-port", type=int, default=int(_env("CSHUB_WEB_PORT", "6066")),
                        help="the worker's web port (default 6066)")
    parser.add_argument("--no-worker", action="store_true", help="do not start a worker")
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
        return asyncio.run(_main(args))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


async def _main(args: argparse.Namespace) -> int:
    from connectors.gateway import Gateway, GatewayConfig

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    home: Path = args.home.resolve()
    url_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{url_host}:{args.port}/"
    bootstrap = args.bootstrap or f"127.0.0.1:{args.broker_port}"

    # The page answers at once; its Kafka reader starts once the broker is up (no reconnect noise before).
    gateway = Gateway(GatewayConfig(bootstrap=bootstrap, topic_root=args.topic_root, host=args.host, port=args.port,
                                    start_reader=args.only == "gateway" or args.bootstrap is not None))
    from aiohttp import web

    runner = web.AppRunner(gateway.app(), handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, args.host, args.port).start()
    except OSError as exc:
        await runner.cleanup()
        print(f"cshub run: cannot listen on {args.host}:{args.port}: {exc}; choose another --port")
        return 1
    print(f"dashboard: {url}  (answering after {time.monotonic() - started:.1f} s)", flush=True)
    if args.only == "gateway":
        print(f"gateway reading {args.topic_root}.national.* from {bootstrap}; Ctrl-C to stop", flush=True)
        await stop.wait()
        await runner.cleanup()
        return 0

    cluster = None
    already_running = False
    children: list[Child] = []
    code = 0
    try:
        if args.bootstrap is None:
            from deploy.local.broker import BrokerError, LocalCluster

            cluster = LocalCluster(home / "broker", base_port=args.broker_port)
            # A broker left running from this data folder (say, after `cshub run` was killed) is reused,
            # and stopped with the rest on Ctrl-C: the folder is this hub's.
            already_running = cluster.pid(cluster.nodes[0]) is not None
            try:
                await _until(stop, loop.run_in_executor(None, cluster.start))
            except BrokerError as exc:
                print(f"cshub run: the local broker did not start: {exc}")
                return 1
            if stop.is_set():
                return 0
            print(f"broker:    {bootstrap}  (data in {cluster.home}; "
                  f"{'already running' if already_running else 'up'} after {time.monotonic() - started:.1f} s)",
                  flush=True)
        from connectors.admin import TopicPlan, all_provinces, ensure_topics
        from connectors.errors import ConnectorError
        from schemas.topics import TopicNames

        # The worker's validated.* partition count must match the topics' (it sizes its state table by it).
        partitions = int(os.environ.get("CSHUB_PARTITIONS", "4"))
        specs = TopicPlan(validated_partitions=partitions).specs(TopicNames(args.topic_root), all_provinces())
        try:
            created = await _until(stop, loop.run_in_executor(None, ensure_topics, bootstrap, specs))
        except ConnectorError as exc:
            print(f"cshub run: {exc}")
            return 1
        if stop.is_set():
            return 0
        print(f"topics:    {len(specs)} under '{args.topic_root}' ({len(created or [])} created)", flush=True)
        gateway.reader.start()
        env = {**os.environ, "CSHUB_BOOTSTRAP": bootstrap, "CSHUB_TOPIC_ROOT": args.topic_root,
               "CSHUB_DATA_DIR": str(home / "worker"), "CSHUB_WEB_PORT": str(args.worker_port),
               "CSHUB_PARTITIONS": str(partitions),
               "PYTHONUNBUFFERED": "1"}
        cli = [sys.executable, "-m", "cshub.cli"]
        logs = home / "logs"
        if not args.no_worker:
            children.append(Child("worker", [*cli, "worker"], env, logs / "worker.log"))
            print(f"worker:    pid {children[-1].proc.pid}, web http://127.0.0.1:{args.worker_port}/,"
                  f" log {logs / 'worker.log'}", flush=True)
        if not args.no_demo:
            demo = [*cli, "demo", "--bootstrap", bootstrap, "--topic-root", args.topic_root,
                    "--seed", str(args.demo_seed), "--months", str(args.demo_months), "--speed", str(args.demo_speed)]
            children.append(Child("demo", demo, env, logs / "demo.log"))
            print(f"demo feed: pid {children[-1].proc.pid}, {args.demo_months} months at {args.demo_speed:g}/min,"
                  f" log {logs / 'demo.log'}", flush=True)
        print(f"\nThe hub is up after {time.monotonic() - started:.1f} s. Open {url} — Ctrl-C stops everything"
              " (data is kept).", flush=True)
        reported: set[str] = set()
        restart_at: dict[str, float] = {}
        worker_ready = args.no_worker
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if stop.is_set():
                break
            if not worker_ready and await loop.run_in_executor(None, _answers, args.worker_port):
                worker_ready = True
                print(f"worker:    ready after {time.monotonic() - started:.1f} s", flush=True)
            for child in children:
                if child.running() or child.name in reported:
                    continue
                rc = child.proc.returncode
                if child.name == "worker" and child.restarts < MAX_WORKER_RESTARTS:
                    # A dev hub keeps going: a crashed worker restarts and resumes from its committed state.
                    if child.name not in restart_at:
                        delay = min(30.0, 2.0 * 2 ** child.restarts)
                        restart_at[child.name] = time.monotonic() + delay
                        print(f"worker: exited with code {rc}; restarting in {delay:.0f} s (see {child.log_path})",
                              flush=True)
                    elif time.monotonic() >= restart_at[child.name]:
                        del restart_at[child.name]
                        child.restart()
                        print(f"worker: restarted, pid {child.proc.pid}", flush=True)
                    continue
                reported.add(child.name)
                if child.name == "demo" and rc == 0:
                    print("demo feed: finished; the dashboard keeps the final picture", flush=True)
                else:
                    print(f"{child.name}: exited with code {rc}; see {child.log_path}", flush=True)
                    code = 1 if child.name == "worker" else code
    finally:
        print("\nstopping: demo feed, worker, gateway, broker ...", flush=True)
        for child in reversed(children):
            await loop.run_in_executor(None, child.stop, 5.0 if child.name == "demo" else 20.0)
        await runner.cleanup()
        if cluster is not None:
            await loop.run_in_executor(None, cluster.stop)
        print(f"stopped; data kept in {home}", flush=True)
    return code


def _answers(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:port (the worker's web server is up)."""
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _until(stop: asyncio.Event, fut: asyncio.Future) -> object:
    """Wait for a blocking step run in a thread; return early (None) when Ctrl-C comes first.

    The step itself finishes in its thread; the caller's `finally` then cleans up what it started.
    """
    waiter = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({fut, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if fut in done:
        return fut.result()
    with contextlib.suppress(Exception):  # the step's own error no longer matters: we are stopping
        await fut
    return None
