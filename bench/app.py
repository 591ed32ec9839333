"""The app the benchmarks run: production configuration with fixed bench-only keys.

Kept apart from the generator so that the import benchmark's child process loads no
more than the application itself (its peak RSS is a measured figure)."""

from __future__ import annotations

import base64
import logging

BENCH_SECRETS = {
    "SECRET_KEY": "bench-secret-key-not-for-production-000000000000",
    "NIK_ENCRYPTION_KEY": base64.urlsafe_b64encode(b"bench-key-bungkesmas-not-secret!").decode(),
    "NIK_DIGEST_KEY": "bench-digest-key",
}


def make_app(url: str, **config):
    """A production-configured app on `url`. On PostgreSQL it logs in as the URL's user
    (the schema owner) and switches to the `bungkesmas_app` role on every connection,
    exactly as in production, so Row-Level Security applies."""
    from bungkesmas import create_app

    app = create_app(env="production", config={
        "SQLALCHEMY_DATABASE_URI": url, "MIGRATION_DATABASE_URI": url,
        "RATELIMIT_ENABLED": False, **BENCH_SECRETS, **config})
    logging.getLogger().setLevel(logging.WARNING)  # create_app sets INFO
    return app
