"""Language and time zone: Bahasa Indonesia by default, English by a visible switch."""

from __future__ import annotations

import functools
from datetime import date

from babel import dates as babel_dates
from flask import current_app, g, has_request_context, request, session
from flask_babel import Domain, get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    # A request that brought no cookie and has put nothing in its session has neither a
    # chosen language nor a signed-in user (the members' pages, mostly): no user to load.
    if has_request_context() and (request.cookies or session):
        chosen = session.get("lang")
        if chosen in languages:
            return chosen
        user_locale = getattr(current_user, "locale", None)
        if user_locale in languages:
            return user_locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def long_date(day: date) -> str:
    """`day` in the current language's long form ("14 Januari 2027"), as
    `flask_babel.format_date(day, "long")` writes it. Kept per language and day: Babel
    formats a date in ~20 µs, on every answer of the status check."""
    return _long_date(str(get_locale()), day)


@functools.lru_cache(maxsize=4096)
def _long_date(locale: str, day: date) -> str:
    return babel_dates.format_date(day, "long", locale=locale)


def translations():
    """`flask_babel.get_translations()`, looked up once per request and locale.

    Flask-Babel's own lookup walks its request namespace three times and formats the
    locale's name for every string translated (a dozen or more on a plain page). The
    result is kept in that same namespace beside the locale and domain it was made for
    (`CachingDomain`), so that `force_locale` and `refresh`, which replace the locale,
    are still obeyed."""
    try:
        ctx = g._get_current_object().__dict__.get("_flask_babel")
    except RuntimeError:  # no application context: Flask-Babel's answer (no translation)
        return get_translations()
    found = _kept(ctx, getattr(ctx, "babel_domain", None))
    return found if found is not None else get_translations()


_CACHE = "bungkesmas_translations"


def _kept(ctx, domain):
    """The translations kept in Flask-Babel's request namespace `ctx` for `domain`, if
    they were made for the locale in force now (None otherwise)."""
    cached = getattr(ctx, _CACHE, None)
    if cached is not None and cached[0] is getattr(ctx, "babel_locale", None) and (
            cached[1] is domain):
        return cached[2]
    return None


class CachingDomain(Domain):
    """Flask-Babel's message domain, keeping the request's translations (see
    `translations`) for the Python side too (`gettext`, `lazy_gettext`)."""

    def get_translations(self):
        try:
            ctx = g._get_current_object().__dict__.get("_flask_babel")
        except RuntimeError:
            return super().get_translations()
        found = _kept(ctx, self)
        if found is not None:
            return found
        found = super().get_translations()
        ctx = g._flask_babel  # created by the lookup
        setattr(ctx, _CACHE, (getattr(ctx, "babel_locale", None), self, found))
        return found


# The template functions below behave as Jinja's "new style" gettext, which Flask-Babel
# installs (`jinja2.ext._make_new_gettext` and siblings: the message is always a format
# string, marked safe when autoescaping, its variables escaped), without its two extra
# levels of `Context.call` per message and with `translations()`.


def _format(context, message: str, variables: dict):
    # The message comes from our own catalogue (trusted, as in Jinja's own gettext); the
    # variables are escaped by Markup's `%`. A message without variables and without a
    # "%" is its own result (`%` would return it unchanged: the common case, skipped).
    if context.eval_ctx.autoescape:
        message = Markup(message)  # noqa: S704
    if not variables and "%" not in message:
        return message
    return message % variables


@pass_context
def _gettext(context, string: str, /, **variables):
    rv = translations().ugettext(string)
    return _format(context, rv, variables)


@pass_context
def _ngettext(context, singular: str, plural: str, num: int, /, **variables):
    variables.setdefault("num", num)
    rv = translations().ungettext(singular, plural, num)
    return _format(context, rv, variables)


@pass_context
def _pgettext(context, msgctxt: str, string: str, /, **variables):
    variables.setdefault("context", msgctxt)
    rv = translations().upgettext(msgctxt, string)
    return _format(context, rv, variables)


@pass_context
def _npgettext(context, msgctxt: str, singular: str, plural: str, num: int, /,
               **variables):
    variables.setdefault("context", msgctxt)
    variables.setdefault("num", num)
    rv = translations().unpgettext(msgctxt, singular, plural, num)
    return _format(context, rv, variables)


def install(app) -> None:
    """After `babel.init_app`: the caching domain, and templates translate through
    `translations()` (Flask-Babel installs its own functions)."""
    babel = app.extensions["babel"].instance
    if not isinstance(babel.__dict__.get("domain_instance"), CachingDomain):
        # Replaces Flask-Babel's (a cached property of the one Babel instance).
        babel.domain_instance = CachingDomain(domain=app.config.get("BABEL_DOMAIN", "messages"))
    env = app.jinja_env
    env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
    )
    env.globals.update(gettext=_gettext, _=_gettext, ngettext=_ngettext, pgettext=_pgettext,
                       npgettext=_npgettext)
