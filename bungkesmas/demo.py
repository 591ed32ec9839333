"""Demo data: the partners of the seed articles, a login for each role.

Built through the domain functions, so the demo shows the same audit trail and
invitations a real onboarding leaves."""

from __future__ import annotations

from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.auth import services as auth
from bungkesmas.auth.models import User
from bungkesmas.auth.permissions import Role
from bungkesmas.extensions import db
from bungkesmas.partners import services as partners
from bungkesmas.partners.models import PartnerType
from bungkesmas.products import services as products

DEMO_PASSWORD = "bungkesmas-demo-2026"  # noqa: S105 — printed for the demo on purpose

PARTNERS = [
    # slug, name, type, province, regency, contact, phone, e-mail, members, groups, parent
    ("ylp2em", "YLP2EM Parepare", PartnerType.NGO, "73", "7372", "Hj. Andi Rahmawati",
     "0812 4200 1100", "admin@ylp2em.demo", 660, 22, None),
    ("bank-sampah-labukkang", "Bank Sampah Kelurahan Labukkang", PartnerType.WASTE_BANK, "73",
     "7372", "Nurhayati", "0813 5500 2211", "admin@labukkang.demo", 120, 4, "ylp2em"),
    ("kpi-parepare", "KPI Cabang Parepare", PartnerType.ASSOCIATION, "73", "7372",
     "St. Hasnah", "0852 9900 3322", "admin@kpi-parepare.demo", 200, 8, None),
    ("pattiro-jeka", "LSM Pattiro Jeka", PartnerType.NGO, "73", "7372", "Muh. Arief",
     "0821 3344 5566", "admin@pattiro-jeka.demo", 150, 5, None),
]
APPLICANT = ("APHI Wajo", PartnerType.ASSOCIATION, "73", "7313", "Hj. Besse Tenri",
             "0811 4477 8899", "kontak@aphi-wajo.demo", 80, 3)

LOGINS = [
    ("provider admin", "admin@bungkesmas.demo"),
    ("provider staff", "staf@bungkesmas.demo"),
    ("partner admin — YLP2EM Parepare", "admin@ylp2em.demo"),
    ("partner officer — YLP2EM Parepare", "kader@ylp2em.demo"),
    ("partner admin — Bank Sampah Labukkang (child of YLP2EM)", "admin@labukkang.demo"),
    ("partner admin — KPI Cabang Parepare", "admin@kpi-parepare.demo"),
    ("partner admin — LSM Pattiro Jeka", "admin@pattiro-jeka.demo"),
]


def is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(User))


def load() -> bool:
    """Load the demo data into an empty database; return False if it was not empty."""
    if not is_empty():
        return False
    with tenancy.everything():
        admin = auth.create_provider_user("admin@bungkesmas.demo", "Admin Bungkesmas",
                                          DEMO_PASSWORD, Role.PROVIDER_ADMIN)
        auth.create_provider_user("staf@bungkesmas.demo", "Staf Bungkesmas", DEMO_PASSWORD,
                                  Role.PROVIDER_STAFF)
        by_slug = {}
        referrer = None
        for slug, name, kind, prov, reg, contact, phone, email, members, groups, parent in PARTNERS:
            partner = partners.apply(_application(name, kind, prov, reg, contact, phone, email,
                                                  members, groups, referrer))
            _, link = partners.approve(admin, partner, slug,
                                       by_slug[parent].id if parent else None)
            auth.accept_invitation(link.rsplit("/", 1)[1], name=contact, password=DEMO_PASSWORD)
            by_slug[slug] = partner
            if slug == "kpi-parepare":
                referrer = partner.id  # KPI recommends the organisations after it
        ylp2em_admin = auth.user_by_email("admin@ylp2em.demo")
        _, link = auth.invite(ylp2em_admin, by_slug["ylp2em"], "kader@ylp2em.demo",
                              Role.PARTNER_OFFICER, name="Rini Kader")
        auth.accept_invitation(link.rsplit("/", 1)[1], name="Rini Kader", password=DEMO_PASSWORD)
        partners.apply(_application(*APPLICANT, by_slug["kpi-parepare"].id))
        product = products.create(admin, "BKM", "Bungkesmas", products.BUNGKESMAS_DEFAULTS)
        for partner in by_slug.values():
            products.set_enabled(admin, partner, product, True)
    db.session.commit()
    return True


def _application(name, kind, prov, reg, contact, phone, email, members, groups, referrer):
    from bungkesmas.forms import normalise_phone

    return {"name": name, "org_type": kind, "province_code": prov, "regency_code": reg,
            "address": "", "contact_name": contact, "contact_phone": normalise_phone(phone),
            "contact_email": email, "expected_members": members, "expected_groups": groups,
            "referrer_id": referrer}


def print_logins(echo=print) -> None:
    echo("")
    echo(f"Demo logins (password for all: {DEMO_PASSWORD})")
    for role, email in LOGINS:
        echo(f"  {role:<58} {email}")
    echo("")
