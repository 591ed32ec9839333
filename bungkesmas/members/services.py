"""Registering, finding, enrolling and transferring members; groups.

Plain functions: they take the actor and the partner, validate, write, audit and flush."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from text_unidecode import unidecode

from bungkesmas import tenancy
from bungkesmas.audit.services import record
from bungkesmas.errors import Conflict, DomainError
from bungkesmas.extensions import db
from bungkesmas.forms import normalise_phone
from bungkesmas.members import nik as nik_rules
from bungkesmas.members import numbers
from bungkesmas.members.models import (
    Enrollment,
    EnrollmentStatus,
    Group,
    Member,
    MemberRegistry,
    Sex,
)
from bungkesmas.partners.models import Partner, PartnerStatus
from bungkesmas.products.models import PartnerProduct, Product, ProductVersion
from bungkesmas.regions import region_name
from bungkesmas.timeutil import utcnow

MEMBER_FIELDS = (
    "full_name", "birth_date", "sex", "phone", "address", "province_code", "regency_code",
    "district_code", "village_code", "group_id", "beneficiary_name", "beneficiary_relation",
    "beneficiary_phone",
)


class NikNeedsConfirmation(DomainError):
    """The NIK disagrees with the birth date or sex: the officer must confirm."""


# ASCII bytes: a-z, 0-9 and space kept, everything else a space.
_NAME_KEY_BYTES = bytes(c if chr(c).isascii() and (chr(c).islower() or chr(c).isdigit()
                                                    or c == 32) else 32 for c in range(256))


def name_key(name: str) -> str:
    """Lower-case, accents folded, punctuation dropped: the key for prefix search."""
    name = name or ""
    folded = (name if name.isascii() else unidecode(name)).lower()
    # unidecode gives ASCII: a byte table replaces the punctuation, split() the runs.
    return " ".join(folded.encode("ascii", "replace").translate(_NAME_KEY_BYTES)
                    .decode("ascii").split())


# --- registration ----------------------------------------------------------------------


def register(actor, partner: Partner, data: dict, *, member_id: uuid.UUID | None = None) -> Member:
    """Register a person as a member of `partner`; returns the member with its number.

    `data` holds the MEMBER_FIELDS plus nik, kk, consent (bool) and confirm_nik (bool).
    `member_id` is a client-generated id (offline sync): the member gets it as its id."""
    _require_active(partner)
    values = _validate(partner, data)
    check = nik_rules.check(data.get("nik"), values["birth_date"], values["sex"])
    if check.error:
        raise DomainError(check.error, "nik")
    if check.warning and not data.get("confirm_nik"):
        raise NikNeedsConfirmation(check.warning, "nik")
    if not data.get("consent"):
        raise DomainError(_("Record the member's consent to data processing."), "consent")
    digest = nik_rules.digest(check.nik)
    hosted_for_id = _hosted_for(partner, data.get("hosted_for_id"))
    _refuse_known_nik(partner, digest)
    now = utcnow()
    member = Member(
        id=member_id or tenancy.new_id(),
        tenant_id=partner.id, member_number=numbers.next_member_number(partner.id),
        name_key=name_key(values["full_name"]), nik_digest=digest,
        nik_encrypted=nik_rules.encrypt(check.nik), nik_masked=nik_rules.mask(check.nik),
        nik_mismatch_confirmed=bool(check.warning),
        consent_at=now, consent_version=current_app.config["CONSENT_VERSION"],
        consent_by_id=getattr(actor, "id", None), created_by_id=getattr(actor, "id", None),
        hosted_for_id=hosted_for_id, **values)
    _set_kk(member, data.get("kk"))
    db.session.add(member)
    try:
        with db.session.begin_nested():
            db.session.flush()
            db.session.add(MemberRegistry(member_number=member.member_number, nik_digest=digest,
                                          partner_id=partner.id, member_id=member.id))
            db.session.flush()
    except IntegrityError:
        # Another enrollment of the same NIK won the race: same answer as the check above.
        raise NikHeldElsewhere(_known_nik_message(), "nik") from None
    record(actor, "member.register", member, partner_id=partner.id,
           after={**_audit_view(member), "nik_mismatch_confirmed": member.nik_mismatch_confirmed,
                  "hosted_for_id": hosted_for_id})
    return member


def _hosted_for(partner: Partner, value) -> int | None:
    """The partner a member is registered for on its behalf: one `partner` hosts."""
    if value in (None, "", 0):
        return None
    with tenancy.everything():
        hosted = db.session.get(Partner, value) if isinstance(value, int) and not isinstance(
            value, bool) and 0 < value < 2**31 else None
    if hosted is None or hosted.hosting_partner_id != partner.id:
        raise DomainError(_("Choose a partner your organisation hosts members for."),
                          "hosted_for_id")
    return hosted.id


class NikHeldElsewhere(Conflict):
    """The NIK belongs to a member of another partner (which one is not said): the way
    forward is a transfer request (`transfers.services.request_by_nik`)."""


def _known_nik_message() -> str:
    return _("This NIK is already registered with Bungkesmas through another partner. One "
             "person can be a member only once: your organisation's admin can request a "
             "transfer of the member.")


def _refuse_known_nik(partner: Partner, digest: str, member_id: uuid.UUID | None = None) -> None:
    with tenancy.everything():
        entry = db.session.scalar(select(MemberRegistry).where(MemberRegistry.nik_digest == digest))
    if entry is None or entry.member_id == member_id:
        return
    if entry.partner_id == partner.id:
        raise Conflict(_("This NIK is already registered here as member %(number)s.",
                         number=entry.member_number), "nik")
    raise NikHeldElsewhere(_known_nik_message(), "nik")


def _validate(partner: Partner, data: dict) -> dict:
    values = {k: data.get(k) for k in MEMBER_FIELDS}
    values["full_name"] = (values["full_name"] or "").strip()
    if not 2 <= len(values["full_name"]) <= 200:
        raise DomainError(_("Enter the full name as on the ID card."), "full_name")
    birth = values["birth_date"]
    if not isinstance(birth, date):
        raise DomainError(_("Enter the birth date."), "birth_date")
    today = date.today()
    if birth > today or birth.year < today.year - 120:
        raise DomainError(_("Enter a real birth date."), "birth_date")
    try:
        values["sex"] = Sex(values["sex"])
    except ValueError:
        raise DomainError(_("Choose the sex."), "sex") from None
    for field in ("phone", "beneficiary_phone"):
        if values[field]:
            phone = normalise_phone(values[field])
            if phone is None:
                raise DomainError(_("Enter an Indonesian phone number, e.g. 0812 3456 7890."),
                                  field)
            values[field] = phone
        else:
            values[field] = None
    _validate_region(values)
    for field, most in (("address", 500), ("beneficiary_name", 200), ("beneficiary_relation", 60)):
        values[field] = (values[field] or "").strip()
        if len(values[field]) > most:
            raise DomainError(_("Use at most %(max)d characters.", max=most), field)
    if values["group_id"]:
        group = db.session.scalar(select(Group).where(Group.tenant_id == partner.id,
                                                      Group.id == values["group_id"]))
        if group is None:
            raise DomainError(_("Choose a group from the list."), "group_id")
    else:
        values["group_id"] = None
    return values


def _validate_region(values: dict) -> None:
    """Region codes are optional but must be official and nested (village in district…)."""
    chain = ("province_code", "regency_code", "district_code", "village_code")
    lengths = {"province_code": 2, "regency_code": 4, "district_code": 6, "village_code": 10}
    parent = ""
    for field in chain:
        code = (values.get(field) or "").strip() or None
        values[field] = code
        if code is None:
            continue
        if (len(code) != lengths[field] or not code.startswith(parent) or not code.isdigit()
                or region_name(code) in ("", code)):
            raise DomainError(_("Choose a region from the list."), field)
        parent = code


def _set_kk(member: Member, kk: str | None) -> None:
    kk = nik_rules.clean(kk)
    if not kk:
        member.kk_encrypted = member.kk_masked = None
        return
    if not kk.isdigit() or len(kk) != 16:
        raise DomainError(_("A family card number has exactly 16 digits."), "kk")
    member.kk_encrypted = nik_rules.encrypt(kk)
    member.kk_masked = nik_rules.mask(kk)


def _require_active(partner: Partner) -> None:
    if partner.status != PartnerStatus.APPROVED:
        raise DomainError(_("%(name)s is not active; its data is read-only.", name=partner.name))


def _audit_view(member: Member) -> dict:
    """What the audit log may hold of a member: never the NIK or KK themselves."""
    out = {k: getattr(member, k) for k in MEMBER_FIELDS}
    out = {k: (str(v) if v is not None and not isinstance(v, (str, int, bool)) else v)
           for k, v in out.items()}
    out["nik"] = member.nik_masked
    out["kk"] = member.kk_masked
    return out


def update_member(actor, partner: Partner, member: Member, data: dict) -> Member:
    """Change a member's profile; the audit trail records what changed (NIK masked)."""
    _require_active(partner)
    before = _audit_view(member)
    values = _validate(partner, {**{k: getattr(member, k) for k in MEMBER_FIELDS}, **data})
    new_nik = data.get("nik")
    if new_nik is not None and nik_rules.clean(new_nik):
        check = nik_rules.check(new_nik, values["birth_date"], values["sex"])
        if check.error:
            raise DomainError(check.error, "nik")
        digest = nik_rules.digest(check.nik)
        if digest != member.nik_digest:
            if check.warning and not data.get("confirm_nik"):
                raise NikNeedsConfirmation(check.warning, "nik")
            _refuse_known_nik(partner, digest, member.id)
            member.nik_digest, member.nik_masked = digest, nik_rules.mask(check.nik)
            member.nik_encrypted = nik_rules.encrypt(check.nik)
            member.nik_mismatch_confirmed = bool(check.warning)
            with tenancy.everything():
                db.session.execute(update(MemberRegistry).where(
                    MemberRegistry.member_id == member.id).values(nik_digest=digest))
    if "kk" in data:
        _set_kk(member, data.get("kk"))
    for key, value in values.items():
        setattr(member, key, value)
    member.name_key = name_key(member.full_name)
    after = _audit_view(member)
    changed = {k for k in after if after[k] != before[k]}
    if changed:
        db.session.flush()
        record(actor, "member.update", member, partner_id=partner.id,
               before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    return member


def reveal_nik(actor, partner: Partner, member: Member) -> str:
    """The full NIK, for someone allowed to see it; every reveal is audited."""
    record(actor, "member.reveal_nik", member, partner_id=partner.id)
    db.session.flush()
    return nik_rules.decrypt(member.nik_encrypted)


# --- finding ---------------------------------------------------------------------------


def name_prefix(key: str) -> tuple:
    """Conditions for "name_key starts with key" as a range (key <= name_key < key's
    successor), which both databases answer from the (tenant_id, name_key) index; LIKE
    could only on a "C"-collated PostgreSQL column and never on SQLite, whose LIKE ignores
    case. Keys hold only a-z, 0-9 and single spaces (name_key), so the successor is the
    key with its last character incremented."""
    if not key:
        return ()
    return (Member.name_key >= key, Member.name_key < key[:-1] + chr(ord(key[-1]) + 1))


@dataclass(frozen=True)
class MemberFilter:
    q: str = ""
    group_id: uuid.UUID | None = None
    village_code: str | None = None
    status: str | None = None


def search(partner: Partner, f: MemberFilter):
    """A select of the partner's members (the session scope adds its children) matching
    the filter: member number, exact NIK, phone, or a name prefix."""
    stmt = select(Member).order_by(Member.name_key, Member.id)
    q = (f.q or "").strip()
    if q:
        cleaned = nik_rules.clean(q)
        number, phone = numbers.normalise(q), normalise_phone(q)
        if cleaned.isdigit() and len(cleaned) == 16:
            stmt = stmt.where(Member.nik_digest == nik_rules.digest(cleaned))
        elif number and phone and cleaned.lstrip("+").isdigit():
            # 11 or 12 digits can be both a member number (its check digit fits) and a
            # phone number: look for either.
            stmt = stmt.where(or_(Member.member_number == number, Member.phone == phone))
        elif number:
            stmt = stmt.where(Member.member_number == number)
        elif phone and cleaned.lstrip("+").isdigit():
            stmt = stmt.where(Member.phone == phone)
        else:
            stmt = stmt.where(*name_prefix(name_key(q)))
    if f.group_id:
        stmt = stmt.where(Member.group_id == f.group_id)
    if f.village_code:
        stmt = stmt.where(Member.village_code == f.village_code)
    if f.status == "not_enrolled":
        stmt = stmt.where(~select(Enrollment.id).where(
            Enrollment.tenant_id == Member.tenant_id, Enrollment.member_id == Member.id)
            .exists())
    elif f.status:
        # Today's coverage status, from the enrollments' coverage snapshot.
        from bungkesmas.contributions.services import status_expression
        from bungkesmas.timeutil import local_today

        stmt = stmt.where(select(Enrollment.id).where(
            Enrollment.tenant_id == Member.tenant_id, Enrollment.member_id == Member.id,
            status_expression(local_today()) == f.status).exists())
    return stmt


def count_members() -> int:
    """How many members the session's scope holds (the partner and its children)."""
    return db.session.scalar(select(func.count()).select_from(Member)) or 0


def by_number(number: str, *, with_enrollments: bool = False) -> Member | None:
    """A member of the current scope by member number (None if not visible);
    `with_enrollments` loads the member's enrollments in the same query."""
    canonical = numbers.normalise(number)
    if not canonical:
        return None
    if with_enrollments:
        return db.session.scalars(_BY_NUMBER_WITH_ENROLLMENTS,
                                  {"number": canonical}).unique().one_or_none()
    return db.session.scalar(_BY_NUMBER, {"number": canonical})


_BY_NUMBER = select(Member).where(Member.member_number == bindparam("number"))
_BY_NUMBER_WITH_ENROLLMENTS = _BY_NUMBER.options(joinedload(Member.enrollments))


# --- enrollment ------------------------------------------------------------------------


def offered_products(partner: Partner) -> list[Product]:
    return list(db.session.scalars(
        select(Product).join(PartnerProduct, PartnerProduct.product_id == Product.id)
        .where(PartnerProduct.partner_id == partner.id, Product.active).order_by(Product.name)))


def enroll(actor, partner: Partner, member: Member, product_id: int) -> Enrollment:
    """Enroll a member in the current version of a product the partner offers."""
    _require_active(partner)
    product = next((p for p in offered_products(partner) if p.id == product_id), None)
    if product is None:
        raise DomainError(_("Choose a product your organisation offers."), "product_id")
    from bungkesmas.mous.services import enrollment_problem

    enrolled = db.session.scalar(select(Enrollment.id).where(
        Enrollment.tenant_id == member.tenant_id, Enrollment.member_id == member.id,
        Enrollment.status != EnrollmentStatus.CANCELLED).limit(1)) is not None
    problem = enrollment_problem(partner, product.id, hosted_for_id=member.hosted_for_id,
                                 member_enrolled=enrolled)
    if problem:
        raise DomainError(problem, "product_id")
    version = product.current
    age = _age(member.birth_date, date.today())
    if not version.min_age <= age <= version.max_age:
        raise DomainError(_("%(product)s is for ages %(min)d to %(max)d; this member is %(age)d.",
                            product=product.name, min=version.min_age, max=version.max_age,
                            age=age), "product_id")
    open_ = db.session.scalar(select(Enrollment.id).join(
        ProductVersion, ProductVersion.id == Enrollment.product_version_id).where(
        Enrollment.tenant_id == member.tenant_id, Enrollment.member_id == member.id,
        ProductVersion.product_id == product.id,
        Enrollment.status != EnrollmentStatus.CANCELLED))
    if open_ is not None:
        raise Conflict(_("This member is already enrolled in %(product)s.", product=product.name),
                       "product_id")
    enrollment = Enrollment(tenant_id=member.tenant_id, member_id=member.id,
                            product_version_id=version.id, enrolled_by_id=getattr(actor, "id", None))
    db.session.add(enrollment)
    db.session.flush()
    record(actor, "enrollment.create", enrollment, partner_id=member.tenant_id,
           after={"member": member.member_number, "product": product.code,
                  "version": version.version, "status": str(enrollment.status)})
    return enrollment


CANCEL_REASON_MAX = 500


def cancel_enrollment(actor, partner: Partner, member: Member, enrollment_id: uuid.UUID,
                      reason: str) -> Enrollment:
    """End a member's enrollment (the member leaves the programme, died, was enrolled by
    mistake…): its status becomes cancelled from now, no contribution can be recorded
    for it any more, and the money already recorded stays in the ledger as it is (a
    refund would be a reversal). When no open enrollment is left, the membership has
    ended and the member's printed cards stop working (`selfservice.check_card`).
    Audited with the reason."""
    _require_active(partner)
    if member.tenant_id != partner.id:
        raise LookupError(member.id)
    reason = " ".join((reason or "").split())
    if not reason:
        raise DomainError(_("Say why the enrollment is cancelled."), "reason")
    if len(reason) > CANCEL_REASON_MAX:
        raise DomainError(_("Use at most %(max)d characters.", max=CANCEL_REASON_MAX),
                          "reason")
    # Row locks (PostgreSQL): a contribution being recorded for this enrollment finishes
    # first, or waits and then finds it cancelled (`contributions.services._require_open`).
    lock = db.session.get_bind().dialect.name != "sqlite"
    query = select(Enrollment).where(Enrollment.tenant_id == member.tenant_id,
                                     Enrollment.member_id == member.id)
    if lock:
        query = query.with_for_update(of=Enrollment)
    enrollments = list(db.session.scalars(query.execution_options(populate_existing=True)))
    enrollment = next((e for e in enrollments if e.id == enrollment_id), None)
    if enrollment is None:
        raise LookupError(enrollment_id)
    if enrollment.status == EnrollmentStatus.CANCELLED:
        raise Conflict(_("This enrollment is already cancelled."))
    before_status = str(enrollment.status)
    enrollment.status = EnrollmentStatus.CANCELLED
    enrollment.cancelled_at = utcnow()
    revoke = all(e.status == EnrollmentStatus.CANCELLED for e in enrollments)
    db.session.flush()
    record(actor, "enrollment.cancel", enrollment, partner_id=partner.id,
           before={"status": before_status},
           after={"member": member.member_number,
                  "product": enrollment.product_version.product.code,
                  "status": str(EnrollmentStatus.CANCELLED),
                  "cancelled_at": enrollment.cancelled_at.isoformat(), "reason": reason,
                  "cards_revoked": revoke})
    if revoke:  # the membership has ended
        from bungkesmas.selfservice.services import invalidate_cards

        invalidate_cards(actor, member)
    db.session.flush()
    return enrollment


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


# --- groups ----------------------------------------------------------------------------


def create_group(actor, partner: Partner, name: str, village_code: str | None = None,
                 meeting_day: str | None = None) -> Group:
    _require_active(partner)
    name = (name or "").strip()
    if not 2 <= len(name) <= 120:
        raise DomainError(_("Give the group a name of 2 to 120 characters."), "name")
    if db.session.scalar(select(Group.id).where(Group.tenant_id == partner.id,
                                                func.lower(Group.name) == name.lower())):
        raise Conflict(_("There is already a group with this name."), "name")
    if village_code:
        values = {"village_code": village_code}
        if len(village_code) != 10 or region_name(village_code) in ("", village_code):
            raise DomainError(_("Choose a region from the list."), "village_code")
        village_code = values["village_code"]
    group = Group(tenant_id=partner.id, name=name, village_code=village_code or None,
                  meeting_day=(meeting_day or "").strip()[:60] or None)
    db.session.add(group)
    db.session.flush()
    record(actor, "group.create", group, partner_id=partner.id,
           after={"name": name, "village_code": group.village_code})
    return group


def set_coordinator(actor, partner: Partner, group: Group, member: Member | None) -> Group:
    """Make `member` (one of the group's members) its coordinator, or clear it."""
    _require_active(partner)
    if member is not None and member.group_id != group.id:
        raise DomainError(_("The coordinator must be a member of the group."), "coordinator")
    db.session.execute(update(Member).where(Member.tenant_id == group.tenant_id,
                                            Member.group_id == group.id,
                                            Member.is_coordinator).values(is_coordinator=False))
    if member is not None:
        member.is_coordinator = True
    db.session.flush()
    record(actor, "group.set_coordinator", group, partner_id=partner.id,
           after={"coordinator": member.member_number if member else None})
    return group


def groups_with_counts(partner: Partner):
    """(group, members, enrolled members) for the partner's groups."""
    members = func.count(func.distinct(Member.id))
    enrolled = func.count(func.distinct(Enrollment.member_id))
    stmt = (select(Group, members, enrolled)
            .outerjoin(Member, (Member.tenant_id == Group.tenant_id) & (Member.group_id == Group.id))
            .outerjoin(Enrollment, (Enrollment.tenant_id == Member.tenant_id)
                       & (Enrollment.member_id == Member.id)
                       & (Enrollment.status != EnrollmentStatus.CANCELLED))
            .group_by(Group.tenant_id, Group.id).order_by(Group.name))
    return db.session.execute(stmt).all()


# --- transfer ---------------------------------------------------------------------------


def transfer(actor, member_ids: list[uuid.UUID], target: Partner, *, group_id: uuid.UUID | None = None,
             reason: str = "") -> int:
    """Provider staff move members — or a whole group — to `target` (see `move_members`).
    Returns the count."""
    from bungkesmas.auth.permissions import Permission
    from bungkesmas.partners.services import require

    require(actor, Permission.MEMBERS_TRANSFER)
    return move_members(actor, member_ids, target, group_id=group_id, reason=reason)


def move_members(actor, member_ids: list[uuid.UUID], target: Partner, *,
                 group_id: uuid.UUID | None = None, reason: str = "", source_id: int | None = None,
                 request_id: uuid.UUID | None = None) -> int:
    """Move members — or a whole group with its members — to `target`, with their
    enrollments (and, later, contributions and claims): the rows change tenant, member
    numbers stay. Both partners get the event in their audit trail. Returns the count.

    The one transfer function of both paths — the provider's (`transfer`) and the two
    partner admins' (`transfers.services.accept`); each path checks its own permission
    before calling it. `source_id`, when given, is the partner every moved row must
    still belong to; `request_id` links the audit events to the agreed request."""
    if target.status != PartnerStatus.APPROVED:
        raise DomainError(_("Choose an active partner to transfer to."), "target")
    with tenancy.everything():
        if group_id is not None:
            group = db.session.scalar(select(Group).where(Group.id == group_id))
            if group is None:
                raise LookupError(group_id)
            if group.tenant_id == target.id:
                raise DomainError(_("The group already belongs to this partner."), "target")
            if source_id is not None and group.tenant_id != source_id:
                raise Conflict(_moved_meanwhile_message())
            if db.session.scalar(select(Group.id).where(Group.tenant_id == target.id,
                                                        Group.name == group.name)):
                raise Conflict(_("%(partner)s already has a group with this name.",
                                 partner=target.name), "target")
            moving = list(db.session.scalars(select(Member).where(
                Member.tenant_id == group.tenant_id, Member.group_id == group.id)))
            sources = {group.tenant_id}
        else:
            moving = list(db.session.scalars(select(Member).where(Member.id.in_(member_ids))))
            if not moving or len(moving) != len(set(member_ids)):
                raise LookupError(member_ids)
            if any(m.tenant_id == target.id for m in moving):
                raise DomainError(_("A chosen member already belongs to this partner."), "target")
            if source_id is not None and any(m.tenant_id != source_id for m in moving):
                raise Conflict(_moved_meanwhile_message())
            sources = {m.tenant_id for m in moving}
        ids = [m.id for m in moving]
        numbers_moved = sorted(m.member_number for m in moving)
        keys = [(m.tenant_id, m.id) for m in moving]
        # The rows change primary key: keep the session's copies out of the way.
        for obj in [*moving, *([group] if group_id is not None else [])]:
            db.session.expunge(obj)
        plain = {"synchronize_session": False}
        # Each UPDATE names the tenant the row was read in: a row that a concurrent
        # transfer moved meanwhile is not matched, and the whole transfer is refused.
        moved = 0
        if group_id is not None:
            # One UPDATE: the foreign keys cascade the new tenant to the group's members
            # and from them to their enrollments.
            moved = db.session.execute(update(Group).where(
                Group.tenant_id == group.tenant_id, Group.id == group_id)
                .values(tenant_id=target.id), execution_options=plain).rowcount
            expected = 1
        else:
            for tenant_id, member_id in keys:
                moved += db.session.execute(update(Member).where(
                    Member.tenant_id == tenant_id, Member.id == member_id)
                    .values(tenant_id=target.id, group_id=None, is_coordinator=False),
                    execution_options=plain).rowcount
            expected = len(keys)
        if moved != expected:
            raise Conflict(_("These members changed while they were being moved; nothing was "
                             "moved. Reload the page and try again."))
        if ids:
            db.session.execute(update(MemberRegistry).where(MemberRegistry.member_id.in_(ids))
                               .values(partner_id=target.id), execution_options=plain)
            # Cards printed by the old partner stop working (their QR token names the
            # card version): the new partner prints new ones.
            db.session.execute(update(Member).where(Member.tenant_id == target.id,
                                                    Member.id.in_(ids))
                               .values(card_version=Member.card_version + 1),
                               execution_options=plain)
            # Members hosted for the target are now its own.
            db.session.execute(update(Member).where(Member.tenant_id == target.id,
                                                    Member.id.in_(ids),
                                                    Member.hosted_for_id == target.id)
                               .values(hosted_for_id=None), execution_options=plain)
        extra = {"request": str(request_id)} if request_id is not None else {}
        for partner_id in sorted(sources | {target.id}):
            record(actor, "member.transfer", target, partner_id=partner_id,
                   after={"to": target.id, "from": sorted(sources), "members": numbers_moved,
                          "group": str(group_id) if group_id else None, "reason": reason,
                          **extra})
        db.session.flush()
    return len(ids)


def _moved_meanwhile_message() -> str:
    return _("Some of these members have moved to another partner or changed since the "
             "request was made, so it can no longer be accepted. Decline it and make a new one.")
