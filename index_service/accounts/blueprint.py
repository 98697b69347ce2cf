"""User administration pages: the organisation's accounts, their checks, roles and tokens; the
index team's role approvals; and the notices administrators must see (recovery codes used).

A user administrator reaches only their own organisation's users (operations.own_user); every
change that touches an account or token asks for a fresh code when the last one is more than
five minutes old.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from accreditation.permissions import Permission, Role, needs_approval
from index_service.accounts import approvals, importing, operations
from index_service.accounts.forms import AccountForm, ActionForm, ImportForm
from index_service.auth.models import User
from index_service.auth.reauth import code_needed, confirm_if_stale
from index_service.auth.tokens import may_enrol, unused_recovery_codes
from index_service.database import utc_today
from index_service.form_fields import parsed
from index_service.guards import requires
from index_service.paging import page_asked, page_count

blueprint = Blueprint("accounts", __name__)

Page = str | Response | tuple[str, int]
PER_PAGE = 25


def _role_choices(admin: User) -> list[SelectChoice]:
    return [
        SelectChoice(role.value, role.label + (" (needs the index team's approval)" if needs_approval(role) else ""))
        for role in operations.grantable_roles(admin)
    ]


def _manager_choices(admin: User, exclude: User | None = None) -> list[SelectChoice]:
    return [SelectChoice("", "None")] + [
        SelectChoice(str(user.id), f"{user.display_name} ({user.email})")
        for user in operations.managers_for(admin, exclude)
    ]


def _checks(form: AccountForm) -> operations.Checks:
    return operations.Checks(
        form.vetting_reference.data,
        parsed(form.vetting_expires_on),
        parsed(form.training_completed_on),
        parsed(form.approved_on),
        form.home_postcode_district.data or None,
    )


def _manager_id(form: AccountForm) -> int | None:
    return int(form.line_manager.data) if form.line_manager.data else None


@blueprint.route("/users")
@requires(Permission.USER_MANAGE)
def users() -> str:
    query = request.args.get("q", "")[:100]
    found = operations.search_users(g.user, query, page_asked(), PER_PAGE)
    return render_template(
        "accounts/users.html", found=found, query=query, today=utc_today(), unread=operations.unread_notices(g.user)
    )


@blueprint.route("/users/new", methods=["GET", "POST"])
@requires(Permission.USER_MANAGE)
def create() -> Page:
    form = AccountForm()
    form.roles.choices = _role_choices(g.user)
    form.line_manager.choices = _manager_choices(g.user)

    def page(status: int) -> tuple[str, int]:
        return render_template("accounts/edit.html", form=form, user=None, code_needed=code_needed()), status

    if not form.validate_on_submit():
        return page(400 if request.method == "POST" else 200)
    refused = confirm_if_stale(g.user, form.code.data, "account create")
    if refused:
        form.code.errors = [refused.message]
        return page(refused.status)
    try:
        user, password = operations.create_user(
            g.user,
            form.email.data,
            form.display_name.data,
            [Role(role) for role in form.roles.data],
            _checks(form),
            _manager_id(form),
        )
    except operations.AccountRefused as refusal:
        form.email.errors = [str(refusal)]
        return page(400)
    return render_template("accounts/password.html", user=user, password=password, created=True)


@blueprint.route("/users/<int:user_id>")
@requires(Permission.USER_MANAGE)
def detail(user_id: int) -> str:
    user = operations.own_user(g.user, user_id)
    return _detail_page(user)


def _detail_page(user: User, form: ActionForm | None = None, status: int = 200) -> Any:
    return render_template(
        "accounts/detail.html",
        user=user,
        decision=user.access(utc_today()),
        form=form or ActionForm(),
        code_needed=code_needed(),
        recovery_left=unused_recovery_codes(user),
        token_enrollable=may_enrol(user),
    ), status


@blueprint.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@requires(Permission.USER_MANAGE)
def edit(user_id: int) -> Page:
    user = operations.own_user(g.user, user_id)
    form = AccountForm(obj=None if request.method == "POST" else user)
    form.email.data = user.email
    form.roles.choices = _role_choices(g.user)
    form.line_manager.choices = _manager_choices(g.user, exclude=user)
    if request.method == "GET":
        form.roles.data = sorted(grant.role.value for grant in user.role_grants)
        form.line_manager.data = str(user.line_manager_id or "")
        for name in ("vetting_expires_on", "training_completed_on", "approved_on"):
            value = getattr(user, name)
            getattr(form, name).data = value.strftime("%d/%m/%Y") if value else ""

    def page(status: int) -> tuple[str, int]:
        return render_template("accounts/edit.html", form=form, user=user, code_needed=code_needed()), status

    if not form.validate_on_submit():
        return page(400 if request.method == "POST" else 200)
    refused = confirm_if_stale(g.user, form.code.data, "account change")
    if refused:
        form.code.errors = [refused.message]
        return page(refused.status)
    try:
        operations.update_user(
            g.user,
            user,
            form.display_name.data,
            [Role(role) for role in form.roles.data],
            _checks(form),
            _manager_id(form),
        )
    except operations.AccountRefused as refusal:
        form.roles.errors = [str(refusal)]
        return page(403)
    flash(f"{user.display_name}'s account is updated", "success")
    return redirect(url_for("accounts.detail", user_id=user.id))


def _act(user_id: int, purpose: str, act: Callable[[User, User], object], done: str) -> Page:
    """An action on one of the organisation's accounts, after a fresh code when the last is stale."""
    user = operations.own_user(g.user, user_id)
    form = ActionForm()
    if not form.validate_on_submit():
        return _detail_page(user, form, 400)
    refused = confirm_if_stale(g.user, form.code.data, purpose)
    if refused:
        form.code.errors = [refused.message]
        return _detail_page(user, form, refused.status)
    try:
        result = act(g.user, user)
    except operations.AccountRefused as refusal:
        form.form_errors.append(str(refusal))
        return _detail_page(user, form, 409)
    if isinstance(result, str):
        return render_template("accounts/password.html", user=user, password=result, created=False)
    flash(done.format(name=user.display_name), "success")
    if isinstance(result, list) and result:
        flash(
            f"{user.display_name}'s {', '.join(sorted(Role(role).label for role in result))} "
            f"role{'s are' if len(result) > 1 else ' is'} suspended until the index team approves "
            f"{'them' if len(result) > 1 else 'it'} again.",
            "info",
        )
    return redirect(url_for("accounts.detail", user_id=user.id))


@blueprint.route("/users/<int:user_id>/suspend", methods=["POST"])
@requires(Permission.USER_MANAGE)
def suspend(user_id: int) -> Page:
    return _act(user_id, "account suspend", operations.suspend, "{name}'s account is suspended; they are signed out")


@blueprint.route("/users/<int:user_id>/reinstate", methods=["POST"])
@requires(Permission.USER_MANAGE)
def reinstate(user_id: int) -> Page:
    return _act(user_id, "account reinstate", operations.reinstate, "{name}'s account is reinstated")


@blueprint.route("/users/<int:user_id>/close", methods=["POST"])
@requires(Permission.USER_MANAGE)
def close(user_id: int) -> Page:
    return _act(
        user_id,
        "account close",
        operations.close,
        "{name}'s account is closed, their token revoked and every session ended",
    )


@blueprint.route("/users/<int:user_id>/token/revoke", methods=["POST"])
@requires(Permission.USER_MANAGE)
def revoke_token(user_id: int) -> Page:
    return _act(
        user_id,
        "token revoke",
        operations.revoke_token,
        "{name}'s token is revoked and they are signed out. Issue a new one when they are ready to enrol it",
    )


@blueprint.route("/users/<int:user_id>/token/issue", methods=["POST"])
@requires(Permission.USER_MANAGE)
def issue_token(user_id: int) -> Page:
    return _act(
        user_id,
        "token issue",
        operations.issue_token,
        "A new token is issued: {name} will set up their authenticator app at their next sign-in",
    )


@blueprint.route("/users/<int:user_id>/password", methods=["POST"])
@requires(Permission.USER_MANAGE)
def reset_password(user_id: int) -> Page:
    return _act(user_id, "password reset", operations.reset_password, "")


@blueprint.route("/users/import", methods=["GET", "POST"])
@requires(Permission.USER_MANAGE)
def import_users() -> Page:
    form = ImportForm()

    def page(status: int, outcomes: list[importing.RowOutcome] | None = None) -> tuple[str, int]:
        return render_template(
            "accounts/import.html", form=form, outcomes=outcomes, columns=importing.COLUMNS, code_needed=code_needed()
        ), status

    if not form.validate_on_submit():
        return page(400 if request.method == "POST" else 200)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        form.file.errors = ["Choose a CSV file"]
        return page(400)
    refused = confirm_if_stale(g.user, form.code.data, "account import")
    if refused:
        form.code.errors = [refused.message]
        return page(refused.status)
    try:
        outcomes = importing.import_users(g.user, upload.read())
    except importing.ImportRefused as refusal:
        form.file.errors = [str(refusal)]
        return page(400)
    return page(200, outcomes)


@blueprint.route("/users/notices")
@requires(Permission.USER_MANAGE)
def notices() -> str:
    page = page_asked()
    shown, total = operations.notices(g.user, page, PER_PAGE)
    unread = {notice.id for notice in shown if notice.read_at is None}
    operations.mark_notices_read(g.user, shown)
    return render_template(
        "accounts/notices.html", notices=shown, unread=unread, page=page, pages=page_count(total, PER_PAGE)
    )


@blueprint.route("/role-approvals")
@requires(Permission.ROLE_APPROVE)
def role_approvals() -> str:
    page = page_asked()
    grants, total = approvals.waiting(page, PER_PAGE)
    return render_template(
        "accounts/approvals.html",
        grants=grants,
        page=page,
        form=ActionForm(),
        pages=page_count(total, PER_PAGE),
        code_needed=code_needed(),
    )


@blueprint.route("/role-approvals/<int:user_id>", methods=["POST"])
@requires(Permission.ROLE_APPROVE)
def decide_role(user_id: int) -> Page:
    form = ActionForm()
    decision = request.form.get("decision")
    if not form.validate_on_submit() or decision not in ("approve", "refuse"):
        raise BadRequest("Choose to approve or refuse the role, and send the form again.")
    refused = confirm_if_stale(g.user, form.code.data, "role approval")
    if refused:
        flash(refused.message, "info")
        return redirect(url_for("accounts.role_approvals"))
    try:
        grant = approvals.decide(g.user, user_id, request.form.get("role", ""), decision == "approve")
    except operations.AccountRefused as refusal:
        flash(str(refusal), "info")
        return redirect(url_for("accounts.role_approvals"))
    flash(f"{'Approved' if decision == 'approve' else 'Refused'}: {grant.role.label} for {grant.user.email}", "success")
    return redirect(url_for("accounts.role_approvals"))
