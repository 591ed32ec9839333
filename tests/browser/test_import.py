"""Importing members in a real browser: a sheet with three bad rows is checked and
nothing is saved; the corrected sheet is checked again, confirmed, and the members exist."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment, Member
from tests.helpers import Factory, sign_in
from tests.members.test_import import csv_bytes, person, xlsx_bytes

pytestmark = pytest.mark.browser

SLUG = "impor-browser"
ADMIN = "admin@impor-browser.example.org"


def _members(app) -> tuple[int, int, list[str]]:
    with app.app_context(), tenancy.everything():
        names = sorted(db.session.scalars(select(Member.full_name)))
        enrolled = db.session.scalar(select(func.count()).select_from(Enrollment))
    return len(names), enrolled, names


def test_upload_see_the_bad_rows_fix_the_sheet_and_confirm(live_app, live_server, page,
                                                           tmp_path):
    base = live_server
    live_app.config["IMPORT_UPLOAD_DIR"] = str(tmp_path / "uploads")
    with live_app.app_context():
        make = Factory()
        partner = make.partner(slug=SLUG, admin_email=ADMIN)
        make.product(partner)
        rows = [person(make, nama_lengkap=f"Peserta Impor {n}", kode_produk="BKM")
                for n in range(1, 6)]
    bad = [dict(row) for row in rows]
    bad[1]["nik"] = "7.37202E+15"                  # row 3: Excel turned it into a number
    bad[2]["tanggal_lahir"] = "31-02-1985"         # row 4: no such date
    bad[4]["persetujuan"] = ""                     # row 6: no consent

    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"JS error: {err}"))
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))

    sign_in(page, base, ADMIN, f"/p/{SLUG}/")

    # 1. The import page, from the workspace navigation; both templates are offered.
    page.click(f"header nav a[href='/p/{SLUG}/impor']")
    page.wait_for_url(f"{base}/p/{SLUG}/impor")
    assert page.locator(f"a[href='/p/{SLUG}/impor/template.xlsx']").count() == 1
    assert page.locator(f"a[href='/p/{SLUG}/impor/template.csv']").count() == 1

    # 2. Upload the sheet with three bad rows: the check lists each with row and column.
    page.set_input_files("#file", files=[{"name": "peserta.csv", "mimeType": "text/csv",
                                          "buffer": csv_bytes(bad)}])
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_url(re.compile(rf"/p/{SLUG}/impor/[0-9a-f-]{{36}}$"))
    assert page.inner_text("#good-rows") == "2"
    assert page.inner_text("#error-rows") == "3"
    listed = [(cells.nth(0).inner_text(), cells.nth(1).inner_text())
              for cells in (row.locator("td") for row in
                            page.locator("table.import-errors tbody tr").all())]
    assert listed == [("3", "nik"), ("4", "tanggal_lahir"), ("6", "persetujuan")]
    assert "Excel" in page.inner_text("table.import-errors")
    assert rows[0]["nik"] not in page.content()
    assert _members(live_app)[0] == 0  # nothing saved by checking

    # 3. Upload the corrected sheet (as Excel, the birth dates as real dates).
    page.click(f"main a[href='/p/{SLUG}/impor']")
    page.wait_for_url(f"{base}/p/{SLUG}/impor")
    fixed = [{**row, "tanggal_lahir": date.fromisoformat(row["tanggal_lahir"])} for row in rows]
    page.set_input_files("#file", files=[{
        "name": "peserta-perbaikan.xlsx", "buffer": xlsx_bytes(fixed),
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_url(re.compile(rf"/p/{SLUG}/impor/[0-9a-f-]{{36}}$"))
    preview_url = page.url
    assert page.inner_text("#good-rows") == "5"
    assert page.inner_text("#error-rows") == "0"
    assert page.locator("table.import-errors").count() == 0
    assert _members(live_app)[0] == 0

    # 4. Confirm: all five are imported and enrolled, at once.
    page.click("#confirm-import")
    page.wait_for_url(preview_url)
    assert page.inner_text("#imported-rows") == "5"
    assert page.locator("main p.flash.success").count() >= 1
    assert page.locator("#confirm-import").count() == 0
    count, enrolled, names = _members(live_app)
    assert (count, enrolled) == (5, 5)
    assert names == [f"Peserta Impor {n}" for n in range(1, 6)]

    # 5. The members list shows them.
    page.click(f"main a[href='/p/{SLUG}/peserta']")
    page.wait_for_url(re.compile(rf"/p/{SLUG}/peserta"))
    listed_names = page.inner_text("main")
    assert all(f"Peserta Impor {n}" in listed_names for n in range(1, 6))

    assert problems == []


def test_a_large_import_shows_its_progress_without_javascript_until_done(
        live_app, live_server, browser, tmp_path, monkeypatch):
    """A real background thread; the page reloads itself (meta refresh) while the file is
    checked and while the members are written. Each job waits at its first row until the
    test has seen its progress page, so nothing depends on timing."""
    import threading

    from bungkesmas.members import imports

    base = live_server
    live_app.config.update(IMPORT_UPLOAD_DIR=str(tmp_path / "uploads"), IMPORT_JOBS="thread",
                           IMPORT_INLINE_ROWS=3)
    with live_app.app_context():
        make = Factory()
        partner = make.partner(slug=SLUG, admin_email=ADMIN)
        make.product(partner)
        rows = [person(make, kode_produk="BKM") for _ in range(12)]
    checking, writing = threading.Event(), threading.Event()
    real_feed, real_prepare = imports._Preview._feed, imports._Writer._prepare

    def feed(self, number, row):
        assert checking.wait(30)
        return real_feed(self, number, row)

    def prepare(self, batch, numbers_):
        assert writing.wait(30)
        return real_prepare(self, batch, numbers_)

    monkeypatch.setattr(imports._Preview, "_feed", feed)
    monkeypatch.setattr(imports._Writer, "_prepare", prepare)

    # Without JavaScript: the page must reload itself.
    context = browser.new_context(locale="id-ID", java_script_enabled=False)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))
    try:
        sign_in(page, base, ADMIN, f"/p/{SLUG}/")
        page.goto(f"{base}/p/{SLUG}/impor")
        page.set_input_files("#file", files=[{"name": "besar.csv", "mimeType": "text/csv",
                                              "buffer": csv_bytes(rows)}])
        page.click("form[enctype='multipart/form-data'] button[type=submit]")
        page.wait_for_url(re.compile(rf"/p/{SLUG}/impor/[0-9a-f-]{{36}}$"))
        url = page.url
        assert page.locator("progress#import-progress").count() == 1
        assert "Memeriksa setiap baris berkas" in page.inner_text("#import-phase")
        assert page.locator("meta[http-equiv=refresh]").count() == 1
        checking.set()
        page.wait_for_selector("#good-rows")  # a reload showed the finished check
        assert page.url == url and page.inner_text("#good-rows") == "12"
        assert page.locator("meta[http-equiv=refresh]").count() == 0

        page.click("#confirm-import")
        page.wait_for_url(url)
        assert "Mengimpor peserta" in page.inner_text("#import-phase")
        assert _members(live_app)[0] == 0
        writing.set()
        page.wait_for_selector("#imported-rows")
        assert page.inner_text("#imported-rows") == "12"
        assert _members(live_app)[:2] == (12, 12)
    finally:
        checking.set()
        writing.set()
        context.close()
    assert problems == []
