"""Partners with members in every state of the due lists, on fixed dates."""

from __future__ import annotations

from datetime import date

import pytest

from bungkesmas import tenancy
from bungkesmas.contributions import services as ledger
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Enrollment

C = 150_000
ENROLLED = date(2024, 1, 2)
TODAY = date(2025, 3, 15)  # "today" for the lists: March 2025


class Book:
    """Members of one partner with payments recorded through the ledger."""

    def __init__(self, make, partner, **rules):
        self.make = make
        self.partner = partner
        self.product = make.product(partner, code=f"B{partner.id}",
                                    **{"waiting_days": 0, **rules})

    def group(self, name: str):
        with tenancy.scoped(tenancy.Scope.tenants(self.partner.id)):
            group_id = members.create_group(None, self.partner, name).id
        db.session.commit()
        return group_id

    def member(self, *payments: tuple[date, int], group_id=None, **data):
        """A member enrolled on ENROLLED who paid `payments` ((date, amount), …);
        returns the Enrollment. `data` overrides the member's details (phone=None: none)."""
        number = self.make.member(self.partner, group_id=group_id, **data)
        enrollment = self.make.enrollment(self.partner, self.product, member_number=number,
                                          enrolled_on=ENROLLED)
        for on, amount in payments:
            ledger.record_payment(None, enrollment, "cash", amount, on)
        db.session.commit()
        return db.session.get(Enrollment, (self.partner.id, enrollment.id))

    def paid_on(self, on: date, **kwargs):
        """A member who paid one full contribution on `on`: covered until a year later."""
        return self.member((on, C), **kwargs)


@pytest.fixture
def book(make):
    return Book(make, make.partner())
