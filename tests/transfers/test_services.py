"""Transfers agreed by two partner admins: the domain functions (offer, request by NIK,
accept, decline, withdraw), who may act, what each side may see, and the audit trail
and e-mails of both partners."""

from __future__ import annotations

import json
import threading

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.auth.services import user_by_email
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.mail.models import OutboxMessage
from bungkesmas.members import services as members
from bungkesmas.members.models import Enrollment, Group, Member, MemberRegistry
from bungkesmas.transfers import services as transfers
from bungkesmas.transfers.models import TransferRequest, TransferStatus


@pytest.fixture
def world(make):
    """LSM Pattiro Jeka holds members registered on YLP2EM's behalf; a third partner,
    Bank Sampah Labukkang, has nothing to do with it."""
    jeka = make.partner(name="LSM Pattiro Jeka", slug="pattiro-jeka",
                        admin_email="admin-jeka@contoh.id")
    ylp = make.partner(name="YLP2EM Parepare", slug="ylp2em", admin_email="admin-ylp@contoh.id")
    bank = make.partner(name="Bank Sampah Labukkang", slug="bank-sampah",
                        admin_email="admin-bank@contoh.id")
    product = make.product(jeka, ylp)
    with in_workspace(jeka):
        group_id = members.create_group(None, jeka, "Kelompok Labukkang", "7372021001").id
        db.session.commit()
    in_group = [make.member(jeka, full_name=f"Anggota Labukkang {i}", group_id=group_id)
                for i in range(3)]
    data = make.member_data(full_name="Siti Rahasia Jeka")
    loose = [make.member(jeka, **data), make.member(jeka, full_name="Peserta Lepas")]
    with in_workspace(jeka):
        members.enroll(None, jeka, members.by_number(in_group[0]), product.id)
        members.enroll(None, jeka, members.by_number(loose[0]), product.id)
        db.session.commit()
    return {"jeka": jeka, "ylp": ylp, "bank": bank, "group_id": group_id,
            "in_group": in_group, "loose": loose, "nik": data["nik"],
            "jeka_admin": user_by_email("admin-jeka@contoh.id"),
            "ylp_admin": user_by_email("admin-ylp@contoh.id"),
            "bank_admin": user_by_email("admin-bank@contoh.id")}


def in_workspace(partner):
    return tenancy.scoped(tenancy.Scope.tenants(partner.id))


def member_ids(numbers_):
    with tenancy.everything():
        return [db.session.scalar(select(Member.id).where(Member.member_number == n))
                for n in numbers_]


def tenants_of(numbers_) -> dict[str, int]:
    with tenancy.everything():
        return dict(db.session.execute(select(Member.member_number, Member.tenant_id).where(
            Member.member_number.in_(numbers_))).all())


def act(partner, fn, *args, **kwargs):
    """Run a domain function in `partner`'s workspace and commit, as a request would."""
    with in_workspace(partner):
        result = fn(*args, **kwargs)
        db.session.commit()
    return result


def refused(partner, error, fn, *args, **kwargs):
    with in_workspace(partner), force_locale("en"), pytest.raises(error) as caught:
        fn(*args, **kwargs)
    db.session.rollback()
    return caught.value


def offer_loose(world, count=2):
    ids = member_ids(world["loose"][:count])
    return act(world["jeka"], transfers.offer, world["jeka_admin"], world["jeka"],
               world["ylp"].id, member_ids=ids, reason="MOU YLP2EM sudah ditandatangani").id


def mails_to(email: str) -> list[OutboxMessage]:
    """The transfer e-mails (not the invitations) sent to `email`."""
    with tenancy.everything():
        return list(db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.recipient == email, OutboxMessage.body.contains("/pindah/"))
            .order_by(OutboxMessage.id)))


def audit_of(partner_id: int, prefix: str = "") -> list[AuditEvent]:
    with tenancy.everything():
        return list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.partner_id == partner_id, AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.id)))


def status_of(transfer_id) -> TransferStatus:
    with tenancy.everything():
        return db.session.scalar(select(TransferRequest.status).where(
            TransferRequest.id == transfer_id))


# --- offers ---------------------------------------------------------------------------------


def test_an_accepted_offer_moves_the_members_with_enrollments_and_numbers(world):
    jeka, ylp = world["jeka"], world["ylp"]
    transfer_id = offer_loose(world)
    assert status_of(transfer_id) == TransferStatus.PENDING
    assert tenants_of(world["loose"]) == dict.fromkeys(world["loose"], jeka.id)  # nothing yet
    (offered,) = mails_to("admin-ylp@contoh.id")
    assert "LSM Pattiro Jeka" in offered.subject and f"/p/ylp2em/pindah/{transfer_id}" in offered.body

    act(ylp, transfers.accept, world["ylp_admin"], ylp, transfer_id)
    assert status_of(transfer_id) == TransferStatus.ACCEPTED
    assert tenants_of(world["loose"]) == dict.fromkeys(world["loose"], ylp.id)
    with tenancy.everything():
        moved = db.session.scalar(select(Member).where(Member.member_number == world["loose"][0]))
        assert db.session.scalar(select(Enrollment.tenant_id).where(
            Enrollment.member_id == moved.id)) == ylp.id
        assert db.session.get(MemberRegistry, world["loose"][0]).partner_id == ylp.id
    # YLP2EM finds them by their old numbers; Pattiro Jeka no longer does.
    with in_workspace(ylp):
        assert members.by_number(world["loose"][0]).full_name == "Siti Rahasia Jeka"
    with in_workspace(jeka):
        assert members.by_number(world["loose"][0]) is None
    # Both audit trails hold the offer, the acceptance and the transfer itself.
    for partner in (jeka, ylp):
        actions = [e.action for e in audit_of(partner.id, "transfer_request.")]
        assert actions == ["transfer_request.offer", "transfer_request.accept"]
        (moved_event,) = audit_of(partner.id, "member.transfer")
        assert moved_event.after["members"] == sorted(world["loose"])
        assert moved_event.after["request"] == str(transfer_id)
    (accepted,) = mails_to("admin-jeka@contoh.id")
    assert "YLP2EM Parepare" in accepted.subject and world["loose"][0] in accepted.body


def test_an_accepted_group_offer_moves_the_group_with_all_its_members(world):
    jeka, ylp = world["jeka"], world["ylp"]
    transfer_id = act(jeka, transfers.offer, world["jeka_admin"], jeka, ylp.id,
                      group_id=world["group_id"]).id
    with in_workspace(ylp):
        shown = transfers.view(ylp, transfers.get(ylp, transfer_id))
    # The receiver sees what it is offered: names, numbers, group, masked NIK only.
    assert shown.group_name == "Kelompok Labukkang" and shown.counterpart.id == jeka.id
    assert sorted(line.member_number for line in shown.lines) == sorted(world["in_group"])
    assert all(line.full_name.startswith("Anggota Labukkang") for line in shown.lines)
    assert all("******" in line.nik_masked for line in shown.lines)

    act(ylp, transfers.accept, world["ylp_admin"], ylp, transfer_id)
    with tenancy.everything():
        assert db.session.scalar(select(Group.tenant_id).where(
            Group.id == world["group_id"])) == ylp.id
    assert tenants_of(world["in_group"]) == dict.fromkeys(world["in_group"], ylp.id)
    assert tenants_of(world["loose"]) == dict.fromkeys(world["loose"], jeka.id)


def test_a_declined_offer_moves_nothing_and_tells_the_offering_partner(world):
    jeka, ylp = world["jeka"], world["ylp"]
    transfer_id = offer_loose(world)
    error = refused(ylp, DomainError, transfers.decline, world["ylp_admin"], ylp, transfer_id, " ")
    assert error.field == "reason"
    act(ylp, transfers.decline, world["ylp_admin"], ylp, transfer_id, "MOU belum ditandatangani")
    assert status_of(transfer_id) == TransferStatus.DECLINED
    assert tenants_of(world["loose"]) == dict.fromkeys(world["loose"], jeka.id)
    assert not audit_of(jeka.id, "member.transfer") and not audit_of(ylp.id, "member.transfer")
    for partner in (jeka, ylp):
        assert [e.action for e in audit_of(partner.id, "transfer_request.")] == [
            "transfer_request.offer", "transfer_request.decline"]
    (declined,) = mails_to("admin-jeka@contoh.id")
    assert "MOU belum ditandatangani" in declined.body


def test_a_request_is_decided_once(world):
    ylp = world["ylp"]
    transfer_id = offer_loose(world)
    act(ylp, transfers.accept, world["ylp_admin"], ylp, transfer_id)
    error = refused(ylp, Conflict, transfers.accept, world["ylp_admin"], ylp, transfer_id)
    assert "already been decided" in str(error.message)
    refused(ylp, Conflict, transfers.decline, world["ylp_admin"], ylp, transfer_id, "Terlambat")
    refused(world["jeka"], Conflict, transfers.cancel, world["jeka_admin"], world["jeka"],
            transfer_id)
    assert status_of(transfer_id) == TransferStatus.ACCEPTED
    assert len(audit_of(ylp.id, "member.transfer")) == 1


def test_only_the_receiver_decides_and_only_the_initiator_withdraws(world):
    jeka, ylp = world["jeka"], world["ylp"]
    transfer_id = offer_loose(world)
    refused(jeka, NotAllowed, transfers.accept, world["jeka_admin"], jeka, transfer_id)
    refused(jeka, NotAllowed, transfers.decline, world["jeka_admin"], jeka, transfer_id, "x")
    refused(ylp, NotAllowed, transfers.cancel, world["ylp_admin"], ylp, transfer_id)
    act(jeka, transfers.cancel, world["jeka_admin"], jeka, transfer_id)
    assert status_of(transfer_id) == TransferStatus.CANCELLED
    refused(ylp, Conflict, transfers.accept, world["ylp_admin"], ylp, transfer_id)
    assert tenants_of(world["loose"]) == dict.fromkeys(world["loose"], jeka.id)
    for partner in (jeka, ylp):
        assert audit_of(partner.id, "transfer_request.cancel")
    offered, withdrawn = mails_to("admin-ylp@contoh.id")
    assert "LSM Pattiro Jeka" in withdrawn.subject and withdrawn.subject != offered.subject


def test_an_offer_whose_members_moved_meanwhile_cannot_be_accepted(make, world):
    jeka, ylp, bank = world["jeka"], world["ylp"], world["bank"]
    transfer_id = offer_loose(world)
    # Meanwhile the provider moves one of the offered members to a third partner.
    with tenancy.everything():
        members.transfer(make.admin, member_ids(world["loose"][:1]), bank, reason="Salah mitra")
        db.session.commit()
    with in_workspace(ylp):
        assert transfers.view(ylp, transfers.get(ylp, transfer_id)).stale
    error = refused(ylp, Conflict, transfers.accept, world["ylp_admin"], ylp, transfer_id)
    assert "moved" in str(error.message)
    assert status_of(transfer_id) == TransferStatus.PENDING
    tenants = tenants_of(world["loose"])
    assert tenants == {world["loose"][0]: bank.id, world["loose"][1]: jeka.id}
    # It can still be declined.
    act(ylp, transfers.decline, world["ylp_admin"], ylp, transfer_id, "Sudah pindah")


def test_a_group_offer_is_stale_once_the_group_changed(make, world):
    jeka, ylp = world["jeka"], world["ylp"]
    transfer_id = act(jeka, transfers.offer, world["jeka_admin"], jeka, ylp.id,
                      group_id=world["group_id"]).id
    newcomer = make.member(jeka, group_id=world["group_id"])
    refused(ylp, Conflict, transfers.accept, world["ylp_admin"], ylp, transfer_id)
    assert tenants_of([*world["in_group"], newcomer])[newcomer] == jeka.id
    assert set(tenants_of(world["in_group"]).values()) == {jeka.id}


def test_bad_offers_are_refused(make, world):
    jeka, ylp, admin = world["jeka"], world["ylp"], world["jeka_admin"]
    outsider = make.member(ylp)
    applicant = make.applicant()
    with in_workspace(jeka):
        empty_group = members.create_group(None, jeka, "Kelompok Kosong").id
        db.session.commit()
    loose = member_ids(world["loose"][:1])
    cases = [
        ({"target_id": None, "member_ids": loose}, "target"),
        ({"target_id": jeka.id, "member_ids": loose}, "target"),
        ({"target_id": applicant.id, "member_ids": loose}, "target"),
        ({"target_id": ylp.id, "member_ids": []}, "member_ids"),
        ({"target_id": ylp.id, "member_ids": member_ids([outsider])}, "member_ids"),
        ({"target_id": ylp.id, "group_id": empty_group}, "group_id"),
        ({"target_id": ylp.id, "member_ids": loose, "reason": "x" * 501}, "reason"),
    ]
    for kwargs, field in cases:
        target_id = kwargs.pop("target_id")
        error = refused(jeka, DomainError, transfers.offer, admin, jeka, target_id, **kwargs)
        assert error.field == field, (kwargs, error.message)
    offer_loose(world, count=1)
    error = refused(jeka, Conflict, transfers.offer, admin, jeka, world["bank"].id,
                    member_ids=loose)
    assert world["loose"][0] in str(error.message)
    with tenancy.everything():
        assert db.session.scalar(select(TransferRequest.id).where(
            TransferRequest.to_partner_id != ylp.id)) is None


def test_field_officers_and_parent_partners_cannot_make_or_decide_transfers(make, world):
    jeka, ylp = world["jeka"], world["ylp"]
    kader = make.staff(jeka, Role.PARTNER_OFFICER)
    parent_admin_email = "admin-induk@contoh.id"
    parent = make.partner(name="Induk YLP2EM", admin_email=parent_admin_email)
    with tenancy.everything():
        from bungkesmas.partners.services import set_parent

        set_parent(make.admin, ylp, parent.id)
        db.session.commit()
    ids = member_ids(world["loose"][:1])
    refused(jeka, NotAllowed, transfers.offer, kader, jeka, ylp.id, member_ids=ids)
    refused(jeka, NotAllowed, transfers.request_by_nik, kader, jeka, world["nik"])
    transfer_id = offer_loose(world, count=1)
    ylp_kader = make.staff(ylp, Role.PARTNER_OFFICER)
    refused(ylp, NotAllowed, transfers.accept, ylp_kader, ylp, transfer_id)
    # The parent's admin looks at its child's workspace; it does not decide for it.
    refused(ylp, NotAllowed, transfers.accept, user_by_email(parent_admin_email), ylp,
            transfer_id)
    with in_workspace(parent), pytest.raises(LookupError):
        transfers.get(parent, transfer_id)
    assert status_of(transfer_id) == TransferStatus.PENDING


def test_a_third_partner_neither_sees_nor_acts_on_a_request(world):
    bank, admin = world["bank"], world["bank_admin"]
    transfer_id = offer_loose(world)
    with in_workspace(bank):
        assert transfers.incoming(bank) == [] and transfers.outgoing(bank) == []
        assert transfers.pending_incoming_count(bank) == 0
    for fn, args in ((transfers.get, (bank, transfer_id)),
                     (transfers.accept, (admin, bank, transfer_id)),
                     (transfers.decline, (admin, bank, transfer_id, "x")),
                     (transfers.cancel, (admin, bank, transfer_id))):
        refused(bank, LookupError, fn, *args)
    assert status_of(transfer_id) == TransferStatus.PENDING
    assert audit_of(bank.id, "transfer_request.") == []
    assert mails_to("admin-bank@contoh.id") == []


def test_each_partner_lists_its_incoming_and_outgoing_requests(world):
    jeka, ylp = world["jeka"], world["ylp"]
    transfer_id = offer_loose(world)
    with in_workspace(jeka):
        assert [r.id for r in transfers.outgoing(jeka)] == [transfer_id]
        assert transfers.incoming(jeka) == []
    with in_workspace(ylp):
        assert [r.id for r in transfers.incoming(ylp)] == [transfer_id]
        assert transfers.pending_incoming_count(ylp) == 1


# --- requests by NIK ------------------------------------------------------------------------


def test_a_request_by_nik_reveals_nothing_of_the_holder_until_it_accepts(world):
    jeka, ylp = world["jeka"], world["ylp"]
    with force_locale("en"):
        transfer_id = act(ylp, transfers.request_by_nik, world["ylp_admin"], ylp,
                          world["nik"], "Tinggal di wilayah kami").id
    secrets = ["LSM Pattiro Jeka", "pattiro-jeka", "Siti Rahasia Jeka", world["loose"][0],
               world["nik"], "admin-jeka"]

    def requester_knows() -> str:
        with in_workspace(ylp):
            req = transfers.get(ylp, transfer_id)
            shown = transfers.view(ylp, req)
            assert shown.counterpart is None and shown.lines == [] and shown.holder_hidden
        events = audit_of(ylp.id)
        return json.dumps([[e.action, e.actor_label, e.actor_id, e.after] for e in events]
                          + [[m.subject, m.body] for m in mails_to("admin-ylp@contoh.id")])

    def holder_not_in_requesters_trail():
        for event in audit_of(ylp.id):
            assert event.actor_id != world["jeka_admin"].id
            assert event.action == "transfer_request.request" or event.ip_address is None
            assert "from" not in (event.after or {}) and jeka.id not in (event.after or {}).values()

    known = requester_knows()
    assert not any(s in known for s in secrets)
    holder_not_in_requesters_trail()
    # The holder sees who asks, and for which of its members.
    with in_workspace(jeka):
        shown = transfers.view(jeka, transfers.get(jeka, transfer_id))
    assert shown.counterpart.id == ylp.id
    assert [(line.member_number, line.full_name) for line in shown.lines] == [
        (world["loose"][0], "Siti Rahasia Jeka")]
    (asked,) = mails_to("admin-jeka@contoh.id")
    assert "YLP2EM Parepare" in asked.subject and world["nik"] not in asked.body
    assert world["nik"][:6] + "******" + world["nik"][-4:] in asked.body

    # A decline tells the requester the answer and the reason, not who gave it.
    act(jeka, transfers.decline, world["jeka_admin"], jeka, transfer_id, "Peserta menolak")
    known = requester_knows()
    assert "Peserta menolak" in known
    assert not any(s in known for s in secrets)
    holder_not_in_requesters_trail()


def test_an_accepted_request_by_nik_moves_the_member_and_names_the_holder(world):
    jeka, ylp = world["jeka"], world["ylp"]
    transfer_id = act(ylp, transfers.request_by_nik, world["ylp_admin"], ylp, world["nik"]).id
    act(jeka, transfers.accept, world["jeka_admin"], jeka, transfer_id)
    assert tenants_of(world["loose"][:1]) == {world["loose"][0]: ylp.id}
    with in_workspace(ylp):
        shown = transfers.view(ylp, transfers.get(ylp, transfer_id))
        assert shown.counterpart.id == jeka.id
        assert [(line.member_number, line.full_name) for line in shown.lines] == [
            (world["loose"][0], "Siti Rahasia Jeka")]
    (accepted,) = mails_to("admin-ylp@contoh.id")
    assert "LSM Pattiro Jeka" in accepted.subject and world["loose"][0] in accepted.body
    for partner in (jeka, ylp):
        assert audit_of(partner.id, "member.transfer")
    # The registry now routes the NIK to YLP2EM: registering it there says so.
    data = {"nik": world["nik"]}
    with in_workspace(ylp), force_locale("en"), pytest.raises(Conflict) as caught:
        members._refuse_known_nik(ylp, members.nik_rules.digest(data["nik"]))
    assert world["loose"][0] in str(caught.value.message)
    db.session.rollback()


def test_requests_by_nik_that_make_no_sense_are_refused(make, world):
    jeka, ylp, admin = world["jeka"], world["ylp"], world["ylp_admin"]
    own = make.member_data()
    make.member(ylp, **own)
    for nik, words in (("1234", "16 digits"), (make.nik(), "No member"),
                       (own["nik"], "already registered here")):
        error = refused(ylp, DomainError, transfers.request_by_nik, admin, ylp, nik)
        assert error.field == "nik" and words in str(error.message), nik
    act(ylp, transfers.request_by_nik, admin, ylp, world["nik"])
    error = refused(ylp, Conflict, transfers.request_by_nik, admin, ylp, world["nik"])
    assert "already asked" in str(error.message)
    # The holder's own NIK is not a request either.
    refused(jeka, Conflict, transfers.request_by_nik, world["jeka_admin"], jeka, world["nik"])


def test_the_requester_may_withdraw_a_request_by_nik(world):
    jeka, ylp = world["jeka"], world["ylp"]
    transfer_id = act(ylp, transfers.request_by_nik, world["ylp_admin"], ylp, world["nik"]).id
    act(ylp, transfers.cancel, world["ylp_admin"], ylp, transfer_id)
    refused(jeka, Conflict, transfers.accept, world["jeka_admin"], jeka, transfer_id)
    assert tenants_of(world["loose"][:1]) == {world["loose"][0]: jeka.id}
    # Withdrawn, it can be asked again.
    act(ylp, transfers.request_by_nik, world["ylp_admin"], ylp, world["nik"])


def test_no_full_nik_in_requests_audit_rows_or_e_mails(world):
    jeka, ylp = world["jeka"], world["ylp"]
    transfer_id = act(ylp, transfers.request_by_nik, world["ylp_admin"], ylp, world["nik"]).id
    act(jeka, transfers.accept, world["jeka_admin"], jeka, transfer_id)
    with tenancy.everything():
        rows = [repr(r) for r in db.session.execute(select(TransferRequest.__table__)).all()]
        events = [json.dumps(e.after) for e in db.session.scalars(select(AuditEvent))]
        mails = [m.body for m in db.session.scalars(select(OutboxMessage))]
    assert not any(world["nik"] in text for text in rows + events + mails)


def test_two_concurrent_acceptances_move_the_members_once(app, world, pg_only):
    ylp_id, admin_id = world["ylp"].id, world["ylp_admin"].id
    transfer_id = offer_loose(world)
    start = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def accept():
        with app.app_context():
            from bungkesmas.auth.models import User
            from bungkesmas.partners.models import Partner

            with tenancy.everything():
                ylp, admin = db.session.get(Partner, ylp_id), db.session.get(User, admin_id)
            tenancy.enter_workspace(ylp_id)
            start.wait(timeout=30)
            try:
                transfers.accept(admin, ylp, transfer_id)
                db.session.commit()
                outcome = "accepted"
            except Conflict:
                db.session.rollback()
                outcome = "refused"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["accepted", "refused"]
    assert len(audit_of(ylp_id, "member.transfer")) == 1
    assert tenants_of(world["loose"][:2]) == dict.fromkeys(world["loose"][:2], ylp_id)
