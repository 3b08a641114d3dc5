"""The dashboard web server (aiohttp): the static page, the tables as JSON, and live server-sent events.

Routes: GET / (the dashboard), /upload (the provincial clerks' upload page and its /api/login, /api/template/*,
/api/upload/*: `upload.py`), /static/* (its files), /api/tables, /api/notifications?limit=N,
/api/reference (provinces, policy items, targets), /api/events (SSE: one `update` event per batch of
changes, at most every `PUSH_INTERVAL_S`), /health; and, from the inputs (`inputs.py`):
/api/history/<table>?province=P (rows per reporting period, 2021-01 .. now), /api/as-of?period=P or
?moment=T (every table as it stood), /api/explain/<table>?province=P[&field=F] (the reports behind a
cell), /api/obligations (per province and kind, worst first), /api/rejections?province=P; exports
/api/export/table/<table>.csv|.xlsx, /api/export/history/<table>.csv|.xlsx?province=P,
/api/export/notifications.csv|.xlsx.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from connectors.gateway.inputs import InputReader, InputStore
from connectors.gateway.reader import TableReader
from connectors.gateway.snapshot import Change, Snapshot, jsonable
from connectors.gateway.upload import UploadDesk
from core import REPORT_TABLES, HubConfig, obligation_rules
from schemas import reference
from schemas.beijing import parse_ms, show_minute
from schemas.kafka_config import Target, connection
from schemas.topics import NATIONAL_CODE, TABLES, TopicNames

log = logging.getLogger(__name__)

STATIC = Path(str(resources.files("connectors.gateway").joinpath("static")))
PUSH_INTERVAL_S = 0.25
"""Changes are batched for this long before one SSE event goes out, so a burst costs one redraw."""
KEEPALIVE_S = 15.0

TARGETS = {
    "urban_coverage_pct": 100.0,
    "rural_coverage_pct": 80.0,
    "area_m2_per_100_households": 30.0,
    "big_city_care_pct": 80.0,
    "monthly_visit_pct": 100.0,
}
"""Default targets from docs/domain.md, for the page's legend; the rows carry the targets the worker used."""


@dataclass(frozen=True)
class GatewayConfig:
    """Where the gateway reads from and listens on."""

    bootstrap: Target = "127.0.0.1:9092"
    topic_root: str = "cshub"
    host: str = "127.0.0.1"
    port: int = 8080
    notifications_limit: int = 200
    start_reader: bool = True
    """False: the caller starts `gateway.reader` itself (`cshub run` does, once its broker is up)."""
    signing_keys_dir: Path | None = None
    """Where the upload page finds a province's signing key (`province-<code>.key`, as `cshub security` writes
    them); None: what it sends goes unsigned."""


def _reference() -> dict[str, Any]:
    """What the page needs of the reference data, from its one reader (`schemas.reference`)."""
    from dataclasses import asdict

    from core.provenance import NOT_FROM_REPORTS, TABLE_KINDS
    from core.reconcile import ADDITIVE

    explainable = {t: [f for f in ADDITIVE[t] if "[*]" not in f and f not in NOT_FROM_REPORTS] for t in TABLE_KINDS}
    return {"provinces": [asdict(p) for p in reference.provinces().values()],
            "policy_items": [asdict(i) for i in reference.policy_items().values()],
            "national_code": NATIONAL_CODE, "tables": list(TABLES), "targets": TARGETS,
            "explainable": explainable}


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    return jsonable({k: v for k, v in row.items() if k != "offsets"})


def _beijing(ms: int) -> str:
    return show_minute(ms)


def _moment(text: str) -> int:
    try:
        return parse_ms(text)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"moment: {exc}") from exc


def _json(data: Any) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False), content_type="application/json",
                        charset="utf-8", headers={"Cache-Control": "no-store"})


class Readers:
    """The gateway's two reader threads (national tables; inputs), started and stopped together."""

    def __init__(self, tables: TableReader, inputs: InputReader) -> None:
        self.tables = tables
        self.inputs = inputs

    def start(self) -> None:
        self.tables.start()
        self.inputs.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.inputs.stop(timeout_s)
        self.tables.stop(timeout_s)

    @property
    def started(self) -> bool:
        return self.tables.started

    @property
    def alive(self) -> bool:
        return self.tables.alive and self.inputs.alive

    @property
    def caught_up(self) -> threading.Event:
        return self.tables.caught_up


class Gateway:
    """One snapshot, two Kafka reader threads, one aiohttp app; fan-out of changes to SSE clients."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        names = TopicNames(config.topic_root)
        self.snapshot = Snapshot(notifications_limit=config.notifications_limit)
        self.store = InputStore(HubConfig.from_reference(), obligation_rules(reference.obligations_csv()))
        self.reader = Readers(
            TableReader(config.bootstrap, self.snapshot, names=names, on_changes=self._on_changes_thread,
                        notifications_tail=config.notifications_limit),
            InputReader(config.bootstrap, self.store, names))
        self.reference = _reference()
        self.desk = UploadDesk(connection(config.bootstrap).bootstrap, names,  # clerks log in as themselves
                               signing_keys_dir=config.signing_keys_dir)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[Change] = []
        self._clients: set[asyncio.Queue[str | None]] = set()
        self._wake = asyncio.Event()
        self._pusher: asyncio.Task[None] | None = None

    # --- the reader thread calls this ---
    def _on_changes_thread(self, changes: list[Change]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(self._queue_changes, changes)

    def _queue_changes(self, changes: list[Change]) -> None:
        self._pending.extend(changes)
        self._wake.set()

    async def _push_loop(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(PUSH_INTERVAL_S)
            self._wake.clear()
            changes, self._pending = self._pending, []
            if not changes or not self._clients:
                continue
            # Only the latest value of each row matters to a client; notifications all go.
            latest: dict[tuple[str | None, str | None], dict[str, Any]] = {}
            notes: list[dict[str, Any]] = []
            for ch in changes:
                if ch.kind == "notification":
                    notes.append(ch.to_json())
                else:
                    latest[(ch.table, ch.key)] = ch.to_json()
            payload = json.dumps({"version": self.snapshot.version, "changes": [*latest.values(), *notes]},
                                 ensure_ascii=False)
            message = f"event: update\ndata: {payload}\n\n"
            for queue in list(self._clients):
                queue.put_nowait(message)

    # --- aiohttp lifecycle ---
    async def on_startup(self, app: web.Application) -> None:
        self._loop = asyncio.get_running_loop()
        self._pusher = asyncio.create_task(self._push_loop())
        if self.config.start_reader:
            self.reader.start()

    async def on_shutdown(self, app: web.Application) -> None:
        for queue in list(self._clients):
            queue.put_nowait(None)

    async def on_cleanup(self, app: web.Application) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        await asyncio.get_running_loop().run_in_executor(None, self.reader.stop)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_get("/upload", self.upload_page)
        self.desk.add_routes(app)
        app.router.add_get("/api/tables", self.tables)
        app.router.add_get("/api/notifications", self.notifications)
        app.router.add_get("/api/reference", self.reference_view)
        app.router.add_get("/api/events", self.events)
        app.router.add_get("/health", self.health)
        app.router.add_get("/api/history/{table}", self.history_view)
        app.router.add_get("/api/as-of", self.as_of_view)
        app.router.add_get("/api/explain/{table}", self.explain_view)
        app.router.add_get("/api/obligations", self.obligations_view)
        app.router.add_get("/api/rejections", self.rejections_view)
        app.router.add_get("/api/export/{what}/{name}", self.export_view)
        app.router.add_get("/api/export/{name}", self.export_view)
        app.router.add_static("/static/", STATIC, show_index=False)
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        app.on_cleanup.append(self.on_cleanup)
        return app

    # --- handlers ---
    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def upload_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "upload.html", headers={"Cache-Control": "no-store"})

    async def tables(self, request: web.Request) -> web.Response:
        return _json({"version": self.snapshot.version, "tables": self.snapshot.tables_copy()})

    async def notifications(self, request: web.Request) -> web.Response:
        raw = request.query.get("limit", "50")
        try:
            limit = int(raw)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"limit must be an integer, got {raw!r}") from exc
        return _json({"notifications": self.snapshot.notifications(limit)})

    async def reference_view(self, request: web.Request) -> web.Response:
        return _json(self.reference)

    async def health(self, request: web.Request) -> web.Response:
        started = self.reader.started
        ok = self.reader.alive or not started  # before its broker is up the page still answers: "starting"
        status = "ok" if self.reader.alive else "starting" if not started else "reader-down"
        body = {"status": status, "caught_up": self.reader.caught_up.is_set(),
                "bootstrap": str(self.config.bootstrap), "topic_root": self.config.topic_root, **self.snapshot.stats()}
        return web.Response(text=json.dumps(body), content_type="application/json", status=200 if ok else 503)

    # --- from the inputs ---
    def _province(self, request: web.Request, default: str | None = NATIONAL_CODE) -> str:
        code = request.query.get("province", default or "")
        if code != NATIONAL_CODE and code not in {p["code"] for p in self.reference["provinces"]}:
            raise web.HTTPBadRequest(text=f"unknown province {code!r}: give a 6-digit code (000000: national)")
        return code

    @staticmethod
    def _table(request: web.Request, allowed: tuple[str, ...] = REPORT_TABLES) -> str:
        table = request.match_info["table"]
        if table not in allowed:
            raise web.HTTPNotFound(text=f"no table {table!r}; choose one of {', '.join(allowed)}")
        return table

    async def _folded(self) -> Any:
        now_ms = int(time.time() * 1000)
        return await asyncio.get_running_loop().run_in_executor(None, self.store.folded, now_ms)

    async def history_view(self, request: web.Request) -> web.Response:
        table, province = self._table(request), self._province(request)
        folded = await self._folded()
        rows = [_row_json(folded.history[p].get((table, province), {})) for p in folded.periods]
        return _json({"table": table, "province": province, "periods": folded.periods, "rows": rows,
                      "inputs": folded.count})

    async def as_of_view(self, request: web.Request) -> web.Response:
        from core.history import as_of_moment

        folded = await self._folded()
        if "period" in request.query:
            period = request.query["period"]
            if period not in folded.history:
                raise web.HTTPBadRequest(text=f"period must be YYYY-MM from {folded.periods[0]} to"
                                              f" {folded.periods[-1]}, got {period!r}")
            rows, label = folded.history[period], f"as of period {period}"
        elif "moment" in request.query:
            moment = _moment(request.query["moment"])
            inputs = self.store.snapshot()
            _hub, rows = await asyncio.get_running_loop().run_in_executor(
                None, as_of_moment, inputs, self.store.config, moment, self.store.rules)
            label = f"as of {_beijing(moment)} Beijing time"
        else:
            raise web.HTTPBadRequest(text="give ?period=YYYY-MM or ?moment=2026-06-01T00:00 (Beijing time if no zone)")
        tables: dict[str, dict[str, Any]] = {}
        for (table, province), row in rows.items():
            tables.setdefault(table, {})[province] = _row_json(row)
        return _json({"as_of": label, "tables": tables})

    async def explain_view(self, request: web.Request) -> web.Response:
        from core.provenance import explain

        table, province = self._table(request), self._province(request)
        folded = await self._folded()
        try:
            found = explain(folded.hub, folded.provenance, table, province, request.query.get("field") or None)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from exc
        return _json(jsonable(found))

    async def obligations_view(self, request: web.Request) -> web.Response:
        from dataclasses import asdict

        from core import obligation_counts
        from core.obligations import summary

        now_ms = int(time.time() * 1000)
        folded = await self._folded()
        _per, statuses = obligation_counts(folded.hub, now_ms)
        return _json({"now": _beijing(now_ms), "records": [asdict(r) for r in summary(statuses)]})

    async def rejections_view(self, request: web.Request) -> web.Response:
        province = self._province(request, None)
        return _json({"province": province, "rejections": jsonable(self.store.recent_rejections(province))})

    async def export_view(self, request: web.Request) -> web.Response:
        from connectors import exports

        what = request.match_info.get("what")
        stem, _, fmt = request.match_info["name"].rpartition(".")
        if fmt not in ("csv", "xlsx"):
            raise web.HTTPNotFound(text="exports are .csv or .xlsx")
        names = {p["code"]: p["name_zh"] for p in self.reference["provinces"]} | {NATIONAL_CODE: "全国"}
        if what is None and stem == "notifications":
            records = exports.notification_records(sorted(self.snapshot.notifications(None),
                                                          key=lambda n: str(n.get("event_time", ""))), names)
            sheet = "notifications"
        elif what == "table" and stem in TABLES:
            rows = sorted(self.snapshot.tables_copy().get(stem, {}).values(),
                          key=lambda r: (r.get("province") != NATIONAL_CODE, r.get("province")))
            records, sheet = exports.table_records(rows, names), stem
        elif what == "history" and stem in REPORT_TABLES:
            province = self._province(request)
            folded = await self._folded()
            records = [rec for p in folded.periods for rec in exports.table_records(
                [folded.history[p][(stem, province)]], names, {"period": p})]
            sheet = f"{stem} {province}"
        else:
            raise web.HTTPNotFound(text="exports: /api/export/table/<table>.csv, /api/export/history/<table>.xlsx"
                                        "?province=P, /api/export/notifications.csv")
        filename = f"cshub-{what + '-' if what else ''}{stem}.{fmt}"
        if fmt == "csv":
            body, ctype = exports.to_csv(records), "text/csv; charset=utf-8"
        else:
            body = exports.to_xlsx(records, sheet)
            ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return web.Response(body=body, headers={"Content-Type": ctype, "Cache-Control": "no-store",
                                                "Content-Disposition": f'attachment; filename="{filename}"'})

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                               "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        await response.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._clients.add(queue)
        try:
            await response.write(f"event: hello\ndata: {json.dumps({'version': self.snapshot.version})}\n\n".encode())
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    message = ": keep-alive\n\n"
                if message is None:
                    break
                await response.write(message.encode())
        except ConnectionResetError:
            pass  # the browser went away
        finally:
            self._clients.discard(queue)
        return response


async def listen(gateway: Gateway) -> web.AppRunner:
    """Serve `gateway` on its configured host and port; `await runner.cleanup()` stops it.

    Raises ConnectorError (with what to do) when the port is taken.
    """
    from connectors.errors import ConnectorError

    runner = web.AppRunner(gateway.app(), handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, gateway.config.host, gateway.config.port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConnectorError(f"the dashboard cannot listen on {gateway.config.host}:{gateway.config.port}: {exc}",
                             "choose another --port (CSHUB_GATEWAY_PORT)") from exc
    return runner
