"""Rendering the members' own pages (`selfservice/layout.html`).

Members do not sign in: their pages have no staff navigation, no flashed messages and no
CSRF-protected forms of the staff layout, so they need none of the values the staff
pages' context processors compute for every `render_template` (the signed-in user, the
partner's permissions, labels, the locale…). They are rendered straight from the Jinja
environment (the same templates, filters and globals, `_` included) with the one value
their layout needs, `page` (`Frame`). The status check is the page members' phones load
most: ~0.1 ms of context processors and ~0.2 ms of URL building per page were a fifth of
its cost. The part of a page that is the same for everyone in a language (the empty
status form) is rendered once and kept (`fragment`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from flask import current_app, request, url_for
from flask_babel import get_locale
from markupsafe import Markup


@dataclass(frozen=True)
class Frame:
    """What `selfservice/layout.html` shows around a page."""

    locale: str
    stylesheet: str
    home: str
    check: str  # the status check's form
    languages: tuple[tuple[str, str], ...]  # (code, address of the switch back to here)


_KEPT = "bungkesmas.member_pages"


def _kept() -> dict:
    """What the app keeps for its member pages: their fixed addresses and fragments."""
    return current_app.extensions.setdefault(_KEPT, {})


def _fixed_urls() -> dict:
    """The layout's addresses that do not depend on the page (per script root: the app
    may be mounted under a path prefix)."""
    kept = _kept()
    key = ("urls", request.script_root)
    urls = kept.get(key)
    if urls is None:
        urls = kept[key] = {
            "stylesheet": url_for("static", filename="app.css"),
            "home": url_for("public.index"),
            "check": url_for("selfservice.check"),
            "languages": tuple((code, url_for("auth.set_language", lang=code))
                               for code in current_app.config["LANGUAGES"]),
        }
    return urls


def frame() -> Frame:
    urls = _fixed_urls()
    # `auth.set_language` sends the member back to this page (as the staff layout does).
    back = quote(request.full_path.rstrip("?"), safe="")
    return Frame(locale=str(get_locale()), stylesheet=urls["stylesheet"], home=urls["home"],
                 check=urls["check"],
                 languages=tuple((code, f"{href}?next={back}")
                                 for code, href in urls["languages"]))


def render(template: str, page: Frame | None = None, **values) -> str:
    """A member page: `template` (extending `selfservice/layout.html`) with `values`,
    in `page` (this request's frame, made here if not given)."""
    return current_app.jinja_env.get_template(template).render(page=page or frame(),
                                                                **values)


def fragment(template: str, page: Frame) -> Markup:
    """A part of a member page that is the same for every request in a language (the
    status check's empty form), in `page`: rendered once per language and path prefix,
    and kept — except while templates reload (development), when it is rendered every
    time."""
    kept = _kept()
    key = ("fragment", template, page.locale, request.script_root)
    found = kept.get(key)
    if found is None:
        env = current_app.jinja_env
        found = Markup(env.get_template(template).render(page=page, entry=None))  # noqa: S704 (our template's output)
        if not env.auto_reload:
            kept[key] = found
    return found
