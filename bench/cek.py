"""The member status check under load: `/cek` lookups per second and p99 latency under
gunicorn, beside a bare Flask endpoint doing the same single indexed lookup with raw SQL,
in the same run, on the same database.

Servers (each in turn, alone): gunicorn with `--workers 2 --worker-class gthread
--threads 2` (keep-alive), on a free local port.

* `cek` — the real app (`bench.cek:real_app()`, production configuration, PostgreSQL as
  the owner switching to `bungkesmas_app` so Row-Level Security applies, the rate limiter
  on with memory storage and limits too high to trip), `POST /cek` with the form (the page
  fetched once per client connection first): the whole page as a member gets it.
* `api` (for information) — `POST /api/v1/status` (JSON).
* `card` (for information) — `GET /cek/<token>`, the QR code's address.
* `bare` — `bench.cek:bare_app()`: a Flask app with one route that reads the posted
  member number and runs `SELECT partner_id, member_id FROM member_registry WHERE
  member_number = ?` on a pooled SQLAlchemy connection (`exec_driver_sql`), answering
  JSON: the floor of "a Flask request with one indexed lookup".

The bare endpoint and `cek` run in `--cek-rounds` alternating pairs (default 3): the
share is the median of the pairs' shares, the p99 the worst pair's (see `bench_cek`).

Load: `--cek-clients` processes (default 4), each one keep-alive `http.client`
connection sending requests back to back (a closed loop) for `--cek-seconds` after a
warm-up; throughput = requests answered / seconds, latency from each client's clock. The
lookups are members drawn at random (80 % by member number, 20 % by NIK; 10 % with a wrong
birth date, i.e. "not found" answers).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
TARGET_SHARE = 0.5
TARGET_P99_MS = 20.0
HIGH = "1000000000 per minute"


# --- the two servers' apps (gunicorn imports these) ---------------------------------------


def real_app():
    """The application as deployed, on $BENCH_DATABASE_URL."""
    from bench.app import make_app

    return make_app(os.environ["BENCH_DATABASE_URL"], RATELIMIT_ENABLED=True,
                    RATELIMIT_STORAGE_URI=os.environ.get("BENCH_RATELIMIT_STORAGE_URI",
                                                         "memory://"), STATUS_RATE_LIMIT=HIGH,
                    STATUS_IDENTIFIER_RATE_LIMIT=HIGH, CARD_RATE_LIMIT=HIGH,
                    SESSION_COOKIE_SECURE=False)


def bare_app():
    """One route, one indexed lookup in raw SQL: the floor for a Flask request."""
    from flask import Flask, jsonify, request
    from sqlalchemy import create_engine

    url = os.environ["BENCH_DATABASE_URL"]
    engine = create_engine(url, pool_pre_ping=False)
    app = Flask("bare")
    # The driver's own placeholder style: psycopg's pyformat, sqlite3's named.
    sql = "SELECT partner_id, member_id FROM member_registry WHERE member_number = " + (
        "%(n)s" if url.startswith("postgresql") else ":n")

    @app.get("/healthz")
    def healthz():
        return "ok"

    @app.post("/bare")
    def bare():
        number = request.form.get("member_number", "")
        with engine.connect() as conn:
            row = conn.exec_driver_sql(sql, {"n": number}).first()
        if row is None:
            return jsonify(found=False), 404
        return jsonify(partner_id=row[0], member_id=str(row[1]))

    return app


# --- the servers ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, target: str, url: str):
        self.port = _free_port()
        env = {**os.environ, "BENCH_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(  # noqa: S603
            # --preload: the app is built before the workers fork, so that the port opens
            # with the app ready (building it takes seconds on a busy machine).
            [sys.executable, "-m", "gunicorn", "--preload", "--workers", "2",
             "--worker-class", "gthread",
             "--threads", "2", "--keep-alive", "30", "--bind", f"127.0.0.1:{self.port}",
             "--log-level", "warning", target],
            cwd=ROOT, env=env, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:  # both workers answer (each connection goes to whichever accepts it)
                for _ in range(4):
                    conn = HTTPConnection("127.0.0.1", self.port, timeout=30)
                    conn.request("GET", "/healthz")
                    conn.getresponse().read()
                    conn.close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gunicorn {target} exited") from None
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn {target} did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# --- the load ---------------------------------------------------------------------------


def _client(port: int, kind: str, requests: list, warmup: float, seconds: float,
            start_at: float, out) -> None:
    """One keep-alive connection, requests back to back; puts (latencies ms, statuses,
    found) on `out`."""
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {}
    if kind == "cek":
        # As a phone does: the page first (keep-alive), then the form's POST. The form has
        # no CSRF token and sets no cookie (see selfservice.views.check).
        conn.request("GET", "/cek")
        conn.getresponse().read()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        requests = [("POST", "/cek", urlencode(body)) for body in requests]
    elif kind == "api":
        headers = {"Content-Type": "application/json"}
        requests = [("POST", "/api/v1/status", json.dumps(body)) for body in requests]
    elif kind == "bare":
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        requests = [("POST", "/bare", urlencode(body)) for body in requests]
    else:  # card
        requests = [("GET", f"/cek/{token}", None) for token in requests]
    while time.time() < start_at:
        time.sleep(0.005)
    latencies, statuses, found = [], {}, 0
    warm_until = time.perf_counter() + warmup
    stop_at = warm_until + seconds
    i = 0
    while True:
        method, path, body = requests[i % len(requests)]
        i += 1
        started = time.perf_counter()
        if started >= stop_at:
            break
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if started >= warm_until:
            latencies.append(elapsed)
            statuses[response.status] = statuses.get(response.status, 0) + 1
            found += (b'id="jawaban"' in data) if kind in ("cek", "card") else (
                response.status == 200)
    conn.close()
    out.put((latencies, statuses, found))


def load(port: int, kind: str, requests: list, clients: int, warmup: float,
         seconds: float) -> dict:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start_at = time.time() + 0.5
    procs = []
    for c in range(clients):
        share = requests[c::clients] or requests
        p = ctx.Process(target=_client, args=(port, kind, share, warmup, seconds, start_at, out))
        p.start()
        procs.append(p)
    results = [out.get(timeout=warmup + seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for r in results for x in r[0])
    statuses: dict[str, int] = {}
    for r in results:
        for k, v in r[1].items():
            statuses[str(k)] = statuses.get(str(k), 0) + v
    n = len(latencies)
    return {"n": n, "per_s": round(n / seconds, 1),
            "median_ms": round(statistics.median(latencies), 2) if n else None,
            "p99_ms": round(latencies[min(n - 1, int(0.99 * n))], 2) if n else None,
            "statuses": statuses, "found_pct": round(100 * sum(r[2] for r in results) / n)
            if n else 0}


# --- the samples and the run --------------------------------------------------------------


def samples(app, meta: dict, n: int, rng: random.Random) -> dict:
    """Lookup bodies (form fields of /cek and the bare endpoint, JSON of the API) and card
    tokens of random members."""
    from sqlalchemy import text

    from bungkesmas import tenancy
    from bungkesmas.extensions import db
    from bungkesmas.members import nik as nik_rules
    from bungkesmas.members.models import Member
    from bungkesmas.selfservice.services import card_token

    with app.app_context(), tenancy.everything():
        rows = db.session.execute(text(
            "SELECT id, member_number, birth_date, card_version FROM members "
            "ORDER BY random() LIMIT :n"), {"n": n}).all()
        niks = [nik for values in meta.get("niks", {}).values() for nik in values]
        rng.shuffle(niks)
        digest = nik_rules.digester()
        by_digest = {}
        for nik in niks[: max(1, n // 5)]:
            born = db.session.scalar(text("SELECT birth_date FROM members WHERE nik_digest = :d"),
                                     {"d": digest(nik)})
            if born is not None:  # SQLite answers text through a raw text() query
                by_digest[nik] = born if isinstance(born, date) else date.fromisoformat(born)
        # card_token reads the id and the card version only.
        tokens = [card_token(Member(id=uuid.UUID(str(member_id)), card_version=version))
                  for member_id, _number, _born, version in rows[:500]]
        db.session.remove()
    nik_items = list(by_digest.items())
    forms, apis, bare = [], [], []
    for i, (_id, number, born, _v) in enumerate(rows):
        born = born if isinstance(born, date) else date.fromisoformat(born)
        if rng.random() < 0.1:  # a wrong birth date: "not found"
            born += timedelta(days=1)
        if nik_items and rng.random() < 0.2:
            nik, nik_born = nik_items[i % len(nik_items)]
            forms.append({"identifier": nik, "birth_date": nik_born.isoformat()})
            apis.append({"nik": nik, "birth_date": nik_born.isoformat()})
        else:
            forms.append({"identifier": number, "birth_date": born.isoformat()})
            apis.append({"member_number": number, "birth_date": born.isoformat()})
        bare.append({"member_number": number})
    return {"cek": forms, "api": apis, "bare": bare, "card": tokens}


def _serve_and_load(kind: str, target: str, d: dict, s: dict, args) -> dict:
    server = Server(target, d["url"])
    try:
        load_before = os.getloadavg()[0]
        r = load(server.port, kind, s[kind], args.cek_clients, args.cek_warmup,
                 args.cek_seconds)
    finally:
        server.stop()
    r["load_avg"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    return r


def _line(kind: str, r: dict) -> str:
    return (f"{kind:>4}: {r['per_s']:,.0f} requests/s, median {r['median_ms']} ms, p99 "
            f"{r['p99_ms']} ms (n {r['n']:,}, HTTP {r['statuses']}, answered with a status "
            f"{r['found_pct']}%, load average {r['load_avg'][0]} → {r['load_avg'][1]})")


def bench_cek(d: dict, args, log) -> dict:
    """Run the servers against database `d`; return their figures.

    The bare endpoint and /cek are measured in `--cek-rounds` alternating pairs (bare,
    then /cek): this machine's speed drifts by tens of per cent within minutes, and a
    single pair compares two different moments. The share is the median of the pairs'
    shares (the figures shown are those of that pair); the p99 is the worst pair's."""
    rng = random.Random(23)  # noqa: S311
    log(f"  sampling {args.cek_samples:,} members …")
    s = samples(d["app"], d["meta"], args.cek_samples, rng)
    out = {"clients": args.cek_clients, "seconds": args.cek_seconds, "rounds": []}
    for i in range(args.cek_rounds):
        pair = {kind: _serve_and_load(kind, target, d, s, args)
                for kind, target in (("bare", "bench.cek:bare_app()"),
                                     ("cek", "bench.cek:real_app()"))}
        pair["share"] = round(pair["cek"]["per_s"] / pair["bare"]["per_s"], 3) if pair[
            "bare"]["per_s"] else 0
        for kind in ("bare", "cek"):
            log(f"  round {i + 1}, {_line(kind, pair[kind])}")
        log(f"  round {i + 1}: /cek = {pair['share']:.0%} of the bare endpoint's throughput")
        out["rounds"].append(pair)
    middle = sorted(out["rounds"], key=lambda pair: pair["share"])[len(out["rounds"]) // 2]
    out["bare"], out["cek"], out["share"] = middle["bare"], middle["cek"], middle["share"]
    out["worst_p99_ms"] = max(pair["cek"]["p99_ms"] or 0 for pair in out["rounds"])
    for kind in ("api", "card"):  # for information, once
        out[kind] = _serve_and_load(kind, "bench.cek:real_app()", d, s, args)
        log(f"  {_line(kind, out[kind])}")
    return out


def misses(name: str, r: dict) -> list[str]:
    out = []
    if r["share"] < TARGET_SHARE:
        out.append(f"{name} /cek: {r['cek']['per_s']:,.0f} lookups/s = {r['share']:.0%} of the "
                   f"bare endpoint's {r['bare']['per_s']:,.0f} (target ≥ {TARGET_SHARE:.0%})")
    worst = r.get("worst_p99_ms", r["cek"]["p99_ms"]) or 0
    if worst >= TARGET_P99_MS:
        out.append(f"{name} /cek: p99 {worst:.1f} ms in its worst round (target < "
                   f"{TARGET_P99_MS:.0f})")
    return out


def table(r: dict) -> list[str]:
    lines = [f"| status check, {r['clients']} keep-alive clients, {r['seconds']:.0f} s each | "
             "requests/s | median ms | p99 ms | answered with a status | load average |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    titles = {"bare": "bare Flask endpoint, one indexed lookup in raw SQL",
              "cek": "**POST /cek** (the page)", "api": "POST /api/v1/status (JSON)",
              "card": "GET /cek/<token> (the card's QR code)"}
    for kind in ("bare", "cek", "api", "card"):
        x = r[kind]
        answered = f"{x['found_pct']}%" if kind != "bare" else "—"
        lines.append(f"| {titles[kind]} | {x['per_s']:,.0f} | {x['median_ms']} | {x['p99_ms']} | "
                     f"{answered} | {x['load_avg'][0]} → {x['load_avg'][1]} |")
    rounds = r.get("rounds") or []
    lines.append(f"\n/cek throughput = {r['share']:.0%} of the bare endpoint's (the median of "
                 f"{len(rounds)} alternating rounds, shown above: "
                 + ", ".join(f"{p['cek']['per_s']:,.0f}/{p['bare']['per_s']:,.0f} = "
                             f"{p['share']:.0%}" for p in rounds)
                 + f"); /cek p99 in the worst round {r.get('worst_p99_ms')} ms.")
    return lines
