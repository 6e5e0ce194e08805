"""Streaming analysis of a whole track into an :class:`~matcher.analysis.result.Analysis`."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from matcher.analysis.condition import ConditionMeter, block_peak
from matcher.analysis.loudness import SHORT_TERM_S, SUBBLOCK_S, LoudnessMeter, SubBlockEnergies, window_samples
from matcher.analysis.result import Analysis
from matcher.analysis.spectrum import DYNAMICS_CROSSOVERS_HZ, SpectrumAnalyzer
from matcher.analysis.truepeak import TruePeakDetector
from matcher.concurrency import engine_call
from matcher.units import FLOOR_DB, gain_to_db

CHUNK_SAMPLES = 1 << 18
"""Largest piece fed to the meters at once: bounds the memory of their intermediates."""


class Analyzer:
    """Feed a track block by block; :meth:`finish` returns its :class:`Analysis`.

    Run it under :func:`matcher.concurrency.pinned_native_threads` (as :func:`analyze` and
    the file jobs do): BLAS on one thread, for speed beside the engine's own threads and for
    the same figures to the last bit whatever the caller's thread pools.

    Parameters
    ----------
    sample_rate_hz : int
    channels : int
        1 or 2.
    true_peak : bool
        Measure the true peak (4x oversampling, about 40 % of the analysis time); when
        False, ``true_peak_dbtp`` and ``plr_db`` are None.
    condition : bool
        Measure the mix's condition (DC, balance, clipping, silence; about 10 % of the
        analysis time); when False, those fields are None. A reference needs none of it.
    loudness_maxima : bool
        Measure the loudest momentary and short-term loudness over every window start
        (about 15 % more time for an analysis without true peak: 4 % of ``match``, which
        leaves them out); when False, those fields are None. Fitting needs neither;
        ``automaster analyze`` shows them.
    """

    def __init__(
        self,
        sample_rate_hz: int,
        channels: int,
        true_peak: bool = True,
        condition: bool = True,
        loudness_maxima: bool = False,
    ):
        if channels not in (1, 2):
            raise ValueError(f"{channels} channels; mono or stereo is supported")
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self._loudness_maxima = loudness_maxima
        self._loudness = LoudnessMeter(sample_rate_hz, channels, maxima=loudness_maxima)
        self._spectrum = SpectrumAnalyzer(sample_rate_hz, channels)
        self._condition = ConditionMeter(sample_rate_hz, channels) if condition else None
        self._true_peak = TruePeakDetector(sample_rate_hz, with_short_interpolator=False) if true_peak else None
        self.reset()

    def reset(self) -> None:
        """Forget the audio seen so far."""
        self._loudness.reset()
        self._spectrum.reset()
        if self._condition is not None:
            self._condition.reset()
        if self._true_peak is not None:
            self._true_peak.reset()
        self._samples = 0
        self._sample_peak = 0.0
        self._true_peak_max = 0.0
        self._energies: SubBlockEnergies | None = None

    def process(self, block: np.ndarray) -> None:
        """Feed a block of shape (n, channels), float32 or float64; long blocks are taken in
        bounded chunks."""
        block = np.asarray(block)
        if block.dtype not in (np.float32, np.float64):
            block = block.astype(np.float64)
        for start in range(0, block.shape[0], CHUNK_SAMPLES):
            self._process_chunk(block[start : start + CHUNK_SAMPLES])

    def _process_chunk(self, block: np.ndarray) -> None:
        self._samples += block.shape[0]
        peak = block_peak(block)
        self._sample_peak = max(self._sample_peak, peak)
        self._loudness.process(block)
        self._spectrum.process(block)
        if self._condition is not None:
            self._condition.process(block, peak)
        if self._true_peak is not None:
            self._track_true_peak(self._true_peak.process(block))

    def finish(self) -> Analysis:
        """End of stream: the analysis of everything fed."""
        if self._true_peak is not None:
            self._track_true_peak(self._true_peak.finish())
        energies = self._energies = self._loudness.finish()
        spectra = self._spectrum.finish()
        condition = self._condition.finish() if self._condition is not None else None
        integrated = energies.integrated_lufs()
        maxima = self._loudness.maxima() if self._loudness_maxima else None
        # Tech 3342's loudness range needs at least one 3 s window: undefined below that.
        has_short_term = self._samples >= window_samples(SHORT_TERM_S, self.sample_rate_hz)
        true_peak = float(gain_to_db(self._true_peak_max)) if self._true_peak is not None else None
        silent = integrated <= FLOOR_DB
        width = np.where(
            (spectra.mid_db > FLOOR_DB) & (spectra.side_db > FLOOR_DB),
            spectra.side_db - spectra.mid_db,
            FLOOR_DB,
        )
        return Analysis(
            sample_rate_hz=int(self.sample_rate_hz),
            channels=self.channels,
            duration_s=self._samples / self.sample_rate_hz,
            integrated_lufs=integrated,
            loudness_range_lu=energies.loudness_range_lu() if has_short_term else None,
            sample_peak_dbfs=float(gain_to_db(self._sample_peak)),
            true_peak_dbtp=true_peak,
            plr_db=None if true_peak is None else 0.0 if silent else true_peak - integrated,
            short_term_hop_s=SUBBLOCK_S,
            short_term_lufs=tuple(np.round(energies.short_term_lufs(), 3).tolist()),
            band_centers_hz=tuple(spectra.centers_hz.tolist()),
            mid_spectrum_db=tuple(spectra.mid_db.tolist()),
            side_spectrum_db=tuple(spectra.side_db.tolist()),
            width_db=tuple(width.tolist()),
            gated_fraction=spectra.kept_fraction,
            dynamics_crossovers_hz=DYNAMICS_CROSSOVERS_HZ,
            band_level_percentiles_db=tuple(tuple(row) for row in np.round(spectra.dynamics_db, 3).tolist()),
            lr_correlation=round(spectra.lr_correlation, 4),
            band_lr_correlation=tuple(np.round(spectra.band_lr_correlation, 4).tolist()),
            dc_offset_dbfs=None if condition is None else tuple(round(v, 2) for v in condition.dc_offset_dbfs),
            channel_balance_db=None if condition is None else round(condition.channel_balance_db, 3),
            clipped_runs=None if condition is None else condition.clipped_runs,
            leading_silence_s=None if condition is None else round(condition.leading_silence_s, 4),
            trailing_silence_s=None if condition is None else round(condition.trailing_silence_s, 4),
            max_momentary_lufs=_rounded(None if maxima is None else maxima.momentary_lufs),
            max_short_term_lufs=_rounded(None if maxima is None else maxima.short_term_lufs),
        )

    def loudness_energies(self) -> SubBlockEnergies:
        """The K-weighted energies of the 100 ms sub-blocks (ITU-R BS.1770-4) that the
        loudness figures of :meth:`finish` come from; call it after :meth:`finish`. The
        renderer's quiet-passage guard takes them instead of measuring the mix again."""
        if self._energies is None:
            raise RuntimeError("loudness_energies() is the whole signal's: call finish() first")
        return self._energies

    def _track_true_peak(self, peaks: np.ndarray) -> None:
        if peaks.shape[0]:
            self._true_peak_max = max(self._true_peak_max, float(peaks.max()))


def _rounded(level: float | None) -> float | None:
    return None if level is None else round(level, 3)


@engine_call
def analyze_blocks(
    blocks: Iterable[np.ndarray], sample_rate_hz: int, channels: int, loudness_maxima: bool = False
) -> Analysis:
    """Analyse a track given as an iterable of blocks of shape (n, channels)."""
    analyzer = Analyzer(sample_rate_hz, channels, loudness_maxima=loudness_maxima)
    for block in blocks:
        analyzer.process(block)
    return analyzer.finish()


@engine_call
def analyze(audio: np.ndarray, sample_rate_hz: int, loudness_maxima: bool = False) -> Analysis:
    """Analyse a whole track.

    Parameters
    ----------
    audio : np.ndarray, shape (samples, channels) or (samples,)
        Float samples, full scale ±1; taken as float32, as files are decoded, so that a
        file's samples give the analysis the file jobs make of it.
    sample_rate_hz : int
    loudness_maxima : bool
        Also measure the loudest momentary and short-term loudness (see :class:`Analyzer`).

    Returns
    -------
    Analysis
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    return analyze_blocks([audio], sample_rate_hz, audio.shape[1], loudness_maxima)
