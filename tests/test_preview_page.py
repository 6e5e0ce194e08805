"""The report page and its plots, without a browser: escaping, self-containment, structure,
the embedded audio and the equal-loudness volumes, and the PNG of the tonal curves."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser

import matplotlib.image
import numpy as np
import pytest
import soundfile as sf
from signals import drum_loop, tilted_noise

import matcher
from matcher.analysis.streaming import streaming_gains
from matcher.preview import plots
from matcher.preview.data import Excerpt, Figures, PreviewData, Series
from matcher.preview.page import data_uri, render_page, write_page
from matcher.rendering.renderer import collect_into, render_stream

MIX_NAME = '<script>alert(1)</script>&"x.wav'
REFERENCE_NAME = "ref<b>bold</b>.wav"
NOTE = "clipped mix: <i>37</i> flat tops"
RATE_HZ = 44100
TABLE_IDS = ("table-figures", "table-settings", "table-streaming")
ALLOWED_NAMESPACES = (
    'xmlns="http://www.w3.org/2000/svg"',
    'xmlns:xlink="http://www.w3.org/1999/xlink"',
)


def make_preview_data(
    mix_name: str = MIX_NAME, duration_s: float = 8.0, excerpt_s: float = 4.0
) -> PreviewData:
    """A report's data from seeded synthetic audio: analysed, fitted and rendered for real."""
    mix = 0.3 * drum_loop(duration_s, RATE_HZ, seed=1)
    reference = tilted_noise(duration_s, RATE_HZ, 2.0, rms=0.1, seed=2)
    mix_analysis = matcher.analyze(mix, RATE_HZ)
    reference_analysis = matcher.analyze(reference, RATE_HZ)
    settings = matcher.fit(mix_analysis, reference_analysis)
    blocks: list[np.ndarray] = []
    report = render_stream(lambda: [mix], RATE_HZ, 2, settings, lambda: collect_into(blocks))
    master = np.concatenate(blocks)
    result_analysis = matcher.analyze(master, RATE_HZ)

    n = int(excerpt_s * RATE_HZ)
    reference_start = int(1.0 * RATE_HZ)
    clips = {
        "before": (mix[:n], 0.0),
        "after": (master[:n], 0.0),
        "reference": (reference[reference_start : reference_start + n], 1.0),
    }
    lufs = {
        label: matcher.analyze(audio, RATE_HZ).integrated_lufs
        for label, (audio, _) in clips.items()
    }
    common_lufs = min(lufs.values())
    excerpts = []
    for label, (audio, start_s) in clips.items():
        buffer = io.BytesIO()
        sf.write(buffer, np.clip(audio, -1.0, 1.0), RATE_HZ, format="FLAC", subtype="PCM_16")
        excerpts.append(
            Excerpt(
                label,
                "audio/flac",
                buffer.getvalue(),
                start_s,
                audio.shape[0] / RATE_HZ,
                lufs[label],
                common_lufs - lufs[label],
            )
        )

    def figures(a: matcher.Analysis) -> Figures:
        return Figures(a.integrated_lufs, a.true_peak_dbtp, a.loudness_range_lu, a.plr_db)

    analyses = {"mix": mix_analysis, "result": result_analysis, "reference": reference_analysis}
    return PreviewData(
        mix_name=mix_name,
        reference_names=(REFERENCE_NAME,),
        reference_note="chosen by hand: <--ref>",
        settings=settings,
        mix=mix_analysis,
        reference=reference_analysis,
        result=result_analysis,
        result_is_excerpt=False,
        figures={key: figures(a) for key, a in analyses.items()},
        gain_db=report.gain_db,
        short_term={
            key: Series(a.short_term_hop_s, a.short_term_lufs) for key, a in analyses.items()
        },
        limiter_reduction_db=Series(0.1, tuple(report.limiter_reduction_db.tolist())),
        excerpts=tuple(excerpts),
        equal_loudness_lufs=common_lufs,
        streaming=streaming_gains(result_analysis.integrated_lufs, result_analysis.true_peak_dbtp),
        notes=(NOTE,),
    )


class PageParser(HTMLParser):
    """Every element (tag, attributes) in order, the text inside each id'd element, and
    the raw content of each ``<script>``."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text_by_id: dict[str, str] = {}
        self.scripts: list[str] = []
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag not in {
            "meta",
            "br",
            "img",
            "input",
            "link",
            "source",
            "path",
            "use",
            "rect",
            "circle",
            "line",
            "polyline",
            "polygon",
            "ellipse",
        }:
            self._open.append((tag, attributes.get("id")))
            if attributes.get("id"):
                self.text_by_id[attributes["id"]] = ""
        if tag == "script":
            self.scripts.append("")

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        for _, element_id in self._open:
            if element_id:
                self.text_by_id[element_id] += data
        if self._open and self._open[-1][0] == "script":
            self.scripts[-1] += data

    def by_id(self, element_id: str) -> tuple[str, dict[str, str | None]]:
        found = [(tag, attrs) for tag, attrs in self.elements if attrs.get("id") == element_id]
        assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
        return found[0]


@pytest.fixture(scope="module")
def data() -> PreviewData:
    return make_preview_data()


@pytest.fixture(scope="module")
def page(data) -> str:
    return render_page(data)


@pytest.fixture(scope="module")
def parsed(page) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser


def test_user_text_is_escaped_and_shown_as_text(page, parsed):
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;x.wav" in page
    assert parsed.text_by_id["mix-name"] == MIX_NAME
    assert parsed.text_by_id["reference-names"] == REFERENCE_NAME
    assert NOTE in parsed.text_by_id["notes"]
    assert "chosen by hand: <--ref>" == parsed.text_by_id["reference-note"]
    tags = [tag for tag, _ in parsed.elements]
    # The page's own script is the only one; the names' <b> and <i> became text.
    assert tags.count("script") == 1
    assert "b" not in tags and "i" not in tags
    assert "alert" not in parsed.scripts[0] and "x.wav" not in parsed.scripts[0]


def test_page_fetches_nothing(page, parsed):
    rest = page
    for namespace in ALLOWED_NAMESPACES:
        rest = rest.replace(namespace, "")
    assert "http:" not in rest and "https:" not in rest
    assert "@import" not in rest and "@font-face" not in rest
    assert not re.search(r"url\((?!#)", rest), "CSS or SVG url() other than a fragment"
    assert "<link" not in rest and "<iframe" not in rest and "<object" not in rest
    for tag, attrs in parsed.elements:
        for name in ("src", "href", "xlink:href", "action", "poster", "srcset"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:", "#")), (
                    f"<{tag} {name}={value[:40]!r}> fetches something"
                )


def test_content_security_policy_allows_only_the_page_script(parsed):
    policies = [
        a["content"]
        for tag, a in parsed.elements
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy"
    ]
    assert len(policies) == 1
    policy = policies[0]
    assert "default-src 'none'" in policy and "media-src data:" in policy
    digest = base64.b64encode(hashlib.sha256(parsed.scripts[0].encode("utf-8")).digest()).decode(
        "ascii"
    )
    assert f"script-src 'sha256-{digest}'" in policy


def test_every_plot_and_table_is_present(page, parsed):
    for plot_id in plots.PLOT_IDS:
        tag, _ = parsed.by_id(plot_id)
        assert tag == "figure"
        svg = re.search(rf'<figure id="{plot_id}"[^>]*>\s*(<svg.*?</svg>)', page, re.DOTALL)
        assert svg is not None, plot_id
        root = ET.fromstring(svg.group(1))  # well-formed on its own
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert len(svg.group(1)) < 200_000
    for table_id in TABLE_IDS:
        assert parsed.by_id(table_id)[0] == "table"
    ids = [attrs["id"] for _, attrs in parsed.elements if attrs.get("id")]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, (
        f"ids used twice (several inline SVGs share one document): {sorted(duplicates)[:5]}"
    )


def test_tables_show_the_figures_and_the_services(data, parsed):
    figures = parsed.text_by_id["table-figures"]
    for key in ("mix", "result", "reference"):
        assert f"{data.figures[key].integrated_lufs:.1f}\N{NO-BREAK SPACE}LUFS" in figures
        assert f"{data.figures[key].true_peak_dbtp:.1f}\N{NO-BREAK SPACE}dBTP" in figures
    assert f"{data.gain_db:+.1f}\N{NO-BREAK SPACE}dB" == parsed.text_by_id["gain-applied"]
    streaming = parsed.text_by_id["table-streaming"]
    for name in ("Spotify", "Apple Music", "YouTube", "Tidal", "Amazon"):
        assert name in streaming
    for service in data.streaming:
        assert f"{service.gain_db:+.1f}\N{NO-BREAK SPACE}dB" in streaming
    settings = parsed.text_by_id["table-settings"]
    assert f"ceiling {data.settings.limiter.ceiling_dbtp:.1f} dBTP" in settings
    assert f"{data.settings.loudness.target_lufs:.1f} LUFS" in settings
    assert parsed.text_by_id["settings-json"] == data.settings.to_json()


def test_audio_sources_decode_to_the_excerpts(data, parsed):
    for excerpt in data.excerpts:
        tag, attrs = parsed.by_id(f"audio-{excerpt.label}")
        assert tag == "audio"
        header, payload = attrs["src"].split(",", 1)
        assert header == f"data:{excerpt.mime};base64"
        assert base64.b64decode(payload, validate=True) == excerpt.data
        assert attrs["src"] == data_uri(excerpt)
        # The real-level player takes the same source (copied by the script, not repeated).
        _, real = parsed.by_id(f"audio-{excerpt.label}-real")
        assert real["data-source"] == f"audio-{excerpt.label}" and "src" not in real
        assert float(real["data-volume"]) == 1.0
    decoded, rate = sf.read(io.BytesIO(data.excerpts[0].data))
    assert rate == RATE_HZ and decoded.shape[0] == round(data.excerpts[0].duration_s * RATE_HZ)


def test_equal_loudness_volumes(data, parsed):
    volumes = {}
    for excerpt in data.excerpts:
        _, attrs = parsed.by_id(f"audio-{excerpt.label}")
        volumes[excerpt.label] = float(attrs["data-volume"])
        assert excerpt.equal_loudness_gain_db <= 0.0
        assert volumes[excerpt.label] == pytest.approx(
            10.0 ** (excerpt.equal_loudness_gain_db / 20.0), abs=1e-6
        )
    # The master is louder than the mix here, so it is the one turned down.
    assert volumes["after"] < volumes["before"] == pytest.approx(1.0, abs=1e-6)
    note = parsed.text_by_id["equal-loudness-note"]
    assert f"{data.equal_loudness_lufs:.1f}\N{NO-BREAK SPACE}LUFS" in note
    assert parsed.by_id("switch")[0] == "button"


def test_page_without_a_reference_clip_or_notes(data):
    reduced = replace(
        data, excerpts=tuple(e for e in data.excerpts if e.label != "reference"), notes=()
    )
    parser = PageParser()
    parser.feed(render_page(reduced))
    ids = {attrs.get("id") for _, attrs in parser.elements}
    assert {"audio-before", "audio-after", "switch"} <= ids
    assert "audio-reference" not in ids and "notes" not in ids
    assert "not at hand" in parser.text_by_id["equal-loudness"]


def test_write_page_is_the_rendered_page(data, page, tmp_path):
    path = tmp_path / "report.html"
    write_page(data, path)
    assert path.read_text(encoding="utf-8") == page
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_write_curves_png(data, tmp_path):
    path = tmp_path / "curves.png"
    plots.write_curves_png(data, path, dpi=100.0)
    raw = path.read_bytes()
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (340, 750)  # 7.5 x 3.4 inches at 100 dpi
    assert np.std(image[..., :3]) > 0.05  # something is drawn
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_tonal_curve_is_relative_to_loudness(data):
    mix = data.mix
    louder = replace(
        mix,
        integrated_lufs=mix.integrated_lufs + 6.0,
        mid_spectrum_db=tuple(v + 6.0 if v > -200 else v for v in mix.mid_spectrum_db),
        side_spectrum_db=tuple(v + 6.0 if v > -200 else v for v in mix.side_spectrum_db),
    )
    np.testing.assert_allclose(plots.tonal_curve_db(louder), plots.tonal_curve_db(mix), atol=1e-9)
    # Mid and side of equal power add up to 3.01 dB more; nothing measured is left out.
    bands = len(mix.band_centers_hz)
    flat = replace(
        mix,
        integrated_lufs=-20.0,
        mid_spectrum_db=(-50.0,) * (bands - 1) + (-200.0,),
        side_spectrum_db=(-50.0,) * (bands - 1) + (-200.0,),
    )
    curve_db = plots.tonal_curve_db(flat)
    np.testing.assert_allclose(curve_db[:-1], -50.0 + 10 * np.log10(2.0) + 20.0, atol=1e-9)
    assert np.isnan(curve_db[-1])


def test_applied_eq_is_gain_times_amount_held_to_the_audio_band(data):
    settings = replace(data.settings, eq=replace(data.settings.eq, amount=0.5))
    freqs_hz, gain_db = plots.applied_eq_db(replace(data, settings=settings))
    assert freqs_hz[0] == 20.0 and freqs_hz[-1] == 20000.0
    inner = np.isin(freqs_hz, settings.eq.band_centers_hz)
    np.testing.assert_allclose(gain_db[inner], 0.5 * np.asarray(settings.eq.gain_db))
    assert gain_db[0] == gain_db[1] and gain_db[-1] == gain_db[-2]


def test_long_series_are_decimated_keeping_peaks(data):
    values = np.zeros(100_000)
    values[54_321] = 9.5
    series = Series(0.01, tuple(values.tolist()))
    times_s, reduced = plots._series_arrays(series, reduce="max")
    assert times_s.size <= plots.MAX_POINTS and reduced.size == times_s.size
    assert np.nanmax(reduced) == 9.5
    svg = plots.limiter_svg(replace(data, limiter_reduction_db=series))
    assert len(svg) < 150_000
    assert "at most 9.5 dB" in svg


def test_mono_width_is_left_out(data):
    mono = {
        key: replace(getattr(data, key), width_db=(-200.0,) * len(data.mix.width_db))
        for key in ("mix", "result", "reference")
    }
    svg = plots.width_svg(replace(data, **mono))
    assert "mono: no side signal" in svg
