"""The app's rate limiter (bungkesmas.ratelimit): limits counted in order before the view,
429 with Retry-After; and its in-process storage (`memory://`): no thread per request,
and expired counters still go."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask, request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from bungkesmas.ratelimit import Limiter, SweepingMemoryStorage


@pytest.fixture
def small_app():
    """A bare Flask app with a limiter of its own: one view limited per address and per
    account, POST only."""
    app = Flask("limited")
    app.config.update(RATELIMIT_STORAGE_URI="memory://")
    limiter = Limiter()
    limiter.init_app(app)

    @app.route("/login", methods=["GET", "POST"])
    @limiter.limit("3 per minute", "address")
    @limiter.limit(lambda: "2 per minute", "account", key=lambda: request.form["email"])
    def login():
        return "ok"

    app.limiter = limiter
    return app


def post(client, email, address="10.0.0.1"):
    return client.post("/login", data={"email": email},
                       environ_overrides={"REMOTE_ADDR": address})


def test_the_limits_of_a_view_count_in_order_and_stop_at_the_first_exceeded(small_app):
    client = small_app.test_client()
    # The account's limit (2) refuses the third try from one address...
    assert [post(client, "a@x.id").status_code for _ in range(3)] == [200, 200, 429]
    # ...and the address's limit (3, counted first) the fourth, whatever the account:
    # a request refused for its address does not count against the account.
    assert post(client, "b@x.id").status_code == 429
    assert post(client, "b@x.id", address="10.0.0.2").status_code == 200
    assert post(client, "b@x.id", address="10.0.0.3").status_code == 200
    assert post(client, "b@x.id", address="10.0.0.4").status_code == 429


def test_only_the_given_methods_count(small_app):
    client = small_app.test_client()
    assert all(client.get("/login").status_code == 200 for _ in range(10))
    assert post(client, "a@x.id").status_code == 200


def test_a_refusal_says_when_to_try_again(small_app):
    client = small_app.test_client()
    for _ in range(2):
        post(client, "a@x.id")
    refused = post(client, "a@x.id")
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 61


def test_a_limiter_that_is_off_counts_nothing():
    app = Flask("unlimited")
    app.config.update(RATELIMIT_ENABLED=False, RATELIMIT_STORAGE_URI="memory://")
    limiter = Limiter()
    limiter.init_app(app)
    with app.test_request_context("/", method="POST"):
        for _ in range(5):
            limiter.hit("1 per minute", "address", "10.0.0.1")
    assert limiter.storage is None


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


REDIS_URI = "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_limiter():
    """The limiter on Redis (a database of its own, emptied), as several workers use it."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URI, socket_connect_timeout=1).ping()
    except redis.RedisError as err:
        pytest.skip(f"Redis not reachable at {REDIS_URI}: {err}")
    app = Flask("redis-limited")
    app.config.update(RATELIMIT_STORAGE_URI=REDIS_URI)
    limiter = Limiter()
    limiter.init_app(app)
    limiter.reset()
    yield limiter
    limiter.reset()


def test_on_redis_several_limits_are_counted_in_one_script_like_limits_own(redis_limiter):
    """hit_all on Redis: the counters limits' own strategy reads, counted in order,
    stopping at the first limit exceeded."""

    assert redis_limiter._redis_hits is not None  # the one-round-trip path
    checks = [("2 per minute;5 per hour", "address", "10.0.0.1"),
              ("3 per minute", "account", "a@x.id")]
    redis_limiter.hit_all(checks)
    redis_limiter.hit_all(checks)
    with pytest.raises(TooManyRequests) as refused:  # the address's 2 per minute
        redis_limiter.hit_all(checks)
    assert 0 < refused.value.retry_after <= 61
    stats = redis_limiter._strategy.get_window_stats
    assert stats(parse("2 per minute"), "address", "10.0.0.1").remaining == 0
    assert stats(parse("5 per hour"), "address", "10.0.0.1").remaining == 3  # stopped before
    assert stats(parse("3 per minute"), "account", "a@x.id").remaining == 1  # not counted
    # limits' own strategy sees and extends the same counters.
    assert redis_limiter._strategy.hit(parse("3 per minute"), "account", "a@x.id")
    assert not redis_limiter._strategy.hit(parse("3 per minute"), "account", "a@x.id")


# Nothing listens on port 1: a Redis that is down (connection refused at once).
DOWN_REDIS_URI = "redis://127.0.0.1:1/0"


@pytest.fixture
def down_app():
    """small_app's view, its limiter on a Redis that is down."""
    app = Flask("redis-down")
    app.config.update(RATELIMIT_STORAGE_URI=DOWN_REDIS_URI)
    limiter = Limiter()
    limiter.init_app(app)

    @app.route("/login", methods=["POST"])
    @limiter.limit("3 per minute", "address")
    def login():
        return "ok"

    app.limiter = limiter
    return app


def test_a_shared_storage_that_is_down_answers_no_error_and_still_limits(down_app, caplog):
    client = down_app.test_client()
    with caplog.at_level("WARNING", logger="bungkesmas.ratelimit"):
        statuses = [post(client, "a@x.id").status_code for _ in range(5)]
    # Counted in the process's memory instead: the limit still holds.
    assert statuses == [200, 200, 200, 429, 429]
    assert down_app.limiter.falling_back
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "storage unavailable" in warnings[0].getMessage()
    assert "10.0.0.1" not in caplog.text  # no address in the log


def test_the_shared_storage_is_tried_again_after_a_while(down_app, caplog, monkeypatch):
    client = down_app.test_client()
    with caplog.at_level("WARNING", logger="bungkesmas.ratelimit"):
        post(client, "a@x.id")
        post(client, "a@x.id")  # still in memory: not tried again
        assert len(caplog.records) == 1
        down_app.limiter._retry_at = 0.0  # the while has passed
        assert not down_app.limiter.falling_back
        assert post(client, "a@x.id").status_code == 200  # tried, down again, counted
        assert len(caplog.records) == 2
    # The counts of the earlier outage were kept: this is the fourth request.
    assert post(client, "a@x.id").status_code == 429


def test_a_memory_storage_never_falls_back(small_app):
    assert small_app.limiter._fallback is None and small_app.limiter._storage_errors == ()


def test_the_limiter_counts_on_redis_again_once_it_is_back(redis_limiter):
    """After an outage (simulated: the retry time set as a failure sets it), counting
    goes back to the shared storage."""
    redis_limiter._retry_at = time.monotonic() + 60
    redis_limiter.hit_all([("5 per minute", "address", "10.0.0.9")])  # in memory
    stats = redis_limiter._strategy.get_window_stats
    assert stats(parse("5 per minute"), "address", "10.0.0.9").remaining == 5
    redis_limiter._retry_at = 0.0
    redis_limiter.hit_all([("5 per minute", "address", "10.0.0.9")])
    assert stats(parse("5 per minute"), "address", "10.0.0.9").remaining == 4
