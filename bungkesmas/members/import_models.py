"""Spreadsheet imports of members (partner-owned): one row per uploaded file."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bungkesmas.extensions import db
from bungkesmas.partners.models import _enum
from bungkesmas.tenancy import TenantOwned
from bungkesmas.timeutil import utcnow


class ImportStatus(enum.StrEnum):
    UPLOADED = "uploaded"     # stored, its check queued (or stopped before the end: `failure`)
    CHECKING = "checking"     # a background job checks the rows
    PREVIEWED = "previewed"   # checked: counts and row errors known, nothing written
    IMPORTING = "importing"   # confirmed: a background job writes the good rows
    COMMITTED = "committed"   # the good rows were written, in one transaction
    FAILED = "failed"         # a confirmation failed and was rolled back (nothing written)
    REJECTED = "rejected"     # the file turned out unusable while checked in the background


class MemberImport(TenantOwned, db.Model):
    """An uploaded member spreadsheet. The file itself is kept outside the web root
    (see `bungkesmas.members.imports.stored_path`) until it is imported, with its checked
    rows staged next to it (`staged_path`); this row holds
    what the preview found. `errors` is {"messages": [text, …], "rows": [[row, column,
    message index], …]}: every problem of every bad row, messages stored once.

    A large file is checked, and once confirmed written, by a background job
    (`bungkesmas.members.import_jobs`); this row is its job record. `job_token` is the
    claim of the job that may work on it now (empty when none), and the `progress_*` and
    `job_*_at` columns are written by that job from short transactions of their own, so
    that other requests see them while the job's big transaction is still open."""

    __tablename__ = "member_imports"
    __table_args__ = (Index("ix_member_imports_tenant_created", "tenant_id", "created_at"),)

    status: Mapped[ImportStatus] = mapped_column(
        _enum(ImportStatus, "import_status"), default=ImportStatus.UPLOADED)
    file_name: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    file_size: Mapped[int] = mapped_column(default=0)
    file_sha256: Mapped[str] = mapped_column(String(64))
    # The checked rows without errors, staged next to the file for the confirmation.
    staged_sha256: Mapped[str] = mapped_column(String(64), default="")
    total_rows: Mapped[int] = mapped_column(default=0)
    good_rows: Mapped[int] = mapped_column(default=0)
    error_rows: Mapped[int] = mapped_column(default=0)
    imported_rows: Mapped[int] = mapped_column(default=0)
    errors: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Why the last confirmation failed (already translated), if it did.
    failure: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    previewed_at: Mapped[datetime | None]
    committed_at: Mapped[datetime | None]
    committed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    # --- the background job -------------------------------------------------------------
    job_token: Mapped[str] = mapped_column(String(32), default="")
    # Who asked for the job, and the language its messages are written in.
    job_actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    job_locale: Mapped[str] = mapped_column(String(8), default="")
    # API `confirm=true` on a file checked in the background: import it if it is clean.
    confirm_when_clean: Mapped[bool] = mapped_column(default=False)
    # Rows checked (while checking) or written (while importing); the total if known.
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int | None]
    job_started_at: Mapped[datetime | None]
    # Last sign of life of the job (also set when it is queued): see `import_jobs.stalled`.
    job_heartbeat_at: Mapped[datetime | None]
    job_finished_at: Mapped[datetime | None]
