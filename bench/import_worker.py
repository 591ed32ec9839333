"""The import benchmark's files and its child process.

    python -m bench.import_worker DATABASE_URL FILE csv|xlsx

The child creates a new approved partner in the database (with the groups the file
names, the BKM product enabled and an officer), then imports FILE as that officer:
`members.imports.upload` (store) and commit, then `members.imports.confirm` and commit —
all inside the partner's tenancy scope on a production-configured app. A file this large
is checked (read and check every row, duplicates, NIKs already registered) and written
(check again what may have changed, write members, registry, enrollments and audit rows)
by the background jobs of `members.import_jobs`, with their progress reports; here they
run in this process right after each commit (IMPORT_JOBS="inline"), so the time measured
is the jobs' whole work. It prints one JSON line: rows,
seconds per phase, rows per second over the whole import (wall clock), the CPU seconds
the process used, in all and per phase (the database server's are not included), and its
own peak RSS
(measured after setting up, and at the end: the child does nothing else, so that is the
import's peak).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date, timedelta
from pathlib import Path

FILES_VERSION = 2
# The .xlsx as Excel saves it (text in the shared strings table), beside openpyxl's.
EXCEL = "xlsx_excel"


def groups_file(path: Path) -> Path:
    return path.with_name(path.name.split(".")[0] + ".groups.json")


def make_files(rows: int, directory: Path) -> dict[str, Path]:
    """The CSV file, the XLSX as openpyxl writes it (text in each cell) and the XLSX as
    Excel saves it (text in the shared strings table) of `rows` valid rows, kept and
    reused when they exist."""
    from bench import generate
    from bungkesmas.members.imports import COLUMNS, DATA_SHEET

    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    # Each file its own people (they are imported into the same database): seed and NIK
    # serials apart.
    kinds = {"csv": ("csv", 7, 5000, generate.write_csv),
             "xlsx": ("xlsx", 8, 7000, generate.write_xlsx),
             EXCEL: ("excel.xlsx", 9, 8000, generate.write_xlsx_as_excel)}
    for fmt, (suffix, seed, serial_base, write) in kinds.items():
        path = directory / f"import-{rows}-v{FILES_VERSION}.{suffix}"
        if not path.exists():
            partial = path.with_name(f"{path.stem}.part{path.suffix}")
            started = time.perf_counter()
            people = generate.import_rows(rows, seed=generate.SEED + seed,
                                          serial_base=serial_base)
            if fmt == "csv":
                write(partial, COLUMNS, people)
            else:
                write(partial, COLUMNS, people, DATA_SHEET)
            partial.rename(path)
            print(f"  wrote {path.name} ({path.stat().st_size / 2**20:.1f} MB) in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
        out[fmt] = path
        groups_file(path).write_text(json.dumps(generate.import_group_names()))
    return out


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> int:
    """This process's peak RSS in MB: VmHWM, the high-water mark of its own address space.
    Not getrusage's ru_maxrss (nor RUSAGE_CHILDREN in the parent): Linux carries
    ru_maxrss over fork and exec, so a child of the big benchmark process would report
    the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # KiB on Linux


def _setup_partner(db, group_names: list[str]) -> tuple[int, int]:
    """A new approved partner with the file's groups and the BKM product enabled, and
    an officer of it who does the import: (partner id, user id)."""
    from sqlalchemy import func, select

    from bungkesmas import tenancy
    from bungkesmas.auth.models import PartnerStaff, User
    from bungkesmas.auth.permissions import Role
    from bungkesmas.members.models import Group
    from bungkesmas.mous import services as mous
    from bungkesmas.mous.models import Mou, MouStatus, SignMethod
    from bungkesmas.partners.models import Partner, PartnerStatus, PartnerType
    from bungkesmas.products.models import PartnerProduct, Product, ProductVersion
    from bungkesmas.products.services import BUNGKESMAS_DEFAULTS
    from bungkesmas.timeutil import utcnow

    with tenancy.everything():
        n = db.session.scalar(select(func.count(Partner.id))) + 1
        partner = Partner(slug=f"impor-{n}-{int(time.time())}", name=f"Mitra Impor {n}",
                          org_type=PartnerType.NGO, status=PartnerStatus.APPROVED,
                          province_code="73", regency_code="7372", address="Jl. Bau Massepe",
                          contact_name="Bench", contact_phone="+6281100000000",
                          contact_email=f"impor{n}@bench.example", expected_members=100_000,
                          expected_groups=100)
        db.session.add(partner)
        product = db.session.scalar(select(Product).where(Product.code == "BKM"))
        if product is None:
            product = Product(code="BKM", name="Bungkesmas")
            db.session.add(product)
            db.session.flush()
            db.session.add(ProductVersion(product_id=product.id, version=1,
                                          **BUNGKESMAS_DEFAULTS))
        db.session.flush()
        db.session.add(PartnerProduct(partner_id=partner.id, product_id=product.id))
        # Enrolling needs an MOU in force (issue 6): one signed on paper, recorded as is.
        start = date.today() - timedelta(days=30)
        db.session.add(Mou(
            tenant_id=partner.id, number=mous.next_number(start.year), version=1,
            status=MouStatus.ACTIVE, start_date=start, end_date=start + timedelta(days=730),
            fee_share_bp=1000, remittance_frequency="monthly", remittance_due_day=10,
            territory=["7372"], product_ids=[], member_quota=None,
            provider_signatory_name="Bench", provider_signatory_title="Direktur",
            provider_signed_on=start, partner_signatory_name="Bench",
            partner_signatory_title="Ketua", partner_signed_on=start,
            partner_signed_at=utcnow(), partner_sign_method=SignMethod.ACCEPT,
            sent_at=utcnow(), countersigned_at=utcnow()))
        for name in group_names:
            db.session.add(Group(tenant_id=partner.id, name=name))
        # The officer who imports: the actor of the members' consent, creation,
        # enrollment and audit rows (each a foreign key checked per row), as in real use.
        user = User(email=f"petugas-impor-{partner.slug}@contoh.id", name="Petugas Impor")
        db.session.add(user)
        db.session.flush()
        db.session.add(PartnerStaff(tenant_id=partner.id, id=tenancy.new_id(), user_id=user.id,
                                    role=Role.PARTNER_OFFICER))
        db.session.flush()
        partner_id, user_id = partner.id, user.id
    db.session.commit()
    return partner_id, user_id


def main(url: str, file: str, fmt: str) -> dict:
    from sqlalchemy import func, select

    from bench.app import make_app
    from bungkesmas import tenancy
    from bungkesmas.auth.models import User
    from bungkesmas.extensions import db
    from bungkesmas.members import imports
    from bungkesmas.members.models import Enrollment, Member
    from bungkesmas.partners.models import Partner

    path = Path(file)
    app = make_app(url, IMPORT_UPLOAD_DIR=str(path.parent / "uploads"), IMPORT_JOBS="inline")
    with app.app_context():
        partner_id, user_id = _setup_partner(db, json.loads(groups_file(path).read_text()))
        db.session.remove()
    baseline = _rss_mb()
    with app.app_context():
        cpu = _cpu_s()
        started = time.perf_counter()
        tenancy.enter_workspace(partner_id)
        partner = db.session.get(Partner, partner_id)
        officer = db.session.get(User, user_id)
        with path.open("rb") as stream:
            imp = imports.upload(officer, partner, stream, path.name)
        db.session.commit()  # the check job runs now
        good, bad, total = imp.good_rows, imp.error_rows, imp.total_rows
        errors = list(imports.row_errors(imp))[:5] or imp.failure
        previewed, preview_cpu = time.perf_counter(), _cpu_s() - cpu
        if bad:
            raise SystemExit(f"the file is not all valid: {bad} bad rows of {total}, "
                             f"e.g. {errors}")
        tenancy.enter_workspace(partner_id)
        partner = db.session.get(Partner, partner_id)
        officer = db.session.get(User, user_id)
        imp = imports.get(partner, imp.id)
        result = imports.confirm(officer, partner, imp)
        db.session.commit()  # the import job runs now (unless the file was small)
        done = time.perf_counter()
        imported = imp.imported_rows if result.queued else result.imported
        changed = result.changed or imp.status != "committed"
        cpu = _cpu_s() - cpu
        if changed or imported != good:
            raise SystemExit(f"confirm imported {imported} of {good} (changed={changed})")
        tenancy.enter_workspace(partner_id)
        stored = db.session.scalar(select(func.count()).select_from(Member)
                                   .where(Member.tenant_id == partner_id))
        enrolled = db.session.scalar(select(func.count()).select_from(Enrollment)
                                     .where(Enrollment.tenant_id == partner_id))
        db.session.remove()
    if stored != imported or enrolled != imported:
        raise SystemExit(f"{imported} imported but {stored} members, {enrolled} enrollments")
    seconds = done - started
    return {"format": fmt, "rows": imported, "file_mb": round(path.stat().st_size / 2**20, 1),
            "preview_s": round(previewed - started, 1), "confirm_s": round(done - previewed, 1),
            "seconds": round(seconds, 1), "rows_per_s": round(imported / seconds),
            "cpu_s": round(cpu, 1), "preview_cpu_s": round(preview_cpu, 1),
            "confirm_cpu_s": round(cpu - preview_cpu, 1),
            "baseline_rss_mb": baseline, "peak_rss_mb": _rss_mb(),
            "partner_id": partner_id, "user_id": user_id}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])), flush=True)
