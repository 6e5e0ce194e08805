"""Master an album: every song matched toward the references in tone and density, its
loudness balanced for the album, trimmed and faded, written as its own file and into one
CD image (44.1 kHz, 16 bit, TPDF dither) with its CUE sheet.

Balance, not match: the loudest song (by its mix's integrated loudness) is aimed at the
target (the references' loudness, or ``lufs``); every other song keeps its distance below
the loudest as the mixes had it, no more than ``quietest_lu`` below, plus its own offset.
Each song's gain is planned first (pass 1 of rendering): when a song cannot reach its level
under the ceiling, the whole album is lowered by the shortfall, so that the relative levels
hold. Every song is fitted to the same references, so their tonal balance agrees.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from matcher.album import redbook
from matcher.album.cue import CueSheet, CueTrack, render_cue
from matcher.album.edits import apply_fades, sound_bounds, trim_span
from matcher.album.page import render_album_page
from matcher.album.spec import AlbumSpec
from matcher.album.tags import replaygain_tags, write_tags
from matcher.analysis.analyzer import Analyzer, analyze
from matcher.analysis.combine import combine
from matcher.analysis.loudness import LoudnessMeter
from matcher.analysis.result import Analysis
from matcher.analysis.streaming import ServiceGain, streaming_gains
from matcher.dsp.dither import Quantizer
from matcher.errors import InvalidAudioError
from matcher.fitting.config import FitConfig
from matcher.fitting.fit import fit
from matcher.fitting.settings import LimiterSettings, OutputSettings
from matcher.io.reading import AudioSource, open_audio
from matcher.io.writing import AtomicAudioWriter, check_output_path, write_text_atomic
from matcher.jobs import analyze_source, require_audible
from matcher.rendering.renderer import GainPlan, Renderer, collect_into

IMAGE_NAME = "album.wav"
CUE_NAME = "album.cue"
REPORT_NAME = "album.json"
PAGE_NAME = "album.html"
EXTENSIONS = {"wav": ".wav", "flac": ".flac", "aiff": ".aiff"}
REACHED_LU = 0.1


@dataclass(frozen=True)
class SongResult:
    """One mastered song: where it went and what it measures.

    Positions are in samples of the 44.1 kHz image: ``start_samples`` is INDEX 01,
    ``pregap_start_samples`` INDEX 00 (None: no gap before it).
    """

    number: int
    title: str
    source: str
    output: str
    mix_lufs: float
    target_lufs: float
    lufs: float
    true_peak_dbtp: float
    loudness_range_lu: float
    plr_db: float
    duration_s: float
    start_samples: int
    pregap_start_samples: int | None
    streaming: tuple[ServiceGain, ...]

    @property
    def start_s(self) -> float:
        return self.start_samples / redbook.CD_SAMPLE_RATE_HZ


@dataclass(frozen=True)
class AlbumResult:
    songs: tuple[SongResult, ...]
    image: Path
    cue: Path
    report: Path
    album_lufs: float
    album_true_peak_dbtp: float
    shift_db: float
    """How far the whole album was lowered so that every song reaches its level (0: none)."""


def balanced_targets(mix_lufs: Sequence[float], target_lufs: float, quietest_lu: float, offsets_lu: Sequence[float]) -> np.ndarray:
    """Each song's loudness target: the loudest at ``target_lufs``, the others as far below it
    as their mixes were (at most ``-quietest_lu``), plus their offsets."""
    levels = np.asarray(mix_lufs, dtype=np.float64)
    relative = np.clip(levels - levels.max(), quietest_lu, 0.0)
    return target_lufs + relative + np.asarray(offsets_lu, dtype=np.float64)


@dataclass
class _Song:
    """Working state of one song between the passes."""

    number: int
    audio_span: tuple[int, int]
    sample_rate_hz: int
    channels: int
    analysis: Analysis
    references: list[Analysis]
    weights: list[float] | None


def output_paths(spec: AlbumSpec, out_dir: Path) -> list[Path]:
    """Every file the album writes: the songs', the image, the CUE sheet, the report and its page."""
    ext = EXTENSIONS[spec.format]
    songs = [out_dir / f"{k + 1:02d} {_safe(s.title)}{ext}" for k, s in enumerate(spec.songs)]
    return [*songs, out_dir / IMAGE_NAME, out_dir / CUE_NAME, out_dir / REPORT_NAME, out_dir / PAGE_NAME]


def master_album(
    spec: AlbumSpec,
    out_dir: Path,
    config: FitConfig,
    force: bool = False,
    parse_references: Callable[[Sequence[str]], tuple[list[Path], list[float] | None]] | None = None,
    on_song: Callable[[str], None] | None = None,
) -> AlbumResult:
    """Master ``spec`` into ``out_dir``. See the module's docstring.

    Parameters
    ----------
    spec : AlbumSpec
    out_dir : Path
        An existing folder.
    config : FitConfig
        Amounts and fixes for every song; its loudness target and limiter are the album's.
    parse_references : callable
        ``FILE`` / ``FILE:WEIGHT`` strings to paths and weights.
    on_song : callable
        Told what is being done ("planning 3/12", "rendering 3/12").
    """
    say = on_song or (lambda text: None)
    parse = parse_references or (lambda refs: ([Path(r) for r in refs], None))
    if len(spec.songs) > redbook.MAX_TRACKS:
        raise InvalidAudioError(f"{spec.source or 'album'}: {len(spec.songs)} songs; a CD holds at most {redbook.MAX_TRACKS}")
    catalog = redbook.normalise_catalog(spec.catalog) if spec.catalog else None
    isrcs = [redbook.normalise_isrc(s.isrc) if s.isrc else None for s in spec.songs]
    paths = output_paths(spec, out_dir)
    image_path, cue_path, report_path, page_path = paths[-4:]
    inputs = [s.file for s in spec.songs]
    for path in paths:
        check_output_path(path, inputs, force)

    # References: each file analysed once for the whole album.
    analysed: dict[Path, Analysis] = {}

    def references_of(refs: Sequence[str]) -> tuple[list[Analysis], list[float] | None]:
        files, weights = parse(refs)
        for f in files:
            if f not in analysed:
                info = open_audio(f)
                analysis = analyze_source(AudioSource(info, cache=False), true_peak=False, condition=False)
                require_audible(info, analysis)
                analysed[f] = analysis
        return [analysed[f] for f in files], weights

    if not spec.references and not all(s.references for s in spec.songs):
        raise InvalidAudioError(f"{spec.source or 'album'}: no references (give the album's, or every song's)")
    album_refs, album_weights = references_of(spec.references) if spec.references else ([], None)

    # Pass 1: trim, analyse and fit every song.
    songs: list[_Song] = []
    for k, song in enumerate(spec.songs):
        say(f"analysing {k + 1}/{len(spec.songs)}: {song.file.name}")
        info = open_audio(song.file)
        whole = _read(song.file, (0, info.frames))  # decoded once for the trim and the analysis
        bounds = sound_bounds([whole], spec.trim_threshold_dbfs) if spec.trim else None
        span = trim_span(bounds, whole.shape[0], info.sample_rate_hz, spec.trim_margin_s)
        audio = whole[span[0] : span[1]]
        if audio.shape[0] < redbook.MIN_TRACK_S * info.sample_rate_hz:
            raise InvalidAudioError(
                f"{song.file}: {audio.shape[0] / info.sample_rate_hz:.2f} s long once trimmed; "
                f"a CD track must be at least {redbook.MIN_TRACK_S:g} s"
            )
        analyzer = Analyzer(info.sample_rate_hz, info.channels, true_peak=False)
        analyzer.process(audio)
        analysis = analyzer.finish()
        require_audible(info, analysis)
        refs, weights = references_of(song.references) if song.references else (album_refs, album_weights)
        songs.append(_Song(k + 1, span, info.sample_rate_hz, info.channels, analysis, refs, weights))
    cd_lengths = [_cd_length(s.audio_span[1] - s.audio_span[0], s.sample_rate_hz) for s in songs]
    gaps = [redbook.round_up_to_frame(int(round(spec.gap_before_s(k) * redbook.CD_SAMPLE_RATE_HZ))) for k in range(len(songs))]
    redbook.check_disc(cd_lengths, gaps)

    target = spec.lufs if spec.lufs is not None else combine(album_refs or songs[0].references, album_weights).integrated_lufs
    targets = balanced_targets(
        [s.analysis.integrated_lufs for s in songs], target, spec.quietest_lu, [s.loudness_offset_lu for s in spec.songs]
    )
    limiter = LimiterSettings(ceiling_dbtp=spec.ceiling_dbtp)
    settings = [
        fit(s.analysis, s.references, replace(config, target_lufs=float(t), limiter=limiter, output=OutputSettings("32f")), s.weights)
        for s, t in zip(songs, targets)
    ]

    # Pass 2: plan every song's gain; lower the album by the largest shortfall.
    shortfall = 0.0
    plans: list[GainPlan | None] = []
    for k, (song, spec_song, s) in enumerate(zip(songs, spec.songs, settings)):
        say(f"planning {k + 1}/{len(songs)}")
        audio = _read(spec_song.file, song.audio_span)
        plan = Renderer(s, song.sample_rate_hz, song.channels).plan(lambda: [audio])
        if plan.predicted_lufs is not None and not plan.target_reached:
            shortfall = max(shortfall, s.loudness.target_lufs - plan.predicted_lufs)
        plans.append(plan)
    shift_db = -math.ceil(shortfall * 10) / 10 if shortfall > REACHED_LU else 0.0
    if shift_db:  # new targets: new plans
        settings = [replace(s, loudness=replace(s.loudness, target_lufs=s.loudness.target_lufs + shift_db)) for s in settings]
        plans = [None] * len(songs)

    # Pass 3: render, fade, write the songs and the image.
    pending: list[AtomicAudioWriter] = []
    image_meter = LoudnessMeter(redbook.CD_SAMPLE_RATE_HZ, 2)
    results: list[SongResult] = []
    position = 0
    song_tags: list[dict[str, str]] = []
    image = AtomicAudioWriter(image_path, redbook.CD_SAMPLE_RATE_HZ, 2, "16", defer=True)
    try:
        with image:
            for k, (song, spec_song, s) in enumerate(zip(songs, spec.songs, settings)):
                say(f"rendering {k + 1}/{len(songs)}")
                audio = _read(spec_song.file, song.audio_span)
                blocks: list[np.ndarray] = []
                Renderer(s, song.sample_rate_hz, song.channels).render(lambda: [audio], lambda: collect_into(blocks), plans[k])
                plans[k] = None
                master = np.concatenate(blocks)
                apply_fades(master, song.sample_rate_hz, spec_song.fade_in_s, spec_song.fade_out_s, spec.fade_curve)
                # The song's own file, at its rate and the asked word length.
                quantized = Quantizer(spec.bit_depth, seed=song.number).process(master)
                writer = AtomicAudioWriter(paths[k], song.sample_rate_hz, song.channels, spec.bit_depth, defer=True)
                with writer:
                    writer.write(quantized)
                pending.append(writer)
                measured = analyze(quantized, song.sample_rate_hz)
                # Into the image: 44.1 kHz stereo, 16 bit with TPDF dither, on CD frames.
                cd = Quantizer("16", seed=song.number).process(_to_cd(master, song.sample_rate_hz))
                gap = gaps[k]
                if gap:
                    silence = np.zeros((gap, 2), dtype=np.float32)
                    image.write(silence)
                    image_meter.process(silence)
                pregap_start = position if gap else None
                position += gap
                padded = np.zeros((redbook.round_up_to_frame(cd.shape[0]), 2), dtype=np.float32)
                padded[: cd.shape[0]] = cd
                image.write(padded)
                image_meter.process(padded)
                tp = measured.true_peak_dbtp if measured.true_peak_dbtp is not None else measured.sample_peak_dbfs
                results.append(
                    SongResult(
                        number=song.number,
                        title=spec_song.title,
                        source=str(spec_song.file),
                        output=str(paths[k]),
                        mix_lufs=song.analysis.integrated_lufs,
                        target_lufs=s.loudness.target_lufs,
                        lufs=measured.integrated_lufs,
                        true_peak_dbtp=tp,
                        loudness_range_lu=measured.loudness_range_lu,
                        plr_db=tp - measured.integrated_lufs,
                        duration_s=quantized.shape[0] / song.sample_rate_hz,
                        start_samples=position,
                        pregap_start_samples=pregap_start,
                        streaming=streaming_gains(measured.integrated_lufs, tp),
                    )
                )
                song_tags.append(_tags(spec, spec_song, song.number, len(songs), isrcs[k]))
                position += padded.shape[0]
        album_lufs = float(image_meter.finish().integrated_lufs())
        album_peak = max(r.true_peak_dbtp for r in results)
        for writer, result, tags in zip(pending, results, song_tags):
            if spec.format == "flac":
                tags = {**tags, **replaygain_tags(result.lufs, 10 ** (result.true_peak_dbtp / 20), album_lufs, 10 ** (album_peak / 20))}
            write_tags(writer.temporary_path, tags)
        for writer in [*pending, image]:
            writer.commit()
    except BaseException:
        for writer in [*pending, image]:
            writer.discard()
        raise
    sheet = CueSheet(
        image_file=IMAGE_NAME,
        title=spec.title,
        performer=spec.performer,
        catalog=catalog,
        tracks=tuple(
            CueTrack(r.number, r.title, spec.songs[r.number - 1].performer or spec.performer, isrcs[r.number - 1],
                     r.pregap_start_samples, r.start_samples)
            for r in results
        ),
    )
    cue_text = render_cue(sheet)
    write_text_atomic(cue_path, cue_text)
    result = AlbumResult(tuple(results), image_path, cue_path, report_path, album_lufs, album_peak, shift_db)
    write_text_atomic(report_path, album_report_json(spec, result))
    write_text_atomic(page_path, render_album_page(spec.title, spec.performer, result, cue_text))
    return result


def _read(path: Path, span: tuple[int, int]) -> np.ndarray:
    audio, _ = sf.read(str(path), start=span[0], stop=span[1], dtype="float32", always_2d=True)
    if not np.all(np.isfinite(audio)):
        raise InvalidAudioError(f"{path}: non-finite sample (NaN or infinity)")
    return audio


def _cd_length(frames: int, sample_rate_hz: int) -> int:
    """Samples a song of ``frames`` takes in the image: at 44.1 kHz, padded to a CD frame."""
    return redbook.round_up_to_frame(-(-frames * redbook.CD_SAMPLE_RATE_HZ // sample_rate_hz))


def _to_cd(master: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """A master as CD audio: stereo (a mono song in both channels) at 44.1 kHz."""
    audio = np.repeat(master, 2, axis=1) if master.shape[1] == 1 else master
    if sample_rate_hz == redbook.CD_SAMPLE_RATE_HZ:
        return audio
    from scipy.signal import resample_poly

    g = math.gcd(redbook.CD_SAMPLE_RATE_HZ, sample_rate_hz)
    return resample_poly(audio, redbook.CD_SAMPLE_RATE_HZ // g, sample_rate_hz // g, axis=0).astype(np.float32)


def _tags(spec: AlbumSpec, song, number: int, total: int, isrc: str | None) -> dict[str, str]:
    tags = {"TITLE": song.title, "TRACKNUMBER": str(number), "TRACKTOTAL": str(total), "ALBUM": spec.title}
    performer = song.performer or spec.performer
    if performer:
        tags["ARTIST"] = performer
    if isrc:
        tags["ISRC"] = isrc
    return tags


def _safe(title: str) -> str:
    kept = "".join(c if c.isalnum() or c in " -_.,()'&" else "_" for c in title).strip(" .")
    return kept or "song"


def album_report_json(spec: AlbumSpec, result: AlbumResult) -> str:
    """The album report as JSON (schema 1)."""
    import json

    return json.dumps(
        {
            "schema_version": 1,
            "title": spec.title,
            "performer": spec.performer,
            "image": str(result.image),
            "cue": str(result.cue),
            "album_lufs": round(result.album_lufs, 2),
            "album_true_peak_dbtp": round(result.album_true_peak_dbtp, 2),
            "shift_db": result.shift_db,
            "songs": [
                {
                    "number": r.number,
                    "title": r.title,
                    "source": r.source,
                    "output": r.output,
                    "start": redbook.msf(r.start_samples // redbook.SAMPLES_PER_FRAME),
                    "start_samples": r.start_samples,
                    "start_s": round(r.start_s, 3),
                    "duration_s": round(r.duration_s, 3),
                    "mix_lufs": round(r.mix_lufs, 2),
                    "target_lufs": round(r.target_lufs, 2),
                    "lufs": round(r.lufs, 2),
                    "true_peak_dbtp": round(r.true_peak_dbtp, 2),
                    "loudness_range_lu": round(r.loudness_range_lu, 2),
                    "plr_db": round(r.plr_db, 2),
                    "streaming": [
                        {"service": g.service, "gain_db": g.gain_db, "played_lufs": g.played_lufs, "note": g.note}
                        for g in r.streaming
                    ],
                }
                for r in result.songs
            ],
        },
        indent=2,
    ) + "\n"
