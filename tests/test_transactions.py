"""How a request's transaction ends when nothing committed it (bungkesmas.transactions):
on PostgreSQL one that only read ends with COMMIT — so psycopg keeps the statements it
prepared on the connection — and any other is rolled back, its writes lost as before."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select, text, update

from bungkesmas import tenancy
from bungkesmas.extensions import db
from bungkesmas.partners.models import Partner, PartnerStatus, PartnerType

pytestmark = pytest.mark.usefixtures("pg_only")


@pytest.fixture
def endings(app):
    """The ways transactions ended in the contexts the test opens: 'commit'/'rollback'."""
    seen: list[str] = []

    def commit(_conn):
        seen.append("commit")

    def rollback(_conn):
        seen.append("rollback")

    event.listen(db.engine, "commit", commit)
    event.listen(db.engine, "rollback", rollback)
    yield seen
    event.remove(db.engine, "commit", commit)
    event.remove(db.engine, "rollback", rollback)


def _partner(**overrides) -> Partner:
    values = dict(slug="mitra-transaksi", name="Mitra Transaksi", org_type=PartnerType.NGO,
                  status=PartnerStatus.APPLIED, province_code="73", regency_code="7372",
                  address="Jl. Andi Makkasau", contact_name="Transaksi",
                  contact_phone="+6281100000001", contact_email="transaksi@contoh.id")
    return Partner(**{**values, **overrides})


def _partners() -> int:
    with tenancy.everything():
        return db.session.scalar(select(func.count(Partner.id)))


def test_a_context_that_only_read_ends_with_commit(app, endings):
    with app.app_context():
        with tenancy.everything():
            db.session.scalar(select(func.count(Partner.id)))
    assert endings == ["commit"]


def test_statements_prepared_on_a_connection_survive_read_only_requests(app):
    query = "SELECT count(*) FROM partners WHERE id > :n"
    for _ in range(7):  # psycopg prepares a statement on its fifth run on a connection
        with app.app_context():
            db.session.execute(text(query), {"n": 0}).scalar()
    with app.app_context():
        prepared = db.session.execute(text(
            "SELECT count(*) FROM pg_prepared_statements "
            "WHERE statement LIKE 'SELECT count(*) FROM partners WHERE id > %'")).scalar()
    assert prepared == 1


def test_a_flushed_insert_nobody_committed_is_rolled_back(app, endings):
    before = _partners()
    with app.app_context():
        with tenancy.everything():
            db.session.add(_partner())
            db.session.flush()
    assert endings == ["rollback"]
    assert _partners() == before


def test_a_pending_object_is_not_committed(app, endings):
    before = _partners()
    with app.app_context():
        with tenancy.everything():
            db.session.scalar(select(func.count(Partner.id)))
            db.session.add(_partner(slug="mitra-tertunda"))  # not flushed
    assert endings == ["rollback"]
    assert _partners() == before


def test_a_core_update_nobody_committed_is_rolled_back(app, make, endings):
    partner = make.partner()
    db.session.commit()
    endings.clear()
    with app.app_context():
        with tenancy.everything():
            db.session.execute(update(Partner).where(Partner.id == partner.id)
                               .values(name="Diubah Tanpa Commit"))
    assert endings == ["rollback"]
    with tenancy.everything():
        assert db.session.get(Partner, partner.id).name != "Diubah Tanpa Commit"


def test_a_savepoint_counts_as_a_write(app, endings):
    with app.app_context():
        with tenancy.everything():
            nested = db.session.begin_nested()
            db.session.scalar(select(func.count(Partner.id)))
            nested.commit()  # releases the savepoint; the outer transaction stays open
    assert endings == ["rollback"]


def test_a_failed_request_is_rolled_back(app, endings):
    with pytest.raises(RuntimeError), app.app_context():
        with tenancy.everything():
            db.session.scalar(select(func.count(Partner.id)))
        raise RuntimeError("the view failed")
    assert endings == ["rollback"]
