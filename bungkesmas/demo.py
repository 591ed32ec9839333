"""Demo data: the partners of the seed articles, a login for each role.

Built through the domain functions, so the demo shows the same audit trail and
invitations a real onboarding leaves."""

from __future__ import annotations

import itertools

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
        _load_mous(admin, by_slug)
        serials = itertools.count(1)
        _load_members(by_slug, product, ("ylp2em", "bank-sampah-labukkang"), serials)
        _end_ylp2em_pilot(admin, by_slug)
        _load_members(by_slug, product, ("pattiro-jeka",), serials)
        _load_waste_bank(by_slug["bank-sampah-labukkang"])
        _load_remittance(by_slug, admin)
    db.session.commit()
    return True


# --- MOUs ---------------------------------------------------------------------------------
# slug -> (days since the start, length in days, fee share in basis points, frequency).
# YLP2EM enrolled its groups under a pilot MOU, which ends once the members below are in
# (`_end_ylp2em_pilot`); its city-wide MOU is sent and waits for its signature. Until that
# is in force, LSM Pattiro Jeka hosts YLP2EM's new members (DOMAIN.md). KPI's MOU ends
# within 90 days.
MOUS = {
    "pattiro-jeka": (200, 730, 1000, "monthly"),
    "bank-sampah-labukkang": (120, 730, 1500, "monthly"),
    "kpi-parepare": (685, 730, 1000, "quarterly"),
    "ylp2em": (730, 760, 1000, "monthly"),  # the pilot
}
HOSTED_BY = {"ylp2em": "pattiro-jeka"}
SIGNATORIES = {"ylp2em": "Ketua Yayasan", "bank-sampah-labukkang": "Direktur",
               "kpi-parepare": "Ketua Cabang", "pattiro-jeka": "Direktur Eksekutif"}


def _terms(partner, start, days, share, frequency) -> dict:
    from datetime import timedelta

    from bungkesmas.mous import services as mous

    begin = mous.today() - timedelta(days=start)
    return {"start_date": begin, "end_date": begin + timedelta(days=days),
            "fee_share_bp": share, "remittance_frequency": frequency, "remittance_due_day": 10,
            "territory": [partner.regency_code], "product_ids": [], "member_quota": None,
            "clauses": "", "provider_signatory_name": "Dr. Andi Mappanyukki",
            "provider_signatory_title": "Direktur Program Bungkesmas"}


def _load_mous(admin, by_slug: dict) -> None:
    """The MOUs through the lifecycle functions: drafted, sent (with the generated text),
    accepted in the application by the partner admin, countersigned."""
    from bungkesmas.mous import services as mous

    for slug, plan in MOUS.items():
        partner = by_slug[slug]
        mou = mous.send(admin, mous.create_draft(admin, partner, _terms(partner, *plan)))
        mous.sign(auth.user_by_email(partner.contact_email), partner, mou,
                  signatory_name=partner.contact_name, signatory_title=SIGNATORIES[slug],
                  method="accept", accepted=True)
        mous.countersign(admin, mou)


def _end_ylp2em_pilot(admin, by_slug: dict) -> None:
    """YLP2EM's pilot ends; the city-wide MOU is sent; Pattiro Jeka hosts meanwhile."""
    from bungkesmas.mous import services as mous

    ylp2em = by_slug["ylp2em"]
    pilot = mous.in_force(ylp2em.id)
    mous.terminate(admin, pilot, "Masa uji coba selesai; MOU untuk seluruh Kota Parepare "
                                 "sedang ditandatangani.")
    mous.send(admin, mous.create_draft(admin, ylp2em, _terms(ylp2em, 0, 1095, 1250,
                                                             "monthly")))
    for hosted, host in HOSTED_BY.items():
        mous.set_host(admin, by_slug[hosted], by_slug[host])


# --- members ------------------------------------------------------------------------------
# (name, sex, birth date as (year, month, day)); the first of a group is its coordinator.
# Villages of district Ujung (73.72.02), Kota Parepare.
MEMBER_GROUPS = {
    "ylp2em": [
        ("Kelompok Labukkang", "7372021001", "Selasa, minggu kedua", [
            ("Hj. Sitti Aminah", "P", (1968, 4, 12)), ("Andi Baso Tenri", "L", (1975, 9, 3)),
            ("Nurhayati Daeng Te'ne", "P", (1982, 1, 27)), ("Muhammad Arsyad", "L", (1979, 11, 8)),
            ("Besse Tenriawaru", "P", (1990, 6, 15)), ("Syamsuddin Lantara", "L", (1971, 2, 21)),
            ("Hasnah", "P", (1985, 12, 2)), ("Ambo Tuwo", "L", (1964, 7, 30)),
            ("Rahmatia", "P", (1993, 3, 18)), ("Haeruddin", "L", (1988, 10, 5)),
            ("St. Hajrah", "P", (1977, 8, 24)), ("Jumriah", "P", (1996, 5, 9)),
        ]),
        ("Kelompok Ujung Sabbang", "7372021002", "Kamis, minggu pertama", [
            ("Andi Nurhaeda", "P", (1970, 10, 14)), ("Basri Daeng Ngalle", "L", (1969, 3, 6)),
            ("Salmawati", "P", (1987, 7, 19)), ("La Tahang", "L", (1966, 12, 28)),
            ("Rosmiati", "P", (1983, 2, 11)), ("Kamaruddin", "L", (1978, 5, 23)),
            ("Darmawati", "P", (1991, 9, 1)), ("Sudirman Pawelloi", "L", (1974, 4, 16)),
            ("Hamsinah", "P", (1962, 11, 20)), ("Abdul Rahman Page", "L", (1985, 8, 7)),
            ("Marwah", "P", (1998, 1, 13)), ("Asriani", "P", (1994, 6, 26)),
        ]),
    ],
    # Registered by LSM Pattiro Jeka on behalf of YLP2EM until YLP2EM's city-wide MOU is
    # signed (marked as hosted for YLP2EM, see `_load_members`).
    "pattiro-jeka": [
        ("Kelompok Ujung Bulu", "7372021003", "Sabtu sore", [
            ("Mustari", "L", (1972, 3, 29)), ("Hasmawati", "P", (1986, 10, 10)),
            ("Sarifuddin", "L", (1980, 12, 4)), ("Wahyuni", "P", (1995, 7, 22)),
            ("Ratna Sari Dewi", "P", (1989, 2, 17)),
        ]),
    ],
    # Customers of the waste bank, paying with sorted waste; one not enrolled yet.
    "bank-sampah-labukkang": [
        (None, "7372021001", None, [
            ("Nurbaya", "P", (1976, 9, 12)), ("Rusdi", "L", (1984, 4, 2)),
            ("Sitti Rahmawati", "P", (1992, 11, 30)),
        ]),
    ],
}
NOT_ENROLLED = {"Sitti Rahmawati"}
# Contributions, so the demo shows every status: name -> (enrolled days ago, payments as
# (days ago, rupiah, method, bank reference)). The product: Rp150.000 a year, 30 days'
# waiting, 30 days' grace.
PAYMENTS = {
    "Hj. Sitti Aminah": (200, [(190, 150_000, "cash", None)]),                  # active
    "Andi Baso Tenri": (120, [(110, 100_000, "cash", None),
                              (100, 50_000, "bank_transfer", "BRI 4471 0923")]),  # active
    "Nurhayati Daeng Te'ne": (20, [(10, 150_000, "cash", None)]),              # waiting
    "Muhammad Arsyad": (400, [(380, 150_000, "cash", None)]),                  # grace
    "Besse Tenriawaru": (500, [(480, 150_000, "cash", None)]),                 # lapsed
    "Syamsuddin Lantara": (60, [(50, 75_000, "cash", None)]),                  # saving
    "Andi Nurhaeda": (400, [(395, 300_000, "bank_transfer", "BNI 0087 5521")]),  # 2 years
}
STREETS = ("Jl. Bau Massepe", "Jl. Andi Makkasau", "Jl. Lasinrang", "Jl. Mattirotasi",
           "Jl. Pinggir Laut", "Jl. Sultan Hasanuddin")
SPOUSES = {"P": ("Abdul Haris", "Muh. Ridwan", "Ambo Dalle", "Jamaluddin"),
           "L": ("Nurlina", "Sitti Maryam", "Hasniah", "Rosdiana")}


def _load_members(by_slug: dict, product, slugs, serials) -> None:
    """Groups and members of `slugs` through the domain functions, each in its partner's
    scope; `serials` numbers the NIKs across calls."""
    from datetime import date

    from bungkesmas.members import services as members

    admins = {"ylp2em": "admin@ylp2em.demo", "pattiro-jeka": "admin@pattiro-jeka.demo",
              "bank-sampah-labukkang": "admin@labukkang.demo"}
    for slug, groups in MEMBER_GROUPS.items():
        if slug not in slugs:
            continue
        partner = by_slug[slug]
        actor = auth.user_by_email(admins[slug])
        collector = auth.user_by_email("kader@ylp2em.demo") if slug == "ylp2em" else actor
        hosted_for = by_slug["ylp2em"].id if slug == "pattiro-jeka" else None
        with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
            for group_name, village, meeting_day, people in groups:
                group = (members.create_group(actor, partner, group_name, village, meeting_day)
                         if group_name else None)
                registered = []
                for name, sex, (year, month, day) in people:
                    serial = next(serials)
                    born = date(year, month, day)
                    nik = (f"737202{day + (40 if sex == 'P' else 0):02d}{month:02d}"
                           f"{year % 100:02d}{serial:04d}")
                    member = members.register(actor, partner, {
                        "full_name": name, "nik": nik, "birth_date": born, "sex": sex,
                        "phone": f"0812 42{serial:02d} {3100 + serial * 7:04d}",
                        "address": f"{STREETS[serial % len(STREETS)]} No. {serial * 3 % 90 + 1}",
                        "province_code": "73", "regency_code": "7372", "district_code": "737202",
                        "village_code": village, "group_id": group.id if group else None,
                        "beneficiary_name": SPOUSES[sex][serial % len(SPOUSES[sex])],
                        "beneficiary_relation": "suami" if sex == "P" else "istri",
                        "consent": True, "hosted_for_id": hosted_for})
                    if name not in NOT_ENROLLED:
                        enrollment = members.enroll(actor, partner, member, product.id)
                        if name in PAYMENTS:
                            _pay(collector, enrollment, *PAYMENTS[name])
                    registered.append(member)
                if group is not None:
                    members.set_coordinator(actor, partner, group, registered[0])


def _pay(collector, enrollment, enrolled_days_ago: int, payments) -> None:
    """Back-date the enrollment (entered now, enrolled earlier on paper) and record its
    paper receipts through the ledger."""
    from datetime import timedelta

    from bungkesmas.contributions import services as ledger
    from bungkesmas.timeutil import local_today, utcnow

    enrollment.enrolled_at = utcnow() - timedelta(days=enrolled_days_ago)
    today = local_today()
    for days_ago, amount, method, reference in payments:
        ledger.record_payment(collector, enrollment, method, amount,
                              today - timedelta(days=days_ago), reference)


# --- the waste bank -------------------------------------------------------------------------
# Bank Sampah Labukkang's price list: plausible 2024 prices in Parepare (rupiah per kg), a
# first price from 150 days back, and two later changes (day offsets from today).
WASTE_PRICES = [
    # name, material, first price, (days ago, new price) or None
    ("Botol plastik PET", "plastic", 2500, (45, 2800)),
    ("Gelas plastik bening", "plastic", 3500, None),
    ("Plastik campur (kresek)", "plastic", 500, None),
    ("Kardus", "paper", 1700, (45, 1500)),
    ("Kertas HVS / arsip", "paper", 2000, None),
    ("Besi", "metal", 3500, None),
    ("Kaleng aluminium", "metal", 12000, None),
    ("Botol kaca", "glass", 300, None),
]
# Deposits: member, days ago, [(category, kg)]. Nurbaya's waste pays her year's
# contribution after three deposits; Rusdi saves toward it.
WASTE_DEPOSITS = [
    ("Nurbaya", 100, [("Botol plastik PET", "12,5"), ("Kardus", "20"), ("Kaleng aluminium", "2,4")]),
    ("Rusdi", 80, [("Gelas plastik bening", "4,2"), ("Plastik campur (kresek)", "7,35")]),
    ("Nurbaya", 60, [("Botol plastik PET", "8,2"), ("Besi", "6,5"), ("Botol kaca", "5")]),
    ("Nurbaya", 30, [("Botol plastik PET", "6,75"), ("Kardus", "10")]),
    ("Rusdi", 12, [("Kertas HVS / arsip", "9,8"), ("Besi", "3,15"), ("Kaleng aluminium", "0,85")]),
]
WASTE_ENROLLED_DAYS_AGO = 120


def _load_waste_bank(partner) -> None:
    """Labukkang's price list and a few deposits of its members, through the domain
    functions. Its members' enrollments are dated back so the deposits fall after them."""
    from datetime import datetime, time, timedelta

    from bungkesmas.members.models import Enrollment, Member
    from bungkesmas.timeutil import local_today
    from bungkesmas.waste import services as waste

    actor = auth.user_by_email("admin@labukkang.demo")
    today = local_today(partner)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        enrolled = datetime.combine(today - timedelta(days=WASTE_ENROLLED_DAYS_AGO), time(1))
        for enrollment in db.session.scalars(select(Enrollment).where(
                Enrollment.tenant_id == partner.id)):
            enrollment.enrolled_at = enrolled
        categories = {}
        for name, material, price, _change in WASTE_PRICES:
            category = waste.create_category(actor, partner, name, material)
            categories[name] = category
            waste.add_price(actor, partner, category, price, today - timedelta(days=150),
                            today=today)
        for name, _material, _price, change in WASTE_PRICES:
            if change is not None:
                day = today - timedelta(days=change[0])
                waste.add_price(actor, partner, categories[name], change[1], day, today=day)
        numbers = dict(db.session.execute(select(Member.full_name, Member.member_number).where(
            Member.tenant_id == partner.id)).all())
        for member, days_ago, lines in WASTE_DEPOSITS:
            waste.record_deposit(actor, partner, numbers[member], [
                waste.LineInput(categories[category].id, kg) for category, kg in lines],
                today - timedelta(days=days_ago))


def _load_remittance(by_slug: dict, admin) -> None:
    """Remittance terms for the partners with members; YLP2EM's periods closed up to last
    month and paid, except the last two (one paid short, one not yet paid)."""
    from bungkesmas.remittance import services as remittance
    from bungkesmas.remittance.periods import Frequency, period_of
    from bungkesmas.timeutil import local_today

    for slug, fee_share_bp in (("ylp2em", 1000), ("pattiro-jeka", 1250),
                               ("bank-sampah-labukkang", 1500)):
        remittance.update_settings(admin, by_slug[slug], fee_share_bp, "monthly", 10)
    ylp2em, today = by_slug["ylp2em"], local_today()
    period = period_of(remittance.first_money_on(ylp2em.id) or today, Frequency.MONTHLY)
    issued = []
    while period.end <= today:
        issued.append(remittance.issue(admin, ylp2em, period))
        period = period.next()
    paid = [s for s in issued if s.due_to_provider > 0]
    for n, statement in enumerate(paid[:-1]):
        short = 5_000 if n == len(paid) - 2 else 0
        remittance.record_receipt(admin, ylp2em, statement.number,
                                  statement.due_to_provider - short,
                                  min(today, statement.due_on), f"BRI TRF {8800 + n}")


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
