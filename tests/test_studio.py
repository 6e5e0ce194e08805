"""The web studio (``automaster serve``, issue 18): its API as the page uses it, through
Starlette's test client with the real job runner (worker processes), and its security; the
load test and a restart in the middle of a render on a real server (uvicorn, loopback). The
page in a browser: ``test_studio_browser.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

import soundfile as sf
from starlette.testclient import TestClient
from typer.testing import CliRunner

from matcher.cli.app import app as cli
from matcher.studio.app import CSRF_HEADER, StudioConfig, create_app, display_name
from matcher.studio.store import DONE, RUNNING, Store, new_id

ROOT = Path(__file__).resolve().parent.parent
MIX = ROOT / "examples" / "mix.flac"
LOCAL = "http://127.0.0.1:8000"
"""The studio without a token answers to this machine's names only."""
REF = ROOT / "examples" / "reference.flac"


def _csrf(client: TestClient) -> str:
    page = client.get("/")
    assert page.status_code == 200
    return re.search(r'<meta name="csrf" content="([^"]+)"', page.text).group(1)


def _upload(client: TestClient, url: str, name: str, body: bytes, csrf: str):
    return client.post(url, params={"name": name}, content=body, headers={CSRF_HEADER: csrf})


def _events(client: TestClient, job: str) -> list[dict]:
    """The job's events until it ends."""
    seen = []
    with client.stream("GET", f"/api/jobs/{job}/events") as events:
        for line in events.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if seen[-1]["state"] in ("done", "failed"):
                    break
    return seen


def _follow(client: TestClient, job: str) -> dict:
    """The job's events until it ends; the last one."""
    return _events(client, job)[-1]


@pytest.fixture
def studio(tmp_path):
    config = StudioConfig(tmp_path / "data", workers=1)
    with TestClient(create_app(config), base_url=LOCAL) as client:
        yield client, config, _csrf(client)


def test_upload_suggest_render_and_download_is_what_render_writes(studio, tmp_path):
    client, config, csrf = studio
    mix = _upload(client, "/api/mixes", "my mix.flac", MIX.read_bytes(), csrf)
    assert mix.status_code == 201, mix.text
    mix_id = mix.json()["id"]
    ref = _upload(client, f"/api/mixes/{mix_id}/references", "ref.flac", REF.read_bytes(), csrf)
    assert ref.status_code == 201, ref.text
    asked = client.post(f"/api/mixes/{mix_id}/suggestions", json={"options": {"amount": {"eq": 50}, "lufs": -12}},
                        headers={CSRF_HEADER: csrf})
    assert asked.status_code == 202, asked.text
    events = _events(client, asked.json()["job"])
    assert events[-1]["state"] == "done"
    # The settings came first: an event says they are fitted before the job's end; then the
    # draft excerpts to hear, before the job's end; then the exact ones.
    fitted_at = next(i for i, e in enumerate(events) if e["fitted"])
    assert events[fitted_at]["state"] == "running"
    drafted_at = next(i for i, e in enumerate(events) if e["listen"] == "draft")
    assert drafted_at >= fitted_at and events[drafted_at]["state"] == "running"
    assert events[-1]["listen"] == "exact"
    listed = client.get("/api/mixes").json()["mixes"]
    staged = listed[0]["settings"]
    assert staged["ready"] and staged["suggestion"] == listed[0]["suggestion"]["id"]
    assert staged["settings"]["loudness"]["target_lufs"] == -12.0 and staged["settings"]["eq"]["amount"] == 0.5
    assert [m["name"] for m in listed] == ["my mix.flac"] and listed[0]["references"][0]["name"] == "ref.flac"
    suggestion = listed[0]["suggestion"]
    assert suggestion["figures"]["lufs"] == pytest.approx(-12.0, abs=0.5)
    report = client.get(f"/api/suggestions/{suggestion['id']}/report")
    assert report.status_code == 200 and "<svg" in report.text
    assert "my mix.flac" in report.text and "ref.flac" in report.text  # the names given, not the stored ones
    assert mix_id not in report.text
    assert "frame-ancestors 'self'" in report.headers["content-security-policy"]
    _check_listen(client, listed[0], report.text)
    # A version: the whole master, 16-bit FLAC; the download is what `automaster render`
    # writes from the version's settings, byte for byte.
    version = client.post(f"/api/mixes/{mix_id}/versions", json={"suggestion": suggestion["id"], "format": "flac",
                                                                 "bit_depth": "16"}, headers={CSRF_HEADER: csrf})
    assert version.status_code == 202, version.text
    assert _follow(client, version.json()["job"])["state"] == "done"
    downloaded = client.get(f"/api/versions/{version.json()['version']}/download")
    assert downloaded.status_code == 200
    assert downloaded.headers["content-disposition"].endswith("my%20mix_v1.flac")
    settings = tmp_path / "v1.json"
    settings.write_text(client.get(f"/api/versions/{version.json()['version']}/settings").text, encoding="utf-8")
    assert json.loads(settings.read_text())["output"]["bit_depth"] == "16"
    rendered = tmp_path / "rendered.flac"
    result = CliRunner().invoke(cli, ["render", str(MIX), "--settings", str(settings), "-o", str(rendered)])
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(downloaded.content).hexdigest() == hashlib.sha256(rendered.read_bytes()).hexdigest()
    info = sf.info(str(rendered))
    assert info.subtype == "PCM_16"
    # Every render is kept: a second is version 2, the first still there.
    again = client.post(f"/api/mixes/{mix_id}/versions", json={"suggestion": suggestion["id"]},
                        headers={CSRF_HEADER: csrf})
    assert again.json()["number"] == 2
    assert _follow(client, again.json()["job"])["state"] == "done"
    assert [v["number"] for v in client.get("/api/mixes").json()["mixes"][0]["versions"]] == [1, 2]
    # Each keeps the options it was suggested with (to go back to them).
    assert client.get("/api/mixes").json()["mixes"][0]["versions"][0]["options"] == {"amount": {"eq": 50}, "lufs": -12}
    # A lossy version: decoded under the ceiling, what `render -o x.mp3` writes.
    mp3 = client.post(f"/api/mixes/{mix_id}/versions", json={"suggestion": suggestion["id"], "format": "mp3"},
                      headers={CSRF_HEADER: csrf})
    assert _follow(client, mp3.json()["job"])["state"] == "done"
    listed = client.get("/api/mixes").json()["mixes"][0]["versions"][-1]
    assert listed["format"] == "mp3" and listed["figures"]["true_peak_dbtp"] <= -1.0
    got = client.get(f"/api/versions/{mp3.json()['version']}/download")
    assert got.headers["content-disposition"].endswith("my%20mix_v3.mp3")
    settings.write_text(client.get(f"/api/versions/{mp3.json()['version']}/settings").text, encoding="utf-8")
    encoded = tmp_path / "rendered.mp3"
    result = CliRunner().invoke(cli, ["render", str(MIX), "--settings", str(settings), "-o", str(encoded)])
    assert result.exit_code == 0, result.output
    assert got.content == encoded.read_bytes()
    import signals

    decoded = sf.read(str(encoded), always_2d=True)[0]
    assert signals.true_peak_ideal_dbtp(decoded) <= -1.0


def test_a_style_of_the_starter_library_and_the_other_controls(studio):
    client, _, csrf = studio
    styles = client.get("/api/styles").json()["styles"]
    assert len(styles) >= 2 and all(s["members"] >= 1 for s in styles)
    mix_id = _upload(client, "/api/mixes", "mix.flac", MIX.read_bytes(), csrf).json()["id"]
    _upload(client, f"/api/mixes/{mix_id}/references", "ref.flac", REF.read_bytes(), csrf)
    options = {"style": styles[0]["name"], "eq_phase": "minimum", "mono_below_hz": 120, "no_fix": ["polarity"],
               "target": "spotify"}
    asked = client.post(f"/api/mixes/{mix_id}/suggestions", json={"options": options}, headers={CSRF_HEADER: csrf})
    assert asked.status_code == 202, asked.text
    assert _follow(client, asked.json()["job"])["state"] == "done"
    suggestion = client.get("/api/mixes").json()["mixes"][0]["suggestion"]
    assert suggestion["figures"]["lufs"] == pytest.approx(-14.0, abs=0.5)  # Spotify's level
    page = client.get(f"/api/suggestions/{suggestion['id']}/report").text
    assert styles[0]["name"] in page and "ref.flac" not in page  # matched toward the style, not the file
    # Bad values are refused at once, in one line, and queue nothing.
    for bad in ({"eq_phase": "sideways"}, {"amount": {"bass": 10}}, {"lufs": "loud"}, {"style": "no-such-style"},
                {"unknown": 1}, {"my_library": "yes"}, {"my_library": True, "k": 0}):
        refused = client.post(f"/api/mixes/{mix_id}/suggestions", json={"options": bad}, headers={CSRF_HEADER: csrf})
        assert refused.status_code == 400 and "\n" not in refused.json()["error"], bad
    assert len(client.get("/api/mixes").json()["mixes"][0]["jobs"]) == 1  # the good suggestion's only


def test_the_users_library_chooses_the_references(tmp_path, monkeypatch):
    # "Match toward my library": the k nearest profiles of the per-user library (XDG), here
    # one made of the reference. (The studio starts after XDG_DATA_HOME is set: its workers
    # are processes of their own, with the environment they were started with.)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    from matcher.library.store import default_library_dir

    default_library_dir().parent.mkdir(parents=True)
    made = CliRunner().invoke(cli, ["library", "add", str(REF), "--library", str(default_library_dir())])
    assert made.exit_code == 0, made.output
    with TestClient(create_app(StudioConfig(tmp_path / "data", workers=1)), base_url=LOCAL) as client:
        csrf = _csrf(client)
        mix_id = _upload(client, "/api/mixes", "mix.flac", MIX.read_bytes(), csrf).json()["id"]
        asked = client.post(f"/api/mixes/{mix_id}/suggestions", json={"options": {"my_library": True, "k": 1}},
                            headers={CSRF_HEADER: csrf})
        assert asked.status_code == 202, asked.text
        assert _follow(client, asked.json()["job"])["state"] == "done"
        figures = client.get("/api/mixes").json()["mixes"][0]["suggestion"]["figures"]
    assert figures["references"] == ["reference"]


def test_a_newer_suggestion_supersedes_the_queued_ones_and_a_missing_session_is_not_quick(tmp_path):
    # Sliders moved again and again: of the suggestions still waiting, only the newest runs.
    config = StudioConfig(tmp_path / "data", workers=1)
    with TestClient(create_app(config), base_url=LOCAL) as client:
        csrf = _csrf(client)
        mix_id = _upload(client, "/api/mixes", "mix.flac", MIX.read_bytes(), csrf).json()["id"]
        jobs = [client.post(f"/api/mixes/{mix_id}/suggestions", json={"options": {"amount": {"eq": eq}}},
                            headers={CSRF_HEADER: csrf}).json()["job"] for eq in (10, 20, 30, 40)]
        last = _follow(client, jobs[-1])
        ended = [_follow(client, job) for job in jobs[:-1]]
        assert last["state"] == "done"
        superseded = [e for e in ended if e["state"] == "failed"]
        assert superseded and all(e["error"] == "superseded by a newer suggestion" for e in superseded)
        newest = client.get("/api/mixes").json()["mixes"][0]["suggestion"]
        assert newest["options"]["amount"]["eq"] == 40
        # A suggestion whose kept session is gone is not heard quickly, and says so.
        for kept in (config.data / "files").glob(f"{newest['id']}.session.json"):
            kept.unlink()
        gone = client.post(f"/api/mixes/{mix_id}/quick", json={"suggestion": newest["id"], "options": {}},
                           headers={CSRF_HEADER: csrf})
        assert gone.status_code == 409


def test_a_file_that_is_not_audio_is_refused_in_one_line_and_not_kept(studio):
    client, config, csrf = studio
    refused = _upload(client, "/api/mixes", "notes.wav", b"this is not a RIFF file" * 100, csrf)
    assert refused.status_code == 400
    message = refused.json()["error"]
    assert message.startswith("notes.wav: ") and "\n" not in message and str(config.data) not in message
    assert _upload(client, "/api/mixes", "program.exe", b"MZ", csrf).status_code == 400
    assert list((config.data / "files").iterdir()) == []
    assert client.get("/api/mixes").json()["mixes"] == []


def test_an_upload_over_the_limit_is_refused_and_not_kept(tmp_path):
    config = StudioConfig(tmp_path / "data", workers=1, max_upload_bytes=100_000)
    with TestClient(create_app(config), base_url=LOCAL) as client:
        refused = _upload(client, "/api/mixes", "mix.flac", MIX.read_bytes(), _csrf(client))
        assert refused.status_code == 413 and "upload limit" in refused.json()["error"]
        assert list((config.data / "files").iterdir()) == []


def test_changes_need_the_pages_csrf_token_and_the_same_origin(studio):
    client, _, csrf = studio
    assert client.post("/api/mixes", params={"name": "m.flac"}, content=MIX.read_bytes()).status_code == 403
    wrong = client.post("/api/mixes", params={"name": "m.flac"}, content=b"x", headers={CSRF_HEADER: "guess"})
    assert wrong.status_code == 403
    foreign = client.post("/api/mixes", params={"name": "m.flac"}, content=MIX.read_bytes(),
                          headers={CSRF_HEADER: csrf, "origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert client.get("/api/mixes").json()["mixes"] == []


def test_without_a_token_only_localhost_is_served(studio):
    # A page of another site whose name resolves to 127.0.0.1 (DNS rebinding) sends its own
    # Host: refused, so it cannot read the CSRF token from the studio's page.
    client, _, csrf = studio
    assert client.get("/", headers={"host": "evil.example:8000"}).status_code == 403
    assert client.get("/api/mixes", headers={"host": "rebind.attacker.test"}).status_code == 403
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "localhost"):
        assert client.get("/api/mixes", headers={"host": host}).status_code == 200, host
    mix_id = _upload(client, "/api/mixes", "mix.flac", MIX.read_bytes(), csrf).json()["id"]
    big = client.post(f"/api/mixes/{mix_id}/suggestions", content=b"{" + b" " * 100_000 + b"}",
                      headers={CSRF_HEADER: csrf})
    assert big.status_code == 413


def test_every_page_forbids_inline_and_foreign_scripts(studio):
    client, _, _ = studio
    for url in ("/", "/static/studio.js", "/api/mixes", "/api/mixes/nothing/versions"):
        policy = client.get(url).headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert client.get("/static/../studio.sqlite3").status_code == 404


def _check_listen(client: TestClient, mix: dict, report: str) -> None:
    """The studio's players and plots: each excerpt's file is what its listing says (its
    loudness on pyloudnorm, its equal-loudness gain); the exact "after" is the report page's
    own, and the draft's; the curves are there."""
    import base64
    import io

    import numpy as np
    import pyloudnorm

    listen = mix["listen"]
    assert listen["suggestion"] == mix["suggestion"]["id"] and listen["stage"] == "exact"
    assert "curves" not in listen  # the listing stays small
    heard = {}
    assert set(listen["clips"]) == {"before", "after", "reference"}
    for stage in ("draft", "exact"):
        for label in listen["clips"]:
            got = client.get(f"/api/suggestions/{listen['suggestion']}/clips/{stage}-{label}")
            assert got.status_code == 200 and got.headers["content-type"] == "audio/flac"
            heard[stage, label] = got.content
    for label, clip in listen["clips"].items():
        audio, rate = sf.read(io.BytesIO(heard["exact", label]), always_2d=True)
        assert pyloudnorm.Meter(rate).integrated_loudness(audio) == pytest.approx(clip["lufs"], abs=0.1)
        assert clip["gain_db"] == pytest.approx(listen["common_lufs"] - clip["lufs"], abs=1e-6)
    page_after = re.search(r'id="audio-after"[^>]*src="data:audio/flac;base64,([^"]+)"', report).group(1)
    assert heard["exact", "after"] == base64.b64decode(page_after)
    draft, rate = sf.read(io.BytesIO(heard["draft", "after"]), always_2d=True)
    exact, _ = sf.read(io.BytesIO(heard["exact", "after"]), always_2d=True)
    # This mix is shorter than an excerpt: the draft's span is the whole mix, planned whole,
    # so the draft is the exact excerpt (a longer mix's: tests/test_preview_build.py).
    assert np.array_equal(draft, exact)
    curves = client.get(f"/api/suggestions/{listen['suggestion']}/curves").json()
    assert curves["stage"] == "exact" and set(curves["curves"]["tonal"]) == {"mix", "reference", "result"}
    assert client.get(f"/api/suggestions/{listen['suggestion']}/clips/exact-mix").status_code == 404


@pytest.mark.parametrize("url", [
    "/api/suggestions/0123456789abcdef0123456789abcdef/clips/..%2F..%2Fstudio.sqlite3",
    "/api/suggestions/0123456789abcdef0123456789abcdef/clips/exact-..%2Fx",
    "/api/suggestions/0123456789abcdef0123456789abcdef/clips/quick-..%2F..%2Fstudio.sqlite3",
    "/api/suggestions/0123456789abcdef0123456789abcdef/clips/quick-0123456789abcdef0123456789abcdef",
    "/api/suggestions/..%2Fx/clips/exact-after",
    "/api/suggestions/0123456789abcdef0123456789abcdef/clips/exact-after",
    "/api/suggestions/%2e%2e/curves",
    "/api/versions/..%2Fstudio.sqlite3/download",
    "/api/versions/../../etc/passwd/download",
    "/api/suggestions/%2e%2e/report",
    "/api/jobs/..%2F..%2Fx/events",
    "/api/versions/0123456789abcdef0123456789abcdef/download",
    "/static/..%2Fapp.py",
])
def test_path_traversal_in_every_parameter_is_refused(studio, url):
    client, _, _ = studio
    assert client.get(url).status_code == 404


def test_a_hostile_file_name_stays_text(studio):
    client, _, csrf = studio
    hostile = '<img src=x onerror="alert(1)">.flac'
    made = _upload(client, "/api/mixes", hostile, MIX.read_bytes(), csrf)
    assert made.status_code == 201
    assert client.get("/api/mixes").json()["mixes"][0]["name"] == hostile  # JSON, shown with textContent
    assert hostile not in client.get("/").text
    # On a report page it is escaped.
    asked = client.post(f"/api/mixes/{made.json()['id']}/suggestions", json={}, headers={CSRF_HEADER: csrf})
    assert _follow(client, asked.json()["job"])["state"] == "done"
    suggestion = client.get("/api/mixes").json()["mixes"][0]["suggestion"]["id"]
    page = client.get(f"/api/suggestions/{suggestion}/report").text
    assert hostile not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.flac" in page
    assert display_name("../../etc/passwd") == "passwd" and display_name("a\x00b\nc.wav") == "abc.wav"


def test_beyond_loopback_every_request_needs_the_token(tmp_path):
    config = StudioConfig(tmp_path / "data", token="s3cret-token", workers=1)
    with TestClient(create_app(config), base_url=LOCAL) as client:
        assert client.get("/").status_code == 401
        assert client.get("/api/mixes").status_code == 401
        assert client.get("/", params={"token": "wrong"}).status_code == 401
        opened = client.get("/", params={"token": "s3cret-token"})
        assert opened.status_code == 200
        assert client.get("/api/mixes").status_code == 200  # the cookie set by the first visit


def test_a_job_running_when_the_server_stopped_is_run_after_a_restart(tmp_path):
    # The server stopped in the middle of a suggestion: the job is still "running" in the
    # database. The next start queues it again and it completes.
    data = tmp_path / "data"
    config = StudioConfig(data, workers=1)
    with TestClient(create_app(config), base_url=LOCAL) as client:
        csrf = _csrf(client)
        mix_id = _upload(client, "/api/mixes", "mix.flac", MIX.read_bytes(), csrf).json()["id"]
        _upload(client, f"/api/mixes/{mix_id}/references", "ref.flac", REF.read_bytes(), csrf)
    store = Store(data)
    suggestion = new_id()
    store.add_suggestion(suggestion, mix_id, {})
    job = store.add_job("suggest", mix_id, suggestion)
    assert store.next_queued().state == RUNNING and store.job(job).state == RUNNING
    with TestClient(create_app(config), base_url=LOCAL) as client:
        assert _follow(client, job)["state"] == DONE
    assert store.suggestion(suggestion)["settings"]
    assert store.job(job).state == DONE


# --- under load, and a real restart --------------------------------------------------------


class _Served:
    """The studio served by uvicorn on a loopback port, in a thread."""

    def __init__(self, config: StudioConfig):
        import socket
        import threading

        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the studio did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def _csrf_at(url: str) -> str:
    import httpx

    return re.search(r'<meta name="csrf" content="([^"]+)"', httpx.get(url + "/").text).group(1)


def _short_mix(seconds: float, seed: int) -> bytes:
    import io

    import signals

    buffer = io.BytesIO()
    sf.write(buffer, 0.3 * signals.drum_loop(seconds, 44100, seed=seed), 44100, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def test_twenty_uploads_and_suggestions_at_once_all_complete(tmp_path):
    # 20 clients at once on loopback, each uploading a mix and asking for its suggestion,
    # while another keeps reading the mix list: every one completes, none is lost, and the
    # list answers throughout.
    import asyncio

    import httpx

    pytest.importorskip("uvicorn")
    config = StudioConfig(tmp_path / "data", workers=2)
    with _Served(config) as url:
        headers = {CSRF_HEADER: _csrf_at(url)}

        async def one(client: httpx.AsyncClient, k: int) -> str:
            made = await client.post("/api/mixes", params={"name": f"mix {k}.flac"}, content=_short_mix(4.0, k),
                                     headers=headers)
            assert made.status_code == 201, made.text
            asked = await client.post(f"/api/mixes/{made.json()['id']}/suggestions",
                                      json={"options": {"lufs": -12 - k % 3}}, headers=headers)
            assert asked.status_code == 202, asked.text
            async with client.stream("GET", f"/api/jobs/{asked.json()['job']}/events") as events:
                async for line in events.aiter_lines():
                    if line.startswith("data: ") and json.loads(line[6:])["state"] in ("done", "failed"):
                        return json.loads(line[6:])["state"]
            return "lost"

        async def reader(client: httpx.AsyncClient, stop: asyncio.Event) -> int:
            answered = 0
            while not stop.is_set():
                assert (await client.get("/api/mixes")).status_code == 200
                answered += 1
                await asyncio.sleep(0.1)
            return answered

        async def load() -> tuple[list[str], int]:
            async with httpx.AsyncClient(base_url=url, timeout=300) as client:
                stop = asyncio.Event()
                reading = asyncio.create_task(reader(client, stop))
                states = await asyncio.gather(*(one(client, k) for k in range(20)))
                stop.set()
                return states, await reading

        states, answered = asyncio.run(load())
    assert states == ["done"] * 20
    assert answered >= 10
    store = Store(config.data)
    mixes = store.mixes()
    assert sorted(m["name"] for m in mixes) == sorted(f"mix {k}.flac" for k in range(20))
    for mix in mixes:
        suggestion = store.latest_suggestion(mix["id"])
        wanted = json.loads(suggestion["options"])["lufs"]
        assert json.loads(suggestion["figures"])["lufs"] == pytest.approx(wanted, abs=0.5)


def test_a_restart_in_the_middle_of_a_render_loses_nothing(tmp_path):
    import time

    import httpx

    pytest.importorskip("uvicorn")
    config = StudioConfig(tmp_path / "data", workers=1)
    with _Served(config) as url:
        headers = {CSRF_HEADER: _csrf_at(url)}
        mix_id = httpx.post(url + "/api/mixes", params={"name": "long.flac"}, content=_short_mix(60.0, 7),
                            headers=headers).json()["id"]
        asked = httpx.post(f"{url}/api/mixes/{mix_id}/suggestions", json={}, headers=headers).json()
        store = Store(config.data)
        while store.job(asked["job"]).state not in ("done", "failed"):
            time.sleep(0.1)
        suggestion = store.latest_suggestion(mix_id)["id"]
        made = httpx.post(f"{url}/api/mixes/{mix_id}/versions", json={"suggestion": suggestion}, headers=headers).json()
        while store.job(made["job"]).state != RUNNING:
            time.sleep(0.02)
    # Stopped while the render ran: the job is still "running", and no master was kept.
    assert store.job(made["job"]).state == RUNNING
    assert store.version(made["version"])["file"] is None
    with _Served(config) as url:
        while store.job(made["job"]).state not in ("done", "failed"):
            time.sleep(0.1)
        assert store.job(made["job"]).state == DONE
        downloaded = httpx.get(f"{url}/api/versions/{made['version']}/download")
    assert downloaded.status_code == 200 and len(downloaded.content) > 1_000_000
    # The mix, the suggestion's report, session and excerpts, and the one master: nothing unfinished.
    names = [p.name for p in (config.data / "files").iterdir()]
    clips = sorted(n for n in names if n.startswith(f"{suggestion}.") and n.endswith(".flac"))
    assert clips == [f"{suggestion}.before.flac", f"{suggestion}.draft-after.flac", f"{suggestion}.exact-after.flac"]
    assert sorted(Path(n).suffix for n in names if n not in clips) == [".flac", ".html", ".json", ".npz", ".wav"]


def test_a_moved_amount_is_heard_from_the_kept_plan_and_the_suggestion_follows(studio):
    # The quick excerpt: with the suggestion's own options it is the report's "after" clip,
    # sample for sample; with the EQ amount moved it is close to the exact suggestion's
    # (the kept plan was solved for the settings before), and options that change the plan's
    # aim wait for the suggestion.
    import base64
    import io

    import numpy as np

    client, config, csrf = studio
    mix_id = _upload(client, "/api/mixes", "mix.flac", MIX.read_bytes(), csrf).json()["id"]
    _upload(client, f"/api/mixes/{mix_id}/references", "ref.flac", REF.read_bytes(), csrf)
    options = {"amount": {"eq": 100, "dynamics": 100, "width": 100}, "ceiling_dbtp": -1}

    def suggestion(opts: dict) -> str:
        asked = client.post(f"/api/mixes/{mix_id}/suggestions", json={"options": opts}, headers={CSRF_HEADER: csrf})
        assert _follow(client, asked.json()["job"])["state"] == "done"
        return client.get("/api/mixes").json()["mixes"][0]["suggestion"]["id"]

    def clip(uri: str) -> np.ndarray:
        if uri.startswith("data:"):  # the report's
            return sf.read(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), always_2d=True)[0]
        got = client.get(uri)  # a quick excerpt's file
        assert got.status_code == 200 and got.headers["content-type"] == "audio/flac"
        return sf.read(io.BytesIO(got.content), always_2d=True)[0]

    def page_after(suggestion_id: str) -> np.ndarray:
        page = client.get(f"/api/suggestions/{suggestion_id}/report").text
        return clip(re.search(r'id="audio-after"[^>]*src="(data:audio/flac;base64,[^"]+)"', page).group(1))

    base = suggestion(options)
    same = client.post(f"/api/mixes/{mix_id}/quick", json={"suggestion": base, "options": options},
                       headers={CSRF_HEADER: csrf})
    assert same.status_code == 200, same.text
    assert np.array_equal(clip(same.json()["after"]), page_after(base))
    moved = {**options, "amount": {"eq": 20, "dynamics": 100, "width": 100}}
    heard = client.post(f"/api/mixes/{mix_id}/quick", json={"suggestion": base, "options": moved},
                        headers={CSRF_HEADER: csrf}).json()
    quick, exact = clip(heard["after"]), page_after(suggestion(moved))
    assert not np.array_equal(quick, clip(same.json()["after"]))  # the EQ moved
    gain = float(np.sum(quick * exact) / np.sum(quick * quick))
    residual = exact - gain * quick
    assert abs(20 * np.log10(gain)) < 1.0
    assert 10 * np.log10(np.sum(residual**2) / np.sum(exact**2)) < -20
    # Its curves are those of what is heard: the master's tonal curve measured on the clip,
    # the EQ the exact suggestion applies.
    from matcher import analyze
    from matcher.preview.plots import tonal_curve_db

    measured = tonal_curve_db(analyze(quick, 44100))
    drawn = np.array([np.nan if v is None else v for v in heard["curves"]["tonal"]["result"]["db"]])
    ok = np.isfinite(measured) & np.isfinite(drawn)
    assert ok.sum() > 20 and np.max(np.abs(measured[ok] - drawn[ok])) < 0.2
    exact_eq = client.get("/api/mixes").json()["mixes"][0]["settings"]["settings"]["eq"]
    assert heard["curves"]["eq"]["amount"] == exact_eq["amount"] == 0.2
    eq = dict(zip(heard["curves"]["eq"]["freqs_hz"], heard["curves"]["eq"]["db"]))
    for freq, gain in zip(exact_eq["band_centers_hz"], exact_eq["gain_db"]):
        assert eq[round(freq, 2)] == pytest.approx(gain * 0.2, abs=0.01)
    # A suggestion keeps its newest few quick excerpts, no more.
    for eq in (30, 40, 50, 60, 70):
        client.post(f"/api/mixes/{mix_id}/quick", json={"suggestion": base, "options": {**options, "amount": {"eq": eq}}},
                    headers={CSRF_HEADER: csrf})
    assert client.get(same.json()["after"]).status_code == 404
    assert len(list((config.data / "files").glob(f"{base}.quick-*.flac"))) == 4
    # The loudness and the ceiling moved: the excerpt planned on its own, aimed where the
    # suggestion's was moved as the target is: as loud as the exact suggestion's within
    # 0.5 LU (pyloudnorm), close to it, under the new ceiling.
    import pyloudnorm

    aimed_options = {**options, "lufs": -10.0, "ceiling_dbtp": -3.0}
    aimed = client.post(f"/api/mixes/{mix_id}/quick", json={"suggestion": base, "options": aimed_options},
                        headers={CSRF_HEADER: csrf})
    assert aimed.status_code == 200, aimed.text
    assert aimed.json()["draft"]
    drafted, exact = clip(aimed.json()["after"]), page_after(suggestion(aimed_options))
    meter = pyloudnorm.Meter(44100)
    assert abs(meter.integrated_loudness(drafted) - meter.integrated_loudness(exact)) < 0.5
    gain = float(np.sum(drafted * exact) / np.sum(drafted * drafted))
    assert 10 * np.log10(np.sum((exact - gain * drafted) ** 2) / np.sum(exact**2)) < -20
    assert 20 * np.log10(np.max(np.abs(drafted))) <= -3.0 + 0.01
    # Other references, or a style: the suggestion follows.
    styled = client.post(f"/api/mixes/{mix_id}/quick", json={"suggestion": base, "options": {**options, "style": "x"}},
                         headers={CSRF_HEADER: csrf})
    assert styled.status_code == 409


def test_a_database_of_an_earlier_schema_is_brought_up_to_date(tmp_path):
    # A studio data folder made by the first version (before excerpts and versions' options
    # were kept): it opens, its rows are kept, and the tables gain their columns; a newer one
    # is refused.
    import sqlite3

    root = tmp_path / "data"
    root.mkdir()
    with sqlite3.connect(root / "studio.sqlite3") as db:
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO meta VALUES ('schema_version', '1');"
            "CREATE TABLE suggestions (id TEXT PRIMARY KEY, mix_id TEXT NOT NULL, created REAL NOT NULL,"
            " options TEXT NOT NULL, settings TEXT, report TEXT, figures TEXT);"
            "INSERT INTO suggestions VALUES ('0123456789abcdef0123456789abcdef', 'm', 1.0, '{}', NULL, NULL, NULL);"
            "CREATE TABLE versions (id TEXT PRIMARY KEY, mix_id TEXT NOT NULL, number INTEGER NOT NULL,"
            " created REAL NOT NULL, settings TEXT NOT NULL, format TEXT NOT NULL, file TEXT, figures TEXT);"
            "INSERT INTO versions VALUES ('1123456789abcdef0123456789abcdef', 'm', 1, 1.0, '{}', 'wav', 'v.wav', NULL);"
        )
    store = Store(root)
    assert store.versions("m")[0]["file"] == "v.wav" and store.versions("m")[0]["options"] is None
    assert store.add_version("2123456789abcdef0123456789abcdef", "m", "{}", "flac", '{"lufs": -9}') == 2
    store.set_listen("0123456789abcdef0123456789abcdef", {"stage": "draft"})
    assert json.loads(store.suggestion("0123456789abcdef0123456789abcdef")["listen"]) == {"stage": "draft"}
    with sqlite3.connect(root / "studio.sqlite3") as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "3"
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(RuntimeError, match="schema 99"):
        Store(root)


def test_a_moved_loudness_on_a_long_mix_is_heard_as_the_suggestion_will_sound(studio):
    # A mix whose loud middle is well above its whole loudness: the quick excerpt of a
    # lower target is aimed as far above it as the suggestion's excerpt was above its whole
    # master, and is as loud as the exact suggestion's within 0.5 LU (pyloudnorm).
    import io

    import numpy as np

    import signals

    rate = 44100
    quiet = 0.1 * signals.drum_loop(20.0, rate, seed=6)
    loud = 0.35 * signals.drum_loop(30.0, rate, seed=7) + signals.pink_noise(30.0, rate, 0.05, seed=8)
    buffer = io.BytesIO()
    sf.write(buffer, np.concatenate([quiet, loud, quiet[: 15 * rate]]), rate, format="FLAC", subtype="PCM_24")
    client, _, csrf = studio
    mix_id = _upload(client, "/api/mixes", "long.flac", buffer.getvalue(), csrf).json()["id"]
    _upload(client, f"/api/mixes/{mix_id}/references", "ref.flac", REF.read_bytes(), csrf)

    base, _ = _suggested(client, csrf, mix_id, {"lufs": -11.0})
    assert abs(_quick_over_exact_lu(client, csrf, mix_id, base["id"], {"lufs": -14.0}, rate)) < 0.5


def test_a_moved_loudness_from_a_target_out_of_reach_is_aimed_at_the_new_one(studio):
    # A peaky mono 48 kHz drum loop asked for -7 LUFS stops short of it (the distortion
    # budget); moved to -14 LUFS, its quick excerpt is aimed at -14 plus how far its excerpt
    # was above its whole master, not at where it stopped moved by 7 dB: as loud as the exact
    # suggestion's within 0.5 LU.
    import io

    import signals

    rate = 48000
    buffer = io.BytesIO()
    sf.write(buffer, 0.3 * signals.drum_loop(40.0, rate, seed=3)[:, :1], rate, format="WAV", subtype="PCM_24")
    client, _, csrf = studio
    mix_id = _upload(client, "/api/mixes", "peaky.wav", buffer.getvalue(), csrf).json()["id"]

    base, _ = _suggested(client, csrf, mix_id, {"lufs": -7.0})
    assert not base["figures"]["target_reached"]
    assert abs(_quick_over_exact_lu(client, csrf, mix_id, base["id"], {"lufs": -14.0}, rate)) < 0.5
    # A suggestion at another rate (the CD preset: 44.1 kHz): its kept plan is the master's,
    # and a quick excerpt of its own options is its report's excerpt, sample for sample.
    import numpy as np

    cd, exact = _suggested(client, csrf, mix_id, {"target": "cd"})
    heard = client.post(f"/api/mixes/{mix_id}/quick", json={"suggestion": cd["id"], "options": {"target": "cd"}},
                        headers={CSRF_HEADER: csrf}).json()
    got = client.get(heard["after"]).content
    assert sf.info(io.BytesIO(got)).samplerate == 44100
    assert np.array_equal(_audio(got), exact)


def _suggested(client: TestClient, csrf: str, mix_id: str, options: dict):
    """A new suggestion of the mix, finished: its listing and its exact "after" excerpt."""
    asked = client.post(f"/api/mixes/{mix_id}/suggestions", json={"options": options}, headers={CSRF_HEADER: csrf})
    assert _follow(client, asked.json()["job"])["state"] == "done"
    made = client.get("/api/mixes").json()["mixes"][0]["suggestion"]
    return made, _audio(client.get(f"/api/suggestions/{made['id']}/clips/exact-after").content)


def _quick_over_exact_lu(client: TestClient, csrf: str, mix_id: str, base_id: str, options: dict, rate: int) -> float:
    """How much louder (LU, pyloudnorm) the quick excerpt of ``options`` from suggestion
    ``base_id`` is than the exact suggestion's of them; the quick one must be a draft."""
    import pyloudnorm

    heard = client.post(f"/api/mixes/{mix_id}/quick", json={"suggestion": base_id, "options": options},
                        headers={CSRF_HEADER: csrf}).json()
    assert heard["draft"]
    quick = _audio(client.get(heard["after"]).content)
    _, exact = _suggested(client, csrf, mix_id, options)
    meter = pyloudnorm.Meter(rate)
    return meter.integrated_loudness(quick) - meter.integrated_loudness(exact)


def _audio(data: bytes):
    import io

    return sf.read(io.BytesIO(data), always_2d=True)[0]
