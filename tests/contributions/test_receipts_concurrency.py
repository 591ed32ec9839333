"""Receipt numbers under concurrency (PostgreSQL, real transactions in parallel threads):
consecutive, without gaps or duplicates, also when some transactions fail."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.models import LedgerEntry
from bungkesmas.errors import DomainError
from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment
from bungkesmas.timeutil import local_today

THREADS = 6
EACH = 4


def test_concurrent_payments_get_consecutive_receipt_numbers(app, make, pg_only):
    partner = make.partner()
    partner_id = partner.id
    product = make.product(partner)
    today = local_today()
    enrollment_ids = [make.enrollment(partner, product, enrolled_on=today - timedelta(days=5)).id
                      for _ in range(THREADS)]
    start = threading.Barrier(THREADS)
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(enrollment_id, n):
        try:
            with app.app_context():
                tenancy.enter_workspace(partner_id)
                start.wait(timeout=30)
                for i in range(EACH):
                    enrollment = db.session.get(Enrollment, (partner_id, enrollment_id))
                    # Every other thread also sends one refused payment: its number is
                    # given back by the rollback, never lost.
                    if (n + i) % 3 == 0:
                        try:
                            ledger.record_payment(None, enrollment, "cash", 0, today)
                        except DomainError:
                            db.session.rollback()
                    entry = ledger.record_payment(None, enrollment, "cash", 25_000 + i, today)
                    number = entry.receipt_number
                    db.session.commit()
                    with lock:
                        results.append(number)
                db.session.remove()
        except BaseException as err:  # noqa: BLE001 — reported below
            with lock:
                errors.append(err)

    threads = [threading.Thread(target=work, args=(eid, n))
               for n, eid in enumerate(enrollment_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a payment thread hung"
    assert errors == []
    expected = [ledger.receipt_number(partner_id, today.year, n)
                for n in range(1, THREADS * EACH + 1)]
    assert sorted(results) == expected
    tenancy.enter_workspace(partner_id)
    stored = sorted(db.session.scalars(select(LedgerEntry.receipt_number).where(
        LedgerEntry.receipt_number.is_not(None))))
    assert stored == expected
