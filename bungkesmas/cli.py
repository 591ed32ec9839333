"""Operator commands: `flask demo …`, `flask tokens create`, `flask users create-admin`,
`flask reminders send`, `flask mous expire`, `flask imports list|run`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from bungkesmas import tenancy
from bungkesmas.extensions import db

demo_cli = AppGroup("demo", help="Demo data.")
tokens_cli = AppGroup("tokens", help="API tokens.")
users_cli = AppGroup("users", help="Provider accounts.")
reminders_cli = AppGroup("reminders", help="Reminders to members who are due or overdue.")
imports_cli = AppGroup("imports", help="Background jobs of member imports.")


@demo_cli.command("load")
def demo_load():
    """Load demo data if the database is empty (never duplicates)."""
    from bungkesmas import demo

    if demo.load():
        click.echo("Demo data loaded.")
    else:
        click.echo("The database already has data; demo data not loaded again.")


@demo_cli.command("logins")
def demo_logins():
    """Print the demo logins."""
    from bungkesmas import demo

    demo.print_logins(click.echo)


@tokens_cli.command("create")
@click.argument("email")
@click.option("--partner", "slug", help="Partner slug (default: the user's partner).")
@click.option("--name", default="cli", show_default=True, help="A label for the token.")
def tokens_create(email: str, slug: str | None, name: str):
    """Print a new API token for the user with EMAIL."""
    from bungkesmas.auth import services as auth
    from bungkesmas.errors import DomainError
    from bungkesmas.partners.services import by_slug

    with tenancy.everything():
        user = auth.user_by_email(email)
        if user is None:
            raise click.ClickException(f"No user with e-mail {email}.")
        partner = None
        if not user.is_provider:
            partner = by_slug(slug) if slug else auth.home_partner(user)
            if partner is None:
                raise click.ClickException("No active partner for this user; use --partner.")
        try:
            _token, secret = auth.create_token(user, partner, name)
        except DomainError as err:
            raise click.ClickException(str(err.message)) from err
        db.session.commit()
    click.echo(secret)


@users_cli.command("create-admin")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--staff", is_flag=True, help="Provider staff instead of provider admin.")
@click.password_option()
def create_admin(email: str, name: str, staff: bool, password: str):
    """Create a provider admin (or staff) account."""
    from bungkesmas.auth import services as auth
    from bungkesmas.auth.permissions import Role
    from bungkesmas.errors import DomainError

    role = Role.PROVIDER_STAFF if staff else Role.PROVIDER_ADMIN
    try:
        auth.create_provider_user(email, name, password, role)
    except DomainError as err:
        raise click.ClickException(str(err.message)) from err
    db.session.commit()
    click.echo(f"Created {role} {email}.")


@reminders_cli.command("send")
@click.option("--partner", "slug", help="Only this partner (slug); default: every active one.")
def reminders_send(slug: str | None):
    """Produce the reminders due today (each partner's local date) and send the unsent ones.

    Safe to run again, and at the same time: a reminder is produced once per enrollment,
    reason and due date, and sent at most once."""
    from bungkesmas.reminders import senders, services

    if slug is not None and not services.sending_partners(slug):
        raise click.ClickException(f"No active partner with slug {slug!r}.")
    counts = services.run(senders.sender(), slug)
    click.echo(f"Reminders: {counts.produced} new, {counts.sent} sent, {counts.failed} failed, "
               f"{counts.obsolete} no longer due, {counts.skipped_no_phone} members skipped "
               f"(no phone number).")


mous_cli = AppGroup("mous", help="MOUs.")


@mous_cli.command("expire")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Act as if today were this date (YYYY-MM-DD).")
def mous_expire(on):
    """Daily: mark MOUs superseded or expired, send the 90/60/30-day reminders (idempotent)."""
    from bungkesmas.mous import services as mous

    counts = mous.run_daily(on.date() if on else None)
    db.session.commit()
    click.echo(f"MOUs superseded: {counts['superseded']}, expired: {counts['expired']}, "
               f"reminders sent: {counts['reminded']}.")


def init_app(app: Flask) -> None:
    for group in (demo_cli, tokens_cli, users_cli, reminders_cli, database_cli, mous_cli,
                  imports_cli):
        app.cli.add_command(group)


database_cli = AppGroup("database", help="Database housekeeping.")


@database_cli.command("ensure")
def database_ensure():
    """Create the configured database if it does not exist yet (SQLite file or PostgreSQL)."""
    from flask import current_app
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(current_app.config["MIGRATION_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        if url.database:
            from pathlib import Path

            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    if url.get_backend_name() != "postgresql":
        return
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                             {"n": url.database})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
            click.echo(f"Created database {url.database}.")
    admin.dispose()


@imports_cli.command("list")
def imports_list():
    """List the member imports that have a background job: queued, running or stalled."""
    from sqlalchemy import select

    from bungkesmas.members import import_jobs
    from bungkesmas.members.import_models import MemberImport

    with tenancy.everything():
        found = db.session.scalars(
            select(MemberImport).where(MemberImport.status.in_(import_jobs.JOB_STATUSES))
            .order_by(MemberImport.created_at)).all()
        for imp in found:
            state = ("running" if import_jobs.is_running(imp) else
                     "stalled" if import_jobs.stalled(imp) else "stopped")
            total = imp.progress_total if imp.progress_total is not None else "?"
            beat = f"{imp.job_heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if imp.job_heartbeat_at else "-"
            click.echo(f"{imp.id}  partner {imp.tenant_id}  {imp.status}  {state}  "
                       f"{imp.progress_done}/{total}  last progress {beat}")
        if not found:
            click.echo("No import has a background job.")


@imports_cli.command("purge")
@click.option("--days", type=click.IntRange(min=1), default=7, show_default=True,
              help="Keep the files of imports younger than this many days.")
def imports_purge(days: int):
    """Delete the uploaded files of member imports never confirmed and older than DAYS
    (they hold NIKs). Each upload tidies up its own partner's; run this daily (cron) for
    the partners that upload nothing more."""
    from datetime import timedelta

    from bungkesmas.members import imports

    with tenancy.everything():
        deleted = imports.discard_stale_files(None, timedelta(days=days))
    click.echo(f"{deleted} file(s) of stale member imports deleted.")


@imports_cli.command("run")
@click.argument("import_id", type=click.UUID)
@click.option("--force", is_flag=True,
              help="Take the job over even though it still shows signs of life (only when "
                   "you know that its process is gone).")
def imports_run(import_id, force: bool):
    """Run the background job of member import IMPORT_ID here and now: its check, or the
    writing of its confirmed rows — e.g. after its process died. The job keeps the
    partner user who asked for it as the actor of its audit rows."""
    from flask import current_app
    from sqlalchemy import select

    from bungkesmas.members import import_jobs
    from bungkesmas.members.import_models import ImportStatus, MemberImport

    with tenancy.everything():
        imp = db.session.scalar(select(MemberImport).where(MemberImport.id == import_id))
        if imp is None:
            raise click.ClickException(f"No member import {import_id}.")
        which = import_jobs.phase(imp)
        if which is None:
            raise click.ClickException(f"Nothing to run: the import is {imp.status}.")
        if import_jobs.is_running(imp) and not force:
            raise click.ClickException(
                "A job is working on it (last progress at "
                f"{imp.job_heartbeat_at:%H:%M:%S} UTC). Use --force only if its process "
                "is gone.")
        status = ImportStatus.UPLOADED if which == import_jobs.CHECK else ImportStatus.IMPORTING
        job = import_jobs.claim(imp, status, total=imp.progress_total, keep_requester=True)
        db.session.commit()
    click.echo(f"Running the {which} of import {import_id} …")
    outcome = import_jobs.run(current_app._get_current_object(), job)
    with tenancy.everything():
        imp = db.session.scalar(select(MemberImport).where(MemberImport.id == import_id)
                                .execution_options(populate_existing=True))
        click.echo(f"Import {import_id}: {outcome}; {imp.progress_done} rows"
                   + (f"; {imp.failure}" if imp.failure else "") + ".")
        db.session.rollback()
    if outcome in ("error", "superseded"):
        raise SystemExit(1)
