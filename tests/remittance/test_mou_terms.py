"""The remittance statement takes its fee share and schedule from the MOU in force on
each date, and falls back to the provider's per-partner settings where none is."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bungkesmas import tenancy
from bungkesmas.auth import services as auth
from bungkesmas.contributions import services as ledger
from bungkesmas.errors import Conflict
from bungkesmas.extensions import db
from bungkesmas.mous import services as mous
from bungkesmas.remittance import services as remittance
from bungkesmas.remittance.periods import Frequency, period_of
from bungkesmas.timeutil import local_today


def pay(enrollment, amount, on):
    tenancy.enter_workspace(enrollment.tenant_id)
    entry = ledger.record_payment(None, enrollment, "cash", amount, on, None)
    db.session.commit()
    return entry


def test_each_days_money_takes_the_fee_share_of_the_mou_in_force_that_day(make, client):
    today = local_today()
    last = period_of(today, Frequency.MONTHLY).previous()
    partner = make.partner(mou=False, slug="mitra-mou-setoran")
    remittance.update_settings(make.admin, partner, 1250, "monthly", 15)
    db.session.commit()
    make.active_mou(partner, start_date=last.start + timedelta(days=14), fee_share_bp=1000,
                    remittance_due_day=10)
    enrollment = make.enrollment(partner, enrolled_on=today - timedelta(days=400))
    pay(enrollment, 100_000, last.start)                       # settings: 12.5 % → 12 500
    pay(enrollment, 100_003, last.start + timedelta(days=20))  # the MOU: 10 % → 10 000

    tenancy.enter_workspace(partner.id)
    result = remittance.find(partner.id, last.key)
    parts = [(p["fee_share_bp"], p["collected"], p["fee"], p["source"])
             for p in result.fee_parts]
    assert parts == [(1250, 100_000, 12_500, "settings"), (1000, 100_003, 10_000, "mou")]
    assert result.fee == 22_500 and result.due_to_provider == 200_003 - 22_500
    # The schedule (due day) is that of the MOU in force on the period's last day.
    assert result.fee_share_bp == 1000 and result.due_on == last.end.replace(day=10)

    issued = remittance.issue(make.admin, partner, last)
    db.session.commit()
    again = remittance.find(partner.id, issued.number)
    assert again.fee_parts == result.fee_parts and again.fee == 22_500

    from tests.helpers import login

    login(client, make.admin.email)
    html = client.get(f"/admin/setoran/mitra-mou-setoran/{issued.number}").get_data(
        as_text=True)
    assert "12,5" in html and "Rp22.500" in html.replace("\xa0", "")


def test_the_schedule_changes_per_quarter_by_the_terms_on_its_first_day(make):
    partner = make.partner(mou=False)
    make.active_mou(partner, start_date=date(2025, 2, 10), end_date=date(2025, 12, 31),
                    remittance_frequency="quarterly", fee_share_bp=1500)
    book = remittance.TermsBook(partner.id)
    assert book.on(date(2025, 2, 9)).source == "default"
    assert book.on(date(2025, 2, 10)).fee_share_bp == 1500
    # The MOU starts inside Q1: Q1 stays monthly, its quarters begin with Q2.
    assert book.period(date(2025, 2, 20)).key == "2025-02"
    assert book.period(date(2025, 3, 31)).key == "2025-03"
    assert book.period(date(2025, 4, 1)).key == "2025-Q2"
    assert book.period(date(2025, 12, 31)).key == "2025-Q4"
    assert book.period(date(2026, 1, 1)).key == "2026-01"  # ended: the default, monthly
    tenancy.enter_workspace(partner.id)
    assert remittance.find(partner.id, "2025-Q2").period.key == "2025-Q2"
    for not_a_period in ("2025-Q1", "2025-05"):
        with pytest.raises(LookupError):
            remittance.find(partner.id, not_a_period)


def test_an_mou_whose_schedule_cuts_through_an_issued_statement_is_not_countersigned(
        make, app, tmp_path):
    app.config["MOU_STORAGE_DIR"] = str(tmp_path / "mous")
    partner = make.partner(mou=False)
    quarter = period_of(local_today(), Frequency.QUARTERLY).previous()
    remittance.issue(make.admin, partner, period_of(quarter.start, Frequency.MONTHLY))
    db.session.commit()
    mou_id, _ = make.sent_mou(partner, start_date=quarter.start,
                              end_date=quarter.start + timedelta(days=700),
                              remittance_frequency="quarterly")
    with tenancy.everything():
        mou = mous.get(mou_id)
        admin = auth.user_by_email(partner.contact_email)
        mous.sign(admin, partner, mou, signatory_name="Hj. Andi", signatory_title="Ketua",
                  method="accept", accepted=True)
        db.session.commit()
        with pytest.raises(Conflict, match=f"SET-{partner.id:04d}"):
            mous.countersign(make.admin, mous.get(mou_id))
        db.session.rollback()
        assert mous.get(mou_id).status == "partner_signed"
    assert remittance.terms_on(partner.id, quarter.start).source == "default"
