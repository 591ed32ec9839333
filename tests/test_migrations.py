"""The migrations build exactly the schema the models describe, on every database; the
data they fill in is what the application would have written."""

import importlib.util
from datetime import timedelta
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from bungkesmas import tenancy
from bungkesmas.contributions import services as ledger
from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment
from bungkesmas.timeutil import local_today

VERSIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"


def _migration(name: str):
    spec = importlib.util.spec_from_file_location(name, next(VERSIONS.glob(f"*_{name}_*.py")))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_models_and_migrations_agree(app):
    with app.test_database.owner.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models differ from migrations: {diff}"


def test_the_last_payment_is_filled_in_from_the_ledger_as_the_ledger_keeps_it(app, make):
    """3f6d2b8e9a41 gives existing enrollments the last payment not reversed."""
    partner = make.partner()
    product = make.product(partner)
    today = local_today()
    kept = []
    for payments, reversed_ in (([], 0), ([20, 5], 0), ([20, 5], 1), ([9], 1)):
        enrollment = make.enrollment(partner, product, enrolled_on=today - timedelta(days=30))
        with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
            rows = [ledger.record_payment(None, enrollment, "cash", 10_000,
                                          today - timedelta(days=days)) for days in payments]
            for row in rows[len(rows) - reversed_:]:
                ledger.reverse(None, row, "Salah catat")
            kept.append((enrollment.id, enrollment.last_paid_on))
        db.session.commit()
    assert [on for _id, on in kept] == [None, today - timedelta(days=5),
                                        today - timedelta(days=20), None]
    with app.test_database.owner.begin() as conn:
        conn.execute(text("UPDATE enrollments SET last_paid_on = NULL"))
        conn.execute(text(_migration("3f6d2b8e9a41").BACKFILL))
    db.session.expire_all()
    with tenancy.everything():
        filled = dict(db.session.execute(select(Enrollment.id, Enrollment.last_paid_on)).all())
    assert filled == dict(kept)
