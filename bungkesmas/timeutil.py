"""Time: stored in UTC (naive columns hold UTC), shown in the partner's local time."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current UTC time as a naive datetime, the storage convention."""
    return datetime.now(UTC).replace(tzinfo=None)
