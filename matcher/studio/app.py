"""``automaster serve``: the studio's web application (Starlette).

The page (:mod:`matcher.studio.page`) talks to a small JSON API; uploads stream to disk;
suggestions and renders are jobs (:mod:`matcher.studio.work`) whose progress reaches the page
by server-sent events. Security, in :class:`Guard`: every request carries the server's token
when one is set (any address but loopback), as ``?token=`` once (then a cookie); every
request that changes something carries the page's CSRF token in a header a cross-site form
cannot set, and a foreign ``Origin`` is refused; every response forbids anything but the
studio's own scripts (Content-Security-Policy). A user's file name is text only: shown
escaped, never used as a path; ids in URLs must look like ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from matcher.errors import AutomasterError
from matcher.studio.store import DONE, FAILED, Store, new_id, valid_id
from matcher.studio.work import JobRunner, api_options, reference_files

AUDIO_EXTENSIONS = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3")
OUTPUT_FORMATS = ("wav", "flac", "aiff", "mp3", "ogg", "opus", "m4a")
"""Lossless masters, and lossy files encoded from them that decode under the ceiling."""
BIT_DEPTHS = ("16", "24", "32f")
DEFAULT_MAX_UPLOAD_BYTES = 1 << 30
CSRF_HEADER = "x-automaster-csrf"
TOKEN_COOKIE = "automaster_token"
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
EVENT_INTERVAL_S = 0.1
MAX_JSON_BYTES = 1 << 16


@dataclass(frozen=True)
class StudioConfig:
    """How a studio serves.

    Attributes
    ----------
    data : Path
        Its data folder (database and files).
    token : str or None
        Required of every request when set (the server binds beyond loopback).
    max_upload_bytes : int
    workers : int
        Worker processes for suggestions and renders.
    """

    data: Path
    token: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    workers: int = 2


def display_name(raw: str | None, fallback: str = "untitled") -> str:
    """A file name as the studio shows it: its last path component, control characters
    removed, at most 200 characters. Never used as a path."""
    name = re.split(r"[\\/]", raw or "")[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return (name or fallback)[:200]


def create_app(config: StudioConfig) -> Starlette:
    """The studio's ASGI application; its job runner starts and stops with it."""
    store = Store(config.data)
    runner = JobRunner(store, config.workers)
    csrf = secrets.token_urlsafe(32)

    async def page(request: Request) -> Response:
        from matcher.studio.page import studio_page

        response = HTMLResponse(studio_page(csrf))
        token = request.query_params.get("token")
        if config.token and token:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    async def static(request: Request) -> Response:
        from matcher.studio.page import STATIC

        name = request.path_params["name"]
        if name not in STATIC:
            return _error(404, "no such file")
        text, media_type = STATIC[name]
        return Response(text, media_type=media_type)

    async def list_mixes(request: Request) -> Response:
        return JSONResponse({"mixes": await run_in_threadpool(_mixes, store)})

    async def upload_mix(request: Request) -> Response:
        name = display_name(request.query_params.get("name"))
        stored = await _receive(request, store, name, config.max_upload_bytes)
        if isinstance(stored, Response):
            return stored
        file, info = stored
        mix_id = Path(file).stem
        await run_in_threadpool(store.add_mix, mix_id, name, file, info.duration_s, info.sample_rate_hz, info.channels)
        return JSONResponse({"id": mix_id, "name": name}, status_code=201)

    async def upload_reference(request: Request) -> Response:
        mix = await _mix(request, store)
        if isinstance(mix, Response):
            return mix
        name = display_name(request.query_params.get("name"))
        stored = await _receive(request, store, name, config.max_upload_bytes)
        if isinstance(stored, Response):
            return stored
        file, _ = stored
        await run_in_threadpool(store.add_reference, Path(file).stem, mix["id"], name, file)
        return JSONResponse({"id": Path(file).stem, "name": name}, status_code=201)

    async def suggest(request: Request) -> Response:
        asked = await _mix_and_body(request, store)
        if isinstance(asked, Response):
            return asked
        mix, body = asked
        try:
            await run_in_threadpool(_check_options, store, mix["id"], body.get("options", {}))
        except (ValueError, AutomasterError) as exc:
            return _error(400, str(exc))
        suggestion_id = new_id()
        await run_in_threadpool(store.supersede, mix["id"], "suggest", "superseded by a newer suggestion")
        await run_in_threadpool(store.add_suggestion, suggestion_id, mix["id"], body.get("options", {}))
        job_id = await run_in_threadpool(store.add_job, "suggest", mix["id"], suggestion_id)
        runner.notify()
        return JSONResponse({"suggestion": suggestion_id, "job": job_id}, status_code=202)

    async def quick(request: Request) -> Response:
        from matcher.studio.quick import quick_kind

        asked = await _mix_and_body(request, store)
        if isinstance(asked, Response):
            return asked
        mix, body = asked
        base = await _fitted_suggestion(store, mix, body)
        if isinstance(base, Response):
            return base
        base_id = base["id"]
        given = body.get("options", {})
        try:
            api_options(given)
        except ValueError as exc:
            return _error(400, str(exc))
        kind = quick_kind(json.loads(base["options"]), given)
        if kind is None:
            return _error(409, "these options change what the settings match toward: the suggestion will follow")
        try:
            heard = await asyncio.wrap_future(lanes[0].submit(str(store.root), base_id, mix["file"], given, kind))
        except (ValueError, AutomasterError) as exc:
            return _error(400, str(exc))
        except OSError:  # a suggestion made before sessions were kept
            return _error(409, "this suggestion kept nothing to hear quickly: the suggestion will follow")
        heard["after"] = f"/api/suggestions/{base_id}/clips/quick-{heard.pop('clip')}"
        return JSONResponse(heard)

    async def styles(request: Request) -> Response:
        return JSONResponse({"styles": await run_in_threadpool(_styles)})

    async def report(request: Request) -> Response:
        suggestion_id = request.path_params["suggestion_id"]
        found = await run_in_threadpool(store.suggestion, suggestion_id) if valid_id(suggestion_id) else None
        if found is None or not found["report"]:
            return _error(404, "no such report")
        text = store.file(found["report"]).read_text(encoding="utf-8")
        policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
        response = HTMLResponse(text)
        if policy:  # the page's own policy (its script's hash), framed by the studio only
            response.headers["content-security-policy"] = policy.group(1).replace("&#x27;", "'") + "; frame-ancestors 'self'"
        return response

    async def clip(request: Request) -> Response:
        from matcher.studio.work import CLIP_LABELS, CLIP_STAGES, clip_file

        suggestion_id = request.path_params["suggestion_id"]
        stage, _, label = request.path_params["clip"].partition("-")
        quick = stage == "quick" and valid_id(label)  # a moved slider's excerpt
        if not valid_id(suggestion_id) or not (quick or (stage in CLIP_STAGES and label in CLIP_LABELS)):
            return _error(404, "no such excerpt")
        path = store.file(clip_file(suggestion_id, stage, label))
        if not await run_in_threadpool(path.is_file):
            return _error(404, "no such excerpt")
        return FileResponse(path, media_type="audio/flac", headers={"cache-control": "private, max-age=3600"})

    async def curves(request: Request) -> Response:
        suggestion_id = request.path_params["suggestion_id"]
        found = await run_in_threadpool(store.suggestion, suggestion_id) if valid_id(suggestion_id) else None
        if found is None or not found["listen"]:
            return _error(404, "no such suggestion, or nothing to draw yet")
        listen = json.loads(found["listen"])
        return JSONResponse({"stage": listen["stage"], "curves": listen["curves"]})

    async def new_version(request: Request) -> Response:
        asked = await _mix_and_body(request, store)
        if isinstance(asked, Response):
            return asked
        mix, body = asked
        suggestion = await _fitted_suggestion(store, mix, body)
        if isinstance(suggestion, Response):
            return suggestion
        fmt, bit_depth = str(body.get("format", "wav")), str(body.get("bit_depth", "24"))
        if fmt not in OUTPUT_FORMATS or bit_depth not in BIT_DEPTHS:
            return _error(400, f"format {fmt!r} / bit depth {bit_depth!r}: choose {', '.join(OUTPUT_FORMATS)} "
                               f"and {', '.join(BIT_DEPTHS)}")
        if fmt == "flac" and bit_depth == "32f":
            return _error(400, "FLAC cannot hold 32-bit float; choose wav or aiff")
        settings = _with_bit_depth(suggestion["settings"], bit_depth)
        version_id = new_id()
        number = await run_in_threadpool(store.add_version, version_id, mix["id"], settings, fmt, suggestion["options"])
        job_id = await run_in_threadpool(store.add_job, "render", mix["id"], version_id)
        runner.notify()
        return JSONResponse({"version": version_id, "number": number, "job": job_id}, status_code=202)

    async def download(request: Request) -> Response:
        version_id = request.path_params["version_id"]
        version = await run_in_threadpool(store.version, version_id) if valid_id(version_id) else None
        if version is None or not version["file"]:
            return _error(404, "no such version, or not rendered yet")
        mix = await run_in_threadpool(store.mix, version["mix_id"])
        stem = Path(mix["name"]).stem or "master"
        filename = f"{stem}_v{version['number']}.{version['format']}"
        return FileResponse(store.file(version["file"]), filename=filename)

    async def version_settings(request: Request) -> Response:
        version_id = request.path_params["version_id"]
        version = await run_in_threadpool(store.version, version_id) if valid_id(version_id) else None
        if version is None:
            return _error(404, "no such version")
        return Response(version["settings"], media_type="application/json")

    async def events(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        if not valid_id(job_id) or await run_in_threadpool(store.job, job_id) is None:
            return _error(404, "no such job")

        async def stream():
            last = None
            while True:
                job = await run_in_threadpool(store.job, job_id)
                suggestion = (await run_in_threadpool(store.suggestion, job.target_id) or {}) if job.kind == "suggest" else {}
                fitted = bool(suggestion.get("settings"))
                heard = json.loads(suggestion["listen"])["stage"] if suggestion.get("listen") else None
                now = (job.state, round(job.progress, 3), job.error, fitted, heard)
                if now != last:
                    last = now
                    data = json.dumps({"state": job.state, "progress": job.progress, "error": job.error,
                                       "fitted": fitted, "listen": heard})
                    yield f"data: {data}\n\n"
                if job.state in (DONE, FAILED) or await request.is_disconnected():
                    return
                await asyncio.sleep(EVENT_INTERVAL_S)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/mixes", list_mixes, methods=["GET"]),
        Route("/api/styles", styles, methods=["GET"]),
        Route("/api/mixes", upload_mix, methods=["POST"]),
        Route("/api/mixes/{mix_id}/references", upload_reference, methods=["POST"]),
        Route("/api/mixes/{mix_id}/suggestions", suggest, methods=["POST"]),
        Route("/api/mixes/{mix_id}/versions", new_version, methods=["POST"]),
        Route("/api/mixes/{mix_id}/quick", quick, methods=["POST"]),
        Route("/api/suggestions/{suggestion_id}/report", report),
        Route("/api/suggestions/{suggestion_id}/clips/{clip}", clip),
        Route("/api/suggestions/{suggestion_id}/curves", curves),
        Route("/api/versions/{version_id}/download", download),
        Route("/api/versions/{version_id}/settings", version_settings),
        Route("/api/jobs/{job_id}/events", events),
    ]

    lanes: list = []

    @contextlib.asynccontextmanager
    async def lifespan(app):
        from matcher.studio.quick import QuickLane

        await run_in_threadpool(runner.start)
        lanes.append(await run_in_threadpool(QuickLane))
        try:
            yield
        finally:
            await run_in_threadpool(runner.stop)
            lanes.pop().stop()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.store, app.state.runner, app.state.csrf = store, runner, csrf
    return Guard(app, config.token, csrf)


class Guard:
    """ASGI middleware: the token, CSRF and origin checks, and the security headers."""

    def __init__(self, app, token: str | None, csrf: str):
        self.app, self.token, self.csrf = app, token, csrf
        self.state = app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            return await refusal(scope, receive, _secured(send))
        return await self.app(scope, receive, _secured(send))

    def _refusal(self, scope, headers: dict) -> Response | None:
        if self.token is None and not _local_host(headers.get("host", "")):
            # Without a token the studio serves this machine only: a page of another site
            # whose name was made to resolve to 127.0.0.1 (DNS rebinding) names its own host.
            return _error(403, "this studio answers to localhost only (serve with --host and a token for others)")
        if self.token is not None:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
            cookie = _cookie(headers.get("cookie", ""), TOKEN_COOKIE)
            if not any(v is not None and hmac.compare_digest(v, self.token) for v in (given, cookie)):
                return _error(401, "this studio needs its token: open the URL it printed")
        if scope["method"] not in ("GET", "HEAD"):
            origin = headers.get("origin")
            if origin is not None and origin not in (f"http://{headers.get('host', '')}", f"https://{headers.get('host', '')}"):
                return _error(403, "a request from another site is refused")
            if not hmac.compare_digest(headers.get(CSRF_HEADER, ""), self.csrf):
                return _error(403, "a change needs the studio page's CSRF token")
        return None


def _secured(send):
    async def wrapped(message):
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {k.lower() for k, _ in headers}
            extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
            if b"content-security-policy" not in names:
                extra.append((b"content-security-policy", PAGE_POLICY.encode("latin-1")))
            message = {**message, "headers": headers + extra}
        await send(message)

    return wrapped


def _local_host(host: str) -> bool:
    """Whether a Host header names this machine's loopback (any port)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in ("127.0.0.1", "localhost", "[::1]", "::1") or name.startswith("127.")


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request) -> dict | Response:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            return _error(413, "the request's body is too large")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "the request's body is not JSON")
    return body if isinstance(body, dict) else _error(400, "the request's body must be a JSON object")


async def _mix(request: Request, store: Store) -> dict | Response:
    mix_id = request.path_params["mix_id"]
    mix = await run_in_threadpool(store.mix, mix_id) if valid_id(mix_id) else None
    return mix if mix is not None else _error(404, "no such mix")


async def _mix_and_body(request: Request, store: Store) -> tuple[dict, dict] | Response:
    """The mix the URL names and the request's JSON object, or the error response."""
    mix = await _mix(request, store)
    if isinstance(mix, Response):
        return mix
    body = await _json(request)
    return body if isinstance(body, Response) else (mix, body)


async def _fitted_suggestion(store: Store, mix: dict, body: dict) -> dict | Response:
    """The suggestion the body names (``"suggestion"``), of this mix, its settings fitted."""
    suggestion_id = str(body.get("suggestion", ""))
    found = await run_in_threadpool(store.suggestion, suggestion_id) if valid_id(suggestion_id) else None
    if found is None or found["mix_id"] != mix["id"] or not found["settings"]:
        return _error(400, "no suggestion of this mix with that id and its settings")
    return found


def _check_options(store: Store, mix_id: str, given: dict) -> None:
    """Check a suggestion's options as the API will take them (types, then values).

    Raises
    ------
    ValueError, AutomasterError
    """
    from matcher.api import options

    checked = api_options(given)
    options(reference_files(store, mix_id, checked), **checked)


async def _receive(request: Request, store: Store, name: str, limit: int):
    """Stream the request's body into a new file of the store; check it is audio. Returns
    ``(file name, AudioInfo)`` or an error response (the file removed)."""
    from matcher.io.reading import open_audio

    suffix = Path(name).suffix.lower()
    if suffix not in AUDIO_EXTENSIONS:
        return _error(400, f"{name}: not an audio file the studio reads ({', '.join(AUDIO_EXTENSIONS)})")
    file = f"{new_id()}{suffix}"
    path = store.file(file)
    size = 0
    try:
        async with await anyio.open_file(path, "xb") as out:  # the writes in a thread: the loop goes on
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _TooLarge
                await out.write(chunk)
        info = await run_in_threadpool(open_audio, path)
    except _TooLarge:
        path.unlink(missing_ok=True)
        return _error(413, f"{name}: larger than the studio's upload limit ({limit / 1e6:.0f} MB)")
    except AutomasterError as exc:
        path.unlink(missing_ok=True)
        return _error(400, str(exc).replace(str(path), name))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return file, info


class _TooLarge(Exception):
    pass


def _with_bit_depth(settings_json: str, bit_depth: str) -> str:
    from dataclasses import replace

    from matcher.fitting.settings import Settings

    settings = Settings.from_json(settings_json, "the suggestion's settings")
    return replace(settings, output=replace(settings.output, bit_depth=bit_depth)).to_json()


def _mixes(store: Store) -> list[dict]:
    out = []
    for mix in store.mixes():
        suggestion = store.latest_suggestion(mix["id"])
        staged = store.latest_suggestion(mix["id"], having="settings")
        heard = store.latest_suggestion(mix["id"], having="listen")
        out.append({
            "id": mix["id"],
            "name": mix["name"],
            "seconds": mix["seconds"],
            "references": [{"id": r["id"], "name": r["name"]} for r in store.references(mix["id"])],
            "suggestion": None if suggestion is None else {
                "id": suggestion["id"], "options": json.loads(suggestion["options"]),
                "figures": json.loads(suggestion["figures"] or "{}"),
            },
            # The newest settings, perhaps of a suggestion whose report is still being made.
            "settings": None if staged is None else {
                "suggestion": staged["id"], "ready": staged["report"] is not None,
                "settings": json.loads(staged["settings"]),
            },
            # What the players and plots show: the newest suggestion's draft, then its report's.
            # (its curves from /api/suggestions/{id}/curves: the listing stays small)
            "listen": None if heard is None else _without_curves(heard),
            "versions": [
                {"id": v["id"], "number": v["number"], "format": v["format"], "ready": bool(v["file"]),
                 "figures": json.loads(v["figures"] or "{}"), "options": json.loads(v["options"] or "null")}
                for v in store.versions(mix["id"])
            ],
            "jobs": [{"id": j.id, "kind": j.kind, "state": j.state, "progress": j.progress, "error": j.error}
                     for j in store.jobs(mix["id"])],
        })
    return out


def _without_curves(suggestion: dict) -> dict:
    listen = json.loads(suggestion["listen"])
    listen.pop("curves", None)
    return {"suggestion": suggestion["id"], **listen}


def _styles() -> list[dict]:
    """The styles ``style=`` names without a library: the user's library's once it has
    some, else the starter library's (as ``automaster library styles`` lists them)."""
    from matcher.library.store import Library
    from matcher.library.styles import load_styles, style_library_dir

    try:
        found = load_styles(Library(style_library_dir(None)))
    except AutomasterError:
        return []
    return [{"name": s.name, "members": len(s.members)} for s in found.styles]


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/automaster/studio`` (``~/.local/share/automaster/studio``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "automaster" / "studio"
