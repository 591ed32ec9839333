"""Factories for realistic Indonesian data, built through the domain functions, and
small helpers such as `login`."""

from __future__ import annotations

import itertools
from datetime import date

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
# The test that runs after this one in this process (None after the last): what a fixture
# may keep for it is decided at teardown (see tests/test_bad_input.py's world).
NEXT_ITEM = pytest.StashKey()
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
                admin_email: str | None = None, mou: bool = True, **overrides) -> Partner:
        """An approved partner whose admin has accepted the invitation — with an active
        MOU, so that it may enroll members, unless `mou=False`."""
        partner = partners.apply(self.application(
            contact_email=admin_email or self.email("admin"), **overrides))
        _, link = partners.approve(self.admin, partner, slug or f"mitra-{next(_seq)}",
                                   parent.id if parent else None)
        auth.accept_invitation(link.rsplit("/", 1)[1], name=partner.contact_name,
                               password=PASSWORD)
        db.session.commit()
        if mou:
            self.active_mou(partner)
        return partner

    def mou_terms(self, **overrides) -> dict:
        """Terms of a new MOU: from today for two years, 10 % fee share, monthly."""
        from datetime import timedelta

        from bungkesmas.mous.services import today

        start = today()
        data = {
            "start_date": start, "end_date": start + timedelta(days=730),
            "fee_share_bp": 1000, "remittance_frequency": "monthly", "remittance_due_day": 10,
            "territory": ["7372"], "product_ids": [], "member_quota": None,
            "clauses": "Pasal tambahan: laporan bulanan.",
            "provider_signatory_name": "Dr. Andi Mappanyukki",
            "provider_signatory_title": "Direktur Program Bungkesmas",
        }
        data.update(overrides)
        return data

    def active_mou(self, partner: Partner, **overrides):
        """An MOU in force for `partner`, recorded directly (no e-mails, no audit rows):
        as if signed on paper before the platform existed. Returns it."""
        from datetime import timedelta

        from bungkesmas.mous import services as mous
        from bungkesmas.mous.models import Mou, MouStatus, SignMethod
        from bungkesmas.timeutil import utcnow

        terms = self.mou_terms(**{"start_date": mous.today() - timedelta(days=30), **overrides})
        with tenancy.everything():
            mou = Mou(tenant_id=partner.id, number=mous.next_number(terms["start_date"].year),
                      version=1, status=MouStatus.ACTIVE, **terms,
                      provider_signed_on=terms["start_date"],
                      partner_signatory_name=partner.contact_name,
                      partner_signatory_title="Ketua", partner_signed_on=terms["start_date"],
                      partner_signed_at=utcnow(), partner_sign_method=SignMethod.ACCEPT,
                      sent_at=utcnow(), countersigned_at=utcnow())
            db.session.add(mou)
            db.session.flush()
            mou_id = mou.id
        db.session.commit()
        return mou_id

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

    def product(self, *partners: Partner, code: str = "BKM", **rules):
        """The Bungkesmas product (DOMAIN.md figures), enabled for `partners`."""
        from bungkesmas.products import services as products

        with tenancy.everything():
            product = products.create(self.admin, code, "Bungkesmas",
                                      {**products.BUNGKESMAS_DEFAULTS, **rules})
            for partner in partners:
                products.set_enabled(self.admin, partner, product, True)
        db.session.commit()
        return product

    def nik(self, birth: date | None = None, sex: str = "L", district: str = "737202") -> str:
        """A well-formed NIK (Ujung, Kota Parepare by default) with a unique serial."""
        birth = birth or date(1985, 3, 14)
        day = birth.day + (40 if sex == "P" else 0)
        return f"{district}{day:02d}{birth.month:02d}{birth.year % 100:02d}{next(_seq) % 9999 + 1:04d}"

    def member_data(self, **overrides) -> dict:
        sex = overrides.get("sex", "P")
        birth = overrides.get("birth_date", date(1985, 3, 14))
        data = {
            "full_name": self.fake.name_female() if sex == "P" else self.fake.name_male(),
            "nik": self.nik(birth, sex), "kk": None, "birth_date": birth, "sex": sex,
            "phone": f"0813{next(_seq):08d}", "address": self.fake.street_address(),
            "province_code": "73", "regency_code": "7372", "district_code": "737202",
            "village_code": "7372021001", "group_id": None, "beneficiary_name": self.fake.name(),
            "beneficiary_relation": "suami", "beneficiary_phone": None, "consent": True,
        }
        data.update(overrides)
        return data

    def member(self, partner: Partner, actor=None, **overrides):
        from bungkesmas.members import services as members

        with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
            member = members.register(actor, partner, self.member_data(**overrides))
            number = member.member_number
        db.session.commit()
        return number

    def sent_mou(self, partner: Partner, **overrides):
        """A draft MOU for `partner` (which has none open), sent through the lifecycle
        with its generated text. Set MOU_STORAGE_DIR first. Returns (MOU id, document id)."""
        from bungkesmas.mous import services as mous
        from bungkesmas.mous.documents import documents_of

        with tenancy.everything():
            mou = mous.create_draft(self.admin, partner, self.mou_terms(**overrides))
            mous.send(self.admin, mou)
            ids = mou.id, documents_of(mou)[0].id
        db.session.commit()
        return ids

    def enrollment(self, partner: Partner, product=None, *, member_number: str | None = None,
                   enrolled_on: date | None = None, **rules):
        """A member of `partner` (a new one unless given) enrolled in `product` (made and
        enabled unless given, with `rules`); back-dated to `enrolled_on` if given.
        Returns the Enrollment, loaded in the partner's scope."""
        from datetime import datetime, time

        from bungkesmas.members import services as members
        from bungkesmas.members.models import Enrollment

        product = product or self.product(partner, code=f"P{next(_seq)}", **rules)
        number = member_number or self.member(partner)
        with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
            member = members.by_number(number)
            enrollment = members.enroll(None, partner, member, product.id)
            if enrolled_on is not None:
                # 04:00 UTC is noon in WITA (UTC+8): the same calendar day.
                enrollment.enrolled_at = datetime.combine(enrolled_on, time(4))
            enrollment_id = enrollment.id
            db.session.commit()
        tenancy.enter_workspace(partner.id)
        return db.session.get(Enrollment, (partner.id, enrollment_id))

    def waste_records(self, partner: Partner, category_name: str = "Kardus Rahasia B"):
        """A waste bank's category with a price, and a deposit of an enrolled member of it
        (2,5 kg); returns (category id, deposit id)."""
        from datetime import timedelta

        from sqlalchemy import select

        from bungkesmas.members.models import Member
        from bungkesmas.timeutil import local_today
        from bungkesmas.waste import services as waste

        today = local_today(partner)
        enrollment = self.enrollment(partner, enrolled_on=today - timedelta(days=30))
        with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
            number = db.session.scalar(select(Member.member_number).where(
                Member.id == enrollment.member_id))
            category = waste.create_category(None, partner, category_name, "paper")
            waste.add_price(None, partner, category, 1700, today - timedelta(days=10))
            deposit = waste.record_deposit(None, partner, number,
                                           [waste.LineInput(category.id, "2,5")], today)
            ids = category.id, deposit.id
            db.session.commit()
        tenancy.activate(tenancy.Scope.nobody())
        return ids

    def token(self, user, partner: Partner | None) -> str:
        with tenancy.everything():
            _, secret = auth.create_token(user, partner, "test")
        db.session.commit()
        return secret

    def member_import(self, partner: Partner, rows: int = 1, file_name: str = "peserta.csv"):
        """A previewed (not yet confirmed) spreadsheet import of `rows` good members;
        returns its id. Set IMPORT_UPLOAD_DIR first to keep the file out of instance/."""
        import csv
        import io

        from bungkesmas.members import imports

        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(imports.COLUMNS)
        for _ in range(rows):
            data = self.member_data()
            writer.writerow([data["full_name"], data["nik"], "", data["birth_date"].isoformat(),
                             data["sex"], data["phone"], data["address"], "7372021001", "",
                             data["beneficiary_name"], "suami", "", "ya", ""])
        with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
            import_id = imports.upload(None, partner, io.BytesIO(out.getvalue().encode()),
                                       file_name).id
        db.session.commit()
        return import_id


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    item.stash[NEXT_ITEM] = nextitem


@pytest.fixture
def make(app):
    return Factory()


def login(client, email: str, password: str = PASSWORD):
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def sign_in(page, base: str, email: str, lands_on: str | None = None) -> None:
    """Sign in through the login page of a real browser; wait for the page it lands on
    (`lands_on`, a path), or just for the next page to load."""
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form.card button[type=submit]")
    if lands_on is None:
        page.wait_for_load_state()
    else:
        page.wait_for_url(f"{base}{lands_on}")


@pytest.fixture
def login_as(client):
    def _login(user_or_email, password: str = PASSWORD):
        email = getattr(user_or_email, "email", user_or_email)
        return login(client, email, password)

    return _login
