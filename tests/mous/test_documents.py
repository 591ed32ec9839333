"""MOU documents: the type decided by the content, size limits, SHA-256, never
overwritten; files of a rolled-back action are removed."""

from __future__ import annotations

import hashlib
import io

import pytest

from bungkesmas.extensions import db
from bungkesmas.mous import documents
from bungkesmas.mous import services as mous
from bungkesmas.mous.documents import BadUpload

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200


def _active(make):
    partner = make.partner()
    return partner, mous.in_force(partner.id)


def test_an_upload_is_stored_with_its_checksum_and_detected_type(make, storage):
    _partner, mou = _active(make)
    doc = mous.upload_document(make.admin, mou, io.BytesIO(JPEG), "tanda tangan.PDF")
    db.session.commit()
    # The name follows the content, not what the file was called.
    assert (doc.content_type, doc.file_name, doc.size) == ("image/jpeg", "tanda-tangan.jpg",
                                                            len(JPEG))
    assert doc.sha256 == hashlib.sha256(JPEG).hexdigest()
    path = documents.path_of(doc)
    assert path.read_bytes() == JPEG and storage in path.parents
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_renamed_executable_is_refused_and_nothing_is_kept(make, storage):
    _partner, mou = _active(make)
    with pytest.raises(BadUpload) as err:
        mous.upload_document(make.admin, mou, io.BytesIO(EXE), "mou-ditandatangani.pdf")
    assert err.value.field == "file"
    db.session.rollback()
    assert documents.documents_of(mou) == []
    assert not [p for p in storage.rglob("*") if p.is_file()]


def test_an_oversized_upload_is_refused(app, make, storage):
    app.config["MOU_MAX_BYTES"] = 1024
    _partner, mou = _active(make)
    with pytest.raises(BadUpload, match="1|MB"):
        mous.upload_document(make.admin, mou, io.BytesIO(PDF + b"0" * 2048), "besar.pdf")
    db.session.rollback()
    assert documents.documents_of(mou) == []
    assert not [p for p in storage.rglob("*") if p.is_file()]


def test_a_new_upload_is_a_new_version_and_never_replaces_one(make):
    _partner, mou = _active(make)
    first = mous.upload_document(make.admin, mou, io.BytesIO(PDF), "mou.pdf")
    second = mous.upload_document(make.admin, mou, io.BytesIO(PDF + b"% v2\n"), "mou.pdf")
    db.session.commit()
    assert (first.version, second.version) == (1, 2)
    assert documents.path_of(first) != documents.path_of(second)
    assert documents.path_of(first).read_bytes() == PDF


def test_a_file_written_by_an_action_that_is_rolled_back_is_removed(make, storage):
    _partner, mou = _active(make)
    doc = mous.upload_document(make.admin, mou, io.BytesIO(PDF), "mou.pdf")
    path = documents.path_of(doc)
    assert path.exists()
    db.session.rollback()
    assert not path.exists()


def test_the_generated_text_holds_the_partners_details_and_terms(make):
    partner = make.partner(mou=False, name="Yayasan Ujung “Sabbang”")
    from bungkesmas import tenancy

    with tenancy.everything():
        mou = mous.create_draft(make.admin, partner, make.mou_terms(fee_share_bp=1250))
    from flask_babel import force_locale

    with force_locale("id"):
        text = "\n".join(h + "\n" + "\n".join(ps) for h, ps in documents.mou_text(mou))
    assert partner.name in text and partner.contact_name in text
    assert "12.5%" in text and "Kota Parepare" in text.replace("KOTA PAREPARE", "Kota Parepare")
    pdf = documents.render_pdf(mou)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 1000
