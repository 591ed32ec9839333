"""The MOU lifecycle as domain functions: drafting, sending, signing, countersigning,
terminating, renewing, expiry and reminders — with permissions, audit and messages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth import services as auth
from bungkesmas.auth.permissions import Role
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.mail.models import OutboxMessage
from bungkesmas.mous import documents
from bungkesmas.mous import services as mous
from bungkesmas.mous.models import Mou, MouStatus


def _admin_of(partner):
    with tenancy.everything():
        return auth.user_by_email(partner.contact_email)


def _outbox(partner_id=None) -> list[OutboxMessage]:
    """The messages about MOUs (not the invitations)."""
    stmt = select(OutboxMessage).where(OutboxMessage.subject.contains("MOU")).order_by(
        OutboxMessage.id)
    if partner_id is not None:
        stmt = stmt.where(OutboxMessage.partner_id == partner_id)
    return list(db.session.scalars(stmt))


def _actions(mou_id) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_id == str(mou_id)).order_by(AuditEvent.id)))


def _draft(make, partner, **terms) -> Mou:
    with tenancy.everything():
        mou = mous.create_draft(make.admin, partner, make.mou_terms(**terms))
    db.session.commit()
    return mou


def test_draft_send_sign_countersign_makes_the_mou_active_and_in_force(make):
    partner = make.partner(mou=False)
    admin = _admin_of(partner)
    mou = _draft(make, partner)
    assert mou.number.startswith(f"MOU/BKM/{mous.today().year}/")
    assert (mou.version, mou.status) == (1, MouStatus.DRAFT)
    assert mous.in_force(partner.id) is None

    mous.send(make.admin, mou)
    db.session.commit()
    assert mou.status == MouStatus.SENT
    [doc] = documents.documents_of(mou)
    assert (doc.kind, doc.content_type, doc.version) == ("generated", "application/pdf", 1)
    assert documents.path_of(doc).read_bytes().startswith(b"%PDF-")
    sent = _outbox(partner.id)
    assert {m.recipient for m in sent} == {partner.contact_email}
    assert mou.number in sent[0].subject and f"/p/{partner.slug}/mou/{mou.id}" in sent[0].body

    mous.sign(admin, partner, mou, signatory_name="Hj. Andi Rahmawati",
              signatory_title="Ketua Yayasan", method="accept", accepted=True)
    db.session.commit()
    assert mou.status == MouStatus.PARTNER_SIGNED
    assert mou.partner_signed_by_id == admin.id and mou.partner_signed_at is not None
    assert mou.partner_signed_on == mous.today()
    assert _outbox(partner.id)[-1].recipient == make.admin.email  # the provider is told

    mous.countersign(make.admin, mou)
    db.session.commit()
    assert mou.status == MouStatus.ACTIVE and mou.provider_signed_on == mous.today()
    assert mous.in_force(partner.id).id == mou.id
    terms = mous.mou_terms_on(partner.id, mous.today())
    assert (terms.fee_share_bp, terms.remittance_frequency, terms.remittance_due_day) == (
        1000, "monthly", 10)
    assert _actions(mou.id) == ["mou.create", "mou.send", "mou.sign", "mou.countersign"]
    assert _outbox(partner.id)[-1].recipient == partner.contact_email


def test_a_step_out_of_order_is_refused_and_changes_nothing(make):
    partner = make.partner(mou=False)
    mou = _draft(make, partner)
    for step in (lambda: mous.countersign(make.admin, mou),
                 lambda: mous.sign(_admin_of(partner), partner, mou, signatory_name="A",
                                   signatory_title="B", method="accept", accepted=True),
                 lambda: mous.renew(make.admin, mou, {})):
        with pytest.raises(Conflict):
            step()
        db.session.rollback()
    assert db.session.get(Mou, (partner.id, mou.id)).status == MouStatus.DRAFT
    assert _actions(mou.id) == ["mou.create"]


def test_the_end_date_must_follow_the_start_date(make):
    partner = make.partner(mou=False)
    start = mous.today()
    with tenancy.everything(), pytest.raises(DomainError) as err:
        mous.create_draft(make.admin, partner, make.mou_terms(start_date=start,
                                                              end_date=start - timedelta(1)))
    assert err.value.field == "end_date"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Mou)) == 0


@pytest.mark.parametrize(("field", "value"), [
    ("fee_share_bp", 10_001), ("fee_share_bp", -1), ("fee_share_bp", 12.5),
    ("remittance_due_day", 29), ("remittance_frequency", "weekly"),
    ("territory", ["9999"]), ("product_ids", [999_999]), ("member_quota", 0),
    ("provider_signatory_name", ""),
])
def test_bad_terms_are_refused_naming_the_field(make, field, value):
    partner = make.partner(mou=False)
    with tenancy.everything(), pytest.raises(DomainError) as err:
        mous.create_draft(make.admin, partner, make.mou_terms(**{field: value}))
    assert err.value.field == field


def test_two_active_mous_of_a_partner_may_not_overlap(make):
    partner = make.partner()  # has an active MOU from 30 days ago for two years
    with tenancy.everything(), pytest.raises(Conflict) as err:
        mous.create_draft(make.admin, partner, make.mou_terms())
    assert err.value.field == "start_date"
    db.session.rollback()
    # After the active one ends it is fine.
    active = mous.in_force(partner.id)
    after = active.end_date + timedelta(days=1)
    mou = _draft(make, partner, start_date=after, end_date=after + timedelta(days=365))
    assert mou.status == MouStatus.DRAFT


def test_only_one_mou_is_prepared_at_a_time(make):
    partner = make.partner(mou=False)
    _draft(make, partner)
    with tenancy.everything(), pytest.raises(Conflict):
        mous.create_draft(make.admin, partner, make.mou_terms())


def test_partner_asks_for_changes_and_the_draft_comes_back(make):
    partner = make.partner(mou=False)
    mou = _draft(make, partner)
    mous.send(make.admin, mou)
    mous.request_changes(_admin_of(partner), partner, mou, "Bagi hasil 15%, mohon.")
    db.session.commit()
    assert mou.status == MouStatus.DRAFT
    [note] = mous.comments_of(mou)
    assert (note.side, note.changes_requested, note.body) == ("partner", True,
                                                               "Bagi hasil 15%, mohon.")
    mous.update_draft(make.admin, mou, {"fee_share_bp": 1500})
    mous.send(make.admin, mou)
    db.session.commit()
    # Sent again with the text generated again: a second version, the first kept.
    assert [d.version for d in documents.documents_of(mou)] == [1, 2]
    assert _actions(mou.id) == ["mou.create", "mou.send", "mou.comment", "mou.request_changes",
                                "mou.update", "mou.send"]


def test_signing_someone_elses_mou_is_refused(make):
    ours, theirs = make.partner(mou=False), make.partner(mou=False)
    mou = _draft(make, theirs)
    mous.send(make.admin, mou)
    db.session.commit()
    officer = make.staff(theirs, Role.PARTNER_OFFICER)
    for actor, partner in ((_admin_of(ours), ours), (_admin_of(ours), theirs),
                           (officer, theirs), (make.admin, theirs)):
        with pytest.raises(NotAllowed):
            mous.sign(actor, partner, mou, signatory_name="X", signatory_title="Y",
                      method="accept", accepted=True)
        db.session.rollback()
    assert db.session.get(Mou, (theirs.id, mou.id)).status == MouStatus.SENT


def test_partner_staff_cannot_take_provider_steps(make):
    partner = make.partner(mou=False)
    mou = _draft(make, partner)
    with pytest.raises(NotAllowed):
        mous.send(_admin_of(partner), mou)
    with pytest.raises(NotAllowed):
        mous.send(make.provider(Role.PROVIDER_STAFF), mou)


def test_signing_by_upload_stores_the_scan(make):
    import io

    partner = make.partner(mou=False)
    mou = _draft(make, partner)
    mous.send(make.admin, mou)
    with pytest.raises(DomainError) as err:
        mous.sign(_admin_of(partner), partner, mou, signatory_name="A", signatory_title="B",
                  method="upload")
    assert err.value.field == "file"
    mous.sign(_admin_of(partner), partner, mou, signatory_name="A", signatory_title="B",
              method="upload", upload=io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * 100),
              file_name="scan mou.png")
    db.session.commit()
    kinds = [(d.kind, d.content_type, d.file_name) for d in documents.documents_of(mou)]
    assert kinds[-1] == ("signed_scan", "image/png", "scan-mou.png")
    assert mou.partner_sign_method == "upload"


def test_accepting_in_the_application_needs_the_tick(make):
    partner = make.partner(mou=False)
    mou = _draft(make, partner)
    mous.send(make.admin, mou)
    with pytest.raises(DomainError) as err:
        mous.sign(_admin_of(partner), partner, mou, signatory_name="A", signatory_title="B",
                  method="accept", accepted=False)
    assert err.value.field == "accepted"


def test_termination_needs_a_reason_and_ends_the_mou_today(make):
    partner = make.partner()
    mou = mous.in_force(partner.id)
    with pytest.raises(DomainError) as err:
        mous.terminate(make.admin, mou, "  ")
    assert err.value.field == "reason"
    db.session.rollback()
    mou = mous.in_force(partner.id)
    mous.terminate(make.admin, mou, "Mitra berhenti beroperasi.")
    db.session.commit()
    assert mou.status == MouStatus.TERMINATED and mou.termination_reason
    assert mous.in_force(partner.id) is None
    # It was in force yesterday: the remittance statement of yesterday still finds it.
    assert mous.mou_terms_on(partner.id, mous.today() - timedelta(days=1)).mou_id == mou.id
    with pytest.raises(Conflict):
        mous.terminate(make.admin, mou, "Lagi.")


def _renew(make, old, start, **terms):
    with tenancy.everything():
        new = mous.renew(make.admin, old, {
            "start_date": start, "end_date": start + timedelta(days=730), **terms})
    db.session.commit()
    return new


def test_renewal_is_a_new_version_that_supersedes_the_old_one_when_it_starts(make):
    partner = make.partner()
    old = mous.in_force(partner.id)
    start = old.end_date + timedelta(days=1)
    new = _renew(make, old, start, fee_share_bp=1250)
    assert (new.number, new.version, new.previous_id) == (old.number, 2, old.id)
    with pytest.raises(Conflict):
        _renew(make, old, start)  # one renewal at a time
    db.session.rollback()
    mous.send(make.admin, new)
    mous.sign(_admin_of(partner), partner, new, signatory_name="A", signatory_title="B",
              method="accept", accepted=True)
    mous.countersign(make.admin, new)
    db.session.commit()
    # Both active: the old one now, the renewal from its start.
    assert (old.status, new.status) == (MouStatus.ACTIVE, MouStatus.ACTIVE)
    assert mous.in_force(partner.id).id == old.id
    assert mous.mou_terms_on(partner.id, start).fee_share_bp == 1250
    assert mous.mou_terms_on(partner.id, start - timedelta(days=1)).fee_share_bp == 1000
    # The daily job on the renewal's first day: the old one is superseded, once.
    assert mous.settle(start) == {"superseded": 1, "expired": 0}
    db.session.commit()
    assert old.status == MouStatus.SUPERSEDED and old.ended_on == start - timedelta(days=1)
    assert mous.settle(start) == {"superseded": 0, "expired": 0}
    assert _actions(old.id)[-1] == "mou.supersede"


def test_an_early_renewal_supersedes_the_old_one_from_its_start(make):
    partner = make.partner()
    old = mous.in_force(partner.id)
    start = mous.today() + timedelta(days=10)
    new = _renew(make, old, start)
    mous.send(make.admin, new)
    mous.sign(_admin_of(partner), partner, new, signatory_name="A", signatory_title="B",
              method="accept", accepted=True)
    mous.countersign(make.admin, new)
    mous.settle(start)
    db.session.commit()
    assert old.ended_on == start - timedelta(days=1)
    assert mous.in_force(partner.id, start).id == new.id
    assert mous.in_force(partner.id, start - timedelta(days=1)).id == old.id


def test_the_daily_job_expires_lapsed_mous_and_reminds_each_threshold_once(make):
    partner = make.partner(mou=False)
    day = mous.today()
    mou_id = make.active_mou(partner, start_date=day - timedelta(days=300),
                             end_date=day + timedelta(days=100))
    mou = mous.get(mou_id)
    assert mous.run_daily(day) == {"superseded": 0, "expired": 0, "reminded": 0}
    sent = []
    for days_left in (95, 90, 89, 61, 60, 45, 30, 29, 1, 0):
        sent.append(mous.run_daily(mou.end_date - timedelta(days=days_left))["reminded"])
        db.session.commit()
    assert sent == [0, 1, 0, 0, 1, 0, 1, 0, 0, 0]
    reminders = [m for m in _outbox(partner.id) if "ends in" in m.subject or "berakhir" in
                 m.subject]
    assert len(reminders) == 3 * 2  # the partner's contact and the provider admin, 3 times
    assert mou.status == MouStatus.ACTIVE
    after = mou.end_date + timedelta(days=1)
    assert mous.run_daily(after)["expired"] == 1
    db.session.commit()
    assert mou.status == MouStatus.EXPIRED
    assert mous.run_daily(after) == {"superseded": 0, "expired": 0, "reminded": 0}
    assert mous.in_force(partner.id, after) is None


def test_flask_mous_expire_is_idempotent(app, make):
    partner = make.partner(mou=False)
    day = mous.today()
    make.active_mou(partner, start_date=day - timedelta(days=400),
                    end_date=day - timedelta(days=1))
    runner = app.test_cli_runner()
    first = runner.invoke(args=["mous", "expire"])
    assert first.exit_code == 0 and "expired: 1" in first.output
    second = runner.invoke(args=["mous", "expire"])
    assert "expired: 0" in second.output and "reminders sent: 0" in second.output


def test_every_mou_number_is_unique(make):
    numbers = set()
    for _ in range(3):
        partner = make.partner(mou=False)
        numbers.add(_draft(make, partner).number)
    assert len(numbers) == 3
