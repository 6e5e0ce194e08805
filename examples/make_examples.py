"""Synthesise the bundled example mix and reference.

Writes ``mix.flac`` (an unmastered-sounding mix) and ``reference.flac`` (a loud,
bright, wide "mastered" track with a different arrangement) so that the README's
first command has something to work on::

    python examples/make_examples.py --out examples

Everything is generated here from oscillators and seeded noise; no third-party
audio is used. Synthesis needs only numpy, scipy and soundfile; pyloudnorm, if
installed, is used only to print the integrated loudness (ITU-R BS.1770-4).

Arrays are ``(n_samples, n_channels)`` float64 in [-1, 1], as soundfile reads
and writes them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

SAMPLE_RATE_HZ = 44_100
TEMPO_BPM = 120.0
STEPS_PER_BAR = 16
N_BARS = 4
FADE_MS = 10.0
"""Fade at each end of the finished pieces."""
CLOSED_HAT_DECAY_MS = 15.0
OPEN_HAT_DECAY_MS = 70.0
SEED = 20_240_601
STEP_S = 60.0 / TEMPO_BPM / 4.0
"""Length of a sixteenth note in seconds."""


@dataclass(frozen=True)
class Arrangement:
    """Notes and levels of one four-bar piece.

    Steps are sixteenth notes counted from the start of a bar (0-15); note
    numbers are MIDI (69 = A4 = 440 Hz).
    """

    kick_steps: tuple[int, ...]
    snare_steps: tuple[int, ...]
    hat_steps: tuple[int, ...]
    open_hat_steps: tuple[int, ...]
    chords_midi: tuple[tuple[int, ...], ...]
    bass_roots_midi: tuple[int, ...]
    bass_pattern: tuple[tuple[int, int, int], ...]
    """(step, semitones above the bar's root, length in steps), repeated each bar."""
    arp_steps: tuple[int, ...]
    kick_db: float
    snare_db: float
    hat_db: float
    bass_db: float
    pad_db: float
    arp_db: float
    hat_pan: float
    """-1 (left) to 1 (right)."""
    pad_detune_cents: float
    bass_cutoff_hz: float
    pad_cutoff_hz: float


@dataclass(frozen=True)
class BusProcessing:
    """Tonal balance, width and level applied to the summed piece."""

    low_shelf_gain_db: float
    low_shelf_hz: float
    high_shelf_gain_db: float
    high_shelf_hz: float
    side_gain: float
    """Linear gain on the side signal: below 1 narrows, above 1 widens."""
    clip_drive_db: float | None
    """Gain into a tanh soft clipper; None leaves the dynamics alone."""
    peak_dbfs: float


# A minor, syncopated kick, sparse, no keys: a rough mix before mastering.
MIX_ARRANGEMENT = Arrangement(
    kick_steps=(0, 7, 10),
    snare_steps=(4, 12),
    hat_steps=(0, 2, 4, 6, 8, 10, 12, 14),
    open_hat_steps=(),
    chords_midi=((57, 60, 64), (53, 57, 60), (55, 60, 64), (55, 59, 62)),
    bass_roots_midi=(33, 29, 36, 31),
    bass_pattern=((0, 0, 3), (7, 0, 2), (10, 7, 2), (14, 12, 2)),
    arp_steps=(),
    kick_db=-4.0,
    snare_db=-8.0,
    hat_db=-19.0,
    bass_db=-9.0,
    pad_db=-13.0,
    arp_db=-17.0,
    hat_pan=0.2,
    pad_detune_cents=6.0,
    bass_cutoff_hz=500.0,
    pad_cutoff_hz=3_000.0,
)

# D minor, four-on-the-floor, sixteenth hats, pluck arpeggio: a finished dance track.
REFERENCE_ARRANGEMENT = Arrangement(
    kick_steps=(0, 4, 8, 12),
    snare_steps=(4, 12),
    hat_steps=(0, 1, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15),
    open_hat_steps=(2, 6, 10, 14),
    chords_midi=((62, 65, 69), (58, 62, 65), (60, 65, 69), (60, 64, 67)),
    bass_roots_midi=(38, 34, 41, 36),
    bass_pattern=((2, 0, 2), (6, 0, 1), (7, 12, 1), (10, 0, 2), (14, 7, 2)),
    arp_steps=(0, 3, 6, 8, 11, 14),
    kick_db=-4.0,
    snare_db=-9.0,
    hat_db=-22.0,
    bass_db=-9.0,
    pad_db=-13.0,
    arp_db=-15.0,
    hat_pan=-0.35,
    pad_detune_cents=12.0,
    bass_cutoff_hz=900.0,
    pad_cutoff_hz=5_000.0,
)

MIX_BUS = BusProcessing(
    low_shelf_gain_db=3.0,
    low_shelf_hz=180.0,
    high_shelf_gain_db=-3.5,
    high_shelf_hz=3_500.0,
    side_gain=0.6,
    clip_drive_db=None,
    peak_dbfs=-6.0,
)

REFERENCE_BUS = BusProcessing(
    low_shelf_gain_db=1.0,
    low_shelf_hz=80.0,
    high_shelf_gain_db=3.0,
    high_shelf_hz=6_000.0,
    side_gain=1.35,
    clip_drive_db=4.5,
    peak_dbfs=-0.1,
)


def db_to_gain(level_db: float) -> float:
    """Convert a level in dB to a linear amplitude factor."""
    return float(10.0 ** (level_db / 20.0))


def midi_to_hz(note_midi: float) -> float:
    """Convert a MIDI note number to frequency in Hz (A4 = 69 = 440 Hz)."""
    return float(440.0 * 2.0 ** ((note_midi - 69.0) / 12.0))


def step_to_sample(step: int, sample_rate_hz: int) -> int:
    """Start sample of a sixteenth-note step counted from the start of the piece."""
    return round(step * STEP_S * sample_rate_hz)


def time_axis_s(n_samples: int, sample_rate_hz: int) -> np.ndarray:
    """Sample times in seconds, shape ``(n_samples,)``."""
    return np.arange(n_samples) / sample_rate_hz


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power (-3 dB centre) left and right gains for ``pan`` in [-1, 1]."""
    angle_rad = (pan + 1.0) * np.pi / 4.0
    return float(np.cos(angle_rad)), float(np.sin(angle_rad))


def band_limited_saw(
    freq_hz: float,
    n_samples: int,
    sample_rate_hz: int,
    max_freq_hz: float,
    phase_rad: float = 0.0,
) -> np.ndarray:
    """Sawtooth built from harmonics below ``max_freq_hz``, so it cannot alias.

    Returns shape ``(n_samples,)``, peak roughly 1.
    """
    t_s = time_axis_s(n_samples, sample_rate_hz)
    n_harmonics = max(1, int(min(max_freq_hz, 0.45 * sample_rate_hz) // freq_hz))
    out = np.zeros(n_samples)
    for k in range(1, n_harmonics + 1):
        out += np.sin(2.0 * np.pi * k * freq_hz * t_s + k * phase_rad) / k
    return out * (2.0 / np.pi)


def kick(sample_rate_hz: int) -> np.ndarray:
    """Kick drum: sine swept from 150 Hz to 48 Hz with an exponential decay.

    Returns shape ``(n_samples,)``, peak about 1.
    """
    t_s = time_axis_s(int(0.6 * sample_rate_hz), sample_rate_hz)
    freq_hz = 48.0 + (150.0 - 48.0) * np.exp(-t_s / 0.03)
    phase_rad = 2.0 * np.pi * np.cumsum(freq_hz) / sample_rate_hz
    body = np.sin(phase_rad) * np.exp(-t_s / 0.16)
    click = np.sin(2.0 * np.pi * 1_200.0 * t_s) * np.exp(-t_s / 0.004)
    return fade_ends(body + 0.25 * click, sample_rate_hz, 0.5, 30.0)


def snare(rng: np.random.Generator, sample_rate_hz: int) -> np.ndarray:
    """Snare drum: band-passed noise burst plus a decaying 190 Hz tone.

    Returns shape ``(n_samples,)``, peak about 1.
    """
    t_s = time_axis_s(int(0.25 * sample_rate_hz), sample_rate_hz)
    sos = signal.butter(2, (1_500.0, 9_000.0), btype="bandpass", fs=sample_rate_hz, output="sos")
    noise = signal.sosfilt(sos, rng.standard_normal(t_s.size))
    noise *= np.exp(-t_s / 0.07) / np.max(np.abs(noise))
    tone = np.sin(2.0 * np.pi * 190.0 * t_s) * np.exp(-t_s / 0.05)
    return fade_ends(0.8 * noise + 0.6 * tone, sample_rate_hz, 0.5, 20.0)


def hat(rng: np.random.Generator, sample_rate_hz: int, decay_ms: float) -> np.ndarray:
    """Hi-hat: band-passed (7-16 kHz) noise with an exponential decay.

    The upper band edge keeps the hats bright while leaving FLAC a spectral gap
    to exploit; broadband noise is what makes the example files large.
    Returns shape ``(n_samples,)``, peak about 1.
    """
    t_s = time_axis_s(int(6.0 * decay_ms * 1e-3 * sample_rate_hz), sample_rate_hz)
    sos = signal.butter(4, (7_000.0, 16_000.0), btype="bandpass", fs=sample_rate_hz, output="sos")
    noise = signal.sosfilt(sos, rng.standard_normal(t_s.size))
    out = noise * np.exp(-t_s / (decay_ms * 1e-3)) / np.max(np.abs(noise))
    return fade_ends(out, sample_rate_hz, 0.2, 5.0)


def bass_note(
    note_midi: int, duration_s: float, sample_rate_hz: int, cutoff_hz: float
) -> np.ndarray:
    """Bass: low-passed saw plus a sine an octave below; shape ``(n_samples,)``."""
    n_samples = int(duration_s * sample_rate_hz)
    freq_hz = midi_to_hz(note_midi)
    saw = band_limited_saw(freq_hz, n_samples, sample_rate_hz, 4.0 * cutoff_hz)
    sos = signal.butter(2, cutoff_hz, btype="lowpass", fs=sample_rate_hz, output="sos")
    sub = np.sin(2.0 * np.pi * 0.5 * freq_hz * time_axis_s(n_samples, sample_rate_hz))
    out = 0.6 * signal.sosfilt(sos, saw) + 0.5 * sub
    return fade_ends(out, sample_rate_hz, 5.0, 30.0)


def pad_chord(
    rng: np.random.Generator,
    notes_midi: tuple[int, ...],
    duration_s: float,
    sample_rate_hz: int,
    detune_cents: float,
    cutoff_hz: float,
) -> np.ndarray:
    """Chord pad: two detuned saws per note, detuned differently in each channel.

    The left and right channels get opposite detuning and random phases, which
    makes them partly decorrelated: real stereo width, not just panning.
    Returns shape ``(n_samples, 2)``.
    """
    n_samples = int(duration_s * sample_rate_hz)
    out = np.zeros((n_samples, 2))
    for channel, sign in enumerate((1.0, -1.0)):
        for note_midi in notes_midi:
            for detune in (sign * detune_cents, -0.4 * sign * detune_cents):
                freq_hz = midi_to_hz(note_midi + detune / 100.0)
                phase_rad = rng.uniform(0.0, 2.0 * np.pi)
                out[:, channel] += band_limited_saw(
                    freq_hz, n_samples, sample_rate_hz, cutoff_hz, phase_rad
                )
    sos = signal.butter(2, cutoff_hz, btype="lowpass", fs=sample_rate_hz, output="sos")
    out = signal.sosfilt(sos, out, axis=0)
    return fade_ends(out / (2.0 * len(notes_midi)), sample_rate_hz, 80.0, 250.0)


def pluck(note_midi: int, sample_rate_hz: int) -> np.ndarray:
    """Short keys/pluck note: a few decaying harmonics; shape ``(n_samples,)``."""
    t_s = time_axis_s(int(0.3 * sample_rate_hz), sample_rate_hz)
    freq_hz = midi_to_hz(note_midi)
    out = np.zeros(t_s.size)
    for k, amplitude in enumerate((1.0, 0.5, 0.3, 0.2, 0.1), start=1):
        out += amplitude * np.sin(2.0 * np.pi * k * freq_hz * t_s) * np.exp(-t_s * k / 0.12)
    return fade_ends(out / 1.6, sample_rate_hz, 2.0, 30.0)


def add_event(
    bus: np.ndarray, event: np.ndarray, start_sample: int, gain: float, pan: float = 0.0
) -> None:
    """Mix ``event`` into stereo ``bus`` in place, truncating at the end of ``bus``.

    ``event`` is mono ``(n,)`` (panned with :func:`pan_gains`) or stereo ``(n, 2)``
    (``pan`` ignored). ``bus`` is ``(n_samples, 2)``.
    """
    n = min(event.shape[0], bus.shape[0] - start_sample)
    if n <= 0:
        return
    if event.ndim == 1:
        left_gain, right_gain = pan_gains(pan)
        stereo = event[:n, np.newaxis] * np.array([left_gain, right_gain])
    else:
        stereo = event[:n]
    bus[start_sample : start_sample + n] += gain * stereo


def render_drums(
    bus: np.ndarray, arrangement: Arrangement, rng: np.random.Generator, sample_rate_hz: int
) -> None:
    """Add kick, snare and hi-hats for every bar to ``bus`` in place."""
    kick_sound = kick(sample_rate_hz)
    for bar in range(N_BARS):
        offset = bar * STEPS_PER_BAR
        for step in arrangement.kick_steps:
            start = step_to_sample(offset + step, sample_rate_hz)
            add_event(bus, kick_sound, start, db_to_gain(arrangement.kick_db))
        for step in arrangement.snare_steps:
            start = step_to_sample(offset + step, sample_rate_hz)
            add_event(
                bus, snare(rng, sample_rate_hz), start, db_to_gain(arrangement.snare_db), -0.05
            )
        for step in arrangement.hat_steps:
            start = step_to_sample(offset + step, sample_rate_hz)
            accent_db = 0.0 if step % 4 == 2 else -4.0
            gain = db_to_gain(arrangement.hat_db + accent_db)
            add_event(
                bus,
                hat(rng, sample_rate_hz, CLOSED_HAT_DECAY_MS),
                start,
                gain,
                arrangement.hat_pan,
            )
        for step in arrangement.open_hat_steps:
            start = step_to_sample(offset + step, sample_rate_hz)
            gain = db_to_gain(arrangement.hat_db - 3.0)
            add_event(
                bus, hat(rng, sample_rate_hz, OPEN_HAT_DECAY_MS), start, gain, -arrangement.hat_pan
            )


def render_bass(bus: np.ndarray, arrangement: Arrangement, sample_rate_hz: int) -> None:
    """Add the bass line for every bar to ``bus`` in place."""
    for bar, root_midi in enumerate(arrangement.bass_roots_midi):
        for step, interval, length_steps in arrangement.bass_pattern:
            note = bass_note(
                root_midi + interval,
                length_steps * STEP_S,
                sample_rate_hz,
                arrangement.bass_cutoff_hz,
            )
            start = step_to_sample(bar * STEPS_PER_BAR + step, sample_rate_hz)
            add_event(bus, note, start, db_to_gain(arrangement.bass_db))


def render_harmony(
    bus: np.ndarray, arrangement: Arrangement, rng: np.random.Generator, sample_rate_hz: int
) -> None:
    """Add one pad chord per bar and, if any, the pluck arpeggio to ``bus`` in place."""
    bar_s = STEPS_PER_BAR * STEP_S
    for bar, chord_midi in enumerate(arrangement.chords_midi):
        pad = pad_chord(
            rng,
            chord_midi,
            bar_s,
            sample_rate_hz,
            arrangement.pad_detune_cents,
            arrangement.pad_cutoff_hz,
        )
        add_event(
            bus,
            pad,
            step_to_sample(bar * STEPS_PER_BAR, sample_rate_hz),
            db_to_gain(arrangement.pad_db),
        )
        for index, step in enumerate(arrangement.arp_steps):
            note_midi = chord_midi[index % len(chord_midi)] + 12
            pan = 0.6 if index % 2 else -0.6
            start = step_to_sample(bar * STEPS_PER_BAR + step, sample_rate_hz)
            add_event(
                bus, pluck(note_midi, sample_rate_hz), start, db_to_gain(arrangement.arp_db), pan
            )


def render_arrangement(
    arrangement: Arrangement, rng: np.random.Generator, sample_rate_hz: int
) -> np.ndarray:
    """Render all parts of ``arrangement``; returns ``(n_samples, 2)``, unnormalised."""
    n_samples = step_to_sample(N_BARS * STEPS_PER_BAR, sample_rate_hz)
    bus = np.zeros((n_samples, 2))
    render_drums(bus, arrangement, rng, sample_rate_hz)
    render_bass(bus, arrangement, sample_rate_hz)
    render_harmony(bus, arrangement, rng, sample_rate_hz)
    return bus


def shelf_sos(kind: str, corner_hz: float, gain_db: float, sample_rate_hz: int) -> np.ndarray:
    """RBJ Audio EQ Cookbook shelving biquad (slope 1) as a ``(1, 6)`` sos array.

    ``kind`` is ``"low"`` or ``"high"``; ``gain_db`` is the shelf's plateau gain.
    """
    if kind not in ("low", "high"):
        raise ValueError(f"shelf kind must be 'low' or 'high', not {kind!r}")
    amplitude = 10.0 ** (gain_db / 40.0)
    omega_rad = 2.0 * np.pi * corner_hz / sample_rate_hz
    cos_w, sin_w = np.cos(omega_rad), np.sin(omega_rad)
    alpha = sin_w / np.sqrt(2.0)
    root = 2.0 * np.sqrt(amplitude) * alpha
    sign = 1.0 if kind == "low" else -1.0
    ap1, am1 = amplitude + 1.0, amplitude - 1.0
    b = amplitude * np.array(
        [
            ap1 - sign * am1 * cos_w + root,
            2.0 * sign * (am1 - sign * ap1 * cos_w),
            ap1 - sign * am1 * cos_w - root,
        ]
    )
    a = np.array(
        [
            ap1 + sign * am1 * cos_w + root,
            -2.0 * sign * (am1 + sign * ap1 * cos_w),
            ap1 + sign * am1 * cos_w - root,
        ]
    )
    return np.concatenate([b / a[0], a / a[0]])[np.newaxis, :]


def set_width(audio: np.ndarray, side_gain: float) -> np.ndarray:
    """Scale the side (L - R) signal by ``side_gain``; ``(n_samples, 2)`` in and out."""
    mid = 0.5 * (audio[:, 0] + audio[:, 1])
    side = 0.5 * (audio[:, 0] - audio[:, 1]) * side_gain
    return np.stack([mid + side, mid - side], axis=1)


def soft_clip(audio: np.ndarray, drive_db: float) -> np.ndarray:
    """Peak-normalise ``audio``, then drive it ``drive_db`` into tanh at 4x oversampling.

    Oversampling keeps the clipper's harmonics from aliasing back into the band.
    Returns the same shape as ``audio``. The decimation filter rings, so samples
    can land slightly outside [-1, 1]; the caller sets the final peak level.
    """
    oversampled = signal.resample_poly(audio, 4, 1, axis=0)
    oversampled *= db_to_gain(drive_db) / np.max(np.abs(oversampled))
    return signal.resample_poly(np.tanh(oversampled), 1, 4, axis=0)[: audio.shape[0]]


def fade_ends(
    audio: np.ndarray, sample_rate_hz: int, fade_in_ms: float, fade_out_ms: float
) -> np.ndarray:
    """Raised-cosine fade-in and fade-out along axis 0; returns a new array.

    ``audio`` is ``(n_samples,)`` or ``(n_samples, n_channels)``. Used on every
    one-shot sound and on the finished piece so nothing starts or stops with a click.
    """
    out = audio.copy()
    n_in = min(out.shape[0], int(fade_in_ms * 1e-3 * sample_rate_hz))
    n_out = min(out.shape[0], int(fade_out_ms * 1e-3 * sample_rate_hz))
    ramp_in = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n_in))
    ramp_out = 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n_out))
    trailing = (1,) * (out.ndim - 1)
    out[:n_in] *= ramp_in.reshape(-1, *trailing)
    out[out.shape[0] - n_out :] *= ramp_out.reshape(-1, *trailing)
    return out


def process_bus(audio: np.ndarray, bus: BusProcessing, sample_rate_hz: int) -> np.ndarray:
    """Apply EQ, width, optional soft clipping, DC removal, fades and peak level."""
    sos = np.vstack(
        [
            shelf_sos("low", bus.low_shelf_hz, bus.low_shelf_gain_db, sample_rate_hz),
            shelf_sos("high", bus.high_shelf_hz, bus.high_shelf_gain_db, sample_rate_hz),
        ]
    )
    out = set_width(signal.sosfilt(sos, audio, axis=0), bus.side_gain)
    if bus.clip_drive_db is not None:
        out = soft_clip(out, bus.clip_drive_db)
    # A 10 Hz high-pass removes DC and subsonic build-up without touching the kick.
    dc_sos = signal.butter(2, 10.0, btype="highpass", fs=sample_rate_hz, output="sos")
    out = fade_ends(signal.sosfiltfilt(dc_sos, out, axis=0), sample_rate_hz, FADE_MS, FADE_MS)
    return out * db_to_gain(bus.peak_dbfs) / np.max(np.abs(out))


def make_piece(
    arrangement: Arrangement, bus: BusProcessing, seed: int, sample_rate_hz: int
) -> np.ndarray:
    """Render and process one piece; returns ``(n_samples, 2)`` float64 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    audio = process_bus(render_arrangement(arrangement, rng, sample_rate_hz), bus, sample_rate_hz)
    if not np.all(np.isfinite(audio)):
        raise ValueError("synthesis produced non-finite samples")
    return audio


def describe(path: Path) -> str:
    """One line: duration, file size, integrated loudness and sample peak of ``path``."""
    audio, file_rate_hz = sf.read(path, dtype="float64", always_2d=True)
    duration_s = audio.shape[0] / file_rate_hz
    size_kb = path.stat().st_size / 1024.0
    peak_dbfs = 20.0 * np.log10(np.max(np.abs(audio)))
    try:
        import pyloudnorm
    except ImportError:
        loudness_text = "n/a (pyloudnorm not installed)"
    else:
        loudness_lufs = pyloudnorm.Meter(file_rate_hz).integrated_loudness(audio)
        loudness_text = f"{loudness_lufs:6.2f} LUFS"
    return (
        f"{path.name:<16} {duration_s:5.2f} s  {size_kb:7.1f} KB  "
        f"{loudness_text}  sample peak {peak_dbfs:6.2f} dBFS"
    )


def main() -> None:
    """Write ``mix.flac`` and ``reference.flac`` and print their measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output folder (default: this script's folder)",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pieces = {
        "mix.flac": make_piece(MIX_ARRANGEMENT, MIX_BUS, SEED, SAMPLE_RATE_HZ),
        "reference.flac": make_piece(
            REFERENCE_ARRANGEMENT, REFERENCE_BUS, SEED + 1, SAMPLE_RATE_HZ
        ),
    }
    for name, audio in pieces.items():
        path = args.out / name
        sf.write(path, audio, SAMPLE_RATE_HZ, subtype="PCM_16", format="FLAC")
        print(describe(path))


if __name__ == "__main__":
    main()
