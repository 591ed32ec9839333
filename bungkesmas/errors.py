"""Domain errors: raised by domain functions, turned into messages by views and the API."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refused the request. `message` is already translated
    (or a lazy string); `field` names the input it is about, if any."""

    status_code = 422

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field

    def as_errors(self) -> dict[str, list[str]]:
        return {self.field or "_schema": [str(self.message)]}


class NotAllowed(DomainError):
    status_code = 403


class Conflict(DomainError):
    status_code = 409
