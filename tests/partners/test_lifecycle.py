"""The partner lifecycle through the domain functions: apply, review, approve, suspend,
reinstate, terminate; the rules each step enforces; the audit trail; the invitation."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.mail.models import OutboxMessage
from bungkesmas.partners import services as partners
from bungkesmas.partners.models import Partner, PartnerStatus
from tests.helpers import login

S = PartnerStatus
REASON = "Mohon lampirkan akta pendirian dan SK Kemenkumham."


def events(partner_id: int, action: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.partner_id == partner_id).order_by(AuditEvent.id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return list(db.session.scalars(stmt))


def event_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def approve(make, partner, slug=None, parent=None):
    result = partners.approve(make.admin, partner, slug or f"mitra-{partner.id}-baru",
                              parent.id if parent else None)
    db.session.commit()
    return result


def partner_in(make, status: PartnerStatus) -> Partner:
    """A partner brought to `status` by legal steps."""
    partner = make.applicant()
    admin = make.admin
    if status == S.INFO_REQUESTED:
        partners.transition(admin, partner, "request_info", REASON)
    elif status == S.REJECTED:
        partners.transition(admin, partner, "reject", REASON)
    elif status in (S.APPROVED, S.SUSPENDED, S.TERMINATED):
        partners.approve(admin, partner, f"mitra-{partner.id}-status")
        if status == S.SUSPENDED:
            partners.transition(admin, partner, "suspend", REASON)
        if status == S.TERMINATED:
            partners.transition(admin, partner, "terminate", REASON)
    db.session.commit()
    assert partner.status == status
    return partner


def run_step(make, partner, action: str, reason: str = REASON, actor=None):
    actor = actor or make.admin
    if action == "approve":
        return partners.approve(actor, partner, f"mitra-{partner.id}-langkah")
    return partners.transition(actor, partner, action, reason)


# --- the happy path ----------------------------------------------------------------------


def test_an_application_goes_through_its_whole_life(make):
    admin = make.admin
    parent = make.partner()
    partner = make.applicant()
    assert partner.status == S.APPLIED and partner.slug is None

    partners.transition(admin, partner, "request_info", REASON)
    db.session.commit()
    assert partner.status == S.INFO_REQUESTED
    assert partner.status_reason == REASON

    partners.approve(admin, partner, "Koperasi-Sehat-Maros", parent.id)
    db.session.commit()
    assert partner.status == S.APPROVED
    assert partner.slug == "koperasi-sehat-maros"  # stored in lowercase
    assert partner.parent_id == parent.id
    assert partner.status_reason == ""

    partners.transition(admin, partner, "suspend", "Iuran anggota tidak disetor")
    db.session.commit()
    assert partner.status == S.SUSPENDED
    assert partner.status_reason == "Iuran anggota tidak disetor"

    partners.transition(admin, partner, "reinstate")
    db.session.commit()
    assert partner.status == S.APPROVED

    partners.transition(admin, partner, "terminate", "Kerja sama berakhir")
    db.session.commit()
    assert partner.status == S.TERMINATED
    assert partner.status_reason == "Kerja sama berakhir"

    assert [e.action for e in events(partner.id) if e.action.startswith("partner.")] == [
        "partner.applied", "partner.request_info", "partner.approve", "partner.suspend",
        "partner.reinstate", "partner.terminate"]


def test_an_application_can_be_rejected_with_a_reason(make):
    partner = make.applicant()
    partners.transition(make.admin, partner, "reject", "  Di luar wilayah layanan  ")
    db.session.commit()
    assert partner.status == S.REJECTED
    assert partner.status_reason == "Di luar wilayah layanan"


def test_info_can_be_requested_again_and_the_application_still_approved(make):
    partner = make.applicant()
    partners.transition(make.admin, partner, "request_info", "Lampirkan akta")
    partners.transition(make.admin, partner, "request_info", "Lampirkan juga NPWP")
    approve(make, partner)
    assert partner.status == S.APPROVED


# --- illegal steps -----------------------------------------------------------------------

ILLEGAL = [(action, status) for action, step in partners.TRANSITIONS.items()
           for status in PartnerStatus if status not in step.sources]


@pytest.mark.parametrize("action", sorted(partners.TRANSITIONS))
def test_a_step_from_the_wrong_status_is_refused_and_changes_nothing(make, action):
    wrong = [status for a, status in ILLEGAL if a == action]
    assert wrong, action
    for status in wrong:
        partner = partner_in(make, status)
        before = (partner.status, partner.slug, partner.status_reason, event_count())
        with pytest.raises(Conflict):
            run_step(make, partner, action)
        db.session.rollback()
        after = (partner.status, partner.slug, partner.status_reason, event_count())
        assert after == before, f"{action} from {status}"


def test_the_examples_of_illegal_steps_are_in_the_table():
    assert ("approve", S.REJECTED) in ILLEGAL
    assert ("reinstate", S.APPROVED) in ILLEGAL
    assert ("suspend", S.APPLIED) in ILLEGAL


def test_an_unknown_action_is_refused(make):
    with pytest.raises(DomainError):
        partners.transition(make.admin, make.applicant(), "hapus", REASON)


@pytest.mark.parametrize("action", sorted(a for a, s in partners.TRANSITIONS.items()
                                          if s.needs_reason))
def test_a_step_that_needs_a_reason_is_refused_without_one(make, action):
    for source in sorted(partners.TRANSITIONS[action].sources):
        partner = partner_in(make, source)
        for reason in ("", "   \n\t "):
            with pytest.raises(DomainError) as err:
                partners.transition(make.admin, partner, action, reason)
            assert err.value.field == "reason", (action, source, reason)
            db.session.rollback()
            assert partner.status == source


# --- slugs and the hierarchy -------------------------------------------------------------


def test_a_slug_already_taken_is_refused_on_the_slug_field(make):
    taken = make.partner(slug="yayasan-sehat")
    for slug in ("yayasan-sehat", "YAYASAN-SEHAT", " yayasan-sehat "):
        partner = make.applicant()
        with pytest.raises(DomainError) as err:
            partners.approve(make.admin, partner, slug)
        assert err.value.field == "slug", slug
        db.session.rollback()
        assert partner.status == S.APPLIED and partner.slug is None
    assert taken.slug == "yayasan-sehat"


MALFORMED_SLUGS = ["", "ab", "-mitra", "mitra-", "mitra baru", "mitra_baru", "mitra.baru",
                   "mitra/baru", "miträ", "a" * 51, "../admin", "mitra\x00"]


def test_a_malformed_slug_is_refused_on_the_slug_field(make):
    partner = make.applicant()
    for slug in MALFORMED_SLUGS:
        with pytest.raises(DomainError) as err:
            partners.approve(make.admin, partner, slug)
        assert err.value.field == "slug", slug
        db.session.rollback()
        assert partner.status == S.APPLIED and partner.slug is None


def test_a_parent_cannot_be_placed_under_its_own_child(make):
    grandparent = make.partner()
    parent = make.partner(parent=grandparent)
    child = make.partner(parent=parent)
    for partner, new_parent in ((grandparent, child), (grandparent, parent), (parent, child),
                                (parent, parent)):
        with pytest.raises(DomainError) as err:
            partners.set_parent(make.admin, partner, new_parent.id)
        assert err.value.field == "parent_id"
        db.session.rollback()
    assert grandparent.parent_id is None
    assert parent.parent_id == grandparent.id
    assert child.parent_id == parent.id


def test_a_parent_must_be_an_approved_partner(make):
    applicant = make.applicant()
    partner = make.applicant()
    with pytest.raises(DomainError) as err:
        partners.approve(make.admin, partner, "mitra-anak", applicant.id)
    assert err.value.field == "parent_id"


def test_a_partner_can_be_moved_under_another_and_back_to_the_top(make):
    first, second = make.partner(), make.partner()
    partners.set_parent(make.admin, second, first.id)
    db.session.commit()
    assert second.parent_id == first.id
    partners.set_parent(make.admin, second, None)
    db.session.commit()
    assert second.parent_id is None
    assert [e.action for e in events(second.id, "partner.set_parent")] == [
        "partner.set_parent"] * 2


# --- the audit trail ---------------------------------------------------------------------


def test_every_step_writes_an_audit_event_with_actor_and_partner(make):
    admin = make.admin
    partner = make.applicant()
    (applied,) = events(partner.id, "partner.applied")
    assert applied.actor_id is None and applied.actor_label == "public"

    steps = [("request_info", REASON), ("approve", None), ("suspend", "Audit"),
             ("reinstate", ""), ("terminate", "Selesai")]
    for action, reason in steps:
        if action == "approve":
            partners.approve(admin, partner, "mitra-audit")
        else:
            partners.transition(admin, partner, action, reason)
        db.session.commit()
        latest = events(partner.id, f"partner.{action}")
        assert len(latest) == 1, action
        event = latest[0]
        assert event.actor_id == admin.id, action
        assert event.actor_label == f"user:{admin.id}"
        assert event.partner_id == partner.id
        assert event.entity_type == "Partner" and event.entity_id == str(partner.id)
        assert event.after["status"] == str(partner.status)
        assert event.before["status"] != event.after["status"] or action == "request_info"


def test_a_refused_step_writes_no_audit_event(make):
    partner = partner_in(make, S.REJECTED)
    before = event_count()
    with pytest.raises(Conflict):
        partners.approve(make.admin, partner, "mitra-ditolak")
    db.session.rollback()
    assert event_count() == before


# --- who may do what ---------------------------------------------------------------------


def test_provider_staff_can_review_but_not_manage(make):
    staff = make.provider(Role.PROVIDER_STAFF)
    partner = make.applicant()
    partners.transition(staff, partner, "request_info", REASON)
    partners.approve(staff, partner, "mitra-staf")
    db.session.commit()
    assert partner.status == S.APPROVED
    assert events(partner.id, "partner.approve")[0].actor_id == staff.id

    for action in ("suspend", "terminate"):
        with pytest.raises(NotAllowed):
            partners.transition(staff, partner, action, REASON)
    with pytest.raises(NotAllowed):
        partners.set_parent(staff, partner, None)
    db.session.rollback()
    assert partner.status == S.APPROVED


def test_partner_staff_and_nobody_cannot_review(make):
    partner = make.partner()
    with tenancy.everything():
        from bungkesmas.auth.services import user_by_email

        partner_admin = user_by_email(partner.contact_email)
    applicant = make.applicant()
    for actor in (partner_admin, None):
        with pytest.raises(NotAllowed):
            partners.approve(actor, applicant, "mitra-curang")
        with pytest.raises(NotAllowed):
            partners.transition(actor, applicant, "reject", REASON)
        db.session.rollback()
    assert applicant.status == S.APPLIED


# --- the invitation ----------------------------------------------------------------------


def test_approving_sends_the_contact_person_an_invitation(make):
    partner = make.applicant(contact_email="ketua@koperasi-sehat.id")
    _, link = approve(make, partner, slug="koperasi-sehat")
    messages = list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.partner_id == partner.id)))
    assert len(messages) == 1
    (message,) = messages
    assert message.recipient == "ketua@koperasi-sehat.id"
    assert link in message.body
    assert re.search(r"/undangan/\d+\.\S+$", link)
    with tenancy.everything():
        invitation_events = events(partner.id, "invitation.create")
    assert len(invitation_events) == 1
    assert invitation_events[0].after == {"role": str(Role.PARTNER_ADMIN)}


def test_a_refused_approval_sends_nothing(make):
    make.partner(slug="sudah-dipakai")
    partner = make.applicant()
    before = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    with pytest.raises(DomainError):
        partners.approve(make.admin, partner, "sudah-dipakai")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == before


# --- the provider's list -----------------------------------------------------------------


def test_provider_list_filters_by_status_and_by_search(client, make):
    approved = make.partner(name="Yayasan Bina Sehat Gowa", slug="bina-sehat-gowa")
    applied = make.applicant(name="Koperasi Amanah Maros")
    other = make.applicant(name="Bank Sampah Hijau Takalar")
    rejected = partner_in(make, S.REJECTED)
    login(client, make.admin.email)

    def names(query: str) -> set[str]:
        response = client.get(f"/admin/partners{query}")
        assert response.status_code == 200, query
        page = response.get_data(as_text=True)
        return {p.name for p in (approved, applied, other, rejected) if p.name in page}

    assert names("") == {approved.name, applied.name, other.name, rejected.name}
    assert names("?status=applied") == {applied.name, other.name}
    assert names("?status=approved") == {approved.name}
    assert names("?status=rejected") == {rejected.name}
    assert names("?q=amanah") == {applied.name}
    assert names("?q=AMANAH") == {applied.name}
    assert names("?q=bina-sehat") == {approved.name}  # the slug is searched too
    assert names("?status=applied&q=hijau") == {other.name}
    assert names("?status=approved&q=hijau") == set()


def test_provider_list_survives_odd_filters(client, make):
    make.applicant(name="Koperasi Amanah Maros")
    login(client, make.admin.email)
    for query in ("?status=bukan-status", "?status=%20", "?q=" + "x" * 500, "?q=%25",
                  "?q=_", "?page=-1", "?page=abc", "?page=99999999999"):
        assert client.get(f"/admin/partners{query}").status_code < 500, query
    # "%" and "_" are searched literally, not as wildcards.
    assert "Koperasi Amanah Maros" not in client.get("/admin/partners?q=%25").get_data(
        as_text=True)


def test_the_contact_person_is_told_of_each_decision_with_the_message(app, make):
    applicant = make.applicant()
    partners.transition(make.admin, applicant, "request_info", "Mohon kirim akta pendirian.")
    db.session.commit()
    with tenancy.everything():
        message = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.recipient == applicant.contact_email)).one()
    assert "Mohon kirim akta pendirian." in message.body
