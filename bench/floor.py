"""The database's own work in a member import, on PostgreSQL (`make bench`, after the
import figures).

A confirmed import of N members writes, per member, a member row, a registry entry, an
enrollment and an audit row. Here those rows are written by plain INSERT … SELECT
statements from rows that are already in the server (N existing members' values, with
new ids, member numbers and NIK digests), as the application role under Row-Level
Security, into a new partner with its groups and officer — no application, no network,
no parsing — in one transaction that is rolled back. The seconds this takes are the
floor under the import's confirmation: what the server itself spends on the rows, their
indexes, foreign keys, policies and the enrollment-count trigger. A second pass drops the
four tables' foreign keys inside its transaction (rolled back too) to show their share.
"""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text

TABLES = ("members", "member_registry", "audit_events", "enrollments")

_SETUP = (
    # a new partner (a copy of the first one's details), its officer and 100 groups
    """CREATE TEMPORARY TABLE floor_ids ON COMMIT DROP AS
       SELECT (SELECT max(id) + 1 FROM partners) AS partner_id,
              (SELECT max(id) FROM product_versions) AS version_id""",
    """INSERT INTO partners ({columns})
       SELECT {values} FROM partners WHERE id = (SELECT min(id) FROM partners)""",
    """INSERT INTO users (email, name, active, created_at)
       VALUES ('floor-' || md5(random()::text) || '@bench.example', 'Floor', true, now())""",
    """ALTER TABLE floor_ids ADD COLUMN user_id integer""",
    """UPDATE floor_ids SET user_id = (SELECT max(id) FROM users)""",
    """INSERT INTO groups (tenant_id, id, name, created_at)
       SELECT (SELECT partner_id FROM floor_ids),
              ('01930000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'G' || g, now()
       FROM generate_series(1, 100) AS g""",
    # the rows: existing members' values, new keys (time-ordered ids as the app makes)
    """CREATE TEMPORARY TABLE floor_rows ON COMMIT DROP AS
       SELECT ('01940000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid AS id,
              ('01950000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid AS enrollment_id,
              'F' || lpad(i::text, 9, '0') AS member_number,
              encode(sha256(('floor' || i || random())::text::bytea), 'hex') AS nik_digest,
              ('01930000-0000-7000-8000-' || lpad(to_hex(1 + i % 100), 12, '0'))::uuid
                  AS group_id,
              full_name, name_key, nik_encrypted, nik_masked, kk_encrypted, kk_masked,
              birth_date, sex, phone, address, province_code, regency_code, district_code,
              village_code, beneficiary_name, beneficiary_relation, beneficiary_phone
       FROM (SELECT row_number() OVER () AS i, m.* FROM members AS m LIMIT :rows) AS s""",
    "ANALYZE floor_rows",
    "GRANT SELECT ON floor_rows, floor_ids TO bungkesmas_app",
)

_INSERTS = {
    "members": """
        INSERT INTO members (tenant_id, id, member_number, full_name, name_key, nik_digest,
            nik_encrypted, nik_masked, nik_mismatch_confirmed, kk_encrypted, kk_masked,
            birth_date, sex, phone, address, province_code, regency_code, district_code,
            village_code, group_id, is_coordinator, beneficiary_name, beneficiary_relation,
            beneficiary_phone, consent_at, consent_version, consent_by_id, created_at,
            created_by_id, updated_at)
        SELECT f.partner_id, r.id, r.member_number, r.full_name, r.name_key, r.nik_digest,
            r.nik_encrypted, r.nik_masked, false, r.kk_encrypted, r.kk_masked, r.birth_date,
            r.sex, r.phone, r.address, r.province_code, r.regency_code, r.district_code,
            r.village_code, r.group_id, false, r.beneficiary_name, r.beneficiary_relation,
            r.beneficiary_phone, now(), 'floor', f.user_id, now(), f.user_id, now()
        FROM floor_rows AS r, floor_ids AS f""",
    "member_registry": """
        INSERT INTO member_registry (member_number, nik_digest, partner_id, member_id,
            created_at)
        SELECT r.member_number, r.nik_digest, f.partner_id, r.id, now()
        FROM floor_rows AS r, floor_ids AS f""",
    "audit_events": """
        INSERT INTO audit_events (created_at, actor_id, actor_label, partner_id, action,
            entity_type, entity_id, before, after, ip_address)
        SELECT now(), f.user_id, 'user:' || f.user_id, f.partner_id, 'member.import',
            'Member', r.id::text, NULL, json_build_object(
                'full_name', r.full_name, 'birth_date', r.birth_date, 'sex', r.sex,
                'phone', r.phone, 'address', r.address, 'province_code', r.province_code,
                'regency_code', r.regency_code, 'district_code', r.district_code,
                'village_code', r.village_code, 'group_id', r.group_id,
                'beneficiary_name', r.beneficiary_name,
                'beneficiary_relation', r.beneficiary_relation,
                'beneficiary_phone', r.beneficiary_phone, 'nik', r.nik_masked,
                'kk', r.kk_masked, 'nik_mismatch_confirmed', false,
                'member_number', r.member_number, 'import_id', 'floor', 'row', 1,
                'enrollment', json_build_object('id', r.enrollment_id, 'product', 'BKM',
                                                'version', 1, 'status', 'pending_payment')
            )::text::json, NULL
        FROM floor_rows AS r, floor_ids AS f""",
    "enrollments": """
        INSERT INTO enrollments (tenant_id, id, member_id, product_version_id, status,
            enrolled_at, enrolled_by_id, cancelled_at)
        SELECT f.partner_id, r.enrollment_id, r.id, f.version_id, 'pending_payment', now(),
            f.user_id, NULL
        FROM floor_rows AS r, floor_ids AS f""",
}


def _one_pass(engine, rows: int, foreign_keys: bool) -> dict[str, float]:
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            columns = conn.execute(text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "'public' AND table_name = 'partners' ORDER BY ordinal_position")).scalars().all()
            fresh = {"id": "(SELECT partner_id FROM floor_ids)",
                     "slug": "'floor-' || md5(random()::text)",
                     "contact_email": "'floor-' || md5(random()::text) || '@bench.example'"}
            for sql in _SETUP:
                sql = sql.format(columns=", ".join(f'"{c}"' for c in columns),
                                 values=", ".join(fresh.get(c, f'"{c}"') for c in columns))
                conn.execute(text(sql), {"rows": rows})
            if not foreign_keys:
                for table, name in conn.execute(text(
                        "SELECT conrelid::regclass::text, conname FROM pg_constraint "
                        "WHERE contype = 'f' AND conrelid::regclass::text IN "
                        "('members', 'member_registry', 'audit_events', 'enrollments')")):
                    conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
            conn.execute(text("SET LOCAL ROLE bungkesmas_app"))
            conn.execute(text("SELECT set_config('app.tenant_ids', partner_id::text, true) "
                              "FROM floor_ids"))
            seconds = {}
            for table in TABLES:
                started = time.perf_counter()
                conn.execute(text(_INSERTS[table]))
                seconds[table] = time.perf_counter() - started
        finally:
            trans.rollback()
    return seconds


def bench_floor(url: str, rows: int, log) -> dict:
    """Both passes; the tables are vacuumed afterwards (the rolled-back rows' index
    entries would slow the next import down)."""
    engine = create_engine(url)
    out = {}
    try:
        for label, foreign_keys in (("as_is", True), ("without_foreign_keys", False)):
            seconds = _one_pass(engine, rows, foreign_keys)
            total = sum(seconds.values())
            out[label] = {"seconds": round(total, 2), "us_per_member": round(total / rows * 1e6),
                          "tables": {t: round(s, 2) for t, s in seconds.items()}}
            log(f"    {label.replace('_', ' ')}: {total:.1f} s for {rows:,} members "
                f"({total / rows * 1e6:.0f} µs each): " + ", ".join(
                    f"{t} {s:.1f} s" for t, s in seconds.items()))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) " + ", ".join(TABLES) + ", groups, partners, "
                              "users, enrollment_counts"))
    finally:
        engine.dispose()
    out["rows"] = rows
    return out
