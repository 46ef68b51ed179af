"""Blocks of a grid on threads, each started as soon as the blocks it must follow are done.

A block reads and writes the factors of one row stripe and one column stripe, nothing else.
Given the blocks in a reference order, a block must therefore follow only the last earlier
block of its row stripe and the last earlier block of its column stripe; any run that keeps
those edges computes the same bits as the reference order run one block at a time.

This replaces a barrier after each round of independent blocks. With a barrier, every round
waits for its slowest block, so when one core is slower for a while (on a shared machine,
another process on it, or on its sibling hyperthread) two threads do no more than twice the
slower one. Here a thread that finishes early takes the next block whose stripes are free,
in later rounds if need be, and the threads add up their speeds.

    run_dataflow(order, rows, cols, run, n_threads=1)
        order: block ids in the reference order; rows[b], cols[b]: block b's stripes;
        run(b): compute block b (a numba kernel compiled with nogil=True, so that the
        threads run at once). With one thread the blocks run in ``order``, in the calling
        thread. Otherwise the calling thread works too, ready blocks are taken earliest in
        ``order`` first, and an exception (KeyboardInterrupt included) in any block stops
        new blocks from starting and is raised once the running ones have finished.
"""

from __future__ import annotations

import heapq
import threading


def run_dataflow(order, rows, cols, run, n_threads: int = 1) -> None:
    """Run ``run(b)`` for each block b of ``order``; see the module doc."""
    order = [int(b) for b in order]
    if n_threads <= 1 or len(order) < 2:
        for b in order:
            run(b)
        return
    flow = _Flow(order, rows, cols, run)
    helpers = []
    try:
        for t in range(min(n_threads, len(order)) - 1):
            helpers.append(threading.Thread(target=flow.work, daemon=True,
                                            name=f"latentrec-block-{t}"))
            helpers[-1].start()
        flow.work()
    finally:
        flow.stop()
        _join_all(helpers)
    if flow.error is not None:
        raise flow.error


def _join_all(threads) -> None:
    """Join every thread even if interrupted meanwhile (their blocks write the caller's
    arrays); the first interruption is raised once all have ended."""
    pending, interrupted = list(threads), None
    while pending:
        try:
            pending[0].join()
            pending.pop(0)
        except BaseException as exc:  # a second Ctrl-C while a long block finishes
            if interrupted is None:
                interrupted = exc
    if interrupted is not None:
        raise interrupted


def _edges(order, rows, cols):
    """For each position: how many earlier positions it waits for, and which later ones
    wait for it (the previous block of its row stripe and of its column stripe)."""
    last_row, last_col = {}, {}
    waits, after = [0] * len(order), [[] for _ in order]
    for pos, b in enumerate(order):
        r, c = int(rows[b]), int(cols[b])
        before = {last_row.get(r), last_col.get(c)} - {None}
        waits[pos] = len(before)
        for p in before:
            after[p].append(pos)
        last_row[r], last_col[c] = pos, pos
    return waits, after


class _Flow:
    """The shared state of one run: positions ready to start (a heap), what each waits for."""

    def __init__(self, order, rows, cols, run):
        self.order, self.run = order, run
        self.waits, self.after = _edges(order, rows, cols)
        self.ready = [pos for pos, w in enumerate(self.waits) if w == 0]
        heapq.heapify(self.ready)
        self.left = len(order)
        self.error: BaseException | None = None
        self.stopped = False
        self.cv = threading.Condition()

    def work(self) -> None:
        """Take ready blocks until none is left to run (or the run stopped)."""
        try:
            while True:
                with self.cv:
                    while not self.ready and self.left and not self.stopped:
                        self.cv.wait()
                    if self.stopped or not self.ready:
                        return
                    pos = heapq.heappop(self.ready)
                self.run(self.order[pos])
                self._done(pos)
        except BaseException as exc:  # re-raised by run_dataflow in the caller
            with self.cv:
                if self.error is None:
                    self.error = exc
                self.stopped = True
                self.cv.notify_all()

    def _done(self, pos: int) -> None:
        with self.cv:
            self.left -= 1
            freed = 0
            for nxt in self.after[pos]:
                self.waits[nxt] -= 1
                if self.waits[nxt] == 0:
                    heapq.heappush(self.ready, nxt)
                    freed += 1
            # wake one waiter per freed block (on many cores, not all of them for each
            # block); all at the end, so that they return
            if self.left == 0:
                self.cv.notify_all()
            elif freed:
                self.cv.notify(freed)

    def stop(self) -> None:
        """No new blocks from now on (the run ended, failed or was interrupted)."""
        with self.cv:
            self.stopped = True
            self.cv.notify_all()
