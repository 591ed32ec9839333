"""`make bench`: member search at 1,000,000 members and member import at 100,000 rows,
on SQLite and PostgreSQL.

    python -m bench.run [--members N] [--fresh] [--only sqlite|postgresql] [--rounds N]
                        [--skip-search] [--skip-import] [--import-rows N] [--keep-pg] [--reuse-pg]
                        [--skip-cek | --only-cek] [--cek-seconds S] [--cek-clients N] [--cek-rounds N]

Status check (bench/cek.py): /cek lookups per second and p99 under gunicorn, beside a
bare Flask endpoint doing the same indexed lookup in raw SQL (see that module).

Search: the members list page's query — `members.services.search(partner,
MemberFilter(q=...))` paginated by `db.paginate(..., page=1, per_page=50)` (the items
query and the count query) — run inside the partner's tenancy scope as a workspace
request sets it (`tenancy.enter_workspace`), each call in its own application context
(its own session and transaction, as a request), on a production-configured app: on
PostgreSQL the app connects as the owner and switches to the `bungkesmas_app` role, so
Row-Level Security is part of the measurement. Timed: from the call to `db.paginate`
until the page's members and the total are in hand. Each kind of query is timed with a
different value each round (values sampled from the partner's own members beforehand),
after a short warm-up. The query plans (EXPLAIN) are written to bench/results/.

Databases: the SQLite file bench/results/members-sqlite.db is kept between runs and
reused when it was built by the same generator version for the same number of members
(it is upgraded to the latest migration first; rebuilt if that fails; --fresh rebuilds
it anyway); the PostgreSQL database `bungkesmas_bench` is created, migrated,
loaded with COPY and dropped by each run (--keep-pg keeps it for inspection; --reuse-pg
uses a kept one again when it holds the same data set, and keeps it).

Import: 100,000 valid rows from CSV and from XLSX, each imported in a child process
(so its peak RSS is its own) into a new partner of the loaded database; rows per second
over the whole import (parse, validate, write, commit) and the child's peak RSS (its
VmHWM: getrusage's ru_maxrss would include this big process's size, which Linux carries
over fork and exec).

The figures go to stdout and to bench/results/figures.md (and .json); README.md's
"Benchmarks" section records a run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, event, select, text

from bench.app import make_app

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MIGRATIONS = ROOT / "migrations"
SQLITE_DB = RESULTS / "members-sqlite.db"
SQLITE_META = RESULTS / "members-sqlite.json"
PG_SERVER = os.environ.get("BUNGKESMAS_BENCH_PG_URL",
                           "postgresql+psycopg://postgres@127.0.0.1:5432")
# Another name (BUNGKESMAS_BENCH_PG_DB) lets two benchmark runs share one server: each run
# drops and recreates its database.
PG_DB = os.environ.get("BUNGKESMAS_BENCH_PG_DB", "bungkesmas_bench")
# What a database kept with --keep-pg holds (its generator versions), for --reuse-pg.
PG_META = RESULTS / f"members-postgresql-{PG_DB}.json"
TARGET_P95_MS = 50.0
TARGET_CSV_ROWS_S = 10_000
TARGET_RSS_MB = 300
TARGET_RECORD_P95_MS = 30.0
TARGET_LIST_MS = 200.0

QUERY_KINDS = (
    ("prefix_short", "name prefix, 2-3 letters"),
    ("prefix_long", "name prefix, 5+ letters"),
    ("number", "member number (exact)"),
    ("nik", "NIK (exact)"),
    ("phone", "phone (exact)"),
    ("group", "filter by group"),
    ("all", "no filter: first page (info)"),
)


def log(message: str = "") -> None:
    print(message, flush=True)


# --- the app and the databases ------------------------------------------------------------

def migrate(app) -> None:
    from flask_migrate import upgrade

    from bungkesmas.extensions import db

    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        db.engine.dispose()


def pg_admin():
    return create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT",
                         connect_args={"connect_timeout": 3})


def pg_problem() -> str | None:
    try:
        engine = pg_admin()
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as err:  # noqa: BLE001
        return str(err).splitlines()[0]
    return None


def pg_create(name: str) -> str:
    engine = pg_admin()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        collation = conn.execute(text("SELECT datcollate FROM pg_database WHERE datname = :n"),
                                 {"n": name}).scalar()
    engine.dispose()
    return collation


def pg_drop(name: str) -> None:
    engine = pg_admin()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def pg_exists(name: str) -> bool:
    engine = pg_admin()
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                             {"n": name}).first()
    engine.dispose()
    return found is not None


def write_meta(d: dict) -> None:
    """Record what a kept database holds: the SQLite file always, PostgreSQL with --keep-pg
    (the file is removed again when the database is dropped)."""
    (SQLITE_META if d["name"] == "sqlite" else PG_META).write_text(json.dumps(d["meta"]))


def warm_caches(d: dict) -> None:
    """Read the whole database once, so that the timed parts measure the app rather than
    the disk: this virtual machine pages out file pages nobody touched lately (DAMON),
    and random members' rows are spread over gigabytes. SQLite: the file through the OS
    cache; PostgreSQL: every table and index of the schema with pg_prewarm ('read': into
    the OS cache, as shared_buffers are far smaller than the data)."""
    started = time.perf_counter()
    if d["name"] == "sqlite":
        read_through(SQLITE_DB)
    else:
        engine = create_engine(d["url"])
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
            conn.execute(text(
                "SELECT pg_prewarm(c.oid::regclass, 'read') FROM pg_class c "
                "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')"))
        engine.dispose()
    log(f"  caches warmed: the whole {d['name']} database read once "
        f"({time.perf_counter() - started:.0f} s)")


def read_through(path: Path) -> None:
    with path.open("rb") as f:
        while f.read(16 << 20):
            pass


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def prepare(args) -> list[dict]:
    """Create (or reuse) the databases and load the data set into those that need it.
    Returns one dict per database: name, url, app, meta (query samples, load timings)."""
    from bench import generate

    RESULTS.mkdir(parents=True, exist_ok=True)
    p = generate.plan(total=args.members, big=min(200_000, args.members // 5))
    wanted = {"version": generate.GENERATOR_VERSION, "members": args.members}
    dbs, to_load = [], []

    if "sqlite" in args.only:
        url = f"sqlite:///{SQLITE_DB}"
        meta = json.loads(SQLITE_META.read_text()) if SQLITE_META.exists() else {}
        reused = False
        if (not args.fresh and SQLITE_DB.exists()
                and {k: meta.get(k) for k in wanted} == wanted):
            log(f"SQLite: reusing {SQLITE_DB.relative_to(ROOT)} (built {meta['built']} by "
                f"generator v{meta['version']}; --fresh rebuilds it); upgrading it to the "
                "latest migration")
            app = make_app(url)
            try:
                migrate(app)  # flask_migrate exits on an error
                reused = True
            except (Exception, SystemExit) as err:  # noqa: BLE001 — e.g. an unknown revision
                log(f"  cannot upgrade it ({err!r}): building it again")
            else:
                dbs.append({"name": "sqlite", "url": url, "meta": meta, "reused": True,
                            "app": app})
        if not reused:
            remove_sqlite(SQLITE_DB)
            SQLITE_META.unlink(missing_ok=True)
            log(f"SQLite: new database {SQLITE_DB.relative_to(ROOT)}, running the migrations")
            app = make_app(url)
            migrate(app)
            dbs.append({"name": "sqlite", "url": url, "meta": dict(wanted), "reused": False,
                        "app": app})
            to_load.append(dbs[-1])

    if "postgresql" in args.only:
        problem = pg_problem()
        meta = json.loads(PG_META.read_text()) if PG_META.exists() else {}
        if problem:
            log(f"PostgreSQL: not reachable at {PG_SERVER} ({problem}) — skipped")
        elif (args.reuse_pg and pg_exists(PG_DB)
              and {k: meta.get(k) for k in wanted} == wanted):
            url = f"{PG_SERVER}/{PG_DB}"
            log(f"PostgreSQL: reusing the database {PG_DB} kept by an earlier run (built "
                f"{meta['built']}); upgrading it to the latest migration")
            app = make_app(url)
            migrate(app)
            dbs.append({"name": "postgresql", "url": url, "reused": True, "app": app,
                        "meta": meta})
        else:
            if args.reuse_pg:
                log(f"PostgreSQL: no kept database {PG_DB} of this generator version: "
                    "building it")
            PG_META.unlink(missing_ok=True)
            collation = pg_create(PG_DB)
            url = f"{PG_SERVER}/{PG_DB}"
            log(f"PostgreSQL: new database {PG_DB} (collation {collation}), "
                "running the migrations")
            app = make_app(url)
            migrate(app)
            dbs.append({"name": "postgresql", "url": url, "reused": False, "app": app,
                        "meta": {**wanted, "collation": collation}})
            to_load.append(dbs[-1])

    if to_load:
        from bungkesmas.extensions import db

        names = " and ".join(d["name"] for d in to_load)
        log(f"Generating {args.members:,} members over {len(p.partners)} partners (largest "
            f"{p.partners[0].size:,}) into {names} …")
        app = to_load[0]["app"]
        engines = []
        for d in to_load:
            engines.append(create_engine(d["url"]))
        started = time.perf_counter()
        with app.app_context():
            timings = generate.load(engines, p, app, log)
        for e in engines:
            e.dispose()
        log(f"  loaded in {time.perf_counter() - started:.0f} s "
            f"(generating the rows: {timings['generate']['seconds']} s)")
        for d in to_load:
            d["meta"].update({
                "built": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "load": {**timings[d["name"]], "generate_s": timings["generate"]["seconds"]},
                "big": p.big, "typical": p.typical,
                "sizes": {str(pp.id): pp.size for pp in p.partners},
                "niks": {str(k): v for k, v in p.generated.niks.items()},
            })
            with d["app"].app_context():
                db.engine.dispose()
        for d in to_load:
            write_meta(d)
    if args.contributions or args.cek:  # the status check reads the ledger too
        load_ledger(dbs)
    vers = versions([{**d, "app": d.get("app") or make_app(d["url"])} for d in dbs])
    for d in dbs:
        d.setdefault("app", make_app(d["url"]))
        d["version"] = vers[d["name"]]
        if d["name"] == "sqlite":
            d["meta"]["file_mb"] = round(SQLITE_DB.stat().st_size / 2**20)
        else:
            with d["app"].app_context():
                from bungkesmas.extensions import db
                d["meta"]["file_mb"] = round(db.session.scalar(
                    text("SELECT pg_database_size(current_database())")) / 2**20)
                db.session.remove()
    return dbs


def load_ledger(dbs: list[dict]) -> None:
    """Add the enrollments and the ledger (bench.ledger) to the databases without them: the
    kept SQLite file once (rebuilt when its ledger is of another generator version), the
    new PostgreSQL database every run."""
    from bench import ledger
    from bungkesmas.extensions import db
    from bungkesmas.timeutil import local_today

    to_load = []
    for d in dbs:
        have = d["meta"].get("ledger", {}).get("version")
        if have == ledger.LEDGER_VERSION:
            log(f"{d['name']}: the ledger is there already (generator v{have}, "
                f"{d['meta']['ledger']['rows']['ledger_entries']:,} rows, built "
                f"{d['meta']['ledger']['built']})")
            d["ledger_reused"] = True
            continue
        if have is not None:
            raise SystemExit(f"{d['name']}: the ledger was made by generator v{have}: run again "
                             "with --fresh to rebuild the SQLite file")
        with d["app"].app_context():
            partial = db.session.scalar(text("SELECT count(*) FROM enrollments"))
            db.session.remove()
        if partial:
            raise SystemExit(f"{d['name']}: {partial:,} enrollments but no record of a finished "
                             "ledger load (an interrupted run?): run again with --fresh")
        to_load.append(d)
    if not to_load:
        return
    app = to_load[0]["app"]
    with app.app_context():
        today = local_today()
    names = " and ".join(d["name"] for d in to_load)
    log(f"Generating the enrollments and ~10 ledger rows per member into {names} "
        f"(coverage computed per enrollment, as of {today}) …")
    engines = [create_engine(d["url"]) for d in to_load]
    started = time.perf_counter()
    with app.app_context():
        timings = ledger.load(engines, engines[0], app, today, log)
    for e in engines:
        e.dispose()
    log(f"  {timings['rows']['ledger_entries']:,} ledger rows and "
        f"{timings['rows']['enrollments']:,} enrollments loaded in "
        f"{time.perf_counter() - started:.0f} s (generating: {timings['generate']['seconds']} s)")
    for d in to_load:
        d["meta"]["ledger"] = {
            "version": ledger.LEDGER_VERSION, "rows": timings["rows"], "as_of": str(today),
            "built": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "load": {**timings[d["name"]], "generate_s": timings["generate"]["seconds"]}}
        with d["app"].app_context():
            db.engine.dispose()
        write_meta(d)


# --- member search ------------------------------------------------------------------------

def _samples(app, partner_id: int, niks: list[str], n: int, rng: random.Random) -> dict:
    """Query values of each kind, with the member (or group) each one must find."""
    from bungkesmas import tenancy
    from bungkesmas.extensions import db

    with app.app_context(), tenancy.everything():
        rows = db.session.execute(text(
            "SELECT name_key, member_number, phone, group_id, nik_digest FROM members "
            "WHERE tenant_id = :t ORDER BY random() LIMIT :n"), {"t": partner_id, "n": n}).all()
    out = {kind: [] for kind, _ in QUERY_KINDS}
    for key, number, phone, group_id, _digest in rows:
        short = key[:rng.choice((2, 3))]
        if " " not in short:
            out["prefix_short"].append((short, None))
        long_ = key[:rng.randint(5, 8)].rstrip()
        if len(long_) >= 5:
            out["prefix_long"].append((long_, None))
        out["number"].append((number, number))
        if phone:
            out["phone"].append(("0" + phone[3:], number))  # as typed: 0812…
        if group_id:
            out["group"].append((uuid.UUID(str(group_id)), None))
        out["all"].append((None, None))
    with app.app_context():
        from bungkesmas.members import nik as nik_rules
        out["nik"] = [(nik, nik_rules.digest(nik)) for nik in niks[:n]]
    return out


def _filter(kind: str, value):
    from bungkesmas.members.services import MemberFilter

    if kind == "group":
        return MemberFilter(group_id=value)
    if kind == "all":
        return MemberFilter()
    return MemberFilter(q=value)


def _found(kind: str, value, expected, items) -> bool:
    """Did the page hold what the query was for?"""
    if kind in ("prefix_short", "prefix_long"):
        return bool(items) and all(m.name_key.startswith(value) for m in items)
    if kind in ("number", "phone"):
        return any(m.member_number == expected for m in items)
    if kind == "nik":
        return any(m.nik_digest == expected for m in items)
    if kind == "group":
        return bool(items) and all(m.group_id == value for m in items)
    return bool(items)


def _one_search(app, partner_id: int, kind: str, value, expected=None, capture=None):
    """One members-list query as a request runs it; returns (ms, found, total, plans)."""
    from bungkesmas import tenancy
    from bungkesmas.extensions import db
    from bungkesmas.members.services import search
    from bungkesmas.partners.models import Partner

    with app.app_context():
        tenancy.enter_workspace(partner_id)  # what the workspace gate does
        partner = db.session.get(Partner, partner_id)
        f = _filter(kind, value)
        if capture is not None:
            capture.clear()
            capture.append(True)
        started = time.perf_counter()
        page = db.paginate(search(partner, f), page=1, per_page=50, error_out=False)
        items, total = page.items, page.total
        elapsed = (time.perf_counter() - started) * 1000
        if capture is not None:
            capture[0] = False
            plans = _explain(db, capture[1:])
        else:
            plans = None
        result = (elapsed, _found(kind, value, expected, items), total, plans)
        db.session.rollback()
    return result


def _explain(db, statements) -> list[tuple[str, str]]:
    """EXPLAIN each captured statement, in the same transaction and scope."""
    conn = db.session.connection()
    out = []
    for sql, params in statements:
        if "set_config" in sql:
            continue
        if conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).all()
            plan = "\n".join(r[0] for r in rows)
        else:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
            plan = "\n".join(r[-1] for r in rows)
        out.append((sql, plan))
    return out


def _indexes_used(dialect: str, plans: list[tuple[str, str]]) -> str:
    """A short description of how the members table was reached in each query."""
    parts = []
    for _sql, plan in plans:
        if dialect == "postgresql":
            found = re.findall(r"(Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)? "
                               r"(?:using|on) (\w+)", plan)
            used = sorted({f"{n}" for _k, n in found if "members" in n or "pk_" in n})
            if re.search(r"Seq Scan on members", plan):
                used.append("SEQ SCAN members")
        else:
            used = sorted(set(re.findall(r"INDEX (\w+)", plan)))
            if re.search(r"SCAN members(?! USING)", plan):
                used.append("FULL SCAN members")
        parts.append("+".join(used) or "?")
    return " | ".join(parts)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(q * len(ordered) + 0.5)) - 1))]


def bench_search(d: dict, args) -> dict:
    """Time every kind of query on the large partner and on a typical one."""
    app, meta = d["app"], d["meta"]
    rng = random.Random(7)  # noqa: S311
    captured: list = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if captured and captured[0]:
            captured.append((statement, parameters))

    from bungkesmas.extensions import db
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    plans_file = RESULTS / f"plans-{d['name']}.txt"
    results = {}
    with plans_file.open("w") as plans_out:
        for label, partner_id in (("big", meta["big"]), ("typical", meta["typical"])):
            size = meta["sizes"][str(partner_id)]
            samples = _samples(app, partner_id, meta["niks"][str(partner_id)], args.rounds + 20,
                               rng)
            log(f"  {d['name']}: partner {partner_id} ({size:,} members)")
            for kind, title in QUERY_KINDS:
                values = samples[kind]
                if not values:
                    continue
                # the plan, from a first (warm-up) run
                _ms, _ok, total, plans = _one_search(app, partner_id, kind, *values[0],
                                                     capture=captured)
                plans_out.write(f"### {d['name']} partner {partner_id} ({size} members): "
                                f"{title}: q={values[0][0]!r} -> {total} rows\n")
                for sql, plan in plans:
                    plans_out.write(f"{sql}\n--\n{plan}\n\n")
                for value, _ in values[1:4]:
                    _one_search(app, partner_id, kind, value)  # warm-up
                times, found, totals = [], 0, []
                deadline = time.perf_counter() + args.max_seconds
                tried = 0
                for value, expected in values[4:4 + args.rounds]:
                    ms, ok, total, _ = _one_search(app, partner_id, kind, value, expected)
                    times.append(ms)
                    totals.append(total)
                    tried += 1
                    found += ok
                    if time.perf_counter() > deadline and tried >= 20:
                        break
                row = {
                    "title": title, "n": len(times),
                    "median_ms": round(statistics.median(times), 2),
                    "p95_ms": round(_pct(times, 0.95), 2),
                    "max_ms": round(max(times), 2),
                    "rows_median": int(statistics.median(totals)),
                    "found_pct": round(100 * found / len(times)),
                    "plan": _indexes_used(d["name"], plans),
                }
                results.setdefault(label, {"partner": partner_id, "size": size,
                                           "kinds": {}})["kinds"][kind] = row
                flag = "" if row["p95_ms"] < TARGET_P95_MS or kind == "all" else "  <-- over"
                log(f"    {title:<30} median {row['median_ms']:>8.2f} ms  p95 "
                    f"{row['p95_ms']:>8.2f} ms  (n={row['n']}, matches {row['rows_median']:,}, "
                    f"found {row['found_pct']}%; via {row['plan']}){flag}")
    event.remove(engine, "before_cursor_execute", before)
    log(f"  plans: {plans_file.relative_to(ROOT)}")
    return results


# --- import -------------------------------------------------------------------------------

def bench_import(d: dict, args, files: dict[str, Path]) -> dict:
    """Import each file into a new partner, in a child process."""
    url = d["url"]
    workdir = None
    if d["name"] == "sqlite":
        # import into a copy: the kept 1M-member file stays as generated
        workdir = RESULTS / "import-sqlite.db"
        remove_sqlite(workdir)
        shutil.copyfile(SQLITE_DB, workdir)
        # The copy's gigabytes are dirty pages the kernel writes back from now on: wait
        # for that, or the import measures the write-back of the copy; then read it once,
        # as `warm_caches` does (pages of a file nobody touched lately are paged out, and
        # the first import would measure the disk: 14 s of confirmation against 9 s for
        # the next one).
        os.sync()
        read_through(workdir)
        url = f"sqlite:///{workdir}"
    out = {}
    try:
        for fmt, path in files.items():
            cmd = [sys.executable, "-m", "bench.import_worker", url, str(path), fmt]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
                log(f"    {fmt}: import FAILED:\n      " + "\n      ".join(tail))
                out[fmt] = {"error": "\n".join(tail)}
                continue
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            out[fmt] = result
            if workdir is None:  # PostgreSQL: the kept database stays as generated
                remove_import_partner(d, result["partner_id"], result["user_id"])
            flag = ""
            if fmt == "csv" and result["rows_per_s"] < TARGET_CSV_ROWS_S:
                flag += "  <-- under 10,000 rows/s"
            if result["peak_rss_mb"] > TARGET_RSS_MB:
                flag += "  <-- over 300 MB"
            log(f"    {fmt}: {result['rows']:,} rows in {result['seconds']:.1f} s (preview "
                f"{result['preview_s']:.1f} s + confirm {result['confirm_s']:.1f} s) = "
                f"{result['rows_per_s']:,.0f} rows/s; {result['cpu_s']:.1f} CPU s in the app "
                f"process ({result.get('preview_cpu_s', 0):.1f} + "
                f"{result.get('confirm_cpu_s', 0):.1f}); peak RSS {result['peak_rss_mb']} MB "
                f"(before the import: {result['baseline_rss_mb']} MB){flag}")
    finally:
        if workdir is not None:
            remove_sqlite(workdir)
        shutil.rmtree(RESULTS / "uploads", ignore_errors=True)
    return out


def file_label(fmt: str) -> str:
    """How the figures name an import file's kind."""
    from bench import import_worker

    return {"csv": "CSV", "xlsx": "XLSX (openpyxl: text in the cells)",
            import_worker.EXCEL: "XLSX (as Excel saves it: shared strings)"}.get(fmt, fmt)


def remove_import_partner(d: dict, partner_id: int, user_id: int) -> None:
    """Delete an import's partner with everything in it (as the database owner, foreign
    keys and triggers off), so that a kept PostgreSQL database keeps its data set."""
    engine = create_engine(d["url"])
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        tables = conn.execute(text(
            "SELECT table_name FROM information_schema.columns WHERE column_name = "
            "'tenant_id' AND table_schema = 'public'")).scalars().all()
        for table in tables:
            conn.execute(text(f'DELETE FROM "{table}" WHERE tenant_id = :p'), {"p": partner_id})
        for table in ("member_registry", "audit_events", "partner_products",
                      "enrollment_counts", "api_tokens", "outbox_messages",
                      "remittance_settings"):
            conn.execute(text(f'DELETE FROM "{table}" WHERE partner_id = :p'),
                         {"p": partner_id})
        conn.execute(text("DELETE FROM users WHERE id = :u"), {"u": user_id})
        conn.execute(text("DELETE FROM partners WHERE id = :p"), {"p": partner_id})
    # The 100,000 deleted rows of each table stay in its indexes until vacuumed: the next
    # import of the same file would find each NIK's dead entries in the unique indexes and
    # check each of them (measured: 18 s → 25-30 s for the confirmation).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) members, member_registry, enrollments, "
                          "audit_events, enrollment_counts, groups"))
    engine.dispose()


def make_import_files(rows: int) -> dict[str, Path]:
    from bench import import_worker

    return import_worker.make_files(rows, RESULTS)


# --- contributions ------------------------------------------------------------------------

DUE_TABS = ("due", "grace", "lapsed", "pending")


def _timed(rounds: int, max_seconds: float, once) -> list[float]:
    """Run `once` (which returns milliseconds) `rounds` times, or at least 20 times
    within `max_seconds`."""
    times, started = [], time.perf_counter()
    for i in range(rounds):
        times.append(once(i))
        if i >= 19 and time.perf_counter() - started > max_seconds:
            break
    return times


def _summary(times: list[float], **extra) -> dict:
    return {"n": len(times), "median_ms": round(statistics.median(times), 1),
            "p95_ms": round(_pct(times, 0.95), 1), **extra}


def _api_partners(app, partner_ids: list[int], per_partner: int, rng: random.Random) -> dict:
    """An officer with an API token for each partner (created once, kept in the
    database), and open enrollments' member numbers to pay for."""
    from bungkesmas import tenancy
    from bungkesmas.auth import services as auth
    from bungkesmas.auth.models import PartnerStaff, User
    from bungkesmas.auth.permissions import Role
    from bungkesmas.extensions import db
    from bungkesmas.partners.models import Partner

    out = {}
    with app.app_context(), tenancy.everything():
        for pid in partner_ids:
            email = f"bench-petugas-{pid}@contoh.id"
            user = db.session.scalar(select(User).where(User.email == email))
            if user is None:
                user = User(email=email, name=f"Petugas Bench {pid}")
                db.session.add(user)
                db.session.flush()
                db.session.add(PartnerStaff(tenant_id=pid, id=tenancy.new_id(), user_id=user.id,
                                            role=Role.PARTNER_OFFICER))
                db.session.flush()
            _token, secret = auth.create_token(user, db.session.get(Partner, pid), "bench")
            numbers = db.session.execute(text(
                "SELECT m.member_number FROM members m JOIN enrollments e ON "
                "e.tenant_id = m.tenant_id AND e.member_id = m.id WHERE m.tenant_id = :t "
                "AND e.status <> 'cancelled' ORDER BY random() LIMIT :n"),
                {"t": pid, "n": per_partner}).scalars().all()
            out[pid] = (secret, list(numbers))
        db.session.commit()
    return out


def _due_once(app, partner_id: int, tab: str, capture=None):
    """The due/overdue page's queries as the view runs them: the counts of every list,
    then the first page of one list; returns (ms, total, rows on the page, plans)."""
    from bungkesmas import tenancy
    from bungkesmas.extensions import db
    from bungkesmas.partners.models import Partner
    from bungkesmas.reminders import due
    from bungkesmas.timeutil import local_today

    with app.app_context():
        tenancy.enter_workspace(partner_id)
        partner = db.session.get(Partner, partner_id)
        f = due.DueFilter(today=local_today(partner), tab=due.Tab(tab))
        if capture is not None:
            capture.clear()
            capture.append(True)
        started = time.perf_counter()
        counts = due.counts(f)
        page = due.page(f, 1, total=counts[f.tab])
        elapsed = (time.perf_counter() - started) * 1000
        plans = None
        if capture is not None:
            capture[0] = False
            plans = _explain(db, capture[1:])
        db.session.rollback()
    return elapsed, counts[f.tab], len(page.items), plans


def _status_statement():
    from sqlalchemy import func

    from bungkesmas.contributions.services import status_expression
    from bungkesmas.members.models import Enrollment
    from bungkesmas.timeutil import local_today

    status = status_expression(local_today()).label("status")
    return select(status, func.count()).select_from(Enrollment).group_by(status)


def _status_by_expression(app) -> dict[str, int]:
    """The same count the slow way (`status_expression` grouped over every enrollment):
    run once, to check the fast count against it."""
    from bungkesmas import tenancy
    from bungkesmas.extensions import db

    with app.app_context(), tenancy.everything():
        counts = {str(k): v for k, v in db.session.execute(_status_statement()).all()}
        db.session.rollback()
    return counts


def _status_once(app, capture=None):
    """The provider-wide count of members by status (one enrollment each here), in the
    explicit everything scope as the provider's partners page runs it
    (`contributions.services.status_counts`, from the trigger-kept `enrollment_counts`)."""
    from bungkesmas import tenancy
    from bungkesmas.contributions.services import status_counts
    from bungkesmas.extensions import db

    with app.app_context(), tenancy.everything():
        if capture is not None:
            capture.clear()
            capture.append(True)
        started = time.perf_counter()
        counts = {str(k): v for k, v in status_counts().items() if v}
        elapsed = (time.perf_counter() - started) * 1000
        plans = None
        if capture is not None:
            capture[0] = False
            plans = _explain(db, capture[1:])
        db.session.rollback()
    return elapsed, counts, plans


def bench_contributions(d: dict, args) -> dict:
    """Record via the API, the due/overdue page of a ~30,000-member partner, the
    provider-wide count by status."""
    app, meta = d["app"], d["meta"]
    rng = random.Random(11)  # noqa: S311
    sizes = {int(k): v for k, v in meta["sizes"].items()}
    near30k = min(sizes, key=lambda pid: abs(sizes[pid] - 30_000))
    out: dict = {"due_partner": near30k, "due_partner_size": sizes[near30k]}
    captured: list = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if captured and captured[0]:
            captured.append((statement, parameters))

    from bungkesmas.extensions import db
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)

    # 1. record one contribution via the API (Flask test client, in process)
    others = [pid for pid in sorted(sizes) if pid not in (meta["big"], near30k, meta["typical"])]
    pids = [meta["big"], near30k, meta["typical"], *rng.sample(others, 5)]
    api = _api_partners(app, pids, args.contribution_rounds + 20, rng)
    client = app.test_client()
    from bungkesmas.timeutil import local_today
    with app.app_context():
        today = local_today().isoformat()
    statuses: dict[int, int] = {}
    failures: list[str] = []
    cpu_ms: list[float] = []

    def post(i: int, key: str | None = None) -> float:
        pid = pids[i % len(pids)]
        secret, numbers = api[pid]
        body = {"member_number": numbers[i // len(pids) % len(numbers)], "method": "cash",
                "amount": rng.randrange(10_000, 150_001, 5_000), "received_on": today}
        headers = {"Authorization": f"Bearer {secret}",
                   "Idempotency-Key": key or str(uuid.uuid4())}
        started, cpu = time.perf_counter(), time.process_time()
        response = client.post("/api/v1/contributions", json=body, headers=headers,
                               base_url="https://localhost")
        elapsed = (time.perf_counter() - started) * 1000
        cpu_ms.append((time.process_time() - cpu) * 1000)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code != 201 and len(failures) < 3:
            failures.append(f"{response.status_code} {response.get_data(as_text=True)[:300]}")
        return elapsed

    for i in range(10):  # warm-up
        post(10_000 + i)
    statuses.clear()
    cpu_ms.clear()
    times = _timed(args.contribution_rounds, args.max_seconds, post)
    out["record"] = _summary(times, statuses={str(k): v for k, v in statuses.items()},
                             failures=failures, partners=len(pids),
                             cpu_median_ms=round(statistics.median(cpu_ms), 1))
    over = out["record"]["p95_ms"] >= TARGET_RECORD_P95_MS
    log(f"  record via the API: median {out['record']['median_ms']:.1f} ms, p95 "
        f"{out['record']['p95_ms']:.1f} ms over {len(times)} requests; the app's CPU time "
        f"per request (median) {out['record']['cpu_median_ms']:.1f} ms "
        f"(HTTP status counts {statuses}){'  <-- over 30 ms' if over else ''}")
    for failure in failures:
        log(f"    failed: {failure}")

    # 2. the due/overdue page of the ~30,000-member partner
    plans_file = RESULTS / f"plans-contributions-{d['name']}.txt"
    with plans_file.open("w") as plans_out:
        out["due"] = {}
        for tab in DUE_TABS:
            for _ in range(3):
                _due_once(app, near30k, tab)
            info = {}

            def once(_i, tab=tab, info=info):
                ms, total, rows, _plans = _due_once(app, near30k, tab)
                info["total"], info["rows"] = total, rows
                return ms

            times = _timed(max(20, args.contribution_rounds // 4), args.max_seconds / 2, once)
            _ms, _total, _rows, plans = _due_once(app, near30k, tab, captured)
            out["due"][tab] = _summary(times, **info)
            plans_out.write(f"=== due list, tab {tab}, partner {near30k} "
                            f"({sizes[near30k]:,} members) ===\n")
            for sql, plan in plans:
                plans_out.write(f"-- {sql}\n{plan}\n\n")
            r = out["due"][tab]
            log(f"  due list of the {sizes[near30k]:,}-member partner, tab {tab} (counts + "
                f"first page): median {r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms "
                f"({r['total']:,} in the list)"
                f"{'  <-- over 200 ms' if r['p95_ms'] >= TARGET_LIST_MS else ''}")

        # 3. provider-wide members by status
        for _ in range(2):
            _status_once(app)
        counts: dict = {}

        def once_status(_i):
            ms, c, _plans = _status_once(app)
            counts.update(c)
            return ms

        times = _timed(max(20, args.contribution_rounds // 4), args.max_seconds, once_status)
        _ms, _c, plans = _status_once(app, captured)
        slow = _status_by_expression(app)
        out["status_count"] = _summary(times, counts=counts, agrees=slow == counts)
        if slow != counts:
            log(f"  !! the fast count differs from status_expression's: {slow}")
        plans_out.write("=== provider-wide count by status ===\n")
        for sql, plan in plans:
            plans_out.write(f"-- {sql}\n{plan}\n\n")
        r = out["status_count"]
        log(f"  provider-wide members by status: median {r['median_ms']:.1f} ms, p95 "
            f"{r['p95_ms']:.1f} ms ({', '.join(f'{k} {v:,}' for k, v in sorted(counts.items()))}; "
            f"{'the same as' if r['agrees'] else 'NOT the same as'} status_expression's)"
            f"{'  <-- over 200 ms' if r['p95_ms'] >= TARGET_LIST_MS else ''}")
    event.remove(engine, "before_cursor_execute", before)
    return out


# --- report -------------------------------------------------------------------------------

def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu or platform.machine()}){mem}, Python {platform.python_version()}"


def versions(dbs: list[dict]) -> dict[str, str]:
    out = {}
    for d in dbs:
        with d["app"].app_context():
            from bungkesmas.extensions import db
            if d["name"] == "sqlite":
                out["sqlite"] = "SQLite " + db.session.scalar(text("SELECT sqlite_version()"))
            else:
                out["postgresql"] = "PostgreSQL " + db.session.scalar(
                    text("SHOW server_version")).split()[0]
            db.session.remove()
    return out


def target_misses(search: dict, imports: dict, contributions: dict | None = None
                  ) -> list[str]:
    out = []
    for name, c in (contributions or {}).items():
        if c["record"]["p95_ms"] >= TARGET_RECORD_P95_MS:
            out.append(f"{name} record via the API: p95 {c['record']['p95_ms']:.0f} ms "
                       f"(target < {TARGET_RECORD_P95_MS:.0f})")
        for tab, r in c["due"].items():
            if r["p95_ms"] >= TARGET_LIST_MS:
                out.append(f"{name} due list ({tab}) of the {c['due_partner_size']:,}-member "
                           f"partner: p95 {r['p95_ms']:.0f} ms (target < {TARGET_LIST_MS:.0f})")
        if c["status_count"]["p95_ms"] >= TARGET_LIST_MS:
            out.append(f"{name} count by status: p95 {c['status_count']['p95_ms']:.0f} ms "
                       f"(target < {TARGET_LIST_MS:.0f})")
    for name, s in search.items():
        for label in ("big", "typical"):
            part = s[label]
            for kind, row in part["kinds"].items():
                if kind != "all" and row["p95_ms"] >= TARGET_P95_MS:
                    out.append(f"{name} {row['title']} on the {part['size']:,}-member partner: "
                               f"p95 {row['p95_ms']:.0f} ms (target < {TARGET_P95_MS:.0f})")
                if row["found_pct"] < 100:
                    out.append(f"{name} {row['title']} on the {part['size']:,}-member partner: "
                               f"the member was on the page for {row['found_pct']}% of the "
                               "queries only")
    for name, results in imports.items():
        for fmt, r in results.items():
            if "error" in r:
                out.append(f"{name} {file_label(fmt)} import failed")
                continue
            if fmt == "csv" and r["rows_per_s"] < TARGET_CSV_ROWS_S:
                out.append(f"{name} CSV import: {r['rows_per_s']:,} rows/s "
                           f"(target ≥ {TARGET_CSV_ROWS_S:,})")
            if r["peak_rss_mb"] >= TARGET_RSS_MB:
                out.append(f"{name} {file_label(fmt)} import: peak RSS {r['peak_rss_mb']} MB "
                           f"(target < {TARGET_RSS_MB})")
    return out


def report(dbs: list[dict], search: dict, imports: dict, contributions: dict, args,
           started: float, cek: dict | None = None, floors: dict | None = None) -> str:
    lines = [f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; load average "
             f"{args.load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.", ""]
    vers = {d["name"]: d["version"] for d in dbs}
    for d in dbs:
        name = d["name"]
        meta = d["meta"]
        load = meta.get("load", {})
        built = ("reused from an earlier run" if d.get("reused") else
                 f"generated in {load.get('generate_s', '?')} s (shared), written in "
                 f"{load.get('write_s', '?')} s, indexes {load.get('indexes_s', '?')} s, "
                 f"analyze {load.get('analyze_s', '?')} s")
        lines.append(f"**{vers.get(name, name)}** — {meta['members']:,} members, database "
                     f"{meta.get('file_mb', '?'):,} MB ({built})")
        lines.append("")
        if name in (cek or {}):
            from bench import cek as cek_bench

            lines.extend(cek_bench.table(cek[name]))
            lines.append("")
        if name in search:
            s = search[name]
            big, typ = s["big"], s["typical"]
            lines.append(f"| search (page of 50 + count) | partner of {big['size']:,}: median"
                         f" / p95 ms | partner of {typ['size']:,}: median / p95 ms | matches "
                         f"(large partner) | found |")
            lines.append("| --- | ---: | ---: | ---: | ---: |")
            for kind, title in QUERY_KINDS:
                b, t = big["kinds"].get(kind), typ["kinds"].get(kind)
                if not b or not t:
                    continue
                found = min(b["found_pct"], t["found_pct"])
                lines.append(f"| {title} | {b['median_ms']:.1f} / {b['p95_ms']:.1f} | "
                             f"{t['median_ms']:.1f} / {t['p95_ms']:.1f} | {b['rows_median']:,} | "
                             f"{found}% |")
            lines.append("")
        if name in contributions:
            c = contributions[name]
            led = meta.get("ledger", {})
            lines.append(f"Ledger: {led.get('rows', {}).get('ledger_entries', 0):,} rows, "
                         f"{led.get('rows', {}).get('enrollments', 0):,} enrollments (as of "
                         f"{led.get('as_of', '?')}; " + (
                             "reused from an earlier run" if d.get("ledger_reused") else
                             f"generated in {led['load'].get('generate_s', '?')} s, written in "
                             f"{led['load'].get('write_s', '?')} s, indexes "
                             f"{led['load'].get('indexes_s', '?')} s") + ")")
            lines.append("")
            r = c["record"]
            lines.append("| contributions | median ms | p95 ms | n | notes |")
            lines.append("| --- | ---: | ---: | ---: | --- |")
            lines.append(f"| record one contribution: POST /api/v1/contributions (Flask test "
                         f"client, Idempotency-Key, {r['partners']} partners) | "
                         f"{r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['n']} | HTTP "
                         f"{', '.join(f'{k}×{v}' for k, v in r['statuses'].items())}; app "
                         f"process CPU {r['cpu_median_ms']:.1f} ms per request (median) |")
            for tab, t in c["due"].items():
                lines.append(f"| due/overdue page ({tab}): counts + first page, partner of "
                             f"{c['due_partner_size']:,} | {t['median_ms']:.1f} | "
                             f"{t['p95_ms']:.1f} | {t['n']} | {t['total']:,} in the list |")
            s_ = c["status_count"]
            lines.append(f"| provider-wide members by status (everything scope) | "
                         f"{s_['median_ms']:.1f} | {s_['p95_ms']:.1f} | {s_['n']} | "
                         + ", ".join(f"{k} {v:,}" for k, v in sorted(s_["counts"].items()))
                         + " |")
            lines.append("")
        if name in imports:
            rows = next((r["rows"] for r in imports[name].values() if "rows" in r),
                        args.import_rows)
            lines.append(f"| import of {rows:,} valid rows | rows/s | seconds (preview + "
                         "confirm) | app CPU s (preview + confirm) | peak RSS MB (app alone) |")
            lines.append("| --- | ---: | ---: | ---: | ---: |")
            for fmt, r in imports[name].items():
                if "error" in r:
                    reason = r['error'].splitlines()[-1][:120].replace('|', '/')
                    lines.append(f"| {file_label(fmt)} | failed: {reason}"
                                 " | | | |")
                else:
                    lines.append(f"| {file_label(fmt)} | {r['rows_per_s']:,.0f} | {r['seconds']:.1f}"
                                 f" ({r['preview_s']:.1f} + {r['confirm_s']:.1f}) | "
                                 f"{r['cpu_s']:.1f} ({r.get('preview_cpu_s', 0):.1f} + "
                                 f"{r.get('confirm_cpu_s', 0):.1f}) | {r['peak_rss_mb']} "
                                 f"({r['baseline_rss_mb']}) |")
            lines.append("")
        if name in (floors or {}):
            f = floors[name]
            lines.append(f"The server's own work for {f['rows']:,} imported members' rows "
                         "(bench/floor.py): " + "; ".join(
                             f"{label.replace('_', ' ')} {p['seconds']:.1f} s ("
                             + ", ".join(f"{t} {s:.1f}" for t, s in p["tables"].items()) + ")"
                             for label, p in f.items() if label != "rows") + ".")
            lines.append("")
    misses = target_misses(search, imports, contributions)
    if cek:
        from bench import cek as cek_bench

        misses += [m for name, r in cek.items() for m in cek_bench.misses(name, r)]
    lines.append("Targets missed: " + ("; ".join(misses) if misses else "none") + ".")
    lines.append("")
    lines.append(f"Whole run: {time.perf_counter() - started:.0f} s.")
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="rebuild the kept SQLite database")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), action="append")
    parser.add_argument("--rounds", type=int, default=200, help="timed queries per kind")
    parser.add_argument("--max-seconds", type=float, default=20.0,
                        help="stop timing a kind after this long (at least 20 rounds)")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--skip-floor", action="store_true",
                        help="leave out the server-only pass after the PostgreSQL import")
    parser.add_argument("--skip-contributions", action="store_true")
    parser.add_argument("--only-contributions", action="store_true",
                        help="the contributions figures only (same as --skip-search "
                             "--skip-import)")
    parser.add_argument("--contribution-rounds", type=int, default=200,
                        help="API records timed (the lists and the count: a quarter each)")
    parser.add_argument("--skip-cek", action="store_true",
                        help="leave out the status check under gunicorn (bench.cek)")
    parser.add_argument("--only-cek", action="store_true",
                        help="the status check figures only (with the ledger loaded)")
    parser.add_argument("--cek-seconds", type=float, default=15.0,
                        help="timed seconds per server in the status check")
    parser.add_argument("--cek-warmup", type=float, default=3.0)
    parser.add_argument("--cek-clients", type=int, default=4,
                        help="concurrent keep-alive client processes")
    parser.add_argument("--cek-samples", type=int, default=5000)
    parser.add_argument("--cek-rounds", type=int, default=3,
                        help="alternating bare endpoint / /cek pairs (the median share)")
    parser.add_argument("--keep-pg", action="store_true",
                        help=f"keep the {PG_DB} database (for inspection, or --reuse-pg)")
    parser.add_argument("--reuse-pg", action="store_true",
                        help="reuse the database kept by an earlier --keep-pg run when it holds "
                             "the same data set (implies --keep-pg)")
    args = parser.parse_args(argv)
    args.only = args.only or ["sqlite", "postgresql"]
    args.keep_pg = args.keep_pg or args.reuse_pg
    if args.only_contributions:
        args.skip_search = args.skip_import = args.skip_cek = True
    if args.only_cek:
        args.skip_search = args.skip_import = args.skip_contributions = True
    args.contributions = not args.skip_contributions
    args.cek = not args.skip_cek
    started = time.perf_counter()
    args.load_before = os.getloadavg()[0]
    log(f"Bungkesmas benchmark on {machine()}, load average {args.load_before:.1f}"
        + (" — other work is running: figures will be slower and noisier"
           if args.load_before > 0.5 * (os.cpu_count() or 1) else ""))
    dbs = prepare(args)
    search, imports, contributions, cek, floors = {}, {}, {}, {}, {}
    files = None
    try:
        for d in dbs:
            if args.cek:
                from bench import cek as cek_bench

                log(f"Status check on {d['name']} under gunicorn (target: ≥ "
                    f"{cek_bench.TARGET_SHARE:.0%} of the bare endpoint's throughput, p99 < "
                    f"{cek_bench.TARGET_P99_MS:.0f} ms)")
                warm_caches(d)
                cek[d["name"]] = cek_bench.bench_cek(d, args, log)
            if args.contributions:
                log(f"Contributions on {d['name']} (record via the API: target p95 < "
                    f"{TARGET_RECORD_P95_MS:.0f} ms; due list and count by status: < "
                    f"{TARGET_LIST_MS:.0f} ms)")
                warm_caches(d)
                contributions[d["name"]] = bench_contributions(d, args)
            if not args.skip_search:
                log(f"Member search on {d['name']} (page of 50 + total, in the partner's scope; "
                    f"target p95 < {TARGET_P95_MS:.0f} ms)")
                search[d["name"]] = bench_search(d, args)
            if not args.skip_import:
                if files is None:
                    log(f"Writing the {args.import_rows:,}-row import files …")
                    files = make_import_files(args.import_rows)
                log(f"Import on {d['name']} (target ≥ {TARGET_CSV_ROWS_S:,} rows/s for CSV, "
                    f"peak RSS < {TARGET_RSS_MB} MB)")
                imports[d["name"]] = bench_import(d, args, files)
                if d["name"] == "postgresql" and not args.skip_floor:
                    from bench import floor

                    log("  The server's own work for the import's rows (bench/floor.py: plain "
                        "INSERT … SELECT, rolled back)")
                    floors[d["name"]] = floor.bench_floor(d["url"], args.import_rows, log)
            with d["app"].app_context():
                from bungkesmas.extensions import db
                db.engine.dispose()
    finally:
        if any(d["name"] == "postgresql" for d in dbs) and not args.keep_pg:
            pg_drop(PG_DB)
            PG_META.unlink(missing_ok=True)
            log(f"Dropped the PostgreSQL database {PG_DB}.")
    text_ = report(dbs, search, imports, contributions, args, started, cek, floors)
    (RESULTS / "figures.md").write_text(text_ + "\n")
    (RESULTS / "figures.json").write_text(json.dumps(
        {"search": search, "import": imports, "contributions": contributions, "cek": cek,
         "import_floor": floors,
         "databases": {d["name"]: {k: v for k, v in d["meta"].items() if k != "niks"}
                       for d in dbs}}, indent=1, default=str))
    log("")
    log(text_)
    log(f"(also in {(RESULTS / 'figures.md').relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
