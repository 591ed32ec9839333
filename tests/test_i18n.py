"""Bahasa Indonesia is the default language and every message has a translation; English
is one click away. The catalogue checks re-extract the messages from the source, so a new
string without an Indonesian translation fails here, not in front of a kader."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from markupsafe import escape

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "bungkesmas" / "translations"
ID_PO = TRANSLATIONS / "id" / "LC_MESSAGES" / "messages.po"
ID_MO = ID_PO.with_suffix(".mo")
# The same keywords as `make extract-messages` (pybabel extract -k _l -k lazy_gettext).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
FIELD_ERROR = re.compile(r'<p class="error" id="([\w-]+)-error">(.*?)</p>')


@cache
def indonesian_catalogue():
    with ID_PO.open("rb") as f:
        return read_po(f)


@cache
def extracted_messages() -> dict[str, list[str]]:
    """msgid -> where it occurs, extracted from the source now, as babel.cfg says."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f, filename=str(ROOT / "babel.cfg"))
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def id_text(msgid: str) -> str:
    """The Indonesian translation of `msgid`, as the catalogue has it."""
    message = indonesian_catalogue()[msgid]
    assert message is not None and message.string, f"no Indonesian translation of {msgid!r}"
    return message.string


def placeholders(text: str) -> set[str]:
    return {m.group(0) for m in PLACEHOLDER.finditer(text)}


# --- the catalogue ----------------------------------------------------------------------


def test_every_message_has_an_indonesian_translation():
    catalogue = indonesian_catalogue()
    extracted = extracted_messages()
    assert len(extracted) > 100, "extraction found suspiciously few messages"
    problems = []
    for msgid, where in sorted(extracted.items()):
        message = catalogue.get(msgid)
        if message is None:
            problems.append(f"not in the catalogue: {msgid!r} ({where[0]}) — "
                            "run `make extract-messages` and translate it")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(s and s.strip() for s in strings):
            problems.append(f"untranslated: {msgid!r} ({where[0]})")
        if message.fuzzy:
            problems.append(f"fuzzy (needs review): {msgid!r} ({where[0]})")
    assert not problems, "\n".join(problems)


def test_indonesian_catalogue_declares_a_single_plural_form():
    catalogue = indonesian_catalogue()
    assert catalogue.plural_forms == "nplurals=1; plural=0;"
    for message in catalogue:
        if message.pluralizable:
            assert len(message.string) == 1 and message.string[0], message.id


def test_translations_keep_the_placeholders_of_the_english_text():
    problems = []
    for message in indonesian_catalogue():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set().union(*(placeholders(i) for i in ids))
        for string in strings:
            if string and placeholders(string) != expected:
                problems.append(f"{ids[0]!r}: expected {sorted(expected)}, "
                                f"got {sorted(placeholders(string))} in {string!r}")
    assert not problems, "\n".join(problems)


def test_catalogue_passes_babels_own_checks():
    errors = [f"{message.id!r}: {'; '.join(map(str, errs))}"
              for message, errs in indonesian_catalogue().check()]
    assert not errors, "\n".join(errors)


def test_compiled_catalogue_matches_the_po_file():
    assert ID_MO.exists(), "no compiled catalogue: run `make translations`"

    def key(value):  # read_mo gives plural ids and strings as lists, read_po as tuples
        return tuple(value) if isinstance(value, list | tuple) else value

    with ID_MO.open("rb") as f:
        compiled = {key(m.id): key(m.string) for m in read_mo(f) if m.id}
    source = {key(m.id): key(m.string) for m in indonesian_catalogue() if m.id and not m.fuzzy}
    stale = sorted(str(k) for k in source if compiled.get(k) != source[k])
    assert not stale, "the .mo is out of date, run `make translations`: " + ", ".join(stale[:5])


def _gettext_literals_in_python() -> dict[str, str]:
    """String literals passed to a gettext function anywhere in the Python source,
    including inside f-strings, which Babel's extractor does not look into."""
    names = {"_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext"}
    found: dict[str, str] = {}
    for path in sorted((ROOT / "bungkesmas").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            arg = node.args[0]
            if name in names and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.setdefault(arg.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_gettext_calls_in_python_are_all_extracted():
    extracted = extracted_messages()
    missed = {msgid: where for msgid, where in _gettext_literals_in_python().items()
              if msgid not in extracted}
    assert not missed, f"marked for translation but not extracted: {missed}"


# --- the pages --------------------------------------------------------------------------


def fetch(client, path: str, data: dict | None = None):
    """GET (or POST `data` to) `path` in a fresh application context, as in production.

    The `app` fixture keeps one application context pushed for the whole test and Flask
    reuses it for every test-client request, so `g` — where Flask-Babel caches the
    locale it selected — would otherwise carry the first request's language over."""
    with client.application.app_context():
        if data is None:
            return client.get(path)
        return client.post(path, data=data)


def test_pages_are_indonesian_by_default_and_english_after_switching(client):
    english = "Apply to become a partner"
    indonesian = id_text(english)
    assert indonesian != english

    page = fetch(client, "/daftar-mitra")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert '<html lang="id">' in body
    assert str(escape(indonesian)) in body
    assert english not in body

    switch = fetch(client, "/bahasa/en?next=/daftar-mitra")
    assert switch.status_code == 302
    assert switch.headers["Location"] == "/daftar-mitra"

    body = fetch(client, "/daftar-mitra").get_data(as_text=True)
    assert '<html lang="en">' in body
    assert english in body
    assert str(escape(indonesian)) not in body


def test_switching_back_to_indonesian_works(client):
    fetch(client, "/bahasa/en")
    fetch(client, "/bahasa/id")
    body = fetch(client, "/").get_data(as_text=True)
    assert str(escape(id_text("Bungkesmas Partner Platform"))) in body


def test_form_errors_are_in_the_users_language(client):
    required_fields = {"name", "org_type", "province_code", "regency_code", "contact_name",
                       "contact_phone", "contact_email"}
    english = "This field is required."
    indonesian = id_text(english)

    response = fetch(client, "/daftar-mitra", {})
    assert response.status_code == 422
    errors = dict(FIELD_ERROR.findall(response.get_data(as_text=True)))
    assert required_fields <= errors.keys(), errors
    assert {errors[f] for f in required_fields} == {str(escape(indonesian))}

    fetch(client, "/bahasa/en?next=/daftar-mitra")
    response = fetch(client, "/daftar-mitra", {})
    assert response.status_code == 422
    errors = dict(FIELD_ERROR.findall(response.get_data(as_text=True)))
    assert required_fields <= errors.keys(), errors
    assert {errors[f] for f in required_fields} == {english}


def test_an_invalid_value_is_explained_in_indonesian(client):
    response = fetch(client, "/daftar-mitra", {"contact_phone": "12", "contact_email": "x"})
    assert response.status_code == 422
    errors = dict(FIELD_ERROR.findall(response.get_data(as_text=True)))
    assert errors["contact_phone"] == str(escape(id_text(
        "Enter an Indonesian phone number, e.g. 0812 3456 7890.")))
    assert errors["contact_email"] == str(escape(id_text("Enter a valid e-mail address.")))


def test_wtforms_own_messages_are_in_indonesian(app):
    from wtforms import SelectMultipleField

    from bungkesmas.forms import Form

    class Choose(Form):
        ids = SelectMultipleField(coerce=int, validate_choice=False)

    with app.test_request_context("/", method="POST", data={"ids": "x"}):
        form = Choose(meta={"csrf": False})
        assert not form.validate()
        assert form.ids.errors == [id_text(
            "Invalid choice(s): one or more data inputs could not be coerced.")]


def test_templates_translate_like_jinjas_new_style_gettext(app):
    """Templates use bungkesmas.i18n's gettext functions: the same results as the ones
    Jinja's i18n extension makes (variables escaped, `%%` a percent sign, `num` given to
    plural forms), in the request's language, following `force_locale`."""
    from flask import render_template_string
    from flask_babel import force_locale

    page = ("{{ _('by %(date)s', date='<b>') }}|{{ gettext('by %(date)s', date=1) }}|"
            "{{ ngettext('%(num)d member', '%(num)d members', 3) }}|{{ _('100%%') }}")
    with app.test_request_context("/"):
        assert render_template_string(page) == (
            "paling lambat &lt;b&gt;|paling lambat 1|3 peserta|100%")
        with force_locale("en"):
            assert render_template_string(page).startswith("by &lt;b&gt;|by 1|3 members|")
        assert render_template_string("{{ _('by %(date)s', date=2) }}") == "paling lambat 2"


def test_python_gettext_follows_force_locale_and_refresh(app):
    """The translations kept per request (bungkesmas.i18n.CachingDomain) are those of the
    locale in force."""
    from flask import session
    from flask_babel import force_locale, gettext, lazy_gettext, refresh

    with app.test_request_context("/"):
        assert gettext("by %(date)s", date=1) == "paling lambat 1"
        with force_locale("en"):
            assert gettext("by %(date)s", date=1) == "by 1"
            assert str(lazy_gettext("by %(date)s", date=2)) == "by 2"
        assert gettext("by %(date)s", date=1) == "paling lambat 1"
        session["lang"] = "en"
        refresh()
        assert gettext("by %(date)s", date=1) == "by 1"


def test_long_dates_are_written_as_babel_writes_them_in_the_language_in_force(app):
    """`long_date` keeps what it formats per language and day: a kept date in one
    language is never given for the other."""
    from datetime import date

    from flask_babel import force_locale, format_date

    from bungkesmas.i18n import long_date

    day = date(2027, 1, 14)
    with app.test_request_context("/"):
        assert long_date(day) == format_date(day, "long") == "14 Januari 2027"
        with force_locale("en"):
            assert long_date(day) == format_date(day, "long") == "January 14, 2027"
        assert long_date(day) == "14 Januari 2027"
