"""Sending reminder messages through a pluggable sender chosen by configuration.

BUNGKESMAS_REMINDER_SENDER names the sender: a short name registered in `SENDERS`
("log", the default) or the import path of a class ("package.module:Class" or
"package.module.Class"). A sender is built once per run with the app's config and has
one method, `send(to, body, *, reference)`: it returns when the gateway accepted the
message and raises `SendFailed` (with a short reason, no personal data) when it did not.

The default `LogSender` only writes the message to the log: the text itself (what the
member will read) and the phone number masked — nothing else about the member."""

from __future__ import annotations

import logging
from typing import Protocol

from flask import current_app
from werkzeug.utils import import_string

log = logging.getLogger(__name__)


class SendFailed(Exception):
    """The gateway did not take the message. `str(err)` is stored with the reminder: keep
    it short and free of personal data."""


class Sender(Protocol):
    def send(self, to: str, body: str, *, reference: str) -> None: ...


def mask_phone(phone: str | None) -> str:
    """+6281234567890 -> +62812*****890: enough to tell numbers apart in a log."""
    if not phone:
        return ""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:6] + "*" * (len(phone) - 9) + phone[-3:]


class LogSender:
    """Writes each message to the log instead of sending it (the default)."""

    def __init__(self, config=None):
        self.config = config or {}

    def send(self, to: str, body: str, *, reference: str) -> None:
        log.info("reminder %s to %s: %s", reference, mask_phone(to), body)


SENDERS: dict[str, type] = {"log": LogSender}


def sender_class(name: str) -> type:
    """The sender class a setting names (a registered name or an import path)."""
    if name in SENDERS:
        return SENDERS[name]
    try:
        return import_string(name.replace(":", "."))
    except (ImportError, ValueError) as err:
        raise RuntimeError(f"Unknown reminder sender {name!r} (BUNGKESMAS_REMINDER_SENDER): "
                           f"use one of {sorted(SENDERS)} or an import path") from err


def sender() -> Sender:
    """The configured sender."""
    config = current_app.config
    return sender_class(config["REMINDER_SENDER"])(config)
