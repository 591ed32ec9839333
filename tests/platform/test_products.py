"""Provider admin: products — create, change the rules (a new version; enrollments keep
theirs), enable per partner; only PRODUCTS_MANAGE may."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.auth.permissions import Role
from bungkesmas.errors import DomainError
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Enrollment
from bungkesmas.products.models import PartnerProduct, Product, ProductVersion
from bungkesmas.products.services import BUNGKESMAS_DEFAULTS

FIELD_ERROR = re.compile(r'<p class="error" id="([\w-]+)-error">(.*?)</p>', re.S)


def form_data(**overrides) -> dict:
    data = {"code": "BKM-PLUS", "name": "Bungkesmas Plus",
            **{k: str(v) for k, v in BUNGKESMAS_DEFAULTS.items()}}
    data.update(overrides)
    return data


def errors_of(response) -> dict[str, str]:
    return dict(FIELD_ERROR.findall(response.get_data(as_text=True)))


def product_by_code(code: str) -> Product | None:
    return db.session.scalar(select(Product).where(Product.code == code))


def test_create_a_product_with_the_published_defaults(client, make, login_as):
    login_as(make.admin)
    page = client.get("/admin/products/baru")
    assert page.status_code == 200
    assert 'value="150000"' in page.get_data(as_text=True)
    response = client.post("/admin/products/baru", data=form_data(
        code="bkm-plus", annual_contribution="175000", hospital_nights_per_year="60"))
    assert response.status_code == 302, errors_of(response)
    product = product_by_code("BKM-PLUS")
    assert response.location.endswith(f"/admin/products/{product.id}")
    version = product.current
    assert (version.version, version.annual_contribution, version.hospital_nights_per_year,
            version.death_benefit) == (1, 175_000, 60, 2_500_000)
    detail = client.get(f"/admin/products/{product.id}").get_data(as_text=True)
    assert "Rp175.000" in detail and "Bungkesmas Plus" in detail
    listing = client.get("/admin/products").get_data(as_text=True)
    assert "BKM-PLUS" in listing and "Rp175.000" in listing


@pytest.mark.parametrize("field, value", [
    ("annual_contribution", "150000.50"),
    ("annual_contribution", "150.000"),
    ("annual_contribution", "-150000"),
    ("annual_contribution", ""),
    ("min_age", "-1"),
    ("term_months", "1,5"),
    ("surgery_benefit", "satu juta"),
    ("hospital_nights_per_year", "367"),
    ("death_benefit", "9" * 40),
])
def test_whole_number_fields_refuse_decimals_negatives_and_words(client, make, login_as,
                                                                 field, value):
    login_as(make.admin)
    response = client.post("/admin/products/baru", data=form_data(**{field: value}))
    assert response.status_code == 422
    assert list(errors_of(response)) == [field]
    assert product_by_code("BKM-PLUS") is None


def test_domain_rules_show_next_to_their_field(client, make, login_as):
    make.product(code="BKM")
    login_as(make.admin)
    for overrides, field in (({"min_age": "30", "max_age": "20"}, "max_age"),
                             ({"annual_contribution": "0"}, "annual_contribution"),
                             ({"code": "bkm"}, "code"), ({"name": "  "}, "name")):
        response = client.post("/admin/products/baru", data=form_data(**overrides))
        assert response.status_code == 422, overrides
        assert list(errors_of(response)) == [field], overrides
    assert db.session.scalar(select(func.count()).select_from(Product)) == 1


def test_changing_the_rules_makes_a_new_version_and_enrollments_keep_theirs(
        client, make, login_as):
    partner = make.partner()
    product = make.product(partner)
    product_id = product.id
    number = make.member(partner)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        members.enroll(None, partner, members.by_number(number), product_id)
        db.session.commit()
    login_as(make.admin)
    form = client.get(f"/admin/products/{product_id}/ubah").get_data(as_text=True)
    assert 'value="150000"' in form
    response = client.post(f"/admin/products/{product_id}/ubah", data=form_data(
        annual_contribution="175000", code="ignored", name="ignored"))
    assert response.status_code == 302, errors_of(response)
    versions = db.session.scalars(select(ProductVersion).where(
        ProductVersion.product_id == product_id).order_by(ProductVersion.version)).all()
    assert [(v.version, v.annual_contribution) for v in versions] == [(1, 150_000), (2, 175_000)]
    with tenancy.everything():
        (enrollment,) = db.session.scalars(select(Enrollment)).all()
        assert enrollment.product_version.version == 1
        assert enrollment.product_version.annual_contribution == 150_000
    detail = client.get(f"/admin/products/{product_id}").get_data(as_text=True)
    assert "Rp175.000" in detail and "Rp150.000" in detail
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>.*?</td>\s*<td>(Rp[\d.]+)</td>\s*"
                      r"<td>(\d+)</td>", detail, re.S)
    assert rows == [("2", "Rp175.000", "0"), ("1", "Rp150.000", "1")]
    # A member enrolled now gets the new version.
    later = make.member(partner)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        enrollment = members.enroll(None, partner, members.by_number(later), product_id)
        assert enrollment.product_version.annual_contribution == 175_000
        db.session.commit()
    # Saving the same rules again makes no version.
    again = client.post(f"/admin/products/{product_id}/ubah", data=form_data(
        annual_contribution="175000"))
    assert again.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(ProductVersion).where(
        ProductVersion.product_id == product_id)) == 2
    bad = client.post(f"/admin/products/{product_id}/ubah", data=form_data(waiting_days="7.5"))
    assert bad.status_code == 422 and list(errors_of(bad)) == ["waiting_days"]


def test_enabling_a_product_for_a_partner_lets_it_enroll(client, make, login_as):
    a, b = make.partner(), make.partner()
    make.partner(slug="mitra-lain")
    product = make.product(code="BKM")
    product_id, a_id, b_id = product.id, a.id, b.id
    number = make.member(a)

    def enroll():
        with tenancy.scoped(tenancy.Scope.tenants(a_id)):
            members.enroll(None, a, members.by_number(number), product_id)
            db.session.commit()

    with pytest.raises(DomainError):
        enroll()
    db.session.rollback()
    login_as(make.admin)
    page = client.get(f"/admin/products/{product_id}").get_data(as_text=True)
    assert f'name="partner_ids" type="checkbox" value="{a_id}"' in page
    response = client.post(f"/admin/products/{product_id}/mitra", data={"partner_ids": [a_id]})
    assert response.status_code == 302
    enabled = set(db.session.scalars(select(PartnerProduct.partner_id)))
    assert enabled == {a_id}
    enroll()  # now it may
    with tenancy.everything():
        assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 1
    page = client.get(f"/admin/products/{product_id}").get_data(as_text=True)
    assert re.search(rf'checked[^>]*value="{a_id}"|value="{a_id}"[^>]*checked', page)
    switched = client.post(f"/admin/products/{product_id}/mitra", data={"partner_ids": [b_id]})
    assert switched.status_code == 302
    assert set(db.session.scalars(select(PartnerProduct.partner_id))) == {b_id}
    with tenancy.everything():  # the enrollment made while it was offered stays
        assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 1
    bad = client.post(f"/admin/products/{product_id}/mitra", data={"partner_ids": ["999999"]})
    assert bad.status_code == 422
    assert set(db.session.scalars(select(PartnerProduct.partner_id))) == {b_id}


def test_staff_without_products_manage_are_refused(client, make, login_as):
    product = make.product(code="BKM")
    product_id = product.id
    staff = make.provider(Role.PROVIDER_STAFF)
    login_as(staff)
    for method, url in (("get", "/admin/products"), ("get", "/admin/products/baru"),
                        ("post", "/admin/products/baru"), ("get", f"/admin/products/{product_id}"),
                        ("get", f"/admin/products/{product_id}/ubah"),
                        ("post", f"/admin/products/{product_id}/ubah"),
                        ("post", f"/admin/products/{product_id}/mitra")):
        response = getattr(client, method)(url, data=form_data(annual_contribution="1"))
        assert response.status_code == 403, (method, url)
    assert "/admin/products" not in client.get("/admin/partners").get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ProductVersion)) == 1


def test_an_unknown_product_is_not_found(client, make, login_as):
    login_as(make.admin)
    assert client.get("/admin/products/4242").status_code == 404
    assert client.post("/admin/products/4242/ubah", data=form_data()).status_code == 404
