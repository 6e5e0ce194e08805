"""The report page in a real browser: headless Chromium through Selenium 4, from a file:// URL.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and the
``selenium`` package (the ``test`` extra). Without them the tests are skipped, except under
CI (``CI`` set), where a missing browser is a failure rather than a silent skip.
A screenshot of the page is kept in ``test-artifacts/preview-report.png``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from test_preview_page import MIX_NAME, make_preview_data

from matcher.preview import plots
from matcher.preview.page import data_uri, write_page

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TABLE_IDS = ("table-figures", "table-settings", "table-streaming")
PLAYER_IDS = tuple(
    f"audio-{label}{kind}" for label in ("before", "after", "reference") for kind in ("", "-real")
)
WAIT_S = 15.0


try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    webdriver = None


def _missing() -> str | None:
    if webdriver is None:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists() and shutil.which(path.name) is None:
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


_reason = _missing()
if _reason is not None:
    if os.environ.get("CI"):
        raise RuntimeError(f"browser test cannot run under CI: {_reason}")
    pytest.skip(_reason, allow_module_level=True)


def _executable(path: Path) -> str:
    return str(path) if path.exists() else shutil.which(path.name)


@pytest.fixture(scope="module")
def data():
    return make_preview_data(duration_s=8.0, excerpt_s=4.0)


@pytest.fixture(scope="module")
def url(data, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_page(data, path)
    return path.as_uri()


@pytest.fixture(scope="module")
def driver():
    options = webdriver.ChromeOptions()
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1280,1000",
        "--mute-audio",
    ):
        options.add_argument(argument)
    # Chromium keeps its profile and a socket in the temporary folder, and a socket's path
    # may not exceed 107 bytes: under a long TMPDIR (as CI sets) it cannot start. It gets a
    # short folder of its own.
    short = tempfile.mkdtemp(prefix="am-chromium-", dir="/tmp" if os.path.isdir("/tmp") else None)
    options.add_argument(f"--user-data-dir={short}/profile")
    options.binary_location = _executable(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(_executable(CHROMEDRIVER), env={**os.environ, "TMPDIR": short})
    browser = webdriver.Chrome(service=service, options=options)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(short, ignore_errors=True)


@pytest.fixture
def page(driver, url):
    """The report freshly loaded, its players' metadata read, and the console log emptied
    of everything before the load."""
    driver.get_log("browser")
    driver.get(url)
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.execute_script(
            "return Array.from(document.querySelectorAll('audio'))"
            ".every(a => a.readyState >= 1 || a.error)"
        )
    )
    return driver


def _states(driver) -> dict[str, dict]:
    return driver.execute_script(
        "const out = {};"
        "for (const a of document.querySelectorAll('audio')) {"
        "  out[a.id] = {paused: a.paused, time: a.currentTime, ready: a.readyState,"
        "               duration: a.duration, volume: a.volume, error: a.error && a.error.code,"
        "               length: a.currentSrc.length, tail: a.currentSrc.slice(-64)};"
        "}"
        "return out;"
    )


def _severe(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_plots_and_tables_are_shown(page):
    for element_id in plots.PLOT_IDS:
        figure = page.find_element(By.ID, element_id)
        assert figure.is_displayed(), element_id
        svg = figure.find_element(By.TAG_NAME, "svg")
        assert svg.size["width"] > 300 and svg.size["height"] > 100, (element_id, svg.size)
    for element_id in TABLE_IDS:
        table = page.find_element(By.ID, element_id)
        assert table.is_displayed(), element_id
        assert len(table.find_elements(By.TAG_NAME, "tr")) >= 4, element_id
    from matcher.targets import platform_targets

    services = [t for t in platform_targets() if t.normalisation is not None]
    assert len(page.find_elements(By.CSS_SELECTOR, "#table-streaming tbody tr")) == len(services) == 6
    assert _severe(page) == []


def test_players_load_their_excerpts_at_the_stated_volumes(page, data):
    states = _states(page)
    assert set(PLAYER_IDS) <= set(states)
    for excerpt in data.excerpts:
        source = data_uri(excerpt)
        for element_id, expected_volume in (
            (f"audio-{excerpt.label}", 10 ** (excerpt.equal_loudness_gain_db / 20)),
            (f"audio-{excerpt.label}-real", 1.0),
        ):
            state = states[element_id]
            assert state["error"] is None, (element_id, state)
            assert state["ready"] >= 1, (element_id, state)
            assert state["duration"] == pytest.approx(excerpt.duration_s, abs=0.05), element_id
            assert (state["length"], state["tail"]) == (len(source), source[-64:]), element_id
            assert state["volume"] == pytest.approx(expected_volume, abs=1e-6), element_id
    assert _severe(page) == []


def _wait_playing(driver, element_id: str, after_s: float = 0.0) -> dict:
    def check(d):
        state = _states(d)[element_id]
        return state if not state["paused"] and state["time"] > after_s else False

    return WebDriverWait(driver, WAIT_S).until(check, f"{element_id} did not start playing")


def test_switch_changes_which_excerpt_plays(page):
    page.execute_script("document.getElementById('audio-before').play()")
    before = _wait_playing(page, "audio-before", after_s=0.3)
    switch = page.find_element(By.ID, "switch")
    assert switch.get_attribute("data-active") == "before"

    switch.click()
    after = _wait_playing(page, "audio-after")
    states = _states(page)
    assert states["audio-before"]["paused"]
    assert not states["audio-after"]["paused"]
    assert after["time"] >= before["time"]  # carried on from where "before" was, not from 0
    assert switch.get_attribute("data-active") == "after"
    assert "after" in page.find_element(By.ID, "switch-state").text

    switch.click()
    _wait_playing(page, "audio-before")
    states = _states(page)
    assert states["audio-after"]["paused"] and not states["audio-before"]["paused"]
    assert switch.get_attribute("data-active") == "before"
    page.execute_script("for (const a of document.querySelectorAll('audio')) a.pause();")
    assert _severe(page) == []


def test_file_name_is_text_and_nothing_injected_runs(page):
    assert page.find_element(By.ID, "mix-name").text == MIX_NAME
    assert page.title == f"automaster report: {MIX_NAME}"
    with pytest.raises(NoAlertPresentException):
        _ = page.switch_to.alert.text  # reading it raises when no alert is open
    assert page.execute_script("return document.querySelectorAll('script').length") == 1
    assert page.execute_script("return document.querySelectorAll('#mix-name *').length") == 0
    assert _severe(page) == []


def test_screenshot_is_kept(page):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "preview-report.png"
    height = page.execute_script("return document.documentElement.scrollHeight")
    page.set_window_size(1280, min(int(height) + 100, 12000))
    path.unlink(missing_ok=True)
    assert page.save_screenshot(str(path))
    raw = path.read_bytes()
    assert raw.startswith(b"\x89PNG\r\n\x1a\n") and len(raw) > 20_000
    page.set_window_size(1280, 1000)
