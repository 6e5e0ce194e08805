"""The web studio as a person uses it: headless Chromium (Selenium) against ``automaster
serve``'s application on a loopback port (uvicorn in a thread, the real job runner).

Upload a mix and a reference, see the suggestion's settings, hear its excerpts and see its
curves in the studio's own players and plots, move the EQ amount and hear the new "after"
excerpt with new curves, lower the loudness target and hear its draft, switch A/B at equal
loudness and at real levels, render, download, and compare the file with ``automaster
render`` of the version's settings (sha256), play the version, and go back to its settings.
A screenshot is kept in ``test-artifacts/studio.png``. Skipped without the browser, except under CI.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from test_preview_browser import ARTIFACTS, WAIT_S, _severe, _states, _wait_playing, driver  # noqa: F401

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from typer.testing import CliRunner

from matcher.cli.app import app as cli
from matcher.studio.app import StudioConfig, create_app

ROOT = Path(__file__).resolve().parent.parent
MIX = ROOT / "examples" / "mix.flac"
REF = ROOT / "examples" / "reference.flac"
JOB_WAIT_S = 120.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The studio on a free loopback port; its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(StudioConfig(tmp_path_factory.mktemp("studio"), workers=1)),
                            host="127.0.0.1", port=port, log_level="warning")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not served.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the studio did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        thread.join(timeout=10)


def _report_src(browser) -> str | None:
    frame = browser.find_element(By.ID, "report")
    return frame.get_attribute("src") if frame.is_displayed() else None


def _settled(server: str, jobs: int) -> dict:
    """The mix once it has ``jobs`` jobs and none is queued or running (the page queues one
    on the mix's upload, one on the reference's, one per moved control)."""
    deadline = time.monotonic() + JOB_WAIT_S
    while time.monotonic() < deadline:
        mix = httpx.get(f"{server}/api/mixes").json()["mixes"][0]
        if len(mix["jobs"]) >= jobs and all(j["state"] in ("done", "failed") for j in mix["jobs"]):
            return mix
        time.sleep(0.2)
    raise AssertionError("the studio's jobs did not end")


def _showing(browser, suggestion: str) -> bool:
    """The page's frame shows that suggestion's report, loaded."""
    return _report_src(browser) is not None and _report_src(browser).endswith(f"/api/suggestions/{suggestion}/report") \
        and _report_loaded(browser)


def _report_loaded(browser) -> bool:
    """The frame shows the report its src names, loaded (not the one before it)."""
    src = _report_src(browser)
    return src is not None and _in_report(
        browser, "return document.readyState === 'complete' ? location.href : ''"
    ) == src


def _src(browser, element_id: str) -> str:
    return browser.execute_script(f"return document.getElementById('{element_id}').getAttribute('src') || ''")


def _drawn(browser) -> set[str]:
    """The tracks drawn on the page's tonal plot."""
    return set(browser.execute_script(
        "return [...document.querySelectorAll('#plot-tonal path')].map((p) => p.getAttribute('data-name'))"))


def _in_report(browser, script: str):
    browser.switch_to.frame(browser.find_element(By.ID, "report"))
    try:
        return browser.execute_script(script)
    finally:
        browser.switch_to.default_content()


def test_a_person_uploads_listens_changes_renders_and_downloads(server, driver, tmp_path):  # noqa: F811
    browser = driver
    browser.get(server + "/")
    wait = WebDriverWait(browser, JOB_WAIT_S)
    browser.find_element(By.ID, "mix-file").send_keys(str(MIX))
    wait.until(lambda b: b.find_element(By.ID, "mix-title").text == "mix.flac")
    browser.find_element(By.ID, "ref-file").send_keys(str(REF))
    wait.until(lambda b: "reference.flac" in b.find_element(By.ID, "references").text)
    # The suggestion made after the reference came: its report, with the settings.
    mix = _settled(server, 2)
    assert mix["jobs"][-1]["state"] == "done"
    assert all(j["state"] == "done" or j["error"] == "superseded by a newer suggestion" for j in mix["jobs"])
    first = mix["suggestion"]["id"]
    wait.until(lambda b: _showing(b, first))
    assert "reference.flac" in _in_report(browser, "return document.body.textContent")
    summary = browser.find_element(By.ID, "settings-summary").text
    assert "EQ" in summary and "largest cut" in summary and "Ceiling" in summary
    assert _in_report(browser, "return document.querySelectorAll('#table-settings tr').length") >= 4
    # The studio's own players hold the suggestion's excerpts, and its plots are drawn.
    wait.until(lambda b: b.execute_script("return document.body.dataset.listen || ''") == f"{first}/exact")
    after_before = _src(browser, "clip-after")
    assert after_before.endswith(f"/api/suggestions/{first}/clips/exact-after")
    # (the draft's mix and reference excerpts stay: the same samples)
    assert re.search(f"/api/suggestions/{first}/clips/(draft|exact)-reference$", _src(browser, "clip-reference"))
    wait.until(lambda b: _drawn(b) == {"mix", "reference", "result"})

    # Move the EQ amount: at once the quick excerpt through the kept plan, and new plots.
    drawn = browser.execute_script("return document.body.dataset.drawn")
    browser.execute_script(
        "const s = document.getElementById('eq'); s.value = 20;"
        "s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));"
    )
    wait.until(lambda b: b.execute_script("return document.body.dataset.quick || ''"))
    assert re.search(f"/api/suggestions/{first}/clips/quick-[0-9a-f]{{32}}$", _src(browser, "clip-after"))
    assert browser.execute_script("return document.body.dataset.drawn") != drawn
    assert "x 0.20" in browser.execute_script("return document.getElementById('plot-eq').textContent")
    # Then the exact suggestion: its report and its excerpts.
    wait.until(lambda b: httpx.get(f"{server}/api/mixes").json()["mixes"][0]["suggestion"]["id"] != first)
    mix = _settled(server, 3)
    assert mix["suggestion"]["options"]["amount"]["eq"] == 20
    second = mix["suggestion"]["id"]
    wait.until(lambda b: _showing(b, second))
    wait.until(lambda b: _src(b, "clip-after").endswith(f"/api/suggestions/{second}/clips/exact-after"))
    assert browser.find_element(By.ID, "eq-value").text == "20 %"

    # A lower loudness target: at once a draft of the excerpt, planned on its own; then the
    # exact suggestion.
    quick_at = browser.execute_script("return document.body.dataset.quick")
    browser.execute_script(
        "const f = document.getElementById('lufs'); f.value = '-14';"
        "f.dispatchEvent(new Event('change'));"
    )
    wait.until(lambda b: b.execute_script("return document.body.dataset.quick") != quick_at)
    assert "draft" in browser.find_element(By.ID, "listen-state").text
    assert re.search(f"/api/suggestions/{second}/clips/quick-[0-9a-f]{{32}}$", _src(browser, "clip-after"))
    wait.until(lambda b: httpx.get(f"{server}/api/mixes").json()["mixes"][0]["suggestion"]["id"] != second)
    mix = _settled(server, 4)
    assert mix["suggestion"]["options"]["lufs"] == -14
    assert mix["suggestion"]["figures"]["lufs"] == pytest.approx(-14.0, abs=0.5)
    third = mix["suggestion"]["id"]
    wait.until(lambda b: _src(b, "clip-after").endswith(f"/api/suggestions/{third}/clips/exact-after"))

    # A/B at equal loudness, keeping the position; then at real levels.
    browser.find_element(By.ID, "play").click()
    before = _wait_playing(browser, "clip-before", after_s=0.3)
    browser.find_element(By.ID, "hear-after").click()
    after = _wait_playing(browser, "clip-after")
    states = _states(browser)
    assert states["clip-before"]["paused"] and after["time"] >= before["time"]
    gain_db = mix["listen"]["clips"]["after"]["gain_db"]
    assert abs(states["clip-after"]["volume"] - min(1.0, 10 ** (gain_db / 20))) < 1e-3
    browser.find_element(By.ID, "equal-loudness").click()
    assert _states(browser)["clip-after"]["volume"] == 1.0
    browser.find_element(By.ID, "hear-reference").click()
    _wait_playing(browser, "clip-reference")
    browser.find_element(By.ID, "play").click()
    assert all(state["paused"] for state in _states(browser).values())

    # Render a 16-bit FLAC version and download it.
    browser.find_element(By.ID, "format").send_keys("flac")
    browser.find_element(By.ID, "bit-depth").send_keys("16")
    browser.find_element(By.ID, "render").click()
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#versions a"))
    link = browser.find_element(By.CSS_SELECTOR, "#versions a").get_attribute("href")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 100, 6000))
    browser.save_screenshot(str(ARTIFACTS / "studio.png"))
    browser.set_window_size(1280, 1000)
    assert _severe(browser) == []
    downloaded = httpx.get(link, timeout=30).content
    version = link.split("/api/versions/")[1].split("/")[0]
    settings = tmp_path / "version.json"
    settings.write_text(httpx.get(f"{server}/api/versions/{version}/settings").text, encoding="utf-8")
    rendered = tmp_path / "rendered.flac"
    result = CliRunner().invoke(cli, ["render", str(MIX), "--settings", str(settings), "-o", str(rendered)])
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(rendered.read_bytes()).hexdigest()
    assert os.path.getsize(ARTIFACTS / "studio.png") > 10_000

    # The version plays in its own player; going back to its settings puts the controls as
    # they were and suggests again with them.
    browser.execute_script("document.querySelector('#versions audio').play()")
    WebDriverWait(browser, WAIT_S).until(
        lambda b: b.execute_script("return document.querySelector('#versions audio').currentTime") > 0.3)
    browser.execute_script("document.querySelector('#versions audio').pause()")
    version_options = httpx.get(f"{server}/api/mixes").json()["mixes"][0]["versions"][0]["options"]
    assert version_options["amount"]["eq"] == 20 and version_options["lufs"] == -14
    browser.execute_script("const s = document.getElementById('eq'); s.value = 60; s.dispatchEvent(new Event('input'));")
    assert browser.find_element(By.ID, "eq-value").text == "60 %"
    before_back = httpx.get(f"{server}/api/mixes").json()["mixes"][0]["suggestion"]["id"]
    browser.find_element(By.CSS_SELECTOR, "#versions button.back").click()
    assert browser.find_element(By.ID, "eq-value").text == "20 %"
    assert browser.find_element(By.ID, "lufs").get_attribute("value") == "-14"
    wait.until(lambda b: httpx.get(f"{server}/api/mixes").json()["mixes"][0]["suggestion"]["id"] != before_back)
    mix = _settled(server, 6)
    assert mix["suggestion"]["options"] == version_options
    assert _severe(browser) == []
