"""Pages: "Sign in with your organisation" and its callback; the index team's provider settings."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from accreditation.permissions import Permission
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.blueprint import BAD_CREDENTIALS, LOCKED, after_first_factor, complete_sign_in, signed_in
from index_service.auth.forms import PasswordForm
from index_service.auth.models import User
from index_service.auth.operations import is_locked, password_refusal, record_failure
from index_service.database import utc_today
from index_service.extensions import db
from index_service.guards import public, requires
from index_service.identity import client, operations, signin
from index_service.identity.client import discovery_url
from index_service.identity.forms import ChooseOrganisationForm, LinkIdentityForm, ProviderForm
from index_service.identity.models import IdentityProvider, ProviderIdentity
from index_service.identity.operations import IdentityError, ProviderSettings, Refusal
from index_service.organisation_models import Organisation
from index_service.paging import page_asked, page_count
from index_service.sealed_secrets import PROVIDER_KEYS, can_seal

blueprint = Blueprint("identity", __name__)

Page = str | Response | tuple[str, int]
PER_PAGE = 50


NOT_SIGNED_IN = (
    "We could not sign you in through your organisation. Try again, or sign in with your email address and password."
)
NO_ACCOUNT = (
    "Your organisation signed you in, but that does not lead to a Child Index account you can use. "
    "Contact your user administrator."
)
UNAVAILABLE = "Your organisation's sign-in service is not answering. Sign in with your email address and password."


def _allow_forms_to(providers: list[IdentityProvider]) -> set[str]:
    """Let this page's form lead on to the providers' sign-in pages.

    The chooser posts (with its CSRF token) and the answer redirects to the provider: browsers hold
    that redirect to the CSP `form-action` of the page that sent the form, so this page's policy
    names each offered issuer's origin besides 'self'. Every other page keeps 'self' alone.
    """
    origins = {found for found in (client.origin(p.issuer) for p in providers) if found}
    g.form_action_origins = sorted(origins)
    return origins


@blueprint.route("/sign-in/organisation", methods=["GET", "POST"])
@public
def choose() -> Page:
    form = ChooseOrganisationForm()
    providers = operations.enabled_providers()
    allowed = _allow_forms_to(providers)
    form.provider.choices = [SelectChoice(0, "Choose your organisation")] + [
        SelectChoice(p.id, p.organisation.name) for p in providers
    ]
    if not form.validate_on_submit() or not form.provider.data:
        if request.method == "POST" and not form.provider.errors:
            form.provider.errors = ["Select your organisation"]
        return render_template("identity/choose.html", form=form), 400 if request.method == "POST" else 200
    provider = db.session.get(IdentityProvider, form.provider.data)
    if provider is None or not provider.is_enabled:
        raise NotFound("That organisation does not sign in through its own provider.")
    started = signin.begin(provider)
    if isinstance(started, Refusal) and started.why == "locked":
        form.provider.errors = [LOCKED]
        return render_template("identity/choose.html", form=form), 429
    if isinstance(started, Refusal):
        flash(UNAVAILABLE, "info")
        return redirect(url_for("auth.login"))
    if client.origin(started) not in allowed:
        # A provider whose sign-in page is on another origin than its issuer: a link, which no CSP holds back.
        return render_template("identity/continue.html", provider=provider, url=started)
    return redirect(started)


@blueprint.route("/sign-in/organisation/callback")
@public
def callback() -> Page:
    """The provider sends the person back here with a code; every failure is audited."""
    outcome = signin.finish(request.args.to_dict())
    if isinstance(outcome, signin.Unlinked):
        return redirect(url_for("identity.link_self"))
    if isinstance(outcome, Refusal):
        flash(NO_ACCOUNT if outcome.outcome == Outcome.DENIED else NOT_SIGNED_IN, "info")
        return redirect(url_for("auth.login"))
    user, trusted, provider = outcome
    first_factor = {"via": "identity provider", "provider_id": provider.id}
    if not trusted or not user.access(utc_today()).allowed:
        # As after a password: every refusal, a token to enrol, or the index's own code.
        return after_first_factor(user, method="identity provider", first_factor=first_factor)
    complete_sign_in(user, {**first_factor, "second_factor": "provider"}, code_proved=False)
    return redirect(url_for("web.home"))


@blueprint.route("/sign-in/organisation/link", methods=["GET", "POST"])
@public
def link_self() -> Page:
    """First sign-in through a provider: the person proves their index account (password here, then
    the index's code) once, and their provider's subject is linked to it when the code is accepted."""
    waiting = signin.pending_link()
    if waiting is None:
        flash("Sign in through your organisation again.", "info")
        return redirect(url_for("identity.choose"))
    form = PasswordForm()

    def page(status: int) -> tuple[str, int]:
        return render_template("identity/link.html", form=form, provider=waiting.provider), status

    if not form.validate_on_submit():
        return page(400 if request.method == "POST" else 200)
    email = form.email.data.strip().lower()
    if is_locked(email, request.remote_addr):
        record_event(AuditTag.LOGIN_FAILURE, Outcome.DENIED, details={"email": email, "why": "locked"})
        form.email.errors = [LOCKED]
        return page(429)
    user = db.session.scalar(select(User).where(func.lower(User.email) == email))
    why = password_refusal(user, form.password.data)
    if why is not None or user is None:
        record_failure(email, request.remote_addr)
        record_event(
            AuditTag.LOGIN_FAILURE,
            Outcome.FAILURE,
            user=user,
            details={"email": email, "why": why, "while": "linking an identity provider's subject"},
        )
        form.email.errors = [BAD_CREDENTIALS]
        return page(401)
    if user.organisation_id != waiting.provider.organisation_id or operations.linked_elsewhere(waiting.provider, user):
        why = (
            "linking: user of another organisation"
            if user.organisation_id != waiting.provider.organisation_id
            else "linking: user already linked to another subject"
        )
        signin.refused(waiting.provider, Refusal(why, Outcome.DENIED, user), waiting.subject)
        form.form_errors.append(NO_ACCOUNT)
        return page(403)
    return after_first_factor(
        user,
        method="identity provider",
        first_factor={
            "via": "identity provider",
            "provider_id": waiting.provider.id,
            "link_subject": waiting.subject,
            "linked": "at this sign-in, by the index password and code",
        },
    )


@signed_in.connect
def _link_once_proved(_app: object, user: User, first_factor: dict[str, Any]) -> None:
    """The code is proved: link the subject the person's provider vouched for, if they came to link one."""
    if "link_subject" in first_factor:
        operations.link_at_sign_in(int(first_factor["provider_id"]), str(first_factor["link_subject"]), user)


@blueprint.route("/identity-providers")
@requires(Permission.IDENTITY_PROVIDER_MANAGE)
def providers() -> str:
    page = page_asked()
    found, total = operations.providers_page(page, PER_PAGE)
    return render_template(
        "identity/providers.html",
        providers=found,
        total=total,
        page=page,
        pages=page_count(total, PER_PAGE),
        can_seal=can_seal(PROVIDER_KEYS),
    )


def _settings(form: ProviderForm) -> ProviderSettings:
    return ProviderSettings(
        issuer=form.issuer.data.strip(),
        client_id=form.client_id.data.strip(),
        client_secret=form.client_secret.data or None,
        trusts_provider_mfa=form.trusts_provider_mfa.data == "yes",
        is_enabled=form.is_enabled.data == "yes",
    )


@blueprint.route("/identity-providers/new", methods=["GET", "POST"])
@requires(Permission.IDENTITY_PROVIDER_MANAGE)
def register() -> Page:
    form = ProviderForm(data={"trusts_provider_mfa": "no", "is_enabled": "yes"} if request.method == "GET" else None)
    form.organisation.choices = [SelectChoice(0, "Choose the organisation")] + [
        SelectChoice(o.id, o.name) for o in db.session.scalars(select(Organisation).order_by(Organisation.name))
    ]

    def page(status: int) -> tuple[str, int]:
        return render_template(
            "identity/provider.html",
            form=form,
            provider=None,
            identities=[],
            link_form=None,
            redirect_uri=url_for("identity.callback", _external=True),
            can_seal=can_seal(PROVIDER_KEYS),
        ), status

    if not form.validate_on_submit():
        return page(400 if request.method == "POST" else 200)
    organisation = db.session.get(Organisation, form.organisation.data)
    if organisation is None:
        form.organisation.errors = ["Select the organisation"]
        return page(400)
    if not form.client_secret.data:
        form.client_secret.errors = ["Enter the client secret the provider gave you"]
        return page(400)
    if not can_seal(PROVIDER_KEYS):
        form.form_errors.append("Set IDENTITY_PROVIDER_KEYS before storing a client secret.")
        return page(409)
    try:
        metadata = operations.check_issuer(form.issuer.data.strip())
    except IdentityError as error:
        form.issuer.errors = [str(error)]
        return page(400)
    try:
        provider = operations.register(organisation, _settings(form))
    except IdentityError as error:
        form.form_errors.append(str(error))
        return page(409)
    flash(f"Registered the identity provider of {organisation.name}. {_found(metadata)}", "success")
    return redirect(url_for("identity.edit", provider_id=provider.id))


def _found(metadata: client.Metadata) -> str:
    return (
        f"Its discovery document names the issuer {metadata.issuer} and sends people to sign in at "
        f"{metadata.authorization_endpoint}."
    )


def _provider(provider_id: int) -> IdentityProvider:
    provider = db.session.get(IdentityProvider, provider_id)
    if provider is None:
        raise NotFound("No identity provider has that number.")
    return provider


def _provider_page(
    provider: IdentityProvider, form: ProviderForm, link_form: LinkIdentityForm, status: int
) -> tuple[str, int]:
    return render_template(
        "identity/provider.html",
        form=form,
        provider=provider,
        identities=operations.identities(provider),
        link_form=link_form,
        redirect_uri=url_for("identity.callback", _external=True),
        discovery=discovery_url(provider.issuer),
        can_seal=can_seal(PROVIDER_KEYS),
    ), status


def _edit_form(provider: IdentityProvider, from_request: bool) -> ProviderForm:
    """The settings form: as posted, or filled from the provider (never with its secret)."""
    if from_request:
        form = ProviderForm()
    else:
        form = ProviderForm(
            formdata=None,
            data={
                "issuer": provider.issuer,
                "client_id": provider.client_id,
                "trusts_provider_mfa": "yes" if provider.trusts_provider_mfa else "no",
                "is_enabled": "yes" if provider.is_enabled else "no",
            },
        )
    del form.organisation
    return form


@blueprint.route("/identity-providers/<int:provider_id>", methods=["GET", "POST"])
@requires(Permission.IDENTITY_PROVIDER_MANAGE)
def edit(provider_id: int) -> Page:
    provider = _provider(provider_id)
    form = _edit_form(provider, from_request=request.method == "POST")
    if not form.validate_on_submit():
        return _provider_page(provider, form, LinkIdentityForm(formdata=None), 400 if request.method == "POST" else 200)
    if form.client_secret.data and not can_seal(PROVIDER_KEYS):
        form.form_errors.append("Set IDENTITY_PROVIDER_KEYS before storing a client secret.")
        return _provider_page(provider, form, LinkIdentityForm(formdata=None), 409)
    settings = _settings(form)
    found = ""
    if settings.issuer != provider.issuer:
        try:
            found = " " + _found(operations.check_issuer(settings.issuer))
        except IdentityError as error:
            form.issuer.errors = [str(error)]
            return _provider_page(provider, form, LinkIdentityForm(formdata=None), 400)
    operations.change(provider, settings)
    flash(f"Saved the provider's settings.{found}", "success")
    return redirect(url_for("identity.edit", provider_id=provider.id))


@blueprint.route("/identity-providers/<int:provider_id>/identities", methods=["POST"])
@requires(Permission.IDENTITY_PROVIDER_MANAGE)
def link(provider_id: int) -> Page:
    provider = _provider(provider_id)
    link_form = LinkIdentityForm()
    status = 400
    if link_form.validate_on_submit():
        try:
            operations.link(provider, link_form.email.data, link_form.subject.data.strip())
        except IdentityError as error:
            link_form.form_errors.append(str(error))
            status = 409
        else:
            flash(f"Linked {link_form.subject.data.strip()} to {link_form.email.data.strip()}.", "success")
            return redirect(url_for("identity.edit", provider_id=provider.id))
    return _provider_page(provider, _edit_form(provider, from_request=False), link_form, status)


@blueprint.route("/identity-providers/<int:provider_id>/identities/<int:identity_id>/unlink", methods=["POST"])
@requires(Permission.IDENTITY_PROVIDER_MANAGE)
def unlink(provider_id: int, identity_id: int) -> Response:
    identity = db.session.get(ProviderIdentity, identity_id)
    if identity is None or identity.provider_id != provider_id:
        raise NotFound("That provider has no such identity.")
    operations.unlink(identity)
    flash(f"Unlinked {identity.subject}.", "success")
    return redirect(url_for("identity.edit", provider_id=provider_id))
