"""A gateway (connectors/gateway) served on a free local port from a thread, for the browser tests."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from connectors.gateway import Gateway, GatewayConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(config: GatewayConfig) -> Iterator[str]:
    """Serve `config`'s gateway (its `port`) until the block ends; yields the base URL."""
    stop, ready = threading.Event(), threading.Event()

    def serve() -> None:
        from aiohttp import web

        async def main() -> None:
            runner = web.AppRunner(Gateway(config).app(), handle_signals=False)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", config.port).start()
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.2)
            await runner.cleanup()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert ready.wait(30), "the gateway did not start in 30 s"
        yield f"http://127.0.0.1:{config.port}"
    finally:
        stop.set()
        thread.join(30)
