"""A local fake of the part of Stripe's API the platform uses, served on a real port so
that the official library (`stripe.StripeClient` with `base_addresses={"api": ...}`)
talks to it over HTTP, offline.

* `POST /v1/checkout/sessions` (form-encoded, nested keys as the library sends them;
  `Idempotency-Key` honoured: the same key returns the same session),
  `GET /v1/checkout/sessions/<id>`, `GET /v1/checkout/sessions?payment_intent=…`;
* a hosted "checkout page" `GET /c/pay/<id>` with a Pay button (marks the session paid,
  gives it a payment intent, redirects to its success_url) and a Cancel link;
* `event(...)`, `session_event(...)`, `refund_event(...)`: event payloads in Stripe's
  shape (https://docs.stripe.com/api/events/object, checkout.session and charge objects),
  and `sign(...)`: the `Stripe-Signature` header (t=…,v1=HMAC-SHA256(secret, "t.payload")).

Objects carry the fields Stripe documents for them that the platform could read; the
fake is not a validator of the whole API. Run alone for manual testing:
`python -m tests.payments.fake_stripe 8765`, then BUNGKESMAS_STRIPE_API_BASE=http://127.0.0.1:8765.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
from urllib.parse import parse_qsl

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

API_VERSION = "2025-09-30.clover"
SECRET_KEY = "sk_test_fake_bungkesmas"
WEBHOOK_SECRET = "whsec_test_fake_bungkesmas"


def _nested(pairs) -> dict:
    """Stripe's form encoding (`a[b][0][c]=v`) back into nested dicts and lists."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


def _id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


class FakeStripe:
    def __init__(self):
        self.sessions: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.requests: list[dict] = []
        self.fail_next = 0  # answer this many session creations with an error
        self.lock = threading.Lock()
        self.url = ""
        self._server = None
        self._thread = None

    # --- server -------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fake-stripe")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.sessions.clear()
            self.by_key.clear()
            self.requests.clear()
            self.fail_next = 0

    def wsgi(self, environ, start_response):
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/v1/"):
            if request.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
                return self._error(401, "invalid_request_error", "Invalid API Key provided.")
            with self.lock:
                self.requests.append({"method": request.method, "path": path,
                                      "headers": dict(request.headers),
                                      "body": request.get_data(as_text=True),
                                      "query": request.query_string.decode()})
        if path == "/v1/checkout/sessions" and request.method == "POST":
            return self._create_session(request)
        if path == "/v1/checkout/sessions" and request.method == "GET":
            intent = request.args.get("payment_intent")
            data = [s for s in self.sessions.values()
                    if intent is None or s["payment_intent"] == intent]
            return self._json({"object": "list", "data": data[:int(request.args.get(
                "limit", "10"))], "has_more": False, "url": "/v1/checkout/sessions"})
        match = re.fullmatch(r"/v1/checkout/sessions/([\w]+)", path)
        if match and request.method == "GET":
            session = self.sessions.get(match.group(1))
            if session is None:
                return self._error(404, "invalid_request_error", "No such checkout.session")
            return self._json(session)
        match = re.fullmatch(r"/c/pay/([\w]+)", path)
        if match:
            session = self.sessions.get(match.group(1))
            if session is None:
                return Response("Not found", 404)
            if request.method == "POST":
                self.complete(session["id"])
                target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
                return Response("", 303, headers={"Location": target})
            return self._checkout_page(session)
        return self._error(404, "invalid_request_error", f"Unrecognized request URL ({path}).")

    def _create_session(self, request: Request) -> Response:
        params = _nested(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
        key = request.headers.get("Idempotency-Key")
        with self.lock:
            if self.fail_next:
                self.fail_next -= 1
                return self._error(400, "invalid_request_error", "The fake refuses this one.")
            if key and key in self.by_key:
                return self._json(self.sessions[self.by_key[key]])
            session = self._session(params)
            self.sessions[session["id"]] = session
            if key:
                self.by_key[key] = session["id"]
        return self._json(session)

    def _session(self, params: dict) -> dict:
        now = int(time.time())
        items = params.get("line_items") or []
        total = sum(int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1))
                    for i in items)
        currency = items[0]["price_data"]["currency"] if items else None
        session_id = _id("cs")
        return {
            "id": session_id, "object": "checkout.session", "after_expiration": None,
            "allow_promotion_codes": None, "amount_subtotal": total, "amount_total": total,
            "automatic_tax": {"enabled": False, "liability": None, "status": None},
            "billing_address_collection": None, "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"), "client_secret": None,
            "created": now, "currency": currency, "customer": None,
            "customer_creation": "if_required", "customer_details": None,
            "customer_email": None,
            "expires_at": int(params.get("expires_at") or now + 86400),
            "invoice": None, "livemode": False, "locale": params.get("locale"),
            "metadata": params.get("metadata") or {}, "mode": params.get("mode"),
            "payment_intent": None, "payment_link": None,
            "payment_method_collection": "if_required", "payment_method_types": ["card"],
            "payment_status": "unpaid", "status": "open", "submit_type": None,
            "subscription": None, "success_url": params.get("success_url"),
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted", "url": f"{self.url}/c/pay/{session_id}",
        }

    def _checkout_page(self, session: dict) -> Response:
        amount = session["amount_total"] // 100
        body = f"""<!doctype html><html><head><meta charset="utf-8"><title>Fake Checkout</title></head>
<body><h1>Fake Stripe Checkout</h1>
<p id="amount">{session['currency'].upper()} {amount:,}</p>
<form method="post" action="/c/pay/{session['id']}"><button id="fake-pay" type="submit">Pay</button></form>
<p><a id="fake-cancel" href="{html.escape(session['cancel_url'])}">Cancel</a></p></body></html>"""
        return Response(body, 200, content_type="text/html; charset=utf-8")

    @staticmethod
    def _json(data, status=200) -> Response:
        return Response(json.dumps(data), status, content_type="application/json",
                        headers={"Request-Id": f"req_{secrets.token_hex(7)}"})

    def _error(self, status, kind, message) -> Response:
        return self._json({"error": {"type": kind, "message": message}}, status)

    # --- what Stripe would do and send ---------------------------------------------------

    def complete(self, session_id: str, *, paid: bool = True) -> dict:
        """The customer paid (or, with paid=False, chose a delayed method)."""
        with self.lock:
            session = self.sessions[session_id]
            session["status"] = "complete"
            session["payment_intent"] = session["payment_intent"] or _id("pi")
            session["payment_status"] = "paid" if paid else "unpaid"
            session["customer_details"] = {"email": None, "name": "Pembayar Uji",
                                           "phone": None, "tax_exempt": "none",
                                           "tax_ids": [], "address": None}
            return dict(session)

    def expire(self, session_id: str) -> dict:
        with self.lock:
            session = self.sessions[session_id]
            session["status"] = "expired"
            return dict(session)

    def session_event(self, session_id: str, event_type: str = "checkout.session.completed",
                      **changes) -> dict:
        session = {**self.sessions[session_id], **changes}
        if event_type == "checkout.session.async_payment_succeeded":
            session["payment_status"] = "paid"
        return event(event_type, session)

    def charge(self, session_id: str, *, refunded_amount: int | None = None) -> dict:
        """The charge of a paid session, refunded in full (or by `refunded_amount`,
        Stripe's minor units)."""
        session = self.sessions[session_id]
        amount = session["amount_total"]
        refunded = amount if refunded_amount is None else refunded_amount
        return {"id": "ch_" + session["payment_intent"][3:], "object": "charge",
                "amount": amount, "amount_captured": amount, "amount_refunded": refunded,
                "balance_transaction": _id("txn"), "captured": True,
                "created": int(time.time()), "currency": session["currency"],
                "customer": None, "description": None, "disputed": False,
                "livemode": False, "metadata": {}, "paid": True,
                "payment_intent": session["payment_intent"], "refunded": refunded == amount,
                "status": "succeeded"}

    def refund_event(self, session_id: str, **kwargs) -> dict:
        return event("charge.refunded", self.charge(session_id, **kwargs))


def event(event_type: str, obj: dict, *, created: int | None = None) -> dict:
    """An event as Stripe sends it to a webhook endpoint."""
    return {"id": _id("evt"), "object": "event", "api_version": API_VERSION,
            "created": created or int(time.time()), "data": {"object": obj},
            "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": event_type}


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header of `payload`, computed as Stripe documents it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    fake = FakeStripe()
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    fake._server = make_server("127.0.0.1", port, fake.wsgi, threaded=True)
    fake.url = f"http://127.0.0.1:{port}"
    print(f"Fake Stripe on {fake.url} (key {SECRET_KEY}, webhook secret {WEBHOOK_SECRET})")
    fake._server.serve_forever()
