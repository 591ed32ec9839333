"""The rate limiter's in-process storage (`memory://`): no thread per request, and expired
counters still go."""

from __future__ import annotations

import threading
import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from bungkesmas.ratelimit import SweepingMemoryStorage


def test_memory_uri_is_the_sweeping_storage():
    assert isinstance(storage_from_string("memory://"), SweepingMemoryStorage)


def test_counting_starts_no_thread(monkeypatch):
    storage = storage_from_string("memory://")
    started = []
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread))
    limiter = FixedWindowRateLimiter(storage)
    limit = parse("3 per minute")
    hits = [limiter.hit(limit, "address", str(i % 2)) for i in range(8)]
    time.sleep(0.02)  # limits' own storage would start a timer again after 10 ms
    hits += [limiter.hit(limit, "address", "2")]
    assert hits == [True] * 6 + [False] * 2 + [True]
    assert started == []


def test_expired_counters_are_swept_and_live_ones_kept():
    storage = storage_from_string("memory://")
    storage._next_sweep = time.monotonic() + 60
    storage.incr("gone", expiry=0.01)
    storage.incr("kept", expiry=60)
    time.sleep(0.02)
    storage.incr("other", expiry=60)  # before the next sweep is due: still there
    assert "gone" in storage.storage
    storage._next_sweep = 0
    storage.incr("other", expiry=60)
    assert "gone" not in storage.storage and "gone" not in storage.expirations
    assert storage.get("kept") == 1 and storage.get("other") == 2


def test_a_sweep_looks_at_a_bounded_number_of_keys_and_the_next_ones_go_on(monkeypatch):
    monkeypatch.setattr("bungkesmas.ratelimit.SWEEP_KEYS", 2)
    storage = storage_from_string("memory://")
    storage._next_sweep = time.monotonic() + 60
    for key in ("a", "b", "c", "d", "e"):
        storage.incr(key, expiry=0.01)
    storage.incr("kept", expiry=60)
    time.sleep(0.02)
    storage._next_sweep = 0
    storage.incr("kept", expiry=60)  # the first sweep: two keys
    assert len(set("abcde") & set(storage.storage)) == 3
    for _ in range(2):  # the rest of the pass
        storage._next_sweep = 0
        storage.incr("kept", expiry=60)
    assert not set("abcde") & set(storage.storage) and not set("abcde") & set(storage.expirations)
    assert storage.get("kept") == 4
