"""The MOU lifecycle, its effects and its expiry: plain functions that check permissions,
validate, write, audit and flush.

    draft --send--> sent --sign--> partner_signed --countersign--> active
      ^              |                                               |-- end passed --> expired
      +--request_changes                                             |-- its renewal starts --> superseded
    draft/sent/partner_signed/active --terminate (reason)--> terminated
    active/expired --renew--> a new draft: same number, next version, linked to the old

Provider functions work across tenants (`tenancy.everything()`); partner functions take
the partner explicitly and refuse another partner's MOU. An MOU is *in force* on a day when
it was countersigned and the day lies between its start and its last day; that — not the
status, which the daily `flask mous expire` keeps up to date — decides whether a partner
may enroll members in its own name (`enrollment_problem`) and which terms the remittance
statement uses (`mou_terms_on`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app, has_request_context, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bungkesmas import regions, tenancy
from bungkesmas.audit.services import record
from bungkesmas.auth.permissions import Permission, Role
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.mous import documents
from bungkesmas.mous.models import (
    DocumentKind,
    Mou,
    MouComment,
    MouCounter,
    MouDocument,
    MouStatus,
    RemittanceFrequency,
    SignMethod,
)
from bungkesmas.partners.models import Partner, PartnerStatus
from bungkesmas.timeutil import utcnow

S = MouStatus
OPEN = (S.DRAFT, S.SENT, S.PARTNER_SIGNED)
# Countersigned at some point: these were (or are) in force between their dates.
COUNTERSIGNED = (S.ACTIVE, S.EXPIRED, S.SUPERSEDED, S.TERMINATED)
REMINDER_DAYS = (90, 60, 30)
MAX_YEARS = 10
MAX_TERRITORY = 50
MAX_CLAUSES = 20_000
MAX_COMMENT = 5_000
TERM_FIELDS = (
    "start_date", "end_date", "fee_share_bp", "remittance_frequency", "remittance_due_day",
    "territory", "product_ids", "member_quota", "clauses", "provider_signatory_name",
    "provider_signatory_title",
)
# The actions of `POST .../<action>` pages and API routes, and who takes them.
PROVIDER_ACTIONS = ("send", "countersign", "terminate", "renew")
PARTNER_ACTIONS = ("request_changes", "sign")


def today() -> date:
    """The date in the programme's time zone (WITA): what "today" means for an MOU."""
    from datetime import UTC
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC")
    return utcnow().replace(tzinfo=UTC).astimezone(tz).date()


@dataclass(frozen=True)
class Terms:
    """The terms of the MOU in force on a day (for enrollment and remittance)."""

    mou_id: uuid.UUID
    number: str
    version: int
    start_date: date
    last_day: date
    fee_share_bp: int
    remittance_frequency: RemittanceFrequency
    remittance_due_day: int
    territory: tuple[str, ...]
    product_ids: tuple[int, ...]
    member_quota: int | None


# --- permissions --------------------------------------------------------------------------


def _provider(actor, permission: Permission = Permission.MOUS_MANAGE) -> None:
    from bungkesmas.partners.services import require

    require(actor, permission)


def _partner_admin(actor, partner: Partner, mou: Mou) -> None:
    """Refuse unless `actor` is an admin of `partner` and the MOU is the partner's own."""
    from bungkesmas.auth.services import workspace_permissions

    if mou.tenant_id != partner.id:
        raise NotAllowed(_("This MOU belongs to another partner."))
    if Permission.PARTNER_MOU_SIGN not in workspace_permissions(actor, partner):
        raise NotAllowed(_("You are not allowed to do this."))


# --- finding -----------------------------------------------------------------------------


def get(mou_id, partner: Partner | None = None) -> Mou:
    """An MOU by id — of `partner` only, if given; LookupError (a 404) if there is none."""
    with tenancy.everything():
        stmt = select(Mou).where(Mou.id == mou_id)
        if partner is not None:
            stmt = stmt.where(Mou.tenant_id == partner.id)
        mou = db.session.scalar(stmt)
    if mou is None:
        raise LookupError(mou_id)
    return mou


def mous_of(partner: Partner) -> list[Mou]:
    """A partner's MOUs (its own, not its children's), newest first."""
    with tenancy.everything():
        return list(db.session.scalars(select(Mou).where(Mou.tenant_id == partner.id)
                                       .order_by(Mou.created_at.desc(), Mou.version.desc())))


def search(status: str | None = None, partner_id: int | None = None):
    """A select of MOUs for the provider's list, newest first."""
    stmt = select(Mou).order_by(Mou.created_at.desc(), Mou.id.desc())
    if status:
        stmt = stmt.where(Mou.status == status)
    if partner_id:
        stmt = stmt.where(Mou.tenant_id == partner_id)
    return stmt


def in_force(partner_id: int, day: date | None = None) -> Mou | None:
    """The partner's MOU in force on `day` (default today), or None."""
    day = day or today()
    with tenancy.everything():
        candidates = db.session.scalars(select(Mou).where(
            Mou.tenant_id == partner_id, Mou.status.in_(COUNTERSIGNED),
            Mou.countersigned_at.is_not(None), Mou.start_date <= day, Mou.end_date >= day)
            .order_by(Mou.start_date.desc(), Mou.version.desc()))
        return next((m for m in candidates if m.last_day >= day), None)


def mou_terms_on(partner_id: int, day: date) -> Terms | None:
    """The terms (fee share, remittance schedule, territory, products, quota) of the MOU
    in force for a partner on a day, or None."""
    mou = in_force(partner_id, day)
    return None if mou is None else _terms_of(mou)


def terms_history(partner_id: int) -> list[Terms]:
    """The terms of every MOU of the partner that was ever in force, in the order
    `terms_in_force` needs (the latest start first, then the highest version) — one
    query, for reading the terms of many days (the remittance statement)."""
    return terms_histories([partner_id])[partner_id]


def terms_histories(partner_ids) -> dict[int, list[Terms]]:
    """`terms_history` of many partners, in one query."""
    out: dict[int, list[Terms]] = {partner_id: [] for partner_id in partner_ids}
    if not out:
        return out
    with tenancy.everything():
        for mou in db.session.scalars(select(Mou).where(
                Mou.tenant_id.in_(list(out)), Mou.status.in_(COUNTERSIGNED),
                Mou.countersigned_at.is_not(None))
                .order_by(Mou.tenant_id, Mou.start_date.desc(), Mou.version.desc())):
            out[mou.tenant_id].append(_terms_of(mou))
    return out


def terms_in_force(history: list[Terms], day: date) -> Terms | None:
    """The terms in force on `day` among `terms_history(...)` — the same MOU `in_force`
    picks."""
    return next((t for t in history if t.start_date <= day <= t.last_day), None)


def _terms_of(mou: Mou) -> Terms:
    return Terms(mou_id=mou.id, number=mou.number, version=mou.version,
                 start_date=mou.start_date, last_day=mou.last_day,
                 fee_share_bp=mou.fee_share_bp,
                 remittance_frequency=RemittanceFrequency(mou.remittance_frequency),
                 remittance_due_day=mou.remittance_due_day,
                 territory=tuple(mou.territory or ()), product_ids=tuple(mou.product_ids or ()),
                 member_quota=mou.member_quota)


def successor(mou: Mou) -> Mou | None:
    """The renewal of `mou` that is not terminated, if any."""
    with tenancy.everything():
        return db.session.scalar(select(Mou).where(
            Mou.tenant_id == mou.tenant_id, Mou.previous_id == mou.id,
            Mou.status != S.TERMINATED).order_by(Mou.version.desc()).limit(1))


def comments_of(mou: Mou) -> list[MouComment]:
    with tenancy.everything():
        return list(db.session.scalars(select(MouComment).where(
            MouComment.tenant_id == mou.tenant_id, MouComment.mou_id == mou.id)
            .order_by(MouComment.created_at, MouComment.id)))


def people_named(mou: Mou, comments: list[MouComment]) -> dict[int, str]:
    """The names an MOU page shows (user id → name): the comments' authors and the
    partner's user who signed it in the application."""
    from bungkesmas.auth.models import User

    ids = {c.author_id for c in comments if c.author_id}
    if mou.partner_signed_by_id:
        ids.add(mou.partner_signed_by_id)
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def document(mou: Mou, document_id) -> MouDocument:
    with tenancy.everything():
        doc = db.session.scalar(select(MouDocument).where(
            MouDocument.tenant_id == mou.tenant_id, MouDocument.mou_id == mou.id,
            MouDocument.id == document_id))
    if doc is None:
        raise LookupError(document_id)
    return doc


def expiring(within: int = max(REMINDER_DAYS), partner_id: int | None = None,
             day: date | None = None) -> list[tuple[Mou, int]]:
    """(MOU, days left) of active MOUs that end within `within` days and have no active
    renewal yet, soonest first."""
    day = day or today()
    with tenancy.everything():
        stmt = select(Mou).where(Mou.status == S.ACTIVE, Mou.end_date >= day,
                                 Mou.end_date <= day + timedelta(days=within))
        if partner_id is not None:
            stmt = stmt.where(Mou.tenant_id == partner_id)
        rows = list(db.session.scalars(stmt.order_by(Mou.end_date)))
        renewed = _renewed_ids([m.id for m in rows])
    return [(m, (m.end_date - day).days) for m in rows if m.id not in renewed]


def _renewed_ids(ids: list) -> set:
    if not ids:
        return set()
    return set(db.session.scalars(select(Mou.previous_id).where(
        Mou.previous_id.in_(ids), Mou.status == S.ACTIVE)))


# --- validation ----------------------------------------------------------------------------


def _int(value, field: str, least: int, most: int, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise DomainError(message, field)
    return value


def _text(value, field: str, most: int, *, required_message: str | None = None) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else None
    if text is None or len(text) > most or "\x00" in text:
        raise DomainError(_("Use at most %(max)d characters.", max=most), field)
    if required_message and not text:
        raise DomainError(required_message, field)
    return text


def validate(partner: Partner, data: dict, *, mou: Mou | None = None,
             previous: Mou | None = None) -> dict:
    """The terms of a draft, checked; DomainError naming the field otherwise."""
    values: dict = {}
    start, end = data.get("start_date"), data.get("end_date")
    if not isinstance(start, date):
        raise DomainError(_("Enter the start date."), "start_date")
    if not isinstance(end, date):
        raise DomainError(_("Enter the end date."), "end_date")
    if end <= start:
        raise DomainError(_("The end date must be after the start date."), "end_date")
    if end < today():
        raise DomainError(_("The end date has passed."), "end_date")
    if (end - start).days > 366 * MAX_YEARS:
        raise DomainError(_("An MOU runs at most %(years)d years.", years=MAX_YEARS), "end_date")
    if previous is not None and start <= previous.start_date:
        raise DomainError(_("A renewal starts after the MOU it renews (%(date)s).",
                            date=format_date(previous.start_date)), "start_date")
    values["start_date"], values["end_date"] = start, end
    fee = data.get("fee_share_bp")
    values["fee_share_bp"] = _int(fee, "fee_share_bp", 0, 10_000,
                                  _("Enter a fee share from 0 to 100 percent."))
    try:
        values["remittance_frequency"] = RemittanceFrequency(data.get("remittance_frequency"))
    except ValueError:
        raise DomainError(_("Choose how often contributions are remitted."),
                          "remittance_frequency") from None
    values["remittance_due_day"] = _int(data.get("remittance_due_day"), "remittance_due_day",
                                        1, 28, _("Enter a day of the month from 1 to 28."))
    territory = data.get("territory") or []
    if not isinstance(territory, (list, tuple)) or len(territory) > MAX_TERRITORY:
        raise DomainError(_("Choose at most %(count)d regions.", count=MAX_TERRITORY),
                          "territory")
    codes: list[str] = []
    for code in territory:
        code = code.replace(".", "").strip() if isinstance(code, str) else ""
        if (len(code) not in (2, 4, 6, 10) or not code.isdigit()
                or regions.region_name(code) in ("", code)):
            raise DomainError(_("Choose a region from the list."), "territory")
        if code not in codes:
            codes.append(code)
    values["territory"] = codes
    product_ids = data.get("product_ids") or []
    if not isinstance(product_ids, (list, tuple)) or any(
            isinstance(p, bool) or not isinstance(p, int) for p in product_ids):
        raise DomainError(_("Choose products from the list."), "product_ids")
    if product_ids:
        from bungkesmas.products.models import Product

        known = set(db.session.scalars(select(Product.id).where(Product.id.in_(product_ids))))
        if known != set(product_ids):
            raise DomainError(_("Choose products from the list."), "product_ids")
    values["product_ids"] = sorted(set(product_ids))
    quota = data.get("member_quota")
    values["member_quota"] = None if quota in (None, "") else _int(
        quota, "member_quota", 1, 10_000_000, _("Enter a whole number from 1 to 10,000,000, or "
                                                "leave the quota empty."))
    values["clauses"] = _text(data.get("clauses"), "clauses", MAX_CLAUSES)
    values["provider_signatory_name"] = _text(
        data.get("provider_signatory_name"), "provider_signatory_name", 200,
        required_message=_("Enter who signs for the provider."))
    values["provider_signatory_title"] = _text(
        data.get("provider_signatory_title"), "provider_signatory_title", 120,
        required_message=_("Enter the position of who signs for the provider."))
    _refuse_overlap(partner.id, start, end, exclude=[x.id for x in (mou, previous) if x])
    return values


def _refuse_overlap(partner_id: int, start: date, end: date, exclude: list) -> None:
    """No two MOUs of a partner are active over the same days (the one a renewal renews
    excepted: it is superseded when the renewal starts)."""
    with tenancy.everything():
        stmt = select(Mou).where(Mou.tenant_id == partner_id, Mou.status == S.ACTIVE,
                                 Mou.start_date <= end, Mou.end_date >= start)
        if exclude:
            stmt = stmt.where(Mou.id.not_in(exclude))
        clash = next((m for m in db.session.scalars(stmt) if m.last_day >= start), None)
    if clash is not None:
        raise Conflict(_("These dates overlap MOU %(number)s (version %(version)d), active from "
                         "%(start)s to %(end)s.", number=clash.number, version=clash.version,
                         start=format_date(clash.start_date), end=format_date(clash.last_day)),
                       "start_date")


def _refuse_open(partner_id: int) -> None:
    with tenancy.everything():
        open_ = db.session.scalar(select(Mou).where(Mou.tenant_id == partner_id,
                                                    Mou.status.in_(OPEN)).limit(1))
    if open_ is not None:
        raise Conflict(_("MOU %(number)s (version %(version)d) is still being prepared or "
                         "signed: finish or terminate it first.", number=open_.number,
                         version=open_.version))


def _terms(mou: Mou) -> dict:
    out = {}
    for name in TERM_FIELDS:
        value = getattr(mou, name)
        out[name] = value.isoformat() if isinstance(value, date) else (
            str(value) if isinstance(value, RemittanceFrequency) else value)
    return out


def _step(mou: Mou, action: str, sources: tuple[MouStatus, ...]) -> None:
    if mou.status not in sources:
        raise Conflict(_("This MOU is %(status)s; “%(action)s” is not possible now.",
                         status=status_label(mou.status), action=action_label(action)))


def _set_status(mou: Mou, status: MouStatus) -> None:
    mou.status = status
    mou.status_changed_at = utcnow()


def _audit(actor, action: str, mou: Mou, before: dict | None = None, after: dict | None = None,
           actor_label: str | None = None) -> None:
    record(actor, action, mou, partner_id=mou.tenant_id, before=before,
           after={"number": mou.number, "version": mou.version, "status": str(mou.status),
                  **(after or {})}, actor_label=actor_label)


# --- numbers --------------------------------------------------------------------------------


def next_number(year: int) -> str:
    """The next MOU number of a year, e.g. MOU/BKM/2026/0007. The UPDATE locks the
    counter row: concurrent drafts take turns and never share a number."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(insert(MouCounter).values(year=year, value=0)
                       .on_conflict_do_nothing(index_elements=["year"]))
    value = db.session.execute(update(MouCounter).where(MouCounter.year == year)
                               .values(value=MouCounter.value + 1)
                               .returning(MouCounter.value)).scalar_one()
    return f"MOU/BKM/{year}/{value:04d}"


# --- the provider's steps ---------------------------------------------------------------------


def create_draft(actor, partner: Partner, data: dict) -> Mou:
    """Draft a new MOU for an approved partner (version 1 of a new number)."""
    _provider(actor)
    if partner.status != PartnerStatus.APPROVED:
        raise DomainError(_("Choose an approved partner."), "partner_id")
    with tenancy.everything():
        _refuse_open(partner.id)
        values = validate(partner, data)
        mou = Mou(id=tenancy.new_id(), tenant_id=partner.id, number=next_number(today().year),
                  version=1, status=S.DRAFT, created_by_id=getattr(actor, "id", None), **values)
        db.session.add(mou)
        db.session.flush()
        _audit(actor, "mou.create", mou, after=_terms(mou))
    return mou


def update_draft(actor, mou: Mou, data: dict) -> Mou:
    """Change the terms of a draft (a sent MOU comes back as a draft when the partner asks
    for changes)."""
    _provider(actor)
    _step(mou, "update", (S.DRAFT,))
    with tenancy.everything():
        partner = db.session.get(Partner, mou.tenant_id)
        previous = get(mou.previous_id) if mou.previous_id else None
        values = validate(partner, {**_terms_for_update(mou), **data}, mou=mou,
                          previous=previous)
        before = _terms(mou)
        for key, value in values.items():
            setattr(mou, key, value)
        after = _terms(mou)
        changed = [k for k in after if after[k] != before[k]]
        if changed:
            db.session.flush()
            _audit(actor, "mou.update", mou, before={k: before[k] for k in changed},
                   after={k: after[k] for k in changed})
    return mou


def _terms_for_update(mou: Mou) -> dict:
    return {name: getattr(mou, name) for name in TERM_FIELDS}


def send(actor, mou: Mou) -> Mou:
    """Send a draft to the partner for review and signature, with the MOU text as a PDF."""
    _provider(actor)
    _step(mou, "send", (S.DRAFT,))
    with tenancy.everything():
        partner = db.session.get(Partner, mou.tenant_id)
        if partner.status != PartnerStatus.APPROVED:
            raise Conflict(_("%(name)s is not active.", name=partner.name))
        doc = documents.generate(actor, mou)
        _set_status(mou, S.SENT)
        mou.sent_at, mou.sent_by_id = utcnow(), getattr(actor, "id", None)
        db.session.flush()
        _audit(actor, "mou.send", mou, after={"document": str(doc.id), "sha256": doc.sha256})
        _tell_partner(partner, mou, _("Bungkesmas: MOU %(number)s to review and sign",
                                      number=mou.number),
                      _("The Bungkesmas provider sent you MOU %(number)s (version %(version)d) "
                        "to review and sign. Read it, comment or ask for changes, and sign it "
                        "here:", number=mou.number, version=mou.version))
    return mou


def countersign(actor, mou: Mou, *, upload=None, file_name: str | None = None) -> Mou:
    """Countersign an MOU the partner signed: it becomes active (in force between its
    dates). Optionally with the scan signed by both sides."""
    _provider(actor)
    _step(mou, "countersign", (S.PARTNER_SIGNED,))
    day = today()
    if mou.end_date < day:
        raise Conflict(_("The end date of this MOU has passed: renew it instead."))
    with tenancy.everything():
        _refuse_overlap(mou.tenant_id, mou.start_date, mou.end_date,
                        exclude=[x for x in (mou.id, mou.previous_id) if x])
        _refuse_schedule_conflict(mou)
        doc = None
        if upload is not None:
            doc = documents.store(actor, mou, DocumentKind.COUNTERSIGNED, upload, file_name)
        _set_status(mou, S.ACTIVE)
        mou.countersigned_at, mou.countersigned_by_id = utcnow(), getattr(actor, "id", None)
        mou.provider_signed_on = day
        db.session.flush()
        _audit(actor, "mou.countersign", mou,
               after={"document": str(doc.id) if doc else None,
                      "sha256": doc.sha256 if doc else None})
        settle(day, partner_id=mou.tenant_id)
        partner = db.session.get(Partner, mou.tenant_id)
        _tell_partner(partner, mou, _("Bungkesmas: MOU %(number)s is countersigned",
                                      number=mou.number),
                      _("The Bungkesmas provider countersigned MOU %(number)s (version "
                        "%(version)d). It is in force from %(start)s to %(end)s.",
                        number=mou.number, version=mou.version,
                        start=format_date(mou.start_date), end=format_date(mou.end_date)))
    return mou


def _refuse_schedule_conflict(mou: Mou) -> None:
    """An MOU whose remittance schedule would cut through a statement already issued
    (e.g. quarterly from a quarter whose first month was closed as a month) cannot come
    into force: issued statements never change."""
    from bungkesmas.remittance.services import schedule_conflict

    statement = schedule_conflict(mou.tenant_id, mou.start_date, mou.end_date,
                                  mou.remittance_frequency)
    if statement is not None:
        raise Conflict(_("The remittance schedule of this MOU does not fit the remittance "
                         "statement %(number)s already issued. Renew it with the schedule of "
                         "that statement, or a start date after it.",
                         number=statement.number))


def terminate(actor, mou: Mou, reason: str) -> Mou:
    """End an MOU early (or abandon one being prepared); the reason is required."""
    _provider(actor)
    _step(mou, "terminate", (S.DRAFT, S.SENT, S.PARTNER_SIGNED, S.ACTIVE))
    reason = _text(reason, "reason", 2000, required_message=_("Give a reason."))
    with tenancy.everything():
        before = {"status": str(mou.status)}
        was_active = mou.status == S.ACTIVE
        if was_active:
            # Not in force from today on.
            mou.ended_on = min(mou.end_date, today() - timedelta(days=1))
        _set_status(mou, S.TERMINATED)
        mou.termination_reason = reason
        mou.terminated_by_id = getattr(actor, "id", None)
        db.session.flush()
        _audit(actor, "mou.terminate", mou, before=before,
               after={"reason": reason,
                      "ended_on": mou.ended_on.isoformat() if mou.ended_on else None})
        if was_active or mou.sent_at is not None:
            partner = db.session.get(Partner, mou.tenant_id)
            _tell_partner(partner, mou, _("Bungkesmas: MOU %(number)s is terminated",
                                          number=mou.number),
                          _("The Bungkesmas provider terminated MOU %(number)s (version "
                            "%(version)d). Reason: %(reason)s", number=mou.number,
                            version=mou.version, reason=reason))
    return mou


def renew(actor, mou: Mou, data: dict) -> Mou:
    """Draft the renewal of an active (or expired) MOU: the same number, the next
    version, linked to the old one, which is superseded when the renewal starts."""
    _provider(actor)
    _step(mou, "renew", (S.ACTIVE, S.EXPIRED))
    with tenancy.everything():
        if successor(mou) is not None:
            raise Conflict(_("This MOU has a renewal already."))
        partner = db.session.get(Partner, mou.tenant_id)
        if partner.status != PartnerStatus.APPROVED:
            raise DomainError(_("%(name)s is not active.", name=partner.name))
        _refuse_open(partner.id)
        values = validate(partner, {**_terms_for_update(mou), **data}, previous=mou)
        version = db.session.scalar(select(func.max(Mou.version)).where(
            Mou.tenant_id == mou.tenant_id, Mou.number == mou.number)) or mou.version
        new = Mou(id=tenancy.new_id(), tenant_id=mou.tenant_id, number=mou.number,
                  version=version + 1, previous_id=mou.id, status=S.DRAFT,
                  created_by_id=getattr(actor, "id", None), **values)
        db.session.add(new)
        db.session.flush()
        _audit(actor, "mou.renew", new, after={"previous": str(mou.id), **_terms(new)})
    return new


# --- the partner's steps -------------------------------------------------------------------------


def comment(actor, mou: Mou, body: str, *, partner: Partner | None = None,
            changes_requested: bool = False) -> MouComment:
    """Add to an MOU's review thread: as the partner's admin (`partner` given) or as
    provider staff; the other side is told."""
    if partner is not None:
        _partner_admin(actor, partner, mou)
        side = "partner"
    else:
        _provider(actor, Permission.MOUS_VIEW)
        side = "provider"
    body = _text(body, "body", MAX_COMMENT, required_message=_("Write your comment."))
    with tenancy.everything():
        note = MouComment(id=tenancy.new_id(), tenant_id=mou.tenant_id, mou_id=mou.id,
                          author_id=getattr(actor, "id", None), side=side, body=body,
                          changes_requested=changes_requested)
        db.session.add(note)
        db.session.flush()
        record(actor, "mou.comment", mou, partner_id=mou.tenant_id,
               after={"number": mou.number, "version": mou.version, "side": side,
                      "changes_requested": changes_requested})
        owner = db.session.get(Partner, mou.tenant_id)
        subject = _("Bungkesmas: a comment on MOU %(number)s", number=mou.number)
        text = _("%(author)s wrote about MOU %(number)s (version %(version)d):\n\n%(body)s",
                 author=getattr(actor, "name", "") or side, number=mou.number,
                 version=mou.version, body=body)
        if side == "partner":
            _tell_provider(owner, mou, subject, text)
        else:
            _tell_partner(owner, mou, subject, text)
    return note


def request_changes(actor, partner: Partner, mou: Mou, body: str) -> Mou:
    """The partner asks for changes to a sent MOU: it goes back to the provider as a draft."""
    _partner_admin(actor, partner, mou)
    _step(mou, "request_changes", (S.SENT,))
    comment(actor, mou, body, partner=partner, changes_requested=True)
    with tenancy.everything():
        _set_status(mou, S.DRAFT)
        db.session.flush()
        _audit(actor, "mou.request_changes", mou, before={"status": str(S.SENT)})
    return mou


def sign(actor, partner: Partner, mou: Mou, *, signatory_name: str, signatory_title: str,
         method: str, accepted: bool = False, upload=None, file_name: str | None = None) -> Mou:
    """The partner's admin signs a sent MOU: by uploading the signed copy, or by accepting
    it in the application. Who, when and from which address are recorded."""
    _partner_admin(actor, partner, mou)
    _step(mou, "sign", (S.SENT,))
    name = _text(signatory_name, "signatory_name", 200,
                 required_message=_("Enter who signs for your organisation."))
    title = _text(signatory_title, "signatory_title", 120,
                  required_message=_("Enter the position of who signs."))
    try:
        method = SignMethod(method)
    except ValueError:
        raise DomainError(_("Choose how you sign."), "method") from None
    if method == SignMethod.ACCEPT and not accepted:
        raise DomainError(_("Tick the box to accept the MOU."), "accepted")
    if method == SignMethod.UPLOAD and upload is None:
        raise DomainError(_("Choose the scan of the signed MOU (PDF, JPEG or PNG)."), "file")
    with tenancy.everything():
        doc = None
        if method == SignMethod.UPLOAD:
            doc = documents.store(actor, mou, DocumentKind.SIGNED_SCAN, upload, file_name)
        ip = request.remote_addr if has_request_context() else None
        mou.partner_signatory_name, mou.partner_signatory_title = name, title
        mou.partner_signed_on = today()
        mou.partner_signed_at, mou.partner_signed_by_id = utcnow(), getattr(actor, "id", None)
        mou.partner_signed_ip, mou.partner_sign_method = ip, method
        _set_status(mou, S.PARTNER_SIGNED)
        db.session.flush()
        _audit(actor, "mou.sign", mou, before={"status": str(S.SENT)},
               after={"method": str(method), "signatory": name, "title": title, "ip": ip,
                      "document": str(doc.id) if doc else None,
                      "sha256": doc.sha256 if doc else None})
        _tell_provider(partner, mou, _("Bungkesmas: %(partner)s signed MOU %(number)s",
                                       partner=partner.name, number=mou.number),
                       _("%(name)s (%(title)s) signed MOU %(number)s (version %(version)d) for "
                         "%(partner)s. It is waiting for your countersignature:",
                         name=name, title=title, number=mou.number, version=mou.version,
                         partner=partner.name))
    return mou


def upload_document(actor, mou: Mou, stream, file_name: str | None, *,
                    partner: Partner | None = None) -> MouDocument:
    """A further scan (a new version, never replacing one): the partner's admin uploads
    the signed copy; provider staff the countersigned copy."""
    if partner is not None:
        _partner_admin(actor, partner, mou)
        kind = DocumentKind.SIGNED_SCAN
        allowed = (S.PARTNER_SIGNED, S.ACTIVE)
    else:
        _provider(actor)
        kind = DocumentKind.COUNTERSIGNED
        allowed = (S.ACTIVE,)
    _step(mou, "upload", allowed)
    with tenancy.everything():
        doc = documents.store(actor, mou, kind, stream, file_name)
        _audit(actor, "mou.upload", mou, after={"document": str(doc.id), "kind": str(kind),
                                                "sha256": doc.sha256})
    return doc


def generate_document(actor, mou: Mou) -> MouDocument:
    """The MOU text as a PDF again (e.g. after the draft changed): a new version."""
    _provider(actor)
    with tenancy.everything():
        doc = documents.generate(actor, mou)
        _audit(actor, "mou.generate", mou, after={"document": str(doc.id), "sha256": doc.sha256})
    return doc


# --- expiry -----------------------------------------------------------------------------------


def settle(day: date | None = None, partner_id: int | None = None) -> dict[str, int]:
    """Mark active MOUs superseded (their renewal has started) or expired (their end
    date has passed). Idempotent: a second run on the same day changes nothing."""
    day = day or today()
    counts = {"superseded": 0, "expired": 0}
    with tenancy.everything():
        active = select(Mou).where(Mou.status == S.ACTIVE)
        if partner_id is not None:
            active = active.where(Mou.tenant_id == partner_id)
        for mou in list(db.session.scalars(active)):
            if mou.status != S.ACTIVE:
                continue
            renewal = db.session.scalar(select(Mou).where(
                Mou.tenant_id == mou.tenant_id, Mou.previous_id == mou.id,
                Mou.status == S.ACTIVE, Mou.start_date <= day))
            if renewal is not None:
                mou.ended_on = min(mou.end_date, renewal.start_date - timedelta(days=1))
                _set_status(mou, S.SUPERSEDED)
                db.session.flush()
                _audit(None, "mou.supersede", mou, before={"status": str(S.ACTIVE)},
                       after={"by_version": renewal.version,
                              "ended_on": mou.ended_on.isoformat()}, actor_label="system")
                counts["superseded"] += 1
            elif mou.end_date < day:
                _set_status(mou, S.EXPIRED)
                db.session.flush()
                _audit(None, "mou.expire", mou, before={"status": str(S.ACTIVE)},
                       actor_label="system")
                counts["expired"] += 1
    return counts


def remind(day: date | None = None) -> int:
    """Announce MOUs ending within 90, 60 and 30 days to both sides — each threshold
    once. Returns how many reminders went to the outbox."""
    day = day or today()
    sent = 0
    with tenancy.everything():
        for mou, days_left in expiring(max(REMINDER_DAYS), day=day):
            threshold = min(t for t in REMINDER_DAYS if days_left <= t)
            if mou.reminded_days is not None and mou.reminded_days <= threshold:
                continue
            before = {"reminded_days": mou.reminded_days}
            mou.reminded_days = threshold
            db.session.flush()
            _audit(None, "mou.remind", mou, before=before,
                   after={"reminded_days": threshold, "days_left": days_left},
                   actor_label="system")
            partner = db.session.get(Partner, mou.tenant_id)
            subject = _("Bungkesmas: MOU %(number)s ends in %(days)d days",
                        number=mou.number, days=days_left)
            text = _("MOU %(number)s (version %(version)d) of %(partner)s ends on %(end)s, in "
                     "%(days)d days. Talk with the other side about renewing it in time.",
                     number=mou.number, version=mou.version, partner=partner.name,
                     end=format_date(mou.end_date), days=days_left)
            _tell_partner(partner, mou, subject, text)
            _tell_provider(partner, mou, subject, text)
            sent += 1
    return sent


def run_daily(day: date | None = None) -> dict[str, int]:
    """What `flask mous expire` does: settle statuses, then send the due reminders."""
    counts = settle(day)
    counts["reminded"] = remind(day)
    return counts


# --- effects: enrolling, hosting ------------------------------------------------------------------


def enrollment_problem(partner: Partner, product_id: int | None = None, *,
                       hosted_for_id: int | None = None, member_enrolled: bool = False,
                       day: date | None = None) -> str | None:
    """Why `partner` may not enroll a member now (None if it may): it needs an MOU in
    force, whose terms cover the product and whose member quota is not reached. A member
    hosted for another partner is enrolled on that partner's behalf, under the host's MOU,
    while the host is assigned to it."""
    if hosted_for_id is not None:
        with tenancy.everything():
            hosted = db.session.get(Partner, hosted_for_id)
        if hosted is None or hosted.hosting_partner_id != partner.id:
            return _("%(host)s does not host members for that partner (any more).",
                     host=partner.name)
    terms = mou_terms_on(partner.id, day or today())
    if terms is None:
        return _("%(name)s has no MOU with Bungkesmas in force, so it cannot enroll members in "
                 "its own name. Ask the Bungkesmas provider about the MOU, or about a hosting "
                 "partner in the meantime.", name=partner.name)
    if product_id is not None and terms.product_ids and product_id not in terms.product_ids:
        return not_covered_message(partner)
    if terms.member_quota is not None and not member_enrolled:
        if enrolled_count(partner.id) >= terms.member_quota:
            return quota_message(partner, terms.member_quota)
    return None


def not_covered_message(partner: Partner) -> str:
    return _("The MOU of %(name)s does not cover this product.", name=partner.name)


def quota_message(partner: Partner, quota: int) -> str:
    return _("The MOU of %(name)s allows %(quota)d enrolled members; that number is reached.",
             name=partner.name, quota=quota)


def enrolled_count(partner_id: int) -> int:
    """Members of the partner with an enrollment that is not cancelled."""
    from bungkesmas.members.models import Enrollment, EnrollmentStatus

    with tenancy.everything():
        return db.session.scalar(select(func.count(func.distinct(Enrollment.member_id))).where(
            Enrollment.tenant_id == partner_id,
            Enrollment.status != EnrollmentStatus.CANCELLED)) or 0


def hosted_partners(host: Partner) -> list[Partner]:
    """The partners `host` registers members for."""
    with tenancy.everything():
        return list(db.session.scalars(select(Partner).where(
            Partner.hosting_partner_id == host.id).order_by(Partner.name)))


def possible_hosts(partner: Partner) -> list[Partner]:
    """Approved partners with an MOU in force, other than `partner`."""
    with tenancy.everything():
        candidates = db.session.scalars(select(Partner).where(
            Partner.status == PartnerStatus.APPROVED, Partner.id != partner.id)
            .order_by(Partner.name))
        return [p for p in candidates if in_force(p.id) is not None]


def set_host(actor, partner: Partner, host: Partner | None) -> Partner:
    """Assign (or clear) the partner that hosts `partner`'s members until its MOU is in
    force."""
    _provider(actor)
    with tenancy.everything():
        if host is not None:
            if partner.status != PartnerStatus.APPROVED:
                raise DomainError(_("%(name)s is not active.", name=partner.name), "host_id")
            if host.id == partner.id or host.status != PartnerStatus.APPROVED \
                    or in_force(host.id) is None:
                raise DomainError(_("Choose an approved partner with an MOU in force as the "
                                    "host."), "host_id")
            if in_force(partner.id) is not None:
                raise Conflict(_("%(name)s has an MOU in force: it enrolls members in its own "
                                 "name.", name=partner.name), "host_id")
        before = {"hosting_partner_id": partner.hosting_partner_id}
        partner.hosting_partner_id = host.id if host else None
        db.session.flush()
        record(actor, "partner.set_host", partner, partner_id=partner.id, before=before,
               after={"hosting_partner_id": partner.hosting_partner_id})
        if host is not None:
            record(actor, "partner.hosts", host, partner_id=host.id,
                   after={"hosted_partner_id": partner.id})
    return partner


def hosted_members(partner: Partner) -> dict[int, int]:
    """{host partner id: members it registered on `partner`'s behalf}."""
    from bungkesmas.members.models import Member

    with tenancy.everything():
        return dict(db.session.execute(select(Member.tenant_id, func.count()).where(
            Member.hosted_for_id == partner.id).group_by(Member.tenant_id)).all())


def transfer_hosted(actor, partner: Partner, reason: str = "") -> int:
    """Move every member hosted for `partner` to it, once its MOU is in force (with
    `members.services.transfer`): a host's group whose members are all hosted for the
    partner moves whole; other members move one by one. The hosting ends."""
    from bungkesmas.members import services as members
    from bungkesmas.members.models import Group, Member

    _provider(actor, Permission.MEMBERS_TRANSFER)
    if in_force(partner.id) is None:
        raise Conflict(_("%(name)s has no MOU in force yet: its members stay with the host.",
                         name=partner.name))
    reason = _text(reason, "reason", 500) or _("The MOU of %(name)s is in force.",
                                                name=partner.name)
    moved = 0
    with tenancy.everything():
        hosted = list(db.session.execute(select(Member.tenant_id, Member.id, Member.group_id)
                                         .where(Member.hosted_for_id == partner.id)).all())
        if not hosted:
            raise DomainError(_("No members are hosted for %(name)s.", name=partner.name))
        loose = []
        by_group: dict[tuple, list] = {}
        for tenant_id, member_id, group_id in hosted:
            if group_id is None:
                loose.append(member_id)
            else:
                by_group.setdefault((tenant_id, group_id), []).append(member_id)
        for (tenant_id, group_id), ids in by_group.items():
            group = db.session.scalar(select(Group).where(Group.tenant_id == tenant_id,
                                                          Group.id == group_id))
            others = db.session.scalar(select(func.count()).select_from(Member).where(
                Member.tenant_id == tenant_id, Member.group_id == group_id,
                or_(Member.hosted_for_id.is_(None), Member.hosted_for_id != partner.id)))
            taken = db.session.scalar(select(Group.id).where(Group.tenant_id == partner.id,
                                                             Group.name == group.name))
            if others or taken:
                loose.extend(ids)
            else:
                moved += members.transfer(actor, [], partner, group_id=group_id, reason=reason)
        if loose:
            moved += members.transfer(actor, loose, partner, reason=reason)
        before = {"hosting_partner_id": partner.hosting_partner_id}
        partner.hosting_partner_id = None
        db.session.flush()
        record(actor, "partner.set_host", partner, partner_id=partner.id, before=before,
               after={"hosting_partner_id": None})
    return moved


# --- messages --------------------------------------------------------------------------------


def _link(side: str, mou: Mou, partner: Partner) -> str:
    if side == "partner":
        path = ("tenants.mou_detail", {"slug": partner.slug, "mou_id": mou.id})
        fallback = f"/p/{partner.slug}/mou/{mou.id}"
    else:
        path = ("platform.mou_detail", {"mou_id": mou.id})
        fallback = f"/admin/mou/{mou.id}"
    if has_request_context():
        return url_for(path[0], _external=True, **path[1])
    return f"{current_app.config['BASE_URL'].rstrip('/')}{fallback}"


def _partner_recipients(partner: Partner) -> list[str]:
    from bungkesmas.auth.models import PartnerStaff, User

    with tenancy.everything():
        admins = db.session.scalars(select(User.email).join(
            PartnerStaff, PartnerStaff.user_id == User.id).where(
            PartnerStaff.tenant_id == partner.id, PartnerStaff.active, User.active,
            PartnerStaff.role == Role.PARTNER_ADMIN))
        out = [partner.contact_email, *admins]
    return list(dict.fromkeys(e.lower() for e in out if e))


def _provider_recipients() -> list[str]:
    from bungkesmas.auth.models import User

    return list(db.session.scalars(select(User.email).where(
        User.provider_role == Role.PROVIDER_ADMIN, User.active).order_by(User.id)))


def _tell_partner(partner: Partner, mou: Mou, subject: str, text: str) -> None:
    from bungkesmas.mail.services import mailer

    team = _("Bungkesmas team")
    body = f"{text}\n{_link('partner', mou, partner)}\n\n{team}\n"
    for email in _partner_recipients(partner):
        mailer().send(email, subject, body, partner_id=partner.id)


def _tell_provider(partner: Partner, mou: Mou, subject: str, text: str) -> None:
    from bungkesmas.mail.services import mailer

    body = f"{text}\n{_link('provider', mou, partner)}\n"
    for email in _provider_recipients():
        mailer().send(email, subject, body, partner_id=partner.id)


# --- labels --------------------------------------------------------------------------------------


def status_label(status) -> str:
    labels = {
        S.DRAFT: _("draft"), S.SENT: _("sent to the partner"),
        S.PARTNER_SIGNED: _("signed by the partner"), S.ACTIVE: _("active"),
        S.EXPIRED: _("expired"), S.TERMINATED: _("terminated"), S.SUPERSEDED: _("superseded"),
    }
    try:
        return labels[MouStatus(status)]
    except ValueError:
        return str(status)


def action_label(action: str) -> str:
    labels = {
        "send": _("send"), "countersign": _("countersign"), "terminate": _("terminate"),
        "renew": _("renew"), "sign": _("sign"), "request_changes": _("ask for changes"),
        "update": _("change"), "upload": _("upload"),
    }
    return labels.get(action, action)


def frequency_label(value) -> str:
    return _("monthly") if str(value) == RemittanceFrequency.MONTHLY else _("quarterly")


def kind_label(value) -> str:
    labels = {DocumentKind.GENERATED: _("MOU text (generated)"),
              DocumentKind.SIGNED_SCAN: _("signed by the partner (scan)"),
              DocumentKind.COUNTERSIGNED: _("signed by both sides (scan)")}
    try:
        return labels[DocumentKind(value)]
    except ValueError:
        return str(value)
