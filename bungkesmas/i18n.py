"""Language and time zone: Bahasa Indonesia by default, English by a visible switch."""

from __future__ import annotations

from flask import current_app, g, has_request_context, session
from flask_babel import get_translations
from flask_login import current_user


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if has_request_context():
        chosen = session.get("lang")
        if chosen in languages:
            return chosen
        user_locale = getattr(current_user, "locale", None)
        if user_locale in languages:
            return user_locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def translations():
    """`flask_babel.get_translations()`, looked up once per request and locale.

    Flask-Babel's own lookup walks its request namespace three times and formats the
    locale's name for every string a template translates (a dozen on a plain page). The
    result is kept in that same namespace beside the locale it was made for, so that
    `force_locale` and `refresh`, which replace the locale, are still obeyed."""
    if not g:  # no application context: Flask-Babel's answer (no translation)
        return get_translations()
    ctx = g.get("_flask_babel")
    cached = getattr(ctx, "bungkesmas_translations", None)
    if cached is not None and cached[0] is getattr(ctx, "babel_locale", None):
        return cached[1]
    found = get_translations()
    ctx = g._flask_babel  # created by get_translations
    ctx.bungkesmas_translations = (getattr(ctx, "babel_locale", None), found)
    return found


def install_jinja_gettext(app) -> None:
    """Templates translate through `translations()` (Flask-Babel installs its own)."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
    )
