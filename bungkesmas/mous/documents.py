"""MOU documents: the generated MOU text (PDF) and uploaded scans, stored outside the
web root and never overwritten.

Files live under MOU_STORAGE_DIR (default: instance/uploads/mous), one folder per partner
and MOU, named by the document's id: a new upload is a new file and a new version. The
type of an upload is decided by its first bytes (PDF, JPEG or PNG), never by its name or
the content type the browser claims, so a renamed executable is refused. A file written
in a transaction that is rolled back is deleted again."""

from __future__ import annotations

import hashlib
import os
import re
from contextlib import suppress
from datetime import date
from pathlib import Path

from flask import current_app
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from sqlalchemy import event, func, select
from text_unidecode import unidecode

from bungkesmas import tenancy
from bungkesmas.errors import DomainError
from bungkesmas.extensions import db
from bungkesmas.mous.models import DocumentKind, Mou, MouDocument
from bungkesmas.regions import region_name

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
CHUNK = 1024 * 1024

# First bytes -> (content type, file extension).
SIGNATURES = (
    (b"%PDF-", ("application/pdf", "pdf")),
    (b"\x89PNG\r\n\x1a\n", ("image/png", "png")),
    (b"\xff\xd8\xff", ("image/jpeg", "jpg")),
)


class BadUpload(DomainError):
    def __init__(self, message):
        super().__init__(message, "file")


def max_bytes() -> int:
    return int(current_app.config.get("MOU_MAX_BYTES") or DEFAULT_MAX_BYTES)


def storage_dir() -> Path:
    configured = current_app.config.get("MOU_STORAGE_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "uploads" / "mous"


def allow_large_upload() -> None:
    """Called before a request to an upload route: a multipart body may be as large as
    an MOU scan (plus the form's overhead); everything else keeps the app's limit."""
    from flask import request

    if request.mimetype == "multipart/form-data":
        request.max_content_length = max_bytes() + 256 * 1024


def path_of(doc: MouDocument) -> Path:
    return storage_dir() / doc.storage_path


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) of a PDF, PNG or JPEG by its first bytes, else None."""
    for magic, kind in SIGNATURES:
        if head.startswith(magic):
            return kind
    return None


def clean_file_name(name: str | None, extension: str) -> str:
    """A safe display name ending in the extension of the detected type."""
    stem = Path(unidecode(name or "")).stem
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:100] or "dokumen"
    return f"{stem}.{extension}"


# --- files written in a transaction that is rolled back are removed -----------------------

_WRITTEN_KEY = "bungkesmas.mou_files_written"


def _written_in_transaction(path: Path) -> None:
    db.session.info.setdefault(_WRITTEN_KEY, []).append(path)


@event.listens_for(tenancy.TenantSession, "after_commit")
def _keep(session) -> None:
    session.info.pop(_WRITTEN_KEY, None)


@event.listens_for(tenancy.TenantSession, "after_rollback")
def _remove(session) -> None:
    for path in session.info.pop(_WRITTEN_KEY, []):
        with suppress(OSError):
            path.unlink(missing_ok=True)


# --- storing ------------------------------------------------------------------------------


def _next_version(mou: Mou) -> int:
    with tenancy.everything():
        last = db.session.scalar(select(func.max(MouDocument.version)).where(
            MouDocument.tenant_id == mou.tenant_id, MouDocument.mou_id == mou.id))
    return (last or 0) + 1


def store(actor, mou: Mou, kind: DocumentKind, stream, file_name: str | None) -> MouDocument:
    """Store an uploaded PDF/JPEG/PNG as the MOU's next document version."""
    head = stream.read(16)
    if not head:
        raise BadUpload(_("Choose a file to upload."))
    detected = sniff(head)
    if detected is None:
        raise BadUpload(_("Upload a PDF, JPEG or PNG file. This file is none of them."))
    content_type, extension = detected

    def chunks():
        yield head
        while chunk := stream.read(CHUNK):
            yield chunk

    return _write(actor, mou, kind, chunks(), clean_file_name(file_name, extension),
                  content_type, extension)


def _write(actor, mou: Mou, kind: DocumentKind, chunks, file_name: str, content_type: str,
           extension: str) -> MouDocument:
    doc = MouDocument(id=tenancy.new_id(), tenant_id=mou.tenant_id, mou_id=mou.id, kind=kind,
                      version=_next_version(mou), file_name=file_name,
                      content_type=content_type, uploaded_by_id=getattr(actor, "id", None))
    relative = Path(str(mou.tenant_id)) / str(mou.id) / f"{doc.id}.{extension}"
    path = storage_dir() / relative
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest, size, limit = hashlib.sha256(), 0, max_bytes()
    # O_EXCL: an existing file is never overwritten (the name is a fresh id anyway).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise BadUpload(_("The file is larger than %(size)d MB.",
                                      size=limit // (1024 * 1024)))
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    _written_in_transaction(path)
    doc.size, doc.sha256, doc.storage_path = size, digest.hexdigest(), relative.as_posix()
    with tenancy.everything():
        db.session.add(doc)
        db.session.flush()
    return doc


def documents_of(mou: Mou) -> list[MouDocument]:
    with tenancy.everything():
        return list(db.session.scalars(select(MouDocument).where(
            MouDocument.tenant_id == mou.tenant_id, MouDocument.mou_id == mou.id)
            .order_by(MouDocument.version)))


# --- the generated MOU text ------------------------------------------------------------------


def generate(actor, mou: Mou) -> MouDocument:
    """Write the MOU text with the partner's details as a PDF: the next document version."""
    pdf = render_pdf(mou)
    name = f"{mou.number.replace('/', '-')}-v{mou.version}.pdf"
    return _write(actor, mou, DocumentKind.GENERATED, iter([pdf]), name, "application/pdf", "pdf")


def _latin1(text: str) -> str:
    """The PDF's core fonts cover Latin-1: transliterate anything else (e.g. curly
    quotes or accented names typed on a phone)."""
    return "".join(ch if ord(ch) < 256 else unidecode(ch) for ch in text)


def mou_text(mou: Mou) -> list[tuple[str, list[str]]]:
    """The MOU as (heading, paragraphs) in the current language."""
    from bungkesmas.partners.models import Partner
    from bungkesmas.partners.services import type_label
    from bungkesmas.products.services import products_named

    with tenancy.everything():
        partner = db.session.get(Partner, mou.tenant_id)
        products = products_named(mou.product_ids)

    def day(d: date | None) -> str:
        return format_date(d, "d MMMM yyyy") if d else "—"

    provider = current_app.config.get("PROVIDER_NAME", "Bungkesmas")
    region = ", ".join(x for x in (region_name(partner.regency_code),
                                   region_name(partner.province_code)) if x)
    frequency = (_("every month") if mou.remittance_frequency == "monthly"
                 else _("every three months"))
    territory = ", ".join(region_name(code) or code for code in mou.territory or []) or \
        _("the working area of the partner")
    covered = ", ".join(f"{p.name} ({p.code})" for p in products) or \
        _("every Bungkesmas product the provider offers to the partner")
    sections = [
        (_("The parties"), [
            _("1. %(provider)s, the Bungkesmas programme office, represented by %(name)s, "
              "%(title)s (the provider).", provider=provider,
              name=mou.provider_signatory_name, title=mou.provider_signatory_title),
            _("2. %(partner)s, %(type)s, %(address)s %(region)s, contact person %(contact)s "
              "(%(phone)s, %(email)s) (the partner).", partner=partner.name,
              type=type_label(partner.org_type), address=partner.address or "",
              region=region, contact=partner.contact_name, phone=partner.contact_phone,
              email=partner.contact_email),
        ]),
        (_("Article 1. Purpose"), [
            _("The partner registers members of the Bungkesmas community health savings "
              "programme, collects their contributions, and helps them file claims, on the "
              "terms of this memorandum."),
        ]),
        (_("Article 2. Term"), [
            _("This memorandum is in force from %(start)s to %(end)s, once signed by both "
              "parties.", start=day(mou.start_date), end=day(mou.end_date)),
        ]),
        (_("Article 3. Fee share and remittance"), [
            _("The partner keeps %(share)s%% of the contributions it collects as its fee.",
              share=mou.fee_share_percent),
            _("The partner remits the other contributions it collected %(frequency)s, by "
              "day %(day)d of the following month.", frequency=frequency,
              day=mou.remittance_due_day),
        ]),
        (_("Article 4. Territory and products"), [
            _("Territory: %(territory)s.", territory=territory),
            _("Products: %(products)s.", products=covered),
            _("Member quota: %(quota)s.", quota=str(mou.member_quota) if mou.member_quota
              else _("none")),
        ]),
    ]
    if (mou.clauses or "").strip():
        sections.append((_("Article 5. Further clauses"),
                         [p.strip() for p in mou.clauses.split("\n\n") if p.strip()]))
    sections.append((_("Signatures"), [
        _("For the provider: %(name)s, %(title)s, date: %(date)s",
          name=mou.provider_signatory_name, title=mou.provider_signatory_title,
          date=day(mou.provider_signed_on)),
        _("For the partner: %(name)s, %(title)s, date: %(date)s",
          name=mou.partner_signatory_name or "______________________",
          title=mou.partner_signatory_title or "______________", date=day(mou.partner_signed_on)),
    ]))
    return sections


def render_pdf(mou: Mou) -> bytes:
    """The MOU text as a PDF, in Indonesian (the language of the agreement)."""
    from fpdf import FPDF

    with force_locale("id"):
        title = _("Memorandum of understanding")
        subtitle = _("Number %(number)s, version %(version)d",
                     number=mou.number, version=mou.version)
        sections = mou_text(mou)
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"{title} {mou.number} v{mou.version}"))
    pdf.set_creator("Bungkesmas")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.multi_cell(0, 8, _latin1(title.upper()), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, _latin1(subtitle), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for heading, paragraphs in sections:
        pdf.set_font("Helvetica", "B", 11)
        pdf.multi_cell(0, 6, _latin1(heading), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 5, _latin1(paragraph), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        pdf.ln(2)
    return bytes(pdf.output())
