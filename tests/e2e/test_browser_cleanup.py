"""Bug 4 of issue 9: the browser test's clean-up. It removed Chromium's profile folder while Chromium's
child processes were still writing it ("Directory not empty"), so a fresh-clone `make test` failed now
and then. After `Browser` exits, no process of Chromium's group may be left and the profile must be gone.
"""

from __future__ import annotations

import asyncio

import pytest
from cdp_browser import Browser, chromium_path, group_alive

PAGE = "data:text/html,<title>t</title><script>localStorage.setItem('k','v'.repeat(100000))</script><h1>x</h1>"


def test_browser_leaves_no_process_and_no_profile_behind() -> None:
    if chromium_path() is None:
        pytest.fail("chromium is not installed: run `bash deploy/local/system-deps.sh` (apt-get install chromium)")

    async def once() -> tuple[int, bool, bool]:
        async with Browser(width=800, height=600) as browser:
            await browser.goto(PAGE)
            assert await browser.evaluate("document.title") == "t"
            group = browser._proc.pid if browser._proc else -1
        return group, group_alive(group), browser.profile.exists()

    for _ in range(10):
        group, alive, profile_left = asyncio.run(once())
        assert not alive, f"chromium process group {group} still has live processes after the browser closed"
        assert not profile_left
