"""Unit conversions, in one place.

Levels in dB are 20·log10 of an amplitude ratio or 10·log10 of a power ratio; ``gain`` is a
linear amplitude factor. Levels of silence are clamped to :data:`FLOOR_DB` so that every
figure stays finite and serialisable to JSON.
"""

from __future__ import annotations

import numpy as np

FLOOR_DB = -200.0
"""The level reported for silence (dB, LUFS or dBTP), instead of -inf."""

_TINY_POWER = 10.0 ** (FLOOR_DB / 10.0)
_FLOOR_GAIN = 10.0 ** (FLOOR_DB / 20.0)


def db_to_gain(level_db):
    """Linear amplitude factor of a level in dB."""
    # An array is converted in the one array made (an hour's control ticks are 5 M values).
    exponent = np.asarray(level_db, dtype=np.float64) / 20.0
    return np.power(10.0, exponent) if np.ndim(exponent) == 0 else np.power(10.0, exponent, out=exponent)


def gain_to_db(gain):
    """Level in dB of a linear amplitude factor, floored at :data:`FLOOR_DB`."""
    level = np.abs(np.asarray(gain, dtype=np.float64))
    if np.ndim(level) == 0:
        return 20.0 * np.log10(np.maximum(level, _FLOOR_GAIN))
    np.maximum(level, _FLOOR_GAIN, out=level)
    np.log10(level, out=level)
    level *= 20.0
    return level


def power_to_db(power):
    """Level in dB of a power (mean square) value, floored at :data:`FLOOR_DB`."""
    return 10.0 * np.log10(np.maximum(np.asarray(power, dtype=np.float64), _TINY_POWER))


def db_to_power(level_db):
    """Power ratio of a level in dB."""
    return np.power(10.0, np.asarray(level_db, dtype=np.float64) / 10.0)
