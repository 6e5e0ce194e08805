"""The condition of a mix: the problems a mastering engineer looks for before anything else.

DC offset, a left/right level imbalance, clipping (runs of samples stuck at full scale),
leading and trailing silence are measured here sample by sample; stereo correlation comes
from the spectrum analysis (:mod:`matcher.analysis.spectrum`); a mix that is already
limited shows in its peak-to-loudness ratio. :func:`mix_problems` turns the figures of an
:class:`~matcher.analysis.result.Analysis` into readable warnings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from matcher.analysis.result import Analysis

from matcher.units import gain_to_db, power_to_db

CLIP_LEVEL = 0.999
"""Samples at or above this magnitude (-0.009 dBFS) count as at full scale."""
CLIP_RUN_SAMPLES = 3
"""Consecutive equal samples at full scale that make a clipped run (a flat top): real peaks
rarely hold two, and a float mix's overs above 0 dBFS are not flat."""
SILENCE_DBFS = -60.0
SILENCE_LEVEL = 10.0 ** (SILENCE_DBFS / 20.0)
SCAN_SAMPLES = 4096

DC_WARNING_DBFS = -40.0
BALANCE_WARNING_DB = 1.5
CORRELATION_WARNING = -0.3
LIMITED_PLR_DB = 8.0
SILENCE_WARNING_S = 1.0


class Condition(NamedTuple):
    """Figures of :class:`ConditionMeter`."""

    dc_offset_dbfs: tuple[float, ...]
    channel_balance_db: float
    clipped_runs: int
    leading_silence_s: float
    trailing_silence_s: float


class ConditionMeter:
    """Streaming measurement of DC offset, channel balance, clipping and silence.

    Parameters
    ----------
    sample_rate_hz : float
    channels : int
    """

    def __init__(self, sample_rate_hz: float, channels: int):
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.reset()

    def reset(self) -> None:
        """Forget the audio seen so far."""
        self._sums = np.zeros(self.channels)
        self._squares = np.zeros(self.channels)
        self._samples = 0
        self._run = np.zeros(self.channels, dtype=np.int64)  # full-scale run at the end so far
        self._run_value = np.zeros(self.channels)  # the sample value it holds
        self._runs = 0
        self._first_audible: int | None = None
        self._last_audible: int | None = None
        self._ones = np.ones(0)

    def process(self, block: np.ndarray, peak: float | None = None) -> None:
        """Feed a block of shape (n, channels), float32 or float64.

        Two BLAS products give the channels' sums and energies; the rest runs only where the
        block reaches full scale, or goes from silence to sound. ``peak``, the block's
        largest magnitude, saves a pass when the caller has it.
        """
        x = np.asarray(block)
        n = x.shape[0]
        if n == 0:
            return
        # Sums along time by BLAS products: numpy's strided column sums took 8x longer.
        if self._ones.shape[0] < n or self._ones.dtype != x.dtype:
            self._ones = np.ones(n, dtype=x.dtype)
        self._sums += self._ones[:n] @ x
        self._squares += [np.dot(x[:, c], x[:, c]) for c in range(x.shape[1])]
        if peak is None:
            peak = block_peak(x)
        if peak > SILENCE_LEVEL:
            if self._first_audible is None:
                self._first_audible = self._samples + _edge_above(x, SILENCE_LEVEL, last=False)
            self._last_audible = self._samples + _edge_above(x, SILENCE_LEVEL, last=True)
        for channel in range(self.channels):
            column = x[:, channel]
            at_full_scale = np.flatnonzero(np.abs(column) >= CLIP_LEVEL) if peak >= CLIP_LEVEL else None
            self._count_runs(channel, column, at_full_scale)
        self._samples += n

    def _count_runs(self, channel: int, column: np.ndarray, at_full_scale: np.ndarray | None) -> None:
        """Count each flat top of CLIP_RUN_SAMPLES or more once, when it ends; one reaching
        the block's end carries on into the next. ``at_full_scale``: the block's indices at
        full scale (None or empty: none)."""
        carried = int(self._run[channel])
        if at_full_scale is None or at_full_scale.size == 0:
            self._runs += int(carried >= CLIP_RUN_SAMPLES)
            self._run[channel] = 0
            return
        values = column[at_full_scale]
        # A run breaks where the indices jump or the value changes.
        breaks = np.flatnonzero((np.diff(at_full_scale) != 1) | (np.diff(values) != 0))
        first = np.concatenate([[0], breaks + 1])
        last = np.concatenate([breaks, [at_full_scale.size - 1]])
        starts, ends = at_full_scale[first], at_full_scale[last] + 1
        lengths = ends - starts
        if starts[0] == 0 and carried and values[0] == self._run_value[channel]:
            lengths[0] += carried
        elif carried >= CLIP_RUN_SAMPLES:  # the carried run ended with the last block
            self._runs += 1
        open_at_end = ends[-1] == column.shape[0]
        closed = lengths[:-1] if open_at_end else lengths
        self._runs += int(np.sum(closed >= CLIP_RUN_SAMPLES))
        self._run[channel] = lengths[-1] if open_at_end else 0
        self._run_value[channel] = values[-1]

    def finish(self) -> Condition:
        """The figures of everything fed."""
        runs = self._runs + int(np.sum(self._run >= CLIP_RUN_SAMPLES))
        n = max(self._samples, 1)
        dc = tuple(float(v) for v in gain_to_db(np.abs(self._sums) / n))
        balance = 0.0
        if self.channels == 2 and np.all(self._squares > 0):
            balance = float(power_to_db(self._squares[0]) - power_to_db(self._squares[1]))
        if self._first_audible is None:
            leading = trailing = self._samples / self.sample_rate_hz
        else:
            leading = self._first_audible / self.sample_rate_hz
            trailing = (self._samples - 1 - self._last_audible) / self.sample_rate_hz
        return Condition(dc, balance, runs, leading, trailing)


def block_peak(x: np.ndarray) -> float:
    """Largest magnitude of a block (without the temporary array of ``abs``)."""
    return max(float(x.max()), -float(x.min())) if x.size else 0.0


def _edge_above(x: np.ndarray, level: float, last: bool) -> int:
    """Index of the first (or last) sample, any channel, above ``level``; the block has one.
    Scanned in short windows from that end: music rarely needs more than one."""
    starts = range(0, x.shape[0], SCAN_SAMPLES)
    for start in reversed(starts) if last else starts:
        loud = np.flatnonzero(np.max(np.abs(x[start : start + SCAN_SAMPLES]), axis=1) > level)
        if loud.size:
            return start + int(loud[-1] if last else loud[0])
    raise ValueError("no sample above the level")


DC_ONLY_DBFS = -70.0
"""A signal that never departs from its DC offset by more than this holds no audio."""


def only_dc(analysis: Analysis) -> bool:
    """True when a mix is a DC offset and nothing else: its peak exceeds its largest channel
    mean by less than -70 dBFS. (Its switch-on and switch-off steps can read as loud.)"""
    if analysis.dc_offset_dbfs is None:
        return False
    dc = max(10.0 ** (d / 20.0) for d in analysis.dc_offset_dbfs)
    peak = 10.0 ** (analysis.sample_peak_dbfs / 20.0)
    return dc > 0.0 and peak - dc < 10.0 ** (DC_ONLY_DBFS / 20.0)


def mix_problems(analysis: Analysis) -> list[str]:
    """Readable warnings about a mix's condition (empty when it has none, or when the
    condition was not measured)."""
    problems = []
    if analysis.clipped_runs is None:
        return problems
    if analysis.clipped_runs:
        problems.append(
            f"clipped: {analysis.clipped_runs} runs of {CLIP_RUN_SAMPLES} or more samples at full scale"
        )
    peak_dbfs = analysis.true_peak_dbtp if analysis.true_peak_dbtp is not None else analysis.sample_peak_dbfs
    if not analysis.is_silent and peak_dbfs - analysis.integrated_lufs < LIMITED_PLR_DB:
        problems.append(
            f"already limited or heavily compressed: {peak_dbfs - analysis.integrated_lufs:.1f} dB from peak to "
            "loudness; there is little left to match"
        )
    if analysis.channels == 2 and analysis.lr_correlation < CORRELATION_WARNING:
        problems.append(
            f"left and right are out of phase (correlation {analysis.lr_correlation:+.2f}): is one channel's "
            "polarity inverted? The mix would cancel in mono"
        )
    if analysis.channels == 2 and abs(analysis.channel_balance_db) > BALANCE_WARNING_DB:
        side = "left" if analysis.channel_balance_db > 0 else "right"
        problems.append(f"unbalanced: the {side} channel is {abs(analysis.channel_balance_db):.1f} dB louder")
    for name, level in zip(("left", "right") if analysis.channels == 2 else ("mono",), analysis.dc_offset_dbfs):
        if level > DC_WARNING_DBFS:
            problems.append(f"DC offset on the {name} channel: {level:.0f} dBFS")
    if analysis.leading_silence_s > SILENCE_WARNING_S:
        problems.append(f"{analysis.leading_silence_s:.1f} s of silence at the start")
    if analysis.trailing_silence_s > SILENCE_WARNING_S:
        problems.append(f"{analysis.trailing_silence_s:.1f} s of silence at the end")
    return problems

