"""The data behind a report page: the loudest excerpt, an excerpt rendered alone, fair levels,
and what streaming services would do."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

import signals

from matcher import analyze, fit, render
from matcher.analysis.streaming import streaming_gains
from matcher.preview.build import excerpts, loudest_start_s, read_span, render_excerpt
from matcher.rendering.renderer import Renderer

RATE_HZ = 44100


def test_the_loudest_excerpt_is_found():
    # 20 s quiet, 30 s loud, 20 s quiet: a 25 s excerpt must lie inside the loud part.
    quiet = signals.pink_noise(20.0, RATE_HZ, rms=0.01, seed=1)
    loud = signals.pink_noise(30.0, RATE_HZ, rms=0.2, seed=2)
    x = np.concatenate([quiet, loud, quiet * 1.5])
    a = analyze(x, RATE_HZ)
    start = loudest_start_s(a.short_term_lufs, a.short_term_hop_s, a.duration_s, 25.0)
    assert 20.0 - 0.05 <= start <= 25.0 + 0.05
    assert loudest_start_s(a.short_term_lufs, a.short_term_hop_s, 10.0, 25.0) == 0.0  # shorter than the excerpt


def test_an_excerpt_rendered_alone_is_that_span_of_the_whole_master(tmp_path):
    # A drum loop fitted to a denser reference: the compressor works, so its state and
    # framing must be right for the span to match the whole render.
    mix_audio = 0.3 * signals.drum_loop(14.0, RATE_HZ, seed=3)
    ref_audio = np.tanh(3 * signals.drum_loop(14.0, RATE_HZ, seed=4) + signals.pink_noise(14.0, RATE_HZ, 0.3, seed=5))
    settings = fit(analyze(mix_audio, RATE_HZ), analyze(ref_audio, RATE_HZ))
    assert any(b.ratio > 1.0 for b in settings.dynamics.bands)
    mix = tmp_path / "mix.wav"
    sf.write(str(mix), mix_audio, RATE_HZ, subtype="FLOAT")
    stored = sf.read(str(mix), dtype="float32", always_2d=True)[0]
    renderer = Renderer(settings, RATE_HZ, 2)
    plan = renderer.plan(lambda: [stored])
    blocks: list[np.ndarray] = []
    renderer.run(lambda: [stored], plan, blocks.append)  # one take of the plan, as the excerpt's
    whole = np.concatenate(blocks)
    start_s, duration_s = 6.3, 4.0
    span = render_excerpt(mix, settings, plan, RATE_HZ, 2, start_s, duration_s)
    first = int(round(start_s * RATE_HZ))
    expected = whole[first : first + span.shape[0]]
    assert span.shape == (int(duration_s * RATE_HZ), 2)
    # The same within -100 dBFS, as block-wise rendering is (float32 rounding of the
    # filters' blocks, and the 24-bit dither, differ).
    assert np.max(np.abs(span - expected)) < 1e-5


def test_an_excerpt_of_a_master_on_the_slow_chain_is_that_span_of_the_whole_master(tmp_path):
    # A bass line over dense noise pushed to -8 LUFS takes the slow chain: its clipper, kept
    # below 5 kHz and aimed a little low, must be the same in the excerpt as in the whole.
    from matcher.fitting.settings import LoudnessSettings

    seconds = 10.0
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    notes = np.array([41.2, 55.0, 49.0, 61.7])[(t // 0.5).astype(int) % 4]
    phase = 2 * np.pi * np.cumsum(notes) / RATE_HZ
    bass = 0.5 * (0.6 + 0.4 * np.exp(-(t % 0.5) * 6)) * (np.sin(phase) + 0.3 * np.sin(2 * phase))
    mix_audio = bass[:, None] + signals.pink_noise(seconds, RATE_HZ, rms=0.25, seed=11)
    mix_audio = 0.3 * mix_audio / np.max(np.abs(mix_audio))
    settings = fit(analyze(mix_audio, RATE_HZ), analyze(mix_audio, RATE_HZ))
    settings = dataclasses.replace(settings, loudness=dataclasses.replace(settings.loudness, target_lufs=-8.0))
    mix = tmp_path / "mix.wav"
    sf.write(str(mix), mix_audio, RATE_HZ, subtype="FLOAT")
    stored = sf.read(str(mix), dtype="float32", always_2d=True)[0]
    renderer = Renderer(settings, RATE_HZ, 2)
    plan = renderer.plan(lambda: [stored])
    assert plan.clip_band_hz is not None and plan.clipping is not None, "the slow chain is not taken"
    blocks: list[np.ndarray] = []
    renderer.run(lambda: [stored], plan, blocks.append)
    whole = np.concatenate(blocks)
    start_s, duration_s = 3.1, 4.0
    span = render_excerpt(mix, settings, plan, RATE_HZ, 2, start_s, duration_s)
    first = int(round(start_s * RATE_HZ))
    assert np.max(np.abs(span - whole[first : first + span.shape[0]])) < 1e-5


def test_an_excerpt_at_another_rate_is_that_span_of_the_whole_resampled_master(tmp_path):
    # --sample-rate / --target cd on a 48 kHz mix: the plan and the excerpt are at 44.1 kHz,
    # from the render's own resampler, so the span is the whole master's.
    from matcher.io.reading import AudioSource, ResampledSource, open_audio

    mix_rate, out_rate = 48000, 44100
    mix_audio = 0.3 * signals.drum_loop(12.0, mix_rate, seed=3)
    ref_audio = np.tanh(3 * signals.drum_loop(12.0, mix_rate, seed=4) + signals.pink_noise(12.0, mix_rate, 0.3, seed=5))
    settings = fit(analyze(mix_audio, mix_rate), analyze(ref_audio, mix_rate))
    settings = dataclasses.replace(settings, output=dataclasses.replace(settings.output, sample_rate_hz=out_rate))
    mix = tmp_path / "mix.wav"
    sf.write(str(mix), mix_audio, mix_rate, subtype="FLOAT")
    source = ResampledSource(AudioSource(open_audio(mix), cache=False), out_rate)
    renderer = Renderer(settings, out_rate, 2)
    plan = renderer.plan(lambda: source(report=False))
    blocks: list[np.ndarray] = []
    renderer.run(lambda: source(report=False), plan, blocks.append)
    whole = np.concatenate(blocks)
    assert abs(whole.shape[0] - 12.0 * out_rate) <= 1
    start_s, duration_s = 5.2, 4.0
    span = render_excerpt(mix, settings, plan, out_rate, 2, start_s, duration_s)
    first = int(round(start_s * out_rate))
    assert span.shape == (int(duration_s * out_rate), 2)
    assert np.max(np.abs(span - whole[first : first + span.shape[0]])) < 1e-5
    # The page's "before" at that rate is the very input the chain was given there.
    before, rate = read_span(mix, start_s, duration_s, out_rate)
    given = np.concatenate(list(source(report=False)))
    assert rate == out_rate and before.shape == span.shape
    assert np.array_equal(before, given[first : first + before.shape[0]])


def test_excerpts_are_brought_to_the_quietest_ones_loudness():
    clips = [
        ("before", signals.pink_noise(5.0, RATE_HZ, rms=0.03, seed=1), RATE_HZ, 1.0),
        ("after", signals.pink_noise(5.0, RATE_HZ, rms=0.12, seed=2), RATE_HZ, 1.0),
        ("reference", signals.pink_noise(5.0, 48000, rms=0.1, seed=3), 48000, 7.0),
    ]
    encoded, common = excerpts(clips)
    for e, (label, audio, rate, start) in zip(encoded, clips):
        decoded, decoded_rate = sf.read(io.BytesIO(e.data), always_2d=True)
        assert e.label == label and e.mime == "audio/flac" and decoded_rate == rate and e.start_s == start
        np.testing.assert_allclose(decoded, audio, atol=2.0**-15)  # 16-bit
        assert e.lufs == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(audio), abs=0.05)
        assert e.equal_loudness_gain_db <= 0.0
        assert e.lufs + e.equal_loudness_gain_db == pytest.approx(common, abs=1e-9)
    assert common == pytest.approx(min(e.lufs for e in encoded))


def test_streaming_services_gains():
    loud = {g.service: g for g in streaming_gains(-9.0, -1.0)}
    assert {name: g.gain_db for name, g in loud.items()} == {
        "Spotify": -5.0, "Apple Music": -7.0, "YouTube": -5.0, "Tidal": -5.0, "Amazon Music": -5.0, "Deezer": -6.0
    }
    assert all(g.played_lufs == g.target_lufs for g in loud.values())
    quiet = {g.service: g for g in streaming_gains(-20.0, -8.0)}
    assert quiet["Spotify"].gain_db == 6.0 and quiet["Spotify"].played_lufs == -14.0
    assert quiet["Apple Music"].gain_db == 4.0
    assert quiet["YouTube"].gain_db == quiet["Tidal"].gain_db == quiet["Amazon Music"].gain_db == 0.0
    assert quiet["Deezer"].gain_db == 0.0
    peaky = {g.service: g for g in streaming_gains(-20.0, -3.0)}
    assert peaky["Spotify"].gain_db == 2.0 and "-1 dBTP" in peaky["Spotify"].note  # 1 dB of headroom kept


def test_a_draft_sounds_as_the_exact_excerpt_will(tmp_path):
    # The studio's first listen: the loudest 25 s planned on their own, before the whole mix
    # is. A mix whose loud middle is well above its whole loudness (so that aiming the span
    # at the target itself would miss by that much), against a dense reference (the limiter
    # works): the draft's "after" is as loud as the exact one within 0.5 LU on an
    # independent meter, differs from it by a residual 20 dB down, and stays under the
    # ceiling; its "before" is the exact page's, sample for sample.
    from pathlib import Path

    from matcher.jobs import preview_file
    from matcher.options import PYTHON_NAMES, fit_config

    quiet = 0.1 * signals.drum_loop(20.0, RATE_HZ, seed=6)
    loud = 0.35 * signals.drum_loop(30.0, RATE_HZ, seed=7) + signals.pink_noise(30.0, RATE_HZ, 0.05, seed=8)
    mix_audio = np.concatenate([quiet, loud, quiet[: 15 * RATE_HZ]])
    ref_audio = np.tanh(3 * signals.drum_loop(30.0, RATE_HZ, seed=4) + signals.pink_noise(30.0, RATE_HZ, 0.3, seed=5))
    mix, ref = tmp_path / "mix.wav", tmp_path / "ref.wav"
    sf.write(str(mix), mix_audio, RATE_HZ, subtype="FLOAT")
    sf.write(str(ref), 0.5 * ref_audio, RATE_HZ, subtype="FLOAT")
    heard = []
    _, data = preview_file(Path(mix), [Path(ref)], fit_config(names=PYTHON_NAMES), on_listen=heard.append)
    assert [h.exact for h in heard] == [False, True]
    draft, exact = ({e.label: sf.read(io.BytesIO(e.data), always_2d=True)[0] for e in h.excerpts} for h in heard)
    assert set(draft) == set(exact) == {"before", "after", "reference"}
    np.testing.assert_array_equal(draft["before"], exact["before"])

    meter = pyloudnorm.Meter(RATE_HZ)
    start = int(round(heard[0].excerpts[0].start_s * RATE_HZ))
    offset = meter.integrated_loudness(mix_audio[start : start + 25 * RATE_HZ]) - meter.integrated_loudness(mix_audio)
    assert offset > 2.0  # the span alone aimed at the target would miss by this much
    lufs_draft, lufs_exact = meter.integrated_loudness(draft["after"]), meter.integrated_loudness(exact["after"])
    assert abs(lufs_draft - lufs_exact) < 0.5
    matched = draft["after"] * 10 ** ((lufs_exact - lufs_draft) / 20)
    residual_db = 10 * np.log10(np.mean((matched - exact["after"]) ** 2) / np.mean(exact["after"] ** 2))
    assert residual_db < -20.0
    ceiling = 10 ** (data.settings.limiter.ceiling_dbtp / 20)
    assert np.max(np.abs(draft["after"])) <= ceiling * 10 ** (0.05 / 20)
    # Its curves are measured on its own "after".
    assert heard[0].result.integrated_lufs == pytest.approx(lufs_draft, abs=0.1)
    # Made beside the whole mix's plan, it leaves the page as it is without it.
    _, alone = preview_file(Path(mix), [Path(ref)], fit_config(names=PYTHON_NAMES))
    assert [e.data for e in alone.excerpts] == [e.data for e in data.excerpts]
    assert alone.figures == data.figures
