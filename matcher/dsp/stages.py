"""Running a stream of blocks through a streaming stage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np


def through(stage, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Blocks through a streaming stage with ``process`` and ``finish`` (a filter, a
    resampler, the clipper): what each block completes, then the rest; no empty blocks."""
    for block in blocks:
        out = stage.process(block)
        if out.shape[0]:
            yield out
    tail = stage.finish()
    if tail.shape[0]:
        yield tail
