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


_KEY = "bungkesmas.member_page_urls"


def _fixed_urls() -> dict:
    """The layout's addresses that do not depend on the page (per script root: the app
    may be mounted under a path prefix)."""
    app = current_app._get_current_object()
    kept = app.extensions.setdefault(_KEY, {})
    root = request.script_root
    urls = kept.get(root)
    if urls is None:
        urls = kept[root] = {
            "stylesheet": url_for("static", filename="app.css"),
            "home": url_for("public.index"),
            "check": url_for("selfservice.check"),
            "languages": tuple((code, url_for("auth.set_language", lang=code))
                               for code in app.config["LANGUAGES"]),
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


def render(template: str, **values) -> str:
    """A member page: `template` (extending `selfservice/layout.html`) with `values`."""
    return current_app.jinja_env.get_template(template).render(page=frame(), **values)


_FRAGMENTS = "bungkesmas.member_page_fragments"


def fragment(template: str) -> Markup:
    """A part of a member page that is the same for every request in a language (the
    status check's empty form): rendered once per language and path prefix, and kept —
    except while templates reload (development), when it is rendered every time."""
    app = current_app._get_current_object()
    key = (template, str(get_locale()), request.script_root)
    kept = app.extensions.setdefault(_FRAGMENTS, {})
    found = kept.get(key)
    if found is None:
        env = app.jinja_env
        found = Markup(env.get_template(template).render(page=frame(), entry=None))  # noqa: S704 (our template's output)
        if not env.auto_reload:
            kept[key] = found
    return found
