"""``automaster preview`` and ``match --report``: the page's "after" excerpt is what ``match``
writes there (up to match's checked-take correction), the levels are measured, and bad
paths fail before any work."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
import soxr
from typer.testing import CliRunner

import signals

from matcher.cli.app import EXIT_BAD_INPUT, app

RATE_HZ = 44100
runner = CliRunner()


def _write(path: Path, x: np.ndarray) -> Path:
    sf.write(str(path), x, RATE_HZ, subtype="PCM_24")
    return path


@pytest.fixture
def files(tmp_path):
    # 40 s: longer than the 25 s excerpt, with a quiet first half, so that the loudest
    # passage is found in the second.
    drums = 0.3 * signals.drum_loop(40.0, RATE_HZ, seed=1)
    drums[: 18 * RATE_HZ] *= 0.1
    mix = _write(tmp_path / "my <mix>.wav", drums)
    ref = _write(tmp_path / "ref.wav", np.tanh(2 * signals.drum_loop(10.0, RATE_HZ, seed=2)) * 0.8)
    return mix, ref


def _clip(page: str, element_id: str) -> np.ndarray:
    found = re.search(rf'id="{element_id}"[^>]*src="data:audio/flac;base64,([^"]+)"', page) or re.search(
        rf'src="data:audio/flac;base64,([^"]+)"[^>]*id="{element_id}"', page
    )
    assert found, element_id
    audio, rate = sf.read(io.BytesIO(base64.b64decode(found.group(1))), always_2d=True)
    assert rate == RATE_HZ
    return audio


def _ok(result) -> None:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"


def test_preview_shows_what_match_would_write(tmp_path, files):
    mix, ref = files
    report, picture, master = tmp_path / "report.html", tmp_path / "curves.png", tmp_path / "master.wav"
    _ok(runner.invoke(app, ["preview", str(mix), "--ref", str(ref), "-o", str(report), "--plot", str(picture)]))
    _ok(runner.invoke(app, ["match", str(mix), "--ref", str(ref), "-o", str(master)]))
    page = report.read_text(encoding="utf-8")
    assert "my &lt;mix&gt;.wav" in page and "<mix>" not in page
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    after, before = _clip(page, "audio-after"), _clip(page, "audio-before")
    assert after.shape[0] == 25 * RATE_HZ
    whole, _ = sf.read(str(master), always_2d=True)
    mix_audio, _ = sf.read(str(mix), always_2d=True)
    # Find the excerpt in the mix (it is the mix's own samples, 16-bit), then compare the
    # page's "after" with the master's same span: the same within 16-bit rounding.
    start = int(np.argmin([np.max(np.abs(mix_audio[s : s + 4410] - before[:4410])) for s in range(0, 16 * RATE_HZ, 4410)]))
    start *= 4410
    assert np.max(np.abs(mix_audio[start : start + before.shape[0]] - before)) < 2.0**-15
    assert start >= 15 * RATE_HZ  # the loud part
    # The preview renders the first plan; match checks its whole take and may correct it: a
    # few tenths of a dB of gain, and more limiting where the take was over. After that one
    # gain what is left is less than -30 dB (-39 dB here).
    span = whole[start : start + after.shape[0]]
    gain = float(np.sum(span * after) / np.sum(after * after))
    assert abs(20 * np.log10(gain)) < 0.5
    residual = span - gain * after
    assert 10 * np.log10(np.sum(residual**2) / np.sum(span**2)) < -30


def test_match_report_measures_the_master(tmp_path, files):
    mix, ref = files
    report, master = tmp_path / "report.html", tmp_path / "master.wav"
    result = runner.invoke(app, ["match", str(mix), "--ref", str(ref), "-o", str(master), "--report", str(report)])
    _ok(result)
    page = report.read_text(encoding="utf-8")
    whole, _ = sf.read(str(master), always_2d=True)
    lufs = pyloudnorm.Meter(RATE_HZ).integrated_loudness(whole)
    figures = page[page.index('id="table-figures"') :]
    assert f"{lufs:.1f}&nbsp;LUFS" in figures[: figures.index("</table>")]
    before, after = _clip(page, "audio-before"), _clip(page, "audio-after")
    meter = pyloudnorm.Meter(RATE_HZ)
    quieter = min(meter.integrated_loudness(before), meter.integrated_loudness(after))
    assert f"{quieter:.1f}&nbsp;LUFS" in page  # the common level of the fair comparison


def test_report_paths_are_checked_before_any_work(tmp_path, files):
    mix, ref = files
    master = tmp_path / "master.wav"
    existing = tmp_path / "old.html"
    existing.write_text("an earlier report", encoding="utf-8")
    for args in (
        ["match", str(mix), "--ref", str(ref), "-o", str(master), "--report", str(existing)],
        ["match", str(mix), "--ref", str(ref), "-o", str(master), "--report", str(tmp_path / "nowhere" / "r.html")],
        ["preview", str(mix), "--ref", str(ref), "-o", str(existing)],
        ["preview", str(mix), "--ref", str(ref), "--plot", str(mix)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1
    assert not master.exists() and existing.read_text(encoding="utf-8") == "an earlier report"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["my <mix>.wav", "ref.wav", "old.html"])


@pytest.mark.parametrize("command", ["match", "preview"])
def test_the_page_lists_the_notes_the_command_line_prints(tmp_path, command):
    # The bundled pair: widenings the guards held back, and a leveler that expands; every
    # note and warning printed on stderr is on the page, as printed, without the file name.
    examples = Path(__file__).resolve().parents[1] / "examples"
    mix, ref = examples / "mix.flac", examples / "reference.flac"
    report = tmp_path / "report.html"
    args = [command, str(mix), "--ref", str(ref), "--report" if command == "match" else "-o", str(report)]
    if command == "match":
        args += ["-o", str(tmp_path / "master.wav")]
    result = runner.invoke(app, args)
    _ok(result)
    printed = [line.split(f"{mix}: ", 1)[1] for line in result.stderr.splitlines() if f"{mix}: " in line]
    assert any(line.startswith("width: ") for line in printed)
    page = report.read_text(encoding="utf-8")
    section = page[page.index('id="notes"') :]
    section = section[: section.index("</section>")]
    from html import escape

    for line in printed:
        assert escape(line) in section, line


def test_a_page_at_a_targets_rate_plays_both_clips_at_the_masters_rate(tmp_path):
    # --target cd on a 48 kHz mix: the master is 44.1 kHz; the preview's plan and excerpt
    # and match's report page are at 44.1 kHz too, before and after (one rate for both).
    drums = 0.3 * signals.drum_loop(30.0, 48000, seed=1)
    mix = tmp_path / "mix48.wav"
    sf.write(str(mix), drums, 48000, subtype="PCM_24")
    ref = _write(tmp_path / "ref.wav", np.tanh(2 * signals.drum_loop(10.0, RATE_HZ, seed=2)) * 0.8)
    preview_page, match_page, master = tmp_path / "p.html", tmp_path / "m.html", tmp_path / "master.wav"
    _ok(runner.invoke(app, ["preview", str(mix), "--ref", str(ref), "--target", "cd", "-o", str(preview_page)]))
    _ok(runner.invoke(app, ["match", str(mix), "--ref", str(ref), "--target", "cd", "-o", str(master),
                            "--report", str(match_page)]))
    info = sf.info(str(master))
    assert (info.samplerate, info.subtype) == (RATE_HZ, "PCM_16")
    whole, _ = sf.read(str(master), always_2d=True)
    resampled = soxr.resample(sf.read(str(mix), always_2d=True)[0], 48000, RATE_HZ, quality="VHQ")
    for page_path in (preview_page, match_page):
        page = page_path.read_text(encoding="utf-8")
        before, after = _clip(page, "audio-before"), _clip(page, "audio-after")  # both at 44.1 kHz
        assert before.shape == after.shape == (25 * RATE_HZ, 2)
        # The excerpt is where the master's same span is (found by the master's samples).
        start = int(np.argmin([np.max(np.abs(whole[s : s + 4410] - after[:4410])) for s in range(0, 6 * RATE_HZ, 441)]))
        span = whole[start * 441 : start * 441 + after.shape[0]]
        residual = span - after
        assert np.sum(residual**2) < 1e-3 * np.sum(span**2), page_path.name  # under -30 dB
        # "before" is the mix at 44.1 kHz over the same span (up to the page's equal-loudness
        # gain), not its 48 kHz samples played at 44.1 kHz.
        mix_span = resampled[start * 441 : start * 441 + before.shape[0]]
        gain = float(np.sum(mix_span * before) / np.sum(before * before))
        residual = mix_span - gain * before
        assert 10 * np.log10(np.sum(residual**2) / np.sum(mix_span**2)) < -40, page_path.name
