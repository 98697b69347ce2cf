"""A health check for load balancers: is the app up, and can it reach its database."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from index_service.extensions import db
from index_service.guards import public

blueprint = Blueprint("health", __name__)


@blueprint.route("/health")
@public
def health() -> Response:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        response = jsonify(status="unavailable", database="unreachable")
        response.status_code = 503
        return response
    return jsonify(status="ok", database="ok")
