"""The benchmark's ledger generator (bench.ledger) writes rows the database accepts (CHECK
constraints, foreign keys, unique receipt numbers) and snapshots that agree with the
coverage engine and the ledger service's rules."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bench import generate, ledger
from bungkesmas import tenancy
from bungkesmas.contributions import services
from bungkesmas.contributions.coverage import Status
from bungkesmas.contributions.models import EntryKind, LedgerEntry
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Enrollment
from bungkesmas.timeutil import local_today


def _insert(table: str, rows: list[tuple]) -> None:
    conn = db.session.connection()
    columns = generate.COLUMNS[table]
    if conn.dialect.name == "sqlite":
        rows, mark = generate._sqlite_rows(table, rows), "?"
    else:
        mark = "%s"
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                         f"({', '.join([mark] * len(columns))})", [tuple(r) for r in rows])


def test_generated_ledger_is_accepted_by_the_database_and_matches_the_engine(make):
    partner = make.partner()
    product = make.product(partner)
    numbers = [make.member(partner) for _ in range(8)]
    today = local_today()
    with tenancy.everything():
        ids = [members.by_number(n).id.hex for n in numbers]
        version_id = product.versions[0].id
    # 200 enrollments of those 8 members, enrolled over six years
    start = datetime.combine(today - timedelta(days=6 * 365), datetime.min.time())
    people = [(partner.id, ids[i % 8], start + timedelta(hours=261 * i)) for i in range(200)]
    batches = list(ledger.ledger_rows(people, today, "Asia/Makassar", version_id=version_id))
    enrollments = [r for t, rows in batches if t == "enrollments" for r in rows]
    entries = [r for t, rows in batches if t == "ledger_entries" for r in rows]
    assert len(enrollments) == 200
    kinds = Counter(r[4] for r in entries)
    assert kinds["payment"] and kinds["premium"] and kinds["reversal"] + kinds["withdrawal"]

    with tenancy.everything():
        _insert("enrollments", enrollments)
        _insert("ledger_entries", entries)
        db.session.commit()

    with tenancy.everything():
        for e in db.session.scalars(select(Enrollment).where(Enrollment.tenant_id == partner.id)):
            cover = services.coverage_of(e)
            assert (e.covered_until, e.waiting_until, e.grace_until, e.balance,
                    e.terms_funded) == (cover.covered_until, cover.waiting_until,
                                        cover.grace_until, cover.balance, cover.funded_terms)
        reversed_ids = set(db.session.scalars(select(LedgerEntry.reverses_id).where(
            LedgerEntry.reverses_id.is_not(None))))
        last_paid = dict(db.session.execute(
            select(LedgerEntry.enrollment_id, func.max(LedgerEntry.received_on))
            .where(LedgerEntry.kind == EntryKind.PAYMENT, LedgerEntry.id.not_in(reversed_ids))
            .group_by(LedgerEntry.enrollment_id)).all())
        kept = dict(db.session.execute(select(Enrollment.id, Enrollment.last_paid_on)).all())
        assert kept == {k: last_paid.get(k) for k in kept} and any(kept.values())
        balances = dict(db.session.execute(
            select(LedgerEntry.enrollment_id, func.sum(LedgerEntry.amount))
            .group_by(LedgerEntry.enrollment_id)).all())
        snapshot = dict(db.session.execute(select(Enrollment.id, Enrollment.balance)).all())
        assert all(balances[k] == snapshot[k] for k in balances)
        statuses = Counter(services.status_of(e, today) for e in db.session.scalars(
            select(Enrollment)))
    assert {Status.ACTIVE, Status.PENDING_PAYMENT, Status.LAPSED} <= set(statuses)
