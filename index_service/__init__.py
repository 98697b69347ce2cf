"""The Child Index web application: create_app builds one; nothing global holds an app."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, make_response, request, send_from_directory, session
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ServiceUnavailable, UnsupportedMediaType
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from accreditation.permissions import Permission, is_allowed
from index_service import request_input
from index_service.after_commit import discard_after_commit, run_after_commit
from index_service.auth.sessions import DatabaseSessionInterface, ServerSession
from index_service.config import load_settings
from index_service.database import configure_sqlite
from index_service.errors import ErrorSchema, error_response, register_error_handlers
from index_service.extensions import api, csrf, db, migrate
from index_service.filters import register_filters
from index_service.guard_enforcement import enforce_guard
from index_service.guards import is_api_request, public, uses_session
from index_service.request_input import refuse_unstorable_text

# DataSource is named as a string by models that sources imports (children's, loads', OAuth
# clients'): registered with the package, so that any process that uses the models (a matching
# worker too, which builds no app) can configure the mappers.
from index_service.sources import models as _source_models  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def _finish_request(response: Response) -> Response:
    """The one commit of a request: session and audit with the action, or nothing at all."""
    if response.status_code >= 500:
        db.session.rollback()
        discard_after_commit()
        return response
    try:
        interface = current_app.session_interface
        if isinstance(interface, DatabaseSessionInterface) and isinstance(session, ServerSession):
            interface.persist(session)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        discard_after_commit()
        log.exception("could not commit the request; nothing was shown or changed")
        return make_response(error_response(ServiceUnavailable()))
    run_after_commit()
    return response


def _security_headers(response: Response) -> Response:
    nonce = g.get("csp_nonce", "")
    # 'self', and the origins a page's own form may lead to by redirect (the organisation chooser's providers).
    form_action = " ".join(["'self'", *g.get("form_action_origins", ())])
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self'; img-src 'self' data:; font-src 'self'; "
        f"frame-ancestors 'none'; form-action {form_action}; "
        "base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Same-origin requests carry a Referer, which the production CSRF check (WTF_CSRF_SSL_STRICT)
    # requires of every form; other sites are sent none, so no page's address leaves the service.
    response.headers["Referrer-Policy"] = "same-origin"
    hsts = current_app.config["STRICT_TRANSPORT_SECURITY"]
    if hsts:
        response.headers["Strict-Transport-Security"] = hsts
    if request.endpoint not in ("static", "govuk_assets"):
        response.headers["Cache-Control"] = "no-store"
    return response


def _require_json_for_api() -> None:
    """API writes that act on a session take JSON only: a cross-site form cannot send it, which stands in for CSRF.

    Source systems' endpoints take a bearer token and the token endpoint takes none, so no
    cookie can act for them; they take the bodies their standards define (forms, CSV).
    """
    writes = ("POST", "PUT", "PATCH", "DELETE")
    if (
        is_api_request()
        and request.method in writes
        and uses_session(current_app, request.endpoint)
        and not request.is_json
    ):
        raise UnsupportedMediaType()


def _template_context() -> dict[str, Any]:
    """What every page may use; `can(Permission.X)` shows a link only to whom the route would let in."""
    user = g.get("user")

    def can(permission: Permission) -> bool:
        return user is not None and is_allowed(user.roles, permission)

    return {"current_user": user, "csp_nonce": g.get("csp_nonce"), "can": can, "Permission": Permission}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    request_input.init_app(app)  # before any route, so every <int:...> is an id the database can hold
    settings = load_settings(app.instance_path)
    app.config.update(settings.flask_config())
    if config:
        app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if app.config["TRUSTED_PROXY_HOPS"]:
        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    app.session_interface = DatabaseSessionInterface()

    from index_service import health
    from index_service.accounts.blueprint import blueprint as accounts_blueprint
    from index_service.audit_reports.api import blueprint as audit_api
    from index_service.audit_reports.blueprint import blueprint as audit_blueprint
    from index_service.auth.blueprint import blueprint as auth_blueprint
    from index_service.children.api import blueprint as children_api
    from index_service.children.blueprint import blueprint as web_blueprint
    from index_service.cli import register_commands
    from index_service.duplicates.blueprint import blueprint as duplicates_blueprint
    from index_service.identity.blueprint import blueprint as identity_blueprint
    from index_service.mediated.blueprint import blueprint as mediated_blueprint
    from index_service.oauth.server import blueprint as oauth_blueprint
    from index_service.oauth.server import init_oauth
    from index_service.organisations.blueprint import blueprint as organisations_blueprint
    from index_service.overrides.blueprint import blueprint as overrides_blueprint
    from index_service.record_shielding.blueprint import blueprint as record_shielding_blueprint
    from index_service.sources.api import blueprint as sources_api
    from index_service.sources.blueprint import blueprint as sources_blueprint

    api.ERROR_SCHEMA = ErrorSchema  # documents the errors as errors.py makes them
    api.init_app(app)
    api.register_blueprint(children_api)
    csrf.exempt(children_api)
    api.register_blueprint(oauth_blueprint)
    csrf.exempt(oauth_blueprint)
    init_oauth(app, api)
    api.register_blueprint(sources_api)
    csrf.exempt(sources_api)
    api.register_blueprint(audit_api)
    csrf.exempt(audit_api)
    app.register_blueprint(auth_blueprint)
    app.register_blueprint(web_blueprint)
    app.register_blueprint(sources_blueprint)
    app.register_blueprint(record_shielding_blueprint)
    app.register_blueprint(duplicates_blueprint)
    app.register_blueprint(overrides_blueprint)
    app.register_blueprint(accounts_blueprint)
    app.register_blueprint(organisations_blueprint)
    app.register_blueprint(mediated_blueprint)
    app.register_blueprint(identity_blueprint)
    app.register_blueprint(audit_blueprint)
    app.register_blueprint(health.blueprint)

    @app.route("/assets/<path:filename>", endpoint="govuk_assets")
    @public
    def govuk_assets(filename: str) -> Response:
        return send_from_directory(Path(app.static_folder or "") / "govuk" / "assets", filename)

    app.before_request(lambda: setattr(g, "csp_nonce", secrets.token_urlsafe(16)))
    app.before_request(_require_json_for_api)
    app.before_request(enforce_guard)
    app.before_request(refuse_unstorable_text)
    app.after_request(_security_headers)
    app.after_request(_finish_request)  # registered last, so it runs first
    app.context_processor(_template_context)
    register_error_handlers(app)
    register_filters(app)
    register_commands(app)
    return app
