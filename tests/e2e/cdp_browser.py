"""Drive Debian's headless Chromium over the Chrome DevTools Protocol (CDP), with aiohttp's websocket client.

Why CDP and not `--dump-dom`/`--screenshot`: the dashboard keeps a server-sent-events connection open,
so the page never "finishes loading" and the one-shot flags hang. CDP lets a test evaluate JavaScript in
the live page, wait for a condition and take a screenshot whenever it wants. No Playwright download.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-port=0",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


def group_alive(group: int) -> bool:
    """True while a live (not zombie) process of process group `group` exists."""
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


class Browser:
    """One headless Chromium with a fresh profile and one page; `async with Browser(...) as b`."""

    def __init__(self, width: int = 1440, height: int = 900) -> None:
        self.width, self.height = width, height
        self.profile = Path(tempfile.mkdtemp(prefix="cshub-chromium-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._session_id: str | None = None

    async def __aenter__(self) -> Browser:
        exe = chromium_path()
        if exe is None:
            raise RuntimeError("chromium is not installed; run deploy/local/system-deps.sh (apt-get install chromium)")
        profile = self.profile
        self._proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                       f"--window-size={self.width},{self.height}", "about:blank"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port within 30 s")
            await asyncio.sleep(0.1)
        port, path = port_file.read_text().split("\n")[:2]
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        target = await self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                                   session=False)
        self._session_id = attached["sessionId"]
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        await self.send("Emulation.setDeviceMetricsOverride",
                        {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self._proc is not None:
            await asyncio.to_thread(self._stop_process_group)
        await asyncio.to_thread(self._remove_profile)

    def _stop_process_group(self) -> None:
        """Stop Chromium and every process it started (renderers, GPU, crash handler: one session, one group).

        Waiting for the main process alone is not enough: its children can still be writing the profile
        after it exits, and removing the folder then fails ("Directory not empty"), the flake of issue 9.
        """
        assert self._proc is not None
        group = self._proc.pid  # start_new_session: the group id is the main process id
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # whatever is left of the group: nothing writes the profile after this
        self._proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and group_alive(group):
            time.sleep(0.05)

    def _remove_profile(self) -> None:
        """Remove the profile folder; a file still being closed by a dying process gets a few retries (bounded)."""
        deadline = time.monotonic() + 10
        while True:
            try:
                shutil.rmtree(self.profile)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    async def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True) -> dict[str, Any]:
        """One CDP command; returns its result (events in between are skipped)."""
        assert self._ws is not None
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session and self._session_id:
            msg["sessionId"] = self._session_id
        await self._ws.send_str(json.dumps(msg))
        while True:
            raw = await asyncio.wait_for(self._ws.receive(), 30)
            if raw.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"DevTools connection closed: {raw.type}")
            data = json.loads(raw.data)
            if data.get("id") == msg_id:
                if "error" in data:
                    raise RuntimeError(f"CDP {method} failed: {data['error']}")
                return data.get("result", {})

    async def goto(self, url: str, timeout_s: float = 30.0) -> None:
        """Navigate and wait for the load event (an open server-sent-events stream does not delay it)."""
        await self.send("Page.navigate", {"url": url})
        await self.wait_for(f"location.href === {url!r} && document.readyState === 'complete'", timeout_s)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                      "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page error evaluating {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float = 30.0) -> Any:
        """Poll `expression` in the page until it is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = await self.evaluate(expression)
            except RuntimeError:
                last = None
            if last:
                return last
            await asyncio.sleep(0.2)
        raise TimeoutError(f"page condition not met within {timeout_s:.0f} s: {expression} (last {last!r})")

    async def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            # Grow the viewport to the whole page first and let responsive charts redraw at that size.
            height = await self.evaluate("document.documentElement.scrollHeight")
            await self.send("Emulation.setDeviceMetricsOverride",
                            {"width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            await asyncio.sleep(1.0)
        data = await self.send("Page.captureScreenshot", params)
        if full_page:
            await self.send("Emulation.setDeviceMetricsOverride",
                            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path
