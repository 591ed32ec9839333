"""Public pages: landing, partner application, region lookup, health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, url_for
from sqlalchemy import text

from bungkesmas import regions
from bungkesmas.extensions import db, limiter
from bungkesmas.partners import services as partners
from bungkesmas.partners.forms import ApplicationForm
from bungkesmas.web import run

bp = Blueprint("public", __name__, template_folder="templates")


@bp.route("/")
def index():
    return render_template("public/index.html")


@bp.route("/daftar-mitra", methods=["GET", "POST"])
@limiter.limit("20 per hour", "application-address")
def apply():
    form = ApplicationForm()
    if form.validate_on_submit() and run(lambda: partners.apply(form.data_for_domain()), form):
        return redirect(url_for("public.applied"))
    return render_template("public/apply.html", form=form), 422 if form.errors else 200


@bp.route("/daftar-mitra/terima-kasih")
def applied():
    return render_template("public/applied.html")


@bp.route("/wilayah/<code>")
def wilayah(code: str):
    """The regions directly under a province, regency or district code, for the cascading
    pickers: [{"code": "7372021001", "name": "Labukkang"}, ...]. Public data, cacheable."""
    found = regions.children(code)
    if not found:
        return jsonify([]), 404
    response = jsonify([{"code": c, "name": n} for c, n in found])
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.route("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 — any database failure means "not healthy"
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
