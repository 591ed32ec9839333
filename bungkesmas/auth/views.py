"""Sign in and out, accept an invitation, switch language."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from bungkesmas.auth import services
from bungkesmas.auth.forms import AcceptInvitationForm, LoginForm
from bungkesmas.errors import DomainError
from bungkesmas.extensions import db, limiter
from bungkesmas.web import run

bp = Blueprint("auth", __name__, template_folder="templates")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_email_key() -> str:
    # A second limit per account, so that guessing one password from many addresses is
    # slowed down too.
    return "login:" + services.normalise_email(request.form.get("email", ""))[:254]


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def landing_for(user) -> str:
    if user.is_provider:
        return url_for("platform.partners")
    partner = services.home_partner(user)
    if partner is None:
        return url_for("public.index")
    return url_for("tenants.dashboard", slug=partner.slug)


def _start_session(user) -> None:
    lang = session.get("lang")
    session.clear()  # a new session at sign-in: no fixation, fresh CSRF token
    if lang:
        session["lang"] = lang
    login_user(user)
    session.permanent = True


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, "login-address")
@limiter.limit(_login_limit, "login-account", key=_login_email_key)
def login():
    if current_user.is_authenticated:
        return redirect(landing_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except DomainError as err:
            db.session.rollback()
            form.form_errors.append(str(err.message))
        else:
            db.session.commit()
            _start_session(user)
            return redirect(_safe_next(request.args.get("next")) or landing_for(user))
    return render_template("auth/login.html", form=form), 200 if not form.errors else 422


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/undangan/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, "invitation-address")
def accept_invitation(token: str):
    invitation = services.find_invitation(token)
    if invitation is None:
        return render_template("auth/invitation_invalid.html"), 404
    # Keep what the page needs: after the commit, the invitation (a partner-owned row)
    # is outside this request's tenant scope and cannot be reloaded.
    partner = invitation.partner
    existing = services.user_by_email(invitation.email)
    form = AcceptInvitationForm(name=invitation.name)
    if form.validate_on_submit():
        user = run(lambda: services.accept_invitation(
            token, name=form.name.data or "", password=form.password.data), form)
        if user:
            if current_user.is_authenticated:
                logout_user()
            _start_session(user)
            flash(_("Welcome to %(partner)s.", partner=partner.name), "success")
            return redirect(url_for("tenants.dashboard", slug=partner.slug))
        # run() rolled back, which expired the invitation: load it again within its
        # tenant's scope (outside it, Row-Level Security hides the row).
        invitation = services.find_invitation(token)
        if invitation is None:
            return render_template("auth/invitation_invalid.html"), 404
    return render_template("auth/accept_invitation.html", form=form, invitation=invitation,
                           existing=existing is not None), 422 if form.errors else 200


@bp.route("/bahasa/<lang>")
def set_language(lang: str):
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if current_user.is_authenticated and current_user.locale != lang:
            current_user.locale = lang
            db.session.commit()
    return redirect(_safe_next(request.args.get("next")) or url_for("public.index"))


@bp.route("/akun")
@login_required
def account():
    return redirect(landing_for(current_user))
