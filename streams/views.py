"""The worker's web views: the rows it publishes, recent notifications, and an honest /health.

`/health` answers 200 only when the worker is ready (its state recovered and its totals rebuilt);
while it recovers or after an agent crashed it answers 503 with the reason, so an orchestrator's
readiness probe does not send traffic to, or count as healthy, a worker whose tables are not whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.jsonable import jsonable
from schemas.topics import TABLES


def add_views(app: Any, shown_rows: Callable[[], dict[tuple[str, str], dict[str, Any]]],
              recent: Callable[[], list[dict[str, Any]]], health: Callable[[], dict[str, Any]]) -> None:
    """Register the pages on the Faust app; each callable is read per request."""

    @app.page("/national/{table}")
    async def national_table(web: Any, request: Any, table: str) -> Any:
        if table not in TABLES:
            return web.json({"error": f"unknown table {table!r}; one of {list(TABLES)}"}, status=404)
        rows = {p: jsonable(r) for (t, p), r in sorted(shown_rows().items()) if t == table}
        return web.json(rows)

    @app.page("/national/{table}/{province}")
    async def national_row_view(web: Any, request: Any, table: str, province: str) -> Any:
        row = shown_rows().get((table, province))
        if row is None:
            return web.json({"error": f"no row for table {table!r} province {province!r}"}, status=404)
        return web.json(jsonable(row))

    @app.page("/notifications")
    async def notifications(web: Any, request: Any) -> Any:
        try:
            limit = max(0, min(1000, int(request.query.get("limit", "100"))))
        except ValueError:
            return web.json({"error": "limit must be an integer"}, status=400)
        latest = recent()[-limit:] if limit else []
        return web.json([jsonable(n) for n in reversed(latest)])

    @app.page("/health")
    async def health_view(web: Any, request: Any) -> Any:
        body = health()
        return web.json(body, status=200 if body["status"] == "ok" else 503)
