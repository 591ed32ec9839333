"""Factories for realistic Indonesian data, built through the domain functions, and
small helpers such as `login`."""

from __future__ import annotations

import itertools

import pytest
from faker import Faker

from bungkesmas import tenancy
from bungkesmas.auth import services as auth
from bungkesmas.auth.permissions import Role
from bungkesmas.extensions import db
from bungkesmas.forms import normalise_phone
from bungkesmas.partners import services as partners
from bungkesmas.partners.models import Partner, PartnerType

PASSWORD = "kata-sandi-rahasia-99"
_seq = itertools.count(1)


class Factory:
    def __init__(self):
        self.fake = Faker("id_ID")
        self.fake.seed_instance(42)
        self._admin = None

    def email(self, prefix: str) -> str:
        return f"{prefix}{next(_seq)}@contoh.id"

    def provider(self, role: Role = Role.PROVIDER_ADMIN, email: str | None = None):
        with tenancy.everything():
            user = auth.create_provider_user(email or self.email(role.value), self.fake.name(),
                                             PASSWORD, role)
        db.session.commit()
        return user

    @property
    def admin(self):
        if self._admin is None:
            self._admin = self.provider()
        return self._admin

    def application(self, **overrides) -> dict:
        data = {
            "name": f"{self.fake.company()} {next(_seq)}",
            "org_type": PartnerType.NGO,
            "province_code": "73",
            "regency_code": "7372",
            "address": self.fake.street_address(),
            "contact_name": self.fake.name(),
            "contact_phone": normalise_phone(f"0812{next(_seq):08d}"),
            "contact_email": self.email("kontak"),
            "expected_members": 300,
            "expected_groups": 10,
            "referrer_id": None,
        }
        data.update(overrides)
        return data

    def applicant(self, **overrides) -> Partner:
        partner = partners.apply(self.application(**overrides))
        db.session.commit()
        return partner

    def partner(self, *, parent: Partner | None = None, slug: str | None = None,
                admin_email: str | None = None, **overrides) -> Partner:
        """An approved partner whose admin has accepted the invitation."""
        partner = partners.apply(self.application(
            contact_email=admin_email or self.email("admin"), **overrides))
        _, link = partners.approve(self.admin, partner, slug or f"mitra-{next(_seq)}",
                                   parent.id if parent else None)
        auth.accept_invitation(link.rsplit("/", 1)[1], name=partner.contact_name,
                               password=PASSWORD)
        db.session.commit()
        return partner

    def staff(self, partner: Partner, role: Role = Role.PARTNER_OFFICER, email: str | None = None):
        """A staff member of `partner` who accepted the invitation; returns the User."""
        email = email or self.email("kader")
        with tenancy.everything():
            _, link = auth.invite(None, partner, email, role, name=self.fake.name(),
                                  check_permission=False)
            user = auth.accept_invitation(link.rsplit("/", 1)[1], name=self.fake.name(),
                                          password=PASSWORD)
        db.session.commit()
        return user

    def token(self, user, partner: Partner | None) -> str:
        with tenancy.everything():
            _, secret = auth.create_token(user, partner, "test")
        db.session.commit()
        return secret


@pytest.fixture
def make(app):
    return Factory()


def login(client, email: str, password: str = PASSWORD):
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


@pytest.fixture
def login_as(client):
    def _login(user_or_email, password: str = PASSWORD):
        email = getattr(user_or_email, "email", user_or_email)
        return login(client, email, password)

    return _login
