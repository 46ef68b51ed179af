"""The stream of numba's ``np.random.seed(s)`` then ``np.random.randint(0, k + 1)``, held in
a plain array.

numba's own generator is a Mersenne Twister per thread, found through a thread-local
lookup on every draw; in the per-block shuffle of :mod:`.blocks` that lookup and the
out-of-line twist made the draws most of its time. The same generator in an array the
caller owns gives the same numbers draw for draw (tests compare them with numba's) and
takes about a quarter off that shuffle.
"""

from __future__ import annotations

import numpy as np
from numba import njit

N, M = 624, 397
_UPPER, _LOWER, _MATRIX = np.uint32(0x80000000), np.uint32(0x7FFFFFFF), np.uint32(0x9908B0DF)


@njit(cache=True, nogil=True)
def mt_seeded(seed) -> np.ndarray:
    """A generator state: 624 words and, last, the index of the next word (N: twist first),
    initialised as numba's ``np.random.seed(seed)`` does (Knuth's recurrence, seed mod 2**32)."""
    state = np.empty(N + 1, np.uint32)
    s = np.uint32(seed & 0xFFFFFFFF)
    for pos in range(N):
        state[pos] = s
        s = np.uint32(np.uint32(1812433253) * (s ^ (s >> np.uint32(30))) + np.uint32(pos + 1))
    state[N] = N
    return state


@njit(cache=True, nogil=True, inline="always")
def _mixed(state, i, j, far):
    y = (state[i] & _UPPER) | (state[j] & _LOWER)
    return state[far] ^ (y >> np.uint32(1)) ^ ((np.uint32(0) - (y & np.uint32(1))) & _MATRIX)


@njit(cache=True, nogil=True)
def _twist(state) -> None:
    """The next 624 words; in three runs so that no index wraps inside a loop."""
    for i in range(N - M):
        state[i] = _mixed(state, i, i + 1, i + M)
    for i in range(N - M, N - 1):
        state[i] = _mixed(state, i, i + 1, i + M - N)
    state[N - 1] = _mixed(state, N - 1, 0, M - 1)
    state[N] = 0


@njit(cache=True, nogil=True, inline="always")
def mt_next(state) -> np.uint32:
    """The next 32-bit word, tempered."""
    if state[N] >= N:
        _twist(state)
    y = state[state[N]]
    state[N] += 1
    return _tempered(y)


@njit(cache=True, nogil=True, inline="always")
def _tempered(y) -> np.uint32:
    y ^= y >> np.uint32(11)
    y ^= (y << np.uint32(7)) & np.uint32(0x9D2C5680)
    y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
    y ^= y >> np.uint32(18)
    return y


@njit(cache=True, nogil=True, inline="always")
def mt_randint(state, k) -> np.int64:
    """Uniform in [0, k] (k >= 1), as numba's ``np.random.randint(0, k + 1)``: the low bits
    of a word (or, past 32 bits, a high word's then a low word's) under a mask covering k,
    drawn again while over k."""
    m = np.uint64(k)
    m |= m >> np.uint64(1)
    m |= m >> np.uint64(2)
    m |= m >> np.uint64(4)
    m |= m >> np.uint64(8)
    m |= m >> np.uint64(16)
    m |= m >> np.uint64(32)
    while True:
        if m > np.uint64(0xFFFFFFFF):
            high = np.uint64(mt_next(state)) & (m >> np.uint64(32))
            r = (high << np.uint64(32)) | np.uint64(mt_next(state))
        else:
            r = np.uint64(mt_next(state)) & m
        if r <= np.uint64(k):
            return np.int64(r)


@njit(cache=True, nogil=True)
def mt_shuffle(a, seed) -> None:
    """Fisher-Yates over the 1-D ``a`` of at most 2**32 elements, in place: element k
    (from the last down to 1) swapped with element ``mt_randint(state, k)`` of
    ``mt_seeded(seed)``, those draws exactly (see :func:`mt_swap_draws`)."""
    n = a.shape[0]
    draws = np.empty(max(n, 1), np.uint32)
    mt_swap_draws(n, seed, draws)
    for k in range(n - 1, 0, -1):
        j = draws[k]
        a[k], a[j] = a[j], a[k]


@njit(cache=True, nogil=True)
def mt_swap_draws(n, seed, out) -> None:
    """out[k] = the k-th draw of a Fisher-Yates shuffle of n < 2**32 + 1 places, k from
    n - 1 down to 1: ``mt_randint(state, k)`` in turn from ``mt_seeded(seed)``.

    Each twist's 624 words are tempered at once (a loop that vectorises), and between
    two shrinks of the mask the draws are a loop whose only chain is k: a word under the
    mask is written to out[k] and k moves on if it is accepted, without a branch on the
    accept test (a coin toss for the branch predictor, which cost more than the words)."""
    if n < 2:
        return
    state = mt_seeded(seed)
    words = np.empty(N, np.uint32)
    k = np.uint32(n - 1)
    mask = np.uint32(0xFFFFFFFF)  # the smallest 2**b - 1 covering k, shrunk as k falls
    while k > 0 and (mask >> np.uint32(1)) >= k:
        mask >>= np.uint32(1)
    pos = N
    while k > 0:
        if pos >= N:
            _twist(state)
            for i in range(N):
                words[i] = _tempered(state[i])
            pos = 0
        low = mask >> np.uint32(1)  # the mask covers k while k > low
        while pos < N and k > low:
            r = words[pos] & mask
            pos += 1
            out[k] = r
            k -= np.uint32(r <= k)
        if k <= low:
            mask = low
