"""Sending messages through a pluggable mailer chosen by configuration.

The default `OutboxMailer` writes every message to the outbox table (in the caller's
transaction, so a rolled-back action sends nothing) and to the log. A real SMTP or API
mailer implements the same `send` and is selected with BUNGKESMAS_MAILER.
"""

from __future__ import annotations

import logging
from typing import Protocol

from flask import current_app

from bungkesmas.extensions import db
from bungkesmas.mail.models import OutboxMessage

log = logging.getLogger(__name__)


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str, *, partner_id: int | None = None) -> None: ...


class OutboxMailer:
    def send(self, to: str, subject: str, body: str, *, partner_id: int | None = None) -> None:
        db.session.add(OutboxMessage(recipient=to, subject=subject, body=body, partner_id=partner_id))
        log.info("outbox: message %r queued for partner %s\n%s", subject, partner_id, body)


MAILERS: dict[str, type] = {"outbox": OutboxMailer}


def mailer() -> Mailer:
    """Return the configured mailer."""
    return MAILERS[current_app.config["MAILER"]]()
