"""Streaming IIR filtering by matrix products: a cascade of biquads, blocks at a time.

A recursion ``y[n] = f(x[n], y[n-1], ...)`` run sample by sample is slow in numpy, and
``scipy.signal.lfilter`` costs about 0.5 s of import. A recursive filter is linear, though:
over a block of ``L`` samples its output is the block convolved with the first ``L`` taps
of the impulse response plus what the state at the block's start contributes, and the state
at the block's end is a linear map of that start state and the block. So every block of the
stream is filtered by one matrix product (BLAS, about ``L`` multiply-adds per sample), and
the states at the block starts follow from a recursion over blocks rather than samples.
That recursion is linear too: it is solved ``G`` blocks at a time by a product, and the
recursion over those groups likewise, a batch of groups at a time. No Python loop runs per
block or per group: per-step Python code would hold the GIL, which the products (and the
analyses and meters on the engine's other threads) release.

The block convolution runs in float32; everything that feeds the recursion runs in
float64, because a recursion with poles near DC (the K-weighting's 38 Hz high-pass)
integrates rounding errors: in float32 throughout, a 30 Hz tone came out 1e-4 off. As
built, the output is within about 2e-7 of the signal's peak of a float64 ``sosfilt``.
The stream is cut into batches of the same size (65536 samples) whatever the caller's
blocks, so every product has the same shape and the output is bit for bit the same however
the input was split. On a 3-minute stereo track the K-weighting takes 0.08 s, against
0.12 s for an FFT convolution with its impulse response in float32 and 0.2 s in float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BLOCK_SAMPLES = 64
BLOCKS_PER_GROUP = 32
GROUPS_PER_BATCH = 32


def _state_space(sections: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    """(A, B, C, D) of a cascade of biquads, each in transposed direct form II."""
    order = 2 * len(sections)
    a_mat = np.zeros((order, order))
    b_vec = np.zeros(order)
    c_vec = np.zeros(order)
    d = 1.0
    for k, (b, a) in enumerate(sections):
        b = np.asarray(b, dtype=np.float64) / a[0]
        a = np.asarray(a, dtype=np.float64) / a[0]
        i = 2 * k
        # Section k: v = b0 u + s1; s1' = (b1 - a1 b0) u - a1 s1 + s2; s2' = (b2 - a2 b0) u - a2 s1,
        # where its input u = c_vec . s + d x is the output of the sections before it.
        a_sec = np.array([[-a[1], 1.0], [-a[2], 0.0]])
        b_sec = np.array([b[1] - a[1] * b[0], b[2] - a[2] * b[0]])
        a_mat[i : i + 2, i : i + 2] = a_sec
        a_mat[i : i + 2, :i] = np.outer(b_sec, c_vec[:i])
        b_vec[i : i + 2] = b_sec * d
        c_vec[:i] *= b[0]
        c_vec[i] = 1.0
        d *= b[0]
    return a_mat, b_vec, c_vec, d


class RecursiveFilter:
    """Causal IIR filter (a cascade of biquads) over a stream of blocks.

    Parameters
    ----------
    sections : sequence of (b, a)
        Biquad coefficients, three of each; ``a[0]`` need not be 1.
    block_samples, blocks_per_group : int
        ``L`` and ``G`` above.

    Notes
    -----
    :meth:`process` returns output only for whole batches of ``block_samples *
    blocks_per_group * GROUPS_PER_BATCH`` samples, so its length varies from call to call;
    :meth:`flush` returns the rest. Over a stream the output has as many samples as the
    input. Input has shape (n, channels); output is float32 of the same shape (a view of a
    channel-major array: each channel's column is contiguous).
    """

    def __init__(
        self,
        sections: Sequence[tuple[np.ndarray, np.ndarray]],
        block_samples: int = BLOCK_SAMPLES,
        blocks_per_group: int = BLOCKS_PER_GROUP,
    ):
        a_mat, b_vec, c_vec, d = _state_space(sections)
        order, length, group = a_mat.shape[0], block_samples, blocks_per_group
        self.order = order
        self.block_samples = length
        self.group_samples = length * group
        self.batch_samples = self.group_samples * GROUPS_PER_BATCH
        powers = [np.eye(order)]
        for _ in range(length):
            powers.append(powers[-1] @ a_mat)
        # Within a block: y[n] = sum_m h[n - m] x[m] + (C A^n) s0, s_L = A^L s0 + sum_m A^(L-1-m) B x[m].
        impulse = np.concatenate([[d], [c_vec @ powers[n] @ b_vec for n in range(length - 1)]])
        n, m = np.indices((length, length))
        toeplitz = np.where(n >= m, impulse[np.clip(n - m, 0, length - 1)], 0.0)
        to_state = np.stack([powers[length - 1 - m] @ b_vec for m in range(length)], axis=1)
        self._block_matrix = toeplitz.T.astype(np.float32)
        self._to_state = to_state.T
        self._from_state = np.stack([c_vec @ powers[n] for n in range(length)]).T
        # Over blocks: s_(k+1) = M s_k + u_k with M = A^L, solved G blocks at a time; the
        # same recursion over groups (M^G), GROUPS_PER_BATCH groups at a time.
        self._block_steps = _Recurrence(powers[length], group)
        self._group_steps = _Recurrence(self._block_steps.next_start, GROUPS_PER_BATCH)
        self.reset()

    def reset(self) -> None:
        """Forget the signal seen so far, as if newly built."""
        self._state: np.ndarray | None = None
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed samples of shape (n, channels); return the output ready so far."""
        x = np.asarray(x)
        if self._state is None:
            self._state = np.zeros((x.shape[1], self.order))
        if x.shape[0]:
            self._pending.append(x)
            self._pending_samples += x.shape[0]
        whole = self._pending_samples // self.batch_samples * self.batch_samples
        if whole == 0:
            return np.zeros((0, x.shape[1]), dtype=np.float32)
        return self._take(whole)

    def flush(self) -> np.ndarray:
        """Return the output for samples still pending, zero-padding the last batch."""
        if self._state is None or self._pending_samples == 0:
            return np.zeros((0, 0 if self._state is None else self._state.shape[0]), dtype=np.float32)
        n = self._pending_samples
        pad = -n % self.batch_samples
        if pad:
            self._pending.append(np.zeros((pad, self._state.shape[0]), dtype=np.float32))
            self._pending_samples += pad
        return self._take(self._pending_samples)[:n]

    def _take(self, count: int) -> np.ndarray:
        pending = np.concatenate(self._pending, axis=0) if len(self._pending) > 1 else self._pending[0]
        rest = pending[count:]
        self._pending = [rest] if rest.shape[0] else []
        self._pending_samples = rest.shape[0]
        y = np.empty((pending.shape[1], count), dtype=np.float32)
        for start in range(0, count, self.batch_samples):
            y[:, start : start + self.batch_samples] = self._run(pending[start : start + self.batch_samples])
        return y.T

    def _run(self, x: np.ndarray) -> np.ndarray:
        """Filter one batch; x has shape (batch_samples, channels), returns (channels, n)."""
        channels = x.shape[1]
        length, order = self.block_samples, self.order
        blocks = np.ascontiguousarray(x.T, dtype=np.float64).reshape(-1, length)
        y = blocks.astype(np.float32) @ self._block_matrix
        inputs = (blocks @ self._to_state).reshape(channels, GROUPS_PER_BATCH, -1)
        in_group = self._block_steps.driven(inputs)  # (channels, groups, G + 1, order)
        in_batch = self._group_steps.driven(in_group[:, :, -1].reshape(channels, 1, -1))[:, 0]
        group_starts = self._group_steps.free(self._state) + in_batch[:, :-1]
        self._state = in_batch[:, -1] + self._state @ self._group_steps.next_start.T
        block_starts = self._block_steps.free(group_starts) + in_group[:, :, :-1]
        y += (block_starts.reshape(-1, order) @ self._from_state).astype(np.float32)
        return y.reshape(channels, -1)


class _Recurrence:
    """``s_(k+1) = M s_k + u_k`` over ``count`` steps at once, for row vectors ``s``.

    ``free(s_0)`` gives ``M^k s_0`` for k < count, ``driven(u)`` the inputs' share of
    ``s_k`` for k <= count (k = count: the next run's start), each by one product.
    """

    def __init__(self, step: np.ndarray, count: int):
        order = step.shape[0]
        powers = [np.eye(order)]
        for _ in range(count):
            powers.append(powers[-1] @ step)
        self.count = count
        self.next_start = powers[count]
        self._free = np.concatenate([p.T for p in powers[:count]], axis=1)
        driven = np.zeros((count, order, count + 1, order))
        for k in range(1, count + 1):
            for i in range(k):
                driven[i, :, k, :] = powers[k - 1 - i].T
        self._driven = driven.reshape(count * order, (count + 1) * order)

    def free(self, start: np.ndarray) -> np.ndarray:
        """start (..., order) -> (..., count, order)."""
        return (start @ self._free).reshape(start.shape[:-1] + (self.count, -1))

    def driven(self, inputs: np.ndarray) -> np.ndarray:
        """inputs (..., count * order) -> (..., count + 1, order)."""
        return (inputs @ self._driven).reshape(inputs.shape[:-1] + (self.count + 1, -1))
