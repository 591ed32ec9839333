"""Time: stored in UTC (naive columns hold UTC), shown in the partner's local time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Return the current UTC time as a naive datetime, the storage convention."""
    return datetime.now(UTC).replace(tzinfo=None)


def partner_timezone(partner=None) -> str:
    """The time zone a partner works in. One setting for now (all partners are in South
    Sulawesi, WITA); a per-partner column can answer here later."""
    from flask import current_app

    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def local_date(moment: datetime, partner=None) -> date:
    """The partner's calendar date of a stored (naive UTC) time."""
    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(partner_timezone(partner))).date()


def local_today(partner=None) -> date:
    """Today in the partner's time zone (money is received on local dates)."""
    return local_date(utcnow(), partner)
