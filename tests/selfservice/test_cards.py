"""Member cards: the QR token (signed, bound to the member and the card version, no NIK),
the /cek/<token> page, revocation by transfer and by the partner admin, and printing a
member's card and a group's cards as PDF from the partner workspace."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.errors import NotAllowed
from bungkesmas.extensions import db
from bungkesmas.members.models import Member
from bungkesmas.selfservice import cards, services
from tests.helpers import login
from tests.selfservice.conftest import ADMIN, SLUG, person


def member_of(someone) -> Member:
    with tenancy.everything():
        return db.session.scalar(select(Member).where(Member.id == someone.member_id))


def token_of(someone) -> str:
    return services.card_token(member_of(someone))


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_the_card_token_opens_the_same_answer_without_typing(app, client, active):
    url = services.card_url(member_of(active))
    assert url.startswith(app.config["BASE_URL"].rstrip("/") + "/cek/")
    response = client.get(path_of(url))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-status="active"' in html and "Aktif sampai" in html
    assert active.number not in html and active.nik not in html


def test_the_token_holds_no_nik_and_no_member_number(app, active):
    token = token_of(active)
    assert active.nik not in token and active.number.replace("-", "") not in token
    member = member_of(active)
    assert member.nik_digest not in token
    assert len(services.card_url(member)) < 120  # a small QR code


@pytest.mark.parametrize("mangle", [
    # signature changed (not its last character: that one also carries padding bits)
    lambda t: t[:-5] + ("A" if t[-5] != "A" else "B") + t[-4:],
    lambda t: "AAAAAAAAAAAAAAAAAAAAAA" + t[22:],         # another member id
    lambda t: t.replace(".1.", ".2.", 1),                 # another card version
    lambda t: "bukan-token",
    lambda t: "",
])
def test_a_forged_token_is_refused(app, active, mangle):
    assert services.check_card(mangle(token_of(active))) is None


def test_a_token_signed_with_another_secret_is_refused(app, active):
    token = token_of(active)
    secret = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "another-secret-key-of-at-least-32-characters"
    try:
        assert services.check_card(token) is None
        assert services.check_card(token_of(active)) is not None
    finally:
        app.config["SECRET_KEY"] = secret
    assert services.check_card(token) is not None  # the original still works


def test_a_bad_token_shows_a_clear_page_not_an_error(client, active):
    for token in ("bukan-token", token_of(active)[:-3] + "xyz", "a" * 500):
        response = client.get(f"/cek/{token}")
        assert response.status_code == 404
        assert "Kartu tidak berlaku lagi" in response.get_data(as_text=True)


def test_revoking_makes_earlier_cards_invalid_and_new_ones_work(app, make, partner, active):
    old = token_of(active)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        admin = _user(ADMIN)
        services.revoke_cards(admin, partner, member_of(active))
        db.session.commit()
    assert services.check_card(old) is None
    assert services.check_card(token_of(active)) is not None
    with tenancy.everything():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "member.cards_revoke"))
    assert event.partner_id == partner.id and event.after == {"card_version": 2}


def _user(email):
    from bungkesmas.auth import services as auth

    with tenancy.everything():
        return auth.user_by_email(email)


def test_an_officer_may_print_but_not_revoke(app, make, partner, active):
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        with pytest.raises(NotAllowed):
            services.revoke_cards(officer, partner, member_of(active))
        services.record_printing(officer, partner, [member_of(active)])


def test_a_transfer_revokes_the_cards(app, make, partner, active):
    from bungkesmas.members.services import move_members

    other = make.partner()
    old = token_of(active)
    move_members(None, [active.member_id], other)
    db.session.commit()
    assert services.check_card(old) is None
    answer = services.check_card(token_of(active))
    assert answer is not None and answer.partner_name == other.name


# --- the PDFs ----------------------------------------------------------------------------

LABELS = {"title": "Kartu Peserta Bungkesmas", "member_number": "Nomor peserta",
          "partner": "Mitra", "scan": "Pindai untuk cek status"}
CARD = cards.Card(name="Hj. Andi Besse Tenri Ajeng", member_number="0012-000345-7",
                  partner="Yayasan Lembaga Pengkajian dan Pengembangan Ekonomi Masyarakat",
                  url="https://bungkesmas.id/cek/AbCdEfGhIjKlMnOpQrStUv.1.x")


def media_boxes(pdf: bytes) -> list[tuple[float, float]]:
    """The page size in millimetres, once per page."""
    boxes = {(round(float(w) / 72 * 25.4, 1), round(float(h) / 72 * 25.4, 1))
             for w, h in re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)}
    assert len(boxes) == 1
    return list(boxes) * len(re.findall(rb"/Type /Page\b", pdf))


def test_one_card_is_credit_card_sized(app):
    pdf = cards.card_pdf(CARD, LABELS)
    assert pdf.startswith(b"%PDF") and media_boxes(pdf) == [(85.6, 54.0)]


def test_a_group_prints_ten_cards_to_an_a4_page(app):
    pdf = cards.sheet_pdf([CARD] * 11, LABELS, title="Kelompok Labukkang")
    assert media_boxes(pdf) == [(210.0, 297.0)] * 2


def test_the_qr_code_holds_the_card_address(app):
    """The drawn modules are segno's matrix of the address (one rectangle per run)."""
    import segno

    matrix = segno.make(CARD.url, error="m", micro=False).matrix
    runs = sum(len(re.findall(rb"\x01+", bytes(row))) for row in matrix)
    doc = cards._new((cards.CARD_W, cards.CARD_H))
    doc.add_page()
    cards._qr(doc, 0, 0, cards.QR_SIZE, CARD.url)
    content = doc.pages[1].contents
    assert content.count(b" re f") == runs + 1  # + the white background


# --- the partner's pages -----------------------------------------------------------------


@pytest.fixture
def admin(client, partner):
    login(client, ADMIN)
    return client


def test_the_member_page_prints_the_card_and_audits_it(admin, partner, active):
    html = admin.get(f"/p/{SLUG}/peserta/{active.number}").get_data(as_text=True)
    assert f"/p/{SLUG}/peserta/{active.number}/kartu.pdf" in html and 'id="revoke-cards"' in html
    response = admin.get(f"/p/{SLUG}/peserta/{active.number}/kartu.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert media_boxes(response.get_data()) == [(85.6, 54.0)]
    with tenancy.everything():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "member.cards_print"))
    assert event.partner_id == partner.id and event.after == {"members": [active.number]}


def test_the_group_page_prints_the_groups_cards(admin, make, partner):
    from bungkesmas.members.services import create_group

    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        group = create_group(None, partner, "Kelompok Kartu")
        group_id = group.id
        db.session.commit()
    for _ in range(3):
        person(make, partner, group_id=group_id)
    html = admin.get(f"/p/{SLUG}/kelompok/{group_id}").get_data(as_text=True)
    assert f"/p/{SLUG}/kelompok/{group_id}/kartu.pdf" in html
    response = admin.get(f"/p/{SLUG}/kelompok/{group_id}/kartu.pdf")
    assert response.status_code == 200 and media_boxes(response.get_data()) == [(210.0, 297.0)]


def test_the_admin_revokes_from_the_member_page(admin, active):
    old = token_of(active)
    response = admin.post(f"/p/{SLUG}/peserta/{active.number}/kartu/cabut")
    assert response.status_code == 302
    assert admin.get(f"/cek/{old}").status_code == 404
    assert admin.get(f"/cek/{token_of(active)}").status_code == 200


def test_another_partner_prints_no_card_of_ours(client, make, active):
    make.partner(slug="mitra-lain", admin_email="admin-lain@contoh.id")
    login(client, "admin-lain@contoh.id")
    for url in (f"/p/mitra-lain/peserta/{active.number}/kartu.pdf",
                f"/p/{SLUG}/peserta/{active.number}/kartu.pdf"):
        assert client.get(url).status_code == 404
    assert client.post(f"/p/mitra-lain/peserta/{active.number}/kartu/cabut").status_code == 404


def test_a_parent_partner_sees_but_does_not_print_its_childs_cards(client, make, partner, active):
    parent = make.partner(slug="mitra-induk", admin_email="admin-induk@contoh.id")
    with tenancy.everything():
        db.session.get(type(partner), partner.id).parent_id = parent.id
        db.session.commit()
    login(client, "admin-induk@contoh.id")
    assert client.get(f"/p/mitra-induk/peserta/{active.number}").status_code == 200
    assert client.get(f"/p/mitra-induk/peserta/{active.number}/kartu.pdf").status_code == 403
    assert client.get(f"/p/{SLUG}/peserta/{active.number}/kartu.pdf").status_code == 403

