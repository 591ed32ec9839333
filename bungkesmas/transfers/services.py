"""Transfers agreed by two partner admins: an *offer* (the holder proposes to move members
or a group to another partner) or a *request* (a partner asks, by NIK, for a member it
cannot register because another partner holds it). The other side accepts or declines;
the initiator may cancel while the request is pending. Accepting runs the one transfer
function (`members.services.move_members`) in the same transaction.

`transfer_requests` is a global table: nothing scopes it automatically. Every function
here takes the workspace's partner and only ever reads requests that partner is a party
to (`_of`); any other id is a LookupError (404), exactly like an id that does not exist.

A request by NIK tells the requester nothing of the holder — not its name, not the
member's — until the holder accepts: not in pages, audit rows or e-mails to the
requester. The NIK itself is kept only as the keyed digest and in masked form."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import current_app, has_request_context, url_for
from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update

from bungkesmas import tenancy
from bungkesmas.audit.services import record
from bungkesmas.auth.models import PartnerStaff, User
from bungkesmas.auth.permissions import Permission, Role
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.mail.services import mailer
from bungkesmas.members import nik as nik_rules
from bungkesmas.members import services as members
from bungkesmas.members.models import Group, Member, MemberRegistry
from bungkesmas.partners.models import Partner, PartnerStatus
from bungkesmas.timeutil import utcnow
from bungkesmas.transfers.models import TransferRequest, TransferRequestMember, TransferStatus

MAX_REASON = 500
# Shown in the requester's audit trail instead of the holder's admin, for a request by
# NIK that was not accepted (the holder stays anonymous).
ANONYMOUS_HOLDER = "holder"


# --- who may act ---------------------------------------------------------------------------


def may_manage(actor, partner: Partner) -> bool:
    """Whether `actor` is an admin of `partner` itself (not of a parent partner)."""
    from bungkesmas.auth.services import workspace_permissions

    return Permission.MEMBERS_TRANSFER_REQUEST in workspace_permissions(actor, partner)


def _require(actor, partner: Partner) -> None:
    if not may_manage(actor, partner):
        raise NotAllowed(_("Only an admin of %(partner)s can do this.", partner=partner.name))
    if partner.status != PartnerStatus.APPROVED:
        raise DomainError(_("%(name)s is not active; its data is read-only.", name=partner.name))


def _reason(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_REASON:
        raise DomainError(_("Use at most %(max)d characters.", max=MAX_REASON), "reason")
    return text


# --- making an offer or a request ----------------------------------------------------------


def offer(actor, partner: Partner, target_id: int | None, *, member_ids=(),
          group_id: uuid.UUID | None = None, reason: str = "") -> TransferRequest:
    """Propose to move some of the partner's own members, or one of its groups with all its
    members, to the partner `target_id`; its admins are told."""
    _require(actor, partner)
    reason = _reason(reason)
    target = db.session.get(Partner, target_id) if isinstance(target_id, int) else None
    if target is None or target.status != PartnerStatus.APPROVED or target.slug is None:
        raise DomainError(_("Choose an active partner to transfer to."), "target")
    if target.id == partner.id:
        raise DomainError(_("Choose another partner than your own."), "target")
    if group_id is not None:
        group = db.session.scalar(select(Group).where(Group.tenant_id == partner.id,
                                                      Group.id == group_id))
        if group is None:
            raise DomainError(_("Choose a group from the list."), "group_id")
        moving = list(db.session.scalars(select(Member).where(
            Member.tenant_id == partner.id, Member.group_id == group.id)))
        if not moving:
            raise DomainError(_("This group has no members to transfer."), "group_id")
    else:
        wanted = set(member_ids)
        moving = list(db.session.scalars(select(Member).where(
            Member.tenant_id == partner.id, Member.id.in_(wanted)))) if wanted else []
        if not wanted or len(moving) != len(wanted):
            raise DomainError(_("Choose members of %(partner)s.", partner=partner.name),
                              "member_ids")
    pending = db.session.scalars(
        select(TransferRequestMember.member_number).join(TransferRequest).where(
            TransferRequest.from_partner_id == partner.id,
            TransferRequest.initiated_by_partner_id == partner.id,
            TransferRequest.status == TransferStatus.PENDING,
            TransferRequestMember.member_id.in_([m.id for m in moving]))).all()
    if pending:
        raise Conflict(_("Already offered, waiting for an answer: %(numbers)s.",
                         numbers=", ".join(sorted(pending))),
                       "group_id" if group_id is not None else "member_ids")
    req = TransferRequest(
        from_partner_id=partner.id, to_partner_id=target.id, initiated_by_partner_id=partner.id,
        group_id=group_id, reason=reason, created_by_id=getattr(actor, "id", None),
        members=[TransferRequestMember(member_id=m.id, member_number=m.member_number)
                 for m in moving])
    db.session.add(req)
    db.session.flush()
    after = {"kind": "offer", "from": partner.id, "to": target.id,
             "members": sorted(m.member_number for m in moving),
             "group": str(group_id) if group_id else None, "reason": reason}
    for partner_id in (partner.id, target.id):
        record(actor, "transfer_request.offer", req, partner_id=partner_id, after=after)
    _tell_admins(target, req, _("Bungkesmas: %(partner)s offers to transfer members to you",
                                partner=partner.name),
                 _("%(partner)s offers to transfer %(count)d member(s) to %(target)s.",
                   partner=partner.name, count=len(moving), target=target.name))
    return req


@dataclass(frozen=True)
class NikHolder:
    nik: str
    masked: str
    digest: str
    entry: MemberRegistry


def check_nik(actor, partner: Partner, nik: str | None) -> NikHolder:
    """Whether the partner can ask for the member with this NIK: a well-formed NIK held
    by another partner, not already asked for. Says nothing of who holds it."""
    _require(actor, partner)
    check = nik_rules.check(nik)
    if check.error:
        raise DomainError(check.error, "nik")
    digest = nik_rules.digest(check.nik)
    with tenancy.everything():
        entry = db.session.scalar(select(MemberRegistry).where(MemberRegistry.nik_digest == digest))
    if entry is None:
        raise DomainError(_("No member with this NIK is registered with Bungkesmas: register "
                            "the person as a new member."), "nik")
    if entry.partner_id == partner.id:
        raise Conflict(_("This NIK is already registered here as member %(number)s.",
                         number=entry.member_number), "nik")
    if db.session.scalar(select(TransferRequest.id).where(
            TransferRequest.to_partner_id == partner.id,
            TransferRequest.initiated_by_partner_id == partner.id,
            TransferRequest.nik_digest == digest,
            TransferRequest.status == TransferStatus.PENDING)) is not None:
        raise Conflict(_("Your organisation has already asked for this member; the request "
                         "is waiting for an answer."), "nik")
    return NikHolder(check.nik, nik_rules.mask(check.nik), digest, entry)


def request_by_nik(actor, partner: Partner, nik: str | None, reason: str = "") -> TransferRequest:
    """Ask for the transfer of the member with this NIK to `partner`. The request goes to
    the partner that holds the NIK; the requester is not told which one."""
    holder = check_nik(actor, partner, nik)
    reason = _reason(reason)
    entry = holder.entry
    req = TransferRequest(
        from_partner_id=entry.partner_id, to_partner_id=partner.id,
        initiated_by_partner_id=partner.id, nik_digest=holder.digest, nik_masked=holder.masked,
        reason=reason, created_by_id=getattr(actor, "id", None),
        members=[TransferRequestMember(member_id=entry.member_id,
                                       member_number=entry.member_number)])
    db.session.add(req)
    db.session.flush()
    # The requester's trail: what it asked for. The holder's: who asked, for which member.
    record(actor, "transfer_request.request", req, partner_id=partner.id,
           after={"kind": "request", "to": partner.id, "nik": holder.masked, "reason": reason})
    record(actor, "transfer_request.request", req, partner_id=entry.partner_id,
           after={"kind": "request", "from": entry.partner_id, "to": partner.id,
                  "members": [entry.member_number], "nik": holder.masked, "reason": reason})
    holder_partner = db.session.get(Partner, entry.partner_id)
    _tell_admins(holder_partner, req,
                 _("Bungkesmas: %(partner)s asks for the transfer of a member",
                   partner=partner.name),
                 _("%(partner)s asks for the transfer of the member with NIK %(nik)s, "
                   "registered with %(holder)s.", partner=partner.name, nik=holder.masked,
                   holder=holder_partner.name))
    return req


# --- finding --------------------------------------------------------------------------------


def _of(partner: Partner):
    """A select of the requests `partner` is a party to — the only way in."""
    return select(TransferRequest).where(or_(TransferRequest.from_partner_id == partner.id,
                                             TransferRequest.to_partner_id == partner.id))


def get(partner: Partner, transfer_id: uuid.UUID) -> TransferRequest:
    """One of the partner's requests (incoming or outgoing); LookupError otherwise."""
    req = db.session.scalar(_of(partner).where(TransferRequest.id == transfer_id))
    if req is None:
        raise LookupError(transfer_id)
    return req


def incoming(partner: Partner) -> list[TransferRequest]:
    """Requests and offers other partners sent to `partner`, pending first, newest first."""
    return _listed(_of(partner).where(TransferRequest.initiated_by_partner_id != partner.id))


def outgoing(partner: Partner) -> list[TransferRequest]:
    return _listed(_of(partner).where(TransferRequest.initiated_by_partner_id == partner.id))


def pending_incoming_count(partner: Partner) -> int:
    """How many requests wait for `partner`'s answer."""
    waiting = _of(partner).where(TransferRequest.initiated_by_partner_id != partner.id,
                                 TransferRequest.status == TransferStatus.PENDING)
    return db.session.scalar(select(func.count()).select_from(waiting.subquery())) or 0


def _listed(stmt) -> list[TransferRequest]:
    pending_first = (TransferRequest.status != TransferStatus.PENDING)
    return list(db.session.scalars(stmt.order_by(pending_first, TransferRequest.created_at.desc(),
                                                 TransferRequest.id.desc()).limit(200)))


# --- what a party may see of a request ------------------------------------------------------


@dataclass(frozen=True)
class MemberLine:
    member_number: str
    full_name: str | None = None
    nik_masked: str | None = None
    group_name: str | None = None


@dataclass(frozen=True)
class RequestView:
    request: TransferRequest
    incoming: bool          # the partner is the one who accepts or declines
    counterpart: Partner | None  # None: a request by NIK whose holder is not revealed
    holder_hidden: bool
    lines: list[MemberLine]
    group_name: str | None
    stale: bool             # pending, but the members moved or changed meanwhile


def view(partner: Partner, req: TransferRequest) -> RequestView:
    """What `partner` (a party to `req`) may see of it.

    The holder sees its own members (while it holds them). The receiver of an offer sees
    the offered members' names, numbers, group and masked NIK while the offer is pending,
    and its own members once accepted. The requester of a request by NIK sees nothing of
    the holder or the member until the holder accepts."""
    is_holder = req.from_partner_id == partner.id
    other = counterpart(partner, req)
    holder_hidden = other is None
    lines: list[MemberLine] = []
    group_name = None
    if not holder_hidden:
        ids = [m.member_id for m in req.members]
        if is_holder or req.status == TransferStatus.ACCEPTED:
            found, group = _members_in_scope(ids, req.group_id)  # its own data
        elif req.is_pending:
            # The receiver of a pending offer: the holder's members, by the offer's ids.
            with tenancy.everything():
                found, group = _members_in_scope(ids, req.group_id, req.from_partner_id)
        else:
            found, group = {}, None
        group_name = group.name if group is not None else None
        for m in req.members:
            member = found.get(m.member_id)
            lines.append(MemberLine(m.member_number) if member is None else MemberLine(
                member.member_number, member.full_name, member.nik_masked,
                member.group.name if member.group else None))
    return RequestView(req, incoming=not req.initiator_is(partner.id), counterpart=other,
                       holder_hidden=holder_hidden, lines=lines, group_name=group_name,
                       stale=req.is_pending and _stale(req))


def counterpart(partner: Partner, req: TransferRequest) -> Partner | None:
    """The other party — or None for the requester of a request by NIK that the holder has
    not accepted: the holder stays anonymous until then."""
    if req.from_partner_id == partner.id:
        return db.session.get(Partner, req.to_partner_id)
    if not req.is_offer and req.status != TransferStatus.ACCEPTED:
        return None
    return db.session.get(Partner, req.from_partner_id)


def _members_in_scope(ids, group_id, tenant_id: int | None = None):
    stmt = select(Member).where(Member.id.in_(ids))
    if tenant_id is not None:
        stmt = stmt.where(Member.tenant_id == tenant_id)
    found = {m.id: m for m in db.session.scalars(stmt)}
    group = None
    if group_id is not None:
        gstmt = select(Group).where(Group.id == group_id)
        if tenant_id is not None:
            gstmt = gstmt.where(Group.tenant_id == tenant_id)
        group = db.session.scalar(gstmt)
    return found, group


def _stale(req: TransferRequest) -> bool:
    """Whether the members (or the group) are no longer exactly as when the request was
    made: moved to another partner, or the group gained or lost members."""
    ids = {m.member_id for m in req.members}
    with tenancy.everything():
        if req.group_id is not None:
            group_tenant = db.session.scalar(select(Group.tenant_id).where(Group.id == req.group_id))
            if group_tenant != req.from_partner_id:
                return True
            now = set(db.session.scalars(select(Member.id).where(
                Member.tenant_id == req.from_partner_id, Member.group_id == req.group_id)))
            return now != ids
        held = set(db.session.scalars(select(Member.id).where(
            Member.tenant_id == req.from_partner_id, Member.id.in_(ids))))
        return held != ids


# --- deciding -------------------------------------------------------------------------------


def _decide(actor, partner: Partner, transfer_id: uuid.UUID, status: TransferStatus,
            reason: str = "") -> TransferRequest:
    """Mark a pending request decided, once: a conditional UPDATE, so that of two
    concurrent decisions exactly one wins."""
    result = db.session.execute(
        update(TransferRequest).where(TransferRequest.id == transfer_id,
                                      TransferRequest.status == TransferStatus.PENDING)
        .values(status=status, decided_at=utcnow(), decided_by_id=getattr(actor, "id", None),
                decision_reason=reason), execution_options={"synchronize_session": False})
    if result.rowcount != 1:
        raise Conflict(_("This request has already been decided or withdrawn."))
    req = get(partner, transfer_id)
    db.session.refresh(req)
    return req


def _pending(actor, partner: Partner, transfer_id: uuid.UUID, *, deciding: bool) -> TransferRequest:
    _require(actor, partner)
    req = get(partner, transfer_id)
    if deciding and req.initiator_is(partner.id):
        raise NotAllowed(_("Only the other partner can accept or decline this request."))
    if not deciding and not req.initiator_is(partner.id):
        raise NotAllowed(_("Only the partner that made this request can withdraw it."))
    if not req.is_pending:
        raise Conflict(_("This request has already been decided or withdrawn."))
    return req


def accept(actor, partner: Partner, transfer_id: uuid.UUID) -> TransferRequest:
    """Accept a pending offer or request: the members move to the receiving partner with
    their enrollments, numbers and history, in this transaction."""
    req = _pending(actor, partner, transfer_id, deciding=True)
    source, target = db.session.get(Partner, req.from_partner_id), db.session.get(
        Partner, req.to_partner_id)
    for side in (source, target):
        if side.status != PartnerStatus.APPROVED:
            raise DomainError(_("%(name)s is not active; its data is read-only.", name=side.name))
    if _stale(req):
        raise Conflict(members._moved_meanwhile_message())
    req = _decide(actor, partner, transfer_id, TransferStatus.ACCEPTED)
    ids = [m.member_id for m in req.members]
    count = members.move_members(
        actor, [] if req.group_id else ids, target, group_id=req.group_id, source_id=source.id,
        request_id=req.id, reason=req.reason)
    numbers = sorted(m.member_number for m in req.members)
    for partner_id in (source.id, target.id):
        record(actor, "transfer_request.accept", req, partner_id=partner_id,
               after={"from": source.id, "to": target.id, "members": numbers,
                      "group": str(req.group_id) if req.group_id else None})
    initiator = target if not req.is_offer else source
    other = source if initiator is target else target
    _tell_admins(initiator, req, _("Bungkesmas: %(partner)s accepted the transfer",
                                   partner=other.name),
                 _("%(partner)s accepted: %(count)d member(s) moved from %(source)s to "
                   "%(target)s with their member numbers: %(numbers)s.", partner=other.name,
                   count=count, source=source.name, target=target.name,
                   numbers=", ".join(numbers)))
    return req


def decline(actor, partner: Partner, transfer_id: uuid.UUID, reason: str) -> TransferRequest:
    """Decline a pending offer or request, with a reason the other partner reads."""
    req = _pending(actor, partner, transfer_id, deciding=True)
    reason = _reason(reason)
    if not reason:
        raise DomainError(_("Give a reason."), "reason")
    req = _decide(actor, partner, transfer_id, TransferStatus.DECLINED, reason)
    initiator_id = req.initiated_by_partner_id
    record(actor, "transfer_request.decline", req, partner_id=partner.id,
           after={"reason": reason})
    if req.is_offer:
        record(actor, "transfer_request.decline", req, partner_id=initiator_id,
               after={"reason": reason})
        subject = _("Bungkesmas: %(partner)s declined the transfer", partner=partner.name)
        body = _("%(partner)s declined the transfer. Reason: %(reason)s",
                 partner=partner.name, reason=reason)
    else:
        # A request by NIK: the requester learns the answer, not who gave it (nor from
        # which address).
        event = record(None, "transfer_request.decline", req, partner_id=initiator_id,
                       actor_label=ANONYMOUS_HOLDER,
                       after={"nik": req.nik_masked, "reason": reason})
        event.ip_address = None
        subject = _("Bungkesmas: your transfer request was declined")
        body = _("Your request for the member with NIK %(nik)s was declined. Reason: %(reason)s",
                 nik=req.nik_masked, reason=reason)
    _tell_admins(db.session.get(Partner, initiator_id), req, subject, body)
    return req


def cancel(actor, partner: Partner, transfer_id: uuid.UUID) -> TransferRequest:
    """Withdraw one's own pending offer or request."""
    _pending(actor, partner, transfer_id, deciding=False)
    req = _decide(actor, partner, transfer_id, TransferStatus.CANCELLED)
    other_id = req.from_partner_id if req.to_partner_id == partner.id else req.to_partner_id
    for partner_id in (partner.id, other_id):
        record(actor, "transfer_request.cancel", req, partner_id=partner_id)
    _tell_admins(db.session.get(Partner, other_id), req,
                 _("Bungkesmas: %(partner)s withdrew a transfer request", partner=partner.name),
                 _("%(partner)s withdrew its transfer request; nothing needs to be done.",
                   partner=partner.name))
    return req


# --- telling the other partner --------------------------------------------------------------


def admin_emails(partner: Partner) -> list[str]:
    """The e-mail addresses of the partner's active admins."""
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        return list(db.session.scalars(
            select(User.email).join(PartnerStaff, PartnerStaff.user_id == User.id).where(
                PartnerStaff.tenant_id == partner.id, PartnerStaff.active,
                PartnerStaff.role == Role.PARTNER_ADMIN, User.active).order_by(User.email)))


def request_link(partner: Partner, req: TransferRequest) -> str:
    if has_request_context():
        return url_for("tenants.transfer_detail", slug=partner.slug, transfer_id=req.id,
                       _external=True)
    return (f"{current_app.config['BASE_URL'].rstrip('/')}/p/{partner.slug}/pindah/{req.id}")


def _tell_admins(partner: Partner, req: TransferRequest, subject: str, message: str) -> None:
    body = _("%(message)s\n\nOpen the transfer request:\n%(link)s\n\nBungkesmas team\n",
             message=message, link=request_link(partner, req))
    for email in admin_emails(partner):
        mailer().send(email, subject, body, partner_id=partner.id)
