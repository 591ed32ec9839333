"""Benchmark data for contributions: the BKM product, one enrollment per member and about
ten ledger rows per member (10,000,000 for the 1,000,000 members of `bench.generate`).

Read the members (tenant, id, creation time) back from a loaded database, ordered by
member number, so the result is the same whichever database they are read from. Per
member, from a seeded rng:

* the enrollment in BKM version 1, dated the member's creation; 1 % cancelled later;
* a payer profile — about 7 % never pay a full contribution (pending, some with a
  partial balance), the others pay at a yearly pace of 0.85-1.25 contributions, a quarter
  of them stopping at some point (grace, lapsed) — and a style: annual lump sums (cash or
  bank transfer with a reference), instalments of 10,000-50,000 (cash or waste), or small
  waste-bank deposits of odd amounts; only over the last three years;
* about 2 % have one payment reversed (a typing error, corrected by the right payment),
  about 3 % withdraw part of their free balance after their last payment;
* `contributions.coverage.compute` over those money rows gives the periods: one
  `premium` row per funded term (dated the day the balance covered it, as `_allocate`
  writes them) and the enrollment's coverage snapshot (first_funded_on, waiting_until,
  covered_until, grace_until, balance, terms_funded, and the last payment not reversed:
  last_paid_on) — so statuses are a realistic mix of pending, waiting, active, grace and
  lapsed, and the sum of an enrollment's rows is its balance;
* receipt numbers KW-<partner>-<year>-<sequence> per partner and year of the row, and the
  `receipt_<year>` counters set to the last one, so the API continues the sequences.

The rows satisfy the table's CHECK constraints and unique keys; they are written with
executemany (SQLite) or COPY (PostgreSQL), secondary indexes dropped before and rebuilt
after, like the members."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text

from bench import generate
from bench.generate import _Target, _uuid
from bungkesmas.contributions.coverage import Money, Rules, compute
from bungkesmas.products.services import BUNGKESMAS_DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
LEDGER_VERSION = 1  # bump when the ledger data set changes (the kept SQLite file reloads)
SEED = generate.SEED + 11
PRODUCT_ID = 1
VERSION_ID = 1

ENROLLMENT_COLUMNS = (
    "tenant_id", "id", "member_id", "product_version_id", "status", "enrolled_at",
    "enrolled_by_id", "cancelled_at", "first_funded_on", "waiting_until", "covered_until",
    "grace_until", "balance", "terms_funded", "last_paid_on")
LEDGER_COLUMNS = (
    "tenant_id", "id", "member_id", "enrollment_id", "kind", "method", "amount", "received_on",
    "recorded_at", "recorded_by_id", "collected_by_partner_id", "receipt_number",
    "external_reference", "reverses_id", "reason", "period_number", "idempotency_key")
PRODUCT_COLUMNS = ("id", "code", "name", "active", "created_at")
VERSION_COLUMNS = ("id", "product_id", "version", *BUNGKESMAS_DEFAULTS, "created_at",
                   "created_by_id")
PARTNER_PRODUCT_COLUMNS = ("partner_id", "product_id", "enabled_at")

def _hex(v):
    return v if isinstance(v, str) else v.hex


generate.COLUMNS.update({
    "enrollments": ENROLLMENT_COLUMNS, "ledger_entries": LEDGER_COLUMNS,
    "products": PRODUCT_COLUMNS, "product_versions": VERSION_COLUMNS,
    "partner_products": PARTNER_PRODUCT_COLUMNS, "counters": generate.COUNTER_COLUMNS})
_dt = generate._SQLITE_TYPES["created_at"]
generate._SQLITE_TYPES.update({
    "id": lambda v: v.hex if isinstance(v, uuid.UUID) else v,
    "member_id": _hex, "enrollment_id": _hex, "reverses_id": _hex,
    **{c: date.isoformat for c in ("received_on", "first_funded_on", "waiting_until",
                                   "covered_until", "grace_until", "last_paid_on")},
    **{c: _dt for c in ("enrolled_at", "cancelled_at", "enabled_at")},
    "recorded_at": str,  # generated as text already
    "active": int,
})

RULES = Rules(contribution=BUNGKESMAS_DEFAULTS["annual_contribution"],
              term_months=BUNGKESMAS_DEFAULTS["term_months"],
              waiting_days=BUNGKESMAS_DEFAULTS["waiting_days"],
              grace_days=BUNGKESMAS_DEFAULTS["grace_days"])
BANKS = ("BRI", "BNI", "MANDIRI", "BSI", "BPD-SULSELBAR")
REVERSAL_REASON = "Salah catat jumlah; dicatat ulang dengan jumlah yang benar"


_UNIX_DAY = date(1970, 1, 1).toordinal()


def _hex_uuid7(rng: random.Random, millis: int) -> str:
    """A UUIDv7 for the given Unix time in milliseconds, as 32 hex digits (how SQLAlchemy
    stores a UUID on SQLite; PostgreSQL reads it too)."""
    bits = rng.getrandbits(74)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (bits >> 62) << 64
    return f"{value | 0b10 << 62 | (bits & ((1 << 62) - 1)):032x}"


def _members(engine) -> list[tuple[int, str, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT tenant_id, id, created_at FROM members ORDER BY member_number")).all()
    out = []
    for tenant_id, mid, created in rows:
        mid = mid.hex if isinstance(mid, uuid.UUID) else mid
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        out.append((tenant_id, mid, created))
    return out


class _Receipts:
    """Receipt numbers per partner and year, as `next_receipt_number` formats them."""

    def __init__(self):
        self.values: dict[tuple[int, int], int] = {}

    def take(self, partner_id: int, year: int) -> str:
        n = self.values.get((partner_id, year), 0) + 1
        self.values[(partner_id, year)] = n
        return f"KW-{partner_id:04d}-{year}-{n:06d}"


def _money_plan(rng: random.Random, start: date, stop: date, cancelled: date | None
                ) -> list[tuple[date, int, str]]:
    """(date, amount, method) of a member's payments between start and stop."""
    last = min(stop, cancelled - timedelta(days=1)) if cancelled else stop
    if last < start:
        return []
    contribution = RULES.contribution
    r = rng.random()
    if r < 0.07:  # never pays a full contribution: nothing, or a little saved
        if rng.random() < 0.5:
            return []
        n = rng.randint(1, 3)
        days = (last - start).days
        return sorted((start + timedelta(days=int(rng.random() * (days + 1))),
                       rng.randrange(5_000, 45_001, 5_000), "cash") for _ in range(n))
    if r < 0.32:  # stops paying at some point
        last = start + timedelta(days=int(rng.random() * ((last - start).days + 1)))
    pace = contribution * (0.85 + 0.4 * rng.random()) / 365  # rupiah per day
    style = rng.random()
    out = []
    day = start + timedelta(days=int(rng.random() * 20))
    while day <= last:
        if style < 0.3:
            amount = contribution if rng.random() < 0.8 else rng.randrange(
                contribution, 2 * contribution + 1, 25_000)
            method = "bank_transfer" if rng.random() < 0.5 else "cash"
        elif style < 0.8:
            amount = rng.randrange(10_000, 60_001, 5_000)
            method = "waste" if rng.random() < 0.4 else "cash"
        else:
            amount = rng.randint(4_000, 35_000)  # weighed waste: kg x price, rounded
            method = "waste"
        out.append((day, amount, method))
        day += timedelta(days=max(1, int(amount / pace * (0.6 + 0.8 * rng.random()))))
    return out


def ledger_rows(members, today: date, tz: str, log: Callable[[str], None] | None = None,
                started: float = 0.0, version_id: int = VERSION_ID):
    """Yield ("enrollments" | "ledger_entries" | "counters", rows) batches for `members`,
    (tenant_id, member id, created_at) tuples; enrolled in product version `version_id`
    (whose rules must be `RULES`)."""
    rng = random.Random(SEED)  # noqa: S311 — reproducible test data
    zone = ZoneInfo(tz)
    offset = datetime(2026, 1, 1, tzinfo=zone).utcoffset()  # WITA has no summer time
    window_start = date(today.year - 3, today.month, min(today.day, 28))
    receipts = _Receipts()
    contribution = RULES.contribution
    enrollments, entries = [], []
    total = len(members)
    for i, (tenant_id, member_id, created) in enumerate(members, start=1):
        enrolled_at = created
        enrolled_on = (created + offset).date()
        eid = _uuid(rng, created).hex
        cancelled_at = None
        if rng.random() < 0.01:
            cancelled_at = created + timedelta(days=int(rng.random() * max(
                1, (today - enrolled_on).days)))
        cancelled_on = (cancelled_at + offset).date() if cancelled_at else None
        plan = _money_plan(rng, max(enrolled_on, window_start), today, cancelled_on)
        money: list[Money] = []
        rows: list[tuple] = []

        def row(kind, method, amount, on, reverses=None, reason="", period=None,
                receipt=True, reference=None, rows=rows, tenant_id=tenant_id,
                member_id=member_id, eid=eid):
            # recorded between 08:00 and 16:00 local time (00:00-08:00 UTC) that day
            second = int(rng.random() * 28_800)
            millis = (on.toordinal() - _UNIX_DAY) * 86_400_000 + second * 1000
            at = f"{on.isoformat()} {second // 3600:02d}:{second // 60 % 60:02d}:" \
                 f"{second % 60:02d}.000000"
            rid = _hex_uuid7(rng, millis)
            rows.append((tenant_id, rid, member_id, eid, kind, method, amount, on, at, None,
                         tenant_id, receipts.take(tenant_id, on.year) if receipt else None,
                         reference, reverses, reason, period, None))
            return rid

        for on, amount, method in plan:
            ref = f"{rng.choice(BANKS)}-{rng.getrandbits(40):012d}" \
                if method == "bank_transfer" else None
            rid = row("payment", method, amount, on, reference=ref)
            money.append(Money(rid, on, amount))
        if money and rng.random() < 0.02:  # a typing error, reversed and paid again
            k = int(rng.random() * len(money))
            wrong = money[k]
            method = rows[k][5]
            on = min(today, wrong.on + timedelta(days=int(rng.random() * 8)))
            rid = row("reversal", method, -wrong.amount, on, reverses=wrong.id,
                      reason=REVERSAL_REASON)
            money.append(Money(rid, on, -wrong.amount, reverses=wrong.id))
            ref = (f"{rng.choice(BANKS)}-{rng.getrandbits(40):012d}"
                   if method == "bank_transfer" else None)
            right = max(1_000, wrong.amount // 10 * 10 if wrong.amount >= 10_000
                        else wrong.amount * 10)
            rid = row("payment", method, right, on, reference=ref)
            money.append(Money(rid, on, right))
        cover = compute(RULES, enrolled_on, money, cancelled_on)
        if (cover.balance > 0 and money and rng.random() < 0.03
                and max(m.on for m in money) < today and cancelled_on is None):
            on = max(m.on for m in money) + timedelta(days=1 + int(rng.random() * 30))
            on = min(on, today)
            amount = max(1, int(cover.balance * (0.3 + 0.7 * rng.random())))
            rid = row("withdrawal", "cash", -amount, on)
            money.append(Money(rid, on, -amount))
            after = compute(RULES, enrolled_on, money, cancelled_on)
            assert after.periods == cover.periods and after.balance >= 0
            cover = after
        for p in cover.periods:
            row("premium", "savings", -contribution, p.funded_on, period=p.number,
                receipt=False)
        assert sum(r[6] for r in rows) == cover.balance
        reversed_ids = {m.reverses for m in money if m.reverses is not None}
        last_paid_on = max((r[7] for r in rows
                            if r[4] == "payment" and r[1] not in reversed_ids), default=None)
        entries.extend(rows)
        enrollments.append((
            tenant_id, eid, member_id, version_id,
            "cancelled" if cancelled_at else "pending_payment", enrolled_at, None, cancelled_at,
            cover.first_funded_on, cover.waiting_until, cover.covered_until, cover.grace_until,
            cover.balance, cover.funded_terms, last_paid_on))
        if len(entries) >= 50_000 or i == total:
            yield "enrollments", enrollments
            yield "ledger_entries", entries
            enrollments, entries = [], []
        if log and i % 100_000 == 0:
            log(f"  … {i:,}/{total:,} members' ledgers ({time.perf_counter() - started:.0f} s)")
    counters = [(pid, _uuid(rng, datetime(year, 1, 1)), f"receipt_{year}", value)
                for (pid, year), value in sorted(receipts.values.items())]
    yield "counters", counters


def products(now: datetime, partner_ids: list[int]) -> list[tuple[str, list[tuple]]]:
    return [
        ("products", [(PRODUCT_ID, "BKM", "Bungkesmas", True, now)]),
        ("product_versions", [(VERSION_ID, PRODUCT_ID, 1, *BUNGKESMAS_DEFAULTS.values(), now,
                               None)]),
        ("partner_products", [(pid, PRODUCT_ID, now) for pid in partner_ids]),
    ]


def load(engines: list, source, app, today: date, log: Callable[[str], None]) -> dict:
    """Add the product, enrollments and ledger to databases that hold the members (and
    none of these yet). `source` is the engine the members are read from."""
    started = time.perf_counter()
    members = _members(source)
    with source.connect() as conn:
        partner_ids = list(conn.execute(text("SELECT id FROM partners ORDER BY id")).scalars())
    log(f"  read {len(members):,} members in {time.perf_counter() - started:.0f} s")
    targets = [_Target(e, ("enrollments", "ledger_entries")) for e in engines]
    for table, rows in products(datetime(2020, 12, 1), partner_ids):
        for t in targets:
            t.write(table, rows)
    counts = {"enrollments": 0, "ledger_entries": 0}
    for table, rows in ledger_rows(members, today, app.config["BABEL_DEFAULT_TIMEZONE"], log,
                                   started):
        for t in targets:
            t.write(table, rows)
        if table in counts:
            counts[table] += len(rows)
    total = time.perf_counter() - started
    out = {"generate": {"seconds": round(total - sum(t.seconds for t in targets), 1)},
           "rows": counts}
    for t in targets:
        if t.dialect == "postgresql":
            t.cur.execute("SELECT setval('products_id_seq', (SELECT max(id) FROM products))")
            t.cur.execute("SELECT setval('product_versions_id_seq', "
                          "(SELECT max(id) FROM product_versions))")
        out[t.dialect] = t.finish(log)
        if t.dialect == "postgresql":
            # The load ran with session_replication_role = replica, which silences every
            # trigger, the one keeping enrollment_counts too: count what was loaded.
            started = time.perf_counter()
            recount_enrollments(t.engine)
            log(f"  postgresql: enrollment_counts rebuilt from the enrollments "
                f"({time.perf_counter() - started:.0f} s)")
    return out


def recount_enrollments(engine) -> None:
    """Rebuild `enrollment_counts` from every enrollment, with the statement of the
    migration that made the table (what its triggers add row by row)."""
    import importlib.util

    path = next((ROOT / "migrations" / "versions").glob("*_7c2e5b9a13f4_enrollment_counts.py"))
    spec = importlib.util.spec_from_file_location("enrollment_counts_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM enrollment_counts"))
        conn.execute(text(migration.count_sql(engine.dialect.name,
                                              migration._table("enrollments", 1))))
