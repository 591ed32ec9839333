"""The demo's remittance: terms for the partners with members, YLP2EM's closed periods
with the money received (settled, one short, the last one still unpaid)."""

from __future__ import annotations

from sqlalchemy import select

from bungkesmas import demo, tenancy
from bungkesmas.extensions import db
from bungkesmas.partners.models import Partner
from bungkesmas.remittance import services as remittance
from bungkesmas.remittance.services import PeriodState
from bungkesmas.remittance.services import ReconciliationStatus as S
from bungkesmas.timeutil import local_today
from tests.helpers import login


def test_the_demo_shows_closed_paid_short_and_unpaid_statements(app, client):
    assert demo.load()
    with tenancy.everything():
        ylp2em = db.session.scalar(select(Partner).where(Partner.slug == "ylp2em"))
        assert remittance.terms_on(ylp2em.id, local_today()).fee_share_bp == 1000
        issued = [s for s in remittance.periods(ylp2em.id, year=None)
                  if s.state == PeriodState.ISSUED and s.due_to_provider > 0]
    assert len(issued) >= 2
    assert issued[1].status == S.SHORT and issued[1].difference == -5_000
    assert issued[0].received == 0 and issued[0].status in (S.NOT_YET_DUE, S.OVERDUE)
    assert all(s.status == S.SETTLED for s in issued[2:])
    login(client, "admin@bungkesmas.demo", demo.DEMO_PASSWORD)
    assert "YLP2EM" in client.get("/admin/setoran").get_data(as_text=True)
    assert client.get("/admin/setoran/ylp2em").status_code == 200
