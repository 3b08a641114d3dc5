"""The upload page's server without a broker: who may log in, what needs a session, where a password may go."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from connectors.gateway.upload import COOKIE, UploadDesk
from schemas.topics import TopicNames


def _run(check: Any) -> None:
    async def go() -> None:
        app = web.Application()
        desk = UploadDesk("127.0.0.1:1", TopicNames("t"))  # a port nothing listens on: no login can succeed
        desk.add_routes(app)
        async with TestClient(TestServer(app)) as client:
            await check(client)
    asyncio.run(go())


def test_only_a_provincial_principal_may_log_in_and_nothing_works_without_a_session() -> None:
    async def check(client: TestClient) -> None:
        refused = await client.post("/api/login", json={"principal": "ministry-mca", "password": "x"})
        assert refused.status == 403
        assert "is not a provincial system's principal" in (await refused.json())["error"]
        assert COOKIE not in refused.cookies
        down = await client.post("/api/login", json={"principal": "province-320000", "password": "secret-1"})
        assert down.status == 503 and "secret-1" not in await down.text()
        for method, url in (("GET", "/api/session"), ("GET", "/api/template/funding.xlsx"),
                            ("POST", "/api/upload/check"), ("POST", "/api/upload/send"),
                            ("GET", "/api/upload/outcomes?batch=x")):
            answer = await client.request(method, url)
            assert answer.status == 401, url
        in_url = await client.post("/api/login?password=secret-2")
        assert in_url.status == 400  # the password is taken from the JSON body only, never from a URL
    _run(check)
