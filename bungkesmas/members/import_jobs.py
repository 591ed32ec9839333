"""Background jobs of member imports: checking a large file, and writing its rows.

A file of fewer than `IMPORT_INLINE_ROWS` rows is checked, and once confirmed written,
within the request. A larger one would hold the request for tens of seconds, so the
request only stores the file (or takes the confirmation), makes the import row the job's
record — status, a claim token, who asked, in which language — and commits; after the
commit the job starts: a thread of the same process (`IMPORT_JOBS = "thread"`), or, for
deterministic tests, the same work right away in the committing thread (`"inline"`).
An operator runs a job by hand with `flask imports run <id>` (see `bungkesmas.cli`).

A job
* has no request: it enters the import's partner scope itself (`tenancy.enter_workspace`);
* writes its progress (rows done, the total if known, a heartbeat) on the import row from
  a short transaction of its own, on another pooled connection, at most once a second —
  never inside its big transaction — so that the status page, served by whichever
  process, sees it while the job runs;
* does its work in ONE transaction, as the request did: the confirmation writes all good
  rows or none. A process that dies mid-import leaves nothing half-saved: the database
  rolls its open transaction back;
* finishes only while it still holds its claim (`hold`): a job that was declared stalled
  and run again by someone else gives way, its transaction rolled back.

A job that shows no sign of life for `IMPORT_JOB_STALE_AFTER` seconds (its process died,
e.g. in a restart) is *stalled*: the pages show it as stopped, and the import can be
confirmed — or checked — again, which claims it anew.

On SQLite a writer locks the whole database, so while the confirmation's transaction
writes, nothing can be written aside: there the writing phase shows no count (a progress
bar without a value) and no heartbeat. PostgreSQL shows the count throughout."""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, g, has_request_context, request
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy import event, select, update

from bungkesmas import tenancy
from bungkesmas.errors import DomainError
from bungkesmas.extensions import db
from bungkesmas.members.import_models import ImportStatus, MemberImport
from bungkesmas.timeutil import utcnow

log = logging.getLogger(__name__)

CHECK, IMPORT = "check", "import"
# A job's statuses: queued or running (or stopped: see `stalled`).
JOB_STATUSES = (ImportStatus.UPLOADED, ImportStatus.CHECKING, ImportStatus.IMPORTING)
PROGRESS_EVERY = 1.0  # seconds between two progress writes of a job
_LAUNCH_KEY = "bungkesmas.import_jobs"


class Superseded(Exception):
    """The job lost its claim (it was declared stalled and run again): it gives way."""


@dataclass(frozen=True)
class Job:
    tenant_id: int
    import_id: uuid.UUID
    token: str
    ip: str | None = None  # of the request that asked, for the audit rows


def inline_rows() -> int:
    """Files (and confirmations) with fewer rows than this are done within the request."""
    return int(current_app.config.get("IMPORT_INLINE_ROWS", 2000))


def stale_after() -> timedelta:
    return timedelta(seconds=int(current_app.config.get("IMPORT_JOB_STALE_AFTER", 300)))


def phase(imp: MemberImport) -> str | None:
    """CHECK or IMPORT while a job is queued for or works on `imp`, else None."""
    if imp.status in (ImportStatus.UPLOADED, ImportStatus.CHECKING):
        return CHECK
    if imp.status == ImportStatus.IMPORTING:
        return IMPORT
    return None


def stalled(imp: MemberImport, now: datetime | None = None) -> bool:
    """A job holds `imp` but has shown no sign of life for too long: its process is gone
    (nothing of its transaction was saved) and the import may be run again."""
    if not imp.job_token or imp.status not in JOB_STATUSES:
        return False
    beat = imp.job_heartbeat_at or imp.created_at
    return beat < (now or utcnow()) - stale_after()


def is_running(imp: MemberImport, now: datetime | None = None) -> bool:
    """A job is queued for or works on `imp`, and shows signs of life."""
    return bool(imp.job_token) and imp.status in JOB_STATUSES and not stalled(imp, now)


def claim(imp: MemberImport, status: ImportStatus, actor=None, *,
          total: int | None = None, keep_requester: bool = False) -> Job:
    """Make `imp` the record of a new job — `status` UPLOADED: check the file; IMPORTING:
    write its good rows — under a new claim; any earlier job's claim is void."""
    imp.status = status
    imp.job_token = secrets.token_hex(16)
    if not keep_requester:
        imp.job_actor_id = getattr(actor, "id", None)
        imp.job_locale = str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])
    imp.progress_done, imp.progress_total = 0, total
    imp.job_started_at = imp.job_finished_at = None
    imp.job_heartbeat_at = utcnow()
    imp.failure = ""
    return Job(imp.tenant_id, imp.id, imp.job_token,
               request.remote_addr if has_request_context() else None)


def queue(imp: MemberImport, status: ImportStatus, actor=None, *,
          total: int | None = None) -> Job:
    """`claim`, and start the job once the caller's transaction commits (never before:
    the job reads the import row from another session)."""
    job = claim(imp, status, actor, total=total)
    db.session.info.setdefault(_LAUNCH_KEY, []).append(job)
    return job


@event.listens_for(tenancy.TenantSession, "after_commit")
def _launch_committed(session) -> None:
    jobs = session.info.pop(_LAUNCH_KEY, None)
    if jobs:
        app = current_app._get_current_object()
        for job in jobs:
            launch(app, job)


@event.listens_for(tenancy.TenantSession, "after_rollback")
def _forget_jobs(session) -> None:
    session.info.pop(_LAUNCH_KEY, None)


def launch(app, job: Job) -> None:
    if app.config.get("IMPORT_JOBS", "thread") == "inline":
        run(app, job)
        return
    # Not a daemon: a worker that shuts down gracefully lets a running import finish.
    threading.Thread(target=run, args=(app, job), name=f"import-{job.import_id}",
                     daemon=False).start()


# --- running a job ----------------------------------------------------------------------


def run(app, job: Job) -> str:
    """Do the work `job` claims, in an application context of its own (its own session
    and tenant scope); returns the import's status afterwards (or "superseded")."""
    with app.app_context():
        g.import_job = str(job.import_id)  # Flask-Babel's force_locale needs a non-empty g
        try:
            return _run(job)
        except Exception:  # noqa: BLE001 — a thread has nobody else to tell
            log.exception("member import %s: the job failed unexpectedly", job.import_id)
            return "error"
        finally:
            db.session.remove()


def _run(job: Job) -> str:
    from bungkesmas.auth.models import User
    from bungkesmas.members import imports
    from bungkesmas.partners.models import Partner

    tenancy.enter_workspace(job.tenant_id)
    imp = db.session.get(MemberImport, (job.tenant_id, job.import_id))
    which = phase(imp) if imp is not None else None
    if which is None or imp.job_token != job.token:
        return "superseded"
    progress = Progress(imp, job.token)
    if not progress.start(ImportStatus.CHECKING if which == CHECK else ImportStatus.IMPORTING):
        return "superseded"
    db.session.refresh(imp)
    partner = db.session.get(Partner, job.tenant_id)
    actor = db.session.get(User, imp.job_actor_id) if imp.job_actor_id else None
    with force_locale(imp.job_locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        try:
            if which == CHECK:
                imports.check_job(actor, partner, imp, job.token, progress)
            else:
                imports.import_job(actor, partner, imp, job.token, progress, ip=job.ip)
            db.session.commit()
        except Superseded:
            db.session.rollback()
            log.warning("member import %s: another job took it over", job.import_id)
            return "superseded"
        except Exception as err:
            db.session.rollback()
            if isinstance(err, DomainError):
                message = str(err.message)
            else:
                # The exception itself stays in the log (never personal data: the NIK is
                # only ever written encrypted, digested or masked).
                log.exception("member import %s: the %s job failed", job.import_id, which)
                message = (_("The check stopped because of an error on our side. Check "
                             "the file again; if it happens again, tell the provider.")
                           if which == CHECK else
                           _("The import stopped because of an error on our side; nothing "
                             "was imported. Confirm again; if it happens again, tell the "
                             "provider."))
            progress.fail(ImportStatus.UPLOADED if which == CHECK else ImportStatus.FAILED,
                          message)
            return "error"
    return str(imp.status)


def locked(imp: MemberImport) -> MemberImport:
    """The import row read fresh and locked until the transaction ends (PostgreSQL; on
    SQLite the first write locks the whole database anyway)."""
    return db.session.scalars(
        select(MemberImport).where(MemberImport.tenant_id == imp.tenant_id,
                                   MemberImport.id == imp.id)
        .with_for_update().execution_options(populate_existing=True)).one()


def hold(imp: MemberImport, token: str) -> MemberImport:
    """At the end of a job, in its transaction: lock the import row and make sure the
    job still holds its claim; raise Superseded otherwise. (Locked only at the end: the
    job's progress is written on the same row from another connection meanwhile.)"""
    fresh = locked(imp)
    if fresh.job_token != token:
        raise Superseded(imp.id)
    return fresh


def finish(imp: MemberImport, done: int | None = None) -> None:
    """The job is over (in its transaction, after `hold`)."""
    imp.job_token = ""
    imp.job_finished_at = utcnow()
    if done is not None:
        imp.progress_done = done
        if imp.progress_total is None or imp.progress_total < done:
            imp.progress_total = done


class Progress:
    """A job's progress, written on its import row from a short transaction of its own
    (another pooled connection) at most once every PROGRESS_EVERY seconds, only while the
    job still holds its claim. Called with the rows done so far."""

    def __init__(self, imp: MemberImport, token: str):
        self.tenant_id, self.import_id, self.token = imp.tenant_id, imp.id, token
        self.total = imp.progress_total
        self.done = 0
        # False while the job's own transaction holds SQLite's database-wide write lock.
        self.aside = True
        self._last = time.monotonic()

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self.aside and now - self._last >= PROGRESS_EVERY:
            self._last = now
            self.write()

    def start(self, status: ImportStatus) -> bool:
        """Mark the job as running; False if it lost its claim."""
        return self.write(status=status, job_started_at=utcnow(), failure="")

    def fail(self, status: ImportStatus, message: str) -> None:
        """Record why the job stopped (its transaction was rolled back) and release it."""
        self.write(status=status, failure=message, job_finished_at=utcnow(), job_token="")

    def write(self, **values) -> bool:
        total = self.total if self.total is None or self.total >= self.done else None
        table = MemberImport.__table__
        with db.engine.connect() as connection:
            tenancy.scope_connection(connection, tenancy.Scope.tenants(self.tenant_id))
            result = connection.execute(
                update(table).where(table.c.tenant_id == self.tenant_id,
                                    table.c.id == self.import_id,
                                    table.c.job_token == self.token)
                .values(progress_done=self.done, progress_total=total,
                        job_heartbeat_at=utcnow(), **values))
            connection.commit()
        return result.rowcount == 1


def no_progress(done: int, total: int | None = None) -> None:
    """The progress of work done within a request: nobody is waiting on a status page."""
