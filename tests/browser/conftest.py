"""Browser fixtures: the app served on a real port (CSRF on) and Debian's chromium driven
by Playwright. No browser is ever downloaded: `make browser` installs Debian's package."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from bungkesmas import create_app
from bungkesmas.extensions import db, limiter

CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture
def live_app(database):
    """The app the live server runs: CSRF enabled, as in production. Set up data with
    `with live_app.app_context(): ...` and commit."""
    app = create_app(env="testing", config=database.config(
        RATELIMIT_ENABLED=False, WTF_CSRF_ENABLED=True, SERVER_NAME=None))
    app.test_database = database
    return app


@pytest.fixture
def live_server(live_app, database):
    """Serve `live_app` on a free port in a daemon thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with live_app.app_context():
            db.engine.dispose()
        limiter.reset()
        database.truncate()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"CI=true but Debian's chromium is not installed at {CHROMIUM} "
                        "(run `make browser`)")
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM}; run `make browser` "
                    "(apt-get install chromium) to run the browser tests")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="id-ID")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
