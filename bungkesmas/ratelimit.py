"""Rate limits: counting a request against named limits directly, and the limiter's
in-process storage (`memory://`, the embedded default).

`hit` is for the members' status check and card pages, the pages members' phones load
most: it counts the request against each limit with the limiter's own strategy and
storage (limits' `RateLimiter.hit`, the same counters, the same `BUNGKESMAS_RATELIMIT_*`
settings), without Flask-Limiter's per-request resolution of decorated limits, which
measured a fifth of the status check's CPU. The other pages keep Flask-Limiter's
decorators.

The storage:

limits' own `MemoryStorage` drops expired counters from a `threading.Timer` that fires
10 ms after it was started and that every counter increment starts again when it is not
running: under a steady load that is a new thread per request or two, each scanning every
key (one per address and one per hashed identifier, for up to a day) — measured at a third
of the status check's CPU, and thread starts that wait on the scheduler on a busy machine.

Here expired counters are still dropped lazily when their key is read (limits' `get`, as
before) and, for keys never seen again, by a sweep run inline at most once a second by
whichever request comes along, over at most `SWEEP_KEYS` keys (a pass over all of them
spreads over several sweeps, so no request pays for a day's worth of keys): no thread,
and the same answers. The class takes over the
`memory` scheme, so `BUNGKESMAS_RATELIMIT_STORAGE_URI=memory://` means this storage.
"""

from __future__ import annotations

import bisect
import functools
import logging
import threading
import time
from collections import deque

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)



@functools.lru_cache(maxsize=64)
def _items(limits: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limits))


def hit(limits: str, scope: str, key: str) -> None:
    """Count one request of `key` in `scope` against each of `limits` (e.g. "10 per
    minute;60 per hour"), in order; on the first that is exceeded raise TooManyRequests
    (429) with Retry-After, and count no further. Nothing is counted while the limiter is
    off (RATELIMIT_ENABLED)."""
    from bungkesmas.extensions import limiter

    if not (limiter.enabled and limiter.initialized):
        return
    strategy = limiter.limiter
    for item in _items(limits):
        if not strategy.hit(item, scope, key):
            log.info("rate limit %s exceeded (%s)", item, scope)  # the key may be an address
            reset = strategy.get_window_stats(item, scope, key).reset_time
            raise TooManyRequests(retry_after=max(1, int(reset - time.time()) + 1))


SWEEP_SECONDS = 1.0
SWEEP_KEYS = 5_000  # keys looked at by one sweep


class SweepingMemoryStorage(MemoryStorage):
    """limits' memory storage with an inline, throttled sweep instead of a timer thread."""

    STORAGE_SCHEME = ["memory"]  # noqa: RUF012 (limits reads it from the class body)

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()  # limits' first timer, started by its constructor
        self._next_sweep = time.monotonic() + SWEEP_SECONDS
        self._sweep_lock = threading.Lock()
        self._pending: deque = deque()  # the keys the current pass has still to look at

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.timer.cancel()
        self._sweep_lock = threading.Lock()
        self._pending = deque()

    # limits calls this (a name-mangled private method) before every increment.
    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802
        if time.monotonic() < self._next_sweep or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._next_sweep = time.monotonic() + SWEEP_SECONDS
            self._sweep_some(SWEEP_KEYS)
        finally:
            self._sweep_lock.release()

    def sweep(self) -> None:
        """Drop all the counters and moving-window entries that have expired."""
        self._pending.clear()
        self._sweep_some(len(self.expirations))

    def _sweep_some(self, count: int) -> None:
        """Look at the next `count` keys of the current pass (a new pass starts over the
        keys there are now), then the moving-window entries."""
        if not self._pending:
            self._pending = deque(self.expirations)
        now = time.time()
        for _ in range(min(count, len(self._pending))):
            key = self._pending.popleft()
            if self.expirations.get(key, now + 1) <= now:
                with self.locks[key]:
                    if self.expirations.get(key, now + 1) <= now:
                        self.storage.pop(key, None)
                        self.expirations.pop(key, None)
                self.locks.pop(key, None)
        for key in list(self.events):  # the moving-window strategy's entries, as limits does
            with self.locks[key]:
                if events := self.events.get(key):
                    oldest = bisect.bisect_left(events, -now, key=lambda event: -event.expiry)
                    self.events[key] = events[:oldest]
                if not self.events.get(key):
                    self.locks.pop(key, None)
