"""Master an album: every song matched toward the references in tone and density, its
loudness balanced for the album, trimmed and faded, written as its own file and into one
CD image (44.1 kHz, 16 bit, TPDF dither) with its CUE sheet.

Balance, not match: the loudest song (by its mix's integrated loudness) is aimed at the
target (the references' loudness, or ``lufs``); every other song keeps its distance below
the loudest as the mixes had it, no more than ``quietest_lu`` below, plus its own offset.
Every song is fitted to the same references, so their tonal balance agrees; references
chosen from a library are chosen once, for the album's songs taken together.

A song is planned where it is delivered: in an album with any stereo song every song is
stereo, a mono mix taken as dual mono (both channels the same) from its analysis on, so that
its loudness is the same in its own file and in the stereo CD image. An album of mono songs
stays mono in its own files; the image carries each on both channels, which a BS.1770 meter
reads 3 dB louder (10 log10 2) than the mono file, as it reads any mono signal played on
two channels.

Songs are rendered one at a time and streamed to their files and to the image, so that
memory does not grow with the number of songs. Each song's gain is planned (pass 1 of
rendering) before it is rendered; when one cannot reach its level under the ceiling, the
songs rendered so far are dropped, the rest only planned, and the whole album is rendered
again lowered by the largest shortfall, so that the relative levels hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf

from matcher.album import redbook
from matcher.album.cue import CueSheet, CueTrack, render_cue
from matcher.album.delivery import CdImage, SongOutput, joined_loudness_lufs
from matcher.album.edits import sound_bounds, trim_span
from matcher.album.page import render_album_page
from matcher.album.spec import AlbumSpec
from matcher.album.tags import replaygain_tags, write_tags
from matcher.analysis.analyzer import Analyzer
from matcher.analysis.combine import combine
from matcher.analysis.result import Analysis
from matcher.analysis.streaming import ServiceGain, streaming_gains
from matcher.errors import InvalidAudioError
from matcher.fitting.config import FitConfig
from matcher.fitting.fit import fit
from matcher.fitting.settings import LimiterSettings, OutputSettings, Settings
from matcher.io.reading import BLOCK_FRAMES, AudioInfo, AudioSource, open_audio
from matcher.io.writing import check_output_path, write_text_atomic
from matcher.jobs import analyze_source, require_audible
from matcher.library.choice import Choice
from matcher.library.store import file_sha256
from matcher.rendering.renderer import Renderer

IMAGE_NAME = "album.wav"
CUE_NAME = "album.cue"
REPORT_NAME = "album.json"
PAGE_NAME = "album.html"
EXTENSIONS = {"wav": ".wav", "flac": ".flac", "aiff": ".aiff"}
REACHED_LU = 0.1


class AlbumChooser(Protocol):
    """Chooses an album's references once, from its songs' analyses and weights (their
    lengths): :class:`~matcher.library.choice.LibraryChoice` and ``StyleChoice``."""

    def for_songs(
        self, songs: Sequence[Analysis], weights: Sequence[float] | None = None, exclude_sha256: Sequence[str] = ()
    ) -> Choice: ...

    def check(self) -> None:
        """Raise now if no choice can be made (a missing library, an unknown style)."""


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
    channels: int = 2
    """Of the song's own file (every song has the album's layout)."""
    cd_gain_db: float = 0.0
    """The song in the CD image against its own file: negative when resampling to 44.1 kHz
    raised its true peak over the ceiling (see :mod:`matcher.album.delivery`)."""

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
    """The CD image's integrated loudness."""
    album_true_peak_dbtp: float
    shift_db: float
    """How far the whole album was lowered so that every song reaches its level (0: none)."""
    songs_album_lufs: float = math.nan
    """The album's loudness as its songs' own files read it, one after another (ReplayGain's
    album gain): about the image's, or 3 dB under it for an album of mono songs."""
    channels: int = 2
    """The songs' layout: 1 only for an album of mono songs (its image still stereo)."""
    choice: Choice | None = field(default=None, compare=False)
    """The references chosen for the album from a library (None: given)."""


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
    """The album's layout, in which the song is analysed, rendered and delivered."""
    analysis: Analysis
    references: list[Analysis] = field(default_factory=list)
    weights: list[float] | None = None

    @property
    def frames(self) -> int:
        return self.audio_span[1] - self.audio_span[0]


@dataclass
class _Delivery:
    """One rendering of the album: the songs' outputs and the image, not yet in place."""

    image: CdImage
    outputs: list[SongOutput] = field(default_factory=list)
    starts: list[tuple[int | None, int]] = field(default_factory=list)
    """Per song delivered: its pregap's start (None: no gap) and its start in the image."""
    shortfall_lu: float = 0.0
    """The largest by which a song's plan misses its target."""

    def discard(self) -> None:
        for output in self.outputs:
            output.discard()
        self.image.discard()


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
    choose: AlbumChooser | None = None,
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
        Told what is being done ("analysing 3/12: file", "rendering 3/12").
    choose : AlbumChooser, optional
        Picks the album's references when the spec names none (a library's nearest to the
        songs taken together, or a style); ``AlbumResult.choice`` says which.
    """
    say = on_song or (lambda text: None)
    parse = parse_references or (lambda refs: ([Path(r) for r in refs], None))
    where = spec.source or "album"
    if len(spec.songs) > redbook.MAX_TRACKS:
        raise InvalidAudioError(f"{where}: {len(spec.songs)} songs; a CD holds at most {redbook.MAX_TRACKS}")
    catalog = redbook.normalise_catalog(spec.catalog) if spec.catalog else None
    isrcs = [redbook.normalise_isrc(s.isrc) if s.isrc else None for s in spec.songs]
    paths = output_paths(spec, out_dir)
    image_path, cue_path, report_path, page_path = paths[-4:]
    for path in paths:
        check_output_path(path, [s.file for s in spec.songs], force)
    needs_album_refs = not all(s.references for s in spec.songs)
    choosing = needs_album_refs and not spec.references
    if choosing and choose is None:
        raise InvalidAudioError(f"{where}: no references (give the album's, or every song's)")
    if choosing:
        choose.check()

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

    album_refs, album_weights = references_of(spec.references) if spec.references else ([], None)
    song_refs = [references_of(s.references) if s.references else None for s in spec.songs]

    # Pass 1: trim and analyse every song, in the album's layout.
    infos = [open_audio(s.file) for s in spec.songs]
    channels = max(info.channels for info in infos)
    songs = [_analysed_song(k + 1, info, spec, channels, say) for k, info in enumerate(infos)]
    cd_lengths = [_cd_length(s.frames, s.sample_rate_hz) for s in songs]
    gaps = [redbook.round_up_to_frame(int(round(spec.gap_before_s(k) * redbook.CD_SAMPLE_RATE_HZ))) for k in range(len(songs))]
    redbook.check_disc(cd_lengths, gaps)

    choice = None
    if choosing:
        # One choice for the album: a shared target for songs that must sit together.
        choice = choose.for_songs(
            [s.analysis for s in songs],
            [s.frames / s.sample_rate_hz for s in songs],
            exclude_sha256=[file_sha256(s.file) for s in spec.songs],
        )
        album_refs, album_weights = list(choice.analyses), list(choice.weights)
    for song, own in zip(songs, song_refs):
        song.references, song.weights = own if own is not None else (album_refs, album_weights)

    target = spec.lufs if spec.lufs is not None else combine(album_refs or songs[0].references, album_weights).integrated_lufs
    targets = balanced_targets(
        [s.analysis.integrated_lufs for s in songs], target, spec.quietest_lu, [s.loudness_offset_lu for s in spec.songs]
    )
    limiter = LimiterSettings(ceiling_dbtp=spec.ceiling_dbtp)
    settings = [
        fit(s.analysis, s.references, replace(config, target_lufs=float(t), limiter=limiter, output=OutputSettings("32f")), s.weights)
        for s, t in zip(songs, targets)
    ]

    # Pass 2: plan and render every song, one at a time, straight to its files and the image.
    # A song that cannot reach its level means the album must be lowered: the others are
    # then only planned (for the largest shortfall), and the album rendered again.
    delivery = _deliver(spec, songs, settings, paths, gaps, say, stop_short=True)
    shift_db = 0.0
    if delivery.shortfall_lu > REACHED_LU:
        delivery.discard()
        shift_db = -math.ceil(delivery.shortfall_lu * 10) / 10
        settings = [replace(s, loudness=replace(s.loudness, target_lufs=s.loudness.target_lufs + shift_db)) for s in settings]
        delivery = _deliver(spec, songs, settings, paths, gaps, say, stop_short=False)

    try:
        results = [
            _song_result(spec, song, s, output, starts)
            for song, s, output, starts in zip(songs, settings, delivery.outputs, delivery.starts)
        ]
        album_peak = max(r.true_peak_dbtp for r in results)
        result = AlbumResult(
            tuple(results), image_path, cue_path, report_path, delivery.image.loudness_lufs(), album_peak, shift_db,
            joined_loudness_lufs([output.measured for output in delivery.outputs]), channels, choice,
        )
        for output, r in zip(delivery.outputs, results):
            tags = _tags(spec, spec.songs[r.number - 1], r.number, len(songs), isrcs[r.number - 1])
            if spec.format == "flac":
                tags |= replaygain_tags(r.lufs, 10 ** (r.true_peak_dbtp / 20), result.songs_album_lufs, 10 ** (album_peak / 20))
            write_tags(output.writer.temporary_path, tags)
        for output in delivery.outputs:
            output.writer.commit()
        delivery.image.commit()
    except BaseException:
        delivery.discard()
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
    write_text_atomic(report_path, album_report_json(spec, result))
    write_text_atomic(page_path, render_album_page(spec.title, spec.performer, result, cue_text))
    return result


def _analysed_song(number: int, info: AudioInfo, spec: AlbumSpec, channels: int, say: Callable[[str], None]) -> _Song:
    """Trim and analyse one song (decoded once for both), in the album's layout."""
    song = spec.songs[number - 1]
    say(f"analysing {number}/{len(spec.songs)}: {song.file.name}")
    whole = _as_layout(_read(song.file, (0, info.frames)), channels)
    bounds = sound_bounds([whole], spec.trim_threshold_dbfs) if spec.trim else None
    span = trim_span(bounds, whole.shape[0], info.sample_rate_hz, spec.trim_margin_s)
    audio = whole[span[0] : span[1]]
    if audio.shape[0] < redbook.MIN_TRACK_S * info.sample_rate_hz:
        raise InvalidAudioError(
            f"{song.file}: {audio.shape[0] / info.sample_rate_hz:.2f} s long once trimmed; "
            f"a CD track must be at least {redbook.MIN_TRACK_S:g} s"
        )
    analyzer = Analyzer(info.sample_rate_hz, channels, true_peak=False)
    analyzer.process(audio)
    del whole, audio
    analysis = analyzer.finish()
    require_audible(info, analysis)
    return _Song(number, span, info.sample_rate_hz, channels, analysis)


def _deliver(
    spec: AlbumSpec,
    songs: Sequence[_Song],
    settings: Sequence[Settings],
    paths: Sequence[Path],
    gaps: Sequence[int],
    say: Callable[[str], None],
    stop_short: bool,
) -> _Delivery:
    """Render the songs in order into their files and the image (see ``master_album``).

    With ``stop_short``, once a song's plan falls short of its target the songs after it
    are only planned, to find the largest shortfall; such a delivery is for discarding."""
    delivery = _Delivery(CdImage(paths[-4]))
    try:
        with delivery.image:
            for k, (song, s) in enumerate(zip(songs, settings)):
                say(f"rendering {k + 1}/{len(songs)}")
                output = _render_song(spec, song, s, paths[k], delivery, stop_short)
                if output is not None:
                    pregap = delivery.image.position if gaps[k] else None
                    delivery.image.gap(gaps[k])
                    delivery.starts.append((pregap, delivery.image.append(output)))
    except BaseException:
        delivery.discard()
        raise
    return delivery


def _render_song(
    spec: AlbumSpec, song: _Song, settings: Settings, path: Path, delivery: _Delivery, stop_short: bool
) -> SongOutput | None:
    """Plan one song (its shortfall goes into ``delivery``) and render it into its
    :class:`SongOutput`; with ``stop_short``, only plan it once the album falls short."""
    spec_song = spec.songs[song.number - 1]

    def source() -> Iterator[np.ndarray]:
        return _blocks(spec_song.file, song.audio_span, song.channels)

    renderer = Renderer(settings, song.sample_rate_hz, song.channels)
    plan = renderer.plan(source)
    if plan.predicted_lufs is not None and not plan.target_reached:
        delivery.shortfall_lu = max(delivery.shortfall_lu, settings.loudness.target_lufs - plan.predicted_lufs)
    if stop_short and delivery.shortfall_lu > REACHED_LU:
        return None
    output = SongOutput(
        path, song.sample_rate_hz, song.channels, spec.bit_depth, song.number, song.frames,
        spec_song.fade_in_s, spec_song.fade_out_s, spec.fade_curve, spec.ceiling_dbtp,
    )
    delivery.outputs.append(output)
    renderer.render(source, output.take, plan)
    return output


def _song_result(spec: AlbumSpec, song: _Song, settings: Settings, output: SongOutput, starts: tuple[int | None, int]) -> SongResult:
    measured = output.measured
    spec_song = spec.songs[song.number - 1]
    return SongResult(
        number=song.number,
        title=spec_song.title,
        source=str(spec_song.file),
        output=str(output.path),
        mix_lufs=song.analysis.integrated_lufs,
        target_lufs=settings.loudness.target_lufs,
        lufs=measured.lufs,
        true_peak_dbtp=measured.true_peak_dbtp,
        loudness_range_lu=measured.loudness_range_lu,
        plr_db=measured.true_peak_dbtp - measured.lufs,
        duration_s=measured.frames / song.sample_rate_hz,
        start_samples=starts[1],
        pregap_start_samples=starts[0],
        streaming=streaming_gains(measured.lufs, measured.true_peak_dbtp),
        channels=song.channels,
        cd_gain_db=output.cd_gain_db,
    )


def _read(path: Path, span: tuple[int, int]) -> np.ndarray:
    audio, _ = sf.read(str(path), start=span[0], stop=span[1], dtype="float32", always_2d=True)
    if not np.all(np.isfinite(audio)):
        raise InvalidAudioError(f"{path}: non-finite sample (NaN or infinity)")
    return audio


def _blocks(path: Path, span: tuple[int, int], channels: int) -> Iterator[np.ndarray]:
    """The song's span, block by block (float32, in the album's layout), from its file."""
    with sf.SoundFile(str(path)) as f:
        f.seek(span[0])
        left = span[1] - span[0]
        while left > 0:
            block = f.read(min(BLOCK_FRAMES, left), dtype="float32", always_2d=True)
            if not block.shape[0]:
                break
            if not np.isfinite(block.sum(dtype=np.float64)) and not np.all(np.isfinite(block)):
                raise InvalidAudioError(f"{path}: non-finite sample (NaN or infinity)")
            left -= block.shape[0]
            yield _as_layout(block, channels)


def _as_layout(audio: np.ndarray, channels: int) -> np.ndarray:
    """A mono block as dual mono (both channels the same) in a stereo album."""
    return np.repeat(audio, channels, axis=1) if audio.shape[1] < channels else audio


def _cd_length(frames: int, sample_rate_hz: int) -> int:
    """Samples a song of ``frames`` takes in the image: at 44.1 kHz, padded to a CD frame."""
    return redbook.round_up_to_frame(-(-frames * redbook.CD_SAMPLE_RATE_HZ // sample_rate_hz))


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
    """The album report as JSON (schema 1; ``chosen_references`` is None when the references
    were given)."""
    import json

    choice = result.choice
    return json.dumps(
        {
            "schema_version": 1,
            "title": spec.title,
            "performer": spec.performer,
            "image": str(result.image),
            "cue": str(result.cue),
            "album_lufs": round(result.album_lufs, 2),
            "songs_album_lufs": round(result.songs_album_lufs, 2),
            "album_true_peak_dbtp": round(result.album_true_peak_dbtp, 2),
            "shift_db": result.shift_db,
            "channels": result.channels,
            "chosen_references": None if choice is None else {
                "names": list(choice.names),
                "weights": [round(w, 4) for w in choice.weights],
                "distances": None if choice.distances is None else [round(d, 3) for d in choice.distances],
                "how": choice.how,
            },
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
                    "cd_gain_db": round(r.cd_gain_db, 2),
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
