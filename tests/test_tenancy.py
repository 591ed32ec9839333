"""Tenant isolation: the ORM wall, the database wall, and every route of the app."""

from __future__ import annotations

import re
import uuid

import pytest
from flask import current_app
from sqlalchemy import create_engine, func, inspect, select, text, update

from bungkesmas import tenancy
from bungkesmas.auth.models import ApiToken, Invitation, PartnerStaff
from bungkesmas.auth.permissions import Role
from bungkesmas.extensions import db
from bungkesmas.partners.models import PartnerType
from bungkesmas.tenancy import Scope, TenantOwned, TenantScopeError
from tests.helpers import login


@pytest.fixture
def world(make, tmp_path):
    """Partner A with a child C; an unrelated partner B with staff, a token, an invitation."""
    # A and B are waste banks, so that the waste bank pages are reachable in A's own
    # workspace (with B's ids) and B has categories and deposits to hide.
    a = make.partner(slug="mitra-a", admin_email="admin-a@contoh.id",
                     org_type=PartnerType.WASTE_BANK)
    c = make.partner(slug="mitra-c", parent=a, admin_email="admin-c@contoh.id")
    b = make.partner(slug="mitra-b", admin_email="admin-b@contoh.id",
                     contact_phone="+6281399990000", org_type=PartnerType.WASTE_BANK)
    b_officer = make.staff(b, Role.PARTNER_OFFICER, email="rahasia-b@contoh.id")
    with tenancy.everything():
        from bungkesmas.auth.services import invite, user_by_email

        invite(None, b, "undangan-b@contoh.id", Role.PARTNER_OFFICER, check_permission=False)
        db.session.commit()
        b_admin = user_by_email("admin-b@contoh.id")
    b_token = make.token(b_admin, b)
    a_admin_token = make.token(_user("admin-a@contoh.id"), a)
    b_member = make.member(b, full_name="Rahasia Binti Bebe")
    with tenancy.scoped(Scope.tenants(b.id)):
        from bungkesmas.members.services import create_group

        b_group = create_group(None, b, "Kelompok Rahasia B").id
    db.session.commit()
    b_category, b_deposit = make.waste_records(b)
    current_app.config["IMPORT_UPLOAD_DIR"] = str(tmp_path / "uploads")
    b_import = make.member_import(b, file_name="peserta-rahasia-b.csv")
    current_app.config["MOU_STORAGE_DIR"] = str(tmp_path / "mous")
    b_mou, b_document = _b_mou(make, b)
    b_payment = _paid_contribution(make, b, b_member)
    b_statement, b_remittance = _remittance_of(b)
    return {"a": a, "b": b, "c": c, "b_officer": b_officer, "b_token": b_token,
            "a_token": a_admin_token, "b_member": b_member, "b_group": b_group,
            "b_import": b_import, "b_transfers": _b_transfers(make, b, b_admin, b_member),
            "b_receipt": b_payment[0], "b_entry": b_payment[1],
            "b_category": b_category, "b_deposit": b_deposit,
            "b_statement": b_statement, "b_remittance": b_remittance, "b_mou": b_mou,
            "b_document": b_document}


def _b_mou(make, b):
    """B's renewal-to-be, sent for signature: its active MOU (from the factory) ends
    first."""
    from datetime import timedelta

    from bungkesmas.mous.services import in_force

    with tenancy.everything():
        start = in_force(b.id).end_date + timedelta(days=1)
    return make.sent_mou(b, clauses="Klausul rahasia B", start_date=start,
                         end_date=start + timedelta(days=365))


def _b_transfers(make, b, b_admin, b_member):
    """Two pending transfer requests between B and a partner D (A is no party to them):
    B's offer of its member to D, and D's request by NIK for a member B holds."""
    from bungkesmas.members.services import by_number
    from bungkesmas.transfers import services as transfers

    d = make.partner(slug="mitra-d", admin_email="admin-d@contoh.id")
    nik = make.nik(sex="P")
    make.member(b, full_name="Rahasia Kedua Bebe", nik=nik)
    with tenancy.scoped(Scope.tenants(b.id)):
        offer = transfers.offer(b_admin, b, d.id, member_ids=[by_number(b_member).id],
                                reason="Alasan rahasia B").id
        db.session.commit()
    with tenancy.scoped(Scope.tenants(d.id)):
        request = transfers.request_by_nik(_user("admin-d@contoh.id"), d, nik).id
        db.session.commit()
    return [offer, request]


def _paid_contribution(make, partner, member_number):
    """Enroll the member and record a cash payment: (receipt number, ledger row id)."""
    from bungkesmas.contributions import services as ledger
    from bungkesmas.members.services import by_number, enroll
    from bungkesmas.timeutil import local_today

    product = make.product(partner, code=f"P{partner.id}")
    with tenancy.scoped(Scope.tenants(partner.id)):
        enrollment = enroll(None, partner, by_number(member_number), product.id)
        entry = ledger.record_payment(None, enrollment, "cash", 150_000, local_today())
        db.session.commit()
        return entry.receipt_number, entry.id


def _remittance_of(partner):
    """An issued remittance statement of last month and a receipt for it."""
    from bungkesmas.remittance import services as remittance
    from bungkesmas.remittance.periods import Frequency, period_of
    from bungkesmas.timeutil import local_today

    last_month = period_of(local_today(), Frequency.MONTHLY).previous()
    number = remittance.issue(None, partner, last_month).number
    receipt_id = remittance.record_receipt(None, partner, number, 1000, local_today(),
                                           "BANK-RAHASIA-B").id
    db.session.commit()
    return number, receipt_id


def db_owner():
    from flask import current_app

    return current_app.test_database.owner


def _user(email):
    from bungkesmas.auth.services import user_by_email

    return user_by_email(email)


def _staff_ids(partner_id):
    with tenancy.everything():
        return list(db.session.scalars(
            select(PartnerStaff.id).where(PartnerStaff.tenant_id == partner_id)))


# --- the ORM wall ----------------------------------------------------------------------


def test_a_session_without_a_tenant_sees_no_partner_owned_rows(world):
    tenancy.activate(Scope.nobody())
    assert db.session.scalars(select(PartnerStaff)).all() == []
    assert db.session.scalars(select(Invitation)).all() == []


def test_a_tenant_sees_only_its_own_rows_and_its_childrens(world):
    a, b, c = world["a"], world["b"], world["c"]
    tenancy.enter_workspace(a.id)
    tenants = {s.tenant_id for s in db.session.scalars(select(PartnerStaff))}
    assert tenants == {a.id, c.id}
    tenancy.enter_workspace(c.id)
    assert {s.tenant_id for s in db.session.scalars(select(PartnerStaff))} == {c.id}
    tenancy.enter_workspace(b.id)
    assert {s.tenant_id for s in db.session.scalars(select(PartnerStaff))} == {b.id}


def test_looking_up_another_tenants_row_by_id_finds_nothing(world):
    b_staff = _staff_ids(world["b"].id)[0]
    tenancy.enter_workspace(world["a"].id)
    assert db.session.scalar(select(PartnerStaff).where(PartnerStaff.id == b_staff)) is None


def test_bulk_update_cannot_touch_another_tenants_rows(world):
    a, b = world["a"], world["b"]
    tenancy.enter_workspace(a.id)
    db.session.execute(update(PartnerStaff).values(active=False))
    db.session.commit()
    with tenancy.everything():
        b_rows = db.session.scalars(select(PartnerStaff).where(PartnerStaff.tenant_id == b.id))
        assert all(s.active for s in b_rows)


def test_inserts_are_stamped_with_the_current_tenant(world):
    a = world["a"]
    tenancy.enter_workspace(a.id)
    staff = PartnerStaff(user_id=world["b_officer"].id, role=Role.PARTNER_OFFICER)
    db.session.add(staff)
    db.session.flush()
    assert staff.tenant_id == a.id
    db.session.rollback()


def test_writing_into_another_tenant_is_refused(world):
    tenancy.enter_workspace(world["a"].id)
    db.session.add(PartnerStaff(tenant_id=world["b"].id, user_id=world["b_officer"].id,
                                role=Role.PARTNER_OFFICER))
    with pytest.raises(TenantScopeError):
        db.session.flush()
    db.session.rollback()


def test_inserting_without_a_tenant_is_refused(world):
    tenancy.activate(Scope.nobody())
    db.session.add(PartnerStaff(user_id=world["b_officer"].id, role=Role.PARTNER_OFFICER))
    with pytest.raises(TenantScopeError):
        db.session.flush()
    db.session.rollback()


def test_moving_a_row_to_another_tenant_needs_a_provider_function(world):
    a, b = world["a"], world["b"]
    tenancy.enter_workspace(a.id)
    staff = db.session.scalars(select(PartnerStaff).where(PartnerStaff.tenant_id == a.id)).first()
    staff.tenant_id = b.id
    with pytest.raises(TenantScopeError):
        db.session.flush()
    db.session.rollback()


# --- the schema ------------------------------------------------------------------------


def _tenant_owned_classes():
    return [m.class_ for m in db.Model.registry.mappers if issubclass(m.class_, TenantOwned)]


def test_every_table_with_a_tenant_id_is_tenant_owned_and_keyed_by_it(app):
    owned = {cls.__table__.name for cls in _tenant_owned_classes()}
    assert owned, "no partner-owned tables found"
    for table in db.metadata.sorted_tables:
        if "tenant_id" not in table.c:
            continue
        assert table.name in owned, f"{table.name} has tenant_id but is not TenantOwned"
        keys = [set(table.primary_key.columns.keys())] + [
            set(c.columns.keys()) for c in table.constraints if c.__class__.__name__ ==
            "UniqueConstraint"]
        assert any("tenant_id" in k for k in keys), f"{table.name}: tenant_id not in a key"
        for fk in table.foreign_key_constraints:
            target = fk.referred_table.name
            if target in owned:
                assert "tenant_id" in fk.columns.keys(), (
                    f"{table.name} → {target}: foreign key between partner-owned tables "
                    "must include tenant_id")


def test_every_partner_owned_table_has_a_forced_row_level_security_policy(app, pg_only):
    owner = app.test_database.owner
    with owner.connect() as conn:
        for cls in _tenant_owned_classes():
            name = cls.__table__.name
            row = conn.execute(text(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = :n"),
                {"n": name}).one()
            assert row == (True, True), f"{name}: RLS not enabled and forced"
            policies = conn.execute(text(
                "SELECT count(*) FROM pg_policies WHERE tablename = :n"), {"n": name}).scalar()
            assert policies >= 1, f"{name}: no RLS policy"


# --- the database wall (PostgreSQL) ----------------------------------------------------


def test_the_app_connects_as_a_role_that_cannot_bypass_rls(app, pg_only):
    row = db.session.execute(text(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
    assert row == (False, False)


def test_raw_sql_without_a_tenant_sees_no_rows(world, pg_only):
    tenancy.activate(Scope.nobody())
    assert db.session.execute(text("SELECT count(*) FROM partner_staff")).scalar() == 0
    assert db.session.execute(text("SELECT count(*) FROM invitations")).scalar() == 0
    with db.engine.connect() as conn:  # the app's pool, outside any session scope
        assert conn.execute(text("SELECT count(*) FROM partner_staff")).scalar() == 0
    with db_owner().connect() as conn:  # the owner, for contrast
        assert conn.execute(text("SELECT count(*) FROM partner_staff")).scalar() > 0


def test_raw_sql_for_one_tenant_sees_and_writes_only_that_tenant(world, pg_only):
    a, b = world["a"], world["b"]
    tenancy.enter_workspace(b.id)
    count_b = db.session.execute(text("SELECT count(*) FROM partner_staff")).scalar()
    assert count_b == 2
    ids = {r[0] for r in db.session.execute(text("SELECT DISTINCT tenant_id FROM partner_staff"))}
    assert ids == {b.id}
    with pytest.raises(Exception, match="row-level security"):
        db.session.execute(text(
            "INSERT INTO partner_staff (tenant_id, id, user_id, role, active, created_at) "
            "VALUES (:t, :i, :u, 'partner_officer', true, now())"),
            {"t": a.id, "i": uuid.uuid4(), "u": world["b_officer"].id})
    db.session.rollback()


def _settings():
    return db.session.execute(text(
        "SELECT current_setting('app.tenant_ids', true), current_setting('app.all_tenants', true)"
    )).one()


def test_a_scope_already_in_force_is_not_written_again_and_a_new_one_always_is(world, pg_only):
    a, b = world["a"], world["b"]
    tenancy.enter_workspace(b.id)
    assert _settings() == (str(b.id), "off")
    written = []
    from sqlalchemy import event

    def count(conn, cursor, statement, *_args):
        if "set_config" in statement:
            written.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with tenancy.scoped(Scope.tenants(b.id)):  # the same scope: nothing to write
            assert _settings() == (str(b.id), "off")
        assert written == []
        with tenancy.everything():  # another scope: written, and back again
            assert _settings()[1] == "on"
        assert _settings() == (str(b.id), "off") and len(written) == 2
        tenancy.enter_workspace(a.id)
        assert _settings()[0].split(",")[0] == str(a.id)
        db.session.commit()  # a new transaction starts with no scope written …
        tenancy.enter_workspace(a.id)
        assert _settings()[0].split(",")[0] == str(a.id)  # … so it is written again
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    db.session.rollback()


def test_after_a_savepoint_rolled_back_the_next_scope_is_written_whatever_it_is(
        world, pg_only):
    a, b = world["a"], world["b"]
    tenancy.enter_workspace(b.id)
    assert _settings() == (str(b.id), "off")
    nested = db.session.begin_nested()
    tenancy.activate(Scope.tenants(a.id))
    nested.rollback()  # the database is back to b's settings
    assert _settings() == (str(b.id), "off")
    tenancy.activate(Scope.tenants(a.id))  # the same scope as before the rollback: written
    assert _settings() == (str(a.id), "off")
    assert db.session.execute(text("SELECT DISTINCT tenant_id FROM partner_staff")).scalars(
    ).all() == [a.id]
    db.session.rollback()


def test_a_pooled_connection_reused_by_two_tenants_carries_nothing_over(world, pg_only):
    a, b = world["a"], world["b"]
    engine = create_engine(db.engine.url, pool_size=1, max_overflow=0)
    from sqlalchemy import event

    from bungkesmas.tenancy import TenantSession, switch_to_app_role

    event.listen(engine, "connect", lambda c, _r: switch_to_app_role(c, "bungkesmas_app"))
    seen = []
    for partner in (a, b, None):
        with TenantSession(db, bind=engine) as session:
            scope = Scope.tenants(partner.id) if partner else Scope.nobody()
            session.info[tenancy.SCOPE_KEY] = scope
            rows = session.execute(text("SELECT DISTINCT tenant_id FROM partner_staff")).all()
            seen.append({r[0] for r in rows})
            session.commit()
    assert seen == [{a.id}, {b.id}, set()]
    with engine.connect() as conn:  # the same single pooled connection, no tenant set
        assert conn.execute(text("SELECT current_setting('app.tenant_ids', true)")).scalar() in (
            "", None)
        assert conn.execute(text("SELECT count(*) FROM partner_staff")).scalar() == 0
    engine.dispose()


# --- every route -----------------------------------------------------------------------

# How to fill each URL argument with the OTHER tenant's (B's) values. A new argument name
# fails the test loudly until it is added here — so a new route is never left unchecked.


def _b_values(world):
    b = world["b"]
    with tenancy.everything():
        b_token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.partner_id == b.id))
        from types import SimpleNamespace

        from bungkesmas.contributions.models import LedgerEntry
        from bungkesmas.payments.services import pay_token

        b_enrollment = db.session.scalar(select(LedgerEntry.enrollment_id).where(
            LedgerEntry.id == world["b_entry"]))
        b_pay_token = pay_token(SimpleNamespace(tenant_id=b.id, id=b_enrollment))
    return {
        "slug": [b.slug],
        "staff_id": _staff_ids(b.id),
        "token_id": [b_token_id],
        "partner_id": [b.id],
        "action": ["suspend", "terminate", "request_info", "reject", "reinstate", "send",
                   "countersign", "renew", "comment", "request_changes", "sign"],
        "lang": ["id"],
        "member_number": [world["b_member"]],
        "group_id": [world["b_group"]],
        "import_id": [world["b_import"]],
        "mou_id": [world["b_mou"]],
        "document_id": [world["b_document"]],
        # Transfer requests are global rows: only their two parties reach them.
        "transfer_id": world["b_transfers"],
        "category_id": [world["b_category"]],
        "deposit_id": [world["b_deposit"]],
        "receipt": [world["b_receipt"]],
        "entry_id": [world["b_entry"]],
        "enrollment_id": [b_enrollment],
        # A statement number or id of B's (a bare period such as 2026-10 names the
        # current workspace's own period, which is not B's data).
        "statement": [world["b_statement"]],
        "remittance_id": [world["b_remittance"]],
        "code": ["7372"],  # public region codes
        # Provider-side ids (products, transfer records): /admin refuses partner staff
        # whatever the id, and the API has no route with them.
        "product_id": [1],
        "event_id": [1],
        "token": None,  # invitation tokens: a capability, not tenant-scoped (tested below)
        # A pay link of B's member: a capability for that member, public by design
        # (tests/payments); the walk checks it gives A's staff nothing of B's.
        "pay_token": [b_pay_token],
        # A member card's token is a capability too (tests/selfservice/test_cards.py): a
        # token for B's member that we did not sign opens nothing.
        "card_token": [_forged_card_token(world["b_member"])],
        "filename": None,
    }


def _forged_card_token(member_number: str) -> str:
    import base64
    import hashlib

    from itsdangerous import Signer

    from bungkesmas.members.models import Member
    from bungkesmas.selfservice.services import CARD_SALT

    with tenancy.everything():
        member_id = db.session.scalar(select(Member.id).where(
            Member.member_number == member_number))
    payload = base64.urlsafe_b64encode(member_id.bytes).rstrip(b"=").decode()
    signer = Signer("not-the-app-secret-" * 3, salt=CARD_SALT, digest_method=hashlib.sha256)
    return signer.sign(f"{payload}.1").decode()


def _secrets_of_b(world):
    b = world["b"]
    return [b.contact_email, b.contact_phone, "rahasia-b@contoh.id", "undangan-b@contoh.id",
            world["b_token"][:10], "Rahasia Binti Bebe", "Kelompok Rahasia B",
            "peserta-rahasia-b.csv", "Rahasia Kedua Bebe", "Alasan rahasia B", "mitra-d",
            "Kardus Rahasia B", "BANK-RAHASIA-B", "Klausul rahasia B"]


def _urls(app, rule, values, own_slug):
    from itertools import product

    args = sorted(rule.arguments)
    choices = []
    for arg in args:
        if arg not in values:
            pytest.fail(f"Route {rule.rule}: no isolation values for argument <{arg}>; "
                        "add it to _b_values in tests/test_tenancy.py")
        if values[arg] is None:
            return []
        choices.append(values[arg])
    urls = []
    for combo in product(*choices):
        kwargs = dict(zip(args, combo, strict=True))
        with app.test_request_context():
            from flask import url_for

            urls.append(url_for(rule.endpoint, **kwargs))
            if "slug" in kwargs and len(args) > 1:  # own workspace, B's object ids
                urls.append(url_for(rule.endpoint, **{**kwargs, "slug": own_slug}))
    return urls


def _assert_no_leak(response, world, where):
    body = response.get_data(as_text=True)
    for secret in _secrets_of_b(world):
        assert secret not in body, f"{where}: B's data {secret!r} leaked"


def test_partner_a_reaches_nothing_of_partner_b_through_any_route(app, client, world):
    """Every URL rule, every method, with B's slug and B's object ids, as A's admin."""
    login(client, "admin-a@contoh.id")
    values = _b_values(world)
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "auth.logout") or rule.rule.startswith("/api/"):
            continue
        for url in _urls(app, rule, values, world["a"].slug) or (
                [rule.rule] if not rule.arguments else []):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = client.open(url, method=method, data={"reason": "x", "name": "x"})
                where = f"{method} {url} ({rule.endpoint})"
                assert response.status_code < 500, where
                if rule.rule.startswith("/p/") or rule.rule.startswith("/admin"):
                    assert response.status_code in (403, 404), f"{where}: {response.status_code}"
                _assert_no_leak(response, world, where)
                checked += 1
    assert checked > 10
    # Nothing of B's changed.
    with tenancy.everything():
        staff = db.session.scalars(select(PartnerStaff).where(
            PartnerStaff.tenant_id == world["b"].id)).all()
        assert all(s.active for s in staff) and len(staff) == 2
        assert db.session.scalar(select(ApiToken.revoked_at).where(
            ApiToken.partner_id == world["b"].id)) is None
        from bungkesmas.members.import_models import MemberImport

        assert db.session.scalar(select(MemberImport.status).where(
            MemberImport.id == world["b_import"])) == "previewed"
        from bungkesmas.mous.models import Mou, MouComment

        assert db.session.scalar(select(Mou.status).where(Mou.id == world["b_mou"])) == "sent"
        assert db.session.scalar(select(func.count()).select_from(MouComment)) == 0
        from bungkesmas.transfers.models import TransferRequest

        assert set(db.session.scalars(select(TransferRequest.status).where(
            TransferRequest.id.in_(world["b_transfers"])))) == {"pending"}
        from bungkesmas.contributions.models import LedgerEntry

        assert db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.tenant_id == world["b"].id)) == 3  # the payment and its premium,
        # and the credit of B's waste deposit


def test_partner_a_reaches_nothing_of_partner_b_through_the_api(app, client, world):
    headers = {"Authorization": f"Bearer {world['a_token']}"}
    values = _b_values(world)
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for url in _urls(app, rule, values, world["a"].slug) or (
                [rule.rule] if not rule.arguments else []):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = client.open(url, method=method, headers=headers, json={"slug": "x-y-z"})
                where = f"{method} {url}"
                assert response.status_code < 500, where
                if rule.arguments:
                    assert response.status_code in (403, 404), f"{where}: {response.status_code}"
                _assert_no_leak(response, world, where)
    me = client.get("/api/v1/me", headers=headers).json
    assert me["partner"]["slug"] == world["a"].slug


def test_a_child_never_sees_its_parents_workspace_but_the_parent_sees_the_childs(
        client, world):
    login(client, "admin-c@contoh.id")
    assert client.get(f"/p/{world['a'].slug}/").status_code == 404
    assert client.get(f"/p/{world['a'].slug}/staf").status_code == 404
    client.post("/logout")
    login(client, "admin-a@contoh.id")
    response = client.get(f"/p/{world['c'].slug}/staf")
    assert response.status_code == 200
    assert "admin-c@contoh.id" in response.get_data(as_text=True)
    # ...but only to look: managing the child's team is the child's business.
    staff_id = _staff_ids(world["c"].id)[0]
    response = client.post(f"/p/{world['c'].slug}/staf/{staff_id}/nonaktifkan")
    assert response.status_code == 403


def test_an_unknown_partner_and_a_forbidden_one_answer_alike(client, world):
    login(client, "admin-a@contoh.id")
    forbidden = client.get(f"/p/{world['b'].slug}/")
    unknown = client.get("/p/tidak-ada/")
    assert forbidden.status_code == unknown.status_code == 404
    # Identical apart from the requested address itself (echoed in the language links)
    # and the CSRF token of the sign-out form (it carries the second it was made in).
    def page(response, address):
        html = response.get_data(as_text=True).replace(address, "X")
        return re.sub(r'name="csrf_token" value="[^"]+"', "", html)

    assert page(forbidden, world["b"].slug) == page(unknown, "tidak-ada")


def test_a_partner_token_cannot_use_provider_endpoints(client, world):
    headers = {"Authorization": f"Bearer {world['a_token']}"}
    assert client.get("/api/v1/partners", headers=headers).status_code == 403
    assert client.post(f"/api/v1/partners/{world['b'].id}/approve", headers=headers,
                       json={"slug": "abc-def"}).status_code == 403


def test_schema_inspection_matches_the_tenant_owned_models(app):
    inspector = inspect(db.engine)
    for cls in _tenant_owned_classes():
        pk = inspector.get_pk_constraint(cls.__table__.name)["constrained_columns"]
        assert "tenant_id" in pk
