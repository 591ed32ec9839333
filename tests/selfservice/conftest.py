"""Members of one partner in each status the check answers, for the self-service tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.contributions import services as ledger
from bungkesmas.extensions import db
from bungkesmas.members.models import Member
from bungkesmas.timeutil import local_today

SLUG = "mitra-cek"
ADMIN = "admin-cek@contoh.id"
PARTNER_NAME = "Yayasan Cek Status Parepare"
BORN = date(1985, 3, 14)


@dataclass
class Person:
    number: str
    nik: str
    birth_date: date
    member_id: object = None


def person(make, partner, **overrides) -> Person:
    """A newly registered member of `partner` (not enrolled)."""
    from bungkesmas.members import services as members

    data = make.member_data(birth_date=overrides.pop("birth_date", BORN), **overrides)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        number = members.register(None, partner, data).member_number
    db.session.commit()
    with tenancy.everything():
        member_id = db.session.scalar(select(Member.id).where(Member.member_number == number))
    return Person(number, data["nik"], data["birth_date"], member_id)


@pytest.fixture
def partner(make):
    return make.partner(slug=SLUG, admin_email=ADMIN, name=PARTNER_NAME)


@pytest.fixture
def product(make, partner):
    return make.product(partner, code="CEK", waiting_days=0)


def enrolled(make, partner, product, enrolled_on: date, paid_on: date | None = None,
             amount: int = 150_000) -> Person:
    """A new member enrolled on `enrolled_on`, with a cash payment on `paid_on` if given."""
    someone = person(make, partner)
    enrollment = make.enrollment(partner, product, member_number=someone.number,
                                 enrolled_on=enrolled_on)
    if paid_on is not None:
        ledger.record_payment(None, enrollment, "cash", amount, paid_on)
    db.session.commit()
    return someone


@pytest.fixture
def active(make, partner, product) -> Person:
    return enrolled(make, partner, product, local_today() - timedelta(days=10),
                    local_today() - timedelta(days=3))


@pytest.fixture
def lapsed(make, partner, product) -> Person:
    long_ago = local_today() - timedelta(days=800)
    return enrolled(make, partner, product, long_ago, long_ago)


@pytest.fixture
def pending(make, partner, product) -> Person:
    return enrolled(make, partner, product, local_today() - timedelta(days=5), None)


@pytest.fixture
def not_enrolled(make, partner) -> Person:
    return person(make, partner)
