"""kernels/dataflow.py: blocks on threads, in any order that keeps each stripe's order."""

import threading
import time
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.kernels.blocks import block_schedule
from latentrec.kernels.dataflow import run_dataflow


def stripe_states(order, rows, cols, n_threads, jitter=None):
    """Each block folds its id into its row and column stripe's state, an update that
    depends on the order; returns the states and the (block, start, end) trace."""
    row_state, col_state = {}, {}
    trace, lock = [], threading.Lock()

    def run(b):
        with lock:
            start = len(trace)
            trace.append(("start", b))
        if jitter is not None:
            time.sleep(jitter[b])
        r, c = int(rows[b]), int(cols[b])
        row_state[r] = zlib.crc32(f"{row_state.get(r, 0)}-{b}".encode())
        col_state[c] = zlib.crc32(f"{col_state.get(c, 0)}-{b}".encode())
        with lock:
            trace.append(("end", b))
        return start

    run_dataflow(order, rows, cols, run, n_threads)
    return (row_state, col_state), trace


blocks_on_stripes = st.integers(1, 4).flatmap(lambda n_rows: st.tuples(
    st.lists(st.tuples(st.integers(0, n_rows - 1), st.integers(0, 3)), min_size=1,
             max_size=25),
    st.integers(1, 4), st.integers(0, 2**32 - 1)))


@settings(max_examples=60, deadline=None)
@given(blocks_on_stripes)
def test_any_thread_count_gives_the_reference_orders_result(case):
    stripes, threads, seed = case
    rows = np.array([r for r, _ in stripes])
    cols = np.array([c for _, c in stripes])
    order = np.random.default_rng(seed).permutation(len(stripes))
    jitter = np.random.default_rng(seed + 1).uniform(0, 0.002, len(stripes))
    want, _ = stripe_states(order, rows, cols, 1)
    got, trace = stripe_states(order, rows, cols, threads, jitter)
    assert got == want
    events = [b for kind, b in trace if kind == "start"]
    assert sorted(events) == sorted(order.tolist())  # each block once
    # a block starts only after every earlier block of its stripes has ended
    at = {(kind, b): k for k, (kind, b) in enumerate(trace)}
    pos = {int(b): k for k, b in enumerate(order)}
    for a in order:
        for b in order:
            shares = rows[a] == rows[b] or cols[a] == cols[b]
            if shares and pos[int(a)] < pos[int(b)]:
                assert at[("end", a)] < at[("start", b)]


def test_one_thread_runs_the_reference_order_in_the_calling_thread():
    seen = []
    run_dataflow([3, 1, 2, 0], [0, 1, 0, 1], [1, 0, 0, 1],
                 lambda b: seen.append((b, threading.current_thread().name)), 1)
    assert seen == [(b, threading.current_thread().name) for b in (3, 1, 2, 0)]


def test_a_slow_block_does_not_hold_back_later_rounds_it_does_not_touch():
    g = 4
    order = block_schedule(g, 0).ravel()
    blocks = np.arange(g * g)
    slow = int(order[0])  # round 0; two blocks of round 1 share neither of its stripes
    later = [int(b) for b in order[g:2 * g] if b // g != slow // g and b % g != slow % g]
    assert len(later) == 2
    free = threading.Event()

    def run(b):
        if b == slow:
            assert free.wait(10), "the other thread never got past the first round"
        elif b == later[0]:
            free.set()

    run_dataflow(order, blocks // g, blocks % g, run, 2)
    assert free.is_set()


@pytest.mark.parametrize("error", [FloatingPointError, KeyboardInterrupt])
def test_an_error_stops_new_blocks_waits_for_running_ones_and_is_raised(error):
    g = 4
    order = block_schedule(g, 1).ravel()
    blocks = np.arange(g * g)
    log, lock = [], threading.Lock()
    helper_busy, failing, helper_done = threading.Event(), threading.Event(), threading.Event()

    def run(b):
        # the calling thread's first block fails while the helper's first block still runs
        helper = threading.current_thread().name.startswith("latentrec-block")
        with lock:
            log.append(("start", b))
        if not helper:
            assert helper_busy.wait(10), "the two threads did not run blocks at once"
            with lock:
                log.append(("error", b))
            failing.set()
            raise error("block failed")
        if not helper_busy.is_set():
            helper_busy.set()
            failing.wait(10)
            time.sleep(0.05)
            helper_done.set()

    with pytest.raises(error, match="block failed"):
        run_dataflow(order, blocks // g, blocks % g, run, 2)
    assert helper_done.is_set()  # the running block finished before the error came out
    assert not [t for t in threading.enumerate() if t.name.startswith("latentrec-block")]
    failed_at = next(k for k, e in enumerate(log) if e[0] == "error")
    assert [e for e in log[failed_at:] if e[0] == "start"] == []  # nothing started after
