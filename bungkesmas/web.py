"""Request plumbing shared by every page: sessions, commit discipline, errors, headers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, abort, jsonify, make_response, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from bungkesmas.errors import DomainError
from bungkesmas.extensions import db, login_manager

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with its signing serializer built once per set of
    keys instead of on every request (Flask builds it even when no cookie came)."""

    def __init__(self) -> None:
        self._serializers: dict = {}

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = self._serializers[keys] = super().get_signing_serializer(app)
        return serializer


def run(action: Callable[[], Any], form=None) -> Any:
    """Run a domain action as one unit of work: commit on success; on a DomainError roll
    back, show the message next to its field (or at the top of the form) and return None.

    Domain functions only flush; this is the one place a page request commits."""
    try:
        result = action()
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        show_error(form, err)
        return None
    return result if result is not None else True


def show_error(form, err: DomainError) -> None:
    field = getattr(form, err.field, None) if (form is not None and err.field) else None
    if field is not None:
        field.errors = [*field.errors, str(err.message)] if isinstance(field.errors, list) else [
            str(err.message)]
    elif form is not None:
        form.form_errors.append(str(err.message))
    else:
        from flask import flash

        flash(str(err.message), "error")


def is_api_request() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/webhooks/")


def error_response(status: int, message: str, errors: dict | None = None):
    if is_api_request():
        return jsonify(errors=errors or {"_schema": [message]}), status
    return render_template("error.html", status=status, message=message), status


def flat_errors(errors: dict, prefix: str = "") -> dict[str, list[str]]:
    """Nested validation errors (a list of objects: {"lines": {0: {"weight_kg": [...]}}})
    as the API's flat shape {"lines.0.weight_kg": [...]}."""
    out: dict[str, list[str]] = {}
    for key, value in errors.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flat_errors(value, name))
        elif isinstance(value, list) and all(isinstance(m, str) for m in value):
            out[name] = value
        else:
            out[name] = [str(value)]
    return out


def requires_permission(permission: str, permissions_of: Callable[[], frozenset]):
    """Decorate a view so that it answers 403 unless the actor holds `permission`."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if permission not in permissions_of():
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator


def init_app(app: Flask) -> None:
    from bungkesmas.auth.models import User
    from bungkesmas.auth.services import role_label
    from bungkesmas.partners.services import status_label, type_label
    from bungkesmas.regions import region_name

    app.session_interface = SessionInterface()

    @login_manager.user_loader
    def load_user(user_id: str):
        if not user_id.isdigit():
            return None
        return db.session.get(User, int(user_id))

    @login_manager.unauthorized_handler
    def unauthorized():
        if is_api_request():
            return error_response(401, _("Sign in first."))
        from flask import redirect, url_for

        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    @app.before_request
    def start_without_a_tenant():
        # Every request starts with no tenant; the blueprint gates widen it explicitly.
        # A session made for this request starts so (`tenancy.current_scope`); one that
        # is already there (a request inside an app context that used it) is reset.
        # Requests that never touch the session (the status check) do not make one.
        if db.session.registry.has():
            from bungkesmas import tenancy

            tenancy.activate(tenancy.Scope.nobody())

    @app.before_request
    def refuse_oversized_body():
        # Werkzeug enforces MAX_CONTENT_LENGTH only when something reads the body; refuse
        # an oversized body up front, also on routes that take no fields.
        limit = request.max_content_length
        if limit is not None and (request.content_length or 0) > limit:
            abort(413)

    fixed_headers = [
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if app.config["SESSION_COOKIE_SECURE"]:
        fixed_headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    # Pages hold personal data: never keep them in shared or browser caches.
    no_store = ("Cache-Control", "no-store")

    @app.after_request
    def security_headers(response):
        # Each header unless the view set its own (one pass over the few headers there
        # are: Werkzeug's setdefault raises and catches a KeyError for every one missing).
        headers = response.headers
        present = {name.lower() for name in headers.keys()}
        wanted = fixed_headers if request.path.startswith("/static/") else [
            *fixed_headers, no_store]
        headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(err):
        return error_response(400, _("The form expired or was sent from elsewhere. "
                                     "Reload the page and try again."))

    @app.errorhandler(DomainError)
    def domain_error(err: DomainError):
        db.session.rollback()
        return error_response(err.status_code, str(err.message), err.as_errors())

    @app.errorhandler(LookupError)
    def not_found_lookup(err):
        db.session.rollback()
        return error_response(404, _("Not found."))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        messages = {
            400: _("The request was not understood."),
            401: _("Sign in first."),
            403: _("You are not allowed to open this page."),
            404: _("Not found."),
            405: _("This action is not possible here."),
            413: _("The upload is too large."),
            429: _("Too many attempts. Wait a moment and try again."),
        }
        data = getattr(err, "data", None) or {}
        if "messages" in data:  # webargs/marshmallow validation of an API request
            errors: dict = {}
            for location, fields in data["messages"].items():
                errors.update(fields if isinstance(fields, dict) else {location: fields})
            return error_response(err.code or 422, _("Some fields are not valid."),
                                  flat_errors(errors))
        response = error_response(err.code or 500, messages.get(err.code, err.description or ""))
        if err.code == 401 and is_api_request():
            response[0].headers["WWW-Authenticate"] = 'Bearer realm="api"'
        if getattr(err, "retry_after", None) is not None:  # a 429 that says when (ratelimit)
            response = make_response(response)
            response.headers.update(
                (name, value) for name, value in err.get_headers() if name == "Retry-After")
        return response

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, _("Something went wrong on our side. Please try again."))

    @app.context_processor
    def template_helpers():
        return {
            "current_locale": str(get_locale()),
            "status_label": status_label,
            "type_label": type_label,
            "role_label": role_label,
            "region_name": region_name,
            "local_time": lambda dt: format_datetime(dt, "d MMM yyyy HH:mm") if dt else "",
        }
