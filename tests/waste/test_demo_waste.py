"""The demo waste bank: Labukkang's price list and its members' deposits."""

from __future__ import annotations

from sqlalchemy import select

from bungkesmas import demo, tenancy
from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment, Member
from bungkesmas.partners.models import Partner
from bungkesmas.timeutil import local_today
from bungkesmas.waste import services as waste
from bungkesmas.waste.models import WasteDeposit
from tests.helpers import login


def test_labukkang_has_a_price_list_and_deposits_that_pay_contributions(app, client):
    assert demo.load()
    with tenancy.everything():
        labukkang = db.session.scalar(select(Partner).where(
            Partner.slug == "bank-sampah-labukkang"))
        prices = waste.prices_in_force(labukkang, local_today(labukkang))
        names = {c.id: c.name for c in waste.categories(labukkang)}
        current = {names[k]: p.price_per_kg for k, p in prices.items()}
        assert current["Botol plastik PET"] == 2800 and current["Kardus"] == 1500
        assert current["Kaleng aluminium"] == 12000 and len(current) == 8
        deposits = db.session.scalars(select(WasteDeposit)).all()
        assert len(deposits) == len(demo.WASTE_DEPOSITS)
        assert all(d.total_value == sum(ln.value for ln in d.lines) for d in deposits)
        funded = dict(db.session.execute(select(Member.full_name, Enrollment.terms_funded).join(
            Enrollment, Enrollment.member_id == Member.id).where(
            Member.tenant_id == labukkang.id)).all())
    assert funded == {"Nurbaya": 1, "Rusdi": 0}
    login(client, "admin@labukkang.demo", demo.DEMO_PASSWORD)
    page = client.get("/p/bank-sampah-labukkang/bank-sampah/setoran").get_data(as_text=True)
    assert "Nurbaya" in page and "Rusdi" in page
    prices_page = client.get("/p/bank-sampah-labukkang/bank-sampah/harga").get_data(as_text=True)
    assert "Rp2.800" in prices_page and "Botol kaca" in prices_page
