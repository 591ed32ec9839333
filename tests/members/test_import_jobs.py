"""Large imports run as background jobs: the check and the writing report progress that
other requests see while the job's transaction is still open, a status page reloads
itself until the job is done, a stopped job can be run again, and the work stays all or
nothing. The suite runs jobs inline (IMPORT_JOBS="inline": right after the commit that
queued them); one test uses a real thread and waits for it."""

from __future__ import annotations

import io
import re
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask_babel import force_locale
from sqlalchemy import create_engine, func, select, text

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.services import user_by_email
from bungkesmas.extensions import db
from bungkesmas.members import import_jobs, imports
from bungkesmas.members.import_models import ImportStatus, MemberImport
from bungkesmas.members.models import Member
from tests.helpers import login
from tests.members.test_import import csv_bytes, person, written, xlsx_bytes


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path):
    app.config["IMPORT_UPLOAD_DIR"] = str(tmp_path / "uploads")
    # Three rows or more make a "large" file here: the background path, with small files.
    app.config["IMPORT_INLINE_ROWS"] = 3
    return tmp_path / "uploads"


@pytest.fixture
def partner(make):
    partner = make.partner()
    make.product(partner)
    return partner


def stored(partner, import_id) -> MemberImport:
    with tenancy.everything():
        imp = db.session.scalar(select(MemberImport).where(MemberImport.id == import_id)
                                .execution_options(populate_existing=True))
        db.session.expunge(imp)
    db.session.rollback()
    return imp


def upload(partner, data: bytes, name="peserta.csv", actor=None, locale="en", **kwargs):
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)), force_locale(locale):
        imp = imports.upload(actor, partner, io.BytesIO(data), name, **kwargs)
        queued = import_jobs.phase(imp)
        db.session.commit()  # the job runs now
        return imp.id, queued


def confirm(partner, import_id, actor=None, locale="en"):
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)), force_locale(locale):
        result = imports.confirm(actor, partner, imports.get(partner, import_id))
        db.session.commit()
        return result


@pytest.fixture
def watch(app, monkeypatch):
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    yield lambda import_id: Watcher(engine, monkeypatch, import_id)
    engine.dispose()


class Watcher:
    """Reads the import row (and the members count) from a connection of its own each
    time the job reports progress: what another request would see then."""

    def __init__(self, engine, monkeypatch, import_id):
        self.engine = engine
        self.import_id = import_id
        self.seen: list[tuple] = []
        monkeypatch.setattr(import_jobs, "PROGRESS_EVERY", 0)  # report every call
        monkeypatch.setattr(imports, "PROGRESS_ROWS", 1)
        real = import_jobs.Progress.write
        watcher = self

        def write(progress, **values):
            held = real(progress, **values)
            watcher.look()
            return held

        monkeypatch.setattr(import_jobs.Progress, "write", write)

    def look(self):
        with self.engine.connect() as conn:
            # Outside any tenant scope, as the database owner: RLS does not apply here.
            row = conn.execute(text(
                "SELECT status, progress_done, progress_total FROM member_imports "
                "WHERE id = :id"), {"id": self.import_id_param(conn)}).one()
            members = conn.scalar(text("SELECT count(*) FROM members"))
        self.seen.append((row.status, row.progress_done, row.progress_total, members))

    def import_id_param(self, conn):
        return (self.import_id if conn.dialect.name == "postgresql"
                else self.import_id.hex)


# --- the check ---------------------------------------------------------------------------


def test_a_large_file_is_checked_by_a_job_whose_progress_others_see(make, partner, watch):
    rows = [person(make) for _ in range(6)] + [person(make, nama_lengkap="A")]
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        # Queue by hand first, to watch the job from its start.
        imp = imports.upload(None, partner, io.BytesIO(csv_bytes(rows)), "besar.csv")
        assert imp.status == ImportStatus.UPLOADED and imp.job_token
        assert imp.progress_total == 7  # the CSV's lines, counted at upload
        import_id = imp.id
        watcher = watch(import_id)
        db.session.commit()
    seen = watcher.seen
    assert seen[0][:2] == ("checking", 0)
    # Row after row, visible from another connection while the check ran.
    assert [done for _s, done, _t, _m in seen[1:]] == list(range(1, 8))
    assert all(status == "checking" and total == 7 for status, _d, total, _m in seen)
    imp = stored(partner, import_id)
    assert (imp.status, imp.total_rows, imp.good_rows, imp.error_rows) == (
        ImportStatus.PREVIEWED, 7, 6, 1)
    assert imp.job_token == "" and imp.job_started_at and imp.job_finished_at
    assert (imp.progress_done, imp.progress_total) == (7, 7)
    assert written(partner.id)["members"] == 0


def test_the_job_writes_messages_in_the_language_of_the_user_who_uploaded(make, partner):
    import_id, queued = upload(partner, csv_bytes([person(make, nama_lengkap="A") for _ in range(3)]),
                               locale="id")
    assert queued == import_jobs.CHECK
    imp = stored(partner, import_id)
    assert imp.job_locale == "id"
    assert imp.errors["messages"] == ["Isi nama lengkap sesuai KTP."]


def test_a_file_found_unusable_by_the_job_is_refused_and_not_kept(app, make, partner,
                                                                   upload_dir):
    app.config["IMPORT_MAX_ROWS"] = 4
    import_id, _ = upload(partner, csv_bytes([person(make) for _ in range(5)]))
    imp = stored(partner, import_id)
    assert imp.status == ImportStatus.REJECTED and "more than 4 rows" in imp.failure
    assert imp.job_token == "" and imp.job_finished_at
    assert not [p for p in upload_dir.rglob("*") if p.is_file()]


def test_an_xlsx_says_how_many_rows_it_spans_or_its_size_tells(make, partner, upload_dir,
                                                                 tmp_path):
    path = tmp_path / "a.xlsx"
    path.write_bytes(xlsx_bytes([person(make) for _ in range(4)]))
    assert imports.estimate_rows(path, "xlsx") == (4, 4)  # openpyxl writes <dimension>
    csv_path = tmp_path / "a.csv"
    csv_path.write_bytes(csv_bytes([person(make) for _ in range(4)]).rstrip(b"\r\n"))
    assert imports.estimate_rows(csv_path, "csv") == (4, 4)  # no newline after the last


# --- the writing -------------------------------------------------------------------------


def test_a_large_confirmation_is_written_by_a_job_in_one_transaction(make, partner, watch,
                                                                      monkeypatch, database):
    monkeypatch.setattr(imports, "BATCH", 2)
    admin = user_by_email(partner.contact_email)
    rows = [person(make, kode_produk="BKM") for _ in range(5)]
    import_id, _ = upload(partner, csv_bytes(rows), actor=admin)
    watcher = watch(import_id)
    result = confirm(partner, import_id, actor=admin)
    assert result.queued and result.imported == 0
    imp = stored(partner, import_id)
    assert (imp.status, imp.imported_rows) == (ImportStatus.COMMITTED, 5)
    assert imp.committed_by_id == admin.id and imp.job_token == ""
    assert (imp.progress_done, imp.progress_total) == (5, 5)
    assert written(partner.id) == {"members": 5, "registry": 5, "enrollments": 5, "audit": 5}
    seen = watcher.seen
    assert seen[0] == ("importing", 0, 5, 0)
    if database.backend == "postgresql":
        # Reported batch after batch while the transaction was open (the inserts run in a
        # second thread: how far it got at each report varies) — and no member was
        # visible to anyone else before the commit.
        done = [done for _s, done, _t, _m in seen[1:]]
        assert len(done) >= 3 and done == sorted(done) and done[-1] == 5
        assert all(members == 0 for *_x, members in seen)
    else:
        # SQLite: the writing holds the database-wide lock; no report until the end.
        assert len(seen) == 1


def test_the_requests_ip_and_the_user_are_in_the_audit_of_a_job(client, make, partner):
    login(client, partner.contact_email)
    response = client.post(f"/p/{partner.slug}/impor",
                           data={"file": (io.BytesIO(csv_bytes(
                               [person(make) for _ in range(3)])), "a.csv")},
                           content_type="multipart/form-data")
    import_id = response.location.rsplit("/", 1)[1]
    client.post(f"/p/{partner.slug}/impor/{import_id}/konfirmasi",
                environ_base={"REMOTE_ADDR": "10.1.2.3"})
    admin = user_by_email(partner.contact_email)
    with tenancy.everything():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "member.import")).all()
    assert len(events) == 3
    assert {(e.actor_id, e.ip_address) for e in events} == {(admin.id, "10.1.2.3")}


def test_a_job_that_fails_midway_leaves_nothing_and_may_be_confirmed_again(
        make, partner, monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 2)
    import_id, _ = upload(partner, csv_bytes([person(make) for _ in range(5)]))
    real = imports._Writer._prepare
    calls = []

    def failing(self, batch, numbers_):  # the first batch is written, then this
        calls.append(len(batch))
        if len(calls) == 2:
            raise RuntimeError("the disk is full")
        return real(self, batch, numbers_)

    monkeypatch.setattr(imports._Writer, "_prepare", failing)
    with force_locale("en"):
        assert confirm(partner, import_id).queued
    imp = stored(partner, import_id)
    assert imp.status == ImportStatus.FAILED and "nothing was imported" in imp.failure
    assert imp.job_token == "" and imp.job_finished_at
    assert written(partner.id) == {"members": 0, "registry": 0, "enrollments": 0, "audit": 0}
    monkeypatch.setattr(imports._Writer, "_prepare", real)
    confirm(partner, import_id)
    assert stored(partner, import_id).status == ImportStatus.COMMITTED
    assert written(partner.id)["members"] == 5


def test_a_job_that_lost_its_claim_gives_way_and_writes_nothing(app, make, partner,
                                                                 monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 2)
    import_id, _ = upload(partner, csv_bytes([person(make) for _ in range(5)]))
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])

    def steal():  # someone judged the job stalled and claimed the import anew
        with engine.begin() as conn:
            conn.execute(text("UPDATE member_imports SET job_token = 'other'"))

    if app.test_database.backend == "postgresql":
        real = imports._Writer._prepare
        batches = []

        def prepare(self, batch, numbers_):  # the first batch is written, then the claim goes
            batches.append(batch)
            if len(batches) == 2:
                steal()
            return real(self, batch, numbers_)

        monkeypatch.setattr(imports._Writer, "_prepare", prepare)
    else:
        # SQLite: once the job writes, it holds the database lock; the claim goes before.
        real_init = imports._Writer.__init__

        def init(self, *args, **kwargs):
            real_init(self, *args, **kwargs)
            steal()

        monkeypatch.setattr(imports._Writer, "__init__", init)
    confirm(partner, import_id)
    imp = stored(partner, import_id)
    assert imp.job_token == "other" and imp.status == ImportStatus.IMPORTING
    assert written(partner.id)["members"] == 0
    engine.dispose()


# --- stopped jobs ------------------------------------------------------------------------


def _stall(partner, import_id, status=None):
    """As if the job's process died: a claim, and no sign of life for too long."""
    with tenancy.everything():
        imp = db.session.scalar(select(MemberImport).where(MemberImport.id == import_id))
        if status is not None:
            imp.status = status
        imp.job_token = "gone"
        imp.job_started_at = imp.job_heartbeat_at = (
            imp.created_at - import_jobs.stale_after() - timedelta(minutes=1))
        db.session.commit()


def test_a_stalled_import_is_shown_stopped_and_may_be_confirmed_again(client, make,
                                                                       partner):
    import_id, _ = upload(partner, csv_bytes([person(make) for _ in range(4)]))
    _stall(partner, import_id, ImportStatus.IMPORTING)
    login(client, partner.contact_email)
    url = f"/p/{partner.slug}/impor/{import_id}"
    html = client.get(url).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in html and 'id="confirm-import"' in html
    body = imports.summary(stored(partner, import_id))["progress"]
    assert body["stalled"] and not body["running"] and body["phase"] == "import"
    assert client.post(url + "/konfirmasi").status_code == 303
    assert stored(partner, import_id).status == ImportStatus.COMMITTED
    assert written(partner.id)["members"] == 4


def test_a_stalled_check_may_be_run_again_from_the_page(client, make, partner):
    import_id, _ = upload(partner, csv_bytes([person(make) for _ in range(4)]))
    _stall(partner, import_id, ImportStatus.CHECKING)
    login(client, partner.contact_email)
    url = f"/p/{partner.slug}/impor/{import_id}"
    html = client.get(url).get_data(as_text=True)
    assert 'id="recheck-import"' in html and 'id="confirm-import"' not in html
    # A running job cannot be confirmed nor checked twice; a stalled one can be checked.
    assert client.post(url + "/konfirmasi").status_code == 303
    assert stored(partner, import_id).status == ImportStatus.CHECKING
    assert client.post(url + "/periksa").status_code == 303
    imp = stored(partner, import_id)
    assert imp.status == ImportStatus.PREVIEWED and imp.good_rows == 4
    assert client.post(url + "/periksa").status_code == 303  # checked already: refused
    assert stored(partner, import_id).previewed_at == imp.previewed_at


def test_a_running_job_cannot_be_confirmed_or_checked_again(make, partner):
    import_id, _ = upload(partner, csv_bytes([person(make) for _ in range(4)]))
    with tenancy.everything():
        imp = db.session.scalar(select(MemberImport).where(MemberImport.id == import_id))
        import_jobs.claim(imp, ImportStatus.IMPORTING, total=4)  # queued, never launched
        db.session.commit()
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)), force_locale("en"):
        imp = imports.get(partner, import_id)
        with pytest.raises(imports.Conflict, match="running already"):
            imports.confirm(None, partner, imp)
        with pytest.raises(imports.Conflict, match="checked already"):
            imports.recheck(None, partner, imp)
    db.session.rollback()


def test_an_operator_runs_a_stalled_job_with_the_cli(app, make, partner):
    from bungkesmas.cli import imports_list, imports_run

    admin = user_by_email(partner.contact_email)
    import_id, _ = upload(partner, csv_bytes([person(make) for _ in range(4)]), actor=admin)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        imp = imports.get(partner, import_id)
        import_jobs.claim(imp, ImportStatus.IMPORTING, admin, total=4)  # never launched
        db.session.commit()
    runner = CliRunner()
    refused = runner.invoke(imports_run, [str(import_id)], obj=app.cli, standalone_mode=False)
    assert refused.exception is not None and "--force" in str(refused.exception)
    _stall(partner, import_id)
    listed = runner.invoke(imports_list, [], obj=app.cli, catch_exceptions=False)
    assert f"{import_id}  partner {partner.id}  importing  stalled" in listed.output
    result = runner.invoke(imports_run, [str(import_id)], obj=app.cli,
                           catch_exceptions=False, standalone_mode=False)
    assert "committed; 4 rows" in result.output
    assert written(partner.id)["members"] == 4
    with tenancy.everything():
        actors = set(db.session.scalars(select(AuditEvent.actor_id).where(
            AuditEvent.action == "member.import")))
    assert actors == {admin.id}  # the partner's user who confirmed, not the operator
    done = runner.invoke(imports_run, [str(import_id)], obj=app.cli, standalone_mode=False)
    assert "Nothing to run" in str(done.exception)


# --- the status page and the API ---------------------------------------------------------


def test_the_page_of_a_running_job_reloads_itself_and_shows_its_progress(client, make,
                                                                         partner):
    import_id, _ = upload(partner, csv_bytes([person(make) for _ in range(4)]))
    with tenancy.everything():
        imp = db.session.scalar(select(MemberImport).where(MemberImport.id == import_id))
        import_jobs.claim(imp, ImportStatus.IMPORTING, total=4000)
        imp.progress_done, imp.job_started_at = 1500, imp.job_heartbeat_at
        db.session.commit()
    login(client, partner.contact_email)
    client.get("/bahasa/en")
    html = client.get(f"/p/{partner.slug}/impor/{import_id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in html
    assert re.search(r'<progress id="import-progress" max="4000" value="1500">', html)
    assert "1,500 of 4,000 members written" in html and "Importing the members" in html
    assert 'id="confirm-import"' not in html
    # Indonesian, and a check whose total is not known: a bar without a value.
    with tenancy.everything():
        imp = db.session.scalar(select(MemberImport).where(MemberImport.id == import_id))
        imp.status, imp.progress_total, imp.progress_done = ImportStatus.CHECKING, None, 12000
        db.session.commit()
    client.get("/bahasa/id")
    html = client.get(f"/p/{partner.slug}/impor/{import_id}").get_data(as_text=True)
    assert '<progress id="import-progress"></progress>' in html
    assert "12.000 baris sudah diperiksa" in html
    # The list of recent imports says what is going on.
    assert "Sedang diperiksa" in client.get(f"/p/{partner.slug}/impor").get_data(as_text=True)


def test_the_api_accepts_a_large_file_and_reports_the_jobs_progress(client, make, partner):
    token = make.token(user_by_email(partner.contact_email), partner)
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post("/api/v1/members/imports", headers=headers,
                           data={"file": (io.BytesIO(csv_bytes(
                               [person(make) for _ in range(4)])), "a.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 202, response.json
    location = response.headers["Location"]
    body = client.get(location, headers=headers).json
    assert body["status"] == "previewed" and body["good_rows"] == 4
    assert body["progress"]["done"] == 4 and body["progress"]["running"] is False
    assert body["progress"]["finished_at"] and body["progress"]["stalled"] is False
    response = client.post(f"{location}/confirm", headers=headers)
    assert response.status_code == 202 and response.headers["Location"] == location
    body = client.get(location, headers=headers).json
    assert body["status"] == "committed" and body["imported_rows"] == 4
    assert client.post(f"{location}/check", headers=headers).status_code == 409
    # confirm=true: the job goes on to import a clean file.
    response = client.post("/api/v1/members/imports", headers=headers, data={
        "file": (io.BytesIO(csv_bytes([person(make) for _ in range(3)])), "b.csv"),
        "confirm": "true"}, content_type="multipart/form-data")
    assert response.status_code == 202
    body = client.get(response.headers["Location"], headers=headers).json
    assert body["status"] == "committed" and body["imported_rows"] == 3
    assert written(partner.id)["members"] == 7
    spec = client.get("/api/v1/openapi.json").json
    assert "202" in spec["paths"]["/api/v1/members/imports"]["post"]["responses"]
    assert "/api/v1/members/imports/{import_id}/check" in spec["paths"]


# --- a real thread --------------------------------------------------------------------------


def test_a_background_thread_checks_and_imports_while_the_page_follows(app, client, make,
                                                                       partner):
    app.config["IMPORT_JOBS"] = "thread"
    rows = [person(make, kode_produk="BKM") for _ in range(40)]
    login(client, partner.contact_email)
    response = client.post(f"/p/{partner.slug}/impor",
                           data={"file": (io.BytesIO(csv_bytes(rows)), "a.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    url = response.location

    def wait_until_done() -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            html = client.get(url).get_data(as_text=True)
            if 'http-equiv="refresh"' not in html:
                return html
            assert 'id="import-progress"' in html
            time.sleep(0.05)
        raise AssertionError("the job did not finish within 60 s")

    html = wait_until_done()
    assert 'id="good-rows">40<' in html
    assert client.post(url + "/konfirmasi").status_code == 303
    html = wait_until_done()
    assert 'id="imported-rows">40<' in html
    assert written(partner.id) == {"members": 40, "registry": 40, "enrollments": 40,
                                   "audit": 40}
    with tenancy.everything():
        assert db.session.scalar(select(func.count()).select_from(Member)) == 40
