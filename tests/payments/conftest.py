"""Online payment fixtures: the local fake Stripe (one server per test session, emptied
for each test) and an app switched to use it."""

from __future__ import annotations

import json

import pytest

from tests.payments.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, sign


@pytest.fixture(scope="session")
def fake_stripe_server():
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_stripe(fake_stripe_server):
    fake_stripe_server.reset()
    return fake_stripe_server


def online_config(fake: FakeStripe) -> dict:
    return {"STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": fake.url}


@pytest.fixture
def online(app, fake_stripe):
    """The test app with online payment on, talking to the fake."""
    app.config.update(online_config(fake_stripe))
    return fake_stripe


@pytest.fixture
def deliver(client):
    """POST an event to the webhook as Stripe does (signed now with the test secret)."""

    def _deliver(event: dict, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None,
                 payload: str | None = None, signature: str | None = None):
        body = payload if payload is not None else json.dumps(event)
        header = signature if signature is not None else sign(body, secret, timestamp)
        return client.post("/webhooks/stripe", data=body, headers={
            "Stripe-Signature": header, "Content-Type": "application/json"})

    return _deliver
