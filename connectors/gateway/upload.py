"""The upload page's server side: a provincial clerk logs in, checks a file, sends it, watches the outcomes.

Why it works this way:
- Who the clerk is, is decided by the broker: the login tries a SCRAM-SHA-512 login with the principal and
  password given, and every later step (the send, reading the outcomes) runs with that principal's own Kafka
  client. So the broker's ACLs, not this page, confine a clerk to their province's topics and feedback; the
  province is the principal's (`schemas/data/principals.csv`), never a parameter of a request.
- The checks are the CLI's (`connectors.readers`, `connectors.publisher.check_rows`): the same file gets the
  same problems, word for word, here and in `cshub publish --check`.
- The password travels only in the body of the login request (never a URL, never a log line) and lives only
  in this process's memory, inside the session's credentials, until logout or `SESSION_IDLE_S` without a
  request; the browser holds a random session id in an HttpOnly, SameSite=Strict cookie. Uploaded files sit
  in an owner-only temporary folder until they are sent, replaced or the session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from connectors.errors import ReaderError
from connectors.outcomes import Positions, SentReport, feedback_positions, report_outcomes
from schemas.credentials import AccessRefused, Credentials
from schemas.display import show_value
from schemas.kafka_config import KafkaConnection
from schemas.kinds import KINDS, Kind
from schemas.topics import TopicNames

if TYPE_CHECKING:
    from core.signing import SigningKey

COOKIE = "cshub_session"
SESSION_IDLE_S = 15 * 60
"""A session (and the password it holds) ends after this long without a request."""
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_SHOWN = 500
"""Problems listed on the page (every one counts; the CLI's --check lists the rest)."""


@dataclass(frozen=True)
class HeldConnection(KafkaConnection):
    """A connection whose credentials are held in memory (the clerk's login), not read from a password file."""

    held: Credentials | None = field(default=None, repr=False, compare=False)

    def credentials(self) -> Credentials | None:
        return self.held


@dataclass
class Upload:
    """A checked file waiting to be sent: where it is, its kind, and what each good row will be."""

    kind: Kind
    path: Path
    name: str
    reports: list[tuple[int, str, int, str]]  # row, report id, revision, period
    bad: int


@dataclass
class Session:
    principal: str
    province: str
    conn: HeldConnection
    folder: Path
    last_used: float = field(default_factory=time.monotonic)
    uploads: dict[str, Upload] = field(default_factory=dict)
    batches: dict[str, tuple[list[SentReport], Positions, int]] = field(default_factory=dict)


async def _try_login(bootstrap: str, creds: Credentials) -> str | None:
    """None when the broker takes this login; else "refused" or "unreachable"."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError, SaslAuthenticationFailed

    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(create_conn(host.strip("[]") or "127.0.0.1", int(port),
                                                      request_timeout_ms=5000, **creds.aiokafka()), 10)
        except SaslAuthenticationFailed:
            return "refused"
        except (OSError, TimeoutError, KafkaError, ValueError):
            continue
        conn.close()
        return None
    return "unreachable"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status, content_type="application/json",
                        charset="utf-8", headers={"Cache-Control": "no-store"})


def _problem(p: Any) -> dict[str, Any]:
    value = "" if p.value in ("", None) else show_value(p.column, p.value)
    return {"row": p.row, "column": p.column, "value": value, "rule": p.rule, "reason": p.reason, "text": str(p)}


class UploadDesk:
    """The upload routes of the gateway, and the sessions of the clerks using them."""

    def __init__(self, bootstrap: str, names: TopicNames, *, secure_cookie: bool = False,
                 signing_keys_dir: Path | None = None) -> None:
        self.bootstrap = bootstrap
        self.names = names
        self.secure_cookie = secure_cookie
        self.signing_keys_dir = signing_keys_dir
        self.sessions: dict[str, Session] = {}
        self.root = Path(tempfile.mkdtemp(prefix="cshub-uploads-"))  # 0700: mkdtemp's own mode

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/login", self.login)
        app.router.add_post("/api/logout", self.logout)
        app.router.add_get("/api/session", self.whoami)
        app.router.add_get("/api/template/{name}", self.template)
        app.router.add_post("/api/upload/check", self.check)
        app.router.add_post("/api/upload/send", self.send)
        app.router.add_get("/api/upload/outcomes", self.outcomes)
        app.on_cleanup.append(self._cleanup)

    async def _cleanup(self, app: web.Application) -> None:
        self.sessions.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- sessions ---
    def _session(self, request: web.Request) -> Session:
        now = time.monotonic()
        for sid, old in list(self.sessions.items()):
            if now - old.last_used > SESSION_IDLE_S:
                self._end(sid)
        session = self.sessions.get(request.cookies.get(COOKIE, ""))
        if session is None:
            raise web.HTTPUnauthorized(text="log in first: your session has ended or never began")
        session.last_used = now
        return session

    def _end(self, sid: str) -> None:
        session = self.sessions.pop(sid, None)
        if session is not None:
            shutil.rmtree(session.folder, ignore_errors=True)

    async def login(self, request: web.Request) -> web.Response:
        from schemas.principals import principals

        try:
            body = await request.json()
            principal, password = str(body["principal"]).strip(), str(body["password"])
        except (ValueError, KeyError, TypeError):
            return _json({"error": "send the principal and the password as JSON in the request body"}, 400)
        known = principals().get(principal)
        if known is None or known.role != "province" or known.province is None:
            return _json({"error": f"{principal or 'that name'} is not a provincial system's principal: log in as"
                                   " province-<code>, e.g. province-320000"}, 403)
        creds = Credentials(principal, password)
        verdict = await _try_login(self.bootstrap, creds)
        if verdict == "refused":
            return _json({"error": f"{principal} could not log in: wrong password or unknown user"}, 401)
        if verdict == "unreachable":
            return _json({"error": "the hub's Kafka cluster does not answer; try again later"}, 503)
        sid = secrets.token_urlsafe(32)
        folder = self.root / secrets.token_hex(8)
        folder.mkdir(mode=0o700)
        self.sessions[sid] = Session(principal, known.province, HeldConnection(self.bootstrap, principal, held=creds),
                                     folder)
        response = self._me(self.sessions[sid])
        response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/", secure=self.secure_cookie,
                            max_age=SESSION_IDLE_S)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        self._end(request.cookies.get(COOKIE, ""))
        response = _json({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    def _me(self, session: Session) -> web.Response:
        from schemas.reference import provinces

        name = provinces()[session.province].name_zh if session.province in provinces() else ""
        return _json({"principal": session.principal, "province": session.province, "name": name,
                      "kinds": list(KINDS)})

    async def whoami(self, request: web.Request) -> web.Response:
        return self._me(self._session(request))

    async def template(self, request: web.Request) -> web.Response:
        from connectors.templates import template_bytes

        session = self._session(request)
        stem, _, suffix = request.match_info["name"].rpartition(".")
        if stem not in KINDS or suffix != "xlsx":
            raise web.HTTPNotFound(text=f"templates: /api/template/<kind>.xlsx, kind one of {', '.join(KINDS)}")
        body = await asyncio.get_running_loop().run_in_executor(None, template_bytes, stem, session.province)
        filename = f"template_{stem}_{session.province}.xlsx"
        return web.Response(body=body, headers={
            "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})

    # --- check, send, outcomes ---
    async def check(self, request: web.Request) -> web.Response:
        session = self._session(request)
        kind, path, name = await self._receive(request, session)
        try:
            found = await asyncio.get_running_loop().run_in_executor(None, _check_file, kind, session.province, path)
        except ReaderError as exc:
            path.unlink(missing_ok=True)
            return _json({"error": exc.line().replace(str(path), name)}, 422)
        upload_id = secrets.token_hex(8)
        session.uploads[upload_id] = Upload(kind, path, name, found["reports"], found["bad"])
        return _json({"upload": upload_id, "kind": kind, "file": name, "rows": found["rows"], "good": found["good"],
                      "bad": found["bad"], "problems": found["problems"][:MAX_SHOWN], "warnings": found["warnings"],
                      "problem_count": len(found["problems"])})

    async def _receive(self, request: web.Request, session: Session) -> tuple[Kind, Path, str]:
        """The multipart form's kind and file, the file streamed to the session's folder (bounded size)."""
        kind: str | None = None
        path: Path | None = None
        name = ""
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "kind":
                kind = (await part.text()).strip()
            elif part.name == "file":
                name = Path(part.filename or "upload").name
                suffix = Path(name).suffix.lower()
                if suffix not in (".csv", ".xlsx", ".jsonl", ".txt"):
                    raise web.HTTPUnprocessableEntity(text=f"{name}: upload an .xlsx (a template) or a .csv file")
                path = session.folder / f"{secrets.token_hex(8)}{suffix}"
                size = 0
                with path.open("wb") as fh:
                    path.chmod(0o600)
                    while chunk := await part.read_chunk():
                        size += len(chunk)
                        if size > MAX_UPLOAD_BYTES:
                            fh.close()
                            path.unlink(missing_ok=True)
                            raise web.HTTPRequestEntityTooLarge(max_size=MAX_UPLOAD_BYTES, actual_size=size)
                        fh.write(chunk)
        if kind not in KINDS:
            raise web.HTTPUnprocessableEntity(text=f"choose the kind of report: one of {', '.join(KINDS)}")
        if path is None:
            raise web.HTTPUnprocessableEntity(text="choose a file to upload")
        return kind, path, name  # type: ignore[return-value]

    async def send(self, request: web.Request) -> web.Response:
        session = self._session(request)
        try:
            upload_id = str((await request.json())["upload"])
        except (ValueError, KeyError, TypeError):
            return _json({"error": "say which checked upload to send"}, 400)
        upload = session.uploads.get(upload_id)
        if upload is None:
            return _json({"error": "that upload is gone: check the file again"}, 404)
        if upload.bad:
            return _json({"error": f"{upload.bad} row(s) have problems: fix them and check the file again;"
                                   " nothing was sent"}, 409)
        loop = asyncio.get_running_loop()
        try:
            sent, summary, since, since_ms = await loop.run_in_executor(None, self._publish, session, upload)
        except AccessRefused as exc:
            return _json({"error": exc.line()}, 403)
        finally:
            session.uploads.pop(upload_id, None)
            with contextlib.suppress(OSError):
                upload.path.unlink()
        batch = secrets.token_hex(8)
        session.batches[batch] = (sent, since, since_ms)
        return _json({"batch": batch, **summary})

    def _signing_key(self, province: str) -> SigningKey | None:
        """The province's key in `signing_keys_dir` (`province-<code>.key`), as the CLI publisher finds it; None
        when this desk holds none (its records then go unsigned, and a hub that requires signatures rejects them,
        which the outcomes show). A province's own desk holds its own key; a central one would hold them all."""
        from core.signing import SigningKey
        from schemas.principals import province_principal
        from schemas.settings import SIGNING_KEY_SUFFIX

        if self.signing_keys_dir is None:
            return None
        path = self.signing_keys_dir / f"{province_principal(province)}{SIGNING_KEY_SUFFIX}"
        return SigningKey.load(path) if path.exists() else None

    def _publish(self, session: Session, upload: Upload) -> tuple[list[SentReport], dict[str, Any], Positions, int]:
        from connectors.publisher import Publisher
        from connectors.readers import read_rows

        since = feedback_positions(session.conn, self.names, session.province)
        since_ms = time.time_ns() // 1_000_000
        with Publisher(session.conn, session.province, names=self.names,
                       signing_key=self._signing_key(session.province)) as publisher:
            result = publisher.publish(upload.kind, read_rows(upload.path, upload.kind))
        sent = [SentReport(row, report_id, revision, upload.kind, period, result.coordinates.get(row))
                for row, report_id, revision, period in upload.reports]
        summary = {"topic": result.topic, "rows": result.rows, "sent": result.sent,
                   "acknowledged": result.acknowledged, "error": result.error}
        return sent, summary, since, since_ms

    async def outcomes(self, request: web.Request) -> web.Response:
        session = self._session(request)
        found = session.batches.get(request.query.get("batch", ""))
        if found is None:
            return _json({"error": "no such sending: send a file first"}, 404)
        sent, since, since_ms = found
        outcomes = await asyncio.get_running_loop().run_in_executor(
            None, report_outcomes, session.conn, self.names, session.province, sent, since, since_ms)
        return _json({"province": session.province, "outcomes": [
            {"row": o.row, "report_id": o.report_id, "revision": o.revision, "state": o.state, "detail": o.detail,
             "at": o.at, "receipt": o.receipt} for o in outcomes]})


def _check_file(kind: Kind, province: str, path: Path) -> dict[str, Any]:
    """The CLI's `--check` over one file, as JSON-ready lists (ReaderError for a file-level problem)."""
    from connectors.publisher import check_rows
    from connectors.readers import read_rows

    rows = good = bad = 0
    problems: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    reports: list[tuple[int, str, int, str]] = []
    for prepared in check_rows(kind, province, read_rows(path, kind)):
        rows += 1
        warnings += [_problem(w) for w in prepared.warnings]
        if prepared.report is None:
            bad += 1
            problems += [_problem(p) for p in prepared.problems]
            continue
        good += 1
        report = prepared.report
        reports.append((prepared.row, str(report["report_id"]), int(report["revision"]), str(report["period"])))
    return {"rows": rows, "good": good, "bad": bad, "problems": problems, "warnings": warnings, "reports": reports}
