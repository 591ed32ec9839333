"""Bungkesmas Partner Platform: the application factory."""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy import event
from werkzeug.routing import IntegerConverter

from config import INSTANCE, config_class


class DatabaseInteger(IntegerConverter):
    """`<int:…>` in URLs, limited to what an INTEGER column holds: a larger number does
    not match the route (404) instead of failing in the database (500)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(config: dict | None = None, env: str | None = None) -> Flask:
    """Create the app for `env` (default: $BUNGKESMAS_ENV, else production)."""
    app = Flask(__name__, instance_path=str(INSTANCE))
    settings = config_class(env)
    app.config.from_object(settings)
    if config:
        app.config.update(config)
    app.config.setdefault("MIGRATION_DATABASE_URI", None)
    if not app.config["MIGRATION_DATABASE_URI"]:
        app.config["MIGRATION_DATABASE_URI"] = app.config["SQLALCHEMY_DATABASE_URI"]
    settings.validate(app.config)
    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite") or app.config[
            "DB_PING_IDLE_SECONDS"]:
        # A SQLite connection cannot have been dropped by a server: the ping that checks
        # every checked-out connection would be one more statement per request for
        # nothing. On PostgreSQL only connections that sat idle are pinged
        # (bungkesmas.connections).
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"], "pool_pre_ping": False}
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    _init_extensions(app)
    app.url_map.converters["int"] = DatabaseInteger
    _register_blueprints(app)

    from bungkesmas import cli, web

    web.init_app(app)
    cli.init_app(app)
    return app


def _init_extensions(app: Flask) -> None:
    # Import every model so that metadata (and Alembic) know all tables.
    from bungkesmas import (
        i18n,
        models,  # noqa: F401
    )
    from bungkesmas.extensions import babel, csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    i18n.install(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    login_manager.login_message = None

    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _sqlite_begin_before_savepoint)
    elif engine.dialect.name == "postgresql":
        if app.config["DB_APP_ROLE"]:
            from bungkesmas.tenancy import switch_to_app_role

            role = app.config["DB_APP_ROLE"]
            event.listen(engine, "connect",
                         lambda conn, _rec: switch_to_app_role(conn, role))
        if app.config["DB_PING_IDLE_SECONDS"]:
            from bungkesmas.connections import ping_when_idle

            ping_when_idle(engine, app.config["DB_PING_IDLE_SECONDS"])
    from bungkesmas import transactions

    transactions.install(app, engine)  # read-only transactions end with COMMIT


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin_before_savepoint(connection, _name) -> None:
    """Python's sqlite3 driver opens a transaction only before a write. A SAVEPOINT
    issued after reads only would start a transaction of its own, and releasing it would
    commit: a `begin_nested()` block would be saved even if the rest of the request
    failed. So open the transaction first."""
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN")


def _register_blueprints(app: Flask) -> None:
    from bungkesmas.api import init_api
    from bungkesmas.auth.views import bp as auth_bp

    # Adds its provider and workspace routes to those two blueprints: imported before
    # they are registered.
    from bungkesmas.payments.views import bp as payments_bp
    from bungkesmas.platform.views import bp as platform_bp
    from bungkesmas.public.views import bp as public_bp
    from bungkesmas.selfservice.views import bp as selfservice_bp
    from bungkesmas.tenants.views import bp as tenants_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(selfservice_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(platform_bp)
    app.register_blueprint(tenants_bp)
    app.register_blueprint(payments_bp)
    init_api(app)
