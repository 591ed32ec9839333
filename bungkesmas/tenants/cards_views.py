"""Member cards in the partner workspace: print one member's card, or a group's cards
on A4 sheets (PDF), and revoke a member's printed cards.

Registered on the workspace blueprint (`tenants.views.bp`), whose gate has resolved the
partner and scoped the session. Only the partner's own members' cards are printed or
revoked (a parent partner looks at its children's members, `_own` answers 403)."""

from __future__ import annotations

import uuid

from flask import Response, flash, g, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from bungkesmas.auth.permissions import Permission
from bungkesmas.selfservice import cards
from bungkesmas.selfservice import services as selfservice
from bungkesmas.tenants.members_views import (
    _group_members,
    _group_or_404,
    _member_or_404,
    _own,
)
from bungkesmas.tenants.views import bp, requires
from bungkesmas.web import run


def _labels() -> dict[str, str]:
    return {"title": _("Bungkesmas member card"), "member_number": _("Member number"),
            "partner": _("Partner"), "scan": _("Scan to check your status")}


def _card(member) -> cards.Card:
    return cards.Card(name=member.full_name, member_number=member.member_number,
                      partner=g.tenant.name, url=selfservice.card_url(member))


def _pdf(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@bp.route("/peserta/<member_number>/kartu.pdf")
@requires(Permission.CARDS_PRINT)
def member_card(member_number: str):
    member = _member_or_404(member_number)
    _own(member)
    run(lambda: selfservice.record_printing(current_user, g.tenant, [member]))
    return _pdf(cards.card_pdf(_card(member), _labels()), f"kartu-{member.member_number}.pdf")


@bp.route("/kelompok/<uuid:group_id>/kartu.pdf")
@requires(Permission.CARDS_PRINT)
def group_cards(group_id: uuid.UUID):
    group = _group_or_404(group_id)
    _own(group)
    group_members = _group_members(group)
    if group_members:
        run(lambda: selfservice.record_printing(current_user, g.tenant, group_members, group))
    data = cards.sheet_pdf([_card(m) for m in group_members], _labels(), title=group.name)
    return _pdf(data, "kartu-kelompok.pdf")


@bp.route("/peserta/<member_number>/kartu/cabut", methods=["POST"])
@requires(Permission.CARDS_REVOKE)
def member_cards_revoke(member_number: str):
    member = _member_or_404(member_number)
    _own(member)
    if run(lambda: selfservice.revoke_cards(current_user, g.tenant, member)):
        flash(_("The member's printed cards no longer work. Print a new card."), "success")
    return redirect(url_for("tenants.member_detail", member_number=member.member_number))
