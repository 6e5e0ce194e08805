"""The web studio (``automaster serve``, issue 18): its API as the page uses it, through
Starlette's test client with the real job runner (worker processes), and its security.

The end-to-end browser test and the load test are not written yet (see the issue's note).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

import soundfile as sf  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from matcher.cli.app import app as cli  # noqa: E402
from matcher.studio.app import CSRF_HEADER, StudioConfig, create_app, display_name  # noqa: E402
from matcher.studio.store import DONE, RUNNING, Store, new_id  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MIX = ROOT / "examples" / "mix.flac"
REF = ROOT / "examples" / "reference.flac"


def _csrf(client: TestClient) -> str:
    page = client.get("/")
    assert page.status_code == 200
    return re.search(r'<meta name="csrf" content="([^"]+)"', page.text).group(1)


def _upload(client: TestClient, url: str, name: str, body: bytes, csrf: str):
    return client.post(url, params={"name": name}, content=body, headers={CSRF_HEADER: csrf})


def _follow(client: TestClient, job: str) -> dict:
    """The job's events until it ends; the last one."""
    last = None
    with client.stream("GET", f"/api/jobs/{job}/events") as events:
        for line in events.iter_lines():
            if line.startswith("data: "):
                last = json.loads(line[6:])
                if last["state"] in ("done", "failed"):
                    break
    return last


@pytest.fixture
def studio(tmp_path):
    config = StudioConfig(tmp_path / "data", workers=1)
    with TestClient(create_app(config)) as client:
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
    assert _follow(client, asked.json()["job"])["state"] == "done"
    listed = client.get("/api/mixes").json()["mixes"]
    assert [m["name"] for m in listed] == ["my mix.flac"] and listed[0]["references"][0]["name"] == "ref.flac"
    suggestion = listed[0]["suggestion"]
    assert suggestion["figures"]["lufs"] == pytest.approx(-12.0, abs=0.5)
    report = client.get(f"/api/suggestions/{suggestion['id']}/report")
    assert report.status_code == 200 and "<svg" in report.text
    assert "my mix.flac" in report.text and "ref.flac" in report.text  # the names given, not the stored ones
    assert mix_id not in report.text
    assert "frame-ancestors 'self'" in report.headers["content-security-policy"]
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
                {"unknown": 1}):
        refused = client.post(f"/api/mixes/{mix_id}/suggestions", json={"options": bad}, headers={CSRF_HEADER: csrf})
        assert refused.status_code == 400 and "\n" not in refused.json()["error"], bad
    assert len(client.get("/api/mixes").json()["mixes"][0]["jobs"]) == 1  # the good suggestion's only


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
    with TestClient(create_app(config)) as client:
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


def test_every_page_forbids_inline_and_foreign_scripts(studio):
    client, _, _ = studio
    for url in ("/", "/static/studio.js", "/api/mixes", "/api/mixes/nothing/versions"):
        policy = client.get(url).headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert client.get("/static/../studio.sqlite3").status_code == 404


@pytest.mark.parametrize("url", [
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
    with TestClient(create_app(config)) as client:
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
    with TestClient(create_app(config)) as client:
        csrf = _csrf(client)
        mix_id = _upload(client, "/api/mixes", "mix.flac", MIX.read_bytes(), csrf).json()["id"]
        _upload(client, f"/api/mixes/{mix_id}/references", "ref.flac", REF.read_bytes(), csrf)
    store = Store(data)
    suggestion = new_id()
    store.add_suggestion(suggestion, mix_id, {})
    job = store.add_job("suggest", mix_id, suggestion)
    assert store.next_queued().state == RUNNING and store.job(job).state == RUNNING
    with TestClient(create_app(config)) as client:
        assert _follow(client, job)["state"] == DONE
    assert store.suggestion(suggestion)["settings"]
    assert store.job(job).state == DONE
