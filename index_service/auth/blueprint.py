"""Signing in (password, then a code from an authenticator app, a recovery code, or enrolling an
issued token), changing one's password, and signing out.

After the password, the access decision (accreditation/access.py) says whether this person may
use the index today; every reason it refuses is shown to them, since the password proved who
they are. A person whose only missing piece is a token their administrator has issued goes on
to enrol it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from blinker import Namespace
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from accreditation.access import AccessDecision, Refusal
from accreditation.permissions import Permission
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth import tokens
from index_service.auth.forms import ChangePasswordForm, CodeForm, PasswordForm, RecoveryCodeForm
from index_service.auth.models import User
from index_service.auth.operations import (
    BAD_CODE,
    LOCKED,
    accept_code,
    account_key,
    clear_failures,
    is_locked,
    password_refusal,
    record_failure,
)
from index_service.auth.passwords import hash_password, password_problem, verify_password
from index_service.auth.reauth import code_needed, confirm_if_stale
from index_service.database import utc_today, utcnow
from index_service.extensions import db
from index_service.guards import public, requires

blueprint = Blueprint("auth", __name__)

Page = str | Response | tuple[str, int]
PASSWORD_STEP_VALID_FOR = timedelta(minutes=5)
BAD_CREDENTIALS = "Enter a correct email address and password"
BAD_RECOVERY_CODE = "Enter a correct recovery code. Each recovery code works once."


def _pending_user() -> User | None:
    user_id = session.get("pending_user_id")
    started = session.get("password_at")
    if not user_id or not started:
        return None
    if utcnow() - datetime.fromisoformat(started) > PASSWORD_STEP_VALID_FOR:
        return None
    user = db.session.get(User, user_id)
    return user if user is not None and user.is_active else None


def _refused(user: User, decision: AccessDecision) -> tuple[str, int]:
    """The person proved their password but may not use the index: tell them every reason, and audit it."""
    record_event(
        AuditTag.LOGIN_FAILURE,
        Outcome.DENIED,
        user=user,
        reason="access refused",
        details={"why": "access refused", "reasons": [reason.code for reason in decision.reasons]},
    )
    session.end()  # type: ignore[attr-defined]
    return render_template("auth/refused.html", reasons=decision.reasons), 403


def _blocking(user: User) -> AccessDecision | None:
    """The decision if anything but a token still to enrol (and issued) stands in the way."""
    decision = user.access(utc_today())
    if decision.allowed_but_for(Refusal.NO_TOKEN) and (decision.allowed or tokens.may_enrol(user)):
        return None
    return decision


# Sent once both factors are proved, before the session is renewed, with what the first factor was
# (`first_factor`, as after_first_factor kept it): a feature that needs to act on a proved sign-in
# (linking a provider's subject) listens, so that auth/ imports none of them.
signed_in = Namespace().signal("signed-in")


def after_first_factor(user: User, method: str = "password", first_factor: dict[str, Any] | None = None) -> Page:
    """The person has proved their first factor (a password, or an organisation's identity provider):
    refuse them with every reason, or go on to the index's own second factor (enrolling an issued token
    first). Sign-in hands over here; so may another first factor, which audits itself and says in
    `first_factor` what it was, for the success event."""
    blocking = _blocking(user)
    if blocking is not None:
        return _refused(user, blocking)
    session.clear()
    session.renew()  # type: ignore[attr-defined]
    session["pending_user_id"] = user.id
    session["password_at"] = utcnow().isoformat()
    session["first_factor"] = first_factor or {"via": method}
    if method == "password":
        record_event(AuditTag.LOGIN_PASSWORD, user=user)
    return redirect(url_for("auth.enrol" if tokens.may_enrol(user) else "auth.code"))


def complete_sign_in(
    user: User, details: dict[str, Any] | None = None, *, code_proved: bool = True, second_factor: str = "index code"
) -> None:
    """Both factors are proved: a fresh session, signed in. The caller must have checked `user.access`.

    The success event says how: `details`, or the first factor kept in the session and `second_factor`.
    Only the index's own code counts as a fresh code for re-authentication; a provider's factor does not.
    """
    first = session.get("first_factor") or {"via": "password"}
    signed_in.send(current_app._get_current_object(), user=user, first_factor=first)  # type: ignore[attr-defined]
    clear_failures(account_key(user.email))
    session.clear()
    session.renew()  # type: ignore[attr-defined]
    session["user_id"] = user.id
    session["signed_in"] = True
    if code_proved:
        session["code_at"] = utcnow().isoformat()
    shown = {key: value for key, value in first.items() if key != "link_subject"}
    record_event(AuditTag.LOGIN_SUCCESS, user=user, details=details or {**shown, "second_factor": second_factor})
    _tell_of_suspended_roles(user)


def _tell_of_suspended_roles(user: User) -> None:
    """The person learns at sign-in that roles the index team approved wait for its approval again."""
    suspended = sorted(role.label for role in user.suspended_roles)
    if suspended:
        many = len(suspended) > 1
        flash(
            f"Your {', '.join(suspended)} role{'s are' if many else ' is'} suspended until the index team "
            f"approves {'them' if many else 'it'} again, because your user administrator reset your password "
            "or issued you a new token. The index team will contact you to confirm. If you did not ask for "
            "this, tell the index team.",
            "info",
        )


@blueprint.route("/sign-in", methods=["GET", "POST"])
@public
def login() -> Page:
    form = PasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)
    email = form.email.data.strip().lower()
    if is_locked(email, request.remote_addr):
        record_event(AuditTag.LOGIN_FAILURE, Outcome.DENIED, details={"email": email, "why": "locked"})
        form.email.errors = [LOCKED]
        return render_template("auth/login.html", form=form), 429
    user = db.session.scalar(select(User).where(func.lower(User.email) == email))
    why = password_refusal(user, form.password.data)
    if why is not None or user is None:
        record_failure(email, request.remote_addr)
        record_event(AuditTag.LOGIN_FAILURE, Outcome.FAILURE, user=user, details={"email": email, "why": why})
        form.email.errors = [BAD_CREDENTIALS]
        return render_template("auth/login.html", form=form), 401
    return after_first_factor(user)


def _pending_or_restart() -> User | Response:
    user = _pending_user()
    if user is None:
        flash("Sign in with your email address and password first.", "info")
        return redirect(url_for("auth.login"))
    return user


@blueprint.route("/sign-in/code", methods=["GET", "POST"])
@public
def code() -> Page:
    user = _pending_or_restart()
    if isinstance(user, Response):
        return user
    if tokens.may_enrol(user):
        return redirect(url_for("auth.enrol"))
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
    decision = user.access(utc_today())
    if not decision.allowed:
        return _refused(user, decision)
    complete_sign_in(user)
    return redirect(url_for("web.home"))


@blueprint.route("/sign-in/recovery-code", methods=["GET", "POST"])
@public
def recovery() -> Page:
    """Sign in with a one-time recovery code instead of a code: the user's administrators are alerted."""
    user = _pending_or_restart()
    if isinstance(user, Response):
        return user
    form = RecoveryCodeForm()
    if not form.validate_on_submit():
        return render_template("auth/recovery.html", form=form)
    if is_locked(user.email, request.remote_addr):
        record_event(AuditTag.LOGIN_FAILURE, Outcome.DENIED, user=user, details={"why": "locked"})
        form.recovery_code.errors = [LOCKED]
        return render_template("auth/recovery.html", form=form), 429
    if not tokens.use_recovery_code(user, form.recovery_code.data):
        record_failure(user.email, request.remote_addr)
        record_event(AuditTag.LOGIN_FAILURE, Outcome.FAILURE, user=user, details={"why": "wrong or used recovery code"})
        form.recovery_code.errors = [BAD_RECOVERY_CODE]
        return render_template("auth/recovery.html", form=form), 401
    decision = user.access(utc_today())
    if not decision.allowed:
        return _refused(user, decision)
    record_event(AuditTag.RECOVERY_CODE_USE, user=user)
    complete_sign_in(user, second_factor="recovery code")
    left = tokens.unused_recovery_codes(user)
    flash(
        f"You signed in with a recovery code; you have {left} left and your user administrator has been told. "
        "If you have lost your phone, ask them to revoke your token and issue a new one.",
        "info",
    )
    return redirect(url_for("web.home"))


@blueprint.route("/sign-in/enrol", methods=["GET", "POST"])
@public
def enrol() -> Page:
    """Enrol the token an administrator issued: scan the QR code (or type the key), then prove a code."""
    user = _pending_or_restart()
    if isinstance(user, Response):
        return user
    if not tokens.may_enrol(user):
        return redirect(url_for("auth.code"))
    secret = tokens.pending_secret(user)
    form = CodeForm()

    def page(status: int = 200) -> tuple[str, int]:
        return render_template(
            "auth/enrol.html", form=form, secret=secret, qr_svg=tokens.qr_code_svg(secret, user.email)
        ), status

    if not form.validate_on_submit():
        return page()
    if is_locked(user.email, request.remote_addr):
        record_event(AuditTag.LOGIN_FAILURE, Outcome.DENIED, user=user, details={"why": "locked"})
        form.code.errors = [LOCKED]
        return page(429)
    recovery_codes = tokens.confirm_enrolment(user, form.code.data)
    if recovery_codes is None:
        record_failure(user.email, request.remote_addr)
        record_event(AuditTag.LOGIN_FAILURE, Outcome.FAILURE, user=user, details={"why": "wrong enrolment code"})
        form.code.errors = [
            "Enter the code your authenticator app shows for Child Index. "
            "If it is refused again, check the key you typed."
        ]
        return page(401)
    record_event(AuditTag.TOKEN_ENROL, user=user)
    decision = user.access(utc_today())
    if not decision.allowed:
        return _refused(user, decision)
    complete_sign_in(user, second_factor="index code, on enrolling the token")
    g.user = user
    return render_template("auth/recovery_codes.html", codes=recovery_codes)


@blueprint.route("/account/password", methods=["GET", "POST"])
@requires(Permission.SIGNED_IN)
def change_password() -> Page:
    user: User = g.user
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("auth/change_password.html", form=form, code_needed=code_needed()), status
    if not verify_password(user.password_hash, form.current_password.data):
        record_failure(user.email, request.remote_addr)
        record_event(AuditTag.PASSWORD_CHANGE, Outcome.FAILURE, details={"why": "wrong current password"})
        form.current_password.errors = ["Enter your current password correctly"]
        return render_template("auth/change_password.html", form=form, code_needed=code_needed()), 401
    problem = password_problem(form.new_password.data, user.email, [user.display_name, user.organisation.name])
    if problem is None and form.new_password.data == form.current_password.data:
        problem = "The new password must be different from the current one"
    if problem:
        form.new_password.errors = [problem]
        return render_template("auth/change_password.html", form=form, code_needed=code_needed()), 400
    refused = confirm_if_stale(user, form.code.data, "password change")
    if refused:
        form.code.errors = [refused.message]
        return render_template("auth/change_password.html", form=form, code_needed=code_needed()), refused.status
    user.password_hash = hash_password(form.new_password.data)
    user.password_must_change = False
    record_event(AuditTag.PASSWORD_CHANGE)
    flash("Your password is changed", "success")
    return redirect(url_for("web.home"))


@blueprint.route("/sign-out", methods=["POST"])
@requires(Permission.SIGNED_IN)
def logout() -> Response:
    record_event(AuditTag.LOGOUT)
    session.end()  # type: ignore[attr-defined]
    flash("You have signed out.", "success")
    return redirect(url_for("auth.login"))
