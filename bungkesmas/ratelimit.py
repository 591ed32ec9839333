"""Rate limits: the app's limiter, and its in-process storage (`memory://`, the
embedded default).

The limiter counts requests with limits' fixed-window strategy, in the storage that
BUNGKESMAS_RATELIMIT_STORAGE_URI names (`memory://` for one process, `redis://…` for
several workers): `limiter.limit(…)` decorates a view, `limiter.hit_all(…)` counts where
a view needs keys of its own (the status check: one limit per address, one per
identifier), in one round trip on Redis. A request over a limit is answered 429 with
Retry-After before the view runs; the limits of a view are counted in order and counting
stops at the first that is exceeded (a request refused for its address does not count
against an identifier).

When a shared storage cannot be reached (Redis down), requests are not refused with an
error: the limits are counted in this process's memory instead (each worker on its own,
as with `memory://`), a warning is logged, and the shared storage is tried again after
`FALLBACK_SECONDS`. Members can still check their status and staff sign in, and
guessing is still limited, if more loosely (per worker).

It replaced Flask-Limiter, whose hooks ran before, after and at the end of every request
of the app to resolve limits declared in many ways, of which the app uses one: on the
status check, the page members' phones load most, they cost ~0.1 ms of ~1.3 ms.

The storage: limits' own `MemoryStorage` drops expired counters from a
`threading.Timer` that fires 10 ms after it was started and that every counter increment
starts again when it is not running: under a steady load that is a new thread per request
or two, each scanning every key (one per address and one per hashed identifier, for up to
a day) — measured at a third of the status check's CPU, and thread starts that wait on
the scheduler on a busy machine.

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
from collections.abc import Callable, Iterable

from flask import Flask, request
from limits import RateLimitItem, parse_many
from limits.storage import (
    MemoryStorage,
    RedisClusterStorage,
    RedisStorage,
    Storage,
    storage_from_string,
)
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)


def remote_address() -> str:
    """The client's address (behind a proxy: as the proxy fix in front of the app says)."""
    return request.remote_addr or "127.0.0.1"


@functools.lru_cache(maxsize=64)
def _items(limits: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limits))


# Several fixed-window counters of limits' Redis storage counted in one round trip, in
# order, as limits' own `incr_expire.lua` counts one (INCRBY, and EXPIRE when the counter
# is new), stopping at the first one over its limit. KEYS: the counters; ARGV: each
# counter's expiry and limit. Returns the (1-based) index of the counter exceeded, or 0.
_HIT_ALL_LUA = """
for i, key in ipairs(KEYS) do
  local current = redis.call("incrby", key, 1)
  if current == 1 then
    redis.call("expire", key, ARGV[2 * i - 1])
  end
  if current > tonumber(ARGV[2 * i]) then
    return i
  end
end
return 0
"""


def _redis_hits(storage: Storage) -> Callable | None:
    """For limits' plain or Sentinel Redis storage, a function counting a list of (item,
    scope, key) in one round trip and returning the entry exceeded (or None); None for
    other storages (a Redis Cluster cannot run one script over keys of several slots)."""
    if not isinstance(storage, RedisStorage) or isinstance(storage, RedisClusterStorage):
        return None
    script = storage.get_connection().register_script(_HIT_ALL_LUA)

    def hits(entries: list) -> tuple | None:
        keys = [storage.prefixed_key(item.key_for(scope, key)) for item, scope, key in entries]
        args = [value for item, _scope, _key in entries
                for value in (item.get_expiry(), item.amount)]
        exceeded = int(script(keys=keys, args=args))
        return entries[exceeded - 1] if exceeded else None

    return hits


# How long limits are counted in memory after the shared storage failed, before it is
# tried again.
FALLBACK_SECONDS = 30.0


class Limiter:
    """The app's rate limiter (one object, bound to each app by `init_app`).

    Settings: RATELIMIT_ENABLED (default on), RATELIMIT_STORAGE_URI."""

    def __init__(self) -> None:
        self.enabled = False
        self.storage: Storage | None = None
        self._strategy: FixedWindowRateLimiter | None = None
        self._redis_hits: Callable | None = None
        # While the shared storage is failing: the in-process one, until `_retry_at`.
        self._fallback: FixedWindowRateLimiter | None = None
        self._retry_at = 0.0
        self._storage_errors: tuple | type = ()

    def init_app(self, app: Flask) -> None:
        self.enabled = bool(app.config.setdefault("RATELIMIT_ENABLED", True))
        if self.enabled:
            self.storage = storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
            self._strategy = FixedWindowRateLimiter(self.storage)
            self._redis_hits = _redis_hits(self.storage)
            # What a shared storage raises when it cannot be reached (nothing for memory).
            shared = not isinstance(self.storage, MemoryStorage)
            self._storage_errors = self.storage.base_exceptions if shared else ()
            # Kept across outages, so a worker's counts go on from one to the next.
            self._fallback = FixedWindowRateLimiter(SweepingMemoryStorage()) if shared else None
            self._retry_at = 0.0

    @property
    def falling_back(self) -> bool:
        """Whether limits are being counted in memory because the storage failed."""
        return time.monotonic() < self._retry_at

    def reset(self) -> None:
        """Forget every count (tests), the in-memory fallback's too."""
        if self.storage is not None:
            self.storage.reset()
        if self._fallback is not None:
            self._fallback.storage.reset()

    def hit(self, limits: str, scope: str, key: str) -> None:
        """Count one request of `key` in `scope` against each of `limits` (e.g. "10 per
        minute;60 per hour"), in order; on the first that is exceeded raise
        TooManyRequests (429) with Retry-After, and count no further. Nothing is counted
        while the limiter is off."""
        self.hit_all([(limits, scope, key)])

    def hit_all(self, checks: Iterable[tuple[str, str, str]]) -> None:
        """`hit` for several (limits, scope, key) in turn — the same counts, the same
        stop at the first limit exceeded — in one round trip on Redis (a Lua script)
        instead of one per limit."""
        strategy = self._strategy
        if not self.enabled or strategy is None:
            return
        entries = [(item, scope, key) for limits, scope, key in checks
                   for item in _items(limits)]
        # Decided once per request: counted in the shared storage or in memory, never both
        # (another thread may start the fallback meanwhile).
        in_memory = self.falling_back
        if not in_memory:
            try:
                refused = self._count(strategy, self._redis_hits, entries)
            except self._storage_errors as err:
                log.warning("rate-limit storage unavailable (%s): counting in this process "
                            "for %.0f s", type(err).__name__, FALLBACK_SECONDS)
                self._retry_at = time.monotonic() + FALLBACK_SECONDS
                in_memory = True
        if in_memory:
            refused = self._count(self._fallback, None, entries)
        if refused is not None:
            (item, scope, _key), reset = refused
            log.info("rate limit %s exceeded (%s)", item, scope)  # no key: an address
            raise TooManyRequests(retry_after=max(1, int(reset - time.time()) + 1))

    @staticmethod
    def _count(strategy: FixedWindowRateLimiter, redis_hits: Callable | None,
               entries: list) -> tuple[tuple, float] | None:
        """Count `entries` in order up to the first exceeded: (it, its window's reset
        time), or None."""
        if redis_hits is not None:
            exceeded = redis_hits(entries)
        else:
            exceeded = next((entry for entry in entries if not strategy.hit(*entry)), None)
        if exceeded is None:
            return None
        return exceeded, strategy.get_window_stats(*exceeded).reset_time

    def limit(self, limits: str | Callable[[], str], scope: str,
              key: Callable[[], str] = remote_address,
              methods: Iterable[str] = ("POST",)):
        """Decorate a view: each request of `methods` counts for `key()` (by default the
        address) against `limits` — a string, or a function returning one (a setting
        read at request time) — before the view runs. Stack decorators for several
        keys; the outermost counts first."""
        methods = frozenset(methods)

        def decorator(view):
            @functools.wraps(view)
            def limited(*args, **kwargs):
                if request.method in methods:
                    self.hit(limits() if callable(limits) else limits, scope, key())
                return view(*args, **kwargs)

            return limited

        return decorator


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
