"""Bad input on every write route: malformed, oversized and missing fields never cause a
500 and never leave a partial record; forms show field-level errors in the user's
language; the API answers {"errors": {field: [message]}}; every form needs a CSRF token.

The routes are enumerated from the URL map, so a new route is covered without editing
this file; only a new kind of URL argument needs a line in ARGUMENTS.
"""

from __future__ import annotations

import collections
import functools
import io
import itertools
import json
import re
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser

import flask_babel
import pytest
from marshmallow import fields as ma
from sqlalchemy import select, text
from wtforms import (
    BooleanField,
    DateField,
    DateTimeField,
    DecimalField,
    EmailField,
    FloatField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
)
from wtforms.fields.core import UnboundField

from bungkesmas import create_app, tenancy
from bungkesmas.api.mous import ACTIONS as MOU_ACTIONS
from bungkesmas.auth import services as auth
from bungkesmas.auth.models import ApiToken, PartnerStaff
from bungkesmas.auth.permissions import Role
from bungkesmas.extensions import db
from bungkesmas.forms import Form
from bungkesmas.partners.models import PartnerType
from bungkesmas.partners.services import TRANSITIONS
from tests.helpers import NEXT_ITEM, PASSWORD, Factory

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
HUGE = 100_000


# --- the routes -------------------------------------------------------------------------

# An app only to read the URL map at collection time (no database is touched).
_MAP_APP = create_app(env="testing")


def _write_routes() -> list[tuple[str, str, str]]:
    """(method, rule, endpoint) of every route that changes something, except static."""
    out = []
    for rule in _MAP_APP.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in WRITE_METHODS:
            if method in rule.methods:
                out.append((method, rule.rule, rule.endpoint))
    return sorted(out, key=lambda r: (r[1], r[0]))


WRITE_ROUTES = _write_routes()
INT_ARGUMENT = re.compile(r"<int(?:\([^)]*\))?:(\w+)>")
INT_ROUTES = sorted(
    ((method, rule.rule, rule.endpoint) for rule in _MAP_APP.url_map.iter_rules()
     if INT_ARGUMENT.search(rule.rule)
     for method in ("GET", *WRITE_METHODS) if method in rule.methods),
    key=lambda r: (r[1], r[0]))
FORM_ROUTES = [r for r in WRITE_ROUTES if not r[1].startswith("/api/")]
API_ROUTES = [r for r in WRITE_ROUTES if r[1].startswith("/api/")]


def _route_id(route) -> str:
    return f"{route[0]} {route[1]}"


def role_for(path: str) -> str:
    """Who may use a route, by its prefix."""
    if path.startswith("/api/"):
        return "token"
    if path.startswith("/admin"):
        return "provider"
    if path.startswith("/p/"):
        return "partner_admin"
    return "anonymous"


# --- a world of real objects for the URL arguments --------------------------------------


@dataclass
class World:
    slug: str
    partner_id: int
    provider_email: str
    partner_admin_email: str
    officer_staff_id: uuid.UUID
    web_token_id: uuid.UUID
    applicant_id: int
    invitation_token: str
    provider_api_token: str
    member_number: str = ""
    group_id: uuid.UUID | None = None
    product_id: int | None = None
    import_id: uuid.UUID | None = None
    mou_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None
    transfer_ids: tuple = ()
    category_id: uuid.UUID | None = None
    deposit_id: uuid.UUID | None = None
    statement: str = ""
    remittance_id: uuid.UUID | None = None
    receipt: str = ""
    entry_id: uuid.UUID | None = None
    enrollment_id: uuid.UUID | None = None
    pay_token: str = ""


@pytest.fixture(scope="module")
def _built(database, tmp_path_factory) -> dict:
    """The world of this module and backend, built by the first test that needs it and
    reused by the next ones as long as each leaves the database as it found it (most
    refuse everything they are sent); emptied after the module."""
    built = {"world": None, "state": None, "dirs": {
        "IMPORT_UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
        "MOU_STORAGE_DIR": str(tmp_path_factory.mktemp("mous"))}}
    yield built
    if built["world"] is not None:
        database.truncate()


# What signing in writes: not a change a later test could notice.
REUSABLE_DESPITE = {("users", "last_login_at")}


@pytest.fixture
def world(request, app, _built) -> World:
    database = app.test_database
    app.config.update(_built["dirs"])
    if _built["world"] is None or _built["truncations"] != database.truncations:
        _built["world"] = _build_world(app, Factory())
        _built["state"] = db_state(app, ignore=REUSABLE_DESPITE)
        _built["truncations"] = database.truncations
    yield _built["world"]
    db.session.remove()
    following = request.node.stash.get(NEXT_ITEM, None)
    if (following is not None and following.module is request.module
            and "world" in following.fixturenames
            and following.callspec.params.get("database") == database.backend
            and db_state(app, ignore=REUSABLE_DESPITE) == _built["state"]):
        database.keep_rows = True  # the `app` fixture keeps them for the next test
    else:  # the `app` fixture empties the database
        _built["world"] = None


def _build_world(app, make: Factory) -> World:
    provider = make.admin
    # A waste bank, so that the waste bank pages and API are exercised too.
    partner = make.partner(org_type=PartnerType.WASTE_BANK)
    with tenancy.everything():
        admin_user = auth.user_by_email(partner.contact_email)
    officer = make.staff(partner)
    make.token(admin_user, partner)
    applicant = make.applicant()
    with tenancy.everything():
        _, link = auth.invite(admin_user, partner, make.email("calon"), Role.PARTNER_OFFICER,
                              name="Calon Kader")
        officer_staff_id = db.session.scalar(select(PartnerStaff.id).where(
            PartnerStaff.user_id == officer.id, PartnerStaff.tenant_id == partner.id))
        web_token_id = db.session.scalar(select(ApiToken.id).where(
            ApiToken.user_id == admin_user.id, ApiToken.partner_id == partner.id))
        result = World(
            slug=partner.slug, partner_id=partner.id, provider_email=provider.email,
            partner_admin_email=admin_user.email, officer_staff_id=officer_staff_id,
            web_token_id=web_token_id, applicant_id=applicant.id,
            invitation_token=link.rsplit("/", 1)[1], provider_api_token="")
    db.session.commit()
    result.provider_api_token = make.token(provider, None)
    result.product_id = make.product(partner, code="UJI").id
    result.member_number = make.member(partner)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        from bungkesmas.members.services import create_group

        result.group_id = create_group(None, partner, "Kelompok Uji").id
    db.session.commit()
    result.import_id = make.member_import(partner)
    # The partner's MOU (active, from the factory) with a countersigned scan.
    from bungkesmas.mous import services as mous

    with tenancy.everything():
        mou = mous.mous_of(partner)[0]
        result.mou_id = mou.id
        result.document_id = mous.upload_document(
            provider, mou, io.BytesIO(b"%PDF-1.4\n%scan\n"), "mou-bertanda-tangan.pdf").id
    db.session.commit()
    result.transfer_ids = _transfers(make, partner, admin_user, result.member_number)
    result.category_id, result.deposit_id = make.waste_records(partner)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        from bungkesmas.contributions import services as ledger
        from bungkesmas.members.services import by_number, enroll
        from bungkesmas.timeutil import local_today

        enrollment = enroll(None, partner, by_number(result.member_number), result.product_id)
        entry = ledger.record_payment(None, enrollment, "cash", 150_000, local_today())
        result.receipt, result.entry_id = entry.receipt_number, entry.id
        result.enrollment_id = enrollment.id
        from bungkesmas.payments.services import pay_token

        result.pay_token = pay_token(enrollment)
        db.session.commit()
    result.statement, result.remittance_id = _remittance_of(partner)
    db.session.remove()
    return result


def _transfers(make, partner, admin_user, member_number) -> tuple:
    """A pending offer another partner made to the world's partner, and one the world's
    partner made: the one to accept or decline, the other to withdraw."""
    from bungkesmas.members.services import by_number
    from bungkesmas.transfers import services as transfers

    other = make.partner()
    other_member = make.member(other)
    with tenancy.everything():
        other_admin = auth.user_by_email(other.contact_email)
    ids = []
    for giver, admin, taker, number in ((other, other_admin, partner, other_member),
                                        (partner, admin_user, other, member_number)):
        with tenancy.scoped(tenancy.Scope.tenants(giver.id)):
            ids.append(transfers.offer(admin, giver, taker.id,
                                       member_ids=[by_number(number).id]).id)
        db.session.commit()
    return tuple(ids)


def _remittance_of(partner):
    """An issued remittance statement of last month and a receipt for it."""
    from bungkesmas.remittance import services as remittance
    from bungkesmas.remittance.periods import Frequency, period_of
    from bungkesmas.timeutil import local_today

    last_month = period_of(local_today(), Frequency.MONTHLY).previous()
    number = remittance.issue(None, partner, last_month).number
    receipt_id = remittance.record_receipt(None, partner, number, 1000, local_today(),
                                           "BRI-1").id
    db.session.commit()
    return number, receipt_id


# URL argument name -> the real values to fill it with. A route with an argument that is
# not listed here fails the tests with a message saying so.
ARGUMENTS = {
    "slug": lambda w: [w.slug],
    "partner_id": lambda w: [w.applicant_id],
    "staff_id": lambda w: [w.officer_staff_id],
    "token_id": lambda w: [w.web_token_id],
    "token": lambda w: [w.invitation_token],
    "action": lambda w: sorted({*TRANSITIONS, *MOU_ACTIONS}),
    "lang": lambda w: ["id", "en"],
    "member_number": lambda w: [w.member_number],
    "group_id": lambda w: [w.group_id],
    "product_id": lambda w: [w.product_id],
    "import_id": lambda w: [w.import_id],
    "mou_id": lambda w: [w.mou_id],
    "document_id": lambda w: [w.document_id],
    "transfer_id": lambda w: list(w.transfer_ids),
    "category_id": lambda w: [w.category_id],
    "deposit_id": lambda w: [w.deposit_id],
    "statement": lambda w: [w.statement],
    "remittance_id": lambda w: [w.remittance_id],
    "receipt": lambda w: [w.receipt],
    "entry_id": lambda w: [w.entry_id],
    "enrollment_id": lambda w: [w.enrollment_id],
    "pay_token": lambda w: [w.pay_token],
    "card_token": lambda w: [_card_token(w.member_number)],
}


def _card_token(member_number: str) -> str:
    from bungkesmas.members.models import Member
    from bungkesmas.selfservice.services import card_token

    with tenancy.everything():
        return card_token(db.session.scalar(select(Member).where(
            Member.member_number == member_number)))


def rule_object(app, rule_text: str, method: str):
    for rule in app.url_map.iter_rules():
        if rule.rule == rule_text and method in rule.methods:
            return rule
    raise AssertionError(f"{method} {rule_text} is not in the URL map")


def urls_for(rule, world: World, **fixed) -> list[str]:
    """Every URL of `rule` with its arguments filled from the world (or `fixed`)."""
    unknown = sorted(set(rule.arguments) - ARGUMENTS.keys() - fixed.keys())
    if unknown:
        pytest.fail(f"Route {rule.rule} ({rule.endpoint}) has URL argument(s) {unknown} that "
                    f"tests/test_bad_input.py does not know how to fill: add them to ARGUMENTS "
                    f"with real values from the World.")
    names = sorted(rule.arguments)
    urls = []
    for combo in itertools.product(*([fixed[n]] if n in fixed else ARGUMENTS[n](world)
                                     for n in names)):
        built = rule.build(dict(zip(names, combo, strict=True)), append_unknown=False)
        assert built is not None, f"cannot build {rule.rule} from {combo}"
        urls.append(built[1])
    return urls


# --- requests, each in its own app context (as in production) ---------------------------


def send(client, method: str, url: str, **kwargs):
    """One request in a fresh app context, so that `g`, the cached locale and the
    database session do not carry over from the previous request (also for clients of
    apps built in a test, which lack the conftest client's care)."""
    with client.application.app_context():
        return client.open(url, method=method, **kwargs)


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no csrf_token in the page"
    return match.group(1)


def sign_in(client, role: str, world: World) -> dict:
    """Sign the client in for `role`; return extra request kwargs (API headers)."""
    if role == "token":
        return {"headers": {"Authorization": f"Bearer {world.provider_api_token}"}}
    if role == "anonymous":
        return {}
    email = world.provider_email if role == "provider" else world.partner_admin_email
    data = {"email": email, "password": PASSWORD}
    if client.application.config.get("WTF_CSRF_ENABLED", True):
        data["csrf_token"] = csrf_token_from(send(client, "GET", "/login").get_data(as_text=True))
    response = send(client, "POST", "/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return {}


# --- the state of the database ----------------------------------------------------------

# Columns a request may touch even when it is refused (a token's last use).
VOLATILE = {("api_tokens", "last_used_at")}


def db_state(app, ignore=frozenset()) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of all its rows (read as the owner, past
    Row-Level Security), in one query: it runs after every request."""
    with app.test_database.owner.connect() as conn:
        return {table: (count, digest) for table, count, digest in conn.execute(
            text(_state_query(app.test_database.backend, frozenset(VOLATILE | ignore))))}


@functools.cache
def _state_query(backend: str, ignore: frozenset) -> str:
    parts = []
    for table in db.metadata.sorted_tables:
        columns = [f'"{c.name}"' for c in table.c if (table.name, c.name) not in ignore]
        if backend == "postgresql":
            # Each row as text (a composite value quotes what needs it), in order.
            parts.append(
                f"SELECT '{table.name}', count(*), md5(coalesce(string_agg(r::text, E'\\n' "
                f"ORDER BY r::text), '')) FROM (SELECT {', '.join(columns)} "
                f'FROM "{table.name}") AS r')
        else:
            # quote() writes each value unambiguously (strings quoted, blobs as X'..').
            row = " || ',' || ".join(f"quote({c})" for c in columns)
            parts.append(
                f"SELECT '{table.name}', count(*), coalesce(group_concat(r, char(10)), '') "
                f'FROM (SELECT {row} AS r FROM "{table.name}" ORDER BY r)')
    return " UNION ALL ".join(parts)


def state_change(before: dict, after: dict) -> str:
    """'' if nothing changed, else a description of the change."""
    changes = []
    for table in before:
        if before[table] != after[table]:
            (rows_before, _), (rows_after, _) = before[table], after[table]
            changes.append(f"{table}: {rows_before} -> {rows_after} rows"
                           if rows_before != rows_after else f"{table}: rows modified")
    return "; ".join(changes)


# --- the fields every form and API schema knows -----------------------------------------


def _form_classes() -> list[type]:
    seen: list[type] = []
    stack = [Form]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.append(sub)
                stack.append(sub)
    return seen


def form_fields() -> dict[str, type]:
    """name -> WTForms field class, over every form of the application."""
    found: dict[str, type] = {}
    for cls in _form_classes():
        for name in dir(cls):
            value = getattr(cls, name, None)
            if isinstance(value, UnboundField):
                found.setdefault(name, value.field_class)
    return found


FORM_FIELDS = form_fields()


def wrong_type(field_class: type) -> str | None:
    """A value of the wrong kind for a form field (None: free text has no wrong kind)."""
    if issubclass(field_class, (IntegerField, DecimalField, FloatField)):
        return "dua puluh"
    if issubclass(field_class, EmailField):
        return "12345"
    if issubclass(field_class, (SelectField, SelectMultipleField, RadioField)):
        return "bukan-pilihan"
    if issubclass(field_class, (DateField, DateTimeField)):
        return "kemarin sore"
    if issubclass(field_class, BooleanField):
        return "mungkin"
    return None


def huge_value(field_class: type) -> str:
    if issubclass(field_class, (IntegerField, DecimalField, FloatField)):
        return "9" * HUGE
    if issubclass(field_class, EmailField):
        return "a" * HUGE + "@contoh.test"
    return "x" * HUGE


def huge_payloads(max_length: int) -> list[tuple[str, dict]]:
    """100,000-character values in every field, split over as many requests as it takes
    to stay below MAX_CONTENT_LENGTH (the point is the validators, not the 413)."""
    names = sorted(FORM_FIELDS)
    per_request = max(1, max_length // (HUGE + 1_000))
    chunks = [names[i:i + per_request] for i in range(0, len(names), per_request)]
    return [(f"100,000-character values ({n + 1}/{len(chunks)})",
             {"data": {name: huge_value(FORM_FIELDS[name]) for name in chunk}})
            for n, chunk in enumerate(chunks)]


def form_payloads(max_length: int) -> list[tuple[str, dict]]:
    names = sorted(FORM_FIELDS)
    return [
        ("body above MAX_CONTENT_LENGTH", {"data": {"name": "x" * (max_length + 1)}}),
        ("empty body", {}),
        ("every field missing", {"data": {"tidak_dikenal": "x"}}),
        ("every field blank", {"data": dict.fromkeys(names, "")}),
        ("every field whitespace", {"data": dict.fromkeys(names, "   ")}),
        *huge_payloads(max_length),
        ("wrong types", {"data": {n: wrong_type(FORM_FIELDS[n]) for n in names
                                  if wrong_type(FORM_FIELDS[n]) is not None}}),
        ("repeated fields", {"data": {n: ["satu", "dua"] for n in names}}),
        ("files in place of fields", {"data": {n: (io.BytesIO(b"%PDF-1.4"), "a.pdf")
                                               for n in names},
                                      "content_type": "multipart/form-data"}),
        ("NUL and control characters", {"data": dict.fromkeys(
            names, "Kader Posyandu \x00\x1b[2J Makassar 0812")}),
        ("JSON body instead of a form", {"json": dict.fromkeys(names, "x")}),
        ("JSON objects in place of fields", {"json": dict.fromkeys(names, {"a": [1]})}),
        ("JSON array body", {"json": [["name", "x"], 1, None]}),
        ("wrong content type", {"data": "name=x&email=y", "content_type": "text/plain"}),
    ]


def api_body_schema(app, endpoint: str):
    """The marshmallow schema of a flask-smorest view's JSON body, or None."""
    apidoc = getattr(app.view_functions[endpoint], "_apidoc", {})
    for parameter in apidoc.get("arguments", {}).get("parameters", []):
        if parameter["in"] == "json":
            schema = parameter["schema"]
            return schema() if isinstance(schema, type) else schema
    return None


def api_wrong_values(field) -> list:
    """JSON values of the wrong type for a marshmallow field."""
    if isinstance(field, (ma.Integer, ma.Float, ma.Decimal)):
        return ["dua puluh", "12", 1.5, [1], {"n": 1}, True]
    if isinstance(field, ma.Boolean):
        return ["mungkin", [True], {"b": 1}]
    if isinstance(field, (ma.List, ma.Nested, ma.Dict)):
        return ["teks", 12]
    return [12345, ["a", "b"], {"a": 1}, True, "a\x00b"]  # strings, e-mails, enums, dates…


def api_payloads(schema, max_length: int) -> tuple[list, list]:
    """The malformed bodies for an API route, each (label, request kwargs, the fields the
    errors must name, whether to split it): those about the body as a whole, which every
    URL of the route gets, and those about its fields.

    A field's checks are the same whatever the URL. Each kind of wrong value goes into
    every field at once, and each string field gets 100,000 characters, as many fields
    to a request as fit below MAX_CONTENT_LENGTH: the errors must name every field —
    a field they do not name (its check comes after another field's error) is sent
    again alone. Each field is also wrong alone once, so that no field's check is only
    ever seen next to another's error."""
    fields = schema.fields if schema is not None else {}
    whole: list[tuple[str, dict]] = [
        ("empty body", {}),
        ("empty JSON object", {"json": {}}),
        ("JSON null", {"data": "null", "content_type": "application/json"}),
        ("JSON array", {"json": [1, 2]}),
        ("JSON string", {"json": "halo"}),
        ("invalid JSON", {"data": '{"slug": ', "content_type": "application/json"}),
        ("wrong content type (form)", {"data": dict.fromkeys(fields, "x")}),
        ("wrong content type (text)", {"data": json.dumps(dict.fromkeys(fields, "x")),
                                       "content_type": "text/plain"}),
        ("every field null", {"json": dict.fromkeys(fields)}),
        ("100,000-character strings", {"json": {
            name: ("x" * HUGE if isinstance(f, ma.String) else 10 ** 100)
            for name, f in fields.items()}}),
        ("body above MAX_CONTENT_LENGTH", {"json": {"x": "x" * (max_length + 1)}}),
    ]
    body_checks = [(label, kwargs, (), False) for label, kwargs in whole]
    wrong = {name: api_wrong_values(field) for name, field in fields.items()}
    per_field: list[tuple[str, dict, tuple[str, ...], bool]] = []
    for kind in range(max(map(len, wrong.values()), default=0)):
        body = {name: values[kind % len(values)] for name, values in wrong.items()}
        per_field.append((f"every field wrong: {body!r}", {"json": body}, tuple(body), True))
    for n, (name, values) in enumerate(wrong.items()):
        value = values[n % len(values)]
        per_field.append((f"{name}={value!r}", {"json": {name: value}}, (name,), False))
    strings = [name for name, field in fields.items() if isinstance(field, ma.String)]
    per_request = max(1, max_length // (HUGE + 1_000))
    for i in range(0, len(strings), per_request):
        chunk = tuple(strings[i:i + per_request])
        per_field.append((f"{', '.join(chunk)} of 100,000 characters",
                          {"json": dict.fromkeys(chunk, "x" * HUGE)}, chunk, True))
    return body_checks, per_field


# --- reading pages ----------------------------------------------------------------------


class FieldBlocks(HTMLParser):
    """Collect each <div class="field …"> block: its classes, input names, the inputs
    marked invalid, its error message and all its text."""

    def __init__(self):
        super().__init__()
        self.blocks: list[dict] = []
        self._depth = 0
        self._current: dict | None = None
        self._in_error = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if self._current is not None:
            if tag == "div":
                self._depth += 1
            if tag in ("input", "select", "textarea") and attrs.get("name"):
                self._current["inputs"].append(attrs["name"])
                if attrs.get("aria-invalid") == "true":
                    self._current["invalid"].append(attrs["name"])
            if tag == "p" and "error" in classes:
                self._in_error = True
        elif tag == "div" and "field" in classes:
            self._current = {"classes": classes, "inputs": [], "invalid": [], "error": "",
                             "text": ""}
            self._depth = 0

    def handle_endtag(self, tag):
        if self._current is None:
            return
        if tag == "p":
            self._in_error = False
        if tag == "div":
            if self._depth == 0:
                self.blocks.append(self._current)
                self._current = None
            else:
                self._depth -= 1

    def handle_data(self, data):
        if self._current is not None:
            self._current["text"] += data
            if self._in_error:
                self._current["error"] += data


def field_block(html: str, input_name: str) -> dict:
    parser = FieldBlocks()
    parser.feed(html)
    for block in parser.blocks:
        if input_name in block["inputs"]:
            return block
    raise AssertionError(f"no .field block with an input named {input_name!r}")


def shows_form_errors(html: str) -> bool:
    return "has-error" in html or 'role="alert"' in html


# --- the tests --------------------------------------------------------------------------


def test_every_write_route_is_enumerated():
    """The enumeration finds the forms and the API (a guard against a broken filter)."""
    assert ("POST", "/daftar-mitra", "public.apply") in WRITE_ROUTES
    assert FORM_ROUTES and API_ROUTES
    assert not any(r[2] == "static" for r in WRITE_ROUTES)


def test_every_url_argument_of_a_write_route_can_be_filled():
    unknown = {f"{method} {rule.rule}": sorted(set(rule.arguments) - ARGUMENTS.keys())
               for rule in _MAP_APP.url_map.iter_rules() for method in WRITE_METHODS
               if method in rule.methods and set(rule.arguments) - ARGUMENTS.keys()}
    assert not unknown, (f"URL arguments tests/test_bad_input.py cannot fill: {unknown}; "
                         f"add them to ARGUMENTS with real values from the World")


@pytest.mark.parametrize("route", FORM_ROUTES, ids=_route_id)
def test_form_route_survives_malformed_input_without_500_or_partial_record(
        app, client, world, route):
    method, rule_text, endpoint = route
    rule = rule_object(app, rule_text, method)
    extra = sign_in(client, role_for(rule_text), world)
    problems = []
    before = db_state(app)
    for url in urls_for(rule, world):
        for label, kwargs in form_payloads(app.config["MAX_CONTENT_LENGTH"]):
            response = send(client, method, url, **kwargs, **extra)
            status = response.status_code
            html = response.get_data(as_text=True)
            where = f"{method} {url} [{label}] -> {status}"
            after = db_state(app)
            change = state_change(before, after)
            before = after
            if status >= 500:
                problems.append(f"{where}: server error")
                continue
            if status in (301, 302, 303) and "/login?next=" in response.location:
                problems.append(f"{where}: redirected to sign in; role_for() does not know "
                                f"who may use this route")
                continue
            rerendered = 200 <= status < 300 and shows_form_errors(html)
            if rerendered:
                problems.append(f"{where}: form re-rendered with errors but not with 422")
            if label == "body above MAX_CONTENT_LENGTH" and status != 413:
                problems.append(f"{where}: expected 413")
            if label.startswith("100,000") and status == 413:
                problems.append(f"{where}: payload too big to test the validators")
            if (status >= 400 or rerendered) and change:
                problems.append(f"{where}: refused but wrote {change}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("route", API_ROUTES, ids=_route_id)
def test_api_route_answers_malformed_input_with_json_field_errors(app, client, world, route):
    method, rule_text, endpoint = route
    rule = rule_object(app, rule_text, method)
    extra = sign_in(client, role_for(rule_text), world)
    schema = api_body_schema(app, endpoint)
    problems = []
    before = db_state(app)
    urls = urls_for(rule, world)
    whole, per_field = api_payloads(schema, app.config["MAX_CONTENT_LENGTH"])
    for n, url in enumerate(urls):
        # The body checks on every URL; the field checks (the schema's, whatever the URL)
        # shared out among the URLs (the actions of /api/v1/mous/<id>/<action>).
        payloads = collections.deque(whole + per_field[n::len(urls)])
        while payloads:
            label, kwargs, named, split = payloads.popleft()
            response = send(client, method, url, **kwargs, **extra)
            status = response.status_code
            where = f"{method} {url} [{label}] -> {status}"
            after = db_state(app)
            change = state_change(before, after)
            before = after
            if status >= 500:
                problems.append(f"{where}: server error")
                continue
            if not 400 <= status < 500:
                problems.append(f"{where}: malformed input was accepted")
                continue
            if change:
                problems.append(f"{where}: refused but wrote {change}")
            if label == "body above MAX_CONTENT_LENGTH" and status != 413:
                problems.append(f"{where}: expected 413")
            body = response.get_json(silent=True)
            errors = body.get("errors") if isinstance(body, dict) else None
            if (not isinstance(errors, dict) or set(body) != {"errors"} or not errors or not all(
                    isinstance(k, str) and isinstance(v, list) and v
                    and all(isinstance(m, str) and m for m in v) for k, v in errors.items())):
                problems.append(f"{where}: not shaped {{'errors': {{field: [message]}}}}: "
                                f"{response.get_data(as_text=True)[:300]}")
            elif (missing := [name for name in named if name not in errors]) and split:
                payloads.extend((f"{name}={kwargs['json'][name]!r}",
                                 {"json": {name: kwargs["json"][name]}}, (name,), False)
                                for name in missing)
            elif missing:
                problems.append(f"{where}: errors do not name {missing}: {errors}")
    assert not problems, "\n".join(problems)


def _application(make, **overrides) -> dict:
    data = make.application()
    data.update(org_type=str(data["org_type"]), expected_members=str(data["expected_members"]),
                expected_groups=str(data["expected_groups"]), referrer_id="")
    data.update(overrides)
    return data


BAD_PHONE = "Enter an Indonesian phone number, e.g. 0812 3456 7890."
BAD_EMAIL = "Enter a valid e-mail address."


def test_application_form_shows_errors_next_to_the_fields_in_indonesian(app, client, make):
    before = db_state(app)
    response = send(client, "POST", "/daftar-mitra", data=_application(
        make, contact_phone="12345", contact_email="bukan-surel"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert state_change(before, db_state(app)) == ""
    with app.test_request_context("/daftar-mitra"):
        assert str(flask_babel.get_locale()) == "id"
        expected = {"contact_phone": flask_babel.gettext(BAD_PHONE),
                    "contact_email": flask_babel.gettext(BAD_EMAIL)}
    english = {"contact_phone": BAD_PHONE, "contact_email": BAD_EMAIL}
    for name, message in expected.items():
        block = field_block(html, name)
        assert "has-error" in block["classes"], block
        assert block["invalid"] == [name], block
        assert message in block["error"], (name, block)
        if message != english[name]:  # once the Indonesian catalogue translates it
            assert english[name] not in block["text"]
    # Fields that were fine carry no error.
    assert "has-error" not in field_block(html, "name")["classes"]


def test_application_form_shows_errors_in_english_after_switching_language(app, client, make):
    send(client, "GET", "/bahasa/en")
    response = send(client, "POST", "/daftar-mitra", data=_application(
        make, contact_phone="12345", contact_email="bukan-surel"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert BAD_PHONE in field_block(html, "contact_phone")["error"]
    assert BAD_EMAIL in field_block(html, "contact_email")["error"]


def test_valid_application_is_recorded(app, client, make):
    """The control for the tests above: the same form with good data is accepted."""
    before = db_state(app)
    response = send(client, "POST", "/daftar-mitra", data=_application(make))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    after = db_state(app)
    assert after["partners"][0] == before["partners"][0] + 1


@pytest.fixture
def csrf_app(app):
    csrf_app = create_app(env="testing", config=app.test_database.config(
        WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=False))
    csrf_app.test_database = app.test_database
    yield csrf_app
    with csrf_app.app_context():
        db.engine.dispose()


class Clients:
    """One signed-in test client per role, made when first needed."""

    def __init__(self, app, world: World):
        self.app, self.world, self._clients = app, world, {}

    def __call__(self, role: str):
        if role not in self._clients:
            client = self.app.test_client()
            self._clients[role] = (client, sign_in(client, role, self.world))
        return self._clients[role]

    def sign_in_for(self, routes) -> None:
        """Sign in every role `routes` need now (signing in writes last_login_at)."""
        for _method, rule_text, _endpoint in routes:
            self(role_for(rule_text))


# Form routes without CSRF protection, and why. Nothing else may be exempt.
CSRF_EXEMPT = {
    # The member's status check acts for nobody: no sign-in, no cookie, nothing written
    # but the rate-limit counters, and a page on another site cannot read the answer.
    "/cek": "bungkesmas.selfservice.views.check",
    # Stripe signs its events instead (checked before anything else).
    "/webhooks/stripe": "bungkesmas.payments.views.stripe_webhook",
}


def test_only_the_listed_form_routes_are_exempt_from_csrf(csrf_app):
    from bungkesmas.extensions import csrf

    assert csrf._exempt_views == set(CSRF_EXEMPT.values())  # noqa: SLF001


def test_every_form_route_refuses_a_post_without_csrf_token(app, csrf_app, world):
    clients = Clients(csrf_app, world)
    clients.sign_in_for(FORM_ROUTES)
    payloads = [("no token", {"data": dict.fromkeys(FORM_FIELDS, "x")}),
                ("wrong token", {"data": {"csrf_token": "palsu", "name": "x"}}),
                ("empty body", {})]
    problems = []
    before = db_state(app)
    for method, rule_text, _endpoint in FORM_ROUTES:
        if rule_text in CSRF_EXEMPT:
            continue
        client, extra = clients(role_for(rule_text))
        for url in urls_for(rule_object(csrf_app, rule_text, method), world):
            for label, kwargs in payloads:
                response = send(client, method, url, **kwargs, **extra)
                after = db_state(app)
                if response.status_code != 400:
                    problems.append(f"{method} {url} [{label}] -> {response.status_code}, not 400")
                if state_change(before, after):
                    problems.append(f"{method} {url} [{label}]: wrote {state_change(before, after)}")
                before = after
    assert not problems, "\n".join(problems)


def test_api_routes_are_exempt_from_csrf(app, csrf_app, world):
    """Bearer tokens, no cookies: a JSON request without a CSRF token is not refused as
    a forged form (it gets a validation error, not the CSRF 400)."""
    client, extra = Clients(csrf_app, world)("token")
    for method, rule_text, _endpoint in API_ROUTES:
        for url in urls_for(rule_object(csrf_app, rule_text, method), world):
            response = send(client, method, url, json={}, **extra)
            assert response.status_code != 400 and response.status_code < 500, (
                f"{method} {url}: {response.get_data(as_text=True)}")


def test_number_in_url_beyond_the_database_range_is_not_found(app, world):
    """An id no INTEGER column can hold is a 404, not a database error."""
    assert INT_ROUTES
    clients = Clients(app, world)
    clients.sign_in_for(INT_ROUTES)
    problems = []
    before = db_state(app)
    for method, rule_text, _endpoint in INT_ROUTES:
        client, extra = clients(role_for(rule_text))
        rule = rule_object(app, rule_text, method)
        for number in (2**31, 2**63, 10**30):
            numbers = dict.fromkeys(INT_ARGUMENT.findall(rule_text), number)
            for url in urls_for(rule, world, **numbers):
                response = send(client, method, url, **extra)
                after = db_state(app)
                if response.status_code != 404:
                    problems.append(f"{method} {url} -> {response.status_code}, not 404")
                if state_change(before, after):
                    problems.append(f"{method} {url}: wrote {state_change(before, after)}")
                before = after
    assert not problems, "\n".join(problems)


def test_api_approve_refuses_a_parent_id_out_of_range_as_a_field_error(app, client, world):
    before = db_state(app)
    for parent_id in (0, -1, 2**31, 2**63, 10**30):
        response = send(client, "POST", f"/api/v1/partners/{world.applicant_id}/approve",
                        json={"slug": "mitra-baru", "parent_id": parent_id},
                        headers={"Authorization": f"Bearer {world.provider_api_token}"})
        assert response.status_code == 422, (parent_id, response.get_data(as_text=True))
        assert list(response.get_json()["errors"]) == ["parent_id"], parent_id
    assert state_change(before, db_state(app)) == ""
