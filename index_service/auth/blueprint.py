"""Signing in (password, then a code from an authenticator app) and signing out."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from accreditation.permissions import Permission
from index_service.access import public, requires
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.forms import CodeForm, PasswordForm
from index_service.auth.models import User
from index_service.auth.operations import accept_code, clear_account_failures, is_locked, record_failure
from index_service.auth.passwords import verify_password
from index_service.database import utcnow
from index_service.extensions import db

blueprint = Blueprint("auth", __name__)

PASSWORD_STEP_VALID_FOR = timedelta(minutes=5)
LOCKED = "Too many failed attempts. Wait 15 minutes and try again, or contact your user administrator."
BAD_CREDENTIALS = "Enter a correct email address and password"
BAD_CODE = "Enter a correct security code. Each code works once: if you have just used one, wait for the next."


def _pending_user() -> User | None:
    user_id = session.get("pending_user_id")
    started = session.get("password_at")
    if not user_id or not started:
        return None
    if utcnow() - datetime.fromisoformat(started) > PASSWORD_STEP_VALID_FOR:
        return None
    user = db.session.get(User, user_id)
    return user if user is not None and user.is_active else None


@blueprint.route("/sign-in", methods=["GET", "POST"])
@public
def login() -> str | Response | tuple[str, int]:
    form = PasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)
    email = form.email.data.strip().lower()
    if is_locked(email, request.remote_addr):
        record_event(AuditTag.LOGIN_FAILURE, Outcome.DENIED, details={"email": email, "why": "locked"})
        form.email.errors = [LOCKED]
        return render_template("auth/login.html", form=form), 429
    user = db.session.scalar(select(User).where(func.lower(User.email) == email))
    if not verify_password(user.password_hash if user else None, form.password.data) or not user.is_active:
        record_failure(email, request.remote_addr)
        why = "unknown account" if user is None else ("account closed" if not user.is_active else "wrong password")
        record_event(AuditTag.LOGIN_FAILURE, Outcome.FAILURE, user=user, details={"email": email, "why": why})
        form.email.errors = [BAD_CREDENTIALS]
        return render_template("auth/login.html", form=form), 401
    session.clear()
    session.renew()  # type: ignore[attr-defined]
    session["pending_user_id"] = user.id
    session["password_at"] = utcnow().isoformat()
    record_event(AuditTag.LOGIN_PASSWORD, user=user)
    return redirect(url_for("auth.code"))


@blueprint.route("/sign-in/code", methods=["GET", "POST"])
@public
def code() -> str | Response | tuple[str, int]:
    user = _pending_user()
    if user is None:
        flash("Sign in with your email address and password first.", "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("auth/code.html", form=form)
    if is_locked(user.email, request.remote_addr):
        record_event(AuditTag.LOGIN_FAILURE, Outcome.DENIED, user=user, details={"why": "locked"})
        form.code.errors = [LOCKED]
        return render_template("auth/code.html", form=form), 429
    if not accept_code(user, form.code.data):
        record_failure(user.email, request.remote_addr)
        record_event(AuditTag.LOGIN_FAILURE, Outcome.FAILURE, user=user, details={"why": "wrong or reused code"})
        form.code.errors = [BAD_CODE]
        return render_template("auth/code.html", form=form), 401
    clear_account_failures(user.email)
    session.clear()
    session.renew()  # type: ignore[attr-defined]
    session["user_id"] = user.id
    session["signed_in"] = True
    session["code_at"] = utcnow().isoformat()
    record_event(AuditTag.LOGIN_SUCCESS, user=user)
    return redirect(url_for("web.home"))


@blueprint.route("/sign-out", methods=["POST"])
@requires(Permission.SIGNED_IN)
def logout() -> Response:
    record_event(AuditTag.LOGOUT)
    session.end()  # type: ignore[attr-defined]
    flash("You have signed out.", "success")
    return redirect(url_for("auth.login"))
