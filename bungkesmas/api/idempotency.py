"""`Idempotency-Key` for API requests that create money records, in one place.

A request with the header is answered once: the response (status and body) is stored
with the key in the same transaction as the records it created. The same key with the
same request (method, path and JSON body) gets the stored response again and records
nothing; the same key with a different request is refused with 422, naming the header.
Of two identical requests sent at once, one records and the other waits for it (the key
is also unique on the ledger row) and then gets its stored response.

Views decorated with `idempotent` flush and do not commit: the decorator commits."""

from __future__ import annotations

import hashlib
import json
from functools import wraps

from flask import g, jsonify, make_response, request
from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from bungkesmas.contributions.models import IdempotencyKey
from bungkesmas.errors import Conflict, DomainError
from bungkesmas.extensions import db

HEADER = "Idempotency-Key"
KEY_MAX = 100
DOC = {"parameters": [{
    "in": "header", "name": HEADER, "required": False,
    "schema": {"type": "string", "maxLength": KEY_MAX},
    "description": "A client-generated key (e.g. a UUID): a retried request with the same "
                   "key and body returns the first response and records nothing again."}]}


def _key() -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > KEY_MAX or not key.isprintable():
        raise DomainError(_("Send a key of 1 to %(max)d printable characters.", max=KEY_MAX),
                          HEADER)
    return key


def _fingerprint() -> str:
    body = request.get_json(silent=True)
    content = (json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
               if body is not None else request.get_data())
    return hashlib.sha256(f"{request.method} {request.path}\n".encode() + content).hexdigest()


_STORED = select(IdempotencyKey).where(IdempotencyKey.key == bindparam("key"))


def _stored(key: str) -> IdempotencyKey | None:
    return db.session.scalar(_STORED, {"key": key})


def _replay(stored: IdempotencyKey, fingerprint: str):
    if stored.fingerprint != fingerprint:
        raise DomainError(_("This Idempotency-Key was sent before with a different request. "
                            "Use a new key for a new request."), HEADER)
    response = make_response(jsonify(stored.response_body), stored.response_status)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(view):
    """Honour `Idempotency-Key` on a view that creates money records (placed between
    @blp.route and @blp.arguments). The view receives the key as `idempotency_key`."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        key = _key()
        if key is None or g.api.partner is None:
            response = make_response(view(*args, idempotency_key=None, **kwargs))
            db.session.commit()
            return response
        fingerprint = _fingerprint()
        stored = _stored(key)
        if stored is not None:
            return _replay(stored, fingerprint)
        try:
            response = make_response(view(*args, idempotency_key=key, **kwargs))
        except Conflict:
            # An identical request sent at the same time won the ledger's unique key.
            db.session.rollback()
            stored = _stored(key)
            if stored is not None:
                return _replay(stored, fingerprint)
            raise
        if 200 <= response.status_code < 300:
            db.session.add(IdempotencyKey(key=key, fingerprint=fingerprint,
                                          response_status=response.status_code,
                                          response_body=response.get_json()))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            stored = _stored(key)
            if stored is not None:
                return _replay(stored, fingerprint)
            raise Conflict(_("A request with this Idempotency-Key is in progress. Try again "
                             "in a moment."), HEADER) from None
        return response

    return wrapped
